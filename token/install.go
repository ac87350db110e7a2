package token

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// Safe install of a renewed certificate.
//
// The write order never leaves the token without a usable certificate for
// the holder (a certificate whose private key is on the token):
//
//	journal intent
//	(re-key: new key pair with a NEW CKA_ID → CSR → certificate from the CA)
//	verify the certificate (validity, holder, lifetime, public key, chain)
//	journal writing-cert (with the certificate's SHA-256)
//	create the certificate object → read it back and verify it again
//	journal verified
//	delete the old certificate → (re-key: delete the old key pair)
//	remove the journal
//
// Until "verified" the old certificate is untouched, so Recover rolls back;
// from "verified" on the new certificate is complete on the token, so Recover
// rolls forward.
//
// New objects get their final CKA_LABEL (the old certificate's) and CKA_ID
// when they are created, and no object is modified afterwards: SoftHSM2's
// file backend rewrites an object's file in place on C_SetAttributeValue,
// and a process killed meanwhile loses the object. A relabel after the old
// certificate is gone could thus leave the token with no certificate at all
// (the crash test found it). Objects only ever appear whole (or as ghosts
// Recover removes) and disappear whole (an unlink).

// ErrNoCertificateToReplace means no certificate on the token fits the
// install: none with the requested CKA_ID, none for this key pair (same-key),
// or several candidates where one is needed (re-key without ReplaceID).
var ErrNoCertificateToReplace = errors.New("no certificate on the token to replace")

// ErrDamagedObject means the token holds an object that cannot be read
// (Inventory.Damaged). Install refuses to judge such a token: the object
// could be the certificate or key it is about to replace. When Recover
// removes the object (DamagedObject.Remains) the error says to run recover;
// otherwise the token's vendor tool or the CA must look at it.
var ErrDamagedObject = errors.New("an object on the token cannot be read")

// CertificateIssuer obtains the certificate for a CSR signed on the token
// (re-key): the renewal service, or a local CA in tests.
type CertificateIssuer interface {
	IssueCertificate(ctx context.Context, csrDER []byte) (certDER []byte, err error)
}

// IssuerFunc adapts a function to CertificateIssuer.
type IssuerFunc func(ctx context.Context, csrDER []byte) ([]byte, error)

// IssueCertificate calls f.
func (f IssuerFunc) IssueCertificate(ctx context.Context, csrDER []byte) ([]byte, error) {
	return f(ctx, csrDER)
}

// InstallRequest says what to install. The Token must be logged in: the PIN
// is entered once, by the caller, and never seen here.
type InstallRequest struct {
	Mode InstallMode
	// Cert is the renewed certificate (DER or PEM). Same-key: required.
	// Re-key: the certificate for the key pair PrepareRekey made, or nil
	// when Issuer obtains it in the same call.
	Cert []byte
	// Chain is the issuer chain the certificate must verify against.
	Chain []*smx509.Certificate
	// ReplaceID is the CKA_ID of the certificate to replace. Empty: the
	// certificate whose key pair the new one uses (same-key), or the only
	// certificate with a key on the token (re-key).
	ReplaceID []byte
	// KeyType of the new key pair (re-key); empty: as the old key.
	KeyType KeyPairType
	// Issuer obtains the certificate for the new key's CSR (re-key in one call).
	Issuer CertificateIssuer
	// Journal records the install; required.
	Journal *Journal
	// Now is the clock the validity checks use; nil: time.Now.
	Now func() time.Time
}

// CertSummary is what a clerk and a script need to know about a
// certificate an install touched.
type CertSummary struct {
	Subject   string    `json:"subject"`
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	SHA256    string    `json:"sha256"`
}

func summarize(c *smx509.Certificate) *CertSummary {
	if c == nil {
		return nil
	}
	ci, err := ParseCertificate(c.Raw)
	if err != nil {
		return nil
	}
	return &CertSummary{Subject: ci.Subject.DN, Serial: ci.Serial, NotBefore: ci.NotBefore, NotAfter: ci.NotAfter, SHA256: ci.SHA256}
}

