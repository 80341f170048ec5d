package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/seawall/seawall/internal/filter"
)

// sshdLog is a small auth.log: failures over IPv4, IPv4-mapped IPv6 and
// IPv6, lines that are no failure, a year-less date from the previous
// year, and a date with a year and a zone of its own (printed in the zone
// of --timezone).
var sshdLog = []string{
	"Mar  1 10:15:02 web sshd[101]: Failed password for invalid user admin from 192.0.2.7 port 51234 ssh2",
	"Mar  1 10:15:03 web sshd[102]: Accepted publickey for alice from 198.51.100.2 port 40000 ssh2: ED25519 SHA256:abc",
	"Mar  1 10:15:04 web sshd[103]: Invalid user oracle from ::ffff:203.0.113.9 port 40001",
	"Mar  1 10:15:05 web sshd[104]: Failed password for root from 2001:db8::17 port 40002 ssh2",
	"Mar  1 10:15:06 web CRON[200]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
	"Dec 31 23:59:59 web sshd[105]: Invalid user test from 192.0.2.8 port 40003",
	"2025-03-01T11:00:00+01:00 web sshd[106]: Failed password for invalid user x from 192.0.2.9 port 40004 ssh2",
}

// sshdLogArgs fix the clock and zone, so year-less dates are reproducible:
// Dec 31 is the last one before "now", in 2024.
var sshdLogArgs = []string{"--now", "2025-03-02T00:00:00Z", "--timezone", "UTC"}

const sshdLogJSON = `{"line":1,"ip":"192.0.2.7","time":"2025-03-01T10:15:02Z"}
{"line":3,"ip":"203.0.113.9","time":"2025-03-01T10:15:04Z"}
{"line":4,"ip":"2001:db8::17","time":"2025-03-01T10:15:05Z"}
{"line":6,"ip":"192.0.2.8","time":"2024-12-31T23:59:59Z"}
{"line":7,"ip":"192.0.2.9","time":"2025-03-01T10:00:00Z"}
`

// writeLog writes lines to a file in a fresh temporary directory.
func writeLog(t *testing.T, lines []string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "auth.log")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// runCLI runs seawall with args and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestTestFilterJSON(t *testing.T) {
	log := writeLog(t, sshdLog)
	for _, workers := range []string{"1", "4"} {
		args := append([]string{"test-filter", "--json", "--workers", workers, "sshd", log}, sshdLogArgs...)
		code, out, errOut := runCLI(t, args...)
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if out != sshdLogJSON {
			t.Errorf("--workers %s: stdout:\n%s\nwant:\n%s", workers, out, sshdLogJSON)
		}
		if want := "Lines: 7 lines, 1 ignored, 5 matched, 1 missed"; !strings.Contains(errOut, want) {
			t.Errorf("stderr %q lacks %q", errOut, want)
		}
	}
}

