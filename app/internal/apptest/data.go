package apptest

import (
	"errors"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
)

// Patience is how long a test waits for something that must happen: long
// enough that a machine busy with other builds never fails a test that would
// pass, since it only bounds a test that is failing anyway.
const Patience = 30 * time.Second

// Eventually waits until cond holds, at most Patience.
func Eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// ErrFakeModule is a module failing as a broken driver does.
var ErrFakeModule = errors.New("fake module: CKR_GENERAL_ERROR")

// T0 is the time of the demo tokens.
var T0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// DemoTokens are the tokens of two companies, one with a certificate
// expiring 20 days after T0, one with a certificate expired 3 days before.
func DemoTokens() []model.Token {
	return []model.Token{
		{Serial: "9A1B2C3D4E5F6071", Label: "UKey-Demo", Manufacturer: "SoftHSM project", Model: "SoftHSM v2",
			Certs: []model.Cert{{Label: "签名证书", ID: []byte{1}, Holder: "深圳市示例科技有限公司",
				Serial: "3F2A9C", Issuer: "UKey Renew Demo CA",
				NotBefore: T0.AddDate(-1, 0, 0), NotAfter: T0.Add(20*24*time.Hour + time.Hour), KeyType: "ECDSA P-256"}}},
		{Serial: "0000000000000042", Label: "财务部", Manufacturer: "Feitian", Model: "ePass3003",
			Certs: []model.Cert{{Label: "cert", Holder: "北京示例贸易有限公司 / 李四", Serial: "01AB",
				Issuer: "某某CA", NotBefore: T0.AddDate(-2, 0, 0), NotAfter: T0.Add(-3*24*time.Hour - time.Hour), KeyType: "SM2"}}},
	}
}

// Get is a binding's value; an error fails the test.
func Get[T any](t *testing.T, b interface{ Get() (T, error) }) T {
	t.Helper()
	v, err := b.Get()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TokenWith is a token of serial holding certs.
func TokenWith(serial string, certs ...model.Cert) model.Token {
	return model.Token{Serial: serial, Label: "UKey", Certs: certs}
}

// CertEnding is a year's certificate of holder ending at notAfter.
func CertEnding(serial, holder string, notAfter time.Time) model.Cert {
	return model.Cert{Label: "cert", Holder: holder, Serial: serial, Issuer: "某某CA",
		NotBefore: notAfter.AddDate(-1, 0, 0), NotAfter: notAfter, KeyType: "ECDSA P-256"}
}

// Days is n days.
func Days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

// TokensVM is the tokens view-model over src on a fake clock at T0, in a
// temporary app (the bindings notify through its driver; no window).
func TokensVM(t *testing.T, src model.TokenSource) (*model.TokensVM, *fakeclock.Clock) {
	t.Helper()
	test.NewTempApp(t)
	clock := fakeclock.New(T0)
	return model.NewTokensVM(src, clock, model.Formatter{Lang: model.LangZH, Loc: time.UTC}), clock
}

// Note is one desktop notification as sent.
type Note struct{ Title, Body string }
