package renewal

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// jsonWith marshals v, whose text under test is "@", and puts text in its
// place as it stands: JSON escapes (\u202e, a lone \ud800) and raw bytes
// (GBK, an overlong form) reach the decoder as a client sent them.
func jsonWith(t *testing.T, v any, text string) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(b), `"@"`) != 1 {
		t.Fatalf("no single placeholder in %s", b)
	}
	return []byte(strings.Replace(string(b), `"@"`, `"`+text+`"`, 1))
}

func formWith(set func(f *ApplicationForm)) *CreateApplicationRequest {
	f := goodForm()
	set(&f)
	return &CreateApplicationRequest{CertSerial: "0a1b2c", Form: &f}
}

// Every free-text field of the wire types refuses characters that make a
// reader see something other than what is stored, and bytes that decoding
// replaced with U+FFFD, with text_character on the field and a Chinese
// message for the GUI.
func TestFreeTextRefusesLyingCharacters(t *testing.T) {
	cases := []struct {
		name  string
		req   interface{ Validate() error } // with "@" where the text goes
		text  string
		field string
	}{
		{"RLO in a document name", &UploadDocumentRequest{Kind: DocOther, Name: "@"}, `x\u202egpj.exe`, "name"},
		{"noncharacter in a document name", &UploadDocumentRequest{Kind: DocOther, Name: "@"}, `scan\uffff.pdf`, "name"},
		{"ZWSP in the organisation's name", formWith(func(f *ApplicationForm) { f.Organisation.Name = "@" }), `深圳\u200b测试科技有限公司`, "form.organisation.name"},
		{"Hangul filler as the organisation's name", formWith(func(f *ApplicationForm) { f.Organisation.Name = "@" }), `\u3164`, "form.organisation.name"},
		{"escape in the organisation's name", formWith(func(f *ApplicationForm) { f.Organisation.Name = "@" }), `测试\u001b[31m公司`, "form.organisation.name"},
		{"BOM before the representative's name", formWith(func(f *ApplicationForm) { f.LegalRepresentative.Name = "@" }), `\ufeff张三`, "form.legal_representative.name"},
		{"tag character in the representative's name", formWith(func(f *ApplicationForm) { f.LegalRepresentative.Name = "@" }), `张\udb40\udc41三`, "form.legal_representative.name"},
		{"U+FFFD in the bank account's name", formWith(func(f *ApplicationForm) { f.Bank.AccountName = "@" }), `测试\ufffd公司`, "form.bank.account_name"},
		{"private use in the bank's name", formWith(func(f *ApplicationForm) { f.Bank.BankName = "@" }), `招商\ue000银行`, "form.bank.bank_name"},
		{"lone surrogate in the invoice title", formWith(func(f *ApplicationForm) { f.Invoice.Title = "@" }), `测试\ud800公司`, "form.invoice.title"},
		{"C1 control in the invoice title", formWith(func(f *ApplicationForm) { f.Invoice.Title = "@" }), `测试\u0085公司`, "form.invoice.title"},
		{"ZWSP in the invoice e-mail", formWith(func(f *ApplicationForm) { f.Invoice.Email = "@" }), `cw\u200b@example.cn`, "form.invoice.email"},
		{"soft hyphen in the recipient", formWith(func(f *ApplicationForm) { f.Pickup.Recipient = "@" }), `李\u00ad四`, "form.pickup.recipient"},
		{"GBK bytes in the address", formWith(func(f *ApplicationForm) { f.Pickup.Address = "@" }), "\xd5\xc5\xc8\xfd广东省深圳市南山区", "form.pickup.address"},
		{"LRI in the comment", &SubmitRequest{Version: 1, Comment: "@"}, `请尽快\u2066审核`, "comment"},
		{"overlong slash in a reason", &ReviewRequest{Version: 1, Reason: "@"}, "材料\xc0\xaf不全", "reason"},
		{"RLO in a refund reason", &RefundRequest{Reason: "@"}, `退款\u202e原因`, "reason"},
		{"ZWJ in a corrected bank account's name", &CorrectBankRequest{Version: 1, Bank: BankAccount{AccountName: "@", BankName: "招商银行", AccountNumber: "755912345610001"}}, `测试\u200d公司`, "bank.account_name"},
		{"word joiner in an invoice request's title", &InvoiceRequest{Title: "@"}, `测试\u2060公司`, "title"},
		{"LRM in a sign-in account", &PasswordLoginRequest{Account: "@", Password: "x"}, `admin\u200e`, "account"},
		{"RLO in a search", &ListApplicationsRequest{Query: "@"}, `\u202e测试`, "q"},
		{"LRE in an audit filter", &AuditQuery{Target: "@"}, `application/\u202aabc`, "target"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := jsonWith(t, c.req, c.text)
			r := reflect.New(reflect.TypeOf(c.req).Elem()).Interface().(interface{ Validate() error })
			if err := json.Unmarshal(body, r); err != nil {
				t.Fatalf("decode %q: %v", body, err)
			}
			err := r.Validate()
			fe := AsError(err).FieldError(c.field)
			if fe == nil || fe.Code.String() != "text_character" {
				t.Fatalf("%s accepted or refused otherwise: %v", body, err)
			}
			if zh := fe.Localized("zh-CN"); !strings.Contains(zh, "字符") && !strings.Contains(zh, "乱码") {
				t.Errorf("Chinese message %q", zh)
			}
		})
	}
}

