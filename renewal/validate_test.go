package renewal

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCreditCode(t *testing.T) {
	valid := []string{
		"91350100M000100Y43", // the example in GB 32100-2015
		"914403001922038216", // Huawei Technologies Co., Ltd.
		"9144030071526726XG", // Tencent (Shenzhen)
		"91330100716105852F", // Alibaba (China)
		"91110000802100433B", // Lenovo (Beijing)
		"91110108MA0000000A", // computed: check char of 91110108MA0000000
	}
	for _, s := range valid {
		if err := ValidateCreditCode(s); err != nil {
			t.Errorf("ValidateCreditCode(%q) = %v, want nil", s, err)
		}
	}
	invalidCases := []struct {
		in   string
		code Code
	}{
		{"", CodeRequired},
		{"91350100M000100Y4", CodeCreditCode},   // 17 chars
		{"91350100M000100Y433", CodeCreditCode}, // 19 chars
		{"91350100M000100Y44", CodeCreditCode},  // check char off by one
		{"91350100M000100Y4I", CodeCreditCode},  // I not in the alphabet
		{"91350100M0001O0Y43", CodeCreditCode},  // O not in the alphabet
		{"913501A0M000100Y43", CodeCreditCode},  // region not digits
		{"91350100m000100y43", CodeCreditCode},  // lower case (not normalised)
		{"９1350100M000100Y43", CodeCreditCode},  // full-width digit
		{"19350100M000100Y43", CodeCreditCode},  // two characters swapped
		{"914403001922038261", CodeCreditCode},  // last two digits swapped
	}
	for _, c := range invalidCases {
		err := ValidateCreditCode(c.in)
		if CodeOf(err) != c.code {
			t.Errorf("ValidateCreditCode(%q) = %v, want code %s", c.in, err, c.code)
		}
	}
	if got := NormalizeCreditCode("  91350100m000100y43 "); ValidateCreditCode(got) != nil {
		t.Errorf("normalised lower-case code %q does not validate", got)
	}
}

func TestCreditCodeEverySingleCharacterErrorDetected(t *testing.T) {
	// GB 32100's mod-31 checksum catches every single-character substitution.
	base := "91350100M000100Y43"
	for i := 0; i < 17; i++ {
		for _, r := range creditCodeAlphabet {
			if byte(r) == base[i] || (i >= 2 && i < 8 && (r < '0' || r > '9')) {
				continue
			}
			s := base[:i] + string(r) + base[i+1:]
			if ValidateCreditCode(s) == nil {
				t.Fatalf("substitution at %d gives %q, which validates", i, s)
			}
		}
	}
}

func TestIDNumber(t *testing.T) {
	valid := []string{
		"11010519491231002X",                // the example in GB 11643-1999
		idWithCheck(t, "11010120000229123"), // leap day
		idWithCheck(t, "31011519851012345"),
	}
	for _, s := range valid {
		if err := ValidateIDNumber(s); err != nil {
			t.Errorf("ValidateIDNumber(%q) = %v, want nil", s, err)
		}
	}
	invalidCases := []struct {
		in   string
		code Code
	}{
		{"", CodeRequired},
		{"11010519491231002", CodeIDNumber},                    // 17
		{"110105194912310021", CodeIDNumber},                   // wrong check digit
		{"11010519491231002x", CodeIDNumber},                   // lower-case x, not normalised
		{"1101051949123100AX", CodeIDNumber},                   // letters
		{"01010519491231002X", CodeIDNumber},                   // region starts with 0
		{idWithCheck(t, "11010119900230123"), CodeIDBirthDate}, // 30 February
		{idWithCheck(t, "11010119011301123"), CodeIDBirthDate}, // month 13
		{idWithCheck(t, "11010118000101123"), CodeIDBirthDate}, // 1800: too early
		{"440524188001010014", CodeIDBirthDate},                // GB 11643-1989's example: born 1880
		{idWithCheck(t, "11010119010229123"), CodeIDBirthDate}, // 1901 is not a leap year
		{"11010519491213002X", CodeIDNumber},                   // two digits swapped
	}
	for _, c := range invalidCases {
		err := ValidateIDNumber(c.in)
		if CodeOf(err) != c.code {
			t.Errorf("ValidateIDNumber(%q) = %v, want code %s", c.in, err, c.code)
		}
	}
	if ValidateIDNumber(NormalizeIDNumber(" 11010519491231002x ")) != nil {
		t.Error("normalised lower-case x does not validate")
	}
}

