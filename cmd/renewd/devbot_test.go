package main

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
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
	deadline := time.Now().Add(15 * time.Second)
	for a.Status != renewal.StatusReadyToDownload {
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
