package model

import (
	"fmt"
	"os"
	"testing"
	"time"

	"fyne.io/fyne/v2/lang"

	"github.com/ukeyrenew/ukeyrenew/app/internal/langtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// TestMain pins the interface language to Chinese whatever LANG the test
// runs under; tests that need English switch with langtest.Use.
func TestMain(m *testing.M) {
	if err := langtest.Set(langtest.Default); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// t0 is the tests' now.
var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func TestDateAndMoneyPerLanguage(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	// 20:30 UTC on 13 Dec is already the 14th in Beijing.
	d := time.Date(2026, 12, 13, 20, 30, 0, 0, time.UTC)
	zh := Formatter{Lang: LangZH, Loc: shanghai}
	en := Formatter{Lang: LangEN, Loc: shanghai}
	tests := []struct{ got, want string }{
		{zh.Date(d), "2026年12月14日"},
		{en.Date(d), "14 Dec 2026"},
		{Formatter{Lang: LangZH, Loc: time.UTC}.Date(d), "2026年12月13日"},
		{zh.Money(0), "¥0.00"},
		{zh.Money(5), "¥0.05"},
		{zh.Money(128000), "¥1,280.00"},
		{zh.Money(123456789), "¥1,234,567.89"},
		{zh.Money(-1999), "-¥19.99"},
		{en.Money(100000), "CNY 1,000.00"},
		{en.Money(99), "CNY 0.99"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestLifetimeBadge(t *testing.T) {
	nb := t0.AddDate(-1, 0, 0)
	h := time.Hour
	tests := []struct {
		name     string
		notAfter time.Time
		notBef   time.Time
		zh, en   string
		lvl      Level
	}{
		{"long valid", t0.Add(200*24*h + h), nb, "剩余 200 天", "200 days left", LevelOK},
		{"renewal window", t0.Add(90*24*h + h), nb, "剩余 90 天", "90 days left", LevelNotice},
		{"just outside window", t0.Add(91*24*h + h), nb, "剩余 91 天", "91 days left", LevelOK},
		{"soon", t0.Add(20*24*h + h), nb, "剩余 20 天", "20 days left", LevelWarning},
		{"one day", t0.Add(24*h + h), nb, "剩余 1 天", "1 day left", LevelWarning},
		{"hours left", t0.Add(5 * h), nb, "今天到期", "Expires today", LevelWarning},
		{"expired hours ago", t0.Add(-5 * h), nb, "今天已过期", "Expired today", LevelError},
		{"expired one day", t0.Add(-24*h - h), nb, "已过期 1 天", "Expired 1 day ago", LevelError},
		{"expired long ago", t0.Add(-400*24*h - h), nb, "已过期 400 天", "Expired 400 days ago", LevelError},
		{"not yet valid", t0.AddDate(1, 0, 0), t0.Add(h), "尚未生效", "Not yet valid", LevelWarning},
	}
	check := func(lang Lang, pick func(int) string) {
		f := Formatter{Lang: lang, Loc: time.UTC}
		for i, tt := range tests {
			got, lvl := f.Lifetime(t0, tt.notBef, tt.notAfter)
			if got != pick(i) || lvl != tt.lvl {
				t.Errorf("%s %s: got %q level %d, want %q level %d", lang, tt.name, got, lvl, pick(i), tt.lvl)
			}
		}
	}
	check(LangZH, func(i int) string { return tests[i].zh })
	langtest.Use(t, "en_GB.UTF-8")
	if CurrentLang() != LangEN {
		t.Fatalf("CurrentLang = %s under en_GB, want en", CurrentLang())
	}
	check(LangEN, func(i int) string { return tests[i].en })
}

func TestSetupLanguageDefaultsToChinese(t *testing.T) {
	for _, tt := range []struct {
		lcAll, language string
		want            Lang
	}{
		{"C", "", LangZH},
		{"POSIX", "", LangZH},
		{"C.UTF-8", "", LangZH},
		{"de_DE.UTF-8", "", LangZH},
		{"en_US.UTF-8", "", LangEN},
		{"zh_TW.UTF-8", "", LangZH},
		{"zh_CN.UTF-8", "", LangZH},
		{"fr_FR.UTF-8", "en_GB:fr", LangEN},
	} {
		t.Run(tt.lcAll+"/"+tt.language, func(t *testing.T) {
			t.Setenv("LC_ALL", tt.lcAll)
			t.Setenv("LANGUAGE", tt.language)
			t.Setenv("LC_MESSAGES", "")
			t.Cleanup(func() { _ = langtest.Set(langtest.Default) })
			got, err := SetupLanguage()
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || CurrentLang() != tt.want {
				t.Errorf("SetupLanguage = %s (current %s), want %s", got, CurrentLang(), tt.want)
			}
			if tt.want == LangZH && lang.L("Cancel") != "取消" {
				t.Errorf("Fyne's own Cancel is %q, want 取消 (translation file must be zh_Hans)", lang.L("Cancel"))
			}
		})
	}
}

func TestLifetimeCountsCalendarDaysInTheClerksZone(t *testing.T) {
	beijing := time.FixedZone("CST", 8*3600)
	f := Formatter{Lang: LangZH, Loc: beijing}
	nb := t0.AddDate(-1, 0, 0)
	// 23:30 in Beijing; the certificate ends at 00:30 the day after tomorrow:
	// 25 hours left, but two midnights away.
	now := time.Date(2026, 11, 23, 23, 30, 0, 0, beijing)
	if got, _ := f.Lifetime(now, nb, now.Add(25*time.Hour)); got != "剩余 2 天" {
		t.Errorf("25 h before a date two midnights away: %q, want 剩余 2 天", got)
	}
	// Issued for exactly 20 days: the badge says 20 right after issue.
	if got, _ := f.Lifetime(now, nb, now.Add(20*24*time.Hour)); got != "剩余 20 天" {
		t.Errorf("a 20-day certificate: %q", got)
	}
	// The same instants seen from UTC fall on other dates.
	if got, _ := (Formatter{Lang: LangZH, Loc: time.UTC}).Lifetime(now, nb, now.Add(25*time.Hour)); got != "剩余 1 天" {
		t.Errorf("in UTC: %q, want 剩余 1 天", got)
	}
	// Across a daylight-saving change a day has 23 or 25 hours.
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	fny := Formatter{Lang: LangZH, Loc: ny}
	start := time.Date(2026, 3, 7, 12, 0, 0, 0, ny) // clocks go forward on 8 March
	if got, _ := fny.Lifetime(start, nb, time.Date(2026, 3, 9, 12, 0, 0, 0, ny)); got != "剩余 2 天" {
		t.Errorf("across DST: %q, want 剩余 2 天", got)
	}
}

// TestLifetimeAndUkeyctlShareOneRule: the badge's count is
// renewal.DaysLeftIn in the formatter's zone, the function ukeyctl prints,
// at the boundaries where a 24-hour count and a UTC date count differ.
func TestLifetimeAndUkeyctlShareOneRule(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatalf("tzdata: %v", err)
	}
	f := Formatter{Lang: LangZH, Loc: shanghai}
	nb := t0.AddDate(-1, 0, 0)
	// Ends 20 Dec 2026 at 10:00 Beijing (02:00 UTC).
	end := time.Date(2026, 12, 20, 10, 0, 0, 0, shanghai)
	at := func(d, hh, mm int) time.Time { return time.Date(2026, 12, d, hh, mm, 0, 0, shanghai) }
	tests := []struct {
		name  string
		now   time.Time
		badge string
		days  int
	}{
		{"eve, a minute to midnight", at(19, 23, 59), "剩余 1 天", 1},
		{"the last day, midnight", at(20, 0, 0), "今天到期", 0},
		{"the last day, a minute before the end", at(20, 9, 59), "今天到期", 0},
		{"the last day, after the end", at(20, 10, 1), "今天已过期", 0},
		{"expired yesterday", at(21, 0, 0), "已过期 1 天", -1},
		// 19 Nov 18:00 UTC is 20 Nov 02:00 in Beijing: 30 dates to go
		// there, while the UTC dates (19 Nov to 20 Dec) are 31 apart.
		{"east of UTC", time.Date(2026, 11, 19, 18, 0, 0, 0, time.UTC), "剩余 30 天", 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := f.Lifetime(tt.now, nb, end)
			if got != tt.badge || f.DaysLeft(tt.now, end) != tt.days {
				t.Errorf("badge %q days %d, want %q %d", got, f.DaysLeft(tt.now, end), tt.badge, tt.days)
			}
			if n := renewal.DaysLeftIn(end, tt.now, shanghai); n != tt.days {
				t.Errorf("renewal.DaysLeftIn = %d, the badge says %d", n, tt.days)
			}
		})
	}
	if n := (Formatter{Loc: time.UTC}).DaysLeft(time.Date(2026, 11, 19, 18, 0, 0, 0, time.UTC), end); n != 31 {
		t.Errorf("UTC count %d, want 31", n)
	}
}
