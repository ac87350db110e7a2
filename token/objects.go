package token

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"math/big"
	"sort"

	"github.com/emmansun/gmsm/sm2"
	"github.com/miekg/pkcs11"
)

// ObjectHandle names an object within the open Token it was read from.
type ObjectHandle uint

// ObjectClass is what kind of object a token object is (its CKA_CLASS).
type ObjectClass string

// Object classes.
const (
	ClassCertificate ObjectClass = "certificate"
	ClassPrivateKey  ObjectClass = "private_key"
	ClassPublicKey   ObjectClass = "public_key"
	ClassData        ObjectClass = "data"
	ClassOther       ObjectClass = "other"
	// ClassUnreadable: a DamagedObject whose class does not answer.
	ClassUnreadable ObjectClass = "unreadable"
)

// Object is what every token object has in common.
type Object struct {
	Handle ObjectHandle `json:"-"`
	Class  ObjectClass  `json:"class"`
	ID     []byte       `json:"-"`
	Label  string       `json:"label"`
}

// IDHex is the CKA_ID in lower-case hex.
func (o Object) IDHex() string { return hex.EncodeToString(o.ID) }

// Certificate is an X.509 certificate object and, when it parses, its
// contents. Key pair matching: a key belongs to the certificate when its
// CKA_ID equals the certificate's and its public key (where the token shows
// it) is the certificate's.
type Certificate struct {
	Object
	Info       *CertInfo // nil when the value does not parse
	ParseError string    // why Info is nil
	PrivateKey *Key      // matching private key (visible only when logged in)
	PublicKey  *Key      // matching public key object
	MatchedBy  KeyMatch  // how PrivateKey was found
}

// HasKey reports whether a matching private key was found.
func (c *Certificate) HasKey() bool { return c.PrivateKey != nil }

// KeyType is the kind of a key object (its CKA_KEY_TYPE).
type KeyType string

// Key types.
const (
	KeyRSA   KeyType = "RSA"
	KeyEC    KeyType = "EC" // an EC key on a curve other than SM2's
	KeySM2   KeyType = "SM2"
	KeyOther KeyType = "other"
)

// Key is a private or public key object.
type Key struct {
	Object
	KeyType KeyType `json:"key_type"`
	Bits    int     `json:"bits"`
	Curve   string  `json:"curve,omitempty"`
	// Public is the key's public half: read from the object, or for an
	// EC private key (which does not show its point) taken from the
	// certificate it was matched to; nil when unknown.
	Public    crypto.PublicKey `json:"-"`
	Sensitive bool             `json:"sensitive"`
	NoExtract bool             `json:"non_extractable"`

	// noMaterial: an RSA or EC public key object without modulus or
	// point, as an interrupted key generation or write leaves it.
	noMaterial bool
}

// Inventory is every object the session can see, sorted and matched.
type Inventory struct {
	Serial       string
	LoggedIn     bool // private keys are only visible after Login
	Certificates []*Certificate
	PrivateKeys  []*Key
	PublicKeys   []*Key
	// Ghosts are objects without content: certificates with an empty
	// CKA_VALUE and public keys without key material, as left by a write
	// that was interrupted.
	Ghosts []Object
	// OrphanKeys are keys no certificate uses: pairs made for a renewal
	// that did not finish, and public keys whose private key is gone.
	// Without Login only public keys can be judged.
	OrphanKeys []*Key
	Other      []Object
	// Damaged are objects the token lists but whose attributes cannot be
	// read. They are reported here, one by one, and the rest of the
	// inventory is complete without them.
	Damaged []DamagedObject
}

// DamagedObject is an object the token lists but cannot read: its
// attributes answer CKR_ATTRIBUTE_VALUE_INVALID, CKR_OBJECT_HANDLE_INVALID,
// CKR_FUNCTION_FAILED or CKR_DATA_INVALID. (An object that another program
// deletes while the token is listed answers CKR_OBJECT_HANDLE_INVALID to
// everything: it is left out, not reported.) Object holds what could still be
// read: Class is ClassUnreadable when not even the class answers, ID and Label
// are empty when they do not. (A certificate whose value is read but does
// not parse is not damaged in this sense: it is a Certificate with a
// ParseError.)
type DamagedObject struct {
	Object
	Reason string // the module's answer, for the log and the curious
	// Remains: none of class, id and label can be read
	// (CKR_ATTRIBUTE_VALUE_INVALID), as a process killed while SoftHSM2
	// writes an object file leaves it. Such an object is no one's
	// certificate or key any more, and Recover removes it. Other damaged
	// objects are left alone: they may be a vendor module's own.
	Remains bool
}

