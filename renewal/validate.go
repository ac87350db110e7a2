package renewal

import (
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Limits on free-text fields, in runes.
const (
	MaxNameRunes         = 50   // a person's name
	MaxOrgNameRunes      = 100  // an organisation's registered name
	MaxBankNameRunes     = 100  // a bank branch name
	MaxAddressRunes      = 200  // a postal address
	MinAddressRunes      = 6    // "北京市东城区" is the shortest that could be delivered to
	MaxCommentRunes      = 1000 // a clerk's comment
	MaxReasonRunes       = 500  // a reviewer's reason
	MaxInvoiceTitleRunes = 100
	MaxEmailBytes        = 254 // RFC 5321 path limit
	MinBankAccountDigits = 8
	MaxBankAccountDigits = 30
	MinYears             = 1
	MaxYears             = 3
	MaxAccountRunes      = 64  // a sign-in account name
	MaxPasswordBytes     = 256 // longer passwords are refused before hashing
	SMSCodeDigits        = 6
	FinVerifyCodeDigits  = 6
)

// invalid makes a field-less *Error; the request validator names the field.
func invalid(code Code, format string, args ...any) *Error {
	e := NewError(code, "")
	e.Field = ""
	if format != "" {
		e.Message = fmt.Sprintf(format, args...)
	}
	return e
}

// GB 32100-2015: 18 characters from this 31-symbol alphabet (no I, O, Z, S, V).
const creditCodeAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

var creditCodeWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// CreditCodeCheckChar returns the GB 32100 check character for the first 17
// characters of a unified social credit code.
func CreditCodeCheckChar(first17 string) (byte, error) {
	if len(first17) != 17 {
		return 0, invalid(CodeCreditCode, "need 17 characters to compute the check character, got %d", len(first17))
	}
	sum := 0
	for i := 0; i < 17; i++ {
		v := strings.IndexByte(creditCodeAlphabet, first17[i])
		if v < 0 {
			return 0, invalid(CodeCreditCode, "character %d (%q) is not allowed in a credit code", i+1, first17[i])
		}
		sum += v * creditCodeWeights[i]
	}
	return creditCodeAlphabet[(31-sum%31)%31], nil
}

// NormalizeCreditCode upper-cases and trims s.
func NormalizeCreditCode(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

// ValidateCreditCode checks a unified social credit code (统一社会信用代码):
// 18 characters of the alphabet, a registration authority (character 1)
// with one of its organisation categories (character 2), the
// administrative division of the registering office (characters 3 to 8,
// whose first two digits name a province) and the checksum. It does not
// normalise: call NormalizeCreditCode first.
func ValidateCreditCode(s string) error {
	if s == "" {
		return invalid(CodeRequired, "")
	}
	if len(s) != 18 {
		return invalid(CodeCreditCode, "a credit code has 18 characters, got %d", utf8.RuneCountInString(s))
	}
	for i := 2; i < 8; i++ {
		if s[i] < '0' || s[i] > '9' {
			return invalid(CodeCreditCode, "characters 3 to 8 are the region code and must be digits")
		}
	}
	want, err := CreditCodeCheckChar(s[:17])
	if err != nil {
		return err
	}
	if strings.IndexByte(creditCodeAlphabet, s[17]) < 0 {
		return invalid(CodeCreditCode, "character 18 (%q) is not allowed in a credit code", s[17])
	}
	if err := creditCodeHead(s); err != nil {
		return err
	}
	if s[17] != want {
		return invalid(CodeCreditCode, "check character does not match: a typing mistake?")
	}
	return nil
}

// creditCodeCategories maps a registration authority code (GB 32100
// character 1) to its organisation category codes (character 2). The
// standard's table gives 1 机构编制 (机关, 事业单位, 中央编办直接管理机构编制
// 的群众团体, 其他), 5 民政 (社会团体, 民办非企业单位, 基金会, 其他),
// 9 工商 (企业, 个体工商户, 农民专业合作社) and Y 其他; the authorities
// given a code since (2 外交, 3 司法行政 — law firms' codes start 31 —,
// 4 文化, 6 旅游, 7 宗教, 8 工会, A 军队, N 农业农村) number their
// categories with digits, 9 being "other".
var creditCodeCategories = map[byte]string{
	'1': "1239", '5': "1239", '9': "123", 'Y': "1",
	'2': "123456789", '3': "123456789", '4': "123456789", '6': "123456789",
	'7': "123456789", '8': "123456789", 'A': "123456789", 'N': "123456789",
}

// creditCodeHead checks what of characters 1 to 8 of a credit code are
// there: authority, category, region.
func creditCodeHead(s string) error {
	if len(s) >= 1 {
		if _, ok := creditCodeCategories[s[0]]; !ok {
			return invalidZH(CodeCreditCode, "统一社会信用代码第1位（登记管理部门代码）无效",
				"character 1 (%q) is not a registration authority code", s[0])
		}
	}
	if len(s) >= 2 && strings.IndexByte(creditCodeCategories[s[0]], s[1]) < 0 {
		return invalidZH(CodeCreditCode, "统一社会信用代码第2位（机构类别代码）与第1位不符",
			"character 2 (%q) is not an organisation category of registration authority %q", s[1], s[0])
	}
	if len(s) > 2 && !creditCodeRegionPossible(s[2:min(len(s), 8)]) {
		return invalidZH(CodeCreditCode, "统一社会信用代码第3至8位不是有效的行政区划代码",
			"characters 3 to 8 are not an administrative division code (GB/T 2260)")
	}
	return nil
}

// creditCodeRegionPossible reports whether r, the start of characters 3 to
// 8 of a credit code, can begin a division code: a province's, or 100000
// (the State: central organs and national organisations).
func creditCodeRegionPossible(r string) bool {
	if strings.HasPrefix("100000", r) {
		return true
	}
	for p := range provinceCodes {
		if n := min(len(r), 2); r[:n] == p[:n] {
			return true
		}
	}
	return false
}

// provinceCodes are the codes of the provincial-level divisions in GB/T
// 2260: 11–15, 21–23, 31–37, 41–46, 50–54, 61–65, 71 Taiwan, 81 Hong
// Kong, 82 Macao.
var provinceCodes = func() map[string]bool {
	m := map[string]bool{}
	for _, r := range [][2]int{{11, 15}, {21, 23}, {31, 37}, {41, 46}, {50, 54}, {61, 65}, {71, 71}, {81, 82}} {
		for c := r[0]; c <= r[1]; c++ {
			m[strconv.Itoa(c)] = true
		}
	}
	return m
}()

// invalidZH is invalid with a Chinese message more precise than the table's.
func invalidZH(code Code, zh, format string, args ...any) *Error {
	e := invalid(code, format, args...)
	e.MessageZH = zh
	return e
}

var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const idCheckChars = "10X98765432"

// IDNumberCheckChar returns the GB 11643 check character for the first 17
// digits of a resident ID number.
func IDNumberCheckChar(first17 string) (byte, error) {
	if len(first17) != 17 {
		return 0, invalid(CodeIDNumber, "need 17 digits to compute the check character, got %d", len(first17))
	}
	sum := 0
	for i := 0; i < 17; i++ {
		c := first17[i]
		if c < '0' || c > '9' {
			return 0, invalid(CodeIDNumber, "the first 17 characters must be digits")
		}
		sum += int(c-'0') * idWeights[i]
	}
	return idCheckChars[sum%11], nil
}

// NormalizeIDNumber upper-cases (a final x) and trims s.
func NormalizeIDNumber(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

// MinBirthYear is the earliest birth year an ID number may show: nobody
// acting as a legal representative or recipient today was born earlier.
const MinBirthYear = 1900

// IDNumberBirthDate returns the birth date written in an 18-digit ID number
// (midnight UTC of that calendar date).
func IDNumberBirthDate(s string) (time.Time, error) {
	if len(s) != 18 {
		return time.Time{}, invalid(CodeIDNumber, "a resident ID number has 18 characters, got %d", utf8.RuneCountInString(s))
	}
	return idBirthDate(s[6:14])
}

func idBirthDate(yyyymmdd string) (time.Time, error) {
	d, err := time.Parse("20060102", yyyymmdd)
	if err != nil {
		return time.Time{}, invalid(CodeIDBirthDate, "the birth date in the ID number is not a real date")
	}
	if d.Year() < MinBirthYear {
		return time.Time{}, invalidZH(CodeIDBirthDate, fmt.Sprintf("身份证号码中的出生日期早于%d年，请核对号码", MinBirthYear),
			"the birth date in the ID number is before %d", MinBirthYear)
	}
	return d, nil
}

// idRegions are the starts an ID number's region may have: a province
// (GB/T 2260), 83 (the residence permit of Taiwan residents; 81 and 82 are
// those of Hong Kong and Macao), and 9 followed by a province (the foreign
// permanent resident ID card of 2023, numbered in the same format).
var idRegions = func() []string {
	var out []string
	for p := range provinceCodes {
		out = append(out, p, "9"+p)
	}
	return append(out, "83")
}()

// idRegionPossible reports whether v, the start of an ID number, can begin
// a known region.
func idRegionPossible(v string) bool {
	for _, r := range idRegions {
		n := min(len(v), len(r))
		if v[:n] == r[:n] {
			return true
		}
	}
	return false
}

func errIDRegion() *Error {
	return invalidZH(CodeIDNumber, "身份证号码前两位不是有效的省级行政区划代码",
		"the first digits are not a province code (GB/T 2260)")
}

// ValidateIDNumber checks an 18-character resident ID number (居民身份证号码):
// digits, a province in the region, a real birth date from MinBirthYear on,
// and the checksum. Whether the birth date lies in the future depends on a
// clock: see ValidateIDNumberAt.
func ValidateIDNumber(s string) error {
	if s == "" {
		return invalid(CodeRequired, "")
	}
	if len(s) != 18 {
		return invalid(CodeIDNumber, "a resident ID number has 18 characters, got %d", utf8.RuneCountInString(s))
	}
	want, err := IDNumberCheckChar(s[:17])
	if err != nil {
		return err
	}
	if !idRegionPossible(s[:3]) {
		return errIDRegion()
	}
	if _, err := IDNumberBirthDate(s); err != nil {
		return err
	}
	if s[17] != want {
		return invalid(CodeIDNumber, "check character does not match: a typing mistake?")
	}
	return nil
}

// ValidateIDNumberAt is ValidateIDNumber plus: the birth date is not after
// the date of now in China.
func ValidateIDNumberAt(s string, now time.Time) error {
	if err := ValidateIDNumber(s); err != nil {
		return err
	}
	d, _ := IDNumberBirthDate(s)
	return checkBornBy(d, now)
}

func checkBornBy(d, now time.Time) error {
	y, m, day := now.In(ChinaTime).Date()
	if d.After(time.Date(y, m, day, 0, 0, 0, 0, time.UTC)) {
		return invalidZH(CodeIDBirthDate, fmt.Sprintf("身份证号码中的出生日期（%d年%d月%d日）晚于今天，请核对号码", d.Year(), d.Month(), d.Day()),
			"the birth date in the ID number is in the future")
	}
	return nil
}

// NormalizeMobile strips spaces, dashes and a +86/0086 prefix.
func NormalizeMobile(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\u00a0' {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	switch {
	case strings.HasPrefix(s, "+86"):
		s = s[3:]
	case strings.HasPrefix(s, "0086"):
		s = s[4:]
	}
	return s
}

// ValidateMobile checks a normalised mainland mobile number: 11 digits,
// starting 13–19.
func ValidateMobile(s string) error {
	if s == "" {
		return invalid(CodeRequired, "")
	}
	if len(s) != 11 || !allDigits(s) {
		return invalid(CodeMobile, "a mainland mobile number has 11 digits")
	}
	if s[0] != '1' || s[1] < '3' {
		return invalid(CodeMobile, "a mainland mobile number starts with 13 to 19")
	}
	return nil
}

// ValidateEmail checks a bare e-mail address (no display name) with a
// domain that has a dot, and no character free text may not hold (net/mail
// takes a zero-width space, for one).
func ValidateEmail(s string) error {
	if s == "" {
		return invalid(CodeRequired, "")
	}
	if len(s) > MaxEmailBytes {
		return invalid(CodeEmail, "an e-mail address has at most %d characters", MaxEmailBytes)
	}
	if e := checkNameChars(s); e != nil {
		return e
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return invalid(CodeEmail, "")
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	if at < 1 || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") ||
		strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") || strings.ContainsAny(domain, "[]") {
		return invalid(CodeEmail, "")
	}
	// A Chinese user name (用户@例子.中国) needs SMTPUTF8 at every server
	// on the way, which most do not offer: the invoice would be issued and
	// its mail lost. A Chinese domain is fine: it is sent as its ASCII
	// (punycode) form.
	if !isASCII(s[:at]) {
		return errEmailUserName()
	}
	if _, err := EmailASCII(s); err != nil {
		return invalid(CodeEmail, "the domain is not a valid internationalised domain name")
	}
	return nil
}

func errEmailUserName() *Error {
	return invalidZH(CodeEmail, "邮箱地址 @ 前面的部分只能用英文字母、数字和 . _ - + 等符号；含中文的邮箱多数邮件服务器无法投递，请换一个邮箱",
		"the part before @ must be ASCII letters, digits or symbols: most mail servers cannot deliver to a Chinese user name")
}

// EmailASCII is a valid address with its domain in ASCII (IDNA: 例子.中国
// becomes xn--fsqu00a.xn--fiqs8s), as SMTP without SMTPUTF8 needs it.
func EmailASCII(s string) (string, error) {
	at := strings.LastIndexByte(s, '@')
	if at < 0 || isASCII(s[at+1:]) {
		return s, nil
	}
	d, err := idna.Lookup.ToASCII(s[at+1:])
	if err != nil {
		return "", fmt.Errorf("e-mail domain: %w", err)
	}
	return s[:at+1] + d, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// NormalizeBankAccount strips the spaces and dashes people type in groups.
func NormalizeBankAccount(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\u00a0' {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
}

// ValidateBankAccount checks a normalised account number: digits only, 8 to
// 30 of them (Chinese card numbers have 16–19; corporate accounts vary more).
func ValidateBankAccount(s string) error {
	if s == "" {
		return invalid(CodeRequired, "")
	}
	if !allDigits(s) {
		return invalid(CodeBankAccount, "a bank account number has digits only")
	}
	if len(s) < MinBankAccountDigits || len(s) > MaxBankAccountDigits {
		return invalid(CodeBankAccount, "a bank account number has %d to %d digits", MinBankAccountDigits, MaxBankAccountDigits)
	}
	return nil
}

// ValidateTaxID checks a taxpayer identification number (纳税人识别号): since
// 2015 the organisation's credit code (18), or an older 15, 17 or 20
// character number; an 18-character one must be a valid credit code or a
// valid resident ID number (individual businesses).
func ValidateTaxID(s string) error {
	if s == "" {
		return invalid(CodeRequired, "")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'A' || c > 'Z') {
			return invalid(CodeTaxID, "a taxpayer ID has digits and capital letters only")
		}
	}
	switch len(s) {
	case 15, 17, 20:
		return nil
	case 18:
		if ValidateCreditCode(s) == nil || ValidateIDNumber(s) == nil {
			return nil
		}
		return invalid(CodeTaxID, "an 18-character taxpayer ID must be a valid credit code")
	}
	return invalid(CodeTaxID, "a taxpayer ID has 15, 17, 18 or 20 characters")
}

// ValidateYears checks a renewal period.
func ValidateYears(n int) error {
	if n < MinYears || n > MaxYears {
		return invalid(CodeYears, "")
	}
	return nil
}

// ValidateAddress checks a postal address: 6 to 200 characters of printable
// text that names more than digits.
func ValidateAddress(s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		return invalid(CodeRequired, "")
	}
	if err := ValidateText(s, MaxAddressRunes); err != nil {
		return err
	}
	n := utf8.RuneCountInString(s)
	if n < MinAddressRunes {
		return invalid(CodeAddress, "an address needs at least %d characters", MinAddressRunes)
	}
	letters := 0
	for _, r := range s {
		if unicode.IsLetter(r) {
			letters++
		}
	}
	if letters < 2 {
		return invalid(CodeAddress, "an address needs a place name, not only numbers")
	}
	return nil
}

// ValidateText checks free text that NormalizeText has been applied to:
// no character a reader would not see as stored (see checkChars: controls
// other than newline and tab, format and other invisible characters,
// private use, U+FFFD and invalid UTF-8, noncharacters; NFC), at most max
// runes. Empty text is fine.
func ValidateText(s string, max int) error {
	if e := checkChars(s); e != nil {
		return e
	}
	if utf8.RuneCountInString(s) > max {
		return invalid(CodeTooLong, "at most %d characters", max)
	}
	return nil
}

// ValidateName checks a required one-line name of at most max runes, after
// NormalizeLine: as ValidateText, and no radical symbol or U+FE00–U+FE0F
// (see checkText).
func ValidateName(s string, max int) error {
	if strings.TrimSpace(s) == "" {
		return invalid(CodeRequired, "")
	}
	if strings.ContainsAny(s, "\n\t") {
		return invalid(CodeInvalidField, "a name is one line")
	}
	if e := checkNameChars(s); e != nil {
		return e
	}
	if utf8.RuneCountInString(s) > max {
		return invalid(CodeTooLong, "at most %d characters", max)
	}
	return nil
}

// ValidateDigits checks a code of exactly n ASCII digits.
func ValidateDigits(s string, n int, code Code) error {
	if s == "" {
		return invalid(CodeRequired, "")
	}
	if len(s) != n || !allDigits(s) {
		return invalid(code, "%d digits", n)
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
