package main

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
	_ "modernc.org/sqlite"
)

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "renewd.json")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	noEnv := func(string) string { return "" }
	write(`{"listen": ":9443", "databse": {"driver": "sqlite"}}`)
	if _, err := loadConfig(file, noEnv); err == nil || !strings.Contains(err.Error(), "databse") {
		t.Fatalf("a misspelt key was accepted: %v", err)
	}
	write(`{"listen": ":9443", "tls": {"cert": "c.pem", "key": "k.pem"}, "ca": {"chain": "ca.pem", "key": "ca-key.pem"},
		"policy": {"payment_timing": "before_review", "finverify_required": false, "rekey_required": true,
		"window_before_days": 60, "window_after_days": 30, "prices_fen": [100, 200, 300], "finverify_max_tries": 3},
		"sms": {"provider": "tencent", "tencent": {"region": "ap-guangzhou", "sdk_app_id": "1400000001", "sign_name": "某CA",
		"templates": {"sign_in": "1", "phone_check": "2"}}},
		"payment": {"notify_url": "https://ca.example/v1/payments/notify", "wechat": {"mch_id": "1900000109", "app_id": "wx8888888888888888",
		"merchant_cert_serial": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1", "merchant_key": "apiclient_key.pem",
		"public_key_id": "PUB_KEY_ID_0114232134912410000000000000", "public_key": "pub_key.pem"}}}`)
	env := map[string]string{"RENEWD_LISTEN": ":10443", "RENEWD_PEPPER": testPepperHex, "RENEWD_METRICS_TOKEN": testMetricsToken,
		"RENEWD_TENCENT_SECRET_ID": "id", "RENEWD_TENCENT_SECRET_KEY": "key", "RENEWD_WECHAT_APIV3_KEY": testAPIv3Key}
	c, err := loadConfig(file, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":10443" || !c.Policy.RekeyRequired || c.Policy.WindowBeforeDays != 60 || c.SMS.Tencent.SecretKey != "key" ||
		c.Payment.WeChat.MchID != "1900000109" || c.Payment.WeChat.APIv3Key != testAPIv3Key {
		t.Fatalf("config %+v", c)
	}
	if err := c.validate(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	// Every missing piece is named.
	bad := c
	bad.TLS.Cert, bad.CA.Key, bad.PepperHex, bad.Database.Driver = "", "", "abcd", "mysql"
	bad.Policy.WindowAfterDays = -1
	bad.Payment.NotifyURL, bad.Payment.WeChat.MchID, bad.Payment.WeChat.PublicKey, bad.Payment.WeChat.APIv3Key =
		"http://ca.example/notify", "", "", "short"
	bad.Payment.Alipay.AppID = "2021000000000001"
	err = bad.validate()
	for _, want := range []string{"tls.cert", "ca.chain", "RENEWD_PEPPER", "database.driver", "policy",
		"payment.notify_url", "payment.wechat.mch_id", "public_key_id and public_key", "RENEWD_WECHAT_APIV3_KEY", "payment.alipay"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validate does not name %s: %v", want, err)
		}
	}
	pg := c
	pg.Database.Driver = "postgres"
	if err := pg.validate(); err == nil || !strings.Contains(err.Error(), "RENEWD_DATABASE_DSN") {
		t.Errorf("postgres without DSN: %v", err)
	}
	// The secrets are not read from the file.
	write(`{"database": {"driver": "postgres", "DSN": "postgres://u:p@h/db"}}`)
	if _, err := loadConfig(file, noEnv); err == nil {
		t.Error("a DSN in the file was accepted")
	}
	write(`{"payment": {"wechat": {"api_v3_key": "abc"}}}`)
	if _, err := loadConfig(file, noEnv); err == nil {
		t.Error("an APIv3 key in the file was accepted")
	}
}

func TestDemoCreditCodeIsValid(t *testing.T) {
	if err := renewal.ValidateCreditCode(demoCreditCode()); err != nil {
		t.Fatal(err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildOnce.path != "" {
		os.RemoveAll(filepath.Dir(buildOnce.path))
	}
	os.Exit(code)
}

// renewdBinary builds the real binary once per test binary run.
var buildOnce struct {
	sync.Once
	path string
	err  error
}

func renewdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "renewd-bin")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "renewd")
		out, err := exec.Command("go", "build", "-o", buildOnce.path, ".").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

type proc struct {
	cmd  *exec.Cmd
	addr string
	logs *bytes.Buffer
	mu   *sync.Mutex
	done chan error
}

var listenRE = regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)

