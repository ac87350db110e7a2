package token

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/ukeyrenew/ukeyrenew/token/damagetest"
)

// The journal states an install can be interrupted in, built step by step
// on a real token, and what Recover must make of each.

// instPending labels objects as another tool might have left them, to check
// that Recover gives them the final label before it deletes the old ones.
const instPending = "pending"

func (f *instFixture) oldSum() []byte {
	s := sha256.Sum256(f.oldDER)
	return s[:]
}

func (f *instFixture) recover(t *testing.T) *RecoverResult {
	t.Helper()
	res, err := Recover(context.Background(), f.tok, f.journal.Dir())
	if err != nil {
		t.Fatal(err)
	}
	again, err := Recover(context.Background(), f.tok, f.journal.Dir())
	if err != nil || (res.Outcome != "pending" && (again.Changed() || again.Outcome != "nothing_to_do")) {
		t.Fatalf("second Recover is not a no-op: %+v, %v", again, err)
	}
	return res
}

func (f *instFixture) certRaw(t *testing.T) []byte {
	t.Helper()
	return f.assertOneUsable(t).Info.Raw
}

func TestRecoverSameKeyInterruptedBeforeTheWrite(t *testing.T) {
	f := newInstFixture(t, ECP256, "ec")
	old := f.assertOneUsable(t)
	renewed := f.ca.renewal(t, old.Info.PublicKey)
	sum := sha256.Sum256(renewed)
	e := &JournalEntry{Serial: f.serial, Mode: SameKey, Step: StepWritingCert, OldID: f.oldID, NewID: f.oldID,
		OldCertSHA256: f.oldSum(), NewCertSHA256: sum[:], Label: instLabel}
	if err := f.journal.Begin(e); err != nil {
		t.Fatal(err)
	}
	res := f.recover(t)
	if res.Outcome != "rolled_back" || res.Journal.Step != StepWritingCert || len(res.Removed) != 0 {
		t.Fatalf("recover: %+v", res)
	}
	if !bytes.Equal(f.certRaw(t), f.oldDER) {
		t.Fatal("the old certificate is not in place")
	}
}

func TestRecoverSameKeyCompletesAWrittenCertificate(t *testing.T) {
	f := newInstFixture(t, ECP256, "ec")
	ctx := context.Background()
	old := f.assertOneUsable(t)
	renewed := f.ca.renewal(t, old.Info.PublicKey)
	sum := sha256.Sum256(renewed)
	e := &JournalEntry{Serial: f.serial, Mode: SameKey, Step: StepWritingCert, OldID: f.oldID, NewID: f.oldID,
		OldCertSHA256: f.oldSum(), NewCertSHA256: sum[:], Label: instLabel}
	if err := f.journal.Begin(e); err != nil {
		t.Fatal(err)
	}
	if _, err := f.tok.WriteCertificate(ctx, CertificateSpec{DER: renewed, ID: f.oldID, Label: instPending}); err != nil {
		t.Fatal(err)
	}
	res := f.recover(t)
	if res.Outcome != "completed" || len(res.Removed) != 1 || res.Removed[0].Class != "certificate" || len(res.Relabelled) != 1 {
		t.Fatalf("recover: %+v", res)
	}
	if !bytes.Equal(f.certRaw(t), renewed) {
		t.Fatal("the renewed certificate is not in place")
	}
}

func TestRecoverVerifiedFinishesTheRelabel(t *testing.T) {
	f := newInstFixture(t, ECP256, "ec")
	ctx := context.Background()
	old := f.assertOneUsable(t)
	renewed := f.ca.renewal(t, old.Info.PublicKey)
	sum := sha256.Sum256(renewed)
	e := &JournalEntry{Serial: f.serial, Mode: SameKey, Step: StepVerified, OldID: f.oldID, NewID: f.oldID,
		OldCertSHA256: f.oldSum(), NewCertSHA256: sum[:], Label: instLabel}
	if err := f.journal.Begin(e); err != nil {
		t.Fatal(err)
	}
	if _, err := f.tok.WriteCertificate(ctx, CertificateSpec{DER: renewed, ID: f.oldID, Label: instPending}); err != nil {
		t.Fatal(err)
	}
	// Interrupted after the old certificate was deleted.
	if err := f.tok.Destroy(ctx, old.Handle); err != nil {
		t.Fatal(err)
	}
	res := f.recover(t)
	if res.Outcome != "completed" || len(res.Removed) != 0 || len(res.Relabelled) != 1 || res.Relabelled[0].Label != instLabel {
		t.Fatalf("recover: %+v", res)
	}
	if !bytes.Equal(f.certRaw(t), renewed) {
		t.Fatal("the renewed certificate is not in place")
	}
}

