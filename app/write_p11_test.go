//go:build cgo

package app

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/internal/softhsmtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/token"
)

// tokenWithCert makes a SoftHSM2 token holding a P-256 key made on it and
// the env CA's certificate for it, known to the service; it returns the
// token serial and the certificate serial.
func tokenWithCert(t *testing.T, e *apptest.Service, hsm *softhsmtest.Env) (*token.Module, string, string) {
	t.Helper()
	ctx := t.Context()
	serial := hsm.InitToken(t, "UKey-写入", "11223344", testPIN)
	m, err := token.OpenModule(hsm.Module) // after the init: SoftHSM2 reads its tokens when initialised
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	tok, err := m.Open(ctx, serial)
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	if err := tok.Login(ctx, []byte(testPIN)); err != nil {
		t.Fatal(err)
	}
	id := []byte{0xa1}
	signer, err := tok.GenerateKeyPair(ctx, token.KeySpec{Type: token.ECP256, ID: id, Label: "张三"})
	if err != nil {
		t.Fatal(err)
	}
	cert := e.PutCertificate(signer.Public(), e.Org, e.Clock.Now().AddDate(0, 0, 30))
	if _, err := tok.WriteCertificate(ctx, token.CertificateSpec{DER: cert.Raw, ID: id, Label: "张三"}); err != nil {
		t.Fatal(err)
	}
	cs := renewdtest.SerialOf(cert)
	return m, serial, cs
}

