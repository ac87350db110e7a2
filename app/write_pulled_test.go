//go:build cgo

package app

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	appwidget "github.com/ukeyrenew/ukeyrenew/app/internal/widget"
	"github.com/ukeyrenew/ukeyrenew/internal/softhsmtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/token"
)

// midWrite interrupts a write in the middle: the first time the install
// reads its clock after the journal entry of the token was made (the new
// certificate is being written and checked, the old one not yet deleted),
// it runs interrupt. The token package reads its clock to check the
// written certificate and to stamp the journal, so this lands between the
// write and the deletion of the old certificate: the moment the CA
// manuals beg the clerk not to pull the UKey.
type midWrite struct {
	t         *testing.T
	now       func() time.Time
	journal   string // the token's journal file
	interrupt func()

	mu  sync.Mutex
	hit bool
}

func (m *midWrite) Now() time.Time {
	m.mu.Lock()
	fire := false
	if !m.hit {
		if _, err := os.Stat(m.journal); err == nil {
			m.hit, fire = true, true
		}
	}
	m.mu.Unlock()
	if fire {
		m.interrupt()
	}
	return m.now()
}

func (m *midWrite) fired() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hit
}

// pullable is the SoftHSM2 token directory of one token, which the test
// moves away (the token is pulled: SoftHSM2 reports it gone at once) and
// back (inserted again).
type pullable struct {
	t        *testing.T
	dir, out string
}

func newPullable(t *testing.T, hsm *softhsmtest.Env) *pullable {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(hsm.TokenDir, "*"))
	if err != nil || len(dirs) != 1 {
		t.Fatalf("want one token directory, got %v %v", dirs, err)
	}
	return &pullable{t: t, dir: dirs[0], out: filepath.Join(t.TempDir(), "pulled")}
}

func (p *pullable) pull() {
	if err := os.Rename(p.dir, p.out); err != nil {
		p.t.Error(err)
	}
}

func (p *pullable) insert() {
	if err := os.Rename(p.out, p.dir); err != nil {
		p.t.Fatal(err)
	}
}

// certsOnToken lists the certificate objects an independent reader
// (pkcs11-tool) sees on the token: serial → CKA_ID, with the IDs of the
// private keys.
func certsOnToken(t *testing.T, hsm *softhsmtest.Env, serial string) (certs []string, ids, keyIDs []string) {
	t.Helper()
	out := hsm.PKCS11Tool(t, serial, "--login", "--pin", testPIN, "--list-objects")
	idRe := regexp.MustCompile(`(?m)^\s*ID:\s*([0-9a-f]+)`)
	serialRe := regexp.MustCompile(`(?m)^\s*serial:\s*([0-9A-Fa-f]+)`)
	var objs []string // one object a block: its heading, then indented lines
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.Contains(line, " Object"):
			objs = append(objs, line)
		case strings.HasPrefix(line, " ") && len(objs) > 0:
			objs[len(objs)-1] += "\n" + line
		}
	}
	for _, obj := range objs {
		id := ""
		if m := idRe.FindStringSubmatch(obj); m != nil {
			id = m[1]
		}
		switch {
		case strings.HasPrefix(obj, "Certificate Object"):
			s := ""
			if m := serialRe.FindStringSubmatch(obj); m != nil {
				s = renewal.NormalizeSerial(m[1])
			}
			certs, ids = append(certs, s), append(ids, id)
		case strings.HasPrefix(obj, "Private Key Object"):
			keyIDs = append(keyIDs, id)
		}
	}
	return certs, ids, keyIDs
}

// pressFinish presses the screen's (only) continue button once it is
// enabled, and returns the PIN dialog it opens.
func pressFinish(t *testing.T, s *writeScreen) *pinDialog {
	t.Helper()
	before := s.pin
	onUI(t, "an enabled continue button", func() bool {
		if len(s.finish.Objects) != 1 {
			return false
		}
		b, ok := s.finish.Objects[0].(*appwidget.KeyButton)
		if ok && !b.Disabled() {
			b.OnTapped()
			return true
		}
		return false
	})
	onUI(t, "the PIN dialog", func() bool { return s.pin != before && s.pin.entry.Visible() })
	return s.pin
}