func TestRecoverNeverDeletesTheOnlyUsableCertificate(t *testing.T) {
	t.Run("verified but the new certificate vanished", func(t *testing.T) {
		f := newInstFixture(t, ECP256, "ec")
		sum := sha256.Sum256([]byte("a certificate that never reached the token"))
		e := &JournalEntry{Serial: f.serial, Mode: SameKey, Step: StepVerified, OldID: f.oldID, NewID: f.oldID,
			OldCertSHA256: f.oldSum(), NewCertSHA256: sum[:], Label: instLabel}
		if err := f.journal.Begin(e); err != nil {
			t.Fatal(err)
		}
		res := f.recover(t)
		if res.Outcome != "rolled_back" || len(res.Removed) != 0 {
			t.Fatalf("recover: %+v", res)
		}
		if !bytes.Equal(f.certRaw(t), f.oldDER) {
			t.Fatal("the old certificate is not in place")
		}
	})
	t.Run("re-key writing, the old certificate already gone", func(t *testing.T) {
		f := newInstFixture(t, ECP256, "ec")
		ctx := context.Background()
		old := f.assertOneUsable(t)
		newID := []byte{0x0b, 0x02}
		s, err := f.tok.GenerateKeyPair(ctx, KeySpec{Type: ECP256, ID: newID, Label: instPending})
		if err != nil {
			t.Fatal(err)
		}
		renewed := f.ca.renewal(t, s.Public())
		sum := sha256.Sum256(renewed)
		e := &JournalEntry{Serial: f.serial, Mode: Rekey, Step: StepWritingCert, OldID: f.oldID, NewID: newID,
			OldCertSHA256: f.oldSum(), NewCertSHA256: sum[:], Label: instLabel, KeyType: ECP256}
		if err := f.journal.Begin(e); err != nil {
			t.Fatal(err)
		}
		if _, err := f.tok.WriteCertificate(ctx, CertificateSpec{DER: renewed, ID: newID, Label: instPending}); err != nil {
			t.Fatal(err)
		}
		if err := f.tok.Destroy(ctx, old.Handle); err != nil {
			t.Fatal(err)
		}
		res := f.recover(t)
		if res.Outcome != "completed" {
			t.Fatalf("recover: %+v", res)
		}
		got := f.assertOneUsable(t)
		if !bytes.Equal(got.Info.Raw, renewed) || !bytes.Equal(got.ID, newID) {
			t.Fatal("the renewed certificate is not in place")
		}
	})
}

