package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/softhsmtest"
	"github.com/ukeyrenew/ukeyrenew/internal/testenv"
	"github.com/ukeyrenew/ukeyrenew/token/damagetest"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// ukeyctlBinary builds the command once per test run.
func ukeyctlBinary(t testing.TB) string {
	t.Helper()
	goTool := testenv.LookPath(t, "go")
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ukeyctl-test")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "ukeyctl")
		out, err := exec.Command(goTool, "build", "-o", buildPath, ".").CombinedOutput()
		if err != nil {
			buildErr = err
			buildPath = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v: %s", buildErr, buildPath)
	}
	return buildPath
}

type result struct {
	code           int
	stdout, stderr string
}

// ukeyctl runs the binary with env's SoftHSM2, stdin and extra environment.
func ukeyctl(t *testing.T, env *softhsmtest.Env, stdin string, extraEnv []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(ukeyctlBinary(t), args...)
	cmd.Env = append(env.Environ(), "UKEY_PKCS11_MODULE=", "UKEY_CONFIG="+filepath.Join(env.Dir, "no-config.json"))
	cmd.Env = append(cmd.Env, extraEnv...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, stdout.String(), stderr.String()}
}

// mustOK fails unless the run succeeded.
func (r result) mustOK(t *testing.T) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	return r
}

// failsWith checks the exit status and that stderr is one line with want.
func (r result) failsWith(t *testing.T, code int, want string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d (stderr %q)", r.code, code, r.stderr)
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if code != exitUsage && len(lines) != 1 {
		t.Errorf("stderr is %d lines, want 1: %q", len(lines), r.stderr)
	}
	if !strings.HasPrefix(lines[len(lines)-1], "ukeyctl: ") || !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q lacks %q", r.stderr, want)
	}
}

func decode(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
}

const (
	soPIN   = "12345678"
	userPIN = "4321"
)

func TestUsageAndModuleErrors(t *testing.T) {
	env := softhsmtest.New(t)
	r := ukeyctl(t, env, "", nil)
	if r.code != exitUsage || !strings.Contains(r.stderr, "install-cert") {
		t.Errorf("no arguments: %+v", r)
	}
	ukeyctl(t, env, "", nil, "frobnicate").failsWith(t, exitUsage, `unknown command "frobnicate"`)
	ukeyctl(t, env, "", nil, "tokens", "--module", "/nonexistent/lib.so").failsWith(t, exitError, "/nonexistent/lib.so")
	ukeyctl(t, env, "", nil, "tokens", "--bogus").failsWith(t, exitUsage, "flag provided but not defined")
	ukeyctl(t, env, "", nil, "tokens", "--module", env.Module, "extra").failsWith(t, exitUsage, `unexpected argument "extra"`)
	ukeyctl(t, env, "", []string{"UKEY_PKCS11_MODULE=/nope.so"}, "tokens").failsWith(t, exitError, "/nope.so")

	cfg := filepath.Join(env.Dir, "bad.json")
	os.WriteFile(cfg, []byte(`{"modulez": []}`), 0o600)
	ukeyctl(t, env, "", []string{"UKEY_CONFIG=" + cfg}, "tokens").failsWith(t, exitError, "unknown field")
	os.WriteFile(cfg, []byte(`{"modules": ["`+env.Module+`"]}`), 0o600)
	var mods struct{ Modules []moduleJSON }
	decode(t, ukeyctl(t, env, "", []string{"UKEY_CONFIG=" + cfg}, "modules", "--json").mustOK(t).stdout, &mods)
	if len(mods.Modules) != 1 || mods.Modules[0].Source != "config" || !mods.Modules[0].Loaded || !strings.Contains(mods.Modules[0].Manufacturer, "SoftHSM") {
		t.Errorf("modules from config: %+v", mods)
	}
	decode(t, ukeyctl(t, env, "", nil, "modules", "--json", "--module", "/nonexistent.so").mustOK(t).stdout, &mods)
	if len(mods.Modules) != 1 || mods.Modules[0].Loaded || !strings.Contains(mods.Modules[0].Error, "no such file") {
		t.Errorf("missing module: %+v", mods)
	}
}

