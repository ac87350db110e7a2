package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/client/session"
	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/internal/softhsmtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/token"
)

const (
	svcClerkMobile = renewdtest.ClerkMobile
	svcReviewerPW  = renewdtest.ReviewerPassword
	svcPIN         = "246810"
)

// svcEnv is the real renewal service (internal/renewdtest) on a loopback
// listener, and a SoftHSM2 token holding a key and the certificate that
// service's CA issued for it, 30 days before expiry.
type svcEnv struct {
	*renewdtest.Renewd
	hsm     *softhsmtest.Env
	serial  string // the token's
	cert    string // the certificate's serial, renewal form
	dir     string
	cmds    *serviceCmds
	session *session.Store
}

func newSvcEnv(t *testing.T) *svcEnv {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	r := renewdtest.New(t, renewdtest.Options{Now: now})
	e := &svcEnv{Renewd: r, dir: t.TempDir()}

	// The token: a P-256 key made on it and the CA's certificate for it.
	e.hsm = softhsmtest.New(t)
	e.serial = e.hsm.InitToken(t, "ukeyctl service", "11223344", svcPIN)
	e.withToken(t, func(tok *token.Token) {
		id := []byte{0xa1}
		signer, err := tok.GenerateKeyPair(ctx, token.KeySpec{Type: token.ECP256, ID: id, Label: "张三"})
		if err != nil {
			t.Fatal(err)
		}
		cert := r.PutCertificate(signer.Public(), e.Org, now.AddDate(0, 0, 30))
		if _, err := tok.WriteCertificate(ctx, token.CertificateSpec{DER: cert.Raw, ID: id, Label: "张三"}); err != nil {
			t.Fatal(err)
		}
		e.cert = renewdtest.SerialOf(cert)
	})

	// Every command of the test shares one session store (memory only:
	// the keyring has its own tests in client/session).
	var err error
	e.session, err = session.Open(ctx, session.Options{NoKeyring: true, NoTPM: true})
	if err != nil {
		t.Fatal(err)
	}
	e.cmds = &serviceCmds{openStore: func(context.Context) (*session.Store, error) { return e.session, nil }, stdin: os.Stdin}
	return e
}

// withToken opens the env's token, signs the user in with the PIN, and
// gives it to fn; module and token are closed when fn returns.
func (e *svcEnv) withToken(t *testing.T, fn func(tok *token.Token)) {
	t.Helper()
	ctx := t.Context()
	m, err := token.OpenModule(e.hsm.Module)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tok, err := m.Open(ctx, e.serial)
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	if err := tok.Login(ctx, []byte(svcPIN)); err != nil {
		t.Fatal(err)
	}
	fn(tok)
}

