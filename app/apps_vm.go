package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"

	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// MaxListedApplications is how many applications the list reads (the
// service's page size; a clerk's organisation rarely has more open).
const MaxListedApplications = renewal.MaxPageSize

// AppStep is one step of an application's progress.
type AppStep struct {
	Name string
	Done bool
}

// AppRow is one application as the list shows it.
type AppRow struct {
	ID         string
	CertSerial string
	Status     string // 编辑中, 待审核 …
	Level      Level
	Payment    string // 未支付, 已支付 …
	Price      string
	Updated    string
	Reason     string // the reviewer's, when rejected or on hold
	Steps      []AppStep
	Current    int // index of the first step not done; len(Steps) when all are
	// Docs names the uploaded documents (read for applications that take uploads).
	Docs []string
	// Actions are exactly the clerk's renewal.AllowedActions in this state.
	Actions []renewal.Action
	App     renewal.Application
}

// Can reports whether the row offers action a.
func (r AppRow) Can(a renewal.Action) bool { return slices.Contains(r.Actions, a) }

// ApplicationsVM lists the organisation's applications with their state,
// progress and allowed actions, and runs the clerk's actions on them.
type ApplicationsVM struct {
	acc   *Account
	clock Clock
	fmt   Formatter
	// Open opens a saved file with the OS (the form PDF); the app passes
	// Fyne's OpenURL, tests record the path.
	Open func(path string) error
	// Dir is where downloaded form PDFs are saved.
	Dir string

	Rows binding.Item[[]AppRow]
	// Docs is the documents of the application ListDocuments last read
	// (the documents dialog shows it when its AppID is the dialog's).
	Docs    binding.Item[DocList]
	Message binding.String
	Busy    binding.Bool

	mu sync.Mutex
	// reloadErr is the sentence of the last failed Reload ("" after a good one).
	reloadErr string
	// docsGen counts document reads: only the newest one's answer is shown.
	docsGen uint64
	policy  *renewal.Policy
	busy    bool
}

// NewApplicationsVM returns the view-model over acc.
func NewApplicationsVM(acc *Account, clock Clock, f Formatter) *ApplicationsVM {
	if clock == nil {
		clock = SystemClock{}
	}
	return &ApplicationsVM{acc: acc, clock: clock, fmt: f,
		Rows:    binding.NewItem(func(a, b []AppRow) bool { return reflect.DeepEqual(a, b) }),
		Docs:    binding.NewItem(func(a, b DocList) bool { return reflect.DeepEqual(a, b) }),
		Message: binding.NewString(), Busy: binding.NewBool()}
}

// StatusText names a status in the interface language.
func StatusText(s renewal.Status) (string, Level) {
	switch s {
	case renewal.StatusEditing:
		return lang.X("status.editing", "编辑中"), LevelNotice
	case renewal.StatusPendingReview:
		return lang.X("status.pending_review", "待审核"), LevelNotice
	case renewal.StatusOnHold:
		return lang.X("status.on_hold", "风险核查中"), LevelWarning
	case renewal.StatusApproved:
		return lang.X("status.approved", "审核通过"), LevelOK
	case renewal.StatusRejected:
		return lang.X("status.rejected", "审核不通过"), LevelError
	case renewal.StatusReadyToDownload:
		return lang.X("status.ready_to_download", "待下载"), LevelOK
	case renewal.StatusInstalled:
		return lang.X("status.installed", "已办理"), LevelOK
	case renewal.StatusCancelled:
		return lang.X("status.cancelled", "已取消"), LevelWarning
	}
	return string(s), LevelWarning
}

// PaymentText names a payment state.
func PaymentText(p renewal.Payment) string {
	switch p {
	case renewal.PaymentUnpaid:
		return lang.X("payment.unpaid", "未支付")
	case renewal.PaymentPaid:
		return lang.X("payment.paid", "已支付")
	case renewal.PaymentRefunding:
		return lang.X("payment.refunding", "退款中")
	case renewal.PaymentRefunded:
		return lang.X("payment.refunded", "已退款")
	}
	return string(p)
}

// Steps is an application's progress under policy p, in the order the
// policy takes them.
func Steps(a renewal.Application, p renewal.Policy) []AppStep {
	st := a.Status
	reviewed := st == renewal.StatusApproved || st == renewal.StatusReadyToDownload || st == renewal.StatusInstalled
	fill := AppStep{lang.X("step.fill", "填写申请"), st != renewal.StatusEditing && st != renewal.StatusRejected}
	review := AppStep{lang.X("step.review", "审核"), reviewed}
	pay := AppStep{lang.X("step.pay", "支付"), a.Payment == renewal.PaymentPaid}
	steps := []AppStep{fill, review, pay}
	if p.PaymentTiming == renewal.PayBeforeReview {
		steps = []AppStep{fill, pay, review}
	}
	if p.FinVerifyRequired {
		steps = append(steps, AppStep{lang.X("step.finverify", "金融认证"),
			a.FinVerify == renewal.FinVerifyVerified || st == renewal.StatusReadyToDownload || st == renewal.StatusInstalled})
	}
	return append(steps, AppStep{lang.X("step.write", "写入 UKey"), st == renewal.StatusInstalled})
}

