package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
	"github.com/ukeyrenew/ukeyrenew/server/sms"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// Config is renewd's one configuration file, in JSON: the standard library
// reads it strictly (an unknown key is an error, so a typo cannot silently
// fall back to a default) and no dependency is needed; TOML would add one
// for the sake of comments. Secrets never sit in the file: they come from
// the environment (RENEWD_*), which also overrides the file.
type Config struct {
	Listen string `json:"listen"` // e.g. ":8443"
	TLS    struct {
		Cert string `json:"cert"`
		Key  string `json:"key"`
	} `json:"tls"`
	// PlainHTTP serves without TLS, for a TLS-terminating proxy in front;
	// then set ClientIPHeader to the proxy's header and TrustedProxies to
	// its addresses (the header is believed from them only).
	PlainHTTP      bool           `json:"plain_http"`
	ClientIPHeader string         `json:"client_ip_header"`
	TrustedProxies []netip.Prefix `json:"trusted_proxies"`
	// PublicURL is the https:// address clients reach the service at
	// (optional). Behind a TLS proxy (plain_http) it is what says the
	// service is reached over TLS: Strict-Transport-Security is then sent.
	// It is also the origin counter workstations sign.
	PublicURL string `json:"public_url"`
	Database  struct {
		Driver string `json:"driver"` // sqlite or postgres
		Path   string `json:"path"`   // sqlite file
		DSN    string `json:"-"`      // postgres: RENEWD_DATABASE_DSN only (it holds a password)
		// Connections kept for reads and for writes; 0 or absent: the
		// default (store.SQLiteReaders; store.PostgresReadConns and
		// PostgresWriteConns). SQLite has one writer.
		ReadConns  int `json:"read_conns"`
		WriteConns int `json:"write_conns"`
	} `json:"database"`
	// Limits are the request rate limits (token buckets): per signed-in
	// user, and per client address over every request.
	Limits struct {
		AccountPerSecond float64 `json:"account_requests_per_second"`
		AccountBurst     int     `json:"account_burst"`
		IPPerSecond      float64 `json:"ip_requests_per_second"`
		IPBurst          int     `json:"ip_burst"`
	} `json:"limits"`
	CA struct {
		Chain string `json:"chain"` // PEM: issuing CA first, root last
		Key   string `json:"key"`   // PEM private key, mode 0600
	} `json:"ca"`
	Policy renewal.Policy `json:"policy"`
	SMS    struct {
		Provider string            `json:"provider"` // tencent (outbox only in --dev)
		Tencent  sms.TencentConfig `json:"tencent"`
		// Offices are networks whose clerks sign in from behind one NAT
		// address (or a few): each address may ask daily_codes sign-in
		// codes a day instead of a single host's 20.
		Offices []SMSOffice `json:"offices"`
	} `json:"sms"`
	Payment PaymentConfig `json:"payment"`
	// ClientUpdate announces the current desktop client per platform
	// (clientupdate.go); absent: clients are told of no update.
	ClientUpdate ClientUpdates `json:"client_update"`
	// PepperHex keys the hashes of codes: RENEWD_PEPPER only (hex, ≥ 32 bytes).
	PepperHex string `json:"-"`
	// MetricsToken is the bearer token of /metrics: RENEWD_METRICS_TOKEN
	// only, required (at least 32 characters, openssl rand -hex 16).
	MetricsToken string `json:"-"`
	LogLevel     string `json:"log_level"` // debug, info, warn, error
	// Drain is what SIGTERM does: /readyz answers 503 at once; requests
	// are still served for delay_seconds (the load balancer's check
	// interval times its fall count), then the listener closes and
	// in-flight requests and running jobs have until timeout_seconds
	// after the signal to finish; renewd then exits 0.
	Drain struct {
		DelaySeconds   int `json:"delay_seconds"`
		TimeoutSeconds int `json:"timeout_seconds"`
	} `json:"drain"`
}

// Drain defaults and limits.
const (
	DefaultDrainDelay   = 5 * time.Second
	DefaultDrainTimeout = 25 * time.Second // systemd's default stop timeout is 90 s, Kubernetes' grace period 30 s
	MaxDrainTimeout     = 10 * time.Minute
)