// CertificatesWithoutKey lists certificates for which no private key was
// found. Meaningful only when LoggedIn.
func (inv *Inventory) CertificatesWithoutKey() []*Certificate {
	var out []*Certificate
	for _, c := range inv.Certificates {
		if !c.HasKey() {
			out = append(out, c)
		}
	}
	return out
}

// Objects reads every object the session can see: certificates need no
// login, private keys do.
func (t *Token) Objects(ctx context.Context) (*Inventory, error) {
	if err := t.lock(ctx); err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	// One search (SoftHSM2 re-reads each object's file per search and per
	// attribute call), then one call per certificate.
	all, err := t.findLocked(nil)
	if err != nil {
		return nil, err
	}
	inv := &Inventory{Serial: t.serial, LoggedIn: t.loggedIn}
	vanished := 0
	for _, h := range all {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := t.readObjectLocked(inv, h); err != nil {
			if !objectDamage(err) {
				return nil, err
			}
			if d, gone := t.damagedLocked(h, err); !gone {
				inv.Damaged = append(inv.Damaged, d)
			} else {
				vanished++
			}
		}
	}
	// A token pulled out while listed shows no objects, or objects that
	// vanish as they are read: either would read as a token holding
	// nothing (and Recover would take an interrupted write for one that
	// never wrote). Objects that vanish from a present token were deleted
	// by another program.
	if (vanished > 0 || len(all) == 0) && !t.presentLocked() {
		return nil, fmt.Errorf("token %s: %w", t.serial, ErrTokenRemoved)
	}
	inv.match()
	return inv, nil
}

// presentLocked reports whether the token is still in its slot, by its
// serial (SoftHSM2 keeps answering for a token whose files went away, but
// no longer lists it as initialised with that serial).
func (t *Token) presentLocked() bool {
	ti, err := t.lib.ctx.GetTokenInfo(t.slot)
	if err != nil || ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
		return false
	}
	return tokenInfo(t.lib.path, t.slot, ti).Serial == t.serial
}

// Certificates reads only the certificate objects (no login needed).
// Objects that cannot be read are left out; Objects reports them.
func (t *Token) Certificates(ctx context.Context) ([]*Certificate, error) {
	if err := t.lock(ctx); err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	handles, err := t.findLocked([]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE)})
	if err != nil {
		return nil, err
	}
	inv := &Inventory{Serial: t.serial}
	for _, h := range handles {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := t.readCertLocked(inv, h); err != nil && !objectDamage(err) {
			return nil, err
		}
	}
	inv.sort()
	return inv.Certificates, nil
}

// MaxObjects bounds how many objects one listing reads (USB tokens hold a
// few dozen; a module answering more is broken).
const MaxObjects = 10000

func (t *Token) findLocked(tmpl []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	c := t.lib.ctx
	if err := c.FindObjectsInit(t.session, tmpl); err != nil {
		return nil, fmt.Errorf("token %s: %w", t.serial, p11err("find objects", err))
	}
	var all []pkcs11.ObjectHandle
	for {
		hs, _, err := c.FindObjects(t.session, 256)
		if err != nil {
			_ = c.FindObjectsFinal(t.session)
			return nil, fmt.Errorf("token %s: %w", t.serial, p11err("find objects", err))
		}
		all = append(all, hs...)
		if len(all) > MaxObjects {
			_ = c.FindObjectsFinal(t.session)
			return nil, fmt.Errorf("token %s: more than %d objects", t.serial, MaxObjects)
		}
		if len(hs) < 256 {
			break
		}
	}
	if err := c.FindObjectsFinal(t.session); err != nil {
		return nil, fmt.Errorf("token %s: %w", t.serial, p11err("find objects", err))
	}
	return all, nil
}