// InstallStatus is where an install stands when Install or PrepareRekey returns.
type InstallStatus string

// Install statuses.
const (
	Installed InstallStatus = "installed" // the new certificate is on the token
	CSRReady  InstallStatus = "csr_ready" // PrepareRekey made the new key pair and its CSR
)

// InstallResult reports an install (or the first step of a two-step re-key).
type InstallResult struct {
	Token    string        `json:"token_serial"`
	Mode     InstallMode   `json:"mode"`
	Status   InstallStatus `json:"status"`
	OldID    HexBytes      `json:"old_id"`
	NewID    HexBytes      `json:"new_id"`
	Label    string        `json:"label"`
	KeyType  KeyPairType   `json:"key_type,omitempty"`
	Replaced *CertSummary  `json:"replaced"`
	New      *CertSummary  `json:"installed,omitempty"`
	// CSR is the PKCS #10 request of the new key pair (DER), after PrepareRekey.
	CSR []byte `json:"-"`
}

// installRun is one install or recovery on one token.
type installRun struct {
	t      *Token
	j      *Journal
	now    func() time.Time
	log    *RecoverResult // what was done, for Recover's report; nil during Install
	unlock func()         // releases Journal.Lock
}

func newInstallRun(t *Token, j *Journal, now func() time.Time) (*installRun, error) {
	if t == nil {
		return nil, errors.New("install: no token")
	}
	if j == nil {
		return nil, errors.New("install: no journal")
	}
	if now == nil {
		now = time.Now
	}
	if !t.LoggedIn() {
		return nil, fmt.Errorf("install on token %s: %w", t.Serial(), ErrNotLoggedIn)
	}
	unlock, err := j.Lock(t.Serial())
	if err != nil {
		return nil, err
	}
	return &installRun{t: t, j: j, now: now, unlock: unlock}, nil
}

// done releases the token for other processes.
func (r *installRun) done() { r.unlock() }

// Install writes a renewed certificate to the token, in the order that
// never leaves it without a usable certificate (see the order above). A
// refused certificate (ErrCertUnparsable, ErrCertExpired, ErrCertNotYetValid,
// ErrHolderMismatch, ErrCertNotNewer, ErrCertKeyMismatch, ErrCertChain,
// ErrAlreadyInstalled, ErrNoCertificateToReplace) leaves the token and the
// journal as they were, except that a pending two-step re-key stays pending.
// Any other failure may leave a journal: Recover finishes or undoes the
// install.
func Install(ctx context.Context, t *Token, req InstallRequest) (*InstallResult, error) {
	r, err := newInstallRun(t, req.Journal, req.Now)
	if err != nil {
		return nil, err
	}
	defer r.done()
	switch req.Mode {
	case SameKey:
		return r.sameKey(ctx, req)
	case Rekey:
		return r.rekey(ctx, req)
	}
	return nil, fmt.Errorf("install: unknown mode %q", req.Mode)
}

