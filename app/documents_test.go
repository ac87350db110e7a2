package app

import (
	"bytes"
	"errors"
	"fmt"
	"image/png"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// Minimal files of each accepted type: the service sniffs the first bytes.
var (
	pdfHead  = []byte("%PDF-1.7\n")
	jpegHead = []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F', 0}
	pngHead  = []byte("\x89PNG\r\n\x1a\n")
)

// writeFile writes head padded to n bytes into dir/name and returns its path.
func writeFile(t *testing.T, dir, name string, head []byte, n int) string {
	t.Helper()
	data := make([]byte, max(n, len(head)))
	copy(data, head)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// serviceDocs is what the service holds for application id.
func serviceDocs(t *testing.T, acc *model.Account, id string) []renewal.Document {
	t.Helper()
	l, err := acc.Client().ListDocuments(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func docNames(l model.DocList) []string {
	var out []string
	for _, d := range l.Items {
		out = append(out, d.KindText+":"+d.Name)
	}
	return out
}

func TestDocumentsUploadByKindListDeleteOpen(t *testing.T) {
	e := apptest.NewService(t)
	vm, acc := apptest.AppsVM(t, e)
	ctx := t.Context()
	form := renewdtest.ValidForm(e.Org, 1)
	a, err := acc.Client().CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: e.Serials["near"], Form: &form})
	if err != nil {
		t.Fatal(err)
	}
	if err := vm.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if err := vm.ListDocuments(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if l := apptest.Get[model.DocList](t, vm.Docs); l.AppID != a.ID || len(l.Items) != 0 || !l.CanUpload || !l.CanDelete {
		t.Fatalf("empty list of an editable application: %+v", l)
	}

	dir := t.TempDir()
	// Uploaded out of order: the list is by kind all the same.
	uploads := []struct {
		kind renewal.DocumentKind
		path string
	}{
		{renewal.DocIDBack, writeFile(t, dir, "身份证背面.png", pngHead, 1500)},
		{renewal.DocApplicationForm, writeFile(t, dir, "盖章申请表.pdf", pdfHead, 3000<<10)},
		{renewal.DocIDFront, writeFile(t, dir, "身份证正面.jpg", jpegHead, 1)},
	}
	for _, u := range uploads {
		if err := vm.UploadKind(ctx, a.ID, u.kind, u.path); err != nil {
			t.Fatalf("upload %s: %v (%q)", u.kind, err, apptest.Get[string](t, vm.Message))
		}
		if msg := apptest.Get[string](t, vm.Message); msg != "已上传 "+filepath.Base(u.path)+"。" {
			t.Errorf("after uploading %s: %q", u.kind, msg)
		}
	}
	l := apptest.Get[model.DocList](t, vm.Docs)
	if want := []string{"申请表扫描件:盖章申请表.pdf", "身份证人像面:身份证正面.jpg", "身份证国徽面:身份证背面.png"}; !slices.Equal(docNames(l), want) {
		t.Fatalf("listed %v, want %v", docNames(l), want)
	}
	if sizes := []string{l.Items[0].Size, l.Items[1].Size, l.Items[2].Size}; !slices.Equal(sizes, []string{"3,000 KB", "1 KB", "2 KB"}) {
		t.Errorf("sizes %v", sizes)
	}
	when := regexp.MustCompile(`^2026年11月23日 04:\d\d$`)
	for _, d := range l.Items {
		if !when.MatchString(d.Uploaded) {
			t.Errorf("%s uploaded %q, want the clerk's date and minute", d.Name, d.Uploaded)
		}
	}
	if got := l.Of(renewal.DocIDFront); len(got) != 1 || got[0].Doc.ContentType != renewal.ContentJPEG {
		t.Errorf("Of(id_front) = %+v", got)
	}
	if r, _ := vm.Row(a.ID); len(r.Docs) != 3 {
		t.Errorf("the card lists %v", r.Docs)
	}

	// Every wrong file is refused in words; nothing changes, here or there.
	before := apptest.Get[model.DocList](t, vm.Docs)
	refused := []struct {
		name, path string
		kind       renewal.DocumentKind
		code       renewal.Code
		says       string
	}{
		{"text renamed .pdf", writeFile(t, dir, "扫描件.pdf", []byte("这不是扫描件，是一段文字。"), 0), renewal.DocApplicationForm, renewal.CodeDocumentType, "只能上传 PDF、JPG 或 PNG 文件"},
		{"too large", writeFile(t, dir, "太大.pdf", pdfHead, renewal.MaxDocumentBytes+1), renewal.DocApplicationForm, renewal.CodeDocumentTooLarge, "每个文件最大 10 MB"},
		{"empty", writeFile(t, dir, "空.png", nil, 0), renewal.DocIDFront, renewal.CodeRequired, "文件是空的"},
		{"unknown kind", uploads[0].path, renewal.DocumentKind("passport"), renewal.CodeInvalidField, "字段填写有误"},
		{"missing file", filepath.Join(dir, "不存在.pdf"), renewal.DocOther, renewal.CodeUnknown, "无法读取文件"},
	}
	for _, c := range refused {
		err := vm.UploadKind(ctx, a.ID, c.kind, c.path)
		if err == nil || renewal.CodeOf(err) != c.code {
			t.Errorf("%s: %v, want code %v", c.name, err, c.code)
		}
		if msg := apptest.Get[string](t, vm.Message); !strings.Contains(msg, c.says) {
			t.Errorf("%s says %q, want %q", c.name, msg, c.says)
		}
		if got := apptest.Get[model.DocList](t, vm.Docs); !reflect.DeepEqual(got, before) {
			t.Errorf("%s changed the list: %v", c.name, docNames(got))
		}
	}
	if n := len(serviceDocs(t, acc, a.ID)); n != 3 {
		t.Fatalf("the service holds %d documents after refusals, want 3", n)
	}

	// View: saved in Dir under its name with the sniffed type's extension, and opened.
	var opened []string
	vm.Open = func(p string) error { opened = append(opened, p); return nil }
	front := l.Of(renewal.DocIDFront)[0]
	path, err := vm.OpenDocument(ctx, a.ID, front.ID)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if filepath.Dir(path) != vm.Dir || !strings.HasSuffix(path, "身份证正面.jpg") || !bytes.HasPrefix(data, jpegHead) || !slices.Equal(opened, []string{path}) {
		t.Errorf("view saved %s (%d bytes), opened %v", path, len(data), opened)
	}
	vm.Open = func(string) error { return errors.New("no viewer for image/jpeg") }
	if _, err := vm.OpenDocument(ctx, a.ID, front.ID); err == nil || !strings.Contains(apptest.Get[string](t, vm.Message), "无法打开：no viewer") {
		t.Errorf("open failure: %v %q", err, apptest.Get[string](t, vm.Message))
	}

	// Delete one: gone from the list and from the service, the others kept.
	back := l.Of(renewal.DocIDBack)[0]
	if err := vm.DeleteDocument(ctx, a.ID, back.ID); err != nil {
		t.Fatal(err)
	}
	if msg := apptest.Get[string](t, vm.Message); msg != "已删除身份证国徽面“身份证背面.png”。" {
		t.Errorf("after delete: %q", msg)
	}
	if got := docNames(apptest.Get[model.DocList](t, vm.Docs)); !slices.Equal(got, []string{"申请表扫描件:盖章申请表.pdf", "身份证人像面:身份证正面.jpg"}) {
		t.Fatalf("after delete %v", got)
	}
	if n := len(serviceDocs(t, acc, a.ID)); n != 2 {
		t.Fatalf("the service holds %d documents after a delete, want 2", n)
	}
	// A document deleted meanwhile elsewhere: the service says not found, the list is read again.
	if err := acc.Client().DeleteDocument(ctx, a.ID, front.ID); err != nil {
		t.Fatal(err)
	}
	if err := vm.DeleteDocument(ctx, a.ID, front.ID); renewal.CodeOf(err) != renewal.CodeNotFound {
		t.Fatalf("deleting a deleted document: %v", err)
	}
	if got := docNames(apptest.Get[model.DocList](t, vm.Docs)); !slices.Equal(got, []string{"申请表扫描件:盖章申请表.pdf"}) {
		t.Fatalf("not read again after not found: %v", got)
	}
}

// The service's own limit (documents per application) is explained, and
// the list stays as it was.
func TestDocumentsLimitPerApplication(t *testing.T) {
	e := apptest.NewService(t)
	vm, acc := apptest.AppsVM(t, e)
	ctx := t.Context()
	a, err := acc.Client().CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: e.Serials["near"]})
	if err != nil {
		t.Fatal(err)
	}
	if err := vm.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i := range renewal.MaxDocumentsPerApp {
		if err := vm.UploadKind(ctx, a.ID, renewal.DocOther, writeFile(t, dir, fmt.Sprintf("附件%02d.png", i), pngHead, 16)); err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
	}
	before := apptest.Get[model.DocList](t, vm.Docs)
	err = vm.UploadKind(ctx, a.ID, renewal.DocIDFront, writeFile(t, dir, "多一个.jpg", jpegHead, 16))
	if renewal.CodeOf(err) != renewal.CodeTooLong || !strings.Contains(apptest.Get[string](t, vm.Message), "最多上传 20 个文件") {
		t.Fatalf("over the limit: %v %q", err, apptest.Get[string](t, vm.Message))
	}
	if got := apptest.Get[model.DocList](t, vm.Docs); !reflect.DeepEqual(got, before) || len(got.Items) != renewal.MaxDocumentsPerApp {
		t.Fatalf("list changed by a refused upload: %d items", len(got.Items))
	}
}

// Once submitted, uploads and deletes are not offered, are refused here
// without a call, and the service refuses them if forced; a state that
// moved on elsewhere is found out on the first try and the list read again.
func TestDocumentsStateForbidsChanges(t *testing.T) {
	e := apptest.NewService(t)
	vm, acc := apptest.AppsVM(t, e)
	ctx := t.Context()
	form := renewdtest.ValidForm(e.Org, 1)
	a, err := acc.Client().CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: e.Serials["near"], Form: &form})
	if err != nil {
		t.Fatal(err)
	}
	if err := vm.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	scan := writeFile(t, dir, "申请表.pdf", pdfHead, 100)
	if err := vm.Upload(ctx, a.ID, scan); err != nil { // the form scan, as the card's button sends it
		t.Fatal(err)
	}
	l := apptest.Get[model.DocList](t, vm.Docs)
	if len(l.Items) != 1 || l.Items[0].Kind != renewal.DocApplicationForm {
		t.Fatalf("Upload sent %+v", l.Items)
	}
	doc := l.Items[0]

	// Submitted elsewhere: this list still offers the delete, the service refuses it.
	r, _ := vm.Row(a.ID)
	if _, err := acc.Client().Submit(ctx, a.ID, renewal.SubmitRequest{Version: r.App.Version}); err != nil {
		t.Fatal(err)
	}
	err = vm.DeleteDocument(ctx, a.ID, doc.ID)
	if renewal.CodeOf(err) != renewal.CodeActionNotAllowed || !strings.Contains(apptest.Get[string](t, vm.Message), "状态已经变化") {
		t.Fatalf("delete after a submit elsewhere: %v %q", err, apptest.Get[string](t, vm.Message))
	}
	l = apptest.Get[model.DocList](t, vm.Docs)
	if l.CanUpload || l.CanDelete || len(l.Items) != 1 {
		t.Fatalf("not read again after the refusal: %+v", l)
	}
	if r, _ := vm.Row(a.ID); r.Status != "待审核" {
		t.Fatalf("row not reloaded: %s", r.Status)
	}

	// Now known: not offered, refused before anything is sent.
	if err := vm.DeleteDocument(ctx, a.ID, doc.ID); !errors.Is(err, model.ErrActionNotOffered) {
		t.Fatalf("delete while pending review: %v", err)
	}
	if err := vm.UploadKind(ctx, a.ID, renewal.DocIDFront, writeFile(t, dir, "正面.jpg", jpegHead, 10)); !errors.Is(err, model.ErrActionNotOffered) {
		t.Fatalf("upload while pending review: %v", err)
	}
	// Forced past the client's check: the service refuses, the document stays.
	if err := acc.Client().DeleteDocument(ctx, a.ID, doc.ID); renewal.CodeOf(err) != renewal.CodeActionNotAllowed {
		t.Fatalf("service let a delete through while pending review: %v", err)
	}
	if _, err := acc.Client().UploadDocument(ctx, a.ID, renewal.UploadDocumentRequest{Kind: renewal.DocIDBack, Name: "背面.png"}, pngHead); renewal.CodeOf(err) != renewal.CodeActionNotAllowed {
		t.Fatalf("service let an upload through while pending review: %v", err)
	}
	if got := serviceDocs(t, acc, a.ID); len(got) != 1 || got[0].ID != doc.ID {
		t.Fatalf("documents changed while pending review: %+v", got)
	}
	// Viewing is still offered.
	if _, err := vm.OpenDocument(ctx, a.ID, doc.ID); err != nil {
		t.Fatal(err)
	}
}

