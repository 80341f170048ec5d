// Package jail owns ban decisions: it counts failures per source prefix in a
// sliding window, decides when a prefix is banned and for how long
// (increments, permanent bans), keeps the list of current bans and ignores
// the sources no one may ban. It does no I/O and reads no clock: times come
// in from log lines and from the caller's now, and ban history through the
// History interface.
package jail

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Origin says what made a ban.
type Origin string

// Origins of bans.
const (
	OriginLog    Origin = "log"    // maxretry failures found in logs
	OriginManual Origin = "manual" // a person, e.g. with `seawall ban`
)

// Ban is one banned prefix. Times are kept to the millisecond.
type Ban struct {
	Jail    string
	Prefix  netip.Prefix
	Start   time.Time // the failure that completed maxretry, or when banned by hand
	Expires time.Time // zero: permanent
	Count   int       // this is the Count-th ban of Prefix (from History)
	Origin  Origin
}

// Permanent reports whether the ban never expires.
func (b Ban) Permanent() bool { return b.Expires.IsZero() }

// History tells how often a prefix was banned before; a jail asks it to
// compute increments. The store implements it.
type History interface {
	// BanCount returns the number of earlier bans of p.
	BanCount(p netip.Prefix) int
}

// Stats are a jail's counters, as fail2ban-client status shows them.
type Stats struct {
	// CurrentlyFailed is the number of prefixes with pending failures
	// (those whose failures all left the window are forgotten by Expire).
	CurrentlyFailed int
	// TotalFailed counts the failures inside the window, banned sources'
	// included.
	TotalFailed int
	// CurrentlyBanned is the number of current bans, restored ones included.
	CurrentlyBanned int
	// TotalBanned counts the bans this jail made since it was created.
	TotalBanned int
	// Evicted counts the prefixes forgotten with pending failures because
	// MaxTracked was reached.
	Evicted int
	// Ignored counts failures of ignored sources.
	Ignored int
	// Stale counts failures already out of the window when reported.
	Stale int
}

// ErrIgnored is returned when a manual ban would cover an ignored address.
var ErrIgnored = errors.New("it covers an address on the ignore list")

// Jail counts failures and holds bans for one jail. It is safe for
// concurrent use.
type Jail struct {
	cfg     Config
	history History

	mu      sync.Mutex
	ignore  ignoreList
	fails   *failures
	bans    *banList
	counter Stats // Total*, Ignored and Stale; the rest is computed
}

// New returns a jail with cfg's rules. h may be nil: every ban is then a
// first ban.
func New(cfg Config, h History) (*Jail, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("could not create jail %q: %w", cfg.Name, err)
	}
	ignore, bad, ok := newIgnoreList(cfg.Ignore)
	if !ok {
		return nil, fmt.Errorf("could not create jail %q: invalid ignore entry %v", cfg.Name, bad)
	}
	j := &Jail{cfg: cfg, history: h, ignore: ignore, fails: newFailures(cfg.MaxRetry, cfg.MaxTracked)}
	j.bans = newBanList(j.standard)
	return j, nil
}

// Name returns the jail's name.
func (j *Jail) Name() string { return j.cfg.Name }

// Fail records a failure of addr at t (the log line's time), seen at now. A
// failure at or before now-FindTime does not count; one after now counts as
// at now (a log's clock cannot be ahead of ours). When the failure is the
// MaxRetry-th of addr's prefix within FindTime, Fail returns the new ban;
// it starts at t, so a ban found in an old log may already have expired, in
// which case there is none. Failures of a banned prefix are counted in
// Stats but pending failures are dropped when the ban is made, so lines
// logged before the kernel dropped the attacker do not ban it again.
func (j *Jail) Fail(addr netip.Addr, t, now time.Time) (Ban, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	a := addr.Unmap().WithZone("")
	if !j.counts(a) {
		j.counter.Ignored++
		return Ban{}, false
	}
	if t.After(now) {
		t = now
	}
	cutoff := now.Add(-j.cfg.FindTime).UnixMilli()
	at := t.UnixMilli()
	if at <= cutoff {
		j.counter.Stale++
		return Ban{}, false
	}
	j.counter.TotalFailed++
	p := j.ownPrefix(a)
	k := keyOf(p)
	if j.bans.covers(a, k) || j.fails.add(k, at, cutoff) < j.cfg.MaxRetry {
		return Ban{}, false
	}
	j.fails.remove(k)
	return j.logBan(p, k, at, now)
}

