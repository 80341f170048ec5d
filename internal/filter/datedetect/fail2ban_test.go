package datedetect

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Zurich for the annotations, whatever the host has
)

// fail2banData is fail2ban's own filters and annotated sample logs, read in
// place (see its README); a fresh clone does not have it.
const fail2banData = "../../../../shared/testdata/fail2ban"

func fail2banDir(t *testing.T, sub string) string {
	t.Helper()
	dir := filepath.Join(fail2banData, sub)
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("fail2ban test data not found at %s (it lives outside the repository): %v", dir, err)
	}
	return dir
}

// TestFail2banDatepatternsCompile runs every datepattern of fail2ban's
// filters through New, each in the section that defines it, so the logtype
// (lt_*) and logging (L_*) variants are all covered.
func TestFail2banDatepatternsCompile(t *testing.T) {
	dir := fail2banDir(t, "filter.d")
	files, _ := filepath.Glob(filepath.Join(dir, "*.conf"))
	compiled := 0
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".conf")
		cfg, err := loadConf(dir, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, sec := range cfg.order {
			if _, ok := cfg.sections[sec]["datepattern"]; !ok {
				continue
			}
			dp, err := cfg.resolve(sec, "datepattern", nil)
			if err != nil {
				t.Errorf("%s [%s]: %v", name, sec, err)
				continue
			}
			if _, err := New(dp); err != nil {
				t.Errorf("%s [%s]: New(%q): %v", name, sec, dp, err)
				continue
			}
			compiled++
		}
	}
	if compiled < 40 {
		t.Errorf("compiled %d datepatterns; fail2ban's filters have more than 40", compiled)
	}
	t.Logf("%d datepatterns from %d filter files compile", compiled, len(files))
}

// TestFail2banSampleTimes checks, for every line of fail2ban's sample logs
// annotated with a time, that its date parses to that time: local wall clock
// in Europe/Zurich, "now" 2005-08-14T10:00:00Z for dates without a year, as
// fail2ban's own test runner does. Both the detector of the filter's
// datepattern (the default templates when it has none) and the default
// templates must get it right. Journal blocks are skipped: their lines
// carry no date, the journal does.
func TestFail2banSampleTimes(t *testing.T) {
	logs := fail2banDir(t, "logs")
	filters := fail2banDir(t, "filter.d")
	zurich, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2005, 8, 14, 10, 0, 0, 0, time.UTC)
	files, _ := filepath.Glob(filepath.Join(logs, "*"))
	checked := 0
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			samples := slices.DeleteFunc(readSamples(t, path), func(s sample) bool { return s.Journal })
			if len(samples) == 0 {
				t.Skip("journal lines only: their time is the journal's, not in the line")
			}
			cfg, err := loadConf(filters, name)
			if err != nil {
				t.Fatalf("filter %s: %v", name, err)
			}
			for _, s := range samples {
				dp, err := cfg.resolve("Definition", "datepattern", s.Options)
				if err != nil {
					dp = "" // no datepattern: the default templates
				}
				d, err := New(dp)
				if err != nil {
					t.Fatalf("New(%q): %v", dp, err)
				}
				want, err := parseAnnotationTime(s.Time, zurich)
				if err != nil {
					t.Fatalf("line %d: %v", s.LineNo, err)
				}
				for _, c := range []struct {
					what string
					d    *Detector
				}{{"datepattern " + strconv.Quote(dp), d}, {"default templates", Default()}} {
					got, ok := c.d.Match(s.Line, zurich, now)
					if !s.HasFraction {
						got.Time = got.Time.Truncate(time.Second) // fail2ban drops fractions
					}
					if !ok || !got.Time.Equal(want) {
						t.Errorf("line %d with the %s: %q\n got %v (found %v), want %v",
							s.LineNo, c.what, s.Line, got.Time, ok, want)
					}
				}
				checked++
			}
		})
	}
	if checked < 100 {
		t.Errorf("checked %d annotated times; the samples have more than 100", checked)
	}
	t.Logf("checked %d annotated times", checked)
}

