package renewal

import "strings"

// Review wire types: the reviewer's approve, reject, hold and release.

// ReviewRequest is the body of approve, reject, hold and release.
// POST /v1/applications/{id}/{approve|reject|hold|release}
type ReviewRequest struct {
	Version int64  `json:"version"`
	Reason  string `json:"reason"`
}

// ValidateFor checks the request for a review action (normalising the
// reason in place): reject and hold need a reason.
func (r *ReviewRequest) ValidateFor(a Action) error {
	r.Reason = strings.TrimSpace(NormalizeText(r.Reason))
	var fe fieldErrors
	fe.add("version", validateVersion(r.Version))
	switch a {
	case ActionApprove, ActionRelease:
	case ActionReject, ActionHold:
		if trim(r.Reason) == "" {
			fe.add("reason", invalid(CodeReasonRequired, ""))
		}
	default:
		fe.add("action", invalid(CodeInvalidField, "%q is not a review action", a))
	}
	fe.add("reason", ValidateText(r.Reason, MaxReasonRunes))
	return fe.err()
}

// Validate checks the fields common to every review action (a reason, when
// given, is text of bounded length).
func (r *ReviewRequest) Validate() error { return r.ValidateFor(ActionApprove) }