// logBan bans p (with key k) for failures found in logs, the last at at
// (Unix ms): for how long depends on how often p was banned before. A ban
// over by now is not made.
func (j *Jail) logBan(p netip.Prefix, k key, at int64, now time.Time) (Ban, bool) {
	n := j.priorBans(p) + 1
	r := banRec{start: at, count: int32(n)}
	if d := j.cfg.banDuration(n); d >= 0 {
		r.expires = at + d.Milliseconds()
		if r.expires <= now.UnixMilli() {
			return Ban{}, false
		}
	}
	j.bans.put(k, r)
	j.counter.TotalBanned++
	return j.toBan(k, r), true
}

// Ban bans p by hand for d, or for the jail's ban time (with increments)
// when d is zero; negative d is permanent. A p of a single address is
// grouped like a failing source (IPv6 by V6Prefix); a wider prefix is
// banned as given. If p is banned already, its ban is given the new
// duration from now, keeping its start and count. Ban refuses (ErrIgnored)
// a p covering an ignored address, since banning it would ban the host
// itself or everyone behind a gateway.
func (j *Jail) Ban(p netip.Prefix, d time.Duration, now time.Time) (Ban, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	c, ok := canonicalPrefix(p)
	if !ok {
		return Ban{}, fmt.Errorf("could not ban %v: not a valid address or prefix", p)
	}
	if isHost(c) {
		c = j.ownPrefix(c.Addr())
	}
	if j.ignore.overlaps(c) {
		return Ban{}, fmt.Errorf("could not ban %v: %w", c, ErrIgnored)
	}
	k := keyOf(c)
	at := now.UnixMilli()
	r, exists := j.bans.get(k)
	if !exists {
		r = banRec{start: at, count: int32(j.priorBans(c) + 1)}
		j.counter.TotalBanned++
	}
	if d == 0 {
		d = j.cfg.banDuration(int(r.count))
	}
	r.manual = true
	r.expires = 0
	if d > 0 {
		r.expires = at + min(d, Longest).Milliseconds()
	}
	j.bans.put(k, r)
	j.fails.remove(k)
	return j.toBan(k, r), nil
}

// Unban lifts every ban covering an address of p and forgets p's pending
// failures; it returns the lifted bans. Unbanning one address of a banned
// IPv6 /64 lifts the /64.
func (j *Jail) Unban(p netip.Prefix) []Ban {
	j.mu.Lock()
	defer j.mu.Unlock()
	c, ok := canonicalPrefix(p)
	if !ok {
		return nil
	}
	var lifted []Ban
	lift := func(k key) {
		if r, ok := j.bans.remove(k); ok {
			lifted = append(lifted, j.toBan(k, r))
		}
	}
	if isHost(c) {
		own := keyOf(j.ownPrefix(c.Addr()))
		lift(own)
		j.fails.remove(own)
		for k := range j.bans.wide {
			if k.prefix().Contains(c.Addr()) {
				lift(k)
			}
		}
		return lifted
	}
	for k := range j.bans.byKey {
		if k.prefix().Overlaps(c) {
			lift(k)
		}
	}
	j.fails.removeWhere(func(s *slot) bool { return s.key.prefix().Overlaps(c) })
	return lifted
}

// Expire removes and returns the bans expired at now, and forgets the
// prefixes whose failures all left the window. Call it periodically (every
// second or so): it costs a few nanoseconds per tracked prefix.
func (j *Jail) Expire(now time.Time) []Ban {
	j.mu.Lock()
	defer j.mu.Unlock()
	var expired []Ban
	j.bans.expire(now.UnixMilli(), func(k key, r banRec) {
		expired = append(expired, j.toBan(k, r))
	})
	j.fails.expire(now.Add(-j.cfg.FindTime).UnixMilli())
	return expired
}

// Banned returns the current bans, sorted by prefix (IPv4 first).
func (j *Jail) Banned() []Ban {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]Ban, 0, j.bans.len())
	for k, r := range j.bans.byKey {
		out = append(out, j.toBan(k, r))
	}
	slices.SortFunc(out, func(a, b Ban) int {
		return cmp.Or(a.Prefix.Addr().Compare(b.Prefix.Addr()), cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()))
	})
	return out
}

// Stats returns the jail's counters.
func (j *Jail) Stats() Stats {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := j.counter
	s.CurrentlyFailed = j.fails.len()
	s.CurrentlyBanned = j.bans.len()
	s.Evicted = j.fails.evicted
	return s
}

