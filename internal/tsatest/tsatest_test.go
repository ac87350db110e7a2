package tsatest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"

	"github.com/ukeyrenew/ukeyrenew/internal/testenv"
)

// pki is a test CA and a TSA certificate it issued.
type pki struct {
	ca, tsa       *x509.Certificate
	caKey, tsaKey *ecdsa.PrivateKey
}

func critEKU(t testing.TB, critical bool, usages ...asn1.ObjectIdentifier) pkix.Extension {
	t.Helper()
	v, err := asn1.Marshal(usages)
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: oidExtKeyUsage, Critical: critical, Value: v}
}

var (
	oidTimeStamping = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
	oidCodeSigning  = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 3}
)

// newPKI makes the CA and a TSA certificate valid around now; edit changes
// the TSA certificate's template before it is issued.
func newPKI(t testing.TB, now time.Time, edit func(*x509.Certificate)) *pki {
	t.Helper()
	p := &pki{}
	var err error
	if p.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if p.tsaKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tsatest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	if p.ca, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "tsatest TSA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{critEKU(t, true, oidTimeStamping)},
	}
	if edit != nil {
		edit(tmpl)
	}
	if der, err = x509.CreateCertificate(rand.Reader, tmpl, p.ca, &p.tsaKey.PublicKey, p.caKey); err != nil {
		t.Fatal(err)
	}
	if p.tsa, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	return p
}