// PrepareRekey is the first half of a two-step re-key: it makes the new key
// pair and returns its CSR (Result.CSR), and keeps the pending key in the
// journal (Recover leaves it alone) until Install with Mode Rekey and the
// certificate finishes, or AbandonRekey undoes it. Called again while the
// key is pending, it returns a fresh CSR for the same key.
func PrepareRekey(ctx context.Context, t *Token, req InstallRequest) (*InstallResult, error) {
	r, err := newInstallRun(t, req.Journal, req.Now)
	if err != nil {
		return nil, err
	}
	defer r.done()
	if req.Mode != Rekey && req.Mode != "" {
		return nil, fmt.Errorf("prepare re-key: mode %q", req.Mode)
	}
	e, err := r.j.Load(t.Serial())
	if err != nil {
		return nil, err
	}
	if e != nil {
		if e.Mode != Rekey || e.Step != StepAwaitingCert || !e.Hold {
			return nil, fmt.Errorf("token %s: %w (step %s): run recover first", t.Serial(), ErrInstallInProgress, e.Step)
		}
		sc, err := r.scan(ctx)
		if err != nil {
			return nil, err
		}
		old := sc.byHash(e.OldCertSHA256)
		if old == nil {
			return nil, fmt.Errorf("token %s: the certificate the pending re-key replaces is gone: %w", t.Serial(), ErrNoCertificateToReplace)
		}
		csr, err := r.csr(ctx, e.NewID, old.cert)
		if err != nil {
			return nil, err
		}
		return r.result(e, CSRReady, old.cert, nil, csr), nil
	}
	e, old, _, csr, err := r.beginRekey(ctx, req, true)
	if err != nil {
		return nil, err
	}
	return r.result(e, CSRReady, old.cert, nil, csr), nil
}

// AbandonRekey undoes a pending two-step re-key: it deletes the new key pair
// and the journal, and reports what it removed. The old certificate stays.
// With no journal it does nothing.
func AbandonRekey(ctx context.Context, t *Token, j *Journal) (*RecoverResult, error) {
	r, err := newInstallRun(t, j, nil)
	if err != nil {
		return nil, err
	}
	defer r.done()
	res := newRecoverResult(t.Serial())
	r.log = res
	e, err := j.Load(t.Serial())
	if err != nil || e == nil {
		return res, err
	}
	if e.Mode != Rekey || e.Step != StepAwaitingCert {
		return nil, fmt.Errorf("token %s: %w (step %s): not a pending re-key; run recover", t.Serial(), ErrInstallInProgress, e.Step)
	}
	res.Journal = &RecoverJournal{Mode: e.Mode, Step: e.Step, Hold: e.Hold}
	if err := r.rollBack(ctx, e); err != nil {
		return res, err
	}
	return res, nil
}

func (r *installRun) result(e *JournalEntry, status InstallStatus, old, cert *smx509.Certificate, csr []byte) *InstallResult {
	return &InstallResult{
		Token: e.Serial, Mode: e.Mode, Status: status,
		OldID: e.OldID, NewID: e.NewID, Label: e.Label, KeyType: e.KeyType,
		Replaced: summarize(old), New: summarize(cert), CSR: csr,
	}
}

func (r *installRun) sameKey(ctx context.Context, req InstallRequest) (*InstallResult, error) {
	if len(req.Cert) == 0 {
		return nil, fmt.Errorf("same-key install: %w: no certificate given", ErrCertUnparsable)
	}
	cert, err := installParseOne(req.Cert)
	if err != nil {
		return nil, err
	}
	if e, err := r.j.Load(r.t.Serial()); err != nil {
		return nil, err
	} else if e != nil {
		return nil, fmt.Errorf("token %s: %w (step %s): run recover first", r.t.Serial(), ErrInstallInProgress, e.Step)
	}
	sc, err := r.scan(ctx)
	if err != nil {
		return nil, err
	}
	newSum := installSum(cert.Raw)
	if sc.byHash(newSum[:]) != nil {
		return nil, fmt.Errorf("token %s: %w", r.t.Serial(), ErrAlreadyInstalled)
	}
	// The certificate to replace: a usable one whose key pair the new
	// certificate is for.
	var cands []*installCert
	for _, c := range sc.certs {
		if !c.usable() || len(req.ReplaceID) > 0 && !bytes.Equal(c.obj.ID, req.ReplaceID) {
			continue
		}
		if installSameKey(c.cert.PublicKey, cert.PublicKey) {
			cands = append(cands, c)
		}
	}
	if len(cands) == 0 {
		if len(req.ReplaceID) > 0 && len(sc.withID(req.ReplaceID)) > 0 {
			return nil, fmt.Errorf("token %s: certificate %x: %w", r.t.Serial(), req.ReplaceID, ErrCertKeyMismatch)
		}
		return nil, fmt.Errorf("token %s: %w: no certificate with a key uses this certificate's key pair (%w)", r.t.Serial(), ErrNoCertificateToReplace, ErrCertKeyMismatch)
	}
	old := installNewest(cands)
	if err := installVerify(cert, old.cert, old.keyPublic(), req.Chain, r.now()); err != nil {
		return nil, err
	}
	e := &JournalEntry{
		Serial: r.t.Serial(), Mode: SameKey, Step: StepWritingCert,
		OldID: old.obj.ID, NewID: old.obj.ID,
		OldCertSHA256: old.sum[:], NewCertSHA256: newSum[:],
		Label: old.obj.Label,
	}
	if err := r.j.Begin(e); err != nil {
		return nil, err
	}
	if err := r.commit(ctx, e, cert, old.cert, req.Chain); err != nil {
		return nil, err
	}
	return r.result(e, Installed, old.cert, cert, nil), nil
}

