// Command containers benchmarks how long seawall daemon takes to put a
// started container's rules in force: from Docker's start event to the
// container's address being in map ctr_in_v4, with a jump to its entry's
// chain. It runs a netlab lab, a dockerd confined to the lab's host
// namespace (dockerlab) and seawall daemon in that namespace, then starts
// containers one at a time and in a burst. See bench/README.md.
//
// Run it as root from the repository: go run ./bench/containers
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/seawall/seawall/bench/internal/benchrun"
	"github.com/seawall/seawall/internal/dockerlab"
	"github.com/seawall/seawall/internal/netlab"
)

type options struct {
	n          int
	starts     int
	background int
	burst      int
	parallel   int
	poll       time.Duration
	settle     time.Duration
	target     time.Duration
	timeout    time.Duration
	profile    int
	keep       bool
	verbose    bool
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 1, "burst rounds")
	flag.IntVar(&o.starts, "starts", 100, "sequential single starts")
	flag.IntVar(&o.background, "background", 20, "containers kept running the whole time (selected by the same entry)")
	flag.IntVar(&o.burst, "burst", 200, "containers started at once in each burst round")
	flag.IntVar(&o.parallel, "parallel", 16, "docker run commands at a time in a burst")
	flag.DurationVar(&o.poll, "poll", time.Millisecond, "interval of the netlink polls of map "+mapName)
	flag.DurationVar(&o.settle, "settle", 300*time.Millisecond, "pause before each single start, for the daemon and dockerd to go idle")
	flag.DurationVar(&o.target, "target", 100*time.Millisecond, "target for the p99 of single starts")
	flag.DurationVar(&o.timeout, "timeout", 20*time.Second, "how long to wait for a container to become live (or gone) before giving up")
	flag.IntVar(&o.profile, "profile", 20, "reconciles to time part by part in this process, after the single starts and in the first burst (0: none)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (policy, state, daemon log)")
	flag.BoolVar(&o.verbose, "v", false, "print every single-start sample")
	flag.Parse()
	switch {
	case flag.NArg() > 0, o.n < 0, o.starts < 1, o.background < 0, o.burst < 0, o.parallel < 1, o.poll <= 0, o.profile < 0:
		flag.Usage()
		os.Exit(2)
	case o.background+o.burst > 250:
		// docker0 is a /24 (dockerlab.DefaultBridge): 253 addresses.
		fmt.Fprintln(os.Stderr, "bench: -background + -burst must be at most 250 (docker0 is a /24)")
		os.Exit(2)
	}
	os.Exit(run(o))
}

func run(o options) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: must run as root (it creates network namespaces and runs a confined dockerd)")
		return 1
	}
	ctx, cancel := benchrun.SignalContext("stopping and cleaning up", func() {
		fmt.Fprintln(os.Stderr, "bench: exiting without cleaning up; the next dockerlab/netlab start removes what is left")
	})
	defer cancel()

	err := benchmark(ctx, o)
	return benchrun.ExitCode(ctx, err)
}

// env is what the scenarios work with.
type env struct {
	o      options
	lab    *netlab.Lab
	d      *dockerlab.Docker
	sd     *seawallDaemon
	mw     *mapWatch
	events *eventLog
	gw     *goWatch
	prof   *profiler // nil without -profile
	chain  string    // the jump target of the entry's containers
	label  string
}

// cleanups run in reverse order; each error is reported.
type cleanups []func() error

func (c *cleanups) add(f func() error) { *c = append(*c, f) }

func (c *cleanups) run() error {
	var errs []error
	for i := len(*c) - 1; i >= 0; i-- {
		if err := (*c)[i](); err != nil {
			errs = append(errs, err)
		}
	}
	*c = nil
	return errors.Join(errs...)
}

