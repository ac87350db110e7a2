package server_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509/pkix"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
)

// refusal is the wire form of an error, as the GUI reads it.
type refusal struct {
	Code, Field, Message string
	MessageZH            string `json:"message_zh"`
}

func refusalOf(t *testing.T, r resp) refusal {
	t.Helper()
	var out refusal
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("refusal %s: %v", r.body, err)
	}
	return out
}

func eachDB(t *testing.T, fn func(t *testing.T, pg bool)) {
	for _, pg := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite", true: "postgres"}[pg], func(t *testing.T) { fn(t, pg) })
	}
}

// The attack, over HTTP, under pay before review: a year paid for (dev
// pay at the simulator), then the form asks for 3. The PUT is refused
// with 409 price_locked on form.years, in Chinese, and the application
// stays one year at 300 CNY.
func TestPaidYearsLockedOverHTTP(t *testing.T) {
	eachDB(t, func(t *testing.T, pg bool) {
		e := newEnv(t, envOptions{postgres: pg, cfg: func(c *server.Config) { c.Policy.PaymentTiming = renewal.PayBeforeReview }})
		ct := e.smsSignIn(clerkMobile).AccessToken
		var a renewal.Application
		e.ok(http.StatusCreated, &a, "POST", "/v1/applications", ct, renewal.CreateApplicationRequest{CertSerial: e.holders["rsa"].Serial, Form: ptr(validForm(e.Org, 1))})
		a = e.payQR(ct, a.ID)
		r := e.fails(http.StatusConflict, "price_locked", "PUT", "/v1/applications/"+a.ID, ct,
			renewal.UpdateApplicationRequest{Version: a.Version, Form: validForm(e.Org, 3)}, "Accept-Language", "zh-CN")
		if got := refusalOf(t, r); got.Field != "form.years" || !strings.Contains(got.Message, "已支付") {
			t.Fatalf("refusal %+v", got)
		}
		e.ok(http.StatusOK, &a, "GET", "/v1/applications/"+a.ID, ct, nil)
		if a.Form.Years != 1 || a.PriceFen != 300_00 || a.Payment != renewal.PaymentPaid {
			t.Fatalf("after the refused PUT: %d years, %d fen, %s", a.Form.Years, a.PriceFen, a.Payment)
		}
	})
}

// QR codes alternating between WeChat Pay and Alipay: after the daily
// number of orders, 429 rate_limited with Retry-After and a Chinese
// message saying when; the live code is still answered.
func TestQRFloodOverHTTP(t *testing.T) {
	eachDB(t, func(t *testing.T, pg bool) {
		e := newEnv(t, envOptions{postgres: pg})
		ct := e.smsSignIn(clerkMobile).AccessToken
		reviewer := e.passwordSignIn(renewdtest.ReviewerAccount, reviewerPassword).AccessToken
		a := e.approved(ct, reviewer, "rsa")
		path := "/v1/applications/" + a.ID + "/payment/qr"
		providers := []string{"wechat", "alipay"}
		var live renewal.PaymentQR
		for i := range server.DefaultConfig().Limits.QROrdersPerDay {
			e.ok(http.StatusOK, &live, "POST", path, ct, renewal.PaymentQRRequest{Provider: providers[i%2]})
		}
		next := providers[server.DefaultConfig().Limits.QROrdersPerDay%2]
		r := e.fails(http.StatusTooManyRequests, "rate_limited", "POST", path, ct, renewal.PaymentQRRequest{Provider: next}, "Accept-Language", "zh-CN")
		if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 || ra > int((24*time.Hour).Seconds()) {
			t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
		}
		if got := refusalOf(t, r); !strings.Contains(got.Message, "二维码") {
			t.Fatalf("refusal %+v", got)
		}
		var again renewal.PaymentQR
		e.ok(http.StatusOK, &again, "POST", path, ct, renewal.PaymentQRRequest{Provider: live.Order.Provider})
		if again.Order.OutTradeNo != live.Order.OutTradeNo {
			t.Fatalf("the live code %s was replaced by %s", live.Order.OutTradeNo, again.Order.OutTradeNo)
		}
	})
}

