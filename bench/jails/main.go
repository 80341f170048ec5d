// Command jails benchmarks seawall's jails against Debian's fail2ban on the
// same input, in one run, and prints ratios:
//
//   - filter: seawall test-filter sshd vs fail2ban-regex with fail2ban's
//     sshd.conf on generated sshd logs (lines per second, and both must
//     find the same failures);
//   - burst: 10,000 distinct attackers' failures appended at once, until
//     all are in the kernel set (seawall daemon vs fail2ban-server with
//     its nftables-allports action);
//   - latency: the line that completes a ban -> the address in the kernel
//     set, p50 and p99;
//   - memory: seawall daemon's RSS with 100,000 active bans.
//
// fail2ban is Debian's package, downloaded with apt-get download and
// unpacked with dpkg -x into a cache directory, never installed. Every
// engine runs in a network namespace the benchmark creates and deletes.
// See bench/jails/README.md.
//
// Run it as root from the repository: go run ./bench/jails [-run burst]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/seawall/seawall/bench/internal/benchns"
	"github.com/seawall/seawall/bench/internal/benchrun"
)

// nsPrefix starts the name of every namespace the benchmark creates:
// seawall-bench-<label>-<pid>-<n>.
const nsPrefix = "seawall-bench"

// Benchmarks, as -run names them.
var allBenchmarks = []string{"filter", "burst", "latency", "memory"}

type options struct {
	run, tools     string
	n              int
	seed           uint64
	lines          int
	f2bLines       int
	attackers      int
	maxretry       int
	findtime       time.Duration
	bantime        time.Duration
	bans           int
	f2bBans        int
	gap            time.Duration
	poll           time.Duration
	memBans        int
	settle         time.Duration
	timeout        time.Duration
	latencyTimeout time.Duration
	stall          time.Duration
	ready          time.Duration
	python         string
	f2bRoot        string
	cacheDir       string
	refetch        bool
	f2bBackend     string
	f2bLogLevel    string
	keep           bool
}

func main() {
	var o options
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	flag.StringVar(&o.run, "run", strings.Join(allBenchmarks, ","), "benchmarks to run, comma-separated: "+strings.Join(allBenchmarks, ", "))
	flag.StringVar(&o.tools, "tools", toolSeawall+","+toolFail2ban, "tools to measure, comma-separated: seawall, fail2ban")
	flag.IntVar(&o.n, "n", 1, "timed runs per tool in the filter benchmark (the median is reported)")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the generated logs and addresses")
	flag.IntVar(&o.lines, "lines", 2_000_000, "generated sshd lines for seawall test-filter")
	flag.IntVar(&o.f2bLines, "f2b-lines", 400_000, "the first this many of them for fail2ban-regex (about 20k lines/s; 0: all)")
	flag.IntVar(&o.attackers, "attackers", 10_000, "distinct attackers in the ban burst")
	flag.IntVar(&o.maxretry, "maxretry", 3, "failures that make a ban (both engines)")
	flag.DurationVar(&o.findtime, "findtime", 10*time.Minute, "findtime of the jail (both engines)")
	flag.DurationVar(&o.bantime, "bantime", time.Hour, "bantime of the jail (both engines)")
	flag.IntVar(&o.bans, "bans", 200, "bans timed one by one for seawall's latency")
	flag.IntVar(&o.f2bBans, "f2b-bans", 20, "bans timed one by one for fail2ban's latency (0: skip)")
	flag.DurationVar(&o.gap, "gap", 50*time.Millisecond, "latency: pause before each timed line, so the engine is idle")
	flag.DurationVar(&o.poll, "poll", 200*time.Microsecond, "latency: pause between two reads of the kernel set")
	flag.IntVar(&o.memBans, "mem-bans", 100_000, "active bans for seawall daemon's memory")
	flag.DurationVar(&o.settle, "settle", 2*time.Second, "memory: read RSS again this long after the last ban")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Minute, "longest wait for a burst to be banned")
	flag.DurationVar(&o.latencyTimeout, "latency-timeout", 10*time.Second, "longest wait for one ban in the latency benchmark")
	flag.DurationVar(&o.stall, "stall", time.Minute, "give up a burst after this long without a new ban")
	flag.DurationVar(&o.ready, "ready", time.Minute, "longest wait for an engine to start and ban its warm-up attacker")
	flag.StringVar(&o.python, "python", "/usr/bin/python3", "the python3 that runs fail2ban")
	flag.StringVar(&o.f2bRoot, "f2b-root", "", "use fail2ban unpacked (or installed) under this root instead of fetching Debian's package")
	flag.StringVar(&o.cacheDir, "cache", filepath.Join(cache, "seawall-bench"), "where Debian's fail2ban is downloaded and unpacked")
	flag.BoolVar(&o.refetch, "refetch", false, "download and unpack fail2ban again")
	flag.StringVar(&o.f2bBackend, "f2b-backend", "auto", "fail2ban's backend; auto: pyinotify if it imports, else polling")
	flag.StringVar(&o.f2bLogLevel, "f2b-loglevel", "NOTICE", "fail2ban-server's log level (Debian's default is INFO)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (logs, configurations, outputs)")
	flag.Parse()
	if err := o.validate(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		flag.Usage()
		os.Exit(2)
	}
	os.Exit(run(o))
}

