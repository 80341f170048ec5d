package datedetect

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// This file turns the named groups of a date match into a time, following
// fail2ban's reGroupDictStrptime (fail2ban/server/strptime.py): a missing year
// is the current one (or the previous one, if that puts the date more than a
// day ahead), a missing date is today (or yesterday), two-digit years are in
// 2000-2099, and a date that does not exist (Feb 30, hour 24) is no date.

// fieldKind is what a named group holds; groups with other names are ignored.
type fieldKind uint8

const (
	fkNone        fieldKind = iota
	fkYear                  // Y
	fkYear2                 // y
	fkMonth                 // m
	fkMonthName             // B
	fkMonthAbbr             // b
	fkDay                   // d
	fkHour                  // H
	fkHour12                // I (with p)
	fkMinute                // M
	fkSecond                // S
	fkFraction              // f
	fkWeekdayName           // A
	fkWeekdayAbbr           // a
	fkWeekdayNum            // w
	fkYearDay               // j
	fkWeekSun               // U
	fkWeekMon               // W
	fkZone                  // z
	fkZoneName              // Z
	fkAMPM                  // p, read by I
	fkEpoch                 // the number of an epoch template
)

var fieldNames = map[string]fieldKind{
	"Y": fkYear, "y": fkYear2, "m": fkMonth, "B": fkMonthName, "b": fkMonthAbbr,
	"d": fkDay, "H": fkHour, "I": fkHour12, "M": fkMinute, "S": fkSecond,
	"f": fkFraction, "A": fkWeekdayName, "a": fkWeekdayAbbr, "w": fkWeekdayNum,
	"j": fkYearDay, "U": fkWeekSun, "W": fkWeekMon, "z": fkZone, "Z": fkZoneName,
	"p": fkAMPM, epochGroup: fkEpoch,
}

var (
	monthNames   = []string{"january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"}
	weekdayNames = []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
)

// fieldVal is the text of one field in the line.
type fieldVal struct {
	kind fieldKind
	a, b int32
}

// maxFieldVals bounds the fields of one match: there are fewer field names
// than this, and a group name may be used once per pattern.
const maxFieldVals = 24

// fields are the values found in a match, in the order of their groups.
type fields struct {
	vals [maxFieldVals]fieldVal
	n    int
}

func (f *fields) add(kind fieldKind, a, b int) {
	if f.n < maxFieldVals {
		f.vals[f.n] = fieldVal{kind, int32(a), int32(b)}
		f.n++
	}
}

// dateParts collects the fields before they become a time.
type dateParts struct {
	year, month, day       int // -1: not in the line
	hour, minute, second   int
	nanos                  int
	weekday, yearDay, week int // -1: not in the line
	weekStartsMonday       bool
	zoneMin                int
	zoned                  bool
}

// resolve converts the fields of a strptime-style match into a time. The
// fraction of a second is kept (fail2ban drops it).
func resolve(line string, f *fields, loc *time.Location, now time.Time) (time.Time, bool) {
	dp, ok := parseFields(line, f)
	if !ok {
		return time.Time{}, false
	}
	t, ok, _ := dp.toTime(loc, now)
	return t, ok
}

// parseFields reads the fields' texts into date parts.
func parseFields(line string, f *fields) (dateParts, bool) {
	dp := dateParts{year: -1, month: -1, day: -1, weekday: -1, yearDay: -1, week: -1}
	ampm := ""
	for _, v := range f.vals[:f.n] {
		if v.kind == fkAMPM {
			ampm = strings.ToLower(line[v.a:v.b])
		}
	}
	for _, v := range f.vals[:f.n] {
		if !dp.set(v.kind, line[v.a:v.b], ampm) {
			return dp, false
		}
	}
	return dp, true
}

