package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seawall/seawall/internal/compile"
	"github.com/seawall/seawall/internal/control"
	"github.com/seawall/seawall/internal/docker"
	"github.com/seawall/seawall/internal/filter"
	"github.com/seawall/seawall/internal/filter/datedetect"
	"github.com/seawall/seawall/internal/inventory"
	"github.com/seawall/seawall/internal/jail"
	"github.com/seawall/seawall/internal/logsrc"
	"github.com/seawall/seawall/internal/policy"
	"github.com/seawall/seawall/internal/ruleset"
	"github.com/seawall/seawall/internal/store"
)

// Jails. Each jail of the policy gets a runner: its log sources feed its
// filter, each source with a Matcher of its own; the failures go to the
// jail's counters (internal/jail), and the bans they make go, batched, to
// the kernel's runtime sets (jail_NAME_v4, _v6, _v6h) in one transaction,
// then to the store. Bans are written to the kernel before the store: the
// kernel is the path to the attacker, the store the path to a restart.
//
// Full applies of the table (a policy change, a restore after someone
// removed the table, a confirm window settling) fill the runtime sets from
// the jails' current bans (withBans), under the same lock as ban writes, so
// that no ban is lost between a snapshot and a commit.

// ContainerLogs follows the stdout and stderr of containers (internal/docker).
type ContainerLogs interface {
	FollowLogs(ctx context.Context, want func(c *inventory.Container) bool,
		since func(containerID string) time.Time, out chan<- docker.LogLine) error
}

// offsetEvery is how often the log sources' positions are saved, and how
// often expired bans and forgotten failures are cleared.
const offsetEvery = time.Second

// banEngine runs the jails.
type banEngine struct {
	d     *Daemon
	log   *slog.Logger
	store *store.Store

	// writeMu is held around every kernel write of ban elements and
	// around full applies (see withBans).
	writeMu sync.Mutex

	mu      sync.Mutex // guards runners, stored and extra; never taken by a runner's goroutines
	runners map[string]*runner

	qmu     sync.Mutex // guards pending and restoring
	pending []banOp
	// restoring holds bans restored at start (or carried over by a
	// restarted jail): they go in as one transaction, whatever their
	// number, so that a restart never has a moment with some bans back
	// and others not.
	restoring []banOp
	stored    map[string][]jail.Ban // bans read from the store at start, by jail, until their jail runs
	extra     []netip.Prefix        // ignored besides the policy's: the host's and Docker's own addresses
	kick      chan struct{}
	wrote     atomic.Bool  // the store was written since its pages were last released
	written   atomic.Int64 // ban changes written since memory was last given back
}

// banOp is one change of the kernel's ban elements.
type banOp struct {
	ban jail.Ban
	del bool // remove the element (an unban); with add, a ban whose time changed
	add bool
	// restored: the ban is stored already (restored at start, or
	// carried over by a restarted jail)
	restored bool
}

// runner is one running jail.
type runner struct {
	pol     *policy.Jail
	key     string // the settings it was started with; another key restarts it
	jail    *jail.Jail
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	sources []*source
}

// source is one log source of a running jail.
type source struct {
	name     string
	key      string // where its position is stored
	lines    atomic.Int64
	failures atomic.Int64
	mu       sync.Mutex
	pos      []byte // the position after the last line processed
	saved    bool   // pos is in the store
	err      string
}

func (s *source) setPos(pos []byte) {
	if pos == nil {
		return
	}
	s.mu.Lock()
	s.pos, s.saved = pos, false
	s.mu.Unlock()
}

func (s *source) setErr(err error) {
	s.mu.Lock()
	s.err = ""
	if err != nil {
		s.err = err.Error()
	}
	s.mu.Unlock()
}

func newBanEngine(d *Daemon) *banEngine {
	return &banEngine{d: d, log: d.cfg.Log, store: d.cfg.Store, runners: map[string]*runner{}, kick: make(chan struct{}, 1)}
}

// run writes queued bans, clears expired ones and saves log positions
// until ctx ends; then it stops the jails and saves their positions.
func (e *banEngine) run(ctx context.Context) {
	tick := time.NewTicker(offsetEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			e.stopAll()
			e.saveOffsets()
			return
		case <-e.kick:
			e.flush()
		case <-tick.C:
			e.expire()
			e.saveOffsets()
			e.releaseStore()
			e.shrinkAfterFlood()
		}
	}
}

