package app

import (
	"context"
	"sync"

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

// invoiceScreen requests the e-invoice of a paid application and shows its
// state and link.
type invoiceScreen struct {
	// running counts the loads under way (tests wait for them).
	running sync.WaitGroup

	vm  *model.InvoiceVM
	ctx context.Context

	root                       *fyne.Container
	Title, TaxID, Email, Phone *widget.Entry
	Request                    *widget.Button
	// Open opens the issued invoice in the browser.
	Open *appwidget.KeyButton
	// Refresh reads the invoice's state again.
	Refresh *appwidget.KeyButton
	// form holds the fields (shown while a request is possible), issued
	// the link (shown once issued).
	form, issued *fyne.Container
}

// newInvoiceScreen builds the screen. Give vm.OpenURL the app's OpenURL.
func newInvoiceScreen(ctx context.Context, vm *model.InvoiceVM) *invoiceScreen {
	s := &invoiceScreen{vm: vm, ctx: ctx}
	s.makeUI()
	return s
}

// Object is the screen's root.
func (s *invoiceScreen) Object() fyne.CanvasObject { return s.root }

// Load shows application id. The focus waits on the refresh button while
// the invoice is read, then goes to the first field; unless the clerk has
// moved it meanwhile (to another screen, say).
func (s *invoiceScreen) Load(id string) {
	focusIn(s.root, s.Refresh)
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		_ = s.vm.Load(s.ctx, id)
		fyne.Do(func() {
			a := fyne.CurrentApp()
			if a == nil || len(a.Driver().AllWindows()) == 0 {
				return
			}
			if c := a.Driver().CanvasForObject(s.root); c != nil && c.Focused() == s.Refresh {
				s.FocusFirst()
			}
		})
	}()
}

// FocusFirst puts the keyboard focus on the invoice title while an invoice
// may be asked for, else on the button that opens the issued one.
func (s *invoiceScreen) FocusFirst() {
	can, _ := s.vm.CanRequest.Get()
	issued, _ := s.vm.Issued.Get()
	switch {
	case can:
		focusIn(s.root, s.Title)
	case issued:
		focusIn(s.root, s.Open)
	default:
		focusIn(s.root, s.Refresh)
	}
}

func (s *invoiceScreen) makeUI() {
	entry := func(name string) *widget.Entry {
		for _, f := range s.vm.Fields() {
			if f.Name == name {
				e := boundEntry(f.Value)
				e.OnChanged = func(string) { s.vm.CheckField(name) }
				return e
			}
		}
		return nil
	}
	s.Title, s.TaxID, s.Email, s.Phone = entry("title"), entry("tax_id"), entry("email"), entry("phone")
	request := func() { go func() { _ = s.vm.Request(s.ctx) }() }
	s.Phone.OnSubmitted = func(string) { request() }
	s.Title.OnSubmitted = func(string) { focusIn(s.root, s.TaxID) }
	s.TaxID.OnSubmitted = func(string) { focusIn(s.root, s.Email) }
	s.Email.OnSubmitted = func(string) { focusIn(s.root, s.Phone) }
	s.Request = widget.NewButtonWithIcon(lang.X("inv.request", "申请电子发票"), theme.DocumentCreateIcon(), request)
	s.Request.Importance = widget.HighImportance
	// One request at a time: the button rests while one is on its way.
	s.vm.Busy.AddListener(binding.NewDataListener(func() {
		if busy, _ := s.vm.Busy.Get(); busy {
			s.Request.Disable()
		} else {
			s.Request.Enable()
		}
	}))
	s.Refresh = appwidget.NewKeyButton(lang.X("apps.refresh", "刷新"), theme.ViewRefreshIcon(), func() {
		if id := s.vm.AppID(); id != "" {
			s.Load(id)
		}
	})
	row := func(field string, e *widget.Entry, msg *widget.Label) fyne.CanvasObject {
		return container.NewVBox(widget.NewLabel(fieldLabel(field)), e, msg)
	}
	s.form = container.NewVBox(
		container.NewGridWithColumns(2,
			row(renewal.FieldInvoiceTitle, s.Title, fieldMsg(s.vm.TitleMsg)),
			row(renewal.FieldInvoiceTaxID, s.TaxID, fieldMsg(s.vm.TaxIDMsg)),
			row(renewal.FieldInvoiceEmail, s.Email, fieldMsg(s.vm.EmailMsg)),
			row(renewal.FieldInvoicePhone, s.Phone, fieldMsg(s.vm.PhoneMsg))),
		container.NewHBox(s.Request))
	bindVisible(s.vm.CanRequest, s.form, false)

	s.Open = appwidget.NewKeyButton(lang.X("inv.open", "打开发票"), theme.DocumentIcon(), func() {
		if err := s.vm.OpenLink(); err != nil {
			_ = s.vm.Message.Set(model.ServiceErrText(err))
		}
	})
	s.Open.Importance = widget.HighImportance
	link := widget.NewLabelWithData(s.vm.Link)
	link.Wrapping = fyne.TextWrapBreak
	link.Selectable = true
	s.issued = container.NewVBox(container.NewHBox(s.Open), link)
	bindVisible(s.vm.Issued, s.issued, false)

	s.root = container.NewVBox(heading(lang.X("inv.title", "电子发票")),
		widget.NewLabel(lang.X("inv.kind", "发票类型：增值税普通发票（电子）")),
		container.NewBorder(nil, nil, nil, s.Refresh, messageLabel(s.vm.Status)), s.form, s.issued, messageLabel(s.vm.Message))
}