// rekeyKeyPairType picks the new key pair's type: as asked, else as the old key.
func rekeyKeyPairType(asked KeyPairType, old crypto.PublicKey) (KeyPairType, error) {
	if asked != "" {
		if _, err := ParseKeyPairType(string(asked)); err != nil {
			return "", fmt.Errorf("re-key: %w", err)
		}
		return asked, nil
	}
	switch k := old.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() > 2048 {
			return RSA3072, nil
		}
		return RSA2048, nil
	case *ecdsa.PublicKey:
		if k.Curve == sm2.P256() {
			return "", fmt.Errorf("re-key of an SM2 key: %w (no SM2 key generation mechanism in the table yet)", ErrUnsupported)
		}
		if k.Curve.Params().BitSize > 256 {
			return ECP384, nil
		}
		return ECP256, nil
	}
	return "", fmt.Errorf("re-key of a %T key: %w", old, ErrUnsupported)
}

// beginRekey journals the intent, makes the new key pair and its CSR, and
// leaves the journal at awaiting-cert.
func (r *installRun) beginRekey(ctx context.Context, req InstallRequest, hold bool) (*JournalEntry, *installCert, *Signer, []byte, error) {
	if e, err := r.j.Load(r.t.Serial()); err != nil {
		return nil, nil, nil, nil, err
	} else if e != nil {
		return nil, nil, nil, nil, fmt.Errorf("token %s: %w (step %s): run recover first", r.t.Serial(), ErrInstallInProgress, e.Step)
	}
	sc, err := r.scan(ctx)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	var cands []*installCert
	for _, c := range sc.certs {
		if c.usable() && (len(req.ReplaceID) == 0 || bytes.Equal(c.obj.ID, req.ReplaceID)) {
			cands = append(cands, c)
		}
	}
	switch {
	case len(cands) == 0 && len(req.ReplaceID) > 0:
		return nil, nil, nil, nil, fmt.Errorf("token %s: %w: none with id %x and a key", r.t.Serial(), ErrNoCertificateToReplace, req.ReplaceID)
	case len(cands) == 0:
		return nil, nil, nil, nil, fmt.Errorf("token %s: %w: no certificate with a key", r.t.Serial(), ErrNoCertificateToReplace)
	case len(cands) > 1 && len(req.ReplaceID) == 0:
		return nil, nil, nil, nil, fmt.Errorf("token %s: %w: %d certificates have a key; name one by its CKA_ID", r.t.Serial(), ErrNoCertificateToReplace, len(cands))
	}
	old := installNewest(cands)
	kt, err := rekeyKeyPairType(req.KeyType, old.keyPublic())
	if err != nil {
		return nil, nil, nil, nil, err
	}
	newID, err := NewID()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	e := &JournalEntry{
		Serial: r.t.Serial(), Mode: Rekey, Step: StepIntent,
		OldID: old.obj.ID, NewID: newID, OldCertSHA256: old.sum[:],
		Label: old.obj.Label, KeyType: kt, Hold: hold,
	}
	if err := r.j.Begin(e); err != nil {
		return nil, nil, nil, nil, err
	}
	signer, err := r.t.GenerateKeyPair(ctx, KeySpec{Type: kt, ID: newID, Label: e.Label})
	if err != nil {
		return nil, nil, nil, nil, r.undo(ctx, e, fmt.Errorf("re-key: %w", err))
	}
	csr, err := CreateCSR(ctx, signer, &x509.CertificateRequest{RawSubject: old.cert.RawSubject})
	if err != nil {
		return nil, nil, nil, nil, r.undo(ctx, e, fmt.Errorf("re-key: %w", err))
	}
	e.Step = StepAwaitingCert
	if err := r.j.Update(e); err != nil {
		return nil, nil, nil, nil, r.undo(ctx, e, err)
	}
	return e, old, signer, csr, nil
}

