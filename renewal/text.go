package renewal

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Free text (names, addresses, titles, reasons, comments, document names)
// is stored and shown as typed, so it must look like what it is: the one
// character check below refuses what a reviewer would not see, or would see
// as something else, and every request normalises its text to NFC before
// the check.
//
// Refused, wherever free text is taken:
//   - U+FFFD and bytes that are not UTF-8. encoding/json turns invalid UTF-8
//     and lone surrogates (\ud800) into U+FFFD before a validator sees the
//     string, so refusing U+FFFD is how a request that carried them is
//     refused rather than stored with the damage hidden;
//   - control characters (Cc) other than newline and tab (and names take
//     neither: ValidateName);
//   - format characters (Cf): the bidirectional overrides and isolates
//     U+202A–U+202E, U+2066–U+2069, the marks U+200E, U+200F, U+061C, the
//     zero-width U+200B–U+200D, U+2060, U+FEFF, the soft hyphen U+00AD, tags;
//     and the other default-ignorable code points that draw as nothing
//     (Hangul fillers U+3164, U+FFA0, …), the line and paragraph separators;
//   - private use (Co): a character made with a font-editing tool (造字)
//     is drawn differently, or not at all, on another computer;
//   - surrogates (Cs) and noncharacters (U+FDD0–U+FDEF, U+xxFFFE, U+xxFFFF).
//
// Allowed: every assigned or unassigned character otherwise, including
// variation selectors (a rare name character's exact glyph) and code points
// newer than this build's Unicode tables (a name may need a character from
// a recent CJK extension).

// NormalizeText returns s in Unicode normalisation form C, with Windows
// (CR LF) and old Mac (CR) line ends as LF. An input method on Windows
// or macOS types NFC already; NFC makes the rest (a decomposed é, a CJK
// compatibility ideograph pasted from an old document) one spelling, so
// that the same name is stored, searched and compared the same way.
// Invalid UTF-8 is left as it is, for the check to refuse.
func NormalizeText(s string) string {
	if strings.IndexByte(s, '\r') >= 0 {
		s = strings.ReplaceAll(s, "\r\n", "\n")
		s = strings.ReplaceAll(s, "\r", "\n")
	}
	return norm.NFC.String(s)
}

// NormalizeLine is NormalizeText of a one-line value, trimmed.
func NormalizeLine(s string) string { return strings.TrimSpace(NormalizeText(s)) }

// charKind is why a character is refused in free text.
type charKind int

const (
	charOK charKind = iota
	charUnreadable
	charControl
	charInvisible
	charPrivate
	charNonchar
)

func classify(r rune) charKind {
	switch {
	case r == '\n' || r == '\t':
		return charOK
	case r == utf8.RuneError:
		return charUnreadable
	case r < 0x20 || (r >= 0x7f && r <= 0x9f):
		return charControl
	case r < 0xa0:
		return charOK
	case unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Other_Default_Ignorable_Code_Point):
		return charInvisible
	case unicode.Is(unicode.Co, r):
		return charPrivate
	case unicode.Is(unicode.Cs, r), r >= 0xfdd0 && r <= 0xfdef, r&0xfffe == 0xfffe:
		return charNonchar
	}
	return charOK
}

// checkChars returns an *Error with CodeTextCharacter for the first
// character of s that free text may not hold, or for text that is not NFC
// (call NormalizeText or NormalizeLine first); nil if there is none.
func checkChars(s string) *Error {
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		n++
		if k := classify(r); k != charOK {
			return charError(k, n, r, size)
		}
		i += size
	}
	if !norm.NFC.IsNormalString(s) {
		e := invalid(CodeTextCharacter, "the text is not in Unicode normalisation form C (NFC)")
		e.MessageZH = "文字编码形式不规范（未经 NFC 规范化），请重新输入"
		return e
	}
	return nil
}

func charError(k charKind, pos int, r rune, size int) *Error {
	cp := fmt.Sprintf("U+%04X", r)
	if r == utf8.RuneError && size == 1 {
		cp = "a byte that is not UTF-8"
	}
	var en, zh string
	switch k {
	case charUnreadable:
		en = fmt.Sprintf("character %d (%s) is unreadable: the text was damaged in an encoding (not UTF-8)", pos, cp)
		zh = fmt.Sprintf("第%d个字符无法识别（乱码，通常是编码转换出错），请删除后重新输入", pos)
	case charControl:
		en = fmt.Sprintf("character %d (%s) is a control character", pos, cp)
		zh = fmt.Sprintf("第%d个字符（%s）是不可见的控制字符，常随复制粘贴带入：请删除该字符，或清空此项后手动输入", pos, cp)
	case charInvisible:
		en = fmt.Sprintf("character %d (%s) is an invisible formatting character: what is shown would not be what is stored", pos, cp)
		zh = fmt.Sprintf("第%d个字符（%s）是不可见的格式字符，常随复制粘贴带入：请删除该字符，或清空此项后手动输入", pos, cp)
	case charPrivate:
		en = fmt.Sprintf("character %d (%s) is a private-use character that other computers show differently", pos, cp)
		zh = fmt.Sprintf("第%d个字符（%s）是自造字（私用区字符），在其他电脑上显示不同，请改用标准汉字", pos, cp)
	default:
		en = fmt.Sprintf("character %d (%s) is not a character", pos, cp)
		zh = fmt.Sprintf("第%d个字符（%s）不是有效字符，请删除后重新输入", pos, cp)
	}
	e := invalid(CodeTextCharacter, "%s", en)
	e.MessageZH = zh
	return e
}
