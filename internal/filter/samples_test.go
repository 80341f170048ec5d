package filter

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// These tests run fail2ban's own filters over fail2ban's annotated sample
// logs, read from ../shared/testdata/fail2ban (see its README for the
// annotation format). They skip when that directory is absent, as it is in
// a fresh clone.

// sharedDir is the fail2ban test data, relative to this package.
const sharedDir = "../../../shared/testdata/fail2ban"

// sampleNow is the test runner's "now" for log formats without a year.
var sampleNow = time.Date(2005, 8, 14, 10, 0, 0, 0, time.UTC)

func sharedData(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(sharedDir, "filter.d")); err != nil {
		t.Skipf("fail2ban test data not found at %s (it lives outside the repository): %v", sharedDir, err)
	}
	return sharedDir
}

func zurich(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Skipf("time zone Europe/Zurich not available: %v", err)
	}
	return loc
}

// TestSharedFiltersLoad loads every filter fail2ban ships.
func TestSharedFiltersLoad(t *testing.T) {
	dir := sharedData(t)
	files, _ := filepath.Glob(filepath.Join(dir, "filter.d", "*.conf"))
	n := 0
	for _, file := range files {
		if strings.HasSuffix(file, "common.conf") {
			continue // include-only files, as fail2ban's own test skips them
		}
		n++
		f, err := Load(file, Options{})
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if len(f.FailRegexes()) == 0 {
			t.Errorf("%s: no failregex", file)
		}
	}
	t.Logf("%d filters loaded", n)
}

// sampleCounts tallies the verdicts of the sample test.
type sampleCounts struct {
	pass, fail, skipped int
}

// TestSharedSamples checks every annotated sample line.
func TestSharedSamples(t *testing.T) {
	dir := sharedData(t)
	loc := zurich(t)
	logs, _ := filepath.Glob(filepath.Join(dir, "logs", "*"))
	var total sampleCounts
	for _, logFile := range logs {
		name := filepath.Base(logFile)
		if _, err := os.Stat(filepath.Join(dir, "filter.d", name+".conf")); err != nil {
			continue
		}
		t.Run(name, func(t *testing.T) {
			spec := filepath.Join(dir, "filter.d", name+".conf")
			r := &sampleRun{t: t, dir: dir, name: name, spec: spec, loc: loc, matchers: map[string]*Matcher{}}
			r.run()
			t.Logf("%s: %d pass, %d fail, %d skipped (constraint not evaluable)", name, r.counts.pass, r.counts.fail, r.counts.skipped)
			total.pass += r.counts.pass
			total.fail += r.counts.fail
			total.skipped += r.counts.skipped
		})
	}
	t.Logf("fail2ban samples: %d pass, %d fail, %d skipped", total.pass, total.fail, total.skipped)
}

// TestBuiltinSharedSamples runs seawall's built-in filters over fail2ban's
// samples of the same name.
func TestBuiltinSharedSamples(t *testing.T) {
	dir := sharedData(t)
	loc := zurich(t)
	var total sampleCounts
	for _, name := range Builtins() {
		if _, err := os.Stat(filepath.Join(dir, "logs", name)); err != nil {
			continue
		}
		t.Run(name, func(t *testing.T) {
			r := &sampleRun{t: t, dir: dir, name: name, spec: name, loc: loc, matchers: map[string]*Matcher{}}
			r.run()
			t.Logf("built-in %s: %d pass, %d fail, %d skipped", name, r.counts.pass, r.counts.fail, r.counts.skipped)
			total.pass += r.counts.pass
			total.fail += r.counts.fail
			total.skipped += r.counts.skipped
		})
	}
	t.Logf("built-in filters on fail2ban samples: %d pass, %d fail, %d skipped", total.pass, total.fail, total.skipped)
}

// sampleRun is fail2ban's samplestestcase for one filter.
type sampleRun struct {
	t        *testing.T
	dir      string
	name     string // the filter's name, for conditions
	spec     string // what to Load (options are appended)
	loc      *time.Location
	matchers map[string]*Matcher // by options, kept across blocks as fail2ban keeps its filters
	active   []sampleFilter
	common   map[string]any
	ignore   bool
	counts   sampleCounts
}

