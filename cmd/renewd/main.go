// Command renewd is the UKey Renew renewal service.
//
//	renewd --dev [--data DIR] [--listen ADDR] [--dev-known-cert FILE]...
//	renewd --config renewd.json
//	renewd audit verify [--config FILE | --dev --data DIR]
//	renewd audit export --format csv|json [--out FILE] [--config FILE | --dev --data DIR]
//	renewd org add --name NAME --credit-code CODE
//	renewd user add --role clerk|reviewer|admin --name NAME [--mobile M] [--account A] [--org ID] [--password-stdin]
//	renewd cert add --org ID FILE.pem...
//	renewd jobs [--limit N] | renewd jobs retry ID  [--config FILE | --dev --data DIR]
//
// --dev runs on embedded defaults: SQLite under the data directory, a
// generated dev CA, SMS and bank outboxes (GET /dev/outbox/sms, the file
// DIR/sms-outbox.jsonl, GET /dev/outbox/bank), real payments against the
// WeChat Pay and Alipay simulators on a loopback TLS port (pay the live QR
// code of an application with POST /dev/applications/{id}/pay, or the
// simulator's own /sim/pay), a demo organisation with a clerk
// (mobile 13800138000), a reviewer (account reviewer, password
// reviewer-dev) and an admin (account admin, password admin-dev). Every
// --dev-known-cert PEM file is a certificate of the demo organisation the
// CA knows and will renew. It listens on 127.0.0.1:8080 without TLS.
// It refuses a --listen address that is not loopback (0.0.0.0, a LAN
// address): the outboxes hold every clerk's sign-in code. With
// --dev-insecure-listen-any it listens there all the same, and the /dev/
// routes still answer peers on this machine only.
// --dev-policy FILE runs another CA policy (JSON, renewal.Policy), e.g.
// without financial verification; --dev-auto-review approves every
// submitted application through the API as the demo reviewer, and pays
// every live QR code at the simulator as if the clerk had scanned it (the
// payment still arrives as a signed notification), so one person can walk
// the whole renewal. At start, --dev prints the URLs a developer needs to
// stdout, once. --dev-ca-chain and
// --dev-ca-key issue with an existing CA (the one that issued the demo
// token's certificate) instead of the generated dev CA.
// --dev-client-update FILE announces a desktop client release (the
// config's client_update section alone; http allowed on loopback).
//
// Production reads one JSON file (see Config) and the environment:
// RENEWD_LISTEN, RENEWD_TLS_CERT, RENEWD_TLS_KEY, RENEWD_DATABASE_DRIVER,
// RENEWD_SQLITE_PATH, RENEWD_DATABASE_DSN, RENEWD_CA_CHAIN, RENEWD_CA_KEY,
// RENEWD_PEPPER, RENEWD_TENCENT_SECRET_ID, RENEWD_TENCENT_SECRET_KEY,
// RENEWD_LOG_LEVEL, RENEWD_CLIENT_IP_HEADER, RENEWD_METRICS_TOKEN (the
// bearer token /metrics asks for: required), RENEWD_WECHAT_APIV3_KEY (the WeChat
// Pay APIv3 key; the merchant itself is the config's "payment" section).
// A pepper, metrics token or APIv3 key that is short, one symbol repeated
// or a pattern of few symbols is refused, naming the setting and how to
// make one (openssl rand). Answers carry Strict-Transport-Security when
// renewd serves TLS, or, with plain_http, when public_url is https; a
// plain_http configuration without client_ip_header (every clerk would
// share the proxy's rate limit and SMS cap) or without an https
// public_url is warned about at start.
// QR orders whose 300 s are over are closed by durable jobs (River, in the
// same database): a sweep every 5 s, enqueued once per cluster by the
// elected leader, one job per expired order; refunds are followed by a job
// each. `renewd jobs` lists the jobs that failed.
//
// /healthz says the process is alive, /readyz whether it should get
// requests (database reachable, every migration applied, not draining).
// Several replicas may start at once on one PostgreSQL: migrations run
// under advisory locks, once.
//
// Logs are JSON lines on stderr (log/slog); they never carry a code, token,
// password or request body. SIGINT or SIGTERM drains (see Config.Drain,
// --drain-delay, --drain-timeout) and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/riverqueue/river"
	"github.com/ukeyrenew/ukeyrenew/server"
	"github.com/ukeyrenew/ukeyrenew/server/auth"
	"github.com/ukeyrenew/ukeyrenew/server/bank"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
	"github.com/ukeyrenew/ukeyrenew/server/jobs"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
	"github.com/ukeyrenew/ukeyrenew/server/sms"
	"github.com/ukeyrenew/ukeyrenew/server/store"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"
)

