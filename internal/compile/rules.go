package compile

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/seawall/seawall/internal/policy"
	"github.com/seawall/seawall/internal/ruleset"
)

// l4 is what a rule's services ask of the transport layer: a protocol
// (0 = any), optional ports, and the family the protocol exists in.
type l4 struct {
	proto  uint8
	ports  []ruleset.PortRange
	family ruleset.Family
}

func (s l4) matches() []ruleset.Match {
	switch {
	case s.proto == 0:
		return nil
	case len(s.ports) > 0:
		return []ruleset.Match{ruleset.Port{Proto: s.proto, Dir: ruleset.Dst, Ranges: s.ports}}
	}
	return []ruleset.Match{ruleset.L4Proto{Proto: s.proto}}
}

// l4specs merges a rule's services into one spec per protocol: "allow:
// [http, https]" becomes one rule "tcp dport { 80, 443 }".
func l4specs(services []policy.Service) []l4 {
	type acc struct {
		all   bool
		ports []ruleset.PortRange
	}
	byProto := map[uint8]*acc{}
	var order []uint8
	note := func(proto uint8, pp []policy.PortRange) {
		a := byProto[proto]
		if a == nil {
			a = &acc{}
			byProto[proto] = a
			order = append(order, proto)
		}
		if len(pp) == 0 {
			a.all = true
		}
		for _, p := range pp {
			a.ports = append(a.ports, ruleset.PortRange{First: p.First, Last: p.Last})
		}
	}
	for _, s := range services {
		for _, pp := range s.Ports {
			switch pp.Proto {
			case policy.ProtoAny:
				return []l4{{}}
			case policy.ProtoTCP:
				note(ruleset.ProtoTCP, pp.Ports)
			case policy.ProtoUDP:
				note(ruleset.ProtoUDP, pp.Ports)
			case policy.ProtoICMP:
				note(ruleset.ProtoICMP, nil)
				note(ruleset.ProtoICMPv6, nil)
			case policy.ProtoICMPv4:
				note(ruleset.ProtoICMP, nil)
			case policy.ProtoICMPv6:
				note(ruleset.ProtoICMPv6, nil)
			}
		}
	}
	var out []l4
	for _, proto := range order {
		a := byProto[proto]
		s := l4{proto: proto}
		switch proto {
		case ruleset.ProtoICMP:
			s.family = ruleset.IPv4
		case ruleset.ProtoICMPv6:
			s.family = ruleset.IPv6
		}
		if !a.all {
			s.ports = mergePorts(a.ports)
		}
		out = append(out, s)
	}
	return out
}

func mergePorts(ps []ruleset.PortRange) []ruleset.PortRange {
	slices.SortFunc(ps, func(a, b ruleset.PortRange) int { return int(a.First) - int(b.First) })
	out := ps[:1]
	for _, p := range ps[1:] {
		cur := &out[len(out)-1]
		if int(p.First) <= int(cur.Last)+1 {
			cur.Last = max(cur.Last, p.Last)
			continue
		}
		out = append(out, p)
	}
	return out
}

