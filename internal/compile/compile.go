// Package compile turns a policy (and, in later stages, facts about the
// host) into the ruleset IR. It is a pure function: no I/O, no clock, the
// same input always gives the same output, so plan can print exactly what
// apply sends.
package compile

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"time"

	"github.com/seawall/seawall/internal/inventory"
	"github.com/seawall/seawall/internal/policy"
	"github.com/seawall/seawall/internal/ruleset"
)

// Base chains and their priorities. The numbers are deliberate:
//
//	chain     type   hook        priority  why
//	redirects nat    prerouting  -100      seawall's redirects (honeypot), at dstnat like Docker's own DNAT
//	input     filter input       0         host rules, at filter
//	forward   filter forward     -10       before Docker's filter-forward rules (iptables-nft at 0), so a drop
//	                                       here is final whatever Docker accepts later
//	output    filter output      0         host rules, at filter
//
//	bans      filter prerouting  -300      jail bans of scope all (jails.go), at raw: before conntrack and
//	                                       DNAT, so a ban also cuts established flows and published ports
const (
	PrioDNAT    = -100
	PrioFilter  = 0
	PrioForward = -10
)

// Chain names.
const (
	ChainInput   = "input"
	ChainOutput  = "output"
	ChainForward = "forward"
	ChainDNAT    = "redirects"
)

// Compile builds the ruleset for a policy and the facts about the host's
// containers (nil when there are none or Docker is not watched).
func Compile(p *policy.Policy, f *inventory.Facts) (*ruleset.Ruleset, error) {
	c := &compiler{p: p, rs: &ruleset.Ruleset{}, file: filepath.Base(p.File)}
	// Jail sets come first: a re-apply keeps the leading run of unchanged
	// sets, and so keeps the bans in them.
	c.jailSets()
	c.addSets()
	c.containers(f)
	h := &p.Host
	c.hostChain(ChainInput, ruleset.HookInput, PrioFilter, h.Policy.Input, h.Input)
	c.hostChain(ChainOutput, ruleset.HookOutput, PrioFilter, h.Policy.Output, h.Output)
	// With container rules there is always a forward chain; without
	// host.policy.forward it accepts what it does not decide (Docker
	// decides the rest).
	if h.Policy.Forward != nil || len(h.Forward) > 0 || p.Containers != nil {
		c.hostChain(ChainForward, ruleset.HookForward, PrioForward, h.Policy.Forward, h.Forward)
	}
	c.redirects()
	c.bans()
	if c.err != nil {
		return nil, c.err
	}
	// Base chains first, in hook order, then the chains they jump to.
	slices.SortStableFunc(c.rs.Chains, func(a, b *ruleset.Chain) int {
		return chainRank(a) - chainRank(b)
	})
	return c.rs, nil
}

func chainRank(c *ruleset.Chain) int {
	if c.Base == nil {
		return 1000
	}
	return int(c.Base.Hook)*10 + min(max(c.Base.Priority/100+5, 0), 9)
}

type compiler struct {
	p    *policy.Policy
	rs   *ruleset.Ruleset
	file string
	err  error // sticky: the first error stops the build
}

func (c *compiler) fail(pos policy.Pos, format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%s: %s", pos, fmt.Sprintf(format, args...))
	}
}

func (c *compiler) origin(pos policy.Pos, what string) ruleset.Origin {
	return ruleset.Origin{File: pos.File, Line: pos.Line, Col: pos.Col, What: what}
}

// comment is what the kernel rule carries: "seawall.yaml:12 host.input[1]",
// or for a rule from a container's labels, where it came from.
func (c *compiler) comment(o ruleset.Origin) string {
	s := o.What
	switch {
	case o.File != "" && o.File != c.p.File:
		s = fmt.Sprintf("%s: %s", o.File, o.What)
	case o.Line > 0:
		s = fmt.Sprintf("%s:%d %s", c.file, o.Line, o.What)
	}
	if len(s) > ruleset.CommentMax {
		s = s[:ruleset.CommentMax]
	}
	return s
}

