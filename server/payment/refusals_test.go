package payment_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ukeyrenew/ukeyrenew/server/payment"
)

// What a caller sent is echoed in an error (and so in the audit log) only
// as at most 64 bytes of valid UTF-8, quoted; the whole detail is cut.
func TestErrorTextsEchoLittle(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"1700000000x", `"1700000000x"`},
		{strings.Repeat("\xff", 15000), "(15000 bytes, not UTF-8)"},
		{"ok\xffok", "(5 bytes, not UTF-8)"},
		{strings.Repeat("9", 15000), `"` + strings.Repeat("9", 64) + `"… (15000 bytes)`},
		{strings.Repeat("时", 30), `"` + strings.Repeat("时", 21) + `"… (90 bytes)`}, // cut on a character
		{"a\nb", `"a\nb"`},
	} {
		if got := payment.Quoted(c.in); got != c.want {
			t.Errorf("Quoted(%.20q…) = %s, want %s", c.in, got, c.want)
		}
	}
	for _, in := range []string{strings.Repeat("\xff", 2000) + strings.Repeat("a", 600), strings.Repeat("时", 400), strings.Repeat("a", 513)} {
		got := payment.Clip(in, payment.MaxRefusalDetail)
		if len(got) > payment.MaxRefusalDetail || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
			t.Errorf("Clip(%.10q…): %d bytes, valid %v", in, len(got), utf8.ValidString(got))
		}
	}
	if got := payment.Clip("short", payment.MaxRefusalDetail); got != "short" {
		t.Errorf("Clip(short) = %q", got)
	}
}
