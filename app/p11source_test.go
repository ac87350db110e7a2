//go:build cgo

package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/internal/softhsmtest"
	"github.com/ukeyrenew/ukeyrenew/token"
	"github.com/ukeyrenew/ukeyrenew/token/damagetest"
)

const testPIN = "12345678"

// issueCert makes a CA-issued P-256 certificate for holder, valid until
// notAfter, as DER.
func issueCert(t *testing.T, holder string, notAfter time.Time) []byte {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "测试CA", Organization: []string{"UKey Renew 测试"}},
		NotBefore: apptest.T0.AddDate(-5, 0, 0), NotAfter: apptest.T0.AddDate(5, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(0x3F2A9C), Subject: pkix.Name{CommonName: holder, Organization: []string{holder}},
		NotBefore: apptest.T0.AddDate(-1, 0, 0), NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestP11SourceOnSoftHSM runs the view-models on real SoftHSM2 tokens
// through the token package: listing, the certificate fields, a wrong and a
// right PIN, and insertion and removal followed by the watcher.
func TestP11SourceOnSoftHSM(t *testing.T) {
	env := softhsmtest.New(t)
	serial := env.InitToken(t, "UKey-测试", "87654321", testPIN)
	env.ImportCert(t, serial, testPIN, issueCert(t, "深圳市测试科技有限公司", apptest.T0.Add(20*24*time.Hour+time.Hour)), []byte{1}, "签名证书")
	m, err := token.OpenModule(env.Module)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	src := newP11Source([]*token.Module{m}, token.WatchOptions{Interval: 20 * time.Millisecond, ReloadEvery: 50 * time.Millisecond})
	vm, _ := apptest.TokensVM(t, src)
	ctx := context.Background()
	if err := vm.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	views := apptest.Get[[]model.TokenView](t, vm.Tokens)
	if len(views) != 1 {
		t.Fatalf("got %d tokens, want 1", len(views))
	}
	v := views[0]
	// The token shows no key object without a PIN: the holder's
	// certificate counts as having its key pair (CanRenew).
	want := model.CertView{Holder: "深圳市测试科技有限公司", Serial: "3F2A9C", Issuer: "测试CA", ValidTo: "2026年12月13日",
		KeyType: "ECDSA P-256", Badge: "剩余 20 天", Level: model.LevelWarning, ObjLabel: "签名证书", CanRenew: true}
	if v.Serial != serial || v.Title != "UKey-测试" || len(v.Certs) != 1 || v.Certs[0] != want || v.CertsProblem != "" {
		t.Fatalf("token view:\n got %+v\nwant serial %s, cert %+v", v, serial, want)
	}

	// PIN: one wrong try sets COUNT_LOW on SoftHSM2; the right PIN works.
	pvm := model.NewPINVM(src, serial, nil)
	pin := []byte("00000000")
	if err := pvm.Submit(ctx, pin); !errors.Is(err, model.ErrPINIncorrect) {
		t.Fatalf("wrong PIN: %v", err)
	}
	if string(pin) != "\x00\x00\x00\x00\x00\x00\x00\x00" {
		t.Error("PIN bytes not wiped")
	}
	if n := apptest.Get[string](t, pvm.Note); !strings.Contains(n, "剩余尝试次数不多") {
		t.Errorf("after a wrong PIN the note is %q", n)
	}
	if err := pvm.Submit(ctx, []byte(testPIN)); err != nil {
		t.Fatalf("right PIN: %v", err)
	}
	if !apptest.Get[bool](t, pvm.Done) {
		t.Error("not done after the right PIN")
	}
	if err := model.NewPINVM(src, "NOSUCHSERIAL0000", nil).Submit(ctx, []byte(testPIN)); !errors.Is(err, model.ErrTokenRemoved) {
		t.Errorf("PIN for a missing token: %v", err)
	}

	// Insertion and removal, followed by the watcher.
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { vm.Run(rctx); close(done) }()
	defer func() { cancel(); <-done }()
	before, _ := filepath.Glob(filepath.Join(env.TokenDir, "*"))
	inserted := time.Now()
	second := env.InitToken(t, "第二把锁", "87654321", testPIN)
	apptest.Eventually(t, "the inserted token", func() bool { v, _ := vm.Tokens.Get(); return len(v) == 2 })
	t.Logf("insertion seen by the view-model after %v (watch interval 20 ms, reload every 50 ms)", time.Since(inserted))
	after, _ := filepath.Glob(filepath.Join(env.TokenDir, "*"))
	var dir string
	for _, d := range after {
		found := false
		for _, b := range before {
			found = found || b == d
		}
		if !found {
			dir = d
		}
	}
	if dir == "" {
		t.Fatal("the second token's directory was not found")
	}
	views = apptest.Get[[]model.TokenView](t, vm.Tokens)
	if views[0].CertsProblem != "这个 UKey 上没有证书。" && views[1].CertsProblem != "这个 UKey 上没有证书。" {
		t.Errorf("the new empty token should say it has no certificate: %+v", views)
	}
	if err := os.Rename(dir, filepath.Join(t.TempDir(), "pulled")); err != nil {
		t.Fatal(err)
	}
	apptest.Eventually(t, "the removal", func() bool {
		v, _ := vm.Tokens.Get()
		return len(v) == 1 && v[0].Serial == serial
	})
	_ = second
}

// TestP11SourceShowsDamagedObjects: a real SoftHSM2 token with a
// certificate whose key pair is on it, a certificate without its key, and a
// certificate object whose file lost its CKA_CLASS record (every attribute
// answers CKR_ATTRIBUTE_VALUE_INVALID). The Tokens view-model shows both
// readable certificates, offers renewal only for the one with its key, and
// says in one line that one object cannot be read and can be repaired.
func TestP11SourceShowsDamagedObjects(t *testing.T) {
	env := softhsmtest.New(t)
	serial := env.InitToken(t, "UKey-损坏", "87654321", testPIN)
	m, err := token.OpenModule(env.Module)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	ctx := context.Background()
	tok, err := m.Open(ctx, serial)
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.Login(ctx, []byte(testPIN)); err != nil {
		t.Fatal(err)
	}
	signer, err := tok.GenerateKeyPair(ctx, token.KeySpec{Type: token.ECP256, ID: []byte{1}, Label: "签名密钥"})
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(0x51), Subject: pkix.Name{CommonName: "有钥公司", Organization: []string{"有钥公司"}},
		NotBefore: apptest.T0.AddDate(-1, 0, 0), NotAfter: apptest.T0.Add(20*24*time.Hour + time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	withKey, err := x509.CreateCertificate(rand.Reader, leaf, leaf, signer.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tok.WriteCertificate(ctx, token.CertificateSpec{DER: withKey, ID: []byte{1}, Label: "签名证书"}); err != nil {
		t.Fatal(err)
	}
	tok.Close()
	env.ImportCert(t, serial, testPIN, issueCert(t, "无钥公司", apptest.T0.AddDate(1, 0, 0)), []byte{2}, "无钥证书")
	torn := issueCert(t, "撕裂公司", apptest.T0.AddDate(1, 0, 0))
	env.ImportCert(t, serial, testPIN, torn, []byte{3}, "撕裂证书")
	damagetest.DropClass(t, env.TokenDir, serial, torn)

	src := newP11Source([]*token.Module{m}, token.WatchOptions{})
	vm, _ := apptest.TokensVM(t, src)
	if err := vm.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	views := apptest.Get[[]model.TokenView](t, vm.Tokens)
	if len(views) != 1 {
		t.Fatalf("got %d tokens, want 1", len(views))
	}
	v := views[0]
	if v.Title != "UKey-损坏" || v.CertsProblem != "" || len(v.Certs) != 2 {
		t.Fatalf("token view: %+v", v)
	}
	if c := v.Certs[0]; c.Holder != "有钥公司" || !c.CanRenew || c.Badge != "剩余 20 天" {
		t.Errorf("the certificate with its key pair: %+v", c)
	}
	if c := v.Certs[1]; c.Holder != "无钥公司" || c.CanRenew {
		t.Errorf("the certificate without its key: %+v", c)
	}
	if v.Damaged != "这枚 UKey 上有一个对象无法读取，其余证书不受影响；可以运行“修复”或联系证书机构。" || !v.Repairable {
		t.Errorf("damaged line %q, repairable %v", v.Damaged, v.Repairable)
	}
}

// TestP11SourceBlindTokenOffersRenewalForHolders: a token that shows no key
// object without a PIN (pairs imported without public key objects) cannot
// tell which certificate has its pair: the holder's certificate is offered
// for renewal, the CA certificate beside it is not.
func TestP11SourceBlindTokenOffersRenewalForHolders(t *testing.T) {
	env := softhsmtest.New(t)
	serial := env.InitToken(t, "UKey-盲", "87654321", testPIN)
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "根CA"}, NotBefore: apptest.T0.AddDate(-5, 0, 0),
		NotAfter: apptest.T0.AddDate(5, 0, 0), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	env.ImportCert(t, serial, testPIN, issueCert(t, "持有人公司", apptest.T0.AddDate(1, 0, 0)), []byte{1}, "签名证书")
	env.ImportCert(t, serial, testPIN, caDER, []byte{9}, "根证书")
	m, err := token.OpenModule(env.Module)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	vm, _ := apptest.TokensVM(t, newP11Source([]*token.Module{m}, token.WatchOptions{}))
	if err := vm.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	v := apptest.Get[[]model.TokenView](t, vm.Tokens)[0]
	if len(v.Certs) != 2 || v.Certs[0].Holder != "持有人公司" || !v.Certs[0].CanRenew || v.Certs[1].Holder != "根CA" || v.Certs[1].CanRenew {
		t.Errorf("certificates: %+v", v.Certs)
	}
}

func TestOpenP11SourceWithoutModuleSaysWhy(t *testing.T) {
	dir := t.TempDir()
	notLib := filepath.Join(dir, "eps2003csp11.so")
	if err := os.WriteFile(notLib, []byte("not a library"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		paths []string
		says  []string
	}{
		{nil, []string{"no module file found", "--module"}},
		{[]string{notLib, filepath.Join(dir, "missing.so")}, []string{notLib, "missing.so"}},
	} {
		src := OpenP11Source(tt.paths)
		vm, _ := apptest.TokensVM(t, src)
		err := vm.Reload(context.Background())
		if !errors.Is(err, model.ErrNoModule) {
			t.Fatalf("%v: error %v, want ErrNoModule", tt.paths, err)
		}
		p := apptest.Get[string](t, vm.Problem)
		for _, s := range tt.says {
			if !strings.Contains(p, s) {
				t.Errorf("%v: problem %q should say %q", tt.paths, p, s)
			}
		}
		if _, err := src.PINState(context.Background(), "X"); !errors.Is(err, model.ErrNoModule) {
			t.Errorf("PINState without module: %v", err)
		}
		if err := src.Close(); err != nil {
			t.Error(err)
		}
	}
}