// Text typed or pasted in a decomposed or compatibility form is stored in
// NFC, without an error for the clerk; CR LF line ends become LF.
func TestFreeTextNormalisedToNFC(t *testing.T) {
	req := formWith(func(f *ApplicationForm) {
		f.Organisation.Name = "Cafe\u0301 科技有限公司" // e + combining acute
		f.LegalRepresentative.Name = "\uf900三"    // CJK compatibility ideograph
		f.Pickup.Address = " 广东省深圳市南山区 Cafe\u0301 1 号 "
	})
	if err := req.Validate(); err != nil {
		t.Fatalf("decomposed text refused: %v", err)
	}
	if got := req.Form.Organisation.Name; got != "Caf\u00e9 科技有限公司" {
		t.Errorf("organisation name %+q, want NFC", got)
	}
	if got := req.Form.LegalRepresentative.Name; got != "\u8c48三" {
		t.Errorf("representative name %+q, want NFC", got)
	}
	if got := req.Form.Pickup.Address; got != "广东省深圳市南山区 Caf\u00e9 1 号" {
		t.Errorf("address %+q, want NFC and trimmed", got)
	}
	sub := SubmitRequest{Version: 1, Comment: "第一行\r\n第二行\rCafe\u0301"}
	if err := sub.Validate(); err != nil || sub.Comment != "第一行\n第二行\nCaf\u00e9" {
		t.Errorf("comment %+q: %v", sub.Comment, err)
	}
	doc := UploadDocumentRequest{Kind: DocOther, Name: "Cafe\u0301.pdf"}
	if err := doc.Validate(); err != nil || doc.Name != "Caf\u00e9.pdf" {
		t.Errorf("document name %+q: %v", doc.Name, err)
	}
	rev := ReviewRequest{Version: 1, Reason: " Cafe\u0301 "}
	if err := rev.ValidateFor(ActionReject); err != nil || rev.Reason != "Caf\u00e9" {
		t.Errorf("reason %+q: %v", rev.Reason, err)
	}
	// The GUI's field check normalises as the request does: no error.
	if err := ValidateFormField(FieldOrgName, "Cafe\u0301 科技有限公司"); err != nil {
		t.Errorf("field check of decomposed text: %v", err)
	}
	// The validators themselves take only normalised text.
	if err := ValidateText("Cafe\u0301", 10); CodeOf(err) != CodeTextCharacter {
		t.Errorf("ValidateText of NFD text: %v, want %s", err, CodeTextCharacter)
	}
	for _, s := range []string{"Cafe\u0301\r\n", "\uf900", "\xff\r", " a\rb "} {
		if once := NormalizeLine(s); NormalizeLine(once) != once {
			t.Errorf("NormalizeLine(%+q) is not idempotent", s)
		}
	}
}

