// Package daemon is seawall's long-running reconcile loop. It keeps the
// kernel in step with two inputs: the policy file (and the set files it
// names), and the state directory's record of what was last applied.
//
//   - At start and whenever the policy or a set file changes, it loads and
//     compiles the policy; an invalid policy is reported and the kernel is
//     left as it is. A change that only alters set contents is sent as
//     element updates; anything else replaces the table in one transaction.
//   - Several times a second it checks that table inet seawall exists, and
//     re-installs the recorded state if someone removed it (nft flush
//     ruleset, an nftables.service restart).
//   - It never overrides an open confirm window; when one expires
//     unconfirmed it settles the table on the previous ruleset.
//
// Later stages add more inputs (Docker's containers, jails' bans) as further
// sources of dynamic set contents, feeding the same loop.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/seawall/seawall/internal/compile"
	"github.com/seawall/seawall/internal/inventory"
	"github.com/seawall/seawall/internal/policy"
	"github.com/seawall/seawall/internal/ruleset"
	"github.com/seawall/seawall/internal/state"
)

// Kernel is what the daemon needs of the nftables backend.
type Kernel interface {
	// Apply replaces the table, keeping the named sets if nothing committed
	// since generation gen; it returns the generation it produced.
	Apply(rs *ruleset.Ruleset, keep map[string]bool, gen uint32) (uint32, error)
	Delete() error
	Exists() (bool, error)
	ReplaceElements([]*ruleset.Set) (uint32, error)
}

// FactSource supplies facts about containers (internal/docker).
type FactSource interface {
	Facts(ctx context.Context) (*inventory.Facts, error)
	// Watch calls onChange whenever the facts may have changed, until ctx
	// ends.
	Watch(ctx context.Context, onChange func(reason string)) error
}

// Config wires a daemon.
type Config struct {
	// Docker, if set, is watched for containers.
	Docker FactSource
	// Resolve looks up a DNS name the policy uses as a destination; nil
	// disables resolving (those sets stay empty: denied). Names are
	// resolved at start and every ResolveEvery (default 1m).
	Resolve      func(ctx context.Context, name string) ([]netip.Addr, error)
	ResolveEvery time.Duration
	Path         string                         // the policy file
	Load         func() (*policy.Policy, error) // reads the policy file and its set files
	Kernel       Kernel
	State        *state.Dir
	Log          *slog.Logger
	Poll         time.Duration // how often files are checked (default 1s)
	Watch        time.Duration // how often the table's presence is checked (default 200ms)
	Reload       <-chan os.Signal
	Clock        func() time.Time
}

// Daemon runs the loop.
type Daemon struct {
	cfg      Config
	files    map[string]fileStamp
	pol      *policy.Policy
	current  *inventory.Facts // the last facts Docker gave; kept when it is unreachable
	resolved map[string][]netip.Addr
}

// facts is what the policy is compiled with: Docker's containers and the
// addresses of the DNS names the policy uses.
func (d *Daemon) facts() *inventory.Facts {
	f := &inventory.Facts{}
	if d.current != nil {
		*f = *d.current
	}
	f.Resolved = d.resolved
	return f
}

type fileStamp struct {
	mod  time.Time
	size int64
	ino  uint64
}