// queue adds kernel changes and wakes the writer.
func (e *banEngine) queue(ops ...banOp) {
	if len(ops) == 0 {
		return
	}
	e.qmu.Lock()
	e.pending = append(e.pending, ops...)
	e.qmu.Unlock()
	e.wake()
}

// maxBatch bounds the ban changes of one transaction (and one store
// write): a flood of 100k bans goes in as a few dozen transactions of a few
// milliseconds each, rather than one whose netlink messages and bbolt
// pages would hold a hundred megabytes at once.
const maxBatch = 4096

// bigFlush is how many ban changes make a flood whose memory is given
// back to the system once it is over.
const bigFlush = 2 * maxBatch

// flush sends the queued changes to the kernel, in transactions of at most
// maxBatch changes, then stores each batch.
func (e *banEngine) flush() {
	total := 0
	for {
		e.writeMu.Lock()
		e.qmu.Lock()
		var ops []banOp
		if len(e.restoring) > 0 {
			ops, e.restoring = e.restoring, nil
		} else {
			n := min(len(e.pending), maxBatch)
			ops = slices.Clone(e.pending[:n])
			e.pending = e.pending[n:]
			if len(e.pending) == 0 {
				e.pending = nil
			}
		}
		e.qmu.Unlock()
		n := len(ops)
		if n == 0 {
			e.writeMu.Unlock()
			break
		}
		start := time.Now()
		del, add := banElements(ops, e.d.cfg.Clock())
		err := e.d.cfg.Kernel.ChangeElements(del, add)
		e.writeMu.Unlock()
		if err != nil {
			// The bans stay in the jails: the next full apply or
			// restore puts them in the kernel.
			e.log.Error("could not change bans in the kernel", "err", err)
		}
		e.record(ops, time.Since(start))
		total += n
	}
	e.written.Add(int64(total))
}

// record logs a batch of ban changes and writes it to the store.
func (e *banEngine) record(ops []banOp, took time.Duration) {
	var put []store.Ban
	var gone []store.BanKey
	restored := 0
	for _, op := range ops {
		switch {
		case op.restored:
			restored++
		case op.add:
			put = append(put, toStore(op.ban))
			until := "permanent"
			if !op.ban.Permanent() {
				until = op.ban.Expires.Format(time.RFC3339)
			}
			e.log.Info("ban", "jail", op.ban.Jail, "source", op.ban.Prefix, "until", until, "count", op.ban.Count, "origin", op.ban.Origin, "kernel", took.Round(time.Microsecond))
		case op.del:
			gone = append(gone, store.BanKey{Jail: op.ban.Jail, Prefix: op.ban.Prefix})
			e.log.Info("unban", "jail", op.ban.Jail, "source", op.ban.Prefix)
		}
	}
	if restored > 0 {
		e.log.Info("bans restored in the kernel", "bans", restored, "kernel", took.Round(time.Microsecond))
	}
	if e.store == nil {
		return
	}
	e.wrote.Store(true)
	if len(gone) > 0 {
		if err := e.store.DeleteBans(gone); err != nil {
			e.log.Error("could not delete bans from the store", "err", err)
		}
	}
	if len(put) > 0 {
		if err := e.store.PutBans(put); err != nil {
			e.log.Error("could not store bans", "err", err)
		}
	}
}

// banElements turns ops into the element deletions and additions of one
// transaction, by set.
func banElements(ops []banOp, now time.Time) (del, add []*ruleset.Set) {
	dels, adds := map[string]*ruleset.Set{}, map[string]*ruleset.Set{}
	put := func(m map[string]*ruleset.Set, out *[]*ruleset.Set, b jail.Ban, withTimeout bool) {
		name, key, ok := banSet(b)
		if !ok {
			return
		}
		el := ruleset.Element{First: b.Prefix.Addr(), Last: b.Prefix.Addr()}
		if withTimeout && !b.Permanent() {
			left := b.Expires.Sub(now)
			if left <= 0 {
				return // over already: the kernel would drop it anyway
			}
			el.Timeout = left.Round(time.Millisecond) + time.Millisecond
		}
		s := m[name]
		if s == nil {
			s = &ruleset.Set{Name: name, Key: key, Runtime: true}
			m[name] = s
			*out = append(*out, s)
		}
		s.Elements = append(s.Elements, el)
	}
	for _, op := range ops {
		if op.del {
			put(dels, &del, op.ban, false)
		}
		if op.add {
			put(adds, &add, op.ban, true)
		}
	}
	return del, add
}

