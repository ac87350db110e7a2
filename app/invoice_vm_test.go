package app

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

func TestInvoiceRequestAfterPaymentAndOpenTheLink(t *testing.T) {
	e := newSvcEnv(t)
	acc := e.signedIn()
	a := e.approvedApp(acc)
	vm := model.NewInvoiceVM(acc)
	var opened []*url.URL
	vm.OpenURL = func(u *url.URL) error { opened = append(opened, u); return nil }
	ctx := t.Context()

	if err := vm.Load(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if get[bool](t, vm.CanRequest) || !strings.Contains(get[string](t, vm.Status), "支付完成后") {
		t.Fatalf("unpaid: can request %v, %q", get[bool](t, vm.CanRequest), get[string](t, vm.Status))
	}
	e.MarkPaid(a.ID)
	if err := vm.Load(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if !get[bool](t, vm.CanRequest) || get[string](t, vm.Title) != e.Org.Name || get[string](t, vm.Phone) != demoMobile {
		t.Fatalf("paid: can request %v, title %q", get[bool](t, vm.CanRequest), get[string](t, vm.Title))
	}

	// Typing: what is already wrong is said at once, a prefix is not.
	_ = vm.TaxID.Set("91-")
	vm.CheckField("tax_id")
	_ = vm.Phone.Set("138")
	vm.CheckField("phone")
	if get[string](t, vm.TaxIDMsg) == "" || get[string](t, vm.PhoneMsg) != "" {
		t.Errorf("typing: tax id %q, phone %q", get[string](t, vm.TaxIDMsg), get[string](t, vm.PhoneMsg))
	}
	// Each field wrong on request: its message, no request sent.
	good := map[string]string{"title": e.Org.Name, "tax_id": e.Org.CreditCode, "email": "billing@example.cn", "phone": demoMobile}
	bad := map[string]string{"title": "", "tax_id": "12345", "email": "billing@", "phone": "2345"}
	for _, wrong := range []string{"title", "tax_id", "email", "phone"} {
		for _, f := range vm.Fields() {
			v := good[f.Name]
			if f.Name == wrong {
				v = bad[f.Name]
			}
			_ = f.Value.Set(v)
		}
		if err := vm.Request(ctx); !errors.Is(err, model.ErrInvalidInput) {
			t.Fatalf("%s wrong: %v", wrong, err)
		}
		for _, f := range vm.Fields() {
			if msg := get[string](t, f.Msg); (msg != "") != (f.Name == wrong) {
				t.Errorf("%s wrong: message of %s is %q", wrong, f.Name, msg)
			}
		}
	}
	if _, err := acc.Client().Invoice(ctx, a.ID); renewal.CodeOf(err) != renewal.CodeNotFound {
		t.Fatalf("a refused request reached the service: %v", err)
	}

	_ = vm.Email.Set("billing@example.cn")
	_ = vm.Phone.Set(demoMobile)
	if err := vm.Request(ctx); err != nil {
		t.Fatal(err)
	}
	link := get[string](t, vm.Link)
	if !get[bool](t, vm.Issued) || get[bool](t, vm.CanRequest) || !regexp.MustCompile(`^[0-9]{20}$`).MatchString(get[string](t, vm.Number)) ||
		!strings.Contains(get[string](t, vm.Status), "billing@example.cn") || link == "" {
		t.Fatalf("issued: %q %q", get[string](t, vm.Status), link)
	}
	var smsLink string
	for _, m := range e.SMS.Messages(demoMobile) {
		if m.Purpose == "invoice" {
			smsLink = m.Link
		}
	}
	if smsLink == "" {
		t.Error("no SMS with the link")
	}
	if err := vm.OpenLink(); err != nil || len(opened) != 1 || opened[0].String() != link {
		t.Fatalf("open: %v %v", err, opened)
	}
	// The link opens the PDF in any browser: no session.
	res, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "%PDF-") {
		t.Fatalf("link: %s %.20q", res.Status, body)
	}
	// A second request is refused by the service and says so.
	if err := vm.Request(ctx); renewal.CodeOf(err) != renewal.CodeConflict || get[string](t, vm.Message) == "" {
		t.Errorf("second request: %v, %q", err, get[string](t, vm.Message))
	}
	// Loading again shows the issued invoice with its details.
	vm2 := model.NewInvoiceVM(acc)
	if err := vm2.Load(ctx, a.ID); err != nil || !get[bool](t, vm2.Issued) || get[string](t, vm2.Email) != "billing@example.cn" {
		t.Fatalf("reload: %v, email %q", err, get[string](t, vm2.Email))
	}
}
