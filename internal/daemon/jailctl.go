package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/seawall/seawall/internal/control"
	"github.com/seawall/seawall/internal/jail"
	"github.com/seawall/seawall/internal/policy"
)

// The control socket's handler (internal/control): what `seawall jails`,
// `bans`, `ban` and `unban` ask the daemon.

// Jails returns every running jail's status.
func (e *banEngine) Jails() []control.JailStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []control.JailStatus
	for _, r := range e.runners {
		st := r.jail.Stats()
		pj := r.pol
		js := control.JailStatus{
			Name: pj.Name, Filter: pj.Filter, Scope: pj.Scope.String(), MaxRetry: pj.MaxRetry,
			FindTime: policy.FormatDuration(pj.FindTime), BanTime: policy.FormatDuration(pj.BanTime),
			CurrentlyFailed: st.CurrentlyFailed, TotalFailed: st.TotalFailed,
			CurrentlyBanned: st.CurrentlyBanned, TotalBanned: st.TotalBanned,
			Ignored: st.Ignored, Evicted: st.Evicted, Banned: []string{},
		}
		if pj.Filter == "" {
			js.Filter = "match"
		}
		if pj.Permanent {
			js.BanTime = "permanent"
		}
		for _, s := range r.sources {
			s.mu.Lock()
			js.Logs = append(js.Logs, control.Source{Name: s.name, Lines: s.lines.Load(), Failures: s.failures.Load(), Error: s.err})
			s.mu.Unlock()
		}
		for _, b := range r.jail.Banned() {
			js.Banned = append(js.Banned, b.Prefix.String())
		}
		out = append(out, js)
	}
	slices.SortFunc(out, func(a, b control.JailStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Bans returns every current ban, by jail.
func (e *banEngine) Bans() []control.Ban {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []control.Ban{}
	names := make([]string, 0, len(e.runners))
	for n := range e.runners {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		for _, b := range e.runners[n].jail.Banned() {
			out = append(out, toControl(b))
		}
	}
	return out
}

// targets returns the runners a request names: one jail, or all.
func (e *banEngine) targets(name string) ([]*runner, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if name != "" {
		r := e.runners[name]
		if r == nil {
			names := make([]string, 0, len(e.runners))
			for n := range e.runners {
				names = append(names, n)
			}
			slices.Sort(names)
			return nil, fmt.Errorf("no jail %q runs (jails: %s)", name, strings.Join(names, ", "))
		}
		return []*runner{r}, nil
	}
	if len(e.runners) == 0 {
		return nil, errors.New("the policy has no jails")
	}
	out := make([]*runner, 0, len(e.runners))
	for _, r := range e.runners {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *runner) int { return strings.Compare(a.pol.Name, b.pol.Name) })
	return out, nil
}

// Ban bans an address by hand in one jail or all, and returns once the
// bans are in the kernel.
func (e *banEngine) Ban(req control.BanRequest) ([]control.Ban, error) {
	addr, err := netip.ParseAddr(req.Addr)
	if err != nil {
		return nil, fmt.Errorf("%q is not an IP address (seawall ban takes one address; IPv6 addresses are banned by their /64; for ranges use a set in the policy)", req.Addr)
	}
	var d time.Duration
	switch req.For {
	case "":
	case "permanent":
		d = -1
	default:
		if d, err = policy.ParseDuration(req.For); err != nil {
			return nil, err
		}
		if d <= 0 {
			return nil, fmt.Errorf("invalid duration %q: want a positive duration or permanent", req.For)
		}
	}
	runners, err := e.targets(req.Jail)
	if err != nil {
		return nil, err
	}
	addr = addr.Unmap().WithZone("")
	now := e.d.cfg.Clock()
	var ops []banOp
	var out []control.Ban
	for _, r := range runners {
		existed := slices.ContainsFunc(r.jail.Banned(), func(b jail.Ban) bool { return b.Prefix.Contains(addr) })
		b, err := r.jail.Ban(netip.PrefixFrom(addr, addr.BitLen()), d, now)
		if err != nil {
			return out, fmt.Errorf("jail %s: %w", r.pol.Name, err)
		}
		ops = append(ops, banOp{ban: b, add: true, del: existed})
		out = append(out, toControl(b))
	}
	e.queue(ops...)
	e.flush()
	return out, nil
}

// Unban lifts the bans covering an address (or prefix) in one jail or all.
func (e *banEngine) Unban(req control.UnbanRequest) ([]control.Ban, error) {
	p, err := netip.ParsePrefix(req.Addr)
	if err != nil {
		a, aerr := netip.ParseAddr(req.Addr)
		if aerr != nil {
			return nil, fmt.Errorf("%q is not an IP address or prefix", req.Addr)
		}
		a = a.Unmap().WithZone("")
		p = netip.PrefixFrom(a, a.BitLen())
	}
	runners, err := e.targets(req.Jail)
	if err != nil {
		return nil, err
	}
	var ops []banOp
	out := []control.Ban{}
	for _, r := range runners {
		for _, b := range r.jail.Unban(p) {
			ops = append(ops, banOp{ban: b, del: true})
			out = append(out, toControl(b))
		}
	}
	e.queue(ops...)
	e.flush()
	return out, nil
}
