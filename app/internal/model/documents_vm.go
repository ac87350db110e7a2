package model

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"fyne.io/fyne/v2/lang"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// Upload sends a scan (PDF, JPEG or PNG, at most renewal.MaxDocumentBytes)
// as the signed application form. A file that is too large or of another
// type is refused before anything is sent.
func (vm *ApplicationsVM) Upload(ctx context.Context, id, path string) error {
	return vm.UploadKind(ctx, id, renewal.DocApplicationForm, path)
}

// readLimited reads a file of at most max bytes, or says why not.
func readLimited(path string, max int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", path, err)
	case len(data) == 0:
		return nil, renewal.Errorf(renewal.CodeRequired, "document", "the file is empty")
	case len(data) > max:
		return nil, renewal.Errorf(renewal.CodeDocumentTooLarge, "document", "more than %d bytes", max)
	}
	return data, nil
}

// Documents lists what was uploaded to application id.
func (vm *ApplicationsVM) Documents(ctx context.Context, id string) ([]renewal.Document, error) {
	l, err := vm.acc.Client().ListDocuments(ctx, id)
	if err != nil {
		return nil, vm.fail(ctx, err)
	}
	return l.Items, nil
}

// DocRow is one uploaded document as the documents dialog lists it.
type DocRow struct {
	ID       string
	Kind     renewal.DocumentKind
	KindText string // 申请表扫描件, 身份证人像面 …
	Name     string // the file name the clerk uploaded
	Size     string // in KB, rounded up: "1 KB", "2,048 KB"
	Uploaded string // date and minute in the clerk's zone
	Doc      renewal.Document
}

// DocList is what was uploaded to one application, and what its state lets
// the clerk do with it.
type DocList struct {
	AppID     string
	Items     []DocRow // by kind in DocKinds order, then oldest first
	CanUpload bool     // the state allows renewal.ActionUploadDocument
	CanDelete bool     // the state allows renewal.ActionDeleteDocument
}

// Of returns the documents of kind k.
func (l DocList) Of(k renewal.DocumentKind) []DocRow {
	var out []DocRow
	for _, d := range l.Items {
		if d.Kind == k {
			out = append(out, d)
		}
	}
	return out
}

// MaxDocumentMB is renewal.MaxDocumentBytes in the MB the clerk is told.
const MaxDocumentMB = renewal.MaxDocumentBytes >> 20

// sizeKB writes n bytes as whole KB, rounded up so a small file is never "0 KB".
func sizeKB(n int64) string { return groupThousands((n+1023)/1024) + " KB" }

// DocRowOf is document d as the documents dialog lists it.
func (vm *ApplicationsVM) DocRowOf(d renewal.Document) DocRow {
	return DocRow{ID: d.ID, Kind: d.Kind, KindText: DocKindText(d.Kind), Name: d.Name,
		Size: sizeKB(d.Size), Uploaded: vm.fmt.dateTime(d.CreatedAt), Doc: d}
}

// ListDocuments reads what was uploaded to application id into Docs. On an
// error Docs keeps what it had and Message says what went wrong.
func (vm *ApplicationsVM) ListDocuments(ctx context.Context, id string) error {
	vm.mu.Lock()
	vm.docsGen++
	gen := vm.docsGen
	vm.mu.Unlock()
	l, err := vm.acc.Client().ListDocuments(ctx, id)
	if vm.superseded(gen) {
		return nil // a later read (another application's dialog) is what the screen shows
	}
	if err != nil {
		return vm.fail(ctx, err)
	}
	r, ok := vm.Row(id)
	dl := DocList{AppID: id, CanUpload: ok && r.Can(renewal.ActionUploadDocument), CanDelete: ok && r.Can(renewal.ActionDeleteDocument)}
	for _, d := range l.Items {
		dl.Items = append(dl.Items, vm.DocRowOf(d))
	}
	order := DocKinds()
	slices.SortStableFunc(dl.Items, func(a, b DocRow) int {
		ka, kb := slices.Index(order, a.Kind), slices.Index(order, b.Kind)
		if ka < 0 {
			ka = len(order)
		}
		if kb < 0 {
			kb = len(order)
		}
		if ka != kb {
			return ka - kb
		}
		return a.Doc.CreatedAt.Compare(b.Doc.CreatedAt)
	})
	if !vm.superseded(gen) { // not under mu: the test driver runs listeners inline
		_ = vm.Docs.Set(dl)
	}
	return nil
}

