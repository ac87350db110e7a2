package renewal

import "time"

// The one rule by which a certificate's days left are counted, by the
// desktop client and ukeyctl in the clerk's zone and by the service (the
// wire's days_left) in China's.
//
// Days are calendar days in the clerk's time zone, as a person counts them
// on a wall calendar: a certificate that ends tomorrow at 00:30 has 1 day
// left at 23:00 today, although only 90 minutes remain; one that ends later
// today has 0 days left. Whole 24-hour periods would say 0 in the first case
// and disagree with the date printed next to the count.

// DaysLeftIn is the number of calendar days, in loc, from the date of now to
// the date of notAfter: positive before the expiry date, 0 on the expiry
// date itself (whether the certificate has already expired at now or not:
// compare now with notAfter for that), and negative once the expiry date has
// passed (-1 the day after: "expired 1 day ago"). A nil loc is time.Local.
// Days that daylight saving makes 23 or 25 hours long count as one.
func DaysLeftIn(notAfter, now time.Time, loc *time.Location) int {
	if loc == nil {
		loc = time.Local
	}
	return dayNumber(notAfter.In(loc)) - dayNumber(now.In(loc))
}

// dayNumber numbers t's calendar date (days since 1970-01-01), ignoring the
// hour and the zone's offset.
func dayNumber(t time.Time) int {
	y, m, d := t.Date()
	return int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}
