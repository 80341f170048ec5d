package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/seawall/seawall/bench/internal/benchrun"
)

// attackerAddrs returns n distinct IPv4 addresses from 20.0.0.0/7 (plain
// unicast, in no range a ban engine ignores), no two adjacent (so that an
// interval set cannot merge them into ranges), in random order. The same
// seed gives the same addresses.
func attackerAddrs(n int, seed uint64) []netip.Addr {
	const base = 20 << 24
	rng := rand.New(rand.NewPCG(seed, 0xa77ac4e5))
	seen := make(map[uint32]struct{}, n)
	out := make([]netip.Addr, 0, n)
	for len(out) < n {
		v := base + 2*rng.Uint32N(1<<24) // even addresses of 20.0.0.0-21.255.255.254
		if _, dup := seen[v]; dup || v&0xff == 0 {
			continue
		}
		seen[v] = struct{}{}
		out = append(out, netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}))
	}
	return out
}

// burstResult is one burst: every attacker's maxretry lines appended in
// one write, until every attacker is in the kernel set.
type burstResult struct {
	attackers, lines int
	wait             allResult
	elapsed          time.Duration // write -> the poll that saw all of them
	firstBan         time.Duration // write -> the poll that saw the first one
	mem              memInfo       // the engine's memory once all were in
	memSettled       memInfo       // and after -settle
	warmup           time.Duration
	wrote            time.Time // just before the write
}

// rate is bans per second over the whole burst.
func (r *burstResult) rate() float64 { return float64(r.attackers) / r.elapsed.Seconds() }

// rateBetween is bans per second while the set went from a fraction lo
// to hi of the attackers (0 when the polls cannot tell).
func (r *burstResult) rateBetween(lo, hi float64) float64 {
	from, ok1 := r.wait.reached(int(math.Ceil(lo * float64(r.attackers))))
	to, ok2 := r.wait.reached(int(math.Ceil(hi * float64(r.attackers))))
	if lo == 0 {
		from, ok1 = r.wrote, true
	}
	if !ok1 || !ok2 || !to.After(from) {
		return 0
	}
	return (hi - lo) * float64(r.attackers) / to.Sub(from).Seconds()
}

// burst appends maxretry failure lines for every address at once and
// waits until all of them are in the engine's set, then reads the
// engine's memory (at once, and after settle).
func (b *bench) burst(ctx context.Context, e *engine, addrs []netip.Addr, settle time.Duration) (*burstResult, error) {
	r := &burstResult{attackers: len(addrs), lines: len(addrs) * b.eo.maxretry, warmup: e.warmup}
	benchrun.Status("%s: %d attackers, %d lines in one write; waiting until all are in set %s", e.tool, len(addrs), r.lines, e.set.name())
	wrote, err := e.appendFailures(addrs, b.eo.maxretry)
	if err != nil {
		return r, err
	}
	r.wrote = wrote
	r.wait, err = e.set.waitAll(ctx, addrs, wrote, waitOpts{every: b.eo.every, timeout: b.o.timeout, stall: b.o.stall, alive: e.alive})
	if err != nil {
		return r, err
	}
	r.elapsed = r.wait.all.seen.Sub(wrote)
	r.firstBan = r.wait.first.seen.Sub(wrote)
	if r.mem, err = e.proc.memory(e.exe); err != nil {
		return r, err
	}
	if settle > 0 {
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(settle):
		}
		if r.memSettled, err = e.proc.memory(e.exe); err != nil {
			return r, err
		}
		if err := e.alive(); err != nil {
			return r, err
		}
	}
	return r, nil
}

// latencyResult is the time from the line that completes a ban to the
// address in the kernel set, per ban.
type latencyResult struct {
	upper   []time.Duration // write -> the poll that saw it (what is reported)
	lower   []time.Duration // write -> the last poll that did not see it
	windows []time.Duration // upper - lower: how uncertain each sample is
	polls   int
	warmup  time.Duration
}

// latency bans the addresses one at a time: for each, it writes
// maxretry-1 failure lines, pauses for gap (so that the engine is idle and
// has counted them), checks that the address is not banned yet, then
// writes the line that completes the ban and polls the set every
// b.o.poll until the address is there.
func (b *bench) latency(ctx context.Context, e *engine, addrs []netip.Addr, gap time.Duration) (*latencyResult, error) {
	r := &latencyResult{warmup: e.warmup}
	pause := func() error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(gap):
			return nil
		}
	}
	for i, a := range addrs {
		benchrun.Status("%s: ban latency %d/%d", e.tool, i+1, len(addrs))
		if b.eo.maxretry > 1 {
			if _, err := e.appendFailures([]netip.Addr{a}, b.eo.maxretry-1); err != nil {
				return r, err
			}
		}
		if err := pause(); err != nil {
			return r, err
		}
		if banned, err := e.set.has(a); err != nil {
			return r, err
		} else if banned {
			return r, fmt.Errorf("%s banned %s after %d lines, before the maxretry-th (%d)", e.tool, a, b.eo.maxretry-1, b.eo.maxretry)
		}
		wrote, err := e.appendFailures([]netip.Addr{a}, 1)
		if err != nil {
			return r, err
		}
		res, err := e.set.waitAll(ctx, []netip.Addr{a}, wrote, waitOpts{every: b.o.poll, timeout: b.o.latencyTimeout, alive: e.alive})
		if err != nil {
			return r, fmt.Errorf("ban %d of %d: %w", i+1, len(addrs), err)
		}
		r.polls += res.polls
		r.upper = append(r.upper, res.all.seen.Sub(wrote))
		r.lower = append(r.lower, res.all.before.Sub(wrote))
		r.windows = append(r.windows, res.all.window())
	}
	return r, nil
}
