package datedetect

import (
	"math/rand/v2"
	"testing"
)

// syslogLine makes a line that starts (after a short prefix) with a syslog
// date that is often canonical and sometimes a little off: other cases,
// padding, out-of-range fields, fractions, years, odd bytes after it.
func syslogLine(rng *rand.Rand) string {
	// pick takes the first, canonical choice three times in four
	pick := func(xs ...string) string {
		if rng.IntN(4) != 0 {
			return xs[0]
		}
		return xs[rng.IntN(len(xs))]
	}
	var b []byte
	b = append(b, pick("", "", "", "x", " ", "[", "Mon ", "mon ", "é", "\x00")...)
	b = append(b, pick("Jan", "Feb", "Jun", "Dec", "jun", "JUN", "Jux", "Mon", "Ju", "Junk", "ſep", "Sep")...)
	b = append(b, pick(" ", " ", " ", "  ", "\t", "")...)
	b = append(b, pick(" 2", "02", "12", "29", "30", "31", "32", "00", " 0", "3", "1", "2", "٣1", "39")...)
	b = append(b, pick(" ", " ", " ", "  ", "")...)
	b = append(b, pick("00", "09", "23", "24", "29", "30", " 9", "9", "0٣")...)
	b = append(b, pick(":", ":", ":", ".", "")...)
	b = append(b, pick("00", "59", "60", "5", "05")...)
	b = append(b, pick(":", ":", ":", "")...)
	b = append(b, pick("00", "59", "60", "61", "62", "6", "5", "99")...)
	b = append(b, pick("", " web1 sshd[1]: x", " web1", ".123", ".", ".1234567 x", " 2025", " 2025 x",
		" 20", " 2", " 202", "x", "_", "1", "é", "\xff", "\x00", ":", " ", "  ", "]", ",5")...)
	return string(b)
}

// TestSyslogShortcut checks that the shortcut for canonical syslog dates
// gives exactly what the general native matcher gives, wherever it answers,
// on generated lines and on every position of them; and that it does
// answer on the common forms.
func TestSyslogShortcut(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	iterations := 200000
	if testing.Short() {
		iterations = 20000
	}
	taken := 0
	for i := range iterations {
		line := syslogLine(rng)
		if i%4 == 3 {
			line = mutate(rng, line)
		}
		for p := 0; p <= len(line); p++ {
			short := nativeRun{s: line, spec: nativeSyslog}
			if !short.syslogShortcut(p) {
				continue
			}
			taken++
			long := nativeRun{s: line, spec: nativeSyslog}
			long.a = p
			if !long.try(0, p) {
				t.Fatalf("%q at %d: the shortcut matches, the matcher does not (unsure %v)", line, p, long.unsure)
			}
			if short.a != long.a || short.end != long.end {
				t.Fatalf("%q at %d: shortcut [%d,%d), matcher [%d,%d)", line, p, short.a, short.end, long.a, long.end)
			}
			for _, k := range []fieldKind{fkWeekdayAbbr, fkMonthAbbr, fkDay, fkHour, fkMinute, fkSecond, fkFraction, fkYear} {
				if short.spans[k] != long.spans[k] {
					t.Fatalf("%q at %d: field %d: shortcut %v, matcher %v", line, p, k, short.spans[k], long.spans[k])
				}
			}
		}
	}
	t.Logf("the shortcut answered on %d positions of %d lines", taken, iterations)
	if taken < iterations/10 {
		t.Errorf("the shortcut answered %d times in %d lines: the test does not exercise it", taken, iterations)
	}
	for _, line := range []string{"Jun  2 00:00:01 web1 sshd[1]: x", "Dec 31 23:59:59", "jan 01 00:00:00 x", "Feb 29 12:00:00: x"} {
		r := nativeRun{s: line, spec: nativeSyslog}
		if !r.syslogShortcut(0) {
			t.Errorf("the shortcut does not answer on %q", line)
		}
	}
}
