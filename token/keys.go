package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/miekg/pkcs11"
)

// KeyPairType is a kind of key pair the token can generate: its KeyType
// with the size or curve.
type KeyPairType string

// The key pairs GenerateKeyPair makes.
const (
	RSA2048 KeyPairType = "rsa-2048"
	RSA3072 KeyPairType = "rsa-3072"
	ECP256  KeyPairType = "ec-p256"
	ECP384  KeyPairType = "ec-p384"
)

// KeyPairTypes lists the key pairs GenerateKeyPair makes, for help texts.
var KeyPairTypes = []KeyPairType{RSA2048, RSA3072, ECP256, ECP384}

// keyPairTypeAliases are other spellings ParseKeyPairType accepts.
var keyPairTypeAliases = map[string]KeyPairType{
	"rsa2048": RSA2048, "rsa3072": RSA3072, "p256": ECP256, "p384": ECP384,
	"P-256": ECP256, "P-384": ECP384,
}

// ParseKeyPairType accepts the names above and the aliases rsa2048, rsa3072,
// p256, p384, P-256 and P-384.
func ParseKeyPairType(s string) (KeyPairType, error) {
	for _, k := range KeyPairTypes {
		if string(k) == s {
			return k, nil
		}
	}
	if k, ok := keyPairTypeAliases[s]; ok {
		return k, nil
	}
	return "", fmt.Errorf("unknown key type %q (want one of rsa-2048, rsa-3072, ec-p256, ec-p384)", s)
}

// MaxLabelLen bounds CKA_LABEL values written by this package, in bytes.
const MaxLabelLen = 128

// MaxIDLen bounds CKA_ID values written by this package, in bytes.
const MaxIDLen = 64

// KeySpec describes a key pair to generate.
type KeySpec struct {
	Type  KeyPairType
	ID    []byte // CKA_ID of both halves; a random 20-byte ID when empty
	Label string // CKA_LABEL of both halves
}

// NewID returns a random 20-byte CKA_ID (the size of the SHA-1 key
// identifiers other tools use, so it fits wherever they fit).
func NewID() ([]byte, error) {
	id := make([]byte, 20)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("new id: %w", err)
	}
	return id, nil
}

func checkIDLabel(id []byte, label string) error {
	if len(id) > MaxIDLen {
		return fmt.Errorf("id is %d bytes, at most %d allowed", len(id), MaxIDLen)
	}
	if len(label) > MaxLabelLen {
		return fmt.Errorf("label is %d bytes, at most %d allowed", len(label), MaxLabelLen)
	}
	return nil
}

// GenerateKeyPair makes a key pair on the token: the private key is a token
// object, private, sensitive and not extractable, and can only sign; the
// public key can only verify. Both carry spec.ID and spec.Label. It needs
// Login. It returns a Signer for the new key.
func (t *Token) GenerateKeyPair(ctx context.Context, spec KeySpec) (*Signer, error) {
	kt, err := ParseKeyPairType(string(spec.Type))
	if err != nil {
		return nil, fmt.Errorf("generate key pair: %w", err)
	}
	if err := checkIDLabel(spec.ID, spec.Label); err != nil {
		return nil, fmt.Errorf("generate key pair: %w", err)
	}
	id := spec.ID
	if len(id) == 0 {
		if id, err = NewID(); err != nil {
			return nil, err
		}
	}
	pub := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, spec.Label),
	}
	priv := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, spec.Label),
	}
	var mech uint
	switch kt {
	case RSA2048, RSA3072:
		bits := 2048
		if kt == RSA3072 {
			bits = 3072
		}
		mech = pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN
		pub = append(pub,
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, bits),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}))
		priv = append(priv, pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA))
	case ECP256, ECP384:
		curve := elliptic.P256()
		if kt == ECP384 {
			curve = elliptic.P384()
		}
		oid, _ := curveOID(curve)
		params, err := asn1.Marshal(oid)
		if err != nil {
			return nil, fmt.Errorf("generate key pair: %w", err)
		}
		mech = pkcs11.CKM_EC_KEY_PAIR_GEN
		pub = append(pub,
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params))
		priv = append(priv, pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC))
	}
	if err := t.lock(ctx); err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	ph, kh, err := t.lib.ctx.GenerateKeyPair(t.session, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, pub, priv)
	if err != nil {
		return nil, fmt.Errorf("token %s: %w", t.serial, p11err("generate key pair", err))
	}
	k, err := t.readKeyLocked(ph, Object{Handle: ObjectHandle(ph), Class: ClassPublicKey, ID: id, Label: spec.Label}, false)
	if err != nil {
		return nil, err
	}
	if k.Public == nil {
		return nil, fmt.Errorf("token %s: generate key pair: the module did not show the new public key", t.serial)
	}
	return t.newSignerLocked(kh, ph, id, k.Public)
}

