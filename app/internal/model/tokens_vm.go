package model

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"
)

// TokenView is one token ready to show: every string already formatted in
// the interface language.
type TokenView struct {
	Serial       string
	Title        string // the label, or the serial when the label cannot be read
	LabelProblem bool
	LabelNote    string // "" unless the label cannot be read
	Device       string // manufacturer and model
	PIN          PINState
	PINNote      string // "" when the PIN state needs no remark
	PINLevel     Level
	Certs        []CertView // the certificates that read
	CertsProblem string     // "" unless the inventory failed, or there is no certificate
	// Damaged is "" or one plain line about the objects on the token that
	// cannot be read (unreadable objects, certificates that do not parse):
	// the certificates in Certs are not affected.
	Damaged string
	// Repairable: repairing the token (token.Recover) removes at least one
	// of the damaged objects, so the screen offers it.
	Repairable bool
}

// CertView is one certificate ready to show.
type CertView struct {
	Holder   string
	Serial   string
	Issuer   string
	ValidTo  string
	KeyType  string
	Badge    string
	Level    Level
	Problem  string // "" unless the certificate could not be read
	ObjLabel string
	// CanRenew: the certificate's key pair is on the token (TokenDetail.KeyPair),
	// so a renewal can prove possession with it and write the result here.
	CanRenew bool
}

// TokenDetail is a Token with what only a full read of the token's objects
// tells: which certificates have their key pair on the token, and which
// objects cannot be read at all.
type TokenDetail struct {
	Token
	// KeyPair[i] reports whether Certs[i] has its key pair on the token:
	// its private key, or, as private keys stay hidden until a PIN is
	// given, a public key object that matches it. A token that shows no
	// key object at all without a PIN cannot tell; its holder
	// certificates (not CA certificates) then count as having their pair,
	// and the write step, which logs in, has the last word.
	KeyPair []bool
	// Damaged are the objects that cannot be read; Certs holds the rest.
	Damaged []DamagedObject
}

// DamagedObject is one object on a token that cannot be read.
type DamagedObject struct {
	Label  string // "" when not even the label reads
	Reason string // the module's answer
	// Repairable: token.Recover removes it (what an interrupted write
	// left behind); otherwise it may be the vendor's and stays.
	Repairable bool
}

// DetailSource is a TokenSource that also reads key pairs and damaged
// objects (P11Source does). With a plain TokenSource the Tokens screen
// offers no renew button (it cannot know a certificate has its key) and
// reports only certificates that do not parse as damaged.
type DetailSource interface {
	TokenSource
	ListDetails(ctx context.Context) ([]TokenDetail, error)
}

// RecomputeEvery is how often Run re-derives the days-left badges from the
// clock, so a window left open over midnight does not show yesterday's count.
const RecomputeEvery = time.Minute

// TokensVM is the state of the Tokens screen. It lists tokens through a
// TokenSource on its own goroutine (Run) and publishes the result in data
// bindings, which widgets read on the UI goroutine. It holds no widget and
// runs without a window.
type TokensVM struct {
	src   TokenSource
	clock Clock
	f     Formatter

	// Tokens is the list to show, in serial order.
	Tokens binding.Item[[]TokenView]
	// Searching is true until the first listing has finished.
	Searching binding.Bool
	// Status is one line about what was found ("已检测到 2 个 UKey").
	Status binding.String
	// Problem is "" or a sentence about a module failure; the last good
	// list stays on screen meanwhile.
	Problem binding.String

	listMu       sync.Mutex    // one List at a time
	publish      sync.Mutex    // orders Recompute's publications
	mu           sync.Mutex    // guards raw, details and the problems
	raw          []Token       // the last listing
	details      []TokenDetail // the same, with key pairs and damaged objects
	listProblem  string
	watchProblem string
	// WatchRetry is how long after a watcher stops it is started again
	// (WatchRetryEvery unless set before Run).
	WatchRetry time.Duration
}

// NewTokensVM returns the view-model; call Run to start it.
func NewTokensVM(src TokenSource, clock Clock, f Formatter) *TokensVM {
	vm := &TokensVM{
		src:       src,
		clock:     clock,
		f:         f,
		Tokens:    binding.NewItem(func(a, b []TokenView) bool { return reflect.DeepEqual(a, b) }),
		Searching: binding.NewBool(),
		Status:    binding.NewString(),
		Problem:   binding.NewString(),

		WatchRetry: WatchRetryEvery,
	}
	_ = vm.Searching.Set(true)
	_ = vm.Status.Set(lang.X("tokens.searching", "正在查找 UKey…"))
	return vm
}

// WatchRetryEvery is how long Run waits before restarting a watcher that
// stopped (a module that failed many polls in a row, a failed Watch).
const WatchRetryEvery = 5 * time.Second