func benchmark(ctx context.Context, o options) (err error) {
	load0 := benchrun.LoadAvg()
	if err := benchrun.RequireTools("go", "ip", "nft"); err != nil {
		return err
	}
	if err := dockerlab.Available(); err != nil {
		return err
	}
	root, err := benchrun.ModuleRoot()
	if err != nil {
		return err
	}
	var cl cleanups
	defer func() {
		benchrun.Status("cleaning up")
		if cerr := cl.run(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleaning up: %w", cerr))
		}
		benchrun.Status("")
	}()

	work, err := os.MkdirTemp("", "seawall-bench-ctr-")
	if err != nil {
		return err
	}
	cl.add(func() error {
		if o.keep {
			fmt.Printf("work directory kept: %s\n", work)
			return nil
		}
		return os.RemoveAll(work)
	})

	revision := benchrun.Revision(root)
	benchrun.Status("building seawall")
	seawall := filepath.Join(work, "seawall")
	if err := benchrun.BuildSeawall(ctx, root, seawall); err != nil {
		return err
	}

	benchrun.Status("starting the lab")
	lab, err := netlab.StartStandard(netlab.Options{})
	if err != nil {
		return err
	}
	cl.add(lab.Close)
	if err := ctx.Err(); err != nil {
		return err
	}

	benchrun.Status("starting a dockerd confined to the lab's host namespace")
	d, err := dockerlab.Launch(lab, dockerlab.Options{})
	if err != nil {
		return err
	}
	cl.add(d.Close)
	if err := ctx.Err(); err != nil {
		return err
	}
	benchrun.Status("building the test image")
	if err := d.BuildImage(""); err != nil {
		return err
	}
	versions := toolVersions(ctx, d)

	e := &env{o: o, lab: lab, d: d, chain: "ctr_" + entryName + "_in", label: labelKey + "=" + labelValue}
	events, err := startEventLog(ctx, d)
	if err != nil {
		return err
	}
	e.events = events
	cl.add(func() error { events.stop(); return nil })

	policyPath := filepath.Join(work, "seawall.yaml")
	if err := os.WriteFile(policyPath, []byte(policyYAML), 0o644); err != nil {
		return err
	}
	benchrun.Status("starting seawall daemon in the lab's host namespace")
	e.sd, err = startDaemon(lab, d, seawall, policyPath, filepath.Join(work, "state"), filepath.Join(work, "daemon.log"))
	if err != nil {
		return err
	}
	cl.add(func() error { return e.sd.stop(10 * time.Second) })

	e.mw, err = newMapWatch(lab.NSPath(netlab.Host), o.poll)
	if err != nil {
		return err
	}
	cl.add(func() error { e.mw.close(); return nil })
	began := time.Now()
	err = waitFor(ctx, 20*time.Second, 5*time.Millisecond, func() (bool, error) {
		if !e.sd.running() {
			return false, errors.New("seawall daemon exited")
		}
		return e.mw.tableExists()
	}, "table inet seawall")
	if err != nil {
		return fmt.Errorf("%w; daemon log:\n%s", err, e.sd.tail(20))
	}
	tableAfter := time.Since(began)
	if _, err := e.sd.waitLine(ctx, "containers reconciled", 0, 20*time.Second); err != nil {
		return fmt.Errorf("%w; daemon log:\n%s", err, e.sd.tail(20))
	}

	pollCtx, stopPoll := context.WithCancel(ctx)
	pollDone := make(chan struct{})
	go func() { defer close(pollDone); e.mw.run(pollCtx) }()
	cl.add(func() error { stopPoll(); <-pollDone; return nil })
	if err := e.mw.ready(ctx, 5*time.Second); err != nil {
		return err
	}
	e.gw, err = startGoWatch(ctx, d.Host())
	if err != nil {
		return err
	}
	cl.add(func() error { e.gw.stop(); return nil })

	res := &results{}
	res.tableAfter = tableAfter
	if err := e.startBackground(ctx); err != nil {
		return e.withLog(err)
	}
	benchrun.Status("measuring the cost of one look at the map")
	if res.cal, err = calibrate(ctx, e); err != nil {
		return err
	}
	if res.single, err = e.singles(ctx); err != nil {
		return e.withLog(err)
	}
	if o.profile > 0 {
		if e.prof, err = newProfiler(e, policyPath, filepath.Join(work, "state-profile")); err != nil {
			return err
		}
		cl.add(func() error { e.prof.close(); return nil })
		benchrun.Status("timing the parts of %d reconciles in this process", o.profile)
		if res.profSingle, err = e.prof.run(ctx, o.profile, e.chain); err != nil {
			return fmt.Errorf("profiling a reconcile: %w", err)
		}
	}
	for i := range o.n {
		if o.burst == 0 {
			break
		}
		b, err := e.burstRound(ctx, i+1)
		if err != nil {
			return e.withLog(err)
		}
		res.bursts = append(res.bursts, b)
	}
	res.poll = e.mw.stats()
	res.allLines = e.sd.since(0)
	res.daemonOK = e.sd.running()
	benchrun.Status("")
	report(reportInput{o: o, res: res, load0: load0, load1: benchrun.LoadAvg(), revision: revision, versions: versions, e: e})
	return nil
}

// withLog adds the end of the daemon's log to err.
func (e *env) withLog(err error) error {
	return fmt.Errorf("%w\nseawall daemon log (last lines):\n%s", err, e.sd.tail(15))
}

// The policy's entry for the benchmark's containers, chosen by a label.
const (
	entryName  = "app"
	labelKey   = "swbench.role"
	labelValue = "app"
)

// policyYAML selects the benchmark's containers by label, with ingress and
// egress rules (one of each refers to the entry's own containers, so the
// set ctrsel_app_* changes with every start too) and default deny both
// ways. Containers the entry does not select keep Docker's behaviour.
const policyYAML = `# written by bench/containers
version: 1
containers:
  default: {ingress: published, egress: allow}
  ` + entryName + `:
    select: {label: "` + labelKey + `=` + labelValue + `"}
    ingress:
      - allow: tcp/8080
        from: [10.137.0.0/24]
      - allow: tcp/9000
        from: container:` + entryName + `
    egress:
      - allow: tcp/9000
        to: container:` + entryName + `
      - allow: tcp/443
        to: [203.0.113.0/24]
      - allow: udp/53
        to: [192.0.2.1]
    default: {ingress: deny, egress: deny}
host:
  input:
    - allow: ssh
`
