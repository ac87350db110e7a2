package server

import "testing"

// duplicateKey finds a key given twice at any depth, inside arrays too,
// and names the path to it; keys of different objects are not compared.
func TestDuplicateKeyPaths(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":1,"b":{"c":[1,{"d":1},{"e":1,"f":[{"g":1,"G":2}]}]}}`: "b.c[2].f[0].G",
		`[{"a":1},{"a":1,"a":2}]`:                                   "[1].a",
		`{"a":{"x":1},"b":{"x":1},"c":[{"x":1},{"x":1}]}`:           "",
		`{"a":"{\"a\":1,\"a\":2}"}`:                                 "",
		`{"a":1,"b":2,"a":3}`:                                       "a",
	} {
		if got, _ := duplicateKey([]byte(in)); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}