// banSet names the kernel set a ban's element goes in; false for a prefix
// no set holds.
func banSet(b jail.Ban) (string, ruleset.SetKey, bool) {
	p := b.Prefix
	switch {
	case p.Addr().Is4() && p.Bits() == 32:
		return compile.JailSet(b.Jail, ruleset.IPv4), ruleset.KeyIPv4Addr, true
	case p.Addr().Is6() && p.Bits() == compile.JailV6Prefix:
		return compile.JailSet(b.Jail, ruleset.IPv6), ruleset.KeyIPv6Addr, true
	case p.Addr().Is6() && p.Bits() == 128:
		return compile.JailHostSet(b.Jail), ruleset.KeyIPv6Addr, true
	}
	return "", 0, false
}

// withBans returns rs with its runtime sets filled with the jails' current
// bans, for a full apply. In a confirm window's table the previous
// ruleset's copies (prev_jail_...) are filled too, so that a rollback by the
// kernel keeps the bans. The caller holds writeMu.
func (e *banEngine) withBans(rs *ruleset.Ruleset) *ruleset.Ruleset {
	if e == nil || rs == nil {
		return rs
	}
	filled := e.banSets(rs)
	if len(filled) == 0 {
		return rs
	}
	out := *rs
	out.Sets = slices.Clone(rs.Sets)
	for i, s := range out.Sets {
		if f := filled[s.Name]; f != nil {
			out.Sets[i] = f
		}
	}
	return &out
}

// banSets returns, for each runtime set of rs that has bans, a copy of it
// holding them.
func (e *banEngine) banSets(rs *ruleset.Ruleset) map[string]*ruleset.Set {
	var ops []banOp
	e.mu.Lock()
	for _, r := range e.runners {
		for _, b := range r.jail.Banned() {
			ops = append(ops, banOp{ban: b, add: true})
		}
	}
	e.mu.Unlock()
	_, sets := banElements(ops, e.d.cfg.Clock())
	byName := map[string]*ruleset.Set{}
	for _, s := range sets {
		byName[s.Name] = s
	}
	out := map[string]*ruleset.Set{}
	for _, s := range rs.Sets {
		if !s.Runtime {
			continue
		}
		if f := byName[strings.TrimPrefix(s.Name, compile.PrevPrefix)]; f != nil {
			c := *s
			c.Elements = f.Elements
			out[s.Name] = &c
		}
	}
	return out
}

