package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
)

// withText marshals v, whose text under test is "@", and puts text in its
// place as a client could send it: JSON escapes (\u202e, a lone \ud800)
// and raw bytes that are not UTF-8.
func withText(t *testing.T, v any, text string) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(b), `"@"`) != 1 {
		t.Fatalf("no single placeholder in %s", b)
	}
	return strings.Replace(string(b), `"@"`, `"`+text+`"`, 1)
}

// fieldCode returns the code the error body gives field (the body's own,
// or the one in its fields list), and the message.
func fieldCode(t *testing.T, body []byte, field string) (code, message string) {
	t.Helper()
	type wire struct {
		Code, Field, Message string
		Fields               []wire
	}
	var w wire
	if err := json.Unmarshal(body, &w); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	for _, f := range append([]wire{w}, w.Fields...) {
		if f.Field == field && (len(f.Fields) == 0) {
			return f.Code, f.Message
		}
	}
	return "", ""
}

// TestLyingTextAndImpossibleIDs sends free text that would show other than
// stored (bidi overrides, zero-width and invisible characters, a lone
// surrogate and bytes that are not UTF-8, which decoding turns into
// U+FFFD) and identity numbers that cannot exist (a birth date after the
// service's today, an unknown region, an unknown registration authority):
// a variation selector that selects nothing ("张\uFE00三" shown as 张三),
// radical symbols drawn as ideographs, a combining mark alone or stacked,
// a braille blank, an object placeholder: each is refused with 400 on its
// field, with a Chinese message, and nothing is stored. Decomposed text is
// stored in NFC, a full-width space as an ASCII space.
func TestLyingTextAndImpossibleIDs(t *testing.T) {
	e := newEnv(t, envOptions{})
	ct := e.smsSignIn(clerkMobile).AccessToken
	reviewer := e.passwordSignIn("reviewer", reviewerPassword).AccessToken
	admin := e.passwordSignIn("admin", adminPassword).AccessToken
	var a renewal.Application
	e.ok(http.StatusCreated, &a, "POST", "/v1/applications", ct, renewal.CreateApplicationRequest{CertSerial: e.holders["rsa"].Serial, Form: ptr(validForm(e.Org, 1))})
	app := "/v1/applications/" + a.ID

	// The service's today, by its clock (which tests set, here days
	// before the wall clock): someone born tomorrow by it is refused.
	today := e.Clock.Now().In(renewal.ChinaTime)
	idBorn := func(yyyymmdd string) string {
		c, err := renewal.IDNumberCheckChar("110105" + yyyymmdd + "002")
		if err != nil {
			t.Fatal(err)
		}
		return "110105" + yyyymmdd + "002" + string(c)
	}
	withCheck := func(first17 string) string {
		c, err := renewal.CreditCodeCheckChar(first17)
		if err != nil {
			t.Fatal(err)
		}
		return first17 + string(c)
	}
	create := func(set func(f *renewal.ApplicationForm)) renewal.CreateApplicationRequest {
		f := validForm(e.Org, 1)
		set(&f)
		return renewal.CreateApplicationRequest{CertSerial: e.holders["sm2"].Serial, Form: &f}
	}
	update := func(set func(f *renewal.ApplicationForm)) renewal.UpdateApplicationRequest {
		f := validForm(e.Org, 1)
		set(&f)
		return renewal.UpdateApplicationRequest{Version: 1, Form: f}
	}
	post := func(f *renewal.ApplicationForm) {
		f.Pickup = renewal.Pickup{Method: renewal.PickupPost, Recipient: "李四", Mobile: "13900139000", Address: "广东省深圳市南山区科技园 1 号"}
	}

	cases := []struct {
		name, method, path, token string
		body                      any
		field, code               string
	}{
		{"ZWSP in the organisation's name", "POST", "/v1/applications", ct,
			withText(t, create(func(f *renewal.ApplicationForm) { f.Organisation.Name = "@" }), `深圳\u200b测试科技有限公司`),
			"form.organisation.name", "text_character"},
		{"lone surrogate in the bank account's name", "POST", "/v1/applications", ct,
			withText(t, create(func(f *renewal.ApplicationForm) { f.Bank.AccountName = "@" }), `测试\ud800公司`),
			"form.bank.account_name", "text_character"},
		{"GBK bytes in the address", "POST", "/v1/applications", ct,
			withText(t, create(func(f *renewal.ApplicationForm) { post(f); f.Pickup.Address = "@" }), "\xd5\xc5\xc8\xfd广东省深圳市南山区"),
			"form.pickup.address", "text_character"},
		{"born tomorrow", "POST", "/v1/applications", ct,
			create(func(f *renewal.ApplicationForm) {
				f.LegalRepresentative.IDNumber = idBorn(today.AddDate(0, 0, 1).Format("20060102"))
			}),
			"form.legal_representative.id_number", "id_birth_date"},
		{"born in 2099", "POST", "/v1/applications", ct,
			create(func(f *renewal.ApplicationForm) { f.LegalRepresentative.IDNumber = idBorn("20990101") }),
			"form.legal_representative.id_number", "id_birth_date"},
		{"region 99", "POST", "/v1/applications", ct,
			create(func(f *renewal.ApplicationForm) {
				id := idBorn("19491231")
				c, _ := renewal.IDNumberCheckChar("99" + id[2:17])
				f.LegalRepresentative.IDNumber = "99" + id[2:17] + string(c)
			}),
			"form.legal_representative.id_number", "id_number"},
		{"credit code of no authority", "POST", "/v1/applications", ct,
			create(func(f *renewal.ApplicationForm) { f.Organisation.CreditCode = withCheck("B1350100M000100Y4") }),
			"form.organisation.credit_code", "credit_code"},
		{"credit code of no province", "POST", "/v1/applications", ct,
			create(func(f *renewal.ApplicationForm) { f.Organisation.CreditCode = withCheck("91990100M000100Y4") }),
			"form.organisation.credit_code", "credit_code"},
		{"BOM before the representative's name", "PUT", app, ct,
			withText(t, update(func(f *renewal.ApplicationForm) { f.LegalRepresentative.Name = "@" }), `\ufeff张三`),
			"form.legal_representative.name", "text_character"},
		{"born tomorrow, update", "PUT", app, ct,
			update(func(f *renewal.ApplicationForm) {
				f.LegalRepresentative.IDNumber = idBorn(today.AddDate(0, 0, 1).Format("20060102"))
			}),
			"form.legal_representative.id_number", "id_birth_date"},
		{"RLO in the comment", "POST", app + "/submit", ct,
			withText(t, renewal.SubmitRequest{Version: 1, Comment: "@"}, `请审核\u202e`), "comment", "text_character"},
		{"LRI in a reason", "POST", app + "/reject", reviewer,
			withText(t, renewal.ReviewRequest{Version: 1, Reason: "@"}, `材料\u2066不全`), "reason", "text_character"},
		{"RLO in a document name", "POST", app + "/documents?kind=other&name=" + url.QueryEscape("x\u202egpj.exe"), ct,
			[]byte("\x89PNG\r\n\x1a\nxx"), "name", "text_character"},
		{"U+FFFD in a document name", "POST", app + "/documents?kind=other&name=" + url.QueryEscape("scan\xff.png"), ct,
			[]byte("\x89PNG\r\n\x1a\nxx"), "name", "text_character"},
		{"variation selector inside the representative's name", "POST", "/v1/applications", ct,
			withText(t, create(func(f *renewal.ApplicationForm) { f.LegalRepresentative.Name = "@" }), `张\ufe00三`),
			"form.legal_representative.name", "text_character"},
		{"Mongolian variation selector in the invoice title", "PUT", app, ct,
			withText(t, update(func(f *renewal.ApplicationForm) { f.Invoice.Title = "@" }), `测试\u180b公司`),
			"form.invoice.title", "text_character"},
		{"ideographic variation selector after a Latin letter", "PUT", app, ct,
			withText(t, update(func(f *renewal.ApplicationForm) { f.LegalRepresentative.Name = "@" }), `Zhang\udb40\udd00 San`),
			"form.legal_representative.name", "text_character"},
		{"Kangxi radicals as the organisation's name", "POST", "/v1/applications", ct,
			withText(t, create(func(f *renewal.ApplicationForm) { f.Organisation.Name = "@" }), `\u2f00\u2f08科技有限公司`),
			"form.organisation.name", "text_character"},
		{"lone combining mark as the recipient", "POST", "/v1/applications", ct,
			withText(t, create(func(f *renewal.ApplicationForm) { post(f); f.Pickup.Recipient = "@" }), `\u0301`),
			"form.pickup.recipient", "text_character"},
		{"20 stacked combining marks in the address", "PUT", app, ct,
			withText(t, update(func(f *renewal.ApplicationForm) { post(f); f.Pickup.Address = "@" }), `广东省深圳市南山区Z`+strings.Repeat(`\u0301`, 20)),
			"form.pickup.address", "text_character"},
		{"braille blank in the bank's name", "PUT", app, ct,
			withText(t, update(func(f *renewal.ApplicationForm) { f.Bank.BankName = "@" }), `招商\u2800银行`),
			"form.bank.bank_name", "text_character"},
		{"object placeholder in a reason", "POST", app + "/reject", reviewer,
			withText(t, renewal.ReviewRequest{Version: 1, Reason: "@"}, `材料\ufffc不全`), "reason", "text_character"},
		{"ZWSP in a workstation's name", "POST", "/v1/workstations", admin,
			withText(t, server.EnrolWorkstationRequest{Name: "@", PublicKey: "x"}, `柜台\u200b1`), "name", "text_character"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(c.method, c.path, c.token, c.body)
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %.400s", r.status, r.body)
			}
			code, msg := fieldCode(t, r.body, c.field)
			if code != c.code {
				t.Fatalf("field %s: code %q, want %q: %.400s", c.field, code, c.code, r.body)
			}
			if !strings.ContainsAny(msg, "字码期") {
				t.Errorf("message %q is not Chinese", msg)
			}
		})
	}

	// Nothing was stored: not the application's change, not a second
	// application, not a document, not a workstation.
	var now renewal.Application
	e.ok(http.StatusOK, &now, "GET", app, ct, nil)
	if now.Version != 1 || now.Form != a.Form || now.Comment != "" {
		t.Fatalf("refused input changed the application: v%d %+v", now.Version, now.Form)
	}
	var list renewal.ApplicationPage
	e.ok(http.StatusOK, &list, "GET", "/v1/applications", ct, nil)
	if len(list.Items) != 1 {
		t.Fatalf("%d applications, want the one", len(list.Items))
	}
	var docs struct{ Items []renewal.Document }
	e.ok(http.StatusOK, &docs, "GET", app+"/documents", ct, nil)
	if len(docs.Items) != 0 {
		t.Fatalf("%d documents stored from refused uploads", len(docs.Items))
	}
	var ws struct {
		Workstations []renewal.Workstation `json:"workstations"`
	}
	e.ok(http.StatusOK, &ws, "GET", "/v1/workstations", admin, nil)
	if len(ws.Workstations) != 0 {
		t.Fatalf("workstations stored: %+v", ws.Workstations)
	}

	// Born today by the service's clock, a decomposed é: stored, in NFC.
	good := update(func(f *renewal.ApplicationForm) {
		f.LegalRepresentative.IDNumber = idBorn(today.Format("20060102"))
		f.Bank.BankName = "Cafe\u0301\u3000银行深圳分行"
	})
	var saved renewal.Application
	e.ok(http.StatusOK, &saved, "PUT", app, ct, good)
	if saved.Form.Bank.BankName != "Caf\u00e9 银行深圳分行" || saved.Form.LegalRepresentative.IDNumber != good.Form.LegalRepresentative.IDNumber {
		t.Fatalf("saved %+q / %s", saved.Form.Bank.BankName, saved.Form.LegalRepresentative.IDNumber)
	}
}
