package renewal

import (
	"strings"
	"testing"
	"time"
)

func TestPolicyValidate(t *testing.T) {
	if err := DefaultPolicy().Validate(); err != nil {
		t.Fatalf("default policy: %v", err)
	}
	cases := []struct {
		field string
		spoil func(*Policy)
	}{
		{"payment_timing", func(p *Policy) { p.PaymentTiming = "whenever" }},
		{"window_before_days", func(p *Policy) { p.WindowBeforeDays = -1 }},
		{"window_after_days", func(p *Policy) { p.WindowAfterDays = MaxWindowDays + 1 }},
		{"prices_fen[1]", func(p *Policy) { p.PricesFen[1] = -5 }},
		{"finverify_max_tries", func(p *Policy) { p.FinVerifyMaxTries = 0 }},
	}
	for _, c := range cases {
		p := DefaultPolicy()
		c.spoil(&p)
		if e := AsError(p.Validate()); e == nil || e.FieldError(c.field) == nil {
			t.Errorf("%s: %v", c.field, e)
		}
	}
}

func TestWindow(t *testing.T) {
	p := DefaultPolicy()
	notAfter := time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		now  time.Time
		code Code
	}{
		{notAfter.AddDate(0, 0, -91), CodeWindowNotOpen},
		{notAfter.AddDate(0, 0, -90), 0},
		{notAfter, 0},
		{notAfter.AddDate(0, 0, 365), 0},
		{notAfter.AddDate(0, 0, 365).Add(time.Second), CodeWindowClosed},
	} {
		err := p.CheckWindow(notAfter, c.now)
		if (c.code == 0) != (err == nil) || (err != nil && CodeOf(err) != c.code) {
			t.Errorf("at %s: %v, want %v", c.now, err, c.code)
		}
	}
	e := p.Eligibility(Certificate{Serial: "a", NotAfter: notAfter}, notAfter.AddDate(0, 0, -20))
	if !e.Eligible || e.DaysLeft != 20 || len(e.Prices) != 3 || e.Prices[2].AmountFen != p.PricesFen[2] {
		t.Errorf("eligibility: %+v", e)
	}
	e = p.Eligibility(Certificate{Serial: "a", NotAfter: notAfter}, notAfter.AddDate(2, 0, 0))
	if e.Eligible || e.Reason == nil || e.Reason.Code != CodeWindowClosed {
		t.Errorf("eligibility long after expiry: %+v", e)
	}
}

func TestNewValidityExtendsFromOldEnd(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	oldEnd := now.AddDate(0, 0, 30)
	nb, na := NewValidity(oldEnd, now, 2)
	if !nb.Equal(now) || !na.Equal(oldEnd.AddDate(2, 0, 0)) {
		t.Errorf("early: %s %s", nb, na)
	}
	_, na = NewValidity(now.AddDate(0, 0, -30), now, 1)
	if !na.Equal(now.AddDate(1, 0, 0)) {
		t.Errorf("late: %s", na)
	}
}

// DaysLeft counts calendar days in China's time zone, whatever the zone of
// its arguments: 0 on the expiry date, -1 the day after.
func TestDaysLeft(t *testing.T) {
	// The certificate ends 2026-01-12 10:00 Beijing time (02:00 UTC).
	end := time.Date(2026, 1, 12, 2, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		now  time.Time
		want int
	}{
		{time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC), 2},                       // 01-10 20:00 CST
		{time.Date(2026, 1, 10, 16, 0, 0, 0, time.UTC), 1},                       // 01-11 00:00 CST: whole 24 h periods would say 1 too
		{time.Date(2026, 1, 10, 15, 59, 0, 0, time.UTC), 2},                      // 01-10 23:59 CST: 34 hours left, still two calendar days
		{time.Date(2026, 1, 11, 16, 0, 0, 0, time.UTC), 0},                       // the expiry date
		{time.Date(2026, 1, 12, 3, 0, 0, 0, time.UTC), 0},                        // expired an hour ago, same date
		{time.Date(2026, 1, 12, 16, 0, 0, 0, time.UTC), -1},                      // the day after
		{time.Date(2026, 1, 10, 20, 0, 0, 0, time.FixedZone("EST", -5*3600)), 1}, // 01-11 09:00 CST
	} {
		if got := DaysLeft(end, c.now); got != c.want {
			t.Errorf("DaysLeft(%s, %s) = %d, want %d", end, c.now, got, c.want)
		}
	}
}

func TestPrice(t *testing.T) {
	p := DefaultPolicy()
	if f, err := p.PriceFen(3); err != nil || f != p.PricesFen[2] {
		t.Errorf("PriceFen(3) = %d, %v", f, err)
	}
	if _, err := p.PriceFen(4); CodeOf(err) != CodeYears {
		t.Errorf("PriceFen(4) = %v", err)
	}
}

// A re-key keeps the certificate's key type unless the policy allows a
// change; the refusal names the field and says it in Chinese.
func TestCheckRekeyKeyType(t *testing.T) {
	p := DefaultPolicy()
	if err := p.CheckRekeyKeyType(KeyECDSA, KeyECDSA); err != nil {
		t.Fatal(err)
	}
	err := p.CheckRekeyKeyType(KeyECDSA, KeyRSA)
	e := AsError(err)
	if e == nil || e.Code != CodeCSRInvalid || e.Field != "csr" || !strings.Contains(e.MessageZH, "RSA") || !strings.Contains(e.MessageZH, "ECDSA") {
		t.Fatalf("ECDSA → RSA: %#v", e)
	}
	p.RekeyKeyTypeChange = true
	if err := p.CheckRekeyKeyType(KeyRSA, KeySM2); err != nil {
		t.Fatalf("allowed by the policy: %v", err)
	}
}

// A certificate whose validity has not begun is not eligible, with its
// own reason, even inside the window.
func TestEligibilityNotYetValid(t *testing.T) {
	p := DefaultPolicy()
	now := time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)
	c := Certificate{Serial: "1", NotBefore: now.Add(time.Hour), NotAfter: now.AddDate(0, 0, 30)}
	e := p.Eligibility(c, now)
	if e.Eligible || e.Reason == nil || e.Reason.Code != CodeNotYetValid || e.Reason.Field != "serial" {
		t.Fatalf("not yet valid: %+v", e)
	}
	c.NotBefore = now.Add(-time.Hour)
	if e := p.Eligibility(c, now); !e.Eligible {
		t.Fatalf("valid: %+v", e)
	}
}
