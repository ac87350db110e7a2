package model

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/client/update"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// UpdateCheckEvery is how often a running client asks its service for a
// newer version (once at start, then this often: clients stay open all
// day).
const UpdateCheckEvery = 6 * time.Hour

// Updater is what the update banner needs of client/update.Updater.
type Updater interface {
	Check(ctx context.Context) (*renewal.ClientUpdate, error)
	Download(ctx context.Context, a renewal.ClientUpdate, progress func(done, total int64)) (string, error)
	CanInstall() error
	Install(path string) error
}

// Why an update is not installed now (from UpdateVM's hold).
var (
	// ErrCustomerPresent: counter mode serves a customer; updates wait
	// for the next customer (or the idle sign-out).
	ErrCustomerPresent = errors.New("a customer is being served")
	// ErrUpdating: a client update is being handed to its installer, so
	// no write may start.
	ErrUpdating = errors.New("the client is being updated")
)

// UpdateVM is the "新版本可用" banner: it asks the service, shows the
// version and what changed, downloads and checks the installer on 下载并安装,
// and hands it to the installer only when hold lets it (never during a
// token write; in counter mode only between customers), then quits.
type UpdateVM struct {
	up      Updater
	hold    func() (release func(), err error)
	quit    func()
	openURL func(*url.URL) error

	// Shown: an update is offered (and not put off with 稍后).
	Shown binding.Bool
	// Title is "新版本可用 1.2.4"; Notes what changed, in the UI's language.
	Title binding.String
	Notes binding.String
	// Action names the main button: 下载并安装, 立即安装, 下载, 打开下载页.
	Action binding.String
	// Status is the progress or why not; Busy while downloading.
	Status binding.String
	Busy   binding.Bool
	// Required: the client is below the release's minimum (no 稍后).
	Required binding.Bool

	mu         sync.Mutex
	offer      *renewal.ClientUpdate
	path       string // the checked installer, once downloaded
	putOff     string // the version 稍后 put off
	cancelDown context.CancelFunc
}

// NewUpdateVM returns the banner's view-model. hold is asked right before
// the installer starts: it returns a release function, or why not now
// (ErrWriteRunning, ErrCustomerPresent); quit ends the program once the
// installer runs; openURL opens the download page (an unsigned build).
func NewUpdateVM(up Updater, hold func() (func(), error), quit func(), openURL func(*url.URL) error) *UpdateVM {
	return &UpdateVM{up: up, hold: hold, quit: quit, openURL: openURL,
		Shown: binding.NewBool(), Title: binding.NewString(), Notes: binding.NewString(), Action: binding.NewString(),
		Status: binding.NewString(), Busy: binding.NewBool(), Required: binding.NewBool()}
}