func (o *options) validate() error {
	switch {
	case flag.NArg() > 0:
		return fmt.Errorf("unexpected arguments: %q", flag.Args())
	case o.n < 1, o.lines < 1, o.f2bLines < 0, o.attackers < 1, o.maxretry < 1, o.bans < 1, o.f2bBans < 0, o.memBans < 1:
		return errors.New("counts must be positive")
	case o.poll <= 0, o.timeout <= 0, o.latencyTimeout <= 0, o.ready <= 0, o.findtime < time.Second, o.bantime < time.Second:
		return errors.New("durations must be positive (findtime and bantime at least 1s)")
	}
	for _, r := range splitList(o.run) {
		if !slices.Contains(allBenchmarks, r) {
			return fmt.Errorf("-run: unknown benchmark %q", r)
		}
	}
	for _, t := range splitList(o.tools) {
		if t != toolSeawall && t != toolFail2ban {
			return fmt.Errorf("-tools: unknown tool %q", t)
		}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func run(o options) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: must run as root (it creates network namespaces)")
		return 1
	}
	if gone, err := benchns.RemoveStale(nsPrefix); err != nil {
		fmt.Fprintf(os.Stderr, "bench: warning: removing namespaces of earlier runs: %v\n", err)
	} else if len(gone) > 0 {
		fmt.Fprintf(os.Stderr, "bench: removed %d namespaces an earlier, killed run left: %s\n", len(gone), strings.Join(gone, " "))
	}
	reg := benchns.NewRegistry(nsPrefix)
	// On a second signal the engines die with this process (SIGKILL on
	// parent death); only the namespaces need deleting.
	ctx, cancel := benchrun.SignalContext("stopping the engines and deleting the namespaces", func() {
		if err := reg.DeleteAll(); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		}
	})
	defer cancel()

	err := benchmark(ctx, o, reg)
	if derr := reg.DeleteAll(); derr != nil {
		err = errors.Join(err, derr)
	}
	benchrun.Status("")
	return benchrun.ExitCode(ctx, err)
}

// bench holds what the benchmarks share.
type bench struct {
	o          options
	eo         engineOpts
	work       string
	nsReg      *benchns.Registry
	seawall    string // the binary, "" when seawall is not measured
	seawallErr error  // why not
	f2b        *fail2banTree
	f2bErr     error
	f2bBackend string
	warmups    int
	outSeq     int
	warnings   []string
}

// warn records a warning for the end of the report.
func (b *bench) warn(format string, args ...any) {
	b.warnings = append(b.warnings, fmt.Sprintf(format, args...))
}

