package main

import (
	"fmt"
	"math"
)

// Lower bounds of a configured secret. The pepper is judged on its bytes
// (decoded from hex), the tokens and keys on their characters. 32 random
// bytes have an empirical Shannon entropy above 4.3 bits a byte, 32
// random hex digits above 2.7 (none of a million samples fell below
// 2.5); 64 zeros have 0, "abab…" 1, "0123456789abcdef" twice over 4 as
// characters but 3 as the bytes they decode to. These catch placeholders
// and patterns, not a guessable secret of high entropy: make each with
// openssl rand.
const (
	minPepperBytes     = 32
	minPepperEntropy   = 3.5 // bits a byte
	minTokenChars      = 32
	minTokenEntropy    = 2.5 // bits a character
	generatePepperHint = "openssl rand -hex 32"
	generateTokenHint  = "openssl rand -hex 16"
)

// weakness says what is wrong with secret (empty: nothing found): too
// short, one symbol repeated, or too little entropy per symbol.
func weakness(secret []byte, minLen int, minEntropy float64, unit string) string {
	switch {
	case len(secret) < minLen:
		return fmt.Sprintf("it has %d %s, at least %d are needed", len(secret), unit, minLen)
	case distinct(secret) == 1:
		return fmt.Sprintf("it is one %s repeated", unitOne(unit))
	}
	if h := entropy(secret); h < minEntropy {
		return fmt.Sprintf("it repeats a pattern (%.1f bits of entropy a %s, at least %.1f expected of a random one)", h, unitOne(unit), minEntropy)
	}
	return ""
}

func unitOne(unit string) string {
	if unit == "bytes" {
		return "byte"
	}
	return "character"
}

func distinct(b []byte) int {
	var seen [256]bool
	n := 0
	for _, c := range b {
		if !seen[c] {
			seen[c] = true
			n++
		}
	}
	return n
}

// entropy is the Shannon entropy of b's byte distribution, in bits a byte.
func entropy(b []byte) float64 {
	var count [256]int
	for _, c := range b {
		count[c]++
	}
	h := 0.0
	for _, n := range count {
		if n > 0 {
			p := float64(n) / float64(len(b))
			h -= p * math.Log2(p)
		}
	}
	return h
}

// checkSecret names the setting whose secret is weak and how to make one.
func checkSecret(setting string, secret []byte, minLen int, minEntropy float64, unit, hint string) error {
	if why := weakness(secret, minLen, minEntropy, unit); why != "" {
		return fmt.Errorf("%s is too weak a secret: %s; make one with: %s", setting, why, hint)
	}
	return nil
}
