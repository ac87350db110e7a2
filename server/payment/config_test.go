package payment_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/pressly/goose/v3"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
)

func TestNewRefusesBadConfig(t *testing.T) {
	db, _ := openSQLite(t)
	e := newEnv(t, dbCases[0], envOpts{})
	good := payment.Config{Provider: e.prov, Applications: appTable{}, Audit: auditTable{}, Prices: renewal.DefaultPolicy(),
		NotifyURL: "https://ca.example/v1/payments/notify"}
	for name, mut := range map[string]func(c *payment.Config){
		"provider":     func(c *payment.Config) { c.Provider = nil },
		"applications": func(c *payment.Config) { c.Applications = nil },
		"audit":        func(c *payment.Config) { c.Audit = nil },
		"prices":       func(c *payment.Config) { c.Prices = nil },
		"notify url":   func(c *payment.Config) { c.NotifyURL = "/notify" },
		"description":  func(c *payment.Config) { c.Description = strings.Repeat("续", 41) },
	} {
		c := good
		mut(&c)
		if _, err := payment.New(db, c); !errors.Is(err, payment.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := payment.New(nil, good); !errors.Is(err, payment.ErrInvalid) {
		t.Errorf("nil db: %v", err)
	}
	if _, err := payment.New(db, good); err != nil {
		t.Fatalf("good config: %v", err)
	}
}

// zeroPrice is a price list with a free renewal, which WeChat cannot charge.
type zeroPrice struct{}

func (zeroPrice) PriceFen(int) (int64, error) { return 0, nil }

func TestZeroPriceIsRefused(t *testing.T) {
	e := newEnv(t, dbCases[0], envOpts{})
	p, err := payment.New(e.db, payment.Config{Provider: e.prov, Applications: appTable{}, Audit: auditTable{}, Prices: zeroPrice{},
		NotifyURL: "https://ca.example/n", Clock: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.NewQR(e.ctx, "A1", 1); !errors.Is(err, payment.ErrNoPrice) {
		t.Fatalf("zero price: %v", err)
	}
}

// The module's migrations live beside the main store's in one database,
// each with its own goose version table, and run again harmlessly.
func TestMigrationsCoexistWithTheMainStore(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbc dbCase) {
		ctx := context.Background()
		db, _ := dbc.open(t)
		main := fstest.MapFS{"00001_main.sql": {Data: []byte("-- +goose Up\nCREATE TABLE applications (id TEXT PRIMARY KEY);\n-- +goose Down\nDROP TABLE applications;\n")}}
		gd := goose.DialectSQLite3
		if dbc.dialect == payment.DialectPostgres {
			gd = goose.DialectPostgres
		}
		mp, err := goose.NewProvider(gd, db, main, goose.WithDisableGlobalRegistry(true))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mp.Up(ctx); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := payment.Migrate(ctx, db, dbc.dialect); err != nil {
				t.Fatalf("migrate: %v", err)
			}
		}
		if v, err := mp.GetDBVersion(ctx); err != nil || v != 1 {
			t.Fatalf("main store version %d %v", v, err)
		}
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM ` + payment.VersionTable).Scan(&n); err != nil || n < 2 {
			t.Fatalf("payment version table: %d rows, %v", n, err)
		}
		if _, err := db.Exec(`INSERT INTO applications (id) VALUES ('x')`); err != nil {
			t.Fatal(err)
		}
		if err := payment.Migrate(ctx, db, "oracle"); !errors.Is(err, payment.ErrInvalid) {
			t.Fatalf("unknown dialect: %v", err)
		}
		// The schema refuses what the code never writes.
		_, err = db.Exec(`INSERT INTO payment_orders (out_trade_no, application_id, provider, amount_fen, description, created_at, expires_at, state)
			VALUES ('UKRBAD00001', 'x', 'wechat', 0, 'x', 0, 0, 'open')`)
		if err == nil {
			t.Fatal("zero amount accepted by the schema")
		}
		_, err = db.Exec(`INSERT INTO payment_orders (out_trade_no, application_id, provider, amount_fen, description, created_at, expires_at, state)
			VALUES ('UKRBAD00002', 'x', 'wechat', 1, 'x', 0, 0, 'lost')`)
		if err == nil {
			t.Fatal("unknown state accepted by the schema")
		}
	})
}