func TestTestFilterText(t *testing.T) {
	log := writeLog(t, sshdLog)
	code, out, errOut := runCLI(t, append([]string{"test-filter", "sshd", log}, sshdLogArgs...)...)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// The counts per regex are the engine's.
	f, err := filter.Load("sshd", filter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.MatchReader(strings.NewReader(strings.Join(sshdLog, "\n")), 1, func(int, filter.Failure) {})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Filter:       sshd\n",
		"  read        builtin/sshd.conf\n",
		fmt.Sprintf("Patterns:     %d failregex, %d ignoreregex", len(f.FailRegexes()), len(f.IgnoreRegexes())),
		"Backtracking: ",
		"Log file:     " + log + "\n",
		"Failregex: 6 total\n",
		"Failures: 5\n",
		"|  3: 203.0.113.9, 2025-03-01T10:15:04Z (failregex ", ")\n|     " + sshdLog[2] + "\n",
		"|  4: 2001:db8::17, 2025-03-01T10:15:05Z (failregex ", ")\n|     " + sshdLog[3] + "\n",
		"|  6: 192.0.2.8, 2024-12-31T23:59:59Z (failregex ",
		"\nLines: 7 lines, 1 ignored, 5 matched, 1 missed\n",
	}
	for i, re := range f.FailRegexes() {
		want = append(want, fmt.Sprintf("|  %2d) [%d] %s\n", i, st.FailHits[i], re))
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
	if strings.Contains(out, "198.51.100.2") {
		t.Errorf("an accepted login is listed as a failure:\n%s", out)
	}
}

func TestTestFilterMaxLines(t *testing.T) {
	log := writeLog(t, sshdLog)
	code, out, errOut := runCLI(t, "test-filter", "--max-lines", "2", "sshd", log)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if listed := regexp.MustCompile(`(?m)^\|  \d+: `).FindAllString(out, -1); len(listed) != 2 {
		t.Errorf("%d failures listed, want 2:\n%s", len(listed), out)
	}
	if !strings.Contains(out, "|  ... 3 more (--max-lines -1 lists all)\n") {
		t.Errorf("no note of the 3 failures not listed:\n%s", out)
	}
}

// TestTestFilterFileOptions runs a fail2ban filter file, with its [Init]
// default and with a filter option overriding it.
func TestTestFilterFileOptions(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "app.conf")
	err := os.WriteFile(conf, []byte(`# a fail2ban filter
[Definition]
failregex = ^.*<what> from <HOST>$

[Init]
what = login failed
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	log := writeLog(t, []string{
		"2025-03-01 10:00:00 app: login failed from 192.0.2.1",
		"2025-03-01 10:00:01 app: access denied from 2001:db8::1",
		"2025-03-01 10:00:02 app: login ok from 192.0.2.2",
	})
	tests := []struct{ spec, want string }{
		{conf, `{"line":1,"ip":"192.0.2.1","time":"2025-03-01T10:00:00Z"}` + "\n"},
		{conf + "[what=access denied]", `{"line":2,"ip":"2001:db8::1","time":"2025-03-01T10:00:01Z"}` + "\n"},
		{conf + "[what='(?:denied|failed)']", `{"line":1,"ip":"192.0.2.1","time":"2025-03-01T10:00:00Z"}` + "\n" +
			`{"line":2,"ip":"2001:db8::1","time":"2025-03-01T10:00:01Z"}` + "\n"},
	}
	for _, tt := range tests {
		code, out, errOut := runCLI(t, "test-filter", "--json", "--timezone", "UTC", tt.spec, log)
		if code != ExitOK {
			t.Errorf("%s: exit %d: %s", tt.spec, code, errOut)
			continue
		}
		if out != tt.want {
			t.Errorf("%s: stdout:\n%s\nwant:\n%s", tt.spec, out, tt.want)
		}
	}
	code, out, _ := runCLI(t, "test-filter", conf, log)
	if code != ExitOK || !strings.Contains(out, "Filter:       app\n  read        "+conf+"\n") ||
		!strings.Contains(out, "|   0) [1] ^.*login failed from <HOST>$\n") {
		t.Errorf("text output (exit %d):\n%s", code, out)
	}
}

func TestTestFilterStdin(t *testing.T) {
	log := writeLog(t, sshdLog)
	in, err := os.Open(log)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	// cobra reads os.Stdin unless told otherwise, and Main does not.
	saved := os.Stdin
	os.Stdin = in
	t.Cleanup(func() { os.Stdin = saved })
	code, out, errOut := runCLI(t, append([]string{"test-filter", "--json", "sshd", "-"}, sshdLogArgs...)...)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if out != sshdLogJSON {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, sshdLogJSON)
	}
}

func TestTestFilterErrors(t *testing.T) {
	log := writeLog(t, sshdLog)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("[Definition]\nfailregex = ^no address$\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"unknown filter", []string{"sshdd", log}, ExitUsage, []string{`no built-in filter "sshdd"`, "sshd, ", "path of a fail2ban filter file"}},
		{"bad spec", []string{"sshd[mode=aggressive", log}, ExitUsage, []string{"options must end with ']'"}},
		{"missing filter file", []string{filepath.Join(dir, "none.conf"), log}, ExitFailure, []string{"could not load filter", "none.conf"}},
		{"bad filter file", []string{bad, log}, ExitFailure, []string{"could not load filter", "bad.conf:2", "no <HOST>"}},
		{"missing log", []string{"sshd", filepath.Join(dir, "none.log")}, ExitFailure, []string{"could not open log", "none.log", "no such file"}},
		{"log is a directory", []string{"sshd", dir}, ExitFailure, []string{dir}},
		{"one argument", []string{"sshd"}, ExitUsage, []string{"FILTER and LOGFILE"}},
		{"bad --now", []string{"--now", "yesterday", "sshd", log}, ExitUsage, []string{"--now"}},
		{"bad --timezone", []string{"--timezone", "Mars/Olympus", "sshd", log}, ExitUsage, []string{"--timezone"}},
		{"bad --workers", []string{"--workers", "-1", "sshd", log}, ExitUsage, []string{"--workers"}},
		{"bad --line-timeout", []string{"--line-timeout", "0s", "sshd", log}, ExitUsage, []string{"--line-timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, append([]string{"test-filter", "--json"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tt.code, errOut)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q lacks %q", errOut, w)
				}
			}
		})
	}
}

// TestTestFilterParallel checks that a log spread over several workers
// gives the same output, in line order, as one worker.
func TestTestFilterParallel(t *testing.T) {
	var lines []string
	for i := range 20000 {
		switch i % 3 {
		case 0:
			lines = append(lines, fmt.Sprintf("Mar  1 10:%02d:%02d web sshd[%d]: Failed password for root from 192.0.%d.%d port 22 ssh2", i/60%60, i%60, 1000+i, i/250%250, i%250+1))
		case 1:
			lines = append(lines, fmt.Sprintf("Mar  1 10:%02d:%02d web sshd[%d]: Invalid user u%d from 2001:db8::%x port 22", i/60%60, i%60, 1000+i, i, i))
		default:
			lines = append(lines, fmt.Sprintf("Mar  1 10:%02d:%02d web systemd[1]: Started session %d.", i/60%60, i%60, i))
		}
	}
	log := writeLog(t, lines)
	var outs []string
	for _, workers := range []string{"1", "3"} {
		code, out, errOut := runCLI(t, append([]string{"test-filter", "--json", "--workers", workers, "sshd", log}, sshdLogArgs...)...)
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		outs = append(outs, out)
	}
	if n := strings.Count(outs[0], "\n"); n != 13334 { // i%3 is 0 or 1
		t.Errorf("%d failures, want 13334", n)
	}
	if outs[0] != outs[1] {
		t.Errorf("--workers 3 differs from --workers 1")
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "192.0.2.1", "host.example", `a"b\c`, "tab\there\nnl\r\x00\x1f\x7f", "é€😀", "bad\xffutf8\xc3", "<&>\u2028"} {
		got := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("%q: %s is no JSON string: %v", s, got, err)
			continue
		}
		std, _ := json.Marshal(s)
		var want string
		_ = json.Unmarshal(std, &want)
		if back != want {
			t.Errorf("%q: %s reads as %q, encoding/json's as %q", s, got, back, want)
		}
	}
}