// attrs reads the given attributes; attributes the object does not have or
// keeps secret come back empty. It asks for all at once (one module call)
// and falls back to one at a time when the module refuses the batch.
func (t *Token) attrsLocked(h pkcs11.ObjectHandle, types ...uint) (map[uint][]byte, error) {
	tmpl := make([]*pkcs11.Attribute, len(types))
	for i, ty := range types {
		tmpl[i] = pkcs11.NewAttribute(ty, nil)
	}
	out := make(map[uint][]byte, len(types))
	got, err := t.lib.ctx.GetAttributeValue(t.session, h, tmpl)
	if err == nil {
		for _, a := range got {
			out[a.Type] = a.Value
		}
		return out, nil
	}
	if !isCode(err, pkcs11.CKR_ATTRIBUTE_TYPE_INVALID) && !isCode(err, pkcs11.CKR_ATTRIBUTE_SENSITIVE) {
		return nil, fmt.Errorf("token %s: %w", t.serial, p11err("get attribute value", err))
	}
	for _, ty := range types {
		got, err := t.lib.ctx.GetAttributeValue(t.session, h, []*pkcs11.Attribute{pkcs11.NewAttribute(ty, nil)})
		if err != nil {
			if isCode(err, pkcs11.CKR_ATTRIBUTE_TYPE_INVALID) || isCode(err, pkcs11.CKR_ATTRIBUTE_SENSITIVE) {
				continue
			}
			return nil, fmt.Errorf("token %s: %w", t.serial, p11err("get attribute value", err))
		}
		for _, a := range got {
			out[a.Type] = a.Value
		}
	}
	return out, nil
}

func ulong(b []byte) uint {
	if len(b) == 0 {
		return ^uint(0)
	}
	var v uint
	// Attributes come in the host's byte order; miekg encodes CK_ULONG as
	// little-endian on the platforms it supports.
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint(b[i])
	}
	return v
}

func boolAttr(b []byte) bool { return len(b) > 0 && b[0] != 0 }

// readCertLocked reads a certificate object (one module call): a ghost
// when its value is empty.
func (t *Token) readCertLocked(inv *Inventory, h pkcs11.ObjectHandle) error {
	a, err := t.attrsLocked(h, pkcs11.CKA_ID, pkcs11.CKA_LABEL, pkcs11.CKA_VALUE)
	if err != nil {
		return err
	}
	t.addCert(inv, h, a)
	return nil
}

// addCert adds a certificate object read as attributes to inv.
func (t *Token) addCert(inv *Inventory, h pkcs11.ObjectHandle, a map[uint][]byte) {
	obj := Object{Handle: ObjectHandle(h), Class: ClassCertificate, ID: a[pkcs11.CKA_ID], Label: decodeText(a[pkcs11.CKA_LABEL]).Text}
	if len(a[pkcs11.CKA_VALUE]) == 0 {
		inv.Ghosts = append(inv.Ghosts, obj)
		return
	}
	c := &Certificate{Object: obj}
	if ci, err := ParseCertificate(a[pkcs11.CKA_VALUE]); err != nil {
		c.ParseError = err.Error()
	} else {
		c.Info = ci
	}
	inv.Certificates = append(inv.Certificates, c)
}

func (t *Token) readObjectLocked(inv *Inventory, h pkcs11.ObjectHandle) error {
	// Most objects are certificates: ask for a certificate's attributes
	// at once; other classes refuse CKA_VALUE (invalid or sensitive) and
	// are read class by class.
	first := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, nil), pkcs11.NewAttribute(pkcs11.CKA_ID, nil),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil), pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)}
	if got, err := t.lib.ctx.GetAttributeValue(t.session, h, first); err == nil {
		a := map[uint][]byte{}
		for _, at := range got {
			a[at.Type] = at.Value
		}
		if ulong(a[pkcs11.CKA_CLASS]) == pkcs11.CKO_CERTIFICATE {
			t.addCert(inv, h, a)
			return nil
		}
	} else if !isCode(err, pkcs11.CKR_ATTRIBUTE_TYPE_INVALID) && !isCode(err, pkcs11.CKR_ATTRIBUTE_SENSITIVE) {
		return fmt.Errorf("token %s: %w", t.serial, p11err("get attribute value", err))
	}
	a, err := t.attrsLocked(h, pkcs11.CKA_CLASS, pkcs11.CKA_ID, pkcs11.CKA_LABEL)
	if err != nil {
		return err
	}
	obj := Object{Handle: ObjectHandle(h), ID: a[pkcs11.CKA_ID], Label: decodeText(a[pkcs11.CKA_LABEL]).Text}
	switch ulong(a[pkcs11.CKA_CLASS]) {
	case pkcs11.CKO_CERTIFICATE:
		return t.readCertLocked(inv, h)
	case pkcs11.CKO_PRIVATE_KEY, pkcs11.CKO_PUBLIC_KEY:
		private := ulong(a[pkcs11.CKA_CLASS]) == pkcs11.CKO_PRIVATE_KEY
		obj.Class = ClassPublicKey
		if private {
			obj.Class = ClassPrivateKey
		}
		k, err := t.readKeyLocked(h, obj, private)
		if err != nil {
			return err
		}
		if !private && k.noMaterial {
			inv.Ghosts = append(inv.Ghosts, obj)
			return nil
		}
		if private {
			inv.PrivateKeys = append(inv.PrivateKeys, k)
		} else {
			inv.PublicKeys = append(inv.PublicKeys, k)
		}
	case pkcs11.CKO_DATA:
		obj.Class = ClassData
		inv.Other = append(inv.Other, obj)
	default:
		obj.Class = ClassOther
		inv.Other = append(inv.Other, obj)
	}
	return nil
}

