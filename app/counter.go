package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	appwidget "github.com/ukeyrenew/ukeyrenew/app/internal/widget"
)

// Counter mode (--counter) is for the service counters of a CA, where one
// PC serves one customer after another. Nothing of a customer may reach
// the next one:
//
//   - Each customer has a Journey of their own: a new Account (a new
//     client, the session in memory only), new view-models and screens, a
//     context that every goroutine of the journey runs under, and a folder
//     for the files it downloads (the application form PDF).
//   - "Next customer" (the button on the counter bar, or Ctrl+N from the
//     Counter menu, which works even while an entry has the focus) cancels
//     that context, closes every dialog over the window, clears the
//     clipboard (a customer may have copied an ID number), detaches the old
//     journey from the shared Tokens view-model and the tabs, builds a new
//     journey, deletes the folder and signs the old session out at the
//     service (the refresh token is revoked there; if the service cannot
//     be reached, the token is forgotten here and the bar says so).
//   - It is refused, with a sentence, while a certificate is being written
//     to a UKey: a write is never interrupted.
//   - The same wipe runs by itself after IdleAfter without input, with
//     "signed out after inactivity" on the fresh screen, when there is
//     something to wipe (a session, typing, a dialog: a pointer passing
//     over an empty counter is not a customer); the bar counts down the
//     last IdleWarnBefore (half of a shorter IdleAfter). It is postponed,
//     and the bar says why, while a write runs or while a live payment
//     code waits to be paid: the customer is then busy with the UKey or
//     the phone, not with the PC. Idle time counts again from when that
//     ends.
//   - A customer's folder is named after the window's process id, so a
//     counter window that starts removes what a crashed one left.
//
// What counts as input: pointer moves, presses and scrolls anywhere the
// window's widgets do not take them, entering and leaving any widget,
// files dropped on the window, a change of the focused widget, and typing
// in an entry (its cursor or length changes; sampled every
// IdleCheckEvery). Not seen: pointer moves within one button or entry,
// clicks on a button that change nothing else, keys on a focused button
// or check box, and pointer moves inside a dialog. Those are short
// moments of a visit: at worst the sign-out comes that much less than
// IdleAfter after the customer's real last action.
type counter struct {
	u     *UI
	after time.Duration // 0: no idle sign-out
	idle  *idleWatch
	root  string // where customers' folders are made

	bar    fyne.CanvasObject
	banner *widget.Label // what happened to the previous customer
	notice *widget.Label // a countdown, a postponement or a refusal
	next   *widget.Button

	print   inputPrint
	typed   bool               // the focus moved or an entry changed since the last wipe
	refused bool               // next customer was refused during a write
	cancel  context.CancelFunc // ends the current customer's goroutines
	dir     string             // the current customer's folder
	left    []string           // earlier customers' folders not yet removed
	dirErr  string             // why the current customer has no folder ("" when it has one)
	outs    sync.WaitGroup     // sign-outs of earlier customers still being sent
}

// errNotCounter: the window is not in counter mode.
var errNotCounter = errors.New("not in counter mode")

// maxOverlays is the most dialogs the next customer closes (there are
// never more than a few).
const maxOverlays = 64

// counterBarHeight is what the Counter menu and the counter bar add to the
// window's height, so the navigation rail still shows every screen.
const counterBarHeight = 80

// signOutTimeout bounds telling the service that a customer's session ended.
const signOutTimeout = 10 * time.Second