// csr makes a fresh CSR for the pending key id with old's subject.
func (r *installRun) csr(ctx context.Context, id []byte, old *smx509.Certificate) ([]byte, error) {
	s, err := r.t.Signer(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("re-key: the pending key pair: %w", err)
	}
	return CreateCSR(ctx, s, &x509.CertificateRequest{RawSubject: old.RawSubject})
}

func (r *installRun) rekey(ctx context.Context, req InstallRequest) (*InstallResult, error) {
	var (
		e      *JournalEntry
		old    *installCert
		pubKey crypto.PublicKey
		der    []byte
	)
	pending, err := r.j.Load(r.t.Serial())
	if err != nil {
		return nil, err
	}
	switch {
	case pending != nil && pending.Mode == Rekey && pending.Step == StepAwaitingCert && pending.Hold && len(req.Cert) > 0:
		// Second step of a two-step re-key: the CA's certificate for the
		// pending key pair.
		e = pending
		sc, err := r.scan(ctx)
		if err != nil {
			return nil, err
		}
		if old = sc.byHash(e.OldCertSHA256); old == nil {
			return nil, fmt.Errorf("token %s: the certificate the pending re-key replaces is gone: %w", r.t.Serial(), ErrNoCertificateToReplace)
		}
		s, err := r.t.Signer(ctx, e.NewID)
		if err != nil {
			return nil, fmt.Errorf("re-key: the pending key pair: %w", err)
		}
		pubKey, der = s.Public(), req.Cert
	case pending != nil:
		return nil, fmt.Errorf("token %s: %w (step %s): run recover first", r.t.Serial(), ErrInstallInProgress, pending.Step)
	case len(req.Cert) > 0:
		return nil, fmt.Errorf("re-key: a certificate was given but no re-key is pending on token %s (run PrepareRekey first)", r.t.Serial())
	case req.Issuer == nil:
		return nil, errors.New("re-key: no issuer to sign the new key's CSR")
	default:
		var s *Signer
		var csr []byte
		if e, old, s, csr, err = r.beginRekey(ctx, req, false); err != nil {
			return nil, err
		}
		pubKey = s.Public()
		if der, err = req.Issuer.IssueCertificate(ctx, csr); err != nil {
			return nil, r.undo(ctx, e, fmt.Errorf("re-key: the issuer: %w", err))
		}
	}
	cert, err := installParseOne(der)
	if err == nil {
		err = installVerify(cert, old.cert, pubKey, req.Chain, r.now())
	}
	if err != nil {
		if e.Hold {
			return nil, err // the pending key waits for the right certificate
		}
		return nil, r.undo(ctx, e, err)
	}
	sum := installSum(cert.Raw)
	e.Step, e.NewCertSHA256 = StepWritingCert, sum[:]
	if err := r.j.Update(e); err != nil {
		return nil, err
	}
	if err := r.commit(ctx, e, cert, old.cert, req.Chain); err != nil {
		return nil, err
	}
	return r.result(e, Installed, old.cert, cert, nil), nil
}

