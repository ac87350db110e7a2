package model_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/langtest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// fakeReminderService is a fake renewal service for the reminders: a
// policy, or an error, and the renewed serials, counting the calls. The real
// service is used in TestReminderWithTheRealService.
type fakeReminderService struct {
	mu         sync.Mutex
	policy     renewal.Policy
	policyErr  error
	renewed    map[string]bool
	renewedErr error
	policyN    int
	renewedN   int
}

func (s *fakeReminderService) Policy(ctx context.Context) (renewal.Policy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.policyN++
	return s.policy, s.policyErr
}

func (s *fakeReminderService) Renewed(ctx context.Context) (map[string]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.renewedN++
	return s.renewed, s.renewedErr
}

func (s *fakeReminderService) calls() (policy, renewed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.policyN, s.renewedN
}

// The clerk's zone: days are counted in China Standard Time.
var cst = time.FixedZone("CST", 8*3600)

// remT0 is 9 o'clock in the morning in Beijing.
var remT0 = time.Date(2026, 11, 23, 9, 0, 0, 0, cst)

type noteLog struct {
	mu    sync.Mutex
	notes []apptest.Note
}

func (l *noteLog) notify(title, body string) {
	l.mu.Lock()
	l.notes = append(l.notes, apptest.Note{Title: title, Body: body})
	l.mu.Unlock()
}

// take returns the notifications since the last take.
func (l *noteLog) take() []apptest.Note {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.notes
	l.notes = nil
	return n
}

func newReminderVM(t *testing.T, svc model.ReminderService) (*model.ReminderVM, *fakeclock.Clock, *noteLog) {
	t.Helper()
	test.NewTempApp(t) // bindings notify through the app's driver
	clock := fakeclock.New(remT0)
	log := &noteLog{}
	return model.NewReminderVM(svc, clock, model.Formatter{Lang: model.CurrentLang(), Loc: cst}, log.notify), clock, log
}

func bodies(notes []apptest.Note) []string {
	var out []string
	for _, n := range notes {
		out = append(out, n.Body)
	}
	return out
}

func wantNotes(t *testing.T, step string, got []apptest.Note, want ...string) {
	t.Helper()
	if strings.Join(bodies(got), "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: notified\n  %q\nwant\n  %q", step, bodies(got), want)
	}
}

func TestReminderDecisionTable(t *testing.T) {
	svc := &fakeReminderService{policy: renewal.DefaultPolicy()} // 90 days before, 365 after
	vm, clock, log := newReminderVM(t, svc)
	ctx := t.Context()
	// Ends at 18:00 in 31 calendar days.
	tok := apptest.TokenWith("12345", apptest.CertEnding("0A1B", "某公司", remT0.Add(apptest.Days(31)+9*time.Hour)))
	toks := []model.Token{tok}

	vm.Check(ctx, toks)
	wantNotes(t, "31 days left", log.take())
	if p, _ := svc.calls(); p != 0 {
		t.Errorf("31 days left asked the service %d times; nothing was close", p)
	}
	if d := apptest.Get[[]model.Reminder](t, vm.Due); len(d) != 0 {
		t.Errorf("31 days left: due %v", d)
	}

	clock.Advance(apptest.Days(1))
	vm.Check(ctx, toks)
	wantNotes(t, "30 days left", log.take(), "UKey 12345 上的证书「某公司」还有 30 天到期，请及时续期。")
	if d := apptest.Get[[]model.Reminder](t, vm.Due); len(d) != 1 || d[0].TokenSerial != "12345" || d[0].CertSerial != "0A1B" || d[0].Days != 30 {
		t.Errorf("30 days left: due %+v", d)
	}

	clock.Advance(14*time.Hour + 59*time.Minute) // 23:59 the same day
	vm.Check(ctx, toks)
	wantNotes(t, "the same day again", log.take())
	if d := apptest.Get[[]model.Reminder](t, vm.Due); len(d) != 1 {
		t.Errorf("the same day: still due, got %v", d)
	}

	clock.Advance(time.Minute) // midnight in Beijing: the next day
	vm.Check(ctx, toks)
	wantNotes(t, "the next day", log.take(), "UKey 12345 上的证书「某公司」还有 29 天到期，请及时续期。")

	clock.Advance(apptest.Days(29))
	vm.Check(ctx, toks)
	wantNotes(t, "the last day", log.take(), "UKey 12345 上的证书「某公司」今天到期，请尽快续期。")
	if r := apptest.Get[[]model.Reminder](t, vm.Due); r[0].Days != 0 {
		t.Errorf("the last day: Days %d", r[0].Days)
	}

	clock.Advance(19 * time.Hour) // 19:00: an hour after the end
	vm.Check(ctx, toks)
	wantNotes(t, "the last day, after the end", log.take()) // already told today

	clock.Advance(apptest.Days(3))
	vm.Check(ctx, toks)
	wantNotes(t, "expired", log.take(), "UKey 12345 上的证书「某公司」已过期 3 天，请尽快续期。")
	if r := apptest.Get[[]model.Reminder](t, vm.Due); r[0].Title != "证书已过期" || r[0].Days != -3 {
		t.Errorf("expired: %+v", r)
	}

	clock.Advance(apptest.Days(363)) // past the 365 days the policy allows after expiry
	vm.Check(ctx, toks)
	wantNotes(t, "expired past the window", log.take())
	if d := apptest.Get[[]model.Reminder](t, vm.Due); len(d) != 0 {
		t.Errorf("expired past the window: due %v", d)
	}
}