// apply is Kernel.Apply with the bans filled in, under writeMu.
func (e *banEngine) apply(rs *ruleset.Ruleset, keep map[string]bool, gen uint32) (uint32, error) {
	if e == nil {
		return 0, errors.New("no ban engine")
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	return e.d.cfg.Kernel.Apply(e.withBans(rs), keep, gen)
}

// refill adds every current ban to the runtime sets of rs, the table the
// kernel should hold, in one transaction: for when another seawall process
// re-applied the table and may have created those sets anew. Adding a
// present element changes nothing.
func (e *banEngine) refill(rs *ruleset.Ruleset) {
	if rs == nil {
		return
	}
	e.writeMu.Lock()
	filled := e.banSets(rs)
	add := make([]*ruleset.Set, 0, len(filled))
	n := 0
	for _, s := range filled {
		add = append(add, s)
		n += len(s.Elements)
	}
	err := e.d.cfg.Kernel.ChangeElements(nil, add)
	e.writeMu.Unlock()
	if err != nil {
		e.log.Error("could not put the bans back in the kernel", "err", err)
		return
	}
	if n > 0 {
		e.log.Info("bans put back in the kernel after another seawall process wrote the table", "elements", n)
	}
}

// sync starts, restarts and stops runners so that the policy's jails run.
// A runner whose settings did not change keeps running (its ignore list
// is updated); a changed one is restarted with its bans. The kernel
// changes it queues are written at the next wake.
func (e *banEngine) sync(ctx context.Context, p *policy.Policy) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stored == nil {
		e.stored = map[string][]jail.Ban{}
		if e.store != nil {
			bans, err := e.store.Bans()
			if err != nil {
				e.log.Error("could not read the stored bans", "err", err)
			}
			for _, b := range bans {
				e.stored[b.Jail] = append(e.stored[b.Jail], fromStore(b))
			}
		}
	}
	want := map[string]bool{}
	var ops []banOp
	for _, pj := range p.Jails {
		want[pj.Name] = true
		key := jailKey(p, pj)
		old := e.runners[pj.Name]
		if old != nil && old.key == key {
			old.pol = pj
			if lifted, err := old.jail.SetIgnore(e.ignoreFor(p, pj)); err != nil {
				e.log.Error("could not update the ignore list", "jail", pj.Name, "err", err)
			} else {
				ops = append(ops, deletions(lifted)...)
			}
			continue
		}
		carry := e.stored[pj.Name]
		delete(e.stored, pj.Name)
		if old != nil {
			old.stop()
			carry = old.jail.Banned()
			e.saveOffsetsOf(old)
		}
		r, err := e.start(ctx, p, pj, key)
		if err != nil {
			e.log.Error("jail not started", "jail", pj.Name, "err", err)
			delete(e.runners, pj.Name)
			continue
		}
		back, dropped := r.jail.Restore(carry, e.d.cfg.Clock())
		e.forget(dropped)
		e.qmu.Lock()
		for _, b := range back {
			e.restoring = append(e.restoring, banOp{ban: b, add: true, restored: true})
		}
		e.qmu.Unlock()
		e.runners[pj.Name] = r
		e.log.Info("jail started", "jail", pj.Name, "logs", len(r.sources), "bans restored", len(back))
	}
	for name, r := range e.runners {
		if !want[name] {
			r.stop()
			e.saveOffsetsOf(r)
			delete(e.runners, name)
			e.log.Info("jail stopped: no longer in the policy; its bans stay stored", "jail", name)
		}
	}
	e.qmu.Lock()
	e.pending = append(e.pending, ops...)
	e.qmu.Unlock()
}

// wake has the writer send what is queued.
func (e *banEngine) wake() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// forget deletes bans a jail would not restore (expired, now ignored)
// from the store.
func (e *banEngine) forget(bans []jail.Ban) {
	if e.store == nil || len(bans) == 0 {
		return
	}
	keys := make([]store.BanKey, len(bans))
	for i, b := range bans {
		keys[i] = store.BanKey{Jail: b.Jail, Prefix: b.Prefix}
	}
	if err := e.store.DeleteBans(keys); err != nil {
		e.log.Warn("could not delete expired bans from the store", "err", err)
	}
}

func deletions(bans []jail.Ban) []banOp {
	ops := make([]banOp, len(bans))
	for i, b := range bans {
		ops[i] = banOp{ban: b, del: true}
	}
	return ops
}

// jailKey captures what a running jail was started with, except its ignore
// list and scope (which change without a restart).
func jailKey(p *policy.Policy, j *policy.Jail) string {
	var b strings.Builder
	for _, l := range j.Logs {
		fmt.Fprintf(&b, "%s|", l)
	}
	fmt.Fprintf(&b, "%q|%q|%d|%v|%v|%v", j.Filter, j.Match, j.MaxRetry, j.FindTime, j.BanTime, j.Permanent)
	if j.Increment != nil {
		fmt.Fprintf(&b, "|%v|%v", j.Increment.Factor, j.Increment.Max)
	}
	fmt.Fprintf(&b, "|%s", filepath.Dir(p.File))
	return b.String()
}

// ignoreFor is the ignore list of jail j: the policy's and the host's and
// Docker's own addresses.
func (e *banEngine) ignoreFor(p *policy.Policy, j *policy.Jail) []netip.Prefix {
	return append(p.IgnorePrefixes(j), e.extra...)
}

// setExtraIgnore sets the addresses every jail ignores besides its
// policy's, lifting bans that cover them.
func (e *banEngine) setExtraIgnore(p *policy.Policy, extra []netip.Prefix) {
	e.mu.Lock()
	if slices.Equal(extra, e.extra) {
		e.mu.Unlock()
		return
	}
	e.extra = extra
	var ops []banOp
	for _, r := range e.runners {
		lifted, err := r.jail.SetIgnore(e.ignoreFor(p, r.pol))
		if err != nil {
			e.log.Error("could not update the ignore list", "jail", r.pol.Name, "err", err)
			continue
		}
		for _, b := range lifted {
			e.log.Warn("ban lifted: the source is the host's or Docker's own address", "jail", b.Jail, "source", b.Prefix)
		}
		ops = append(ops, deletions(lifted)...)
	}
	e.mu.Unlock()
	e.queue(ops...)
}