// superseded reports whether a document read newer than gen was started.
func (vm *ApplicationsVM) superseded(gen uint64) bool {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return gen != vm.docsGen
}

// doc returns the listed document docID of application id.
func (vm *ApplicationsVM) doc(id, docID string) (DocRow, bool) {
	dl, _ := vm.Docs.Get()
	if dl.AppID != id {
		return DocRow{}, false
	}
	for _, d := range dl.Items {
		if d.ID == docID {
			return d, true
		}
	}
	return DocRow{}, false
}

// docErrText says in words why a document was refused and what to do.
func docErrText(err error) string {
	var e *renewal.Error
	if !errors.As(err, &e) {
		return ServiceErrText(err)
	}
	code := e.Code
	if len(e.Fields) > 0 {
		code = e.Fields[0].Code
	}
	switch code {
	case renewal.CodeDocumentTooLarge:
		return lang.X("docs.too_large", "文件太大：每个文件最大 {{.MB}} MB。请降低扫描分辨率（200 dpi 即可）或压缩后重新上传。", map[string]any{"MB": MaxDocumentMB})
	case renewal.CodeDocumentType:
		return lang.X("docs.wrong_type", "只能上传 PDF、JPG 或 PNG 文件；这个文件的内容不是其中一种（只改扩展名不行）。请重新扫描或另存为 PDF 后上传。")
	case renewal.CodeRequired:
		if e.Field == "document" || len(e.Fields) == 0 {
			return lang.X("docs.empty", "这个文件是空的，请重新选择扫描件。")
		}
	case renewal.CodeTooLong:
		if e.Field == "document" {
			return lang.X("docs.too_many", "每份申请最多上传 {{.Max}} 个文件，请先删除不需要的文件再上传。", map[string]any{"Max": renewal.MaxDocumentsPerApp})
		}
	case renewal.CodeActionNotAllowed:
		return lang.X("docs.not_allowed", "这份申请的状态已经变化，现在不能上传或删除资料；列表已刷新。")
	}
	return ServiceErrText(err)
}

// docFailed says why a document action failed; when the service refused it
// (not when it could not be reached) the state may have moved on, so the
// list and the documents are read again, the message kept.
func (vm *ApplicationsVM) docFailed(ctx context.Context, id string, err error) error {
	msg := docErrText(err)
	var api *client.APIError
	if errors.As(err, &api) {
		_ = vm.Reload(ctx)
		_ = vm.ListDocuments(ctx, id)
	}
	_ = vm.Message.Set(msg)
	return err
}

// UploadKind sends a file (PDF, JPEG or PNG, at most
// renewal.MaxDocumentBytes) as a document of kind k. A file that is empty,
// too large or of another type is refused before anything is sent, and the
// documents are then unchanged.
func (vm *ApplicationsVM) UploadKind(ctx context.Context, id string, k renewal.DocumentKind, path string) error {
	if !k.Valid() {
		err := renewal.Errorf(renewal.CodeInvalidField, "kind", "unknown document kind %q", k)
		_ = vm.Message.Set(ServiceErrText(err))
		return err
	}
	data, err := readLimited(path, renewal.MaxDocumentBytes)
	if err != nil {
		if renewal.CodeOf(err) == renewal.CodeUnknown {
			_ = vm.Message.Set(lang.X("apps.read_failed", "无法读取文件：{{.Err}}", map[string]any{"Err": err}))
		} else {
			_ = vm.Message.Set(docErrText(err))
		}
		return err
	}
	if _, err := renewal.SniffDocument(data); err != nil {
		_ = vm.Message.Set(docErrText(err))
		return err
	}
	name := docName(path)
	return vm.actThen(ctx, id, renewal.ActionUploadDocument, func(AppRow) error {
		_, err := vm.acc.Client().UploadDocument(ctx, id, renewal.UploadDocumentRequest{Kind: k, Name: name}, data)
		return err
	}, lang.X("apps.uploaded", "已上传 {{.Name}}。", map[string]any{"Name": name}), vm.docsThen(ctx, id))
}

