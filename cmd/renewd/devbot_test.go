package main

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/pem"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/testenv"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
)

// The whole renewal against the built binary, one person, as a demo runs:
// --dev-policy without financial verification and --dev-auto-review.
func TestDevAutoReviewWalksTheRenewal(t *testing.T) {
	data := t.TempDir()
	files, serials, keys := demoCertsWithKeys(t, 1)
	policy := filepath.Join(data, "policy.json")
	if err := os.WriteFile(policy, []byte(`{"payment_timing": "after_review", "finverify_required": false, "rekey_required": false,
		"window_before_days": 90, "window_after_days": 365, "prices_fen": [30000, 55000, 78000], "finverify_max_tries": 3}`), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startRenewd(t, "--dev", "--data", data, "--listen", "127.0.0.1:0", "--dev-known-cert", files[0],
		"--dev-policy", policy, "--dev-auto-review")
	c := &client{t: t, base: "http://" + p.addr}
	c.signIn()
	check, _ := renewal.IDNumberCheckChar("11010519491231002")
	form := renewal.ApplicationForm{Years: 1,
		Organisation:        renewal.Organisation{Name: DemoOrgName, CreditCode: demoCreditCode()},
		LegalRepresentative: renewal.Person{Name: "张三", IDNumber: "11010519491231002" + string(check), Mobile: DemoClerkMobile},
		Bank:                renewal.BankAccount{AccountName: DemoOrgName, BankName: "招商银行", AccountNumber: "755912345610801"},
		Invoice:             renewal.Invoice{Kind: renewal.InvoiceNone}, Pickup: renewal.Pickup{Method: renewal.PickupOnSite}}
	var a renewal.Application
	if st := c.do("POST", "/v1/applications", renewal.CreateApplicationRequest{CertSerial: serials[0], Form: &form}, &a); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	if st := c.do("POST", "/v1/applications/"+a.ID+"/submit", renewal.SubmitRequest{Version: a.Version, Comment: "演示"}, &a); st != 200 {
		t.Fatalf("submit: %d", st)
	}
	approvedThenPay(t, c, p, &a)
	for deadline := time.Now().Add(15 * time.Second); a.Status != renewal.StatusReadyToDownload; {
		if time.Now().After(deadline) {
			t.Fatalf("not ready to download after 15 s: %+v\n%s", a.State, p.log())
		}
		time.Sleep(200 * time.Millisecond)
		c.do("GET", "/v1/applications/"+a.ID, nil, &a)
	}
	var ch renewal.Challenge
	if st := c.do("POST", "/v1/applications/"+a.ID+"/challenge", nil, &ch); st != 200 {
		t.Fatalf("challenge: %d", st)
	}
	d := sha256.Sum256(renewal.SameKeyMessage(a.ID, serials[0], ch.Nonce))
	sig, err := ecdsa.SignASN1(rand.Reader, keys[0].(*ecdsa.PrivateKey), d[:])
	if err != nil {
		t.Fatal(err)
	}
	var is renewal.Issuance
	if st := c.do("POST", "/v1/applications/"+a.ID+"/issue", renewal.IssueRequest{Version: a.Version, Mode: renewal.IssueSameKey, Nonce: ch.Nonce, Signature: sig}, &is); st != 200 {
		t.Fatalf("issue: %d", st)
	}
	if st := c.do("POST", "/v1/applications/"+a.ID+"/installed", renewal.ConfirmInstalledRequest{Version: a.Version, Serial: is.Serial}, &a); st != 200 || a.Status != renewal.StatusInstalled {
		t.Fatalf("installed: %d %+v", st, a.State)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-p.done; err != nil {
		t.Fatalf("exit: %v", err)
	}
}

// The demo as scripts/demo-token.sh sets it up: an openssl-made CA and the
// clerk's openssl-made certificate; renewd --dev renews with that same CA,
// and openssl verifies the renewed certificate against it.
func TestDevWithTheDemoTokensCA(t *testing.T) {
	openssl := testenv.LookPath(t, "openssl")
	dir := t.TempDir()
	sh := func(args ...string) {
		t.Helper()
		cmd := exec.Command(openssl, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	sh("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
		"-days", "3650", "-utf8", "-subj", "/C=CN/O=UKey Renew 演示CA/CN=UKey Renew Demo CA")
	sh("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "clerk.key")
	sh("req", "-new", "-key", "clerk.key", "-utf8", "-subj", "/C=CN/O="+DemoOrgName+"/CN="+DemoOrgName, "-out", "clerk.csr")
	sh("x509", "-req", "-in", "clerk.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "20", "-out", "clerk.pem")
	if err := os.Chmod(filepath.Join(dir, "ca.key"), 0o600); err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := os.ReadFile(filepath.Join(dir, "clerk.key"))
	key, err := issuer.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _ := os.ReadFile(filepath.Join(dir, "clerk.pem"))
	certs, err := issuer.ParseCertificatesPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	serial := renewal.NormalizeSerial(certs[0].SerialNumber.Text(16))
	policy := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(policy, []byte(`{"payment_timing": "after_review", "finverify_required": false, "rekey_required": false,
		"window_before_days": 90, "window_after_days": 365, "prices_fen": [30000, 55000, 78000], "finverify_max_tries": 3}`), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startRenewd(t, "--dev", "--data", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0",
		"--dev-ca-chain", filepath.Join(dir, "ca.pem"), "--dev-ca-key", filepath.Join(dir, "ca.key"),
		"--dev-known-cert", filepath.Join(dir, "clerk.pem"), "--dev-policy", policy, "--dev-auto-review")
	c := &client{t: t, base: "http://" + p.addr}
	c.signIn()
	var a renewal.Application
	if st := c.do("POST", "/v1/applications", renewal.CreateApplicationRequest{CertSerial: serial}, &a); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	if a.Form.Organisation.Name != DemoOrgName || a.Form.Organisation.CreditCode != demoCreditCode() {
		t.Fatalf("not pre-filled from the demo organisation: %+v", a.Form.Organisation)
	}
	check, _ := renewal.IDNumberCheckChar("11010519491231002")
	a.Form.LegalRepresentative = renewal.Person{Name: "张三", IDNumber: "11010519491231002" + string(check), Mobile: DemoClerkMobile}
	a.Form.Bank.BankName, a.Form.Bank.AccountNumber = "招商银行", "755912345610801"
	if st := c.do("PUT", "/v1/applications/"+a.ID, renewal.UpdateApplicationRequest{Version: a.Version, Form: a.Form}, &a); st != 200 {
		t.Fatalf("edit: %d", st)
	}
	if st := c.do("POST", "/v1/applications/"+a.ID+"/submit", renewal.SubmitRequest{Version: a.Version}, &a); st != 200 {
		t.Fatalf("submit: %d", st)
	}
	approvedThenPay(t, c, p, &a)
	for deadline := time.Now().Add(15 * time.Second); a.Status != renewal.StatusReadyToDownload; {
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %+v", a.State)
		}
		time.Sleep(200 * time.Millisecond)
		c.do("GET", "/v1/applications/"+a.ID, nil, &a)
	}
	var ch renewal.Challenge
	c.do("POST", "/v1/applications/"+a.ID+"/challenge", nil, &ch)
	d := sha256.Sum256(renewal.SameKeyMessage(a.ID, serial, ch.Nonce))
	sig, _ := ecdsa.SignASN1(rand.Reader, key.(*ecdsa.PrivateKey), d[:])
	var is renewal.Issuance
	if st := c.do("POST", "/v1/applications/"+a.ID+"/issue", renewal.IssueRequest{Version: a.Version, Mode: renewal.IssueSameKey, Nonce: ch.Nonce, Signature: sig}, &is); st != 200 {
		t.Fatalf("issue: %d", st)
	}
	leaf := filepath.Join(dir, "renewed.pem")
	if err := os.WriteFile(leaf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: is.Certificate}), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(openssl, "verify", "-CAfile", filepath.Join(dir, "ca.pem"), leaf).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": OK") {
		t.Fatalf("the renewed certificate does not verify against the demo CA: %v\n%s", err, out)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
}

// approvedThenPay waits for the bot's approval, then asks for a QR code as
// the clerk: the bot pays it at the simulator and the signed notification
// makes the application paid (the caller waits for that).
func approvedThenPay(t *testing.T, c *client, p *proc, a *renewal.Application) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	// The bot approves; the clerk asks for a QR code; the bot pays it at the
	// simulator; the signed notification makes the application paid.
	for a.Status != renewal.StatusApproved {
		if time.Now().After(deadline) {
			t.Fatalf("not approved after 15 s: %+v\n%s", a.State, p.log())
		}
		time.Sleep(200 * time.Millisecond)
		c.do("GET", "/v1/applications/"+a.ID, nil, a)
	}
	if a.Payment != renewal.PaymentUnpaid {
		t.Fatalf("paid without a QR code: %+v", a.State)
	}
	var qr struct {
		Order struct {
			CodeURL   string    `json:"code_url"`
			AmountFen int64     `json:"amount_fen"`
			CreatedAt time.Time `json:"created_at"`
			ExpiresAt time.Time `json:"expires_at"`
		} `json:"order"`
	}
	if st := c.do("POST", "/v1/applications/"+a.ID+"/payment/qr", map[string]string{}, &qr); st != 200 {
		t.Fatalf("payment QR: %d\n%s", st, p.log())
	}
	if qr.Order.AmountFen != 30000 || qr.Order.CodeURL == "" || qr.Order.ExpiresAt.Sub(qr.Order.CreatedAt) != 300*time.Second {
		t.Fatalf("QR: %+v", qr)
	}
}