// The token is pulled out while the renewed certificate is written. The
// Write screen says in one sentence what happened and what to do, the
// journal keeps the write, the clerk's press on "continue" while the token
// is still out is answered without harm, and once the token is back one
// press (and the PIN) finishes the renewal: exactly one certificate, the
// renewed one, paired with its key, as pkcs11-tool reads it; the service
// told.
func TestWritePulledMidWriteResumes(t *testing.T) {
	e := apptest.NewService(t)
	hsm := softhsmtest.New(t)
	m, tokSerial, certSerial := tokenWithCert(t, e, hsm)
	acc := e.SignedIn()
	a := e.ReadyApp(acc, certSerial, false)
	journal := filepath.Join(t.TempDir(), "journal")
	tokDir := newPullable(t, hsm)
	cut := &midWrite{t: t, now: e.Clock.Now, journal: filepath.Join(journal, tokSerial+".json"), interrupt: tokDir.pull}

	src := newP11Source([]*token.Module{m}, token.WatchOptions{})
	vm := model.NewWriteVM(acc, NewP11Installer(src, journal, cut.Now), src)
	w := newTestWindow(t, widget.NewLabel(""))
	s := newWriteScreen(t.Context(), vm, w)
	fyne.DoAndWait(func() { w.SetContent(s.Object()) })
	if err := vm.Prepare(t.Context(), src, a); err != nil {
		t.Fatal(err)
	}
	fyne.DoAndWait(s.Show)
	onUI(t, "start enabled", func() bool { return !s.Start.Disabled() })
	test.Tap(s.Start)
	onUI(t, "pin dialog open", func() bool { return s.pin != nil && s.pin.entry.Visible() })
	test.Type(s.pin.entry, testPIN)
	test.Tap(s.pin.ok)
	apptest.Eventually(t, "the write to fail", func() bool {
		return cut.fired() && !apptest.Get[bool](t, vm.Busy)
	})
	msg := apptest.Get[string](t, vm.Message)
	if want := "UKey 在写入过程中被拔出，证书没有丢失。请重新插入同一枚 UKey，然后点击“继续未完成的写入”。"; msg != want {
		t.Fatalf("after the pull the screen says %q, want %q", msg, want)
	}
	if apptest.Get[bool](t, vm.Done) {
		t.Fatal("done after a pull")
	}
	if _, err := os.Stat(cut.journal); err != nil {
		t.Fatalf("the journal of the interrupted write is gone: %v", err)
	}
	var finish *appwidget.KeyButton // a continue button, for the token pulled
	onUI(t, "a continue button for the pulled token", func() bool {
		if len(s.finish.Objects) != 1 {
			return false
		}
		finish, _ = s.finish.Objects[0].(*appwidget.KeyButton)
		return finish != nil && strings.Contains(finish.Text, tokSerial) && strings.Contains(finish.Text, "继续未完成的写入")
	})
	if got, _ := acc.Client().GetApplication(t.Context(), a.ID); got.Status != renewal.StatusReadyToDownload {
		t.Fatalf("the application moved to %s after a pull", got.Status)
	}

	// Continue pressed while the token is still out: the dialog says so,
	// nothing is sent, the journal stays.
	d := pressFinish(t, s)
	for deadline := time.Now().Add(apptest.Patience); !strings.Contains(apptest.Get[string](t, d.vm.Message), "拔出"); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) { // the state cannot be read: the token is out
			t.Fatalf("the PIN dialog says %q", apptest.Get[string](t, d.vm.Message))
		}
	}
	test.Type(d.entry, testPIN)
	test.Tap(d.ok)
	apptest.Eventually(t, "the dialog to say the token is out", func() bool {
		return strings.Contains(apptest.Get[string](t, d.vm.Message), "请插回后再输入口令") && !apptest.Get[bool](t, d.vm.Busy)
	})
	if _, err := os.Stat(cut.journal); err != nil {
		t.Fatalf("the journal went while the token was out: %v", err)
	}
	fyne.DoAndWait(func() { d.dlg.Hide() })

	// The token comes back; SoftHSM2 sees it after re-initialising (the
	// source's watcher does that every second for SoftHSM2).
	tokDir.insert()
	if err := m.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	d = pressFinish(t, s)
	test.Type(d.entry, testPIN)
	began := time.Now()
	test.Tap(d.ok)
	for deadline := time.Now().Add(apptest.Patience); !apptest.Get[bool](t, vm.Done); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the renewal did not finish: %q, pin dialog %q", apptest.Get[string](t, vm.Message), apptest.Get[string](t, d.vm.Message))
		}
	}
	t.Logf("finished after the pull: PIN, recover, read back, confirm in %v", time.Since(began)) // a figure, not a check
	if _, err := os.Stat(cut.journal); !os.IsNotExist(err) {
		t.Errorf("the journal is still there after finishing: %v", err)
	}
	if u := apptest.Get[[]string](t, vm.Unfinished); len(u) != 0 {
		t.Errorf("still offered to finish: %v", u)
	}
	got, err := acc.Client().GetApplication(t.Context(), a.ID)
	if err != nil || got.Status != renewal.StatusInstalled {
		t.Fatalf("application after finishing: %v %v", got.Status, err)
	}
	is, err := acc.Client().Certificate(t.Context(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	certs, ids, keys := certsOnToken(t, hsm, tokSerial)
	if len(certs) != 1 || certs[0] != is.Serial || len(keys) != 1 || ids[0] != keys[0] {
		t.Fatalf("pkcs11-tool sees certificates %v (ids %v) and private keys %v; want only the renewed %s with its key",
			certs, ids, keys, is.Serial)
	}
}

// The app dies in the middle of a write (the goroutine writing stops dead:
// no undo, no clean-up; its token session goes as a dead process's does).
// A new window over the same token and journal directory offers, as it
// starts, to finish the job, and finishing it leaves exactly one usable
// certificate; the renewal is then confirmed from the applications list.
func TestWriteAppDiesMidWriteNextStartOffersToFinish(t *testing.T) {
	e := apptest.NewService(t)
	hsm := softhsmtest.New(t)
	m, tokSerial, certSerial := tokenWithCert(t, e, hsm)
	acc := e.SignedIn()
	a := e.ReadyApp(acc, certSerial, false)
	journal := filepath.Join(t.TempDir(), "journal")
	ctx := t.Context()

	cut := &midWrite{t: t, now: e.Clock.Now, journal: filepath.Join(journal, tokSerial+".json"), interrupt: runtime.Goexit}
	src := newP11Source([]*token.Module{m}, token.WatchOptions{})
	first := model.NewWriteVM(acc, NewP11Installer(src, journal, cut.Now), src)
	if err := first.Prepare(ctx, src, a); err != nil {
		t.Fatal(err)
	}
	if err := first.PINVM().Submit(ctx, []byte(testPIN)); err != nil {
		t.Fatal(err)
	}
	died := make(chan struct{})
	go func() {
		defer close(died)
		_ = first.Run(ctx)
		t.Error("the write ran to its end")
	}()
	<-died
	if !cut.fired() {
		t.Fatal("the write was not interrupted")
	}
	if _, err := os.Stat(cut.journal); err != nil {
		t.Fatalf("no journal after the crash: %v", err)
	}
	if certs, _, _ := certsOnToken(t, hsm, tokSerial); len(certs) != 2 || certs[0] != certSerial && certs[1] != certSerial {
		t.Fatalf("at the crash the token should hold the old certificate %s and the new one: %v", certSerial, certs)
	}

	// The next start: a new window, the same token and journal directory.
	w := newTestWindow(t, widget.NewLabel(""))
	next := e.Account(nil)
	if _, err := next.Client().SendSMSCode(ctx, renewal.SMSCodeRequest{Mobile: apptest.DemoMobile}); err != nil {
		t.Fatal(err)
	}
	if _, err := next.Client().LoginSMS(ctx, renewal.SMSLoginRequest{Mobile: apptest.DemoMobile, Code: e.SMSCode(apptest.DemoMobile)}); err != nil {
		t.Fatal(err)
	}
	src2 := newP11Source([]*token.Module{m}, token.WatchOptions{})
	j := newJourney(ctx, w, journeyDeps{Account: next, Installer: NewP11Installer(src2, journal, e.Clock.Now), Tokens: src2, PINs: src2,
		Fmt: model.Formatter{Lang: model.LangZH, Loc: time.UTC}})
	tabs := container.NewAppTabs(j.Items()...)
	j.Attach(tabs)
	fyne.DoAndWait(func() { w.SetContent(tabs) })
	j.Start()
	onUI(t, "the write screen offers to finish", func() bool {
		return tabs.Selected() == j.Item(screenWrite) && len(j.Write.finish.Objects) == 1
	})
	if msg := apptest.Get[string](t, j.WriteVM.Message); !strings.Contains(msg, tokSerial) || !strings.Contains(msg, "没有完成") {
		t.Fatalf("the offer says %q", msg)
	}
	d := pressFinish(t, j.Write)
	test.Type(d.entry, testPIN)
	test.Tap(d.ok)
	apptest.Eventually(t, "finished", func() bool {
		return len(apptest.Get[[]string](t, j.WriteVM.Unfinished)) == 0 && !apptest.Get[bool](t, j.WriteVM.Busy) &&
			strings.Contains(apptest.Get[string](t, j.WriteVM.Message), "已完成")
	})
	is, err := next.Client().Certificate(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	certs, ids, keys := certsOnToken(t, hsm, tokSerial)
	if len(certs) != 1 || certs[0] != is.Serial || len(keys) != 1 || ids[0] != keys[0] {
		t.Fatalf("pkcs11-tool sees certificates %v (ids %v) and private keys %v; want only the renewed %s with its key",
			certs, ids, keys, is.Serial)
	}
	// The service is told from the list: the token is found by the renewed
	// certificate, nothing is written again.
	if err := j.AppsVM.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	r, ok := j.AppsVM.Row(a.ID)
	if !ok {
		t.Fatal("the application is not listed")
	}
	if err := j.WriteVM.Prepare(ctx, src2, r.App); err != nil {
		t.Fatalf("prepare after finishing: %v (%q)", err, apptest.Get[string](t, j.WriteVM.Message))
	}
	if err := j.WriteVM.PINVM().Submit(ctx, []byte(testPIN)); err != nil {
		t.Fatal(err)
	}
	if err := j.WriteVM.Run(ctx); err != nil {
		t.Fatalf("confirm: %v (%q)", err, apptest.Get[string](t, j.WriteVM.Message))
	}
	if got, err := next.Client().GetApplication(ctx, a.ID); err != nil || got.Status != renewal.StatusInstalled {
		t.Fatalf("application: %v %v", got.Status, err)
	}
	if certs2, _, _ := certsOnToken(t, hsm, tokSerial); len(certs2) != 1 || certs2[0] != is.Serial {
		t.Fatalf("after confirming the token holds %v", certs2)
	}
}
