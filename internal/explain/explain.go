// Package explain traces a packet through the ruleset IR and reports the
// verdict and the rule (with its policy origin) that decided it. It is pure:
// set contents come from the IR, meters are assumed under their limit, and
// the packet carries its own conntrack state.
package explain

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/seawall/seawall/internal/ruleset"
)

// Packet is what the evaluator knows about a packet.
type Packet struct {
	Family   ruleset.Family
	Iif, Oif string
	Src, Dst netip.Addr
	Proto    uint8
	SrcPort  uint16
	DstPort  uint16
	TCPFlags uint8
	ICMPType uint8
	HopLimit uint8
	CtState  uint32 // one of the ruleset.Ct* bits
	DstLocal bool   // the destination is one of the host's addresses
	// OrigDstPort is set when conntrack DNATed the connection: the
	// destination port the client originally dialled.
	OrigDstPort uint16
}

// Result is the outcome of one hook.
type Result struct {
	Verdict ruleset.Verdict // Accept, Drop or Reject; DNAT for nat chains that rewrote
	Rule    *ruleset.Rule   // the deciding rule; nil when a chain policy decided
	Chain   string          // the chain of the deciding rule or policy
	Policy  bool            // a base chain's policy decided
}

// Denied reports whether the packet was dropped or rejected.
func (r Result) Denied() bool {
	return r.Verdict.Kind == ruleset.VerdictDrop || r.Verdict.Kind == ruleset.VerdictReject
}

// Hook runs the packet through every base chain of the given type on the
// hook, in priority order. Drop and reject are final; accept moves on to the
// next base chain (as in the kernel); the first DNAT ends a nat hook.
func Hook(rs *ruleset.Ruleset, typ ruleset.ChainType, hook ruleset.Hook, p Packet) Result {
	var bases []*ruleset.Chain
	for _, c := range rs.Chains {
		if c.Base != nil && c.Base.Type == typ && c.Base.Hook == hook {
			bases = append(bases, c)
		}
	}
	slices.SortStableFunc(bases, func(a, b *ruleset.Chain) int { return a.Base.Priority - b.Base.Priority })
	res := Result{Verdict: ruleset.Accept}
	for _, c := range bases {
		r, done := evalChain(rs, c, p, 0)
		if !done {
			r = Result{Verdict: c.Base.Policy, Chain: c.Name, Policy: true}
		}
		if r.Denied() || r.Verdict.Kind == ruleset.VerdictDNAT {
			return r
		}
		res = r
	}
	return res
}

// evalChain returns the verdict of a chain, or done=false when the packet
// ran off its end.
func evalChain(rs *ruleset.Ruleset, c *ruleset.Chain, p Packet, depth int) (Result, bool) {
	if depth > 16 {
		return Result{Verdict: ruleset.Drop, Chain: c.Name}, true
	}
	for _, r := range c.Rules {
		if !Matches(rs, r, p) {
			continue
		}
		target := ""
		switch r.Verdict.Kind {
		case ruleset.VerdictNone:
			continue
		case ruleset.VerdictReturn:
			return Result{}, false
		case ruleset.VerdictJump:
			target = r.Verdict.Chain
		case ruleset.VerdictVmap:
			if target = vmapTarget(rs, r.Verdict, p); target == "" {
				continue
			}
		}
		if target != "" {
			sub := rs.Chain(target)
			if sub == nil {
				continue
			}
			if res, done := evalChain(rs, sub, p, depth+1); done {
				return res, true
			}
			continue
		}
		return Result{Verdict: r.Verdict, Rule: r, Chain: c.Name}, true
	}
	return Result{}, false
}

// Matches reports whether every match of the rule holds for the packet. A
// rule with a meter matches only when over the limit, which a single packet
// never is here.
func Matches(rs *ruleset.Ruleset, r *ruleset.Rule, p Packet) bool {
	for _, m := range r.Match {
		if !match(rs, m, p) {
			return false
		}
	}
	if r.Meter != nil {
		return false
	}
	return true
}

func match(rs *ruleset.Ruleset, m ruleset.Match, p Packet) bool {
	switch m := m.(type) {
	case ruleset.NFProto:
		return p.Family == m.Family
	case ruleset.L4Proto:
		return p.Proto == m.Proto
	case ruleset.Iface:
		name := p.Iif
		if m.Dir == ruleset.Dst {
			name = p.Oif
		}
		ok := name == m.Name
		if strings.HasSuffix(m.Name, "*") {
			ok = strings.HasPrefix(name, strings.TrimSuffix(m.Name, "*"))
		}
		return ok != m.Neg
	case ruleset.Addr:
		if p.Family != m.Family {
			return false
		}
		a := p.Src
		if m.Dir == ruleset.Dst {
			a = p.Dst
		}
		ranges := m.Ranges
		if m.Mask > 0 {
			if p, err := a.Prefix(m.Mask); err == nil {
				a = p.Addr()
			}
		}
		if m.Set != "" {
			if s := rs.Set(m.Set); s != nil {
				ranges = s.Elements
			}
		}
		return inRanges(ranges, a) != m.Neg
	case ruleset.Port:
		if p.Proto != m.Proto {
			return false
		}
		port := p.DstPort
		if m.Dir == ruleset.Src {
			port = p.SrcPort
		}
		for _, r := range m.Ranges {
			if r.First <= port && port <= r.Last {
				return true
			}
		}
		return false
	case ruleset.CtState:
		return p.CtState&m.States != 0
	case ruleset.CtDNAT:
		return p.OrigDstPort != 0 && p.OrigDstPort == m.OrigPort
	case ruleset.TCPFlags:
		return p.Proto == ruleset.ProtoTCP && (p.TCPFlags&m.Mask == m.Value) != m.Neg
	case ruleset.ICMPType:
		want := ruleset.ProtoICMP
		if m.Family == ruleset.IPv6 {
			want = ruleset.ProtoICMPv6
		}
		return p.Family == m.Family && p.Proto == want && slices.Contains(m.Types, p.ICMPType)
	case ruleset.HopLimit:
		return p.Family == ruleset.IPv6 && p.HopLimit == m.Value
	case ruleset.LocalDst:
		return p.DstLocal
	case ruleset.DNATed:
		return (p.OrigDstPort != 0) != m.Neg
	case ruleset.OrigPort:
		return p.Proto == m.Proto && p.OrigDstPort != 0 && m.Range.First <= p.OrigDstPort && p.OrigDstPort <= m.Range.Last
	case ruleset.InSet:
		if s := rs.Set(m.Set); s != nil {
			for _, e := range s.Elements {
				if e.Proto == p.Family {
					return true
				}
			}
		}
		return false
	}
	return false
}

// vmapTarget looks the packet's address up in a verdict map and returns the
// chain its element jumps to, or "".
func vmapTarget(rs *ruleset.Ruleset, v ruleset.Verdict, p Packet) string {
	m := rs.Set(v.Map)
	if m == nil {
		return ""
	}
	if v.Proto != 0 {
		if p.Proto != v.Proto {
			return ""
		}
		for _, e := range m.Elements {
			if e.Port == p.DstPort {
				return e.Jump
			}
		}
		return ""
	}
	if p.Family != v.Family {
		return ""
	}
	a := p.Src
	if v.Dir == ruleset.Dst {
		a = p.Dst
	}
	for _, e := range m.Elements {
		if e.Contains(a) {
			return e.Jump
		}
	}
	return ""
}

func inRanges(rs []ruleset.Element, a netip.Addr) bool {
	for _, r := range rs {
		if r.Contains(a) {
			return true
		}
	}
	return false
}
