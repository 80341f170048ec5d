// Package ruleset is seawall's backend-neutral intermediate representation:
// the one table seawall owns, its chains, rules and sets, each rule carrying
// the origin (policy file, line, column) it was compiled from.
//
// The IR is deliberately semantic ("source address in set office_v4", "TCP
// destination port 22") rather than a list of netlink expressions. Each match
// is rendered by the nft package twice — as nft text for plan and as netlink
// expressions for apply — and evaluated by the explain package, so the three
// views share one description.
package ruleset

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// TableName is the nftables table seawall owns, in family inet (IPv4 and IPv6).
const TableName = "seawall"

// Family is an IP family; FamilyAny means both.
type Family uint8

// Families.
const (
	FamilyAny Family = iota
	IPv4
	IPv6
)

// String returns "ipv4", "ipv6" or "any".
func (f Family) String() string {
	switch f {
	case IPv4:
		return "ipv4"
	case IPv6:
		return "ipv6"
	}
	return "any"
}

// Families lists the two concrete families in the order rules are emitted.
var Families = [...]Family{IPv4, IPv6}

// Origin says which part of which policy file a kernel object came from.
type Origin struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
	// What names the policy element: "host.input[2]", "host.policy.input",
	// or "builtin:loopback" for rules every policy gets.
	What string `json:"what"`
}

// String formats the origin as "file:line:col (what)" or just "what".
func (o Origin) String() string {
	if o.Line == 0 {
		return o.What
	}
	return fmt.Sprintf("%s:%d:%d (%s)", o.File, o.Line, o.Col, o.What)
}

// Ruleset is the whole desired content of table inet seawall.
type Ruleset struct {
	Sets   []*Set   `json:"sets"`
	Chains []*Chain `json:"chains"`
}