type sampleFilter struct {
	key  string
	m    *Matcher
	opts map[string]any
}

var annotationRE = regexp.MustCompile(`^#+ ?(failJSON|fileOptions|filterOptions|addFILE):(.+)$`)

func (r *sampleRun) run() {
	files := []string{r.name}
	for i := 0; i < len(files); i++ {
		files = append(files, r.runFile(files[i])...)
	}
}

// runFile processes one sample file and returns the files it adds.
func (r *sampleRun) runFile(file string) []string {
	data, err := os.ReadFile(filepath.Join(r.dir, "logs", file))
	if err != nil {
		r.t.Fatalf("%v", err)
	}
	var added []string
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	lineNo := 0
	var pending map[string]any
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if pending != nil {
			r.check(file, lineNo, line, pending)
			pending = nil
			continue
		}
		m := annotationRE.FindStringSubmatch(line)
		switch {
		case m == nil && (strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" || r.ignore):
			continue
		case m == nil:
			r.check(file, lineNo, line, map[string]any{})
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(m[2]), &v); err != nil {
			r.t.Fatalf("%s:%d: bad annotation: %v", file, lineNo, err)
		}
		switch m[1] {
		case "failJSON":
			pending = v.(map[string]any)
		case "fileOptions":
			r.common = v.(map[string]any)
		case "filterOptions":
			r.setFilters(file, lineNo, v)
		case "addFILE":
			added = append(added, v.(string))
		}
	}
	return added
}

// setFilters starts a block run with each of the option sets.
func (r *sampleRun) setFilters(file string, lineNo int, v any) {
	var list []map[string]any
	switch x := v.(type) {
	case []any:
		for _, o := range x {
			list = append(list, o.(map[string]any))
		}
	case map[string]any:
		list = []map[string]any{x}
	}
	r.active, r.ignore = nil, false
	for _, o := range list {
		opts := map[string]any{}
		for k, v := range r.common {
			opts[k] = v
		}
		for k, v := range o {
			opts[k] = v
		}
		if cond, ok := opts["test.condition"].(string); ok {
			res, ok := evalCondition(cond, r.name, opts)
			if !ok {
				r.t.Fatalf("%s:%d: cannot evaluate test.condition %q", file, lineNo, cond)
			}
			r.ignore = !res
		}
		if r.ignore {
			continue
		}
		r.active = append(r.active, r.filter(file, lineNo, opts))
	}
}

// filter returns the (cached) matcher for a set of options.
func (r *sampleRun) filter(file string, lineNo int, opts map[string]any) sampleFilter {
	var parts []string
	for _, k := range sortedAnyKeys(opts) {
		if !strings.HasPrefix(k, "test.") {
			parts = append(parts, fmt.Sprintf("%s=%q", k, fmt.Sprint(opts[k])))
		}
	}
	key := strings.Join(parts, ",")
	m := r.matchers[key]
	if m == nil {
		spec := r.spec
		if key != "" {
			spec += "[" + key + "]"
		}
		f, err := Load(spec, Options{Location: r.loc, Now: func() time.Time { return sampleNow }})
		if err != nil {
			r.t.Fatalf("%s:%d: %v", file, lineNo, err)
		}
		m = f.NewMatcher()
		r.matchers[key] = m
	}
	return sampleFilter{key: key, m: m, opts: opts}
}

func sortedAnyKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// check runs one sample line through the active filters.
func (r *sampleRun) check(file string, lineNo int, line string, want map[string]any) {
	if r.ignore {
		return
	}
	if len(r.active) == 0 {
		r.active = []sampleFilter{r.filter(file, lineNo, map[string]any{})}
	}
	for _, sf := range r.active {
		if c, ok := want["constraint"].(string); ok {
			res, ok := evalCondition(c, r.name, sf.opts)
			if !ok {
				r.counts.skipped++
				continue
			}
			if !res {
				continue
			}
		}
		var got []Failure
		if sf.opts["logtype"] == "journal" {
			text := line
			if p, ok := sf.opts["test.prefix-line"].(string); ok {
				text = p + line
			}
			got = sf.m.Entry(text, sampleNow)
		} else {
			got = sf.m.Line(line)
		}
		if msg := compareSample(got, want, r.loc); msg != "" {
			r.counts.fail++
			r.t.Errorf("%s:%d [%s]: %s\n  line: %s\n  want: %v\n  got:  %+v", file, lineNo, sf.key, msg, clip(line, 300), want, got)
			continue
		}
		r.counts.pass++
	}
}

// compareSample compares failures with an annotation; "" when they agree.
func compareSample(got []Failure, want map[string]any, loc *time.Location) string {
	match, _ := want["match"].(bool)
	if !match {
		if len(got) > 0 {
			return "matched, but should not"
		}
		return ""
	}
	if len(got) != 1 {
		return fmt.Sprintf("want 1 failure, got %d", len(got))
	}
	f := got[0]
	for k, v := range want {
		switch k {
		case "match", "desc", "constraint", "time":
			continue
		case "host":
			if !sameHost(f.Host, v) {
				return fmt.Sprintf("host %q, want %v", f.Host, v)
			}
		case "attempts":
			if float64(len(f.Lines)) != v {
				return fmt.Sprintf("attempts %d, want %v", len(f.Lines), v)
			}
		case "users":
			want := []string{}
			for _, u := range v.([]any) {
				want = append(want, u.(string))
			}
			sort.Strings(want)
			if !reflect.DeepEqual(f.Users, want) {
				return fmt.Sprintf("users %q, want %q", f.Users, want)
			}
		default:
			got, has := f.Fields[k]
			if v == nil {
				if has {
					return fmt.Sprintf("field %s = %q, want none", k, got)
				}
				continue
			}
			if !has || fmt.Sprint(v) != got {
				return fmt.Sprintf("field %s = %q (set: %v), want %v", k, got, has, v)
			}
		}
	}
	if ts, ok := want["time"].(string); ok {
		wt, err := parseSampleTime(ts, loc)
		if err != nil {
			return err.Error()
		}
		got := f.Time
		if wt.Nanosecond() == 0 {
			// fail2ban reports strptime dates in whole seconds; datedetect
			// keeps the fraction
			got = got.Truncate(time.Second)
		}
		if !got.Equal(wt) {
			return fmt.Sprintf("time %s, want %s", f.Time.In(loc).Format(time.RFC3339Nano), wt.Format(time.RFC3339Nano))
		}
	}
	return ""
}

func parseSampleTime(s string, loc *time.Location) (time.Time, error) {
	for _, layout := range []string{"2006-1-2T15:4:5", "2006-1-2T15:4:5.999999"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad annotation time %q", s)
}

// sameHost compares a host with the annotation's: addresses by value.
func sameHost(got string, want any) bool {
	w, ok := want.(string)
	if !ok {
		return false
	}
	if got == w {
		return true
	}
	a, err1 := netip.ParseAddr(got)
	b, err2 := netip.ParseAddr(w)
	return err1 == nil && err2 == nil && a.Unmap() == b.Unmap()
}

// conditionRE reads the Python conditions the samples use:
// name == 'x', opts.get('k') != 'v'.
var conditionRE = regexp.MustCompile(`^\s*(name|opts\.get\('([\w.-]+)'\))\s*(==|!=)\s*'([^']*)'\s*$`)

// evalCondition evaluates a sample condition; ok is false when it is not
// of a form this runner understands.
func evalCondition(cond, name string, opts map[string]any) (result, ok bool) {
	m := conditionRE.FindStringSubmatch(cond)
	if m == nil {
		return false, false
	}
	left := name
	if m[2] != "" {
		v, has := opts[m[2]]
		left = "\x00none"
		if has {
			left = fmt.Sprint(v)
		}
	}
	eq := left == m[4]
	if m[3] == "!=" {
		return !eq, true
	}
	return eq, true
}
