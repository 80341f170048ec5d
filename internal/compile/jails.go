package compile

import (
	"github.com/seawall/seawall/internal/policy"
	"github.com/seawall/seawall/internal/ruleset"
)

// Bans. Each jail has three runtime sets: jail_NAME_v4 (addresses),
// jail_NAME_v6 (the first address of each banned /64: the rule masks the
// source to its /64 before the lookup, so one element bans the whole
// prefix and lookups stay hash lookups) and jail_NAME_v6h (single IPv6
// addresses, for a source whose /64 also holds an address no one may ban,
// such as the host's own). The daemon fills them with timeouts; the
// compiler leaves them empty.
//
// Where a ban is enforced follows the jail's scope:
//
//	scope       chain                 hook, priority      what it drops
//	all         bans                  prerouting, -300    everything the source sends, before conntrack and
//	                                                      DNAT: its established connections and published ports too
//	host        input (first rules)   input, 0            what it sends to the host, established connections included
//	containers  forward (first rules) forward, -10        what it sends through the host to containers
const (
	ChainBans = "bans"
	PrioRaw   = -300
)

// JailSet is the kernel set holding one family of a jail's bans.
func JailSet(jail string, f ruleset.Family) string {
	return setName("jail_"+boundedName(jail), f)
}

// JailHostSet is the kernel set holding a jail's bans of single IPv6
// addresses (/128), banned alone because their /64 holds an ignored address.
func JailHostSet(jail string) string {
	return "jail_" + boundedName(jail) + "_v6h"
}

// JailV6Prefix is the length of the IPv6 prefixes jails ban: one /64 is
// one subscriber, who can change addresses within it at will.
const JailV6Prefix = 64

// jailSets adds the runtime sets of every jail.
func (c *compiler) jailSets() {
	for _, j := range c.p.Jails {
		o := c.origin(j.Pos, "jails."+j.Name)
		for _, f := range []ruleset.Family{ruleset.IPv4, ruleset.IPv6} {
			key := ruleset.KeyIPv4Addr
			if f == ruleset.IPv6 {
				key = ruleset.KeyIPv6Addr
			}
			c.rs.Sets = append(c.rs.Sets, &ruleset.Set{Name: JailSet(j.Name, f), Key: key, Runtime: true, Origin: o})
		}
		c.rs.Sets = append(c.rs.Sets, &ruleset.Set{Name: JailHostSet(j.Name), Key: ruleset.KeyIPv6Addr, Runtime: true, Origin: o})
	}
}

// banRules are the drops of the jails whose scope is s.
func (c *compiler) banRules(s policy.Scope) []*ruleset.Rule {
	var out []*ruleset.Rule
	for _, j := range c.p.Jails {
		if j.Scope != s {
			continue
		}
		o := c.origin(j.Pos, "jails."+j.Name)
		out = append(out,
			c.rule(o, ruleset.Drop, ruleset.Addr{Family: ruleset.IPv4, Dir: ruleset.Src, Set: JailSet(j.Name, ruleset.IPv4)}),
			c.rule(o, ruleset.Drop, ruleset.Addr{Family: ruleset.IPv6, Dir: ruleset.Src, Set: JailSet(j.Name, ruleset.IPv6), Mask: JailV6Prefix}),
			c.rule(o, ruleset.Drop, ruleset.Addr{Family: ruleset.IPv6, Dir: ruleset.Src, Set: JailHostSet(j.Name)}))
	}
	return out
}

// bans puts each jail's drops where its scope says: a prerouting chain at
// raw for scope all, the top of input or forward for the others.
func (c *compiler) bans() {
	if rules := c.banRules(policy.ScopeAll); len(rules) > 0 {
		c.rs.Chains = append(c.rs.Chains, &ruleset.Chain{
			Name:  ChainBans,
			Base:  &ruleset.Base{Type: ruleset.TypeFilter, Hook: ruleset.HookPrerouting, Priority: PrioRaw, Policy: ruleset.Accept},
			Rules: rules,
		})
	}
	for name, s := range map[string]policy.Scope{ChainInput: policy.ScopeHost, ChainForward: policy.ScopeContainers} {
		rules := c.banRules(s)
		if len(rules) == 0 {
			continue
		}
		ch := c.rs.Chain(name)
		if ch == nil {
			// No forward chain (no containers section, no forward
			// rules): one that drops banned sources and accepts the
			// rest, as Docker's rules would decide it.
			ch = &ruleset.Chain{Name: name, Base: &ruleset.Base{Type: ruleset.TypeFilter, Hook: ruleset.HookForward, Priority: PrioForward, Policy: ruleset.Accept}}
			c.rs.Chains = append(c.rs.Chains, ch)
		}
		ch.Rules = append(rules, ch.Rules...)
	}
}