func TestReminderExpiredToday(t *testing.T) {
	vm, _, log := newReminderVM(t, nil)
	vm.Check(t.Context(), []model.Token{apptest.TokenWith("12345", apptest.CertEnding("0A1B", "某公司", remT0.Add(-time.Hour)))})
	got := log.take()
	wantNotes(t, "ended an hour ago", got, "UKey 12345 上的证书「某公司」今天已过期，请尽快续期。")
	if len(got) == 1 && got[0].Title != "证书已过期" {
		t.Errorf("title %q", got[0].Title)
	}
}

func TestReminderOnlyInsideThePolicyWindow(t *testing.T) {
	p := renewal.DefaultPolicy()
	p.WindowBeforeDays, p.WindowAfterDays = 7, 30
	vm, clock, log := newReminderVM(t, &fakeReminderService{policy: p})
	ctx := t.Context()
	end := remT0.Add(apptest.Days(20) + 6*time.Hour) // 15:00
	toks := []model.Token{apptest.TokenWith("12345", apptest.CertEnding("0A1B", "某公司", end))}

	vm.Check(ctx, toks)
	wantNotes(t, "20 days left, window opens at 7", log.take())

	clock.Set(end.Add(-apptest.Days(7) - time.Minute)) // a minute before the window opens
	vm.Check(ctx, toks)
	wantNotes(t, "a minute before the window", log.take())

	clock.Advance(time.Minute)
	vm.Check(ctx, toks)
	wantNotes(t, "the window opened", log.take(), "UKey 12345 上的证书「某公司」还有 7 天到期，请及时续期。")

	clock.Set(end.Add(apptest.Days(30) + time.Minute)) // the window closed a minute ago
	vm.Check(ctx, toks)
	wantNotes(t, "after the window closed", log.take())
}

