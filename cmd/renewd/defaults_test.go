package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// --dev hands out every sign-in code at /dev/outbox/sms: it refuses to
// listen on a network address unless told so by a loudly named flag.
func TestDevRefusesNetworkListen(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.168.1.20:18080", "10.1.2.3:8080", "renew.example:8080"} {
		data := filepath.Join(t.TempDir(), "data")
		var stderr bytes.Buffer
		err := run(context.Background(), []string{"--dev", "--data", data, "--listen", addr}, nil, &bytes.Buffer{}, &stderr, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), "--dev-insecure-listen-any") || !strings.Contains(err.Error(), "/dev/outbox/sms") ||
			!strings.Contains(err.Error(), addr) {
			t.Errorf("--listen %s: %v", addr, err)
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			t.Errorf("--listen %s: the data directory was made before the refusal (%v)", addr, err)
		}
	}
	// Without --dev the flag means nothing and is refused.
	err := run(context.Background(), []string{"--dev-insecure-listen-any", "--config", "x.json"}, nil, &bytes.Buffer{}, &bytes.Buffer{}, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "need --dev") {
		t.Errorf("--dev-insecure-listen-any without --dev: %v", err)
	}
}

// With the flag it listens where told, says so loudly, and the outbox
// still answers nobody but this machine's loopback: a request from this
// host's own network address is not found.
func TestDevInsecureListenAnyKeepsDevRoutesLocal(t *testing.T) {
	ip := networkIP(t)
	cmd := exec.Command(renewdBinary(t), "--dev", "--data", t.TempDir(), "--listen", net.JoinHostPort(ip, "0"), "--dev-insecure-listen-any")
	p := startCmd(t, cmd)
	if !strings.Contains(p.log(), `"level":"WARN","msg":"INSECURE: --dev-insecure-listen-any`) {
		t.Errorf("no loud warning:\n%s", p.log())
	}
	c := &client{t: t, base: "http://" + p.addr}
	if st := c.do("POST", "/v1/auth/sms-code", map[string]string{"mobile": DemoClerkMobile}, nil); st != http.StatusAccepted {
		t.Fatalf("sms-code from the network: %d", st)
	}
	for _, path := range []string{"/dev/outbox/sms", "/dev/outbox/sms?mobile=" + DemoClerkMobile, "/dev/outbox/bank"} {
		if st := c.do("GET", path, nil, nil); st != http.StatusNotFound {
			t.Errorf("%s from %s: %d", path, ip, st)
		}
	}
	if st := c.do("POST", "/dev/applications/x/pay", nil, nil); st != http.StatusNotFound {
		t.Errorf("dev pay from %s: %d", ip, st)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
}

// networkIP is an address of this host that is not loopback (the test is
// skipped on a host without one).
func networkIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	t.Skip("this host has no network address besides loopback")
	return ""
}

// Secrets of the tests' production configurations: made with openssl rand,
// test values, not secrets.
const (
	testPepperHex    = "7fd08256cf90072f164a56d1c9fdc52701509b85a9da333b9cd32c1d1c09db88"
	testMetricsToken = "866c10a885499915e16495f6cfce40ff"
	testAPIv3Key     = "fab3c209c905a471175c048f5ff557ce"
)

