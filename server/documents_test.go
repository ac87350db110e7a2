package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

func TestDocumentDeleteRacingSubmitSQLite(t *testing.T) {
	runDocumentDeleteRacingSubmit(t, newEnv(t, envOptions{}))
}

func TestDocumentDeleteRacingSubmitPostgres(t *testing.T) {
	runDocumentDeleteRacingSubmit(t, newEnv(t, envOptions{postgres: true}))
}

// A delete that arrives while a submit is committing waits for it and then
// sees the submitted state: the document stays with the application the
// reviewer reads.
func runDocumentDeleteRacingSubmit(t *testing.T, e *env) {
	ct := e.smsSignIn(clerkMobile).AccessToken
	var a renewal.Application
	e.ok(http.StatusCreated, &a, "POST", "/v1/applications", ct, renewal.CreateApplicationRequest{CertSerial: e.holders["rsa"].Serial, Form: ptr(validForm(e.Org, 1))})
	app := "/v1/applications/" + a.ID
	var doc renewal.Document
	e.ok(http.StatusCreated, &doc, "POST", app+"/documents?kind=application_form&name=form.pdf", ct, []byte("%PDF-1.4\n%%EOF\n"))
	e.ok(http.StatusOK, &a, "GET", app, ct, nil)

	done := make(chan resp, 1)
	err := e.Store.Write(t.Context(), func(tx *store.Tx) error {
		_, err := tx.UpdateApplication(t.Context(), store.AllScope(), a.ID, a.Version, store.Change{Actor: "test", Action: "application.submit"},
			func(x *renewal.Application) error {
				next, err := renewal.Apply(x.State, renewal.DefaultPolicy(), renewal.RoleClerk, renewal.ActionSubmit)
				x.State = next
				return err
			})
		if err != nil {
			return err
		}
		go func() { done <- e.do("DELETE", app+"/documents/"+doc.ID, ct, nil) }()
		// Give the delete time to reach the database; whenever it does, it
		// must not act on the state before this commit.
		time.Sleep(200 * time.Millisecond)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.status != http.StatusConflict || r.errCode() != "action_not_allowed" {
		t.Fatalf("delete racing a submit: %d %s", r.status, r.body)
	}
	var docs struct{ Items []renewal.Document }
	e.ok(http.StatusOK, &docs, "GET", app+"/documents", ct, nil)
	if len(docs.Items) != 1 {
		t.Fatalf("%d documents after the refused delete", len(docs.Items))
	}
}

// The verification transfers of an application are limited
// (Limits.MaxTransfers), counted from the transfers themselves.
func TestFinVerifyTransferLimit(t *testing.T) {
	e := newEnv(t, envOptions{})
	ct := e.smsSignIn(clerkMobile).AccessToken
	reviewer := e.passwordSignIn("reviewer", reviewerPassword).AccessToken
	a := e.approved(ct, reviewer, "rsa")
	app := "/v1/applications/" + a.ID
	for i := 1; i <= server.DefaultConfig().Limits.MaxTransfers; i++ {
		e.ok(http.StatusOK, nil, "POST", app+"/finverify/start", ct, renewal.VersionRequest{Version: a.Version})
		e.ok(http.StatusOK, &a, "GET", app, ct, nil)
		if n := len(e.Bank.Transfers(a.Form.Bank.AccountNumber)); n != i {
			t.Fatalf("%d transfers after %d starts", n, i)
		}
	}
	e.fails(http.StatusTooManyRequests, "rate_limited", "POST", app+"/finverify/start", ct, renewal.VersionRequest{Version: a.Version})
	if n := len(e.Bank.Transfers(a.Form.Bank.AccountNumber)); n != server.DefaultConfig().Limits.MaxTransfers {
		t.Fatalf("%d transfers after the limit", n)
	}
}