// Run checks now and every UpdateCheckEvery until ctx ends.
func (vm *UpdateVM) Run(ctx context.Context) {
	t := time.NewTicker(UpdateCheckEvery)
	defer t.Stop()
	for {
		_ = vm.Check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check asks the service once and shows what it offers. A failure to ask
// shows nothing (the next check tries again).
func (vm *UpdateVM) Check(ctx context.Context) error {
	a, err := vm.up.Check(ctx)
	if err != nil {
		return err
	}
	vm.mu.Lock()
	same := a != nil && vm.offer != nil && vm.offer.Version == a.Version && vm.offer.SHA256 == a.SHA256
	if !same {
		vm.offer, vm.path = a, ""
	}
	putOff := a != nil && vm.putOff == a.Version && !a.Required
	busy := vm.cancelDown != nil
	vm.mu.Unlock()
	if same || busy {
		return nil
	}
	if a == nil {
		_ = vm.Shown.Set(false)
		return nil
	}
	notes := a.NotesZH
	if CurrentLang() == LangEN {
		notes = a.NotesEN
	}
	_ = vm.Title.Set(lang.X("update.title", "新版本可用 {{.Version}}", map[string]any{"Version": a.Version}))
	_ = vm.Notes.Set(notes)
	_ = vm.Required.Set(a.Required)
	_ = vm.Status.Set("")
	if a.Required {
		_ = vm.Status.Set(lang.X("update.required", "此版本过旧，续期服务要求更新后再使用。"))
	}
	_ = vm.Action.Set(vm.actionText(""))
	_ = vm.Shown.Set(!putOff)
	return nil
}

// actionText names the main button for an installer at path ("": not
// downloaded yet).
func (vm *UpdateVM) actionText(path string) string {
	switch err := vm.up.CanInstall(); {
	case errors.Is(err, update.ErrProgramUnsigned):
		return lang.X("update.open_page", "打开下载页")
	case err != nil:
		return lang.X("update.download", "下载")
	case path != "":
		return lang.X("update.install_now", "立即安装")
	}
	return lang.X("update.download_install", "下载并安装")
}

// Offer is the update shown (nil: none).
func (vm *UpdateVM) Offer() *renewal.ClientUpdate {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.offer
}

// Later hides the banner for this version until the program starts again
// (a required update stays), and stops a download under way.
func (vm *UpdateVM) Later() {
	vm.mu.Lock()
	if vm.offer != nil && !vm.offer.Required {
		vm.putOff = vm.offer.Version
	}
	required := vm.offer != nil && vm.offer.Required
	if vm.cancelDown != nil {
		vm.cancelDown()
	}
	vm.mu.Unlock()
	if !required {
		_ = vm.Shown.Set(false)
	}
}

// Act is the main button. It blocks (call it from a goroutine): it
// downloads and checks the installer, then, if hold lets it, starts the
// installer and quits. An unsigned build opens the download page instead;
// a Debian package is left for the user to install, the command shown.
func (vm *UpdateVM) Act(ctx context.Context) error {
	vm.mu.Lock()
	a, path := vm.offer, vm.path
	if a == nil || vm.cancelDown != nil {
		vm.mu.Unlock()
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	vm.cancelDown = cancel
	vm.mu.Unlock()
	defer func() {
		cancel()
		vm.mu.Lock()
		vm.cancelDown = nil
		vm.mu.Unlock()
	}()
	if errors.Is(vm.up.CanInstall(), update.ErrProgramUnsigned) {
		return vm.openPage(a)
	}
	if path == "" {
		_ = vm.Busy.Set(true)
		p, err := vm.up.Download(ctx, *a, func(done, total int64) {
			_ = vm.Status.Set(lang.X("update.downloading", "正在下载 {{.Done}} / {{.Total}} MB…",
				map[string]any{"Done": mb(done), "Total": mb(total)}))
		})
		_ = vm.Busy.Set(false)
		if err != nil {
			_ = vm.Status.Set(updateErrText(err))
			return err
		}
		path = p
		vm.mu.Lock()
		if vm.offer == a {
			vm.path = p
		}
		vm.mu.Unlock()
		_ = vm.Action.Set(vm.actionText(path))
	}
	if errors.Is(vm.up.CanInstall(), update.ErrManualInstall) {
		_ = vm.Status.Set(lang.X("update.manual", "已下载并核对安装包。请在终端中运行：{{.Command}}",
			map[string]any{"Command": update.InstallCommand(path)}))
		return update.ErrManualInstall
	}
	release, err := vm.hold()
	if err != nil {
		_ = vm.Status.Set(updateErrText(err))
		return err
	}
	if err := vm.up.Install(path); err != nil {
		release()
		_ = vm.Status.Set(updateErrText(err))
		return err
	}
	_ = vm.Status.Set(lang.X("update.installing", "安装程序已启动，本程序即将退出。"))
	if vm.quit != nil {
		vm.quit() // the hold is kept: nothing may start a write while the program closes
	}
	return nil
}

// openPage opens the installer's address in the browser: an unsigned
// build cannot check the publisher, so it does not run the installer.
func (vm *UpdateVM) openPage(a *renewal.ClientUpdate) error {
	u, err := url.Parse(a.URL)
	if err == nil && vm.openURL != nil {
		err = vm.openURL(u)
	}
	if err != nil {
		_ = vm.Status.Set(lang.X("update.unsigned_no_browser", "本程序是未签名的开发版本，不能自动安装更新。请从 {{.URL}} 下载安装。", map[string]any{"URL": a.URL}))
		return err
	}
	_ = vm.Status.Set(lang.X("update.unsigned", "本程序是未签名的开发版本，不能自动安装更新：已在浏览器中打开下载地址。"))
	return update.ErrProgramUnsigned
}

func mb(n int64) string { return fmt.Sprintf("%.1f", float64(n)/(1<<20)) }

// updateErrText says why an update was not downloaded or installed, and
// what to do.
func updateErrText(err error) string {
	switch {
	case errors.Is(err, ErrWriteRunning):
		return lang.X("update.wait_write", "正在把证书写入 UKey：写入完成后再点击“立即安装”。安装包已下载并核对。")
	case errors.Is(err, ErrCustomerPresent):
		return lang.X("update.wait_customer", "正在为客户办理：请在点击“下一位客户”后再安装更新。安装包已下载并核对。")
	case errors.Is(err, update.ErrHashMismatch), errors.Is(err, update.ErrSizeMismatch):
		return lang.X("update.bad_hash", "下载的安装包与续期服务公布的校验值不符，已删除。请稍后重试；仍不符请联系发证机构。")
	case errors.Is(err, update.ErrOtherSigner):
		return lang.X("update.other_signer", "安装包的签名者不是本程序的发布者，已删除，不会安装。请联系发证机构。")
	case errors.Is(err, update.ErrUnsigned), errors.Is(err, update.ErrBadSignature), errors.Is(err, update.ErrNotInstaller):
		return lang.X("update.bad_signature", "安装包没有有效的数字签名，已删除，不会安装。请联系发证机构。")
	case errors.Is(err, update.ErrTooLarge):
		return lang.X("update.too_large", "安装包超过 {{.MB}} MB 的上限，已拒绝下载。请联系发证机构。", map[string]any{"MB": renewal.MaxClientInstallerBytes >> 20})
	case errors.Is(err, client.ErrInstallerURL):
		return lang.X("update.bad_url", "续期服务给出的下载地址不是 https，已拒绝下载。请联系发证机构。")
	case errors.Is(err, context.Canceled):
		return lang.X("update.cancelled", "已停止下载。")
	}
	if ne := net.Error(nil); errors.As(err, &ne) {
		return lang.X("update.network", "无法下载安装包，请检查网络后重试。")
	}
	return lang.X("update.failed", "更新失败：{{.Err}}", map[string]any{"Err": errText(err)})
}