// start creates a jail and starts reading its logs.
func (e *banEngine) start(ctx context.Context, p *policy.Policy, pj *policy.Jail, key string) (*runner, error) {
	cfg := jail.Config{
		Name:     pj.Name,
		MaxRetry: pj.MaxRetry,
		FindTime: pj.FindTime,
		BanTime:  pj.BanTime,
		Ignore:   e.ignoreFor(p, pj),
		V6Prefix: compile.JailV6Prefix,
	}
	if pj.Permanent {
		cfg.BanTime = -1
	}
	if inc := pj.Increment; inc != nil {
		cfg.Increment = jail.Increment{Factor: inc.Factor, Max: inc.Max}
	}
	var h jail.History
	if e.store != nil {
		h = e.store.JailHistory(pj.Name)
	}
	j, err := jail.New(cfg, h)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	r := &runner{pol: pj, key: key, jail: j, cancel: cancel}
	for _, l := range pj.Logs {
		if err := e.startSource(rctx, p, r, l); err != nil {
			cancel()
			r.wg.Wait()
			return nil, fmt.Errorf("%s: %w", l, err)
		}
	}
	return r, nil
}

func (r *runner) stop() {
	r.cancel()
	r.wg.Wait()
}

// loadFilter loads the jail's filter for one kind of source: journal
// entries get fail2ban's logtype=journal option, as fail2ban's journal
// backend sets it.
func loadFilter(p *policy.Policy, pj *policy.Jail, journal bool) (*filter.Filter, error) {
	if len(pj.Match) > 0 {
		return filter.FromRegexes(pj.Match, filter.Options{NoFields: true})
	}
	spec := p.FilterSpec(pj)
	if journal {
		name, opts, err := filter.ParseSpec(spec)
		if err != nil {
			return nil, err
		}
		if _, ok := opts["logtype"]; !ok {
			parts := []string{"logtype=journal"}
			for k, v := range opts {
				parts = append(parts, k+"="+v)
			}
			slices.Sort(parts)
			spec = name + "[" + strings.Join(parts, ",") + "]"
		}
	}
	return filter.Load(spec, filter.Options{NoFields: true})
}

