package model_test

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

func TestInvoiceRequestAfterPaymentAndOpenTheLink(t *testing.T) {
	e := apptest.NewService(t)
	acc := e.SignedIn()
	a := e.ApprovedApp(acc)
	vm := model.NewInvoiceVM(acc)
	var opened []*url.URL
	vm.OpenURL = func(u *url.URL) error { opened = append(opened, u); return nil }
	ctx := t.Context()

	if err := vm.Load(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if apptest.Get[bool](t, vm.CanRequest) || !strings.Contains(apptest.Get[string](t, vm.Status), "支付完成后") {
		t.Fatalf("unpaid: can request %v, %q", apptest.Get[bool](t, vm.CanRequest), apptest.Get[string](t, vm.Status))
	}
	e.MarkPaid(a.ID)
	if err := vm.Load(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if !apptest.Get[bool](t, vm.CanRequest) || apptest.Get[string](t, vm.Title) != e.Org.Name || apptest.Get[string](t, vm.Phone) != apptest.DemoMobile {
		t.Fatalf("paid: can request %v, title %q", apptest.Get[bool](t, vm.CanRequest), apptest.Get[string](t, vm.Title))
	}

	// Typing: what is already wrong is said at once, a prefix is not.
	_ = vm.TaxID.Set("91-")
	vm.CheckField("tax_id")
	_ = vm.Phone.Set("138")
	vm.CheckField("phone")
	if apptest.Get[string](t, vm.TaxIDMsg) == "" || apptest.Get[string](t, vm.PhoneMsg) != "" {
		t.Errorf("typing: tax id %q, phone %q", apptest.Get[string](t, vm.TaxIDMsg), apptest.Get[string](t, vm.PhoneMsg))
	}
	// Each field wrong on request: its message, no request sent.
	good := map[string]string{"title": e.Org.Name, "tax_id": e.Org.CreditCode, "email": "billing@example.cn", "phone": apptest.DemoMobile}
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
			if msg := apptest.Get[string](t, f.Msg); (msg != "") != (f.Name == wrong) {
				t.Errorf("%s wrong: message of %s is %q", wrong, f.Name, msg)
			}
		}
	}
	if _, err := acc.Client().Invoice(ctx, a.ID); renewal.CodeOf(err) != renewal.CodeNotFound {
		t.Fatalf("a refused request reached the service: %v", err)
	}

	_ = vm.Email.Set("billing@example.cn")
	_ = vm.Phone.Set(apptest.DemoMobile)
	if err := vm.Request(ctx); err != nil {
		t.Fatal(err)
	}
	link := apptest.Get[string](t, vm.Link)
	if !apptest.Get[bool](t, vm.Issued) || apptest.Get[bool](t, vm.CanRequest) || !regexp.MustCompile(`^[0-9]{20}$`).MatchString(apptest.Get[string](t, vm.Number)) ||
		!strings.Contains(apptest.Get[string](t, vm.Status), "billing@example.cn") || link == "" {
		t.Fatalf("issued: %q %q", apptest.Get[string](t, vm.Status), link)
	}
	var smsLink string
	for _, m := range e.SMS.Messages(apptest.DemoMobile) {
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
	if err := vm.Request(ctx); renewal.CodeOf(err) != renewal.CodeConflict || apptest.Get[string](t, vm.Message) == "" {
		t.Errorf("second request: %v, %q", err, apptest.Get[string](t, vm.Message))
	}
	// Loading again shows the issued invoice with its details.
	vm2 := model.NewInvoiceVM(acc)
	if err := vm2.Load(ctx, a.ID); err != nil || !apptest.Get[bool](t, vm2.Issued) || apptest.Get[string](t, vm2.Email) != "billing@example.cn" {
		t.Fatalf("reload: %v, email %q", err, apptest.Get[string](t, vm2.Email))
	}
}