// docsThen follows a document action the service was asked for: the
// documents are read again (the done message kept), or the refusal is
// explained. Either happens before Busy is released, so the dialog's
// buttons come back with the new list.
func (vm *ApplicationsVM) docsThen(ctx context.Context, id string) func(err error) error {
	return func(err error) error {
		if err != nil {
			return vm.docFailed(ctx, id, err)
		}
		msg, _ := vm.Message.Get()
		if vm.ListDocuments(ctx, id) == nil { // else the message says the list could not be read
			_ = vm.Message.Set(msg)
		}
		return nil
	}
}

// docName is the file name sent with an upload: the base name, on one
// line, at most 200 characters (what the service accepts).
func docName(path string) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r < ' ' || r == 0x7f:
			return ' '
		case strings.ContainsRune(`\/:*?"<>|`, r):
			return '_' // not in a file name on Windows (renewal.ValidateFileName)
		}
		return r
	}, filepath.Base(path))
	if len([]rune(name)) > renewal.MaxDocumentNameRunes {
		name = string([]rune(name)[:renewal.MaxDocumentNameRunes])
	}
	name = strings.TrimRight(name, ". ")
	if strings.Trim(name, ". ") == "" {
		name = lang.X("docs.unnamed", "资料")
	}
	return name
}

// DeleteDocument removes document docID from application id (where the
// state allows it: the clerk confirms first, in the dialog).
func (vm *ApplicationsVM) DeleteDocument(ctx context.Context, id, docID string) error {
	done := lang.X("docs.deleted_any", "资料已删除。")
	if d, ok := vm.doc(id, docID); ok {
		done = lang.X("docs.deleted", "已删除{{.Kind}}“{{.Name}}”。", map[string]any{"Kind": d.KindText, "Name": d.Name})
	}
	return vm.actThen(ctx, id, renewal.ActionDeleteDocument, func(AppRow) error {
		return vm.acc.Client().DeleteDocument(ctx, id, docID)
	}, done, vm.docsThen(ctx, id))
}

// docExt is the file extension for a document's content type (the type
// was sniffed from the bytes, so it is the one the OS should open it as).
func docExt(ct string) string {
	switch ct {
	case renewal.ContentPDF:
		return ".pdf"
	case renewal.ContentJPEG:
		return ".jpg"
	case renewal.ContentPNG:
		return ".png"
	}
	return ".bin"
}

// OpenDocument downloads document docID of application id into Dir and
// opens it with the OS. It returns the saved file's path.
func (vm *ApplicationsVM) OpenDocument(ctx context.Context, id, docID string) (string, error) {
	data, ct, err := vm.acc.Client().GetDocument(ctx, id, docID)
	if err != nil {
		_ = vm.fail(ctx, err)
		return "", err
	}
	dir := vm.Dir
	if dir == "" {
		dir = os.TempDir()
	}
	base := "ukeyrenew-" + filepath.Base(docID)
	if d, ok := vm.doc(id, docID); ok {
		name := strings.TrimSuffix(docName(d.Name), filepath.Ext(d.Name))
		name = strings.Map(func(r rune) rune {
			if strings.ContainsRune(`/\:*?"<>|`, r) {
				return '_'
			}
			return r
		}, name)
		if name != "" && name != "." && name != ".." {
			base += "-" + name
		}
	}
	path := filepath.Join(dir, base+docExt(ct))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		_ = vm.Message.Set(lang.X("docs.save_failed", "无法保存文件：{{.Err}}", map[string]any{"Err": err}))
		return "", fmt.Errorf("save document: %w", err)
	}
	if vm.Open != nil {
		if err := vm.Open(path); err != nil {
			_ = vm.Message.Set(lang.X("docs.open_failed", "文件已保存到 {{.Path}}，但无法打开：{{.Err}}", map[string]any{"Path": path, "Err": err}))
			return path, fmt.Errorf("open %s: %w", path, err)
		}
	}
	_ = vm.Message.Set(lang.X("docs.saved", "已保存到 {{.Path}} 并打开。", map[string]any{"Path": path}))
	return path, nil
}