func TestRecoverRekeyStates(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T, hold bool) (*instFixture, []byte) {
		f := newInstFixture(t, ECP256, "ec")
		newID := []byte{0x0b, 0x03}
		e := &JournalEntry{Serial: f.serial, Mode: Rekey, Step: StepIntent, OldID: f.oldID, NewID: newID,
			OldCertSHA256: f.oldSum(), Label: instLabel, KeyType: ECP256, Hold: hold}
		if err := f.journal.Begin(e); err != nil {
			t.Fatal(err)
		}
		if _, err := f.tok.GenerateKeyPair(ctx, KeySpec{Type: ECP256, ID: newID, Label: instPending}); err != nil {
			t.Fatal(err)
		}
		e.Step = StepAwaitingCert
		if err := f.journal.Update(e); err != nil {
			t.Fatal(err)
		}
		return f, newID
	}
	t.Run("in-process re-key waiting for the CA", func(t *testing.T) {
		f, _ := setup(t, false)
		res := f.recover(t)
		if res.Outcome != "rolled_back" || len(res.Removed) != 2 {
			t.Fatalf("recover: %+v", res)
		}
		if !bytes.Equal(f.certRaw(t), f.oldDER) {
			t.Fatal("the old certificate is not in place")
		}
	})
	t.Run("two-step re-key waiting for the CA", func(t *testing.T) {
		f, newID := setup(t, true)
		res := f.recover(t)
		if res.Outcome != "pending" || len(res.Removed) != 0 || len(res.Kept) != 2 || !bytes.Equal(res.Kept[0].ID, newID) {
			t.Fatalf("recover: %+v", res)
		}
		if s := f.state(t); s.privs != 2 || s.certs != 1 {
			t.Fatalf("the pending key pair was not kept: %+v", s)
		}
		if e, _ := f.journal.Load(f.serial); e == nil || e.Step != StepAwaitingCert {
			t.Fatal("the pending journal was not kept")
		}
		// Abandoning it removes the pair and the journal.
		ab, err := AbandonRekey(ctx, f.tok, f.journal)
		if err != nil || ab.Outcome != "rolled_back" || len(ab.Removed) != 2 {
			t.Fatalf("abandon: %+v, %v", ab, err)
		}
		f.assertOneUsable(t)
	})
	t.Run("killed while making the key", func(t *testing.T) {
		f := newInstFixture(t, ECP256, "ec")
		newID := []byte{0x0b, 0x04}
		e := &JournalEntry{Serial: f.serial, Mode: Rekey, Step: StepIntent, OldID: f.oldID, NewID: newID,
			OldCertSHA256: f.oldSum(), Label: instLabel, KeyType: ECP256}
		if err := f.journal.Begin(e); err != nil {
			t.Fatal(err)
		}
		// Only the public half made it.
		s, err := f.tok.GenerateKeyPair(ctx, KeySpec{Type: ECP256, ID: newID, Label: instPending})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.tok.Destroy(ctx, s.Handle()); err != nil {
			t.Fatal(err)
		}
		res := f.recover(t)
		if res.Outcome != "rolled_back" || len(res.Removed) != 1 || res.Removed[0].Class != "public_key" {
			t.Fatalf("recover: %+v", res)
		}
		f.assertOneUsable(t)
	})
}

func TestRecoverSweepsGhostsAndOrphansButKeepsWhatIsUsed(t *testing.T) {
	f := newInstFixture(t, ECP256, "ec")
	ctx := context.Background()
	old := f.assertOneUsable(t)
	// An orphan key pair (a renewal that never finished, no journal).
	if _, err := f.tok.GenerateKeyPair(ctx, KeySpec{Type: ECP256, ID: []byte{0xee}, Label: "left over"}); err != nil {
		t.Fatal(err)
	}
	// A public key whose private half is gone.
	half, err := f.tok.GenerateKeyPair(ctx, KeySpec{Type: ECP256, ID: []byte{0xef}, Label: "half"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.tok.Destroy(ctx, half.Handle()); err != nil {
		t.Fatal(err)
	}
	// A ghost certificate: an object without a value.
	ghost := f.createGhostCert(t)
	// A CA certificate without a key, and a copy of the holder's public key
	// under another CKA_ID: both are used, both stay.
	if _, err := f.tok.WriteCertificate(ctx, CertificateSpec{DER: f.ca.cert.Raw, ID: []byte{0xca}, Label: "CA"}); err != nil {
		t.Fatal(err)
	}
	f.env.ImportPubKey(t, f.serial, instUserPIN, instSPKI(t, old.Info.PublicKey), []byte{0x77}, "copy")

	res := f.recover(t)
	removed := map[string]int{}
	for _, o := range res.Removed {
		removed[string(o.Class)+" "+hexOf(o.ID)]++
	}
	want := map[string]int{"private_key ee": 1, "public_key ee": 1, "public_key ef": 1}
	if ghost {
		want["certificate "] = 1
	}
	if len(removed) != len(want) {
		t.Fatalf("removed %v, want %v", removed, want)
	}
	for k, v := range want {
		if removed[k] != v {
			t.Fatalf("removed %v, want %v", removed, want)
		}
	}
	inv, err := f.tok.Objects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Certificates) != 2 || len(inv.PrivateKeys) != 1 || len(inv.PublicKeys) != 2 || len(inv.Ghosts) != 0 {
		t.Fatalf("after recover: %d certificates, %d private keys, %d public keys, %d ghosts", len(inv.Certificates), len(inv.PrivateKeys), len(inv.PublicKeys), len(inv.Ghosts))
	}
}

// createGhostCert makes a certificate object without a value, as a killed
// write leaves one; it reports false when the module refuses to make one.
func (f *instFixture) createGhostCert(t *testing.T) bool {
	t.Helper()
	tok := f.tok
	tok.mu.Lock()
	defer tok.mu.Unlock()
	_, err := tok.lib.ctx.CreateObject(tok.session, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_SUBJECT, []byte{0x30, 0}),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, []byte{}),
	})
	if err != nil {
		t.Logf("SoftHSM2 refuses an empty certificate (%v); the crash test covers ghosts", err)
		return false
	}
	return true
}

