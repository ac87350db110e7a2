package model

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// renewTextFields are the form's text fields, in the order shown.
var renewTextFields = []string{
	renewal.FieldOrgName, renewal.FieldCreditCode,
	renewal.FieldRepName, renewal.FieldRepIDNumber, renewal.FieldRepMobile,
	renewal.FieldBankAccountName, renewal.FieldBankName, renewal.FieldBankNumber,
	renewal.FieldInvoiceTitle, renewal.FieldInvoiceTaxID, renewal.FieldInvoiceEmail, renewal.FieldInvoicePhone,
	renewal.FieldPickupRecipient, renewal.FieldPickupMobile, renewal.FieldPickupAddress,
}

// RenewVM is the renewal form of one certificate. The serial comes from the
// token, never from typing. Start pre-fills the form: the service fills a
// new application from the certificate and the organisation's last one.
// Each field is checked as it is typed (renewal.CheckTyping: only what no
// more typing can fix) and in full on save (renewal.ValidateFormField), with
// the message next to the field.
type RenewVM struct {
	acc *Account
	fmt Formatter

	// Serial is the certificate's serial (from the token).
	Serial binding.String
	// Fields and Msgs: text and message of each field, by renewal.Field* path.
	Fields map[string]binding.String
	Msgs   map[string]binding.String
	// Years is 1–3; Price is its price ("¥550.00").
	Years binding.Int
	Price binding.String
	// Invoice is true for an e-invoice; Post is true for pickup by post.
	Invoice, Post binding.Bool
	// Rekey asks for a new key pair on the token.
	Rekey binding.Bool
	// Ready is true when an application is loaded and editable.
	Ready   binding.Bool
	Message binding.String
	Busy    binding.Bool

	mu     sync.Mutex
	app    *renewal.Application
	prices []renewal.Price
	busy   bool
}

// NewRenewVM returns an empty form over acc.
func NewRenewVM(acc *Account, f Formatter) *RenewVM {
	vm := &RenewVM{acc: acc, fmt: f, Serial: binding.NewString(),
		Fields: map[string]binding.String{}, Msgs: map[string]binding.String{},
		Years: binding.NewInt(), Price: binding.NewString(), Invoice: binding.NewBool(), Post: binding.NewBool(),
		Rekey: binding.NewBool(), Ready: binding.NewBool(), Message: binding.NewString(), Busy: binding.NewBool()}
	for _, f := range append([]string{renewal.FieldYears}, renewTextFields...) {
		vm.Msgs[f] = binding.NewString()
	}
	for _, f := range renewTextFields {
		b := binding.NewString()
		vm.Fields[f] = b
		b.AddListener(binding.NewDataListener(func() {
			v, _ := b.Get()
			_ = vm.Msgs[f].Set(fieldText(renewal.CheckTyping(f, v)))
		}))
	}
	_ = vm.Years.Set(1)
	vm.Years.AddListener(binding.NewDataListener(vm.updatePrice))
	return vm
}

func (vm *RenewVM) updatePrice() {
	y, _ := vm.Years.Get()
	vm.mu.Lock()
	prices := vm.prices
	vm.mu.Unlock()
	if err := renewal.ValidateYears(y); err != nil {
		_ = vm.Msgs[renewal.FieldYears].Set(fieldText(err))
		_ = vm.Price.Set("")
		return
	}
	_ = vm.Msgs[renewal.FieldYears].Set("")
	for _, p := range prices {
		if p.Years == y {
			_ = vm.Price.Set(vm.fmt.Money(p.AmountFen))
			return
		}
	}
	_ = vm.Price.Set("")
}

// Application is the loaded application (nil before Start or Edit).
func (vm *RenewVM) Application() *renewal.Application {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.app == nil {
		return nil
	}
	a := *vm.app
	return &a
}

func (vm *RenewVM) begin() error {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.busy {
		return ErrInProgress
	}
	vm.busy = true
	_ = vm.Busy.Set(true)
	return nil
}

func (vm *RenewVM) end() {
	vm.mu.Lock()
	vm.busy = false
	vm.mu.Unlock()
	_ = vm.Busy.Set(false)
}

func (vm *RenewVM) fail(ctx context.Context, err error) error {
	vm.acc.Ended(ctx, err)
	_ = vm.Message.Set(ServiceErrText(err))
	return err
}

// ErrNotEditable: the certificate's open application cannot be edited now.
var ErrNotEditable = errors.New("the application cannot be edited in its state")

