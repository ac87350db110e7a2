package update_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/client/update"
	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/internal/testenv"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
)

// publisher is a throw-away code-signing certificate and its key, as PEM
// files osslsigncode reads.
type publisher struct {
	cert            *x509.Certificate
	certPEM, keyPEM string
}

var rsaKeys = sync.OnceValues(func() ([2]*rsa.PrivateKey, error) {
	var ks [2]*rsa.PrivateKey
	for i := range ks {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return ks, err
		}
		ks[i] = k
	}
	return ks, nil
})

func newPublisher(t testing.TB, dir, name string, key *rsa.PrivateKey, serial int64) publisher {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name, Organization: []string{name}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p := publisher{cert: cert, certPEM: filepath.Join(dir, name+"-"+big.NewInt(serial).String()+".pem"), keyPEM: filepath.Join(dir, name+"-"+big.NewInt(serial).String()+".key")}
	write(t, p.certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	write(t, p.keyPEM, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	return p
}

func write(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// sign signs in into out with osslsigncode (SHA-256, no timestamp).
func (p publisher) sign(t testing.TB, in, out string) {
	t.Helper()
	run(t, "osslsigncode", "sign", "-certs", p.certPEM, "-key", p.keyPEM, "-h", "sha256", "-n", "UKey Renew", "-in", in, "-out", out)
}

const wxs = `<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="*" Name="UKeyRenewUpdateTest" Language="1033" Version="1.2.4" Manufacturer="Test" UpgradeCode="6b1e0d52-2a7e-4a39-9f4e-1c0f0b8d3a11">
    <Package InstallerVersion="200" Compressed="yes"/>
    <Media Id="1" Cabinet="t.cab" EmbedCab="yes"/>
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFilesFolder">
        <Directory Id="INSTALLDIR" Name="UKeyRenewUpdateTest">
          <Component Id="C1" Guid="3f0c7e0a-5d1b-4c55-8a1e-2b7d9e6f4a21"><File Id="F1" Source="payload.exe"/></Component>
        </Directory>
      </Directory>
    </Directory>
    <Feature Id="Main" Level="1"><ComponentRef Id="C1"/></Feature>
  </Product>
</Wix>`

// kit is a signed test program (the "running program"), an MSI signed by
// the same publisher and the files that must be refused.
type kit struct {
	dir       string
	publisher publisher
	program   string // a tiny PE signed by publisher
	good      string // the MSI signed by publisher
	renewed   string // signed by publisher's renewed certificate (same subject, same key)
	other     string // signed by another publisher
	sameName  string // signed by the publisher's name on another key
	unsigned  string
	tampered  string // signed by publisher, then one byte changed
}

func newKit(t testing.TB) *kit {
	t.Helper()
	for _, tool := range []string{"osslsigncode", "wixl", "x86_64-w64-mingw32-gcc"} {
		testenv.LookPath(t, tool)
	}
	keys, err := rsaKeys()
	if err != nil {
		t.Fatal(err)
	}
	k := &kit{dir: t.TempDir()}
	k.publisher = newPublisher(t, k.dir, "UKey Renew Test Publisher", keys[0], 1)
	renewed := newPublisher(t, k.dir, "UKey Renew Test Publisher", keys[0], 2)
	sameName := newPublisher(t, k.dir, "UKey Renew Test Publisher", keys[1], 3)
	other := newPublisher(t, k.dir, "Somebody Else Ltd", keys[1], 4)
	p := func(n string) string { return filepath.Join(k.dir, n) }
	write(t, p("t.c"), []byte("int main(void){return 0;}\n"))
	run(t, "x86_64-w64-mingw32-gcc", "-Os", "-s", "-o", p("payload.exe"), p("t.c"))
	k.program = p("program.exe")
	k.publisher.sign(t, p("payload.exe"), k.program)
	write(t, p("t.wxs"), []byte(wxs))
	cmd := exec.Command("wixl", "-o", "unsigned.msi", "t.wxs")
	cmd.Dir = k.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wixl: %v\n%s", err, out)
	}
	k.unsigned = p("unsigned.msi")
	k.good, k.renewed, k.other, k.sameName = p("good.msi"), p("renewed.msi"), p("other.msi"), p("samename.msi")
	k.publisher.sign(t, k.unsigned, k.good)
	renewed.sign(t, k.unsigned, k.renewed)
	other.sign(t, k.unsigned, k.other)
	sameName.sign(t, k.unsigned, k.sameName)
	data, err := os.ReadFile(k.good)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(data), "MSCF") // the embedded cabinet
	if i < 0 {
		t.Fatal("no cabinet in the MSI")
	}
	data[i+200] ^= 0xff
	k.tampered = p("tampered.msi")
	write(t, k.tampered, data)
	return k
}

func digest(t testing.TB, path string) (string, int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:]), int64(len(data))
}

