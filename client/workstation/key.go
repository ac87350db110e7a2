package workstation

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/ukeyrenew/ukeyrenew/internal/atomicfile"
	"github.com/ukeyrenew/ukeyrenew/internal/tpmdev"
	"github.com/ukeyrenew/ukeyrenew/renewal/counter"
)

// Limits and defaults.
const (
	MaxAuth        = 32 // bytes of the owner hierarchy's authorization value
	MaxBlob        = 4096
	DefaultTimeout = 10 * time.Second
	MaxTimeout     = time.Minute
	blobPEMType    = "UKEYRENEW TPM KEY"
)

// Errors a caller can tell apart with errors.Is.
var (
	// ErrForeignKey: the blob cannot be loaded by this TPM: it was made by
	// another TPM, or by this one before it was cleared, or was altered.
	// The workstation needs a new key and a new enrolment.
	ErrForeignKey = errors.New("workstation: the key blob belongs to another TPM (another machine, or the TPM was cleared)")
	// ErrNotWorkstationKey: the blob loads but is not a TPM-generated,
	// non-duplicable ECDSA P-256 signing key.
	ErrNotWorkstationKey = errors.New("workstation: the key is not a TPM-generated non-exportable P-256 signing key")
	// ErrBadBlob: the blob does not parse.
	ErrBadBlob = errors.New("workstation: malformed key blob")
	// ErrTPMAuth: the TPM refused the owner hierarchy's authorization value.
	ErrTPMAuth = errors.New("workstation: the TPM refused the owner authorization value")
	// ErrNoTPM: no TPM 2.0 could be opened.
	ErrNoTPM = errors.New("workstation: no TPM 2.0 available")
	// ErrTimeout: the TPM did not answer in time.
	ErrTimeout = errors.New("workstation: no answer from the TPM in time")
)

// Options configure access to the TPM.
type Options struct {
	// OpenTPM opens a new connection to the TPM, which the key closes after
	// each operation; default tpmdev.Open. A connection per operation
	// means an operation abandoned after its timeout never shares one.
	OpenTPM   func() (transport.TPMCloser, error)
	OwnerAuth []byte        // owner hierarchy authorization, usually empty; at most MaxAuth bytes
	Timeout   time.Duration // bounds every TPM operation; default DefaultTimeout, at most MaxTimeout
}

// Key is the workstation's TPM-resident signing key. It is a crypto.Signer.
// Operations on one Key are serialised.
type Key struct {
	open      func() (transport.TPMCloser, error)
	ownerAuth []byte
	timeout   time.Duration
	slot      chan struct{}
	public    tpm2.TPM2BPublic
	private   tpm2.TPM2BPrivate
	pub       *ecdsa.PublicKey
}

func (o Options) check() (Options, error) {
	switch {
	case o.Timeout == 0:
		o.Timeout = DefaultTimeout
	case o.Timeout < 0 || o.Timeout > MaxTimeout:
		return o, fmt.Errorf("workstation: timeout %v: want more than 0 and at most %v", o.Timeout, MaxTimeout)
	}
	if len(o.OwnerAuth) > MaxAuth {
		return o, fmt.Errorf("workstation: owner authorization is %d bytes, more than %d", len(o.OwnerAuth), MaxAuth)
	}
	o.OwnerAuth = append([]byte(nil), o.OwnerAuth...)
	if o.OpenTPM == nil {
		o.OpenTPM = tpmdev.Open
	}
	return o, nil
}

func newKey(o Options) *Key {
	return &Key{open: o.OpenTPM, ownerAuth: o.OwnerAuth, timeout: o.Timeout, slot: make(chan struct{}, 1)}
}

// keyTemplate: an ECDSA P-256 / SHA-256 signing key, generated in the TPM,
// never leaving it (fixedTPM, fixedParent), without an authPolicy (so no
// policy can ever authorise duplication) and used with an empty
// authorization value: possession of this TPM is the credential.
func keyTemplate() tpm2.TPMTPublic {
	return tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgECC,
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{
			FixedTPM:            true,
			FixedParent:         true,
			SensitiveDataOrigin: true,
			UserWithAuth:        true,
			SignEncrypt:         true,
		},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
			Symmetric: tpm2.TPMTSymDefObject{Algorithm: tpm2.TPMAlgNull},
			Scheme: tpm2.TPMTECCScheme{
				Scheme:  tpm2.TPMAlgECDSA,
				Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSigSchemeECDSA{HashAlg: tpm2.TPMAlgSHA256}),
			},
			CurveID: tpm2.TPMECCNistP256,
			KDF:     tpm2.TPMTKDFScheme{Scheme: tpm2.TPMAlgNull},
		}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
			X: tpm2.TPM2BECCParameter{Buffer: make([]byte, 32)},
			Y: tpm2.TPM2BECCParameter{Buffer: make([]byte, 32)},
		}),
	}
}