// objectDamage reports whether err, from reading one object, is about that
// object only (the token, the session and the other objects are fine).
func objectDamage(err error) bool {
	for _, code := range []uint{pkcs11.CKR_ATTRIBUTE_VALUE_INVALID, pkcs11.CKR_OBJECT_HANDLE_INVALID,
		pkcs11.CKR_FUNCTION_FAILED, pkcs11.CKR_DATA_INVALID} {
		if isCode(err, code) {
			return true
		}
	}
	return false
}

// damagedLocked describes an object that failed with err: it asks for the
// class, id and label one at a time and keeps what answers. gone: all three
// answer CKR_OBJECT_HANDLE_INVALID, the object was deleted (by another
// program) while the token was listed, and is not there to report.
func (t *Token) damagedLocked(h pkcs11.ObjectHandle, err error) (d DamagedObject, gone bool) {
	d = DamagedObject{Object: Object{Handle: ObjectHandle(h), Class: ClassUnreadable}, Reason: err.Error()}
	invalid, vanished := 0, 0
	for _, ty := range []uint{pkcs11.CKA_CLASS, pkcs11.CKA_ID, pkcs11.CKA_LABEL} {
		got, aerr := t.lib.ctx.GetAttributeValue(t.session, h, []*pkcs11.Attribute{pkcs11.NewAttribute(ty, nil)})
		if aerr != nil || len(got) != 1 {
			switch {
			case isCode(aerr, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID):
				invalid++
			case isCode(aerr, pkcs11.CKR_OBJECT_HANDLE_INVALID):
				vanished++
			}
			continue
		}
		switch v := got[0].Value; ty {
		case pkcs11.CKA_CLASS:
			if len(v) > 0 {
				d.Class = className(ulong(v))
			}
		case pkcs11.CKA_ID:
			d.ID = v
		case pkcs11.CKA_LABEL:
			d.Label = decodeText(v).Text
		}
	}
	d.Remains = invalid == 3
	return d, vanished == 3
}

// className names a CKA_CLASS value as Object.Class does.
func className(c uint) ObjectClass {
	switch c {
	case pkcs11.CKO_CERTIFICATE:
		return ClassCertificate
	case pkcs11.CKO_PRIVATE_KEY:
		return ClassPrivateKey
	case pkcs11.CKO_PUBLIC_KEY:
		return ClassPublicKey
	case pkcs11.CKO_DATA:
		return ClassData
	}
	return ClassOther
}

// CKK_SM2 is the key type GM/T 0016-style PKCS#11 modules commonly use for
// SM2 keys (vendor-defined; there is no standard value).
const ckkSM2 = pkcs11.CKK_VENDOR_DEFINED + 0x10001

