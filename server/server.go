package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/auth"
	"github.com/ukeyrenew/ukeyrenew/server/bank"
	"github.com/ukeyrenew/ukeyrenew/server/invoice"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
	"github.com/ukeyrenew/ukeyrenew/server/jobs"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
	"github.com/ukeyrenew/ukeyrenew/server/sms"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

//go:embed openapi.yaml
var openAPIDoc []byte

// OpenAPI returns the embedded OpenAPI 3 document served at /v1/openapi.yaml.
func OpenAPI() []byte { return openAPIDoc }

// Limits are the service's numbers; DefaultConfig sets each.
type Limits struct {
	IPPerSecond      float64 // every request, per client IP
	IPBurst          int
	AccountPerSecond float64 // signed-in requests, per user
	AccountBurst     int
	MaxLimiterKeys   int // buckets kept per limiter
	// NotifyPerSecond and NotifyBurst limit payment notifications per
	// client IP, apart from IPPerSecond: WeChat Pay sends from few addresses
	// and may burst, and every refused notification is audited, so an
	// unsigned flood must still be bounded. Over it, 429: the provider retries.
	NotifyPerSecond float64
	NotifyBurst     int

	// SMS sign-in codes. A source is an IPv4 address or an IPv6 /64. A
	// source is trusted with a number once the number signed in by SMS from
	// it (for store.SMSTrustFor), and an office network (SMSOffices) with
	// every number: strangers asking for codes to a number cannot lock its
	// owner out where the owner signs in. See store.SMSLimits.
	SMSCodeTTL     time.Duration
	SMSResendAfter time.Duration // per number and source
	SMSMaxTries    int           // wrong codes before a code is dead, from its asker and from others each
	// SMSDailyPerMobileSource caps the codes a day to a number asked from
	// one source.
	SMSDailyPerMobileSource int
	// SMSDailyPerMobile caps the codes a day to a number (from anywhere)
	// that an untrusted source may still add to: the bound on strangers.
	SMSDailyPerMobile int
	// SMSDailyPerIP caps the codes a day one source asks for numbers it is
	// not trusted with; SMSOffices give office networks behind NAT more.
	SMSDailyPerIP int
	SMSOffices    []SMSOffice

	// Failed password sign-ins are limited per account and source, and per
	// source over all accounts; never per account alone, so failures from
	// elsewhere never refuse a source that has not failed.
	PasswordFailPerMinute float64 // per account and source
	PasswordFailBurst     int
	// PasswordFailPerSourcePerMinute: per source, over all accounts.
	PasswordFailPerSourcePerMinute float64
	PasswordFailPerSourceBurst     int

	AccessTTL    time.Duration
	RefreshTTL   time.Duration
	ChallengeTTL time.Duration
	// MaxTransfers bounds verification transfers per application.
	MaxTransfers int
	MaxDocument  int64
	// BodyBytesTotal and BodyBytesPerAccount bound the request bodies
	// being read at once, for the process and per signed-in account
	// (bodylimit.go); a request is counted at its declared length, or its
	// route's limit. Over them: 503 busy, 429 rate_limited. The defaults,
	// 64 MiB and 16 MiB: six largest documents at once, or some sixty
	// usual 1 MiB scans; one account: one largest document and more.
	BodyBytesTotal      int64
	BodyBytesPerAccount int64
	// AnonBodyBytesTotal and AnonBodyBytesPerSource bound the bodies of
	// requests before sign-in (sign-in, SMS codes, counter sessions,
	// payment notifications) being read at once, apart from the budgets
	// above, and per source (an IPv4 address or IPv6 /64). Over them: 503
	// busy, 429 rate_limited. The defaults, 8 MiB and 256 KiB: such a body
	// reserves at most 4 KiB (MaxPublicJSONBody) or, a notification, 64
	// KiB (declared ~1-2 KiB by the providers): a source, an office's NAT
	// included, has 64 sign-ins or 4 largest notifications in flight, and
	// 32 sources stalling together are needed to fill the budget, which
	// then refuses only other sign-ins, never a signed-in clerk's upload.
	AnonBodyBytesTotal     int64
	AnonBodyBytesPerSource int64
	// ConnsPerSource bounds the connections one source (IPv4 address or
	// IPv6 /64; trusted proxies are not counted) holds at once (Listener);
	// 0 means no bound.
	ConnsPerSource int
	// JSONBodyReadTimeout bounds the reading of a JSON body or a payment
	// notification (at most 64 KiB, mostly under 1 KiB) from its handler's
	// start; a sender that stalls is cut then and its reservation given
	// back. The default, 10 s: 64 KiB at 64 kbit/s.
	JSONBodyReadTimeout time.Duration
	// QROrdersPerDay bounds the payment QR orders an application makes in
	// 24 hours (each costs provider API calls on the merchant's quota);
	// the live QR code is answered again without counting.
	QROrdersPerDay int

	// InvoiceLinkTTL is how long an invoice link opens the PDF.
	InvoiceLinkTTL time.Duration
	// InvoiceStuckAfter: a request still being issued after this (the
	// service died meanwhile) may be asked again.
	InvoiceStuckAfter time.Duration
	// InvoiceIssueTimeout bounds one call to the e-invoice platform.
	InvoiceIssueTimeout time.Duration

	// AuditStreams is how many walks over the whole audit log (exports,
	// verifications) may run at once; more are refused with 429.
	AuditStreams int
}

