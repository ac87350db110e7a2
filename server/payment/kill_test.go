package payment_test

import (
	"bufio"
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
)

// TestMain lets the test binary act as the notification receiver of
// TestKillWhileApplyingNotification when started with UKEY_PAY_CHILD=1.
func TestMain(m *testing.M) {
	if os.Getenv("UKEY_PAY_CHILD") == "1" {
		if err := childMain(); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// blockingApps is the child's ApplicationPayments: the real table, but it
// stops forever inside the transaction (after the order row moved to paid)
// and says so on stdout, so that the parent can SIGKILL it right there.
type blockingApps struct {
	appTable
	block bool
}

func (b blockingApps) SetPaymentState(ctx context.Context, tx *sql.Tx, id string, s renewal.Payment) error {
	if err := b.appTable.SetPaymentState(ctx, tx, id, s); err != nil {
		return err
	}
	if b.block {
		fmt.Println("APPLYING")
		select {}
	}
	return nil
}

func childMain() error {
	ctx := context.Background()
	env := func(k string) string { return os.Getenv("UKEY_PAY_CHILD_" + k) }
	driver := "sqlite"
	if payment.Dialect(env("DIALECT")) == payment.DialectPostgres {
		driver = "pgx"
	}
	db, err := sql.Open(driver, env("DSN"))
	if err != nil {
		return err
	}
	defer db.Close()
	block, _ := pem.Decode([]byte(env("MCH_KEY")))
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return err
	}
	block, _ = pem.Decode([]byte(env("PUBKEY")))
	pk, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(env("SIM_CA")))
	prov, err := payment.NewWeChat(ctx, payment.WeChatConfig{
		MchID: testMchID, AppID: testAppID, MerchantCertSerial: testMchSer, MerchantKey: k.(*rsa.PrivateKey), APIv3Key: testAPIKey,
		PublicKeyID: env("PUBKEY_ID"), PublicKey: pk.(*rsa.PublicKey), Endpoint: env("SIM_URL"),
		HTTPClient: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig(pool)}},
	})
	if err != nil {
		return err
	}
	us, _ := strconv.ParseInt(env("NOW"), 10, 64)
	now := time.UnixMicro(us)
	pay, err := payment.New(db, payment.Config{
		Provider: prov, Applications: blockingApps{block: env("BLOCK") == "1"}, Audit: auditTable{},
		Prices: renewal.DefaultPolicy(), NotifyURL: "http://unused.invalid/", Clock: func() time.Time { return now },
	})
	if err != nil {
		return err
	}
	ln, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		return err
	}
	fmt.Println("READY")
	return http.Serve(ln, pay.NotifyHandler())
}

func TestKillWhileApplyingNotification(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbc dbCase) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		lf, err := ln.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		defer lf.Close()
		e := newEnv(t, dbc, envOpts{maxAttempts: 40, notifyURL: "http://" + ln.Addr().String() + "/v1/payments/notify"})
		e.addApp("A1")
		o, err := e.pay.NewQR(e.ctx, "A1", 1)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalPKCS8PrivateKey(merchantKey())
		pubDER, _ := x509.MarshalPKIXPublicKey(e.sim.PublicKey())
		childEnv := append(os.Environ(),
			"UKEY_PAY_CHILD=1",
			"UKEY_PAY_CHILD_DIALECT="+string(dbc.dialect),
			"UKEY_PAY_CHILD_DSN="+e.dsn,
			"UKEY_PAY_CHILD_SIM_URL="+e.simSrv.URL,
			"UKEY_PAY_CHILD_SIM_CA="+string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.simSrv.Certificate().Raw})),
			"UKEY_PAY_CHILD_PUBKEY_ID="+e.sim.PublicKeyID(),
			"UKEY_PAY_CHILD_PUBKEY="+string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})),
			"UKEY_PAY_CHILD_MCH_KEY="+string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
			"UKEY_PAY_CHILD_NOW="+strconv.FormatInt(e.clock.Now().UnixMicro(), 10),
		)
		start := func(block bool) (*exec.Cmd, *bufio.Scanner) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(childEnv, "UKEY_PAY_CHILD_BLOCK="+map[bool]string{true: "1", false: "0"}[block])
			cmd.ExtraFiles = []*os.File{lf}
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			sc := bufio.NewScanner(out)
			if !sc.Scan() || sc.Text() != "READY" {
				t.Fatalf("child did not start: %q", sc.Text())
			}
			return cmd, sc
		}
		first, out := start(true)
		if _, err := e.sim.Pay(o.OutTradeNo); err != nil {
			t.Fatal(err)
		}
		got := make(chan string, 1)
		go func() {
			out.Scan()
			got <- out.Text()
		}()
		select {
		case line := <-got:
			if line != "APPLYING" {
				t.Fatalf("child said %q", line)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("child never started applying")
		}
		if err := first.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = first.Wait()
		// Killed inside the transaction: nothing of it may remain.
		if s, c := e.app("A1"); s != "unpaid" || c != 0 {
			t.Fatalf("after the kill: app %s credits %d", s, c)
		}
		start(false)
		e.waitFor("credit after restart", func() bool { _, c := e.app("A1"); return c == 1 })
		e.sim.Wait()
		if s, c := e.app("A1"); s != "paid" || c != 1 {
			t.Fatalf("app %s credits %d", s, c)
		}
		got2, _ := e.pay.Order(e.ctx, o.OutTradeNo)
		if got2.State != payment.OrderPaid {
			t.Fatalf("order %s", got2.State)
		}
		var notes int
		if err := e.db.QueryRow(`SELECT COUNT(*) FROM payment_notifications`).Scan(&notes); err != nil || notes != 1 {
			t.Fatalf("notifications recorded %d %v", notes, err)
		}
		d := e.sim.Deliveries()
		if len(d) < 2 || d[0].Status == 204 || d[len(d)-1].Status != 204 {
			var s []string
			for _, x := range d {
				s = append(s, fmt.Sprintf("%d/%v", x.Status, x.Err))
			}
			t.Fatalf("deliveries %s", strings.Join(s, " "))
		}
		if e.auditCount("payment.credited") != 1 {
			t.Fatal("credit audited more or less than once")
		}
	})
}

func tlsConfig(pool *x509.CertPool) *tls.Config { return &tls.Config{RootCAs: pool} }