// New checks the configuration and returns a daemon.
func New(cfg Config) *Daemon {
	if cfg.Poll == 0 {
		cfg.Poll = time.Second
	}
	if cfg.Watch == 0 {
		cfg.Watch = 200 * time.Millisecond
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.ResolveEvery == 0 {
		cfg.ResolveEvery = time.Minute
	}
	return &Daemon{cfg: cfg}
}

// Run reconciles until ctx ends. It returns an error only when it cannot
// reach the kernel at start; a bad policy is reported and waited out.
func (d *Daemon) Run(ctx context.Context) error {
	if _, err := d.cfg.Kernel.Exists(); err != nil {
		return err
	}
	changes := make(chan string, 1)
	if d.cfg.Docker != nil {
		// Until Docker answers, compile with the containers recorded
		// last: what the kernel holds. Without them the first ruleset
		// would have empty maps and an empty docker_nets: every
		// container open as Docker leaves it.
		if f, err := d.cfg.State.Facts(); err == nil && f != nil {
			d.current = f
		} else if err != nil {
			d.cfg.Log.Warn("could not read the recorded containers", "err", err)
		}
		go d.watchDocker(ctx, changes)
	}
	d.logErr("load", d.reload())
	d.logErr("resolve", d.resolveNames(ctx))
	poll := time.NewTicker(d.cfg.Poll)
	defer poll.Stop()
	resolve := time.NewTicker(d.cfg.ResolveEvery)
	defer resolve.Stop()
	watch := time.NewTicker(d.cfg.Watch)
	defer watch.Stop()
	for {
		select {
		case <-ctx.Done():
			d.cfg.Log.Info("stopping; the rules stay in the kernel")
			return nil
		case <-d.cfg.Reload:
			d.logErr("reload", d.reload())
		case reason := <-changes:
			d.logErr("containers", d.refreshFacts(ctx, reason))
		case <-resolve.C:
			d.logErr("resolve", d.resolveNames(ctx))
		case <-poll.C:
			if d.changed() {
				d.logErr("reload", d.reload())
			}
			d.logErr("confirm window", d.settleWindow())
		case <-watch.C:
			d.logErr("restore", d.restore())
		}
	}
}

func (d *Daemon) logErr(what string, err error) {
	if err != nil {
		d.cfg.Log.Error(what+" failed", "err", err)
	}
}

// watchDocker turns Docker's change notifications into a signal for the
// loop; a burst collapses into one pending signal.
func (d *Daemon) watchDocker(ctx context.Context, changes chan<- string) {
	signal := func(reason string) {
		select {
		case changes <- reason:
		default:
		}
	}
	signal("start")
	if err := d.cfg.Docker.Watch(ctx, signal); err != nil && ctx.Err() == nil {
		d.cfg.Log.Error("watching Docker stopped", "err", err)
	}
}

// refreshFacts reads the containers again and brings the kernel in step:
// for a container start or stop that is an update of map and set elements.
func (d *Daemon) refreshFacts(ctx context.Context, reason string) error {
	start := time.Now()
	f, err := d.cfg.Docker.Facts(ctx)
	if err != nil {
		return fmt.Errorf("could not read Docker's containers (keeping the last known): %w", err)
	}
	d.current = f
	if d.pol != nil {
		for _, a := range compile.Assign(d.pol, f) {
			if a.Err != nil {
				d.cfg.Log.Warn("container denied both ways: its seawall labels do not parse", "container", a.Container.Name, "err", a.Err)
			}
		}
	}
	err = d.reconcile()
	// Recorded after the commit: the fsync is not on the path to the
	// rules, and what is recorded is what the kernel was given.
	if serr := d.cfg.State.SaveFacts(f); serr != nil {
		d.cfg.Log.Warn("could not record the containers", "err", serr)
	}
	if err != nil {
		return err
	}
	d.cfg.Log.Info("containers reconciled", "reason", reason, "containers", len(f.Containers), "took", time.Since(start).Round(time.Microsecond))
	return nil
}

// resolveNames looks up the DNS names the policy uses as destinations and
// reloads when an answer changed. A name that does not resolve keeps its
// last addresses (none at first: traffic to it stays denied). Names found
// in logs or elsewhere are never resolved: only the policy's.
func (d *Daemon) resolveNames(ctx context.Context) error {
	if d.cfg.Resolve == nil || d.pol == nil {
		return nil
	}
	names := d.pol.Names(policy.DNSRef)
	next := map[string][]netip.Addr{}
	var errs []error
	for _, n := range names {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		addrs, err := d.cfg.Resolve(rctx, n)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
			addrs = d.resolved[n]
		}
		slices.SortFunc(addrs, func(a, b netip.Addr) int { return a.Compare(b) })
		next[n] = slices.Compact(addrs)
	}
	if !maps.EqualFunc(next, d.resolved, slices.Equal) {
		d.resolved = next
		if err := d.reconcile(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// changed reports whether the policy file or a set file changed since the
// last load.
func (d *Daemon) changed() bool {
	for path, old := range d.files {
		if stamp(path) != old {
			return true
		}
	}
	return false
}

func stamp(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	s := fileStamp{mod: fi.ModTime(), size: fi.Size()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino = st.Ino
	}
	return s
}

// remember records the stamps of the policy file and the set files it
// names, so that a change to any of them triggers a reload.
func (d *Daemon) remember(p *policy.Policy) {
	d.files = map[string]fileStamp{d.cfg.Path: stamp(d.cfg.Path)}
	if p == nil {
		return
	}
	for _, f := range p.SetFilePaths() {
		d.files[f] = stamp(f)
	}
}

// reload loads and compiles the policy and brings the kernel to it.
func (d *Daemon) reload() error {
	p, err := d.cfg.Load()
	if err != nil {
		d.remember(d.pol) // keep watching: a fix triggers the next reload
		return fmt.Errorf("policy not applied, the kernel keeps its ruleset: %w", err)
	}
	d.remember(p)
	d.pol = p
	return d.reconcile()
}

// reconcile compiles the loaded policy with the current facts and brings
// the kernel to it. Container events and DNS answers come here directly:
// the policy and its set files are not read again.
func (d *Daemon) reconcile() error {
	p := d.pol
	if p == nil {
		return nil // no valid policy yet: the kernel keeps what it has
	}
	rs, err := compile.Compile(p, d.facts())
	if err != nil {
		return err
	}
	unlock, err := d.cfg.State.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	if t, err := d.cfg.State.Trial(); err != nil || t != nil {
		if t != nil {
			d.cfg.Log.Info("a confirm window is open: the policy change waits until it is confirmed or rolled back")
		}
		return err
	}
	applied, err := d.cfg.State.Applied()
	if err != nil {
		return err
	}
	next := &state.Applied{Time: d.cfg.Clock().UTC(), PolicyFile: p.File, PolicyHash: p.Hash, Ruleset: rs}
	exists, err := d.cfg.Kernel.Exists()
	if err != nil {
		return err
	}
	// A change of set contents only is sent as element updates: each
	// changed set is flushed and refilled in one transaction, which leaves
	// it exactly as desired whatever happened to it meanwhile (so, unlike
	// keeping sets, this needs no generation check; Docker commits to
	// nftables on every container start). If a set has gone missing, the
	// table is re-applied in full.
	if exists && applied != nil {
		if changed, ok := onlySetsDiffer(applied.Ruleset, rs); ok {
			if len(changed) == 0 {
				d.cfg.Log.Debug("kernel already up to date", "file", p.File)
				return nil
			}
			gen, err := d.cfg.Kernel.ReplaceElements(changed)
			if err == nil {
				next.Gen = gen
				d.cfg.Log.Info("updated set contents", "sets", setNames(changed))
				return d.cfg.State.SaveApplied(next)
			}
			d.cfg.Log.Warn("could not update sets in place; re-applying the table", "err", err)
		}
	}
	start := time.Now()
	var keep map[string]bool
	var gen uint32
	if exists && applied != nil {
		keep, gen = ruleset.UnchangedSets(applied.Ruleset, rs), applied.Gen
	}
	if next.Gen, err = d.cfg.Kernel.Apply(rs, keep, gen); err != nil {
		return err
	}
	d.cfg.Log.Info("applied policy", "file", p.File, "rules", rs.RuleCount(), "took", time.Since(start).Round(time.Microsecond))
	return d.cfg.State.SaveApplied(next)
}

// onlySetsDiffer reports whether two rulesets have the same chains, rules
// and sets and differ at most in the elements of sets; it returns the sets
// whose elements changed.
func onlySetsDiffer(old, new *ruleset.Ruleset) ([]*ruleset.Set, bool) {
	if len(old.Sets) != len(new.Sets) || len(old.Chains) != len(new.Chains) {
		return nil, false
	}
	var changed []*ruleset.Set
	for i, s := range new.Sets {
		o := old.Sets[i]
		if o.Name != s.Name || o.Key != s.Key || o.Interval != s.Interval || o.Dynamic != s.Dynamic || o.Timeout != s.Timeout {
			return nil, false
		}
		if !slices.Equal(o.Elements, s.Elements) {
			changed = append(changed, s)
		}
	}
	oldJSON, err1 := jsonOf(old.Chains)
	newJSON, err2 := jsonOf(new.Chains)
	if err1 != nil || err2 != nil || oldJSON != newJSON {
		return nil, false
	}
	return changed, true
}

func setNames(ss []*ruleset.Set) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name)
	}
	return out
}