// A production configuration whose secrets are placeholders or patterns
// is refused, naming the setting and how to make a good one.
func TestProductionRefusesWeakSecrets(t *testing.T) {
	setup := newProdSetup(t)
	file := setup.config(t, "")
	good := map[string]string{"RENEWD_PEPPER": testPepperHex, "RENEWD_METRICS_TOKEN": testMetricsToken,
		"RENEWD_TENCENT_SECRET_ID": "AKIDtest", "RENEWD_TENCENT_SECRET_KEY": "tencent-secret-value", "RENEWD_WECHAT_APIV3_KEY": testAPIv3Key}
	validate := func(name, value string) error {
		env := map[string]string{}
		for k, v := range good {
			env[k] = v
		}
		env[name] = value
		c, err := loadConfig(file, func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		return c.validate()
	}
	if err := validate("RENEWD_PEPPER", testPepperHex); err != nil {
		t.Fatalf("good secrets refused: %v", err)
	}
	for _, c := range append([]weakSecret{
		{"RENEWD_PEPPER", strings.Repeat("0", 64), "openssl rand -hex 32"},                 // the default the issue found
		{"RENEWD_PEPPER", strings.Repeat("ab", 32), "openssl rand -hex 32"},                // one byte value
		{"RENEWD_PEPPER", strings.Repeat("0123456789abcdef", 4), "openssl rand -hex 32"},   // 8 byte values
		{"RENEWD_PEPPER", strings.Repeat("deadbeef", 16), "openssl rand -hex 32"},          // 4 byte values
		{"RENEWD_PEPPER", testPepperHex[:62], "openssl rand -hex 32"},                      // 31 bytes
		{"RENEWD_PEPPER", "", "openssl rand -hex 32"},                                      // none
		{"RENEWD_PEPPER", strings.Repeat("zz", 32), "openssl rand -hex 32"},                // not hex
		{"RENEWD_METRICS_TOKEN", "", "openssl rand -hex 16"},                               // /metrics unguarded
		{"RENEWD_METRICS_TOKEN", "metrics", "openssl rand -hex 16"},                        // short
		{"RENEWD_METRICS_TOKEN", strings.Repeat("x", 40), "openssl rand -hex 16"},          // one character
		{"RENEWD_METRICS_TOKEN", strings.Repeat("abcd", 10), "openssl rand -hex 16"},       // a pattern
		{"RENEWD_WECHAT_APIV3_KEY", strings.Repeat("k", 32), "openssl rand -hex 16"},       // one character
		{"RENEWD_WECHAT_APIV3_KEY", strings.Repeat("0a", 16), "openssl rand -hex 16"},      // a pattern
		{"RENEWD_TENCENT_SECRET_KEY", strings.Repeat("x", 32), "SecretKey of the Tencent"}, // a placeholder
	}, weakSecrets...) {
		err := validate(c.name, c.value)
		if err == nil || !strings.Contains(err.Error(), c.name) || !strings.Contains(err.Error(), c.hint) {
			t.Errorf("%s=%q: %v", c.name, c.value, err)
		}
	}
	// The binary itself refuses to start with the zero pepper, and says why.
	if out := refusedToStart(t, prodEnv("RENEWD_PEPPER="+strings.Repeat("0", 64)), "--config", file); !strings.Contains(out,
		"RENEWD_PEPPER is too weak a secret: it is one byte repeated; make one with: openssl rand -hex 32") {
		t.Errorf("zero pepper refused without saying why:\n%s", out)
	}
	// And without a metrics token.
	if out := refusedToStart(t, append(prodEnv(), "RENEWD_METRICS_TOKEN="), "--config", file); !strings.Contains(out, "RENEWD_METRICS_TOKEN is required") {
		t.Errorf("no metrics token refused without saying why:\n%s", out)
	}
}

// refusedToStart runs renewd, which must exit with an error before it
// listens; it returns what renewd wrote.
func refusedToStart(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(renewdBinary(t), args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("renewd %v exited 0:\n%s", args, out.String())
		}
		return out.String()
	case <-time.After(30 * time.Second): // it is serving: kill it
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("renewd %v started:\n%s", args, out.String())
		return ""
	}
}

// Behind a TLS proxy: Strict-Transport-Security is sent when public_url is
// https, and a missing client_ip_header or https public_url is warned
// about at start, in these words.
func TestProductionBehindTLSProxy(t *testing.T) {
	setup := newProdSetup(t)
	start := func(extra string) (*proc, *http.Response) {
		t.Helper()
		cmd := exec.Command(renewdBinary(t), "--config", setup.config(t, `, "plain_http": true, "tls": {"cert": "", "key": ""}`+extra))
		cmd.Env = prodEnv()
		p := startCmd(t, cmd)
		res, err := http.Get("http://" + p.addr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("readyz over plain HTTP: %d", res.StatusCode)
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
		return p, res
	}
	warned := func(p *proc, msg string) bool {
		return strings.Contains(p.log(), `"level":"WARN","msg":"`+msg+`"`)
	}
	// The proxy serves https://renew.ca.example; no client IP header.
	p, res := start(`, "public_url": "https://renew.ca.example"`)
	if h := res.Header.Get("Strict-Transport-Security"); h != "max-age=31536000" {
		t.Errorf("Strict-Transport-Security behind a TLS proxy: %q", h)
	}
	if !warned(p, "plain_http without client_ip_header: behind a proxy every clerk has the proxy's address, so all clerks share one rate limit and one daily SMS cap; set client_ip_header to the header the proxy writes (e.g. X-Real-IP)") {
		t.Errorf("no warning about the client IP header:\n%s", p.log())
	}
	if warned(p, warnNoHSTS) {
		t.Errorf("HSTS warning with an https public_url:\n%s", p.log())
	}
	// With the header but no public_url: no HSTS (nothing says the proxy is TLS), and a warning.
	p, res = start(`, "client_ip_header": "X-Real-IP", "trusted_proxies": ["127.0.0.1/32"]`)
	if h := res.Header.Get("Strict-Transport-Security"); h != "" {
		t.Errorf("Strict-Transport-Security without an https public_url: %q", h)
	}
	if !warned(p, "plain_http without an https public_url: Strict-Transport-Security is not sent; set public_url to the https:// address the TLS proxy serves") ||
		warned(p, warnNoClientIPHeader) {
		t.Errorf("warnings:\n%s", p.log())
	}
	// public_url must be https.
	if out := refusedToStart(t, prodEnv(), "--config", setup.config(t, `, "public_url": "http://renew.ca.example"`)); !strings.Contains(out, "public_url") {
		t.Errorf("an http public_url refused without naming it:\n%s", out)
	}
}
