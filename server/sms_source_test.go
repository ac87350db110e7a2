package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
)

// A stranger asking for a code to the clerk's number killed the clerk's
// live code and made her wait: the resend wait and the replacement of a
// code were per number. They are per number and source now; a number has
// one live code per source that asked, and the sign-in takes any of them.
// A stranger's wrong tries are counted apart and do not kill hers.
func TestStrangerSMSCodeLeavesTheClerksCode(t *testing.T) {
	for _, pg := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite", true: "postgres"}[pg], func(t *testing.T) {
			e := newEnv(t, envOptions{postgres: pg, cfg: func(c *server.Config) {
				c.ClientIPHeader, c.TrustedProxies = "X-Forwarded-For", loopbackProxy
			}})
			const clerk, stranger = "203.0.113.7", "198.51.100.9"
			ask := func(ip string) resp {
				return e.do("POST", "/v1/auth/sms-code", "", renewal.SMSCodeRequest{Mobile: clerkMobile}, "X-Forwarded-For", ip)
			}
			login := func(ip, code string) resp {
				return e.do("POST", "/v1/auth/sms-login", "", renewal.SMSLoginRequest{Mobile: clerkMobile, Code: code}, "X-Forwarded-For", ip)
			}
			// The clerk's source is trusted with her number.
			if r := ask(clerk); r.status != http.StatusAccepted {
				t.Fatalf("ask: %d %s", r.status, r.body)
			}
			if r := login(clerk, e.SMSCode(clerkMobile)); r.status != http.StatusOK {
				t.Fatalf("sign-in: %d %s", r.status, r.body)
			}
			e.Clock.Advance(61 * time.Second)

			// (1) The clerk asks for a code.
			if r := ask(clerk); r.status != http.StatusAccepted {
				t.Fatalf("(1) ask: %d %s", r.status, r.body)
			}
			hers := e.SMSCode(clerkMobile)
			// (2) 61 s later a stranger asks for one to the same number.
			e.Clock.Advance(61 * time.Second)
			if r := ask(stranger); r.status != http.StatusAccepted {
				t.Fatalf("(2) stranger asks: %d %s", r.status, r.body)
			}
			theirs := e.SMSCode(clerkMobile)
			if r := ask(stranger); r.status != http.StatusTooManyRequests || r.errCode() != "sms_too_soon" {
				t.Fatalf("the stranger asks again at once: %d %s; want sms_too_soon", r.status, r.body)
			}
			// The stranger guesses until the codes are dead for strangers.
			wrong := "000000"
			for wrong == hers || wrong == theirs {
				wrong = string(rune(wrong[0]+1)) + wrong[1:]
			}
			for range 5 {
				if r := login(stranger, wrong); r.status != http.StatusUnauthorized {
					t.Fatalf("a wrong guess: %d %s", r.status, r.body)
				}
			}
			// (3) The clerk's own code still signs her in.
			if r := login(clerk, hers); r.status != http.StatusOK {
				t.Fatalf("(3) the clerk's code after the stranger's request: %d %s", r.status, r.body)
			}
			// (4) And she is not kept waiting by the stranger's request.
			if r := ask(clerk); r.status != http.StatusAccepted {
				t.Fatalf("(4) the clerk asks again: %d %s", r.status, r.body)
			}
		})
	}
}