// undo rolls an install back after a failure before the certificate was
// written, and returns cause (with the roll-back's own failure, if any).
func (r *installRun) undo(ctx context.Context, e *JournalEntry, cause error) error {
	if err := r.rollBack(context.WithoutCancel(ctx), e); err != nil {
		return fmt.Errorf("%w (and undoing the install failed: %w; run recover)", cause, err)
	}
	return cause
}

// commit writes the verified certificate (journal at writing-cert), reads
// it back, verifies it against the key on the token, journals verified and
// finishes. From the write on, cancelling ctx no longer stops it: a few
// more module calls leave the token tidy.
func (r *installRun) commit(ctx context.Context, e *JournalEntry, cert, old *smx509.Certificate, chain []*smx509.Certificate) error {
	if err := ctx.Err(); err != nil {
		return r.undo(ctx, e, err)
	}
	ctx = context.WithoutCancel(ctx)
	written, err := r.t.WriteCertificate(ctx, CertificateSpec{DER: cert.Raw, ID: e.NewID, Label: e.Label})
	if err != nil {
		return r.undo(ctx, e, fmt.Errorf("install: %w", err))
	}
	// Read back through a fresh scan: the object must be there, carry the
	// bytes that were verified, and pair with its private key.
	sc, err := r.scan(ctx)
	if err != nil {
		return err // journal at writing-cert: Recover decides
	}
	back := sc.byHash(e.NewCertSHA256)
	if back == nil || back.obj.Handle != written.Handle || !back.usable() {
		return r.undo(ctx, e, fmt.Errorf("token %s: %w", r.t.Serial(), ErrReadBackMismatch))
	}
	if err := installVerify(back.cert, old, back.keyPublic(), chain, r.now()); err != nil {
		return r.undo(ctx, e, fmt.Errorf("token %s: read back: %w", r.t.Serial(), err))
	}
	e.Step = StepVerified
	if err := r.j.Update(e); err != nil {
		return err
	}
	return r.rollForward(ctx, e)
}

// rollForward finishes an install whose new certificate is on the token:
// it deletes the old certificate (and on re-key the old key pair) and
// removes the journal. Every step can be repeated. New objects that do not
// carry the final label (a state left by other tools) are relabelled
// first, while the old certificate still stands, and checked again.
func (r *installRun) rollForward(ctx context.Context, e *JournalEntry) error {
	sc, err := r.scan(ctx)
	if err != nil {
		return err
	}
	nc := sc.byHash(e.NewCertSHA256)
	if nc == nil || !nc.usable() || !bytes.Equal(nc.obj.ID, e.NewID) {
		return fmt.Errorf("token %s: finish install: the new certificate is not usable on the token", r.t.Serial())
	}
	relabel := []Object{nc.obj}
	if e.Mode == Rekey {
		relabel = append(relabel, sc.keysWithID(e.NewID)...)
	}
	relabelled := false
	for _, o := range relabel {
		if o.Label != e.Label {
			if err := r.relabel(ctx, o, e.Label); err != nil {
				return err
			}
			relabelled = true
		}
	}
	if relabelled {
		if sc, err = r.scan(ctx); err != nil {
			return err
		}
		if nc = sc.byHash(e.NewCertSHA256); nc == nil || !nc.usable() {
			return fmt.Errorf("token %s: finish install: the new certificate is not usable after relabelling", r.t.Serial())
		}
	}
	// The old key pair: the keys with the old CKA_ID, and those the old
	// certificate was matched to by public key (a pair some tool wrote
	// under another CKA_ID than its certificate).
	var oldKeys []Object
	if e.Mode == Rekey {
		oldKeys = sc.keysWithID(e.OldID)
		for _, c := range sc.certs {
			if c.sum != [32]byte(e.OldCertSHA256) || c == nc {
				continue
			}
			for _, k := range []*Key{c.c.PrivateKey, c.c.PublicKey} {
				if k != nil && !bytes.Equal(k.ID, e.NewID) && !slices.ContainsFunc(oldKeys, func(o Object) bool { return o.Handle == k.Handle }) {
					oldKeys = append(oldKeys, k.Object)
				}
			}
		}
	}
	for _, c := range sc.certs {
		if c.sum == [32]byte(e.OldCertSHA256) && c != nc {
			if err := r.destroy(ctx, c.obj, "replaced certificate"); err != nil {
				return err
			}
		}
	}
	if e.Mode == Rekey {
		// The old key pair goes unless another certificate still uses it.
		inUse := false
		for _, c := range sc.certs {
			if c.sum == [32]byte(e.OldCertSHA256) {
				continue
			}
			for _, k := range oldKeys {
				if bytes.Equal(c.obj.ID, k.ID) || c.c.PrivateKey != nil && c.c.PrivateKey.Handle == k.Handle {
					inUse = true
				}
			}
		}
		if !inUse {
			for _, k := range oldKeys {
				if err := r.destroy(ctx, k, "key pair of the replaced certificate"); err != nil {
					return err
				}
			}
		}
	}
	if r.log != nil {
		r.log.Outcome = OutcomeCompleted
	}
	return r.j.Remove(e.Serial)
}