// Limits of the HTTP server.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 60 * time.Second // a 10 MiB upload on a slow line
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 16 << 10
	purgeEvery        = time.Hour
	purgeAfter        = 24 * time.Hour // expired codes and tokens are kept a day for the daily caps
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "renewd:", err)
		os.Exit(1)
	}
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

type options struct {
	config     string
	dev        bool
	data       string
	listen     string
	knownCerts multiFlag
	devCAAlg   string
	devPolicy  string
	autoReview bool
	devCAChain string
	devCAKey   string
	// devClientUpdate is a JSON file with a client_update section.
	devClientUpdate string
	// devListenAny lets --dev listen on a network address (/dev/ still
	// answers loopback peers only).
	devListenAny bool
	// drainDelay and drainTimeout, if set (> -1), override the drain plan.
	drainDelay, drainTimeout time.Duration
}

func (o *options) register(fs *flag.FlagSet) {
	fs.StringVar(&o.config, "config", "", "configuration file (JSON)")
	fs.BoolVar(&o.dev, "dev", false, "development mode with embedded defaults (never in production)")
	fs.StringVar(&o.data, "data", "renewd-dev", "data directory in --dev")
	fs.StringVar(&o.listen, "listen", "", "listen address (default 127.0.0.1:8080 in --dev)")
	fs.Var(&o.knownCerts, "dev-known-cert", "PEM certificate of the demo organisation (repeatable, --dev)")
	fs.StringVar(&o.devCAAlg, "dev-ca", "ecdsa", "key type of a new dev CA: rsa, ecdsa or sm2")
	fs.StringVar(&o.devCAChain, "dev-ca-chain", "", "in --dev, issue with this CA (PEM chain, issuing CA first) instead of a generated one")
	fs.StringVar(&o.devCAKey, "dev-ca-key", "", "the private key of --dev-ca-chain (PEM, mode 0600)")
	fs.StringVar(&o.devPolicy, "dev-policy", "", "JSON file with the CA policy to run --dev with (renewal.Policy)")
	fs.BoolVar(&o.autoReview, "dev-auto-review", false, "in --dev, approve submitted applications and pay live QR codes at the simulator automatically")
	fs.StringVar(&o.devClientUpdate, "dev-client-update", "", "in --dev, JSON file of the client update to announce (the config's client_update section; http allowed on loopback)")
	fs.BoolVar(&o.devListenAny, devListenAnyFlag, false, "in --dev, allow a --listen address that is not loopback (the /dev/ routes still answer this machine only)")
	fs.DurationVar(&o.drainDelay, "drain-delay", -1, "on SIGTERM, serve this long with /readyz at 503 before closing the listener (default: the config's drain.delay_seconds; 0 in --dev)")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", -1, "on SIGTERM, the time in-flight requests and running jobs have to finish (default: the config's drain.timeout_seconds)")
}

// drainPlan is what SIGTERM does (see Config.Drain).
type drainPlan struct{ delay, timeout time.Duration }

func (d drainPlan) check(delayName, timeoutName string) error {
	if d.delay < 0 || d.timeout <= 0 || d.timeout > MaxDrainTimeout || d.delay >= d.timeout {
		return fmt.Errorf("%s (%s) and %s (%s): want 0 ≤ delay < timeout ≤ %s", delayName, d.delay, timeoutName, d.timeout, MaxDrainTimeout)
	}
	return nil
}

// drainPlan is plan with the command line's overrides, checked.
func (o *options) drainPlan(plan drainPlan) (drainPlan, error) {
	if o.drainDelay >= 0 {
		plan.delay = o.drainDelay
	}
	if o.drainTimeout >= 0 {
		plan.timeout = o.drainTimeout
	}
	return plan, plan.check("--drain-delay", "--drain-timeout")
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) > 0 {
		switch args[0] {
		case "audit":
			return runAudit(ctx, args[1:], stdout, stderr, env)
		case "org":
			return runOrg(ctx, args[1:], stdout, stderr, env)
		case "user":
			return runUser(ctx, args[1:], stdin, stdout, stderr, env)
		case "cert":
			return runCert(ctx, args[1:], stdout, stderr, env)
		case "jobs":
			return runJobs(ctx, args[1:], stdout, stderr, env)
		}
	}
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	fs := flag.NewFlagSet("renewd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	o.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.dev {
		return runDev(ctx, o, stdout, stderr, env)
	}
	if len(o.knownCerts) > 0 || o.devPolicy != "" || o.autoReview || o.devCAChain != "" || o.devCAKey != "" || o.devListenAny || o.devClientUpdate != "" {
		return errors.New("--dev-known-cert, --dev-policy, --dev-auto-review, --dev-ca-*, --dev-client-update and --" + devListenAnyFlag + " need --dev")
	}
	return runProduction(ctx, o, stderr, env)
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func runProduction(ctx context.Context, o options, stderr io.Writer, env func(string) string) error {
	if o.config == "" {
		return errors.New("--config FILE is required (or --dev)")
	}
	c, err := loadConfig(o.config, env)
	if err != nil {
		return err
	}
	if o.listen != "" {
		c.Listen = o.listen
	}
	if err := c.validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log, err := newLogger(stderr, c.LogLevel)
	if err != nil {
		return err
	}
	c.warn(log)
	if c.Policy.FinVerifyRequired {
		return errors.New("config: policy.finverify_required needs a bank adapter; this build has only the --dev outbox")
	}
	st, err := openStore(ctx, c)
	if err != nil {
		return err
	}
	defer st.Close()
	ca, err := issuer.LoadLocalCA(c.CA.Chain, c.CA.Key)
	if err != nil {
		return err
	}
	sender, err := sms.NewTencent(c.SMS.Tencent, nil)
	if err != nil {
		return err
	}
	pepper, _ := c.pepper()
	plan, err := c.drain()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if plan, err = o.drainPlan(plan); err != nil {
		return err
	}
	pay, err := productionPayments(ctx, log, st, c)
	if err != nil {
		return err
	}
	q, err := startJobs(ctx, log, st, pay, c.Database.DSN)
	if err != nil {
		return err
	}
	cfg := server.DefaultConfig()
	cfg.Policy, cfg.ClientIPHeader, cfg.MetricsToken = c.Policy, c.ClientIPHeader, c.MetricsToken
	cfg.TrustedProxies = c.TrustedProxies
	cfg.Limits.SMSOffices = c.smsOffices()
	c.applyLimits(&cfg.Limits)
	cfg.PublicURL, cfg.HSTS = c.PublicURL, c.hsts()
	cfg.ClientReleases = c.ClientUpdate
	srv, err := server.New(cfg, server.Deps{Store: st, Issuer: ca, SMS: sender, Bank: refusingBank{},
		Pepper: auth.Pepper(pepper), Now: time.Now, Log: log, Payments: pay, Jobs: q})
	if err != nil {
		stopJobs(log, q, plan.timeout)
		return err
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		stopJobs(log, q, plan.timeout)
		return err
	}
	certFile, keyFile := c.TLS.Cert, c.TLS.Key
	if c.PlainHTTP {
		certFile, keyFile = "", "" // TLS ends at the proxy in front
	}
	return serve(ctx, log, st, srv, ln, certFile, keyFile, nil, q, plan)
}

// refusingBank stands where a bank adapter will be; the policy check above
// keeps it from being reached.
type refusingBank struct{}

func (refusingBank) Transfer(context.Context, bank.Transfer) error {
	return errors.New("no bank adapter configured")
}

// productionPayments is the payment module on the WeChat Pay merchant of
// the configuration, in the service's database.
func productionPayments(ctx context.Context, log *slog.Logger, st *store.Store, c Config) (*payment.Payments, error) {
	w := c.Payment.WeChat
	key, err := utils.LoadPrivateKeyWithPath(w.MerchantKey)
	if err != nil {
		return nil, fmt.Errorf("payment.wechat.merchant_key: %w", err)
	}
	wc := payment.WeChatConfig{MchID: w.MchID, AppID: w.AppID, MerchantCertSerial: w.MerchantCertSerial, MerchantKey: key,
		APIv3Key: w.APIv3Key, PublicKeyID: w.PublicKeyID}
	if w.PublicKey != "" {
		if wc.PublicKey, err = utils.LoadPublicKeyWithPath(w.PublicKey); err != nil {
			return nil, fmt.Errorf("payment.wechat.public_key: %w", err)
		}
	}
	provider, err := payment.NewWeChat(ctx, wc)
	if err != nil {
		return nil, err
	}
	var others []payment.Provider
	if a := c.Payment.Alipay; a.AppID != "" {
		key, err := utils.LoadPrivateKeyWithPath(a.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("payment.alipay.private_key: %w", err)
		}
		pub, err := utils.LoadPublicKeyWithPath(a.AlipayPublicKey)
		if err != nil {
			return nil, fmt.Errorf("payment.alipay.alipay_public_key: %w", err)
		}
		ali, err := payment.NewAlipay(payment.AlipayConfig{AppID: a.AppID, SellerID: a.SellerID, PrivateKey: key, AlipayPublicKey: pub})
		if err != nil {
			return nil, err
		}
		others = append(others, ali)
	}
	dialect := payment.DialectSQLite
	if st.Dialect() == store.Postgres {
		dialect = payment.DialectPostgres
	}
	if err := payment.Migrate(ctx, st.DB(), dialect); err != nil {
		return nil, err
	}
	hooks := renewals.NewPaymentHooks(st, c.Policy)
	return payment.New(st.DB(), payment.Config{Provider: provider, Others: others, Applications: hooks, Audit: hooks, Prices: c.Policy,
		NotifyURL: c.Payment.NotifyURL, Log: log})
}

// startJobs migrates River's tables and starts working the payment
// module's jobs (the sweep: once per cluster; expiries and refunds). On
// PostgreSQL, dsn also gives the connection that listens for new jobs.
func startJobs(ctx context.Context, log *slog.Logger, st *store.Store, pay *payment.Payments, dsn string) (*jobs.Queue, error) {
	d := jobs.SQLite
	if st.Dialect() == store.Postgres {
		d = jobs.Postgres
	} else {
		dsn = ""
	}
	if err := jobs.Migrate(ctx, st.DB(), d); err != nil {
		return nil, err
	}
	w := river.NewWorkers()
	pay.AddWorkers(w)
	q, err := jobs.New(ctx, st.DB(), d, jobs.Config{Workers: w, Periodic: pay.PeriodicJobs(sweepEvery), ListenDSN: dsn,
		Log: log.With("component", "jobs")})
	if err != nil {
		return nil, err
	}
	pay.UseJobs(q)
	// Not ctx: the signal must not stop the jobs before the drain does.
	if err := q.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, err
	}
	// Refusal counts are this process's own: each process flushes its own.
	go every(ctx, sweepEvery, func(time.Time) {
		if err := pay.FlushRefusals(ctx); err != nil && ctx.Err() == nil {
			log.Warn("payment refusals", "err", err.Error())
		}
	})
	return q, nil
}