func TestIDNumberAt(t *testing.T) {
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	past := idWithCheck(t, "11010120261122123")
	future := idWithCheck(t, "11010120261124123")
	if err := ValidateIDNumberAt(past, now); err != nil {
		t.Errorf("born yesterday: %v", err)
	}
	if err := ValidateIDNumberAt(future, now); CodeOf(err) != CodeIDBirthDate {
		t.Errorf("born tomorrow: %v, want %s", err, CodeIDBirthDate)
	}
	d, err := IDNumberBirthDate("11010519491231002X")
	if err != nil || d.Format(time.DateOnly) != "1949-12-31" {
		t.Errorf("IDNumberBirthDate = %v, %v", d, err)
	}
}

func idWithCheck(t *testing.T, first17 string) string {
	t.Helper()
	return withCheckChar(t, first17, IDNumberCheckChar)
}

func creditWithCheck(t *testing.T, first17 string) string {
	t.Helper()
	return withCheckChar(t, first17, CreditCodeCheckChar)
}

// withCheckChar completes first17 with the check character check computes.
func withCheckChar(t *testing.T, first17 string, check func(string) (byte, error)) string {
	t.Helper()
	c, err := check(first17)
	if err != nil {
		t.Fatal(err)
	}
	return first17 + string(c)
}

func TestMobile(t *testing.T) {
	for _, in := range []string{"13800138000", "+86 138 0013 8000", "0086-19912345678", "166 0000 0000"} {
		if err := ValidateMobile(NormalizeMobile(in)); err != nil {
			t.Errorf("mobile %q: %v", in, err)
		}
	}
	for _, c := range []struct {
		in   string
		code Code
	}{
		{"", CodeRequired},
		{"1380013800", CodeMobile},   // 10 digits
		{"138001380001", CodeMobile}, // 12
		{"12800138000", CodeMobile},  // 12x does not exist
		{"23800138000", CodeMobile},
		{"1380013800a", CodeMobile},
		{"+1 415 555 0100", CodeMobile},
		{"１３８００１３８０００", CodeMobile}, // full-width
	} {
		if err := ValidateMobile(NormalizeMobile(c.in)); CodeOf(err) != c.code {
			t.Errorf("mobile %q: %v, want %s", c.in, err, c.code)
		}
	}
}

func TestEmail(t *testing.T) {
	for _, in := range []string{"finance@example.com", "zhang.san+invoice@mail.example.com.cn", "a@b.cn"} {
		if err := ValidateEmail(in); err != nil {
			t.Errorf("email %q: %v", in, err)
		}
	}
	for _, in := range []string{"plainaddress", "@example.com", "a@", "a@localhost", "Zhang <a@b.cn>",
		"a@b..cn", "a@.b.cn", "a@b.cn.", "a b@c.cn", "a@[127.0.0.1]", strings.Repeat("a", 250) + "@b.cn"} {
		if err := ValidateEmail(in); err == nil {
			t.Errorf("email %q validates", in)
		}
	}
	if CodeOf(ValidateEmail("")) != CodeRequired {
		t.Error("empty email is not reported as required")
	}
}

// A Chinese domain is sent as punycode; a Chinese user name is refused as
// it is typed, with a message that says why, rather than lost in the mail.
func TestEmailInternationalised(t *testing.T) {
	if err := ValidateEmail("finance@例子.中国"); err != nil {
		t.Errorf("Chinese domain: %v", err)
	}
	if a, err := EmailASCII("finance@例子.中国"); err != nil || a != "finance@xn--fsqu00a.xn--fiqs8s" {
		t.Errorf("EmailASCII: %q %v", a, err)
	}
	if a, err := EmailASCII("finance@example.cn"); err != nil || a != "finance@example.cn" {
		t.Errorf("EmailASCII of an ASCII address: %q %v", a, err)
	}
	for _, in := range []string{"用户@例子.中国", "用户@example.cn", "zhāng@example.cn"} {
		err := ValidateEmail(in)
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeEmail || !strings.Contains(e.MessageZH, "@ 前面的部分") {
			t.Errorf("%q: %#v", in, err)
		}
		if ferr := CheckTypingAt(FieldInvoiceEmail, in, time.Now()); CodeOf(ferr) != CodeEmail {
			t.Errorf("%q as typed: %v", in, ferr)
		}
	}
	if err := ValidateEmail("a@例子。中国."); err == nil {
		t.Error("a domain IDNA refuses validates")
	}
}