// SMSOffice is an office network whose clerks sign in from behind one NAT
// address (or a few): each of its addresses may ask DailyPerIP codes a day,
// and is trusted with every number.
type SMSOffice struct {
	Net        netip.Prefix
	DailyPerIP int
}

// Config is the service's configuration.
type Config struct {
	Policy renewal.Policy
	Limits Limits
	// Dev serves /dev/ (outboxes, a stand-in for payment); never in production.
	Dev bool
	// ClientIPHeader names a header set by a trusted reverse proxy
	// (X-Real-IP, or X-Forwarded-For); empty means the connection's
	// address. It is believed only from TrustedProxies (required with it).
	ClientIPHeader string
	TrustedProxies []netip.Prefix
	// MetricsToken, if set, is the bearer token /metrics asks for.
	MetricsToken string
	// PublicURL is the service's address as clerks reach it (e.g.
	// https://renew.example-ca.cn), the base of the links sent by SMS and
	// e-mail; empty means the address each request came to, which only
	// --dev allows (the Host header is the caller's to choose).
	PublicURL string
	// HSTS sends Strict-Transport-Security on every answer, also those
	// that came over plain HTTP: the service is reached over https through
	// a TLS proxy. Answers over the service's own TLS always carry it.
	HSTS bool
	// ClientReleases are the current desktop clients, per platform, that
	// GET /v1/client/update announces (clientupdate.go); none: no update.
	ClientReleases map[renewal.ClientPlatform]renewal.ClientRelease
}

// DefaultConfig is the production default.
func DefaultConfig() Config {
	return Config{
		Policy: renewal.DefaultPolicy(),
		Limits: Limits{
			IPPerSecond: 50, IPBurst: 100,
			AccountPerSecond: 20, AccountBurst: 40,
			MaxLimiterKeys:  100_000,
			NotifyPerSecond: 200, NotifyBurst: 400,
			SMSCodeTTL: 5 * time.Minute, SMSResendAfter: 60 * time.Second, SMSMaxTries: 5,
			SMSDailyPerMobileSource: 10, SMSDailyPerMobile: 20, SMSDailyPerIP: 20,
			PasswordFailPerMinute: 5, PasswordFailBurst: 10,
			PasswordFailPerSourcePerMinute: 10, PasswordFailPerSourceBurst: 20,
			AccessTTL: 15 * time.Minute, RefreshTTL: 30 * 24 * time.Hour,
			ChallengeTTL:   5 * time.Minute,
			MaxTransfers:   5,
			QROrdersPerDay: 10,
			MaxDocument:    renewal.MaxDocumentBytes,
			InvoiceLinkTTL: 30 * 24 * time.Hour, InvoiceStuckAfter: 10 * time.Minute, InvoiceIssueTimeout: 60 * time.Second,
			BodyBytesTotal: 64 << 20, BodyBytesPerAccount: 16 << 20,
			AnonBodyBytesTotal: 8 << 20, AnonBodyBytesPerSource: 256 << 10, ConnsPerSource: 256, JSONBodyReadTimeout: 10 * time.Second,
			AuditStreams: 2,
		},
	}
}

