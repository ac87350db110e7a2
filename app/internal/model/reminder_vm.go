package model

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// Limits of the expiry reminders.
const (
	// ReminderDays is how close to expiry (in calendar days, as the badge
	// counts them) a certificate must be before the client reminds.
	ReminderDays = WarningDays
	// ReminderCheckEvery is how often Run looks again without an insertion
	// or removal: a window that opens at 14:00 is noticed by 14:01.
	ReminderCheckEvery = time.Minute
	// PolicyMaxAge is how long a policy read from the service is used
	// before it is read again.
	PolicyMaxAge = 24 * time.Hour
	// PolicyRetryEvery is how long after a failed read the service is
	// asked again; meanwhile the fallback policy applies.
	PolicyRetryEvery = 10 * time.Minute
	// RenewedMaxAge is how long the list of already renewed certificates
	// is used before it is read again.
	RenewedMaxAge = 10 * time.Minute
	// ReminderServiceTimeout bounds each call to the service.
	ReminderServiceTimeout = 15 * time.Second
	// MaxSeparateReminders is how many certificates get a notification of
	// their own in one check; more are summed up in one notification, so
	// a clerk with a drawer of tokens is not buried.
	MaxSeparateReminders = 3
)

// ReminderService is what the reminders need from the renewal service.
type ReminderService interface {
	// Policy is the CA's renewal policy.
	Policy(ctx context.Context) (renewal.Policy, error)
	// Renewed returns the serials (renewal.NormalizeSerial) of the
	// certificates whose renewal is done or waiting to be written;
	// empty when nobody is signed in.
	Renewed(ctx context.Context) (map[string]bool, error)
}

// FallbackPolicy is the renewal window the reminders assume when there is
// no renewal service or its policy cannot be read or is invalid: renewal
// opens ReminderDays calendar days before expiry and closes as long after it
// as renewd's default policy allows.
func FallbackPolicy() renewal.Policy {
	p := renewal.DefaultPolicy()
	p.WindowBeforeDays = ReminderDays
	return p
}

// Reminder is one certificate that needs renewing, as notified.
type Reminder struct {
	TokenSerial string
	CertSerial  string
	Holder      string
	Days        int // calendar days left; negative once expired, 0 on the last day
	Title       string
	Body        string
}

// ReminderVM decides which certificates on the inserted tokens deserve an
// expiry reminder and sends each at most once a calendar day.
//
// A certificate is due when it is readable and in force or expired, at most
// ReminderDays calendar days from its end (or past it), inside the renewal
// window of the CA's policy (renewal.Policy.CheckWindow, exact to the
// second, as the service checks it), and not already renewed: a signed-in
// clerk's application for it that is ready to download or installed
// silences it (the new certificate only needs writing, or is written). A
// certificate expired past the window gets no reminder: it cannot be
// renewed, and the Tokens screen says so.
//
// Without a service, or while its policy cannot be read, FallbackPolicy
// applies (30 days before expiry); a policy that fails Validate is not
// trusted either.
//
// What was notified is remembered in memory, keyed by token serial and
// certificate serial, with the calendar day in the formatter's zone: the
// same certificate is notified again the next day, and again after a
// restart. Entries of earlier days are dropped at each check, so the memory
// holds at most today's certificates.
type ReminderVM struct {
	svc    ReminderService // nil: no service
	clock  Clock
	f      Formatter
	notify func(title, body string)

	// Due is every certificate that needs renewing now (notified today or
	// not), in token and certificate order: the tray shows it.
	Due binding.Item[[]Reminder]

	mu          sync.Mutex // one check at a time; guards the fields below
	sent        map[reminderKey]string
	policy      renewal.Policy
	policyOK    bool // policy came from the service
	policyRead  time.Time
	policyErr   error
	renewed     map[string]bool
	renewedAt   time.Time
	renewedRead bool

	// stale asks the next check to read the service again; apart from mu,
	// which a check holds while it waits for the service.
	stale atomic.Bool
}

type reminderKey struct{ token, cert string }

// NewReminderVM returns the view-model. svc may be nil (no renewal
// service); notify sends one notification (nil: none are sent, Due is still
// kept). clock nil means the wall clock.
func NewReminderVM(svc ReminderService, clock Clock, f Formatter, notify func(title, body string)) *ReminderVM {
	if clock == nil {
		clock = SystemClock{}
	}
	if notify == nil {
		notify = func(string, string) {}
	}
	return &ReminderVM{svc: svc, clock: clock, f: f, notify: notify,
		Due:  binding.NewItem(func(a, b []Reminder) bool { return reflect.DeepEqual(a, b) }),
		sent: map[reminderKey]string{}, policy: FallbackPolicy()}
}

