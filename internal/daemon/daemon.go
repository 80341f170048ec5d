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
// Docker's containers and the jails' bans (jails.go) are further sources of
// dynamic set contents.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/seawall/seawall/internal/compile"
	"github.com/seawall/seawall/internal/control"
	"github.com/seawall/seawall/internal/docker"
	"github.com/seawall/seawall/internal/inventory"
	"github.com/seawall/seawall/internal/policy"
	"github.com/seawall/seawall/internal/ruleset"
	"github.com/seawall/seawall/internal/state"
	"github.com/seawall/seawall/internal/store"
)

// Kernel is what the daemon needs of the nftables backend.
type Kernel interface {
	// Apply replaces the table, keeping the named sets if nothing committed
	// since generation gen; it returns the generation it produced.
	Apply(rs *ruleset.Ruleset, keep map[string]bool, gen uint32) (uint32, error)
	Delete() error
	Exists() (bool, error)
	ReplaceElements([]*ruleset.Set) (uint32, error)
	// ChangeElements deletes and adds elements of runtime sets in one
	// transaction: a batch of bans and unbans.
	ChangeElements(del, add []*ruleset.Set) error
}

// lockedKernel serialises the calls of the loop and of the ban writer: a
// netlink connection queues the messages of one transaction at a time.
type lockedKernel struct {
	mu sync.Mutex
	k  Kernel
}

func (l *lockedKernel) Apply(rs *ruleset.Ruleset, keep map[string]bool, gen uint32) (uint32, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.k.Apply(rs, keep, gen)
}

func (l *lockedKernel) Delete() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.k.Delete()
}

func (l *lockedKernel) Exists() (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.k.Exists()
}

func (l *lockedKernel) ReplaceElements(sets []*ruleset.Set) (uint32, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.k.ReplaceElements(sets)
}

func (l *lockedKernel) ChangeElements(del, add []*ruleset.Set) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.k.ChangeElements(del, add)
}

// FactSource supplies facts about containers (internal/docker).
type FactSource interface {
	// Track calls onFacts with the containers and networks each time they
	// may have changed, or with the error that kept it from reading them,
	// until ctx ends. Calls are never concurrent.
	Track(ctx context.Context, onFacts func(f *inventory.Facts, reason string, err error)) error
}

// Config wires a daemon.
type Config struct {
	// Docker, if set, is watched for containers.
	Docker FactSource
	// Bridges, if set, reads Docker's networks off the host's interfaces:
	// the facts the daemon starts from when none were recorded.
	Bridges func() (*inventory.Facts, error)
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

	// Store keeps bans, ban history and log positions; nil keeps them
	// in memory only.
	Store *store.Store
	// ContainerLogs, if set, reads containers' logs for jails.
	ContainerLogs ContainerLogs
	// HostAddrs returns the host's own addresses, which no jail bans; nil
	// means the addresses of the namespace's interfaces.
	HostAddrs func() ([]netip.Prefix, error)
	// Journalctl and JournalDir are passed to journal log sources (the
	// command, and a directory of journal files instead of the system's).
	Journalctl, JournalDir string
	// Control is the control socket's path; empty means none.
	Control string
}

// Daemon runs the loop.
type Daemon struct {
	cfg      Config
	files    map[string]fileStamp
	pol      *policy.Policy
	current  *inventory.Facts // the last facts Docker gave; kept when it is unreachable
	resolved map[string][]netip.Addr
	bans     *banEngine
	ctx      context.Context
	records  []fileStamp // the state's records as this daemon last wrote or saw them
	hostAddr []netip.Prefix
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
	if cfg.HostAddrs == nil {
		cfg.HostAddrs = interfaceAddrs
	}
	cfg.Kernel = &lockedKernel{k: cfg.Kernel}
	d := &Daemon{cfg: cfg, ctx: context.Background()}
	d.bans = newBanEngine(d)
	return d
}

