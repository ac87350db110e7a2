package app

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/lang"

	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/assets"
	"github.com/ukeyrenew/ukeyrenew/token/validity"
)

func TestDateAndMoneyPerLanguage(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	// 20:30 UTC on 13 Dec is already the 14th in Beijing.
	d := time.Date(2026, 12, 13, 20, 30, 0, 0, time.UTC)
	zh := model.Formatter{Lang: model.LangZH, Loc: shanghai}
	en := model.Formatter{Lang: model.LangEN, Loc: shanghai}
	tests := []struct{ got, want string }{
		{zh.Date(d), "2026年12月14日"},
		{en.Date(d), "14 Dec 2026"},
		{model.Formatter{Lang: model.LangZH, Loc: time.UTC}.Date(d), "2026年12月13日"},
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
		lvl      model.Level
	}{
		{"long valid", t0.Add(200*24*h + h), nb, "剩余 200 天", "200 days left", model.LevelOK},
		{"renewal window", t0.Add(90*24*h + h), nb, "剩余 90 天", "90 days left", model.LevelNotice},
		{"just outside window", t0.Add(91*24*h + h), nb, "剩余 91 天", "91 days left", model.LevelOK},
		{"soon", t0.Add(20*24*h + h), nb, "剩余 20 天", "20 days left", model.LevelWarning},
		{"one day", t0.Add(24*h + h), nb, "剩余 1 天", "1 day left", model.LevelWarning},
		{"hours left", t0.Add(5 * h), nb, "今天到期", "Expires today", model.LevelWarning},
		{"expired hours ago", t0.Add(-5 * h), nb, "今天已过期", "Expired today", model.LevelError},
		{"expired one day", t0.Add(-24*h - h), nb, "已过期 1 天", "Expired 1 day ago", model.LevelError},
		{"expired long ago", t0.Add(-400*24*h - h), nb, "已过期 400 天", "Expired 400 days ago", model.LevelError},
		{"not yet valid", t0.AddDate(1, 0, 0), t0.Add(h), "尚未生效", "Not yet valid", model.LevelWarning},
	}
	check := func(lang model.Lang, pick func(int) string) {
		f := model.Formatter{Lang: lang, Loc: time.UTC}
		for i, tt := range tests {
			got, lvl := f.Lifetime(t0, tt.notBef, tt.notAfter)
			if got != pick(i) || lvl != tt.lvl {
				t.Errorf("%s %s: got %q level %d, want %q level %d", lang, tt.name, got, lvl, pick(i), tt.lvl)
			}
		}
	}
	check(model.LangZH, func(i int) string { return tests[i].zh })
	useLang(t, "en_GB.UTF-8")
	if model.CurrentLang() != model.LangEN {
		t.Fatalf("CurrentLang = %s under en_GB, want en", model.CurrentLang())
	}
	check(model.LangEN, func(i int) string { return tests[i].en })
}

func TestSetupLanguageDefaultsToChinese(t *testing.T) {
	for _, tt := range []struct {
		lcAll, language string
		want            model.Lang
	}{
		{"C", "", model.LangZH},
		{"POSIX", "", model.LangZH},
		{"C.UTF-8", "", model.LangZH},
		{"de_DE.UTF-8", "", model.LangZH},
		{"en_US.UTF-8", "", model.LangEN},
		{"zh_TW.UTF-8", "", model.LangZH},
		{"zh_CN.UTF-8", "", model.LangZH},
		{"fr_FR.UTF-8", "en_GB:fr", model.LangEN},
	} {
		t.Run(tt.lcAll+"/"+tt.language, func(t *testing.T) {
			t.Setenv("LC_ALL", tt.lcAll)
			t.Setenv("LANGUAGE", tt.language)
			t.Setenv("LC_MESSAGES", "")
			t.Cleanup(func() { _ = setLang("zh_CN.UTF-8") })
			got, err := model.SetupLanguage()
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || model.CurrentLang() != tt.want {
				t.Errorf("SetupLanguage = %s (current %s), want %s", got, model.CurrentLang(), tt.want)
			}
			if tt.want == model.LangZH && lang.L("Cancel") != "取消" {
				t.Errorf("Fyne's own Cancel is %q, want 取消 (translation file must be zh_Hans)", lang.L("Cancel"))
			}
		})
	}
}

var placeholderRE = regexp.MustCompile(`\{\{\.[A-Za-z]+\}\}`)