// Policy returns the policy the last check used and whether it came from
// the service (false: FallbackPolicy, with the reason in err when the
// service was asked and failed).
func (vm *ReminderVM) Policy() (p renewal.Policy, fromService bool, err error) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.policy, vm.policyOK, vm.policyErr
}

// Run checks toks() each time changed fires and every ReminderCheckEvery,
// until ctx is done. Run blocks: start it with go.
func (vm *ReminderVM) Run(ctx context.Context, toks func() []Token, changed <-chan struct{}) {
	tick := time.NewTicker(ReminderCheckEvery)
	defer tick.Stop()
	vm.Check(ctx, toks())
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-tick.C:
		}
		vm.Check(ctx, toks())
	}
}

// Check decides on the tokens present now, publishes Due, sends the
// notifications due today and returns them (one summary Reminder, with
// empty serials, when more than MaxSeparateReminders are due at once).
func (vm *ReminderVM) Check(ctx context.Context, toks []Token) []Reminder {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.stale.Swap(false) {
		vm.policyRead, vm.renewedRead = time.Time{}, false
	}
	now := vm.clock.Now()
	today := vm.day(now)
	for k, d := range vm.sent {
		if d != today {
			delete(vm.sent, k)
		}
	}
	type cand struct {
		tok     string
		cert    Cert
		days    int
		expired bool
	}
	var cands []cand
	seen := map[reminderKey]bool{}
	for _, t := range toks {
		if t.CertsErr != nil {
			continue
		}
		for _, c := range t.Certs {
			k := reminderKey{t.Serial, renewal.NormalizeSerial(c.Serial)}
			if c.Err != nil || c.Serial == "" || seen[k] || now.Before(c.NotBefore) {
				continue
			}
			seen[k] = true
			days, expired := vm.daysLeft(now, c.NotAfter)
			if days > ReminderDays {
				continue
			}
			cands = append(cands, cand{t.Serial, c, days, expired})
		}
	}
	var due []Reminder
	if len(cands) > 0 { // the service is asked only when something is close
		p, known := vm.currentPolicy(ctx, now)
		renewed := vm.currentRenewed(ctx, now)
		for _, c := range cands {
			if !vm.inWindow(p, known, c.cert.NotAfter, now, c.days) || renewed[renewal.NormalizeSerial(c.cert.Serial)] {
				continue
			}
			due = append(due, reminderFor(c.tok, c.cert, c.days, c.expired))
		}
	}
	sort.SliceStable(due, func(i, j int) bool {
		if due[i].TokenSerial != due[j].TokenSerial {
			return due[i].TokenSerial < due[j].TokenSerial
		}
		return due[i].CertSerial < due[j].CertSerial
	})
	_ = vm.Due.Set(due)

	var fresh []Reminder
	for _, r := range due {
		k := reminderKey{r.TokenSerial, renewal.NormalizeSerial(r.CertSerial)}
		if vm.sent[k] == today {
			continue
		}
		vm.sent[k] = today
		fresh = append(fresh, r)
	}
	if len(fresh) > MaxSeparateReminders {
		fresh = []Reminder{{
			Title: lang.X("reminder.title_many", "多个证书需要续期"),
			Body: lang.XN("reminder.many", "有 {{.Count}} 个证书即将到期或已过期，请打开证书续期助手查看并续期。",
				len(fresh), map[string]any{"Count": len(fresh)}),
		}}
	}
	for _, r := range fresh {
		vm.notify(r.Title, r.Body)
	}
	return fresh
}

// inWindow says whether the policy lets a certificate valid until notAfter
// be renewed now. The fallback counts calendar days like the reminder
// itself; the service's policy is checked exactly, as the service does.
func (vm *ReminderVM) inWindow(p renewal.Policy, known bool, notAfter, now time.Time, days int) bool {
	if known {
		return p.CheckWindow(notAfter, now) == nil
	}
	return days <= p.WindowBeforeDays && -days <= p.WindowAfterDays
}

// policyAt_ returns the policy to use at now, reading it from the service
// when the cached one is too old (or a failed read is old enough to retry).
func (vm *ReminderVM) currentPolicy(ctx context.Context, now time.Time) (renewal.Policy, bool) {
	if vm.svc == nil {
		return vm.policy, false
	}
	age := PolicyMaxAge
	if !vm.policyOK {
		age = PolicyRetryEvery
	}
	if d := now.Sub(vm.policyRead); !vm.policyRead.IsZero() && d >= 0 && d < age {
		return vm.policy, vm.policyOK
	}
	vm.policyRead = now
	cctx, cancel := context.WithTimeout(ctx, ReminderServiceTimeout)
	defer cancel()
	p, err := vm.svc.Policy(cctx)
	if err == nil {
		if verr := p.Validate(); verr != nil {
			err = fmt.Errorf("invalid policy from the service: %w", verr)
		}
	}
	if err != nil {
		vm.policy, vm.policyOK, vm.policyErr = FallbackPolicy(), false, err
		return vm.policy, false
	}
	vm.policy, vm.policyOK, vm.policyErr = p, true, nil
	return p, true
}