// sharedFail2ban is fail2ban's test data, outside the repository.
const sharedFail2ban = "../../../shared/testdata/fail2ban"

// TestTestFilterFail2banSamples runs test-filter --json with fail2ban's own
// sshd.conf over the first block of fail2ban's annotated sshd samples
// (options {} and mode=aggressive) and compares the objects with the
// annotations: address and time of every failure, and no failure where
// none is expected. See the README of the test data for the format.
func TestTestFilterFail2banSamples(t *testing.T) {
	conf := filepath.Join(sharedFail2ban, "filter.d", "sshd.conf")
	samples := filepath.Join(sharedFail2ban, "logs", "sshd")
	if _, err := os.Stat(samples); err != nil {
		t.Skipf("fail2ban test data not found at %s (it lives outside the repository): %v", sharedFail2ban, err)
	}
	loc, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Skipf("time zone Europe/Zurich not available: %v", err)
	}
	for _, mode := range []string{"", "aggressive"} {
		t.Run("mode="+mode, func(t *testing.T) {
			lines, wants := sampleBlock(t, samples, mode)
			spec := conf
			if mode != "" {
				spec += "[mode=" + mode + "]"
			}
			// The runner's "now" for dates without a year, and its zone.
			code, out, errOut := runCLI(t, "test-filter", "--json", "--timezone", "Europe/Zurich",
				"--now", "2005-08-14T10:00:00Z", spec, writeLog(t, lines))
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			got := map[int][]jsonFailure{}
			sc := bufio.NewScanner(strings.NewReader(out))
			for sc.Scan() {
				var f jsonFailure
				if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
					t.Fatalf("%q: %v", sc.Text(), err)
				}
				got[f.Line] = append(got[f.Line], f)
			}
			checked := 0
			for n, w := range wants {
				if w == nil {
					continue // a constraint this test does not evaluate, or one that is false
				}
				checked++
				if msg := w.compare(got[n], loc); msg != "" {
					t.Errorf("sample line %d: %s\n  %s\n  got %+v", n, msg, lines[n-1], got[n])
				}
			}
			t.Logf("%d sample lines checked", checked)
		})
	}
}