// Run lists the tokens, then again on every insertion or removal the source
// reports, until ctx is done. A watcher that stops is restarted every
// WatchRetryEvery, and meanwhile Problem asks for a manual refresh. Run also
// re-derives the badges every RecomputeEvery. Run blocks: start it with go.
func (vm *TokensVM) Run(ctx context.Context) {
	events := vm.watch(ctx)
	_ = vm.Reload(ctx)
	tick := time.NewTicker(RecomputeEvery)
	defer tick.Stop()
	var retry <-chan time.Time
	if events == nil {
		retry = time.After(vm.WatchRetry)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-events:
			if !ok {
				events = nil
				if ctx.Err() == nil {
					vm.setProblems(nil, lang.X("tokens.watch_stopped",
						"UKey 插拔监视已停止。插拔后请点“刷新”。"))
					retry = time.After(vm.WatchRetry)
				}
				continue
			}
			_ = vm.Reload(ctx)
		case <-retry:
			retry = nil
			if events = vm.watch(ctx); events == nil {
				retry = time.After(vm.WatchRetry)
				continue
			}
			_ = vm.Reload(ctx) // what changed while nobody watched
		case <-tick.C:
			vm.Recompute()
		}
	}
}

// watch starts the source's watcher; on failure it reports the problem and
// returns nil. On success it clears an earlier watcher problem.
func (vm *TokensVM) watch(ctx context.Context) <-chan struct{} {
	events, err := vm.src.Watch(ctx)
	if err != nil {
		vm.setProblems(nil, lang.X("tokens.watch_failed",
			"无法自动发现 UKey 的插入和拔出（{{.Err}}）。插拔后请点“刷新”。", map[string]any{"Err": err}))
		return nil
	}
	vm.clearWatchProblem()
	return events
}

func (vm *TokensVM) clearWatchProblem() {
	vm.mu.Lock()
	had := vm.watchProblem != ""
	vm.watchProblem = ""
	vm.mu.Unlock()
	if had {
		vm.setProblems(nil, "")
	}
}

// Reload lists the tokens now and publishes them. On failure the previous
// list stays and Problem says what went wrong.
func (vm *TokensVM) Reload(ctx context.Context) error {
	vm.listMu.Lock()
	defer vm.listMu.Unlock()
	toks, err := vm.list(ctx)
	if err != nil {
		msg := lang.X("tokens.list_failed",
			"无法读取 UKey：{{.Err}}。请确认 UKey 驱动已安装，然后重新插入 UKey。", map[string]any{"Err": err})
		if errors.Is(err, ErrNoModule) {
			msg = lang.X("tokens.no_driver",
				"未找到 UKey 驱动（PKCS#11 模块）。请安装 UKey 厂商提供的驱动程序，然后重新打开本程序。详情：{{.Err}}", map[string]any{"Err": err})
		}
		vm.setProblems(&msg, "")
		_ = vm.Searching.Set(false)
		return fmt.Errorf("list tokens: %w", err)
	}
	raw := make([]Token, len(toks))
	for i, t := range toks {
		raw[i] = t.Token
	}
	vm.mu.Lock()
	vm.raw, vm.details = raw, toks
	vm.mu.Unlock()
	none := ""
	vm.setProblems(&none, "")
	vm.Recompute()
	_ = vm.Searching.Set(false)
	return nil
}

// list reads the tokens, with their details when the source has them.
func (vm *TokensVM) list(ctx context.Context) ([]TokenDetail, error) {
	if ds, ok := vm.src.(DetailSource); ok {
		return ds.ListDetails(ctx)
	}
	toks, err := vm.src.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]TokenDetail, len(toks))
	for i, t := range toks {
		out[i] = TokenDetail{Token: t}
	}
	return out, nil
}

// setProblems replaces the listing problem (when list is not nil) and sets
// the watcher problem (when watch is not ""), and publishes both: a watcher
// that failed stays reported after a good manual refresh.
func (vm *TokensVM) setProblems(list *string, watch string) {
	vm.mu.Lock()
	if list != nil {
		vm.listProblem = *list
	}
	if watch != "" {
		vm.watchProblem = watch
	}
	p := strings.TrimSpace(vm.listProblem + "\n" + vm.watchProblem)
	vm.mu.Unlock()
	_ = vm.Problem.Set(p)
}

// ReportProblem shows msg as a problem that stays after a good refresh
// (as a watcher that failed does).
func (vm *TokensVM) ReportProblem(msg string) { vm.setProblems(nil, msg) }

// Listed is the last listing, with the dates the reminders need (the
// Tokens binding holds only formatted text).
func (vm *TokensVM) Listed() []Token {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.raw
}

