package app

import (
	"strings"
	"sync"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// docExtensions are the file names the picker offers (the service sniffs
// the content; the name only narrows the choice).
func docExtensions() []string {
	return []string{".pdf", ".jpg", ".jpeg", ".png", ".PDF", ".JPG", ".JPEG", ".PNG"}
}

// documentsDialog shows what was uploaded to one application, one section
// per kind (申请表扫描件, 身份证人像面, 身份证国徽面, 其他), and offers an
// upload per kind, a view per document and a delete per document where the
// application's state allows them. It shows the view-model's Docs while
// they are this application's, and Message for what happened.
type documentsDialog struct {
	s     *applicationsScreen
	appID string
	dlg   *dialog.CustomDialog
	root  fyne.CanvasObject // the dialog's content
	body  *fyne.Container
	top   *fyne.Container
	msg   *widget.Label // Message, hidden while empty
	note  *widget.Label // what the state allows
	// Buttons by "upload/<kind>", "view/<document id>" and
	// "delete/<document id>", for tests; rebuilt with the list.
	Buttons map[string]*widget.Button
	picker  *dialog.FileDialog    // the last file picker shown
	confirm *dialog.ConfirmDialog // the last confirmation shown
	onDocs  binding.DataListener
	onBusy  binding.DataListener
	onMsg   binding.DataListener
	// work is the calls to the service running in the background (the
	// UI goroutine never waits on the network); Wait returns when the
	// list, the message and the buttons show their outcome.
	work sync.WaitGroup
}

// documentsButton is a card's 资料 button: it opens the documents dialog
// of r in every state (what was uploaded can always be seen).
func (s *applicationsScreen) documentsButton(r model.AppRow) *widget.Button {
	b := widget.NewButtonWithIcon(lang.X("apps.documents", "资料"), theme.FolderOpenIcon(), func() {
		s.target = r.ID
		s.showDocuments(r)
	})
	s.Buttons[r.ID+"/documents"] = b
	return b
}

// showDocuments opens the documents dialog of application r over the
// screen's window and reads its documents.
func (s *applicationsScreen) showDocuments(r model.AppRow) *documentsDialog {
	if s.win == nil {
		return nil
	}
	d := &documentsDialog{s: s, appID: r.ID, Buttons: map[string]*widget.Button{}}
	d.body = container.NewVBox()
	d.note = hintLabel("")
	d.note.Hide()
	limits := hintLabel(lang.X("docs.limits", "可上传 PDF、JPG、PNG 文件，每个文件最大 {{.MB}} MB，每份申请最多 {{.Max}} 个文件。",
		map[string]any{"MB": model.MaxDocumentMB, "Max": renewal.MaxDocumentsPerApp}))
	_ = s.vm.Message.Set("") // the screen's last message is not about these documents
	d.msg = messageLabel(s.vm.Message)
	d.top = container.NewVBox(d.msg, d.note)
	d.root = container.NewBorder(d.top, limits, nil, nil, container.NewVScroll(container.NewPadded(d.body)))
	title := lang.X("docs.title", "申请资料 · 证书序列号 {{.Serial}}", map[string]any{"Serial": strings.ToUpper(r.CertSerial)})
	d.dlg = dialog.NewCustom(title, lang.X("docs.close", "关闭"), d.root, s.win)
	d.dlg.Resize(fyne.NewSize(720, 560))
	d.onDocs = binding.NewDataListener(d.rebuild)
	d.onBusy = binding.NewDataListener(d.busy)
	s.vm.Docs.AddListener(d.onDocs)
	d.onMsg = binding.NewDataListener(d.message)
	s.vm.Busy.AddListener(d.onBusy)
	s.vm.Message.AddListener(d.onMsg)
	d.dlg.SetOnClosed(func() {
		s.vm.Docs.RemoveListener(d.onDocs)
		s.vm.Busy.RemoveListener(d.onBusy)
		s.vm.Message.RemoveListener(d.onMsg)
		d.msg.Unbind()
	})
	escCloses(s.win, d.dlg)
	s.dlg = d.dlg
	d.dlg.Show()
	d.work.Go(func() { _ = s.vm.ListDocuments(s.ctx, r.ID) })
	return d
}

// kindHint says what a kind is for.
func kindHint(k renewal.DocumentKind) string {
	switch k {
	case renewal.DocApplicationForm:
		return lang.X("docs.hint.application_form", "打印申请表，签字并加盖公章后扫描上传")
	case renewal.DocIDFront:
		return lang.X("docs.hint.id_front", "证书持有人身份证有照片的一面（可选）")
	case renewal.DocIDBack:
		return lang.X("docs.hint.id_back", "证书持有人身份证有国徽的一面（可选）")
	}
	return lang.X("docs.hint.other", "审核员要求补充的其他材料（可选）")
}

// rebuild lays the list out again from Docs (on the UI goroutine).
func (d *documentsDialog) rebuild() {
	dl, _ := d.s.vm.Docs.Get()
	// A new map, handed over when complete: the old one is never written
	// again, so a reader holding it is safe.
	btns := map[string]*widget.Button{}
	defer func() { d.Buttons = btns; d.busy() }()
	if dl.AppID != d.appID {
		d.body.Objects = []fyne.CanvasObject{widget.NewLabel(lang.X("docs.loading", "正在读取已上传的资料…"))}
		d.body.Refresh()
		return
	}
	if dl.CanUpload {
		d.note.Hide()
		d.root.Refresh()
	} else {
		r, _ := d.s.vm.Row(d.appID)
		d.note.SetText(lang.X("docs.read_only", "这份申请当前是“{{.Status}}”，资料只能查看。只有编辑中或审核不通过的申请可以上传或删除资料。",
			map[string]any{"Status": r.Status}))
		d.note.Show()
		d.root.Refresh()
	}
	var objs []fyne.CanvasObject
	for i, k := range model.DocKinds() {
		if i > 0 {
			objs = append(objs, widget.NewSeparator())
		}
		objs = append(objs, d.section(dl, k, btns)...)
	}
	d.body.Objects = objs
	d.body.Refresh()
}

func (d *documentsDialog) section(dl model.DocList, k renewal.DocumentKind, btns map[string]*widget.Button) []fyne.CanvasObject {
	name := widget.NewLabelWithStyle(model.DocKindText(k), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	docs := dl.Of(k)
	status := lang.X("docs.none", "未上传")
	if len(docs) > 0 {
		status = lang.X("docs.count", "已上传 {{.Count}} 个", map[string]any{"Count": len(docs)})
	}
	st := widget.NewLabel(status)
	st.Importance = widget.LowImportance
	if len(docs) > 0 {
		st.Importance = widget.SuccessImportance
	}
	head := container.NewHBox(name, st, layout.NewSpacer())
	if dl.CanUpload {
		b := widget.NewButtonWithIcon(lang.X("docs.upload", "上传"), theme.UploadIcon(), func() { d.pick(k) })
		btns["upload/"+string(k)] = b
		head.Add(b)
	}
	hint := hintLabel(kindHint(k))
	hint.SizeName = theme.SizeNameCaptionText
	objs := []fyne.CanvasObject{head, hint}
	for _, doc := range docs {
		objs = append(objs, d.docLine(dl, doc, btns))
	}
	return objs
}

func (d *documentsDialog) docLine(dl model.DocList, doc model.DocRow, btns map[string]*widget.Button) fyne.CanvasObject {
	name := widget.NewLabel(doc.Name)
	name.Truncation = fyne.TextTruncateEllipsis
	info := widget.NewLabel(lang.X("docs.info", "{{.Size}} · 上传于 {{.Time}}", map[string]any{"Size": doc.Size, "Time": doc.Uploaded}))
	info.Importance = widget.LowImportance
	info.SizeName = theme.SizeNameCaptionText
	view := widget.NewButtonWithIcon(lang.X("docs.view", "查看"), theme.VisibilityIcon(), func() {
		d.work.Go(func() { _, _ = d.s.vm.OpenDocument(d.s.ctx, d.appID, doc.ID) })
	})
	btns["view/"+doc.ID] = view
	line := container.NewHBox(view)
	if dl.CanDelete {
		del := widget.NewButtonWithIcon(lang.X("docs.delete", "删除"), theme.DeleteIcon(), func() { d.askDelete(doc) })
		del.Importance = widget.DangerImportance
		btns["delete/"+doc.ID] = del
		line.Add(del)
	}
	icon := widget.NewIcon(theme.FileImageIcon())
	if doc.Doc.ContentType == renewal.ContentPDF {
		icon = widget.NewIcon(theme.FileApplicationIcon())
	}
	return container.NewBorder(nil, nil, icon, container.NewCenter(line), container.NewVBox(name, info))
}

// message shows Message while it says something.
func (d *documentsDialog) message() {
	if m, _ := d.s.vm.Message.Get(); m == "" {
		d.msg.Hide()
	} else {
		d.msg.Show()
	}
	d.root.Refresh()
}

// busy disables the buttons that change something while an action runs.
func (d *documentsDialog) busy() {
	b, _ := d.s.vm.Busy.Get()
	for key, btn := range d.Buttons {
		if strings.HasPrefix(key, "view/") {
			continue
		}
		if b {
			btn.Disable()
		} else {
			btn.Enable()
		}
	}
}

// pick asks for the file to upload as kind k.
func (d *documentsDialog) pick(k renewal.DocumentKind) {
	fd := dialog.NewFileOpen(func(rc fyne.URIReadCloser, err error) {
		if err != nil || rc == nil {
			return
		}
		d.picked(k, rc.URI())
		_ = rc.Close()
	}, d.s.win)
	fd.SetFilter(storage.NewExtensionFileFilter(docExtensions()))
	fd.SetTitleText(lang.X("docs.pick_title", "选择{{.Kind}}（PDF、JPG、PNG）", map[string]any{"Kind": model.DocKindText(k)}))
	d.picker = fd
	fd.Show()
}

// picked uploads the chosen file as kind k.
func (d *documentsDialog) picked(k renewal.DocumentKind, u fyne.URI) {
	if u.Scheme() != "file" {
		return
	}
	path := u.Path()
	d.work.Go(func() { _ = d.s.vm.UploadKind(d.s.ctx, d.appID, k, path) })
}

// askDelete confirms, then deletes doc.
func (d *documentsDialog) askDelete(doc model.DocRow) {
	c := dialog.NewConfirm(lang.X("apps.confirm_title", "请确认"),
		lang.X("docs.delete_q", "删除{{.Kind}}“{{.Name}}”？删除后如仍需要，须重新上传。", map[string]any{"Kind": doc.KindText, "Name": doc.Name}),
		func(ok bool) {
			if ok {
				d.work.Go(func() { _ = d.s.vm.DeleteDocument(d.s.ctx, d.appID, doc.ID) })
			}
		}, d.s.win)
	escCloses(d.s.win, c)
	d.confirm = c
	c.Show()
}
