package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/seawall/seawall/bench/internal/benchns"
	"github.com/seawall/seawall/bench/internal/benchrun"
)

// usage is what one timed run cost: wall time from fork to reaping, and
// the CPU time of the child and the children it waited for.
type usage struct {
	Wall, User, Sys time.Duration
}

// filterRun is one tool's timed runs on one file.
type filterRun struct {
	label   string   // what ran, for the report
	argv    []string // the command (inside the filter namespace)
	lines   int      // lines in the file
	runs    []usage
	startup time.Duration // median wall time on a one-line file
	matched int           // failure lines the tool reported, -1 if unknown
	out     string
	err     error
}

// median returns the run with the median wall time.
func (r *filterRun) median() usage {
	if len(r.runs) == 0 {
		return usage{}
	}
	s := slices.Clone(r.runs)
	slices.SortFunc(s, func(a, b usage) int { return int(a.Wall - b.Wall) })
	return s[(len(s)-1)/2]
}

// rate is lines per second of the median run.
func (r *filterRun) rate() float64 {
	w := r.median().Wall
	if r.err != nil || w <= 0 {
		return 0
	}
	return float64(r.lines) / w.Seconds()
}

// cpuRate is lines per CPU second (user + system) of the median run: less
// sensitive than wall time to other work on the machine. (seawall may use
// more than one CPU at a time, fail2ban-regex does not.)
func (r *filterRun) cpuRate() float64 {
	m := r.median()
	c := m.User + m.Sys
	if r.err != nil || c <= 0 {
		return 0
	}
	return float64(r.lines) / c.Seconds()
}

// steadyRate is lines per second without the startup time: what the tool
// would reach on a longer file. The ratios use it for fail2ban, whose
// startup (about 0.5 s of Python imports) would otherwise weigh on the
// shorter input it is given.
func (r *filterRun) steadyRate() float64 {
	w := r.median().Wall - r.startup
	if r.err != nil || w <= 0 {
		return 0
	}
	return float64(r.lines) / w.Seconds()
}

// filterResult is the whole filter benchmark.
type filterResult struct {
	full, head, one string // the generated files (one: the first line)
	fullStats       genStats
	headStats       genStats
	f2b             *filterRun // fail2ban-regex on head
	swFull          *filterRun // seawall test-filter sshd on full (text output)
	swHead          *filterRun // the same on head
	swJSON          *filterRun // seawall test-filter --json sshd on head: the failures counted
	swF2BFilter     *filterRun // seawall test-filter --json <fail2ban's sshd.conf> on head
	execOverhead    time.Duration
}

// filterBench generates the logs and times fail2ban-regex and seawall
// test-filter on them, in a namespace of their own.
func (b *bench) filterBench(ctx context.Context) (*filterResult, error) {
	res := &filterResult{full: filepath.Join(b.work, "sshd-full.log"), head: filepath.Join(b.work, "sshd-head.log"),
		one: filepath.Join(b.work, "sshd-one.log")}
	headLines := b.o.f2bLines
	if headLines <= 0 || headLines > b.o.lines {
		headLines = b.o.lines
	}
	benchrun.Status("generating %d sshd lines (seed %d)", b.o.lines, b.o.seed)
	var err error
	if res.fullStats, err = writeLogFile(res.full, b.o.lines, b.o.seed); err != nil {
		return nil, err
	}
	// The same seed gives the same first lines: head is full's beginning.
	if res.headStats, err = writeLogFile(res.head, headLines, b.o.seed); err != nil {
		return nil, err
	}
	if _, err = writeLogFile(res.one, 1, b.o.seed); err != nil {
		return nil, err
	}
	ns, err := b.nsReg.Create("filter")
	if err != nil {
		return nil, err
	}
	defer func() {
		if derr := ns.Delete(); derr != nil {
			b.warn("%v", derr)
		}
	}()
	res.execOverhead = execOverhead(ctx, ns)

	if b.f2b != nil {
		res.f2b = &filterRun{label: "fail2ban-regex", lines: headLines,
			argv: b.f2b.argv("fail2ban-regex", res.head, b.f2b.sshdFilter())}
		b.timeStartup(ctx, ns, res.f2b, b.f2b.env(), res.head, res.one)
		b.timeFilter(ctx, ns, res.f2b, b.f2b.env(), b.o.n, true)
		if res.f2b.err == nil {
			res.f2b.matched, res.f2b.err = parseRegexSummary(res.f2b.out)
		}
	}
	if b.seawall == "" {
		return res, nil
	}
	env := childEnv()
	res.swFull = &filterRun{label: "seawall test-filter sshd", lines: b.o.lines, argv: []string{b.seawall, "test-filter", "sshd", res.full}}
	b.timeStartup(ctx, ns, res.swFull, env, res.full, res.one)
	b.timeFilter(ctx, ns, res.swFull, env, b.o.n, false)
	if headLines != b.o.lines {
		res.swHead = &filterRun{label: "seawall test-filter sshd", lines: headLines, argv: []string{b.seawall, "test-filter", "sshd", res.head}}
		b.timeFilter(ctx, ns, res.swHead, env, b.o.n, false)
	}
	res.swJSON = &filterRun{label: "seawall test-filter --json sshd", lines: headLines, argv: []string{b.seawall, "test-filter", "--json", "sshd", res.head}}
	b.timeFilter(ctx, ns, res.swJSON, env, 1, true)
	if res.swJSON.err == nil {
		res.swJSON.matched, res.swJSON.err = countJSONFailures(res.swJSON.out)
	}
	if b.f2b != nil {
		res.swF2BFilter = &filterRun{label: "seawall test-filter --json <fail2ban's sshd.conf>", lines: headLines,
			argv: []string{b.seawall, "test-filter", "--json", b.f2b.sshdFilter(), res.head}}
		b.timeFilter(ctx, ns, res.swF2BFilter, env, 1, true)
		if res.swF2BFilter.err == nil {
			res.swF2BFilter.matched, res.swF2BFilter.err = countJSONFailures(res.swF2BFilter.out)
		}
	}
	return res, nil
}