// Run reconciles until ctx ends. It returns an error only when it cannot
// reach the kernel at start; a bad policy is reported and waited out.
func (d *Daemon) Run(ctx context.Context) error {
	if _, err := d.cfg.Kernel.Exists(); err != nil {
		return err
	}
	d.ctx = ctx
	bansDone := make(chan struct{})
	go func() {
		defer close(bansDone)
		d.bans.run(ctx)
	}()
	defer func() { <-bansDone }()
	if d.cfg.Control != "" {
		go func() {
			if err := control.Serve(ctx, d.cfg.Control, d.bans); err != nil {
				d.cfg.Log.Error("control socket closed: seawall jails, bans, ban and unban cannot reach this daemon", "err", err)
			}
		}()
	}
	fromDocker := &dockerFacts{kick: make(chan struct{}, 1)}
	if d.cfg.Docker != nil {
		// Until Docker answers, compile with the containers recorded
		// last: what the kernel holds. Without them the first ruleset
		// would have empty maps and an empty docker_nets: every
		// container open as Docker leaves it.
		f, err := d.cfg.State.Facts()
		if err != nil {
			d.cfg.Log.Warn("could not read the recorded containers", "err", err)
		}
		if f == nil && d.cfg.Bridges != nil {
			// Nothing recorded: Docker's bridges, without containers,
			// so that every container is unreconciled, not unknown.
			if f, err = d.cfg.Bridges(); err != nil {
				d.cfg.Log.Warn("could not read Docker's bridges off the interfaces", "err", err)
			}
		}
		d.current = f
		go d.watchDocker(ctx, fromDocker)
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
		case <-fromDocker.kick:
			d.logErr("containers", d.refreshFacts(fromDocker.take()))
		case <-resolve.C:
			d.logErr("resolve", d.resolveNames(ctx))
		case <-poll.C:
			if d.changed() {
				d.logErr("reload", d.reload())
			}
			d.logErr("confirm window", d.settleWindow())
			d.watchRecords()
			d.logErr("host addresses", d.refreshHostAddrs())
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

// dockerFacts hands the latest facts from Docker's tracker to the loop. A
// burst of changes collapses into the latest facts: each is complete.
type dockerFacts struct {
	mu     sync.Mutex
	facts  *inventory.Facts
	reason string
	err    error
	kick   chan struct{} // capacity 1: "there is something"
}

func (m *dockerFacts) put(f *inventory.Facts, reason string, err error) {
	m.mu.Lock()
	if err == nil || m.facts == nil {
		// An error does not hide facts the loop has not taken yet.
		m.facts, m.reason, m.err = f, reason, err
	}
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

func (m *dockerFacts) take() (*inventory.Facts, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, reason, err := m.facts, m.reason, m.err
	m.facts, m.reason, m.err = nil, "", nil
	return f, reason, err
}

// watchDocker runs Docker's tracker until ctx ends.
func (d *Daemon) watchDocker(ctx context.Context, m *dockerFacts) {
	if err := d.cfg.Docker.Track(ctx, m.put); err != nil && ctx.Err() == nil {
		d.cfg.Log.Error("watching Docker stopped", "err", err)
	}
}

// refreshFacts brings the kernel in step with new facts from Docker: for a
// container start or stop that is an update of map and set elements.
func (d *Daemon) refreshFacts(f *inventory.Facts, reason string, err error) error {
	if err != nil {
		return fmt.Errorf("could not read Docker's containers (keeping the last known): %w", err)
	}
	if f == nil {
		return nil
	}
	start := time.Now()
	if f.Engine != nil && (d.current == nil || d.current.Engine == nil || *d.current.Engine != *f.Engine) {
		d.cfg.Log.Info("Docker", "version", f.Engine.Version, "firewall", f.Engine.Firewall)
		if w := docker.FirewallCaveat(f.Engine); w != "" {
			d.cfg.Log.Warn(w)
		}
	}
	d.current = f
	d.updateIgnore()
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
	// The jails start (and restore their bans) before the apply, so that
	// an apply that creates their sets, as after a reboot, fills them in
	// the same transaction: no moment with the table back and the bans
	// not. The queued changes are written once the sets exist.
	d.bans.sync(d.ctx, p)
	err = d.reconcile()
	d.bans.wake()
	if d.hostAddr == nil {
		d.logErr("host addresses", d.refreshHostAddrs())
	}
	return err
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
				return d.saveApplied(next)
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
	if next.Gen, err = d.bans.apply(rs, keep, gen); err != nil {
		return err
	}
	d.cfg.Log.Info("applied policy", "file", p.File, "rules", rs.RuleCount(), "took", time.Since(start).Round(time.Microsecond))
	return d.saveApplied(next)
}

// saveApplied records what this daemon applied.
func (d *Daemon) saveApplied(a *state.Applied) error {
	err := d.cfg.State.SaveApplied(a)
	d.noteRecords()
	return err
}

// noteRecords remembers the state's records as this daemon left them.
func (d *Daemon) noteRecords() {
	d.records = d.records[:0]
	for _, f := range d.cfg.State.Records() {
		d.records = append(d.records, stamp(f))
	}
}

// watchRecords notices another seawall process (apply, confirm, rollback)
// writing the table: such a write may create the jails' sets anew, empty,
// so the bans are put back.
func (d *Daemon) watchRecords() {
	files := d.cfg.State.Records()
	same := len(d.records) == len(files)
	for i, f := range files {
		if same && stamp(f) != d.records[i] {
			same = false
		}
	}
	if same {
		return
	}
	d.noteRecords()
	rs, err := d.recorded()
	if err != nil {
		d.cfg.Log.Error("could not read the recorded state", "err", err)
		return
	}
	d.bans.refill(rs)
}

// refreshHostAddrs tells the jails the host's own addresses and Docker's
// gateways, which they never ban.
func (d *Daemon) refreshHostAddrs() error {
	addrs, err := d.cfg.HostAddrs()
	if err != nil {
		return fmt.Errorf("could not read the host's addresses (jails keep the last known): %w", err)
	}
	d.hostAddr = addrs
	d.updateIgnore()
	return nil
}

// updateIgnore gives the jails the addresses no one may ban: the host's,
// and Docker's gateways (docker-proxy connects from them).
func (d *Daemon) updateIgnore() {
	if d.pol == nil {
		return
	}
	extra := slices.Clone(d.hostAddr)
	if d.current != nil {
		for _, n := range d.current.Networks {
			for _, g := range n.Gateways {
				extra = append(extra, netip.PrefixFrom(g, g.BitLen()))
			}
		}
	}
	slices.SortFunc(extra, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	d.bans.setExtraIgnore(d.pol, slices.Compact(extra))
}

// interfaceAddrs returns the addresses of the namespace's interfaces.
func interfaceAddrs() ([]netip.Prefix, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
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
	gen, err := d.bans.apply(rs, nil, 0)
	if err != nil {
		return err
	}
	if err := d.cfg.State.RecordGen(gen); err != nil {
		return err
	}
	d.noteRecords()
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
		gen, err = d.bans.apply(t.Prev.Ruleset, nil, 0)
	}
	if err != nil {
		return err
	}
	d.cfg.Log.Warn("the confirm window closed unconfirmed: the previous ruleset is in force", "deadline", t.Deadline)
	if err := d.cfg.State.ClearTrial(); err != nil {
		return err
	}
	err = d.cfg.State.RecordGen(gen)
	d.noteRecords()
	return err
}
