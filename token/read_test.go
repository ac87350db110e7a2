package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/miekg/pkcs11"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

var (
	oidCN = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidO  = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidC  = asn1.ObjectIdentifier{2, 5, 4, 6}
)

// rawName encodes a name whose O and CN use the given ASN.1 string tag.
func rawName(t *testing.T, tag int, o, cn string) []byte {
	t.Helper()
	enc := func(s string) []byte {
		if tag == asn1.TagBMPString {
			var b []byte
			for _, u := range utf16.Encode([]rune(s)) {
				b = append(b, byte(u>>8), byte(u))
			}
			return b
		}
		return []byte(s)
	}
	rdn := pkix.RDNSequence{
		{{Type: oidC, Value: asn1.RawValue{Tag: asn1.TagPrintableString, Bytes: []byte("CN")}}},
		{{Type: oidO, Value: asn1.RawValue{Tag: tag, Bytes: enc(o)}}},
		{{Type: oidCN, Value: asn1.RawValue{Tag: tag, Bytes: enc(cn)}}},
	}
	der, err := asn1.Marshal(rdn)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// softCert makes a self-signed ECDSA certificate with a software key.
func softCert(t *testing.T, rawSubject []byte, serial int64, notBefore, notAfter time.Time) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), RawSubject: rawSubject,
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestHolderStringTypes(t *testing.T) {
	nb, na := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name      string
		tag       int
		o, cn     string
		wantHoler string
	}{
		{"UTF8String", asn1.TagUTF8String, "深圳市某某科技有限公司", "张三", "深圳市某某科技有限公司 / 张三"},
		{"BMPString", asn1.TagBMPString, "北京测试有限公司", "李四", "北京测试有限公司 / 李四"},
		{"PrintableString", asn1.TagPrintableString, "ACME Trading Ltd", "ACME Trading Ltd", "ACME Trading Ltd"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ci, err := ParseCertificate(softCert(t, rawName(t, c.tag, c.o, c.cn), 7, nb, na))
			if err != nil {
				t.Fatal(err)
			}
			if ci.Subject.Organization != c.o || ci.Subject.CommonName != c.cn || ci.Subject.Holder() != c.wantHoler {
				t.Errorf("subject %+v, holder %q", ci.Subject, ci.Subject.Holder())
			}
			if ci.Issuer.Organization != c.o {
				t.Errorf("issuer %+v", ci.Issuer)
			}
			if ci.KeyAlgorithm != "ECDSA" || ci.KeyBits != 256 || ci.Curve != "P-256" || ci.Serial != "07" {
				t.Errorf("key %s %d %s serial %s", ci.KeyAlgorithm, ci.KeyBits, ci.Curve, ci.Serial)
			}
			if strings.Join(ci.KeyUsage, ",") != "digital_signature,content_commitment" {
				t.Errorf("key usage %v", ci.KeyUsage)
			}
		})
	}
}

const day = 24 * time.Hour

func TestDaysLeftWithInjectedNow(t *testing.T) {
	nb := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	na := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ci, err := ParseCertificate(softCert(t, rawName(t, asn1.TagUTF8String, "o", "cn"), 1, nb, na))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		now     time.Time
		left    int
		status  string
		expired bool
	}{
		{na.Add(-90*day - time.Hour), 91, "valid", false}, // 22:59 on 2 Oct: 91 dates to 1 Jan
		{na.Add(-time.Hour), 1, "valid", false},           // 23:00 on 31 Dec
		{na.Add(time.Hour), 0, "expired", true},           // the expiry date
		{na.Add(30*day + time.Hour), -30, "expired", true},
		{nb.Add(-day), 366, "not_yet_valid", false},
	}
	for _, c := range cases {
		left := renewal.DaysLeftIn(ci.NotAfter, c.now, time.UTC)
		if left != c.left || ci.Status(c.now) != c.status || ci.Expired(c.now) != c.expired {
			t.Errorf("at %v: left %d status %s; want %d %s", c.now, left, ci.Status(c.now), c.left, c.status)
		}
	}
}