// Set returns the set with the given name, or nil.
func (rs *Ruleset) Set(name string) *Set {
	for _, s := range rs.Sets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Chain returns the chain with the given name, or nil.
func (rs *Ruleset) Chain(name string) *Chain {
	for _, c := range rs.Chains {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// RuleCount is the number of rules in all chains.
func (rs *Ruleset) RuleCount() int {
	n := 0
	for _, c := range rs.Chains {
		n += len(c.Rules)
	}
	return n
}

// SetKey is the type of a set's elements.
type SetKey uint8

// Set key types.
const (
	KeyIPv4Addr SetKey = iota + 1
	KeyIPv6Addr
	KeyNFProto // "ipv4" / "ipv6": used by the confirm window
	KeyPort    // a TCP or UDP port (inet_service)
)

// Family is the address family of an address-keyed set.
func (k SetKey) Family() Family {
	switch k {
	case KeyIPv4Addr:
		return IPv4
	case KeyIPv6Addr:
		return IPv6
	}
	return FamilyAny
}

// AddrKey returns the address key type of a family.
func AddrKey(f Family) SetKey {
	if f == IPv6 {
		return KeyIPv6Addr
	}
	return KeyIPv4Addr
}

// Set is a named kernel set.
type Set struct {
	Name     string        `json:"name"`
	Key      SetKey        `json:"key"`
	Interval bool          `json:"interval,omitempty"` // elements are address ranges
	Map      bool          `json:"map,omitempty"`      // a verdict map: each element jumps to a chain
	Dynamic  bool          `json:"dynamic,omitempty"`  // updated from the packet path
	Timeout  time.Duration `json:"timeout,omitempty"`  // default element timeout; enables "flags timeout"
	Size     uint32        `json:"size,omitempty"`     // maximum element count (dynamic sets)
	// Runtime sets are filled by the daemon while it runs (bans), each
	// element with its own timeout: the compiler leaves them empty, and
	// their elements are neither recorded nor compared.
	Runtime  bool      `json:"runtime,omitempty"`
	Elements []Element `json:"elements,omitempty"`
	Origin   Origin    `json:"origin"`
}

// HasTimeout reports whether the set's elements can expire: it has a
// default timeout, is a runtime set, or an element has a timeout.
func (s *Set) HasTimeout() bool {
	if s.Timeout > 0 || s.Runtime {
		return true
	}
	for _, e := range s.Elements {
		if e.Timeout > 0 {
			return true
		}
	}
	return false
}

// Element is one set element: an address range for address sets (First ==
// Last for a single address) or a family for nf_proto sets. In a verdict
// map, Jump names the chain the element's key jumps to.
type Element struct {
	First   netip.Addr    `json:"first,omitzero"`
	Last    netip.Addr    `json:"last,omitzero"`
	Proto   Family        `json:"proto,omitempty"`
	Timeout time.Duration `json:"timeout,omitempty"`
	Jump    string        `json:"jump,omitempty"`
	Port    uint16        `json:"port,omitempty"` // for KeyPort sets
}

// ChainType is the type of a base chain.
type ChainType uint8

// Chain types.
const (
	TypeFilter ChainType = iota
	TypeNAT
)

// Hook is a netfilter hook point.
type Hook uint8

// Hooks.
const (
	HookPrerouting Hook = iota
	HookInput
	HookForward
	HookOutput
	HookPostrouting
)

// String returns the nft name of the hook.
func (h Hook) String() string {
	return [...]string{"prerouting", "input", "forward", "output", "postrouting"}[h]
}

// Base makes a chain a base chain attached to a hook.
type Base struct {
	Type     ChainType `json:"type"`
	Hook     Hook      `json:"hook"`
	Priority int       `json:"priority"`
	Policy   Verdict   `json:"policy"` // VerdictAccept or VerdictDrop
}

// Chain is a chain; a nil Base makes it a regular chain reached by jump.
type Chain struct {
	Name  string  `json:"name"`
	Base  *Base   `json:"base,omitempty"`
	Rules []*Rule `json:"rules"`
}

// Rule is one kernel rule: matches, then statements in a fixed order
// (meter, counter, limit, log), then the verdict.
type Rule struct {
	Match   []Match `json:"-"`
	Meter   *Meter  `json:"meter,omitempty"`
	Counter bool    `json:"counter,omitempty"`
	Limit   *Limit  `json:"limit,omitempty"`
	Log     *Log    `json:"log,omitempty"`
	Verdict Verdict `json:"verdict"`
	// Comment is stored in the kernel rule (at most CommentMax bytes) so that
	// a listed rule points back at its policy line.
	Comment string `json:"comment,omitempty"`
	Origin  Origin `json:"origin"`
}

// CommentMax is the longest rule comment nftables accepts.
const CommentMax = 127

// Meter updates a dynamic set keyed by the packet's source address with a
// per-element limit; the rule matches when that element is over its limit.
type Meter struct {
	Set    string `json:"set"`
	Family Family `json:"family"`
	Limit  Limit  `json:"limit"`
}

// Limit is a packet rate limit: Rate packets per Unit, bucket of Burst
// packets. Over inverts it: match only when over the rate.
type Limit struct {
	Rate  uint64        `json:"rate"`
	Unit  time.Duration `json:"unit"` // time.Second, time.Minute, time.Hour, 24h or 168h
	Burst uint32        `json:"burst"`
	Over  bool          `json:"over,omitempty"`
}

// Log writes a kernel log line (syslog level info) with a prefix.
type Log struct {
	Prefix string `json:"prefix"`
}

// LogPrefixMax is the longest log prefix the kernel keeps.
const LogPrefixMax = 127

// VerdictKind says what a rule does with a packet it matches.
type VerdictKind uint8

// Verdict kinds.
const (
	VerdictNone   VerdictKind = iota // continue with the next rule
	VerdictAccept                    // accept (not final across base chains)
	VerdictDrop                      // drop (final)
	VerdictReject                    // reject, see RejectKind
	VerdictJump                      // jump to Chain
	VerdictDNAT                      // destination NAT to To
	VerdictReturn                    // return to the calling chain
	VerdictVmap                      // look the address up in verdict map Map
)

// RejectKind is how a rejected packet is answered.
type RejectKind uint8

// Reject kinds.
const (
	RejectTCPReset        RejectKind = iota // TCP reset
	RejectPortUnreach                       // ICMP / ICMPv6 port unreachable (icmpx)
	RejectAdminProhibited                   // ICMP / ICMPv6 administratively prohibited (icmpx)
)

// Verdict is a rule's verdict or a base chain's policy.
type Verdict struct {
	Kind   VerdictKind    `json:"kind"`
	Reject RejectKind     `json:"reject,omitempty"`
	Chain  string         `json:"chain,omitempty"`
	To     netip.AddrPort `json:"to,omitzero"`
	// For VerdictVmap: the packet's source or destination address of
	// Family (or, with Proto set, its Proto destination port) is looked
	// up in map Map; no element means no verdict.
	Map    string `json:"map,omitempty"`
	Family Family `json:"family,omitempty"`
	Dir    Dir    `json:"dir,omitempty"`
	Proto  uint8  `json:"proto,omitempty"`
}

// Common verdicts.
var (
	Accept = Verdict{Kind: VerdictAccept}
	Drop   = Verdict{Kind: VerdictDrop}
)

// Return is the return verdict.
var Return = Verdict{Kind: VerdictReturn}

// Vmap returns a verdict that dispatches on an address through a verdict
// map.
func Vmap(f Family, d Dir, m string) Verdict {
	return Verdict{Kind: VerdictVmap, Family: f, Dir: d, Map: m}
}

// PortVmap returns a verdict that dispatches on the destination port of a
// TCP or UDP packet through a verdict map.
func PortVmap(proto uint8, m string) Verdict {
	return Verdict{Kind: VerdictVmap, Proto: proto, Dir: Dst, Map: m}
}

// Jump returns a jump verdict.
func Jump(chain string) Verdict { return Verdict{Kind: VerdictJump, Chain: chain} }

// UnchangedSets names the sets that a table holding old can keep when new
// is applied over it: the leading run of sets that old and new define
// identically — same name and position, key, flags, timeout and, except for
// dynamic sets whose elements the packet path owns, the same elements. A
// dynamic set also needs the same meters feeding it (a meter element carries
// the limit it was created with). Only a leading run: the kernel lists sets
// in creation order, and keeping a prefix keeps the listing in new's order.
func UnchangedSets(old, new *Ruleset) map[string]bool {
	if old == nil {
		return nil
	}
	oldMeters, newMeters := meters(old), meters(new)
	out := map[string]bool{}
	for i, n := range new.Sets {
		if i >= len(old.Sets) {
			break
		}
		o := old.Sets[i]
		if o.Name != n.Name || o.Key != n.Key || o.Interval != n.Interval || o.Dynamic != n.Dynamic ||
			o.Timeout != n.Timeout || o.Size != n.Size || o.Runtime != n.Runtime {
			break
		}
		// Verdict maps are never kept: their elements reference chains,
		// which a re-apply re-creates.
		if n.Map || (n.Dynamic && !slices.Equal(oldMeters[n.Name], newMeters[n.Name])) {
			break
		}
		if !n.Dynamic && !n.Runtime && !slices.Equal(o.Elements, n.Elements) {
			break
		}
		out[n.Name] = true
	}
	return out
}

// meters lists, per set, the limits of the meters that update it.
func meters(rs *Ruleset) map[string][]Limit {
	out := map[string][]Limit{}
	for _, c := range rs.Chains {
		for _, r := range c.Rules {
			if r.Meter != nil {
				out[r.Meter.Set] = append(out[r.Meter.Set], r.Meter.Limit)
			}
		}
	}
	return out
}
