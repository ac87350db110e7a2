package renewal

import (
	"bytes"
	"strings"
	"time"
)

// Certificate wire types: what the service knows of a certificate, its
// serial, and whether it may be renewed now.

// KeyType names a certificate's key algorithm.
type KeyType string

// Key types.
const (
	KeyRSA   KeyType = "rsa"
	KeyECDSA KeyType = "ecdsa"
	KeySM2   KeyType = "sm2"
)

// Valid reports whether k is a known key type.
func (k KeyType) Valid() bool { return k == KeyRSA || k == KeyECDSA || k == KeySM2 }

// Label is how a clerk reads k: RSA, ECDSA or SM2.
func (k KeyType) Label() string {
	if k == "" {
		return "?"
	}
	return strings.ToUpper(string(k))
}

// Certificate is what the service knows of a certificate it issued.
type Certificate struct {
	Serial         string    `json:"serial"` // lower-case hex, no separators
	Holder         string    `json:"holder"` // subject CN or O
	Issuer         string    `json:"issuer"`
	OrganisationID string    `json:"organisation_id"`
	NotBefore      time.Time `json:"not_before"`
	NotAfter       time.Time `json:"not_after"`
	KeyType        KeyType   `json:"key_type"`
}

// NormalizeSerial lower-cases a hex serial and strips ':' and spaces and
// leading zeros, so "0A:1B" and "a1b" name the same certificate.
func NormalizeSerial(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ':' || c == ' ' || c == '-':
			continue
		case c >= 'A' && c <= 'F':
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	b = bytes.TrimLeft(b, "0")
	if len(b) == 0 && len(s) > 0 {
		return "0"
	}
	return string(b)
}

// ValidateSerial checks a normalised serial: 1 to 40 hex digits.
func ValidateSerial(s string) error {
	if s == "" {
		return invalid(CodeRequired, "")
	}
	if len(s) > 40 {
		return invalid(CodeInvalidField, "a serial has at most 40 hex digits")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return invalid(CodeInvalidField, "a serial is written in hex")
		}
	}
	return nil
}

// EligibilityRequest asks whether a certificate may be renewed.
// GET /v1/certificates/{serial}/eligibility
type EligibilityRequest struct {
	Serial string `json:"serial"`
}

// Validate checks the request.
func (r *EligibilityRequest) Validate() error {
	var fe fieldErrors
	if len(r.Serial) > MaxSerialBytes {
		fe.add("serial", invalid(CodeTooLong, ""))
	} else {
		fe.add("serial", ValidateSerial(NormalizeSerial(r.Serial)))
	}
	return fe.err()
}

// Price is the price of a renewal period.
type Price struct {
	Years     int   `json:"years"`
	AmountFen int64 `json:"amount_fen"`
}

// Eligibility answers an EligibilityRequest.
type Eligibility struct {
	Certificate       Certificate   `json:"certificate"`
	Eligible          bool          `json:"eligible"`
	Reason            *Error        `json:"reason,omitempty"` // why not
	WindowOpens       time.Time     `json:"window_opens"`
	WindowCloses      time.Time     `json:"window_closes"`
	DaysLeft          int           `json:"days_left"` // negative: expired N days ago
	Prices            []Price       `json:"prices"`
	RekeyRequired     bool          `json:"rekey_required"` // by the policy, or the CA no longer renews the key as it is (too weak)
	FinVerifyRequired bool          `json:"finverify_required"`
	PaymentTiming     PaymentTiming `json:"payment_timing"`
	OpenApplicationID string        `json:"open_application_id,omitempty"` // an application already in progress
	// SupersededBy is the serial of the certificate this one was renewed
	// into (issued, or issued and installed): a superseded certificate is
	// not eligible, its successor is renewed when due.
	SupersededBy string `json:"superseded_by,omitempty"`
}

// Superseded is the refusal to renew a certificate that was renewed
// already into the certificate with serial successor.
func Superseded(field, successor string) *Error {
	e := Errorf(CodeSuperseded, field, "this certificate was renewed already; the new certificate's serial is %s", successor)
	e.MessageZH = "此证书已续期，新证书序列号 " + successor
	return e
}

// Supersede marks e not eligible: the certificate was renewed into
// successor.
func (e *Eligibility) Supersede(successor string) {
	e.Eligible, e.SupersededBy, e.Reason = false, successor, Superseded("serial", successor)
}

// Eligibility computes the eligibility of c under p at now.
func (p Policy) Eligibility(c Certificate, now time.Time) Eligibility {
	opens, closes := p.Window(c.NotAfter)
	e := Eligibility{
		Certificate: c, WindowOpens: opens, WindowCloses: closes,
		DaysLeft: DaysLeft(c.NotAfter, now), RekeyRequired: p.RekeyRequired,
		FinVerifyRequired: p.FinVerifyRequired, PaymentTiming: p.PaymentTiming,
	}
	for i, f := range p.PricesFen {
		e.Prices = append(e.Prices, Price{Years: i + 1, AmountFen: f})
	}
	if err := p.CheckRenewable(c, now); err != nil {
		e.Reason = AsError(err)
		return e
	}
	e.Eligible = true
	return e
}

// CheckRenewable returns nil if certificate c may be renewed at now: its
// validity has begun (the issuer renews no certificate before its
// not-before) and the policy's window is open (CheckWindow); else an *Error
// with CodeNotYetValid, CodeWindowNotOpen or CodeWindowClosed.
func (p Policy) CheckRenewable(c Certificate, now time.Time) error {
	if now.Before(c.NotBefore) {
		return Errorf(CodeNotYetValid, "serial", "the certificate is valid from %s: it can be renewed once it is", c.NotBefore.UTC().Format(time.RFC3339))
	}
	return p.CheckWindow(c.NotAfter, now)
}
