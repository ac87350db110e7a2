package payment_test

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"database/sql"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
	"github.com/ukeyrenew/ukeyrenew/internal/pgtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/payment/alipaysim"
	"github.com/ukeyrenew/ukeyrenew/server/payment/wechatsim"
)

const (
	testMchID  = "1900000109"
	testAppID  = "wxd678efh567hg6787"
	testMchSer = "3775B6A45ACD588826D15E583A95F5DD3B6AFE17"
	testAPIKey = "0123456789abcdef0123456789abcdef" // a test APIv3 key, not a secret

	testAliAppID = "2021000000000001"
	testSellerID = "2088000000000001"
)

func newClock() *fakeclock.Clock {
	// Anchored at the real second, so transport signatures made with the
	// wall clock and business times agree at the start.
	return fakeclock.New(time.Now().Truncate(time.Second))
}

type dbCase struct {
	name    string
	dialect payment.Dialect
	open    func(t testing.TB) (*sql.DB, string) // the database and how to open it again
}

// sqliteDSN is how the service should open SQLite for this module: a busy
// timeout and BEGIN IMMEDIATE, so concurrent writers queue instead of failing.
func sqliteDSN(path string) string {
	return "file:" + path + "?_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"
}

// openSQLite opens SQLite as renewd should: one connection, so writers
// queue in database/sql instead of polling the file lock.
func openSQLite(t testing.TB) (*sql.DB, string) {
	db, dsn := openSQLitePool(t)
	db.SetMaxOpenConns(1)
	return db, dsn
}

// openSQLitePool opens SQLite with a pool of connections: writers then
// contend for the file lock (BEGIN IMMEDIATE, busy timeout).
func openSQLitePool(t testing.TB) (*sql.DB, string) {
	dsn := sqliteDSN(filepath.Join(t.TempDir(), "pay.db"))
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dsn
}

// openPostgres makes a fresh database on the throw-away server for one test.
func openPostgres(t testing.TB) (*sql.DB, string) {
	dsn := pgtest.Database(t, "pay_")
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(40)
	t.Cleanup(func() { db.Close() })
	return db, dsn
}

var dbCases = []dbCase{
	{"sqlite", payment.DialectSQLite, openSQLite},
	{"postgres", payment.DialectPostgres, openPostgres},
}

// concurrencyCases add SQLite with a connection pool to the concurrency tests.
var concurrencyCases = append(dbCases[:len(dbCases):len(dbCases)], dbCase{"sqlite_pool", payment.DialectSQLite, openSQLitePool})

// appTable is a real in-DB table standing for the main store's applications:
// it records each application's payment state, how many times it was
// credited, and whether its certificate was issued.
type appTable struct{}

func (appTable) create(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, `CREATE TABLE test_applications (
		id TEXT PRIMARY KEY, payment TEXT NOT NULL DEFAULT 'unpaid', credits INTEGER NOT NULL DEFAULT 0,
		issued INTEGER NOT NULL DEFAULT 0)`)
	return err
}

func (appTable) SetPaymentState(ctx context.Context, tx *sql.Tx, id string, s renewal.Payment) error {
	credit := 0
	if s == renewal.PaymentPaid {
		credit = 1
	}
	_, err := tx.ExecContext(ctx, `UPDATE test_applications SET payment = $1, credits = credits + $2 WHERE id = $3`, string(s), credit, id)
	return err
}

