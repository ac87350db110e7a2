package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

func TestPaymentsSQLite(t *testing.T) { runPayments(t, newEnv(t, envOptions{})) }

func TestPaymentsPostgres(t *testing.T) {
	runPayments(t, newEnv(t, envOptions{postgres: true}))
}

// approved makes an application of the clerk's organisation and has the
// reviewer approve it: under the default policy (pay after review) it then
// waits for payment.
func (e *env) approved(ct, reviewer, holder string) renewal.Application {
	e.t.Helper()
	var a renewal.Application
	e.ok(http.StatusCreated, &a, "POST", "/v1/applications", ct, renewal.CreateApplicationRequest{CertSerial: e.holders[holder].Serial, Form: ptr(validForm(e.Org, 2))})
	e.ok(http.StatusOK, &a, "POST", "/v1/applications/"+a.ID+"/submit", ct, renewal.SubmitRequest{Version: a.Version})
	e.ok(http.StatusOK, &a, "POST", "/v1/applications/"+a.ID+"/approve", reviewer, renewal.ReviewRequest{Version: a.Version})
	if a.Status != renewal.StatusApproved || a.Payment != renewal.PaymentUnpaid {
		e.t.Fatalf("approved: %+v", a.State)
	}
	return a
}

// auditActions lists the audit actions recorded for an application.
func (e *env) auditActions(admin, id string) []string {
	e.t.Helper()
	var page struct{ Items []renewal.AuditEntry }
	e.ok(http.StatusOK, &page, "GET", "/v1/audit?target=application/"+id+"&page_size=1000", admin, nil)
	var out []string
	for _, en := range page.Items {
		out = append(out, en.Action)
	}
	return out
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

func runPayments(t *testing.T, e *env) {
	ct := e.smsSignIn(clerkMobile).AccessToken
	other := e.smsSignIn(otherClerkMobile).AccessToken
	reviewer := e.passwordSignIn("reviewer", reviewerPassword).AccessToken
	admin := e.passwordSignIn("admin", adminPassword).AccessToken
	// One certificate per application that is still open.
	for _, name := range []string{"p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8"} {
		e.addHolder(name, issuer.ECDSA, e.Org, start.AddDate(0, 0, 40))
	}

	t.Run("bad input", func(t *testing.T) {
		var draft renewal.Application
		e.ok(http.StatusCreated, &draft, "POST", "/v1/applications", ct, renewal.CreateApplicationRequest{CertSerial: e.holders["sm2"].Serial, Form: ptr(validForm(e.Org, 1))})
		// Under pay-after-review a draft is not payable yet.
		e.fails(http.StatusConflict, "action_not_allowed", "POST", "/v1/applications/"+draft.ID+"/payment/qr", ct, renewal.PaymentQRRequest{})
		a := e.approved(ct, reviewer, "p1")
		qr := "/v1/applications/" + a.ID + "/payment/qr"
		e.fails(http.StatusUnauthorized, "unauthenticated", "POST", qr, "", renewal.PaymentQRRequest{})
		e.fails(http.StatusNotFound, "not_found", "POST", qr, other, renewal.PaymentQRRequest{})
		e.fails(http.StatusNotFound, "not_found", "GET", "/v1/applications/"+a.ID+"/payment", other, nil)
		e.fails(http.StatusNotFound, "not_found", "POST", "/v1/applications/nope/payment/qr", ct, renewal.PaymentQRRequest{})
		e.fails(http.StatusNotFound, "not_found", "POST", "/v1/applications/"+strings.Repeat("a", 65)+"/payment/qr", ct, renewal.PaymentQRRequest{})
		e.fails(http.StatusBadRequest, "invalid_request", "POST", qr, ct, map[string]any{"amount_fen": 1})
		e.fails(http.StatusBadRequest, "invalid_request", "POST", qr, ct, nil)
		e.fails(http.StatusBadRequest, "invalid_field", "POST", qr, ct, map[string]any{"provider": 7})
		e.fails(http.StatusBadRequest, "invalid_field", "POST", qr, ct, renewal.PaymentQRRequest{Provider: "WeChat"})
		e.fails(http.StatusBadRequest, "invalid_field", "POST", qr, ct, renewal.PaymentQRRequest{Provider: "unionpay"})
		// Staff do not pay.
		e.fails(http.StatusConflict, "action_not_allowed", "POST", qr, reviewer, renewal.PaymentQRRequest{})
		// Refunds are for admins, with a reason.
		rf := "/v1/applications/" + a.ID + "/payment/refund"
		e.fails(http.StatusForbidden, "forbidden", "POST", rf, ct, renewal.RefundRequest{Reason: "x"})
		e.fails(http.StatusForbidden, "forbidden", "POST", rf, reviewer, renewal.RefundRequest{Reason: "x"})
		e.fails(http.StatusBadRequest, "reason_required", "POST", rf, admin, renewal.RefundRequest{Reason: "  "})
		e.fails(http.StatusBadRequest, "too_long", "POST", rf, admin, renewal.RefundRequest{Reason: strings.Repeat("退", 81)})
		e.fails(http.StatusConflict, "action_not_allowed", "POST", rf, admin, renewal.RefundRequest{Reason: "重复申请"})
		// Nothing of it left a trace in the payment: still unpaid, no order.
		var st renewal.PaymentStatus
		e.ok(http.StatusOK, &st, "GET", "/v1/applications/"+a.ID+"/payment", ct, nil)
		if st.State != renewal.PaymentUnpaid || st.Order != nil || len(st.Refunds) != 0 {
			t.Fatalf("after bad requests: %+v", st)
		}
		// Notifications: an unknown provider, a forged body.
		r := e.do("POST", "/v1/payments/notify/unionpay", "", map[string]string{"id": "x"})
		if r.status != http.StatusNotFound {
			t.Fatalf("unknown provider: %d", r.status)
		}
		r = e.do("POST", "/v1/payments/notify/wechat", "", map[string]string{"id": "forged"})
		if r.status != http.StatusUnauthorized && r.status != http.StatusBadRequest {
			t.Fatalf("forged notification: %d %s", r.status, r.body)
		}
		if st := e.do("GET", "/v1/applications/"+a.ID, ct, nil); st.status != http.StatusOK || !strings.Contains(string(st.body), `"payment":"unpaid"`) {
			t.Fatalf("after a forged notification: %s", st.body)
		}
	})

	t.Run("window of 300 s: paid at 299 s counts, none after", func(t *testing.T) {
		a := e.approved(ct, reviewer, "p2")
		base := "/v1/applications/" + a.ID
		var q1 renewal.PaymentQR
		e.ok(http.StatusOK, &q1, "POST", base+"/payment/qr", ct, renewal.PaymentQRRequest{})
		if q1.Order.AmountFen != 55000 || q1.Order.ExpiresAt.Sub(q1.Order.CreatedAt) != 300*time.Second {
			t.Fatalf("2-year QR: %+v", q1.Order)
		}
		// Asking again within the window answers the same QR.
		var same renewal.PaymentQR
		e.Clock.Advance(100 * time.Second)
		e.ok(http.StatusOK, &same, "POST", base+"/payment/qr", ct, renewal.PaymentQRRequest{})
		if same.Order.OutTradeNo != q1.Order.OutTradeNo || same.Order.ExpiresAt.Sub(same.ServerTime).Round(time.Second) != 200*time.Second {
			t.Fatalf("second ask: %+v", same)
		}
		// At 301 s the phone cannot pay; the status poll closes the order.
		e.Clock.Advance(201 * time.Second)
		if _, err := e.PaySim.Sim.Pay(q1.Order.OutTradeNo); err == nil {
			t.Fatal("the simulator took a payment after time_expire")
		}
		var st renewal.PaymentStatus
		e.ok(http.StatusOK, &st, "GET", base+"/payment", ct, nil)
		if st.State != renewal.PaymentUnpaid || st.Order == nil || st.Order.State != payment.OrderClosed || st.Order.CodeURL != "" {
			t.Fatalf("after 301 s: %+v", st)
		}
		e.fails(http.StatusConflict, "action_not_allowed", "POST", "/dev/applications/"+a.ID+"/pay", "", nil)
		// A new QR is a new attempt; paid at 299 s, it counts.
		var q2 renewal.PaymentQR
		e.ok(http.StatusOK, &q2, "POST", base+"/payment/qr", ct, renewal.PaymentQRRequest{})
		if q2.Order.OutTradeNo == q1.Order.OutTradeNo || q2.Order.State != payment.OrderOpen || !q2.Order.ExpiresAt.After(q1.Order.ExpiresAt) {
			t.Fatalf("new QR: %+v after %+v", q2.Order, q1.Order)
		}
		e.Clock.Advance(299 * time.Second)
		e.ok(http.StatusAccepted, nil, "POST", "/dev/applications/"+a.ID+"/pay", "", nil)
		e.PaySim.Sim.Wait()
		e.ok(http.StatusOK, &st, "GET", base+"/payment", ct, nil)
		if st.State != renewal.PaymentPaid || st.Order.OutTradeNo != q2.Order.OutTradeNo {
			t.Fatalf("paid at 299 s: %+v", st)
		}
		// The sweeper, later, finds nothing to close.
		e.Clock.Advance(10 * time.Second)
		if n, err := e.Payments.ExpireDue(t.Context()); err != nil || n != 0 {
			t.Fatalf("sweep after payment: %d, %v", n, err)
		}
		// Paid: no new QR.
		e.fails(http.StatusConflict, "action_not_allowed", "POST", base+"/payment/qr", ct, renewal.PaymentQRRequest{})
		acts := e.auditActions(admin, a.ID)
		if count(acts, "payment.credited") != 1 || count(acts, "application.mark_paid") != 1 || count(acts, "payment.qr_closed") != 1 {
			t.Fatalf("audit: %v", acts)
		}
	})

	t.Run("a lost notification is applied by the status poll, once", func(t *testing.T) {
		a := e.approved(ct, reviewer, "p3")
		base := "/v1/applications/" + a.ID
		var q renewal.PaymentQR
		e.ok(http.StatusOK, &q, "POST", base+"/payment/qr", ct, renewal.PaymentQRRequest{})
		e.PaySim.Sim.HoldNotifications(true)
		defer e.PaySim.Sim.HoldNotifications(false)
		if _, err := e.PaySim.Sim.Pay(q.Order.OutTradeNo); err != nil {
			t.Fatal(err)
		}
		e.Clock.Advance(payment.StatusQueryInterval)
		var st renewal.PaymentStatus
		e.ok(http.StatusOK, &st, "GET", base+"/payment", ct, nil)
		if st.State != renewal.PaymentPaid {
			t.Fatalf("status poll with the notification held: %+v", st)
		}
		// The notification arrives late, several times at once: nothing more.
		e.PaySim.Sim.HoldNotifications(false)
		if n := e.PaySim.Sim.ReleaseNotifications(); n != 1 {
			t.Fatalf("%d held notifications", n)
		}
		e.PaySim.Sim.Wait()
		if d := e.PaySim.Sim.Deliveries(); len(d) == 0 || d[len(d)-1].Status != http.StatusNoContent {
			t.Fatalf("the late notification was not acknowledged: %+v", d)
		}
		acts := e.auditActions(admin, a.ID)
		if count(acts, "payment.credited") != 1 || count(acts, "application.mark_paid") != 1 {
			t.Fatalf("credited more than once: %v", acts)
		}
		var got renewal.Application
		e.ok(http.StatusOK, &got, "GET", base, ct, nil)
		if got.Payment != renewal.PaymentPaid || got.Version != a.Version+1 {
			t.Fatalf("application: %+v v%d (was v%d)", got.State, got.Version, a.Version)
		}
	})

	t.Run("100 copies of one notification at once: one credit", func(t *testing.T) {
		a := e.approved(ct, reviewer, "p7")
		var q renewal.PaymentQR
		e.ok(http.StatusOK, &q, "POST", "/v1/applications/"+a.ID+"/payment/qr", ct, renewal.PaymentQRRequest{})
		plain, _ := json.Marshal(map[string]any{
			"appid": payment.DevAppID, "mchid": payment.DevMchID, "out_trade_no": q.Order.OutTradeNo,
			"transaction_id": "4200000000202611230001", "trade_type": "NATIVE", "trade_state": "SUCCESS",
			"success_time": e.Clock.Now().Format(time.RFC3339), "amount": map[string]any{"total": q.Order.AmountFen, "currency": "CNY"},
		})
		r, err := e.PaySim.Sim.NewNotification(e.URL+"/v1/payments/notify/wechat", "N-CONCURRENT-1", "TRANSACTION.SUCCESS", plain, e.Clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r.Body)
		statuses := make([]int, 100)
		var wg sync.WaitGroup
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodPost, r.URL.String(), bytes.NewReader(body))
				req.Header = r.Header.Clone()
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					return
				}
				res.Body.Close()
				statuses[i] = res.StatusCode
			}()
		}
		wg.Wait()
		for i, st := range statuses {
			if st != http.StatusNoContent {
				t.Fatalf("copy %d answered %d", i, st)
			}
		}
		var got renewal.Application
		e.ok(http.StatusOK, &got, "GET", "/v1/applications/"+a.ID, ct, nil)
		if got.Payment != renewal.PaymentPaid || got.Version != a.Version+1 {
			t.Fatalf("after 100 copies: %+v v%d (was v%d)", got.State, got.Version, a.Version)
		}
		if acts := e.auditActions(admin, a.ID); count(acts, "payment.credited") != 1 || count(acts, "application.mark_paid") != 1 {
			t.Fatalf("audit: %v", acts)
		}
		// A copy with a forged signature is refused and changes nothing.
		forged := r.Header.Clone()
		forged.Set("Wechatpay-Signature", "Zm9yZ2Vk")
		req, _ := http.NewRequest(http.MethodPost, r.URL.String(), bytes.NewReader(body))
		req.Header = forged
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("forged copy: %d", res.StatusCode)
		}
	})

	t.Run("Alipay QR, paid, refunded on cancel", func(t *testing.T) {
		a := e.approved(ct, reviewer, "p8")
		base := "/v1/applications/" + a.ID
		var q renewal.PaymentQR
		e.ok(http.StatusOK, &q, "POST", base+"/payment/qr", ct, renewal.PaymentQRRequest{Provider: "alipay"})
		if q.Order.Provider != "alipay" || q.Order.CodeURL == "" || q.Order.ExpiresAt.Sub(q.Order.CreatedAt) != 300*time.Second {
			t.Fatalf("Alipay QR: %+v", q.Order)
		}
		// Switching to WeChat closes the Alipay code first.
		var w renewal.PaymentQR
		e.ok(http.StatusOK, &w, "POST", base+"/payment/qr", ct, renewal.PaymentQRRequest{})
		if w.Order.Provider != "wechat" || w.Order.OutTradeNo == q.Order.OutTradeNo {
			t.Fatalf("switch to WeChat: %+v", w.Order)
		}
		e.ok(http.StatusOK, &q, "POST", base+"/payment/qr", ct, renewal.PaymentQRRequest{Provider: "alipay"})
		e.ok(http.StatusAccepted, nil, "POST", "/dev/applications/"+a.ID+"/pay", "", nil)
		e.PaySim.Alipay.Wait()
		var st renewal.PaymentStatus
		e.ok(http.StatusOK, &st, "GET", base+"/payment", ct, nil)
		if st.State != renewal.PaymentPaid || st.Order.Provider != "alipay" {
			t.Fatalf("after paying by Alipay: %+v", st)
		}
		e.ok(http.StatusOK, &a, "GET", base, ct, nil)
		e.ok(http.StatusOK, &a, "POST", base+"/cancel", ct, renewal.VersionRequest{Version: a.Version})
		if a.Status != renewal.StatusCancelled || (a.Payment != renewal.PaymentRefunded && a.Payment != renewal.PaymentRefunding) {
			t.Fatalf("cancelled after Alipay: %+v", a.State)
		}
		e.ok(http.StatusOK, &st, "GET", base+"/payment", ct, nil)
		if st.State != renewal.PaymentRefunded || len(st.Refunds) != 1 || st.Refunds[0].State != payment.RefundStateSuccess {
			t.Fatalf("Alipay refunds at once: %+v", st)
		}
	})

	t.Run("cancel and refund", func(t *testing.T) {
		a := e.approved(ct, reviewer, "p4")
		a = e.payQR(ct, a.ID)
		base := "/v1/applications/" + a.ID
		// A stale cancel changes nothing: no refund starts.
		e.fails(http.StatusConflict, "stale_version", "POST", base+"/cancel", ct, renewal.VersionRequest{Version: a.Version - 1})
		var st renewal.PaymentStatus
		e.ok(http.StatusOK, &st, "GET", base+"/payment", ct, nil)
		if st.State != renewal.PaymentPaid || len(st.Refunds) != 0 {
			t.Fatalf("after a stale cancel: %+v", st)
		}
		// Within 7 days the clerk cancels: cancelled and refunding at once.
		e.Clock.Advance(6 * 24 * time.Hour)
		ct = e.smsSignIn(clerkMobile).AccessToken // the access token lives 15 minutes
		admin = e.passwordSignIn("admin", adminPassword).AccessToken
		reviewer = e.passwordSignIn("reviewer", reviewerPassword).AccessToken
		e.ok(http.StatusOK, &a, "POST", base+"/cancel", ct, renewal.VersionRequest{Version: a.Version})
		if a.Status != renewal.StatusCancelled || a.Payment != renewal.PaymentRefunding {
			t.Fatalf("cancelled: %+v", a.State)
		}
		e.ok(http.StatusOK, &st, "GET", base+"/payment", ct, nil)
		if len(st.Refunds) != 1 || st.Refunds[0].AmountFen != 55000 {
			t.Fatalf("refunds: %+v", st)
		}
		// WeChat settles the refund and notifies.
		if err := e.PaySim.Sim.SettleRefund(st.Refunds[0].OutRefundNo); err != nil {
			t.Fatal(err)
		}
		e.PaySim.Sim.Wait()
		e.ok(http.StatusOK, &st, "GET", base+"/payment", ct, nil)
		if st.State != renewal.PaymentRefunded || st.Refunds[0].State != payment.RefundStateSuccess {
			t.Fatalf("after the refund notification: %+v", st)
		}
		e.ok(http.StatusOK, &a, "GET", base, ct, nil)
		if a.Payment != renewal.PaymentRefunded {
			t.Fatalf("application after refund: %+v", a.State)
		}
		acts := e.auditActions(admin, a.ID)
		if count(acts, "application.cancel") != 1 || count(acts, "refund.requested") != 1 || count(acts, "application.mark_refunded") != 1 {
			t.Fatalf("audit: %v", acts)
		}
		e.fails(http.StatusConflict, "action_not_allowed", "POST", base+"/payment/refund", admin, renewal.RefundRequest{Reason: "again"})

		// After 7 days a clerk may not cancel a paid application.
		b := e.approved(ct, reviewer, "p5")
		b = e.payQR(ct, b.ID)
		e.Clock.Advance(7*24*time.Hour + time.Minute)
		ct = e.smsSignIn(clerkMobile).AccessToken
		admin = e.passwordSignIn("admin", adminPassword).AccessToken
		reviewer = e.passwordSignIn("reviewer", reviewerPassword).AccessToken
		e.fails(http.StatusConflict, "action_not_allowed", "POST", "/v1/applications/"+b.ID+"/cancel", ct, renewal.VersionRequest{Version: b.Version})
		e.ok(http.StatusOK, &b, "GET", "/v1/applications/"+b.ID, ct, nil)
		if b.Status != renewal.StatusApproved || b.Payment != renewal.PaymentPaid {
			t.Fatalf("a refused cancel changed the application: %+v", b.State)
		}
		// The admin may, with the same refund path.
		e.ok(http.StatusOK, &b, "POST", "/v1/applications/"+b.ID+"/cancel", admin, renewal.VersionRequest{Version: b.Version})
		if b.Status != renewal.StatusCancelled || b.Payment != renewal.PaymentRefunding {
			t.Fatalf("admin cancel: %+v", b.State)
		}
		// WeChat fails the refund: the money is still the CA's (paid), and
		// the admin asks again; this time it is settled.
		var bs renewal.PaymentStatus
		e.ok(http.StatusOK, &bs, "GET", "/v1/applications/"+b.ID+"/payment", admin, nil)
		if err := e.PaySim.Sim.FailRefund(bs.Refunds[0].OutRefundNo); err != nil {
			t.Fatal(err)
		}
		e.PaySim.Sim.Wait()
		e.ok(http.StatusOK, &bs, "GET", "/v1/applications/"+b.ID+"/payment", admin, nil)
		if bs.State != renewal.PaymentPaid || bs.Refunds[0].State != payment.RefundStateFailed {
			t.Fatalf("after a failed refund: %+v", bs)
		}
		e.ok(http.StatusOK, &b, "POST", "/v1/applications/"+b.ID+"/payment/refund", admin, renewal.RefundRequest{Reason: "重新退款"})
		if b.Status != renewal.StatusCancelled || b.Payment != renewal.PaymentRefunding {
			t.Fatalf("refund asked again: %+v", b.State)
		}
		e.ok(http.StatusOK, &bs, "GET", "/v1/applications/"+b.ID+"/payment", admin, nil)
		if len(bs.Refunds) != 2 {
			t.Fatalf("refunds: %+v", bs.Refunds)
		}
		for _, rf := range bs.Refunds {
			if rf.State == payment.RefundStateProcessing {
				if err := e.PaySim.Sim.SettleRefund(rf.OutRefundNo); err != nil {
					t.Fatal(err)
				}
			}
		}
		e.PaySim.Sim.Wait()
		e.ok(http.StatusOK, &b, "GET", "/v1/applications/"+b.ID, admin, nil)
		if b.Payment != renewal.PaymentRefunded {
			t.Fatalf("after the second refund: %+v", b.State)
		}
		if acts := e.auditActions(admin, b.ID); count(acts, "application.refund_failed") != 1 || count(acts, "refund.failed") != 1 {
			t.Fatalf("audit: %v", acts)
		}
	})

	t.Run("cancelling closes the QR code", func(t *testing.T) {
		a := e.approved(ct, reviewer, "p6")
		base := "/v1/applications/" + a.ID
		var q renewal.PaymentQR
		e.ok(http.StatusOK, &q, "POST", base+"/payment/qr", ct, renewal.PaymentQRRequest{})
		e.ok(http.StatusOK, &a, "POST", base+"/cancel", ct, renewal.VersionRequest{Version: a.Version})
		if a.Status != renewal.StatusCancelled || a.Payment != renewal.PaymentUnpaid {
			t.Fatalf("cancelled: %+v", a.State)
		}
		// The phone can no longer pay it.
		if _, err := e.PaySim.Sim.Pay(q.Order.OutTradeNo); err == nil {
			t.Fatal("the closed QR code was paid")
		}
		var st renewal.PaymentStatus
		e.ok(http.StatusOK, &st, "GET", base+"/payment", ct, nil)
		if st.Order == nil || st.Order.State != payment.OrderClosed {
			t.Fatalf("after cancel: %+v", st)
		}
	})

	t.Run("money that lands with a cancel is refunded by an admin", func(t *testing.T) {
		a := e.approved(ct, reviewer, "rsa")
		base := "/v1/applications/" + a.ID
		var q renewal.PaymentQR
		e.ok(http.StatusOK, &q, "POST", base+"/payment/qr", ct, renewal.PaymentQRRequest{})
		// Paid on the phone; the notification is still on its way when the
		// clerk cancels: closing the order finds it paid and credits it.
		e.PaySim.Sim.HoldNotifications(true)
		if _, err := e.PaySim.Sim.Pay(q.Order.OutTradeNo); err != nil {
			t.Fatal(err)
		}
		e.ok(http.StatusOK, &a, "POST", base+"/cancel", ct, renewal.VersionRequest{Version: a.Version})
		if a.Status != renewal.StatusCancelled || a.Payment != renewal.PaymentPaid {
			t.Fatalf("cancelled as the money landed: %+v", a.State)
		}
		e.PaySim.Sim.HoldNotifications(false)
		e.PaySim.Sim.ReleaseNotifications()
		e.PaySim.Sim.Wait()
		e.ok(http.StatusOK, &a, "POST", base+"/payment/refund", admin, renewal.RefundRequest{Reason: "申请已取消，退款"})
		if a.Payment != renewal.PaymentRefunding {
			t.Fatalf("refund: %+v", a.State)
		}
		e.fails(http.StatusConflict, "action_not_allowed", "POST", base+"/payment/refund", admin, renewal.RefundRequest{Reason: "again"})
		if acts := e.auditActions(admin, a.ID); count(acts, "payment.credited") != 1 {
			t.Fatalf("audit: %v", acts)
		}
	})

	var v renewal.AuditVerification
	e.ok(http.StatusOK, &v, "GET", "/v1/audit/verify", admin, nil)
	if !v.OK {
		t.Fatalf("audit chain: %+v", v)
	}
}