// startSource starts reading one log source of r.
func (e *banEngine) startSource(ctx context.Context, p *policy.Policy, r *runner, l *policy.LogSource) error {
	f, err := loadFilter(p, r.pol, l.Kind == policy.LogJournal)
	if err != nil {
		return err
	}
	src := &source{name: l.String(), key: "jail/" + r.pol.Name + "/" + l.String()}
	r.sources = append(r.sources, src)
	// A jail's own patterns (match:) run on the line as written, its
	// date found but left in; a fail2ban filter gets the line with its
	// date cut out, as fail2ban's filters expect.
	raw := len(r.pol.Match) > 0
	switch l.Kind {
	case policy.LogFile:
		path := p.LogPath(l)
		var from logsrc.Position
		if e.store != nil {
			if b, err := e.store.Offset(src.key); err == nil && b != nil {
				if pos, err := logsrc.ParsePosition(b); err == nil {
					from = pos
				} else {
					e.log.Warn("saved log position unreadable: following from the end", "jail", r.pol.Name, "log", path, "err", err)
				}
			}
		}
		if from.IsZero() {
			// Taken now rather than when the follower opens the file,
			// so that what is appended once the jail runs is read.
			if from, err = logsrc.EndPosition(path); err != nil {
				e.log.Warn("could not read the log's end: following it from where the follower finds it", "jail", r.pol.Name, "log", path, "err", err)
			}
		}
		fl := &logsrc.Follower{Log: e.log.With("jail", r.pol.Name)}
		lines := produce(ctx, e, r, src, func(out chan<- logsrc.Line) error { return fl.Follow(ctx, path, from, out) })
		r.wg.Go(func() {
			m := f.NewMatcher()
			for line := range lines {
				now := e.d.cfg.Clock()
				var fails []filter.Failure
				if raw {
					fails = m.Entry(line.Text, lineTime(line.Text, now))
				} else {
					fails = m.Line(line.Text)
				}
				e.failures(r, src, fails, now)
				src.setPos(line.Pos)
			}
		})
	case policy.LogJournal:
		units := l.Units
		if len(l.Matches) > 0 {
			units = nil // in the matches
		}
		opts := logsrc.JournalOptions{Units: units, Matches: journalMatches(l), Log: e.log.With("jail", r.pol.Name), Command: e.d.cfg.Journalctl, Directory: e.d.cfg.JournalDir}
		if e.store != nil {
			if b, err := e.store.Offset(src.key); err == nil && b != nil {
				opts.Cursor = string(b)
			}
		}
		lines := produce(ctx, e, r, src, func(out chan<- logsrc.Line) error { return logsrc.Journal(ctx, opts, out) })
		r.wg.Go(func() {
			m := f.NewMatcher()
			for line := range lines {
				now := e.d.cfg.Clock()
				e.failures(r, src, m.Entry(line.Text, line.Time), now)
				src.setPos(line.Pos)
			}
		})
	case policy.LogContainer:
		follower := e.d.cfg.ContainerLogs
		if follower == nil {
			err := errors.New("Docker is not reachable: container logs cannot be read")
			src.setErr(err)
			e.log.Error("log source not started", "jail", r.pol.Name, "log", l.String(), "err", err)
			return nil
		}
		sel := *l.Select
		want := func(c *inventory.Container) bool {
			return sel.Matches(c.Name, c.Image, c.Project, c.Service, c.Labels)
		}
		// Lines from before the daemon started are not read: a container's
		// log is not a file with a position, and a restart must not count
		// old failures twice.
		lines := produce(ctx, e, r, src, func(out chan<- docker.LogLine) error { return follower.FollowLogs(ctx, want, nil, out) })
		r.wg.Go(func() {
			matchers := map[string]*filter.Matcher{}
			for line := range lines {
				m := matchers[line.Container]
				if m == nil {
					m = f.NewMatcher()
					matchers[line.Container] = m
				}
				now := e.d.cfg.Clock()
				var fails []filter.Failure
				if raw {
					fails = m.Entry(line.Text, line.Time)
				} else {
					fails = m.Line(line.Text)
					for i := range fails {
						if fails[i].Time.IsZero() {
							fails[i].Time = line.Time
						}
					}
				}
				e.failures(r, src, fails, now)
			}
		})
	}
	return nil
}

// journalMatches are the journalctl matches of a journal source: none when
// it names units only (journalctl --unit); otherwise every unit and match
// ORed ("+"), units as _SYSTEMD_UNIT=.
func journalMatches(l *policy.LogSource) []string {
	if len(l.Matches) == 0 {
		return nil
	}
	var out []string
	for _, m := range append(unitMatches(l.Units), l.Matches...) {
		if len(out) > 0 {
			out = append(out, "+")
		}
		out = append(out, m)
	}
	return out
}

func unitMatches(units []string) []string {
	out := make([]string, len(units))
	for i, u := range units {
		out[i] = "_SYSTEMD_UNIT=" + u
	}
	return out
}

// produce runs read (a log source sending on the channel it is given) in a
// goroutine of r, and returns that channel, closed when read returns. A read
// that ends for another reason than ctx is the source's error, shown by
// `seawall jails` and logged.
func produce[T any](ctx context.Context, e *banEngine, r *runner, src *source, read func(out chan<- T) error) <-chan T {
	out := make(chan T, 1024)
	r.wg.Go(func() {
		defer close(out)
		if err := read(out); err != nil && ctx.Err() == nil {
			src.setErr(err)
			e.log.Error("log source stopped", "jail", r.pol.Name, "log", src.name, "err", err)
		}
	})
	return out
}

// lineTime is the date written in a line, or now.
func lineTime(text string, now time.Time) time.Time {
	if m, ok := datedetect.Default().Match(text, time.Local, now); ok {
		return m.Time
	}
	return now
}

