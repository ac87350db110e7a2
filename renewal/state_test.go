package renewal

import (
	"slices"
	"strings"
	"testing"
)

func payAfter() Policy { p := DefaultPolicy(); p.PaymentTiming = PayAfterReview; return p }
func payBefore() Policy {
	p := DefaultPolicy()
	p.PaymentTiming = PayBeforeReview
	return p
}
func noFinVerify(p Policy) Policy { p.FinVerifyRequired = false; return p }

func st(s Status, p Payment, f FinVerify) State { return State{Status: s, Payment: p, FinVerify: f} }

func TestAllowedActions(t *testing.T) {
	cases := []struct {
		name   string
		state  State
		policy Policy
		role   Role
		want   []Action
	}{
		{"draft, clerk, pay after review", st(StatusEditing, PaymentUnpaid, FinVerifyPending), payAfter(), RoleClerk,
			[]Action{ActionEdit, ActionDelete, ActionUploadDocument, ActionDeleteDocument, ActionSubmit, ActionCancel}},
		{"draft, clerk, pay before review", st(StatusEditing, PaymentUnpaid, FinVerifyPending), payBefore(), RoleClerk,
			[]Action{ActionEdit, ActionDelete, ActionUploadDocument, ActionDeleteDocument, ActionPay, ActionCancel}},
		{"paid draft, clerk, pay before review: no delete, may submit", st(StatusEditing, PaymentPaid, FinVerifyPending), payBefore(), RoleClerk,
			[]Action{ActionEdit, ActionUploadDocument, ActionDeleteDocument, ActionSubmit, ActionCancel}},
		{"draft, reviewer sees nothing", st(StatusEditing, PaymentUnpaid, FinVerifyPending), payAfter(), RoleReviewer, nil},
		{"pending review, clerk may only cancel", st(StatusPendingReview, PaymentUnpaid, FinVerifyPending), payAfter(), RoleClerk,
			[]Action{ActionCancel}},
		{"pending review, reviewer", st(StatusPendingReview, PaymentUnpaid, FinVerifyPending), payAfter(), RoleReviewer,
			[]Action{ActionApprove, ActionReject, ActionHold}},
		{"on hold, reviewer", st(StatusOnHold, PaymentUnpaid, FinVerifyPending), payAfter(), RoleReviewer,
			[]Action{ActionReject, ActionRelease}},
		{"rejected, clerk may edit and resubmit but not delete", st(StatusRejected, PaymentUnpaid, FinVerifyPending), payAfter(), RoleClerk,
			[]Action{ActionEdit, ActionUploadDocument, ActionDeleteDocument, ActionSubmit, ActionCancel}},
		{"approved unpaid, clerk pays and verifies bank; corrects it only once the check failed", st(StatusApproved, PaymentUnpaid, FinVerifyPending), payAfter(), RoleClerk,
			[]Action{ActionPay, ActionCancel, ActionStartFinVerify, ActionSubmitFinVerify}},
		{"approved, verification failed", st(StatusApproved, PaymentPaid, FinVerifyFailed), payAfter(), RoleClerk,
			[]Action{ActionCancel, ActionCorrectBank}},
		{"ready", st(StatusReadyToDownload, PaymentPaid, FinVerifyVerified), payAfter(), RoleClerk,
			[]Action{ActionIssue, ActionDownload, ActionConfirmInstalled}},
		{"ready, admin may still cancel", st(StatusReadyToDownload, PaymentPaid, FinVerifyVerified), payAfter(), RoleAdmin,
			[]Action{ActionCancel}},
		{"installed", st(StatusInstalled, PaymentPaid, FinVerifyVerified), payAfter(), RoleClerk,
			[]Action{ActionDownload}},
		{"cancelled", st(StatusCancelled, PaymentRefunding, FinVerifyPending), payAfter(), RoleClerk, nil},
		{"system on cancelled refunding", st(StatusCancelled, PaymentRefunding, FinVerifyPending), payAfter(), RoleSystem,
			[]Action{ActionMarkRefunded, ActionRefundFailed}},
		{"system on unpaid approved", st(StatusApproved, PaymentUnpaid, FinVerifyPending), payAfter(), RoleSystem,
			[]Action{ActionStartFinVerify, ActionFailFinVerify, ActionMarkPaid}},
		{"system on cancelled paid", st(StatusCancelled, PaymentPaid, FinVerifyPending), payAfter(), RoleSystem,
			[]Action{ActionRefund}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := AllowedActions(c.state, c.policy, c.role)
			if !slices.Equal(got, c.want) {
				t.Errorf("AllowedActions(%s, %s) = %v, want %v", c.state, c.role, got, c.want)
			}
			// Apply agrees with AllowedActions for every action.
			for _, r := range rules {
				_, err := Apply(c.state, c.policy, c.role, r.Action)
				if slices.Contains(got, r.Action) != (err == nil) {
					t.Errorf("Apply(%s) err = %v, but allowed = %v", r.Action, err, slices.Contains(got, r.Action))
				}
			}
		})
	}
}