// Signer is a crypto.Signer whose private key stays on the token. It uses
// the Token's session (and so its mutex and login).
type Signer struct {
	tok  *Token
	priv pkcs11.ObjectHandle
	pubh pkcs11.ObjectHandle // 0 when the token has no public key object
	id   []byte
	pub  crypto.PublicKey
	pss  bool // the module offers CKM_RSA_PKCS_PSS
}

// Signer returns a signer for the private key with the given CKA_ID. The
// public key comes from the public key object with that ID, else from a
// certificate with that ID, else (RSA) from the private key itself. It
// needs Login.
func (t *Token) Signer(ctx context.Context, id []byte) (*Signer, error) {
	if len(id) == 0 {
		return nil, errors.New("signer: empty key id")
	}
	if err := t.lock(ctx); err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	find := func(class uint) ([]pkcs11.ObjectHandle, error) {
		return t.findLocked([]*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, class), pkcs11.NewAttribute(pkcs11.CKA_ID, id)})
	}
	privs, err := find(pkcs11.CKO_PRIVATE_KEY)
	if err != nil {
		return nil, err
	}
	if len(privs) == 0 {
		if !t.loggedIn {
			return nil, fmt.Errorf("token %s: private key %x: %w", t.serial, id, ErrNotLoggedIn)
		}
		return nil, fmt.Errorf("token %s: private key %x: %w", t.serial, id, ErrObjectNotFound)
	}
	if len(privs) > 1 {
		return nil, fmt.Errorf("token %s: %d private keys have id %x", t.serial, len(privs), id)
	}
	var pub crypto.PublicKey
	var pubh pkcs11.ObjectHandle
	pubs, err := find(pkcs11.CKO_PUBLIC_KEY)
	if err != nil {
		return nil, err
	}
	for _, h := range pubs {
		k, err := t.readKeyLocked(h, Object{}, false)
		if err != nil {
			return nil, err
		}
		if k.Public != nil {
			pub, pubh = k.Public, h
			break
		}
	}
	if pub == nil {
		certs, err := find(pkcs11.CKO_CERTIFICATE)
		if err != nil {
			return nil, err
		}
		for _, h := range certs {
			a, err := t.attrsLocked(h, pkcs11.CKA_VALUE)
			if err != nil {
				return nil, err
			}
			if ci, err := ParseCertificate(a[pkcs11.CKA_VALUE]); err == nil {
				pub = ci.PublicKey
				break
			}
		}
	}
	if pub == nil {
		k, err := t.readKeyLocked(privs[0], Object{}, true)
		if err != nil {
			return nil, err
		}
		pub = k.Public
	}
	if pub == nil {
		return nil, fmt.Errorf("token %s: private key %x: no public key found for it", t.serial, id)
	}
	return t.newSignerLocked(privs[0], pubh, id, pub)
}

func (t *Token) newSignerLocked(priv, pubh pkcs11.ObjectHandle, id []byte, pub crypto.PublicKey) (*Signer, error) {
	s := &Signer{tok: t, priv: priv, pubh: pubh, id: append([]byte(nil), id...), pub: pub}
	if _, ok := pub.(*rsa.PublicKey); ok {
		if mechs, err := t.lib.ctx.GetMechanismList(t.slot); err == nil {
			for _, m := range mechs {
				if m.Mechanism == pkcs11.CKM_RSA_PKCS_PSS {
					s.pss = true
				}
			}
		}
	}
	return s, nil
}

// Public returns the public key read when the Signer was made.
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// ID is the key pair's CKA_ID.
func (s *Signer) ID() []byte { return append([]byte(nil), s.id...) }

