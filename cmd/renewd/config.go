package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/sms"
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
	// then set ClientIPHeader to the proxy's header.
	PlainHTTP      bool   `json:"plain_http"`
	ClientIPHeader string `json:"client_ip_header"`
	Database       struct {
		Driver string `json:"driver"` // sqlite or postgres
		Path   string `json:"path"`   // sqlite file
		DSN    string `json:"-"`      // postgres: RENEWD_DATABASE_DSN only (it holds a password)
	} `json:"database"`
	CA struct {
		Chain string `json:"chain"` // PEM: issuing CA first, root last
		Key   string `json:"key"`   // PEM private key, mode 0600
	} `json:"ca"`
	Policy renewal.Policy `json:"policy"`
	SMS    struct {
		Provider string            `json:"provider"` // tencent (outbox only in --dev)
		Tencent  sms.TencentConfig `json:"tencent"`
	} `json:"sms"`
	// PepperHex keys the hashes of codes: RENEWD_PEPPER only (hex, ≥ 32 bytes).
	PepperHex string `json:"-"`
	// MetricsToken is the bearer token of /metrics: RENEWD_METRICS_TOKEN only.
	MetricsToken string `json:"-"`
	LogLevel     string `json:"log_level"` // debug, info, warn, error
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
	return c
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
	if c.CA.Chain == "" || c.CA.Key == "" {
		errs = append(errs, errors.New("ca.chain and ca.key are required"))
	}
	if err := c.Policy.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("policy: %w", err))
	}
	if c.SMS.Provider != "tencent" {
		errs = append(errs, fmt.Errorf("sms.provider %q: only tencent outside --dev", c.SMS.Provider))
	}
	if _, err := c.pepper(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c *Config) pepper() ([]byte, error) {
	p, err := hex.DecodeString(strings.TrimSpace(c.PepperHex))
	if err != nil || len(p) < 32 {
		return nil, errors.New("RENEWD_PEPPER must be at least 32 bytes in hex (openssl rand -hex 32)")
	}
	return p, nil
}