func TestParseCertificateRejectsGarbage(t *testing.T) {
	for _, der := range [][]byte{nil, {}, []byte("not a certificate"), {0x30, 0x03, 0x02, 0x01}} {
		if _, err := ParseCertificate(der); err == nil {
			t.Errorf("%x accepted", der)
		}
	}
}

func TestDecodeText(t *testing.T) {
	gbkBytes, _ := simplifiedchinese.GBK.NewEncoder().Bytes([]byte("测试锁"))
	long, _ := simplifiedchinese.GBK.NewEncoder().Bytes([]byte("一二三四五六七八九十一二三四五六"))
	cases := []struct {
		in       []byte
		text     string
		encoding string
	}{
		{[]byte("plain label      "), "plain label", "utf-8"},
		{[]byte("张三的锁   "), "张三的锁", "utf-8"},
		{append(gbkBytes, "   "...), "测试锁", "gbk"},
		{append(long[:31:31], 0), "一二三四五六七八九十一二三四五", "gbk"}, // cut in the middle of the last character
		{[]byte{0xff, 0xfe, 0x01, 0x80}, "fffe0180", "hex"},
		{[]byte{}, "", "utf-8"},
	}
	for _, c := range cases {
		got := decodeText(c.in)
		if got.Text != c.text || got.Encoding != c.encoding {
			t.Errorf("%x: got %+v, want %q %s", c.in, got, c.text, c.encoding)
		}
	}
}

func TestGBKLabelOnSoftHSM(t *testing.T) {
	label, _ := simplifiedchinese.GBK.NewEncoder().String("财务部的锁")
	_, m, serials := openEnv(t, label, "ascii")
	infos, err := m.Tokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{}
	for _, ti := range infos {
		labels[ti.Serial] = ti.Label + " (" + ti.LabelEncoding + ")"
	}
	if got := labels[serials[0]]; got != "财务部的锁 (gbk)" {
		t.Errorf("GBK label read as %q", got)
	}
	if got := labels[serials[1]]; got != "ascii (utf-8)" {
		t.Errorf("ASCII label read as %q", got)
	}
}

