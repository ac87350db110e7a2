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
//   - surrogates (Cs) and noncharacters (U+FDD0–U+FDEF, U+xxFFFE, U+xxFFFF);
//   - U+2800 (braille blank, drawn as a space) and U+FFFC (the placeholder a
//     pasted picture leaves);
//   - a space other than U+0020: NormalizeText makes the ideographic space
//     U+3000, the no-break space U+00A0, U+2002 and the other Unicode spaces
//     an ASCII space (and NormalizeLine a run of them one space), so only
//     text that skipped normalisation meets this;
//   - a combining mark first in the text or a line (U+0301 alone shows as a
//     floating accent, or merges into what is shown before the field), and
//     a third combining mark in a row (a stack of them paints over the
//     neighbouring text; Vietnamese, Thai, Hindi need at most two after NFC);
//   - a variation selector that selects nothing: U+E0100–U+E01EF (ideographic
//     variation sequences, IVS) are allowed only directly after a CJK
//     ideograph, where they pick the registered glyph of a rare name
//     character ("葛" U+845B U+E0100); the Mongolian free variation selectors
//     U+180B–U+180D, U+180F only after a Mongolian letter; U+FE0E and U+FE0F
//     (text or emoji presentation) only after a symbol or a keycap's digit,
//     # or *, and never in a name; U+FE00–U+FE0D never. A selector anywhere
//     else draws as nothing, so "张\uFE00三" would show a reviewer 张三
//     while being another name. The standardized variants U+FE00–U+FE0F
//     after an ideograph are refused too: no input method types them, and
//     a rare character's glyph is what the IVS are for.
//
// Refused in names (ValidateName: organisation, person, bank, invoice title,
// account, document names) besides: the Kangxi radicals U+2F00–U+2FDF and
// the CJK radicals supplement U+2E80–U+2EFF, symbols drawn as the ideograph
// they stand for ("⼀" as "一") that NFC does not fold; the message suggests
// the ideograph (their NFKC form) where there is one.
//
// Allowed: every assigned or unassigned character otherwise, including
// code points newer than this build's Unicode tables (a name may need a
// character from a recent CJK extension).

// NormalizeText returns s in Unicode normalisation form C, with Windows
// (CR LF) and old Mac (CR) line ends as LF and every other space (the
// ideographic space U+3000 a Chinese input method types in full-width mode,
// the no-break space U+00A0, U+2002 and the other Unicode spaces) as an
// ASCII space. An input method on Windows or macOS types NFC already; NFC
// makes the rest (a decomposed é, a CJK compatibility ideograph pasted from
// an old document) one spelling, so that the same name is stored, searched
// and compared the same way; one kind of space does the same for "北京　朝阳"
// and "北京 朝阳", which a reader cannot tell apart.
// Invalid UTF-8 is left as it is, for the check to refuse.
func NormalizeText(s string) string {
	if strings.IndexByte(s, '\r') >= 0 {
		s = strings.ReplaceAll(s, "\r\n", "\n")
		s = strings.ReplaceAll(s, "\r", "\n")
	}
	s = norm.NFC.String(s)
	if !isASCII(s) {
		s = strings.Map(func(r rune) rune {
			if r != ' ' && unicode.Is(unicode.Zs, r) {
				return ' '
			}
			return r
		}, s)
	}
	return s
}

// NormalizeLine is NormalizeText of a one-line value, trimmed, with each
// run of spaces made one.
func NormalizeLine(s string) string {
	s = strings.TrimSpace(NormalizeText(s))
	for strings.Contains(s, "  ") {
		s = strings.ReplaceAll(s, "  ", " ")
	}
	return s
}

// charKind is why a character is refused in free text.
type charKind int

const (
	charOK charKind = iota
	charUnreadable
	charControl
	charInvisible
	charPrivate
	charNonchar
	charBlank       // U+2800: draws as a space, is not one
	charPlaceholder // U+FFFC: where a pasted picture was
	charSpace       // a space other than U+0020 (NormalizeText makes it one)
	charSelector    // a variation selector where it selects nothing
	charMarkFirst   // a combining mark with nothing to combine with
	charMarkStack   // a third combining mark in a row
	charRadical     // a Kangxi or CJK supplement radical in a name
)

// maxMarks is how many combining marks may follow one character.
const maxMarks = 2

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
	case r == 0x2800:
		return charBlank
	case r == 0xfffc:
		return charPlaceholder
	case unicode.Is(unicode.Zs, r):
		return charSpace
	case unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Other_Default_Ignorable_Code_Point):
		return charInvisible
	case unicode.Is(unicode.Co, r):
		return charPrivate
	case unicode.Is(unicode.Cs, r), r >= 0xfdd0 && r <= 0xfdef, r&0xfffe == 0xfffe:
		return charNonchar
	}
	return charOK
}

// selects reports whether the variation selector vs, after prev, selects
// a glyph of prev rather than hiding in the text: an ideographic one
// (U+E0100–U+E01EF, IVS) after a CJK ideograph, a Mongolian free one after
// a Mongolian letter, and, outside names, U+FE0E/U+FE0F (text or emoji
// presentation) after a symbol or the digit, # or * of a keycap.
func selects(prev, vs rune, name bool) bool {
	switch {
	case vs >= 0xe0100 && vs <= 0xe01ef:
		return unicode.Is(unicode.Ideographic, prev)
	case vs >= 0x180b && vs <= 0x180f:
		return unicode.Is(unicode.Mongolian, prev) && unicode.IsLetter(prev)
	case vs == 0xfe0e || vs == 0xfe0f:
		return !name && (unicode.Is(unicode.So, prev) || prev >= '0' && prev <= '9' || prev == '#' || prev == '*')
	}
	return false
}

