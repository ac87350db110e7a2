package main

import (
	"bytes"
	"fmt"
	"math"
)

// Lower bounds of a configured secret. The pepper is judged on its bytes
// (decoded from hex), the tokens and keys on their characters. 32 random
// bytes have an empirical Shannon entropy above 4.3 bits a byte, 32
// random hex digits above 2.7 (none of a million samples fell below
// 2.5); 64 zeros have 0, "abab…" 1, "0123456789abcdef" twice over 4 as
// characters but 3 as the bytes they decode to. Entropy does not catch a
// guessable secret of high entropy ("passwordpassword…", the alphabet, the
// hex of a phrase): weakness also refuses repetitions, runs, a pepper of
// printable bytes and a token of one-case letters. Make each with openssl
// rand.
const (
	minPepperBytes     = 32
	minPepperEntropy   = 3.5 // bits a byte
	minTokenChars      = 32
	minTokenEntropy    = 2.5 // bits a character
	generatePepperHint = "openssl rand -hex 32"
	generateTokenHint  = "openssl rand -hex 16"
)

// Runs: a secret holding more than this many consecutive bytes (characters), each
// one above or each one below the one before ("01234567", "abcdefgh…"), was
// typed, not generated. Out of 32 random bytes one such run of 8 turns up
// about once in 10^15; in 32 random hex digits a run of 8 ("23456789")
// about once in 3·10^7 and one of 10 ("0123456789") once in 2·10^10, so
// characters need the longer run.
const (
	maxRunBytes = 7
	maxRunChars = 9
)

// weakness says what is wrong with secret (empty: nothing found): too
// short, one symbol repeated, a shorter string repeated, an ascending or
// descending run, too little entropy per symbol; of bytes (the pepper), all
// of them printable ASCII; of characters (tokens, keys), letters of one
// case only. Each of the last four turns up in what openssl rand gives
// less than once in 10^10 (TestRandomSecretsPass tries 10^5 of each kind).
func weakness(secret []byte, minLen int, minEntropy float64, unit string) string {
	ofBytes := unit == "bytes"
	switch {
	case len(secret) < minLen:
		return fmt.Sprintf("it has %d %s, at least %d are needed", len(secret), unit, minLen)
	case distinct(secret) == 1:
		return fmt.Sprintf("it is one %s repeated", unitOne(unit))
	}
	if p := period(secret); p > 0 {
		return fmt.Sprintf("it is its first %d %s repeated", p, unit)
	}
	maxRun := maxRunChars
	if ofBytes {
		maxRun = maxRunBytes
	}
	if n := longestRun(secret); n > maxRun {
		return fmt.Sprintf("it has a run of %d %s in sequence (each one more, or one less, than the one before)", n, unit)
	}
	if ofBytes && printable(secret) {
		return "every byte of it is printable text: it is a phrase or a hex string encoded once more, not random bytes"
	}
	if !ofBytes && oneCaseLetters(secret) {
		return "it has letters of one case only: it is a word or phrase, not random"
	}
	if h := entropy(secret); h < minEntropy {
		return fmt.Sprintf("it repeats a pattern (%.1f bits of entropy a %s, at least %.1f expected of a random one)", h, unitOne(unit), minEntropy)
	}
	return ""
}

// period is the least p, at most half of b's length, with b[i] == b[i-p]
// everywhere (b is its first p bytes repeated, the last time perhaps in
// part), or 0.
func period(b []byte) int {
	for p := 1; p <= len(b)/2; p++ {
		if bytes.Equal(b[p:], b[:len(b)-p]) {
			return p
		}
	}
	return 0
}

// longestRun is the length of the longest stretch of b whose bytes each
// differ by +1 from the one before, or each by -1.
func longestRun(b []byte) int {
	longest, run, step := min(len(b), 1), 1, 0
	for i := 1; i < len(b); i++ {
		d := int(b[i]) - int(b[i-1])
		switch {
		case (d == 1 || d == -1) && d == step:
			run++
		case d == 1 || d == -1:
			run, step = 2, d
		default:
			run, step = 1, 0
		}
		longest = max(longest, run)
	}
	return longest
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

func oneCaseLetters(b []byte) bool {
	lower, upper := 0, 0
	for _, c := range b {
		switch {
		case c >= 'a' && c <= 'z':
			lower++
		case c >= 'A' && c <= 'Z':
			upper++
		default:
			return false
		}
	}
	return lower == 0 || upper == 0
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