func TestTokensAndCerts(t *testing.T) {
	env := softhsmtest.New(t)
	a := env.InitToken(t, "柜台一号", soPIN, userPIN)
	b := env.InitToken(t, "second", soPIN, userPIN)
	sm2 := env.SM2Cert(t, "/C=CN/O=测试机构/CN=张三", 30)
	env.ImportCert(t, a, userPIN, sm2, []byte{0x55}, "sm2")
	mod := []string{"--module", env.Module}

	var toks struct{ Tokens []map[string]any }
	decode(t, ukeyctl(t, env, "", nil, append([]string{"tokens", "--json"}, mod...)...).mustOK(t).stdout, &toks)
	if len(toks.Tokens) != 2 {
		t.Fatalf("tokens: %+v", toks)
	}
	labels := map[string]any{}
	for _, tk := range toks.Tokens {
		labels[tk["serial"].(string)] = tk["label"]
		for _, k := range []string{"label_encoding", "manufacturer", "model", "slot", "module", "pin", "login_required", "read_only", "removable"} {
			if _, ok := tk[k]; !ok {
				t.Errorf("token JSON lacks %q: %v", k, tk)
			}
		}
	}
	if labels[a] != "柜台一号" || labels[b] != "second" {
		t.Errorf("labels %v", labels)
	}

	// A key pair and a CSR for it, the PIN from stdin.
	r := ukeyctl(t, env, userPIN+"\n", nil, append([]string{"keygen", "--token", a, "--type", "ec-p256", "--id", "0a0b", "--label", "新钥", "--pin-stdin", "--json"}, mod...)...).mustOK(t)
	var kg map[string]string
	decode(t, r.stdout, &kg)
	if kg["id"] != "0a0b" || kg["key_type"] != "ec-p256" || !strings.Contains(kg["public_key_pem"], "PUBLIC KEY") {
		t.Errorf("keygen: %v", kg)
	}
	csrFile := filepath.Join(env.Dir, "req.pem")
	ukeyctl(t, env, userPIN+"\n", nil, append([]string{"csr", "--token", a, "--id", "0a0b", "--cn", "张三", "--o", "测试机构", "--out", csrFile, "--pin-stdin"}, mod...)...).mustOK(t)
	if out := env.OpenSSL(t, env.Dir, "req", "-in", csrFile, "-noout", "-verify", "-subject", "-nameopt", "utf8"); !strings.Contains(out, "verify OK") || !strings.Contains(out, "CN=张三") {
		t.Errorf("openssl on the CSR: %s", out)
	}
	// The CSR for the SM2 certificate's id takes its subject, but there is no key: not found.
	ukeyctl(t, env, userPIN+"\n", nil, append([]string{"csr", "--token", a, "--id", "55", "--pin-stdin"}, mod...)...).failsWith(t, exitNotFound, "not found")

	// certs without login: has_private_key is null; --now is injected.
	var certs struct {
		Now    string
		Tokens []tokenCertsJSON
	}
	decode(t, ukeyctl(t, env, "", nil, append([]string{"certs", "--json", "--token", a, "--now", "2000-01-01T00:00:00Z"}, mod...)...).mustOK(t).stdout, &certs)
	if certs.Now != "2000-01-01T00:00:00Z" || len(certs.Tokens) != 1 || len(certs.Tokens[0].Certificates) != 1 {
		t.Fatalf("certs: %+v", certs)
	}
	// The documented fields, no more and no fewer (docs/ukeyctl.md).
	var raw struct {
		Tokens []map[string]json.RawMessage
	}
	decode(t, ukeyctl(t, env, "", nil, append([]string{"certs", "--json", "--token", a}, mod...)...).mustOK(t).stdout, &raw)
	wantKeys := map[string]string{
		"token":       "certificates,damaged,ghosts,label,logged_in,module,orphan_keys,serial",
		"certificate": "days_left,days_since_expiry,ext_key_usage,has_private_key,has_public_key,holder,id,is_ca,issuer,key_algorithm,key_bits,key_matched_by,key_usage,label,not_after,not_before,parse_error,serial,sha256,signature_algorithm,status,subject,curve",
	}
	if got := sortedKeys(raw.Tokens[0]); got != sortedList(wantKeys["token"]) {
		t.Errorf("token fields %s", got)
	}
	var certMaps []map[string]json.RawMessage
	decode(t, string(raw.Tokens[0]["certificates"]), &certMaps)
	if got := sortedKeys(certMaps[0]); got != sortedList(wantKeys["certificate"]) {
		t.Errorf("certificate fields %s", got)
	}
	c := certs.Tokens[0].Certificates[0]
	if c.Holder != "测试机构 / 张三" || c.KeyAlgorithm != "SM2" || c.Status != "not_yet_valid" || c.HasPrivateKey != nil || c.ID != "55" {
		t.Errorf("certificate: %+v", c)
	}
	// With login: the SM2 certificate has no key, the new pair is an orphan.
	decode(t, ukeyctl(t, env, userPIN+"\n", nil, append([]string{"certs", "--json", "--token", a, "--login", "--pin-stdin"}, mod...)...).mustOK(t).stdout, &certs)
	tc := certs.Tokens[0]
	if !tc.LoggedIn || tc.Certificates[0].HasPrivateKey == nil || *tc.Certificates[0].HasPrivateKey || len(tc.OrphanKeys) != 2 || tc.Certificates[0].DaysLeft < 28 {
		t.Errorf("certs --login: %+v", tc)
	}
	// Text output names the holder and the days left.
	out := ukeyctl(t, env, "", nil, append([]string{"certs"}, mod...)...).mustOK(t).stdout
	if !strings.Contains(out, "测试机构 / 张三") || !strings.Contains(out, "days left") {
		t.Errorf("certs text: %s", out)
	}
	// Days left are calendar days in the clerk's zone, the GUI's rule: a
	// minute before midnight (Beijing) on the eve of the expiry date is 1 day
	// left although less than 24 hours remain.
	beijing, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatalf("tzdata: %v", err)
	}
	notAfter, err := time.Parse(time.RFC3339, c.NotAfter)
	if err != nil {
		t.Fatalf("not_after %q: %v", c.NotAfter, err)
	}
	y, m, d := notAfter.In(beijing).Date()
	eve := time.Date(y, m, d, 0, 0, 0, 0, beijing).Add(-time.Minute)
	for _, tt := range []struct {
		now             time.Time
		left, since     int
		status, textHas string
	}{
		{eve, 1, 0, "valid", "1 days left"},
		{eve.Add(time.Minute), 0, 0, "valid", "expires today"}, // midnight: not after not_after whatever its hour
		{eve.Add(24*time.Hour + 2*time.Minute), -1, 1, "expired", "expired 1 days ago"},
	} {
		args := append([]string{"certs", "--token", a, "--tz", "Asia/Shanghai", "--now", tt.now.Format(time.RFC3339)}, mod...)
		var got struct {
			TimeZone string `json:"time_zone"`
			Tokens   []tokenCertsJSON
		}
		decode(t, ukeyctl(t, env, "", nil, append(args, "--json")...).mustOK(t).stdout, &got)
		gc := got.Tokens[0].Certificates[0]
		if got.TimeZone != "Asia/Shanghai" || gc.DaysLeft != max(tt.left, 0) || gc.DaysSinceExpiry != tt.since || gc.Status != tt.status {
			t.Errorf("at %v Beijing: zone %q, days_left %d, days_since_expiry %d, %s; want %d %d %s",
				tt.now.In(beijing), got.TimeZone, gc.DaysLeft, gc.DaysSinceExpiry, gc.Status, max(tt.left, 0), tt.since, tt.status)
		}
		if out := ukeyctl(t, env, "", nil, args...).mustOK(t).stdout; !strings.Contains(out, tt.textHas) {
			t.Errorf("at %v Beijing, text: %s, want %q", tt.now.In(beijing), out, tt.textHas)
		}
	}
	ukeyctl(t, env, "", nil, append([]string{"certs", "--tz", "Mars/Olympus"}, mod...)...).failsWith(t, exitUsage, "--tz")
	ukeyctl(t, env, "", nil, append([]string{"certs", "--token", "nosuch"}, mod...)...).failsWith(t, exitNotFound, `"nosuch"`)
	ukeyctl(t, env, "", nil, append([]string{"certs", "--now", "yesterday"}, mod...)...).failsWith(t, exitUsage, "--now")
	ukeyctl(t, env, "", nil, append([]string{"certs", "--login"}, mod...)...).failsWith(t, exitUsage, "--token")

	// watch reports the present tokens and stops after --count events.
	r = ukeyctl(t, env, "", nil, append([]string{"watch", "--json", "--count", "2"}, mod...)...).mustOK(t)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("watch: %q", r.stdout)
	}
	for _, l := range lines {
		var ev struct {
			Event string
			Token map[string]any
		}
		decode(t, l, &ev)
		if ev.Event != "present" || (ev.Token["serial"] != a && ev.Token["serial"] != b) {
			t.Errorf("watch event %s", l)
		}
	}
	ukeyctl(t, env, "", nil, append([]string{"watch", "--interval", "1ms"}, mod...)...).failsWith(t, exitError, "out of range")
}