// stopJobs stops q, waiting up to timeout for its running jobs.
func stopJobs(log *slog.Logger, q *jobs.Queue, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := q.Stop(ctx); err != nil {
		log.Warn("jobs", "err", err.Error())
	}
}

func openStore(ctx context.Context, c Config) (*store.Store, error) {
	pools := store.WithPools(c.Database.ReadConns, c.Database.WriteConns)
	if c.Database.Driver == "postgres" {
		return store.OpenPostgres(ctx, c.Database.DSN, pools)
	}
	return store.OpenSQLite(ctx, c.Database.Path, pools)
}

// serve runs srv on ln until ctx ends, then drains: /readyz answers 503
// at once, requests are still served for plan.delay (the load balancer
// notices), then the listener closes and in-flight requests and the
// queue's running jobs have until plan.timeout after the signal to finish.
// onListen, if not nil, runs with the base URL once the server is set up.
func serve(ctx context.Context, log *slog.Logger, st *store.Store, srv *server.Server, ln net.Listener, certFile, keyFile string,
	onListen func(base string), q *jobs.Queue, plan drainPlan) error {
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	ln = srv.Listener(ln) // connections per source
	tlsOn := certFile != ""
	log.Info("listening", "addr", ln.Addr().String(), "tls", tlsOn, "database", string(st.Dialect()))
	go purge(ctx, log, st)
	go flushCollapsed(ctx, log, srv)
	if onListen != nil {
		onListen("http://" + ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() {
		if tlsOn {
			errc <- hs.ServeTLS(ln, certFile, keyFile)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		stopJobs(log, q, plan.timeout)
		return err
	case <-ctx.Done():
	}
	srv.Drain()
	log.Info("draining: /readyz answers 503", "delay", plan.delay.String(), "timeout", plan.timeout.String())
	dctx, cancel := context.WithTimeout(context.Background(), plan.timeout)
	defer cancel()
	jobsDone := make(chan error, 1)
	go func() { jobsDone <- q.Stop(dctx) }()
	select {
	case <-time.After(plan.delay):
	case err := <-errc:
		return err
	}
	log.Info("shutting down: listener closed, finishing in-flight requests")
	err := hs.Shutdown(dctx)
	if err != nil {
		err = fmt.Errorf("shutdown: in-flight requests outlived the drain timeout %s: %w", plan.timeout, err)
	}
	if jerr := <-jobsDone; jerr != nil {
		err = errors.Join(err, jerr)
	}
	if err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

func purge(ctx context.Context, log *slog.Logger, st *store.Store) {
	every(ctx, purgeEvery, func(now time.Time) {
		if err := st.PurgeExpired(ctx, now.Add(-purgeAfter)); err != nil && ctx.Err() == nil {
			log.Warn("purge expired codes and tokens", "err", err.Error())
		}
	})
}

// flushCollapsed writes, every minute, the counts of audit rows the service
// collapsed (refused counter sessions, invoice downloads), and forgets the
// rate-limit buckets and idempotency keys that are done with.
func flushCollapsed(ctx context.Context, log *slog.Logger, srv *server.Server) {
	every(ctx, time.Minute, func(time.Time) {
		if err := srv.FlushCollapsedAudit(ctx); err != nil && ctx.Err() == nil {
			log.Warn("collapsed audit rows", "err", err.Error())
		}
		if err := srv.CleanSharedState(ctx); err != nil && ctx.Err() == nil {
			log.Warn("clean rate limits and idempotency keys", "err", err.Error())
		}
	})
}

// every runs f every d until ctx ends.
func every(ctx context.Context, d time.Duration, f func(now time.Time)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			f(now)
		}
	}
}
