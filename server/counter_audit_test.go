package server_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
)

// enrolCounter enrols a new workstation key and opens a counter session
// with it: the workstation's id, its key and the session's tokens.
func (e *env) enrolCounter(admin string) (string, *ecdsa.PrivateKey, renewal.CounterTokens) {
	e.t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	var ws struct{ ID string }
	e.ok(http.StatusCreated, &ws, "POST", "/v1/workstations", admin, server.EnrolWorkstationRequest{Name: "二号柜台", PublicKey: pubPEM(e.t, &k.PublicKey)})
	var tok renewal.CounterTokens
	e.ok(http.StatusOK, &tok, "POST", "/v1/counter/session", "", e.counterSign(k, ""))
	return ws.ID, k, tok
}

// auditWhere pages the audit log with query (admin).
func (e *env) auditWhere(admin, query string) []renewal.AuditEntry {
	e.t.Helper()
	var page struct{ Items []renewal.AuditEntry }
	e.ok(http.StatusOK, &page, "GET", "/v1/audit?page_size=1000&"+query, admin, nil)
	return page.Items
}

// A counter refresh token presented a second time was copied: the whole
// counter session (the token that replaced it too) ends, as a clerk's
// session does; other sessions of the workstation go on.
func TestCounterRefreshReuseEndsTheSession(t *testing.T) {
	for _, pg := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite", true: "postgres"}[pg], func(t *testing.T) {
			e := newEnv(t, envOptions{postgres: pg})
			admin := e.passwordSignIn("admin", adminPassword).AccessToken
			wsID, k, tok := e.enrolCounter(admin)
			var other renewal.CounterTokens
			e.ok(http.StatusOK, &other, "POST", "/v1/counter/session", "", e.counterSign(k, ""))

			var next renewal.CounterTokens
			e.ok(http.StatusOK, &next, "POST", "/v1/counter/refresh", "", renewal.RefreshRequest{RefreshToken: tok.RefreshToken})
			e.fails(http.StatusUnauthorized, "token_revoked", "POST", "/v1/counter/refresh", "", renewal.RefreshRequest{RefreshToken: tok.RefreshToken})
			e.fails(http.StatusUnauthorized, "token_revoked", "POST", "/v1/counter/refresh", "", renewal.RefreshRequest{RefreshToken: next.RefreshToken})
			e.fails(http.StatusUnauthorized, "unauthenticated", "POST", "/v1/counter/sms-login", next.AccessToken,
				renewal.SMSLoginRequest{Mobile: clerkMobile, Code: "123456"})

			e.ok(http.StatusOK, nil, "POST", "/v1/counter/refresh", "", renewal.RefreshRequest{RefreshToken: other.RefreshToken})
			var reused []renewal.AuditEntry
			for _, en := range e.auditWhere(admin, "workstation_id="+wsID) {
				if en.Action == "counter.refresh_reused" {
					reused = append(reused, en)
				}
			}
			if len(reused) != 1 || reused[0].Target != "workstation/"+wsID {
				t.Fatalf("the reuse is not audited at its workstation once: %+v", reused)
			}
		})
	}
}

// What a clerk signed in at a counter does is audited with the
// workstation, in the hashed record: listed by workstation, exported in
// CSV and JSON, and the chain verifies. The same clerk at their own
// computer leaves no workstation.
func TestCounterClerkActionsCarryTheWorkstation(t *testing.T) {
	for _, pg := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite", true: "postgres"}[pg], func(t *testing.T) {
			e := newEnv(t, envOptions{postgres: pg})
			admin := e.passwordSignIn("admin", adminPassword).AccessToken
			wsID, _, tok := e.enrolCounter(admin)
			e.ok(http.StatusAccepted, nil, "POST", "/v1/auth/sms-code", "", renewal.SMSCodeRequest{Mobile: clerkMobile})
			var atCounter renewal.Tokens
			e.ok(http.StatusOK, &atCounter, "POST", "/v1/counter/sms-login", tok.AccessToken, renewal.SMSLoginRequest{Mobile: clerkMobile, Code: e.SMSCode(clerkMobile)})
			e.Clock.Advance(61 * time.Second)
			form := validForm(e.Org, 1)
			var a renewal.Application
			e.ok(http.StatusCreated, &a, "POST", "/v1/applications", atCounter.AccessToken, renewal.CreateApplicationRequest{CertSerial: e.holders["rsa"].Serial, Form: &form})
			own := e.smsSignIn(clerkMobile)
			form.Years = 2
			e.ok(http.StatusOK, &a, "PUT", "/v1/applications/"+a.ID, own.AccessToken, renewal.UpdateApplicationRequest{Version: a.Version, Form: form})

			got := e.auditWhere(admin, "target=application/"+a.ID)
			if len(got) != 2 || got[0].Action != "application.create" || got[0].WorkstationID != wsID || got[1].WorkstationID != "" ||
				got[0].RecordVersion != 2 || got[1].RecordVersion != 2 {
				t.Fatalf("the application's audit: %+v; want the create at %s, the edit at no workstation", got, wsID)
			}
			var actions []string
			for _, en := range e.auditWhere(admin, "workstation_id="+wsID) {
				if en.WorkstationID != wsID {
					t.Fatalf("listed for %s: %+v", wsID, en)
				}
				actions = append(actions, en.Action)
			}
			for _, want := range []string{"counter.session_granted", "auth.sms_login", "application.create"} {
				if !slices.Contains(actions, want) {
					t.Errorf("%s is not listed at the workstation: %v", want, actions)
				}
			}

			r := e.ok(http.StatusOK, nil, "GET", "/v1/audit/export?format=csv", admin, nil)
			recs, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			col := slices.Index(recs[0], "workstation_id")
			found := false
			for _, rec := range recs[1:] {
				found = found || (col >= 0 && rec[3] == "application.create" && rec[col] == wsID)
			}
			if !found {
				t.Errorf("the CSV export does not show the workstation of the create (header %v)", recs[0])
			}
			r = e.ok(http.StatusOK, nil, "GET", "/v1/audit/export?format=json", admin, nil)
			var entries []renewal.AuditEntry
			if err := json.Unmarshal(r.body, &entries); err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(entries, func(en renewal.AuditEntry) bool {
				return en.Action == "application.create" && en.WorkstationID == wsID
			}) {
				t.Error("the JSON export does not show the workstation of the create")
			}
			var v renewal.AuditVerification
			e.ok(http.StatusOK, &v, "GET", "/v1/audit/verify", admin, nil)
			if !v.OK {
				t.Fatalf("the chain does not verify: %+v", v)
			}
		})
	}
}