// drain is the configuration's drain, checked: delay < timeout ≤ MaxDrainTimeout.
func (c *Config) drain() (drainPlan, error) {
	d := drainPlan{delay: time.Duration(c.Drain.DelaySeconds) * time.Second, timeout: time.Duration(c.Drain.TimeoutSeconds) * time.Second}
	return d, d.check("drain.delay_seconds", "drain.timeout_seconds")
}

// SMSOffice is an office network and its daily allowance of sign-in codes
// per address, e.g. {"network": "203.0.113.8/29", "daily_codes": 200}.
type SMSOffice struct {
	Network    netip.Prefix `json:"network"`
	DailyCodes int          `json:"daily_codes"`
}

// smsOffices are the offices as the service takes them.
func (c *Config) smsOffices() []server.SMSOffice {
	var out []server.SMSOffice
	for _, o := range c.SMS.Offices {
		out = append(out, server.SMSOffice{Net: o.Network.Masked(), DailyPerIP: o.DailyCodes})
	}
	return out
}

// PaymentConfig is the WeChat Pay merchant renewd takes the fee with (API v3
// Native, "WeChat Pay public key" mode when public_key_id is set, else the
// platform certificates, downloaded at start).
type PaymentConfig struct {
	// NotifyURL is the public base of the notification URLs, e.g.
	// https://ca.example/v1/payments/notify (WeChat gets .../notify/wechat).
	NotifyURL string `json:"notify_url"`
	WeChat    struct {
		MchID              string `json:"mch_id"`
		AppID              string `json:"app_id"`
		MerchantCertSerial string `json:"merchant_cert_serial"`
		MerchantKey        string `json:"merchant_key"` // PEM file (apiclient_key.pem), mode 0600
		PublicKeyID        string `json:"public_key_id"`
		PublicKey          string `json:"public_key"` // PEM file of the WeChat Pay public key
		// APIv3Key decrypts notifications: RENEWD_WECHAT_APIV3_KEY only.
		APIv3Key string `json:"-"`
	} `json:"wechat"`
	// Alipay, optional: a second QR provider the clerk may choose
	// (face-to-face precreate, public key mode).
	Alipay struct {
		AppID           string `json:"app_id"`
		SellerID        string `json:"seller_id"`   // 2088…, checked in notifications
		PrivateKey      string `json:"private_key"` // PEM file of the application private key, mode 0600
		AlipayPublicKey string `json:"alipay_public_key"`
	} `json:"alipay"`
}

// defaultConfig is what an empty file means.
func defaultConfig() Config {
	var c Config
	c.Listen = ":8443"
	c.Database.Driver = "sqlite"
	c.Database.Path = "/var/lib/renewd/renewd.db"
	c.Policy = renewal.DefaultPolicy()
	c.SMS.Provider = "tencent"
	c.LogLevel = "info"
	c.Drain.DelaySeconds = int(DefaultDrainDelay / time.Second)
	c.Drain.TimeoutSeconds = int(DefaultDrainTimeout / time.Second)
	l := server.DefaultConfig().Limits
	c.Limits.AccountPerSecond, c.Limits.AccountBurst = l.AccountPerSecond, l.AccountBurst
	c.Limits.IPPerSecond, c.Limits.IPBurst = l.IPPerSecond, l.IPBurst
	return c
}

// applyLimits sets the service's rate limits from the configuration.
func (c *Config) applyLimits(l *server.Limits) {
	l.AccountPerSecond, l.AccountBurst = c.Limits.AccountPerSecond, c.Limits.AccountBurst
	l.IPPerSecond, l.IPBurst = c.Limits.IPPerSecond, c.Limits.IPBurst
}

// Bounds of the limits a configuration may set.
const (
	maxRequestsPerSecond = 100_000
	maxRequestBurst      = 1_000_000
)