// rollBack undoes an install whose new certificate is not (completely) on
// the token: it deletes the new certificate object if any, the new key pair
// on re-key, and the journal. It never deletes the only usable certificate:
// if the old one is gone and the new one is usable, it rolls forward.
func (r *installRun) rollBack(ctx context.Context, e *JournalEntry) error {
	sc, err := r.scan(ctx)
	if err != nil {
		return err
	}
	oldOK := false
	for _, c := range sc.certs {
		if c.sum == [32]byte(e.OldCertSHA256) && c.usable() {
			oldOK = true
		}
	}
	oldFound, newFound := false, false
	for _, c := range sc.certs {
		oldFound = oldFound || (len(e.OldCertSHA256) == 32 && c.sum == [32]byte(e.OldCertSHA256))
		newFound = newFound || (len(e.NewCertSHA256) == 32 && c.sum == [32]byte(e.NewCertSHA256))
	}
	if len(e.OldCertSHA256) == 32 && !oldFound && !newFound {
		// The old certificate is deleted only after the new one is on the
		// token: seeing neither means this is not the token's true state (a
		// token going away, objects that cannot be read). Keep the journal.
		return fmt.Errorf("token %s shows neither the old nor the new certificate of the interrupted install: journal kept, try again with the token inserted: %w",
			e.Serial, ErrTokenRemoved)
	}
	if len(e.NewCertSHA256) == 32 {
		for _, c := range sc.certs {
			if c.sum != [32]byte(e.NewCertSHA256) {
				continue
			}
			if !oldOK && c.usable() {
				return r.rollForward(ctx, e)
			}
			if err := r.destroy(ctx, c.obj, "certificate of an unfinished install"); err != nil {
				return err
			}
		}
	}
	if e.Mode == Rekey {
		for _, k := range sc.keysWithID(e.NewID) {
			if err := r.destroy(ctx, k, "key pair of an unfinished re-key"); err != nil {
				return err
			}
		}
	}
	if r.log != nil {
		r.log.Outcome = OutcomeRolledBack
	}
	return r.j.Remove(e.Serial)
}

func (r *installRun) destroy(ctx context.Context, o Object, why string) error {
	if err := r.t.Destroy(ctx, o.Handle); err != nil && !errors.Is(err, ErrObjectNotFound) {
		return err
	}
	if r.log != nil {
		r.log.Removed = append(r.log.Removed, RecoverObject{Class: o.Class, ID: o.ID, Label: o.Label, Reason: why})
	}
	return nil
}