func (e *svcEnv) file(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// run runs one service command and returns its error and output.
func (e *svcEnv) run(t *testing.T, f func(*serviceCmds, context.Context, []string, *bytes.Buffer, *bytes.Buffer) error, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := f(e.cmds, t.Context(), args, &out, &errOut)
	if e.Renewd != nil { // nil in tests of usage errors, which reach no service
		e.Clock.Advance(time.Second)
	}
	return out.String() + errOut.String(), err
}

func svcLogin(s *serviceCmds, ctx context.Context, a []string, o, e *bytes.Buffer) error {
	return s.login(ctx, a, o, e)
}
func svcLogout(s *serviceCmds, ctx context.Context, a []string, o, e *bytes.Buffer) error {
	return s.logout(ctx, a, o, e)
}
func svcApps(s *serviceCmds, ctx context.Context, a []string, o, e *bytes.Buffer) error {
	return s.apps(ctx, a, o, e)
}
func svcFetchInstall(s *serviceCmds, ctx context.Context, a []string, o, e *bytes.Buffer) error {
	return s.fetchInstall(ctx, a, o, e)
}

// readyApplication drives an application for the token's certificate to
// ready_to_download through the client, as clerk and reviewer would.
func (e *svcEnv) readyApplication(t *testing.T, rekey bool) *renewal.Application {
	t.Helper()
	ctx := t.Context()
	clerk, _ := client.New(e.URL)
	if _, err := clerk.SendSMSCode(ctx, renewal.SMSCodeRequest{Mobile: svcClerkMobile}); err != nil {
		t.Fatal(err)
	}
	m, _ := e.SMS.Last(svcClerkMobile)
	if _, err := clerk.LoginSMS(ctx, renewal.SMSLoginRequest{Mobile: svcClerkMobile, Code: m.Code}); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(61 * time.Second)
	reviewer, _ := client.New(e.URL)
	if _, err := reviewer.Login(ctx, renewal.PasswordLoginRequest{Account: "reviewer", Password: svcReviewerPW}); err != nil {
		t.Fatal(err)
	}
	form := renewdtest.ValidForm(e.Org, 1)
	form.Invoice = renewal.Invoice{Kind: renewal.InvoiceNone}
	a, err := clerk.CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: e.cert, Form: &form, Rekey: rekey})
	if err != nil {
		t.Fatal(err)
	}
	if a, err = clerk.Submit(ctx, a.ID, renewal.SubmitRequest{Version: a.Version}); err != nil {
		t.Fatal(err)
	}
	if a, err = reviewer.Approve(ctx, a.ID, renewal.ReviewRequest{Version: a.Version}); err != nil {
		t.Fatal(err)
	}
	e.MarkPaid(a.ID)
	if a, err = clerk.GetApplication(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	fv, err := clerk.StartFinVerify(ctx, a.ID, renewal.VersionRequest{Version: a.Version})
	if err != nil {
		t.Fatal(err)
	}
	code := e.TransferCode("755912345610801")
	a, err = clerk.SubmitFinVerifyCode(ctx, a.ID, renewal.FinVerifyCodeRequest{Version: fv.Version, Code: code})
	if err != nil || a.Status != renewal.StatusReadyToDownload {
		t.Fatalf("%+v, %v", a, err)
	}
	return a
}