// validateLimits names each limit or pool size out of its range.
func (c *Config) validateLimits() error {
	var errs []error
	rate := func(key string, v float64, burstKey string, burst int) {
		if !(v > 0 && v <= maxRequestsPerSecond) {
			errs = append(errs, fmt.Errorf("limits.%s is %v: it must be more than 0 and at most %d (requests a second)", key, v, maxRequestsPerSecond))
		}
		if burst < 1 || burst > maxRequestBurst {
			errs = append(errs, fmt.Errorf("limits.%s is %d: it must be 1 to %d (requests at once, above the rate)", burstKey, burst, maxRequestBurst))
		}
	}
	rate("account_requests_per_second", c.Limits.AccountPerSecond, "account_burst", c.Limits.AccountBurst)
	rate("ip_requests_per_second", c.Limits.IPPerSecond, "ip_burst", c.Limits.IPBurst)
	for _, p := range []struct {
		key string
		n   int
	}{{"read_conns", c.Database.ReadConns}, {"write_conns", c.Database.WriteConns}} {
		if p.n < 0 || p.n > store.MaxPoolConns {
			errs = append(errs, fmt.Errorf("database.%s is %d: it must be 1 to %d connections (0 or absent: the default)", p.key, p.n, store.MaxPoolConns))
		}
	}
	if c.Database.Driver == "sqlite" && c.Database.WriteConns > 1 {
		errs = append(errs, fmt.Errorf("database.write_conns is %d: SQLite has one writer; leave it out (or set postgres)", c.Database.WriteConns))
	}
	return errors.Join(errs...)
}

// loadConfig reads file (if not empty) over the defaults, then the environment.
func loadConfig(file string, env func(string) string) (Config, error) {
	c := defaultConfig()
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return c, fmt.Errorf("config %s: %w", file, err)
		}
	}
	set := func(dst *string, name string) {
		if v := env(name); v != "" {
			*dst = v
		}
	}
	set(&c.Listen, "RENEWD_LISTEN")
	set(&c.TLS.Cert, "RENEWD_TLS_CERT")
	set(&c.TLS.Key, "RENEWD_TLS_KEY")
	set(&c.Database.Driver, "RENEWD_DATABASE_DRIVER")
	set(&c.Database.Path, "RENEWD_SQLITE_PATH")
	set(&c.Database.DSN, "RENEWD_DATABASE_DSN")
	set(&c.CA.Chain, "RENEWD_CA_CHAIN")
	set(&c.CA.Key, "RENEWD_CA_KEY")
	set(&c.PepperHex, "RENEWD_PEPPER")
	set(&c.MetricsToken, "RENEWD_METRICS_TOKEN")
	set(&c.SMS.Tencent.SecretID, "RENEWD_TENCENT_SECRET_ID")
	set(&c.SMS.Tencent.SecretKey, "RENEWD_TENCENT_SECRET_KEY")
	set(&c.Payment.WeChat.APIv3Key, "RENEWD_WECHAT_APIV3_KEY")
	set(&c.LogLevel, "RENEWD_LOG_LEVEL")
	set(&c.ClientIPHeader, "RENEWD_CLIENT_IP_HEADER")
	return c, nil
}

// validate checks a production configuration and says what is missing.
func (c *Config) validate() error {
	var errs []error
	if !c.PlainHTTP && (c.TLS.Cert == "" || c.TLS.Key == "") {
		errs = append(errs, errors.New("tls.cert and tls.key are required (or plain_http behind a TLS proxy)"))
	}
	switch c.Database.Driver {
	case "sqlite":
		if c.Database.Path == "" {
			errs = append(errs, errors.New("database.path is required for sqlite"))
		}
	case "postgres":
		if c.Database.DSN == "" {
			errs = append(errs, errors.New("RENEWD_DATABASE_DSN is required for postgres"))
		}
	default:
		errs = append(errs, fmt.Errorf("database.driver %q: sqlite or postgres", c.Database.Driver))
	}
	errs = append(errs, c.validateLimits())
	if c.CA.Chain == "" || c.CA.Key == "" {
		errs = append(errs, errors.New("ca.chain and ca.key are required"))
	}
	if err := c.Policy.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("policy: %w", err))
	}
	if c.SMS.Provider != "tencent" {
		errs = append(errs, fmt.Errorf("sms.provider %q: only tencent outside --dev", c.SMS.Provider))
	}
	if c.ClientIPHeader != "" && len(c.TrustedProxies) == 0 {
		errs = append(errs, fmt.Errorf("client_ip_header %q needs trusted_proxies: the networks of the proxies that set it, e.g. [\"127.0.0.1/32\", \"::1/128\"]", c.ClientIPHeader))
	}
	for _, o := range c.SMS.Offices {
		if !o.Network.IsValid() || o.DailyCodes <= 0 {
			errs = append(errs, fmt.Errorf("sms.offices: %q needs a network (a.b.c.d/n) and a positive daily_codes", o.Network))
		}
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			errs = append(errs, fmt.Errorf("public_url %q must be the https:// address clients reach the service at", c.PublicURL))
		}
	}
	if _, err := c.pepper(); err != nil {
		errs = append(errs, err)
	}
	// /metrics tells who is busy with what: it is served with a token only.
	if c.MetricsToken == "" {
		errs = append(errs, errors.New("RENEWD_METRICS_TOKEN is required: /metrics is served only to a scraper that sends it as a bearer token; make one with: "+generateTokenHint))
	} else if err := checkSecret("RENEWD_METRICS_TOKEN", []byte(c.MetricsToken), minTokenChars, minTokenEntropy, "characters", generateTokenHint); err != nil {
		errs = append(errs, err)
	}
	if k := c.SMS.Tencent.SecretKey; k != "" && distinct([]byte(k)) == 1 {
		errs = append(errs, errors.New("RENEWD_TENCENT_SECRET_KEY is a placeholder (one character repeated): set the SecretKey of the Tencent Cloud API key"))
	}
	errs = append(errs, c.Payment.validate(), c.ClientUpdate.validate(false))
	if _, err := c.drain(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c *Config) pepper() ([]byte, error) {
	v := strings.TrimSpace(c.PepperHex)
	if v == "" {
		return nil, errors.New("RENEWD_PEPPER is required; make one with: " + generatePepperHint)
	}
	p, err := hex.DecodeString(v)
	if err != nil {
		return nil, errors.New("RENEWD_PEPPER must be hex digits; make one with: " + generatePepperHint)
	}
	if err := checkSecret("RENEWD_PEPPER", p, minPepperBytes, minPepperEntropy, "bytes", generatePepperHint); err != nil {
		return nil, err
	}
	return p, nil
}

