package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// Names in table inet seawall (docs/containers.md).
const (
	tableName = "seawall"
	mapName   = "ctr_in_v4"
)

// nftJump is NFT_JUMP, the verdict code of "jump CHAIN".
const nftJump = 0xfffffffd

// transition is a change of one address in the map, as a poll saw it:
// at is the wall time (ns) the dump that first showed the change returned,
// prev the wall time the dump before it was sent. The change happened
// between the two. chain is the jump target, "" when the address left.
type transition struct {
	at, prev int64
	chain    string
}

// mapWatch polls the elements of map ctr_in_v4 in the lab's host namespace
// through one netlink socket, and records every address's comings and
// goings. It only reads.
type mapWatch struct {
	conn  *nftables.Conn
	nsFD  int
	set   *nftables.Set
	every time.Duration

	mu      sync.Mutex
	present map[netip.Addr]string     // addresses in the map, as far as the polls know
	missing map[netip.Addr]transition // present, but the last dump lacked them
	skipped int                       // addresses a single dump missed
	history map[netip.Addr][]transition
	polls   int
	torn    int             // dumps thrown away because a commit fell inside
	dumps   []time.Duration // duration of every dump
	gaps    []time.Duration // time between the starts of consecutive dumps
	lastErr error
	errs    int
	started bool
}

// openNetlink opens a lasting nftables netlink socket in the network
// namespace at path. Like internal/nft.OpenNS it refuses the caller's own
// namespace and the root's (so a mistake can never aim at the machine's
// firewall), and keeps its own duplicate of the descriptor, never 0.
func openNetlink(path string) (*nftables.Conn, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, -1, err
	}
	defer f.Close()
	var st, self, root unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, -1, err
	}
	if err := unix.Stat("/proc/thread-self/ns/net", &self); err != nil {
		return nil, -1, err
	}
	if st.Dev == self.Dev && st.Ino == self.Ino {
		return nil, -1, fmt.Errorf("refusing %s: it is the caller's own network namespace", path)
	}
	// PID 1's namespace, where this process may see it (in some sandboxes
	// it may not: then the check above has to do).
	if unix.Stat("/proc/1/ns/net", &root) == nil && st.Dev == root.Dev && st.Ino == root.Ino {
		return nil, -1, fmt.Errorf("refusing %s: it is the root network namespace", path)
	}
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 3)
	runtime.KeepAlive(f)
	if err != nil {
		return nil, -1, err
	}
	c, err := nftables.New(nftables.WithNetNSFd(fd), nftables.AsLasting())
	if err != nil {
		unix.Close(fd)
		return nil, -1, fmt.Errorf("netlink socket in %s: %w", path, err)
	}
	return c, fd, nil
}

func newMapWatch(nsPath string, every time.Duration) (*mapWatch, error) {
	c, fd, err := openNetlink(nsPath)
	if err != nil {
		return nil, err
	}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: tableName}
	return &mapWatch{
		conn: c, nsFD: fd, every: every,
		set:     &nftables.Set{Table: t, Name: mapName, KeyType: nftables.TypeIPAddr, IsMap: true, DataType: nftables.TypeVerdict},
		present: map[netip.Addr]string{},
		missing: map[netip.Addr]transition{},
		history: map[netip.Addr][]transition{},
	}, nil
}

func (w *mapWatch) close() {
	w.conn.CloseLasting()
	unix.Close(w.nsFD)
}

// tableExists reports whether table inet seawall is there.
func (w *mapWatch) tableExists() (bool, error) {
	ts, err := w.conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, err
	}
	for _, t := range ts {
		if t.Name == tableName {
			return true, nil
		}
	}
	return false, nil
}

// errTorn means a transaction committed while the map was being dumped.
var errTorn = errors.New("the map changed during the dump")

// dump reads the map once: address → jump target. A map of more than a
// hundred or so elements comes in several netlink messages, and a
// transaction that commits in between (seawall flushes and refills the
// map) would leave the dump torn: some addresses missing. So the
// nftables generation is read before and after, and a dump across a
// commit is refused with errTorn.
func (w *mapWatch) dump() (map[netip.Addr]string, error) {
	g0, err := w.conn.GetGen()
	if err != nil {
		return nil, err
	}
	els, err := w.conn.GetSetElements(w.set)
	if err != nil {
		return nil, err
	}
	g1, err := w.conn.GetGen()
	if err != nil {
		return nil, err
	}
	if g0.ID != g1.ID {
		return nil, errTorn
	}
	out := make(map[netip.Addr]string, len(els))
	for _, e := range els {
		a, ok := netip.AddrFromSlice(e.Key)
		if !ok {
			continue
		}
		out[a] = jumpTarget(e.Val)
	}
	return out, nil
}

// jumpTarget decodes an element's verdict data (the nested attributes of
// NFTA_DATA_VERDICT: NFTA_VERDICT_CODE, NFTA_VERDICT_CHAIN) into the
// target chain of a jump, or "?" for anything else.
func jumpTarget(b []byte) string {
	var code uint32
	var chain string
	haveCode := false
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) & 0x3fff
		if l < 4 || l > len(b) {
			break
		}
		data := b[4:l]
		switch typ {
		case 1: // NFTA_VERDICT_CODE
			if len(data) == 4 {
				code, haveCode = binary.BigEndian.Uint32(data), true
			}
		case 2: // NFTA_VERDICT_CHAIN
			chain = string(data)
			if i := slices.Index(data, 0); i >= 0 {
				chain = string(data[:i])
			}
		}
		l = (l + 3) &^ 3
		if l > len(b) {
			break
		}
		b = b[l:]
	}
	if !haveCode || code != nftJump || chain == "" {
		return "?"
	}
	return chain
}

