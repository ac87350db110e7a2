// Package tsatest is a time-stamping authority (RFC 3161) for tests: it
// answers application/timestamp-query POSTs with a TimeStampResp whose token
// is a CMS SignedData over a TSTInfo (message imprint copied, nonce echoed,
// this package's policy, a fresh 160-bit serial number, genTime in UTC to the
// second, accuracy one second), signed with SHA-256 by a certificate whose
// only, critical, extended key usage is timeStamping, and carrying the
// ESSCertIDv2 signing-certificate attribute. scripts/package-check.sh runs it
// (internal/tsatest/cmd/tsa) on loopback so that the installers' Authenticode
// signatures are timestamped the way a production TSA would stamp them.
//
// A request it cannot serve gets a rejection (PKIStatus 2) with the failInfo
// bit and a statusString saying why: garbage or trailing DER, a version other
// than 1, an imprint of the wrong length (badDataFormat); a hash other than
// SHA-256, SHA-384 or SHA-512 (badAlg); a policy other than Policy
// (unacceptedPolicy); any request extension (unacceptedExtension). The HTTP
// handler answers other methods with 405, another content type with 415 and
// a body over MaxRequestBytes with 413.
//
// The token is built and signed by github.com/digitorus/timestamp. It stamps
// SHA-1 imprints no more than it accepts them: that library derives the
// ESSCertIDv2 hash from the imprint's, and SHA-1 has no place there.
package tsatest

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net/http"
	"os"
	"time"

	"github.com/digitorus/timestamp"

	"github.com/ukeyrenew/ukeyrenew/server/issuer"
)

// MaxRequestBytes is the largest request body the handler reads (a real
// request is about 60 bytes).
const MaxRequestBytes = 64 << 10

// Policy is the TSA policy of every token: an OID under IANA's enterprise
// number for documentation (32473, RFC 5612), for a TSA that makes no promise
// to anyone.
var Policy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 3161, 1}

// Content types of RFC 3161 over HTTP (section 3.4).
const (
	QueryType = "application/timestamp-query"
	ReplyType = "application/timestamp-reply"
)

// Options tune a TSA; the zero value is a TSA on the system clock.
type Options struct {
	// Now is the TSA's clock for genTime (nil: time.Now). The CMS
	// signingTime attribute that the library adds reads the system clock.
	Now func() time.Time
	// Logf, when set, gets one line per answer.
	Logf func(format string, args ...any)
}

// TSA stamps requests with one key and certificate chain.
type TSA struct {
	cert  *x509.Certificate
	chain []*x509.Certificate // issuers of cert, sent when the request asks for certificates
	key   crypto.Signer
	opts  Options
}

var oidExtKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}