func run(t *testing.T, p Policy, s State, steps ...struct {
	role Role
	a    Action
}) State {
	t.Helper()
	for _, st := range steps {
		n, err := Apply(s, p, st.role, st.a)
		if err != nil {
			t.Fatalf("%s %s in %s: %v", st.role, st.a, s, err)
		}
		s = n
	}
	return s
}

type step = struct {
	role Role
	a    Action
}

func TestJourneyPayAfterReviewWithFinVerify(t *testing.T) {
	p := payAfter()
	s := InitialState(p)
	if s != st(StatusEditing, PaymentUnpaid, FinVerifyPending) {
		t.Fatalf("initial state %s", s)
	}
	s = run(t, p, s,
		step{RoleClerk, ActionEdit}, step{RoleClerk, ActionSubmit},
		step{RoleReviewer, ActionReject}, step{RoleClerk, ActionEdit}, step{RoleClerk, ActionSubmit},
		step{RoleReviewer, ActionHold}, step{RoleReviewer, ActionRelease},
		step{RoleReviewer, ActionApprove})
	if s != st(StatusApproved, PaymentUnpaid, FinVerifyPending) {
		t.Fatalf("after approval %s", s)
	}
	s = run(t, p, s, step{RoleSystem, ActionMarkPaid})
	if s.Status != StatusApproved {
		t.Fatalf("paid but unverified moved on: %s", s)
	}
	s = run(t, p, s, step{RoleClerk, ActionStartFinVerify}, step{RoleSystem, ActionFailFinVerify},
		step{RoleClerk, ActionCorrectBank}, step{RoleClerk, ActionSubmitFinVerify})
	if s != st(StatusReadyToDownload, PaymentPaid, FinVerifyVerified) {
		t.Fatalf("after verification %s", s)
	}
	s = run(t, p, s, step{RoleClerk, ActionIssue}, step{RoleClerk, ActionDownload}, step{RoleClerk, ActionConfirmInstalled})
	if s.Status != StatusInstalled {
		t.Fatalf("end %s", s)
	}
}

func TestJourneyPayBeforeReviewNoFinVerify(t *testing.T) {
	p := noFinVerify(payBefore())
	s := InitialState(p)
	if s.FinVerify != FinVerifyNotRequired {
		t.Fatalf("initial %s", s)
	}
	if _, err := Apply(s, p, RoleClerk, ActionSubmit); CodeOf(err) != CodePaymentRequired {
		t.Fatalf("submit before paying: %v, want %s", err, CodePaymentRequired)
	}
	s = run(t, p, s, step{RoleSystem, ActionMarkPaid}, step{RoleClerk, ActionSubmit}, step{RoleAdmin, ActionApprove})
	if s != st(StatusReadyToDownload, PaymentPaid, FinVerifyNotRequired) {
		t.Fatalf("approval of a paid application without finverify: %s", s)
	}
}