func (r *installRun) relabel(ctx context.Context, o Object, label string) error {
	if err := r.t.SetLabel(ctx, o.Handle, label); err != nil {
		return err
	}
	if r.log != nil {
		r.log.Relabelled = append(r.log.Relabelled, RecoverObject{Class: o.Class, ID: o.ID, Label: label, Reason: "the label of the certificate it replaces"})
	}
	return nil
}

// installScan is the token's objects as the installer sees them.
type installScan struct {
	inv   *Inventory
	certs []*installCert
}

// installCert is a certificate object with a value.
type installCert struct {
	obj  Object
	c    *Certificate
	cert *smx509.Certificate // nil when the value does not parse
	sum  [32]byte
}

func installSum(der []byte) [32]byte { return sha256.Sum256(der) }

func (r *installRun) scan(ctx context.Context) (*installScan, error) {
	inv, err := r.t.Objects(ctx)
	if err != nil {
		return nil, err
	}
	// Recover (r.log set) works around damaged objects and reports them;
	// an install stops.
	if r.log == nil && len(inv.Damaged) > 0 {
		d := inv.Damaged[0]
		advice := "remove it with the token vendor's tool or ask the CA"
		if d.Remains {
			advice = "left by an interrupted write: run recover"
		}
		return nil, fmt.Errorf("token %s: %w: %s %q (handle %d: %s); %s",
			r.t.Serial(), ErrDamagedObject, d.Class, d.Label, d.Handle, d.Reason, advice)
	}
	sc := &installScan{inv: inv}
	for _, c := range inv.Certificates {
		ic := &installCert{obj: c.Object, c: c}
		if c.Info != nil {
			ic.sum = installSum(c.Info.Raw)
			if p, err := smx509.ParseCertificate(c.Info.Raw); err == nil {
				ic.cert = p
			}
		}
		sc.certs = append(sc.certs, ic)
	}
	return sc, nil
}

// usable: the certificate parses and its private key is on the token.
func (c *installCert) usable() bool { return c.cert != nil && c.c.HasKey() }

// keyPublic is the public key of the certificate's key pair as the token
// shows it: the public key object, else the private key (RSA), else the
// certificate's own.
func (c *installCert) keyPublic() crypto.PublicKey {
	switch {
	case c.c.PublicKey != nil && c.c.PublicKey.Public != nil:
		return c.c.PublicKey.Public
	case c.c.PrivateKey != nil && c.c.PrivateKey.Public != nil:
		return c.c.PrivateKey.Public
	case c.cert != nil:
		return c.cert.PublicKey
	}
	return nil
}

func (sc *installScan) byHash(sum []byte) *installCert {
	if len(sum) != 32 {
		return nil
	}
	for _, c := range sc.certs {
		if c.sum == [32]byte(sum) && c.cert != nil {
			return c
		}
	}
	return nil
}

func (sc *installScan) withID(id []byte) []*installCert {
	var out []*installCert
	for _, c := range sc.certs {
		if bytes.Equal(c.obj.ID, id) {
			out = append(out, c)
		}
	}
	return out
}

// keysWithID lists the private and public key objects with the given CKA_ID.
func (sc *installScan) keysWithID(id []byte) []Object {
	var out []Object
	for _, ks := range [][]*Key{sc.inv.PrivateKeys, sc.inv.PublicKeys} {
		for _, k := range ks {
			if len(id) > 0 && bytes.Equal(k.ID, id) {
				out = append(out, k.Object)
			}
		}
	}
	for _, g := range sc.inv.Ghosts {
		if g.Class != ClassCertificate && len(id) > 0 && bytes.Equal(g.ID, id) {
			out = append(out, g)
		}
	}
	return out
}

// installNewest picks the candidate that expires last.
func installNewest(cs []*installCert) *installCert {
	best := cs[0]
	for _, c := range cs[1:] {
		if c.cert.NotAfter.After(best.cert.NotAfter) {
			best = c
		}
	}
	return best
}
