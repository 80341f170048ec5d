package compile

import (
	"fmt"

	"github.com/seawall/seawall/internal/policy"
	"github.com/seawall/seawall/internal/ruleset"
)

// dirNames are the short names used in log prefixes and chain names.
var dirNames = map[string]string{ChainInput: "in", ChainOutput: "out", ChainForward: "fwd"}

// chainBuilder collects the rules of one chain: a host chain, or a
// container entry's ingress or egress chain.
type chainBuilder struct {
	c     *compiler
	name  string // input, output, forward; ingress, egress
	dir   string // in, out, fwd; web_in, web_out: log prefixes and helper chain names
	what  string // "host.input"; "containers.web.ingress": rule origins
	deny  bool   // the chain's default denies
	allow ruleset.Verdict
	iface ruleset.Dir // which interface `iface` matches: input (Src) or output (Dst)
	// published makes port matches name the port the client dialled:
	// the original destination port of a DNATed connection (a published
	// port), or the destination port of one that was not.
	published bool
	rules     []*ruleset.Rule
	foreign   []*ruleset.Rule
}

func (b *chainBuilder) add(rs ...*ruleset.Rule) { b.rules = appendRules(b.rules, rs...) }

func builtin(what string) ruleset.Origin { return ruleset.Origin{What: "builtin:" + what} }

// hostChain builds one of the host's base chains: built-in rules every
// policy gets, the user's rules in file order, the "foreign" rules and the
// default verdict.
func (c *compiler) hostChain(name string, hook ruleset.Hook, prio int, def *policy.DirDefault, rules []*policy.Rule) {
	b := &chainBuilder{c: c, name: name, dir: dirNames[name], what: "host." + name, allow: ruleset.Accept,
		deny: def != nil && def.Verdict == policy.VerdictDrop}
	if name == ChainOutput {
		b.iface = ruleset.Dst
	}
	b.builtins()
	b.containerDispatch()
	for _, r := range rules {
		b.userRule(r)
	}
	b.add(b.foreign...)
	policyVerdict := ruleset.Accept
	if b.deny {
		policyVerdict = ruleset.Drop
		o := c.origin(def.Pos, "host.policy."+name)
		b.add(c.logRule(o, fmt.Sprintf("seawall %s drop", b.dir)))
		b.add(c.denyRules(o, c.p.Host.Deny == policy.DenyReject, 0)...)
	}
	c.rs.Chains = append(c.rs.Chains, &ruleset.Chain{
		Name:  name,
		Base:  &ruleset.Base{Type: ruleset.TypeFilter, Hook: hook, Priority: prio, Policy: policyVerdict},
		Rules: b.rules,
	})
}

// ICMPv6 that IPv6 cannot work without (RFC 4890): errors everywhere;
// neighbour and router discovery only on the link (hop limit 255); MLD from
// link-local senders with hop limit 1.
var (
	icmpv6Errors = []uint8{1, 2, 3, 4}              // destination-unreachable, packet-too-big, time-exceeded, parameter-problem
	icmpv6ND     = []uint8{133, 134, 135, 136, 137} // router solicit/advert, neighbour solicit/advert, redirect
	icmpv6MLD    = []uint8{130, 131, 132, 143}      // listener query/report/done, MLDv2 report
)