// TestCertsListsDamagedObjects: a token with a good certificate, one whose
// value was corrupted on the token and one whose object file lost its
// CKA_CLASS record (no attribute of it can be read). certs lists all three,
// each for what it is, and recover removes the unreadable object.
func TestCertsListsDamagedObjects(t *testing.T) {
	env := softhsmtest.New(t)
	a := env.InitToken(t, "损坏", soPIN, userPIN)
	env.ImportCert(t, a, userPIN, env.SM2Cert(t, "/C=CN/O=测试机构/CN=张三", 30), []byte{0x55}, "good")
	bad := env.SM2Cert(t, "/C=CN/O=坏公司/CN=坏", 30)
	env.ImportCert(t, a, userPIN, bad, []byte{0x66}, "corrupted")
	damagetest.CorruptValue(t, env.TokenDir, a, bad)
	torn := env.SM2Cert(t, "/C=CN/O=撕裂公司/CN=撕", 30)
	env.ImportCert(t, a, userPIN, torn, []byte{0x77}, "torn")
	damagetest.DropClass(t, env.TokenDir, a, torn)
	mod := []string{"--module", env.Module}

	var got struct{ Tokens []tokenCertsJSON }
	decode(t, ukeyctl(t, env, "", nil, append([]string{"certs", "--json", "--token", a}, mod...)...).mustOK(t).stdout, &got)
	tc := got.Tokens[0]
	if len(tc.Certificates) != 2 || tc.Certificates[0].Holder != "测试机构 / 张三" || tc.Certificates[0].Status == "unparsable" {
		t.Fatalf("certificates: %+v", tc.Certificates)
	}
	if c := tc.Certificates[1]; c.Status != "unparsable" || c.ParseError == "" || c.Label != "corrupted" {
		t.Errorf("corrupted certificate: %+v", c)
	}
	if len(tc.Damaged) != 1 {
		t.Fatalf("damaged: %+v", tc.Damaged)
	}
	if d := tc.Damaged[0]; d.Class != "unreadable" || !d.RemovedByRecover || d.Handle == 0 || !strings.Contains(d.Reason, "CKR_ATTRIBUTE_VALUE_INVALID") {
		t.Errorf("damaged object: %+v", d)
	}
	out := ukeyctl(t, env, "", nil, append([]string{"certs", "--token", a}, mod...)...).mustOK(t).stdout
	if !strings.Contains(out, "测试机构 / 张三") || !strings.Contains(out, "damaged unreadable") || !strings.Contains(out, "ukeyctl recover") {
		t.Errorf("certs text: %s", out)
	}

	ukeyctl(t, env, userPIN+"\n", nil, append([]string{"recover", "--token", a, "--pin-stdin", "--journal", filepath.Join(env.Dir, "journal")}, mod...)...).mustOK(t)
	decode(t, ukeyctl(t, env, "", nil, append([]string{"certs", "--json", "--token", a}, mod...)...).mustOK(t).stdout, &got)
	if tc := got.Tokens[0]; len(tc.Damaged) != 0 || len(tc.Certificates) != 2 {
		t.Errorf("after recover: %+v", tc)
	}
}