var annotationTimeRE = regexp.MustCompile(`^(\d{4})-(\d{1,2})-(\d{1,2})T(\d{1,2}):(\d{1,2}):(\d{1,2})(\.\d{1,9})?$`)

// parseAnnotationTime reads a failJSON time, which Python's strptime reads:
// single-digit fields are allowed ("2005-03-7T02:09:33").
func parseAnnotationTime(s string, loc *time.Location) (time.Time, error) {
	m := annotationTimeRE.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, fmt.Errorf("unreadable annotation time %q", s)
	}
	var n [6]int
	for i := range n {
		n[i], _ = strconv.Atoi(m[i+1])
	}
	nanos := 0
	if m[7] != "" {
		nanos, _ = fraction(m[7][1:])
	}
	return time.Date(n[0], time.Month(n[1]), n[2], n[3], n[4], n[5], nanos, loc), nil
}

// sample is one annotated log line with a time.
type sample struct {
	LineNo      int
	Line        string
	Time        string
	HasFraction bool
	Options     map[string]string
	Journal     bool
}

// readSamples reads the annotated lines of a sample log (format in the test
// data's README).
func readSamples(t *testing.T, path string) []sample {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out      []sample
		fileOpts = map[string]string{}
		opts     = map[string]string{}
		pending  map[string]any
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<22)
	for no := 1; sc.Scan(); no++ {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "#"); ok {
			rest = strings.TrimSpace(rest)
			key, val, _ := strings.Cut(rest, ":")
			switch key {
			case "failJSON":
				pending = map[string]any{}
				if err := json.Unmarshal([]byte(val), &pending); err != nil {
					t.Fatalf("%s:%d: %v", path, no, err)
				}
			case "fileOptions":
				fileOpts = firstOptions(t, val)
				opts = fileOpts
			case "filterOptions":
				opts = mergeOptions(fileOpts, firstOptions(t, val))
			}
			continue
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		if pending != nil {
			tm, hasTime := pending["time"].(string)
			match, _ := pending["match"].(bool)
			if hasTime && match {
				out = append(out, sample{
					LineNo: no, Line: line, Time: tm, HasFraction: strings.Contains(tm, "."),
					Options: opts, Journal: opts["logtype"] == "journal" || opts["logtype"] == "short",
				})
			}
			pending = nil
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// firstOptions reads filterOptions or fileOptions, an object or a list of
// them; the date pattern is the same across a list's variants but for
// logtype, which the variants of a list share, so the first one is used.
func firstOptions(t *testing.T, val string) map[string]string {
	t.Helper()
	val = strings.TrimSpace(val)
	if !strings.HasPrefix(val, "[") {
		val = "[" + val + "]"
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(val), &list); err != nil {
		t.Fatalf("options %s: %v", val, err)
	}
	out := map[string]string{}
	if len(list) > 0 {
		for k, v := range list[0] {
			if !strings.HasPrefix(k, "test.") {
				out[k] = fmt.Sprint(v)
			}
		}
	}
	return out
}

func mergeOptions(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// conf is a fail2ban filter file with its includes, read just far enough
// to resolve datepattern: sections, multi-line values, [INCLUDES] before and
// after, %(name)s and %(section/name)s interpolation, <tag> and nested
// <a_<b>/c> substitution, and %% for %.
type conf struct {
	sections map[string]map[string]string
	order    []string // sections of the file itself, in order
}

func loadConf(dir, name string) (*conf, error) {
	c := &conf{sections: map[string]map[string]string{}}
	own, err := c.load(dir, name+".conf", 0)
	c.order = own
	return c, err
}

// load reads one file and its includes into c, before-includes first, and
// returns the sections the file itself defines.
func (c *conf) load(dir, file string, depth int) ([]string, error) {
	if depth > 8 {
		return nil, fmt.Errorf("include loop at %s", file)
	}
	path := filepath.Join(dir, file)
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) && strings.HasSuffix(file, ".local") {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	secs := parseINI(string(data))
	inc := secs["INCLUDES"]
	for _, f := range strings.Fields(inc["before"]) {
		if _, err := c.load(dir, f, depth+1); err != nil {
			return nil, err
		}
	}
	var own []string
	for _, name := range sectionOrder(string(data)) {
		if name == "INCLUDES" {
			continue
		}
		own = append(own, name)
		if c.sections[name] == nil {
			c.sections[name] = map[string]string{}
		}
		for k, v := range secs[name] {
			c.sections[name][k] = v
		}
	}
	for _, f := range strings.Fields(inc["after"]) {
		if _, err := c.load(dir, f, depth+1); err != nil {
			return nil, err
		}
	}
	return own, nil
}

var sectionRE = regexp.MustCompile(`^\[([^\]]+)\]\s*$`)

func sectionOrder(data string) []string {
	var out []string
	for _, line := range strings.Split(data, "\n") {
		if m := sectionRE.FindStringSubmatch(line); m != nil && !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// parseINI reads sections of key = value lines; indented lines continue the
// previous value; lines starting with # or ; are comments.
func parseINI(data string) map[string]map[string]string {
	out := map[string]map[string]string{}
	var sec, key string
	for _, line := range strings.Split(data, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || trimmed[0] == '#' || trimmed[0] == ';':
			continue
		case sectionRE.MatchString(line):
			sec, key = sectionRE.FindStringSubmatch(line)[1], ""
			if out[sec] == nil {
				out[sec] = map[string]string{}
			}
		case (line[0] == ' ' || line[0] == '\t') && key != "":
			out[sec][key] += "\n" + trimmed
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || out[sec] == nil {
				continue
			}
			key = strings.TrimSpace(k)
			out[sec][key] = strings.TrimSpace(v)
		}
	}
	return out
}

// lookup finds a value as seen from a section: the options given, the
// section itself, then [Init], [Definition] and [DEFAULT]; "sec/key"
// names another section.
func (c *conf) lookup(section, key string, opts map[string]string) (string, bool) {
	if sec, k, ok := strings.Cut(key, "/"); ok {
		v, found := c.sections[sec][k]
		return v, found
	}
	if v, ok := opts[key]; ok {
		return v, true
	}
	for _, sec := range []string{section, "Init", "Definition", "DEFAULT"} {
		if v, ok := c.sections[sec][key]; ok {
			return v, true
		}
	}
	return "", false
}

var (
	percentRefRE = regexp.MustCompile(`%\(([^)]+)\)s`)
	tagRefRE     = regexp.MustCompile(`<([^<>]+)>`)
)

// resolve interpolates a value until nothing changes.
func (c *conf) resolve(section, key string, opts map[string]string) (string, error) {
	v, ok := c.lookup(section, key, opts)
	if !ok {
		return "", fmt.Errorf("no %s in [%s]", key, section)
	}
	// A tag with no value (<HOST>, or murmur's literal <W>) stays as it is;
	// it is parked under other brackets so the loop does not retry it.
	const open, closing = "\x01", "\x02"
	for range 32 {
		next := percentRefRE.ReplaceAllStringFunc(v, func(m string) string {
			if r, ok := c.lookup(section, m[2:len(m)-2], opts); ok {
				return r
			}
			return m
		})
		next = tagRefRE.ReplaceAllStringFunc(next, func(m string) string {
			if r, ok := c.lookup(section, m[1:len(m)-1], opts); ok {
				return r
			}
			return open + m[1:len(m)-1] + closing
		})
		if next == v {
			break
		}
		v = next
	}
	v = strings.NewReplacer(open, "<", closing, ">", "%%", "%").Replace(v)
	return v, nil
}