func TestCancelRefundsPaid(t *testing.T) {
	p := payAfter()
	s, err := Apply(st(StatusApproved, PaymentPaid, FinVerifyPending), p, RoleClerk, ActionCancel)
	if err != nil || s != st(StatusCancelled, PaymentRefunding, FinVerifyPending) {
		t.Fatalf("cancel paid: %s, %v", s, err)
	}
	s, err = Apply(s, p, RoleSystem, ActionMarkRefunded)
	if err != nil || s.Payment != PaymentRefunded {
		t.Fatalf("refunded: %s, %v", s, err)
	}
	// A refund the provider fails puts the money back to paid, from
	// refunding only; an admin may then refund again.
	failed, err := Apply(st(StatusCancelled, PaymentRefunding, FinVerifyPending), p, RoleSystem, ActionRefundFailed)
	if err != nil || failed != st(StatusCancelled, PaymentPaid, FinVerifyPending) {
		t.Fatalf("refund failed: %s, %v", failed, err)
	}
	if !Allowed(failed, p, RoleAdmin, ActionRefund) {
		t.Errorf("after a failed refund an admin cannot refund again")
	}
	for _, pay := range []Payment{PaymentUnpaid, PaymentPaid, PaymentRefunded} {
		if _, err := Apply(st(StatusCancelled, pay, FinVerifyPending), p, RoleSystem, ActionRefundFailed); CodeOf(err) != CodeActionNotAllowed {
			t.Errorf("refund_failed from %s: %v, want refused", pay, err)
		}
	}
	if _, err := Apply(st(StatusCancelled, PaymentRefunding, FinVerifyPending), p, RoleAdmin, ActionRefundFailed); CodeOf(err) != CodeActionNotAllowed {
		t.Errorf("refund_failed by an admin: %v, want refused", err)
	}
	// Money that lands after cancelling is still taken, then refunded.
	s = run(t, p, st(StatusCancelled, PaymentUnpaid, FinVerifyPending), step{RoleSystem, ActionMarkPaid}, step{RoleSystem, ActionRefund})
	if s.Payment != PaymentRefunding {
		t.Fatalf("late payment: %s", s)
	}
}

func TestForbiddenTransitions(t *testing.T) {
	p := payAfter()
	for _, c := range []struct {
		s    State
		role Role
		a    Action
	}{
		{st(StatusPendingReview, PaymentUnpaid, FinVerifyPending), RoleClerk, ActionEdit},
		{st(StatusRejected, PaymentUnpaid, FinVerifyPending), RoleClerk, ActionDelete},
		{st(StatusPendingReview, PaymentUnpaid, FinVerifyPending), RoleClerk, ActionApprove},
		{st(StatusEditing, PaymentUnpaid, FinVerifyPending), RoleReviewer, ActionApprove},
		{st(StatusApproved, PaymentUnpaid, FinVerifyPending), RoleReviewer, ActionReject},
		{st(StatusInstalled, PaymentPaid, FinVerifyVerified), RoleClerk, ActionCancel},
		{st(StatusApproved, PaymentUnpaid, FinVerifyPending), RoleClerk, ActionIssue},
		{st(StatusApproved, PaymentPaid, FinVerifyFailed), RoleClerk, ActionSubmitFinVerify},
		{st(StatusEditing, PaymentPaid, FinVerifyPending), RoleSystem, ActionMarkPaid},
		{st(StatusEditing, PaymentUnpaid, FinVerifyPending), RoleClerk, Action("explode")},
	} {
		n, err := Apply(c.s, p, c.role, c.a)
		if CodeOf(err) != CodeActionNotAllowed || n != c.s {
			t.Errorf("%s %s in %s: %s, %v; want refused and unchanged", c.role, c.a, c.s, n, err)
		}
	}
}

func TestRulesWellFormed(t *testing.T) {
	for i, r := range rules {
		if r.Action == "" || len(r.Roles) == 0 || r.Doc == "" {
			t.Errorf("rule %d incomplete: %+v", i, r)
		}
		for _, s := range append(slices.Clone(r.From), r.To) {
			if s != "" && !s.Valid() {
				t.Errorf("rule %d: unknown status %q", i, s)
			}
		}
		for _, role := range r.Roles {
			if !role.Valid() {
				t.Errorf("rule %d: unknown role %q", i, role)
			}
		}
	}
	md := RulesMarkdown()
	if got := strings.Count(md, "\n"); got != len(rules)+2 {
		t.Errorf("markdown has %d lines, want %d", got, len(rules)+2)
	}
	if !strings.Contains(md, "| delete | clerk | editing | unpaid |") {
		t.Errorf("markdown lacks the delete rule:\n%s", md)
	}
}
