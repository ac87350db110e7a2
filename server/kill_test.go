package server_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/payment/wechatsim"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// TestMain lets the test binary act as the service's notification endpoint
// in TestKillWhileApplyingNotification (UKEY_SRV_CHILD=1).
func TestMain(m *testing.M) {
	if os.Getenv("UKEY_SRV_CHILD") == "1" {
		if err := notifyChild(); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const (
	killMchID, killAppID, killMchSerial = "1900000109", "wx8888888888888888", "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
	killAPIv3Key                        = "kill-test-apiv3-key-0123456789ab" // 32 characters
)

// blockingHooks are the real hooks, except that with block set they stop
// forever inside the notification's transaction, right after the
// application moved to paid, and say so: the parent SIGKILLs them there.
type blockingHooks struct {
	*server.PaymentHooks
	block bool
}

func (b blockingHooks) SetPaymentState(ctx context.Context, tx *sql.Tx, id string, s renewal.Payment) error {
	if err := b.PaymentHooks.SetPaymentState(ctx, tx, id, s); err != nil {
		return err
	}
	if b.block {
		fmt.Println("APPLYING")
		select {}
	}
	return nil
}

func notifyChild() error {
	ctx := context.Background()
	env := func(k string) string { return os.Getenv("UKEY_SRV_CHILD_" + k) }
	st, err := store.Open(ctx, env("DRIVER"), env("DSN"))
	if err != nil {
		return err
	}
	defer st.Close()
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
		MchID: killMchID, AppID: killAppID, MerchantCertSerial: killMchSerial, MerchantKey: k.(*rsa.PrivateKey), APIv3Key: killAPIv3Key,
		PublicKeyID: env("PUBKEY_ID"), PublicKey: pk.(*rsa.PublicKey), Endpoint: env("SIM_URL"),
		HTTPClient: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
	})
	if err != nil {
		return err
	}
	hooks := server.NewPaymentHooks(st, renewal.DefaultPolicy())
	pay, err := payment.New(st.DB(), payment.Config{Provider: prov, Applications: blockingHooks{hooks, env("BLOCK") == "1"},
		Audit: hooks, Prices: renewal.DefaultPolicy(), NotifyURL: "http://unused.invalid/v1/payments/notify"})
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

func TestKillWhileApplyingNotificationSQLite(t *testing.T) { runKillWhileApplying(t, false) }

func TestKillWhileApplyingNotificationPostgres(t *testing.T) { runKillWhileApplying(t, true) }

// The service (real store, real hooks) is SIGKILLed inside the
// transaction that applies a payment notification: nothing of it remains,
// and WeChat's retry, answered by the restarted service, credits it once.
func runKillWhileApplying(t *testing.T, postgres bool) {
	ctx := t.Context()
	driver, dsn := "sqlite", filepath.Join(t.TempDir(), "renewd.db")
	if postgres {
		driver, dsn = "postgres", pgDSN(t)
	}
	st, err := store.Open(ctx, driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dialect := payment.DialectSQLite
	if postgres {
		dialect = payment.DialectPostgres
	}
	if err := payment.Migrate(ctx, st.DB(), dialect); err != nil {
		t.Fatal(err)
	}
	// An approved application waiting for payment.
	sys := store.Change{Actor: "system", Action: "seed"}
	org := &store.Organisation{Name: "深圳市测试科技有限公司", CreditCode: creditCode("91440300MA5")}
	if err := st.CreateOrganisation(ctx, org, sys); err != nil {
		t.Fatal(err)
	}
	clerk := &store.User{Role: renewal.RoleClerk, Name: "张三", Mobile: clerkMobile, OrganisationID: org.ID}
	if err := st.CreateUser(ctx, clerk, sys); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rec := &store.CertificateRecord{Certificate: renewal.Certificate{Serial: "0a1b2c", Holder: "张三", Issuer: "CN=x",
		OrganisationID: org.ID, NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(0, 0, 20), KeyType: renewal.KeyECDSA},
		PublicKey: []byte{0}, DER: []byte{0x30}}
	app := &renewal.Application{OrganisationID: org.ID, CreatedBy: clerk.ID, CertSerial: rec.Serial, Form: validForm(org, 1),
		State: renewal.State{Status: renewal.StatusApproved, Payment: renewal.PaymentUnpaid, FinVerify: renewal.FinVerifyPending}, PriceFen: 30000}
	err = st.Write(ctx, func(tx *store.Tx) error {
		if err := tx.PutCertificate(ctx, rec, sys); err != nil {
			return err
		}
		return tx.CreateApplication(ctx, app, sys)
	})
	if err != nil {
		t.Fatal(err)
	}

	// WeChat Pay: the simulator, retrying every 100 ms.
	mchKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := wechatsim.New(wechatsim.Config{MchID: killMchID, AppID: killAppID, MerchantCertSerial: killMchSerial,
		MerchantPublicKey: &mchKey.PublicKey, APIv3Key: killAPIv3Key, Mode: wechatsim.ModePublicKey,
		RetryBase: 100 * time.Millisecond, RetryCap: 100 * time.Millisecond, MaxAttempts: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	simSrv := httptest.NewTLSServer(sim)
	defer simSrv.Close()
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
	// The QR order, made by this process through the SDK.
	pool := x509.NewCertPool()
	pool.AddCert(simSrv.Certificate())
	prov, err := payment.NewWeChat(ctx, payment.WeChatConfig{MchID: killMchID, AppID: killAppID, MerchantCertSerial: killMchSerial,
		MerchantKey: mchKey, APIv3Key: killAPIv3Key, PublicKeyID: sim.PublicKeyID(), PublicKey: sim.PublicKey(), Endpoint: simSrv.URL,
		HTTPClient: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}})
	if err != nil {
		t.Fatal(err)
	}
	hooks := server.NewPaymentHooks(st, renewal.DefaultPolicy())
	pay, err := payment.New(st.DB(), payment.Config{Provider: prov, Applications: hooks, Audit: hooks, Prices: renewal.DefaultPolicy(),
		NotifyURL: "http://" + ln.Addr().String() + "/v1/payments/notify"})
	if err != nil {
		t.Fatal(err)
	}
	o, err := pay.NewQR(ctx, app.ID, 1)
	if err != nil {
		t.Fatal(err)
	}

	keyDER, _ := x509.MarshalPKCS8PrivateKey(mchKey)
	pubDER, _ := x509.MarshalPKIXPublicKey(sim.PublicKey())
	childEnv := append(os.Environ(), "UKEY_SRV_CHILD=1", "UKEY_SRV_CHILD_DRIVER="+driver, "UKEY_SRV_CHILD_DSN="+dsn,
		"UKEY_SRV_CHILD_SIM_URL="+simSrv.URL,
		"UKEY_SRV_CHILD_SIM_CA="+string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: simSrv.Certificate().Raw})),
		"UKEY_SRV_CHILD_PUBKEY_ID="+sim.PublicKeyID(),
		"UKEY_SRV_CHILD_PUBKEY="+string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})),
		"UKEY_SRV_CHILD_MCH_KEY="+string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})))
	start := func(block bool) (*exec.Cmd, *bufio.Scanner) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(childEnv, "UKEY_SRV_CHILD_BLOCK="+map[bool]string{true: "1", false: "0"}[block])
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
	if _, err := sim.Pay(o.OutTradeNo); err != nil {
		t.Fatal(err)
	}
	said := make(chan string, 1)
	go func() {
		out.Scan()
		said <- out.Text()
	}()
	select {
	case line := <-said:
		if line != "APPLYING" {
			t.Fatalf("child said %q", line)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the child never started applying")
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()

	// Killed inside the transaction: nothing of it remains.
	a, err := st.Application(ctx, store.AllScope(), app.ID)
	if err != nil || a.Payment != renewal.PaymentUnpaid || a.Version != app.Version {
		t.Fatalf("after the kill: %+v %v", a, err)
	}
	if got, _ := pay.Order(ctx, o.OutTradeNo); got.State != payment.OrderOpen {
		t.Fatalf("order after the kill: %s", got.State)
	}
	if v, err := st.VerifyAudit(ctx); err != nil || !v.OK {
		t.Fatalf("audit after the kill: %+v %v", v, err)
	}

	// Restarted, the service answers WeChat's next retry and credits once.
	start(false)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if a, err = st.Application(ctx, store.AllScope(), app.ID); err == nil && a.Payment == renewal.PaymentPaid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not credited after the restart: %+v %v", a, err)
		}
	}
	sim.Wait()
	if a.Version != app.Version+1 {
		t.Fatalf("application at version %d, want %d", a.Version, app.Version+1)
	}
	entries, err := st.ListAudit(ctx, renewal.AuditQuery{Target: "application/" + app.ID, PageSize: renewal.MaxAuditPageSize})
	if err != nil {
		t.Fatal(err)
	}
	credited, marked := 0, 0
	for _, en := range entries {
		switch en.Action {
		case "payment.credited":
			credited++
		case "application.mark_paid":
			marked++
		}
	}
	if credited != 1 || marked != 1 {
		t.Fatalf("credited %d, marked paid %d times", credited, marked)
	}
	if v, err := st.VerifyAudit(ctx); err != nil || !v.OK {
		t.Fatalf("audit chain: %+v %v", v, err)
	}
	d := sim.Deliveries()
	if len(d) < 2 || d[len(d)-1].Status != http.StatusNoContent {
		t.Fatalf("deliveries: %+v", d)
	}
}