// Deps are the parts the service is built from.
type Deps struct {
	Store  *store.Store
	Issuer issuer.Issuer
	SMS    sms.Sender
	Bank   bank.Transferer
	// Pepper keys the hashes of SMS and transfer codes.
	Pepper auth.Pepper
	Now    func() time.Time
	Log    *slog.Logger
	// Dev outboxes, served under /dev/ when Config.Dev is set.
	DevSMS  *sms.Outbox
	DevBank *bank.Outbox
	// Payments takes the fee (nil: the payment routes answer that payments
	// are not configured). Build it with renewals.NewPaymentHooks over Store.
	Payments *payment.Payments
	// DevPay pays an open order at the provider's simulator, as a clerk
	// scanning the QR would (--dev only; served at /dev/applications/{id}/pay).
	DevPay func(ctx context.Context, provider, outTradeNo string) error
	// Invoices issues e-invoices and Mailer sends their links (both or
	// neither; nil: the invoice routes answer that invoices are not
	// configured). With Config.Dev and none given, a DevIssuer and a mail
	// Outbox (DevMail, served at /dev/outbox/mail) are used.
	Invoices invoice.Issuer
	Mailer   invoice.Mailer
	DevMail  *invoice.Outbox
	// Jobs is the durable job queue (nil: none): its jobs are counted by
	// kind and state in /metrics, its tables checked by /readyz.
	Jobs *jobs.Queue
}

// Server is the renewal service.
type Server struct {
	cfg     Config
	store   *store.Store
	apps    *renewals.Service
	issuer  issuer.Issuer
	sms     sms.Sender
	bank    bank.Transferer
	pepper  auth.Pepper
	now     func() time.Time
	log     *slog.Logger
	hasher  *auth.Hasher
	idem    *idemLocal
	bodies  *bodyBudget
	metrics *metrics
	devSMS  *sms.Outbox
	devBank *bank.Outbox
	pay     *payment.Payments
	devPay  func(ctx context.Context, provider, outTradeNo string) error
	// e-invoices
	mailer  invoice.Mailer
	devMail *invoice.Outbox
	links   *invoice.Links

	// The limits of every request (by source, by user, notifications by
	// source) are shared by the replicas on PostgreSQL; on SQLite, the
	// single-process database, they stay in memory, where a take costs no
	// write (docs/SECURITY.md, "State shared by the replicas"). The others
	// are drawn on failures or challenges only, and always shared.
	ipLimit      rateLimiter
	notifyLimit  rateLimiter
	accountLimit rateLimiter
	pwFailLimit  rateLimiter // per account and source
	pwSrcLimit   rateLimiter // per source
	counterLimit rateLimiter
	auditStreams chan struct{} // a place per running export or verification
	hopWarned    atomic.Int64  // when an unreadable client-IP hop was last logged (clientip.go)

	mux *http.ServeMux

	jobs     *jobs.Queue
	draining atomic.Bool // set by Drain: /readyz answers 503
}