// What stays allowed: ordinary Chinese and Latin text with the spaces
// people type (made ASCII spaces), an ideographic variation sequence after a
// CJK ideograph (a rare name character's glyph), a Mongolian free variation
// selector after a Mongolian letter, emoji presentation in multi-line text,
// up to two combining marks, and newlines and tabs in multi-line text.
func TestFreeTextAllowed(t *testing.T) {
	for _, s := range []string{"深圳市测试科技有限公司", "O'Brien & Co. Ltd", "葛\U000E0100", "辻\U000E0101子", "第一行\n\t第二行", "𠮷野家",
		"ᠠ\u180b", "谢谢❤\ufe0f", "按1\ufe0f\u20e3", "Nguyễn Văn A", "ก\u0e34\u0e49", "x\u0301\u0302"} {
		if err := ValidateText(s, 100); err != nil {
			t.Errorf("ValidateText(%+q) = %v", s, err)
		}
	}
	for _, s := range []string{"葛\U000E0100", "买买提·艾力", "Nguyễn Văn A", "深圳市测试科技有限公司"} {
		if err := ValidateName(s, 100); err != nil {
			t.Errorf("ValidateName(%+q) = %v", s, err)
		}
	}
	// Spaces other than U+0020 (a Chinese input method's full-width space,
	// no-break space, en space) become one ASCII space, a run of them one;
	// multi-line text keeps its runs.
	for in, want := range map[string]string{
		"北京\u3000朝阳": "北京 朝阳", "O'Brien & Co.\u00a0Ltd": "O'Brien & Co. Ltd", "张\u2002\u3000 三": "张 三",
		"\u3000深圳市测试科技有限公司\u3000": "深圳市测试科技有限公司", "a\u202fb\u205fc\u1680d": "a b c d",
	} {
		got := NormalizeLine(in)
		if got != want || NormalizeLine(got) != got {
			t.Errorf("NormalizeLine(%+q) = %+q, want %+q", in, got, want)
		}
		if err := ValidateName(got, 100); err != nil {
			t.Errorf("ValidateName(%+q) = %v", got, err)
		}
	}
	if got := NormalizeText("一\u3000\u3000二\n三"); got != "一  二\n三" {
		t.Errorf("NormalizeText kept %+q", got)
	}
	req := formWith(func(f *ApplicationForm) {
		f.LegalRepresentative.Name = "张\u3000三"
		f.Invoice.Title = "测试\u00a0公司"
	})
	if err := req.Validate(); err != nil || req.Form.LegalRepresentative.Name != "张 三" || req.Form.Invoice.Title != "测试 公司" {
		t.Errorf("form with full-width spaces: %+q %+q %v", req.Form.LegalRepresentative.Name, req.Form.Invoice.Title, err)
	}
}

// Characters that show as something other than what is stored, or as
// nothing: variation selectors that select nothing, blanks that are not
// spaces, an object placeholder, combining marks with nothing to combine
// with or stacked, spaces that skipped normalisation, and in names the
// radical symbols drawn as ideographs. Each is refused with text_character,
// a Chinese message naming the position and code point.
func TestFreeTextRefusesLookalikes(t *testing.T) {
	type check func(string) error
	text := func(s string) error { return ValidateText(s, 100) }
	name := func(s string) error { return ValidateName(s, 100) }
	cases := []struct {
		in   string
		fn   check
		want string // in the Chinese message
	}{
		{"张\ufe00三", name, "第2个字符（U+FE00）"},
		{"张\ufe00三", text, "第2个字符（U+FE00）"},
		{"张\ufe0f三", name, "第2个字符（U+FE0F）"},
		{"测试\ufe0e公司", name, "第3个字符（U+FE0E）"},
		{"Zhang\U000E0100 San", name, "第6个字符（U+E0100）"},
		{"\U000E0100张三", name, "第1个字符（U+E0100）"},
		{"葛\U000E0100\U000E0101", name, "第3个字符（U+E0101）"},
		{"张\U000E01EF", text, ""}, // allowed: see below
		{"张\u180b三", name, "第2个字符（U+180B）"},
		{"张三\u180c", text, "第3个字符（U+180C）"},
		{"\u180d张三", name, "第1个字符（U+180D）"},
		{"张\u180f三", name, "第2个字符（U+180F）"},
		{"张\u2800三", name, "第2个字符（U+2800）"},
		{"\u2800", text, "第1个字符（U+2800）"},
		{"测试\ufffc公司", name, "第3个字符（U+FFFC）"},
		{"请看\ufffc", text, "第3个字符（U+FFFC）"},
		{"\u0301", name, "第1个字符（U+0301）"},
		{"\u0301张三", name, "第1个字符（U+0301）"},
		{"第一行\n\u0301第二行", text, "第5个字符（U+0301）"},
		{"x\u0301\u0302\u0303", name, "第4个字符（U+0303）"},
		{"Z" + strings.Repeat("\u0301", 20), name, "第4个字符（U+0301）"},
		{"张" + strings.Repeat("\u0336", 20), text, "第4个字符（U+0336）"},
		{"北京\u3000朝阳", name, "第3个字符（U+3000）"},
		{"O'Brien\u00a0Ltd", text, "第8个字符（U+00A0）"},
		{"张\u2002三", name, "第2个字符（U+2002）"},
		{"\u2f00", name, "第1个字符（U+2F00 “⼀”）是部首符号，不是汉字，看起来像“一”，请改用汉字“一”"},
		{"王\u2f2d", name, "第2个字符（U+2F2D “⼭”）是部首符号，不是汉字，看起来像“山”"},
		{"\u2f08\u2f3e科技有限公司", name, "第1个字符（U+2F08 “⼈”）"},
		{"\u2e9f亲", name, "看起来像“母”"},
		{"\u2ee2测试", name, "第1个字符（U+2EE2 “⻢”）是部首符号，不是汉字，请改用对应的汉字"},
	}
	for _, c := range cases {
		err := c.fn(c.in)
		if c.want == "" {
			if err != nil {
				t.Errorf("%+q refused: %v", c.in, err)
			}
			continue
		}
		e := AsError(err)
		if e == nil || e.Code != CodeTextCharacter {
			t.Errorf("%+q accepted or refused otherwise: %v", c.in, err)
			continue
		}
		if zh := e.Localized("zh-CN"); !strings.Contains(zh, c.want) {
			t.Errorf("%+q: Chinese message %q, want %q in it", c.in, zh, c.want)
		}
	}
	// Radicals are a matter of names: a comment may quote one.
	if err := ValidateText("部首\u2f00", 100); err != nil {
		t.Errorf("radical in a comment: %v", err)
	}
	// Through the wire types, on the field: the variation selector in the
	// representative's name and the invoice title, the radical in the
	// organisation's name.
	for field, req := range map[string]*CreateApplicationRequest{
		"form.legal_representative.name": formWith(func(f *ApplicationForm) { f.LegalRepresentative.Name = "张\ufe00三" }),
		"form.invoice.title":             formWith(func(f *ApplicationForm) { f.Invoice.Title = "测试\ufe01公司" }),
		"form.organisation.name":         formWith(func(f *ApplicationForm) { f.Organisation.Name = "\u2f00\u2f08科技有限公司" }),
		"form.pickup.recipient":          formWith(func(f *ApplicationForm) { f.Pickup.Recipient = "\u0301" }),
	} {
		if fe := AsError(req.Validate()).FieldError(field); fe == nil || fe.Code != CodeTextCharacter {
			t.Errorf("%s: %v", field, req.Validate())
		}
	}
	if fe := AsError((&InvoiceRequest{Title: "测试\u2800公司"}).Validate()).FieldError("title"); fe == nil || fe.Code != CodeTextCharacter {
		t.Errorf("braille blank in an invoice request's title accepted")
	}
	if err := ValidateFormField(FieldRepName, "张\ufe00三"); CodeOf(err) != CodeTextCharacter {
		t.Errorf("GUI field check of a variation selector: %v", err)
	}
}