// With the service down an upload says so and loses nothing; with it back
// the same upload goes through.
func TestDocumentsServiceDown(t *testing.T) {
	e := apptest.NewService(t)
	o := newOutage(t, e)
	acc := o.signedIn(e)
	vm := model.NewApplicationsVM(acc, nil, model.Formatter{Lang: model.LangZH, Loc: time.UTC})
	vm.Dir = t.TempDir()
	ctx := t.Context()
	a, err := acc.Client().CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: e.Serials["near"]})
	if err != nil {
		t.Fatal(err)
	}
	if err := vm.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	scan := writeFile(t, t.TempDir(), "申请表.pdf", pdfHead, 100)
	if err := vm.Upload(ctx, a.ID, scan); err != nil {
		t.Fatal(err)
	}
	before := apptest.Get[model.DocList](t, vm.Docs)

	o.down()
	front := writeFile(t, t.TempDir(), "正面.jpg", jpegHead, 100)
	if err := vm.UploadKind(ctx, a.ID, renewal.DocIDFront, front); err == nil || !strings.Contains(apptest.Get[string](t, vm.Message), serviceDown) {
		t.Fatalf("upload with the service down: %v %q", err, apptest.Get[string](t, vm.Message))
	}
	if err := vm.DeleteDocument(ctx, a.ID, before.Items[0].ID); err == nil || !strings.Contains(apptest.Get[string](t, vm.Message), serviceDown) {
		t.Fatalf("delete with the service down: %v %q", err, apptest.Get[string](t, vm.Message))
	}
	if err := vm.ListDocuments(ctx, a.ID); err == nil || !strings.Contains(apptest.Get[string](t, vm.Message), serviceDown) {
		t.Fatalf("list with the service down: %v", err)
	}
	if got := apptest.Get[model.DocList](t, vm.Docs); !reflect.DeepEqual(got, before) || apptest.Get[bool](t, vm.Busy) {
		t.Fatalf("the list changed or stays busy with the service down: %v", docNames(got))
	}

	o.up()
	if err := vm.UploadKind(ctx, a.ID, renewal.DocIDFront, front); err != nil {
		t.Fatal(err)
	}
	if got := docNames(apptest.Get[model.DocList](t, vm.Docs)); !slices.Equal(got, []string{"申请表扫描件:申请表.pdf", "身份证人像面:正面.jpg"}) {
		t.Fatalf("after the service is back: %v", got)
	}
}

