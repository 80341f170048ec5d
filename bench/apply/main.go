// Command apply benchmarks loading one firewall policy (200 port rules and
// a 100,000-entry address set) with seawall apply, with nft -f of the
// script seawall plan prints, and with the iptables-nft-restore + ipset
// restore equivalent, each in fresh network namespaces. See
// bench/README.md.
//
// Run it as root from the repository: go run ./bench/apply [-n 5]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seawall/seawall/bench/internal/benchrun"
)

type options struct {
	n            int
	seed         uint64
	hosts        int
	cidrs        int
	rules        int
	settle       time.Duration
	keep         bool
	installIPSet bool
	verbose      bool
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 5, "runs per tool and scenario")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the generated input")
	flag.IntVar(&o.hosts, "hosts", 100000, "single addresses (/32) in the set")
	flag.IntVar(&o.cidrs, "cidrs", 300, "CIDRs (/20 to /24) in the set, besides the hosts")
	flag.IntVar(&o.rules, "rules", 200, "port rules (allow tcp/PORT from ADDR)")
	flag.DurationVar(&o.settle, "settle", 300*time.Millisecond, "pause before each timed run, for the kernel to finish freeing earlier namespaces")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (inputs, scripts, state)")
	flag.BoolVar(&o.installIPSet, "install-ipset", true, "install the ipset package with apt-get if it is missing")
	flag.BoolVar(&o.verbose, "v", false, "print every sample")
	flag.Parse()
	if o.n < 1 || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	os.Exit(run(o))
}

func run(o options) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: must run as root (it creates network namespaces)")
		return 1
	}
	ns := newNamespaces()
	defer ns.deleteAll()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "\nbench: %v: deleting namespaces\n", s)
		ns.deleteAll()
		os.Exit(130)
	}()

	if err := benchmark(o, ns); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	return 0
}

func benchmark(o options, ns *namespaces) error {
	load0 := benchrun.LoadAvg()
	if err := benchrun.RequireTools("go", "ip", "nft", "iptables-nft-restore", "iptables-nft"); err != nil {
		return err
	}
	root, err := benchrun.ModuleRoot()
	if err != nil {
		return err
	}
	work, cleanup, err := benchrun.WorkDir("seawall-bench-", o.keep)
	if err != nil {
		return err
	}
	defer cleanup()

	revision := benchrun.Revision(root)
	b := &bench{work: work, seawall: filepath.Join(work, "seawall"), ns: ns,
		scripts: map[string]string{}, texts: map[string]string{}}
	benchrun.Status("building seawall")
	if err := benchrun.BuildSeawall(context.Background(), root, b.seawall); err != nil {
		return err
	}

	benchrun.Status("generating input (seed %d)", o.seed)
	if b.in, err = generate(o.seed, o.hosts, o.cidrs, o.rules); err != nil {
		return err
	}
	if b.files, err = b.in.write(work); err != nil {
		return err
	}

	ipsetNote := ""
	b.ipsetOK, ipsetNote = b.checkIPSet(o.installIPSet)

	benchrun.Status("seawall plan --format nft x%d", o.n)
	plan, err := b.measurePlan(o.n)
	if err != nil {
		return err
	}

	tools := b.tools()
	res := newResults()
	total := 0
	for _, t := range tools {
		total += 2 * o.n
		if t.ReapplyOnly {
			total -= o.n
		}
	}
	done := 0
	for i := range o.n {
		for _, sc := range scenarios {
			for j := range tools {
				t := tools[(i+j)%len(tools)] // rotate the order between rounds
				if sc == fresh && t.ReapplyOnly {
					continue
				}
				done++
				benchrun.Status("%d/%d: %s, %s", done, total, sc, t.Name)
				s, err := b.sample(t, sc, o.settle)
				if err != nil {
					return fmt.Errorf("%s, %s: %w", sc, t.Name, err)
				}
				if o.verbose {
					fmt.Fprintf(os.Stderr, "  wall %v user %v sys %v\n", s.Total.Wall, s.Total.User, s.Total.Sys)
				}
				res.add(sc, t.Name, s)
			}
		}
	}
	benchrun.Status("")
	same := res.sameRuleset("seawall apply", "nft -f")

	report(reportInput{
		o: o, b: b, tools: tools, res: res, plan: plan, same: same,
		ipsetNote: ipsetNote, load0: load0, load1: benchrun.LoadAvg(),
		versions: versions(b.ipsetOK), revision: revision,
	})
	return nil
}

// scenario is "fresh" (empty namespace) or "reapply" (the namespace holds
// version a; version b, one rule changed, replaces it).
type scenario string

const (
	fresh   scenario = "fresh"
	reapply scenario = "reapply"
)

var scenarios = []scenario{fresh, reapply}

// sample is one timed load.
type sample struct {
	Total usage
	Steps []usage
	State state
	Set   string // what happened to the blocklist set: created, kept, replaced
}