func (t *Token) readKeyLocked(h pkcs11.ObjectHandle, obj Object, private bool) (*Key, error) {
	// Two calls of attributes valid for the class and key type, so the
	// module answers each batch at once.
	base := []uint{pkcs11.CKA_KEY_TYPE}
	if private {
		base = append(base, pkcs11.CKA_SENSITIVE, pkcs11.CKA_EXTRACTABLE)
	}
	a, err := t.attrsLocked(h, base...)
	if err != nil {
		return nil, err
	}
	var more []uint
	switch ulong(a[pkcs11.CKA_KEY_TYPE]) {
	case pkcs11.CKK_RSA:
		more = []uint{pkcs11.CKA_MODULUS, pkcs11.CKA_PUBLIC_EXPONENT}
	case pkcs11.CKK_EC, ckkSM2:
		more = []uint{pkcs11.CKA_EC_PARAMS}
		if !private {
			more = append(more, pkcs11.CKA_EC_POINT)
		}
	}
	if len(more) > 0 {
		m, err := t.attrsLocked(h, more...)
		if err != nil {
			return nil, err
		}
		for k, v := range m {
			a[k] = v
		}
	}
	k := &Key{Object: obj, Sensitive: boolAttr(a[pkcs11.CKA_SENSITIVE]), NoExtract: len(a[pkcs11.CKA_EXTRACTABLE]) > 0 && !boolAttr(a[pkcs11.CKA_EXTRACTABLE])}
	switch ulong(a[pkcs11.CKA_KEY_TYPE]) {
	case pkcs11.CKK_RSA:
		k.KeyType = KeyRSA
		k.noMaterial = len(a[pkcs11.CKA_MODULUS]) == 0
		if n := a[pkcs11.CKA_MODULUS]; len(n) > 0 {
			nb := new(big.Int).SetBytes(n)
			k.Bits = nb.BitLen()
			if e := new(big.Int).SetBytes(a[pkcs11.CKA_PUBLIC_EXPONENT]); e.IsInt64() && e.Int64() > 0 && e.Int64() < 1<<31 {
				k.Public = &rsa.PublicKey{N: nb, E: int(e.Int64())}
			}
		}
	case pkcs11.CKK_EC, ckkSM2:
		k.KeyType = KeyEC
		k.noMaterial = len(a[pkcs11.CKA_EC_POINT]) == 0
		curve := curveFromParams(a[pkcs11.CKA_EC_PARAMS])
		if curve != nil {
			k.Curve = curve.Params().Name
			k.Bits = curve.Params().BitSize
			if curve == sm2.P256() {
				k.KeyType, k.Curve = KeySM2, "SM2"
			}
			if !private {
				k.Public = ecPoint(curve, a[pkcs11.CKA_EC_POINT])
			}
		}
	default:
		k.KeyType = KeyOther
	}
	return k, nil
}

var (
	oidP256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384 = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	oidP521 = asn1.ObjectIdentifier{1, 3, 132, 0, 35}
	oidSM2  = asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 301}
)

func curveFromParams(params []byte) elliptic.Curve {
	var oid asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(params, &oid); err != nil {
		return nil
	}
	switch {
	case oid.Equal(oidP256):
		return elliptic.P256()
	case oid.Equal(oidP384):
		return elliptic.P384()
	case oid.Equal(oidP521):
		return elliptic.P521()
	case oid.Equal(oidSM2):
		return sm2.P256()
	}
	return nil
}

func curveOID(c elliptic.Curve) (asn1.ObjectIdentifier, bool) {
	switch c {
	case elliptic.P256():
		return oidP256, true
	case elliptic.P384():
		return oidP384, true
	case elliptic.P521():
		return oidP521, true
	}
	return nil, false
}

// ecPoint decodes CKA_EC_POINT: an uncompressed point, wrapped in a DER
// OCTET STRING as the standard says, or raw as some modules send it.
func ecPoint(curve elliptic.Curve, b []byte) *ecdsa.PublicKey {
	size := (curve.Params().BitSize + 7) / 8
	raw := b
	var inner []byte
	if rest, err := asn1.Unmarshal(b, &inner); err == nil && len(rest) == 0 && len(inner) == 1+2*size {
		raw = inner
	}
	if len(raw) != 1+2*size || raw[0] != 4 {
		return nil
	}
	var k *ecdsa.PublicKey
	var err error
	if curve == sm2.P256() {
		k, err = sm2.ParseUncompressedPublicKey(raw)
	} else {
		k, err = ecdsa.ParseUncompressedPublicKey(curve, raw)
	}
	if err != nil {
		return nil
	}
	return k
}