// Handle is the private key object's handle.
func (s *Signer) Handle() ObjectHandle { return ObjectHandle(s.priv) }

// PublicHandle is the public key object's handle, 0 if there is none.
func (s *Signer) PublicHandle() ObjectHandle { return ObjectHandle(s.pubh) }

// Sign signs digest on the token. RSA: PKCS #1 v1.5, or PSS when opts is
// *rsa.PSSOptions and the module has CKM_RSA_PKCS_PSS. ECDSA: an ASN.1
// signature. The random source is ignored: the token has its own.
func (s *Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.SignContext(context.Background(), digest, opts)
}

// SignContext is Sign with a context.
func (s *Signer) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil {
		return nil, errors.New("sign: no signer options")
	}
	if h := opts.HashFunc(); h != 0 && h.Size() != len(digest) {
		return nil, fmt.Errorf("sign: digest is %d bytes, %v wants %d", len(digest), h, h.Size())
	}
	m, err := pickMechanism(s.pub, opts, s.pss)
	if err != nil {
		return nil, fmt.Errorf("token %s: sign: %w", s.tok.serial, err)
	}
	input, mech, err := m.prepare(digest, opts)
	if err != nil {
		return nil, fmt.Errorf("token %s: sign: %w", s.tok.serial, err)
	}
	t := s.tok
	if err := t.lock(ctx); err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	if err := t.lib.ctx.SignInit(t.session, []*pkcs11.Mechanism{mech}, s.priv); err != nil {
		return nil, fmt.Errorf("token %s: %w", t.serial, p11err("sign init", err))
	}
	sig, err := t.lib.ctx.Sign(t.session, input)
	if err != nil {
		return nil, fmt.Errorf("token %s: %w", t.serial, p11err("sign", err))
	}
	return m.finish(sig)
}

// signMechanism is one row of the mechanism table: which key and options
// it serves, how the input is prepared and the output encoded. SM2 vendor
// mechanisms (CKM_SM2_SM3...) join here as rows.
type signMechanism struct {
	name    string
	serves  func(pub crypto.PublicKey, opts crypto.SignerOpts, pss bool) bool
	prepare func(digest []byte, opts crypto.SignerOpts) ([]byte, *pkcs11.Mechanism, error)
	finish  func(sig []byte) ([]byte, error)
}

var signMechanisms = []signMechanism{
	{
		name: "CKM_RSA_PKCS_PSS",
		serves: func(pub crypto.PublicKey, opts crypto.SignerOpts, pss bool) bool {
			_, rsaKey := pub.(*rsa.PublicKey)
			_, isPSS := opts.(*rsa.PSSOptions)
			return rsaKey && isPSS && pss
		},
		prepare: preparePSS,
		finish:  func(sig []byte) ([]byte, error) { return sig, nil },
	},
	{
		name: "CKM_RSA_PKCS",
		serves: func(pub crypto.PublicKey, opts crypto.SignerOpts, _ bool) bool {
			_, rsaKey := pub.(*rsa.PublicKey)
			_, isPSS := opts.(*rsa.PSSOptions)
			return rsaKey && !isPSS
		},
		prepare: func(digest []byte, opts crypto.SignerOpts) ([]byte, *pkcs11.Mechanism, error) {
			prefix, ok := digestInfoPrefix[opts.HashFunc()]
			if !ok {
				return nil, nil, fmt.Errorf("hash %v not supported for RSA PKCS #1 v1.5", opts.HashFunc())
			}
			return append(append([]byte(nil), prefix...), digest...), pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil), nil
		},
		finish: func(sig []byte) ([]byte, error) { return sig, nil },
	},
	{
		name: "CKM_ECDSA",
		serves: func(pub crypto.PublicKey, opts crypto.SignerOpts, _ bool) bool {
			k, ok := pub.(*ecdsa.PublicKey)
			_, known := curveOID(curveOf(k))
			_, isPSS := opts.(*rsa.PSSOptions)
			return ok && known && !isPSS
		},
		prepare: func(digest []byte, _ crypto.SignerOpts) ([]byte, *pkcs11.Mechanism, error) {
			return digest, pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil), nil
		},
		finish: ecdsaASN1,
	},
}