// Start opens the form for the certificate with serial: its open
// application if there is one, else a new one the service pre-fills.
func (vm *RenewVM) Start(ctx context.Context, serial string) error {
	if err := vm.begin(); err != nil {
		return err
	}
	defer vm.end()
	serial = renewal.NormalizeSerial(serial)
	_ = vm.Serial.Set(serial)
	_ = vm.Ready.Set(false)
	c := vm.acc.Client()
	el, err := c.Eligibility(ctx, renewal.EligibilityRequest{Serial: serial})
	if err != nil {
		return vm.fail(ctx, err)
	}
	vm.mu.Lock()
	vm.prices = el.Prices
	vm.mu.Unlock()
	var a *renewal.Application
	switch {
	case el.OpenApplicationID != "":
		a, err = c.GetApplication(ctx, el.OpenApplicationID)
	case el.SupersededBy != "":
		_ = vm.Message.Set(lang.X("renew.superseded", "此证书已续期，新证书序列号 {{.Serial}}。请使用新证书，到期前再为新证书续期。", map[string]any{"Serial": strings.ToUpper(el.SupersededBy)}))
		return fmt.Errorf("certificate %s: renewed already into %s", serial, el.SupersededBy)
	case !el.Eligible:
		msg := lang.X("renew.not_eligible", "这张证书现在不能续期。")
		if el.Reason != nil {
			msg += el.Reason.Localized(string(CurrentLang()))
		}
		_ = vm.Message.Set(msg)
		return fmt.Errorf("certificate %s: not eligible", serial)
	default:
		a, err = c.CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: serial, Rekey: el.RekeyRequired})
	}
	if err != nil {
		return vm.fail(ctx, err)
	}
	return vm.load(a)
}

// Edit opens application a (from the Applications screen).
func (vm *RenewVM) Edit(ctx context.Context, a renewal.Application) error {
	if err := vm.begin(); err != nil {
		return err
	}
	defer vm.end()
	el, err := vm.acc.Client().Eligibility(ctx, renewal.EligibilityRequest{Serial: a.CertSerial})
	if err == nil {
		vm.mu.Lock()
		vm.prices = el.Prices
		vm.mu.Unlock()
	}
	_ = vm.Serial.Set(a.CertSerial)
	return vm.load(&a)
}

func (vm *RenewVM) load(a *renewal.Application) error {
	vm.mu.Lock()
	vm.app = a
	vm.mu.Unlock()
	f := a.Form
	vals := map[string]string{
		renewal.FieldOrgName: f.Organisation.Name, renewal.FieldCreditCode: f.Organisation.CreditCode,
		renewal.FieldRepName: f.LegalRepresentative.Name, renewal.FieldRepIDNumber: f.LegalRepresentative.IDNumber,
		renewal.FieldRepMobile: f.LegalRepresentative.Mobile, renewal.FieldBankAccountName: f.Bank.AccountName,
		renewal.FieldBankName: f.Bank.BankName, renewal.FieldBankNumber: f.Bank.AccountNumber,
		renewal.FieldInvoiceTitle: f.Invoice.Title, renewal.FieldInvoiceTaxID: f.Invoice.TaxID,
		renewal.FieldInvoiceEmail: f.Invoice.Email, renewal.FieldInvoicePhone: f.Invoice.Phone,
		renewal.FieldPickupRecipient: f.Pickup.Recipient, renewal.FieldPickupMobile: f.Pickup.Mobile,
		renewal.FieldPickupAddress: f.Pickup.Address,
	}
	for k, v := range vals {
		_ = vm.Fields[k].Set(v)
	}
	years := f.Years
	if years == 0 {
		years = 1
	}
	_ = vm.Years.Set(years)
	vm.updatePrice()
	_ = vm.Invoice.Set(f.Invoice.Kind == renewal.InvoiceElectronic)
	_ = vm.Post.Set(f.Pickup.Method == renewal.PickupPost)
	_ = vm.Rekey.Set(a.Rekey)
	editable := a.Status == renewal.StatusEditing || a.Status == renewal.StatusRejected
	_ = vm.Ready.Set(editable)
	if !editable {
		st, _ := StatusText(a.Status)
		_ = vm.Message.Set(lang.X("renew.not_editable", "这张证书已有一份“{{.Status}}”的申请，现在不能修改：请在“申请进度”中查看。", map[string]any{"Status": st}))
		return ErrNotEditable
	}
	if a.Status == renewal.StatusRejected && a.ReviewReason != "" {
		_ = vm.Message.Set(lang.X("renew.rejected", "审核未通过：{{.Reason}}。请修改后重新提交。", map[string]any{"Reason": a.ReviewReason}))
	} else {
		_ = vm.Message.Set(lang.X("renew.prefilled", "已根据证书和上次申请预先填好，请核对。"))
	}
	return nil
}

