package filter

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The built-in filters are tested on logs in testdata/NAME.log, written
// for seawall (real-looking lines, attacks included) and annotated in our
// own format:
//
//	## now: 2025-11-21T12:00:00Z      the current time (dates without a year)
//	## zone: Europe/Zurich            the zone of dates without one (default UTC)
//	## options: mode=aggressive        the filter options from here on ("" = none);
//	                                  logtype=journal feeds lines as journal
//	                                  messages stamped with "now"
//	#> fail HOST [TIME] [k=v ...]     the next line is one failure from HOST
//	                                  (TIME in RFC 3339; k=v: captured fields)
//	#> none                           the next line is no failure
//	# anything else                   a comment
//
// A line without a "#>" annotation must not be a failure either.

func TestBuiltinLogs(t *testing.T) {
	for _, name := range Builtins() {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name+".log")
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("every built-in filter needs a test log: %v", err)
			}
			n := runAnnotatedLog(t, name, path)
			if n < 5 {
				t.Errorf("%s: only %d annotated failures; test more", path, n)
			}
		})
	}
}

// annotatedRun holds the state of one annotated log.
type annotatedRun struct {
	t    *testing.T
	name string
	path string
	now  time.Time
	zone *time.Location
	opts string
	m    *Matcher
}

// runAnnotatedLog checks a log and returns how many failures it expected.
func runAnnotatedLog(t *testing.T, name, path string) int {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := &annotatedRun{t: t, name: name, path: path, now: time.Date(2025, 11, 21, 12, 0, 0, 0, time.UTC), zone: time.UTC}
	sc := bufio.NewScanner(f)
	var want *string
	lineNo, failures := 0, 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			r.header(lineNo, strings.TrimPrefix(line, "## "))
		case strings.HasPrefix(line, "#> "):
			w := strings.TrimPrefix(line, "#> ")
			want = &w
			if strings.HasPrefix(w, "fail ") {
				failures++
			}
		case strings.HasPrefix(line, "#"), strings.TrimSpace(line) == "":
		default:
			expect := "none"
			if want != nil {
				expect = *want
			}
			r.check(lineNo, line, expect)
			want = nil
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return failures
}

func (r *annotatedRun) header(lineNo int, h string) {
	key, val, _ := strings.Cut(h, ":")
	val = strings.TrimSpace(val)
	var err error
	switch key {
	case "now":
		r.now, err = time.Parse(time.RFC3339, val)
	case "zone":
		r.zone, err = time.LoadLocation(val)
	case "options":
		r.opts = val
	default:
		err = fmt.Errorf("unknown header %q", key)
	}
	if err != nil {
		r.t.Fatalf("%s:%d: %v", r.path, lineNo, err)
	}
	r.m = nil
}

// matcher loads the filter with the current options (once per block).
func (r *annotatedRun) matcher(lineNo int) *Matcher {
	if r.m != nil {
		return r.m
	}
	spec := r.name
	if r.opts != "" {
		spec += "[" + r.opts + "]"
	}
	now := r.now
	f, err := Load(spec, Options{Location: r.zone, Now: func() time.Time { return now }})
	if err != nil {
		r.t.Fatalf("%s:%d: %v", r.path, lineNo, err)
	}
	r.m = f.NewMatcher()
	return r.m
}

func (r *annotatedRun) check(lineNo int, line, expect string) {
	m := r.matcher(lineNo)
	var got []Failure
	if strings.Contains(r.opts, "logtype=journal") {
		got = m.Entry(line, r.now)
	} else {
		got = m.Line(line)
	}
	if msg := compareAnnotation(got, expect); msg != "" {
		r.t.Errorf("%s:%d: %s\n  line: %s\n  got:  %+v", r.path, lineNo, msg, clip(line, 200), got)
	}
}

// compareAnnotation checks failures against "none" or "fail HOST [TIME]
// [k=v ...]"; "" when they agree.
func compareAnnotation(got []Failure, expect string) string {
	words := strings.Fields(expect)
	if words[0] == "none" {
		if len(got) != 0 {
			return "a failure, want none"
		}
		return ""
	}
	if words[0] != "fail" || len(words) < 2 {
		return fmt.Sprintf("bad annotation %q", expect)
	}
	if len(got) != 1 {
		return fmt.Sprintf("%d failures, want 1 from %s", len(got), words[1])
	}
	f := got[0]
	if !sameHost(f.Host, words[1]) {
		return fmt.Sprintf("host %q, want %q", f.Host, words[1])
	}
	for _, w := range words[2:] {
		if k, v, ok := strings.Cut(w, "="); ok {
			if f.Fields[k] != v {
				return fmt.Sprintf("field %s = %q, want %q", k, f.Fields[k], v)
			}
			continue
		}
		want, err := time.Parse(time.RFC3339, w)
		if err != nil {
			return fmt.Sprintf("bad annotation time %q", w)
		}
		if !f.Time.Truncate(time.Second).Equal(want) {
			return fmt.Sprintf("time %s, want %s", f.Time.Format(time.RFC3339), w)
		}
	}
	return ""
}
