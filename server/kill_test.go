package server_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/crashtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/payment/wechatsim"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// TestMain lets the test binary act as the service's notification endpoint
// in TestKillWhileApplyingNotification (UKEY_SRV_CHILD=1).
func TestMain(m *testing.M) { crashtest.Main(m, "UKEY_SRV_CHILD", notifyChild) }

const (
	killMchID, killAppID, killMchSerial = "1900000109", "wx8888888888888888", "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
	killAPIv3Key                        = "kill-test-apiv3-key-0123456789ab" // 32 characters
)

// notifyChild is the service's notification endpoint with the real store
// and the real hooks; the blocking child stops inside the notification's
// transaction right after the application moved to paid.
func notifyChild(ctx context.Context, c *crashtest.Child) error {
	st, err := store.Open(ctx, c.Env("DRIVER"), c.Env("DSN"))
	if err != nil {
		return err
	}
	defer st.Close()
	prov, err := c.Provider(ctx)
	if err != nil {
		return err
	}
	hooks := renewals.NewPaymentHooks(st, renewal.DefaultPolicy())
	pay, err := payment.New(st.DB(), payment.Config{Provider: prov, Applications: c.Blocking(hooks),
		Audit: hooks, Prices: renewal.DefaultPolicy(), NotifyURL: "http://unused.invalid/v1/payments/notify"})
	if err != nil {
		return err
	}
	return c.Serve(pay.NotifyHandler())
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
	rc := crashtest.Listen(t, "UKEY_SRV_CHILD")
	rc.WeChat = crashtest.WeChat{MchID: killMchID, AppID: killAppID, MerchantCertSerial: killMchSerial, APIv3Key: killAPIv3Key,
		MerchantKey: mchKey, PublicKeyID: sim.PublicKeyID(), PublicKey: sim.PublicKey(), SimURL: simSrv.URL, SimCert: simSrv.Certificate()}
	rc.Env = map[string]string{"DRIVER": driver, "DSN": dsn}
	// The QR order, made by this process through the SDK.
	prov, err := payment.NewWeChat(ctx, rc.WeChat.Config())
	if err != nil {
		t.Fatal(err)
	}
	hooks := renewals.NewPaymentHooks(st, renewal.DefaultPolicy())
	pay, err := payment.New(st.DB(), payment.Config{Provider: prov, Applications: hooks, Audit: hooks, Prices: renewal.DefaultPolicy(),
		NotifyURL: rc.NotifyURL("/v1/payments/notify")})
	if err != nil {
		t.Fatal(err)
	}
	o, err := pay.NewQR(ctx, app.ID, 1)
	if err != nil {
		t.Fatal(err)
	}

	rc.KillWhileApplying(func() {
		if _, err := sim.Pay(o.OutTradeNo); err != nil {
			t.Fatal(err)
		}
	})

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
	rc.Start()
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