// set stores one field, converted as Python's int() and list.index() would;
// false when the text cannot be converted.
func (dp *dateParts) set(kind fieldKind, text, ampm string) bool {
	var n int
	ok := true
	switch kind {
	case fkYear, fkYear2, fkMonth, fkDay, fkHour, fkHour12, fkMinute, fkSecond,
		fkWeekdayNum, fkYearDay, fkWeekSun, fkWeekMon:
		n, ok = pyInt(text)
	}
	switch kind {
	case fkYear:
		dp.year = n
	case fkYear2:
		if n <= 2000 {
			n += 2000
		}
		dp.year = n
	case fkMonth:
		dp.month = n
	case fkMonthName:
		dp.month, ok = nameIndex(monthNames, text, false)
	case fkMonthAbbr:
		dp.month, ok = nameIndex(monthNames, text, true)
	case fkDay:
		dp.day = n
	case fkHour:
		dp.hour = n
	case fkHour12:
		dp.hour = hour12(n, ampm)
	case fkMinute:
		dp.minute = n
	case fkSecond:
		dp.second = n
	case fkFraction:
		dp.nanos, ok = fraction(text)
	case fkWeekdayName:
		dp.weekday, ok = nameIndex(weekdayNames, text, false)
		dp.weekday--
	case fkWeekdayAbbr:
		dp.weekday, ok = nameIndex(weekdayNames, text, true)
		dp.weekday--
	case fkWeekdayNum:
		dp.weekday = (n + 6) % 7 // Python's %w counts from Sunday, weekday() from Monday
	case fkYearDay:
		dp.yearDay = n
	case fkWeekSun, fkWeekMon:
		dp.week, dp.weekStartsMonday = n, kind == fkWeekMon
	case fkZone, fkZoneName:
		dp.zoneMin, ok = zoneOffset(text)
		dp.zoned = ok
	}
	return ok
}

// hour12 applies AM/PM: 12 AM is midnight, 12 PM is noon; no AM/PM is AM.
func hour12(h int, ampm string) int {
	switch ampm {
	case "", "am":
		if h == 12 {
			return 0
		}
	case "pm":
		if h != 12 {
			return h + 12
		}
	}
	return h
}

// toTime builds the time as fail2ban does, validating every field the way
// Python's datetime constructor does. It works on a copy of the parts and
// says how the result depends on now (see nowDep).
func (dp dateParts) toTime(loc *time.Location, now time.Time) (time.Time, bool, nowDep) {
	nowLocal := now.In(loc)
	var dep nowDep
	assumeYear := dp.year < 0
	if assumeYear {
		dp.year = nowLocal.Year()
		dep.year, dep.kind = dp.year, depYear
	}
	if dp.month < 0 || dp.day < 0 {
		dp.fromYearDay()
	}
	assumeToday := dp.month < 0 && dp.day < 0
	if assumeToday {
		dp.month, dp.day = int(nowLocal.Month()), nowLocal.Day()
		dep.kind = depAll
	}
	if !dp.valid(dp.year) {
		return time.Time{}, false, dep
	}
	t := dp.at(dp.year, dp.day, loc)
	if assumeToday && t.After(now) {
		// Only a time of day, later than now: it was yesterday.
		t = dp.at(dp.year, dp.day-1, loc)
	}
	if assumeYear {
		dep.t0, dep.ahead, dep.hasT0 = t, t.After(now.Add(24*time.Hour)), true
	}
	if assumeYear && dep.ahead {
		// No year and more than a day ahead: last year's (December in January).
		if !dp.valid(dp.year - 1) {
			return time.Time{}, false, dep
		}
		t = dp.at(dp.year-1, dp.day, loc)
	}
	return t.In(loc), true, dep
}

// nowDep is how a converted date depends on now: not at all (a full
// date), through the year alone (a date without a year: now's year, and
// whether the date with it is more than a day ahead of now), or through
// the day as well (a time of day alone).
type nowDep struct {
	kind  depKind
	year  int       // depYear: now's year in the location
	t0    time.Time // depYear: the date in that year, when it is valid
	ahead bool      // depYear: t0 is more than a day after now
	hasT0 bool      // depYear: t0 and ahead are set
}

type depKind uint8

const (
	depNone depKind = iota
	depYear
	depAll
)

// holds reports whether a result that depended on now as d did is the same
// for now2.
func (d *nowDep) holds(loc *time.Location, now2 time.Time) bool {
	switch d.kind {
	case depNone:
		return true
	case depYear:
		if now2.In(loc).Year() != d.year {
			return false
		}
		return !d.hasT0 || d.t0.After(now2.Add(24*time.Hour)) == d.ahead
	}
	return false
}

// at is the time of the parts with the given year and day, in the line's own
// zone if it had one, else as wall-clock time in loc.
func (dp *dateParts) at(year, day int, loc *time.Location) time.Time {
	if dp.zoned {
		t := time.Date(year, time.Month(dp.month), day, dp.hour, dp.minute, dp.second, dp.nanos, time.UTC)
		return t.Add(-time.Duration(dp.zoneMin) * time.Minute)
	}
	return time.Date(year, time.Month(dp.month), day, dp.hour, dp.minute, dp.second, dp.nanos, loc)
}