// do opens a connection and runs fn with it, under the timeout (and ctx).
// TPM commands cannot be cancelled: an overrunning operation is abandoned
// with its own connection and keeps the key's slot until it returns, so
// later calls fail fast rather than pile up behind it.
func (k *Key) do(ctx context.Context, fn func(t transport.TPM) error) error {
	select {
	case k.slot <- struct{}{}:
	default:
		return fmt.Errorf("%w: still busy with an earlier call", ErrTimeout)
	}
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		err := k.run(fn)
		<-k.slot // free before answering, so the caller's next call finds it free
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		if ctx.Err() == context.DeadlineExceeded {
			return fmt.Errorf("%w (%v)", ErrTimeout, k.timeout)
		}
		return fmt.Errorf("workstation: %w", ctx.Err())
	}
}

func (k *Key) run(fn func(t transport.TPM) error) error {
	t, err := k.open()
	if err != nil {
		if errors.Is(err, ErrNoTPM) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrNoTPM, err)
	}
	defer t.Close()
	return fn(t)
}

type srk struct {
	handle tpm2.TPMHandle
	name   tpm2.TPM2BName
}

// withSRK makes the owner hierarchy's ECC storage primary key (TCG
// reference template; derived from the owner seed, so the same until the
// TPM is cleared) and runs fn with it.
func (k *Key) withSRK(t transport.TPM, fn func(s srk) error) error {
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(k.ownerAuth)},
		InPublic:      tpm2.New2B(tpm2.ECCSRKTemplate),
	}.Execute(t)
	if err != nil {
		if errors.Is(err, tpm2.TPMRCBadAuth) || errors.Is(err, tpm2.TPMRCAuthFail) {
			return fmt.Errorf("%w: %w", ErrTPMAuth, err)
		}
		return fmt.Errorf("workstation: tpm create primary: %w", err)
	}
	defer flush(t, rsp.ObjectHandle)
	return fn(srk{rsp.ObjectHandle, rsp.Name})
}

func flush(t transport.TPM, h tpm2.TPMHandle) {
	// A failed flush leaves a transient object until the connection closes.
	_, _ = tpm2.FlushContext{FlushHandle: h}.Execute(t)
}

// withLoaded loads the key under the storage primary key and runs fn.
func (k *Key) withLoaded(t transport.TPM, fn func(h tpm2.AuthHandle) error) error {
	return k.withSRK(t, func(s srk) error {
		rsp, err := tpm2.Load{
			ParentHandle: tpm2.AuthHandle{Handle: s.handle, Name: s.name, Auth: tpm2.PasswordAuth(nil)},
			InPrivate:    k.private,
			InPublic:     k.public,
		}.Execute(t)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrForeignKey, err)
		}
		defer flush(t, rsp.ObjectHandle)
		return fn(tpm2.AuthHandle{Handle: rsp.ObjectHandle, Name: rsp.Name, Auth: tpm2.PasswordAuth(nil)})
	})
}

