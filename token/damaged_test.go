package token

import (
	"context"
	"encoding/asn1"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/ukeyrenew/ukeyrenew/token/damagetest"
)

// TestDamagedObjectsAreListedOneByOne: a token with a good certificate, a
// certificate whose value was corrupted on the token, one whose object file
// lost its CKA_CLASS record and an interrupted write's remains (the last two
// cannot be read at all). The inventory lists the good certificate with its
// key pair, the corrupted one with its parse error and the unreadable
// objects in Damaged; nothing fails for the whole token. Recover removes the
// unreadable objects and keeps the rest.
func TestDamagedObjectsAreListedOneByOne(t *testing.T) {
	env, m, serials := openEnv(t, "damaged")
	serial := serials[0]
	tok := openToken(t, m, serial)
	ctx := context.Background()
	login(t, tok)
	s, err := tok.GenerateKeyPair(ctx, KeySpec{Type: ECP256, ID: []byte{1}, Label: "good"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tok.WriteCertificate(ctx, CertificateSpec{DER: selfSign(t, s, "好证书", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)), ID: []byte{1}, Label: "good"}); err != nil {
		t.Fatal(err)
	}
	bad := softCert(t, rawName(t, asn1.TagUTF8String, "坏公司", "坏"), 2, time.Now().Add(-day), time.Now().Add(day))
	if _, err := tok.WriteCertificate(ctx, CertificateSpec{DER: bad, ID: []byte{2}, Label: "corrupted"}); err != nil {
		t.Fatal(err)
	}
	damagetest.CorruptValue(t, env.TokenDir, serial, bad)
	torn := softCert(t, rawName(t, asn1.TagUTF8String, "撕裂公司", "撕"), 3, time.Now().Add(-day), time.Now().Add(day))
	if _, err := tok.WriteCertificate(ctx, CertificateSpec{DER: torn, ID: []byte{3}, Label: "torn"}); err != nil {
		t.Fatal(err)
	}
	damagetest.DropClass(t, env.TokenDir, serial, torn)
	remains := damagetest.PlantRemains(t, env.TokenDir, serial)

	check := func(t *testing.T, inv *Inventory, wantDamaged int) {
		t.Helper()
		if len(inv.Certificates) != 2 {
			t.Fatalf("certificates %d, want 2 (the good and the corrupted one)", len(inv.Certificates))
		}
		good, corrupted := inv.Certificates[0], inv.Certificates[1]
		if good.Info == nil || good.Info.Subject.CommonName != "好证书" || good.PublicKey == nil {
			t.Errorf("good certificate: %+v", good)
		}
		if inv.LoggedIn && !good.HasKey() {
			t.Error("the good certificate lost its private key")
		}
		if corrupted.Info != nil || corrupted.ParseError == "" || corrupted.Label != "corrupted" {
			t.Errorf("corrupted certificate: info %v, parse error %q, label %q", corrupted.Info, corrupted.ParseError, corrupted.Label)
		}
		if len(inv.Damaged) != wantDamaged {
			t.Fatalf("damaged %+v, want %d", inv.Damaged, wantDamaged)
		}
		if wantDamaged == 0 {
			return
		}
		for _, d := range inv.Damaged {
			if !d.Remains || d.Class != "unreadable" || d.Handle == 0 || len(d.ID) != 0 || !strings.Contains(d.Reason, "CKR_ATTRIBUTE_VALUE_INVALID") {
				t.Errorf("damaged object %+v", d)
			}
		}
	}
	inv, err := tok.Objects(ctx)
	if err != nil {
		t.Fatalf("one damaged object made the inventory fail: %v", err)
	}
	check(t, inv, 2)

	// Without a PIN, through another session: the same picture.
	other, err := m.Open(ctx, serial)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	inv, err = other.Objects(ctx)
	if err != nil {
		t.Fatalf("not logged in: %v", err)
	}
	check(t, inv, 2)
	certs, err := other.Certificates(ctx)
	if err != nil || len(certs) != 2 {
		t.Fatalf("Certificates: %d, %v; want the 2 that read", len(certs), err)
	}

	res, err := Recover(ctx, tok, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Removed) != 2 || res.Removed[0].Class != "unreadable" || res.Removed[1].Class != "unreadable" {
		t.Errorf("recover removed %+v, want the two unreadable objects only", res.Removed)
	}
	if len(res.Kept) != 1 || !strings.Contains(res.Kept[0].Reason, "does not parse") {
		t.Errorf("recover kept %+v, want the corrupted certificate", res.Kept)
	}
	if _, err := os.Stat(remains); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the remains' file: %v", err)
	}
	inv, err = tok.Objects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check(t, inv, 0)
}

// TestDamagedLockedTellsAVanishedObject: an object deleted (by another
// program) between the search and the read answers
// CKR_OBJECT_HANDLE_INVALID to everything; it is gone, not damaged.
func TestDamagedLockedTellsAVanishedObject(t *testing.T) {
	_, m, serials := openEnv(t, "vanish")
	tok := openToken(t, m, serials[0])
	ctx := context.Background()
	login(t, tok)
	c, err := tok.WriteCertificate(ctx, CertificateSpec{DER: softCert(t, rawName(t, asn1.TagUTF8String, "o", "cn"), 9,
		time.Now().Add(-day), time.Now().Add(day)), ID: []byte{9}, Label: "soon gone"})
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.lock(ctx); err != nil {
		t.Fatal(err)
	}
	d, gone := tok.damagedLocked(pkcs11.ObjectHandle(c.Handle), errors.New("first read failed"))
	tok.mu.Unlock()
	if gone || d.Class != "certificate" || d.Label != "soon gone" || string(d.ID) != "\x09" || d.Remains {
		t.Errorf("a readable object: %+v gone %v", d, gone)
	}
	if err := tok.Destroy(ctx, c.Handle); err != nil {
		t.Fatal(err)
	}
	if err := tok.lock(ctx); err != nil {
		t.Fatal(err)
	}
	d, gone = tok.damagedLocked(pkcs11.ObjectHandle(c.Handle), errors.New("first read failed"))
	tok.mu.Unlock()
	if !gone || d.Remains {
		t.Errorf("a deleted object: %+v gone %v, want gone", d, gone)
	}
}