func TestServiceCommands(t *testing.T) {
	e := newSvcEnv(t)
	ctx := t.Context()
	a := e.readyApplication(t, false)

	// Not signed in yet.
	if _, err := e.run(t, svcApps); !errors.Is(err, errNotSignedIn) {
		t.Fatalf("apps before login: %v", err)
	}
	// Sign in by SMS in two steps, as a script does: send, then the code from a file.
	if out, err := e.run(t, svcLogin, "--service", e.URL, "--mobile", svcClerkMobile, "--send-code"); err != nil || !strings.Contains(out, "138****8000") {
		t.Fatalf("send code: %v %s", err, out)
	}
	m, _ := e.SMS.Last(svcClerkMobile)
	wrong := "000000"
	if m.Code == wrong {
		wrong = "111111"
	}
	if _, err := e.run(t, svcLogin, "--service", e.URL, "--mobile", svcClerkMobile, "--code-file", e.file(t, "wrong", wrong)); renewal.CodeOf(err) != renewal.CodeSMSCodeWrong {
		t.Fatalf("wrong code: %v", err)
	}
	if _, err := e.session.Load(t.Context()); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("a refused sign-in kept a session: %v", err)
	}
	out, err := e.run(t, svcLogin, "--service", e.URL, "--mobile", svcClerkMobile, "--code-file", e.file(t, "code", m.Code), "--json")
	if err != nil {
		t.Fatal(err)
	}
	var li loginJSON
	if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &li); err != nil || li.User.Role != renewal.RoleClerk || li.KeptIn != "memory" {
		t.Fatalf("login json %+v, %v: %s", li, err, out)
	}
	rec, err := e.session.Load(ctx)
	if err != nil || rec.ServiceURL != e.URL || !strings.HasPrefix(rec.RefreshToken, "") || rec.RefreshToken == "" {
		t.Fatalf("saved session %+v, %v", rec, err)
	}

	// apps lists the application; the saved refresh token rotated (the
	// command started without an access token) and was saved back.
	out, err = e.run(t, svcApps, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var list []renewal.Application
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || list[0].ID != a.ID || list[0].Status != renewal.StatusReadyToDownload {
		t.Fatalf("apps %s, %v", out, err)
	}
	rec2, _ := e.session.Load(ctx)
	if rec2.RefreshToken == rec.RefreshToken {
		t.Fatal("the rotated refresh token was not saved")
	}
	if out, err := e.run(t, svcApps, "--status", "installed"); err != nil || !strings.Contains(out, "no applications") {
		t.Fatalf("filtered apps: %v %s", err, out)
	}
	if out, err := e.run(t, svcApps); err != nil || !strings.Contains(out, a.ID) || !strings.Contains(out, "ready_to_download") {
		t.Fatalf("apps table: %v %s", err, out)
	}

	// A wrong PIN stops before anything is issued.
	common := []string{"--application", a.ID, "--token", e.serial, "--module", e.hsm.Module, "--journal", filepath.Join(e.dir, "journal")}
	_, err = e.run(t, svcFetchInstall, append(common, "--pin-file", e.file(t, "badpin", "000000"))...)
	if !errors.Is(err, token.ErrPINIncorrect) || exitCode(err) != exitPIN {
		t.Fatalf("wrong PIN: %v", err)
	}
	// Fetch, install, confirm.
	out, err = e.run(t, svcFetchInstall, append(common, "--pin-file", e.file(t, "pin", svcPIN), "--json")...)
	if err != nil {
		t.Fatalf("fetch-install: %v\n%s", err, out)
	}
	var fi fetchInstallJSON
	if err := json.Unmarshal([]byte(out), &fi); err != nil || fi.Status != renewal.StatusInstalled || !fi.Issued || fi.Install == nil {
		t.Fatalf("fetch-install %s, %v", out, err)
	}
	if fi.Install.Replaced == nil || renewal.NormalizeSerial(fi.Install.Replaced.Serial) != e.cert {
		t.Fatalf("replaced %+v", fi.Install.Replaced)
	}
	// An independent reader sees the renewed certificate, and only it.
	listing := e.hsm.PKCS11Tool(t, e.serial, "--list-objects", "--type", "cert")
	if strings.Count(listing, "Certificate Object") != 1 || !strings.Contains(strings.ToLower(listing), "serial") {
		t.Fatalf("token certificates:\n%s", listing)
	}
	// Run again: nothing more to do.
	if out, err := e.run(t, svcFetchInstall, append(common, "--pin-file", e.file(t, "pin", svcPIN))...); err != nil || !strings.Contains(out, "already installed") {
		t.Fatalf("again: %v %s", err, out)
	}

	// Sign out: the session is gone here and at the service.
	if out, err := e.run(t, svcLogout); err != nil || !strings.Contains(out, "signed out") {
		t.Fatalf("logout: %v %s", err, out)
	}
	if _, err := e.session.Load(ctx); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("session after logout: %v", err)
	}
	if _, err := e.run(t, svcApps); !errors.Is(err, errNotSignedIn) {
		t.Fatalf("apps after logout: %v", err)
	}
	c, _ := client.New(e.URL, client.WithRefreshToken(rec2.RefreshToken))
	if _, err := c.Me(ctx); !errors.Is(err, client.ErrSessionEnded) {
		t.Fatalf("saved refresh token after logout: %v", err)
	}
}

func TestServiceCommandsRefuseBadUsage(t *testing.T) {
	e := &svcEnv{cmds: &serviceCmds{openStore: func(context.Context) (*session.Store, error) {
		return nil, errors.New("the store must not be opened on a usage error")
	}, stdin: os.Stdin}}
	cases := []struct {
		f    func(*serviceCmds, context.Context, []string, *bytes.Buffer, *bytes.Buffer) error
		args []string
	}{
		{svcLogin, []string{"--mobile", svcClerkMobile}},
		{svcLogin, []string{"--service", "http://127.0.0.1:1"}},
		{svcLogin, []string{"--service", "http://127.0.0.1:1", "--mobile", "1", "--account", "a"}},
		{svcLogin, []string{"--service", "http://127.0.0.1:1", "--mobile", "1", "--password-stdin"}},
		{svcLogin, []string{"--service", "http://127.0.0.1:1", "--account", "a", "--send-code"}},
		{svcLogin, []string{"--service", "http://127.0.0.1:1", "--mobile", "1", "--send-code", "--code-stdin"}},
		{svcLogin, []string{"--service", "http://ca.example", "--account", "a", "--password-stdin"}},
		{svcLogin, []string{"--service", "http://127.0.0.1:1", "--account", "a", "extra"}},
		{svcApps, []string{"--status", "bogus"}},
		{svcFetchInstall, []string{"--token", "1"}},
		{svcFetchInstall, []string{"--application", "x"}},
		{svcFetchInstall, []string{"--application", strings.Repeat("x", 65), "--token", "1"}},
		{svcFetchInstall, []string{"--application", "x", "--token", "1", "--pin-stdin", "--pin-file", "f"}},
		{svcFetchInstall, []string{"--application", "x", "--token", "1", "--pin", "123456"}},
	}
	for _, tc := range cases {
		_, err := e.run(t, tc.f, tc.args...)
		var ue usageError
		if !errors.As(err, &ue) || exitCode(err) != exitUsage {
			t.Errorf("%v: %v, want a usage error", tc.args, err)
		}
	}
}

