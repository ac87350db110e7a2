package renewflow

import (
	"errors"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// Fetch and Issue refuse what they cannot do before touching the service
// or the token (the full flow is tested on SoftHSM2 against the real
// service in app and cmd/ukeyctl).
func TestRefusedBeforeAnyCall(t *testing.T) {
	c, err := client.New("http://127.0.0.1:1") // nothing listens: a call would fail differently
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []renewal.Status{renewal.StatusEditing, renewal.StatusPendingReview, renewal.StatusApproved, renewal.StatusRejected, renewal.StatusCancelled} {
		a := &renewal.Application{ID: "a1", State: renewal.State{Status: st}}
		if _, err := Fetch(t.Context(), c, nil, a, Options{}); !errors.Is(err, ErrNotReady) {
			t.Errorf("%s: %v, want ErrNotReady", st, err)
		}
	}
	ready := &renewal.Application{ID: "a1", State: renewal.State{Status: renewal.StatusReadyToDownload}}
	if _, err := Fetch(t.Context(), c, nil, ready, Options{}); err == nil || errors.Is(err, ErrNotReady) {
		t.Errorf("ready without a journal: %v", err)
	}
	rekey := &renewal.Application{ID: "a1", Rekey: true, State: renewal.State{Status: renewal.StatusReadyToDownload}}
	if _, err := Issue(t.Context(), c, nil, rekey, Options{}); err == nil {
		t.Error("a re-key issued without a journal")
	}
	for s, want := range map[Step]string{StepFetch: "fetch", StepWrite: "write", StepVerify: "verify", StepConfirm: "confirm", 9: "step(9)"} {
		if s.String() != want {
			t.Errorf("Step(%d) = %q, want %q", int(s), s.String(), want)
		}
	}
}