// isRadical reports the Kangxi radicals and the CJK radicals supplement:
// symbols drawn as the ideograph they stand for ("⼀" as "一") that NFC
// leaves alone, so a name holding one is not the name it shows.
func isRadical(r rune) bool { return r >= 0x2e80 && r <= 0x2fdf }

// checkChars returns an *Error with CodeTextCharacter for the first
// character of s that free text may not hold, or for text that is not NFC
// (call NormalizeText or NormalizeLine first); nil if there is none.
func checkChars(s string) *Error { return checkText(s, false) }

// checkNameChars is checkChars of a name, which may hold no radical and no
// U+FE00–U+FE0F at all.
func checkNameChars(s string) *Error { return checkText(s, true) }

// checkText is the check of free text (name false) or of a name.
func checkText(s string, name bool) *Error {
	n, marks := 0, 0
	prev := rune(-1) // the character before, -1 at the start
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		n++
		k := classify(r)
		switch {
		case k != charOK:
		case unicode.Is(unicode.Variation_Selector, r):
			if !selects(prev, r, name) {
				k = charSelector
			}
		case unicode.Is(unicode.M, r):
			if prev < 0 || prev == '\n' || prev == '\t' {
				k = charMarkFirst
			}
		case name && isRadical(r):
			k = charRadical
		}
		if unicode.Is(unicode.M, r) {
			if marks++; marks > maxMarks && k == charOK {
				k = charMarkStack
			}
		} else {
			marks = 0
		}
		if k != charOK {
			return charError(k, n, r, size)
		}
		prev = r
		i += size
	}
	if !norm.NFC.IsNormalString(s) {
		e := invalid(CodeTextCharacter, "the text is not in Unicode normalisation form C (NFC)")
		e.MessageZH = "文字编码形式不规范（未经 NFC 规范化），请重新输入"
		return e
	}
	return nil
}

// charMessages are the English and Chinese messages, of the position and
// the code point, of the kinds of refused character that need no more.
var charMessages = map[charKind][2]string{
	charControl: {"character %d (%s) is a control character",
		"第%d个字符（%s）是不可见的控制字符，常随复制粘贴带入：请删除该字符，或清空此项后手动输入"},
	charInvisible: {"character %d (%s) is an invisible formatting character: what is shown would not be what is stored",
		"第%d个字符（%s）是不可见的格式字符，常随复制粘贴带入：请删除该字符，或清空此项后手动输入"},
	charPrivate: {"character %d (%s) is a private-use character that other computers show differently",
		"第%d个字符（%s）是自造字（私用区字符），在其他电脑上显示不同，请改用标准汉字"},
	charNonchar: {"character %d (%s) is not a character",
		"第%d个字符（%s）不是有效字符，请删除后重新输入"},
	charBlank: {"character %d (%s) shows as a blank but is not a space",
		"第%d个字符（%s）显示为空白，但不是空格，请删除后重新输入"},
	charPlaceholder: {"character %d (%s) is the placeholder of a pasted picture or object, not text",
		"第%d个字符（%s）是粘贴图片等对象时留下的占位符，不是文字，请删除后重新输入"},
	charSpace: {"character %d (%s) is a special space: use an ordinary space",
		"第%d个字符（%s）是全角或特殊空格，请改用普通空格"},
	charSelector: {"character %d (%s) is an invisible variation selector that selects nothing here: what is shown would not be what is stored",
		"第%d个字符（%s）是不可见的变体选择符，在这里不起作用，显示的内容会与实际内容不同，请删除后重新输入"},
	charMarkFirst: {"character %d (%s) is a combining mark with no letter before it",
		"第%d个字符（%s）是组合附加符号（如重音、声调），不能单独出现或放在开头，请删除或放在字母后面"},
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
	case charMarkStack:
		en = fmt.Sprintf("character %d (%s) is combining mark %d in a row: at most %d may follow a letter", pos, cp, maxMarks+1, maxMarks)
		zh = fmt.Sprintf("第%d个字符（%s）是连续的第%d个组合附加符号，一个字母上最多叠加%d个（如重音、声调），请删除多余的符号", pos, cp, maxMarks+1, maxMarks)
	case charRadical:
		en = fmt.Sprintf("character %d (%s %q) is a radical symbol, not a Chinese character", pos, cp, r)
		if std := norm.NFKC.String(string(r)); std != string(r) {
			en += fmt.Sprintf(": type %q", std)
			zh = fmt.Sprintf("第%d个字符（%s “%c”）是部首符号，不是汉字，看起来像“%s”，请改用汉字“%s”", pos, cp, r, std, std)
		} else {
			zh = fmt.Sprintf("第%d个字符（%s “%c”）是部首符号，不是汉字，请改用对应的汉字", pos, cp, r)
		}
	default:
		m := charMessages[k]
		en, zh = fmt.Sprintf(m[0], pos, cp), fmt.Sprintf(m[1], pos, cp)
	}
	e := invalid(CodeTextCharacter, "%s", en)
	e.MessageZH = zh
	return e
}