func curveOf(k *ecdsa.PublicKey) elliptic.Curve {
	if k == nil {
		return nil
	}
	return k.Curve
}

func pickMechanism(pub crypto.PublicKey, opts crypto.SignerOpts, pss bool) (*signMechanism, error) {
	for i := range signMechanisms {
		if signMechanisms[i].serves(pub, opts, pss) {
			return &signMechanisms[i], nil
		}
	}
	if _, isPSS := opts.(*rsa.PSSOptions); isPSS {
		return nil, fmt.Errorf("rsa-pss: %w", ErrUnsupported)
	}
	return nil, fmt.Errorf("no signing mechanism for %T: %w", pub, ErrUnsupported)
}

// DigestInfo prefixes (RFC 8017, section 9.2, note 1).
var digestInfoPrefix = map[crypto.Hash][]byte{
	crypto.SHA1:   {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14},
	crypto.SHA224: {0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04, 0x05, 0x00, 0x04, 0x1c},
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

var pssHash = map[crypto.Hash][2]uint{
	crypto.SHA1:   {pkcs11.CKM_SHA_1, pkcs11.CKG_MGF1_SHA1},
	crypto.SHA224: {pkcs11.CKM_SHA224, pkcs11.CKG_MGF1_SHA224},
	crypto.SHA256: {pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256},
	crypto.SHA384: {pkcs11.CKM_SHA384, pkcs11.CKG_MGF1_SHA384},
	crypto.SHA512: {pkcs11.CKM_SHA512, pkcs11.CKG_MGF1_SHA512},
}

func preparePSS(digest []byte, opts crypto.SignerOpts) ([]byte, *pkcs11.Mechanism, error) {
	o := opts.(*rsa.PSSOptions)
	h, ok := pssHash[o.HashFunc()]
	if !ok {
		return nil, nil, fmt.Errorf("hash %v not supported for RSA-PSS", o.HashFunc())
	}
	salt := o.SaltLength
	if salt == rsa.PSSSaltLengthEqualsHash || salt == rsa.PSSSaltLengthAuto {
		// Auto would be the largest salt; equal-to-hash is what every
		// verifier accepts and what crypto/x509 uses.
		salt = o.HashFunc().Size()
	}
	if salt < 0 {
		return nil, nil, fmt.Errorf("invalid pss salt length %d", o.SaltLength)
	}
	params := pkcs11.NewPSSParams(h[0], h[1], uint(salt))
	return digest, pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_PSS, params), nil
}

// ecdsaASN1 turns the token's r‖s into the ASN.1 SEQUENCE Go and X.509 use.
func ecdsaASN1(sig []byte) ([]byte, error) {
	if len(sig) == 0 || len(sig)%2 != 0 {
		return nil, fmt.Errorf("ecdsa signature of odd length %d", len(sig))
	}
	n := len(sig) / 2
	r := new(big.Int).SetBytes(sig[:n])
	s := new(big.Int).SetBytes(sig[n:])
	return asn1.Marshal(struct{ R, S *big.Int }{r, s})
}

// CreateCSR makes a PKCS #10 request for the key with the given CKA_ID,
// signed on the token. tmpl's subject, extensions and signature algorithm
// are used as in x509.CreateCertificateRequest.
func (t *Token) CreateCSR(ctx context.Context, id []byte, tmpl *x509.CertificateRequest) ([]byte, error) {
	s, err := t.Signer(ctx, id)
	if err != nil {
		return nil, err
	}
	return CreateCSR(ctx, s, tmpl)
}

// CreateCSR makes a PKCS #10 request signed by s and checks its signature.
func CreateCSR(ctx context.Context, s *Signer, tmpl *x509.CertificateRequest) ([]byte, error) {
	if tmpl == nil {
		return nil, errors.New("create csr: no template")
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, ctxSigner{ctx, s})
	if err != nil {
		return nil, fmt.Errorf("create csr: %w", err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("create csr: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("create csr: token signature does not verify: %w", err)
	}
	return der, nil
}

// ctxSigner carries a context through crypto.Signer.
type ctxSigner struct {
	ctx context.Context
	s   *Signer
}

func (c ctxSigner) Public() crypto.PublicKey { return c.s.Public() }

func (c ctxSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return c.s.SignContext(c.ctx, digest, opts)
}