func newCounter(u *UI) *counter {
	c := &counter{u: u, idle: newIdleWatch(u.deps.clock), root: u.deps.counterDir}
	switch a := u.deps.IdleAfter; {
	case a == 0:
		c.after = IdleAfterDefault
	case a < 0:
		c.after = 0
	default:
		c.after = max(a, idleAfterMin)
	}
	if c.root == "" {
		c.root = os.TempDir()
	}
	var staleErr error
	c.left, staleErr = removeStale(c.root)
	mode := widget.NewLabelWithStyle(lang.X("app.counter_mode", "柜台模式"), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	c.banner = widget.NewLabel("")
	c.banner.Wrapping = fyne.TextWrapWord
	c.hint()
	if staleErr != nil {
		c.say(c.banner, lang.X("counter.files_left", "有文件未能删除（{{.Err}}），将在切换下一位客户或退出时再试。", map[string]any{"Err": staleErr}), widget.WarningImportance)
	}
	c.notice = widget.NewLabel("")
	c.notice.Wrapping = fyne.TextWrapWord
	c.notice.Hide()
	c.next = widget.NewButtonWithIcon(lang.X("counter.next", "下一位客户"), theme.AccountIcon(), func() { _, _ = u.nextCustomer() })
	c.next.Importance = widget.HighImportance
	c.bar = container.NewVBox(
		container.NewBorder(nil, nil, container.NewHBox(widget.NewIcon(theme.HomeIcon()), mode), container.NewCenter(c.next),
			container.NewVBox(c.banner, c.notice)),
		widget.NewSeparator())
	u.Win.SetMainMenu(fyne.NewMainMenu(fyne.NewMenu(lang.X("counter.menu", "柜台"),
		&fyne.MenuItem{Label: lang.X("counter.next", "下一位客户"), Icon: theme.AccountIcon(),
			Shortcut: &desktop.CustomShortcut{KeyName: fyne.KeyN, Modifier: fyne.KeyModifierShortcutDefault},
			Action:   func() { _, _ = u.nextCustomer() }})))
	return c
}

// wrap puts the counter bar over the navigation and the input sensor
// around both.
func (c *counter) wrap(nav fyne.CanvasObject) fyne.CanvasObject {
	return appwidget.NewActivitySensor(container.NewBorder(c.bar, nil, nil, nil, nav), c.idle.touch)
}

// counterDirPrefix starts the name of a customer's folder, followed by the
// process id of the window that made it.
const counterDirPrefix = "ukeyrenew-counter-"

// removeStale removes the customers' folders that a counter window which
// has since died (a crash, a power cut) left in root. A folder whose
// window still runs, or whose name does not say which one made it, stays.
// Those it cannot remove are returned, to be tried again.
func removeStale(root string) ([]string, error) {
	dirs, err := filepath.Glob(filepath.Join(root, counterDirPrefix+"*-*"))
	if err != nil {
		return nil, fmt.Errorf("look for stale counter folders: %w", err)
	}
	var left []string
	var errs []error
	for _, d := range dirs {
		pidText, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(d), counterDirPrefix), "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
			left = append(left, d)
		}
	}
	return left, errors.Join(errs...)
}

// processAlive says whether process pid runs (a reused pid counts as
// running: the folder then waits for another start).
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false // Windows: no such process
	}
	defer p.Release()
	if runtime.GOOS == "windows" {
		return true
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EPERM)
}

// begin starts a customer: the context of their journey and their folder.
func (c *counter) begin() (context.Context, string) {
	ctx, cancel := context.WithCancel(c.u.ctx)
	c.cancel = cancel
	c.dirErr = ""
	dir, err := os.MkdirTemp(c.root, fmt.Sprintf("%s%d-*", counterDirPrefix, os.Getpid()))
	if err != nil {
		// Downloads then fail with a message rather than land where the
		// next customer's wipe would not find them.
		dir = filepath.Join(c.root, counterDirPrefix+"unavailable")
		c.dirErr = lang.X("counter.no_dir", "无法创建本位客户的临时文件夹（{{.Err}}）：申请表将无法下载。", map[string]any{"Err": err})
		c.say(c.banner, c.dirErr, widget.DangerImportance)
	}
	c.dir = dir
	return ctx, dir
}

// run checks for idleness every IdleCheckEvery until ctx ends.
func (c *counter) run(ctx context.Context) {
	if c.after > 0 {
		tickEvery(ctx, idleCheckEvery, func() { fyne.Do(c.u.checkIdle) })
	} else {
		<-ctx.Done()
	}
}

// hint is the banner when there is no news.
func (c *counter) hint() {
	c.say(c.banner, lang.X("counter.hint", "每位客户办理完毕后，请点击“下一位客户”（Ctrl+N）清除其全部信息。"), widget.LowImportance)
}

func (c *counter) say(l *widget.Label, text string, level widget.Importance) {
	l.Importance = level
	l.SetText(text)
	if text == "" {
		l.Hide()
	} else {
		l.Show()
	}
}