// Form is the form as typed, normalised.
func (vm *RenewVM) Form() renewal.ApplicationForm {
	v := func(f string) string { s, _ := vm.Fields[f].Get(); return s }
	y, _ := vm.Years.Get()
	var f renewal.ApplicationForm
	f.Years = y
	f.Organisation = renewal.Organisation{Name: v(renewal.FieldOrgName), CreditCode: v(renewal.FieldCreditCode)}
	f.LegalRepresentative = renewal.Person{Name: v(renewal.FieldRepName), IDNumber: v(renewal.FieldRepIDNumber), Mobile: v(renewal.FieldRepMobile)}
	f.Bank = renewal.BankAccount{AccountName: v(renewal.FieldBankAccountName), BankName: v(renewal.FieldBankName), AccountNumber: v(renewal.FieldBankNumber)}
	f.Invoice.Kind = renewal.InvoiceNone
	if inv, _ := vm.Invoice.Get(); inv {
		f.Invoice = renewal.Invoice{Kind: renewal.InvoiceElectronic, Title: v(renewal.FieldInvoiceTitle), TaxID: v(renewal.FieldInvoiceTaxID),
			Email: v(renewal.FieldInvoiceEmail), Phone: v(renewal.FieldInvoicePhone)}
	}
	f.Pickup.Method = renewal.PickupOnSite
	if post, _ := vm.Post.Get(); post {
		f.Pickup = renewal.Pickup{Method: renewal.PickupPost, Recipient: v(renewal.FieldPickupRecipient), Mobile: v(renewal.FieldPickupMobile), Address: v(renewal.FieldPickupAddress)}
	}
	f.Normalize()
	return f
}

// activeFields are the text fields the current choices use.
func (vm *RenewVM) activeFields() []string {
	inv, _ := vm.Invoice.Get()
	post, _ := vm.Post.Get()
	var out []string
	for _, f := range renewTextFields {
		switch f {
		case renewal.FieldInvoiceTitle, renewal.FieldInvoiceTaxID, renewal.FieldInvoiceEmail, renewal.FieldInvoicePhone:
			if !inv {
				continue
			}
		case renewal.FieldPickupRecipient, renewal.FieldPickupMobile, renewal.FieldPickupAddress:
			if !post {
				continue
			}
		}
		out = append(out, f)
	}
	return out
}

// ValidateAll checks every field in use in full and shows each message;
// it returns the number of fields in error.
func (vm *RenewVM) ValidateAll() int {
	bad := 0
	active := map[string]bool{}
	for _, f := range vm.activeFields() {
		active[f] = true
		v, _ := vm.Fields[f].Get()
		err := renewal.ValidateFormField(f, v)
		_ = vm.Msgs[f].Set(fieldText(err))
		if err != nil {
			bad++
		}
	}
	for _, f := range renewTextFields {
		if !active[f] {
			_ = vm.Msgs[f].Set("")
		}
	}
	y, _ := vm.Years.Get()
	if err := renewal.ValidateYears(y); err != nil {
		_ = vm.Msgs[renewal.FieldYears].Set(fieldText(err))
		bad++
	}
	return bad
}

// refused shows why the service refused a request: each field error next
// to its field, and the count of them as the message (the same words once,
// where they belong); anything else as the message.
func (vm *RenewVM) refused(ctx context.Context, err error) error {
	e := renewal.AsError(err)
	n := 0
	for _, fe := range append([]*renewal.Error{e}, e.Fields...) {
		field := strings.TrimPrefix(fe.Field, "form.")
		m, ok := vm.Msgs[field]
		if !ok || fe.Field == "" {
			continue
		}
		text := fe.Localized(string(CurrentLang()))
		if a := vm.Application(); fe.Code == renewal.CodePriceLocked && a != nil && a.Payment != renewal.PaymentUnpaid {
			// The loaded application holds the period paid for.
			text = lang.X("renew.price_locked", "申请已按 {{.N}} 年支付，续期年限不能再更改，请改回 {{.N}} 年；如需其他年限，请取消申请（费用退回）后重新申请。",
				map[string]any{"N": a.Form.Years})
		}
		_ = m.Set(text)
		n++
	}
	if n == 0 {
		return vm.fail(ctx, err)
	}
	_ = vm.Message.Set(lang.X("renew.fix_fields", "有 {{.N}} 项需要修改，请看各项下方的提示。", map[string]any{"N": n}))
	return err
}

