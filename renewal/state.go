package renewal

import (
	"fmt"
	"slices"
	"strings"
)

// Status is where an application stands on its review and processing line.
type Status string

// Statuses. Processing "in progress" (办理中) is approved/ready_to_download;
// "done" (已办理) is installed.
const (
	StatusEditing         Status = "editing"           // 编辑中
	StatusPendingReview   Status = "pending_review"    // 待审核
	StatusOnHold          Status = "on_hold"           // 风险核查中 (fraud check)
	StatusApproved        Status = "approved"          // 审核通过
	StatusRejected        Status = "rejected"          // 审核不通过
	StatusReadyToDownload Status = "ready_to_download" // 待下载
	StatusInstalled       Status = "installed"         // 已办理
	StatusCancelled       Status = "cancelled"         // 已取消
)

// Statuses lists every status in workflow order.
func Statuses() []Status {
	return []Status{StatusEditing, StatusPendingReview, StatusOnHold, StatusApproved, StatusRejected,
		StatusReadyToDownload, StatusInstalled, StatusCancelled}
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return slices.Contains(Statuses(), s) }

// Payment is the payment state, moved by the payment module.
type Payment string

// Payment states.
const (
	PaymentUnpaid    Payment = "unpaid"    // 未支付
	PaymentPaid      Payment = "paid"      // 已支付
	PaymentRefunding Payment = "refunding" // 退款中
	PaymentRefunded  Payment = "refunded"  // 已退款
)

// Payments lists every payment state.
func Payments() []Payment {
	return []Payment{PaymentUnpaid, PaymentPaid, PaymentRefunding, PaymentRefunded}
}

// Valid reports whether p is a known payment state.
func (p Payment) Valid() bool { return slices.Contains(Payments(), p) }

// FinVerify is the state of the financial (bank transfer) verification.
type FinVerify string

// Financial verification states.
const (
	FinVerifyNotRequired FinVerify = "not_required"
	FinVerifyPending     FinVerify = "pending"  // transfer sent or to be sent; waiting for the code
	FinVerifyVerified    FinVerify = "verified" // the clerk entered the right code
	FinVerifyFailed      FinVerify = "failed"   // too many wrong codes, or the bank refused the transfer: correct the bank account
)

// FinVerifies lists every financial verification state.
func FinVerifies() []FinVerify {
	return []FinVerify{FinVerifyNotRequired, FinVerifyPending, FinVerifyVerified, FinVerifyFailed}
}

// Valid reports whether f is a known financial verification state.
func (f FinVerify) Valid() bool { return slices.Contains(FinVerifies(), f) }

// Role is who acts.
type Role string

// Roles. System is the service itself (payment notifications, timers).
const (
	RoleClerk    Role = "clerk"
	RoleReviewer Role = "reviewer"
	RoleAdmin    Role = "admin"
	RoleSystem   Role = "system"
)

// Roles lists every role.
func Roles() []Role { return []Role{RoleClerk, RoleReviewer, RoleAdmin, RoleSystem} }

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(Roles(), r) }

// IsStaff reports whether r is CA staff (sees every organisation).
func (r Role) IsStaff() bool { return r == RoleReviewer || r == RoleAdmin }

// Action is something a role may do to an application.
type Action string

// Actions.
const (
	ActionEdit             Action = "edit"
	ActionDelete           Action = "delete"
	ActionUploadDocument   Action = "upload_document"
	ActionDeleteDocument   Action = "delete_document"
	ActionSubmit           Action = "submit"
	ActionPay              Action = "pay"
	ActionCancel           Action = "cancel"
	ActionApprove          Action = "approve"
	ActionReject           Action = "reject"
	ActionHold             Action = "hold"
	ActionRelease          Action = "release"
	ActionStartFinVerify   Action = "start_finverify"   // send the 0.01 CNY transfer
	ActionSubmitFinVerify  Action = "submit_finverify"  // enter the code; success → verified
	ActionFailFinVerify    Action = "fail_finverify"    // tries exhausted, or the transfer refused → failed
	ActionCorrectBank      Action = "correct_bank"      // fix the bank account after a failure
	ActionMarkPaid         Action = "mark_paid"         // payment module: money arrived
	ActionMarkRefunded     Action = "mark_refunded"     // payment module: refund done
	ActionRefund           Action = "refund"            // start a refund of a cancelled application
	ActionIssue            Action = "issue"             // prove possession / send CSR, get the certificate
	ActionDownload         Action = "download"          // fetch the issued certificate and chain
	ActionConfirmInstalled Action = "confirm_installed" // the client wrote and verified it
	ActionRefundFailed     Action = "refund_failed"     // payment module: the provider failed or closed the refund
)

