package token

import (
	"bytes"
	"context"
	"crypto"
	"fmt"
)

// RecoverObject is one object Recover removed, relabelled or kept on purpose.
type RecoverObject struct {
	Class  ObjectClass `json:"class"`
	ID     HexBytes    `json:"id"`
	Label  string      `json:"label"`
	Reason string      `json:"reason"`
}

// RecoverJournal is the interrupted install Recover found.
type RecoverJournal struct {
	Mode InstallMode `json:"mode"`
	Step JournalStep `json:"step"`
	Hold bool        `json:"hold"`
}

// RecoverOutcome is what Recover did about an interrupted install.
type RecoverOutcome string

// Recover outcomes.
const (
	// OutcomeNothingToDo: no journal (ghosts and orphans may still have been removed).
	OutcomeNothingToDo RecoverOutcome = "nothing_to_do"
	// OutcomeCompleted: an interrupted install was finished: the new certificate is in place.
	OutcomeCompleted RecoverOutcome = "completed"
	// OutcomeRolledBack: an interrupted install was undone: the old certificate is in place.
	OutcomeRolledBack RecoverOutcome = "rolled_back"
	// OutcomePending: a two-step re-key waits for its certificate; its key pair is kept.
	OutcomePending RecoverOutcome = "pending"
)

// RecoverResult reports what Recover found and did, for the GUI and the
// command line.
type RecoverResult struct {
	Token      string          `json:"token_serial"`
	Journal    *RecoverJournal `json:"journal"`
	Outcome    RecoverOutcome  `json:"outcome"`
	Removed    []RecoverObject `json:"removed"`
	Relabelled []RecoverObject `json:"relabelled"`
	Kept       []RecoverObject `json:"kept"`
}

func newRecoverResult(serial string) *RecoverResult {
	return &RecoverResult{Token: serial, Outcome: OutcomeNothingToDo, Removed: []RecoverObject{}, Relabelled: []RecoverObject{}, Kept: []RecoverObject{}}
}

// Changed reports whether Recover changed anything on the token.
func (r *RecoverResult) Changed() bool {
	return len(r.Removed) > 0 || len(r.Relabelled) > 0 || r.Outcome == OutcomeCompleted || r.Outcome == OutcomeRolledBack
}

// Recover completes or rolls back an install on the token that was
// interrupted (crash, kill, unplugged token), using the journal in
// journalDir ("" for DefaultJournalDir), then removes ghost objects (left by
// interrupted writes) and orphan keys (keys no certificate uses) that no
// journal owns. It never deletes the only usable certificate of a holder:
// certificates are deleted only when they are empty (ghosts), or are one
// side of the journalled install while the other side is usable. Running it
// again does nothing. The Token must be logged in (private keys are only
// visible then). While another process installs on or recovers the token
// (Journal.Lock), Recover returns ErrInstallInProgress and changes nothing.
func Recover(ctx context.Context, t *Token, journalDir string) (*RecoverResult, error) {
	j, err := OpenJournal(journalDir, nil)
	if err != nil {
		return nil, err
	}
	r, err := newInstallRun(t, j, nil)
	if err != nil {
		return nil, err
	}
	defer r.done()
	res := newRecoverResult(t.Serial())
	r.log = res
	e, err := j.Load(t.Serial())
	if err != nil {
		// Without a trustworthy journal nothing can be judged ours.
		return nil, fmt.Errorf("recover token %s: %w", t.Serial(), err)
	}
	if err := r.sweepUnreadable(ctx); err != nil {
		return res, fmt.Errorf("recover token %s: %w", t.Serial(), err)
	}
	var owned []byte // CKA_ID of a pending key pair that must stay
	if e != nil {
		res.Journal = &RecoverJournal{Mode: e.Mode, Step: e.Step, Hold: e.Hold}
		switch e.Step {
		case StepIntent:
			err = r.rollBack(ctx, e)
		case StepAwaitingCert:
			if e.Hold {
				res.Outcome, owned = OutcomePending, e.NewID
			} else {
				err = r.rollBack(ctx, e)
			}
		case StepWritingCert:
			err = r.recoverWriting(ctx, e)
		case StepVerified:
			err = r.recoverVerified(ctx, e)
		}
		if err != nil {
			return res, fmt.Errorf("recover token %s: %w", t.Serial(), err)
		}
	}
	if err := r.sweep(ctx, owned); err != nil {
		return res, fmt.Errorf("recover token %s: %w", t.Serial(), err)
	}
	return res, nil
}

// recoverWriting: the certificate may or may not have been written. Its
// bytes were verified before the write, so a complete copy that pairs with
// its key is finished; anything less is undone.
func (r *installRun) recoverWriting(ctx context.Context, e *JournalEntry) error {
	sc, err := r.scan(ctx)
	if err != nil {
		return err
	}
	nc := sc.byHash(e.NewCertSHA256)
	if nc == nil || !nc.usable() || !bytes.Equal(nc.obj.ID, e.NewID) {
		return r.rollBack(ctx, e)
	}
	e.Step = StepVerified
	if err := r.j.Update(e); err != nil {
		return err
	}
	return r.rollForward(ctx, e)
}

