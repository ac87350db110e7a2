package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// Over HTTP: a renewed and installed certificate answers eligibility with
// superseded_by and a refusal naming the new serial (in the asked
// language), and a new application for it is refused with 422 superseded;
// a form naming another organisation is refused with 422 and the fields.
func TestRenewalRulesOverHTTP(t *testing.T) {
	for _, pg := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite", true: "postgres"}[pg], func(t *testing.T) {
			e := newEnv(t, envOptions{postgres: pg})
			clerk := e.smsSignIn(clerkMobile).AccessToken
			h := e.holders["rsa"]
			form := validForm(e.Org, 1)
			var a renewal.Application
			e.ok(http.StatusCreated, &a, "POST", "/v1/applications", clerk, renewal.CreateApplicationRequest{CertSerial: h.Serial, Form: &form})
			const next = "5eeded01"
			err := e.Store.Write(t.Context(), func(tx *store.Tx) error {
				if err := tx.PutIssuance(t.Context(), &renewal.Issuance{ApplicationID: a.ID, Mode: renewal.IssueSameKey, Serial: next,
					Certificate: []byte{0x30}, NotBefore: start, NotAfter: start.AddDate(1, 0, 0)}, store.Change{Actor: "system", Action: "test.arrange"}); err != nil {
					return err
				}
				_, err := tx.UpdateApplication(t.Context(), store.AllScope(), a.ID, a.Version, store.Change{Actor: "system", Action: "test.arrange"},
					func(a *renewal.Application) error {
						a.State = renewal.State{Status: renewal.StatusInstalled, Payment: renewal.PaymentPaid, FinVerify: renewal.FinVerifyVerified}
						return nil
					})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			var el renewal.Eligibility
			e.ok(http.StatusOK, &el, "GET", "/v1/certificates/"+h.Serial+"/eligibility", clerk, nil, "Accept-Language", "zh-CN")
			if el.Eligible || el.SupersededBy != next || el.Reason == nil || el.Reason.Code != renewal.CodeSuperseded ||
				el.Reason.Localized("zh-CN") != "此证书已续期，新证书序列号 "+next {
				t.Fatalf("eligibility of the renewed certificate: %+v (reason %+v)", el, el.Reason)
			}
			r := e.fails(http.StatusUnprocessableEntity, "superseded", "POST", "/v1/applications", clerk,
				renewal.CreateApplicationRequest{CertSerial: h.Serial, Form: &form}, "Accept-Language", "zh-CN")
			var body struct{ Field, Message string }
			if err := json.Unmarshal(r.body, &body); err != nil || body.Field != "cert_serial" || body.Message != "此证书已续期，新证书序列号 "+next {
				t.Fatalf("refusal %s", r.body)
			}

			other := validForm(e.Other, 1)
			r = e.fails(http.StatusUnprocessableEntity, "organisation_mismatch", "POST", "/v1/applications", clerk,
				renewal.CreateApplicationRequest{CertSerial: e.holders["sm2"].Serial, Form: &other}, "Accept-Language", "zh-CN")
			var mismatch struct {
				Fields []struct{ Code, Field, Message string }
			}
			if err := json.Unmarshal(r.body, &mismatch); err != nil || len(mismatch.Fields) != 2 ||
				mismatch.Fields[0].Field != "form.organisation.name" || mismatch.Fields[1].Field != "form.organisation.credit_code" ||
				!strings.HasPrefix(mismatch.Fields[0].Message, "与证书登记的单位不一致") {
				t.Fatalf("refusal of another organisation: %s", r.body)
			}
		})
	}
}