// Identity numbers that cannot exist: a birth date after today (with a
// valid check digit), before 1900, an unknown region; credit codes with an
// unknown registration authority, category or region.
func TestImpossibleIdentityNumbers(t *testing.T) {
	now := time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		id   string
		code Code // CodeUnknown: valid
	}{
		{idWithCheck(t, "11010520991231002"), CodeIDBirthDate},
		{idWithCheck(t, "11010520261124002"), CodeIDBirthDate}, // tomorrow
		{idWithCheck(t, "11010520261123002"), CodeUnknown},     // today
		{idWithCheck(t, "11010518991231002"), CodeIDBirthDate},
		{idWithCheck(t, "11010519000101002"), CodeUnknown},
		{idWithCheck(t, "99010519491231002"), CodeIDNumber},
		{idWithCheck(t, "16010519491231002"), CodeIDNumber},
		{idWithCheck(t, "20010519491231002"), CodeIDNumber},
		{idWithCheck(t, "72010519491231002"), CodeIDNumber},
		{idWithCheck(t, "84000019491231002"), CodeIDNumber},
		{idWithCheck(t, "91010519491231002"), CodeIDNumber}, // 9, then no province
		{idWithCheck(t, "71000019491231002"), CodeUnknown},  // Taiwan
		{idWithCheck(t, "81000019491231002"), CodeUnknown},  // Hong Kong residence permit
		{idWithCheck(t, "82000019491231002"), CodeUnknown},  // Macao
		{idWithCheck(t, "83000019491231002"), CodeUnknown},  // Taiwan residence permit
		{idWithCheck(t, "91184019491231002"), CodeUnknown},  // foreign permanent resident, Beijing
		{idWithCheck(t, "65010519491231002"), CodeUnknown},
	} {
		err := ValidateIDNumberAt(c.id, now)
		if (c.code == CodeUnknown) != (err == nil) || (err != nil && CodeOf(err) != c.code) {
			t.Errorf("ValidateIDNumberAt(%s) = %v, want %v", c.id, err, c.code)
		}
	}
	// "Today" is China's: at 00:30 in Beijing someone born that day is, although in UTC it is yesterday.
	bj := time.Date(2026, 11, 22, 16, 30, 0, 0, time.UTC)
	if err := ValidateIDNumberAt(idWithCheck(t, "11010520261123002"), bj); err != nil {
		t.Errorf("born today in Beijing: %v", err)
	}

	for _, c := range []struct {
		first17 string
		ok      bool
	}{
		{"B1350100M000100Y4", false}, // no authority B
		{"01350100M000100Y4", false},
		{"94350100M000100Y4", false}, // 工商 has no category 4
		{"Y2350100M000100Y4", false}, // 其他 has only 1
		{"91990100M000100Y4", false}, // no province 99
		{"91100100M000100Y4", false}, // 10 only as 100000, the State
		{"91000000M000100Y4", false},
		{"11100000M000100Y4", true}, // a central organ
		{"51100000M000100Y4", true}, // a national social organisation
		{"52440300M000100Y4", true}, // 民办非企业单位
		{"31110000M000100Y4", true}, // a law firm
		{"92440300M000100Y4", true}, // 个体工商户
		{"N2440300M000100Y4", true}, // a village collective
		{"Y1440300M000100Y4", true},
	} {
		s := creditWithCheck(t, c.first17)
		err := ValidateCreditCode(s)
		if c.ok != (err == nil) || (err != nil && CodeOf(err) != CodeCreditCode) {
			t.Errorf("ValidateCreditCode(%s) = %v, want ok=%v", s, err, c.ok)
		}
	}

	// The form refuses them on its fields; the zero-argument Validate uses
	// this computer's date (2099 is after it).
	req := formWith(func(f *ApplicationForm) {
		f.LegalRepresentative.IDNumber = idWithCheck(t, "11010520990101002")
		f.Organisation.CreditCode = creditWithCheck(t, "B1350100M000100Y4")
	})
	e := AsError(req.Validate())
	if fe := e.FieldError("form.legal_representative.id_number"); fe == nil || fe.Code != CodeIDBirthDate {
		t.Errorf("future birth date in a form: %v", e)
	}
	if fe := e.FieldError("form.organisation.credit_code"); fe == nil || fe.Code != CodeCreditCode {
		t.Errorf("unknown authority in a form: %v", e)
	}
	req = formWith(func(f *ApplicationForm) { f.LegalRepresentative.IDNumber = idWithCheck(t, "11010520261124002") })
	if fe := AsError(req.ValidateAt(now)).FieldError("form.legal_representative.id_number"); fe == nil || fe.Code != CodeIDBirthDate {
		t.Errorf("born tomorrow, by the service's clock: %v", fe)
	}
	upd := UpdateApplicationRequest{Version: 1, Form: goodForm()}
	upd.Form.LegalRepresentative.IDNumber = idWithCheck(t, "11010520261124002")
	if err := upd.ValidateAt(now.AddDate(0, 0, 1)); err != nil {
		t.Errorf("born today, by the service's clock: %v", err)
	}
	if fe := AsError(upd.ValidateAt(now)).FieldError("form.legal_representative.id_number"); fe == nil || fe.Code != CodeIDBirthDate {
		t.Errorf("born tomorrow, update: %v", fe)
	}

	// While typing, what no more typing can fix.
	for _, c := range []struct {
		field, v string
		code     Code
	}{
		{FieldRepIDNumber, "99", CodeIDNumber},
		{FieldRepIDNumber, "910", CodeIDNumber},
		{FieldRepIDNumber, "9", CodeUnknown},
		{FieldRepIDNumber, "911", CodeUnknown},
		{FieldRepIDNumber, "11010520261124", CodeIDBirthDate},
		{FieldRepIDNumber, "11010518991231", CodeIDBirthDate},
		{FieldCreditCode, "B", CodeCreditCode},
		{FieldCreditCode, "94", CodeCreditCode},
		{FieldCreditCode, "9199", CodeCreditCode},
		{FieldCreditCode, "11100000", CodeUnknown},
		{FieldOrgName, "测试\u200b", CodeTextCharacter},
		{FieldInvoiceEmail, "cw\u200b", CodeTextCharacter},
	} {
		err := CheckTypingAt(c.field, c.v, now)
		if CodeOf(err) != c.code && !(c.code == CodeUnknown && err == nil) {
			t.Errorf("typing %s=%q: %v, want %v", c.field, c.v, err, c.code)
		}
	}
}