func TestWriteToSoftHSMTokenThroughTheService(t *testing.T) {
	e := apptest.NewService(t)
	hsm := softhsmtest.New(t)
	m, tokSerial, certSerial := tokenWithCert(t, e, hsm)
	acc := e.SignedIn()
	a := e.ReadyApp(acc, certSerial, false)

	src := newP11Source([]*token.Module{m}, token.WatchOptions{})
	inst := NewP11Installer(src, filepath.Join(t.TempDir(), "journal"), e.Clock.Now)
	vm := model.NewWriteVM(acc, inst, src)
	ctx := t.Context()
	if err := vm.Check(ctx); err != nil || len(apptest.Get[[]string](t, vm.Unfinished)) != 0 {
		t.Fatalf("unfinished jobs on a fresh token: %v %v", apptest.Get[[]string](t, vm.Unfinished), err)
	}
	if err := vm.Prepare(ctx, src, a); err != nil {
		t.Fatal(err)
	}
	if _, s := vm.Target(); s != tokSerial {
		t.Fatalf("target token %s, want %s", s, tokSerial)
	}
	pin := vm.PINVM()
	if err := pin.Submit(ctx, []byte("000000")); !errors.Is(err, model.ErrPINIncorrect) {
		t.Fatalf("wrong PIN: %v", err)
	}
	if got, _ := acc.Client().GetApplication(ctx, a.ID); got.Status != renewal.StatusReadyToDownload {
		t.Fatalf("a wrong PIN moved the application to %s", got.Status)
	}
	if err := pin.Submit(ctx, []byte(testPIN)); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := vm.Run(ctx); err != nil {
		t.Fatalf("write: %v (%q)", err, apptest.Get[string](t, vm.Message))
	}
	t.Logf("write: fetch (issue), write, verify, confirm in %v", time.Since(began)) // a figure, not a check
	if !apptest.Get[bool](t, vm.Done) || apptest.Get[float64](t, vm.Progress) != 1 || !strings.Contains(apptest.Get[string](t, vm.Message), "续期完成") {
		t.Fatalf("done %v progress %v %q", apptest.Get[bool](t, vm.Done), apptest.Get[float64](t, vm.Progress), apptest.Get[string](t, vm.Message))
	}
	got, err := acc.Client().GetApplication(ctx, a.ID)
	if err != nil || got.Status != renewal.StatusInstalled {
		t.Fatalf("application after write: %v %v", got.Status, err)
	}
	is, err := acc.Client().Certificate(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	// An independent reader sees the renewed certificate on the token.
	out := hsm.PKCS11Tool(t, tokSerial, "--list-objects", "--type", "cert")
	if !strings.Contains(strings.ToLower(out), strings.ToLower(is.Serial)) || strings.Count(out, "Certificate Object") != 1 {
		t.Fatalf("pkcs11-tool does not list the renewed certificate %s:\n%s", is.Serial, out)
	}
	toks, err := src.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tk := range toks {
		for _, c := range tk.Certs {
			if renewal.NormalizeSerial(c.Serial) == is.Serial {
				found = true
			}
			if renewal.NormalizeSerial(c.Serial) == certSerial {
				t.Errorf("the old certificate %s is still on the token", certSerial)
			}
		}
	}
	if !found {
		t.Fatalf("renewed certificate %s not on the token", is.Serial)
	}
}

func TestWriteScreenRekeyAsksThenWrites(t *testing.T) {
	e := apptest.NewService(t)
	hsm := softhsmtest.New(t)
	m, tokSerial, certSerial := tokenWithCert(t, e, hsm)
	acc := e.SignedIn()
	a := e.ReadyApp(acc, certSerial, true)
	src := newP11Source([]*token.Module{m}, token.WatchOptions{})
	vm := model.NewWriteVM(acc, NewP11Installer(src, filepath.Join(t.TempDir(), "journal"), e.Clock.Now), src)
	w := newTestWindow(t, widget.NewLabel(""))
	s := newWriteScreen(t.Context(), vm, w)
	w.SetContent(s.Object())
	if err := vm.Prepare(t.Context(), src, a); err != nil {
		t.Fatal(err)
	}
	fyne.DoAndWait(s.Show)
	onUI(t, "re-key asked first", func() bool { return s.RekeyOK.Visible() && s.Start.Disabled() })
	if msg := apptest.Get[string](t, vm.Message); !strings.Contains(msg, "旧密钥") {
		t.Fatalf("no warning about the old key: %q", msg)
	}
	test.Tap(s.RekeyOK)
	onUI(t, "start enabled after consent", func() bool { return !s.RekeyOK.Visible() && !s.Start.Disabled() })
	test.Tap(s.Start)
	onUI(t, "pin dialog open", func() bool { return s.pin != nil && s.pin.entry.Visible() })
	test.Type(s.pin.entry, testPIN)
	test.Tap(s.pin.ok)
	apptest.Eventually(t, "written", func() bool { return apptest.Get[bool](t, vm.Done) })
	got, err := acc.Client().GetApplication(t.Context(), a.ID)
	if err != nil || got.Status != renewal.StatusInstalled {
		t.Fatalf("application %v %v", got.Status, err)
	}
	out := hsm.PKCS11Tool(t, tokSerial, "--login", "--pin", testPIN, "--list-objects", "--type", "privkey")
	if strings.Count(out, "Private Key Object") != 1 || strings.Contains(out, "ID:         a1") {
		t.Fatalf("after a re-key the token should hold one new private key:\n%s", out)
	}
}

// A re-key stopped after the new key pair was made (the app died before
// the CA answered): that is no broken write, nothing is offered to finish,
// and the next write takes the pending key pair instead of making another.
func TestWriteResumesAPendingRekey(t *testing.T) {
	e := apptest.NewService(t)
	hsm := softhsmtest.New(t)
	m, tokSerial, certSerial := tokenWithCert(t, e, hsm)
	acc := e.SignedIn()
	a := e.ReadyApp(acc, certSerial, true)
	journal := filepath.Join(t.TempDir(), "journal")
	ctx := t.Context()

	tok, err := m.Open(ctx, tokSerial)
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.Login(ctx, []byte(testPIN)); err != nil {
		t.Fatal(err)
	}
	j, err := token.OpenJournal(journal, nil)
	if err != nil {
		t.Fatal(err)
	}
	prep, err := token.PrepareRekey(ctx, tok, token.InstallRequest{Mode: token.Rekey, ReplaceID: []byte{0xa1}, Journal: j, Now: e.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	tok.Close()

	src := newP11Source([]*token.Module{m}, token.WatchOptions{})
	vm := model.NewWriteVM(acc, NewP11Installer(src, journal, e.Clock.Now), src)
	if err := vm.Check(ctx); err != nil || len(apptest.Get[[]string](t, vm.Unfinished)) != 0 {
		t.Fatalf("a pending re-key offered as unfinished: %v %v", apptest.Get[[]string](t, vm.Unfinished), err)
	}
	if err := vm.Prepare(ctx, src, a); err != nil {
		t.Fatal(err)
	}
	if err := vm.PINVM().Submit(ctx, []byte(testPIN)); !errors.Is(err, model.ErrRekeyNotConfirmed) {
		t.Fatalf("PIN taken before the re-key was agreed to: %v", err)
	}
	vm.ConfirmRekey()
	if err := vm.PINVM().Submit(ctx, []byte(testPIN)); err != nil {
		t.Fatal(err)
	}
	if err := vm.Run(ctx); err != nil {
		t.Fatalf("write after the interrupted re-key: %v (%q)", err, apptest.Get[string](t, vm.Message))
	}
	out := hsm.PKCS11Tool(t, tokSerial, "--login", "--pin", testPIN, "--list-objects", "--type", "privkey")
	if strings.Count(out, "Private Key Object") != 1 || !strings.Contains(out, "ID:         "+strings.ToLower(prep.NewID.String())) {
		t.Fatalf("want exactly the pending key pair (id %s) on the token:\n%s", prep.NewID, out)
	}
}

// The service goes down as the Write screen fetches the certificate: the
// screen says the service cannot be reached and that the token is
// untouched; the token holds only its old certificate and no journal; with
// the service back the same press writes.
func TestServiceDownWhileWriteFetches(t *testing.T) {
	e := apptest.NewService(t)
	o := newOutage(t, e)
	hsm := softhsmtest.New(t)
	m, tokSerial, certSerial := tokenWithCert(t, e, hsm)
	acc := o.signedIn(e)
	a := e.ReadyApp(acc, certSerial, false)
	journal := filepath.Join(t.TempDir(), "journal")
	src := newP11Source([]*token.Module{m}, token.WatchOptions{})
	vm := model.NewWriteVM(acc, NewP11Installer(src, journal, e.Clock.Now), src)
	w := newTestWindow(t, widget.NewLabel(""))
	s := newWriteScreen(t.Context(), vm, w)
	fyne.DoAndWait(func() { w.SetContent(s.Object()) })
	if err := vm.Prepare(t.Context(), src, a); err != nil {
		t.Fatal(err)
	}
	fyne.DoAndWait(s.Show)

	write := func() {
		t.Helper()
		onUI(t, "start enabled", func() bool { return !s.Start.Disabled() })
		test.Tap(s.Start)
		onUI(t, "pin dialog open", func() bool { return s.pin != nil && s.pin.entry.Visible() })
		test.Type(s.pin.entry, testPIN)
		test.Tap(s.pin.ok)
	}
	o.down()
	write()
	onUI(t, "the fetch to fail in words", func() bool {
		m := apptest.Get[string](t, vm.Message)
		return strings.Contains(m, "无法连接续期服务") && strings.Contains(m, "原证书仍然可用") && !s.Start.Disabled()
	})
	if certs, _, _ := certsOnToken(t, hsm, tokSerial); len(certs) != 1 || certs[0] != certSerial {
		t.Fatalf("the token holds %v after a failed fetch, want only %s", certs, certSerial)
	}
	if u := apptest.Get[[]string](t, vm.Unfinished); len(u) != 0 {
		t.Fatalf("a failed fetch offered to finish %v", u)
	}
	o.up()
	write()
	apptest.Eventually(t, "written", func() bool { return apptest.Get[bool](t, vm.Done) })
	if got, err := acc.Client().GetApplication(t.Context(), a.ID); err != nil || got.Status != renewal.StatusInstalled {
		t.Fatalf("application %v %v", got.Status, err)
	}
}

// The Write screen by keyboard alone: shown, the focus is on the start
// button; Enter opens the PIN dialog with the focus in the PIN; Enter there
// sends it and the write runs.
func TestKeyboardWrite(t *testing.T) {
	e := apptest.NewService(t)
	hsm := softhsmtest.New(t)
	m, _, certSerial := tokenWithCert(t, e, hsm)
	acc := e.SignedIn()
	a := e.ReadyApp(acc, certSerial, false)
	src := newP11Source([]*token.Module{m}, token.WatchOptions{})
	vm := model.NewWriteVM(acc, NewP11Installer(src, filepath.Join(t.TempDir(), "journal"), e.Clock.Now), src)
	w := newTestWindow(t, widget.NewLabel(""))
	s := newWriteScreen(t.Context(), vm, w)
	fyne.DoAndWait(func() { w.SetContent(s.Object()) })
	if err := vm.Prepare(t.Context(), src, a); err != nil {
		t.Fatal(err)
	}
	fyne.DoAndWait(s.Show)
	onUI(t, "focus on start", func() bool { return w.Canvas().Focused() == s.Start })
	press(t, w, fyne.KeyReturn)
	onUI(t, "focus in the PIN", func() bool { return s.pin != nil && w.Canvas().Focused() == s.pin.entry })
	typeKeys(t, w, testPIN)
	press(t, w, fyne.KeyReturn)
	apptest.Eventually(t, "written", func() bool { return apptest.Get[bool](t, vm.Done) })
}