func TestRecoverRefusesADamagedJournal(t *testing.T) {
	f := newInstFixture(t, ECP256, "ec")
	ctx := context.Background()
	if _, err := f.tok.GenerateKeyPair(ctx, KeySpec{Type: ECP256, ID: []byte{0xee}, Label: "maybe someone's"}); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(f.journal.Dir(), f.serial+".json")
	if err := os.WriteFile(name, []byte(`{"version": 1, "token_serial": "`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Recover(ctx, f.tok, f.journal.Dir()); err == nil {
		t.Fatal("Recover accepted a damaged journal")
	}
	if s := f.state(t); s.privs != 2 {
		t.Fatal("Recover removed keys without a trustworthy journal")
	}
}

func TestInstallNeedsLoginAndJournal(t *testing.T) {
	f := newInstFixture(t, ECP256, "ec")
	ctx := context.Background()
	renewed := f.ca.renewal(t, f.assertOneUsable(t).Info.PublicKey)
	fresh := instOpenNoLogin(t, f.mod, f.serial)
	if _, err := Install(ctx, fresh, f.request(SameKey, renewed)); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("not logged in: %v", err)
	}
	if _, err := Recover(ctx, fresh, f.journal.Dir()); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("recover not logged in: %v", err)
	}
	req := f.request(SameKey, renewed)
	req.Journal = nil
	if _, err := Install(ctx, f.tok, req); err == nil {
		t.Fatal("install without a journal")
	}
	if _, err := Install(ctx, f.tok, f.request("sideways", renewed)); err == nil {
		t.Fatal("install with an unknown mode")
	}
	if _, err := Install(ctx, f.tok, f.request(SameKey, nil)); !errors.Is(err, ErrCertUnparsable) {
		t.Fatalf("same-key without a certificate: %v", err)
	}
	f.assertOneUsable(t)
}

