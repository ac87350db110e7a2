package config

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC)

// testCert makes a self-signed certificate, as PEM and its key as PEM.
func testCert(t *testing.T, name string, isCA bool, notBefore, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: notBefore, NotAfter: notAfter, BasicConstraintsValid: true, IsCA: isCA,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// A CA file is one or more CA certificates valid now, in PEM (text around
// them ignored) or one DER certificate; every other file is refused with
// the reason.
func TestCheckCA(t *testing.T) {
	year := func(from int) (time.Time, time.Time) { return now.AddDate(from, 0, 0), now.AddDate(from+1, 0, 0) }
	nb, na := year(0)
	root, rootKey := testCert(t, "Root CA", true, nb.AddDate(0, 0, -1), na)
	inter, _ := testCert(t, "Issuing CA", true, nb.AddDate(0, 0, -1), na)
	leaf, _ := testCert(t, "renew.example-ca.cn", false, nb.AddDate(0, 0, -1), na)
	expired, _ := testCert(t, "Old CA", true, now.AddDate(-2, 0, 0), now.AddDate(0, 0, -1))
	future, _ := testCert(t, "Future CA", true, now.AddDate(0, 0, 1), now.AddDate(2, 0, 0))
	der, _ := pem.Decode(root)

	for name, c := range map[string]struct {
		in    []byte
		certs int
	}{
		"one CA":                {root, 1},
		"a chain":               {append(append([]byte{}, inter...), root...), 2},
		"text around":           {append([]byte("subject=CN = Root CA\r\nissuer=CN = Root CA\r\n"), root...), 1},
		"DER, as Windows saves": {der.Bytes, 1},
		"another block is fine": {append([]byte("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"), root...), 1},
	} {
		out, err := CheckCA(c.in, now)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if n := bytes.Count(out, []byte("-----BEGIN CERTIFICATE-----")); n != c.certs {
			t.Errorf("%s: %d certificates out, want %d", name, n, c.certs)
		}
	}
	for name, c := range map[string]struct {
		in   []byte
		want error
	}{
		"empty":                 {nil, ErrCANoCertificate},
		"not PEM":               {[]byte("hello, this is a text file\n"), ErrCANoCertificate},
		"a broken PEM":          {[]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), ErrCANoCertificate},
		"DER garbage":           {[]byte{0x30, 0x03, 0x02, 0x01, 0x01}, ErrCANoCertificate},
		"a private key":         {rootKey, ErrCAPrivateKey},
		"a certificate and key": {append(append([]byte{}, root...), rootKey...), ErrCAPrivateKey},
		"a server certificate":  {leaf, ErrCANotCA},
		"a chain with a leaf":   {append(append([]byte{}, root...), leaf...), ErrCANotCA},
		"expired":               {expired, ErrCAExpired},
		"not yet valid":         {future, ErrCAExpired},
	} {
		if _, err := CheckCA(c.in, now); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if _, err := CheckCA(expired, now); err == nil || !strings.Contains(err.Error(), "Old CA") || !strings.Contains(err.Error(), now.AddDate(0, 0, -1).Format(time.DateOnly)) {
		t.Errorf("an expired CA is named with its dates: %v", err)
	}
}

// The build's baked CA goes with the build's service only; a CA from the
// command line or the environment replaces it; a bad one is an error.
func TestFindBakedCA(t *testing.T) {
	root, _ := testCert(t, "Root CA", true, now.AddDate(0, 0, -1), now.AddDate(1, 0, 0))
	b64 := base64.StdEncoding.EncodeToString(root)
	in := Inputs{BuildService: "https://renew.example-ca.cn", BuildServiceCAPEM: b64, BuildServiceCA: "/ignored.pem"}
	svc, err := Find(in)
	if err != nil || svc.From != FromBuild || !bytes.Equal(svc.CAPEM, root) || svc.CAFile != "" {
		t.Fatalf("baked: %+v, %v", svc, err)
	}
	if got, err := svc.CA(); err != nil || !bytes.Equal(got, root) {
		t.Errorf("CA(): %q, %v", got, err)
	}
	in.FlagCA = "/flag/ca.pem"
	if svc, err := Find(in); err != nil || svc.CAPEM != nil || svc.CAFile != "/flag/ca.pem" {
		t.Errorf("the command line's CA: %+v, %v", svc, err)
	}
	in.FlagCA = ""
	in.FlagService = "https://other.example"
	if svc, err := Find(in); err != nil || svc.CAPEM != nil || svc.CAFile != "" {
		t.Errorf("another service must not get the build's CA: %+v, %v", svc, err)
	}
	in.FlagService = ""
	dir := t.TempDir()
	user := filepath.Join(dir, "config.json")
	if err := os.WriteFile(user, []byte(`{"service": "https://user.example"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	in.UserFile = user
	if svc, err := Find(in); err != nil || svc.From != FromUserFile || svc.CAPEM != nil {
		t.Errorf("a user file's service must not get the build's CA: %+v, %v", svc, err)
	}
	in.UserFile = ""
	for bad, says := range map[string]string{
		"not base64!": "not base64",
		base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'x'}, MaxBuildCAPEMBytes+1)): "larger than",
	} {
		in.BuildServiceCAPEM = bad
		if _, err := Find(in); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%.20q: %v, want %q", bad, err, says)
		}
	}
}

// A CA file is read when the service is used; a missing one is named with
// where it was configured.
func TestServiceCAFile(t *testing.T) {
	if got, err := (Service{URL: "https://x.example"}).CA(); got != nil || err != nil {
		t.Errorf("no CA: %q, %v", got, err)
	}
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, []byte("PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := (Service{CAFile: p}).CA(); err != nil || string(got) != "PEM" {
		t.Errorf("a CA file: %q, %v", got, err)
	}
	_, err := Service{CAFile: p + ".gone", From: FromEnvironment}.CA()
	if err == nil || !strings.Contains(err.Error(), p+".gone") || !strings.Contains(err.Error(), "environment") {
		t.Errorf("a missing CA file: %v", err)
	}
	if err := os.WriteFile(p, bytes.Repeat([]byte{'x'}, MaxCAFileBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (Service{CAFile: p}).CA(); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a CA file over the limit: %v", err)
	}
}

// SaveUserFile writes what Find then reads, the CA kept beside the file,
// folder 0700 and files 0600; a save without a CA drops the old one; a bad
// address writes nothing.
func TestSaveUserFile(t *testing.T) {
	root, _ := testCert(t, "Root CA", true, now.AddDate(0, 0, -1), now.AddDate(1, 0, 0))
	dir := filepath.Join(t.TempDir(), "UKeyRenew")
	path := filepath.Join(dir, "config.json")
	if err := SaveUserFile(path, "http//renew.example", nil); err == nil {
		t.Error("a bad address was saved")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("a refused save made the folder: %v", err)
	}
	if err := SaveUserFile(path, "https://renew.example-ca.cn/", root); err != nil {
		t.Fatal(err)
	}
	svc, err := Find(Inputs{UserFile: path})
	if err != nil || svc.URL != "https://renew.example-ca.cn" || svc.From != FromUserFile || svc.CAFile != filepath.Join(dir, UserCAFile) {
		t.Fatalf("read back: %+v, %v", svc, err)
	}
	if got, err := svc.CA(); err != nil || !bytes.Equal(got, root) {
		t.Errorf("the kept CA: %v", err)
	}
	if runtime.GOOS != "windows" {
		for p, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, path: 0o600, svc.CAFile: 0o600} {
			if fi, err := os.Stat(p); err != nil || fi.Mode() != want {
				t.Errorf("%s: %v, %v; want %v", p, fi.Mode(), err, want)
			}
		}
	}
	if err := SaveUserFile(path, "https://renew.example-ca.cn", nil); err != nil {
		t.Fatal(err)
	}
	if svc, err := Find(Inputs{UserFile: path}); err != nil || svc.CAFile != "" {
		t.Errorf("saved without a CA: %+v, %v", svc, err)
	}
	if _, err := os.Stat(filepath.Join(dir, UserCAFile)); !os.IsNotExist(err) {
		t.Errorf("the old CA file is still there: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.tmp-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
