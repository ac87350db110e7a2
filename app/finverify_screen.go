package app

import (
	"context"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	appwidget "github.com/ukeyrenew/ukeyrenew/app/internal/widget"
)

// finVerifyScreen asks for the transfer's code and, after a failure, for
// the corrected bank account.
type finVerifyScreen struct {
	vm  *model.FinVerifyVM
	ctx context.Context

	root    *fyne.Container
	Code    *widget.Entry
	Submit  *widget.Button
	Correct *widget.Button
	// Next goes on to writing the certificate once verified.
	Next   *appwidget.KeyButton
	OnNext func()
}

// newFinVerifyScreen builds the screen.
func newFinVerifyScreen(ctx context.Context, vm *model.FinVerifyVM) *finVerifyScreen {
	s := &finVerifyScreen{vm: vm, ctx: ctx}
	s.makeUI()
	return s
}

// Object is the screen's root.
func (s *finVerifyScreen) Object() fyne.CanvasObject { return s.root }

// Load shows application id.
func (s *finVerifyScreen) Load(id string) {
	focusIn(s.root, s.Code) // not FocusFirst: the state is still the last application's
	go func() { _ = s.vm.Load(s.ctx, id) }()
}

// FocusFirst puts the keyboard focus on the code's field (on the button
// that goes on once verified).
func (s *finVerifyScreen) FocusFirst() {
	if v, _ := s.vm.Verified.Get(); v {
		focusIn(s.root, s.Next)
		return
	}
	focusIn(s.root, s.Code)
}

func (s *finVerifyScreen) makeUI() {
	status := messageLabel(s.vm.Status)
	s.Code = boundEntry(s.vm.Code)
	s.Code.SetPlaceHolder(lang.X("fv.code_ph", "6 位验证码"))
	submit := func() { go func() { _ = s.vm.SubmitCode(s.ctx) }() }
	s.Code.OnSubmitted = func(string) { submit() }
	s.Submit = widget.NewButtonWithIcon(lang.X("fv.submit", "提交验证码"), theme.ConfirmIcon(), submit)
	s.Submit.Importance = widget.HighImportance
	codeBox := container.NewVBox(widget.NewLabel(lang.X("fv.code", "转账附言中的验证码")),
		container.NewBorder(nil, nil, nil, s.Submit, s.Code), fieldMsg(s.vm.CodeMsg))
	bindVisible(s.vm.Verified, codeBox, true)

	name := boundEntry(s.vm.AccountName)
	bank := boundEntry(s.vm.BankName)
	num := boundEntry(s.vm.AccountNumber)
	s.Correct = widget.NewButtonWithIcon(lang.X("fv.correct", "更正并重新打款"), theme.ViewRefreshIcon(), func() {
		go func() { _ = s.vm.CorrectBank(s.ctx) }()
	})
	name.OnSubmitted = func(string) { focusIn(s.root, bank) }
	bank.OnSubmitted = func(string) { focusIn(s.root, num) }
	num.OnSubmitted = func(string) { s.Correct.OnTapped() }
	correct := container.NewVBox(widget.NewLabelWithStyle(lang.X("fv.correct_title", "对公账户有误？更正后重新打款"), fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		container.NewGridWithColumns(3,
			container.NewVBox(widget.NewLabel(fieldLabel("bank.account_name")), name),
			container.NewVBox(widget.NewLabel(fieldLabel("bank.bank_name")), bank),
			container.NewVBox(widget.NewLabel(fieldLabel("bank.account_number")), num)),
		fieldMsg(s.vm.BankMsg), container.NewHBox(s.Correct))
	bindVisible(s.vm.CanCorrect, correct, false)
	s.Next = appwidget.NewKeyButton(lang.X("fv.go_write", "下一步：写入 UKey"), theme.NavigateNextIcon(), func() {
		if s.OnNext != nil {
			s.OnNext()
		}
	})
	s.Next.Importance = widget.HighImportance
	next := container.NewHBox(s.Next)
	bindVisible(s.vm.Verified, next, false)
	s.root = container.NewVBox(heading(lang.X("fv.title", "金融认证")), status, codeBox, messageLabel(s.vm.Message), next, widget.NewSeparator(), correct)
}