// New builds the service.
func New(cfg Config, d Deps) (*Server, error) {
	if d.Store == nil || d.Issuer == nil || d.SMS == nil || d.Bank == nil {
		return nil, errors.New("server: store, issuer, sms and bank are required")
	}
	if len(d.Pepper) < 16 {
		return nil, errors.New("server: pepper of at least 16 bytes required")
	}
	if err := cfg.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("server: policy: %w", err)
	}
	if err := checkClientIPConfig(&cfg); err != nil {
		return nil, err
	}
	if err := checkClientReleases(&cfg); err != nil {
		return nil, err
	}
	for _, o := range cfg.Limits.SMSOffices {
		if !o.Net.IsValid() || o.DailyPerIP <= 0 {
			return nil, fmt.Errorf("server: sms office %v: a network and a positive daily cap are required", o.Net)
		}
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Dev && d.Invoices == nil && d.Mailer == nil {
		d.Invoices = &invoice.DevIssuer{Seller: devSeller, Now: d.Now}
		if d.DevMail == nil {
			d.DevMail = invoice.NewOutbox(d.Now)
		}
		d.Mailer = d.DevMail
	}
	if l := cfg.Limits; l.BodyBytesPerAccount < l.MaxDocument || l.BodyBytesTotal < l.BodyBytesPerAccount {
		return nil, errors.New("server: the body budgets must hold a largest document, and the process's an account's")
	}
	if l := cfg.Limits; l.AnonBodyBytesPerSource < payment.MaxNotificationBytes || l.AnonBodyBytesTotal < l.AnonBodyBytesPerSource {
		return nil, fmt.Errorf("server: the anonymous body budget must hold a source's share, and the share a payment notification (%d bytes)",
			payment.MaxNotificationBytes)
	}
	if (d.Invoices == nil) != (d.Mailer == nil) {
		return nil, errors.New("server: invoices need both an issuer and a mailer")
	}
	if d.Invoices != nil && (cfg.Limits.InvoiceLinkTTL <= 0 || cfg.Limits.InvoiceStuckAfter <= 0 || cfg.Limits.InvoiceIssueTimeout <= 0) {
		return nil, errors.New("server: invoice link ttl, stuck-after and issue timeout must be positive")
	}
	if d.Invoices != nil {
		if cfg.PublicURL == "" && !cfg.Dev {
			// Else the links sent by SMS and e-mail would take their host
			// from the request's Host header, which the caller chooses.
			return nil, errors.New("server: invoices need the service's public URL")
		}
		if cfg.PublicURL != "" {
			u, err := url.Parse(cfg.PublicURL)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
				return nil, fmt.Errorf("server: public URL %q is not an http(s) base URL", cfg.PublicURL)
			}
			cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
		}
	}
	links, err := invoice.NewLinks(invoiceLinkKey(d.Pepper))
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	l := cfg.Limits
	hot := d.Store.Dialect() == store.Postgres
	s := &Server{
		cfg: cfg, store: d.Store, issuer: d.Issuer, sms: d.SMS, bank: d.Bank, pepper: d.Pepper,
		now: d.Now, log: d.Log, hasher: auth.NewHasher(), idem: newIdemLocal(), metrics: newMetrics(),
		bodies: newBodyBudget(l),
		devSMS: d.DevSMS, devBank: d.DevBank, pay: d.Payments, devPay: d.DevPay,
		mailer: d.Mailer, devMail: d.DevMail, links: links,
		ipLimit:      newRateLimiter(d.Store, hot, d.Now, "ip", l.IPPerSecond, l.IPBurst, l.MaxLimiterKeys),
		notifyLimit:  newRateLimiter(d.Store, hot, d.Now, "notify", l.NotifyPerSecond, l.NotifyBurst, l.MaxLimiterKeys),
		accountLimit: newRateLimiter(d.Store, hot, d.Now, "account", l.AccountPerSecond, l.AccountBurst, l.MaxLimiterKeys),
		pwFailLimit:  newRateLimiter(d.Store, true, d.Now, "password", l.PasswordFailPerMinute/60, l.PasswordFailBurst, l.MaxLimiterKeys),
		pwSrcLimit:   newRateLimiter(d.Store, true, d.Now, "password_source", l.PasswordFailPerSourcePerMinute/60, l.PasswordFailPerSourceBurst, l.MaxLimiterKeys),
		counterLimit: newRateLimiter(d.Store, true, d.Now, "counter", counterChallengesPerMinute/60, counterChallengeBurst, l.MaxLimiterKeys),
		auditStreams: make(chan struct{}, max(l.AuditStreams, 1)),
	}
	if d.Payments != nil {
		s.metrics.reg.MustRegister(refusedNotifications{d.Payments})
	}
	if d.Payments != nil {
		s.metrics.watchPayments(d.Payments)
	}
	if d.Jobs != nil {
		s.jobs = d.Jobs
		s.metrics.reg.MustRegister(jobCounts{db: d.Store.ReadDB(), log: d.Log})
	}
	s.apps = renewals.New(renewals.Deps{Store: d.Store, Policy: cfg.Policy, Issuer: d.Issuer, Bank: d.Bank, Pepper: d.Pepper,
		Payments: d.Payments, Now: d.Now, Log: d.Log, Count: s.metrics.count, ChallengeTTL: l.ChallengeTTL, MaxTransfers: l.MaxTransfers,
		Invoices: d.Invoices, InvoiceStuckAfter: l.InvoiceStuckAfter, InvoiceIssueTimeout: l.InvoiceIssueTimeout,
		MaxQROrdersPerDay: l.QROrdersPerDay})
	s.routes()
	return s, nil
}

