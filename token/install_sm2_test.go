package token

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/asn1"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	"github.com/miekg/pkcs11"
)

// TestInstallSameKeySM2 renews an SM2 (国密) certificate for an SM2 key pair
// on the token. SoftHSM2 cannot make or use SM2 keys, but it stores them, so
// the key pair is imported; a same-key install never signs with it.
func TestInstallSameKeySM2(t *testing.T) {
	f := newInstFixture(t, ECP256, "sm2")
	ctx := context.Background()
	key, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := []byte{0x5a, 0x02}
	f.importSM2(t, key, id)
	old := f.ca.renewal(t, &key.PublicKey)
	if _, err := f.tok.WriteCertificate(ctx, CertificateSpec{DER: old, ID: id, Label: "国密证书"}); err != nil {
		t.Fatal(err)
	}
	renewed := f.ca.issue(t, &key.PublicKey, instHolder(), instNow, instNow.AddDate(2, 0, 0))
	req := f.request(SameKey, renewed)
	req.ReplaceID = id
	res, err := Install(ctx, f.tok, req)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.NewID, id) || res.Label != "国密证书" {
		t.Fatalf("result %+v", res)
	}
	inv, err := f.tok.Objects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, c := range inv.Certificates {
		if bytes.Equal(c.ID, id) {
			if found || !bytes.Equal(c.Info.Raw, renewed) || !c.HasKey() || c.Info.KeyAlgorithm != "SM2" || c.Info.SignatureAlgorithm != "SM2-SM3" {
				t.Fatalf("SM2 certificate on the token: %+v", c.Info)
			}
			found = true
		}
	}
	if !found || len(inv.Certificates) != 2 || len(inv.Ghosts)+len(inv.OrphanKeys) != 0 {
		t.Fatalf("after the SM2 install: found %v, %d certificates, %d ghosts, %d orphans", found, len(inv.Certificates), len(inv.Ghosts), len(inv.OrphanKeys))
	}
}

var instOIDSM2 = asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 301}

// importSM2 writes an SM2 key pair with C_CreateObject (CKK_EC on the SM2 curve).
func (f *instFixture) importSM2(t *testing.T, key *sm2.PrivateKey, id []byte) {
	t.Helper()
	params, _ := asn1.Marshal(instOIDSM2)
	point, _ := asn1.Marshal(append([]byte{4}, append(pad32(key.X.Bytes()), pad32(key.Y.Bytes())...)...))
	tok := f.tok
	tok.mu.Lock()
	defer tok.mu.Unlock()
	common := func(class uint) []*pkcs11.Attribute {
		return []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_ID, id),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, "国密证书"),
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params),
		}
	}
	priv := append(common(pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, pad32(key.D.Bytes())))
	pub := append(common(pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, point))
	for _, tmpl := range [][]*pkcs11.Attribute{priv, pub} {
		if _, err := tok.lib.ctx.CreateObject(tok.session, tmpl); err != nil {
			t.Fatalf("SoftHSM2 refused the SM2 key: %v", err)
		}
	}
}

func pad32(b []byte) []byte { return append(make([]byte, 32-len(b)), b...) }
