package model

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/client/config"
	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// A test PKI: a CA and a certificate it issued, as PEM files in dir.
type testPKI struct {
	caPEM, caKeyPEM []byte
	ca              *x509.Certificate
	key             *ecdsa.PrivateKey
}

func newTestPKI(t *testing.T, name string) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	return &testPKI{caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		caKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), ca: ca, key: key}
}

// issue makes a server certificate for the names (IP addresses or DNS
// names), valid from notBefore to notAfter.
func (p *testPKI) issue(t *testing.T, notBefore, notAfter time.Time, names ...string) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, key.Public(), p.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// tlsFront serves h over TLS with cert on a loopback port; its https URL.
func tlsFront(t *testing.T, h http.Handler, cert tls.Certificate) string {
	t.Helper()
	ts := httptest.NewUnstartedServer(h)
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes refused on purpose
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts.URL
}

// answering is a server that answers every request with status, type and body.
func answering(t *testing.T, status int, ctype, body string) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// firstRun is a view-model saving to a fresh user folder, with a short
// check timeout (the unanswering server's case waits for it).
func firstRun(t *testing.T) (*FirstRunVM, string) {
	t.Helper()
	user := filepath.Join(t.TempDir(), "UKeyRenew", "config.json")
	vm := NewFirstRunVM(user)
	vm.timeout = 300 * time.Millisecond
	return vm, user
}

