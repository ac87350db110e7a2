package renewals_test

import (
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// service is the service of e under policy p, with at most qrPerDay QR
// orders an application a day (0: no cap).
func (e *env) service(p renewal.Policy, qrPerDay int) *renewals.Service {
	return renewals.New(renewals.Deps{Store: e.Store, Policy: p, Issuer: e.CA, Bank: e.Bank, Pepper: renewdtest.Pepper,
		Now: e.Clock.Now, Payments: e.Payments, ChallengeTTL: 5 * time.Minute, MaxTransfers: 3, MaxQROrdersPerDay: qrPerDay})
}

func payBeforeReview() renewal.Policy {
	p := renewal.DefaultPolicy()
	p.PaymentTiming = renewal.PayBeforeReview
	return p
}

// qr asks svc for a QR code of application id from provider ("" the default).
func (e *env) qr(svc *renewals.Service, id, provider string) *renewal.PaymentQR {
	e.t.Helper()
	qr, err := svc.PaymentQR(e.t.Context(), e.clerk, id, renewal.PaymentQRRequest{Provider: provider})
	if err != nil {
		e.t.Fatal(err)
	}
	return qr
}

// payQR pays qr's order of application id at its provider's simulator and
// polls, as the clerk's client does, so the payment is applied.
func (e *env) payQR(svc *renewals.Service, id string, qr *renewal.PaymentQR) *renewal.Application {
	e.t.Helper()
	var err error
	if qr.Order.Provider == "alipay" {
		_, err = e.PaySim.Alipay.Pay(qr.Order.OutTradeNo)
	} else {
		_, err = e.PaySim.Sim.Pay(qr.Order.OutTradeNo)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	if st, err := svc.PaymentStatus(e.t.Context(), e.clerk, id); err != nil || st.State != renewal.PaymentPaid {
		e.t.Fatalf("after paying: %+v, %v", st, err)
	}
	return e.get(svc, id)
}

func (e *env) get(svc *renewals.Service, id string) *renewal.Application {
	e.t.Helper()
	a, err := svc.Get(e.t.Context(), e.clerk, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func withYears(a *renewal.Application, years int) renewal.UpdateApplicationRequest {
	f := a.Form
	f.Years = years
	return renewal.UpdateApplicationRequest{Version: a.Version, Form: f}
}

// Paying before review for 1 year and then asking for 3 is refused: the
// paid period and price stay, other edits still go through, and the
// application is submitted for what was paid.
func TestPaidYearsLocked(t *testing.T) {
	dialectsPaying(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		svc := e.service(payBeforeReview(), 0)
		a := e.draft()
		qr := e.qr(svc, a.ID, "")
		if qr.Order.AmountFen != 300_00 {
			t.Fatalf("QR of %d fen for 1 year", qr.Order.AmountFen)
		}
		a = e.payQR(svc, a.ID, qr)
		_, err := svc.Update(ctx, e.clerk, a.ID, withYears(a, 3))
		wantCode(t, err, renewal.CodePriceLocked)
		if re := renewal.AsError(err); re.Field != "form.years" || re.HTTPStatus() != 409 {
			t.Fatalf("refusal %+v", re)
		}
		if got := e.get(svc, a.ID); got.Form.Years != 1 || got.PriceFen != 300_00 || got.Payment != renewal.PaymentPaid {
			t.Fatalf("after the refused change: %d years at %d fen, %s", got.Form.Years, got.PriceFen, got.Payment)
		}
		same := withYears(a, 1)
		same.Form.Pickup = renewal.Pickup{Method: renewal.PickupOnSite}
		if a, err = svc.Update(ctx, e.clerk, a.ID, same); err != nil || a.PriceFen != 300_00 {
			t.Fatalf("an edit that keeps the period: %+v, %v", a, err)
		}
		if a, err = svc.Submit(ctx, e.clerk, a.ID, renewal.SubmitRequest{Version: a.Version}); err != nil || a.Status != renewal.StatusPendingReview {
			t.Fatalf("submit: %+v, %v", a, err)
		}
	})
}

// Changing the years while a QR code is open closes it: the old amount
// can no longer be paid, and the next QR code is of the new price.
func TestYearsChangeClosesOpenQR(t *testing.T) {
	dialectsPaying(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		svc := e.service(payBeforeReview(), 0)
		a := e.draft()
		old := e.qr(svc, a.ID, "")
		a, err := svc.Update(ctx, e.clerk, a.ID, withYears(a, 3))
		if err != nil || a.PriceFen != 780_00 {
			t.Fatalf("3 years unpaid: %+v, %v", a, err)
		}
		o, err := e.Payments.Order(ctx, old.Order.OutTradeNo)
		if err != nil || o.State != payment.OrderClosed {
			t.Fatalf("the QR code of the old price: %+v, %v", o, err)
		}
		next := e.qr(svc, a.ID, "")
		if next.Order.OutTradeNo == old.Order.OutTradeNo || next.Order.AmountFen != 780_00 {
			t.Fatalf("QR after the change: %+v", next.Order)
		}
	})
}

// The check behind Update: if the years were raised while a QR code of the
// old price was paid (a race Update cannot see), submit, approval and
// issuance refuse the application until the period is the one paid for.
func TestPaidLessThanPriceRefused(t *testing.T) {
	dialectsPaying(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		svc := e.service(payBeforeReview(), 0)
		a := e.draft()
		qr := e.qr(svc, a.ID, "")
		// The years change commits between the QR code and its payment.
		a, err := e.Store.UpdateApplication(ctx, store.AllScope(), a.ID, a.Version, store.Change{Actor: "system", Action: "test.race"},
			func(a *renewal.Application) error {
				a.Form.Years, a.PriceFen = 3, 780_00
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		a = e.payQR(svc, a.ID, qr)
		_, err = svc.Submit(ctx, e.clerk, a.ID, renewal.SubmitRequest{Version: a.Version})
		wantCode(t, err, renewal.CodePaymentShort)

		for _, st := range []renewal.State{
			{Status: renewal.StatusPendingReview, Payment: renewal.PaymentPaid, FinVerify: renewal.FinVerifyPending},
			{Status: renewal.StatusReadyToDownload, Payment: renewal.PaymentPaid, FinVerify: renewal.FinVerifyVerified},
		} {
			b := e.arrange(a, st)
			if st.Status == renewal.StatusPendingReview {
				_, err = svc.Review(ctx, e.reviewer, b.ID, renewal.ActionApprove, renewal.ReviewRequest{Version: b.Version})
			} else {
				_, err = svc.Issue(ctx, e.clerk, b.ID, renewal.IssueRequest{Version: b.Version, Mode: renewal.IssueSameKey, Nonce: make([]byte, renewal.NonceBytes), Signature: []byte{1}})
			}
			wantCode(t, err, renewal.CodePaymentShort)
			a = e.arrange(b, renewal.State{Status: renewal.StatusEditing, Payment: renewal.PaymentPaid, FinVerify: renewal.FinVerifyPending})
		}

		// Back to the year paid for: allowed, and then it goes on.
		if a, err = svc.Update(ctx, e.clerk, a.ID, withYears(a, 1)); err != nil || a.PriceFen != 300_00 {
			t.Fatalf("back to 1 year: %+v, %v", a, err)
		}
		if _, err = svc.Submit(ctx, e.clerk, a.ID, renewal.SubmitRequest{Version: a.Version}); err != nil {
			t.Fatal(err)
		}
	})
}

// QR codes are not free: asking again answers the live code, and an
// application makes at most its daily number of orders, alternating
// providers or not; the refusal says when to come back.
func TestQROrdersCapped(t *testing.T) {
	dialectsPaying(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		svc := e.service(renewal.DefaultPolicy(), 3)
		a := e.arrange(e.draft(), renewal.State{Status: renewal.StatusApproved, Payment: renewal.PaymentUnpaid, FinVerify: renewal.FinVerifyPending})
		first := e.qr(svc, a.ID, "wechat")
		if again := e.qr(svc, a.ID, "wechat"); again.Order.OutTradeNo != first.Order.OutTradeNo {
			t.Fatalf("the live QR code was replaced: %s, then %s", first.Order.OutTradeNo, again.Order.OutTradeNo)
		}
		e.qr(svc, a.ID, "alipay")
		last := e.qr(svc, a.ID, "wechat")
		_, err := svc.PaymentQR(ctx, e.clerk, a.ID, renewal.PaymentQRRequest{Provider: "alipay"})
		wantCode(t, err, renewal.CodeRateLimited)
		secs, ok := renewals.RetryAfterOf(err)
		if day := int((24 * time.Hour).Seconds()); !ok || secs < day-60 || secs > day {
			t.Fatalf("Retry-After %d (%v), want about a day", secs, ok)
		}
		if re := renewal.AsError(err); re.MessageZH == renewal.CodeRateLimited.Info().ZH {
			t.Fatalf("Chinese message is the generic one: %q", re.MessageZH)
		}
		if still := e.qr(svc, a.ID, "wechat"); still.Order.OutTradeNo != last.Order.OutTradeNo || still.Order.CodeURL == "" {
			t.Fatalf("the live QR code over the cap: %+v", still.Order)
		}
		if o, err := e.Payments.Order(ctx, last.Order.OutTradeNo); err != nil || o.State != payment.OrderOpen {
			t.Fatalf("the refusal closed the live order: %+v, %v", o, err)
		}
		e.Clock.Advance(24 * time.Hour)
		if next := e.qr(svc, a.ID, "alipay"); next.Order.OutTradeNo == last.Order.OutTradeNo {
			t.Fatal("no new order a day later")
		}
	})
}
