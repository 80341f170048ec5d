package datedetect

import (
	"testing"
	"time"
)

// fuzzDetectors are the detectors FuzzMatch runs each line through: the
// defaults and datepatterns of the kinds fail2ban's filters use.
var fuzzDetectors = func() []*Detector {
	var ds []*Detector
	for _, dp := range []string{
		"",
		"{^LN-BEG}",
		"{^LN-BEG}%ExY(?P<_sep>[-/.])%m(?P=_sep)%d[T ]%H:%M:%S(?:[.,]%f)?(?:\\s*%z)?\n^[^\\[]*\\[({DATE})\n{^LN-BEG}",
		`^<\d+>\d+\s+{DATE}`,
		"^(?:=[^=]+={3,} )?(%ExY(?P<_sep>[-/.])%m(?P=_sep)%d[T ]%H:%M:%S(?:[.,]%f)?(?:\\s*%z)?)\n^I\\(()**",
		"LEPOCH",
		"{^LN-BEG}TAI64N\n{^LN-BEG}",
		"%A, %d %B %Y %I:%M:%S %p %Z",
		"%Y %j %U %w %H:%M:%S %Exz",
	} {
		d, err := New(dp)
		if err != nil {
			panic(err)
		}
		ds = append(ds, d)
	}
	return ds
}()

var fuzzSeeds = []string{
	"Aug 14 11:59:59 host sshd[123]: x", "2005-08-14T11:59:59.123+02:00 x",
	`1.2.3.4 - - [14/Aug/2005:11:59:59 +0200] "GET /"`, "@400000004c91b044077a9e94 x",
	"1123963199123 x", "<38>1 2019-07-08T17:40:16.954167-04:00 h", "I(<0.1.0>) x",
	"Sunday, 14 August 2005 11:59:59 PM CEST", "2005 226 32 0 11:59:59 CET+01",
	"\xff\x00Aug 14 11:59:59", "", "Feb 29 24:60:60",
}

// FuzzMatch: no line makes Match panic, hang, report a span outside the
// line, or answer differently twice.
func FuzzMatch(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		for _, d := range fuzzDetectors {
			m, ok := d.Match(line, zurich, defaultNow)
			if m.Start < 0 || m.End < m.Start || m.End > len(line) {
				t.Fatalf("span %d..%d outside a line of %d bytes", m.Start, m.End, len(line))
			}
			if ok && (m.End == m.Start || m.Time.Location() != zurich) {
				t.Fatalf("date %v from an empty span or in the wrong location", m.Time)
			}
			if again, ok2 := d.Match(line, zurich, defaultNow); again != m || ok2 != ok {
				t.Fatalf("two answers: %+v %v, then %+v %v", m, ok, again, ok2)
			}
			// a cache gives the same answers, the first time and from memory,
			// also when now has moved to another year
			var c Cache
			for _, now := range []time.Time{defaultNow, defaultNow, defaultNow.AddDate(0, 4, 20), defaultNow.AddDate(0, 4, 20)} {
				want, wantOK := d.Match(line, zurich, now)
				if got, gotOK := d.MatchCached(line, zurich, now, &c); got != want || gotOK != wantOK {
					t.Fatalf("at %v: cached %+v %v, want %+v %v", now, got, gotOK, want, wantOK)
				}
			}
		}
	})
}

// FuzzNew: no datepattern makes New or Match panic.
func FuzzNew(f *testing.F) {
	for _, dp := range []string{
		"^%Y-%m-%d %H:%M:%S", "{^LN-BEG}", `^[^\[]*\[({DATE})`, "(?<=a)%H(?P<x>b)?(?(x)c|d)", "%",
		"(?i)(a|ab)*?%b", "{UNB}%H**", "EPOCH\n{^LN-BEG}TAI64N", `\{EPOCH\}{LEPOCH}`, "{NONE}",
	} {
		f.Add(dp, "Aug 14 11:59:59 2005-08-14 ab")
	}
	f.Fuzz(func(t *testing.T, dp, line string) {
		if len(dp) > 300 || len(line) > 300 {
			return
		}
		d, err := New(dp)
		if err != nil {
			return
		}
		start := time.Now()
		m, _ := d.Match(line, time.UTC, defaultNow)
		if m.Start < 0 || m.End < m.Start || m.End > len(line) {
			t.Fatalf("span %d..%d outside the line", m.Start, m.End)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("Match took %v", took)
		}
	})
}