func newTSA(t testing.TB, p *pki, now time.Time) *TSA {
	t.Helper()
	tsa, err := New(p.tsa, []*x509.Certificate{p.ca}, p.tsaKey, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return tsa
}

// query marshals a TimeStampReq for sha256("data"), edited by edit.
func query(t testing.TB, edit func(*request)) []byte {
	t.Helper()
	sum := sha256.Sum256([]byte("data"))
	var r request
	r.Version = 1
	r.MessageImprint.HashAlgorithm = pkix.AlgorithmIdentifier{Algorithm: hashes[0].oid, Parameters: asn1.NullRawValue}
	r.MessageImprint.HashedMessage = sum[:]
	r.Nonce = big.NewInt(0x1234567890abcdef)
	r.CertReq = true
	if edit != nil {
		edit(&r)
	}
	der, err := asn1.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// status decodes a TimeStampResp's PKIStatusInfo.
func status(t testing.TB, der []byte) statusInfo {
	t.Helper()
	var resp struct {
		Status statusInfo
		Token  asn1.RawValue `asn1:"optional"`
	}
	if rest, err := asn1.Unmarshal(der, &resp); err != nil || len(rest) != 0 {
		t.Fatalf("the answer is not a TimeStampResp: %v (%d bytes left)", err, len(rest))
	}
	return resp.Status
}

// The clock is in a zone other than UTC, with nanoseconds: the token must
// still say UTC, to the second. It is the present time because the CMS
// signingTime attribute, which verifiers check against the certificate, is.
var clock = time.Now().Truncate(time.Second).Add(987654321).In(time.FixedZone("CST", 8*3600))

func TestGrantedToken(t *testing.T) {
	p := newPKI(t, clock, nil)
	tsa := newTSA(t, p, clock)
	q := query(t, nil)
	der, a := tsa.Respond(q)
	if !a.Granted {
		t.Fatalf("not granted: %s", a.Reason)
	}
	// ParseResponse checks the CMS signature with the certificate it carries.
	ts, err := timestamp.ParseResponse(der)
	if err != nil {
		t.Fatalf("ParseResponse: %v", err)
	}
	sum := sha256.Sum256([]byte("data"))
	if !bytes.Equal(ts.HashedMessage, sum[:]) || ts.HashAlgorithm != crypto.SHA256 {
		t.Errorf("imprint %v %x, want SHA-256 %x", ts.HashAlgorithm, ts.HashedMessage, sum)
	}
	if ts.Nonce == nil || ts.Nonce.Cmp(big.NewInt(0x1234567890abcdef)) != 0 {
		t.Errorf("nonce %v, want the request's", ts.Nonce)
	}
	if !ts.Policy.Equal(Policy) {
		t.Errorf("policy %v, want %v", ts.Policy, Policy)
	}
	want := clock.UTC().Truncate(time.Second)
	if !ts.Time.Equal(want) || ts.Accuracy != time.Second {
		t.Errorf("genTime %v ± %v, want %v ± 1s", ts.Time, ts.Accuracy, want)
	}
	if len(ts.Certificates) != 2 || !ts.Certificates[0].Equal(p.tsa) && !ts.Certificates[1].Equal(p.tsa) {
		t.Errorf("the token carries %d certificates, want the TSA's and its CA's", len(ts.Certificates))
	}
	p7, err := pkcs7.Parse(ts.RawToken)
	if err != nil {
		t.Fatal(err)
	}
	// genTime is a GeneralizedTime in UTC ("Z"), whole seconds.
	if gen := append([]byte{0x18, 15}, want.Format("20060102150405Z")...); !bytes.Contains(p7.Content, gen) {
		t.Errorf("TSTInfo lacks genTime %q", gen)
	}
	var eContentType asn1.ObjectIdentifier
	if err := p7.UnmarshalSignedAttribute(pkcs7.OIDAttributeContentType, &eContentType); err != nil ||
		!eContentType.Equal(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}) {
		t.Errorf("content type %v (%v), want id-ct-TSTInfo", eContentType, err)
	}
	// ESSCertIDv2 (RFC 5035): SHA-256 (the default, so absent) of the TSA
	// certificate, with its issuer and serial number.
	var scv2 struct {
		Certs []struct {
			HashAlgorithm pkix.AlgorithmIdentifier `asn1:"optional"`
			CertHash      []byte
			IssuerSerial  struct {
				Issuer asn1.RawValue
				Serial *big.Int
			} `asn1:"optional"`
		}
	}
	if err := p7.UnmarshalSignedAttribute(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}, &scv2); err != nil {
		t.Fatalf("signingCertificateV2 attribute: %v", err)
	}
	certSum := sha256.Sum256(p.tsa.Raw)
	if len(scv2.Certs) != 1 || !bytes.Equal(scv2.Certs[0].CertHash, certSum[:]) || scv2.Certs[0].IssuerSerial.Serial.Cmp(p.tsa.SerialNumber) != 0 {
		t.Errorf("ESSCertIDv2 does not name the TSA certificate: %+v", scv2)
	}
	// Without certReq the token carries no certificate.
	der, _ = tsa.Respond(query(t, func(r *request) { r.CertReq = false }))
	if ts, err := timestamp.ParseResponse(der); err != nil || len(ts.Certificates) != 0 {
		t.Errorf("without certReq: %v, %d certificates", err, len(ts.Certificates))
	}
	// A request made by the library, SHA-512 and no nonce, is stamped too.
	lq, err := timestamp.CreateRequest(strings.NewReader("data"), &timestamp.RequestOptions{Hash: crypto.SHA512, Certificates: true})
	if err != nil {
		t.Fatal(err)
	}
	der, _ = tsa.Respond(lq)
	if ts, err := timestamp.ParseResponse(der); err != nil || ts.HashAlgorithm != crypto.SHA512 || ts.Nonce != nil {
		t.Errorf("SHA-512 request: %v", err)
	}
}

func TestSerialNumbersAreUnique(t *testing.T) {
	p := newPKI(t, clock, nil)
	tsa := newTSA(t, p, clock)
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		der, _ := tsa.Respond(query(t, nil))
		ts, err := timestamp.ParseResponse(der)
		if err != nil {
			t.Fatal(err)
		}
		if s := ts.SerialNumber.String(); seen[s] {
			t.Fatalf("serial number %s given twice", s)
		} else {
			seen[s] = true
		}
	}
}

