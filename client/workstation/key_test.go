//go:build linux

package workstation_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/ukeyrenew/ukeyrenew/client/workstation"
	"github.com/ukeyrenew/ukeyrenew/internal/testenv"
	"github.com/ukeyrenew/ukeyrenew/renewal/counter"
)

// conn opens a connection to the TPM for the rest of the test.
func tpmConn(t testing.TB, s *swtpm) transport.TPMCloser {
	t.Helper()
	c, err := s.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

const origin = "https://renew.example.cn"

func TestKeySignsChallengesThatVerify(t *testing.T) {
	ctx := context.Background()
	k, err := workstation.Create(ctx, workstation.Options{OpenTPM: startSWTPM(t).Open})
	if err != nil {
		t.Fatal(err)
	}
	// What the admin enrols, read back the way the service will.
	pemKey, err := k.PublicKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	enrolled, err := counter.ParsePublicKey(pemKey)
	if err != nil || !enrolled.Equal(k.Public()) {
		t.Fatalf("ParsePublicKey of the exported key: %v", err)
	}
	der, _ := k.PublicKeyDER()
	if got, err := x509.ParsePKIXPublicKey(der); err != nil || !got.(*ecdsa.PublicKey).Equal(enrolled) {
		t.Fatalf("PKIX DER: %v", err)
	}

	for i := 0; i < 50; i++ { // back to back: each call must get the TPM
		c, _ := counter.NewChallenge(origin, rand.Reader)
		sig, err := k.SignChallenge(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if err := counter.Verify(enrolled, c, sig); err != nil {
			t.Fatalf("Verify: %v", err)
		}
		d, _ := c.Digest()
		if !ecdsa.VerifyASN1(enrolled, d, sig) {
			t.Fatal("crypto/ecdsa.VerifyASN1 refuses the TPM's signature")
		}
		other := c
		other.Origin = "https://other.example.cn"
		if err := counter.Verify(enrolled, other, sig); !errors.Is(err, counter.ErrBadSignature) {
			t.Fatalf("signature verified for another origin: %v", err)
		}
	}

	// As a crypto.Signer: the standard library signs a CSR with it and checks it.
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "counter-01"}}, k)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil || csr.CheckSignature() != nil {
		t.Fatalf("CSR signed in the TPM: %v %v", err, csr.CheckSignature())
	}
	if _, err := k.Sign(nil, make([]byte, 48), crypto.SHA384); err == nil {
		t.Fatal("Sign accepted a SHA-384 digest")
	}
	if _, err := k.Sign(nil, make([]byte, 31), crypto.SHA256); err == nil {
		t.Fatal("Sign accepted a 31-byte digest")
	}
	if _, err := k.SignChallenge(ctx, counter.Challenge{Origin: "http://example.cn"}); !errors.Is(err, counter.ErrBadChallenge) {
		t.Fatalf("SignChallenge of a bad challenge: %v", err)
	}
}

