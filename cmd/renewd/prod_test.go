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

// TestProductionServesTLS runs renewd from a config file and the
// environment, as in production, and talks to it over TLS.
func TestProductionServesTLS(t *testing.T) {
	dir := t.TempDir()
	_, err := issuer.GenerateDevCA(filepath.Join(dir, "ca"), issuer.ECDSA, time.Now().AddDate(-1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	// A server certificate for 127.0.0.1 from a separate TLS CA.
	tlsKey, _ := issuer.GenerateKey(issuer.ECDSA)
	tlsTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "renewd test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	tlsDER, err := x509.CreateCertificate(rand.Reader, tlsTmpl, tlsTmpl, tlsKey.Public(), tlsKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(tlsKey)
	certFile, keyFile := filepath.Join(dir, "tls.pem"), filepath.Join(dir, "tls-key.pem")
	for f, b := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: tlsDER}, keyFile: {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(f, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The WeChat Pay merchant: its key, and the WeChat Pay public key
	// ("public key" mode makes no call to WeChat at start).
	mchKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	wxKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	mchDER, _ := x509.MarshalPKCS8PrivateKey(mchKey)
	wxDER, _ := x509.MarshalPKIXPublicKey(&wxKey.PublicKey)
	mchFile, wxFile := filepath.Join(dir, "apiclient_key.pem"), filepath.Join(dir, "pub_key.pem")
	for f, b := range map[string]*pem.Block{mchFile: {Type: "PRIVATE KEY", Bytes: mchDER}, wxFile: {Type: "PUBLIC KEY", Bytes: wxDER}} {
		if err := os.WriteFile(f, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
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
  "log_level": "info"
}`, certFile, keyFile, filepath.Join(dir, "renewd.db"), filepath.Join(dir, "ca", issuer.DevChainFile), filepath.Join(dir, "ca", issuer.DevKeyFile),
		mchFile, wxFile, mchFile, wxFile)
	cfgFile := filepath.Join(dir, "renewd.json")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	const apiV3Key = "apiv3-secret-0123456789abcdefghi" // 32 characters
	bin := renewdBinary(t)
	// Without the secrets from the environment it refuses to start, naming them.
	out, err := exec.Command(bin, "--config", cfgFile).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "RENEWD_PEPPER") {
		t.Fatalf("started without a pepper: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "--config", cfgFile)
	cmd.Env = append(os.Environ(), "RENEWD_PEPPER="+strings.Repeat("5a", 32),
		"RENEWD_TENCENT_SECRET_ID=AKIDtest", "RENEWD_TENCENT_SECRET_KEY=tencent-secret-value", "RENEWD_WECHAT_APIV3_KEY="+apiV3Key)
	p := startCmd(t, cmd)
	pool := x509.NewCertPool()
	c, _ := x509.ParseCertificate(tlsDER)
	pool.AddCert(c)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}, Timeout: 10 * time.Second}
	res, err := hc.Get("https://" + p.addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("readyz over TLS: %d", res.StatusCode)
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
	if strings.Contains(p.log(), "tencent-secret-value") || strings.Contains(p.log(), strings.Repeat("5a", 32)) || strings.Contains(p.log(), apiV3Key) {
		t.Fatal("a secret is in the log")
	}
}