// service is a real renewd behind a gateway that also serves the
// installers under /dl/ (as a CA's reverse proxy would), announcing rel
// for windows-x64 (nil: nothing).
type service struct {
	*renewdtest.Renewd
	files map[string]string // /dl/NAME -> file
}

func newService(t testing.TB, rel func(base string) *renewal.ClientRelease, files map[string]string) *service {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	s := &service{files: files}
	s.Renewd = renewdtest.New(t, renewdtest.Options{
		Config: func(c *server.Config) {
			if r := rel(base); r != nil {
				c.ClientReleases = map[renewal.ClientPlatform]renewal.ClientRelease{renewal.PlatformWindowsX64: *r}
			}
		},
		Listener: func(l net.Listener) net.Listener { l.Close(); return ln },
		Wrap: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if f, ok := s.files[r.URL.Path]; ok {
					http.ServeFile(w, r, f)
					return
				}
				h.ServeHTTP(w, r)
			})
		},
	})
	if s.URL != base {
		t.Fatalf("renewd at %s, not %s", s.URL, base)
	}
	return s
}

func release(t testing.TB, url, file string) *renewal.ClientRelease {
	sum, size := digest(t, file)
	return &renewal.ClientRelease{Version: "1.2.4", URL: url, SHA256: sum, Size: size,
		NotesZH: "修复：拔出 UKey 后列表不刷新。", NotesEN: "Fix: the list did not refresh after a UKey was pulled."}
}