func TestReminderTwoTokensAndARemovedOne(t *testing.T) {
	vm, clock, log := newReminderVM(t, nil)
	ctx := t.Context()
	a := apptest.TokenWith("1111", apptest.CertEnding("AA", "甲公司", remT0.Add(apptest.Days(10))))
	b := apptest.TokenWith("2222", apptest.CertEnding("BB", "乙公司", remT0.Add(-apptest.Days(2))),
		apptest.CertEnding("CC", "乙公司 / 李四", remT0.Add(apptest.Days(200)))) // far from expiry

	vm.Check(ctx, []model.Token{a, b})
	wantNotes(t, "two tokens", log.take(),
		"UKey 1111 上的证书「甲公司」还有 10 天到期，请及时续期。",
		"UKey 2222 上的证书「乙公司」已过期 2 天，请尽快续期。")

	vm.Check(ctx, []model.Token{a}) // 2222 pulled out
	wantNotes(t, "one removed", log.take())
	if d := apptest.Get[[]model.Reminder](t, vm.Due); len(d) != 1 || d[0].TokenSerial != "1111" {
		t.Errorf("after removal due %+v, want only 1111", d)
	}

	vm.Check(ctx, []model.Token{a, b}) // put back the same day
	wantNotes(t, "put back the same day", log.take())

	clock.Advance(apptest.Days(1))
	vm.Check(ctx, []model.Token{a})
	wantNotes(t, "the next day, 2222 out", log.take(), "UKey 1111 上的证书「甲公司」还有 9 天到期，请及时续期。")
	vm.Check(ctx, []model.Token{a, b})
	wantNotes(t, "2222 back the next day", log.take(), "UKey 2222 上的证书「乙公司」已过期 3 天，请尽快续期。")

	// The same certificate on two tokens is two reminders: each token is renewed on its own.
	c := apptest.TokenWith("3333", apptest.CertEnding("AA", "甲公司", remT0.Add(apptest.Days(10))))
	vm.Check(ctx, []model.Token{a, b, c})
	wantNotes(t, "a copy on a third token", log.take(), "UKey 3333 上的证书「甲公司」还有 9 天到期，请及时续期。")
}

func TestReminderSkipsWhatCannotOrNeedNotBeRenewed(t *testing.T) {
	svc := &fakeReminderService{policy: renewal.DefaultPolicy(), renewed: map[string]bool{"a1b": true}}
	vm, _, log := newReminderVM(t, svc)
	// Each would be due by its dates: only the rule under test keeps it out.
	broken := apptest.CertEnding("0C", "坏证书", remT0.Add(apptest.Days(5)))
	broken.Err = errors.New("asn1: syntax error")
	notYet := apptest.CertEnding("0D", "新证书", remT0.Add(apptest.Days(5)))
	notYet.NotBefore = remT0.Add(time.Hour)
	toks := []model.Token{
		apptest.TokenWith("1111", apptest.CertEnding("0A:1B", "已续期公司", remT0.Add(apptest.Days(5))), broken, notYet), // renewed: serials compare normalised
		{Serial: "2222", Label: "UKey", CertsErr: errors.New("CKR_DEVICE_ERROR")},
	}
	vm.Check(t.Context(), toks)
	wantNotes(t, "renewed, unreadable, not yet valid", log.take())
	if _, r := svc.calls(); r != 1 {
		t.Errorf("renewed read %d times, want 1", r)
	}
}

func TestReminderManyAtOnceAreOneNotification(t *testing.T) {
	vm, _, log := newReminderVM(t, nil)
	var toks []model.Token
	for _, s := range []string{"1", "2", "3", "4"} {
		toks = append(toks, apptest.TokenWith("UKEY"+s, apptest.CertEnding("0"+s, "公司"+s, remT0.Add(apptest.Days(5)))))
	}
	got := vm.Check(t.Context(), toks)
	wantNotes(t, "four at once", log.take(), "有 4 个证书即将到期或已过期，请打开证书续期助手查看并续期。")
	if len(got) != 1 || got[0].Title != "多个证书需要续期" {
		t.Errorf("returned %+v", got)
	}
	if d := apptest.Get[[]model.Reminder](t, vm.Due); len(d) != 4 {
		t.Errorf("due %d, want all 4 for the tray", len(d))
	}
	vm.Check(t.Context(), toks[:model.MaxSeparateReminders])
	wantNotes(t, "the same day", log.take())
}

func TestReminderFallsBackWithoutAService(t *testing.T) {
	vm, clock, log := newReminderVM(t, nil)
	ctx := t.Context()
	toks := []model.Token{apptest.TokenWith("12345", apptest.CertEnding("0A1B", "某公司", remT0.Add(apptest.Days(31))))}
	vm.Check(ctx, toks)
	wantNotes(t, "31 days, no service", log.take())
	clock.Advance(apptest.Days(1))
	vm.Check(ctx, toks)
	wantNotes(t, "30 days, no service", log.take(), "UKey 12345 上的证书「某公司」还有 30 天到期，请及时续期。")
	p, fromService, err := vm.Policy()
	if fromService || err != nil || p.WindowBeforeDays != model.ReminderDays || p.WindowAfterDays != renewal.DefaultPolicy().WindowAfterDays {
		t.Errorf("policy without a service: %+v from service %v err %v", p, fromService, err)
	}
}