// valid checks the ranges Python's datetime accepts.
func (dp *dateParts) valid(year int) bool {
	if year < 1 || year > 9999 || dp.month < 1 || dp.month > 12 {
		return false
	}
	if dp.day < 1 || dp.day > daysIn(time.Month(dp.month), year) {
		return false
	}
	return dp.hour >= 0 && dp.hour < 24 && dp.minute >= 0 && dp.minute < 60 &&
		dp.second >= 0 && dp.second < 60
}

var monthDays = [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

func daysIn(m time.Month, year int) int {
	if m == time.February && year%4 == 0 && (year%100 != 0 || year%400 == 0) {
		return 29
	}
	return monthDays[m]
}

// fromYearDay fills month and day from %j, or from %U/%W with a weekday, as
// Python's _strptime does.
func (dp *dateParts) fromYearDay() {
	julian := dp.yearDay
	if julian < 0 && dp.week >= 0 && dp.weekday >= 0 {
		julian = julianFromWeek(dp.year, dp.week, dp.weekday, dp.weekStartsMonday)
	}
	if julian < 0 {
		return
	}
	t := time.Date(dp.year, time.January, julian, 0, 0, 0, 0, time.UTC)
	dp.year, dp.month, dp.day = t.Year(), int(t.Month()), t.Day()
}

// julianFromWeek is the day of the year of a weekday (Monday = 0) in a week
// counted from the first Sunday (%U) or Monday (%W) of the year.
func julianFromWeek(year, week, weekday int, mondayFirst bool) int {
	first := (int(time.Date(year, time.January, 1, 0, 0, 0, 0, time.UTC).Weekday()) + 6) % 7
	if !mondayFirst {
		first = (first + 1) % 7
		weekday = (weekday + 1) % 7
	}
	week0 := (7 - first) % 7
	if week == 0 {
		return 1 + weekday - first
	}
	return 1 + week0 + 7*(week-1) + weekday
}

// pyInt converts like Python's int(): surrounding white space is allowed,
// and so are digits of any script.
func pyInt(s string) (int, bool) {
	if n, ok := asciiInt(s); ok {
		return n, true
	}
	s = strings.TrimSpace(s)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" || len(s) > 18 {
		return 0, false
	}
	n := 0
	for _, r := range s {
		d, ok := digitValue(r)
		if !ok {
			return 0, false
		}
		n = n*10 + d
	}
	if neg {
		n = -n
	}
	return n, true
}

// asciiInt reads plain ASCII digits, the common case.
func asciiInt(s string) (int, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// digitValue is the value of a decimal digit of any script (category Nd,
// whose digits come in runs of ten from zero).
func digitValue(r rune) (int, bool) {
	if r >= '0' && r <= '9' {
		return int(r - '0'), true
	}
	if r < utf8.RuneSelf || !unicode.IsDigit(r) {
		return 0, false
	}
	for _, rg := range unicode.Nd.R16 {
		if r >= rune(rg.Lo) && r <= rune(rg.Hi) {
			return int(r-rune(rg.Lo)) % 10, true
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if r >= rune(rg.Lo) && r <= rune(rg.Hi) {
			return int(r-rune(rg.Lo)) % 10, true
		}
	}
	return 0, false
}

// fraction converts the digits of %f (at most nine are used) to nanoseconds.
func fraction(s string) (int, bool) {
	n, digits := 0, 0
	for _, r := range s {
		d, ok := digitValue(r)
		if !ok {
			return 0, false
		}
		if digits < 9 {
			n = n*10 + d
			digits++
		}
	}
	if digits == 0 {
		return 0, false
	}
	for ; digits < 9; digits++ {
		n *= 10
	}
	return n, true
}

// nameIndex finds a month or weekday name (or its three-letter form) and
// returns its 1-based number.
func nameIndex(names []string, text string, abbr bool) (int, bool) {
	if abbr && len(text) == 3 {
		k := uint32(lowerASCII(text[0]))<<16 | uint32(lowerASCII(text[1]))<<8 | uint32(lowerASCII(text[2]))
		packed := monthAbbrs
		if len(names) == len(weekdayNames) {
			packed = weekdayAbbrs
		}
		for i, n := range packed {
			if n == k {
				return i + 1, true
			}
		}
	}
	for i, name := range names {
		if abbr {
			name = name[:3]
		}
		if strings.EqualFold(name, text) {
			return i + 1, true
		}
	}
	return 0, false
}