// Recompute re-derives what is shown from the last listing and the clock.
func (vm *TokensVM) Recompute() {
	// One at a time, from reading the listing to publishing it: the
	// minute ticker and a refresh run it from different goroutines, and an
	// older listing published last would show a pulled UKey until the next.
	vm.publish.Lock()
	defer vm.publish.Unlock()
	vm.mu.Lock()
	raw := vm.details
	vm.mu.Unlock()
	now := vm.clock.Now()
	views := make([]TokenView, 0, len(raw))
	for _, t := range raw {
		views = append(views, vm.view(now, t))
	}
	_ = vm.Tokens.Set(views)
	switch len(views) {
	case 0:
		_ = vm.Status.Set(lang.X("tokens.none", "未检测到 UKey"))
	default:
		_ = vm.Status.Set(lang.XN("tokens.count", "已检测到 {{.Count}} 个 UKey", len(views), map[string]any{"Count": len(views)}))
	}
}

func (vm *TokensVM) view(now time.Time, t TokenDetail) TokenView {
	v := TokenView{Serial: t.Serial, Title: strings.TrimSpace(t.Label), PIN: t.PIN}
	if t.LabelErr != nil || v.Title == "" {
		// The serial identifies the token anyway (labels are not unique).
		v.LabelProblem = true
		v.Title = "UKey " + t.Serial
		v.LabelNote = lang.X("token.label_unreadable", "名称无法读取")
	}
	v.Device = strings.TrimSpace(strings.TrimSpace(t.Manufacturer) + " " + strings.TrimSpace(t.Model))
	v.PINNote, v.PINLevel = PINNote(t.PIN)
	damaged := len(t.Damaged)
	for _, d := range t.Damaged {
		v.Repairable = v.Repairable || d.Repairable
	}
	for i, c := range t.Certs {
		if c.Err != nil {
			damaged++ // a certificate whose value does not parse
			continue
		}
		cv := vm.certView(now, c)
		cv.CanRenew = i < len(t.KeyPair) && t.KeyPair[i]
		v.Certs = append(v.Certs, cv)
	}
	v.Damaged = damagedLine(damaged, v.Repairable)
	switch {
	case t.CertsErr != nil:
		v.CertsProblem = lang.X("token.certs_unreadable",
			"无法读取这个 UKey 上的证书：{{.Err}}。请拔出后重新插入；如仍不行，请联系发证机构。", map[string]any{"Err": t.CertsErr})
	case len(v.Certs) == 0 && damaged == 0:
		v.CertsProblem = lang.X("token.no_certs", "这个 UKey 上没有证书。")
	}
	return v
}

// damagedLine is the one line about n objects that cannot be read.
func damagedLine(n int, repairable bool) string {
	switch {
	case n == 0:
		return ""
	case n == 1 && repairable:
		return lang.X("token.damaged_one", "这枚 UKey 上有一个对象无法读取，其余证书不受影响；可以运行“修复”或联系证书机构。")
	case n == 1:
		return lang.X("token.damaged_one_ca", "这枚 UKey 上有一个对象无法读取，其余证书不受影响；请联系证书机构。")
	case repairable:
		return lang.X("token.damaged_many", "这枚 UKey 上有 {{.Count}} 个对象无法读取，其余证书不受影响；可以运行“修复”或联系证书机构。",
			map[string]any{"Count": n})
	}
	return lang.X("token.damaged_many_ca", "这枚 UKey 上有 {{.Count}} 个对象无法读取，其余证书不受影响；请联系证书机构。",
		map[string]any{"Count": n})
}

func (vm *TokensVM) certView(now time.Time, c Cert) CertView {
	cv := CertView{ObjLabel: c.Label}
	cv.Holder, cv.Serial, cv.Issuer, cv.KeyType = c.Holder, c.Serial, c.Issuer, c.KeyType
	cv.ValidTo = vm.f.Date(c.NotAfter)
	cv.Badge, cv.Level = vm.f.Lifetime(now, c.NotBefore, c.NotAfter)
	return cv
}

// PINNote says what a PIN state means for the clerk, or "" if nothing.
func PINNote(s PINState) (string, Level) {
	switch {
	case s.Locked:
		return lang.X("pin.locked", "口令已锁定：请联系发证机构解锁，不要再尝试。"), LevelError
	case s.FinalTry:
		return lang.X("pin.final_try", "只剩最后一次机会：再输错一次，UKey 将被锁定。"), LevelError
	case s.CountLow:
		return lang.X("pin.count_low", "之前输错过口令，剩余尝试次数不多。"), LevelWarning
	case s.MustChange:
		return lang.X("pin.must_change", "口令需要先修改才能使用。"), LevelWarning
	}
	return "", LevelOK
}

// errText is the message of err for a sentence, with the sentinels in words.
func errText(err error) string {
	switch {
	case errors.Is(err, ErrTokenRemoved):
		return lang.X("err.token_removed", "UKey 已拔出")
	case errors.Is(err, ErrPINLocked):
		return lang.X("err.pin_locked", "口令已锁定")
	}
	return err.Error()
}