// Handler is the whole HTTP service.
func (s *Server) Handler() http.Handler {
	return s.strictTransport(s.observe(s.recoverPanics(s.limitIP(s.mux))))
}

// Route is one method and path pattern of the API.
type Route struct{ Method, Path string }

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	for _, rt := range s.routeTable() {
		s.mux.Handle(rt.Method+" "+rt.Path, rt.h)
	}
	if s.cfg.Dev {
		s.devRoutes()
	}
	s.mux.Handle("/", s.adapt(func(w http.ResponseWriter, r *http.Request) error {
		return renewal.Errorf(renewal.CodeNotFound, "", "no such endpoint")
	}))
}

const notifyPrefix = "/v1/payments/notify/"

type route struct {
	Method, Path string
	h            http.Handler
}

func (s *Server) routeTable() []route {
	pub := func(h handlerFunc) http.Handler { return s.adapt(s.publicBody(h)) }
	user := func(h handlerFunc) http.Handler { return s.adapt(s.authed(s.jsonBody(s.idempotent(h)))) }
	staff := func(h handlerFunc) http.Handler { return s.adapt(s.authed(s.staffOnly(s.jsonBody(h)))) }
	admin := func(h handlerFunc) http.Handler { return s.adapt(s.authed(s.adminOnly(s.jsonBody(h)))) }
	return []route{
		{"GET", "/healthz", http.HandlerFunc(s.healthz)},
		{"GET", "/readyz", http.HandlerFunc(s.readyz)},
		{"GET", "/metrics", s.metricsGate(s.metrics.handler())},
		{"GET", "/v1/openapi.yaml", http.HandlerFunc(s.openapi)},
		{"GET", "/v1/policy", pub(s.getPolicy)},
		{"GET", "/v1/about", pub(s.about)},
		{"GET", "/v1/client/update", pub(s.clientUpdate)},
		{"POST", "/v1/auth/sms-code", pub(s.smsCode)},
		{"POST", "/v1/auth/sms-login", pub(s.smsLogin)},
		{"POST", "/v1/auth/login", pub(s.passwordLogin)},
		{"POST", "/v1/auth/refresh", pub(s.refresh)},
		{"POST", "/v1/auth/logout", user(s.logout)},
		{"GET", "/v1/me", user(s.me)},
		{"GET", "/v1/certificates/{serial}/eligibility", user(s.eligibility)},
		{"GET", "/v1/applications", user(s.listApplications)},
		{"POST", "/v1/applications", user(s.createApplication)},
		{"GET", "/v1/applications/{id}", user(s.getApplication)},
		{"PUT", "/v1/applications/{id}", user(changeApplication(s, s.apps.Update))},
		{"DELETE", "/v1/applications/{id}", user(s.deleteApplication)},
		{"POST", "/v1/applications/{id}/submit", user(changeApplication(s, s.apps.Submit))},
		{"POST", "/v1/applications/{id}/cancel", user(changeApplication(s, s.apps.Cancel))},
		{"POST", "/v1/applications/{id}/payment/qr", user(callApplication(s, s.apps.PaymentQR, answerJSON))},
		{"GET", "/v1/applications/{id}/payment", user(readApplication(s, s.apps.PaymentStatus))},
		{"POST", "/v1/applications/{id}/payment/refund", admin(changeApplication(s, s.apps.Refund))},
		{"POST", "/v1/payments/notify/{provider}", s.adapt(s.notifyBody(s.notify))},
		{"POST", "/v1/applications/{id}/approve", staff(s.review(renewal.ActionApprove))},
		{"POST", "/v1/applications/{id}/reject", staff(s.review(renewal.ActionReject))},
		{"POST", "/v1/applications/{id}/hold", staff(s.review(renewal.ActionHold))},
		{"POST", "/v1/applications/{id}/release", staff(s.review(renewal.ActionRelease))},
		{"GET", "/v1/review/queue", staff(s.reviewQueue)},
		{"GET", "/v1/applications/{id}/form.pdf", user(s.applicationForm)},
		{"GET", "/v1/applications/{id}/documents", user(s.listDocuments)},
		{"POST", "/v1/applications/{id}/documents", s.uploadRoute()},
		{"GET", "/v1/applications/{id}/documents/{doc}", user(s.getDocument)},
		{"DELETE", "/v1/applications/{id}/documents/{doc}", user(s.deleteDocument)},
		{"GET", "/v1/applications/{id}/finverify", user(readApplication(s, s.apps.FinVerifyStatus))},
		{"POST", "/v1/applications/{id}/finverify/start", user(callApplication(s, s.apps.StartFinVerify, writeTransfer))},
		{"POST", "/v1/applications/{id}/finverify/code", user(changeApplication(s, s.apps.SubmitFinVerifyCode))},
		{"POST", "/v1/applications/{id}/finverify/bank", user(callApplication(s, s.apps.CorrectBank, writeTransfer))},
		{"POST", "/v1/applications/{id}/challenge", user(readApplication(s, s.apps.Challenge))},
		{"POST", "/v1/applications/{id}/issue", user(callApplication(s, s.apps.Issue, answerJSON))},
		{"GET", "/v1/applications/{id}/certificate", user(readApplication(s, s.apps.Issuance))},
		{"GET", "/v1/applications/{id}/certificate/chain.pem", user(s.getChainPEM)},
		{"POST", "/v1/applications/{id}/installed", user(changeApplication(s, s.apps.ConfirmInstalled))},
		{"POST", "/v1/applications/{id}/invoice", user(s.requestInvoice)},
		{"GET", "/v1/applications/{id}/invoice", user(s.getInvoice)},
		{"GET", "/v1/applications/{id}/invoice.pdf", pub(s.invoicePDF)},
		{"POST", "/v1/workstations", admin(s.enrolWorkstation)},
		{"GET", "/v1/workstations", admin(s.listWorkstations)},
		{"DELETE", "/v1/workstations/{id}", admin(s.revokeWorkstation)},
		{"POST", "/v1/counter/challenge", pub(s.counterChallenge)},
		{"POST", "/v1/counter/session", pub(s.counterSession)},
		{"POST", "/v1/counter/refresh", pub(s.counterRefresh)},
		{"POST", "/v1/counter/sms-login", pub(s.counterAuthed(s.counterSMSLogin))},
		{"GET", "/v1/audit", admin(s.auditList)},
		{"GET", "/v1/audit/verify", admin(s.auditVerify)},
		{"GET", "/v1/audit/export", admin(s.auditExport)},
	}
}