// addrMatchers turns a from/to list into address matches per family. A nil
// map means "any address"; a family missing from a non-nil map means the
// list cannot match that family, so no rule is emitted for it. Literals of a
// family share one match; each group or set is a lookup in its kernel set.
// Groups are static, so a group with no entries of a family is left out;
// sets are dynamic (refreshed from files), so their lookups always stay.
func (c *compiler) addrMatchers(refs []policy.AddrRef, dir ruleset.Dir) map[ruleset.Family][]ruleset.Addr {
	if len(refs) == 0 {
		return nil
	}
	out := map[ruleset.Family][]ruleset.Addr{}
	var literals []netip.Prefix
	for _, r := range refs {
		switch r.Kind {
		case policy.Literal:
			literals = append(literals, r.Prefix)
		case policy.GroupRef:
			entries := c.p.ResolveGroup(r.Name)
			for _, f := range ruleset.Families {
				if len(ruleset.MergePrefixes(f, entries)) > 0 {
					out[f] = append(out[f], ruleset.Addr{Family: f, Dir: dir, Set: setName(r.Name, f)})
				}
			}
		case policy.SetRef:
			for _, f := range ruleset.Families {
				out[f] = append(out[f], ruleset.Addr{Family: f, Dir: dir, Set: setName(r.Name, f)})
			}
		case policy.ContainerRef, policy.DNSRef:
			// Filled at run time (containers come and go, names resolve
			// anew): like policy sets, their lookups always stay.
			name := selectorSet(r.Name)
			if r.Kind == policy.DNSRef {
				name = dnsSet(r.Name)
			}
			for _, f := range ruleset.Families {
				out[f] = append(out[f], ruleset.Addr{Family: f, Dir: dir, Set: setName(name, f)})
			}
		}
	}
	for _, f := range ruleset.Families {
		if rs := ruleset.MergePrefixes(f, literals); len(rs) > 0 {
			out[f] = append([]ruleset.Addr{{Family: f, Dir: dir, Ranges: rs}}, out[f]...)
		}
	}
	return out
}

// families lists the families a rule is emitted for, given its address
// matchers: FamilyAny when it names no addresses.
func families(ms ...map[ruleset.Family][]ruleset.Addr) []ruleset.Family {
	restricted := false
	for _, m := range ms {
		restricted = restricted || m != nil
	}
	if !restricted {
		return []ruleset.Family{ruleset.FamilyAny}
	}
	var out []ruleset.Family
	for _, f := range ruleset.Families {
		ok := true
		for _, m := range ms {
			if m != nil && len(m[f]) == 0 {
				ok = false
			}
		}
		if ok {
			out = append(out, f)
		}
	}
	return out
}

// orNil returns the family's matchers, or one "no condition" when the list
// does not restrict addresses.
func orNil(m map[ruleset.Family][]ruleset.Addr, f ruleset.Family) []*ruleset.Addr {
	if m == nil {
		return []*ruleset.Addr{nil}
	}
	var out []*ruleset.Addr
	for i := range m[f] {
		out = append(out, &m[f][i])
	}
	return out
}

// portForms returns the alternative match lists for a spec's ports. On a
// container's ingress a port is the one the client dials: a published
// port is matched on the connection's original destination (before
// Docker's DNAT), one rule per range (nft 1.0.6 cannot print anonymous sets
// of original ports); a direct connection (not DNATed) on its destination.
func (b *chainBuilder) portForms(s l4) [][]ruleset.Match {
	if !b.published || len(s.ports) == 0 {
		return [][]ruleset.Match{s.matches()}
	}
	var forms [][]ruleset.Match
	for _, r := range s.ports {
		forms = append(forms, []ruleset.Match{ruleset.DNATed{}, ruleset.OrigPort{Proto: s.proto, Range: r}})
	}
	return append(forms, append([]ruleset.Match{ruleset.DNATed{Neg: true}}, s.matches()...))
}

// variant is one kernel rule's worth of matches for a policy rule.
type variant struct {
	family ruleset.Family
	spec   l4
	ms     []ruleset.Match
}

// expand multiplies a rule out into kernel-rule variants: per family, per
// protocol, per source matcher, per destination matcher.
func (b *chainBuilder) expand(r *policy.Rule, withFrom bool) []variant {
	c := b.c
	var from map[ruleset.Family][]ruleset.Addr
	if withFrom {
		from = c.addrMatchers(r.From, ruleset.Src)
	}
	to := c.addrMatchers(r.To, ruleset.Dst)
	var out []variant
	for _, f := range families(from, to) {
		for _, spec := range l4specs(r.Services) {
			if f != ruleset.FamilyAny && spec.family != ruleset.FamilyAny && spec.family != f {
				continue
			}
			for _, src := range orNil(from, f) {
				for _, dst := range orNil(to, f) {
					var ms []ruleset.Match
					if r.Iface != "" {
						ms = append(ms, ruleset.Iface{Dir: b.iface, Name: r.Iface})
					}
					if src != nil {
						ms = append(ms, *src)
					}
					if dst != nil {
						ms = append(ms, *dst)
					}
					for _, form := range b.portForms(spec) {
						out = append(out, variant{family: f, spec: spec, ms: append(slices.Clone(ms), form...)})
					}
				}
			}
		}
	}
	return out
}