// restore re-installs the recorded state when the table is gone.
func (d *Daemon) restore() error {
	exists, err := d.cfg.Kernel.Exists()
	if err != nil || exists {
		return err
	}
	start := time.Now()
	unlock, err := d.cfg.State.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	// Someone may have removed it on purpose through seawall (reset), which
	// clears the record: then there is nothing to restore.
	rs, err := d.recorded()
	if err != nil || rs == nil {
		return err
	}
	if exists, err := d.cfg.Kernel.Exists(); err != nil || exists {
		return err
	}
	gen, err := d.cfg.Kernel.Apply(rs, nil, 0)
	if err != nil {
		return err
	}
	if err := d.cfg.State.RecordGen(gen); err != nil {
		return err
	}
	d.cfg.Log.Warn("table inet seawall was removed by someone else: restored", "took", time.Since(start).Round(time.Microsecond))
	return nil
}

// recorded is what the state directory says the kernel should hold; during
// a confirm window, the composed table with the window's remaining time.
func (d *Daemon) recorded() (*ruleset.Ruleset, error) {
	t, err := d.cfg.State.Trial()
	if err != nil {
		return nil, err
	}
	if t != nil {
		prev := t.PrevRuleset()
		left := t.Deadline.Sub(d.cfg.Clock())
		if left <= 0 {
			return prev, nil
		}
		return compile.ConfirmWindow(prev, t.Next.Ruleset, left), nil
	}
	a, err := d.cfg.State.Applied()
	if err != nil || a == nil {
		return nil, err
	}
	return a.Ruleset, nil
}

// settleWindow replaces an expired, unconfirmed window's composed table by
// the previous ruleset alone (the kernel already switched to it).
func (d *Daemon) settleWindow() error {
	unlock, err := d.cfg.State.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	t, err := d.cfg.State.Trial()
	if err != nil || t == nil || d.cfg.Clock().Before(t.Deadline) {
		return err
	}
	var gen uint32
	if t.Prev == nil {
		err = d.cfg.Kernel.Delete()
	} else {
		gen, err = d.cfg.Kernel.Apply(t.Prev.Ruleset, nil, 0)
	}
	if err != nil {
		return err
	}
	d.cfg.Log.Warn("the confirm window closed unconfirmed: the previous ruleset is in force", "deadline", t.Deadline)
	if err := d.cfg.State.ClearTrial(); err != nil {
		return err
	}
	return d.cfg.State.RecordGen(gen)
}
