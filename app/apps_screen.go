package app

import (
	"context"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	appwidget "github.com/ukeyrenew/ukeyrenew/app/internal/widget"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// appsNav is where the Applications screen sends the clerk for the actions
// other screens carry out (each may be nil).
type appsNav struct {
	Edit   func(row model.AppRow) // the renew form
	Pay    func(row model.AppRow)
	Verify func(row model.AppRow) // financial verification
	Write  func(row model.AppRow) // write to the UKey
	// Invoice requests or shows the e-invoice (offered once paid: asking
	// for an invoice is not a state change, so it is not in the table).
	Invoice func(row model.AppRow)
}

// applicationsScreen lists the applications as cards: state, progress, the
// reviewer's reason, and one button per action the state allows.
type applicationsScreen struct {
	vm  *model.ApplicationsVM
	ctx context.Context
	win fyne.Window
	nav appsNav

	root    *fyne.Container
	list    *fyne.Container
	Refresh *widget.Button
	// Buttons by application id + "/" + action, for tests.
	Buttons map[string]*widget.Button
	target  string        // the application a dropped file goes to
	dlg     dialog.Dialog // the last confirmation or form shown, for tests
}

// newApplicationsScreen builds the screen over win (for dialogs and drops).
func newApplicationsScreen(ctx context.Context, vm *model.ApplicationsVM, win fyne.Window, nav appsNav) *applicationsScreen {
	s := &applicationsScreen{vm: vm, ctx: ctx, win: win, nav: nav, Buttons: map[string]*widget.Button{}}
	s.makeUI()
	return s
}

// Object is the screen's root.
func (s *applicationsScreen) Object() fyne.CanvasObject { return s.root }

func (s *applicationsScreen) makeUI() {
	s.Refresh = widget.NewButtonWithIcon(lang.X("apps.refresh", "刷新"), theme.ViewRefreshIcon(), func() {
		go func() { _ = s.vm.Reload(s.ctx) }()
	})
	bindEnabled(s.vm.Busy, s.Refresh, true)
	s.list = container.NewVBox()
	hint := widget.NewLabel(lang.X("apps.drop_hint", "可以把盖章后的申请表扫描件（PDF、JPG、PNG，最大 10 MB）直接拖到窗口上传。"))
	hint.Importance = widget.LowImportance
	hint.Wrapping = fyne.TextWrapWord
	top := container.NewVBox(container.NewBorder(nil, nil, nil, s.Refresh, heading(lang.X("apps.title", "申请进度"))),
		messageLabel(s.vm.Message))
	s.root = container.NewBorder(top, hint, nil, nil, container.NewVScroll(s.list))
	s.vm.Rows.AddListener(binding.NewDataListener(s.rebuild))
}

func (s *applicationsScreen) rebuild() {
	rows, _ := s.vm.Rows.Get()
	s.Buttons = map[string]*widget.Button{}
	objs := make([]fyne.CanvasObject, 0, len(rows))
	for _, r := range rows {
		objs = append(objs, s.card(r))
	}
	s.list.Objects = objs
	s.list.Refresh()
}

func progressText(r model.AppRow) string {
	parts := make([]string, len(r.Steps))
	for i, st := range r.Steps {
		switch {
		case st.Done:
			parts[i] = "✓ " + st.Name
		case i == r.Current:
			parts[i] = "● " + st.Name
		default:
			parts[i] = "○ " + st.Name
		}
	}
	return strings.Join(parts, "  →  ")
}

func (s *applicationsScreen) card(r model.AppRow) fyne.CanvasObject {
	title := widget.NewLabelWithStyle(lang.X("apps.cert", "证书序列号 {{.Serial}}", map[string]any{"Serial": strings.ToUpper(r.CertSerial)}),
		fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	info := widget.NewLabel(lang.X("apps.info", "{{.Payment}} · {{.Price}} · 更新于 {{.Date}}",
		map[string]any{"Payment": r.Payment, "Price": r.Price, "Date": r.Updated}))
	info.Importance = widget.LowImportance
	items := []fyne.CanvasObject{container.NewHBox(newBadge(r.Status, r.Level), title), info}
	if r.Current >= 0 {
		items = append(items, widget.NewLabel(progressText(r)))
	}
	if len(r.Docs) > 0 {
		docs := widget.NewLabel(lang.X("apps.docs", "已上传：{{.Names}}", map[string]any{"Names": strings.Join(r.Docs, "、")}))
		docs.Wrapping = fyne.TextWrapWord
		items = append(items, docs)
	}
	if r.Reason != "" {
		reason := widget.NewLabel(lang.X("apps.reason", "审核意见：{{.Reason}}", map[string]any{"Reason": r.Reason}))
		reason.Importance = widget.DangerImportance
		reason.Wrapping = fyne.TextWrapWord
		items = append(items, reason)
	}
	var btns []fyne.CanvasObject
	// add offers a button for action a when the state allows it; key names
	// it in Buttons (one action may have several buttons).
	add := func(a renewal.Action, key, text string, icon fyne.Resource, f func()) {
		if !r.Can(a) {
			return
		}
		b := widget.NewButtonWithIcon(text, icon, func() { s.target = r.ID; f() })
		s.Buttons[r.ID+"/"+key] = b
		btns = append(btns, b)
	}
	nav := func(f func(model.AppRow)) func() {
		return func() {
			if f != nil {
				f(r)
			}
		}
	}
	add(renewal.ActionEdit, "edit", lang.X("apps.edit", "修改"), theme.DocumentCreateIcon(), nav(s.nav.Edit))
	add(renewal.ActionSubmit, "submit", lang.X("apps.submit", "提交审核"), theme.MailSendIcon(), func() { s.askSubmit(r) })
	add(renewal.ActionPay, "pay", lang.X("apps.pay", "支付"), theme.ConfirmIcon(), nav(s.nav.Pay))
	add(renewal.ActionSubmitFinVerify, "submit_finverify", lang.X("apps.finverify", "金融认证"), theme.AccountIcon(), nav(s.nav.Verify))
	if !r.Can(renewal.ActionSubmitFinVerify) {
		add(renewal.ActionCorrectBank, "correct_bank", lang.X("apps.correct_bank", "更正银行账户"), theme.AccountIcon(), nav(s.nav.Verify))
	}
	add(renewal.ActionIssue, "issue", lang.X("apps.write", "写入 UKey"), theme.DownloadIcon(), nav(s.nav.Write))
	add(renewal.ActionUploadDocument, "form_pdf", lang.X("apps.form_pdf", "打印申请表"), theme.DocumentPrintIcon(), func() {
		go func() { _, _ = s.vm.OpenFormPDF(s.ctx, r.ID) }()
	})
	add(renewal.ActionUploadDocument, "upload_document", lang.X("apps.upload", "上传扫描件"), theme.UploadIcon(), func() { s.pickScan(r) })
	btns = append(btns, s.documentsButton(r)) // what was uploaded can always be seen
	if r.App.Payment == renewal.PaymentPaid && s.nav.Invoice != nil {
		b := widget.NewButtonWithIcon(lang.X("apps.invoice", "电子发票"), theme.MailSendIcon(), func() { s.target = r.ID; s.nav.Invoice(r) })
		s.Buttons[r.ID+"/invoice"] = b
		btns = append(btns, b)
	}
	add(renewal.ActionDelete, "delete", lang.X("apps.delete", "删除草稿"), theme.DeleteIcon(), func() {
		s.confirm(lang.X("apps.delete_q", "删除这份草稿？删除后无法恢复。"), func(ctx context.Context) error { return s.vm.Delete(ctx, r.ID) })
	})
	add(renewal.ActionCancel, "cancel", lang.X("apps.cancel", "取消申请"), theme.CancelIcon(), func() {
		s.confirm(lang.X("apps.cancel_q", "取消这份申请？已支付的费用将原路退回。"), func(ctx context.Context) error { return s.vm.Cancel(ctx, r.ID) })
	})
	if len(btns) > 0 {
		items = append(items, container.NewHBox(btns...))
	}
	return widget.NewCard("", "", container.NewVBox(items...))
}

func (s *applicationsScreen) confirm(q string, f func(ctx context.Context) error) {
	d := dialog.NewConfirm(lang.X("apps.confirm_title", "请确认"), q, func(ok bool) {
		if ok {
			go func() { _ = f(s.ctx) }()
		}
	}, s.win)
	escCloses(s.win, d) // Esc answers no
	s.dlg = d
	d.Show()
}

// askSubmit asks for the comment that goes with the submission.
func (s *applicationsScreen) askSubmit(r model.AppRow) {
	comment := appwidget.NewKeyEntry(true)
	comment.SetPlaceHolder(lang.X("apps.comment_ph", "给审核员的说明（可不填）"))
	comment.Validator = model.CheckComment
	d := dialog.NewForm(lang.X("apps.submit_title", "提交审核"), lang.X("apps.submit", "提交审核"), lang.X("pin.cancel", "取消"),
		[]*widget.FormItem{widget.NewFormItem(lang.X("apps.comment", "说明"), comment)}, func(ok bool) {
			if ok {
				text := comment.Text
				go func() { _ = s.vm.Submit(s.ctx, r.ID, text) }()
			}
		}, s.win)
	comment.OnEsc = d.Hide         // Esc cancels, also from the comment
	comment.OnCtrlEnter = d.Submit // Ctrl+Enter submits; Enter is a new line
	escCloses(s.win, d)
	s.dlg = d
	d.Show()
	s.win.Canvas().Focus(comment)
}

func (s *applicationsScreen) pickScan(r model.AppRow) {
	d := dialog.NewFileOpen(func(rc fyne.URIReadCloser, err error) {
		if err != nil || rc == nil {
			return
		}
		path := rc.URI().Path()
		_ = rc.Close()
		go func() { _ = s.vm.Upload(s.ctx, r.ID, path) }()
	}, s.win)
	d.SetFilter(storage.NewExtensionFileFilter([]string{".pdf", ".jpg", ".jpeg", ".png", ".PDF", ".JPG", ".JPEG", ".PNG"}))
	escCloses(s.win, d)
	s.dlg = d
	d.Show()
}

// Dropped uploads files dropped on the window to the application the clerk
// last acted on, or to the only one that takes uploads.
func (s *applicationsScreen) Dropped(uris []fyne.URI) {
	id := s.target
	if r, ok := s.vm.Row(id); !ok || !r.Can(renewal.ActionUploadDocument) {
		id = ""
		rows, _ := s.vm.Rows.Get()
		n := 0
		for _, r := range rows {
			if r.Can(renewal.ActionUploadDocument) {
				id = r.ID
				n++
			}
		}
		if n != 1 {
			_ = s.vm.Message.Set(lang.X("apps.drop_which", "请先点击要上传到的申请上的“上传扫描件”，再拖入文件。"))
			return
		}
	}
	go func() {
		for _, u := range uris {
			if u.Scheme() != "file" {
				continue
			}
			if err := s.vm.Upload(s.ctx, id, u.Path()); err != nil {
				return
			}
		}
	}()
}