func TestReminderFallsBackOnABadOrMissingPolicy(t *testing.T) {
	bad := renewal.DefaultPolicy()
	bad.WindowBeforeDays = -5
	huge := renewal.DefaultPolicy()
	huge.WindowBeforeDays = renewal.MaxWindowDays + 1
	for name, svc := range map[string]*fakeReminderService{
		"service down":   {policyErr: errors.New("dial tcp 127.0.0.1:8080: connect: connection refused")},
		"negative days":  {policy: bad},
		"too many days":  {policy: huge},
		"zero policy":    {},
		"renewed failed": {policy: bad, renewed: map[string]bool{"0a1b": true}, renewedErr: errors.New("unauthenticated")},
	} {
		t.Run(name, func(t *testing.T) {
			vm, clock, log := newReminderVM(t, svc)
			ctx := t.Context()
			toks := []model.Token{apptest.TokenWith("12345", apptest.CertEnding("0A1B", "某公司", remT0.Add(apptest.Days(20))))}
			vm.Check(ctx, toks)
			wantNotes(t, "20 days", log.take(), "UKey 12345 上的证书「某公司」还有 20 天到期，请及时续期。")
			p, fromService, err := vm.Policy()
			if fromService || err == nil || p.WindowBeforeDays != model.ReminderDays {
				t.Fatalf("policy %+v from service %v err %v: want the fallback and why", p.WindowBeforeDays, fromService, err)
			}
			// Expired: the fallback allows as long after expiry as renewd's default.
			clock.Advance(apptest.Days(20 + 365 + 1))
			vm.Check(ctx, toks)
			wantNotes(t, "366 days expired", log.take())
			clock.Advance(-apptest.Days(2))
			vm.Check(ctx, toks)
			wantNotes(t, "364 days expired", log.take(), "UKey 12345 上的证书「某公司」已过期 364 天，请尽快续期。")
		})
	}
}

func TestReminderPolicyIsCachedAndRetried(t *testing.T) {
	svc := &fakeReminderService{policyErr: errors.New("503 service unavailable")}
	vm, clock, _ := newReminderVM(t, svc)
	ctx := t.Context()
	toks := []model.Token{apptest.TokenWith("12345", apptest.CertEnding("0A1B", "某公司", remT0.Add(apptest.Days(20))))}
	vm.Check(ctx, toks)
	clock.Advance(model.PolicyRetryEvery - time.Second)
	vm.Check(ctx, toks)
	if p, _ := svc.calls(); p != 1 {
		t.Fatalf("policy read %d times before the retry time, want 1", p)
	}
	svc.mu.Lock()
	svc.policy, svc.policyErr = renewal.DefaultPolicy(), nil
	svc.mu.Unlock()
	clock.Advance(time.Second)
	vm.Check(ctx, toks)
	if _, fromService, _ := vm.Policy(); !fromService {
		t.Fatal("the retry did not take the service's policy")
	}
	if d := apptest.Get[[]model.Reminder](t, vm.Due); len(d) != 1 {
		t.Errorf("20 days left under the service's policy: due %v", d)
	}
	clock.Advance(model.PolicyMaxAge - time.Second)
	vm.Check(ctx, toks)
	if p, _ := svc.calls(); p != 2 {
		t.Errorf("policy read %d times within a day, want 2", p)
	}
	clock.Advance(time.Second)
	vm.Check(ctx, toks)
	if p, _ := svc.calls(); p != 3 {
		t.Errorf("policy read %d times after a day, want 3", p)
	}
	vm.Invalidate()
	vm.Check(ctx, toks)
	if p, _ := svc.calls(); p != 4 {
		t.Errorf("policy read %d times after Invalidate, want 4", p)
	}
}