// Routes lists the API's routes (for the OpenAPI drift test).
func (s *Server) Routes() []Route {
	var out []Route
	for _, r := range s.routeTable() {
		out = append(out, Route{r.Method, r.Path})
	}
	return out
}

// ---- middleware ----

func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		s.metrics.inFlight.Add(1)
		defer s.metrics.inFlight.Add(-1) // also when a handler aborts the connection
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		d := s.now().Sub(start)
		route := routeOf(r)
		s.metrics.observe(route, rec.status, d)
		// Never the query, headers or body: they may carry codes or tokens.
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("route", route),
			slog.Int("status", rec.status), slog.Duration("duration", d), slog.String("ip", s.clientIP(r)))
	})
}

func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "panic", "route", routeOf(r), "panic", fmt.Sprint(v))
				s.writeError(w, r, renewal.NewError(renewal.CodeInternal, ""))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (s *Server) limitIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Notifications come from the provider's few addresses: they have
		// a bucket of their own, larger than a client's.
		lim := s.ipLimit
		if strings.HasPrefix(r.URL.Path, notifyPrefix) {
			lim = s.notifyLimit
		}
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			ok, wait, err := lim.take(r.Context(), sourceOf(s.clientIP(r)))
			if err != nil {
				refuseUnread(w)
				s.writeError(w, r, err)
				return
			}
			if !ok {
				refuseUnread(w) // its body is not read
				s.writeError(w, r, renewals.WithRetryAfter(renewal.NewError(renewal.CodeRateLimited, ""), int(wait.Seconds()+1)))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

type ctxKey int

const principalKey ctxKey = 0

// principal is who is calling.
type principal struct {
	user   renewal.User
	family string
	// workstation is the counter workstation the session was signed in at.
	workstation string
}

func principalOf(ctx context.Context) principal {
	p, _ := ctx.Value(principalKey).(principal)
	return p
}

func (s *Server) staffOnly(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if !principalOf(r.Context()).user.Role.IsStaff() {
			return renewal.NewError(renewal.CodeForbidden, "")
		}
		return h(w, r)
	}
}

