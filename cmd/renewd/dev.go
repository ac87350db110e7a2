package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
	"github.com/ukeyrenew/ukeyrenew/server/auth"
	"github.com/ukeyrenew/ukeyrenew/server/bank"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
	"github.com/ukeyrenew/ukeyrenew/server/sms"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// The demo data of --dev.
const (
	DemoClerkMobile  = "13800138000"
	DemoOrgName      = "深圳市示例科技有限公司"       // as on the demo token's certificate (scripts/demo-token.sh)
	DemoOrgPrefix    = "91440300MA5D8E001" // 17 characters; the check character is computed
	DemoReviewer     = "reviewer"
	DemoReviewerPass = "reviewer-dev"
	DemoAdmin        = "admin"
	DemoAdminPass    = "admin-dev"
)

func demoCreditCode() string {
	c, err := renewal.CreditCodeCheckChar(DemoOrgPrefix)
	if err != nil {
		panic(err) // a constant: caught by the tests
	}
	return DemoOrgPrefix + string(c)
}

// sweepEvery is how often renewd looks for QR orders whose 300 s are over
// (and flushes the counts of refused payment notifications).
const sweepEvery = payment.SweepInterval

// devListenAnyFlag lets --dev listen on a network address.
const devListenAnyFlag = "dev-insecure-listen-any"

func isLoopbackIP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkDevListen refuses a listen address that is not loopback unless the
// developer said --dev-insecure-listen-any: the SMS outbox at
// /dev/outbox/sms holds every clerk's sign-in code. An empty host (":8080")
// is every interface; a host name other than localhost is refused too,
// since what it resolves to may change.
func checkDevListen(listen string, allowAny bool) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", listen, err)
	}
	if host == "localhost" || isLoopbackIP(host) || allowAny {
		return nil
	}
	return fmt.Errorf("--dev refuses --listen %q: it is not a loopback address, and --dev hands out every clerk's SMS sign-in code "+
		"at /dev/outbox/sms. Listen on 127.0.0.1 (the default), or add --%s to listen on the network anyway "+
		"(the /dev/ routes then still answer this machine only)", listen, devListenAnyFlag)
}

func runDev(ctx context.Context, o options, stdout, stderr io.Writer, env func(string) string) error {
	log, err := newLogger(stderr, "info")
	if err != nil {
		return err
	}
	listen := o.listen
	if listen == "" {
		listen = "127.0.0.1:8080"
	}
	if err := checkDevListen(listen, o.devListenAny); err != nil {
		return err
	}
	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return err
	}
	st, ca, pepper, err := openDev(ctx, o)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := seedDev(ctx, st, o.knownCerts); err != nil {
		return err
	}
	smsOut := sms.NewOutbox(filepath.Join(o.data, "sms-outbox.jsonl"), time.Now)
	bankOut := bank.NewOutbox(time.Now)
	cfg := server.DefaultConfig()
	cfg.Dev = true
	if o.devPolicy != "" {
		if cfg.Policy, err = readPolicy(o.devPolicy); err != nil {
			return err
		}
	}
	if o.devClientUpdate != "" {
		if cfg.ClientReleases, err = readClientUpdates(o.devClientUpdate); err != nil {
			return err
		}
	}
	// Listen first: the payment module gives WeChat Pay the notify URL.
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	base := "http://" + ln.Addr().String()
	sim, pay, err := devPayments(ctx, log, st, cfg.Policy, base)
	if err != nil {
		return err
	}
	defer sim.Close()
	plan, err := o.drainPlan(drainPlan{delay: 0, timeout: DefaultDrainTimeout})
	if err != nil {
		return err
	}
	q, err := startJobs(ctx, log, st, pay, "")
	if err != nil {
		return err
	}
	srv, err := server.New(cfg, server.Deps{Store: st, Issuer: ca, SMS: smsOut, Bank: bankOut, Pepper: pepper,
		Now: time.Now, Log: log, DevSMS: smsOut, DevBank: bankOut, Payments: pay, DevPay: simPay(sim), Jobs: q})
	if err != nil {
		stopJobs(log, q, plan.timeout)
		return err
	}
	log.Warn("development mode: SMS and bank codes are readable under /dev/ and in the data directory", "data", o.data)
	if h, _, _ := net.SplitHostPort(listen); o.devListenAny && h != "localhost" && !isLoopbackIP(h) {
		log.Warn("INSECURE: --"+devListenAnyFlag+": the development service listens on a network address; "+
			"the /dev/ routes answer loopback peers only, the demo users' passwords are public", "addr", ln.Addr().String())
	}
	printDevURLs(stdout, base, sim.URL, filepath.Join(o.data, "sms-outbox.jsonl"))
	var onListen func(string)
	if o.autoReview {
		onListen = func(base string) {
			bot := &devReviewer{base: base, every: time.Second, log: log, client: &http.Client{Timeout: 10 * time.Second}}
			go bot.run(ctx)
		}
	}
	return serve(ctx, log, st, srv, ln, "", "", onListen, q, plan)
}

