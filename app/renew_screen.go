package app

import (
	"context"
	"fyne.io/fyne/v2/canvas"
	"image/color"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	appwidget "github.com/ukeyrenew/ukeyrenew/app/internal/widget"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// renewScreen is the renewal form: the certificate (from the token), years
// with the price, and the organisation, legal representative, bank account,
// invoice and pickup fields, each with its message beneath; save as draft,
// or submit with a comment.
type renewScreen struct {
	vm  *model.RenewVM
	ctx context.Context

	root                *fyne.Container
	Entries             map[string]*widget.Entry
	Years               *widget.Select
	Invoice             *widget.Check
	Post                *widget.RadioGroup
	Rekey               *widget.Check
	Comment             *appwidget.KeyEntry // Enter: a new line; Ctrl+Enter: submit
	Save                *widget.Button
	Submit              *widget.Button
	form                *fyne.Container
	invoiceBox, postBox *fyne.Container
	// Pick chooses the certificate to renew among those on the inserted tokens.
	Pick  *widget.Select
	picks map[string]string // option → certificate serial
}

// newRenewScreen builds the screen.
func newRenewScreen(ctx context.Context, vm *model.RenewVM) *renewScreen {
	s := &renewScreen{vm: vm, ctx: ctx, Entries: map[string]*widget.Entry{}}
	s.makeUI()
	return s
}

// Object is the screen's root.
func (s *renewScreen) Object() fyne.CanvasObject { return s.root }

func fieldLabel(f string) string {
	switch f {
	case renewal.FieldOrgName:
		return lang.X("field.org_name", "单位名称")
	case renewal.FieldCreditCode:
		return lang.X("field.credit_code", "统一社会信用代码")
	case renewal.FieldRepName:
		return lang.X("field.rep_name", "法定代表人姓名")
	case renewal.FieldRepIDNumber:
		return lang.X("field.rep_id", "法定代表人身份证号")
	case renewal.FieldRepMobile:
		return lang.X("field.rep_mobile", "法定代表人手机号")
	case renewal.FieldBankAccountName:
		return lang.X("field.bank_account_name", "对公账户名称")
	case renewal.FieldBankName:
		return lang.X("field.bank_name", "开户银行")
	case renewal.FieldBankNumber:
		return lang.X("field.bank_number", "银行账号")
	case renewal.FieldInvoiceTitle:
		return lang.X("field.invoice_title", "发票抬头")
	case renewal.FieldInvoiceTaxID:
		return lang.X("field.invoice_tax_id", "纳税人识别号")
	case renewal.FieldInvoiceEmail:
		return lang.X("field.invoice_email", "接收发票的邮箱")
	case renewal.FieldInvoicePhone:
		return lang.X("field.invoice_phone", "接收发票的手机号")
	case renewal.FieldPickupRecipient:
		return lang.X("field.pickup_recipient", "收件人")
	case renewal.FieldPickupMobile:
		return lang.X("field.pickup_mobile", "收件人手机号")
	case renewal.FieldPickupAddress:
		return lang.X("field.pickup_address", "邮寄地址")
	}
	return f
}

func (s *renewScreen) field(f string) fyne.CanvasObject {
	e := boundEntry(s.vm.Fields[f])
	e.OnSubmitted = func(string) { focusNext(e) } // Enter goes to the next field, as Tab does
	s.Entries[f] = e
	return container.NewVBox(widget.NewLabel(fieldLabel(f)), e, fieldMsg(s.vm.Msgs[f]))
}

func (s *renewScreen) group(title string, fields ...string) *fyne.Container {
	objs := []fyne.CanvasObject{}
	for _, f := range fields {
		objs = append(objs, s.field(f))
	}
	return container.NewVBox(widget.NewLabelWithStyle(title, fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), container.NewGridWithColumns(2, objs...))
}

func (s *renewScreen) makeUI() {
	serial := s.makeCertPick()
	years := s.makeYears()

	org := s.group(lang.X("renew.org", "单位信息"), renewal.FieldOrgName, renewal.FieldCreditCode)
	rep := s.group(lang.X("renew.rep", "法定代表人"), renewal.FieldRepName, renewal.FieldRepIDNumber, renewal.FieldRepMobile)
	bank := s.group(lang.X("renew.bank", "对公账户（用于金融认证打款）"), renewal.FieldBankAccountName, renewal.FieldBankName, renewal.FieldBankNumber)

	invoiceFields := s.group(lang.X("renew.invoice", "电子发票（增值税普通发票）"),
		renewal.FieldInvoiceTitle, renewal.FieldInvoiceTaxID, renewal.FieldInvoiceEmail, renewal.FieldInvoicePhone)
	s.Invoice = widget.NewCheckWithData(lang.X("renew.want_invoice", "需要电子发票"), s.vm.Invoice)
	bindVisible(s.vm.Invoice, invoiceFields, false)
	s.invoiceBox = invoiceFields

	pickup := s.makePickup()
	rekeyWarn := s.makeRekey()
	comment := s.makeActions()

	s.form = container.NewVBox(years, org, rep, bank, s.Invoice, invoiceFields, pickup, s.Rekey, rekeyWarn,
		widget.NewLabel(lang.X("apps.comment", "说明")), comment)
	bindVisible(s.vm.Ready, s.form, false)
	s.vm.Ready.AddListener(binding.NewDataListener(s.FocusFirst))
	top := container.NewVBox(heading(lang.X("renew.title", "续期申请")), s.Pick, serial, messageLabel(s.vm.Message))
	bottom := container.NewHBox(s.Save, s.Submit)
	s.root = container.NewBorder(top, bottom, nil, nil, container.NewVScroll(container.NewPadded(s.form)))
}

// makeCertPick makes the certificate picker and the line naming the chosen
// certificate's serial, which it returns.
func (s *renewScreen) makeCertPick() *widget.Label {
	serial := widget.NewLabel("")
	s.vm.Serial.AddListener(binding.NewDataListener(func() {
		v, _ := s.vm.Serial.Get()
		if v == "" {
			serial.SetText(lang.X("renew.pick_above", "请在上方选择要续期的证书：插入 UKey 后，上面的证书会自动列出。"))
			return
		}
		serial.SetText(lang.X("renew.for_cert", "证书序列号 {{.Serial}}（从 UKey 读取）", map[string]any{"Serial": strings.ToUpper(v)}))
	}))
	serial.TextStyle.Bold = true
	s.picks = map[string]string{}
	s.Pick = widget.NewSelect(nil, func(opt string) {
		if cs, ok := s.picks[opt]; ok {
			go func() { _ = s.vm.Start(s.ctx, cs) }()
		}
	})
	s.Pick.PlaceHolder = lang.X("renew.pick", "选择 UKey 上要续期的证书")
	return serial
}

// makeYears makes the years picker with the price beside it.
func (s *renewScreen) makeYears() *fyne.Container {
	s.Years = widget.NewSelect(nil, func(opt string) {
		if y := model.YearsOf(opt); y > 0 {
			_ = s.vm.Years.Set(y)
		}
	})
	price := widget.NewLabelWithData(s.vm.Price)
	price.TextStyle.Bold = true
	// The options name each period's price: they are made again when the
	// period changes and when the prices arrive (the price changes then).
	options := binding.NewDataListener(func() {
		s.Years.Options = s.vm.YearsOptions()
		y, _ := s.vm.Years.Get()
		if y >= 1 && y <= len(s.Years.Options) && s.Years.Selected != s.Years.Options[y-1] {
			s.Years.SetSelected(s.Years.Options[y-1])
		}
		s.Years.Refresh()
	})
	s.vm.Years.AddListener(options)
	s.vm.Price.AddListener(options)
	return container.NewVBox(widget.NewLabel(lang.X("renew.years", "续期年限")),
		container.NewHBox(minWidth(yearsPickWidth, s.Years), widget.NewLabel(lang.X("renew.price", "费用")), price), fieldMsg(s.vm.Msgs[renewal.FieldYears]))
}

// makePickup makes the choice between picking the new UKey up on site and
// having it posted, with the postal fields shown for the second.
func (s *renewScreen) makePickup() *fyne.Container {
	onSite, byPost := lang.X("renew.pickup_on_site", "现场领取"), lang.X("renew.pickup_post", "邮寄")
	s.Post = widget.NewRadioGroup([]string{onSite, byPost}, func(v string) { _ = s.vm.Post.Set(v == byPost) })
	s.Post.Horizontal = true
	s.vm.Post.AddListener(binding.NewDataListener(func() {
		p, _ := s.vm.Post.Get()
		want := onSite
		if p {
			want = byPost
		}
		if s.Post.Selected != want {
			s.Post.SetSelected(want)
		}
	}))
	postFields := s.group(lang.X("renew.post", "邮寄信息"), renewal.FieldPickupRecipient, renewal.FieldPickupMobile, renewal.FieldPickupAddress)
	bindVisible(s.vm.Post, postFields, false)
	s.postBox = postFields
	pickup := container.NewVBox(widget.NewLabelWithStyle(lang.X("renew.pickup", "取锁方式（需要更换 UKey 时）"), fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), s.Post, postFields)
	return pickup
}

// makeRekey makes the re-key check box and returns its warning, shown
// while it is ticked.
func (s *renewScreen) makeRekey() *widget.Label {
	s.Rekey = widget.NewCheckWithData(lang.X("renew.rekey", "在 UKey 上生成新的密钥对（重新生成密钥）"), s.vm.Rekey)
	rekeyWarn := widget.NewLabel(lang.X("renew.rekey_warn", "注意：用旧证书加密的数据（例如尚未开标的投标文件）以后仍需要旧密钥才能解密。"))
	rekeyWarn.Wrapping = fyne.TextWrapWord
	rekeyWarn.Importance = widget.WarningImportance
	bindVisible(s.vm.Rekey, rekeyWarn, false)
	return rekeyWarn
}

// makeActions makes the comment for the reviewer and the save and submit
// buttons, enabled while the form is complete and nothing runs; it returns
// the comment entry.
func (s *renewScreen) makeActions() *appwidget.KeyEntry {
	comment := appwidget.NewKeyEntry(true)
	comment.OnCtrlEnter = func() {
		if !s.Submit.Disabled() {
			s.Submit.OnTapped()
		}
	}
	s.Comment = comment
	s.Comment.SetPlaceHolder(lang.X("apps.comment_ph", "给审核员的说明（可不填）"))
	s.Comment.SetMinRowsVisible(2)
	s.Save = widget.NewButtonWithIcon(lang.X("renew.save", "保存草稿"), theme.DocumentSaveIcon(), func() {
		go func() { _ = s.vm.Save(s.ctx) }()
	})
	s.Submit = widget.NewButtonWithIcon(lang.X("renew.submit", "提交审核"), theme.MailSendIcon(), func() {
		c := s.Comment.Text
		go func() {
			if s.vm.Submit(s.ctx, c) == nil {
				fyne.Do(func() { s.Comment.SetText("") })
			}
		}()
	})
	s.Submit.Importance = widget.HighImportance
	ready := binding.NewBool()
	update := func() {
		r, _ := s.vm.Ready.Get()
		b, _ := s.vm.Busy.Get()
		_ = ready.Set(r && !b)
	}
	s.vm.Ready.AddListener(binding.NewDataListener(update))
	s.vm.Busy.AddListener(binding.NewDataListener(update))
	bindEnabled(ready, s.Save, false)
	bindEnabled(ready, s.Submit, false)
	return comment
}

// SetTokens offers the certificates on the inserted tokens (from the
// Tokens view-model) in the picker. Call it on the UI goroutine.
func (s *renewScreen) SetTokens(toks []model.TokenView) {
	s.picks = map[string]string{}
	opts := []string{}
	for _, t := range toks {
		for _, c := range t.Certs {
			if c.Problem != "" || c.Serial == "" {
				continue
			}
			opt := c.Holder + " · " + c.Serial + " · " + c.Badge
			s.picks[opt] = c.Serial
			opts = append(opts, opt)
		}
	}
	s.Pick.Options = opts
	s.Pick.Refresh()
}

// FocusFirst puts the keyboard focus on the form's first text field once a
// certificate is chosen, else on the certificate picker.
func (s *renewScreen) FocusFirst() {
	if s.root == nil {
		return
	}
	if r, _ := s.vm.Ready.Get(); r {
		focusIn(s.root, s.Entries[renewal.FieldOrgName])
		return
	}
	focusIn(s.root, s.Pick)
}

// yearsPickWidth is the years picker's width: its options ("3 年 · ¥800.00")
// are cut short at the width Fyne gives a select by itself.
const yearsPickWidth = 200

// minWidth gives o at least width w.
func minWidth(w float32, o fyne.CanvasObject) fyne.CanvasObject {
	r := canvas.NewRectangle(color.Transparent)
	r.SetMinSize(fyne.NewSize(w, 0))
	return container.NewStack(r, o)
}