func (s *Server) adminOnly(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if principalOf(r.Context()).user.Role != renewal.RoleAdmin {
			return renewal.NewError(renewal.CodeForbidden, "")
		}
		return h(w, r)
	}
}

// ---- operational endpoints ----

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// Drain makes /readyz answer 503 from now on, so that a load balancer
// stops sending new requests; the process goes on serving those it gets
// until it shuts its listener.
func (s *Server) Drain() { s.draining.Store(true) }

// readyz says whether this process should get requests: not while it
// drains, not when the database does not answer or its schema is not the
// one this build needs (every migration applied: store, payments, jobs).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	notReady := func(what string, err error) {
		if err != nil {
			s.log.WarnContext(ctx, "not ready", "why", what, "err", err.Error())
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(what + "\n"))
	}
	if s.draining.Load() {
		notReady("draining", nil)
		return
	}
	if err := s.store.Ping(ctx); err != nil {
		notReady("database unreachable", err)
		return
	}
	if err := s.migrationsCurrent(ctx); err != nil {
		notReady("migrations not current", err)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

func (s *Server) migrationsCurrent(ctx context.Context) error {
	if err := s.store.MigrationsCurrent(ctx); err != nil {
		return err
	}
	if s.pay != nil {
		if err := store.MigrationsCurrent(ctx, s.store.ReadDB(), payment.VersionTable, payment.MigrationFiles(), "migrations"); err != nil {
			return err
		}
	}
	if s.jobs != nil {
		d := jobs.SQLite
		if s.store.Dialect() == store.Postgres {
			d = jobs.Postgres
		}
		if err := jobs.Current(ctx, s.store.ReadDB(), d); err != nil {
			return err
		}
	}
	return nil
}

// metricsGate asks for the metrics token, when one is configured.
func (s *Server) metricsGate(next http.Handler) http.Handler {
	if s.cfg.MetricsToken == "" {
		return next
	}
	want := sha256.Sum256([]byte("Bearer " + s.cfg.MetricsToken))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := sha256.Sum256([]byte(r.Header.Get("Authorization")))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			s.writeError(w, r, renewal.NewError(renewal.CodeUnauthenticated, ""))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(openAPIDoc)
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, s.cfg.Policy)
	return nil
}
