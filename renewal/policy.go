package renewal

import (
	"fmt"
	"time"
)

// Policy is a CA's renewal policy: configuration data that the server loads
// and sends to clients, never a fork in the code.
type Policy struct {
	PaymentTiming     PaymentTiming `json:"payment_timing"`
	FinVerifyRequired bool          `json:"finverify_required"`
	RekeyRequired     bool          `json:"rekey_required"`
	// Renewal window around the old certificate's not-after, in days.
	WindowBeforeDays int `json:"window_before_days"`
	WindowAfterDays  int `json:"window_after_days"`
	// PricesFen[i] is the price of i+1 years in fen (0.01 CNY).
	PricesFen [MaxYears]int64 `json:"prices_fen"`
	// FinVerifyMaxTries is how many wrong transfer codes fail the check.
	FinVerifyMaxTries int `json:"finverify_max_tries"`
	// RekeyKeyTypeChange lets a re-key change the key type (RSA, ECDSA,
	// SM2) within what the issuer accepts; false, the default: the new key
	// is of the old certificate's type, so a token's certificate keeps the
	// algorithm the token and the relying parties were set up for.
	RekeyKeyTypeChange bool `json:"rekey_key_type_change,omitempty"`
}

// Limits on policy values.
const (
	MaxWindowDays     = 3 * 365
	MaxPriceFen       = 100_000_00 // 100,000 CNY
	MaxFinVerifyTries = 10
)

// DefaultPolicy is the policy renewd runs with unless configured: pay after
// review, financial verification required, window 90 days before to 365
// days after expiry, same key allowed.
func DefaultPolicy() Policy {
	return Policy{
		PaymentTiming:     PayAfterReview,
		FinVerifyRequired: true,
		WindowBeforeDays:  90,
		WindowAfterDays:   365,
		PricesFen:         [MaxYears]int64{300_00, 550_00, 780_00},
		FinVerifyMaxTries: 3,
	}
}

// Validate checks a policy loaded from configuration.
func (p Policy) Validate() error {
	var fe fieldErrors
	if p.PaymentTiming != PayBeforeReview && p.PaymentTiming != PayAfterReview {
		fe.add("payment_timing", invalid(CodeInvalidField, "payment_timing is %q or %q", PayBeforeReview, PayAfterReview))
	}
	if p.WindowBeforeDays < 0 || p.WindowBeforeDays > MaxWindowDays {
		fe.add("window_before_days", invalid(CodeInvalidField, "0 to %d days", MaxWindowDays))
	}
	if p.WindowAfterDays < 0 || p.WindowAfterDays > MaxWindowDays {
		fe.add("window_after_days", invalid(CodeInvalidField, "0 to %d days", MaxWindowDays))
	}
	for i, f := range p.PricesFen {
		if f < 0 || f > MaxPriceFen {
			fe.add(fmt.Sprintf("prices_fen[%d]", i), invalid(CodeInvalidField, "0 to %d fen", MaxPriceFen))
		}
	}
	if p.FinVerifyRequired && (p.FinVerifyMaxTries < 1 || p.FinVerifyMaxTries > MaxFinVerifyTries) {
		fe.add("finverify_max_tries", invalid(CodeInvalidField, "1 to %d tries", MaxFinVerifyTries))
	}
	return fe.err()
}

// PriceFen returns the price of a renewal for years years.
func (p Policy) PriceFen(years int) (int64, error) {
	if err := ValidateYears(years); err != nil {
		return 0, err
	}
	return p.PricesFen[years-1], nil
}

// CheckRekeyKeyType refuses a re-key from a key of type old to one of
// type next unless they are the same or the policy allows the change
// (RekeyKeyTypeChange); the key's size and curve are the issuer's rule.
func (p Policy) CheckRekeyKeyType(old, next KeyType) error {
	if old == next || p.RekeyKeyTypeChange {
		return nil
	}
	e := Errorf(CodeCSRInvalid, "csr", "the new key is %s, the certificate's is %s: this CA does not change the key type on renewal", next, old)
	e.MessageZH = "新密钥类型（" + next.Label() + "）与原证书（" + old.Label() + "）不同；本CA续期时不更换密钥类型"
	return e
}

// Window returns when renewal of a certificate valid until notAfter opens and
// closes.
func (p Policy) Window(notAfter time.Time) (opens, closes time.Time) {
	return notAfter.AddDate(0, 0, -p.WindowBeforeDays), notAfter.AddDate(0, 0, p.WindowAfterDays)
}

// CheckWindow returns nil if a certificate valid until notAfter may be
// renewed at now, else an *Error with CodeWindowNotOpen or CodeWindowClosed.
func (p Policy) CheckWindow(notAfter, now time.Time) error {
	opens, closes := p.Window(notAfter)
	switch {
	case now.Before(opens):
		return Errorf(CodeWindowNotOpen, "serial", "renewal opens on %s", opens.UTC().Format(time.DateOnly))
	case now.After(closes):
		return Errorf(CodeWindowClosed, "serial", "renewal closed on %s", closes.UTC().Format(time.DateOnly))
	}
	return nil
}

// NewValidity returns the validity of the renewed certificate: renewing early
// extends from the old not-after, renewing late starts now.
func NewValidity(oldNotAfter, now time.Time, years int) (notBefore, notAfter time.Time) {
	start := now
	if oldNotAfter.After(now) {
		start = oldNotAfter
	}
	return now, start.AddDate(years, 0, 0)
}

// ChinaTime is the time zone in which the service counts days (UTC+8 all
// year: China has no daylight saving time, so a fixed zone needs no tzdata).
var ChinaTime = time.FixedZone("CST", 8*60*60)

// DaysLeft returns the calendar days from now until notAfter as a clerk in
// China counts them: 0 on the expiry date, negative once expired ("expired
// N days ago"). It is the one rule of the client and ukeyctl too
// (DaysLeftIn), there in the user's own zone.
func DaysLeft(notAfter, now time.Time) int {
	return DaysLeftIn(notAfter, now, ChinaTime)
}