// Every wrong input is refused before anything is written, with a message
// that says what is wrong and what to do; nothing of it reaches the disk.
func TestFirstRunRefusesWrongInputs(t *testing.T) {
	r := renewdtest.New(t, renewdtest.Options{})
	pki := newTestPKI(t, "UKey Renew Test CA")
	cert, leafPEM := pki.issue(t, time.Now().Add(-time.Hour), time.Now().AddDate(0, 1, 0), "127.0.0.1")
	expiredCert, _ := pki.issue(t, time.Now().AddDate(-1, 0, 0), time.Now().Add(-time.Hour), "127.0.0.1")
	otherName, _ := pki.issue(t, time.Now().Add(-time.Hour), time.Now().AddDate(0, 1, 0), "renew.example-ca.cn")
	secure := tlsFront(t, r.Server.Handler(), cert)
	expired := tlsFront(t, r.Server.Handler(), expiredCert)
	wrongName := tlsFront(t, r.Server.Handler(), otherName)
	otherPKI := newTestPKI(t, "Another CA")

	dir := t.TempDir()
	caFile := writeFile(t, dir, "ca.pem", pki.caPEM)
	otherCA := writeFile(t, dir, "other-ca.pem", otherPKI.caPEM)
	keyFile := writeFile(t, dir, "ca.key", pki.caKeyPEM)
	leafFile := writeFile(t, dir, "server.pem", leafPEM)
	textFile := writeFile(t, dir, "readme.txt", []byte("请把证书发给我们\n"))

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + closed.Addr().String()
	closed.Close()
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		var held []net.Conn
		for {
			c, err := silent.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	tooNew := answering(t, 200, "application/json", `{"product":"renewd","api_version":99,"version":"9.0.0"}`)

	for name, c := range map[string]struct {
		url, ca string
		says    string
		now     time.Time // the VM's clock, if not now
	}{
		"empty":                      {url: "  ", says: "请填写续期服务地址"},
		"not a URL":                  {url: "renew example cn", says: "不是有效的网址"},
		"no host":                    {url: "https://", says: "不是有效的网址"},
		"another scheme":             {url: "ftp://renew.example-ca.cn", says: "应以https://开头（现在是ftp://）"},
		"a query":                    {url: "https://renew.example-ca.cn/?next=evil", says: "不要带用户名"},
		"a user":                     {url: "https://clerk:secret@renew.example-ca.cn", says: "不要带用户名"},
		"plain http outside":         {url: "http://renew.example-ca.cn", says: "必须使用https://地址"},
		"a name that does not exist": {url: "https://renew.invalid", says: "找不到服务器renew.invalid"},
		"connection refused":         {url: refused, says: "拒绝连接"},
		"no answer":                  {url: "http://" + silent.Addr().String(), says: "超时"},
		"a 404 page":                 {url: answering(t, 404, "text/html", "<h1>Not Found</h1>"), says: "有回应（HTTP状态码404），但不是证书续期服务"},
		"a web site":                 {url: answering(t, 200, "text/html; charset=utf-8", "<!doctype html><title>公司主页</title>"), says: "返回的是一个网页"},
		"another program's JSON":     {url: answering(t, 200, "application/json", `{"status":"ok"}`), says: "有回应（HTTP状态码200），但不是证书续期服务"},
		"a proxy without service":    {url: answering(t, 502, "text/html", "<h1>502 Bad Gateway</h1>"), says: "暂时无法提供服务（HTTP状态码502）"},
		"a newer API":                {url: tooNew, says: "接口版本99），本程序只支持接口版本1。请安装最新版证书续期助手"},
		"https to plain http":        {url: "https" + strings.TrimPrefix(r.URL, "http"), says: "不支持https://加密连接"},
		"http to https":              {url: "http" + strings.TrimPrefix(secure, "https"), says: "只接受加密连接"},
		"TLS: unknown CA":            {url: secure, says: "不是本机信任的机构签发的。如果CA提供了根证书文件，请在下面选择它"},
		"TLS: another CA chosen":     {url: secure, ca: otherCA, says: "不是所选CA证书签发的"},
		"TLS: another name":          {url: wrongName, ca: caFile, says: "HTTPS证书不属于这个地址"},
		"TLS: expired":               {url: expired, ca: caFile, says: "HTTPS证书已过期或尚未生效"},
		"CA: missing file":           {url: secure, ca: filepath.Join(dir, "gone.pem"), says: "找不到CA证书文件"},
		"CA: not a certificate":      {url: secure, ca: textFile, says: "不是证书文件"},
		"CA: a private key":          {url: secure, ca: keyFile, says: "含有私钥，不能使用"},
		"CA: the server's cert":      {url: secure, ca: leafFile, says: "是网站（服务器）证书，不是CA证书"},
		"CA: expired":                {url: secure, ca: caFile, says: "已过期或尚未生效", now: time.Now().AddDate(2, 0, 0)},
	} {
		t.Run(name, func(t *testing.T) {
			vm, user := firstRun(t)
			if !c.now.IsZero() {
				vm.now = func() time.Time { return c.now }
			}
			_ = vm.URL.Set(c.url)
			_ = vm.CAFile.Set(c.ca)
			acc, err := vm.Save(t.Context())
			msg, _ := vm.Message.Get()
			lvl, _ := vm.Level.Get()
			if err == nil || acc != nil || !strings.Contains(msg, c.says) || Level(lvl) != LevelError {
				t.Errorf("%q (CA %q): %v, message %q (level %d); want it to say %q", c.url, c.ca, err, msg, lvl, c.says)
			}
			if _, err := os.Stat(filepath.Dir(user)); !os.IsNotExist(err) {
				t.Errorf("something was written: %v", err)
			}
			if busy, _ := vm.Busy.Get(); busy {
				t.Error("still busy")
			}
		})
	}
}

// A service too old for this client is told apart from one too new, with
// both versions and who must update.
func TestFirstRunServiceTooOld(t *testing.T) {
	r := renewdtest.New(t, renewdtest.Options{})
	vm, _ := firstRun(t)
	vm.apiMin, vm.apiMax = renewal.APIVersion+1, renewal.APIVersion+2
	_ = vm.URL.Set(r.URL)
	_, err := vm.Check(t.Context())
	msg, _ := vm.Message.Get()
	var ve *client.APIVersionError
	if !errors.As(err, &ve) || !strings.Contains(msg, "接口版本1），本程序需要接口版本2–3。请联系CA升级续期服务") {
		t.Errorf("%v: %q", err, msg)
	}
}

// A real renewd passes: over plain http on this computer, and over https
// with the CA the clerk chose (a scheme-less address means https, a DER
// file works as well as PEM). Check writes nothing; Save writes the user's
// file, which client/config then finds, with the CA kept beside it, and
// the account talks to the service.
func TestFirstRunSaves(t *testing.T) {
	r := renewdtest.New(t, renewdtest.Options{})
	vm, user := firstRun(t)
	_ = vm.URL.Set(" " + r.URL + "/ ")
	svc, err := vm.Check(t.Context())
	if err != nil || svc.URL != r.URL || svc.About.Product != renewal.Product {
		t.Fatalf("check: %+v, %v", svc, err)
	}
	if msg, _ := vm.Message.Get(); !strings.Contains(msg, "连接成功") || !strings.Contains(msg, "接口版本1") {
		t.Errorf("message %q", msg)
	}
	if _, err := os.Stat(user); !os.IsNotExist(err) {
		t.Fatalf("Check wrote the file: %v", err)
	}
	vm.Edited()
	if msg, _ := vm.Message.Get(); msg != "" {
		t.Errorf("an edit keeps the old outcome %q", msg)
	}
	acc, err := vm.Save(t.Context())
	if err != nil || acc.URL() != r.URL {
		t.Fatalf("save: %v", err)
	}
	found, err := config.Find(config.Inputs{UserFile: user})
	if err != nil || found.URL != r.URL || found.From != config.FromUserFile || found.CAFile != "" {
		t.Errorf("found %+v, %v", found, err)
	}
	if _, err := acc.Client().About(t.Context()); err != nil {
		t.Errorf("the account does not reach the service: %v", err)
	}

	// Over https with the CA's certificate, given as Windows' DER .cer in quotes.
	pki := newTestPKI(t, "UKey Renew Test CA")
	cert, _ := pki.issue(t, time.Now().Add(-time.Hour), time.Now().AddDate(0, 1, 0), "127.0.0.1")
	secure := tlsFront(t, r.Server.Handler(), cert)
	der, _ := pem.Decode(pki.caPEM)
	caFile := writeFile(t, t.TempDir(), "ca.cer", der.Bytes)
	vm, user = firstRun(t)
	_ = vm.URL.Set(strings.TrimPrefix(secure, "https://"))
	_ = vm.CAFile.Set(`"` + caFile + `"`)
	acc, err = vm.Save(t.Context())
	if err != nil {
		msg, _ := vm.Message.Get()
		t.Fatalf("save over https: %v: %s", err, msg)
	}
	if acc.URL() != secure {
		t.Errorf("account of %s, want %s", acc.URL(), secure)
	}
	found, err = config.Find(config.Inputs{UserFile: user})
	if err != nil || found.URL != secure || found.CAFile != filepath.Join(filepath.Dir(user), config.UserCAFile) {
		t.Fatalf("found %+v, %v", found, err)
	}
	if kept, err := found.CA(); err != nil || !bytes.Equal(kept, pki.caPEM) {
		t.Errorf("kept CA %q, %v; want the chosen CA as PEM", kept, err)
	}
	if _, err := acc.Client().About(t.Context()); err != nil {
		t.Errorf("the account does not pin the CA: %v", err)
	}
}

// Without a user config folder, Save says so and writes nothing.
func TestFirstRunNoUserFolder(t *testing.T) {
	r := renewdtest.New(t, renewdtest.Options{})
	vm := NewFirstRunVM("")
	_ = vm.URL.Set(r.URL)
	if _, err := vm.Save(t.Context()); err == nil {
		t.Fatal("saved nowhere")
	}
	if msg, _ := vm.Message.Get(); !strings.Contains(msg, "无法确定保存设置的位置") {
		t.Errorf("message %q", msg)
	}
}
