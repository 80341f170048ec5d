package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/seawall/seawall/internal/compile"
	"github.com/seawall/seawall/internal/docker"
	"github.com/seawall/seawall/internal/nft"
	"github.com/seawall/seawall/internal/policy"
	"github.com/seawall/seawall/internal/ruleset"
	"github.com/seawall/seawall/internal/state"
)

// step is one part of a reconcile, timed over several repetitions.
type step struct {
	name string
	ds   []time.Duration
}

// profile is the time of each part of one reconcile, measured in this
// process with seawall's own packages, in the order seawall daemon runs
// them (internal/daemon: refreshFacts, then reconcile).
type profile struct {
	containers int
	steps      []*step
}

func (p *profile) step(name string) *step {
	for _, s := range p.steps {
		if s.name == name {
			return s
		}
	}
	s := &step{name: name}
	p.steps = append(p.steps, s)
	return s
}

// Step names, in the daemon's order. Everything up to and including the
// netlink transaction is before the rules are live; saving the applied
// state comes after.
const (
	stFacts    = "Docker Update (inspect the container the event names)"
	stCompile  = "compile"
	stApplied  = "lock + read state (trial, applied ruleset)"
	stExists   = "netlink: table exists?"
	stCompare  = "compare chains (JSON of old and new)"
	stNetlink  = "netlink: replace 6 sets' elements"
	stSaveA    = "save applied ruleset (write + fsync)"
	stSaveF    = "save facts (write + fsync)"
	stPreTotal = "sum up to the netlink commit"
	stTotal    = "sum"
	stAdd      = "for comparison, netlink: add 1 element only"
	stDel      = "for comparison, netlink: delete 1 element only"
)

// profiler runs the parts of a reconcile against the confined dockerd;
// its netlink transactions go to a scratch namespace of the lab that holds
// the same table, never to the daemon's.
type profiler struct {
	src        *docker.Source
	policyPath string
	dir        *state.Dir
	kernel     *nft.Conn
	nsFile     *os.File
	raw        *nftables.Conn // for the add/delete comparison
	rawFD      int
}

func newProfiler(e *env, policyPath, stateDir string) (*profiler, error) {
	if err := e.lab.AddNS("profile"); err != nil {
		return nil, err
	}
	f, err := os.Open(e.lab.NSPath("profile"))
	if err != nil {
		return nil, err
	}
	conn, err := nft.OpenNS(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	src, err := docker.New(e.d.Host(), nil)
	if err != nil {
		conn.Close()
		f.Close()
		return nil, err
	}
	raw, rawFD, err := openNetlink(e.lab.NSPath("profile"))
	if err != nil {
		src.Close()
		conn.Close()
		f.Close()
		return nil, err
	}
	pr := &profiler{src: src, policyPath: policyPath, kernel: conn, nsFile: f, raw: raw, rawFD: rawFD}
	if pr.dir, err = state.Open(stateDir); err != nil {
		pr.close()
		return nil, err
	}
	return pr, nil
}

func (pr *profiler) close() {
	pr.src.Close()
	pr.kernel.Close()
	pr.nsFile.Close()
	pr.raw.CloseLasting()
	unix.Close(pr.rawFD)
}

// addDel times a transaction that only adds one element to map ctr_in_v4
// of the scratch table, and one that only deletes it: what an update of
// the changed elements alone would cost, against flushing and refilling.
func (pr *profiler) addDel(p *profile, chain string) error {
	set := &nftables.Set{Table: &nftables.Table{Family: nftables.TableFamilyINet, Name: tableName},
		Name: mapName, KeyType: nftables.TypeIPAddr, IsMap: true, DataType: nftables.TypeVerdict}
	// 198.18.0.1 (RFC 2544 benchmarking) is never a container's.
	key := netip.MustParseAddr("198.18.0.1").AsSlice()
	t := time.Now()
	if err := pr.raw.SetAddElements(set, []nftables.SetElement{{Key: key, VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: chain}}}); err != nil {
		return err
	}
	if err := pr.raw.Flush(); err != nil {
		return fmt.Errorf("adding an element to the scratch table: %w", err)
	}
	p.step(stAdd).ds = append(p.step(stAdd).ds, time.Since(t))
	t = time.Now()
	if err := pr.raw.SetDeleteElements(set, []nftables.SetElement{{Key: key}}); err != nil {
		return err
	}
	if err := pr.raw.Flush(); err != nil {
		return fmt.Errorf("deleting an element from the scratch table: %w", err)
	}
	p.step(stDel).ds = append(p.step(stDel).ds, time.Since(t))
	return nil
}

