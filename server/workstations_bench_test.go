package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
)

// BenchmarkCounterSession measures one workstation sign-in over loopback
// HTTP with the real store: POST /v1/counter/challenge (nonce row), the
// signature (a software P-256 key here; the TPM's own time is
// client/workstation's benchmark), POST /v1/counter/session (nonce spent,
// key found, signature checked, tokens and audit entry in one commit).
// Run by hand:
//
//	go test -run '^$' -bench CounterSession/sqlite -benchtime 300x ./server/
//	UKEY_TEST_PG_DSN=... go test -run '^$' -bench CounterSession/postgres -benchtime 300x ./server/
func BenchmarkCounterSession(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) { counterBench(b, db == "postgres") })
	}
}

func counterBench(b *testing.B, postgres bool) {
	e := newEnv(b, envOptions{postgres: postgres, noValidate: true})
	admin := e.passwordSignIn("admin", adminPassword).AccessToken
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	e.ok(http.StatusCreated, nil, "POST", "/v1/workstations", admin, server.EnrolWorkstationRequest{Name: "bench", PublicKey: pubPEM(b, &k.PublicKey)})
	b.ResetTimer()
	for range b.N {
		req := e.counterSign(k, "")
		var tok renewal.CounterTokens
		e.ok(http.StatusOK, &tok, "POST", "/v1/counter/session", "", req)
	}
}
