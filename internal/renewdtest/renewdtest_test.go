package renewdtest_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// The default renewd answers over HTTP on SQLite, through Wrap, on a clock
// that stands still; the seeded clerk gets an SMS code.
func TestServesOnItsClock(t *testing.T) {
	var seen atomic.Int64
	r := renewdtest.New(t, renewdtest.Options{Wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, q *http.Request) { seen.Add(1); h.ServeHTTP(w, q) })
	}})
	if r.Store.Dialect() != store.SQLite || r.Payments != nil {
		t.Fatalf("default: dialect %v, payments %v", r.Store.Dialect(), r.Payments)
	}
	res, err := http.Post(r.URL+"/v1/auth/sms-code", "application/json", strings.NewReader(`{"mobile":"`+renewdtest.ClerkMobile+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted || seen.Load() != 1 {
		t.Fatalf("sms-code: %d, %d requests through Wrap", res.StatusCode, seen.Load())
	}
	if code := r.SMSCode(renewdtest.ClerkMobile); len(code) != 6 {
		t.Fatalf("code %q", code)
	}
	if !r.Clock.Now().Equal(renewdtest.Start) {
		t.Fatalf("the clock moved by itself: %v", r.Clock.Now())
	}
	h := r.AddHolder(issuer.SM2, r.Org, renewdtest.Start.AddDate(0, 0, 30))
	c, err := r.Store.Certificate(t.Context(), store.AllScope(), h.Serial)
	if err != nil || c.KeyType != renewal.KeySM2 || !c.NotAfter.Equal(h.Cert.NotAfter) {
		t.Fatalf("holder's certificate in the store: %+v, %v", c, err)
	}
}

// With Postgres the store is on PostgreSQL; NoServer builds the parts only,
// Payments the payment module; Now moves the start.
func TestPartsOnPostgres(t *testing.T) {
	at := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	r := renewdtest.New(t, renewdtest.Options{Postgres: true, NoServer: true, Payments: true, Now: at})
	if r.Store.Dialect() != store.Postgres || r.URL != "" || r.Server != nil || r.Payments == nil || r.PaySim == nil {
		t.Fatalf("dialect %v, URL %q, server %v, payments %v", r.Store.Dialect(), r.URL, r.Server, r.Payments)
	}
	if !r.Clock.Now().Equal(at) {
		t.Fatalf("clock at %v, want %v", r.Clock.Now(), at)
	}
}
