package token

import (
	"bytes"
	"encoding/hex"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// Text is a fixed-width PKCS#11 string field decoded for display.
type Text struct {
	Text     string
	Encoding string // "utf-8", "gbk" or "hex"
}

// decodeText decodes a blank-padded PKCS#11 string field. The standard says
// UTF-8, but Chinese tokens often carry GBK (GB 18030) bytes. Valid UTF-8 is
// taken as is; otherwise GB 18030 is tried and kept only if the result is
// printable; otherwise the bytes are shown as hex, so a label is never
// silently garbled and never crashes a caller.
func decodeText(b []byte) Text {
	b = bytes.TrimRight(b, " \x00")
	if utf8.Valid(b) && printable(string(b)) {
		return Text{Text: string(b), Encoding: "utf-8"}
	}
	if s, ok := gbk(b); ok {
		return Text{Text: s, Encoding: "gbk"}
	}
	// A 32-byte field may cut the last two-byte character in half.
	if n := len(b); n > 1 && b[n-1] >= 0x81 {
		if s, ok := gbk(b[:n-1]); ok {
			return Text{Text: s, Encoding: "gbk"}
		}
	}
	return Text{Text: hex.EncodeToString(b), Encoding: "hex"}
}

func gbk(b []byte) (string, bool) {
	s, err := simplifiedchinese.GB18030.NewDecoder().Bytes(b)
	if err != nil || !utf8.Valid(s) || bytes.ContainsRune(s, utf8.RuneError) || !printable(string(s)) {
		return "", false
	}
	return string(bytes.TrimRight(s, " ")), true
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) && r != ' ' {
			return false
		}
	}
	return true
}