// Policy returns the service's policy, read once.
func (vm *ApplicationsVM) Policy(ctx context.Context) (renewal.Policy, error) {
	vm.mu.Lock()
	p := vm.policy
	vm.mu.Unlock()
	if p != nil {
		return *p, nil
	}
	p, err := vm.acc.Client().Policy(ctx)
	if err != nil {
		return renewal.Policy{}, err
	}
	vm.mu.Lock()
	vm.policy = p
	vm.mu.Unlock()
	return *p, nil
}

func (vm *ApplicationsVM) row(a renewal.Application, p renewal.Policy) AppRow {
	status, lvl := StatusText(a.Status)
	r := AppRow{ID: a.ID, CertSerial: a.CertSerial, Status: status, Level: lvl, Payment: PaymentText(a.Payment),
		Price: vm.fmt.Money(a.PriceFen), Updated: vm.fmt.Date(a.UpdatedAt),
		Actions: renewal.AllowedActions(a.State, p, renewal.RoleClerk), App: a}
	if a.Status == renewal.StatusRejected || a.Status == renewal.StatusOnHold {
		r.Reason = a.ReviewReason
	}
	r.Steps = Steps(a, p)
	r.Current = len(r.Steps)
	for i, s := range r.Steps {
		if !s.Done {
			r.Current = i
			break
		}
	}
	if a.Status == renewal.StatusCancelled {
		r.Current = -1
	}
	return r
}

// Reload reads the list again.
func (vm *ApplicationsVM) Reload(ctx context.Context) error {
	p, err := vm.Policy(ctx)
	if err != nil {
		return vm.failReload(ctx, err)
	}
	page, err := vm.acc.Client().ListApplications(ctx, renewal.ListApplicationsRequest{PageSize: MaxListedApplications})
	if err != nil {
		return vm.failReload(ctx, err)
	}
	rows := make([]AppRow, 0, len(page.Items))
	for _, a := range page.Items {
		r := vm.row(a, p)
		if r.Can(renewal.ActionUploadDocument) {
			if docs, err := vm.acc.Client().ListDocuments(ctx, a.ID); err == nil {
				for _, d := range docs.Items {
					r.Docs = append(r.Docs, d.Name)
				}
			}
		}
		rows = append(rows, r)
	}
	_ = vm.Rows.Set(rows)
	vm.mu.Lock()
	stale := vm.reloadErr // the last failed reload's sentence, now untrue
	vm.reloadErr = ""
	vm.mu.Unlock()
	if len(rows) == 0 {
		_ = vm.Message.Set(lang.X("apps.none_yet", "还没有续期申请。在“续期申请”中选择 UKey 上的证书并填写。"))
	} else if msg, _ := vm.Message.Get(); msg == lang.X("apps.none_yet", "还没有续期申请。在“续期申请”中选择 UKey 上的证书并填写。") || (stale != "" && msg == stale) {
		_ = vm.Message.Set("")
	}
	return nil
}

// failReload says why the list could not be read, and remembers the
// sentence so the next good read takes it away.
func (vm *ApplicationsVM) failReload(ctx context.Context, err error) error {
	vm.acc.Ended(ctx, err)
	msg := ServiceErrText(err)
	vm.mu.Lock()
	vm.reloadErr = msg
	vm.mu.Unlock()
	_ = vm.Message.Set(msg)
	return err
}

func (vm *ApplicationsVM) fail(ctx context.Context, err error) error {
	vm.acc.Ended(ctx, err)
	_ = vm.Message.Set(ServiceErrText(err))
	return err
}

// Row returns the listed row of application id.
func (vm *ApplicationsVM) Row(id string) (AppRow, bool) {
	rows, _ := vm.Rows.Get()
	for _, r := range rows {
		if r.ID == id {
			return r, true
		}
	}
	return AppRow{}, false
}

// ErrActionNotOffered: the row does not offer that action in its state.
var ErrActionNotOffered = errors.New("action not offered in this state")

// ErrInProgress: another action of the same screen is still running.
var ErrInProgress = errors.New("another action is in progress")

func (vm *ApplicationsVM) act(ctx context.Context, id string, a renewal.Action, call func(r AppRow) error, done string) error {
	return vm.actThen(ctx, id, a, call, done, nil)
}

