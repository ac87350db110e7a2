package renewal

import "testing"

func TestNormalizeSerial(t *testing.T) {
	for in, want := range map[string]string{"0A:1B": "a1b", "00": "0", "": "", "DEAD beef": "deadbeef"} {
		if got := NormalizeSerial(in); got != want {
			t.Errorf("NormalizeSerial(%q) = %q, want %q", in, got, want)
		}
	}
}