// renewedAt_ returns the serials already renewed, read again after
// RenewedMaxAge. A failed read counts as none renewed: a reminder too many
// is better than a missed one.
func (vm *ReminderVM) currentRenewed(ctx context.Context, now time.Time) map[string]bool {
	if vm.svc == nil {
		return nil
	}
	if d := now.Sub(vm.renewedAt); vm.renewedRead && d >= 0 && d < RenewedMaxAge {
		return vm.renewed
	}
	cctx, cancel := context.WithTimeout(ctx, ReminderServiceTimeout)
	defer cancel()
	r, err := vm.svc.Renewed(cctx)
	vm.renewedAt, vm.renewedRead = now, true
	if err != nil {
		vm.renewed = nil
		return nil
	}
	vm.renewed = r
	return r
}

// Invalidate makes the next check read the policy and the renewed
// certificates from the service again (after a sign-in or sign-out). It
// does not wait for a check in progress: it runs on the UI goroutine.
func (vm *ReminderVM) Invalidate() { vm.stale.Store(true) }

// AccountReminders is the ReminderService over the clerk's Account.
func AccountReminders(acc *Account) ReminderService { return accountReminders{acc} }

// accountReminders is the ReminderService over the clerk's Account.
type accountReminders struct{ acc *Account }

func (s accountReminders) Policy(ctx context.Context) (renewal.Policy, error) {
	p, err := s.acc.Client().Policy(ctx)
	if err != nil {
		return renewal.Policy{}, fmt.Errorf("read the renewal policy: %w", err)
	}
	return *p, nil
}

// Renewed reads the signed-in clerk's applications that are ready to
// download or installed: the first renewal.MaxPageSize of them, which is
// more than an organisation has open at once.
func (s accountReminders) Renewed(ctx context.Context) (map[string]bool, error) {
	if in, _ := s.acc.SignedIn.Get(); !in {
		return nil, nil
	}
	page, err := s.acc.Client().ListApplications(ctx, renewal.ListApplicationsRequest{
		Status:   []renewal.Status{renewal.StatusReadyToDownload, renewal.StatusInstalled},
		PageSize: renewal.MaxPageSize})
	if err != nil {
		return nil, fmt.Errorf("list renewed certificates: %w", err)
	}
	out := map[string]bool{}
	for _, a := range page.Items {
		out[renewal.NormalizeSerial(a.CertSerial)] = true
	}
	return out, nil
}

// reminderFor words the reminder for certificate c on token tok, days
// calendar days from its end (expired: days ago, 0 the same day).
func reminderFor(tok string, c Cert, days int, expired bool) Reminder {
	holder := c.Holder
	if holder == "" {
		holder = lang.X("cert.unnamed", "证书")
	}
	r := Reminder{TokenSerial: tok, CertSerial: c.Serial, Holder: holder, Days: days}
	args := map[string]any{"Token": tok, "Holder": holder}
	switch {
	case expired && days == 0:
		r.Title = lang.X("reminder.title_expired", "证书已过期")
		r.Body = lang.X("reminder.expired_today", "UKey {{.Token}} 上的证书「{{.Holder}}」今天已过期，请尽快续期。", args)
	case expired:
		r.Title = lang.X("reminder.title_expired", "证书已过期")
		args["Count"] = -days
		r.Body = lang.XN("reminder.expired_days", "UKey {{.Token}} 上的证书「{{.Holder}}」已过期 {{.Count}} 天，请尽快续期。", -days, args)
	case days == 0:
		r.Title = lang.X("reminder.title_soon", "证书即将到期")
		r.Body = lang.X("reminder.today", "UKey {{.Token}} 上的证书「{{.Holder}}」今天到期，请尽快续期。", args)
	default:
		r.Title = lang.X("reminder.title_soon", "证书即将到期")
		args["Count"] = days
		r.Body = lang.XN("reminder.days_left", "UKey {{.Token}} 上的证书「{{.Holder}}」还有 {{.Count}} 天到期，请及时续期。", days, args)
	}
	return r
}

// daysLeft counts calendar days from now to notAfter in the formatter's
// zone, negative once notAfter has passed: the badge's count.
func (vm *ReminderVM) daysLeft(now, notAfter time.Time) (days int, expired bool) {
	return vm.f.DaysLeft(now, notAfter), now.After(notAfter)
}

// day is now's calendar date in the formatter's zone.
func (vm *ReminderVM) day(now time.Time) string {
	loc := vm.f.Loc
	if loc == nil {
		loc = time.Local
	}
	return now.In(loc).Format(time.DateOnly)
}