// match pairs certificates with keys and collects orphans. A key belongs
// to a certificate when their CKA_IDs are equal (and the public keys too,
// where both are known); failing that, when the public keys are equal:
// some middleware gives a certificate and its key different IDs.
func (inv *Inventory) match() {
	inv.sort()
	// EC private keys hide their point: take it from the public key object
	// with the same CKA_ID, so they can be matched by key as well.
	for _, k := range inv.PrivateKeys {
		if k.Public != nil || len(k.ID) == 0 {
			continue
		}
		for _, p := range inv.PublicKeys {
			if bytes.Equal(p.ID, k.ID) && p.Public != nil && p.KeyType == k.KeyType {
				k.Public = p.Public
				break
			}
		}
	}
	usedPriv := map[*Key]bool{}
	usedPub := map[*Key]bool{}
	for _, c := range inv.Certificates {
		var certPub crypto.PublicKey
		if c.Info != nil {
			certPub = c.Info.PublicKey
		}
		pick := func(keys []*Key) (*Key, KeyMatch) {
			for _, k := range keys {
				if how := matchKey(c, certPub, k); how != "" {
					return k, how
				}
			}
			for _, k := range keys {
				if certPub != nil && k.Public != nil && samePublicKey(certPub, k.Public) {
					return k, MatchedByKey
				}
			}
			return nil, ""
		}
		if k, _ := pick(inv.PublicKeys); k != nil {
			c.PublicKey = k
			usedPub[k] = true
		}
		if k, how := pick(inv.PrivateKeys); k != nil {
			c.PrivateKey, c.MatchedBy = k, how
			usedPriv[k] = true
			if k.Public == nil {
				// An EC private key without a public key object: it
				// matched by CKA_ID; take the certificate's point.
				k.Public = certPub
			}
		}
	}
	for _, k := range inv.PrivateKeys {
		if !usedPriv[k] {
			inv.OrphanKeys = append(inv.OrphanKeys, k)
		}
	}
	for _, k := range inv.PublicKeys {
		if !usedPub[k] {
			inv.OrphanKeys = append(inv.OrphanKeys, k)
		}
	}
}

// KeyMatch is how a certificate's private key was found (Certificate.MatchedBy).
type KeyMatch string

// Ways a key is matched to a certificate.
const (
	MatchedByIDAndKey KeyMatch = "id_and_key" // same CKA_ID and the same public key
	MatchedByID       KeyMatch = "id"         // same CKA_ID; the token hides one of the public keys
	MatchedByKey      KeyMatch = "key"        // different CKA_IDs, the same public key
)

// matchKey: same CKA_ID (both non-empty), and the same public key when both
// sides show one; with an unparsable certificate or key material the token
// hides, the CKA_ID decides. It returns how, or "" for no match.
func matchKey(c *Certificate, certPub crypto.PublicKey, k *Key) KeyMatch {
	if len(c.ID) == 0 || !bytes.Equal(c.ID, k.ID) {
		return ""
	}
	if certPub != nil && k.Public != nil {
		if samePublicKey(certPub, k.Public) {
			return MatchedByIDAndKey
		}
		return ""
	}
	return MatchedByID
}

// sort orders objects by CKA_ID, then label, then handle, so listings are
// the same from run to run (handles are not).
func (inv *Inventory) sort() {
	less := func(a, b Object) bool {
		if c := bytes.Compare(a.ID, b.ID); c != 0 {
			return c < 0
		}
		if a.Label != b.Label {
			return a.Label < b.Label
		}
		return a.Handle < b.Handle
	}
	sort.SliceStable(inv.Certificates, func(i, j int) bool { return less(inv.Certificates[i].Object, inv.Certificates[j].Object) })
	sort.SliceStable(inv.PrivateKeys, func(i, j int) bool { return less(inv.PrivateKeys[i].Object, inv.PrivateKeys[j].Object) })
	sort.SliceStable(inv.PublicKeys, func(i, j int) bool { return less(inv.PublicKeys[i].Object, inv.PublicKeys[j].Object) })
	sort.SliceStable(inv.Ghosts, func(i, j int) bool { return less(inv.Ghosts[i], inv.Ghosts[j]) })
	sort.SliceStable(inv.Other, func(i, j int) bool { return less(inv.Other[i], inv.Other[j]) })
	sort.SliceStable(inv.Damaged, func(i, j int) bool { return less(inv.Damaged[i].Object, inv.Damaged[j].Object) })
}