// run polls until ctx ends, about every w.every.
func (w *mapWatch) run(ctx context.Context) {
	prevStart := time.Now().UnixNano()
	var lastStart time.Time
	for ctx.Err() == nil {
		start := time.Now()
		m, err := w.dump()
		end := time.Now()
		w.mu.Lock()
		w.polls++
		w.dumps = append(w.dumps, end.Sub(start))
		if !lastStart.IsZero() {
			w.gaps = append(w.gaps, start.Sub(lastStart))
		}
		lastStart = start
		switch {
		case errors.Is(err, errTorn):
			// Try again at once; the last good dump still stands.
			w.torn++
			w.mu.Unlock()
			continue
		case err != nil:
			// The table is replaced as a whole on a full re-apply; a dump
			// can fail in between. Count it, keep the last state.
			w.errs++
			w.lastErr = err
		default:
			w.update(m, end.UnixNano(), prevStart)
			w.started = true
			prevStart = start.UnixNano()
		}
		w.mu.Unlock()
		if d := w.every - time.Since(start); d > 0 {
			time.Sleep(d)
		}
	}
}

// update records the differences between the last dump and m. Called with
// w.mu held.
//
// An address counts as gone only when two dumps in a row lack it (it
// leaves at the first of them): now and then one dump of a map of some
// hundred elements misses a few that the dumps before and after hold,
// although no transaction committed in between (the kernel's walk of a
// hash table that is being resized may skip entries). Such misses are
// counted, not recorded. A dump can miss an element, but never invent
// one, so appearances count at once.
func (w *mapWatch) update(m map[netip.Addr]string, at, prev int64) {
	for a, chain := range m {
		if _, ok := w.missing[a]; ok {
			delete(w.missing, a)
			w.skipped++
		}
		if old, ok := w.present[a]; !ok || old != chain {
			w.history[a] = append(w.history[a], transition{at: at, prev: prev, chain: chain})
			w.present[a] = chain
		}
	}
	for a := range w.present {
		if _, ok := m[a]; ok {
			continue
		}
		if tr, ok := w.missing[a]; ok {
			w.history[a] = append(w.history[a], tr)
			delete(w.present, a)
			delete(w.missing, a)
			continue
		}
		w.missing[a] = transition{at: at, prev: prev}
	}
}

// ready waits for the first successful dump.
func (w *mapWatch) ready(ctx context.Context, timeout time.Duration) error {
	return waitFor(ctx, timeout, time.Millisecond, func() (bool, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.started, nil
	}, "the first dump of map "+mapName)
}

// stateAt returns the jump target of a at wall time t ("" if absent), as
// far as the polls know.
func (w *mapWatch) stateAt(a netip.Addr, t int64) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	state := ""
	for _, tr := range w.history[a] {
		if tr.at > t {
			break
		}
		state = tr.chain
	}
	return state
}

// firstAfter returns the first transition of a after wall time t into
// target chain ("" = gone), if there is one yet.
func (w *mapWatch) firstAfter(a netip.Addr, t int64, chain string) (transition, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, tr := range w.history[a] {
		if tr.at > t && tr.chain == chain {
			return tr, true
		}
	}
	return transition{}, false
}

// waitTransition waits until a moves into chain ("" = leaves the map)
// after wall time t, and returns that transition.
func (w *mapWatch) waitTransition(ctx context.Context, a netip.Addr, t int64, chain string, timeout time.Duration) (transition, error) {
	var tr transition
	what := fmt.Sprintf("%s to jump to %s in map %s", a, chain, mapName)
	if chain == "" {
		what = fmt.Sprintf("%s to leave map %s", a, mapName)
	}
	err := waitFor(ctx, timeout, time.Millisecond, func() (bool, error) {
		var ok bool
		tr, ok = w.firstAfter(a, t, chain)
		return ok, nil
	}, what)
	return tr, err
}

// count returns how many addresses the last dump held, and how many of
// them jump to chain.
func (w *mapWatch) count(chain string) (all, to int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.present {
		if c == chain {
			to++
		}
	}
	return len(w.present), to
}

// pollStats are the poller's counters.
type pollStats struct {
	polls, errs, torn, skipped int
	dumps, gaps                []time.Duration
	lastErr                    error
}

func (w *mapWatch) stats() pollStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return pollStats{polls: w.polls, errs: w.errs, torn: w.torn, skipped: w.skipped,
		dumps: slices.Clone(w.dumps), gaps: slices.Clone(w.gaps), lastErr: w.lastErr}
}

// errTimeout is returned by waitFor when the condition did not hold in
// time.
var errTimeout = errors.New("timed out")

// waitFor polls cond every interval until it holds, fails, ctx ends or
// timeout passes.
func waitFor(ctx context.Context, timeout, interval time.Duration, cond func() (bool, error), what string) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: %w after %v", what, errTimeout, timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(interval):
		}
	}
}