func TestInstallRefusalsLeaveTheTokenAlone(t *testing.T) {
	f := newInstFixture(t, ECP256, "ec")
	ctx := context.Background()
	pub := f.assertOneUsable(t).Info.PublicKey
	other := instNewKey(t, "ec")
	otherCA := newInstCA(t, "ec", "Other CA")
	otherHolder := instHolder()
	otherHolder.CommonName = "李四"
	cases := []struct {
		name string
		cert []byte
		id   []byte
		want error
	}{
		{"another key pair", f.ca.renewal(t, other.Public()), nil, ErrCertKeyMismatch},
		{"another CA", otherCA.renewal(t, pub), nil, ErrCertChain},
		{"expired", f.ca.issue(t, pub, instHolder(), instNow.AddDate(-1, 0, 0), instNow.AddDate(0, 0, -1)), nil, ErrCertExpired},
		{"another holder", f.ca.issue(t, pub, otherHolder, instNow, instNow.AddDate(1, 0, 0)), nil, ErrHolderMismatch},
		{"garbage", []byte("not a certificate"), nil, ErrCertUnparsable},
		{"the certificate already there", f.oldDER, nil, ErrAlreadyInstalled},
		{"unknown id", f.ca.renewal(t, pub), []byte{0x99}, ErrNoCertificateToReplace},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := f.request(SameKey, c.cert)
			req.ReplaceID = c.id
			if _, err := Install(ctx, f.tok, req); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if !bytes.Equal(f.certRaw(t), f.oldDER) {
				t.Fatal("the token changed")
			}
		})
	}
	t.Run("re-key: the CA answers for another holder", func(t *testing.T) {
		req := f.request(Rekey, nil)
		req.Issuer = IssuerFunc(func(ctx context.Context, csr []byte) ([]byte, error) {
			return f.ca.issue(t, other.Public(), otherHolder, instNow, instNow.AddDate(1, 0, 0)), nil
		})
		if _, err := Install(ctx, f.tok, req); !errors.Is(err, ErrHolderMismatch) {
			t.Fatalf("got %v, want ErrHolderMismatch", err)
		}
		if !bytes.Equal(f.certRaw(t), f.oldDER) {
			t.Fatal("the token changed")
		}
	})
	t.Run("re-key: the CA fails", func(t *testing.T) {
		boom := errors.New("service unavailable")
		req := f.request(Rekey, nil)
		req.Issuer = IssuerFunc(func(ctx context.Context, csr []byte) ([]byte, error) { return nil, boom })
		if _, err := Install(ctx, f.tok, req); !errors.Is(err, boom) {
			t.Fatalf("got %v, want the issuer's error", err)
		}
		if !bytes.Equal(f.certRaw(t), f.oldDER) {
			t.Fatal("the token changed")
		}
	})
	t.Run("re-key: the clerk cancels while the CA works", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		req := f.request(Rekey, nil)
		req.Issuer = IssuerFunc(func(ctx context.Context, csr []byte) ([]byte, error) {
			cancel()
			<-ctx.Done()
			return nil, ctx.Err()
		})
		if _, err := Install(cctx, f.tok, req); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		f.assertOneUsable(t)
		if !bytes.Equal(f.certRaw(t), f.oldDER) {
			t.Fatal("the token changed")
		}
	})
	t.Run("cancelled before it starts", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := Install(cctx, f.tok, f.request(SameKey, f.ca.renewal(t, pub))); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		f.assertOneUsable(t)
	})
	t.Run("re-key: unknown key type", func(t *testing.T) {
		req := f.request(Rekey, nil)
		req.Issuer = f.issuer(t)
		req.KeyType = "dsa-1024"
		if _, err := Install(ctx, f.tok, req); err == nil {
			t.Fatal("an unknown key type was accepted")
		}
		f.assertOneUsable(t)
	})
	t.Run("an install in progress blocks another", func(t *testing.T) {
		e := &JournalEntry{Serial: f.serial, Mode: Rekey, Step: StepIntent, OldID: f.oldID, NewID: []byte{1},
			OldCertSHA256: f.oldSum(), Label: instLabel}
		if err := f.journal.Begin(e); err != nil {
			t.Fatal(err)
		}
		defer f.journal.Remove(f.serial)
		if _, err := Install(ctx, f.tok, f.request(SameKey, f.ca.renewal(t, pub))); !errors.Is(err, ErrInstallInProgress) {
			t.Fatalf("got %v, want ErrInstallInProgress", err)
		}
	})
}

func instSPKI(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }

func instOpenNoLogin(t *testing.T, m *Module, serial string) *Token {
	t.Helper()
	tok, err := m.Open(context.Background(), serial)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tok.Close() })
	return tok
}

// TestRecoverRemovesUnreadableObjects plants what a process killed while
// SoftHSM2 writes an object file leaves behind (a file holding only its
// generation number): every attribute answers CKR_ATTRIBUTE_VALUE_INVALID.
// The inventory lists it as damaged and the rest as usual; Install refuses
// the token and says to run recover, which removes the object.
func TestRecoverRemovesUnreadableObjects(t *testing.T) {
	f := newInstFixture(t, ECP256, "ec")
	ctx := context.Background()
	name := damagetest.PlantRemains(t, f.env.TokenDir, f.serial)
	inv, err := f.tok.Objects(ctx)
	if err != nil {
		t.Fatalf("the planted object made the whole inventory fail: %v", err)
	}
	if len(inv.Damaged) != 1 || !inv.Damaged[0].Remains {
		t.Fatalf("damaged %+v; the test plants the wrong thing", inv.Damaged)
	}
	if len(inv.Certificates) != 1 || !inv.Certificates[0].HasKey() {
		t.Fatalf("the good certificate is not listed with its key: %+v", inv.Certificates)
	}
	_, err = Install(ctx, f.tok, f.request(SameKey, f.ca.renewal(t, f.ca.cert.PublicKey)))
	if !errors.Is(err, ErrDamagedObject) || !strings.Contains(err.Error(), "run recover") {
		t.Fatalf("install on a token with a damaged object: %v, want ErrDamagedObject and advice to run recover", err)
	}
	if e, _ := f.journal.Load(f.serial); e != nil {
		t.Fatal("the refused install left a journal")
	}
	res := f.recover(t)
	if len(res.Removed) != 1 || res.Removed[0].Class != "unreadable" {
		t.Fatalf("recover: %+v", res)
	}
	if !bytes.Equal(f.certRaw(t), f.oldDER) {
		t.Fatal("the certificate is not in place")
	}
	if _, err := os.Stat(name); err == nil {
		t.Fatal("the unreadable object's file is still there")
	}
	if inv, err := f.tok.Objects(ctx); err != nil || len(inv.Damaged) != 0 {
		t.Fatalf("after recover: %v, damaged %+v", err, inv)
	}
}