// nextCustomer wipes everything of the customer served and shows fresh
// screens (counter mode only; on the UI goroutine). While a certificate is
// being written to a UKey it refuses with model.ErrWriteRunning and says so on
// the counter bar. done then receives the outcome of signing the old
// session out at the service (nil, or why the service was not told) and is
// closed.
func (u *UI) nextCustomer() (done <-chan error, err error) {
	c := u.counter
	if c == nil {
		return nil, errNotCounter
	}
	if u.writing() {
		c.refused = true
		c.say(c.notice, lang.X("counter.write_running", "正在把证书写入 UKey：写入完成前不能切换到下一位客户，请勿拔出 UKey。"), widget.DangerImportance)
		return nil, model.ErrWriteRunning
	}
	return u.wipe(lang.X("counter.wiped", "上一位客户的信息已全部清除，可以接待下一位客户。"), widget.SuccessImportance), nil
}

// writing is true while a certificate is being written to a token (or an
// interrupted write is being finished).
func (u *UI) writing() bool {
	if u.journey == nil || u.journey.WriteVM == nil {
		return false
	}
	return u.journey.WriteVM.Running()
}

// paying is true while the Pay screen shows a live code not yet paid.
func (u *UI) paying() bool {
	if u.journey == nil {
		return false
	}
	vm := u.journey.PayVM
	code, _ := vm.Code.Get()
	paid, _ := vm.Paid.Get()
	expired, _ := vm.Expired.Get()
	return code != "" && !paid && !expired && vm.Remaining() > 0
}

// wipe ends the current customer and starts a fresh one (see counter).
func (u *UI) wipe(banner string, level widget.Importance) <-chan error {
	c := u.counter
	if c.cancel != nil {
		c.cancel()
	}
	cv := u.Win.Canvas()
	// Hiding a dialog's pop-up takes it off the stack; Remove is for any
	// other overlay. MaxOverlays bounds a stack that will not shrink.
	for i := 0; i < maxOverlays && cv.Overlays().Top() != nil; i++ {
		o := cv.Overlays().Top()
		o.Hide()
		cv.Overlays().Remove(o)
	}
	u.pin = nil
	cv.Unfocus()
	u.app.Clipboard().SetContent("")

	old := u.account()
	u.pending = nil // a journey not built yet (DeferJourney) is replaced, not built later
	if u.journey != nil {
		u.journey.Close()
	}
	var fresh *model.Account
	if old != nil {
		var err error
		if fresh, err = old.Fresh(); err != nil {
			banner, level = lang.X("counter.no_account", "无法重新连接续期服务（{{.Err}}），请重启程序。", map[string]any{"Err": err}), widget.DangerImportance
		}
	}
	if c.dirErr == "" { // the placeholder of a folder never made is not removed
		c.left = append(c.left, c.dir)
	}
	c.dir = ""
	u.setJourney(fresh)
	u.nav.SelectIndex(0)
	if u.journey != nil {
		u.journey.Start()
		acc := fresh
		acc.SignedIn.AddListener(binding.NewDataListener(func() {
			if in, _ := acc.SignedIn.Get(); in {
				c.hint() // the new customer is in: the previous one's news is old
			}
		}))
	}
	if c.dirErr != "" { // said by begin; the banner below would hide it
		banner, level = banner+" "+c.dirErr, widget.DangerImportance
	}
	if err := c.removeLeft(); err != nil {
		banner += " " + lang.X("counter.files_left", "有文件未能删除（{{.Err}}），将在切换下一位客户或退出时再试。", map[string]any{"Err": err})
		level = widget.WarningImportance
	}
	c.idle.touch()
	c.typed, c.refused = false, false
	c.print = printOf(cv)
	c.say(c.notice, "", widget.MediumImportance)
	c.say(c.banner, banner, level)

	done := make(chan error, 1)
	c.outs.Add(1)
	go func() {
		defer c.outs.Done()
		defer close(done)
		err := u.signOut(old)
		if err != nil {
			fyne.Do(func() {
				c.say(c.notice, lang.X("counter.signout_failed", "本机已不再保存上一位客户的登录，但未能通知续期服务注销（{{.Err}}）。", map[string]any{"Err": model.ServiceErrText(err)}),
					widget.WarningImportance)
			})
		}
		done <- err
	}()
	return done
}

