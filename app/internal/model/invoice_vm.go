package model

import (
	"context"
	"errors"
	"net/url"
	"sync"

	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// InvoiceVM is the e-invoice of one application (the journey's last step): a VAT
// ordinary invoice, requested after payment. The four fields start from the
// application's invoice fields and may be corrected before requesting;
// each is checked as it is typed and again on request, with the message
// next to the field. Once issued, the link (also sent to the phone and
// e-mail) opens in the browser.
type InvoiceVM struct {
	acc *Account
	// OpenURL opens the invoice link in the browser; the app passes
	// fyne.CurrentApp().OpenURL, tests record the link.
	OpenURL func(u *url.URL) error

	Title, TaxID, Email, Phone             binding.String
	TitleMsg, TaxIDMsg, EmailMsg, PhoneMsg binding.String
	// Status says where the invoice stands, in a sentence.
	Status binding.String
	// Number and Link are set once issued.
	Number, Link binding.String
	// CanRequest: paid, and no invoice issued or being issued.
	CanRequest binding.Bool
	Issued     binding.Bool
	Busy       binding.Bool
	Message    binding.String

	mu  sync.Mutex
	app *renewal.Application
}

// NewInvoiceVM returns the view-model over acc.
func NewInvoiceVM(acc *Account) *InvoiceVM {
	vm := &InvoiceVM{acc: acc,
		Title: binding.NewString(), TaxID: binding.NewString(), Email: binding.NewString(), Phone: binding.NewString(),
		TitleMsg: binding.NewString(), TaxIDMsg: binding.NewString(), EmailMsg: binding.NewString(), PhoneMsg: binding.NewString(),
		Status: binding.NewString(), Number: binding.NewString(), Link: binding.NewString(),
		CanRequest: binding.NewBool(), Issued: binding.NewBool(), Busy: binding.NewBool(), Message: binding.NewString()}
	_ = vm.Status.Set(lang.X("inv.choose", "在“申请进度”中选择已付款的申请，申请电子发票（增值税普通发票）。"))
	return vm
}

// InvoiceField is one field of the invoice form: the contract's name
// ("title", "tax_id", "email", "phone"), its value and its message.
type InvoiceField struct {
	Name       string
	Value, Msg binding.String
}

// Fields are the invoice form's fields, in the form's order.
func (vm *InvoiceVM) Fields() []InvoiceField {
	return []InvoiceField{
		{"title", vm.Title, vm.TitleMsg}, {"tax_id", vm.TaxID, vm.TaxIDMsg},
		{"email", vm.Email, vm.EmailMsg}, {"phone", vm.Phone, vm.PhoneMsg},
	}
}

// formField is the application form's name of an invoice field.
func formField(name string) string { return "invoice." + name }

// CheckField checks one field as it is being typed ("title", "tax_id",
// "email", "phone"): only what can already be seen to be wrong.
func (vm *InvoiceVM) CheckField(name string) {
	for _, f := range vm.Fields() {
		if f.Name == name {
			v, _ := f.Value.Get()
			_ = f.Msg.Set(fieldText(renewal.CheckTyping(formField(name), v)))
		}
	}
}

func (vm *InvoiceVM) fail(ctx context.Context, err error) error {
	vm.acc.Ended(ctx, err)
	_ = vm.Message.Set(ServiceErrText(err))
	return err
}

// AppID is the application shown ("" before Load).
func (vm *InvoiceVM) AppID() string {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.app == nil {
		return ""
	}
	return vm.app.ID
}

// Load reads application id and its invoice, if one was requested.
func (vm *InvoiceVM) Load(ctx context.Context, id string) error {
	c := vm.acc.Client()
	a, err := c.GetApplication(ctx, id)
	if err != nil {
		return vm.fail(ctx, err)
	}
	st, err := c.Invoice(ctx, id)
	if renewal.CodeOf(err) == renewal.CodeNotFound {
		st, err = nil, nil
	}
	if err != nil {
		return vm.fail(ctx, err)
	}
	vm.mu.Lock()
	vm.app = a
	vm.mu.Unlock()
	d := renewal.InvoiceRequest{Title: a.Form.Invoice.Title, TaxID: a.Form.Invoice.TaxID, Email: a.Form.Invoice.Email, Phone: a.Form.Invoice.Phone}
	if st != nil {
		d = st.Details
	}
	_ = vm.Title.Set(d.Title)
	_ = vm.TaxID.Set(d.TaxID)
	_ = vm.Email.Set(d.Email)
	_ = vm.Phone.Set(d.Phone)
	for _, f := range vm.Fields() {
		_ = f.Msg.Set("")
	}
	_ = vm.Message.Set("")
	vm.show(a.State, st)
	return nil
}

func (vm *InvoiceVM) show(s renewal.State, st *renewal.InvoiceStatus) {
	allowed := renewal.InvoiceAllowed(s)
	issued := st != nil && st.State == renewal.InvoiceIssued
	_ = vm.Issued.Set(issued)
	_ = vm.CanRequest.Set(allowed == nil && (st == nil || st.State == renewal.InvoiceFailed))
	_ = vm.Number.Set("")
	_ = vm.Link.Set("")
	var status string
	switch {
	case issued:
		_ = vm.Number.Set(st.Number)
		_ = vm.Link.Set(st.URL)
		status = lang.X("inv.issued", "电子发票已开具，发票号码 {{.Number}}。下载链接已发送到手机 {{.Phone}} 和邮箱 {{.Email}}。",
			map[string]any{"Number": st.Number, "Phone": st.Details.Phone, "Email": st.Details.Email})
	case st != nil && st.State == renewal.InvoiceRequested:
		status = lang.X("inv.requested", "发票开具中，请稍后刷新。")
	case st != nil && st.State == renewal.InvoiceFailed:
		status = lang.X("inv.failed", "发票开具失败：{{.Reason}} 可修改信息后重新申请。", map[string]any{"Reason": st.Reason})
	case renewal.CodeOf(allowed) == renewal.CodePaymentRequired:
		status = lang.X("inv.unpaid", "支付完成后才能申请发票。")
	case allowed != nil:
		status = lang.X("inv.refunded", "已取消或退款的申请不开具发票。")
	default:
		status = lang.X("inv.ready", "可以申请电子发票（增值税普通发票）。请核对抬头、纳税人识别号、邮箱和手机号。")
	}
	if st != nil && st.ReceiptConfirmedAt != nil {
		status += " " + lang.X("inv.receipt", "已确认收到邮寄的 UKey。")
	}
	_ = vm.Status.Set(status)
}

// Request asks for the invoice with the fields as they stand.
func (vm *InvoiceVM) Request(ctx context.Context) error {
	vm.mu.Lock()
	a := vm.app
	vm.mu.Unlock()
	if a == nil {
		return ErrNotEditable
	}
	get := func(b binding.String) string { v, _ := b.Get(); return v }
	req := renewal.InvoiceRequest{Title: get(vm.Title), TaxID: get(vm.TaxID), Email: get(vm.Email), Phone: get(vm.Phone)}
	req.Normalize()
	if err := req.ValidateComplete(); err != nil {
		vm.fieldErrors(err)
		return errors.Join(ErrInvalidInput, err)
	}
	vm.fieldErrors(nil)
	_ = vm.Busy.Set(true)
	defer func() { _ = vm.Busy.Set(false) }()
	_ = vm.Message.Set(lang.X("inv.requesting", "正在申请发票…"))
	st, err := vm.acc.Client().RequestInvoice(ctx, a.ID, req)
	if err != nil {
		if e := renewal.AsError(err); len(e.Fields) > 0 {
			vm.fieldErrors(err)
		}
		_ = vm.fail(ctx, err)
		return err
	}
	_ = vm.Message.Set("")
	vm.show(a.State, st)
	return nil
}

// fieldErrors puts each field's message next to it (nil clears them).
func (vm *InvoiceVM) fieldErrors(err error) {
	var e *renewal.Error
	if err != nil {
		e = renewal.AsError(err)
	}
	for _, f := range vm.Fields() {
		var fe error
		if e != nil {
			if x := e.FieldError(f.Name); x != nil {
				fe = x
			}
		}
		_ = f.Msg.Set(fieldText(fe))
	}
}

// OpenLink opens the invoice link in the browser.
func (vm *InvoiceVM) OpenLink() error {
	link, _ := vm.Link.Get()
	if link == "" || vm.OpenURL == nil {
		return ErrNotEditable
	}
	u, err := url.Parse(link)
	if err != nil {
		return err
	}
	return vm.OpenURL(u)
}