func (b *chainBuilder) builtins() {
	c := b.c
	lo := ruleset.Src
	if b.name == ChainOutput {
		lo = ruleset.Dst
	}
	if b.name != ChainForward {
		b.add(c.rule(builtin("loopback"), ruleset.Accept, ruleset.Iface{Dir: lo, Name: "lo"}))
	}
	if b.name == ChainInput {
		b.antiSpoof()
	}
	v6 := ruleset.IPv6
	o := builtin("icmpv6")
	b.add(c.rule(o, ruleset.Accept, ruleset.ICMPType{Family: v6, Types: icmpv6Errors}))
	if b.name != ChainForward {
		b.add(c.rule(o, ruleset.Accept, ruleset.ICMPType{Family: v6, Types: icmpv6ND}, ruleset.HopLimit{Value: 255}))
		b.add(c.rule(o, ruleset.Accept, ruleset.ICMPType{Family: v6, Types: icmpv6MLD}, ruleset.HopLimit{Value: 1}))
	} else if c.p.Containers != nil {
		// Neighbour discovery between containers on one bridge crosses
		// forward (br_netfilter); a routed packet's hop limit is already
		// decremented here, so 255 means bridged, on the link.
		b.add(c.rule(o, ruleset.Accept, ruleset.ICMPType{Family: v6, Types: []uint8{135, 136}}, ruleset.HopLimit{Value: 255}))
	}
	inv := builtin("invalid")
	invalid := ruleset.CtState{States: ruleset.CtInvalid}
	b.add(c.logRule(inv, fmt.Sprintf("seawall %s invalid", b.dir), invalid))
	b.add(c.rule(inv, ruleset.Drop, invalid))
	if b.name != ChainOutput {
		b.malicious()
	}
	b.add(c.rule(builtin("established"), ruleset.Accept, ruleset.CtState{States: ruleset.CtEstablished | ruleset.CtRelated}))
	if b.name != ChainOutput {
		b.redirectAccepts()
	}
}

// antiSpoof drops packets that claim a loopback source but did not come in
// on the loopback interface.
func (b *chainBuilder) antiSpoof() {
	c := b.c
	o := builtin("spoofed-loopback")
	notLo := ruleset.Iface{Dir: ruleset.Src, Name: "lo", Neg: true}
	for _, f := range ruleset.Families {
		p := "127.0.0.0/8"
		if f == ruleset.IPv6 {
			p = "::1/128"
		}
		src := ruleset.Addr{Family: f, Dir: ruleset.Src, Ranges: ruleset.MergePrefixes(f, mustPrefixes(p))}
		b.add(c.rule(o, ruleset.Drop, notLo, src))
	}
}

// malicious drops TCP packets that no legitimate stack sends, through a
// chain of its own so that one rate-limited log rule serves all patterns.
func (b *chainBuilder) malicious() {
	c := b.c
	chain := b.dir + "_malicious"
	o := builtin("malicious")
	const fin, syn, rst, psh, ack, urg = ruleset.TCPFin, ruleset.TCPSyn, ruleset.TCPRst, ruleset.TCPPsh, ruleset.TCPAck, ruleset.TCPUrg
	all := fin | syn | rst | psh | ack | urg
	patterns := []ruleset.TCPFlags{
		{Mask: fin | syn, Value: fin | syn},             // SYN+FIN
		{Mask: syn | rst, Value: syn | rst},             // SYN+RST
		{Mask: fin | rst, Value: fin | rst},             // FIN+RST
		{Mask: all, Value: 0},                           // null scan
		{Mask: fin | psh | urg, Value: fin | psh | urg}, // xmas scan
	}
	for _, p := range patterns {
		b.add(c.rule(o, ruleset.Jump(chain), p))
	}
	// A new connection must start with a SYN (and nothing of RST, FIN, ACK).
	b.add(c.rule(o, ruleset.Jump(chain), ruleset.CtState{States: ruleset.CtNew},
		ruleset.TCPFlags{Mask: fin | syn | rst | ack, Value: syn, Neg: true}))
	var rules []*ruleset.Rule
	rules = appendRules(rules, c.logRule(o, fmt.Sprintf("seawall %s malicious", b.dir)), c.rule(o, ruleset.Drop))
	c.rs.Chains = append(c.rs.Chains, &ruleset.Chain{Name: chain, Rules: rules})
}

// redirectAccepts lets through the connections seawall's own redirects
// created: the redirect itself is the permission.
func (b *chainBuilder) redirectAccepts() {
	c := b.c
	for i, r := range c.p.Host.Redirects {
		o, f, proto := c.redirectTarget(i, r)
		to := ruleset.Addr{Family: f, Dir: ruleset.Dst, Ranges: []ruleset.Element{{First: r.To.Addr(), Last: r.To.Addr()}}}
		port := ruleset.Port{Proto: proto, Dir: ruleset.Dst, Ranges: []ruleset.PortRange{{First: r.To.Port(), Last: r.To.Port()}}}
		b.add(c.rule(o, ruleset.Accept, to, port, ruleset.CtDNAT{OrigPort: r.Port.Ports[0].First}))
	}
}
