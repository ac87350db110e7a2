package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/server/issuer"
)

// prodSetup is what a production renewd needs on disk: a CA, a TLS
// certificate for 127.0.0.1 from a separate TLS CA, the WeChat Pay
// merchant's key and the WeChat Pay public key ("public key" mode makes no
// call to WeChat at start).
type prodSetup struct {
	dir                       string
	certFile, keyFile         string
	tlsDER                    []byte
	mchFile, wxFile, database string
}

func newProdSetup(t *testing.T) *prodSetup {
	t.Helper()
	dir := t.TempDir()
	_, err := issuer.GenerateDevCA(filepath.Join(dir, "ca"), issuer.ECDSA, time.Now().AddDate(-1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	tlsKey, _ := issuer.GenerateKey(issuer.ECDSA)
	tlsTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "renewd test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	tlsDER, err := x509.CreateCertificate(rand.Reader, tlsTmpl, tlsTmpl, tlsKey.Public(), tlsKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(tlsKey)
	s := &prodSetup{dir: dir, certFile: filepath.Join(dir, "tls.pem"), keyFile: filepath.Join(dir, "tls-key.pem"), tlsDER: tlsDER,
		mchFile: filepath.Join(dir, "apiclient_key.pem"), wxFile: filepath.Join(dir, "pub_key.pem"), database: filepath.Join(dir, "renewd.db")}
	mchKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	wxKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	mchDER, _ := x509.MarshalPKCS8PrivateKey(mchKey)
	wxDER, _ := x509.MarshalPKIXPublicKey(&wxKey.PublicKey)
	for f, b := range map[string]*pem.Block{s.certFile: {Type: "CERTIFICATE", Bytes: tlsDER}, s.keyFile: {Type: "PRIVATE KEY", Bytes: keyDER},
		s.mchFile: {Type: "PRIVATE KEY", Bytes: mchDER}, s.wxFile: {Type: "PUBLIC KEY", Bytes: wxDER}} {
		if err := os.WriteFile(f, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// config writes a production configuration file; extra is JSON members
// put last, so they win over the same keys before them (e.g.
// `, "plain_http": true, "tls": {"cert": "", "key": ""}`).
func (s *prodSetup) config(t *testing.T, extra string) string {
	t.Helper()
	cfg := fmt.Sprintf(`{
  "listen": "127.0.0.1:0",
  "tls": {"cert": %q, "key": %q},
  "database": {"driver": "sqlite", "path": %q},
  "ca": {"chain": %q, "key": %q},
  "policy": {"payment_timing": "after_review", "finverify_required": false, "rekey_required": false,
    "window_before_days": 90, "window_after_days": 365, "prices_fen": [30000, 55000, 78000], "finverify_max_tries": 3},
  "sms": {"provider": "tencent", "tencent": {"region": "ap-guangzhou", "sdk_app_id": "1400000001", "sign_name": "测试CA",
    "templates": {"sign_in": "100001", "phone_check": "100002"}}},
  "payment": {"notify_url": "https://ca.example/v1/payments/notify", "wechat": {"mch_id": "1900000109", "app_id": "wx8888888888888888",
    "merchant_cert_serial": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1", "merchant_key": %q,
    "public_key_id": "PUB_KEY_ID_0114232134912410000000000000", "public_key": %q},
    "alipay": {"app_id": "2021000000000001", "seller_id": "2088000000000001", "private_key": %q, "alipay_public_key": %q}},
  "log_level": "info" %s
}`, s.certFile, s.keyFile, s.database, filepath.Join(s.dir, "ca", issuer.DevChainFile), filepath.Join(s.dir, "ca", issuer.DevKeyFile),
		s.mchFile, s.wxFile, s.mchFile, s.wxFile, extra)
	f, err := os.CreateTemp(s.dir, "renewd-*.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(cfg); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// tlsClient trusts the setup's TLS certificate.
func (s *prodSetup) tlsClient() *http.Client {
	pool := x509.NewCertPool()
	c, _ := x509.ParseCertificate(s.tlsDER)
	pool.AddCert(c)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}, Timeout: 10 * time.Second}
}

// prodEnv is the environment of a production renewd: the secrets.
func prodEnv(extra ...string) []string {
	return append(append(os.Environ(), "RENEWD_PEPPER="+testPepperHex, "RENEWD_METRICS_TOKEN="+testMetricsToken,
		"RENEWD_TENCENT_SECRET_ID=AKIDtest", "RENEWD_TENCENT_SECRET_KEY=tencent-secret-value", "RENEWD_WECHAT_APIV3_KEY="+testAPIv3Key), extra...)
}

// TestProductionServesTLS runs renewd from a config file and the
// environment, as in production, and talks to it over TLS.
func TestProductionServesTLS(t *testing.T) {
	setup := newProdSetup(t)
	cfgFile := setup.config(t, "")
	bin := renewdBinary(t)
	// Without the secrets from the environment it refuses to start, naming them.
	out, err := exec.Command(bin, "--config", cfgFile).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "RENEWD_PEPPER") {
		t.Fatalf("started without a pepper: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "--config", cfgFile)
	cmd.Env = prodEnv()
	p := startCmd(t, cmd)
	hc := setup.tlsClient()
	res, err := hc.Get("https://" + p.addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("readyz over TLS: %d", res.StatusCode)
	}
	// Over its own TLS every answer asks browsers for https only.
	if h := res.Header.Get("Strict-Transport-Security"); h != "max-age=31536000" {
		t.Errorf("Strict-Transport-Security over TLS: %q", h)
	}
	// /metrics wants the token.
	for token, want := range map[string]int{"": http.StatusUnauthorized, "wrong": http.StatusUnauthorized, testMetricsToken: http.StatusOK} {
		req, _ := http.NewRequest("GET", "https://"+p.addr+"/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want || res.Header.Get("Strict-Transport-Security") == "" {
			t.Errorf("/metrics with token %q: %d (HSTS %q), want %d", token, res.StatusCode, res.Header.Get("Strict-Transport-Security"), want)
		}
	}
	// Plain HTTP to the TLS port is not served.
	if res, err := http.Get("http://" + p.addr + "/readyz"); err == nil {
		res.Body.Close()
		if res.StatusCode == 200 {
			t.Fatal("plain HTTP served on the TLS port")
		}
	}
	// The dev routes do not exist in production.
	res, err = hc.Get("https://" + p.addr + "/dev/outbox/sms")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("/dev/outbox/sms in production: %d", res.StatusCode)
	}
	// Payments are wired: the notification endpoint verifies (and refuses
	// an unsigned body), the status route wants a session.
	res, err = hc.Post("https://"+p.addr+"/v1/payments/notify/wechat", "application/json", strings.NewReader(`{"id":"forged"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized && res.StatusCode != http.StatusBadRequest {
		t.Fatalf("unsigned notification: %d", res.StatusCode)
	}
	res, err = hc.Post("https://"+p.addr+"/v1/payments/notify/alipay", "application/x-www-form-urlencoded", strings.NewReader("notify_id=forged"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode == http.StatusOK || res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusNoContent {
		t.Fatalf("unsigned Alipay notification: %d", res.StatusCode)
	}
	res, err = hc.Get("https://" + p.addr + "/v1/applications/x/payment")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("payment status without a session: %d", res.StatusCode)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := <-p.done; err != nil {
		t.Fatalf("exit: %v\n%s", err, p.log())
	}
	if strings.Contains(p.log(), "tencent-secret-value") || strings.Contains(p.log(), testPepperHex) || strings.Contains(p.log(), testAPIv3Key) ||
		strings.Contains(p.log(), testMetricsToken) {
		t.Fatal("a secret is in the log")
	}
}

// The rate limit of renewd.json is the one a production renewd applies:
// with ip_burst 3 (and a rate that refills nothing during the test) the
// fourth request from the address is refused.
func TestProductionRateLimitFromConfig(t *testing.T) {
	setup := newProdSetup(t)
	cmd := exec.Command(renewdBinary(t), "--config", setup.config(t, `, "limits": {"ip_requests_per_second": 0.001, "ip_burst": 3}`))
	cmd.Env = prodEnv()
	p := startCmd(t, cmd)
	hc := setup.tlsClient()
	for i, want := range []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusUnauthorized, http.StatusTooManyRequests} {
		res, err := hc.Get("https://" + p.addr + "/v1/applications/x/payment")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Fatalf("request %d: %d, want %d", i+1, res.StatusCode, want)
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := <-p.done; err != nil {
		t.Fatalf("exit: %v\n%s", err, p.log())
	}
}
