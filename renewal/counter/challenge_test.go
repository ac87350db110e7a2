package counter_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/renewal/counter"
)

func TestChallengeMessageIsTheDocumentedBytes(t *testing.T) {
	c := counter.Challenge{Origin: "https://renew.example.cn:8443"}
	for i := range c.Nonce {
		c.Nonce[i] = byte(i)
	}
	m, err := c.Message()
	if err != nil {
		t.Fatal(err)
	}
	want := "ukeyrenew-counter-v1\norigin=https://renew.example.cn:8443\nnonce=" +
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
	if string(m) != want {
		t.Fatalf("Message = %q, want %q", m, want)
	}
	d, _ := c.Digest()
	if sum := sha256.Sum256([]byte(want)); !bytes.Equal(d, sum[:]) {
		t.Fatalf("Digest = %x, want SHA-256 of the message", d)
	}
}

func TestNewChallenge(t *testing.T) {
	a, err := counter.NewChallenge("https://renew.example.cn", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := counter.NewChallenge("https://renew.example.cn", rand.Reader)
	if a.Nonce == b.Nonce {
		t.Fatal("two challenges share a nonce")
	}
	if _, err := counter.NewChallenge("https://renew.example.cn", strings.NewReader("short")); err == nil {
		t.Fatal("NewChallenge accepted a short random source")
	}
}

func TestChallengeValidateRefusesBadOrigins(t *testing.T) {
	good := counter.Challenge{Origin: "https://renew.example.cn", Nonce: [32]byte{1}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, ok := range []string{"http://127.0.0.1:8080", "http://localhost:80", "https://[2001:db8::1]:443"} {
		c := good
		c.Origin = ok
		if err := c.Validate(); err != nil {
			t.Errorf("origin %q: %v", ok, err)
		}
	}
	for name, origin := range map[string]string{
		"empty":       "",
		"long":        "https://" + strings.Repeat("a", counter.MaxOrigin) + ".cn",
		"path":        "https://renew.example.cn/v1",
		"slash":       "https://renew.example.cn/",
		"query":       "https://renew.example.cn?x=1",
		"userinfo":    "https://u@renew.example.cn",
		"upper case":  "https://Renew.example.cn",
		"newline":     "https://renew.example.cn\nnonce=00",
		"plain http":  "http://renew.example.cn",
		"no scheme":   "renew.example.cn",
		"other":       "wss://renew.example.cn",
		"bad":         "https://[::1",
		"no host":     "https://",
		"fragment":    "https://renew.example.cn#a",
		"space":       "https://renew.example.cn ",
		"scheme case": "HTTPS://renew.example.cn",
	} {
		c := good
		c.Origin = origin
		if err := c.Validate(); !errors.Is(err, counter.ErrBadChallenge) {
			t.Errorf("%s: Validate(%q) = %v, want ErrBadChallenge", name, origin, err)
		}
		if _, err := c.Message(); !errors.Is(err, counter.ErrBadChallenge) {
			t.Errorf("%s: Message = %v, want ErrBadChallenge", name, err)
		}
	}
	zero := good
	zero.Nonce = [32]byte{}
	if err := zero.Validate(); !errors.Is(err, counter.ErrBadChallenge) {
		t.Errorf("zero nonce: %v", err)
	}
}

// Verify with a software key: the verifier is pure Go and needs no TPM.
func TestVerifyRefusesWhatIsNotASignatureOfThisChallenge(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	c, _ := counter.NewChallenge("https://renew.example.cn", rand.Reader)
	d, _ := c.Digest()
	sig, err := ecdsa.SignASN1(rand.Reader, key, d)
	if err != nil {
		t.Fatal(err)
	}
	if err := counter.Verify(&key.PublicKey, c, sig); err != nil {
		t.Fatalf("good signature: %v", err)
	}
	otherOrigin := c
	otherOrigin.Origin = "https://evil.example.cn"
	otherNonce := c
	otherNonce.Nonce[0] ^= 1
	flipped := bytes.Clone(sig)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name string
		pub  *ecdsa.PublicKey
		c    counter.Challenge
		sig  []byte
		want error
	}{
		{"other origin", &key.PublicKey, otherOrigin, sig, counter.ErrBadSignature},
		{"other nonce", &key.PublicKey, otherNonce, sig, counter.ErrBadSignature},
		{"other key", &other.PublicKey, c, sig, counter.ErrBadSignature},
		{"flipped", &key.PublicKey, c, flipped, counter.ErrBadSignature},
		{"truncated", &key.PublicKey, c, sig[:len(sig)-1], counter.ErrBadSignature},
		{"trailing", &key.PublicKey, c, append(bytes.Clone(sig), 0), counter.ErrBadSignature},
		{"empty", &key.PublicKey, c, nil, counter.ErrBadSignature},
		{"too long", &key.PublicKey, c, make([]byte, counter.MaxSignature+1), counter.ErrBadSignature},
		{"p384 key", &p384.PublicKey, c, sig, counter.ErrBadPublicKey},
		{"nil key", nil, c, sig, counter.ErrBadPublicKey},
		{"bad challenge", &key.PublicKey, counter.Challenge{Origin: "x"}, sig, counter.ErrBadChallenge},
	}
	for _, tt := range tests {
		if err := counter.Verify(tt.pub, tt.c, tt.sig); !errors.Is(err, tt.want) {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestParsePublicKey(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	for name, in := range map[string][]byte{"der": der, "pem": pemKey, "pem with newline": append(bytes.Clone(pemKey), '\n')} {
		got, err := counter.ParsePublicKey(in)
		if err != nil || !got.Equal(&key.PublicKey) {
			t.Errorf("%s: %v", name, err)
		}
	}
	fp, err := counter.Fingerprint(&key.PublicKey)
	if sum := sha256.Sum256(der); err != nil || fp != hex.EncodeToString(sum[:]) {
		t.Errorf("Fingerprint = %s, %v", fp, err)
	}

	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384der, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	rsader, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	edder, _ := x509.MarshalPKIXPublicKey(edPub)
	for name, in := range map[string][]byte{
		"empty":         nil,
		"garbage":       []byte("not a key"),
		"p384":          p384der,
		"rsa":           rsader,
		"ed25519":       edder,
		"wrong pem":     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"trailing":      append(bytes.Clone(pemKey), []byte("more")...),
		"truncated der": der[:len(der)-1],
		"too big":       append(bytes.Clone(pemKey), bytes.Repeat([]byte{'\n'}, counter.MaxPublicKeyPEM)...),
	} {
		if _, err := counter.ParsePublicKey(in); !errors.Is(err, counter.ErrBadPublicKey) {
			t.Errorf("%s: ParsePublicKey = %v, want ErrBadPublicKey", name, err)
		}
	}
}