// Create makes a new key in the TPM.
func Create(ctx context.Context, o Options) (*Key, error) {
	o, err := o.check()
	if err != nil {
		return nil, err
	}
	k := newKey(o)
	err = k.do(ctx, func(t transport.TPM) error {
		return k.withSRK(t, func(s srk) error {
			rsp, err := tpm2.Create{
				ParentHandle: tpm2.AuthHandle{Handle: s.handle, Name: s.name, Auth: tpm2.PasswordAuth(nil)},
				InPublic:     tpm2.New2B(keyTemplate()),
			}.Execute(t)
			if err != nil {
				return fmt.Errorf("workstation: tpm create key: %w", err)
			}
			k.public, k.private = rsp.OutPublic, rsp.OutPrivate
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if k.pub, err = checkPublic(k.public); err != nil {
		return nil, err
	}
	return k, nil
}

// Load makes a Key from a blob saved by Key.Blob. The TPM loads it to
// prove it is this TPM's key.
func Load(ctx context.Context, blob []byte, o Options) (*Key, error) {
	o, err := o.check()
	if err != nil {
		return nil, err
	}
	k := newKey(o)
	if k.public, k.private, err = parseBlob(blob); err != nil {
		return nil, err
	}
	if k.pub, err = checkPublic(k.public); err != nil {
		return nil, err
	}
	loadOnly := func(t transport.TPM) error { return k.withLoaded(t, func(tpm2.AuthHandle) error { return nil }) }
	if err := k.do(ctx, loadOnly); err != nil {
		return nil, err
	}
	return k, nil
}

// LoadOrCreate loads the key saved at path, or creates one and saves its
// blob there (mode 0600) when there is no file. It never replaces an
// existing file: a blob this TPM cannot load (ErrForeignKey) is an
// administrator's decision (delete the file, re-enrol the new key).
func LoadOrCreate(ctx context.Context, path string, o Options) (k *Key, created bool, err error) {
	b, err := readLimited(path, MaxBlob)
	switch {
	case err == nil:
		k, err := Load(ctx, b, o)
		return k, false, err
	case !errors.Is(err, fs.ErrNotExist):
		return nil, false, err
	}
	k, err = Create(ctx, o)
	if err != nil {
		return nil, false, err
	}
	if err := writeNew(path, k.Blob()); err != nil {
		return nil, false, err
	}
	return k, true, nil
}

// Public returns the *ecdsa.PublicKey (crypto.Signer).
func (k *Key) Public() crypto.PublicKey { return k.pub }

// PublicKey returns the key as *ecdsa.PublicKey.
func (k *Key) PublicKey() *ecdsa.PublicKey { return k.pub }

// PublicKeyDER is the PKIX (SubjectPublicKeyInfo) DER encoding.
func (k *Key) PublicKeyDER() ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k.pub)
	if err != nil {
		return nil, fmt.Errorf("workstation: %w", err)
	}
	return der, nil
}

// PublicKeyPEM is the PKIX key in a "PUBLIC KEY" PEM block, for enrolment.
func (k *Key) PublicKeyPEM() ([]byte, error) {
	der, err := k.PublicKeyDER()
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// Blob is the key as the TPM wrapped it (PEM), to save and Load later.
// It holds no usable secret: the private area is encrypted by this TPM.
func (k *Key) Blob() []byte {
	b := append(tpm2.Marshal(k.public), tpm2.Marshal(k.private)...)
	return pem.EncodeToMemory(&pem.Block{Type: blobPEMType, Bytes: b})
}

// Sign signs a SHA-256 digest in the TPM and returns an ASN.1 DER ECDSA
// signature (crypto.Signer; rand is unused, the TPM draws its own).
func (k *Key) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return k.sign(context.Background(), digest, opts)
}

// SignChallenge signs the challenge's digest; counter.Verify checks the result.
func (k *Key) SignChallenge(ctx context.Context, c counter.Challenge) ([]byte, error) {
	d, err := c.Digest()
	if err != nil {
		return nil, err
	}
	return k.sign(ctx, d, crypto.SHA256)
}

func (k *Key) sign(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil || opts.HashFunc() != crypto.SHA256 {
		return nil, errors.New("workstation: only SHA-256 digests are signed")
	}
	if len(digest) != 32 {
		return nil, fmt.Errorf("workstation: digest is %d bytes, want 32", len(digest))
	}
	var sig []byte
	err := k.do(ctx, func(t transport.TPM) error {
		return k.withLoaded(t, func(h tpm2.AuthHandle) error {
			rsp, err := tpm2.Sign{
				KeyHandle: h,
				Digest:    tpm2.TPM2BDigest{Buffer: digest},
				InScheme: tpm2.TPMTSigScheme{
					Scheme:  tpm2.TPMAlgECDSA,
					Details: tpm2.NewTPMUSigScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSchemeHash{HashAlg: tpm2.TPMAlgSHA256}),
				},
				Validation: tpm2.TPMTTKHashCheck{Tag: tpm2.TPMSTHashCheck, Hierarchy: tpm2.TPMRHNull},
			}.Execute(t)
			if err != nil {
				return fmt.Errorf("workstation: tpm sign: %w", err)
			}
			ecc, err := rsp.Signature.Signature.ECDSA()
			if err != nil {
				return fmt.Errorf("workstation: tpm signature: %w", err)
			}
			sig, err = asn1.Marshal(struct{ R, S *big.Int }{
				new(big.Int).SetBytes(ecc.SignatureR.Buffer),
				new(big.Int).SetBytes(ecc.SignatureS.Buffer),
			})
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return sig, nil
}

// checkPublic accepts only the public area keyTemplate produces, and
// returns its point (checked to be on the curve).
func checkPublic(p tpm2.TPM2BPublic) (*ecdsa.PublicKey, error) {
	pub, err := p.Contents()
	if err != nil {
		return nil, fmt.Errorf("%w: public area: %w", ErrBadBlob, err)
	}
	a := pub.ObjectAttributes
	if pub.Type != tpm2.TPMAlgECC || pub.NameAlg != tpm2.TPMAlgSHA256 ||
		!a.FixedTPM || !a.FixedParent || !a.SensitiveDataOrigin || !a.SignEncrypt ||
		a.Decrypt || a.Restricted || a.EncryptedDuplication || len(pub.AuthPolicy.Buffer) != 0 {
		return nil, fmt.Errorf("%w: attributes %+v", ErrNotWorkstationKey, a)
	}
	parms, err := pub.Parameters.ECCDetail()
	if err != nil || parms.CurveID != tpm2.TPMECCNistP256 {
		return nil, fmt.Errorf("%w: not P-256", ErrNotWorkstationKey)
	}
	pt, err := pub.Unique.ECC()
	if err != nil || len(pt.X.Buffer) > 32 || len(pt.Y.Buffer) > 32 {
		return nil, fmt.Errorf("%w: no P-256 point", ErrNotWorkstationKey)
	}
	raw := make([]byte, 65)
	raw[0] = 4
	copy(raw[33-len(pt.X.Buffer):33], pt.X.Buffer)
	copy(raw[65-len(pt.Y.Buffer):], pt.Y.Buffer)
	k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotWorkstationKey, err)
	}
	return k, nil
}

// parseBlob splits the PEM blob into its TPM2B_PUBLIC and TPM2B_PRIVATE,
// each a big-endian uint16 size and that many bytes, nothing after.
func parseBlob(b []byte) (tpm2.TPM2BPublic, tpm2.TPM2BPrivate, error) {
	var pub tpm2.TPM2BPublic
	var priv tpm2.TPM2BPrivate
	if len(b) > MaxBlob {
		return pub, priv, fmt.Errorf("%w: %d bytes, more than %d", ErrBadBlob, len(b), MaxBlob)
	}
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != blobPEMType || len(trimSpace(rest)) != 0 {
		return pub, priv, fmt.Errorf("%w: want one %q PEM block", ErrBadBlob, blobPEMType)
	}
	d := blk.Bytes
	split := func() ([]byte, error) {
		if len(d) < 2 {
			return nil, fmt.Errorf("%w: truncated", ErrBadBlob)
		}
		n := 2 + int(binary.BigEndian.Uint16(d))
		if len(d) < n {
			return nil, fmt.Errorf("%w: truncated", ErrBadBlob)
		}
		part := d[:n]
		d = d[n:]
		return part, nil
	}
	pb, err := split()
	if err != nil {
		return pub, priv, err
	}
	vb, err := split()
	if err != nil {
		return pub, priv, err
	}
	if len(d) != 0 {
		return pub, priv, fmt.Errorf("%w: %d trailing bytes", ErrBadBlob, len(d))
	}
	p, err := tpm2.Unmarshal[tpm2.TPM2BPublic](pb)
	if err != nil {
		return pub, priv, fmt.Errorf("%w: public area: %w", ErrBadBlob, err)
	}
	v, err := tpm2.Unmarshal[tpm2.TPM2BPrivate](vb)
	if err != nil {
		return pub, priv, fmt.Errorf("%w: private area: %w", ErrBadBlob, err)
	}
	return *p, *v, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("workstation: read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrBadBlob, path, limit)
	}
	return b, nil
}

// writeNew writes data to path (0600) only if path does not exist yet: a
// hard link from a complete temporary file, so a crash or a concurrent
// creator never leaves a partial or replaced blob.
func writeNew(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("workstation: key dir: %w", err)
	}
	if err := atomicfile.WriteNew(path, data, 0o600); err != nil {
		return fmt.Errorf("workstation: save key blob: %w", err)
	}
	return nil
}