// failures counts a line's failures in the jail and queues the bans they
// make.
func (e *banEngine) failures(r *runner, src *source, fails []filter.Failure, now time.Time) {
	src.lines.Add(1)
	var ops []banOp
	for _, fl := range fails {
		addr := fl.Addr
		if !addr.IsValid() && fl.Prefix.IsValid() {
			addr = fl.Prefix.Addr()
		}
		if !addr.IsValid() {
			continue // a host name: never resolved
		}
		src.failures.Add(1)
		t := fl.Time
		if t.IsZero() {
			t = now
		}
		if b, ok := r.jail.Fail(addr, t, now); ok {
			ops = append(ops, banOp{ban: b, add: true})
		}
	}
	e.queue(ops...)
}

// expire forgets expired bans (the kernel dropped their elements by
// itself) and failures that left the window.
func (e *banEngine) expire() {
	now := e.d.cfg.Clock()
	var gone []store.BanKey
	e.mu.Lock()
	for _, r := range e.runners {
		for _, b := range r.jail.Expire(now) {
			gone = append(gone, store.BanKey{Jail: b.Jail, Prefix: b.Prefix})
			e.log.Info("ban expired", "jail", b.Jail, "source", b.Prefix)
		}
	}
	e.mu.Unlock()
	if e.store != nil && len(gone) > 0 {
		e.wrote.Store(true)
		if err := e.store.DeleteBans(gone); err != nil {
			e.log.Warn("could not delete expired bans from the store", "err", err)
		}
	}
}

// shrinkAfterFlood gives the memory a flood of bans used back to the
// system once the flood is over (nothing queued); the Go runtime would
// otherwise keep it for minutes.
func (e *banEngine) shrinkAfterFlood() {
	if e.written.Load() < bigFlush {
		return
	}
	e.qmu.Lock()
	idle := len(e.pending) == 0 && len(e.restoring) == 0
	e.qmu.Unlock()
	if idle {
		e.written.Store(0)
		debug.FreeOSMemory()
	}
}

// releaseStore gives back the resident pages of the store's mapping after
// writes: under a flood the store is tens of megabytes, which need not stay
// in the daemon's memory.
func (e *banEngine) releaseStore() {
	if e.store == nil || !e.wrote.Swap(false) {
		return
	}
	if err := e.store.Release(); err != nil {
		e.log.Warn("could not release the store's pages", "err", err)
	}
}

// saveOffsets stores the positions of every source that moved, in one
// transaction.
func (e *banEngine) saveOffsets() {
	e.mu.Lock()
	runners := make([]*runner, 0, len(e.runners))
	for _, r := range e.runners {
		runners = append(runners, r)
	}
	e.mu.Unlock()
	for _, r := range runners {
		e.saveOffsetsOf(r)
	}
}

func (e *banEngine) saveOffsetsOf(r *runner) {
	if e.store == nil {
		return
	}
	offsets := map[string][]byte{}
	var moved []*source
	for _, s := range r.sources {
		s.mu.Lock()
		if s.pos != nil && !s.saved {
			offsets[s.key] = s.pos
			moved = append(moved, s)
		}
		s.mu.Unlock()
	}
	if len(offsets) == 0 {
		return
	}
	if err := e.store.SaveOffsets(offsets); err != nil {
		e.log.Warn("could not save log positions", "jail", r.pol.Name, "err", err)
		return
	}
	e.wrote.Store(true)
	for _, s := range moved {
		s.mu.Lock()
		if string(s.pos) == string(offsets[s.key]) {
			s.saved = true
		}
		s.mu.Unlock()
	}
}

func (e *banEngine) stopAll() {
	e.mu.Lock()
	runners := e.runners
	e.mu.Unlock()
	for _, r := range runners {
		r.stop()
	}
}

// Conversions between the jail's, the store's and the socket's bans.

func toStore(b jail.Ban) store.Ban {
	return store.Ban{Jail: b.Jail, Prefix: b.Prefix, Start: b.Start, Expires: b.Expires, Count: b.Count, Origin: store.Origin(b.Origin)}
}

func fromStore(b store.Ban) jail.Ban {
	return jail.Ban{Jail: b.Jail, Prefix: b.Prefix, Start: b.Start, Expires: b.Expires, Count: b.Count, Origin: jail.Origin(b.Origin)}
}

func toControl(b jail.Ban) control.Ban {
	return control.NewBan(b.Jail, b.Prefix, b.Start, b.Expires, b.Count, string(b.Origin))
}