// Restore puts back bans saved before a restart. It drops (and returns
// apart, for the caller to delete from its store) those of another jail,
// with an invalid prefix, expired at now, or covering an address that is
// ignored now; when two bans have the same prefix the longer one is kept.
// Restored bans do not count in TotalBanned.
func (j *Jail) Restore(bans []Ban, now time.Time) (restored, dropped []Ban) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, b := range bans {
		p, ok := canonicalPrefix(b.Prefix)
		if !ok || b.Jail != j.cfg.Name || (!b.Permanent() && !b.Expires.After(now)) || j.ignore.overlaps(p) {
			dropped = append(dropped, b)
			continue
		}
		k := keyOf(p)
		r := banRec{start: b.Start.UnixMilli(), count: int32(min(max(b.Count, 1), math.MaxInt32)), manual: b.Origin == OriginManual}
		if !b.Permanent() {
			r.expires = b.Expires.UnixMilli()
		}
		if old, ok := j.bans.get(k); ok && outlasts(old, r) {
			dropped = append(dropped, b)
			continue
		}
		j.bans.put(k, r)
		j.fails.remove(k)
		restored = append(restored, j.toBan(k, r))
	}
	return restored, dropped
}

// outlasts reports whether ban a lasts at least as long as b.
func outlasts(a, b banRec) bool {
	return a.expires == 0 || (b.expires != 0 && a.expires >= b.expires)
}

// SetIgnore replaces the caller's ignore entries (the built-in ones stay),
// e.g. when the host's or Docker's gateway addresses change. Bans covering
// a now ignored address are lifted and returned, for the caller to remove
// from the kernel and the store; pending failures of such prefixes are
// forgotten.
func (j *Jail) SetIgnore(prefixes []netip.Prefix) ([]Ban, error) {
	ignore, bad, ok := newIgnoreList(prefixes)
	if !ok {
		return nil, fmt.Errorf("could not set the ignore list of jail %q: invalid entry %v", j.cfg.Name, bad)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.ignore = ignore
	var lifted []Ban
	for k := range j.bans.byKey {
		if ignore.overlaps(k.prefix()) {
			r, _ := j.bans.remove(k)
			lifted = append(lifted, j.toBan(k, r))
		}
	}
	j.fails.removeWhere(func(s *slot) bool { return ignore.overlaps(s.key.prefix()) })
	return lifted, nil
}

// Ignored reports whether failures of addr are ignored.
func (j *Jail) Ignored(addr netip.Addr) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return !j.counts(addr.Unmap().WithZone(""))
}

// counts reports whether failures of a (unmapped, unzoned) count.
func (j *Jail) counts(a netip.Addr) bool {
	return a.IsValid() && !j.ignore.contains(a)
}

// ownPrefix returns the prefix the source a (unmapped, unzoned) is counted
// and banned by. An IPv6 source whose group holds an ignored address (the
// host's own, a gateway) is counted alone, as its /128: banning the group
// would ban the ignored address too.
func (j *Jail) ownPrefix(a netip.Addr) netip.Prefix {
	p := Normalize(a, j.cfg.V6Prefix)
	if !isHost(p) && j.ignore.overlaps(p) {
		return netip.PrefixFrom(a, 128)
	}
	return p
}

// standard reports whether p is the prefix its own addresses are banned by
// (save for the /128 exception of ownPrefix).
func (j *Jail) standard(p netip.Prefix) bool {
	if p.Addr().Is4() {
		return p.Bits() == 32
	}
	return p.Bits() == j.cfg.V6Prefix
}

// priorBans returns how often p was banned before (within what a ban's
// count can hold).
func (j *Jail) priorBans(p netip.Prefix) int {
	if j.history == nil {
		return 0
	}
	return min(max(j.history.BanCount(p), 0), math.MaxInt32-1)
}

// toBan converts a ban record to a Ban.
func (j *Jail) toBan(k key, r banRec) Ban {
	b := Ban{
		Jail:   j.cfg.Name,
		Prefix: k.prefix(),
		Start:  time.UnixMilli(r.start).UTC(),
		Count:  int(r.count),
		Origin: OriginLog,
	}
	if r.expires != 0 {
		b.Expires = time.UnixMilli(r.expires).UTC()
	}
	if r.manual {
		b.Origin = OriginManual
	}
	return b
}