// New makes a TSA from its certificate, the certificates above it (may be
// empty) and its private key. It refuses a certificate that RFC 3161
// (section 2.3) forbids a TSA to sign with: extended key usage other than
// exactly timeStamping, or not critical; a key usage without
// digitalSignature; a key that is not the certificate's.
func New(cert *x509.Certificate, chain []*x509.Certificate, key crypto.Signer, opts Options) (*TSA, error) {
	if cert == nil || key == nil {
		return nil, errors.New("tsatest: a TSA needs its certificate and private key")
	}
	critical := false
	for _, e := range cert.Extensions {
		if e.Id.Equal(oidExtKeyUsage) {
			critical = e.Critical
		}
	}
	if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping || len(cert.UnknownExtKeyUsage) != 0 {
		return nil, fmt.Errorf("tsatest: certificate %q: its extended key usage must be timeStamping and nothing else (RFC 3161 2.3)", cert.Subject)
	}
	if !critical {
		return nil, fmt.Errorf("tsatest: certificate %q: its extendedKeyUsage extension must be critical (RFC 3161 2.3)", cert.Subject)
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return nil, fmt.Errorf("tsatest: certificate %q: its key usage does not allow digitalSignature", cert.Subject)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("tsatest: the private key is not the key of certificate %q", cert.Subject)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &TSA{cert: cert, chain: chain, key: key, opts: opts}, nil
}

// FailureInfo bits of PKIFailureInfo (RFC 3161 section 2.4.2).
const (
	BadAlg              = 0
	BadRequest          = 2
	BadDataFormat       = 5
	TimeNotAvailable    = 14
	UnacceptedPolicy    = 15
	UnacceptedExtension = 16
	SystemFailure       = 25
)

// rejection is why a request gets no token.
type rejection struct {
	failInfo int
	text     string
}

func (r *rejection) Error() string { return r.text }

func reject(failInfo int, format string, args ...any) *rejection {
	return &rejection{failInfo, fmt.Sprintf(format, args...)}
}

// request is TimeStampReq (RFC 3161 section 2.4.1).
type request struct {
	Version        int
	MessageImprint struct {
		HashAlgorithm pkix.AlgorithmIdentifier
		HashedMessage []byte
	}
	ReqPolicy  asn1.ObjectIdentifier `asn1:"optional"`
	Nonce      *big.Int              `asn1:"optional"`
	CertReq    bool                  `asn1:"optional,default:false"`
	Extensions []pkix.Extension      `asn1:"tag:0,optional"`
}

var hashes = []struct {
	oid  asn1.ObjectIdentifier
	hash crypto.Hash
	size int
}{
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}, crypto.SHA256, sha256.Size},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}, crypto.SHA384, sha512.Size384},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}, crypto.SHA512, sha512.Size},
}

var oidSHA1 = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}

// parse reads a TimeStampReq and says what is wrong with it, if anything.
func parse(der []byte) (*request, crypto.Hash, *rejection) {
	var req request
	rest, err := asn1.Unmarshal(der, &req)
	if err != nil {
		return nil, 0, reject(BadDataFormat, "not a DER TimeStampReq: %v", err)
	}
	if len(rest) != 0 {
		return nil, 0, reject(BadDataFormat, "%d bytes after the TimeStampReq", len(rest))
	}
	if req.Version != 1 {
		return nil, 0, reject(BadDataFormat, "TimeStampReq version %d, want 1", req.Version)
	}
	alg := req.MessageImprint.HashAlgorithm.Algorithm
	var h crypto.Hash
	for _, c := range hashes {
		if c.oid.Equal(alg) {
			h = c.hash
			if n := len(req.MessageImprint.HashedMessage); n != c.size {
				return nil, 0, reject(BadDataFormat, "a %v imprint has %d bytes, this one %d", c.hash, c.size, n)
			}
		}
	}
	switch {
	case alg.Equal(oidSHA1):
		return nil, 0, reject(BadAlg, "SHA-1 imprints are not stamped: use SHA-256, SHA-384 or SHA-512")
	case h == 0:
		return nil, 0, reject(BadAlg, "unknown hash algorithm %v: use SHA-256, SHA-384 or SHA-512", alg)
	}
	if req.ReqPolicy != nil && !req.ReqPolicy.Equal(Policy) {
		return nil, 0, reject(UnacceptedPolicy, "policy %v is not this TSA's (%v)", req.ReqPolicy, Policy)
	}
	if len(req.Extensions) != 0 {
		return nil, 0, reject(UnacceptedExtension, "request extension %v is not supported", req.Extensions[0].Id)
	}
	return &req, h, nil
}

// Answer is what Respond made, for logs and tests.
type Answer struct {
	Granted  bool
	FailInfo int    // when not granted
	Reason   string // when not granted
	Time     time.Time
	Nonce    *big.Int
}