func TestRejections(t *testing.T) {
	p := newPKI(t, clock, nil)
	tsa := newTSA(t, p, clock)
	good := query(t, nil)
	cases := []struct {
		name     string
		der      []byte
		failInfo int
		says     string
	}{
		{"garbage", []byte("this is not DER"), BadDataFormat, "not a DER TimeStampReq"},
		{"empty", nil, BadDataFormat, "not a DER TimeStampReq"},
		{"trailing bytes", append(append([]byte{}, good...), 0, 0), BadDataFormat, "2 bytes after"},
		{"version 2", query(t, func(r *request) { r.Version = 2 }), BadDataFormat, "version 2"},
		{"SHA-1", query(t, func(r *request) {
			r.MessageImprint.HashAlgorithm.Algorithm = oidSHA1
			r.MessageImprint.HashedMessage = make([]byte, 20)
		}), BadAlg, "SHA-1"},
		{"MD5", query(t, func(r *request) {
			r.MessageImprint.HashAlgorithm.Algorithm = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 5}
		}), BadAlg, "unknown hash algorithm 1.2.840.113549.2.5"},
		{"short imprint", query(t, func(r *request) { r.MessageImprint.HashedMessage = r.MessageImprint.HashedMessage[:31] }), BadDataFormat, "has 32 bytes, this one 31"},
		{"another policy", query(t, func(r *request) { r.ReqPolicy = asn1.ObjectIdentifier{1, 2, 3} }), UnacceptedPolicy, "policy 1.2.3"},
		{"an extension", query(t, func(r *request) {
			r.Extensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 3, 4}, Value: []byte{5, 0}}}
		}), UnacceptedExtension, "extension 1.2.3.4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			der, a := tsa.Respond(c.der)
			st := status(t, der)
			if st.Status != 2 || a.Granted {
				t.Fatalf("PKIStatus %d, want rejection (2)", st.Status)
			}
			for bit := 0; bit < st.FailInfo.BitLength; bit++ {
				if (st.FailInfo.At(bit) == 1) != (bit == c.failInfo) {
					t.Errorf("failInfo bit %d is %d, want only bit %d", bit, st.FailInfo.At(bit), c.failInfo)
				}
			}
			if st.FailInfo.BitLength != c.failInfo+1 {
				t.Errorf("failInfo has %d bits, want %d (DER drops trailing zeros)", st.FailInfo.BitLength, c.failInfo+1)
			}
			if len(st.StatusString) != 1 || st.StatusString[0].Tag != asn1.TagUTF8String || !strings.Contains(string(st.StatusString[0].Bytes), c.says) {
				t.Errorf("statusString %+v, want one UTF8String saying %q", st.StatusString, c.says)
			}
			if _, err := timestamp.ParseResponse(der); err == nil || !strings.Contains(err.Error(), "rejected") {
				t.Errorf("the library reads it as %v, want a rejection", err)
			}
		})
	}
	// Our own policy, asked for by name, is granted.
	if _, a := tsa.Respond(query(t, func(r *request) { r.ReqPolicy = Policy })); !a.Granted {
		t.Errorf("a request for the TSA's own policy: %s", a.Reason)
	}
	// A clock outside the certificate's validity stamps nothing.
	late := newTSA(t, p, clock.Add(48*time.Hour))
	if der, a := late.Respond(good); a.Granted || status(t, der).FailInfo.At(TimeNotAvailable) != 1 {
		t.Errorf("a TSA past its certificate's notAfter granted a token (%s)", a.Reason)
	}
}