// After approval the bank account cannot be pointed at someone else: a
// correction while the check is merely pending is refused, and no
// transfer goes to the stranger's account.
func TestCorrectBankToStrangerOverHTTP(t *testing.T) {
	eachDB(t, func(t *testing.T, pg bool) {
		e := newEnv(t, envOptions{postgres: pg})
		ct := e.smsSignIn(clerkMobile).AccessToken
		reviewer := e.passwordSignIn(renewdtest.ReviewerAccount, reviewerPassword).AccessToken
		a := e.approved(ct, reviewer, "rsa")
		stranger := renewal.BankAccount{AccountName: "李四", BankName: "中国工商银行深圳分行", AccountNumber: "6222021001123456789"}
		e.fails(http.StatusConflict, "action_not_allowed", "POST", "/v1/applications/"+a.ID+"/finverify/bank", ct,
			renewal.CorrectBankRequest{Version: a.Version, Bank: stranger})

		// Failed for real (the bank refuses the form's account): still not to 李四.
		e.Bank.Refuse[a.Form.Bank.AccountNumber] = true
		e.fails(http.StatusBadRequest, "bank_account", "POST", "/v1/applications/"+a.ID+"/finverify/start", ct, renewal.VersionRequest{Version: a.Version})
		e.ok(http.StatusOK, &a, "GET", "/v1/applications/"+a.ID, ct, nil)
		if a.FinVerify != renewal.FinVerifyFailed {
			t.Fatalf("after the refused transfer: %s", a.State)
		}
		r := e.fails(http.StatusUnprocessableEntity, "organisation_mismatch", "POST", "/v1/applications/"+a.ID+"/finverify/bank", ct,
			renewal.CorrectBankRequest{Version: a.Version, Bank: stranger}, "Accept-Language", "zh-CN")
		if got := refusalOf(t, r); got.Field != "bank.account_name" || !strings.Contains(got.Message, e.Org.Name) {
			t.Fatalf("refusal %+v", got)
		}
		if n := len(e.Bank.Transfers(stranger.AccountNumber)); n != 0 {
			t.Fatalf("%d transfers to 李四", n)
		}
	})
}

// Eligibility over HTTP: an RSA-1024 or P-224 certificate is eligible with
// rekey_required; one not valid yet is not eligible (not_yet_valid), and
// applying for it is refused with 422, not a 500 at issuance.
func TestKeyEligibilityOverHTTP(t *testing.T) {
	eachDB(t, func(t *testing.T, pg bool) {
		e := newEnv(t, envOptions{postgres: pg})
		ct := e.smsSignIn(clerkMobile).AccessToken
		rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			t.Fatal(err)
		}
		p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		for _, pub := range []crypto.PublicKey{rsa1024.Public(), p224.Public()} {
			serial := renewdtest.SerialOf(e.PutOldCertificate(pub, e.Org, start.AddDate(0, 0, 30)))
			var el renewal.Eligibility
			e.ok(http.StatusOK, &el, "GET", "/v1/certificates/"+serial+"/eligibility", ct, nil)
			if !el.Eligible || !el.RekeyRequired {
				t.Fatalf("eligibility of a %T key: %+v", pub, el)
			}
			var a renewal.Application
			e.ok(http.StatusCreated, &a, "POST", "/v1/applications", ct, renewal.CreateApplicationRequest{CertSerial: serial, Form: ptr(validForm(e.Org, 1))})
			if !a.Rekey {
				t.Fatalf("application for a %T key is same-key", pub)
			}
		}

		key, err := issuer.GenerateKey(issuer.ECDSA)
		if err != nil {
			t.Fatal(err)
		}
		der, err := e.CA.IssueInitial(pkix.Name{Organization: []string{e.Org.Name}, CommonName: "张三"}, key.Public(), start.Add(time.Hour), start.AddDate(0, 0, 30))
		if err != nil {
			t.Fatal(err)
		}
		serial := renewdtest.SerialOf(e.Register(der, e.Org))
		var el renewal.Eligibility
		e.ok(http.StatusOK, &el, "GET", "/v1/certificates/"+serial+"/eligibility", ct, nil)
		if el.Eligible || el.Reason == nil || el.Reason.Code != renewal.CodeNotYetValid {
			t.Fatalf("eligibility of a certificate not valid yet: %+v", el)
		}
		e.fails(http.StatusUnprocessableEntity, "not_yet_valid", "POST", "/v1/applications", ct,
			renewal.CreateApplicationRequest{CertSerial: serial, Form: ptr(validForm(e.Org, 1))})
	})
}
