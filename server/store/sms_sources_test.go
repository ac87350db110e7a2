package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
)

// A number has at most one live code per source, and the daily caps bound
// the sources: however many ask, the live codes (each a chance for a
// guess) stay within the caps; a source asking again replaces its own code
// only.
func TestSMSLiveCodesPerSource(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *fakeclock.Clock) {
		const mobile = "13800138000"
		lim := SMSLimits{ResendAfter: time.Minute, PerNumberPerIP: 10, PerNumberPerDay: 4, PerIPPerDay: 10, DayStart: clk.Now().Truncate(24 * time.Hour)}
		liveCodes := func() int {
			var n int
			must(t, s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM sms_codes WHERE mobile = $1 AND used_at IS NULL`, mobile).Scan(&n))
			return n
		}
		ask := func(ip, hash string) error {
			return s.CreateSMSCode(ctx, SMSCode{Mobile: mobile, Purpose: "login", CodeHash: hash, IP: ip, TTL: 5 * time.Minute}, lim)
		}
		must(t, ask("1.1.1.1", "first"))
		must(t, ask("2.2.2.2", "second")) // another source need not wait
		wantErr(t, ask("2.2.2.2", "again"), ErrTooSoon)
		clk.Advance(61 * time.Second)
		must(t, ask("2.2.2.2", "third")) // replaces "second" only
		if n := liveCodes(); n != 2 {
			t.Fatalf("%d live codes after two sources asked, want 2", n)
		}
		wantErr(t, s.ConsumeSMSCode(ctx, mobile, "login", "second", "2.2.2.2", 5), ErrMismatch)
		for i := range 20 {
			_ = ask(fmt.Sprintf("10.0.0.%d", i), "h")
		}
		if n := liveCodes(); n > lim.PerNumberPerDay {
			t.Fatalf("%d live codes after 22 sources asked, want at most the daily cap of %d", n, lim.PerNumberPerDay)
		}
		must(t, s.ConsumeSMSCode(ctx, mobile, "login", "first", "1.1.1.1", 5))
		must(t, s.ConsumeSMSCode(ctx, mobile, "login", "third", "3.3.3.3", 5))
	})
}