func newUpdater(t testing.TB, base string, signer *x509.Certificate, opts ...client.Option) *update.Updater {
	t.Helper()
	c, err := client.New(base, opts...)
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := renewal.ParseVersion("1.2.3")
	u, err := update.New(update.Config{Client: c, Platform: renewal.PlatformWindowsX64, Current: cur, Dir: filepath.Join(t.TempDir(), "dl"),
		Signer: func() (*x509.Certificate, error) { return signer, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// left lists what a download left in the download folder.
func left(t testing.TB, dir string) []string {
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestUpdateFromRenewd: a real renewd announces a signed MSI; the client
// downloads it, checks length, SHA-256, the Authenticode signature and
// that the signer is the running program's publisher.
func TestUpdateFromRenewd(t *testing.T) {
	k := newKit(t)
	signer, err := update.Signer(k.program)
	if err != nil {
		t.Fatalf("the signed program: %v", err)
	}
	if !signer.Equal(k.publisher.cert) {
		t.Fatalf("the program's signer is %s", signer.Subject)
	}
	s := newService(t, func(base string) *renewal.ClientRelease { return release(t, base+"/dl/good.msi", k.good) },
		map[string]string{"/dl/good.msi": k.good, "/dl/other.msi": k.other, "/dl/unsigned.msi": k.unsigned,
			"/dl/renewed.msi": k.renewed, "/dl/samename.msi": k.sameName, "/dl/tampered.msi": k.tampered, "/dl/program.exe": k.program})
	u := newUpdater(t, s.URL, signer)
	ctx := context.Background()
	a, err := u.Check(ctx)
	if err != nil || a == nil {
		t.Fatalf("check: %+v %v", a, err)
	}
	var seen int64
	path, err := u.Download(ctx, *a, func(done, total int64) { seen = done })
	if err != nil {
		t.Fatal(err)
	}
	if sum, size := digest(t, path); sum != a.SHA256 || size != a.Size || seen != a.Size || filepath.Base(path) != "ukeyrenew-1.2.4-windows-x64.msi" {
		t.Fatalf("downloaded %s: %s %d (progress %d)", path, sum, size, seen)
	}
	dir := filepath.Dir(path)
	if err := update.SameSigner(path, signer); err != nil {
		t.Fatal(err)
	}

	// Each refusal deletes what was downloaded.
	refused := func(name string, a renewal.ClientUpdate, want error) {
		t.Helper()
		_, err := u.Download(ctx, a, nil)
		if err == nil || (want != nil && !errors.Is(err, want)) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
		if l := left(t, dir); len(l) != 0 {
			t.Errorf("%s: left %v", name, l)
		}
	}
	as := func(name, file string) renewal.ClientUpdate {
		b := *a
		b.URL = s.URL + "/dl/" + name
		b.SHA256, b.Size = digest(t, file)
		return b
	}
	wrongHash := *a
	wrongHash.SHA256 = strings.Repeat("0", 64)
	refused("wrong hash", wrongHash, update.ErrHashMismatch)
	shorter := *a
	shorter.Size--
	refused("longer than announced", shorter, update.ErrSizeMismatch)
	longer := *a
	longer.Size++
	refused("shorter than announced", longer, update.ErrSizeMismatch)
	refused("another publisher", as("other.msi", k.other), update.ErrOtherSigner)
	refused("the publisher's name on another key", as("samename.msi", k.sameName), update.ErrOtherSigner)
	refused("unsigned", as("unsigned.msi", k.unsigned), update.ErrUnsigned)
	refused("changed after signing", as("tampered.msi", k.tampered), update.ErrBadSignature)
	huge := *a
	huge.Size = renewal.MaxClientInstallerBytes + 1
	refused("oversize", huge, update.ErrTooLarge)
	refused("missing", as("nothing.msi", k.good), nil) // a 404: any error, nothing left
	httpOther := *a
	httpOther.URL = "http://127.0.0.2:1/dl/good.msi"
	refused("http elsewhere", httpOther, client.ErrInstallerURL)

	// msiexec takes MSIs only, even one signed by the publisher.
	refused("a signed program instead of an MSI", as("program.exe", k.program), update.ErrNotInstaller)
	// The same publisher's renewed certificate (same subject, same key)
	// is the same publisher.
	if _, err := u.Download(ctx, as("renewed.msi", k.renewed), nil); err != nil {
		t.Errorf("renewed certificate: %v", err)
	}

	// An unsigned running program downloads no Windows installer.
	if _, err := newUpdater(t, s.URL, nil).Download(ctx, *a, nil); !errors.Is(err, update.ErrProgramUnsigned) {
		t.Errorf("unsigned program: %v", err)
	}
	// Install re-checks the signer before handing over (here: not Windows).
	if err := u.Install(k.other); err == nil {
		t.Error("installed another publisher's MSI")
	}
}

// TestOversizeStream: a server sending more than it was announced to is
// cut at one byte past the announced length, and nothing is kept.
func TestOversizeStream(t *testing.T) {
	k := newKit(t)
	signer, _ := update.Signer(k.program)
	long := filepath.Join(t.TempDir(), "long.msi")
	write(t, long, make([]byte, 3<<20))
	s := newService(t, func(base string) *renewal.ClientRelease { return release(t, base+"/dl/good.msi", k.good) },
		map[string]string{"/dl/good.msi": long})
	u := newUpdater(t, s.URL, signer)
	a, err := u.Check(context.Background())
	if err != nil || a == nil {
		t.Fatal(a, err)
	}
	if _, err := u.Download(context.Background(), *a, nil); !errors.Is(err, update.ErrSizeMismatch) {
		t.Fatalf("3 MiB for a %d-byte installer: %v", a.Size, err)
	}
}

// TestNoUpdate: a service that announces nothing, or nothing newer,
// offers nothing; an http address elsewhere is refused before download.
func TestNoUpdate(t *testing.T) {
	ctx := context.Background()
	s := newService(t, func(string) *renewal.ClientRelease { return nil }, nil)
	if a, err := newUpdater(t, s.URL, nil).Check(ctx); a != nil || err != nil {
		t.Fatalf("no release: %+v %v", a, err)
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "x.msi")
	write(t, f, []byte("not an installer"))
	s = newService(t, func(string) *renewal.ClientRelease { return release(t, "http://127.0.0.2:9/x.msi", f) }, nil)
	k := newKit(t)
	signer, _ := update.Signer(k.program)
	u := newUpdater(t, s.URL, signer)
	a, err := u.Check(ctx)
	if err != nil || a == nil {
		t.Fatalf("loopback release: %+v %v", a, err)
	}
	if _, err := u.Download(ctx, *a, nil); !errors.Is(err, client.ErrInstallerURL) {
		t.Fatalf("http elsewhere: %v", err)
	}
}

// TestHTTPSDownloadWithPinnedCA: an installer on another https host is
// fetched with the service's TLS trust.
func TestHTTPSDownloadWithPinnedCA(t *testing.T) {
	k := newKit(t)
	signer, _ := update.Signer(k.program)
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, k.good) }))
	defer ts.Close()
	s := newService(t, func(string) *renewal.ClientRelease { return release(t, ts.URL+"/good.msi", k.good) }, nil)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	u := newUpdater(t, s.URL, signer, client.WithCA(caPEM))
	a, err := u.Check(context.Background())
	if err != nil || a == nil {
		t.Fatal(a, err)
	}
	if _, err := u.Download(context.Background(), *a, nil); err != nil {
		t.Fatal(err)
	}
	// Without the CA the download fails (the system roots do not know it).
	if _, err := newUpdater(t, s.URL, signer).Download(context.Background(), *a, nil); err == nil {
		t.Fatal("downloaded from an untrusted https host")
	}
}

func TestSignerRefusesNonInstallers(t *testing.T) {
	f := filepath.Join(t.TempDir(), "x")
	write(t, f, []byte("#!/bin/sh\n"))
	if _, err := update.Signer(f); !errors.Is(err, update.ErrNotInstaller) {
		t.Fatal(err)
	}
	if s, err := update.ProgramSigner(); s != nil || err != nil { // the test binary is an unsigned ELF
		t.Fatal(s, err)
	}
}

func TestPlatformOf(t *testing.T) {
	for _, c := range []struct {
		goos, goarch string
		want         renewal.ClientPlatform
	}{{"windows", "amd64", renewal.PlatformWindowsX64}, {"windows", "386", renewal.PlatformWindowsX86}, {"linux", "amd64", renewal.PlatformLinuxDeb}} {
		if p, ok := update.PlatformOf(c.goos, c.goarch); !ok || p != c.want {
			t.Errorf("%s/%s: %s", c.goos, c.goarch, p)
		}
	}
	if _, ok := update.PlatformOf("darwin", "arm64"); ok {
		t.Error("darwin has updates")
	}
	if got := update.InstallCommand("/home/a b/x.deb"); got != `sudo apt install '/home/a b/x.deb'` {
		t.Error(got)
	}
}

// A program whose own signature does not verify installs nothing; an
// unsigned one says so.
func TestProgramSignatureDecidesInstall(t *testing.T) {
	c, err := client.New("http://127.0.0.1:9")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		signer func() (*x509.Certificate, error)
		want   error
	}{
		{func() (*x509.Certificate, error) { return nil, errors.New("digest mismatch") }, update.ErrBadSignature},
		{func() (*x509.Certificate, error) { return nil, nil }, update.ErrProgramUnsigned},
		{nil, update.ErrProgramUnsigned},
	} {
		u, err := update.New(update.Config{Client: c, Platform: renewal.PlatformWindowsX86, Signer: tc.signer, Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if err := u.CanInstall(); !errors.Is(err, tc.want) {
			t.Errorf("CanInstall: %v, want %v", err, tc.want)
		}
	}
	u, _ := update.New(update.Config{Client: c, Platform: renewal.PlatformLinuxDeb, Dir: t.TempDir()})
	if err := u.CanInstall(); !errors.Is(err, update.ErrManualInstall) {
		t.Errorf("deb: %v", err)
	}
	if err := u.Install("/tmp/x.deb"); !errors.Is(err, update.ErrManualInstall) || !strings.Contains(err.Error(), "sudo apt install /tmp/x.deb") {
		t.Errorf("deb install: %v", err)
	}
}

// BenchmarkDownloadAndCheck12MiB: a 12 MiB signed MSI (the client's is
// about 12 MB) downloaded from a real renewd's gateway over loopback,
// hashed while it streams, its Authenticode signature and digest verified.
func BenchmarkDownloadAndCheck12MiB(b *testing.B) {
	k := newKit(b)
	payload := filepath.Join(k.dir, "payload.exe")
	noise := make([]byte, 12<<20)
	if _, err := rand.Read(noise); err != nil {
		b.Fatal(err)
	}
	write(b, payload, noise) // incompressible: the MSI stays 12 MiB
	cmd := exec.Command("wixl", "-o", "big-unsigned.msi", "t.wxs")
	cmd.Dir = k.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("wixl: %v\n%s", err, out)
	}
	big := filepath.Join(k.dir, "big.msi")
	k.publisher.sign(b, filepath.Join(k.dir, "big-unsigned.msi"), big)
	s := newService(b, func(base string) *renewal.ClientRelease { return release(b, base+"/dl/big.msi", big) }, map[string]string{"/dl/big.msi": big})
	signer, err := update.Signer(k.program)
	if err != nil {
		b.Fatal(err)
	}
	u := newUpdater(b, s.URL, signer)
	a, err := u.Check(context.Background())
	if err != nil || a == nil {
		b.Fatal(a, err)
	}
	b.SetBytes(a.Size)
	b.ResetTimer()
	for b.Loop() {
		if _, err := u.Download(context.Background(), *a, nil); err != nil {
			b.Fatal(err)
		}
	}
}