// TestRecoverKeepsAPairWhoseCertificateHasAnotherID: some vendor tools write
// the certificate under another CKA_ID than its key pair. The pair is not an
// orphan: its public key is the certificate's.
func TestRecoverKeepsAPairWhoseCertificateHasAnotherID(t *testing.T) {
	f := newInstFixture(t, ECP256, "ec")
	ctx := context.Background()
	s, err := f.tok.GenerateKeyPair(ctx, KeySpec{Type: ECP256, ID: []byte{0xb0}, Label: "vendor key"})
	if err != nil {
		t.Fatal(err)
	}
	cert := f.ca.renewal(t, s.Public())
	if _, err := f.tok.WriteCertificate(ctx, CertificateSpec{DER: cert, ID: []byte{0xa0}, Label: "vendor cert"}); err != nil {
		t.Fatal(err)
	}
	res := f.recover(t)
	if len(res.Removed) != 0 {
		t.Fatalf("recover removed %+v", res.Removed)
	}
	if st := f.state(t); st.privs != 2 || st.pubs != 2 || st.certs != 2 {
		t.Fatalf("after recover: %+v", st)
	}
}

// A token pulled out while it is listed is not a token holding nothing:
// Objects says it was removed, and Recover of an interrupted write keeps
// the journal instead of taking the empty listing for a write never made.
func TestRecoverOfAPulledTokenKeepsTheJournal(t *testing.T) {
	f := newInstFixture(t, ECP256, "ec")
	ctx := context.Background()
	oldSum := sha256.Sum256(f.oldDER)
	newSum := sha256.Sum256([]byte("a certificate written before the pull"))
	e := &JournalEntry{Version: journalVersion, Serial: f.serial, Mode: SameKey, Step: StepWritingCert,
		OldID: f.oldID, NewID: f.oldID, OldCertSHA256: oldSum[:], NewCertSHA256: newSum[:], Label: instLabel}
	if err := f.journal.Begin(e); err != nil {
		t.Fatal(err)
	}
	dirs, err := filepath.Glob(filepath.Join(f.env.TokenDir, "*"))
	if err != nil || len(dirs) != 1 {
		t.Fatalf("token directories %v %v", dirs, err)
	}
	pulled := filepath.Join(t.TempDir(), "pulled")
	if err := os.Rename(dirs[0], pulled); err != nil { // SoftHSM2 loses the token
		t.Fatal(err)
	}
	if inv, err := f.tok.Objects(ctx); !errors.Is(err, ErrTokenRemoved) {
		t.Fatalf("objects of a pulled token: %+v, %v; want ErrTokenRemoved", inv, err)
	}
	if res, err := Recover(ctx, f.tok, f.journal.Dir()); err == nil {
		t.Fatalf("recover of a pulled token: %+v", res)
	}
	if got, err := f.journal.Load(f.serial); err != nil || got == nil {
		t.Fatalf("the journal went with the pulled token: %v, %v", got, err)
	}
}

// A key whose certificate cannot be read is not an orphan: an unreadable
// object that is not an interrupted write's remains may be its certificate.
func TestDamagedObjectsProtectKeysTheyMayOwn(t *testing.T) {
	id := []byte{0x0b, 0x02}
	cases := []struct {
		name    string
		damaged []DamagedObject
		keep    bool
	}{
		{"none", nil, false},
		{"remains only", []DamagedObject{{Object: Object{ID: id}, Remains: true}}, false},
		{"same CKA_ID", []DamagedObject{{Object: Object{ID: id}, Reason: "CKR_FUNCTION_FAILED"}}, true},
		{"CKA_ID unreadable", []DamagedObject{{Reason: "CKR_FUNCTION_FAILED"}}, true},
		{"another CKA_ID", []DamagedObject{{Object: Object{ID: []byte{0x0c}}, Reason: "CKR_FUNCTION_FAILED"}}, false},
	}
	for _, c := range cases {
		if got := damagedMayOwn(c.damaged, id) != ""; got != c.keep {
			t.Errorf("%s: kept %v, want %v", c.name, got, c.keep)
		}
	}
}