func TestReminderTextInEnglish(t *testing.T) {
	langtest.Use(t, "en_US.UTF-8")
	vm, clock, log := newReminderVM(t, nil)
	ctx := t.Context()
	vm.Check(ctx, []model.Token{apptest.TokenWith("12345", apptest.CertEnding("0A1B", "Example Ltd", remT0.Add(apptest.Days(1))))})
	got := log.take()
	wantNotes(t, "one day", got, "UKey 12345: the certificate “Example Ltd” expires in 1 day. Please renew it soon.")
	if len(got) == 1 && got[0].Title != "Certificate expires soon" {
		t.Errorf("title %q", got[0].Title)
	}
	vm.Check(ctx, []model.Token{apptest.TokenWith("777", apptest.CertEnding("0C", "Other Ltd", remT0.Add(apptest.Days(12))))})
	wantNotes(t, "12 days", log.take(), "UKey 777: the certificate “Other Ltd” expires in 12 days. Please renew it soon.")
	clock.Advance(apptest.Days(3))
	vm.Check(ctx, []model.Token{apptest.TokenWith("12345", apptest.CertEnding("0A1B", "Example Ltd", remT0.Add(apptest.Days(1))))})
	got = log.take()
	wantNotes(t, "expired", got, "UKey 12345: the certificate “Example Ltd” expired 2 days ago. Please renew it now.")
	if len(got) == 1 && got[0].Title != "Certificate expired" {
		t.Errorf("title %q", got[0].Title)
	}
}

func TestReminderReachesTheFyneApp(t *testing.T) {
	a := test.NewTempApp(t)
	vm := model.NewReminderVM(nil, fakeclock.New(remT0), model.Formatter{Lang: model.LangZH, Loc: cst},
		func(title, body string) { a.SendNotification(fyne.NewNotification(title, body)) })
	toks := []model.Token{apptest.TokenWith("12345", apptest.CertEnding("0A1B", "某公司", remT0.Add(apptest.Days(12))))}
	test.AssertNotificationSent(t, fyne.NewNotification("证书即将到期", "UKey 12345 上的证书「某公司」还有 12 天到期，请及时续期。"), func() {
		vm.Check(t.Context(), toks)
	})
	test.AssertNotificationSent(t, nil, func() { vm.Check(t.Context(), toks) }) // once a day
}

func TestReminderWithTheRealService(t *testing.T) {
	e := apptest.NewService(t)
	ctx := t.Context()
	// The env's certificates end 30 ("near") and 200 ("far") days after
	// apptest.Start; a token shows serials in upper case.
	toks := []model.Token{apptest.TokenWith("9A1B2C3D", apptest.CertEnding(strings.ToUpper(e.Serials["near"]), "深圳市测试科技有限公司", apptest.Start.AddDate(0, 0, 30)),
		apptest.CertEnding(strings.ToUpper(e.Serials["far"]), "深圳市测试科技有限公司", apptest.Start.AddDate(0, 0, 200)))}
	clock := fakeclock.New(apptest.Start)
	test.NewTempApp(t)

	// Signed out: the policy is public; nothing is known to be renewed.
	acc := e.Account(nil)
	log := &noteLog{}
	vm := model.NewReminderVM(model.AccountReminders(acc), clock, model.Formatter{Lang: model.LangZH, Loc: time.UTC}, log.notify)
	vm.Check(ctx, toks)
	wantNotes(t, "signed out", log.take(), "UKey 9A1B2C3D 上的证书「深圳市测试科技有限公司」还有 30 天到期，请及时续期。")
	if p, fromService, err := vm.Policy(); !fromService || err != nil || p.WindowBeforeDays != 90 {
		t.Fatalf("policy %d days from service %v: %v", p.WindowBeforeDays, fromService, err)
	}

	// Signed in with the near certificate's renewal ready to download: silent.
	signed := e.SignedIn()
	e.ReadyApp(signed, e.Serials["near"], false)
	vm = model.NewReminderVM(model.AccountReminders(signed), clock, model.Formatter{Lang: model.LangZH, Loc: time.UTC}, log.notify)
	vm.Check(ctx, toks)
	wantNotes(t, "renewal ready to download", log.take())

	// The service is down: the fallback still reminds.
	e.Down()
	vm = model.NewReminderVM(model.AccountReminders(acc), clock, model.Formatter{Lang: model.LangZH, Loc: time.UTC}, log.notify)
	vm.Check(ctx, toks)
	wantNotes(t, "service down", log.take(), "UKey 9A1B2C3D 上的证书「深圳市测试科技有限公司」还有 30 天到期，请及时续期。")
	if _, fromService, err := vm.Policy(); fromService || err == nil {
		t.Errorf("service down: from service %v err %v", fromService, err)
	}
}