// PaymentTiming says when the clerk pays.
type PaymentTiming string

// Payment timings.
const (
	PayBeforeReview PaymentTiming = "before_review" // submit needs a paid application
	PayAfterReview  PaymentTiming = "after_review"  // pay once approved
)

// Guard is a named condition on the policy. Rules refer to guards by name
// so the table stays data that docs can print.
type Guard string

// Guards.
const (
	GuardNone              Guard = ""
	GuardPayBeforeReview   Guard = "pay_before_review"
	GuardPayAfterReview    Guard = "pay_after_review"
	GuardFinVerifyRequired Guard = "finverify_required"
)

func (g Guard) holds(p Policy) bool {
	switch g {
	case GuardNone:
		return true
	case GuardPayBeforeReview:
		return p.PaymentTiming == PayBeforeReview
	case GuardPayAfterReview:
		return p.PaymentTiming != PayBeforeReview
	case GuardFinVerifyRequired:
		return p.FinVerifyRequired
	}
	return false
}

// State is the three dimensions of an application's state.
type State struct {
	Status    Status    `json:"status"`
	Payment   Payment   `json:"payment"`
	FinVerify FinVerify `json:"finverify"`
}

func (s State) String() string {
	return fmt.Sprintf("%s/%s/%s", s.Status, s.Payment, s.FinVerify)
}

// Rule is one row of the state table. An empty list means "any".
type Rule struct {
	Action    Action
	Roles     []Role
	From      []Status
	Payment   []Payment   // payment states the action needs
	FinVerify []FinVerify // finverify states the action needs
	Guard     Guard       // policy condition
	// Results; empty means unchanged.
	To          Status
	ToPayment   Payment
	ToFinVerify FinVerify
	// PaidTo, if set, replaces a paid payment state (cancel starts a refund).
	PaidTo Payment
	Doc    string
}

var (
	clerk    = []Role{RoleClerk}
	staff    = []Role{RoleReviewer, RoleAdmin}
	admin    = []Role{RoleAdmin}
	system   = []Role{RoleSystem}
	clerkSys = []Role{RoleClerk, RoleSystem}
	editable = []Status{StatusEditing, StatusRejected}
	// A clerk may give up until the certificate can be issued; from then on
	// a certificate may exist, so cancelling (and refunding) is for an admin.
	clerkCancel = []Status{StatusEditing, StatusPendingReview, StatusOnHold, StatusApproved, StatusRejected}
	adminCancel = append(slices.Clone(clerkCancel), StatusReadyToDownload)
)

