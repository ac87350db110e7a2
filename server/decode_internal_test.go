package server

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// badKey finds a key given twice at any depth, inside arrays too,
// and names the path to it; keys of different objects are not compared.
func TestDuplicateKeyPaths(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":1,"b":{"c":[1,{"d":1},{"e":1,"f":[{"g":1,"G":2}]}]}}`: "b.c[2].f[0].G",
		`[{"a":1},{"a":1,"a":2}]`:                                   "[1].a",
		`{"a":{"x":1},"b":{"x":1},"c":[{"x":1},{"x":1}]}`:           "",
		`{"a":"{\"a\":1,\"a\":2}"}`:                                 "",
		`{"a":1,"b":2,"a":3}`:                                       "a",
	} {
		if got, _, _ := badKey([]byte(in)); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}

// encoding/json matches a key to a field under Unicode case folding, so
// "yearſ" (U+017F) and "yearK"-style keys (Kelvin sign) fill the same
// field as "years"/"k": such a second key would win over the first. Keys
// that are not ASCII are refused, at any depth; ASCII keys in other case
// are still duplicates.
func TestDecodeJSONRefusesNonASCIIKeys(t *testing.T) {
	type inner struct{ K int }
	type req struct {
		Years int
		In    inner
	}
	for _, c := range []struct{ body, field, says string }{
		{`{"years":1,"year\u017f":3}`, "yearſ", "not ASCII"},
		{`{"years":1,"yearſ":3}`, "yearſ", "not ASCII"},
		{`{"in":{"k":1,"\u212a":3}}`, "in.K", "not ASCII"},
		{`{"yearſ":3}`, "yearſ", "not ASCII"},
		{`{"years":1,"YEARS":3}`, "YEARS", "given twice"},
	} {
		r := httptest.NewRequest("POST", "/", strings.NewReader(c.body))
		var v req
		err := decodeJSON(httptest.NewRecorder(), r, &v)
		var re *renewal.Error
		if !errors.As(err, &re) || re.Code != renewal.CodeInvalidRequest || re.Field != c.field || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: decoded to %+v, error %v; want invalid_request on %q (%s)", c.body, v, err, c.field, c.says)
		}
	}
}
