package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/seawall/seawall/bench/internal/benchns"
)

// setReader reads the addresses of one set in an inet table of a
// benchmark namespace, through one lasting netlink socket. It only reads.
type setReader struct {
	conn  *nftables.Conn
	set   *nftables.Set
	close func()
}

func newSetReader(ns *benchns.NS, table, set string) (*setReader, error) {
	c, closeConn, err := ns.Nftables()
	if err != nil {
		return nil, err
	}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: table}
	return &setReader{conn: c, set: &nftables.Set{Table: t, Name: set}, close: closeConn}, nil
}

// name is "table/set", for messages.
func (r *setReader) name() string { return "inet " + r.set.Table.Name + " " + r.set.Name }

// errNoSet means the set (or its table) does not exist (yet).
var errNoSet = errors.New("no such set")

// addrs dumps the set once and returns its addresses. The end markers of
// an interval set are skipped, so that an address counts once whatever
// the set's flags.
//
// There is no generation check: a dump that a commit interrupts may miss
// elements, but never invents one, and every caller waits for addresses
// to be present; a torn dump only delays that by one poll.
func (r *setReader) addrs() (map[netip.Addr]struct{}, error) {
	els, err := r.conn.GetSetElements(r.set)
	if errors.Is(err, unix.ENOENT) {
		return nil, errNoSet
	}
	if err != nil {
		return nil, fmt.Errorf("could not list set %s: %w", r.name(), err)
	}
	out := make(map[netip.Addr]struct{}, len(els))
	for _, e := range els {
		if e.IntervalEnd {
			continue
		}
		if a, ok := netip.AddrFromSlice(e.Key); ok {
			out[a] = struct{}{}
		}
	}
	return out, nil
}

// exists reports whether the set is there.
func (r *setReader) exists() (bool, error) {
	_, err := r.addrs()
	if errors.Is(err, errNoSet) {
		return false, nil
	}
	return err == nil, err
}

// arrival is when a poll first saw a state: seen is when the dump that
// showed it returned, before when the last dump that did not show it was
// sent. The state came about between the two.
type arrival struct {
	seen, before time.Time
}

// window is how uncertain the arrival time is.
func (a arrival) window() time.Duration { return a.seen.Sub(a.before) }

// waitOpts say how to wait for addresses.
type waitOpts struct {
	every   time.Duration // pause between dumps
	timeout time.Duration // overall limit
	stall   time.Duration // limit without progress (0: none)
	alive   func() error  // fails when the engine has died
}

// allResult is what waitAll saw.
type allResult struct {
	all, first arrival // all wanted addresses present; the first of them present
	polls      int
	maxDump    time.Duration
	progress   []mark // every poll that saw more of them than the one before
}

// mark is how many of the wanted addresses a poll saw, and when it
// returned.
type mark struct {
	at time.Time
	n  int
}

// reached returns when the polls first saw at least n addresses.
func (r allResult) reached(n int) (time.Time, bool) {
	for _, m := range r.progress {
		if m.n >= n {
			return m.at, true
		}
	}
	return time.Time{}, false
}

// waitAll polls the set until every address of want is in it, from
// start (just before the lines that cause them were written).
func (r *setReader) waitAll(ctx context.Context, want []netip.Addr, start time.Time, o waitOpts) (allResult, error) {
	var res allResult
	before := start
	best, lastProgress := 0, start
	for {
		sent := time.Now()
		got, err := r.addrs()
		done := time.Now()
		res.polls++
		res.maxDump = max(res.maxDump, done.Sub(sent))
		if err != nil && !errors.Is(err, errNoSet) {
			return res, err
		}
		n := 0
		for _, a := range want {
			if _, ok := got[a]; ok {
				n++
			}
		}
		if n > 0 && res.first.seen.IsZero() {
			res.first = arrival{seen: done, before: before}
		}
		if n > 0 && (len(res.progress) == 0 || n > res.progress[len(res.progress)-1].n) {
			res.progress = append(res.progress, mark{at: done, n: n})
		}
		if n == len(want) {
			res.all = arrival{seen: done, before: before}
			return res, nil
		}
		if n > best {
			best, lastProgress = n, done
		}
		switch {
		case done.Sub(start) > o.timeout:
			return res, fmt.Errorf("%d of %d addresses in set %s after %v: timed out", n, len(want), r.name(), o.timeout)
		case o.stall > 0 && done.Sub(lastProgress) > o.stall:
			return res, fmt.Errorf("%d of %d addresses in set %s, and no progress for %v: stalled", n, len(want), r.name(), o.stall)
		}
		if o.alive != nil {
			if err := o.alive(); err != nil {
				return res, err
			}
		}
		before = sent
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(o.every):
		}
	}
}

// waitOne polls the set until a is in it; start is when the line that
// completes its ban was written.
func (r *setReader) waitOne(ctx context.Context, a netip.Addr, start time.Time, o waitOpts) (arrival, error) {
	res, err := r.waitAll(ctx, []netip.Addr{a}, start, o)
	return res.all, err
}

// has reports whether a is in the set now.
func (r *setReader) has(a netip.Addr) (bool, error) {
	got, err := r.addrs()
	if errors.Is(err, errNoSet) {
		return false, nil
	}
	_, ok := got[a]
	return ok, err
}