// userRule compiles one rule of the policy, in place.
func (b *chainBuilder) userRule(r *policy.Rule) {
	c := b.c
	what := fmt.Sprintf("%s[%d] %s", b.what, r.Index, r.Action)
	if r.Comment != "" {
		what += ": " + r.Comment
	}
	o := c.origin(r.Pos, what)
	logOn := r.Log == nil || *r.Log
	for _, v := range b.expand(r, true) {
		switch r.Action {
		case policy.Allow:
			if r.Limit != nil {
				b.limit(r, o, v)
			}
			if r.Log != nil && *r.Log {
				lr := c.logRule(o, fmt.Sprintf("seawall %s allow", b.dir), append([]ruleset.Match{ruleset.CtState{States: ruleset.CtNew}}, v.ms...)...)
				b.add(lr)
			}
			b.add(c.rule(o, b.allow, v.ms...))
		default:
			if logOn {
				b.add(c.logRule(o, fmt.Sprintf("seawall %s %s", b.dir, r.Action), v.ms...))
			}
			reject := r.Action == policy.Reject || (r.Action == policy.Deny && c.p.Host.Deny == policy.DenyReject)
			b.add(c.denyRules(o, reject, v.spec.proto, v.ms...)...)
		}
	}
	if r.Action == policy.Allow && len(r.From) > 0 && b.deny && b.name != ChainOutput {
		b.foreignRules(r)
	}
}

// foreignRules are placed after all user rules: a packet to a port that a
// rule allows only from some sources, from any other source, is denied and
// logged as "foreign" (the port is listening; the source is not trusted).
func (b *chainBuilder) foreignRules(r *policy.Rule) {
	c := b.c
	o := c.origin(r.Pos, fmt.Sprintf("%s[%d] foreign", b.what, r.Index))
	for _, v := range b.expand(r, false) {
		if v.spec.proto == 0 {
			continue // "allow any from X": nothing port-specific to report
		}
		b.foreign = appendRules(b.foreign, c.logRule(o, fmt.Sprintf("seawall %s foreign", b.dir), v.ms...))
		b.foreign = append(b.foreign, c.denyRules(o, c.p.Host.Deny == policy.DenyReject, v.spec.proto, v.ms...)...)
	}
}

// limit adds, before the rule's accept, a per-source meter of new
// connections: a source over the rate jumps to a chain that logs and denies.
// The kernel's limit (since Linux 5.x) lets a burst of Burst packets through
// and refills at Rate per Unit, so burst = rate means "the (rate+1)-th new
// connection within one unit is denied".
func (b *chainBuilder) limit(r *policy.Rule, o ruleset.Origin, v variant) {
	c := b.c
	unit := time.Duration(r.Limit.Unit.Seconds()) * time.Second
	chain := fmt.Sprintf("%s_limit_%d", b.dir, r.Index)
	if c.rs.Chain(chain) == nil {
		var rules []*ruleset.Rule
		rules = appendRules(rules, c.logRule(o, fmt.Sprintf("seawall %s limit", b.dir)))
		rules = append(rules, c.denyRules(o, c.p.Host.Deny == policy.DenyReject, v.spec.proto)...)
		c.rs.Chains = append(c.rs.Chains, &ruleset.Chain{Name: chain, Rules: rules})
	}
	fams := []ruleset.Family{v.family}
	if v.family == ruleset.FamilyAny {
		fams = ruleset.Families[:]
	}
	for _, f := range fams {
		set := setName(fmt.Sprintf("_%s_limit_%d", b.dir, r.Index), f)
		if c.rs.Set(set) == nil {
			c.rs.Sets = append(c.rs.Sets, &ruleset.Set{Name: set, Key: ruleset.AddrKey(f), Dynamic: true,
				Timeout: unit, Size: 65535, Origin: o})
		}
		ms := append([]ruleset.Match{ruleset.CtState{States: ruleset.CtNew}}, v.ms...)
		rule := c.rule(o, ruleset.Jump(chain), ms...)
		rule.Meter = &ruleset.Meter{Set: set, Family: f,
			Limit: ruleset.Limit{Rate: r.Limit.Count, Unit: unit, Burst: uint32(r.Limit.Count), Over: true}}
		b.add(rule)
	}
}