// OpenSSL, an independent implementation, verifies the TPM's signature
// over the documented message with the exported PEM key.
func TestOpenSSLVerifiesSignature(t *testing.T) {
	openssl := testenv.LookPath(t, "openssl")
	ctx := context.Background()
	k, err := workstation.Create(ctx, workstation.Options{OpenTPM: startSWTPM(t).Open})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := counter.NewChallenge(origin, rand.Reader)
	sig, err := k.SignChallenge(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := c.Message()
	pemKey, _ := k.PublicKeyPEM()
	dir := t.TempDir()
	for name, b := range map[string][]byte{"pub.pem": pemKey, "msg": msg, "sig": sig} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	verify := func() error {
		return exec.Command(openssl, "dgst", "-sha256", "-verify", filepath.Join(dir, "pub.pem"),
			"-signature", filepath.Join(dir, "sig"), filepath.Join(dir, "msg")).Run()
	}
	if err := verify(); err != nil {
		t.Fatalf("openssl dgst -verify: %v", err)
	}
	msg[len(msg)-2] ^= 1 // and it refuses another message
	if err := os.WriteFile(filepath.Join(dir, "msg"), msg, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := verify(); err == nil {
		t.Fatal("openssl verified a signature over another message")
	}
}

func TestLoadOrCreateKeepsOneKey(t *testing.T) {
	ctx := context.Background()
	sw := startSWTPM(t)
	path := filepath.Join(t.TempDir(), "counter", "workstation.key")
	k1, created, err := workstation.LoadOrCreate(ctx, path, workstation.Options{OpenTPM: sw.Open})
	if err != nil || !created {
		t.Fatalf("first LoadOrCreate: created %v, %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("blob file: %v %v", fi, err)
	}
	blob, _ := os.ReadFile(path)
	t.Logf("key blob: %d bytes", len(blob))
	if !bytes.Equal(blob, k1.Blob()) {
		t.Fatal("saved blob differs from Key.Blob")
	}
	sw.Stop() // a reboot
	again := startSWTPMState(t, sw.State)
	k2, created, err := workstation.LoadOrCreate(ctx, path, workstation.Options{OpenTPM: again.Open})
	if err != nil || created {
		t.Fatalf("second LoadOrCreate: created %v, %v", created, err)
	}
	if !k2.PublicKey().Equal(k1.PublicKey()) {
		t.Fatal("reloaded key has another public key")
	}
	c, _ := counter.NewChallenge(origin, rand.Reader)
	sig, err := k2.SignChallenge(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := counter.Verify(k1.PublicKey(), c, sig); err != nil {
		t.Fatalf("reloaded key's signature does not verify with the enrolled key: %v", err)
	}
}

func TestPrivateKeyCannotBeReadOut(t *testing.T) {
	ctx := context.Background()
	sw := startSWTPM(t)
	tpm := tpmConn(t, sw) // for the raw TPM commands of the test
	opts := workstation.Options{OpenTPM: sw.Open}
	k, err := workstation.Create(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	srk, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(tpm2.ECCSRKTemplate)}.Execute(tpm)
	if err != nil {
		t.Fatal(err)
	}
	pub, priv := splitBlob(t, k.Blob())
	loaded, err := tpm2.Load{
		ParentHandle: tpm2.AuthHandle{Handle: srk.ObjectHandle, Name: srk.Name, Auth: tpm2.PasswordAuth(nil)},
		InPrivate:    priv, InPublic: pub,
	}.Execute(tpm)
	if err != nil {
		t.Fatal(err)
	}

	// The TPM's own view of the key.
	rp, err := tpm2.ReadPublic{ObjectHandle: loaded.ObjectHandle}.Execute(tpm)
	if err != nil {
		t.Fatal(err)
	}
	area, _ := rp.OutPublic.Contents()
	a := area.ObjectAttributes
	if !a.FixedTPM || !a.FixedParent || !a.SensitiveDataOrigin || !a.SignEncrypt || a.Decrypt || len(area.AuthPolicy.Buffer) != 0 {
		t.Fatalf("key attributes %+v, policy %x: want fixedTPM, fixedParent, sensitiveDataOrigin, sign only, no policy", a, area.AuthPolicy.Buffer)
	}

	// Duplication (the only way a TPM hands out a private key, wrapped)
	// is refused, with a policy session that asks for exactly that.
	sess, closeSess, err := tpm2.PolicySession(tpm, tpm2.TPMAlgSHA256, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer closeSess()
	if _, err := (tpm2.PolicyCommandCode{PolicySession: sess.Handle(), Code: tpm2.TPMCCDuplicate}).Execute(tpm); err != nil {
		t.Fatal(err)
	}
	_, err = tpm2.Duplicate{
		ObjectHandle:    tpm2.AuthHandle{Handle: loaded.ObjectHandle, Name: loaded.Name, Auth: sess},
		NewParentHandle: tpm2.TPMRHNull,
		Symmetric:       tpm2.TPMTSymDef{Algorithm: tpm2.TPMAlgNull},
	}.Execute(tpm)
	// No authPolicy means no policy can ever match: TPM_RC_POLICY_FAIL.
	if !errors.Is(err, tpm2.TPMRCPolicyFail) {
		t.Fatalf("TPM2_Duplicate = %v, want TPM_RC_POLICY_FAIL", err)
	}
	// Nor does Unseal return it.
	if _, err := (tpm2.Unseal{ItemHandle: tpm2.AuthHandle{Handle: loaded.ObjectHandle, Name: loaded.Name, Auth: tpm2.PasswordAuth(nil)}}).Execute(tpm); !errors.Is(err, tpm2.TPMRCType) {
		t.Fatalf("TPM2_Unseal of the signing key = %v, want TPM_RC_TYPE", err)
	}
	flushT(tpm, loaded.ObjectHandle)
	flushT(tpm, srk.ObjectHandle)

	// The saved blob is useless on another TPM, and after a clear.
	if _, err := workstation.Load(ctx, k.Blob(), workstation.Options{OpenTPM: startSWTPM(t).Open}); !errors.Is(err, workstation.ErrForeignKey) {
		t.Fatalf("Load on another TPM = %v, want ErrForeignKey", err)
	}
	if _, err := workstation.Load(ctx, k.Blob(), opts); err != nil {
		t.Fatalf("Load on its own TPM: %v", err)
	}
	sw.Clear(t)
	if _, err := workstation.Load(ctx, k.Blob(), opts); !errors.Is(err, workstation.ErrForeignKey) {
		t.Fatalf("Load after TPM2_Clear = %v, want ErrForeignKey", err)
	}
	c, _ := counter.NewChallenge(origin, rand.Reader)
	if _, err := k.SignChallenge(ctx, c); !errors.Is(err, workstation.ErrForeignKey) {
		t.Fatalf("SignChallenge after TPM2_Clear = %v, want ErrForeignKey", err)
	}
	path := filepath.Join(t.TempDir(), "w.key")
	if err := os.WriteFile(path, k.Blob(), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := workstation.LoadOrCreate(ctx, path, opts); !errors.Is(err, workstation.ErrForeignKey) {
		t.Fatalf("LoadOrCreate with a stale blob = %v, want ErrForeignKey", err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, k.Blob()) {
		t.Fatal("LoadOrCreate replaced the stale blob by itself")
	}
}

func flushT(t transport.TPM, h tpm2.TPMHandle) { _, _ = tpm2.FlushContext{FlushHandle: h}.Execute(t) }

func splitBlob(t *testing.T, blob []byte) (tpm2.TPM2BPublic, tpm2.TPM2BPrivate) {
	t.Helper()
	blk, _ := pem.Decode(blob)
	d := blk.Bytes
	n := 2 + int(d[0])<<8 | int(d[1])
	pub, err := tpm2.Unmarshal[tpm2.TPM2BPublic](d[:n])
	if err != nil {
		t.Fatal(err)
	}
	priv, err := tpm2.Unmarshal[tpm2.TPM2BPrivate](d[n:])
	if err != nil {
		t.Fatal(err)
	}
	return *pub, *priv
}

func makeBlob(pub tpm2.TPM2BPublic, priv tpm2.TPM2BPrivate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "UKEYRENEW TPM KEY", Bytes: append(tpm2.Marshal(pub), tpm2.Marshal(priv)...)})
}

func TestLoadRefusesBadBlobs(t *testing.T) {
	ctx := context.Background()
	sw := startSWTPM(t)
	tpm := tpmConn(t, sw) // for the raw TPM commands of the test
	opts := workstation.Options{OpenTPM: sw.Open}
	k, err := workstation.Create(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	good := k.Blob()
	blk, _ := pem.Decode(good)
	raw := blk.Bytes
	reblob := func(b []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: "UKEYRENEW TPM KEY", Bytes: b}) }
	flipAt := func(i int) []byte { b := bytes.Clone(raw); b[i] ^= 1; return reblob(b) }
	pub, priv := splitBlob(t, good)
	pubLen := len(tpm2.Marshal(pub))
	other, err := workstation.Create(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	otherPub, _ := splitBlob(t, other.Blob())

	// A duplicable key, made in the same TPM: loads, but is not a workstation key.
	tmpl, _ := pub.Contents()
	dupl := *tmpl
	dupl.ObjectAttributes.FixedParent = false
	dupl.ObjectAttributes.FixedTPM = false
	srk, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(tpm2.ECCSRKTemplate)}.Execute(tpm)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := tpm2.Create{
		ParentHandle: tpm2.AuthHandle{Handle: srk.ObjectHandle, Name: srk.Name, Auth: tpm2.PasswordAuth(nil)},
		InPublic:     tpm2.New2B(dupl),
	}.Execute(tpm)
	if err != nil {
		t.Fatal(err)
	}
	flushT(tpm, srk.ObjectHandle)

	tests := []struct {
		name string
		blob []byte
		want error
	}{
		{"empty", nil, workstation.ErrBadBlob},
		{"garbage", []byte("garbage"), workstation.ErrBadBlob},
		{"wrong pem type", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: raw}), workstation.ErrBadBlob},
		{"trailing text", append(bytes.Clone(good), []byte("x")...), workstation.ErrBadBlob},
		{"truncated", reblob(raw[:len(raw)-1]), workstation.ErrBadBlob},
		{"trailing bytes", reblob(append(bytes.Clone(raw), 0)), workstation.ErrBadBlob},
		{"only public", reblob(raw[:pubLen]), workstation.ErrBadBlob},
		{"one byte", reblob(raw[:1]), workstation.ErrBadBlob},
		{"too big", append(bytes.Clone(good), bytes.Repeat([]byte("\n"), workstation.MaxBlob)...), workstation.ErrBadBlob},
		{"point off the curve", flipAt(pubLen - 1), workstation.ErrNotWorkstationKey},
		{"public of another workstation key", makeBlob(otherPub, priv), workstation.ErrForeignKey},
		{"altered private", flipAt(len(raw) - 1), workstation.ErrForeignKey},
		{"duplicable key", makeBlob(dk.OutPublic, dk.OutPrivate), workstation.ErrNotWorkstationKey},
		{"public of another key", makeBlob(dk.OutPublic, priv), workstation.ErrNotWorkstationKey},
	}
	for _, tt := range tests {
		if _, err := workstation.Load(ctx, tt.blob, opts); !errors.Is(err, tt.want) {
			t.Errorf("%s: Load = %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := workstation.Load(ctx, good, opts); err != nil {
		t.Fatalf("good blob after the bad ones: %v", err)
	}
}

func TestOwnerAuth(t *testing.T) {
	ctx := context.Background()
	sw := startSWTPM(t)
	sw.SetOwnerAuth(t, []byte("owner"))
	if _, err := workstation.Create(ctx, workstation.Options{OpenTPM: sw.Open}); !errors.Is(err, workstation.ErrTPMAuth) {
		t.Fatalf("Create without the owner auth = %v, want ErrTPMAuth", err)
	}
	k, err := workstation.Create(ctx, workstation.Options{OpenTPM: sw.Open, OwnerAuth: []byte("owner")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := workstation.Load(ctx, k.Blob(), workstation.Options{OpenTPM: sw.Open, OwnerAuth: []byte("wrong")}); !errors.Is(err, workstation.ErrTPMAuth) {
		t.Fatalf("Load with a wrong owner auth = %v, want ErrTPMAuth", err)
	}
	for name, o := range map[string]workstation.Options{
		"long auth":        {OwnerAuth: make([]byte, workstation.MaxAuth+1)},
		"negative timeout": {Timeout: -1},
		"huge timeout":     {Timeout: time.Hour},
	} {
		o.OpenTPM = sw.Open
		if _, err := workstation.Create(ctx, o); err == nil {
			t.Errorf("%s: Create accepted %+v", name, o)
		}
	}
}

func TestHungTPMTimesOut(t *testing.T) {
	ctx := context.Background()
	sw := startSWTPM(t)
	k, err := workstation.Create(ctx, workstation.Options{OpenTPM: sw.Open, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.Pause(); err != nil {
		t.Fatal(err)
	}
	defer sw.Resume()
	c, _ := counter.NewChallenge(origin, rand.Reader)
	if _, err := k.SignChallenge(ctx, c); !errors.Is(err, workstation.ErrTimeout) {
		t.Fatalf("SignChallenge on a stopped TPM = %v, want ErrTimeout", err)
	}
	// The abandoned call still holds the connection: the next one does not queue behind it.
	if _, err := k.SignChallenge(ctx, c); !errors.Is(err, workstation.ErrTimeout) {
		t.Fatalf("second SignChallenge = %v, want ErrTimeout", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := workstation.Create(cctx, workstation.Options{OpenTPM: sw.Open}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Create with a cancelled context = %v", err)
	}
}