// signOut ends acc's session at the service (revoking its refresh token).
func (u *UI) signOut(acc *model.Account) error {
	if acc == nil || !acc.Client().SignedIn() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(u.ctx), signOutTimeout)
	defer cancel()
	return acc.SignOut(ctx)
}

// removeLeft removes earlier customers' folders; one that cannot be
// removed (a PDF viewer holding the form open on Windows) is tried again at
// the next customer and at Close.
func (c *counter) removeLeft() error {
	var errs []error
	keep := c.left[:0]
	for _, d := range c.left {
		if d == "" {
			continue
		}
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
			keep = append(keep, d)
		}
	}
	c.left = keep
	return errors.Join(errs...)
}

// Close ends the counter's current customer when the program quits: it
// signs the session out at the service and removes the customer's files.
// Outside counter mode it does nothing. Call it once the window is closed.
func (u *UI) Close() error {
	c := u.counter
	if c == nil {
		return nil
	}
	if c.cancel != nil {
		c.cancel()
	}
	if c.dirErr == "" { // the placeholder of a folder never made is not removed
		c.left = append(c.left, c.dir)
	}
	c.dir = ""
	errFiles := c.removeLeft()
	errOut := u.signOut(u.account())
	// A customer wiped just before the window closed is still being
	// signed out: the process must not end before the service is told.
	waited := make(chan struct{})
	go func() { c.outs.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(signOutTimeout):
	}
	if errFiles != nil || errOut != nil {
		return fmt.Errorf("close counter: %w", errors.Join(errFiles, errOut))
	}
	return nil
}

// warnAt is the idle time from which the bar counts down: IdleWarnBefore
// before the sign-out, or half way for a short IdleAfter.
func (c *counter) warnAt() time.Duration { return c.after - min(idleWarnBefore, c.after/2) }

// checkIdle runs every IdleCheckEvery on the UI goroutine: it counts a
// change of the focused field as input, postpones the idle sign-out while
// a write or a payment runs, counts down its last IdleWarnBefore, and
// wipes when IdleAfter has passed.
func (u *UI) checkIdle() {
	c := u.counter
	if c == nil || c.after <= 0 {
		return
	}
	if p := printOf(u.Win.Canvas()); p != c.print {
		c.print = p
		c.idle.touch()
		c.typed = true
	}
	if u.deps.SystemIdle != nil { // input the sensor cannot see
		if d, ok := u.deps.SystemIdle(); ok && d < c.idle.sinceInput() {
			c.idle.touchAt(d)
		}
	}
	sinceInput := c.idle.sinceInput()
	writing, paying := u.writing(), u.paying()
	if writing || paying {
		c.idle.hold()
	}
	if !writing {
		c.refused = false
	}
	idle := c.idle.idle()
	// Something to wipe: a session, typing, or a dialog. A pointer moving
	// over an empty counter is not a customer.
	acc := u.account()
	customer := c.typed || u.Win.Canvas().Overlays().Top() != nil || (acc != nil && acc.Client().SignedIn())
	switch {
	case writing && c.refused:
		// the refusal stays up until the write ends
	case writing && sinceInput >= c.warnAt():
		c.say(c.notice, lang.X("counter.held_write", "正在把证书写入 UKey：写入完成前不会因无操作退出登录。"), widget.WarningImportance)
	case paying && sinceInput >= c.warnAt():
		c.say(c.notice, lang.X("counter.held_pay", "正在等待客户支付：二维码有效期内不会因无操作退出登录。"), widget.WarningImportance)
	case writing || paying || !customer:
		c.say(c.notice, "", widget.MediumImportance)
	case idle >= c.after:
		u.wipe(lang.X("counter.idle_out", "因长时间无操作已退出登录，上一位客户的信息已全部清除。"), widget.WarningImportance)
	case idle >= c.warnAt():
		secs := int((c.after - idle + time.Second - 1) / time.Second)
		c.say(c.notice, lang.X("counter.idle_warn", "{{.Secs}} 秒后将因无操作自动退出登录；移动鼠标或按任意键可继续。", map[string]any{"Secs": secs}),
			widget.WarningImportance)
	default:
		c.say(c.notice, "", widget.MediumImportance)
	}
}