// actThen is act with then run after the call and the reload, before Busy
// is released: then gets the call's error (nil when it succeeded) and its
// result is actThen's. It is not run when the action is not offered or
// another is running (nothing was sent).
func (vm *ApplicationsVM) actThen(ctx context.Context, id string, a renewal.Action, call func(r AppRow) error, done string, then func(err error) error) error {
	r, ok := vm.Row(id)
	if !ok || !r.Can(a) {
		_ = vm.Message.Set(lang.X("apps.not_offered", "当前状态下不能进行这个操作。"))
		return fmt.Errorf("%s on %s: %w", a, id, ErrActionNotOffered)
	}
	vm.mu.Lock()
	if vm.busy {
		vm.mu.Unlock()
		return ErrInProgress
	}
	vm.busy = true
	vm.mu.Unlock()
	_ = vm.Busy.Set(true)
	defer func() {
		vm.mu.Lock()
		vm.busy = false
		vm.mu.Unlock()
		_ = vm.Busy.Set(false)
	}()
	if err := call(r); err != nil {
		_ = vm.fail(ctx, err)
		if renewal.CodeOf(err) == renewal.CodeStaleVersion {
			msg, _ := vm.Message.Get()
			_ = vm.Reload(ctx)
			_ = vm.Message.Set(msg)
		}
		if then != nil {
			return then(err)
		}
		return err
	}
	err := vm.Reload(ctx)
	_ = vm.Message.Set(done)
	if then != nil {
		// The call succeeded: a list that could not be read again must
		// not make it look failed (an upload would be sent twice).
		return then(nil)
	}
	return err
}

// Delete deletes a draft.
func (vm *ApplicationsVM) Delete(ctx context.Context, id string) error {
	return vm.act(ctx, id, renewal.ActionDelete, func(r AppRow) error {
		return vm.acc.Client().DeleteApplication(ctx, id, r.App.Version)
	}, lang.X("apps.deleted", "草稿已删除。"))
}

// Submit sends an application for review with the clerk's comment.
func (vm *ApplicationsVM) Submit(ctx context.Context, id, comment string) error {
	req := renewal.SubmitRequest{Comment: comment}
	return vm.act(ctx, id, renewal.ActionSubmit, func(r AppRow) error {
		req.Version = r.App.Version
		_, err := vm.acc.Client().Submit(ctx, id, req)
		return err
	}, lang.X("apps.submitted", "已提交审核，审核一般在 3 个工作日内完成。"))
}

// Cancel gives an application up (a paid one is refunded).
func (vm *ApplicationsVM) Cancel(ctx context.Context, id string) error {
	return vm.act(ctx, id, renewal.ActionCancel, func(r AppRow) error {
		_, err := vm.acc.Client().Cancel(ctx, id, renewal.VersionRequest{Version: r.App.Version})
		return err
	}, lang.X("apps.cancelled", "申请已取消；已支付的费用将原路退回。"))
}

// OpenFormPDF downloads the application form and opens it with the OS for
// printing. It returns the saved file's path.
func (vm *ApplicationsVM) OpenFormPDF(ctx context.Context, id string) (string, error) {
	pdf, err := vm.acc.Client().FormPDF(ctx, id)
	if err != nil {
		return "", vm.fail(ctx, err)
	}
	dir := vm.Dir
	if dir == "" {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, "ukeyrenew-form-"+filepath.Base(id)+".pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		_ = vm.Message.Set(lang.X("apps.save_failed", "无法保存申请表：{{.Err}}", map[string]any{"Err": err}))
		return "", fmt.Errorf("save form pdf: %w", err)
	}
	if vm.Open != nil {
		if err := vm.Open(path); err != nil {
			_ = vm.Message.Set(lang.X("apps.open_failed", "申请表已保存到 {{.Path}}，但无法打开：{{.Err}}", map[string]any{"Path": path, "Err": err}))
			return path, fmt.Errorf("open %s: %w", path, err)
		}
	}
	_ = vm.Message.Set(lang.X("apps.form_saved", "申请表已保存到 {{.Path}}。请打印、签字并加盖公章后上传扫描件。", map[string]any{"Path": path}))
	return path, nil
}

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

// ---- documents ----

// DocKinds are the kinds of document a clerk uploads, in the order the
// documents dialog shows them: the signed form scan, then the holder's ID
// card photos (optional), then anything else the reviewer asked for.
func DocKinds() []renewal.DocumentKind {
	return []renewal.DocumentKind{renewal.DocApplicationForm, renewal.DocIDFront, renewal.DocIDBack, renewal.DocOther}
}

// DocKindText names a document kind in the interface language.
func DocKindText(k renewal.DocumentKind) string {
	switch k {
	case renewal.DocApplicationForm:
		return lang.X("docs.kind.application_form", "申请表扫描件")
	case renewal.DocIDFront:
		return lang.X("docs.kind.id_front", "身份证人像面")
	case renewal.DocIDBack:
		return lang.X("docs.kind.id_back", "身份证国徽面")
	case renewal.DocOther:
		return lang.X("docs.kind.other", "其他")
	}
	return string(k)
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

func (vm *ApplicationsVM) docRow(d renewal.Document) DocRow {
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
		dl.Items = append(dl.Items, vm.docRow(d))
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
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, filepath.Base(path))
	if len([]rune(name)) > 200 {
		name = string([]rune(name)[:200])
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