func benchmark(ctx context.Context, o options, reg *benchns.Registry) error {
	load0 := benchrun.LoadAvg()
	if err := benchrun.RequireTools("go", "ip", "nft"); err != nil {
		return err
	}
	root, err := benchrun.ModuleRoot()
	if err != nil {
		return err
	}
	work, done, err := benchrun.WorkDir("seawall-bench-jails-", o.keep)
	if err != nil {
		return err
	}
	defer done()
	b := &bench{o: o, work: work, nsReg: reg, eo: engineOpts{
		maxretry: o.maxretry, findtime: o.findtime, bantime: o.bantime, readyAfter: o.ready, every: 10 * time.Millisecond,
	}}
	b.prepareTools(ctx, root)
	if err := ctx.Err(); err != nil {
		return err
	}

	res := &results{}
	runs := splitList(o.run)
	sw, f2b := b.seawall != "", b.f2b != nil
	if slices.Contains(runs, "filter") {
		res.filter = measure(ctx, true, func() (*filterResult, error) { return b.filterBench(ctx) })
	}
	if slices.Contains(runs, "burst") {
		addrs := attackerAddrs(o.attackers, o.seed)
		res.burstSW = measure(ctx, sw, func() (*burstResult, error) { return b.burstOn(ctx, toolSeawall, addrs, 0) })
		res.burstF2B = measure(ctx, f2b, func() (*burstResult, error) { return b.burstOn(ctx, toolFail2ban, addrs, 0) })
	}
	if slices.Contains(runs, "latency") {
		res.latSW = measure(ctx, sw, func() (*latencyResult, error) { return b.latencyOn(ctx, toolSeawall, o.bans) })
		res.latF2B = measure(ctx, f2b && o.f2bBans > 0, func() (*latencyResult, error) { return b.latencyOn(ctx, toolFail2ban, o.f2bBans) })
	}
	if slices.Contains(runs, "memory") {
		addrs := attackerAddrs(o.memBans, o.seed+1)
		res.memSW = measure(ctx, sw, func() (*burstResult, error) { return b.burstOn(ctx, toolSeawall, addrs, o.settle) })
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	benchrun.Status("")
	report(b, res, load0)
	return nil
}

// prepareTools builds seawall and fetches fail2ban, as -tools asks. A
// tool that cannot be had is recorded (seawallErr, f2bErr) and left out.
func (b *bench) prepareTools(ctx context.Context, root string) {
	tools := splitList(b.o.tools)
	if slices.Contains(tools, toolSeawall) {
		benchrun.Status("building seawall")
		b.seawall = filepath.Join(b.work, "seawall")
		if b.seawallErr = benchrun.BuildSeawall(ctx, root, b.seawall); b.seawallErr != nil {
			b.seawall = ""
		}
	} else {
		b.seawallErr = errors.New("not measured (-tools)")
	}
	if !slices.Contains(tools, toolFail2ban) {
		b.f2bErr = errors.New("not measured (-tools)")
		return
	}
	if b.f2b, b.f2bErr = openFail2ban(ctx, b.o.f2bRoot, b.o.cacheDir, b.o.python, b.o.refetch); b.f2bErr != nil {
		return
	}
	b.f2bBackend = b.o.f2bBackend
	if b.f2bBackend == "auto" {
		b.f2bBackend = "polling"
		if b.f2b.hasPyinotify(ctx) {
			b.f2bBackend = "pyinotify"
		}
	}
}

// results holds every measurement.
type results struct {
	filter            outcome[*filterResult]
	burstSW, burstF2B outcome[*burstResult]
	latSW, latF2B     outcome[*latencyResult]
	memSW             outcome[*burstResult]
}

// outcome is one measurement's result, or why there is none. A failed
// measurement may still carry a partial result.
type outcome[T any] struct {
	ran bool
	val T
	err error
}

// ok reports whether the measurement ran and succeeded.
func (o outcome[T]) ok() bool { return o.ran && o.err == nil }

// measure runs f if ok (and not interrupted), recording its result or
// error.
func measure[T any](ctx context.Context, ok bool, f func() (T, error)) outcome[T] {
	if !ok || ctx.Err() != nil {
		return outcome[T]{}
	}
	v, err := f()
	return outcome[T]{ran: true, val: v, err: err}
}

// startEngine starts the named tool in a fresh namespace.
func (b *bench) startEngine(ctx context.Context, tool string) (*engine, error) {
	if tool == toolSeawall {
		return b.startSeawall(ctx, "sw")
	}
	return b.startFail2ban(ctx, "f2b")
}

// burstOn runs one burst on a fresh engine.
func (b *bench) burstOn(ctx context.Context, tool string, addrs []netip.Addr, settle time.Duration) (_ *burstResult, err error) {
	e, err := b.startEngine(ctx, tool)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, e.close()) }()
	r, err := b.burst(ctx, e, addrs, settle)
	if err != nil {
		return r, fmt.Errorf("%w\n%s output (last lines):\n%s", err, e.proc.name, e.proc.tail(10))
	}
	return r, nil
}

// latencyOn times n single bans on a fresh engine.
func (b *bench) latencyOn(ctx context.Context, tool string, n int) (_ *latencyResult, err error) {
	e, err := b.startEngine(ctx, tool)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, e.close()) }()
	r, err := b.latency(ctx, e, attackerAddrs(n, b.o.seed+2), b.o.gap)
	if err != nil {
		return r, fmt.Errorf("%w\n%s output (last lines):\n%s", err, e.proc.name, e.proc.tail(10))
	}
	return r, nil
}