// redirects builds the nat chain: traffic to a port from sources the
// redirect selects is sent to another address (a honeypot).
func (c *compiler) redirects() {
	if len(c.p.Host.Redirects) == 0 {
		return
	}
	var rules []*ruleset.Rule
	for i, r := range c.p.Host.Redirects {
		o, f, proto := c.redirectTarget(i, r)
		// Only traffic addressed to the host itself: forwarded traffic (to
		// containers, or already DNATed by Docker at the same priority)
		// keeps its destination.
		base := []ruleset.Match{ruleset.LocalDst{}}
		if r.Iface != "" {
			base = append(base, ruleset.Iface{Dir: ruleset.Src, Name: r.Iface})
		}
		from := c.addrMatchers(r.From, ruleset.Src)
		if from != nil && len(from[f]) == 0 {
			continue // the sources it selects have no address of the target's family
		}
		base = append(base, c.notMatchers(r.NotFrom, f)...)
		base = append(base, ruleset.Port{Proto: proto, Dir: ruleset.Dst, Ranges: []ruleset.PortRange{{First: r.Port.Ports[0].First, Last: r.Port.Ports[0].First}}})
		v := ruleset.Verdict{Kind: ruleset.VerdictDNAT, To: r.To}
		for _, src := range orNil(from, f) {
			ms := slices.Clone(base)
			if src != nil {
				ms = append(ms[:1], append([]ruleset.Match{*src}, ms[1:]...)...)
			}
			if src == nil && len(r.NotFrom) == 0 {
				ms = append(ms[:1], append([]ruleset.Match{ruleset.NFProto{Family: f}}, ms[1:]...)...)
			}
			rules = append(rules, c.rule(o, v, ms...))
		}
	}
	c.rs.Chains = append(c.rs.Chains, &ruleset.Chain{
		Name:  ChainDNAT,
		Base:  &ruleset.Base{Type: ruleset.TypeNAT, Hook: ruleset.HookPrerouting, Priority: PrioDNAT, Policy: ruleset.Accept},
		Rules: rules,
	})
}

// notMatchers returns negated matches for a not_from list: the packet's
// source is in none of them.
func (c *compiler) notMatchers(refs []policy.AddrRef, f ruleset.Family) []ruleset.Match {
	var out []ruleset.Match
	for _, m := range c.addrMatchers(refs, ruleset.Src)[f] {
		m.Neg = true
		out = append(out, m)
	}
	if len(refs) > 0 && len(out) == 0 {
		// None of the listed sources has an address of this family:
		// still say which family the redirect applies to.
		out = append(out, ruleset.NFProto{Family: f})
	}
	return out
}

// redirectTarget returns a redirect's origin, the family of its target and
// its protocol number.
func (c *compiler) redirectTarget(i int, r *policy.Redirect) (ruleset.Origin, ruleset.Family, uint8) {
	o := c.origin(r.Pos, fmt.Sprintf("host.redirect[%d]", i))
	proto := ruleset.ProtoTCP
	if r.Port.Proto == policy.ProtoUDP {
		proto = ruleset.ProtoUDP
	}
	return o, familyOf(r.To.Addr()), proto
}

func familyOf(a netip.Addr) ruleset.Family {
	if a.Is4() {
		return ruleset.IPv4
	}
	return ruleset.IPv6
}

func mustPrefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}
