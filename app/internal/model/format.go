package model

import (
	"os"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2/lang"
	"github.com/jeandeaual/go-locale"

	"github.com/ukeyrenew/ukeyrenew/assets"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// Lang is a language the interface is translated to.
type Lang string

// The bundled languages. Chinese is the default.
const (
	LangZH Lang = "zh"
	LangEN Lang = "en"
)

// CurrentLang is the bundled language Fyne's localizer chose from the
// system locale (each translation file names its own language under the key
// app.locale; a language without a file falls back to Chinese).
func CurrentLang() Lang {
	if lang.X("app.locale", "zh") == "en" {
		return LangEN
	}
	return LangZH
}

// SetupLanguage loads the translations and makes Simplified Chinese the
// language unless the system asks for English or Chinese. Fyne alone would
// fall back to English for a C/POSIX locale or a language the client has no
// translation for; the clerks this client is for read Chinese. On Linux and
// BSD the locale comes from the environment, so the choice is made there
// (LANGUAGE, and LC_MESSAGES when the locale is C or POSIX). Call it once, in
// main, before the first window is built.
func SetupLanguage() (Lang, error) {
	if err := assets.LoadTranslations(); err != nil {
		return "", err
	}
	locs, _ := locale.GetLocales()
	for _, l := range locs {
		switch strings.ToLower(strings.SplitN(strings.SplitN(l, "-", 2)[0], "_", 2)[0]) {
		case "zh", "en":
			return CurrentLang(), nil
		}
	}
	_ = os.Setenv("LANGUAGE", "zh_CN")
	if locs, _ := locale.GetLocales(); len(locs) == 0 {
		// C or POSIX silences LANGUAGE: override the message locale only.
		name := "LC_MESSAGES"
		if os.Getenv("LC_ALL") != "" {
			name = "LC_ALL"
		}
		_ = os.Setenv(name, "zh_CN.UTF-8")
	}
	if err := assets.LoadTranslations(); err != nil { // re-reads the locale
		return "", err
	}
	return CurrentLang(), nil
}

// Formatter writes dates, money and certificate lifetimes the way the
// interface language expects.
type Formatter struct {
	Lang Lang
	Loc  *time.Location // dates are shown in this zone (time.Local in the app)
}

// Date formats a calendar date: 2026年12月13日 or 13 Dec 2026.
func (f Formatter) Date(t time.Time) string {
	if f.Loc != nil {
		t = t.In(f.Loc)
	}
	if f.Lang == LangEN {
		return t.Format("2 Jan 2006")
	}
	return t.Format("2006年1月2日")
}

// Money formats an amount in fen (1/100 CNY): ¥1,280.00 or CNY 1,280.00.
func (f Formatter) Money(fen int64) string {
	neg := fen < 0
	if neg {
		fen = -fen
	}
	yuan := groupThousands(fen / 100)
	cents := strconv.FormatInt(fen%100+100, 10)[1:]
	sign := ""
	if neg {
		sign = "-"
	}
	if f.Lang == LangEN {
		return sign + "CNY " + yuan + "." + cents
	}
	return sign + "¥" + yuan + "." + cents
}

// groupThousands writes n (not negative) with a comma every three digits:
// 1,280.
func groupThousands(n int64) string {
	digits := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, r := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// dateTime writes t as the clerk's date and the minute: 2026年11月23日 12:04.
func (f Formatter) dateTime(t time.Time) string {
	if f.Loc != nil {
		t = t.In(f.Loc)
	}
	return f.Date(t) + " " + t.Format("15:04")
}

// Level says how urgent a badge is; screens map it to a theme colour.
type Level int

// Badge levels, from calm to alarming.
const (
	LevelOK      Level = iota // valid for more than 90 days
	LevelNotice               // within the renewal window (90 days)
	LevelWarning              // within 30 days, or not yet valid
	LevelError                // expired
)

// Days before expiry at which the badge turns to notice and to warning. The
// CA's renewal window opens at 90 days (the default renewal policy); reminders start at 30.
const (
	NoticeDays  = 90
	WarningDays = 30
)

// Lifetime is the badge for a certificate valid from notBefore to notAfter,
// seen at now: "剩余 20 天", "今天到期", "已过期 3 天", "尚未生效". Days are
// counted by renewal.DaysLeftIn in the formatter's zone (calendar days, as a
// clerk counts them; ukeyctl uses the same function): a certificate that
// ends tomorrow has 1 day left whatever the hour, one that ends later today
// "expires today".
func (f Formatter) Lifetime(now, notBefore, notAfter time.Time) (string, Level) {
	n := f.DaysLeft(now, notAfter)
	switch {
	case now.After(notAfter):
		if n == 0 {
			return lang.X("badge.expired_today", "今天已过期"), LevelError
		}
		return lang.XN("badge.expired_days", "已过期 {{.Count}} 天", -n, map[string]any{"Count": -n}), LevelError
	case now.Before(notBefore):
		return lang.X("badge.not_yet_valid", "尚未生效"), LevelWarning
	}
	lvl := LevelOK
	switch {
	case n <= WarningDays:
		lvl = LevelWarning
	case n <= NoticeDays:
		lvl = LevelNotice
	}
	if n == 0 {
		return lang.X("badge.expires_today", "今天到期"), lvl
	}
	return lang.XN("badge.days_left", "剩余 {{.Count}} 天", n, map[string]any{"Count": n}), lvl
}

// DaysLeft is renewal.DaysLeftIn in the formatter's zone (time.Local when
// Loc is nil): 0 on the expiry date, negative after it.
func (f Formatter) DaysLeft(now, notAfter time.Time) int {
	return renewal.DaysLeftIn(notAfter, now, f.Loc)
}