// rules is THE table. Several rows may share an action (different guards);
// the first whose conditions hold wins.
var rules = []Rule{
	{Action: ActionEdit, Roles: clerk, From: editable, Doc: "change the form; only while editing or after a rejection; once paid, the years (so the price) stay: price_locked"},
	{Action: ActionDelete, Roles: clerk, From: []Status{StatusEditing}, Payment: []Payment{PaymentUnpaid}, Doc: "delete a draft that was never paid"},
	{Action: ActionUploadDocument, Roles: clerk, From: editable, Doc: "attach the stamped form scan or ID photos"},
	{Action: ActionDeleteDocument, Roles: clerk, From: editable, Doc: "remove an attachment"},
	{Action: ActionPay, Roles: clerk, From: []Status{StatusEditing, StatusRejected, StatusPendingReview}, Payment: []Payment{PaymentUnpaid}, Guard: GuardPayBeforeReview, Doc: "pay before review (the CA's policy)"},
	{Action: ActionPay, Roles: clerk, From: []Status{StatusApproved}, Payment: []Payment{PaymentUnpaid}, Guard: GuardPayAfterReview, Doc: "pay once approved (the CA's policy)"},
	{Action: ActionSubmit, Roles: clerk, From: editable, Payment: []Payment{PaymentPaid}, Guard: GuardPayBeforeReview, To: StatusPendingReview, Doc: "send for review with a comment; paid first, in full (else payment_short)"},
	{Action: ActionSubmit, Roles: clerk, From: editable, Guard: GuardPayAfterReview, To: StatusPendingReview, Doc: "send for review with a comment"},
	{Action: ActionCancel, Roles: clerk, From: clerkCancel, To: StatusCancelled, PaidTo: PaymentRefunding, Doc: "give up; a paid application is refunded"},
	{Action: ActionCancel, Roles: admin, From: adminCancel, To: StatusCancelled, PaidTo: PaymentRefunding, Doc: "cancel for the clerk (fraud confirmed, duplicate), also once ready to download; refunded if paid"},
	{Action: ActionApprove, Roles: staff, From: []Status{StatusPendingReview}, Guard: GuardFinVerifyRequired, To: StatusApproved, ToFinVerify: FinVerifyPending, Doc: "approve; the bank transfer check starts"},
	{Action: ActionApprove, Roles: staff, From: []Status{StatusPendingReview}, To: StatusApproved, Doc: "approve"},
	{Action: ActionReject, Roles: staff, From: []Status{StatusPendingReview, StatusOnHold}, To: StatusRejected, Doc: "reject with a required reason; the clerk may edit and resubmit"},
	{Action: ActionHold, Roles: staff, From: []Status{StatusPendingReview}, To: StatusOnHold, Doc: "hold for a fraud check, with a reason"},
	{Action: ActionRelease, Roles: staff, From: []Status{StatusOnHold}, To: StatusPendingReview, Doc: "release from the fraud check back to the review queue"},
	{Action: ActionStartFinVerify, Roles: clerkSys, From: []Status{StatusApproved}, FinVerify: []FinVerify{FinVerifyPending}, Guard: GuardFinVerifyRequired, Doc: "send (or resend) the 0.01 CNY transfer with its code"},
	{Action: ActionSubmitFinVerify, Roles: clerk, From: []Status{StatusApproved}, FinVerify: []FinVerify{FinVerifyPending}, Guard: GuardFinVerifyRequired, ToFinVerify: FinVerifyVerified, Doc: "enter the code from the transfer remark"},
	{Action: ActionFailFinVerify, Roles: system, From: []Status{StatusApproved}, FinVerify: []FinVerify{FinVerifyPending}, ToFinVerify: FinVerifyFailed, Doc: "too many wrong codes, or the bank refused the transfer (closed or unknown account)"},
	{Action: ActionCorrectBank, Roles: clerk, From: []Status{StatusApproved}, FinVerify: []FinVerify{FinVerifyFailed}, Guard: GuardFinVerifyRequired, ToFinVerify: FinVerifyPending, Doc: "correct the bank account once the check failed, and try again; the account must bear the organisation's registered name"},
	{Action: ActionMarkPaid, Roles: system, Payment: []Payment{PaymentUnpaid}, ToPayment: PaymentPaid, Doc: "payment arrived (counts even at the last second, and even if cancelled meanwhile: then refund)"},
	{Action: ActionRefund, Roles: []Role{RoleAdmin, RoleSystem}, From: []Status{StatusCancelled}, Payment: []Payment{PaymentPaid}, ToPayment: PaymentRefunding, Doc: "refund money that arrived after cancelling"},
	{Action: ActionMarkRefunded, Roles: system, Payment: []Payment{PaymentRefunding}, ToPayment: PaymentRefunded, Doc: "refund done"},
	{Action: ActionIssue, Roles: clerk, From: []Status{StatusReadyToDownload}, Doc: "prove possession of the key (or send a CSR) and have the certificate issued"},
	{Action: ActionDownload, Roles: clerk, From: []Status{StatusReadyToDownload, StatusInstalled}, Doc: "fetch the issued certificate and chain (again after a crash)"},
	{Action: ActionConfirmInstalled, Roles: clerk, From: []Status{StatusReadyToDownload}, To: StatusInstalled, Doc: "the certificate is on the token and verified; processing ends"},
	{Action: ActionRefundFailed, Roles: system, Payment: []Payment{PaymentRefunding}, ToPayment: PaymentPaid, Doc: "the provider failed or closed the refund: the money is still the CA's; an admin may refund again"},
}

// Rules returns a copy of the state table.
func Rules() []Rule {
	out := make([]Rule, len(rules))
	copy(out, rules)
	return out
}