// TestTranslationsComplete checks that every key the code uses is in both
// files with the same placeholders, and that plural keys have English forms.
func TestTranslationsComplete(t *testing.T) {
	files, err := assets.TranslationFiles()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := files["zh-CN.json"]; ok {
		t.Error("zh-CN.json would not be picked up with Fyne's own zh_Hans strings: use zh_Hans.json")
	}
	parse := func(name string) map[string]any {
		m := map[string]any{}
		if err := json.Unmarshal(files[name], &m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return m
	}
	zh, en := parse("zh_Hans.json"), parse("en.json")
	text := func(v any) string {
		if m, ok := v.(map[string]any); ok {
			s, _ := m["other"].(string)
			return s
		}
		s, _ := v.(string)
		return s
	}
	// The keys used in the code, with their Chinese fallbacks.
	used := map[string]string{}
	call := regexp.MustCompile(`lang\.XN?\(\s*"([^"]+)",\s*"([^"]*)"`)
	// The screens here and the view-models and widgets under internal/.
	err = filepath.WalkDir(".", func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range call.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = m[2]
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(used) < 50 {
		t.Fatalf("found only %d translated strings in the code; the scan is broken", len(used))
	}
	keys := make([]string, 0, len(used))
	for k := range used {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		z, ok := zh[k]
		if !ok {
			t.Errorf("zh_Hans.json lacks %q", k)
			continue
		}
		e, ok := en[k]
		if !ok {
			t.Errorf("en.json lacks %q", k)
			continue
		}
		if text(z) != used[k] {
			t.Errorf("%q: zh_Hans.json says %q, the code's fallback %q", k, text(z), used[k])
		}
		if a, b := placeholderRE.FindAllString(text(z), -1), placeholderRE.FindAllString(text(e), -1); strings.Join(a, "") != strings.Join(b, "") {
			t.Errorf("%q: placeholders differ: zh %v, en %v", k, a, b)
		}
		_, zhPlural := z.(map[string]any)
		m, enPlural := e.(map[string]any)
		if zhPlural != enPlural {
			t.Errorf("%q: plural in one file and not the other (lang.XN needs plural forms, lang.X a string)", k)
		}
		if enPlural && (m["one"] == nil || m["other"] == nil) {
			t.Errorf("%q: English plural needs one and other", k)
		}
	}
	for k := range zh {
		if _, ok := used[k]; !ok {
			t.Errorf("zh_Hans.json has %q, which the code does not use", k)
		}
	}
	for k := range en {
		if _, ok := used[k]; !ok {
			t.Errorf("en.json has %q, which the code does not use", k)
		}
	}
}

func TestLifetimeCountsCalendarDaysInTheClerksZone(t *testing.T) {
	beijing := time.FixedZone("CST", 8*3600)
	f := model.Formatter{Lang: model.LangZH, Loc: beijing}
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
	if got, _ := (model.Formatter{Lang: model.LangZH, Loc: time.UTC}).Lifetime(now, nb, now.Add(25*time.Hour)); got != "剩余 1 天" {
		t.Errorf("in UTC: %q, want 剩余 1 天", got)
	}
	// Across a daylight-saving change a day has 23 or 25 hours.
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	fny := model.Formatter{Lang: model.LangZH, Loc: ny}
	start := time.Date(2026, 3, 7, 12, 0, 0, 0, ny) // clocks go forward on 8 March
	if got, _ := fny.Lifetime(start, nb, time.Date(2026, 3, 9, 12, 0, 0, 0, ny)); got != "剩余 2 天" {
		t.Errorf("across DST: %q, want 剩余 2 天", got)
	}
}

// TestLifetimeAndUkeyctlShareOneRule: the badge's count is
// validity.DaysLeft in the formatter's zone, the function ukeyctl prints,
// at the boundaries where a 24-hour count and a UTC date count differ.
func TestLifetimeAndUkeyctlShareOneRule(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatalf("tzdata: %v", err)
	}
	f := model.Formatter{Lang: model.LangZH, Loc: shanghai}
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
			if n := validity.DaysLeft(end, tt.now, shanghai); n != tt.days {
				t.Errorf("validity.DaysLeft = %d, the badge says %d", n, tt.days)
			}
		})
	}
	if n := (model.Formatter{Loc: time.UTC}).DaysLeft(time.Date(2026, 11, 19, 18, 0, 0, 0, time.UTC), end); n != 31 {
		t.Errorf("UTC count %d, want 31", n)
	}
}