func TestReminderDistrustsAnInvalidPolicyOnTheWire(t *testing.T) {
	// A service that sends a policy renewd itself would refuse to load.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/policy" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"payment_timing":"after_review","window_before_days":-1,"window_after_days":99999,"prices_fen":[1,2,3]}`))
	}))
	t.Cleanup(srv.Close)
	acc, err := model.NewAccount(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	vm, _, log := newReminderVM(t, model.AccountReminders(acc))
	vm.Check(t.Context(), []model.Token{apptest.TokenWith("12345", apptest.CertEnding("0A1B", "某公司", remT0.Add(apptest.Days(20))))})
	wantNotes(t, "invalid policy", log.take(), "UKey 12345 上的证书「某公司」还有 20 天到期，请及时续期。")
	_, fromService, err := vm.Policy()
	if fromService || err == nil || !strings.Contains(err.Error(), "invalid policy") {
		t.Errorf("from service %v err %v", fromService, err)
	}
}

// BenchmarkReminderCheck is the once-a-minute check of 4 tokens with 3
// certificates each, one due (already notified): go test -bench ReminderCheck -run ^$ ./app/
func BenchmarkReminderCheck(b *testing.B) {
	a := test.NewApp()
	defer a.Quit()
	var toks []model.Token
	for i := range 4 {
		toks = append(toks, apptest.TokenWith(fmt.Sprintf("UKEY%d", i),
			apptest.CertEnding(fmt.Sprintf("%02dA", i), "甲公司", remT0.Add(apptest.Days(100+i))),
			apptest.CertEnding(fmt.Sprintf("%02dB", i), "乙公司", remT0.Add(apptest.Days(200+i))),
			apptest.CertEnding(fmt.Sprintf("%02dC", i), "丙公司", remT0.Add(apptest.Days(300+i)))))
	}
	toks[0].Certs[0].NotAfter = remT0.Add(apptest.Days(10))
	vm := model.NewReminderVM(&fakeReminderService{policy: renewal.DefaultPolicy()}, fakeclock.New(remT0), model.Formatter{Lang: model.LangZH, Loc: cst}, nil)
	ctx := context.Background()
	for b.Loop() {
		vm.Check(ctx, toks)
	}
}

// slowService answers Policy only when released.
type slowService struct {
	asked   chan struct{}
	release chan struct{}
}

func (s slowService) Policy(ctx context.Context) (renewal.Policy, error) {
	s.asked <- struct{}{}
	<-s.release
	return renewal.DefaultPolicy(), nil
}

func (s slowService) Renewed(ctx context.Context) (map[string]bool, error) { return nil, nil }

func TestReminderInvalidateDoesNotWaitForTheService(t *testing.T) {
	svc := slowService{asked: make(chan struct{}), release: make(chan struct{})}
	vm, _, _ := newReminderVM(t, svc)
	done := make(chan struct{})
	go func() {
		vm.Check(context.Background(), []model.Token{apptest.TokenWith("12345", apptest.CertEnding("0A1B", "某公司", remT0.Add(apptest.Days(5))))})
		close(done)
	}()
	<-svc.asked // the check now waits for the service
	invalidated := make(chan struct{})
	go func() {
		vm.Invalidate() // a sign-in, on the UI goroutine
		close(invalidated)
	}()
	apptest.Eventually(t, "Invalidate to return while the service is slow", func() bool {
		select {
		case <-invalidated:
			return true
		default:
			return false
		}
	})
	close(svc.release)
	<-done
}