// The dialog, opened on the screen as the card's 资料 button does, in a
// test window with the product theme: each background call is waited for
// (d.work) before the widgets are read.
func TestDocumentsDialog(t *testing.T) {
	e := apptest.NewService(t)
	acc := e.SignedIn()
	vm := model.NewApplicationsVM(acc, fakeclock.New(apptest.Start), model.Formatter{Lang: model.LangZH, Loc: time.UTC})
	vm.Dir = t.TempDir()
	var opened []string
	vm.Open = func(p string) error { opened = append(opened, p); return nil }
	s := newApplicationsScreen(t.Context(), vm, nil, appsNav{})
	w := newTestWindow(t, s.Object())
	s.win = w
	ctx := t.Context()
	form := renewdtest.ValidForm(e.Org, 1)
	a, err := acc.Client().CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: e.Serials["near"], Form: &form})
	if err != nil {
		t.Fatal(err)
	}
	if err := vm.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	r, _ := vm.Row(a.ID)

	var d *documentsDialog
	fyne.DoAndWait(func() {
		if b := s.documentsButton(r); b.Text != "资料" || s.Buttons[a.ID+"/documents"] != b {
			t.Errorf("the card's button: %q", b.Text)
		}
		d = s.showDocuments(r)
	})
	d.work.Wait()
	keys := func() []string {
		ks := slices.Collect(maps.Keys(d.Buttons))
		slices.Sort(ks)
		return ks
	}
	if got, want := keys(), []string{"upload/application_form", "upload/id_back", "upload/id_front", "upload/other"}; !slices.Equal(got, want) {
		t.Fatalf("buttons %v, want %v", got, want)
	}
	txt := screenText(d.root)
	for _, want := range []string{"申请表扫描件|未上传", "身份证人像面|未上传", "身份证国徽面|未上传", "其他|未上传", "每个文件最大 10 MB"} {
		if !strings.Contains(txt, want) {
			t.Errorf("dialog lacks %q: %s", want, txt)
		}
	}

	// Upload through the picker: the button shows it, the chosen file goes up.
	dir := t.TempDir()
	files := map[renewal.DocumentKind]string{
		renewal.DocApplicationForm: writeFile(t, dir, "盖章申请表.pdf", pdfHead, 300<<10),
		renewal.DocIDFront:         writeFile(t, dir, "身份证正面.jpg", jpegHead, 90<<10),
		renewal.DocIDBack:          writeFile(t, dir, "身份证背面.png", pngHead, 85<<10),
	}
	for _, k := range []renewal.DocumentKind{renewal.DocApplicationForm, renewal.DocIDFront, renewal.DocIDBack} {
		d.picker = nil
		fyne.DoAndWait(func() { test.Tap(d.Buttons["upload/"+string(k)]) })
		if d.picker == nil {
			t.Fatal("no file picker shown")
		}
		fyne.DoAndWait(d.picker.Hide)
		d.picked(k, storage.NewFileURI(files[k]))
		d.work.Wait()
		if n := len(apptest.Get[model.DocList](t, vm.Docs).Of(k)); n != 1 {
			t.Fatalf("%d documents of kind %s after its upload", n, k)
		}
	}
	if n := len(d.Buttons); n != 4+3+3 {
		t.Fatalf("buttons after three uploads: %v", keys())
	}
	txt = screenText(d.root)
	for _, want := range []string{"已上传 身份证背面.png。", "盖章申请表.pdf|300 KB · 上传于 2026年11月23日 04:", "身份证正面.jpg|90 KB", "身份证背面.png|85 KB",
		"<查看>", "<删除>", "其他|未上传", "身份证国徽面|已上传 1 个"} {
		if !strings.Contains(txt, want) {
			t.Errorf("dialog lacks %q: %s", want, txt)
		}
	}
	if path := os.Getenv("UKEY_DOCS_SCREENSHOT"); path != "" {
		saveCapture(t, w, path)
	}

	// A text file renamed .pdf: refused in a sentence shown in the dialog, nothing added.
	d.picked(renewal.DocOther, storage.NewFileURI(writeFile(t, dir, "说明.pdf", []byte("plain text"), 0)))
	d.work.Wait()
	if txt := screenText(d.root); !strings.Contains(txt, "只能上传 PDF、JPG 或 PNG 文件") || !strings.Contains(txt, "其他|未上传") {
		t.Errorf("wrong type not said in the dialog: %s", txt)
	}
	if n := len(serviceDocs(t, acc, a.ID)); n != 3 {
		t.Fatalf("%d documents after a refused file", n)
	}

	// View opens the saved copy.
	form0 := apptest.Get[model.DocList](t, vm.Docs).Of(renewal.DocApplicationForm)[0]
	fyne.DoAndWait(func() { test.Tap(d.Buttons["view/"+form0.ID]) })
	d.work.Wait()
	if len(opened) != 1 || !strings.HasSuffix(opened[0], "盖章申请表.pdf") {
		t.Fatalf("opened %v", opened)
	}

	// Delete asks first; no keeps it, yes deletes it.
	back := apptest.Get[model.DocList](t, vm.Docs).Of(renewal.DocIDBack)[0]
	fyne.DoAndWait(func() { test.Tap(d.Buttons["delete/"+back.ID]) })
	if d.confirm == nil {
		t.Fatal("delete without a confirmation")
	}
	fyne.DoAndWait(d.confirm.Dismiss)
	d.work.Wait()
	if n := len(serviceDocs(t, acc, a.ID)); n != 3 {
		t.Fatalf("answering no deleted: %d left", n)
	}
	fyne.DoAndWait(func() { test.Tap(d.Buttons["delete/"+back.ID]) })
	fyne.DoAndWait(d.confirm.Confirm)
	d.work.Wait()
	if _, ok := d.Buttons["view/"+back.ID]; ok || len(d.Buttons) != 4+2+2 {
		t.Fatalf("after the delete: %v", keys())
	}
	if txt := screenText(d.root); !strings.Contains(txt, "已删除身份证国徽面“身份证背面.png”。") || !strings.Contains(txt, "身份证国徽面|未上传") {
		t.Errorf("delete not shown: %s", txt)
	}
	if n := len(serviceDocs(t, acc, a.ID)); n != 2 {
		t.Fatalf("%d documents on the service after a delete", n)
	}

	// Submitted: view only, and the dialog says why.
	if err := vm.Submit(ctx, a.ID, ""); err != nil {
		t.Fatal(err)
	}
	if err := vm.ListDocuments(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys() {
		if !strings.HasPrefix(k, "view/") {
			t.Errorf("%s offered while pending review", k)
		}
	}
	if len(d.Buttons) != 2 {
		t.Errorf("view buttons: %v", keys())
	}
	if txt := screenText(d.root); !strings.Contains(txt, "这份申请当前是“待审核”，资料只能查看") {
		t.Errorf("no read-only note: %s", txt)
	}
	if path := os.Getenv("UKEY_DOCS_SCREENSHOT_RO"); path != "" {
		saveCapture(t, w, path)
	}

	// Closed: it no longer follows the view-model.
	fyne.DoAndWait(d.dlg.Hide)
	d.work.Wait()
	before := d.Buttons
	if err := vm.ListDocuments(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	_ = vm.Docs.Set(model.DocList{})
	if !reflect.DeepEqual(d.Buttons, before) {
		t.Error("a closed dialog still rebuilds")
	}
}

func saveCapture(t *testing.T, w fyne.Window, path string) {
	t.Helper()
	var buf bytes.Buffer
	fyne.DoAndWait(func() {
		if err := png.Encode(&buf, w.Canvas().Capture()); err != nil {
			t.Error(err)
		}
	})
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A document whose stored name would climb out of Dir or is not a file
// name is saved under a safe name in Dir all the same.
func TestOpenDocumentSavesInsideDir(t *testing.T) {
	e := apptest.NewService(t)
	vm, acc := apptest.AppsVM(t, e)
	ctx := t.Context()
	a, err := acc.Client().CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: e.Serials["near"]})
	if err != nil {
		t.Fatal(err)
	}
	if err := vm.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"../../etc/passwd.pdf", `..\..\boot.ini`, "..", "a:b*c?.png"} {
		// The service refuses such names now; one stored before it did
		// (written here behind its back) must still be saved safely.
		d, err := acc.Client().UploadDocument(ctx, a.ID, renewal.UploadDocumentRequest{Kind: renewal.DocOther, Name: "scan.png"}, pngHead)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if _, err := e.Store.DB().Exec(`UPDATE documents SET name = $1 WHERE id = $2`, name, d.ID); err != nil {
			t.Fatal(err)
		}
		if err := vm.ListDocuments(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		path, err := vm.OpenDocument(ctx, a.ID, d.ID)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if filepath.Dir(path) != vm.Dir || !strings.HasSuffix(path, ".png") || strings.ContainsAny(filepath.Base(path), `\:*?`) {
			t.Errorf("%q saved as %s", name, path)
		}
	}
}