func TestBankAccount(t *testing.T) {
	for _, in := range []string{"6222 0202 0001 2345 678", "12345678", "110060224018010012345", strings.Repeat("9", 30)} {
		if err := ValidateBankAccount(NormalizeBankAccount(in)); err != nil {
			t.Errorf("account %q: %v", in, err)
		}
	}
	for _, c := range []struct {
		in   string
		code Code
	}{
		{"", CodeRequired},
		{"1234567", CodeBankAccount},
		{strings.Repeat("9", 31), CodeBankAccount},
		{"6222O20200012345678", CodeBankAccount},
		{"6222.0202.0001", CodeBankAccount},
	} {
		if err := ValidateBankAccount(NormalizeBankAccount(c.in)); CodeOf(err) != c.code {
			t.Errorf("account %q: %v, want %s", c.in, err, c.code)
		}
	}
}

func TestTaxID(t *testing.T) {
	for _, in := range []string{
		"91350100M000100Y43",   // a credit code
		"11010519491231002X",   // an individual's ID number
		"110105123456789",      // old 15
		"11010512345678901",    // old 17
		"11010519491231002X01", // old 20
	} {
		if err := ValidateTaxID(in); err != nil {
			t.Errorf("tax ID %q: %v", in, err)
		}
	}
	for _, c := range []struct {
		in   string
		code Code
	}{
		{"", CodeRequired},
		{"91350100M000100Y44", CodeTaxID}, // 18 but neither checksum holds
		{"1101051234567890", CodeTaxID},   // 16
		{"11010512345678a", CodeTaxID},    // lower case
		{"110105-23456789", CodeTaxID},
	} {
		if err := ValidateTaxID(c.in); CodeOf(err) != c.code {
			t.Errorf("tax ID %q: %v, want %s", c.in, err, c.code)
		}
	}
}

func TestYears(t *testing.T) {
	for n := -1; n <= 4; n++ {
		err := ValidateYears(n)
		if (n >= 1 && n <= 3) != (err == nil) {
			t.Errorf("ValidateYears(%d) = %v", n, err)
		}
	}
}

func TestAddress(t *testing.T) {
	for _, in := range []string{"广东省深圳市南山区科技园南区高新南七道 R2-B 栋 3 楼", "北京市东城区", "Room 3, 1 Example Road, Shanghai"} {
		if err := ValidateAddress(in); err != nil {
			t.Errorf("address %q: %v", in, err)
		}
	}
	for _, c := range []struct {
		in   string
		code Code
	}{
		{"", CodeRequired},
		{"   ", CodeRequired},
		{"北京", CodeAddress},
		{"123456789", CodeAddress},
		{strings.Repeat("路", MaxAddressRunes+1), CodeTooLong},
		{"北京市东城区\x00东四", CodeTextCharacter},
		{"北京市东城区\u2028东四", CodeTextCharacter},
		{"北京市东城区\xff", CodeTextCharacter},
	} {
		if err := ValidateAddress(c.in); CodeOf(err) != c.code {
			t.Errorf("address %q: %v, want %s", c.in, err, c.code)
		}
	}
}

// FuzzValidators proves no validator panics, whatever it is given, and that
// the checksum validators only accept what their own check function agrees with.
func FuzzValidators(f *testing.F) {
	for _, s := range []string{"", "91350100M000100Y43", "11010519491231002X", "+86 13800138000",
		"a@b.cn", "6222020200012345678", "北京市东城区", "\xff\xfe", "0086", "11010119900230123X"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_ = ValidateMobile(NormalizeMobile(s))
		_ = ValidateEmail(s)
		_ = ValidateBankAccount(NormalizeBankAccount(s))
		_ = ValidateTaxID(s)
		_ = ValidateAddress(s)
		_ = ValidateName(s, MaxNameRunes)
		_ = ValidateText(s, MaxCommentRunes)
		_ = ValidateSerial(NormalizeSerial(s))
		_ = ValidateIDNumberAt(s, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		_, _ = SniffDocument([]byte(s))
		if ValidateCreditCode(s) == nil {
			if c, err := CreditCodeCheckChar(s[:17]); err != nil || c != s[17] {
				t.Fatalf("credit code %q validated with a wrong check char", s)
			}
		}
		if ValidateIDNumber(s) == nil {
			if c, err := IDNumberCheckChar(s[:17]); err != nil || c != s[17] {
				t.Fatalf("ID number %q validated with a wrong check char", s)
			}
		}
		if len(s) >= 17 {
			_, _ = CreditCodeCheckChar(s[:17])
			_, _ = IDNumberCheckChar(s[:17])
		}
	})
}