func TestPINInput(t *testing.T) {
	env := softhsmtest.New(t)
	a := env.InitToken(t, "pins", soPIN, userPIN)
	mod := []string{"--module", env.Module, "--token", a}
	keygen := append([]string{"keygen", "--type", "ec-p256"}, mod...)

	// Wrong PIN: exit 3, the PIN state is said, the PIN itself never echoed.
	r := ukeyctl(t, env, "98765\n", nil, append(keygen, "--pin-stdin")...)
	r.failsWith(t, exitPIN, "pin incorrect")
	if strings.Contains(r.stdout+r.stderr, "98765") {
		t.Error("the PIN appears in the output")
	}
	// No PIN source and no terminal.
	ukeyctl(t, env, "", nil, keygen...).failsWith(t, exitUsage, "not a terminal")
	// Empty PIN, over-long PIN, both sources.
	ukeyctl(t, env, "\n", nil, append(keygen, "--pin-stdin")...).failsWith(t, exitError, "empty PIN")
	ukeyctl(t, env, strings.Repeat("9", maxPINLen+5)+"\n", nil, append(keygen, "--pin-stdin")...).failsWith(t, exitError, "longer than")
	pinFile := filepath.Join(env.Dir, "pin")
	os.WriteFile(pinFile, []byte(userPIN+"\n"), 0o600)
	ukeyctl(t, env, "", nil, append(keygen, "--pin-stdin", "--pin-file", pinFile)...).failsWith(t, exitUsage, "not both")
	ukeyctl(t, env, "", nil, append(keygen, "--pin-file", pinFile+".missing")...).failsWith(t, exitError, "pin file")
	ukeyctl(t, env, "", nil, append(keygen, "--pin-file", pinFile)...).mustOK(t)
	// Bad flags.
	ukeyctl(t, env, "", nil, append(keygen, "--id", "xyz", "--pin-file", pinFile)...).failsWith(t, exitUsage, "not hex")
	ukeyctl(t, env, "", nil, "keygen", "--module", env.Module, "--token", a, "--type", "dsa", "--pin-file", pinFile).failsWith(t, exitUsage, "unknown key type")
	ukeyctl(t, env, "", nil, append(keygen, "--pin-file", pinFile, userPIN)...).failsWith(t, exitUsage, "unexpected argument")
	ukeyctl(t, env, "", nil, "keygen", "--module", env.Module, "--pin-file", pinFile).failsWith(t, exitUsage, "--token")

	// change-pin: old and new from two lines of stdin, then from files.
	ukeyctl(t, env, userPIN+"\n2468\n", nil, append([]string{"change-pin", "--pin-stdin"}, mod...)...).mustOK(t)
	ukeyctl(t, env, "", nil, append(keygen, "--pin-file", pinFile)...).failsWith(t, exitPIN, "pin incorrect")
	newFile := filepath.Join(env.Dir, "new")
	os.WriteFile(pinFile, []byte("2468\n"), 0o600)
	os.WriteFile(newFile, []byte(userPIN+"\n"), 0o600)
	ukeyctl(t, env, "", nil, append([]string{"change-pin", "--pin-file", pinFile}, mod...)...).failsWith(t, exitUsage, "go together")
	ukeyctl(t, env, "", nil, append([]string{"change-pin", "--pin-file", pinFile, "--new-pin-file", newFile, "--json"}, mod...)...).mustOK(t)
	ukeyctl(t, env, userPIN+"\n", nil, append(keygen, "--pin-stdin")...).mustOK(t)
	ukeyctl(t, env, userPIN+"\n", nil, append([]string{"change-pin", "--pin-stdin"}, mod...)...).failsWith(t, exitError, "empty PIN")
}