func (c *compiler) rule(o ruleset.Origin, v ruleset.Verdict, ms ...ruleset.Match) *ruleset.Rule {
	return &ruleset.Rule{Match: ms, Counter: true, Verdict: v, Origin: o, Comment: c.comment(o)}
}

// setName is the kernel set holding one family of a group or set.
func setName(name string, f ruleset.Family) string {
	if f == ruleset.IPv6 {
		return name + "_v6"
	}
	return name + "_v4"
}

// addSets adds two kernel sets (IPv4, IPv6) for every policy set and every
// group; overlapping and adjacent entries are merged. Policy sets come
// first: they hold the large lists (blocklists), and a re-apply can keep
// only a leading run of unchanged sets in place.
func (c *compiler) addSets() {
	for _, s := range c.p.Sets {
		c.addSetPair(s.Name, s.Pos, "sets."+s.Name, s.AllEntries())
	}
	for _, g := range c.p.Groups {
		c.addSetPair(g.Name, g.Pos, "groups."+g.Name, c.p.ResolveGroup(g.Name))
	}
}

func (c *compiler) addSetPair(name string, pos policy.Pos, what string, entries []netip.Prefix) {
	for _, f := range ruleset.Families {
		c.rs.Sets = append(c.rs.Sets, &ruleset.Set{
			Name:     setName(name, f),
			Key:      ruleset.AddrKey(f),
			Interval: true,
			Elements: ruleset.MergePrefixes(f, entries),
			Origin:   c.origin(pos, what),
		})
	}
}

// logRate is the rate limit of every log rule.
func (c *compiler) logLimit() *ruleset.Limit {
	r := c.p.Host.Log.Rate
	return &ruleset.Limit{Rate: r.Count, Unit: time.Duration(r.Unit.Seconds()) * time.Second, Burst: 5}
}

// logRule returns a rate-limited log rule for the matches, or nil when drop
// logging is off.
func (c *compiler) logRule(o ruleset.Origin, prefix string, ms ...ruleset.Match) *ruleset.Rule {
	if !c.p.Host.Log.Dropped {
		return nil
	}
	if o.Line > 0 {
		prefix = fmt.Sprintf("%s L%d", prefix, o.Line)
	}
	prefix += ": "
	if len(prefix) > ruleset.LogPrefixMax {
		prefix = prefix[:ruleset.LogPrefixMax]
	}
	return &ruleset.Rule{Match: ms, Limit: c.logLimit(), Log: &ruleset.Log{Prefix: prefix}, Origin: o, Comment: c.comment(o)}
}

// denyRules returns the rules that deny packets matching ms: a drop, or a
// TCP reset for TCP and an ICMP port unreachable for the rest.
func (c *compiler) denyRules(o ruleset.Origin, reject bool, proto uint8, ms ...ruleset.Match) []*ruleset.Rule {
	if !reject {
		return []*ruleset.Rule{c.rule(o, ruleset.Drop, ms...)}
	}
	rst := ruleset.Verdict{Kind: ruleset.VerdictReject, Reject: ruleset.RejectTCPReset}
	unreach := ruleset.Verdict{Kind: ruleset.VerdictReject, Reject: ruleset.RejectPortUnreach}
	switch proto {
	case ruleset.ProtoTCP:
		return []*ruleset.Rule{c.rule(o, rst, ms...)}
	case 0:
		tcp := append(append([]ruleset.Match{}, ms...), ruleset.L4Proto{Proto: ruleset.ProtoTCP})
		return []*ruleset.Rule{c.rule(o, rst, tcp...), c.rule(o, unreach, ms...)}
	}
	return []*ruleset.Rule{c.rule(o, unreach, ms...)}
}

func appendRules(dst []*ruleset.Rule, rs ...*ruleset.Rule) []*ruleset.Rule {
	for _, r := range rs {
		if r != nil {
			dst = append(dst, r)
		}
	}
	return dst
}