// TestInventoryShapes puts on one token: an SM2 certificate made by openssl,
// a certificate with its key pair, a certificate without a key, a key pair
// without a certificate, a public key whose private key is gone, and a ghost.
func TestInventoryShapes(t *testing.T) {
	env, m, serials := openEnv(t, "shapes")
	ctx := context.Background()
	sm2 := env.SM2Cert(t, "/C=CN/O=测试机构/CN=张三", 30)
	env.ImportCert(t, serials[0], userPIN, sm2, []byte{0x55}, "sm2 cert")
	tok := openToken(t, m, serials[0])

	// Without a PIN: certificates only.
	certs, err := tok.Certificates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 1 || certs[0].Info == nil {
		t.Fatalf("certificates %+v", certs)
	}
	ci := certs[0].Info
	if ci.KeyAlgorithm != "SM2" || ci.Subject.Organization != "测试机构" || ci.Subject.CommonName != "张三" || ci.Subject.Country != "CN" {
		t.Errorf("SM2 certificate read as %+v / %s", ci.Subject, ci.KeyAlgorithm)
	}
	if d := ci.NotAfter.Sub(ci.NotBefore); d != 30*day {
		t.Errorf("SM2 validity %v, want 30 days", d)
	}
	if got := renewal.DaysLeftIn(ci.NotAfter, ci.NotBefore, time.UTC); got != 30 {
		t.Errorf("days left %d", got)
	}
	if !strings.Contains(ci.SignatureAlgorithm, "SM2") {
		t.Errorf("signature algorithm %s", ci.SignatureAlgorithm)
	}

	login(t, tok)
	withKey, err := tok.GenerateKeyPair(ctx, KeySpec{Type: ECP256, ID: []byte{1}, Label: "with key"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tok.WriteCertificate(ctx, CertificateSpec{DER: selfSign(t, withKey, "有钥", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)), ID: []byte{1}, Label: "with key"}); err != nil {
		t.Fatal(err)
	}
	noKey := softCert(t, rawName(t, asn1.TagUTF8String, "无钥公司", "王五"), 99, time.Now().Add(-day), time.Now().Add(day))
	if _, err := tok.WriteCertificate(ctx, CertificateSpec{DER: noKey, ID: []byte{2}, Label: "no key"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tok.GenerateKeyPair(ctx, KeySpec{Type: ECP256, ID: []byte{3}, Label: "pending"}); err != nil {
		t.Fatal(err)
	}
	half, err := tok.GenerateKeyPair(ctx, KeySpec{Type: ECP256, ID: []byte{4}, Label: "half"})
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.Destroy(ctx, half.Handle()); err != nil {
		t.Fatal(err)
	}
	// A certificate whose CKA_ID differs from its key pair's.
	otherID, err := tok.GenerateKeyPair(ctx, KeySpec{Type: ECP256, ID: []byte{0x20}, Label: "other id"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tok.WriteCertificate(ctx, CertificateSpec{DER: selfSign(t, otherID, "异号", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)), ID: []byte{0x10}, Label: "other id"}); err != nil {
		t.Fatal(err)
	}
	// An EC private key whose public key object is gone: matched by CKA_ID only.
	noPub, err := tok.GenerateKeyPair(ctx, KeySpec{Type: ECP256, ID: []byte{0x30}, Label: "no public"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tok.WriteCertificate(ctx, CertificateSpec{DER: selfSign(t, noPub, "无公钥", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)), ID: []byte{0x30}, Label: "no public"}); err != nil {
		t.Fatal(err)
	}
	if err := tok.Destroy(ctx, noPub.PublicHandle()); err != nil {
		t.Fatal(err)
	}
	makeGhost(t, tok)

	inv, err := tok.Objects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !inv.LoggedIn || len(inv.Certificates) != 5 {
		t.Fatalf("inventory: logged in %v, %d certificates", inv.LoggedIn, len(inv.Certificates))
	}
	byID := map[string]*Certificate{}
	for _, c := range inv.Certificates {
		byID[c.IDHex()] = c
	}
	for id, how := range map[string]KeyMatch{"01": MatchedByIDAndKey, "10": MatchedByKey, "30": MatchedByID} {
		c := byID[id]
		if c == nil || !c.HasKey() || c.MatchedBy != how || c.PrivateKey.Public == nil {
			t.Errorf("certificate %s should have its key (%s): %+v", id, how, c)
		}
	}
	if byID["01"].PublicKey == nil || byID["10"].PublicKey == nil || byID["30"].PublicKey != nil {
		t.Error("public key objects matched wrongly")
	}
	without := inv.CertificatesWithoutKey()
	ids := []string{}
	for _, c := range without {
		ids = append(ids, c.IDHex())
	}
	if strings.Join(ids, ",") != "55,02" && strings.Join(ids, ",") != "02,55" {
		t.Errorf("certificates without key: %v", ids)
	}
	orphans := []string{}
	for _, k := range inv.OrphanKeys {
		orphans = append(orphans, string(k.Class)+":"+k.IDHex())
	}
	if got := strings.Join(orphans, " "); got != "private_key:03 public_key:03 public_key:04" {
		t.Errorf("orphans %q", got)
	}
	if len(inv.Ghosts) != 1 || inv.Ghosts[0].Label != "ghost" || inv.Ghosts[0].Class != "certificate" {
		t.Errorf("ghosts %+v", inv.Ghosts)
	}
	// Independent reader: pkcs11-tool sees the same number of certificate objects (ghost included).
	out := env.PKCS11Tool(t, serials[0], "--list-objects", "--type", "cert")
	if n := strings.Count(out, "Certificate Object"); n != 6 {
		t.Errorf("pkcs11-tool lists %d certificate objects, want 6:\n%s", n, out)
	}
}

// makeGhost creates a certificate object without a value, as an interrupted
// write leaves behind.
func makeGhost(t *testing.T, tok *Token) {
	t.Helper()
	tok.mu.Lock()
	defer tok.mu.Unlock()
	_, err := tok.lib.ctx.CreateObject(tok.session, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, "ghost"),
		pkcs11.NewAttribute(pkcs11.CKA_SUBJECT, []byte{0x30, 0}),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, []byte{}),
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTwentyCertificates(t *testing.T) {
	env, m, serials := openEnv(t, "twenty", "other")
	want := map[string]string{}
	for i := range 20 {
		holder := fmt.Sprintf("公司%02d", i)
		der := softCert(t, rawName(t, asn1.TagUTF8String, holder, holder), int64(1000+i), time.Now().Add(-day), time.Now().Add(365*day))
		env.ImportCert(t, serials[0], userPIN, der, []byte{byte(i)}, fmt.Sprintf("cert %d", i))
		want[fmt.Sprintf("%04X", 1000+i)] = holder
	}
	tok := openToken(t, m, serials[0])
	certs, err := tok.Certificates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 20 {
		t.Fatalf("read %d certificates, want 20", len(certs))
	}
	for i, c := range certs {
		if c.ID[0] != byte(i) {
			t.Errorf("certificate %d has id %x: not sorted by CKA_ID", i, c.ID)
		}
	}
	for _, c := range certs {
		if c.Info == nil || want[c.Info.Serial] != c.Info.Subject.Organization {
			t.Errorf("certificate %s: not one of those written (%s)", c.Label, c.ParseError)
			continue
		}
		delete(want, c.Info.Serial)
	}
	other := openToken(t, m, serials[1])
	if certs, err := other.Certificates(context.Background()); err != nil || len(certs) != 0 {
		t.Errorf("other token: %d certificates, %v", len(certs), err)
	}
}

// TestUnknownCurveIsNotAGhost: a public key on a curve this package does not
// parse is still a key (an orphan here), never a ghost that a cleanup could
// delete.
func TestUnknownCurveIsNotAGhost(t *testing.T) {
	env, m, serials := openEnv(t, "curves")
	dir := t.TempDir()
	env.OpenSSL(t, dir, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:brainpoolP256r1", "-out", "k.pem")
	env.OpenSSL(t, dir, "pkey", "-in", "k.pem", "-pubout", "-outform", "DER", "-out", "pub.der")
	pub, err := os.ReadFile(filepath.Join(dir, "pub.der"))
	if err != nil {
		t.Fatal(err)
	}
	env.ImportPubKey(t, serials[0], userPIN, pub, []byte{0xbb}, "brainpool")
	tok := openToken(t, m, serials[0])
	inv, err := tok.Objects(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Ghosts) != 0 || len(inv.PublicKeys) != 1 || inv.PublicKeys[0].Label != "brainpool" || inv.PublicKeys[0].KeyType != "EC" {
		t.Errorf("ghosts %+v, public keys %+v", inv.Ghosts, inv.PublicKeys)
	}
}

// FuzzDecodeText: any label bytes decode to printable text without a crash,
// and hex output is exactly the input. `go test -fuzz FuzzDecodeText ./token/`
// explores further; the normal run checks the seeds.
func FuzzDecodeText(f *testing.F) {
	gbkBytes, _ := simplifiedchinese.GBK.NewEncoder().Bytes([]byte("财务部"))
	for _, seed := range [][]byte{nil, []byte("abc  "), gbkBytes, {0xff, 0x00, 0x81}, {0x81}, []byte("\x00\x00"), []byte("张三")} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := decodeText(b)
		switch got.Encoding {
		case "utf-8", "gbk":
			if !printable(got.Text) {
				t.Errorf("%x decoded to unprintable %q", b, got.Text)
			}
		case "hex":
			if got.Text != fmt.Sprintf("%x", bytesTrimPadding(b)) {
				t.Errorf("%x: hex %q", b, got.Text)
			}
		default:
			t.Errorf("encoding %q", got.Encoding)
		}
	})
}

func bytesTrimPadding(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == 0) {
		b = b[:len(b)-1]
	}
	return b
}

// FuzzParseCertificate: arbitrary bytes never crash the parser.
func FuzzParseCertificate(f *testing.F) {
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x01})
	f.Add(softCertSeed())
	f.Fuzz(func(t *testing.T, der []byte) {
		if ci, err := ParseCertificate(der); err == nil && ci.SHA256 == "" {
			t.Error("parsed without a fingerprint")
		}
	})
}

func softCertSeed() []byte {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "种子"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<31, 0)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	return der
}
