package renewal

import (
	"bytes"
	"testing"
)

func TestProofMessagesBindEverything(t *testing.T) {
	n := bytes.Repeat([]byte{7}, NonceBytes)
	base := SameKeyMessage("app1", "abc", n)
	for _, other := range [][]byte{SameKeyMessage("app2", "abc", n), SameKeyMessage("app1", "abd", n),
		SameKeyMessage("app1", "abc", bytes.Repeat([]byte{8}, NonceBytes)), RekeyBindingMessage("app1", "abc", n, nil)} {
		if bytes.Equal(base, other) {
			t.Errorf("messages collide: %q", other)
		}
	}
	if bytes.Equal(RekeyBindingMessage("a", "b", n, []byte{1}), RekeyBindingMessage("a", "b", n, []byte{2})) {
		t.Error("binding message ignores the CSR")
	}
}