// startRenewd runs renewd with args and waits until it listens.
func startRenewd(t *testing.T, args ...string) *proc {
	t.Helper()
	return startCmd(t, exec.Command(renewdBinary(t), args...))
}

// startCmd starts a renewd command and waits until it listens.
func startCmd(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, logs: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			if m := listenRE.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case p.addr = <-addr:
	case err := <-p.done:
		t.Fatalf("renewd exited: %v\n%s", err, p.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("renewd did not listen\n%s", p.log())
	}
	return p
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

type client struct {
	t    *testing.T
	base string
	tok  string
}

func (c *client) do(method, path string, body any, out any) int {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if c.tok != "" {
		req.Header.Set("Authorization", "Bearer "+c.tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return res.StatusCode
}

// signIn signs the demo clerk in through the dev outbox.
func (c *client) signIn() {
	c.t.Helper()
	if st := c.do("POST", "/v1/auth/sms-code", renewal.SMSCodeRequest{Mobile: DemoClerkMobile}, nil); st != http.StatusAccepted {
		c.t.Fatalf("sms-code: %d", st)
	}
	var msgs []struct{ Code string }
	c.do("GET", "/dev/outbox/sms?mobile="+DemoClerkMobile, nil, &msgs)
	if len(msgs) == 0 {
		c.t.Fatal("no SMS in the dev outbox")
	}
	var tok renewal.Tokens
	if st := c.do("POST", "/v1/auth/sms-login", renewal.SMSLoginRequest{Mobile: DemoClerkMobile, Code: msgs[len(msgs)-1].Code}, &tok); st != 200 {
		c.t.Fatalf("sms-login: %d", st)
	}
	c.tok = tok.AccessToken
}

// demoCerts writes n certificates of a throw-away CA ending in 30 days, as
// a demo token's would be, and returns the PEM files and serials.
func demoCerts(t *testing.T, n int) ([]string, []string) {
	t.Helper()
	files, serials, _ := demoCertsWithKeys(t, n)
	return files, serials
}

func demoCertsWithKeys(t *testing.T, n int) ([]string, []string, []crypto.Signer) {
	t.Helper()
	dir := t.TempDir()
	ca, err := issuer.GenerateDevCA(filepath.Join(dir, "ca"), issuer.ECDSA, time.Now().AddDate(-1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	var files, serials []string
	var keys []crypto.Signer
	for i := range n {
		key, _ := issuer.GenerateKey(issuer.ECDSA)
		keys = append(keys, key)
		der, err := ca.IssueInitial(pkix.Name{Organization: []string{DemoOrgName}, CommonName: fmt.Sprintf("演示%d", i)}, key.Public(),
			time.Now().AddDate(-1, 0, 0), time.Now().AddDate(0, 0, 30))
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, fmt.Sprintf("cert%d.pem", i))
		if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
		c, _ := issuer.ParseCertificatesPEM(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
		serials = append(serials, renewal.NormalizeSerial(c[0].SerialNumber.Text(16)))
	}
	return files, serials, keys
}

func TestDevModeRunsAndStopsGracefully(t *testing.T) {
	data := t.TempDir()
	files, serials := demoCerts(t, 1)
	cmd := exec.Command(renewdBinary(t), "--dev", "--data", data, "--listen", "127.0.0.1:0", "--dev-known-cert", files[0])
	var stdout bytes.Buffer // read once the process is gone
	cmd.Stdout = &stdout
	p := startCmd(t, cmd)
	c := &client{t: t, base: "http://" + p.addr}
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/v1/openapi.yaml"} {
		if st := c.do("GET", path, nil, nil); st != 200 {
			t.Fatalf("%s: %d", path, st)
		}
	}
	c.signIn()
	var el renewal.Eligibility
	if st := c.do("GET", "/v1/certificates/"+serials[0]+"/eligibility", nil, &el); st != 200 || !el.Eligible {
		t.Fatalf("the known certificate is not eligible: %d %+v", st, el)
	}
	var tok renewal.Tokens
	if st := c.do("POST", "/v1/auth/login", renewal.PasswordLoginRequest{Account: DemoAdmin, Password: DemoAdminPass}, &tok); st != 200 {
		t.Fatalf("demo admin sign-in: %d", st)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("renewd exit after SIGTERM: %v\n%s", err, p.log())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("renewd did not stop on SIGTERM")
	}
	// The URLs a developer needs, on stdout, once.
	printed := stdout.String()
	for _, want := range []string{"http://" + p.addr + "  (API", "http://" + p.addr + "/dev/outbox/sms?mobile=" + DemoClerkMobile,
		"http://" + p.addr + "/dev/applications/APPLICATION_ID/pay", "/sim/pay?out_trade_no="} {
		if !strings.Contains(printed, want) {
			t.Errorf("stdout lacks %q:\n%s", want, printed)
		}
	}
	if n := strings.Count(printed, "renewd --dev"); n != 1 {
		t.Errorf("the URLs are printed %d times:\n%s", n, printed)
	}
	logs := p.log()
	if !strings.Contains(logs, `"msg":"stopped"`) {
		t.Fatalf("no graceful stop in the log:\n%s", logs)
	}
	// The log holds no code or token.
	var msgs []struct{ Code string }
	data2, _ := os.ReadFile(filepath.Join(data, "sms-outbox.jsonl"))
	_ = json.Unmarshal(bytes.TrimSpace(bytes.Split(data2, []byte("\n"))[0]), &struct{}{})
	for _, line := range strings.Split(strings.TrimSpace(string(data2)), "\n") {
		var m struct{ Code string }
		_ = json.Unmarshal([]byte(line), &m)
		msgs = append(msgs, m)
	}
	for _, m := range msgs {
		if m.Code == "" || strings.Contains(logs, m.Code) {
			t.Fatalf("the SMS code %q is in the log (or the outbox file is empty)", m.Code)
		}
	}
	if strings.Contains(logs, tok.AccessToken[4:12]) || strings.Contains(logs, c.tok[4:12]) || strings.Contains(logs, DemoAdminPass) {
		t.Fatal("a token or password is in the log")
	}
	// A second start reuses the data (same CA, same users).
	p2 := startRenewd(t, "--dev", "--data", data, "--listen", "127.0.0.1:0")
	c2 := &client{t: t, base: "http://" + p2.addr}
	c2.do("GET", "/healthz", nil, nil)
	_ = p2.cmd.Process.Signal(syscall.SIGTERM)
	<-p2.done
	out, err := exec.Command(renewdBinary(t), "audit", "verify", "--dev", "--data", data).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte(`"ok": true`)) {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
	csv, err := exec.Command(renewdBinary(t), "audit", "export", "--format", "csv", "--dev", "--data", data).Output()
	if err != nil || !bytes.Contains(csv, []byte("auth.sms_login")) {
		t.Fatalf("audit export: %v\n%.300s", err, csv)
	}
}

func TestAuditVerifyDetectsTampering(t *testing.T) {
	data := t.TempDir()
	p := startRenewd(t, "--dev", "--data", data, "--listen", "127.0.0.1:0")
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
	db, err := sql.Open("sqlite", filepath.Join(data, "renewd.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit_log SET actor = 'mallory' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out, err := exec.Command(renewdBinary(t), "audit", "verify", "--dev", "--data", data).CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte(`"bad_seq": 2`)) {
		t.Fatalf("an edited audit row went unnoticed: %v\n%s", err, out)
	}
}

// TestCrashSafety kills renewd with SIGKILL in the middle of a burst of
// writes; after a restart every acknowledged write is there and the audit
// chain verifies.
func TestCrashSafety(t *testing.T) {
	const apps = 6
	data := t.TempDir()
	files, serials := demoCerts(t, apps)
	args := []string{"--dev", "--data", data, "--listen", "127.0.0.1:0"}
	for _, f := range files {
		args = append(args, "--dev-known-cert", f)
	}
	p := startRenewd(t, args...)
	c := &client{t: t, base: "http://" + p.addr}
	c.signIn()
	ids := make([]string, apps)
	for i, s := range serials {
		var a renewal.Application
		if st := c.do("POST", "/v1/applications", renewal.CreateApplicationRequest{CertSerial: s}, &a); st != http.StatusCreated {
			t.Fatalf("create: %d", st)
		}
		ids[i] = a.ID
	}
	// Each writer edits its application again and again; acked[i] is the
	// last version the service acknowledged.
	check, _ := renewal.IDNumberCheckChar("11010519491231002")
	idNumber := "11010519491231002" + string(check)
	acked := make([]int64, apps)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := int64(1)
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				var a renewal.Application
				body := map[string]any{"version": v, "rekey": n%2 == 0, "form": map[string]any{
					"years": 1 + n%3, "organisation": map[string]string{"name": DemoOrgName, "credit_code": demoCreditCode()},
					"legal_representative": map[string]string{"name": "张三", "id_number": idNumber, "mobile": DemoClerkMobile},
					"bank":                 map[string]string{"account_name": DemoOrgName, "bank_name": "招商银行", "account_number": "755912345610801"},
					"invoice":              map[string]string{"kind": "none"}, "pickup": map[string]string{"method": "on_site"}}}
				st := c.do("PUT", "/v1/applications/"+ids[i], body, &a)
				switch st {
				case 200:
					v = a.Version
					acked[i] = v // only this goroutine writes acked[i]
				case http.StatusTooManyRequests:
					time.Sleep(50 * time.Millisecond) // the per-account limit: not acknowledged, try again
				case 0:
					return // the server is gone
				default:
					t.Errorf("edit: %d", st)
					return
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	close(stop)
	wg.Wait()
	var total int64
	for _, v := range acked {
		total += v - 1
	}
	if total < 10 {
		t.Fatalf("only %d writes before the kill: the test proves nothing", total)
	}
	p2 := startRenewd(t, "--dev", "--data", data, "--listen", "127.0.0.1:0")
	c2 := &client{t: t, base: "http://" + p2.addr}
	var tok renewal.Tokens
	if st := c2.do("POST", "/v1/auth/login", renewal.PasswordLoginRequest{Account: DemoAdmin, Password: DemoAdminPass}, &tok); st != 200 {
		t.Fatalf("admin sign-in after restart: %d", st)
	}
	c2.tok = tok.AccessToken
	for i, id := range ids {
		var a renewal.Application
		if st := c2.do("GET", "/v1/applications/"+id, nil, &a); st != 200 {
			t.Fatalf("get after restart: %d", st)
		}
		// A write may have committed without its answer arriving: at most one more.
		if a.Version < acked[i] || a.Version > acked[i]+1 {
			t.Errorf("application %d: version %d after restart, %d acknowledged", i, a.Version, acked[i])
		}
	}
	_ = p2.cmd.Process.Signal(syscall.SIGTERM)
	<-p2.done
	out, err := exec.Command(renewdBinary(t), "audit", "verify", "--dev", "--data", data).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte(`"ok": true`)) {
		t.Fatalf("audit chain after SIGKILL: %v\n%s", err, out)
	}
	t.Logf("%d acknowledged edits before SIGKILL; all present, chain verifies", total)
}

// The packaged example configuration is one this renewd reads and accepts
// (with the secrets from the environment), so the two cannot drift apart.
func TestPackagedExampleConfig(t *testing.T) {
	file := filepath.Join("..", "..", "packaging", "linux", "renewd.example.json")
	env := map[string]string{"RENEWD_PEPPER": testPepperHex, "RENEWD_METRICS_TOKEN": testMetricsToken, "RENEWD_TENCENT_SECRET_ID": "id",
		"RENEWD_TENCENT_SECRET_KEY": "key", "RENEWD_WECHAT_APIV3_KEY": testAPIv3Key}
	c, err := loadConfig(file, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if err := c.validate(); err != nil {
		t.Fatalf("the packaged example is refused: %v", err)
	}
	if c.Payment.WeChat.MchID == "" || c.Payment.NotifyURL == "" {
		t.Fatalf("the packaged example has no WeChat Pay merchant: %+v", c.Payment)
	}
}

// A client-IP header is believed from the listed proxies only, and is
// refused without them.
func TestConfigTrustedProxies(t *testing.T) {
	file := filepath.Join(t.TempDir(), "renewd.json")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"plain_http": true, "client_ip_header": "X-Real-IP"}`)
	c, err := loadConfig(file, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if err := c.validate(); err == nil || !strings.Contains(err.Error(), "trusted_proxies") {
		t.Fatalf("client_ip_header without trusted_proxies: %v", err)
	}
	write(`{"plain_http": true, "client_ip_header": "X-Real-IP", "trusted_proxies": ["127.0.0.1/32", "::1/128"]}`)
	if c, err = loadConfig(file, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	if err := c.validate(); err != nil && strings.Contains(err.Error(), "trusted_proxies") {
		t.Fatalf("with trusted_proxies: %v", err)
	}
	if len(c.TrustedProxies) != 2 || c.TrustedProxies[1].String() != "::1/128" {
		t.Fatalf("trusted proxies %v", c.TrustedProxies)
	}
	write(`{"trusted_proxies": ["nginx"]}`)
	if _, err := loadConfig(file, func(string) string { return "" }); err == nil {
		t.Fatal("a proxy that is not a network was accepted")
	}
}

// Office networks behind NAT get their own allowance of SMS codes.
func TestConfigSMSOffices(t *testing.T) {
	file := filepath.Join(t.TempDir(), "renewd.json")
	if err := os.WriteFile(file, []byte(`{"sms": {"offices": [{"network": "203.0.113.9/29", "daily_codes": 200}]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(file, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	got := c.smsOffices()
	if len(got) != 1 || got[0].Net.String() != "203.0.113.8/29" || got[0].DailyPerIP != 200 {
		t.Fatalf("offices %+v", got)
	}
	c.SMS.Offices = append(c.SMS.Offices, SMSOffice{DailyCodes: 5}, SMSOffice{Network: got[0].Net})
	if err := c.validate(); err == nil || strings.Count(err.Error(), "sms.offices") != 2 {
		t.Fatalf("offices without a network or a cap: %v", err)
	}
	if err := os.WriteFile(file, []byte(`{"sms": {"offices": [{"network": "203.0.113.999/29", "daily_codes": 200}]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConfig(file, func(string) string { return "" }); err == nil {
		t.Fatal("a bad network was accepted")
	}
}

// The rate limits and pool sizes come from the file, default to the
// service's numbers, and each value out of range is refused by name.
func TestConfigLimits(t *testing.T) {
	file := filepath.Join(t.TempDir(), "renewd.json")
	load := func(js string) (Config, error) {
		t.Helper()
		if err := os.WriteFile(file, []byte(js), 0o600); err != nil {
			t.Fatal(err)
		}
		return loadConfig(file, func(string) string { return "" })
	}
	c, err := load(`{}`)
	if err != nil {
		t.Fatal(err)
	}
	def := server.DefaultConfig().Limits
	var got server.Limits
	c.applyLimits(&got)
	if got.AccountPerSecond != def.AccountPerSecond || got.AccountBurst != def.AccountBurst || got.IPPerSecond != def.IPPerSecond ||
		got.IPBurst != def.IPBurst || c.Database.ReadConns != 0 || c.Database.WriteConns != 0 || c.validateLimits() != nil {
		t.Fatalf("defaults: %+v, pools %d/%d, %v", got, c.Database.ReadConns, c.Database.WriteConns, c.validateLimits())
	}
	c, err = load(`{"database": {"driver": "postgres", "read_conns": 24, "write_conns": 8},
		"limits": {"account_requests_per_second": 5.5, "account_burst": 11, "ip_requests_per_second": 70, "ip_burst": 140}}`)
	if err != nil {
		t.Fatal(err)
	}
	c.applyLimits(&got)
	if got.AccountPerSecond != 5.5 || got.AccountBurst != 11 || got.IPPerSecond != 70 || got.IPBurst != 140 ||
		c.Database.ReadConns != 24 || c.Database.WriteConns != 8 || c.validateLimits() != nil {
		t.Fatalf("from the file: %+v, pools %d/%d, %v", got, c.Database.ReadConns, c.Database.WriteConns, c.validateLimits())
	}
	for _, tc := range []struct{ js, want string }{
		{`{"limits": {"account_requests_per_second": 0}}`, "limits.account_requests_per_second is 0: it must be more than 0"},
		{`{"limits": {"account_requests_per_second": -1}}`, "limits.account_requests_per_second is -1"},
		{`{"limits": {"account_requests_per_second": 1e9}}`, "at most 100000"},
		{`{"limits": {"account_burst": 0}}`, "limits.account_burst is 0: it must be 1 to 1000000"},
		{`{"limits": {"account_burst": 2000000}}`, "limits.account_burst is 2000000"},
		{`{"limits": {"ip_requests_per_second": 0}}`, "limits.ip_requests_per_second is 0"},
		{`{"limits": {"ip_burst": -5}}`, "limits.ip_burst is -5"},
		{`{"database": {"driver": "postgres", "read_conns": -1}}`, "database.read_conns is -1: it must be 1 to 500"},
		{`{"database": {"driver": "postgres", "write_conns": 501}}`, "database.write_conns is 501"},
		{`{"database": {"write_conns": 2}}`, "database.write_conns is 2: SQLite has one writer"},
	} {
		c, err := load(tc.js)
		if err != nil {
			t.Fatalf("%s: %v", tc.js, err)
		}
		if err := c.validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: validate says %v, want %q", tc.js, err, tc.want)
		}
	}
	// Wrong types and unknown keys are refused as the file is read.
	for _, js := range []string{`{"limits": {"account_burst": "many"}}`, `{"limits": {"account_burst": 1.5}}`,
		`{"database": {"read_conns": "8"}}`, `{"limits": {"account_per_second": 5}}`} {
		if _, err := load(js); err == nil {
			t.Errorf("%s was accepted", js)
		}
	}
}