func (appTable) Issued(ctx context.Context, tx *sql.Tx, id string) (bool, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT issued FROM test_applications WHERE id = $1`, id).Scan(&n)
	return n != 0, err
}

// auditTable is a real in-DB table standing for the service's audit log.
type auditTable struct{}

func (auditTable) create(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, `CREATE TABLE test_audit (kind TEXT NOT NULL, application_id TEXT NOT NULL,
		out_trade_no TEXT NOT NULL, notification_id TEXT NOT NULL, detail TEXT NOT NULL, at BIGINT NOT NULL)`)
	return err
}

func (auditTable) Record(ctx context.Context, q payment.Execer, e payment.AuditEvent) error {
	_, err := q.ExecContext(ctx, `INSERT INTO test_audit (kind, application_id, out_trade_no, notification_id, detail, at)
		VALUES ($1, $2, $3, $4, $5, $6)`, e.Kind, e.ApplicationID, e.OutTradeNo, e.NotificationID, e.Detail, e.At.UnixMicro())
	return err
}

type env struct {
	t      testing.TB
	ctx    context.Context
	db     *sql.DB
	dsn    string
	clock  *fakeclock.Clock
	sim    *wechatsim.Simulator
	simSrv *httptest.Server
	recv   *httptest.Server
	pay    *payment.Payments
	prov   *payment.WeChat
	ali    *alipaysim.Simulator
	aliSrv *httptest.Server
	aliPr  *payment.Alipay
}

type envOpts struct {
	mode        wechatsim.Mode
	maxAttempts int
	notifyURL   string // default: the in-process receiver
	alipay      bool   // add the Alipay provider (on its simulator)
	// restart, if set, starts afresh (new simulators, providers and
	// Payments) over that env's database and at its clock's time: a
	// service restart.
	restart *env
	log     *slog.Logger // the Payments' log (nil: discarded)
}

// merchantKey is made once per test binary: RSA-2048 generation is slow.
var merchantKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func newEnv(t testing.TB, dbc dbCase, o envOpts) *env {
	t.Helper()
	ctx := context.Background()
	var e *env
	if r := o.restart; r != nil {
		e = &env{t: t, ctx: ctx, db: r.db, dsn: r.dsn, clock: fakeclock.New(r.clock.Now())}
	} else {
		db, dsn := dbc.open(t)
		e = &env{t: t, ctx: ctx, db: db, dsn: dsn, clock: newClock()}
	}
	db := e.db
	if err := payment.Migrate(ctx, db, dbc.dialect); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if o.restart == nil {
		if err := (appTable{}).create(ctx, db); err != nil {
			t.Fatal(err)
		}
		if err := (auditTable{}).create(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	var handler http.Handler = http.NotFoundHandler()
	var hmu sync.RWMutex
	e.recv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hmu.RLock()
		h := handler
		hmu.RUnlock()
		h.ServeHTTP(w, r)
	}))
	if o.maxAttempts == 0 {
		o.maxAttempts = 5
	}
	key := merchantKey()
	sim, err := wechatsim.New(wechatsim.Config{
		MchID: testMchID, AppID: testAppID, MerchantCertSerial: testMchSer, MerchantPublicKey: &key.PublicKey,
		APIv3Key: testAPIKey, Mode: o.mode, Clock: e.clock.Now,
		NotifyClient: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 200}},
		MaxAttempts:  o.maxAttempts, RetryBase: 20 * time.Millisecond, RetryCap: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.sim = sim
	e.simSrv = httptest.NewTLSServer(sim)
	t.Cleanup(func() { sim.Close(); e.simSrv.Close(); e.recv.Close() })
	wc := payment.WeChatConfig{
		MchID: testMchID, AppID: testAppID, MerchantCertSerial: testMchSer, MerchantKey: key, APIv3Key: testAPIKey,
		Endpoint: e.simSrv.URL, HTTPClient: e.simSrv.Client(),
	}
	if o.mode == wechatsim.ModePublicKey {
		wc.PublicKeyID, wc.PublicKey = sim.PublicKeyID(), sim.PublicKey()
	}
	e.prov, err = payment.NewWeChat(ctx, wc)
	if err != nil {
		t.Fatalf("wechat provider: %v", err)
	}
	var others []payment.Provider
	if o.alipay {
		e.ali, err = alipaysim.New(alipaysim.Config{AppID: testAliAppID, AppPublicKey: &key.PublicKey, SellerID: testSellerID,
			Clock: e.clock.Now, MaxAttempts: o.maxAttempts, RetryBase: 20 * time.Millisecond, RetryCap: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		e.aliSrv = httptest.NewTLSServer(e.ali)
		t.Cleanup(func() { e.ali.Close(); e.aliSrv.Close() })
		e.aliPr, err = payment.NewAlipay(payment.AlipayConfig{AppID: testAliAppID, SellerID: testSellerID, PrivateKey: key,
			AlipayPublicKey: e.ali.PublicKey(), Gateway: e.aliSrv.URL + "/gateway.do", HTTPClient: e.aliSrv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		others = append(others, e.aliPr)
	}
	e.pay, err = payment.New(db, payment.Config{
		Provider: e.prov, Others: others, Applications: appTable{}, Audit: auditTable{}, Prices: renewal.DefaultPolicy(),
		NotifyURL: cmp.Or(o.notifyURL, e.recv.URL+"/v1/payments/notify"), Clock: e.clock.Now, Log: o.log,
	})
	if err != nil {
		t.Fatal(err)
	}
	hmu.Lock()
	handler = e.pay.NotifyHandler()
	hmu.Unlock()
	return e
}

func (e *env) addApp(id string) {
	e.t.Helper()
	if _, err := e.db.ExecContext(e.ctx, `INSERT INTO test_applications (id) VALUES ($1)`, id); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) app(id string) (state string, credits int) {
	e.t.Helper()
	if err := e.db.QueryRowContext(e.ctx, `SELECT payment, credits FROM test_applications WHERE id = $1`, id).Scan(&state, &credits); err != nil {
		e.t.Fatal(err)
	}
	return state, credits
}

func (e *env) auditCount(kind string) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRowContext(e.ctx, `SELECT COUNT(*) FROM test_audit WHERE kind = $1`, kind).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) auditDetails(kind string) []string {
	e.t.Helper()
	rows, err := e.db.QueryContext(e.ctx, `SELECT detail FROM test_audit WHERE kind = $1 ORDER BY at`, kind)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// waitFor polls cond (real time) until it holds or 10 s pass.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func forEachDB(t *testing.T, f func(t *testing.T, dbc dbCase)) {
	forEach(t, dbCases, f)
}

func forEach(t *testing.T, cases []dbCase, f func(t *testing.T, dbc dbCase)) {
	for _, dbc := range cases {
		t.Run(dbc.name, func(t *testing.T) { f(t, dbc) })
	}
}
