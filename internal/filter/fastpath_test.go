package filter

import (
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seawall/seawall/internal/filter/datedetect"
)

// Differential tests of the shortcuts the matcher takes: each must give
// what the slow path gives, on real and generated lines and on odd ones.

// fastPathLines are the lines the tests below run: generated sshd logs,
// the built-in filters' sample logs, fail2ban's (when present), and the
// same lines mutated and garbled.
func fastPathLines(t *testing.T) []string {
	t.Helper()
	lines := append(sshdSessions(3000, 4), sshdMix(1000, false)...)
	files, _ := filepath.Glob("testdata/*.log")
	more, _ := filepath.Glob(filepath.Join(sharedDir, "logs", "*"))
	for _, file := range append(files, more...) {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(data), "\n") {
			if !strings.HasPrefix(l, "#") {
				lines = append(lines, l)
			}
		}
	}
	rng := rand.New(rand.NewSource(11))
	odd := []string{"\x00", "\xff", "é", "\n", "\r", " ", ":", "[", "]", "Dec 31 23:59:59 ", "Jan  1 00:00:00 ", "2024-12-31 23:59:59 "}
	n := len(lines)
	for i := 0; i < n; i++ {
		b := []byte(lines[rng.Intn(n)])
		for k := rng.Intn(4); k > 0; k-- {
			at := rng.Intn(len(b) + 1)
			b = append(b[:at], append([]byte(odd[rng.Intn(len(odd))]), b[at:]...)...)
		}
		if len(b) > 0 && rng.Intn(3) == 0 {
			b = b[rng.Intn(len(b)):] // the date or the prefix cut
		}
		lines = append(lines, string(b))
	}
	return append(lines, strings.Repeat("Failed password for root from 192.0.2.1 ", 2000), "")
}

// TestLiteralsNeverReject checks the literal tests (mayMatch: the required
// literal and the more literals) against the regexes themselves: a text
// they rule out is one the regex does not match.
func TestLiteralsNeverReject(t *testing.T) {
	lines := fastPathLines(t)
	var vm vmMachine
	specs := append(Builtins(), "sshd[mode=aggressive]", "sshd[publickey=any]", "postfix[mode=aggressive]")
	for _, spec := range specs {
		f, err := Load(spec, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range append(append([]*regex{f.pref}, f.fail...), f.ignore...) {
			if r == nil || (r.lit == "" && len(r.more) == 0) {
				continue
			}
			for _, l := range lines {
				text, _, _ := f.cutDate(l, nil, time.Time{})
				for _, s := range []string{l, text} {
					if r.mayMatch(s) {
						continue
					}
					if r.re != nil && r.re.MatchString(s) || r.re == nil && r.superMatch(&vm, s) {
						t.Fatalf("%s: %q (literals %q, %v) rules out %q, which it matches", spec, r.text, r.lit, r.more, s)
					}
				}
			}
		}
	}
}

// TestCutDateCached checks that the date cut with a cache (one per
// goroutine, kept over the lines of a log) is the one without, as now
// moves over a year's end.
func TestCutDateCached(t *testing.T) {
	lines := fastPathLines(t)
	nows := []time.Time{
		time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC),
		time.Date(2025, 11, 21, 12, 0, 0, 0, time.UTC), time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
	}
	for _, spec := range []string{"sshd", "nginx-http-auth", "postfix", "apache-auth"} {
		now := nows[0]
		f, err := Load(spec, Options{Location: time.UTC, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		var c datedetect.Cache
		for i, l := range lines {
			if i%500 == 0 {
				now = nows[(i/500)%len(nows)]
			}
			gotText, gotTime, gotOK := f.cutDate(l, &c, time.Time{})
			wantText, wantTime, wantOK := f.cutDate(l, nil, time.Time{})
			if gotText != wantText || !gotTime.Equal(wantTime) || gotOK != wantOK {
				t.Fatalf("%s at %v: %q: cached (%q, %v, %v), want (%q, %v, %v)", spec, now, l, gotText, gotTime, gotOK, wantText, wantTime, wantOK)
			}
		}
	}
}