// devPayments starts the WeChat Pay and Alipay simulators on a loopback
// port and the payment module wired to them through the real SDKs.
func devPayments(ctx context.Context, log *slog.Logger, st *store.Store, policy renewal.Policy, base string) (*payment.DevSimulator, *payment.Payments, error) {
	if err := payment.Migrate(ctx, st.DB(), payment.DialectSQLite); err != nil {
		return nil, nil, err
	}
	sim, err := payment.StartDevSimulator(ctx, "127.0.0.1:0", nil)
	if err != nil {
		return nil, nil, err
	}
	hooks := renewals.NewPaymentHooks(st, policy)
	pay, err := payment.New(st.DB(), payment.Config{Provider: sim.Provider, Others: []payment.Provider{sim.AlipayProvider},
		Applications: hooks, Audit: hooks, Prices: policy, NotifyURL: base + "/v1/payments/notify", Log: log})
	if err != nil {
		_ = sim.Close()
		return nil, nil, err
	}
	return sim, pay, nil
}

// simPay pays an order at the simulator, as the clerk's phone would.
func simPay(sim *payment.DevSimulator) func(ctx context.Context, provider, outTradeNo string) error {
	return func(ctx context.Context, provider, outTradeNo string) error {
		var err error
		if provider == "alipay" {
			_, err = sim.Alipay.Pay(outTradeNo)
		} else {
			_, err = sim.Sim.Pay(outTradeNo)
		}
		return err
	}
}

// printDevURLs tells the developer, once, where things are.
func printDevURLs(w io.Writer, base, simURL, smsFile string) {
	fmt.Fprintf(w, `renewd --dev
  service            %s  (API under /v1, %s/v1/openapi.yaml)
  SMS outbox         %s/dev/outbox/sms?mobile=%s  (also %s)
  bank outbox        %s/dev/outbox/bank
  pay a live QR      curl -X POST %s/dev/applications/APPLICATION_ID/pay
  WeChat Pay sim     curl -k -X POST '%s/sim/pay?out_trade_no=OUT_TRADE_NO'
  Alipay sim         curl -k -X POST '%s/alipay/sim/pay?out_trade_no=OUT_TRADE_NO'
  demo users         clerk %s (SMS code from the outbox), %s/%s, %s/%s
`, base, base, base, DemoClerkMobile, smsFile, base, base, simURL, simURL,
		DemoClerkMobile, DemoReviewer, DemoReviewerPass, DemoAdmin, DemoAdminPass)
}

func readPolicy(file string) (renewal.Policy, error) {
	var p renewal.Policy
	data, err := os.ReadFile(file)
	if err != nil {
		return p, fmt.Errorf("--dev-policy: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("--dev-policy %s: %w", file, err)
	}
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("--dev-policy %s: %w", file, err)
	}
	return p, nil
}

