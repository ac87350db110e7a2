package renewal

import (
	"testing"
	"time"
)

func TestDaysLeftIn(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatalf("tzdata: %v", err)
	}
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatalf("tzdata: %v", err)
	}
	utc := time.UTC
	at := func(loc *time.Location, y int, m time.Month, d, hh, mm int) time.Time {
		return time.Date(y, m, d, hh, mm, 0, 0, loc)
	}
	// A certificate ending 2026-12-20 23:59:59 Beijing time (15:59:59 UTC).
	end := at(shanghai, 2026, 12, 20, 23, 59).Add(59 * time.Second)
	tests := []struct {
		name     string
		notAfter time.Time
		now      time.Time
		loc      *time.Location
		want     int
	}{
		{"a day before, at midnight", end, at(shanghai, 2026, 12, 19, 0, 0), shanghai, 1},
		{"a day before, a minute to midnight", end, at(shanghai, 2026, 12, 19, 23, 59), shanghai, 1},
		{"the last day, at midnight", end, at(shanghai, 2026, 12, 20, 0, 0), shanghai, 0},
		{"the last day, a second before the end", end, end.Add(-time.Second), shanghai, 0},
		{"the next midnight", end, at(shanghai, 2026, 12, 21, 0, 0), shanghai, -1},
		{"expired yesterday", end, at(shanghai, 2026, 12, 21, 15, 0), shanghai, -1},
		{"expired ten days ago", end, at(shanghai, 2026, 12, 30, 9, 0), shanghai, -10},
		{"twenty days before", end, at(shanghai, 2026, 11, 30, 9, 0), shanghai, 20},
		// 20:00 UTC on 30 Nov is already 1 Dec in Beijing; the end is
		// still 20 Dec in both zones: the UTC count is one more.
		{"east of UTC, Beijing", end, at(utc, 2026, 11, 30, 20, 0), shanghai, 19},
		{"east of UTC, the same instants in UTC", end, at(utc, 2026, 11, 30, 20, 0), utc, 20},
		// 25 hours before an end at 00:30 two days on: two midnights away.
		{"25 hours, two dates", at(shanghai, 2026, 11, 25, 0, 30), at(shanghai, 2026, 11, 23, 23, 30), shanghai, 2},
		{"expires later today", at(utc, 2026, 5, 1, 18, 0), at(utc, 2026, 5, 1, 6, 0), utc, 0},
		{"expired earlier today", at(utc, 2026, 5, 1, 6, 0), at(utc, 2026, 5, 1, 18, 0), utc, 0},
		// 8 March 2026 has 23 hours in New York.
		{"across the spring DST change", at(newYork, 2026, 3, 9, 12, 0), at(newYork, 2026, 3, 7, 12, 0), newYork, 2},
		{"across the autumn DST change", at(newYork, 2026, 11, 2, 0, 30), at(newYork, 2026, 11, 1, 0, 30), newYork, 1},
		{"across a year end", at(utc, 2027, 1, 1, 0, 0), at(utc, 2026, 12, 31, 23, 59), utc, 1},
		{"a leap day", at(utc, 2028, 3, 1, 0, 0), at(utc, 2028, 2, 28, 0, 0), utc, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DaysLeftIn(tt.notAfter, tt.now, tt.loc); got != tt.want {
				t.Errorf("DaysLeftIn(%v, %v, %v) = %d, want %d", tt.notAfter, tt.now, tt.loc, got, tt.want)
			}
		})
	}
}

func TestDaysLeftNilZoneIsLocal(t *testing.T) {
	end := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	now := end.Add(-36 * time.Hour)
	if got, want := DaysLeftIn(end, now, nil), DaysLeftIn(end, now, time.Local); got != want {
		t.Errorf("nil zone: %d, time.Local: %d", got, want)
	}
}
