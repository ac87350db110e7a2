package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
)

// Under pay-before-review a clerk could delete a draft and make it again
// to reset the application's daily cap on QR orders: 30 provider orders
// for one certificate in a minute. The certificate's orders are capped as
// the application's; another certificate of the organisation is not held
// back by it.
func TestQRCapSurvivesDeleteAndRecreate(t *testing.T) {
	eachDB(t, func(t *testing.T, pg bool) {
		e := newEnv(t, envOptions{postgres: pg, cfg: func(c *server.Config) { c.Policy.PaymentTiming = renewal.PayBeforeReview }})
		ct := e.smsSignIn(clerkMobile).AccessToken
		perDay := server.DefaultConfig().Limits.QROrdersPerDay
		draft := func(h string) renewal.Application {
			var a renewal.Application
			e.ok(http.StatusCreated, &a, "POST", "/v1/applications", ct, renewal.CreateApplicationRequest{CertSerial: e.holders[h].Serial, Form: ptr(validForm(e.Org, 1))})
			return a
		}
		made := 0
		var refusal resp
		for range 30 {
			a := draft("rsa")
			r := e.do("POST", "/v1/applications/"+a.ID+"/payment/qr", ct, renewal.PaymentQRRequest{}, "Accept-Language", "zh-CN")
			e.ok(http.StatusNoContent, nil, "DELETE", "/v1/applications/"+a.ID+"?version=1", ct, nil)
			if r.status != http.StatusOK {
				refusal = r
				break
			}
			made++
		}
		if made != perDay || refusal.status != http.StatusTooManyRequests || refusal.errCode() != "rate_limited" {
			t.Fatalf("delete and re-create made %d orders for one certificate (want %d), then %d %s", made, perDay, refusal.status, refusal.body)
		}
		if got := refusalOf(t, refusal); !strings.Contains(got.Message, "证书") {
			t.Fatalf("refusal %+v: the message should name the certificate", got)
		}
		e.ok(http.StatusOK, nil, "POST", "/v1/applications/"+draft("sm2").ID+"/payment/qr", ct, renewal.PaymentQRRequest{})
	})
}