func (r Rule) matches(s State, p Policy, role Role) bool {
	return (len(r.Roles) == 0 || slices.Contains(r.Roles, role)) &&
		(len(r.From) == 0 || slices.Contains(r.From, s.Status)) &&
		(len(r.Payment) == 0 || slices.Contains(r.Payment, s.Payment)) &&
		(len(r.FinVerify) == 0 || slices.Contains(r.FinVerify, s.FinVerify)) &&
		r.Guard.holds(p)
}

// AllowedActions lists, in table order and without duplicates, what role may
// do to an application in state s under policy p. The GUI shows exactly these;
// the server allows exactly these (Apply).
func AllowedActions(s State, p Policy, role Role) []Action {
	var out []Action
	for _, r := range rules {
		if r.matches(s, p, role) && !slices.Contains(out, r.Action) {
			out = append(out, r.Action)
		}
	}
	return out
}

// Allowed reports whether role may take action in state s under policy p.
func Allowed(s State, p Policy, role Role, a Action) bool {
	_, ok := findRule(s, p, role, a)
	return ok
}

func findRule(s State, p Policy, role Role, a Action) (Rule, bool) {
	for _, r := range rules {
		if r.Action == a && r.matches(s, p, role) {
			return r, true
		}
	}
	return Rule{}, false
}

// Apply returns the state after role takes action in s, or an *Error with
// CodeActionNotAllowed (CodePaymentRequired when only payment is missing).
// The result is settled (see Settle).
func Apply(s State, p Policy, role Role, a Action) (State, error) {
	r, ok := findRule(s, p, role, a)
	if !ok {
		if a == ActionSubmit && role == RoleClerk && p.PaymentTiming == PayBeforeReview &&
			slices.Contains(editable, s.Status) && s.Payment != PaymentPaid {
			return s, NewError(CodePaymentRequired, "")
		}
		return s, Errorf(CodeActionNotAllowed, "", "%s is not allowed for %s in state %s", a, role, s)
	}
	n := s
	if r.To != "" {
		n.Status = r.To
	}
	if r.ToPayment != "" {
		n.Payment = r.ToPayment
	}
	if r.PaidTo != "" && n.Payment == PaymentPaid {
		n.Payment = r.PaidTo
	}
	if r.ToFinVerify != "" {
		n.FinVerify = r.ToFinVerify
	}
	return Settle(n, p), nil
}

// Settle makes the moves that need no one's decision: an approved, paid
// application that needs no (more) financial verification is ready to download.
func Settle(s State, p Policy) State {
	if s.Status == StatusApproved && s.Payment == PaymentPaid &&
		(s.FinVerify == FinVerifyVerified || s.FinVerify == FinVerifyNotRequired) {
		s.Status = StatusReadyToDownload
	}
	return s
}

// InitialState is the state of a new application under p. When p requires
// financial verification it is pending from the start; the transfer itself
// can only be started once the application is approved.
func InitialState(p Policy) State {
	fv := FinVerifyNotRequired
	if p.FinVerifyRequired {
		fv = FinVerifyPending
	}
	return State{Status: StatusEditing, Payment: PaymentUnpaid, FinVerify: fv}
}

// RulesMarkdown renders the state table for the docs.
func RulesMarkdown() string {
	var b strings.Builder
	b.WriteString("| action | roles | from status | payment | finverify | policy | to | effect |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	join := func(xs []string) string {
		if len(xs) == 0 {
			return "any"
		}
		return strings.Join(xs, ", ")
	}
	for _, r := range rules {
		var to []string
		if r.To != "" {
			to = append(to, string(r.To))
		}
		if r.ToPayment != "" {
			to = append(to, "payment "+string(r.ToPayment))
		}
		if r.PaidTo != "" {
			to = append(to, "paid → "+string(r.PaidTo))
		}
		if r.ToFinVerify != "" {
			to = append(to, "finverify "+string(r.ToFinVerify))
		}
		guard := string(r.Guard)
		if guard == "" {
			guard = "—"
		}
		toS := "—"
		if len(to) > 0 {
			toS = strings.Join(to, "; ")
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Action,
			join(toStrings(r.Roles)), join(toStrings(r.From)), join(toStrings(r.Payment)),
			join(toStrings(r.FinVerify)), guard, toS, r.Doc)
	}
	return b.String()
}

func toStrings[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}