// ErrFormInvalid: Save or Submit refused the form; the messages are by the fields.
var ErrFormInvalid = errors.New("the form has errors")

// Save saves the form as a draft. A stale version (the application changed
// elsewhere) is explained and the form reloaded from the service.
func (vm *RenewVM) Save(ctx context.Context) error {
	if err := vm.begin(); err != nil {
		return err
	}
	defer vm.end()
	if err := vm.save(ctx); err != nil {
		return err
	}
	_ = vm.Message.Set(lang.X("renew.saved", "草稿已保存。"))
	return nil
}

func (vm *RenewVM) save(ctx context.Context) error {
	a := vm.Application()
	if a == nil {
		_ = vm.Message.Set(lang.X("renew.choose_first", "请先在上方选择要续期的证书。"))
		return ErrNotEditable
	}
	if n := vm.ValidateAll(); n > 0 {
		_ = vm.Message.Set(lang.X("renew.fix_fields", "有 {{.N}} 项需要修改，请看各项下方的提示。", map[string]any{"N": n}))
		return ErrFormInvalid
	}
	rekey, _ := vm.Rekey.Get()
	updated, err := vm.acc.Client().UpdateApplication(ctx, a.ID, renewal.UpdateApplicationRequest{Version: a.Version, Rekey: rekey, Form: vm.Form()})
	if err != nil {
		if renewal.CodeOf(err) == renewal.CodeStaleVersion {
			if fresh, gerr := vm.acc.Client().GetApplication(ctx, a.ID); gerr == nil {
				_ = vm.load(fresh)
			}
			_ = vm.Message.Set(lang.X("renew.stale", "这份申请刚在别处（另一台电脑或审核员）被修改过。已载入最新内容，您刚才的修改没有保存：请核对后重新填写并保存。"))
			return err
		}
		return vm.refused(ctx, err)
	}
	vm.mu.Lock()
	vm.app = updated
	vm.mu.Unlock()
	return nil
}

// CheckComment checks a comment for the reviewer as the service will,
// normalised as the request is: nil, or an error whose text is the
// message in the interface language (for an entry's Validator) and which
// wraps the *renewal.Error.
func CheckComment(comment string) error {
	if err := renewal.ValidateText(renewal.NormalizeText(comment), renewal.MaxCommentRunes); err != nil {
		return localizedError{err}
	}
	return nil
}

type localizedError struct{ err error }

func (e localizedError) Error() string { return fieldText(e.err) }
func (e localizedError) Unwrap() error { return e.err }

// Submit saves the form and sends it for review with the clerk's comment.
func (vm *RenewVM) Submit(ctx context.Context, comment string) error {
	if err := CheckComment(comment); err != nil {
		_ = vm.Message.Set(lang.X("renew.comment_bad", "说明：{{.Err}}", map[string]any{"Err": err.Error()}))
		return errors.Join(ErrFormInvalid, err)
	}
	if err := vm.begin(); err != nil {
		return err
	}
	defer vm.end()
	if err := vm.save(ctx); err != nil {
		return err
	}
	a := vm.Application()
	sub, err := vm.acc.Client().Submit(ctx, a.ID, renewal.SubmitRequest{Version: a.Version, Comment: comment})
	if err != nil {
		if renewal.CodeOf(err) == renewal.CodePaymentRequired {
			_ = vm.Message.Set(lang.X("renew.pay_first", "草稿已保存。按发证机构的规定需要先支付，请在“支付”中扫码付款后再提交。"))
			return err
		}
		return vm.refused(ctx, err)
	}
	vm.mu.Lock()
	vm.app = sub
	vm.mu.Unlock()
	_ = vm.Ready.Set(false)
	_ = vm.Message.Set(lang.X("renew.submitted", "已提交审核，审核一般在 3 个工作日内完成。可在“申请进度”中查看。"))
	return nil
}

// YearsOptions are the choices of the years selector ("1 年 · ¥300.00").
func (vm *RenewVM) YearsOptions() []string {
	vm.mu.Lock()
	prices := vm.prices
	vm.mu.Unlock()
	out := make([]string, 0, renewal.MaxYears)
	for y := 1; y <= renewal.MaxYears; y++ {
		label := lang.X("renew.years_n", "{{.N}} 年", map[string]any{"N": y})
		for _, p := range prices {
			if p.Years == y {
				label += " · " + vm.fmt.Money(p.AmountFen)
			}
		}
		out = append(out, label)
	}
	return out
}

// YearsOf reads the years from an option text.
func YearsOf(option string) int {
	n, _ := strconv.Atoi(string([]rune(option)[:1]))
	return n
}