// hsts says whether answers carry Strict-Transport-Security: renewd serves
// TLS itself, or a TLS proxy in front serves the https public_url.
func (c *Config) hsts() bool {
	return !c.PlainHTTP || strings.HasPrefix(c.PublicURL, "https://")
}

// Warnings renewd logs at start for a configuration that runs but
// weakens a protection.
const (
	warnNoClientIPHeader = "plain_http without client_ip_header: behind a proxy every clerk has the proxy's address, " +
		"so all clerks share one rate limit and one daily SMS cap; set client_ip_header to the header the proxy writes (e.g. X-Real-IP)"
	warnNoHSTS = "plain_http without an https public_url: Strict-Transport-Security is not sent; " +
		"set public_url to the https:// address the TLS proxy serves"
)

// warn logs, at WARN, what the configuration weakens.
func (c *Config) warn(log *slog.Logger) {
	if c.PlainHTTP && c.ClientIPHeader == "" {
		log.Warn(warnNoClientIPHeader)
	}
	if !c.hsts() {
		log.Warn(warnNoHSTS)
	}
}

// validate names what the payment section lacks: without payments no
// application can be completed under either payment timing.
func (p *PaymentConfig) validate() error {
	var errs []error
	if u, err := url.Parse(p.NotifyURL); err != nil || u.Scheme != "https" || u.Host == "" {
		errs = append(errs, errors.New("payment.notify_url must be the public https:// URL of /v1/payments/notify"))
	}
	w := &p.WeChat
	if w.MchID == "" || w.AppID == "" || w.MerchantCertSerial == "" || w.MerchantKey == "" {
		errs = append(errs, errors.New("payment.wechat.mch_id, app_id, merchant_cert_serial and merchant_key are required"))
	}
	if (w.PublicKeyID == "") != (w.PublicKey == "") {
		errs = append(errs, errors.New("payment.wechat.public_key_id and public_key go together"))
	}
	if len(w.APIv3Key) != 32 {
		errs = append(errs, errors.New("RENEWD_WECHAT_APIV3_KEY must be the 32-character APIv3 key"))
	} else if err := checkSecret("RENEWD_WECHAT_APIV3_KEY", []byte(w.APIv3Key), 32, minTokenEntropy, "characters",
		"openssl rand -hex 16, then set it as the APIv3 key in the WeChat Pay merchant platform"); err != nil {
		errs = append(errs, err)
	}
	a := &p.Alipay
	if set := a.AppID != "" || a.SellerID != "" || a.PrivateKey != "" || a.AlipayPublicKey != ""; set &&
		(a.AppID == "" || a.SellerID == "" || a.PrivateKey == "" || a.AlipayPublicKey == "") {
		errs = append(errs, errors.New("payment.alipay needs app_id, seller_id, private_key and alipay_public_key (or none of them)"))
	}
	return errors.Join(errs...)
}
