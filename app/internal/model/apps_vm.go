package model

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"

	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"

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

// RowOf is application a as the list shows it under policy p.
func (vm *ApplicationsVM) RowOf(a renewal.Application, p renewal.Policy) AppRow {
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
		r := vm.RowOf(a, p)
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