// sample runs one load of t in a new namespace, verifies it and deletes
// the namespace.
func (b *bench) sample(t *tool, sc scenario, settle time.Duration) (sample, error) {
	var s sample
	n, err := b.ns.create()
	if err != nil {
		return s, err
	}
	defer n.delete()
	defer b.scrub(n)
	version := "a"
	var before state
	s.Set = "created"
	if sc == reapply {
		prep := t.Load(n, "a", false)
		if t.Prep != nil {
			prep = t.Prep(n)
		}
		if _, _, err := n.runAll(prep); err != nil {
			return s, fmt.Errorf("preparing: %w", err)
		}
		if before, err = t.Verify(n, "a"); err != nil {
			return s, fmt.Errorf("preparing: %w", err)
		}
		version = "b"
	}
	time.Sleep(settle)
	s.Total, s.Steps, err = n.runAll(t.Load(n, version, sc == reapply))
	if err != nil {
		return s, err
	}
	s.State, err = t.Verify(n, version)
	if err != nil {
		return s, fmt.Errorf("after loading version %s: %w", version, err)
	}
	if sc == reapply {
		s.Set = setFate(t, before, s.State)
	}
	return s, nil
}

// setFate says whether a re-apply kept the blocklist set or replaced it:
// an nft set that is replaced gets a new handle; an ipset is replaced when
// the load swaps in a new one.
func setFate(t *tool, before, after state) string {
	if before.SetID != "" {
		if before.SetID == after.SetID {
			return "kept"
		}
		return "replaced"
	}
	for _, name := range t.Steps {
		if name == "ipset restore" {
			return "replaced"
		}
	}
	return "kept"
}

// planResult is the cost of seawall plan --format nft alone.
type planResult struct {
	Runs  []usage
	Bytes int
}

// measurePlan times seawall plan --format nft (load, compile and render of
// version a) n times, checks that the output is the same every time, and
// keeps the scripts of both versions for nft -f.
func (b *bench) measurePlan(runs int) (*planResult, error) {
	n, err := b.ns.create()
	if err != nil {
		return nil, err
	}
	defer n.delete()
	res := &planResult{}
	for _, version := range []string{"b", "a"} {
		path := filepath.Join(b.work, "plan-"+version+".nft")
		times := 1
		if version == "a" {
			times = runs
		}
		var first []byte
		for range times {
			f, err := os.Create(path)
			if err != nil {
				return nil, err
			}
			u, err := n.run(spec{Argv: []string{b.seawall, "-c", b.files.Policy[version], "--state-dir", b.stateDir(n), "plan", "--format", "nft"}}, f)
			f.Close()
			if err != nil {
				return nil, err
			}
			out, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			if first != nil && !bytes.Equal(first, out) {
				return nil, errors.New("seawall plan --format nft printed different scripts for the same input")
			}
			first = out
			if version == "a" {
				res.Runs = append(res.Runs, u)
				res.Bytes = len(out)
			}
		}
		b.scripts[version] = path
		b.texts[version] = string(first)
	}
	return res, nil
}

// checkIPSet makes sure ipset is installed and works in a fresh namespace
// together with iptables' set match. It returns false and why not when it
// cannot be used.
func (b *bench) checkIPSet(install bool) (bool, string) {
	if _, err := exec.LookPath("ipset"); err != nil {
		if !install {
			return false, "ipset is not installed (and -install-ipset=false)"
		}
		benchrun.Status("installing ipset (apt-get install -y ipset)")
		if out, err := exec.Command("apt-get", "install", "-y", "ipset").CombinedOutput(); err != nil {
			benchrun.Status("apt-get install failed; running apt-get update first")
			if out2, err := exec.Command("apt-get", "update").CombinedOutput(); err != nil {
				return false, fmt.Sprintf("apt-get update failed: %v: %s", err, tail(string(out2)))
			}
			if out, err = exec.Command("apt-get", "install", "-y", "ipset").CombinedOutput(); err != nil {
				return false, fmt.Sprintf("apt-get install -y ipset failed: %v: %s", err, tail(string(out)))
			}
		}
		if _, err := exec.LookPath("ipset"); err != nil {
			return false, "ipset is still not in PATH after installing it"
		}
	}
	n, err := b.ns.create()
	if err != nil {
		return false, err.Error()
	}
	defer n.delete()
	defer n.output("nft", "flush", "ruleset")
	if _, err := n.output("ipset", "create", ipsetSetName, "hash:net", "family", "inet"); err != nil {
		return false, fmt.Sprintf("ipset does not work in a network namespace (does the kernel have ip_set and ip_set_hash_net?): %v", err)
	}
	probe := filepath.Join(b.work, "probe.rules")
	if err := os.WriteFile(probe, []byte("*filter\n-A INPUT -m set --match-set "+ipsetSetName+" src -j DROP\nCOMMIT\n"), 0o644); err != nil {
		return false, err.Error()
	}
	if _, err := n.run(spec{Argv: []string{"iptables-nft-restore"}, Stdin: probe}, nil); err != nil {
		return false, fmt.Sprintf("iptables' set match does not work (does the kernel have xt_set and nft_compat?): %v", err)
	}
	n.output("nft", "flush", "ruleset")
	if _, err := n.output("ipset", "destroy"); err != nil {
		return false, fmt.Sprintf("ipset destroy: %v", err)
	}
	return true, ""
}

// versions describes the machine and the tools, for the report header.
func versions(ipset bool) string {
	first := func(argv ...string) string {
		out, err := exec.Command(argv[0], argv[1:]...).Output()
		if err != nil {
			return argv[0] + " ?"
		}
		return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	var uts unix.Utsname
	kernel := "?"
	if unix.Uname(&uts) == nil {
		kernel = unix.ByteSliceToString(uts.Release[:])
	}
	parts := []string{"kernel " + kernel, first("nft", "--version"), first("iptables-nft", "--version")}
	if ipset {
		parts = append(parts, first("ipset", "--version"))
	}
	parts = append(parts, runtime.Version())
	return strings.Join(parts, ", ")
}