func TestHTTP(t *testing.T) {
	p := newPKI(t, clock, nil)
	srv := httptest.NewServer(newTSA(t, p, clock))
	defer srv.Close()
	post := func(ctype string, body []byte, chunked bool) *http.Response {
		t.Helper()
		var rd interface{ Read([]byte) (int, error) } = bytes.NewReader(body)
		if chunked { // no Content-Length: the limit is met while reading
			rd = struct{ *bytes.Reader }{bytes.NewReader(body)}
		}
		req, err := http.NewRequest(http.MethodPost, srv.URL, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	body := func(r *http.Response) []byte {
		b := new(bytes.Buffer)
		if _, err := b.ReadFrom(r.Body); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}

	resp := post(QueryType, query(t, nil), false)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ReplyType {
		t.Fatalf("a good request: %s, %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	if _, err := timestamp.ParseResponse(body(resp)); err != nil {
		t.Errorf("a good request: %v", err)
	}
	if resp := post(QueryType+"; charset=binary", query(t, nil), false); resp.StatusCode != 200 {
		t.Errorf("a content type with a parameter: %s", resp.Status)
	}
	resp = post(QueryType, []byte("garbage"), false)
	if resp.StatusCode != 200 || status(t, body(resp)).FailInfo.At(BadDataFormat) != 1 {
		t.Errorf("garbage DER: %s, want 200 with a badDataFormat rejection", resp.Status)
	}
	for _, c := range []struct {
		name  string
		resp  *http.Response
		code  int
		allow string
	}{
		{"text/plain", post("text/plain", query(t, nil), false), http.StatusUnsupportedMediaType, ""},
		{"no content type", post("", query(t, nil), false), http.StatusUnsupportedMediaType, ""},
		{"64 KiB + 1 with a length", post(QueryType, make([]byte, MaxRequestBytes+1), false), http.StatusRequestEntityTooLarge, ""},
		{"64 KiB + 1 chunked", post(QueryType, make([]byte, MaxRequestBytes+1), true), http.StatusRequestEntityTooLarge, ""},
	} {
		if c.resp.StatusCode != c.code {
			t.Errorf("%s: %s, want %d", c.name, c.resp.Status, c.code)
		}
	}
	// Exactly 64 KiB is read (and rejected as DER, not as size).
	if resp := post(QueryType, make([]byte, MaxRequestBytes), true); resp.StatusCode != 200 {
		t.Errorf("64 KiB: %s, want 200 with a rejection", resp.Status)
	}
	get, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	get.Body.Close()
	if get.StatusCode != http.StatusMethodNotAllowed || get.Header.Get("Allow") != "POST" {
		t.Errorf("GET: %s, Allow %q", get.Status, get.Header.Get("Allow"))
	}
}

func TestNewRefusesWrongCertificates(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*x509.Certificate)
		says string
	}{
		{"no extended key usage", func(c *x509.Certificate) { c.ExtraExtensions = nil }, "timeStamping and nothing else"},
		{"code signing", func(c *x509.Certificate) {
			c.ExtraExtensions = []pkix.Extension{critEKU(t, true, oidCodeSigning)}
		}, "timeStamping and nothing else"},
		{"timeStamping and code signing", func(c *x509.Certificate) {
			c.ExtraExtensions = []pkix.Extension{critEKU(t, true, oidTimeStamping, oidCodeSigning)}
		}, "timeStamping and nothing else"},
		{"not critical", func(c *x509.Certificate) {
			c.ExtraExtensions = []pkix.Extension{critEKU(t, false, oidTimeStamping)}
		}, "must be critical"},
		{"key usage keyCertSign only", func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageCertSign }, "digitalSignature"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPKI(t, clock, c.edit)
			if _, err := New(p.tsa, nil, p.tsaKey, Options{}); err == nil || !strings.Contains(err.Error(), c.says) {
				t.Errorf("New: %v, want an error saying %q", err, c.says)
			}
		})
	}
	p := newPKI(t, clock, nil)
	if _, err := New(p.tsa, nil, p.caKey, Options{}); err == nil || !strings.Contains(err.Error(), "not the key of") {
		t.Errorf("New with another key: %v", err)
	}
	if _, err := New(p.tsa, nil, p.tsaKey, Options{}); err != nil {
		t.Errorf("New with a good certificate: %v", err)
	}
}