// jsonFailure is one object of test-filter --json.
type jsonFailure struct {
	Line int    `json:"line"`
	IP   string `json:"ip"`
	Time string `json:"time"`
}

// sampleWant is an annotation: a failure (host, time) or none.
type sampleWant struct {
	match bool
	host  string
	time  string
}

func (w *sampleWant) compare(got []jsonFailure, loc *time.Location) string {
	if !w.match {
		if len(got) > 0 {
			return "a failure, want none"
		}
		return ""
	}
	if len(got) != 1 {
		return fmt.Sprintf("%d failures, want 1", len(got))
	}
	if w.host != "" && !sameAddress(got[0].IP, w.host) { // "" when it checks other things
		return fmt.Sprintf("ip %q, want %q", got[0].IP, w.host)
	}
	if w.time == "" {
		return ""
	}
	want, err := time.ParseInLocation("2006-1-2T15:4:5", w.time, loc)
	if err != nil {
		return fmt.Sprintf("annotation time %q: %v", w.time, err)
	}
	gt, err := time.Parse(time.RFC3339Nano, got[0].Time)
	if err != nil {
		return fmt.Sprintf("time %q is not RFC 3339: %v", got[0].Time, err)
	}
	if !gt.Truncate(time.Second).Equal(want) { // fail2ban keeps whole seconds
		return fmt.Sprintf("time %s, want %s", got[0].Time, want.Format(time.RFC3339))
	}
	return ""
}

func sameAddress(got, want string) bool {
	if got == want {
		return true
	}
	a, err1 := netip.ParseAddr(got)
	b, err2 := netip.ParseAddr(want)
	return err1 == nil && err2 == nil && a.Unmap() == b.Unmap()
}

var failJSONRE = regexp.MustCompile(`^# ?failJSON:(.+)$`)

// sampleBlock reads the lines of the first filterOptions block of a sample
// file (comments and blank lines left out) and what is expected of each,
// by 1-based line number in the result; nil where the line is not checked.
func sampleBlock(t *testing.T, path, mode string) (lines []string, wants map[int]*sampleWant) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wants = map[int]*sampleWant{}
	var pending map[string]any
	blocks := 0
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "# filterOptions:") {
			if blocks++; blocks > 1 {
				break
			}
			continue
		}
		if m := failJSONRE.FindStringSubmatch(line); m != nil {
			pending = map[string]any{}
			if err := json.Unmarshal([]byte(m[1]), &pending); err != nil {
				t.Fatalf("annotation %q: %v", line, err)
			}
			continue
		}
		if pending == nil && (strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "") {
			continue
		}
		lines = append(lines, line)
		w := &sampleWant{} // a line without annotation must not match
		if pending != nil {
			w.match, _ = pending["match"].(bool)
			w.host, _ = pending["host"].(string)
			w.time, _ = pending["time"].(string)
			if c, ok := pending["constraint"].(string); ok && !sampleConstraint(c, mode) {
				w = nil
			}
		}
		wants[len(lines)] = w
		pending = nil
	}
	return lines, wants
}

// sampleConstraint evaluates the constraints the sshd samples use; an
// unknown one is false (the line is not checked).
func sampleConstraint(c, mode string) bool {
	switch strings.Join(strings.Fields(c), " ") {
	case "name == 'sshd'":
		return true
	case "opts.get('mode') != 'aggressive'":
		return mode != "aggressive"
	case "opts.get('mode') == 'aggressive'":
		return mode == "aggressive"
	}
	return false
}

// BenchmarkJSONFailure compares test-filter's hand-written JSON objects
// with encoding/json's.
func BenchmarkJSONFailure(b *testing.B) {
	fl := filter.Failure{Host: "2001:db8:17::4e:1", Time: time.Date(2025, 3, 1, 10, 15, 2, 0, time.UTC)}
	b.Run("append", func(b *testing.B) {
		j := &jsonFailures{w: bufio.NewWriter(io.Discard)}
		for i := range b.N {
			j.failure(i+1, fl)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		w := bufio.NewWriter(io.Discard)
		enc := json.NewEncoder(w)
		for i := range b.N {
			_ = enc.Encode(jsonFailure{Line: i + 1, IP: fl.Host, Time: fl.Time.Format(time.RFC3339Nano)})
		}
	})
}