// Respond answers one DER TimeStampReq with a DER TimeStampResp: a granted
// token, or a rejection saying why.
func (t *TSA) Respond(der []byte) ([]byte, Answer) {
	req, h, rej := parse(der)
	if rej != nil {
		return rejectionDER(rej), Answer{FailInfo: rej.failInfo, Reason: rej.text}
	}
	now := t.opts.Now().UTC().Truncate(time.Second)
	if now.Before(t.cert.NotBefore) || now.After(t.cert.NotAfter) {
		rej := reject(TimeNotAvailable, "the TSA certificate is not valid at %s", now.Format(time.RFC3339))
		return rejectionDER(rej), Answer{FailInfo: rej.failInfo, Reason: rej.text}
	}
	ts := timestamp.Timestamp{
		HashAlgorithm:     h,
		HashedMessage:     req.MessageImprint.HashedMessage,
		Time:              now,
		Accuracy:          time.Second,
		Policy:            Policy,
		Nonce:             req.Nonce,
		AddTSACertificate: req.CertReq,
	}
	if req.CertReq {
		ts.Certificates = t.chain
	}
	resp, err := ts.CreateResponseWithOpts(t.cert, t.key, crypto.SHA256)
	if err != nil {
		rej := reject(SystemFailure, "signing the token failed: %v", err)
		return rejectionDER(rej), Answer{FailInfo: rej.failInfo, Reason: rej.text}
	}
	return resp, Answer{Granted: true, Time: now, Nonce: req.Nonce}
}

// statusInfo is PKIStatusInfo; response is TimeStampResp without a token.
type statusInfo struct {
	Status       int
	StatusString []asn1.RawValue `asn1:"optional"` // PKIFreeText: UTF8Strings
	FailInfo     asn1.BitString  `asn1:"optional"`
}

type rejectionResp struct {
	Status statusInfo
}

// rejectionDER encodes a TimeStampResp with PKIStatus rejection (2), the
// reason as its statusString and the failInfo bit set (DER: no trailing zero
// bits).
func rejectionDER(r *rejection) []byte {
	bits := make([]byte, r.failInfo/8+1)
	bits[r.failInfo/8] = 0x80 >> (r.failInfo % 8)
	der, err := asn1.Marshal(rejectionResp{statusInfo{
		Status:       2,
		StatusString: []asn1.RawValue{{Tag: asn1.TagUTF8String, Bytes: []byte(r.text)}},
		FailInfo:     asn1.BitString{Bytes: bits, BitLength: r.failInfo + 1},
	}})
	if err != nil { // a struct of an int, a string and bits always encodes
		panic(err)
	}
	return der
}

// ServeHTTP answers a POST of a TimeStampReq (RFC 3161 section 3.4).
func (t *TSA) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST an application/timestamp-query", http.StatusMethodNotAllowed)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != QueryType {
		http.Error(w, "Content-Type must be "+QueryType, http.StatusUnsupportedMediaType)
		return
	}
	if r.ContentLength > MaxRequestBytes {
		http.Error(w, fmt.Sprintf("a request has at most %d bytes", MaxRequestBytes), http.StatusRequestEntityTooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		http.Error(w, fmt.Sprintf("a request has at most %d bytes", MaxRequestBytes), http.StatusRequestEntityTooLarge)
		return
	case err != nil:
		http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	resp, a := t.Respond(body)
	if t.opts.Logf != nil {
		if a.Granted {
			t.opts.Logf("granted %s genTime=%s nonce=%v", r.RemoteAddr, a.Time.Format(time.RFC3339), a.Nonce)
		} else {
			t.opts.Logf("rejected %s failInfo=%d: %s", r.RemoteAddr, a.FailInfo, a.Reason)
		}
	}
	w.Header().Set("Content-Type", ReplyType)
	w.Header().Set("Content-Length", fmt.Sprint(len(resp)))
	_, _ = io.Copy(w, bytes.NewReader(resp))
}

// Load makes a TSA from PEM files: certFile holds the TSA certificate first,
// then any issuers to send with it; keyFile its unencrypted private key
// (server/issuer.ParsePrivateKeyPEM reads it).
func Load(certFile, keyFile string, opts Options) (*TSA, error) {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for b, rest := pem.Decode(data); b != nil; b, rest = pem.Decode(rest) {
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", certFile, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: no PEM CERTIFICATE in it", certFile)
	}
	data, err = os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	signer, err := issuer.ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	return New(certs[0], certs[1:], signer, opts)
}
