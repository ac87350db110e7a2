package renewal

import (
	"errors"
	"testing"
)

func TestInvoiceRequestEachFieldWrong(t *testing.T) {
	cc, _ := CreditCodeCheckChar("91440300MA5000000")
	form := Invoice{Kind: InvoiceElectronic, Title: "深圳市测试科技有限公司", TaxID: "91440300MA5000000" + string(cc), Email: "finance@example.cn", Phone: "13800138000"}
	for _, c := range []struct {
		field string
		req   InvoiceRequest
	}{
		{"title", InvoiceRequest{Title: string(make([]rune, MaxInvoiceTitleRunes+1))}},
		{"tax_id", InvoiceRequest{TaxID: "12345"}},
		{"email", InvoiceRequest{Email: "not-an-email"}},
		{"phone", InvoiceRequest{Phone: "12345678901"}},
	} {
		c.req.Normalize()
		err := c.req.Validate()
		var e *Error
		if !errors.As(err, &e) || len(e.Fields) != 1 || e.Fields[0].Field != c.field {
			t.Errorf("%s wrong: %v", c.field, err)
		}
	}
	if err := form.Validate(); err != nil {
		t.Fatalf("form: %v", err)
	}
	if err := (&InvoiceRequest{}).Validate(); err != nil {
		t.Errorf("empty request (all from the form): %v", err)
	}
	m := InvoiceRequest{Email: " new@example.cn "}.Merge(form)
	if err := m.ValidateComplete(); err != nil {
		t.Errorf("merged: %v", err)
	}
	if m.Email != "new@example.cn" || m.Title != form.Title || m.Phone != form.Phone {
		t.Errorf("merge: %+v", m)
	}
	empty := InvoiceRequest{}.Merge(Invoice{Kind: InvoiceNone})
	err := empty.ValidateComplete()
	var e *Error
	if !errors.As(err, &e) || len(e.Fields) != 4 {
		t.Errorf("nothing to merge from: %v, want four field errors", err)
	}
}

func TestInvoiceAllowed(t *testing.T) {
	for _, c := range []struct {
		s    State
		want Code
	}{
		{State{StatusApproved, PaymentPaid, FinVerifyPending}, CodeUnknown},
		{State{StatusInstalled, PaymentPaid, FinVerifyVerified}, CodeUnknown},
		{State{StatusEditing, PaymentPaid, FinVerifyPending}, CodeUnknown},
		{State{StatusApproved, PaymentUnpaid, FinVerifyPending}, CodePaymentRequired},
		{State{StatusCancelled, PaymentRefunding, FinVerifyPending}, CodeActionNotAllowed},
		{State{StatusCancelled, PaymentPaid, FinVerifyPending}, CodeActionNotAllowed},
		{State{StatusCancelled, PaymentRefunded, FinVerifyPending}, CodeActionNotAllowed},
	} {
		err := InvoiceAllowed(c.s)
		if got := CodeOf(err); (c.want == CodeUnknown) != (err == nil) || (err != nil && got != c.want) {
			t.Errorf("%s: %v, want %v", c.s, err, c.want)
		}
	}
}