// openDev opens the dev store, CA and pepper under o.data, creating them on
// the first start.
func openDev(ctx context.Context, o options) (*store.Store, *issuer.LocalCA, auth.Pepper, error) {
	st, err := store.OpenSQLite(ctx, filepath.Join(o.data, "renewd.db"))
	if err != nil {
		return nil, nil, nil, err
	}
	var ca *issuer.LocalCA
	if o.devCAChain != "" || o.devCAKey != "" {
		ca, err = issuer.LoadLocalCA(o.devCAChain, o.devCAKey)
	} else {
		ca, err = issuer.GenerateDevCA(filepath.Join(o.data, "ca"), issuer.KeyAlg(o.devCAAlg), time.Now())
	}
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	pepper, err := devPepper(filepath.Join(o.data, "pepper"))
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	return st, ca, pepper, nil
}

func devPepper(file string) (auth.Pepper, error) {
	if b, err := os.ReadFile(file); err == nil {
		p, err := hex.DecodeString(string(b))
		if err != nil || len(p) < 32 {
			return nil, fmt.Errorf("dev pepper %s is damaged: delete it", file)
		}
		return p, nil
	}
	p := make([]byte, 32)
	if _, err := rand.Read(p); err != nil {
		return nil, err
	}
	if err := os.WriteFile(file, []byte(hex.EncodeToString(p)), 0o600); err != nil {
		return nil, err
	}
	return p, nil
}

// seedDev creates the demo organisation and users once, and registers the
// known certificates (again at every start: a changed demo token is picked up).
func seedDev(ctx context.Context, st *store.Store, certFiles []string) error {
	ch := store.Change{Actor: "system", Action: "dev.seed"}
	org, err := st.OrganisationByCreditCode(ctx, demoCreditCode())
	if errors.Is(err, store.ErrNotFound) {
		org = &store.Organisation{Name: DemoOrgName, CreditCode: demoCreditCode()}
		if err := st.CreateOrganisation(ctx, org, ch); err != nil {
			return err
		}
		h := auth.NewHasher()
		rh, err := h.Hash(ctx, DemoReviewerPass)
		if err != nil {
			return err
		}
		ah, err := h.Hash(ctx, DemoAdminPass)
		if err != nil {
			return err
		}
		for _, u := range []*store.User{
			{Role: renewal.RoleClerk, Name: "演示经办人", Mobile: DemoClerkMobile, OrganisationID: org.ID},
			{Role: renewal.RoleReviewer, Name: "演示审核员", Account: DemoReviewer, PasswordHash: rh},
			{Role: renewal.RoleAdmin, Name: "演示管理员", Account: DemoAdmin, PasswordHash: ah},
		} {
			if err := st.CreateUser(ctx, u, ch); err != nil {
				return err
			}
		}
	} else if err != nil {
		return err
	}
	for _, f := range certFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("--dev-known-cert: %w", err)
		}
		certs, err := issuer.ParseCertificatesPEM(data)
		if err != nil {
			return fmt.Errorf("--dev-known-cert %s: %w", f, err)
		}
		for _, c := range certs {
			if err := st.PutCertificate(ctx, certRecord(c, org.ID), ch); err != nil {
				return err
			}
		}
	}
	return nil
}

func certRecord(c *smx509.Certificate, orgID string) *store.CertificateRecord {
	spki, _ := smx509.MarshalPKIXPublicKey(c.PublicKey)
	holder := c.Subject.CommonName
	if holder == "" && len(c.Subject.Organization) > 0 {
		holder = c.Subject.Organization[0]
	}
	return &store.CertificateRecord{Certificate: renewal.Certificate{Serial: renewal.NormalizeSerial(c.SerialNumber.Text(16)),
		Holder: holder, Issuer: c.Issuer.String(), OrganisationID: orgID, NotBefore: c.NotBefore, NotAfter: c.NotAfter,
		KeyType: renewals.KeyTypeOf(c)}, PublicKey: spki, DER: c.Raw}
}