func sortedKeys(m map[string]json.RawMessage) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func sortedList(s string) string {
	l := strings.Split(s, ",")
	sort.Strings(l)
	return strings.Join(l, ",")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildPath != "" && buildErr == nil {
		os.RemoveAll(filepath.Dir(buildPath))
	}
	os.Exit(code)
}

// TestWatchSeesInsertion runs `ukeyctl watch` and makes a token with
// softhsm2-util meanwhile; --reload lets SoftHSM2 see it.
func TestWatchSeesInsertion(t *testing.T) {
	env := softhsmtest.New(t)
	first := env.InitToken(t, "first", soPIN, userPIN)
	cmd := exec.Command(ukeyctlBinary(t), "watch", "--json", "--module", env.Module,
		"--interval", "20ms", "--reload", "20ms", "--count", "2")
	cmd.Env = env.Environ()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	guard := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() }) // a hang guard, not a latency check
	defer guard.Stop()
	dec := json.NewDecoder(out)
	var ev struct {
		Event string
		Token struct{ Serial, Label string }
	}
	if err := dec.Decode(&ev); err != nil || ev.Event != "present" || ev.Token.Serial != first {
		t.Fatalf("first event %+v, %v", ev, err)
	}
	second := env.InitToken(t, "第二把锁", soPIN, userPIN)
	if err := dec.Decode(&ev); err != nil || ev.Event != "inserted" || ev.Token.Serial != second || ev.Token.Label != "第二把锁" {
		t.Fatalf("second event %+v, %v", ev, err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("watch: %v: %s", err, stderr.String())
	}
}
