package renewal

import "testing"

func TestReviewRequestReason(t *testing.T) {
	for _, a := range []Action{ActionReject, ActionHold} {
		r := ReviewRequest{Version: 1, Reason: "  "}
		if e := AsError(r.ValidateFor(a)); e.FieldError("reason") == nil || e.FieldError("reason").Code != CodeReasonRequired {
			t.Errorf("%s without reason: %v", a, e)
		}
		r.Reason = "盖章不清晰"
		if err := r.ValidateFor(a); err != nil {
			t.Errorf("%s with reason: %v", a, err)
		}
	}
	if (&ReviewRequest{Version: 1}).ValidateFor(ActionSubmit) == nil {
		t.Error("submit accepted as a review action")
	}
}