// run times reps reconciles.
func (pr *profiler) run(ctx context.Context, reps int, chain string) (*profile, error) {
	p := &profile{}
	// Bring the scratch table and the state to where the daemon's are.
	f, err := pr.src.Facts(ctx)
	if err != nil {
		return nil, err
	}
	pol, err := policy.Load(pr.policyPath)
	if err != nil {
		return nil, err
	}
	rs, err := compile.Compile(pol, f)
	if err != nil {
		return nil, err
	}
	gen, err := pr.kernel.Apply(rs, nil, 0)
	if err != nil {
		return nil, err
	}
	if err := pr.dir.SaveApplied(&state.Applied{Time: time.Now().UTC(), PolicyFile: pol.File, PolicyHash: pol.Hash, Ruleset: rs, Gen: gen}); err != nil {
		return nil, err
	}
	for range reps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		begin := time.Now()
		t := begin
		lap := func(name string) {
			now := time.Now()
			s := p.step(name)
			s.ds = append(s.ds, now.Sub(t))
			t = now
		}
		// What the daemon does for one container start: inspect that
		// container alone (Update), with the policy already loaded.
		var started docker.Change
		if n := len(f.Containers); n > 0 {
			started.Events = []docker.Event{{Type: "container", Action: "start", ID: f.Containers[n-1].ID}}
		}
		f, err := pr.src.Update(ctx, f, started)
		if err != nil {
			return nil, err
		}
		lap(stFacts)
		rs, err := compile.Compile(pol, f)
		if err != nil {
			return nil, err
		}
		lap(stCompile)
		unlock, err := pr.dir.Lock()
		if err != nil {
			return nil, err
		}
		if _, err := pr.dir.Trial(); err != nil {
			unlock()
			return nil, err
		}
		applied, err := pr.dir.Applied()
		if err != nil || applied == nil {
			unlock()
			return nil, fmt.Errorf("reading the applied state: %v", err)
		}
		lap(stApplied)
		if _, err := pr.kernel.Exists(); err != nil {
			unlock()
			return nil, err
		}
		lap(stExists)
		a, err1 := json.Marshal(applied.Ruleset.Chains)
		b, err2 := json.Marshal(rs.Chains)
		if err1 != nil || err2 != nil || string(a) != string(b) {
			unlock()
			return nil, fmt.Errorf("the chains changed between two compiles of the same facts (%v, %v)", err1, err2)
		}
		lap(stCompare)
		gen, err := pr.kernel.ReplaceElements(containerSets(rs))
		if err != nil {
			unlock()
			return nil, err
		}
		lap(stNetlink)
		p.step(stPreTotal).ds = append(p.step(stPreTotal).ds, time.Since(begin))
		err = pr.dir.SaveApplied(&state.Applied{Time: time.Now().UTC(), PolicyFile: pol.File, PolicyHash: pol.Hash, Ruleset: rs, Gen: gen})
		unlock()
		if err != nil {
			return nil, err
		}
		lap(stSaveA)
		if err := pr.dir.SaveFacts(f); err != nil {
			return nil, err
		}
		lap(stSaveF)
		p.step(stTotal).ds = append(p.step(stTotal).ds, time.Since(begin))
		p.containers = len(f.Containers)
		if err := pr.addDel(p, chain); err != nil {
			return nil, err
		}
		// The kernel frees deleted elements after an RCU grace period;
		// a netlink socket closed meanwhile waits for that. Let it pass,
		// so that the next repetition starts as a lone reconcile does.
		time.Sleep(50 * time.Millisecond)
	}
	return p, nil
}

// containerSets are the sets a container start changes: its entry's
// selector sets and the dispatch maps (the daemon logs the same six).
func containerSets(rs *ruleset.Ruleset) []*ruleset.Set {
	var out []*ruleset.Set
	for _, s := range rs.Sets {
		if strings.HasPrefix(s.Name, "ctrsel_") || strings.HasPrefix(s.Name, "ctr_in_") || strings.HasPrefix(s.Name, "ctr_out_") {
			out = append(out, s)
		}
	}
	return out
}