// OpenSSL, an independent reader, verifies the token: the signature, the
// chain to the CA, the critical timeStamping usage, the ESS signing
// certificate, the imprint and the nonce; and refuses it against another CA
// or another request.
func TestOpenSSLVerifiesTokens(t *testing.T) {
	openssl := testenv.LookPath(t, "openssl")
	now := time.Now() // openssl ts -verify checks the chain at the present time
	p := newPKI(t, now, nil)
	other := newPKI(t, now, nil)
	tsa := newTSA(t, p, now)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	pemOf := func(c *x509.Certificate) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	q := query(t, nil)
	resp, _ := tsa.Respond(q)
	run := func(args ...string) (string, error) {
		out, err := exec.Command(openssl, args...).CombinedOutput()
		return string(out), err
	}
	args := []string{"ts", "-verify", "-queryfile", write("q.der", q), "-in", write("r.der", resp)}
	if out, err := run(append(args, "-CAfile", write("ca.pem", pemOf(p.ca)))...); err != nil || !strings.Contains(out, "Verification: OK") {
		t.Errorf("openssl ts -verify: %v\n%s", err, out)
	}
	if out, err := run(append(args, "-CAfile", write("other.pem", pemOf(other.ca)))...); err == nil {
		t.Errorf("openssl ts -verify accepts the token against another CA:\n%s", out)
	}
	otherQ := query(t, func(r *request) { r.MessageImprint.HashedMessage = make([]byte, 32) })
	if out, err := run("ts", "-verify", "-queryfile", write("q2.der", otherQ), "-in", write("r.der", resp), "-CAfile", write("ca.pem", pemOf(p.ca))); err == nil {
		t.Errorf("openssl ts -verify accepts the token for another request:\n%s", out)
	}
	// And it reads a rejection's status and failInfo as meant.
	rej, _ := tsa.Respond(query(t, func(r *request) { r.MessageImprint.HashAlgorithm.Algorithm = oidSHA1 }))
	out, err := run("ts", "-reply", "-in", write("rej.der", rej), "-text")
	if err != nil || !strings.Contains(out, "Status: Rejected") || !strings.Contains(out, "unrecognized or unsupported algorithm identifier") || !strings.Contains(out, "SHA-1") {
		t.Errorf("openssl ts -reply -text of a rejection: %v\n%s", err, out)
	}
}

func TestLoad(t *testing.T) {
	p := newPKI(t, clock, nil)
	dir := t.TempDir()
	write := func(name string, blocks ...*pem.Block) string {
		var b []byte
		for _, bl := range blocks {
			b = append(b, pem.EncodeToMemory(bl)...)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	pkcs8 := func(k *ecdsa.PrivateKey) *pem.Block {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	chain := write("chain.pem", &pem.Block{Type: "CERTIFICATE", Bytes: p.tsa.Raw}, &pem.Block{Type: "CERTIFICATE", Bytes: p.ca.Raw})
	key := write("key.pem", pkcs8(p.tsaKey))
	tsa, err := Load(chain, key, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !tsa.cert.Equal(p.tsa) || len(tsa.chain) != 1 || !tsa.chain[0].Equal(p.ca) {
		t.Errorf("Load read the certificates wrongly")
	}
	for _, c := range []struct{ name, cert, key, says string }{
		{"the CA's key", chain, write("ca-key.pem", pkcs8(p.caKey)), "not the key of"},
		{"no certificate", key, key, "no PEM CERTIFICATE"},
		{"no key", chain, chain, "chain.pem"},
		{"missing file", filepath.Join(dir, "none.pem"), key, "none.pem"},
	} {
		if _, err := Load(c.cert, c.key, Options{}); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("Load with %s: %v, want an error saying %q", c.name, err, c.says)
		}
	}
}

// BenchmarkRespond: one granted token (P-256 TSA key, certificates asked for).
func BenchmarkRespond(b *testing.B) {
	p := newPKI(b, clock, nil)
	tsa := newTSA(b, p, clock)
	q := query(b, nil)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, a := tsa.Respond(q); !a.Granted {
			b.Fatal(a.Reason)
		}
	}
}