// writeLogFile generates n lines from seed into path.
func writeLogFile(path string, n int, seed uint64) (genStats, error) {
	f, err := os.Create(path)
	if err != nil {
		return genStats{}, err
	}
	st, err := writeSSHDLog(f, n, seed)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return st, err
}

// timeFilter runs r.argv in ns n times. With keep, stdout goes to a file
// whose path ends up in r.out (the last run's); otherwise to /dev/null.
func (b *bench) timeFilter(ctx context.Context, ns *benchns.NS, r *filterRun, env []string, n int, keep bool) {
	r.matched = -1
	if r.err != nil {
		return // the startup run failed already
	}
	for i := range n {
		benchrun.Status("%s on %d lines (%d/%d)", r.label, r.lines, i+1, n)
		out := os.DevNull
		if keep {
			out = filepath.Join(b.work, fmt.Sprintf("out-%d.txt", b.outSeq))
			b.outSeq++
		}
		u, err := runTimed(ctx, ns, r.argv, env, out)
		if err != nil {
			r.err = err
			return
		}
		r.runs = append(r.runs, u)
		r.out = out
	}
}

// timeStartup times r's command on the one-line file instead of file
// (median of 3 runs) into r.startup.
func (b *bench) timeStartup(ctx context.Context, ns *benchns.NS, r *filterRun, env []string, file, one string) {
	argv := slices.Clone(r.argv)
	for i, a := range argv {
		if a == file {
			argv[i] = one
		}
	}
	var ds []time.Duration
	for range 3 {
		benchrun.Status("%s on one line (startup)", r.label)
		u, err := runTimed(ctx, ns, argv, env, os.DevNull)
		if err != nil {
			r.err = err
			return
		}
		ds = append(ds, u.Wall)
	}
	slices.Sort(ds)
	r.startup = ds[1]
}

// runTimed runs argv in ns through "ip netns exec", stdout to the file
// out, and returns its wall and CPU time.
func runTimed(ctx context.Context, ns *benchns.NS, argv, env []string, out string) (usage, error) {
	f, err := os.Create(out)
	if err != nil {
		return usage{}, err
	}
	defer f.Close()
	cmd := ns.Command(ctx, argv...)
	cmd.Env = env
	cmd.Stdout = f
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return usage{}, fmt.Errorf("%s: %v: %s", argv[0]+" "+argv[1], err, tail(stderr.String(), 5))
	}
	u := usage{Wall: wall}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		u.User = time.Duration(ru.Utime.Nano())
		u.Sys = time.Duration(ru.Stime.Nano())
	}
	return u, nil
}

// execOverhead is the median wall time of "ip netns exec NS true", which
// every timed run includes.
func execOverhead(ctx context.Context, ns *benchns.NS) time.Duration {
	var ds []time.Duration
	for range 5 {
		start := time.Now()
		if err := ns.Command(ctx, "true").Run(); err != nil {
			return 0
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// regexLines is fail2ban-regex's summary line.
var regexLines = regexp.MustCompile(`(?m)^Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed`)

// parseRegexSummary reads the number of matched (failure) lines from the
// output of fail2ban-regex in the file path. Lines matched only through
// <F-NOFAIL> are "ignored", not "matched".
func parseRegexSummary(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1, err
	}
	m := regexLines.FindSubmatch(b)
	if m == nil {
		return -1, fmt.Errorf("no \"Lines: ... matched\" summary in fail2ban-regex's output (%s)", path)
	}
	return strconv.Atoi(string(m[3]))
}

// countJSONFailures counts the failures seawall test-filter --json printed
// into the file path: one JSON object per line, each with an "ip".
func countJSONFailures(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return -1, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	n := 0
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var obj struct {
			Line int    `json:"line"`
			IP   string `json:"ip"`
		}
		if err := json.Unmarshal(line, &obj); err != nil {
			return -1, fmt.Errorf("seawall test-filter --json printed a line that is not a JSON object: %q: %w", truncate(string(line), 120), err)
		}
		if obj.IP == "" || obj.Line < 1 {
			return -1, fmt.Errorf("seawall test-filter --json printed an object without \"ip\" or \"line\": %q", truncate(string(line), 120))
		}
		n++
	}
	return n, sc.Err()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