func TestNotificationFailingMidTransactionSQLite(t *testing.T) {
	runNotificationFailingMidTransaction(t, false)
}

func TestNotificationFailingMidTransactionPostgres(t *testing.T) {
	runNotificationFailingMidTransaction(t, true)
}

// A notification whose transaction fails at its last step (the audit
// entry, after the order and the application moved) leaves nothing behind
// and answers 5xx; the retry of the same notification then applies it once.
func runNotificationFailingMidTransaction(t *testing.T, postgres bool) {
	hooks := &failingHooks{}
	e := newEnv(t, envOptions{postgres: postgres, failingHooks: hooks})
	ct := e.smsSignIn(clerkMobile).AccessToken
	reviewer := e.passwordSignIn("reviewer", reviewerPassword).AccessToken
	admin := e.passwordSignIn("admin", adminPassword).AccessToken
	a := e.approved(ct, reviewer, "rsa")
	var q renewal.PaymentQR
	e.ok(http.StatusOK, &q, "POST", "/v1/applications/"+a.ID+"/payment/qr", ct, renewal.PaymentQRRequest{})
	seq0, _, err := e.Store.AuditHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	hooks.setFail(true)
	txID, err := e.PaySim.Sim.Pay(q.Order.OutTradeNo)
	if err != nil {
		t.Fatal(err)
	}
	// The first delivery fails (WeChat would retry in 15 s).
	var first wechatDelivery
	for deadline := time.Now().Add(10 * time.Second); first.id == ""; {
		for _, d := range e.PaySim.Sim.Deliveries() {
			if d.EventType == "TRANSACTION.SUCCESS" {
				first = wechatDelivery{d.NotificationID, d.Status}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no delivery")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if first.status != http.StatusInternalServerError {
		t.Fatalf("first delivery answered %d", first.status)
	}
	// Nothing of the failed transaction remains: order open, application
	// unpaid at its version, no audit entry, the notification not recorded.
	o, err := e.Payments.Order(t.Context(), q.Order.OutTradeNo)
	if err != nil || o.State != payment.OrderOpen {
		t.Fatalf("order after the failed apply: %+v %v", o, err)
	}
	got, err := e.Store.Application(t.Context(), store.AllScope(), a.ID)
	if err != nil || got.Payment != renewal.PaymentUnpaid || got.Version != a.Version {
		t.Fatalf("application after the failed apply: %+v %v", got, err)
	}
	// (refusals are audited in their own transaction: only they may appear)
	var entries struct{ Items []renewal.AuditEntry }
	e.ok(http.StatusOK, &entries, "GET", fmt.Sprintf("/v1/audit?after_seq=%d&page_size=1000", seq0), admin, nil)
	for _, en := range entries.Items {
		if en.Action != "notification.refused" {
			t.Fatalf("audit entry %q kept from the failed transaction", en.Action)
		}
	}
	// The retry (same notification id, signed afresh) applies it, once.
	hooks.setFail(false)
	plain, _ := json.Marshal(map[string]any{
		"appid": payment.DevAppID, "mchid": payment.DevMchID, "out_trade_no": q.Order.OutTradeNo,
		"transaction_id": txID, "trade_type": "NATIVE", "trade_state": "SUCCESS",
		"success_time": e.Clock.Now().Format(time.RFC3339), "amount": map[string]any{"total": q.Order.AmountFen, "currency": "CNY"},
	})
	for range 2 {
		r, err := e.PaySim.Sim.NewNotification(e.URL+"/v1/payments/notify/wechat", first.id, "TRANSACTION.SUCCESS", plain, e.Clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNoContent {
			t.Fatalf("retry answered %d", res.StatusCode)
		}
	}
	got, err = e.Store.Application(t.Context(), store.AllScope(), a.ID)
	if err != nil || got.Payment != renewal.PaymentPaid || got.Version != a.Version+1 {
		t.Fatalf("application after the retry: %+v %v", got, err)
	}
	if acts := e.auditActions(admin, a.ID); count(acts, "payment.credited") != 1 || count(acts, "application.mark_paid") != 1 {
		t.Fatalf("audit: %v", acts)
	}
	var v renewal.AuditVerification
	e.ok(http.StatusOK, &v, "GET", "/v1/audit/verify", admin, nil)
	if !v.OK {
		t.Fatalf("audit chain: %+v", v)
	}
}

type wechatDelivery struct {
	id     string
	status int
}

// Under pay-before-review a draft can have a live QR code: deleting the
// draft closes it; a draft paid meanwhile is not deleted.
func TestDeleteDraftWithQRCode(t *testing.T) {
	e := newEnv(t, envOptions{cfg: func(c *server.Config) { c.Policy.PaymentTiming = renewal.PayBeforeReview }})
	ct := e.smsSignIn(clerkMobile).AccessToken
	draft := func(h string) (renewal.Application, renewal.PaymentQR) {
		var a renewal.Application
		e.ok(http.StatusCreated, &a, "POST", "/v1/applications", ct, renewal.CreateApplicationRequest{CertSerial: e.holders[h].Serial, Form: ptr(validForm(e.Org, 1))})
		var q renewal.PaymentQR
		e.ok(http.StatusOK, &q, "POST", "/v1/applications/"+a.ID+"/payment/qr", ct, renewal.PaymentQRRequest{})
		return a, q
	}
	a, q := draft("rsa")
	e.ok(http.StatusNoContent, nil, "DELETE", "/v1/applications/"+a.ID+"?version=1", ct, nil)
	if o, err := e.Payments.Order(t.Context(), q.Order.OutTradeNo); err != nil || o.State != payment.OrderClosed {
		t.Fatalf("the deleted draft's order: %+v %v", o, err)
	}
	if _, err := e.PaySim.Sim.Pay(q.Order.OutTradeNo); err == nil {
		t.Fatal("the deleted draft's QR code was paid")
	}
	// Paid on the phone, notification still on its way: not deleted.
	b, q2 := draft("sm2")
	e.PaySim.Sim.HoldNotifications(true)
	if _, err := e.PaySim.Sim.Pay(q2.Order.OutTradeNo); err != nil {
		t.Fatal(err)
	}
	// The close found the money and credited it: the version the clerk
	// had is stale, and a paid draft is not deleted at any version.
	e.fails(http.StatusConflict, "stale_version", "DELETE", "/v1/applications/"+b.ID+"?version=1", ct, nil)
	e.ok(http.StatusOK, &b, "GET", "/v1/applications/"+b.ID, ct, nil)
	if b.Payment != renewal.PaymentPaid || b.Status != renewal.StatusEditing || b.Version != 2 {
		t.Fatalf("paid draft: %+v v%d", b.State, b.Version)
	}
	e.fails(http.StatusConflict, "action_not_allowed", "DELETE", "/v1/applications/"+b.ID+"?version=2", ct, nil)
	e.PaySim.Sim.HoldNotifications(false)
	e.PaySim.Sim.ReleaseNotifications()
	e.PaySim.Sim.Wait()
	// Another organisation's clerk cannot reach the close either.
	other := e.smsSignIn(otherClerkMobile).AccessToken
	e.fails(http.StatusNotFound, "not_found", "DELETE", "/v1/applications/"+b.ID+"?version=2", other, nil)
}