// signIn signs the shared session in by SMS, as `ukeyctl login` does.
func (e *svcEnv) signIn(t *testing.T) {
	t.Helper()
	if _, err := e.run(t, svcLogin, "--service", e.URL, "--mobile", svcClerkMobile, "--send-code"); err != nil {
		t.Fatal(err)
	}
	m, _ := e.SMS.Last(svcClerkMobile)
	if _, err := e.run(t, svcLogin, "--service", e.URL, "--mobile", svcClerkMobile, "--code-file", e.file(t, "code", m.Code)); err != nil {
		t.Fatal(err)
	}
}

// A re-key application: a new key pair is made on the token, its CSR bound
// to the old key, the certificate issued for it and installed; the old
// key pair is gone.
func TestServiceFetchInstallRekey(t *testing.T) {
	e := newSvcEnv(t)
	a := e.readyApplication(t, true)
	e.signIn(t)
	out, err := e.run(t, svcFetchInstall, "--application", a.ID, "--token", e.serial, "--module", e.hsm.Module,
		"--journal", filepath.Join(e.dir, "journal"), "--pin-file", e.file(t, "pin", svcPIN), "--json")
	if err != nil {
		t.Fatalf("fetch-install: %v\n%s", err, out)
	}
	var fi fetchInstallJSON
	if err := json.Unmarshal([]byte(out), &fi); err != nil || fi.Status != renewal.StatusInstalled || fi.Install == nil || fi.Install.Mode != token.Rekey {
		t.Fatalf("fetch-install %s, %v", out, err)
	}
	m, err := token.OpenModule(e.hsm.Module)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tok, err := m.Open(t.Context(), e.serial)
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	if err := tok.Login(t.Context(), []byte(svcPIN)); err != nil {
		t.Fatal(err)
	}
	inv, err := tok.Objects(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Certificates) != 1 || !inv.Certificates[0].HasKey() || bytes.Equal(inv.Certificates[0].ID, []byte{0xa1}) ||
		renewal.NormalizeSerial(inv.Certificates[0].Info.Serial) != fi.Serial {
		t.Fatalf("token after re-key: %+v", inv.Certificates)
	}
	for _, k := range inv.PrivateKeys {
		if bytes.Equal(k.ID, []byte{0xa1}) {
			t.Fatal("the old private key is still on the token")
		}
	}
}

// A run that stopped after the certificate was issued (the new key pair
// pending on the token) is finished by the next run: the certificate is
// fetched, not issued again, and written for the pending key.
func TestServiceFetchInstallResumesAfterIssue(t *testing.T) {
	e := newSvcEnv(t)
	ctx := t.Context()
	a := e.readyApplication(t, true)
	e.signIn(t)
	journal := filepath.Join(e.dir, "journal")
	c, _, err := e.cmds.resume(ctx, "", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	e.withToken(t, func(tok *token.Token) {
		j, err := token.OpenJournal(journal, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.cmds.issueRekey(ctx, c, tok, j, a); err != nil {
			t.Fatal(err)
		}
	})
	out, err := e.run(t, svcFetchInstall, "--application", a.ID, "--token", e.serial, "--module", e.hsm.Module,
		"--journal", journal, "--pin-file", e.file(t, "pin", svcPIN), "--json")
	if err != nil {
		t.Fatalf("fetch-install: %v\n%s", err, out)
	}
	var fi fetchInstallJSON
	if err := json.Unmarshal([]byte(out), &fi); err != nil || fi.Status != renewal.StatusInstalled || fi.Issued || fi.Install == nil || fi.Install.Mode != token.Rekey {
		t.Fatalf("fetch-install %s, %v", out, err)
	}
}