// recoverVerified: the new certificate was on the token and verified; finish.
// Should it have vanished since (another program), undo instead.
func (r *installRun) recoverVerified(ctx context.Context, e *JournalEntry) error {
	sc, err := r.scan(ctx)
	if err != nil {
		return err
	}
	if nc := sc.byHash(e.NewCertSHA256); nc == nil || !nc.usable() {
		return r.rollBack(ctx, e)
	}
	return r.rollForward(ctx, e)
}

// sweep removes ghosts and orphan keys. A key is left alone when owned (a
// pending re-key), when a certificate has its CKA_ID, or when its public key
// is a certificate's: only keys that no certificate can use go.
func (r *installRun) sweep(ctx context.Context, owned []byte) error {
	sc, err := r.scan(ctx)
	if err != nil {
		return err
	}
	for _, g := range sc.inv.Ghosts {
		if len(owned) > 0 && bytes.Equal(g.ID, owned) {
			continue
		}
		if err := r.destroy(ctx, g, "ghost: an object without content, left by an interrupted write"); err != nil {
			return err
		}
	}
	for _, k := range sc.inv.OrphanKeys {
		if len(owned) > 0 && bytes.Equal(k.ID, owned) {
			r.log.Kept = append(r.log.Kept, RecoverObject{Class: k.Class, ID: k.ID, Label: k.Label, Reason: "key pair of a pending re-key"})
			continue
		}
		if r.usedByCert(sc, k) {
			continue
		}
		if why := damagedMayOwn(sc.inv.Damaged, k.ID); why != "" {
			r.log.Kept = append(r.log.Kept, RecoverObject{Class: k.Class, ID: k.ID, Label: k.Label, Reason: why})
			continue
		}
		if err := r.destroy(ctx, k.Object, "orphan: a key no certificate uses"); err != nil {
			return err
		}
	}
	for _, c := range sc.certs {
		if c.cert == nil {
			r.log.Kept = append(r.log.Kept, RecoverObject{Class: c.obj.Class, ID: c.obj.ID, Label: c.obj.Label, Reason: "certificate that does not parse: " + c.c.ParseError})
		}
	}
	for _, d := range sc.inv.Damaged {
		r.log.Kept = append(r.log.Kept, RecoverObject{Class: d.Class, ID: d.ID, Label: d.Label,
			Reason: "an object that cannot be read (" + d.Reason + "); it may be the token vendor's: remove it with the vendor's tool if it is not"})
	}
	return nil
}

// damagedMayOwn says why a key no readable certificate uses is kept ("" when
// it may go): an object that cannot be read, other than the remains of an
// interrupted write, may be that key's certificate (it has the key's
// CKA_ID, or its CKA_ID could not be read either). Destroying the key would
// lose it for good.
func damagedMayOwn(damaged []DamagedObject, id []byte) string {
	for _, d := range damaged {
		if d.Remains {
			continue
		}
		if len(d.ID) == 0 || bytes.Equal(d.ID, id) {
			return "key pair that an unreadable object may belong to (" + d.Reason + "); kept"
		}
	}
	return ""
}

// usedByCert: a certificate has the key's CKA_ID, or the key's public key.
// A private key that hides its public key (EC) takes it from the public key
// object with its CKA_ID, so a pair whose certificate some other tool wrote
// under another CKA_ID is still seen as used.
func (r *installRun) usedByCert(sc *installScan, k *Key) bool {
	pubs := []crypto.PublicKey{}
	if k.Public != nil {
		pubs = append(pubs, k.Public)
	}
	if len(k.ID) > 0 {
		for _, p := range sc.inv.PublicKeys {
			if p.Public != nil && bytes.Equal(p.ID, k.ID) {
				pubs = append(pubs, p.Public)
			}
		}
	}
	for _, c := range sc.certs {
		if len(k.ID) > 0 && bytes.Equal(c.obj.ID, k.ID) {
			return true
		}
		for _, pub := range pubs {
			if c.cert != nil && installSameKey(c.cert.PublicKey, pub) {
				return true
			}
		}
	}
	return false
}

// sweepUnreadable destroys the damaged objects that are an interrupted
// write's remains (DamagedObject.Remains): SoftHSM2 (file backend) leaves
// one when a process is killed while it writes the object's file, and every
// attribute then answers CKR_ATTRIBUTE_VALUE_INVALID. Such an object is no
// one's certificate or key any more. Other damaged objects are kept, and
// sweep reports them.
func (r *installRun) sweepUnreadable(ctx context.Context) error {
	inv, err := r.t.Objects(ctx)
	if err != nil {
		return err
	}
	for _, d := range inv.Damaged {
		if !d.Remains {
			continue
		}
		if err := r.destroy(ctx, d.Object, "ghost: an object whose attributes cannot be read, left by an interrupted write"); err != nil {
			return err
		}
	}
	return nil
}
