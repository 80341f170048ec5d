// Package nft is seawall's nftables backend: it renders the IR as the nft
// script that plan prints, sends the same content to the kernel as one
// netlink transaction, and reads the live table back (rules, counters,
// comments) for status.
//
// The text and netlink encodings are written side by side per match kind so
// they stay the same; TestDifferential in e2e checks that `nft -f` of the
// text and a netlink apply give identical kernel rulesets.
package nft

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/seawall/seawall/internal/ruleset"
)

// Script renders the transaction that replaces table inet seawall with rs:
// create the table if missing, delete it, and define it anew — the same
// three steps the netlink apply sends in one batch.
func Script(rs *ruleset.Ruleset) string {
	var b strings.Builder
	fmt.Fprintf(&b, "add table inet %s\ndelete table inet %s\n", ruleset.TableName, ruleset.TableName)
	b.WriteString(Table(rs))
	return b.String()
}

// DeleteScript renders the transaction that removes seawall's table.
func DeleteScript() string {
	return fmt.Sprintf("add table inet %s\ndelete table inet %s\n", ruleset.TableName, ruleset.TableName)
}

// Table renders the table definition alone.
func Table(rs *ruleset.Ruleset) string {
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {\n", ruleset.TableName)
	for i, s := range rs.Sets {
		if i > 0 {
			b.WriteString("\n")
		}
		writeSet(&b, s)
	}
	for i, c := range rs.Chains {
		if i > 0 || len(rs.Sets) > 0 {
			b.WriteString("\n")
		}
		writeChain(&b, c)
	}
	b.WriteString("}\n")
	return b.String()
}

func writeSet(b *strings.Builder, s *ruleset.Set) {
	if s.Map {
		fmt.Fprintf(b, "\tmap %s {\n\t\ttype %s : verdict\n", s.Name, keyTypeName(s.Key))
	} else {
		fmt.Fprintf(b, "\tset %s {\n\t\ttype %s\n", s.Name, keyTypeName(s.Key))
	}
	if s.Size > 0 {
		fmt.Fprintf(b, "\t\tsize %d\n", s.Size)
	}
	var flags []string
	if s.Dynamic {
		flags = append(flags, "dynamic")
	}
	if s.Interval {
		flags = append(flags, "interval")
	}
	if s.HasTimeout() {
		flags = append(flags, "timeout")
	}
	if len(flags) > 0 {
		fmt.Fprintf(b, "\t\tflags %s\n", strings.Join(flags, ","))
	}
	if s.Timeout > 0 {
		fmt.Fprintf(b, "\t\ttimeout %s\n", duration(s.Timeout))
	}
	if len(s.Elements) > 0 {
		b.WriteString("\t\telements = { ")
		for i, e := range s.Elements {
			if i > 0 {
				b.WriteString(",\n\t\t\t     ")
			}
			b.WriteString(elementText(s.Key, e))
		}
		b.WriteString(" }\n")
	}
	b.WriteString("\t}\n")
}

func keyTypeName(k ruleset.SetKey) string {
	switch k {
	case ruleset.KeyIPv4Addr:
		return "ipv4_addr"
	case ruleset.KeyIPv6Addr:
		return "ipv6_addr"
	case ruleset.KeyNFProto:
		return "nf_proto"
	case ruleset.KeyPort:
		return "inet_service"
	}
	panic(fmt.Sprintf("nft: unknown set key %d", k))
}

func elementText(k ruleset.SetKey, e ruleset.Element) string {
	var s string
	switch k {
	case ruleset.KeyNFProto:
		s = e.Proto.String()
	case ruleset.KeyPort:
		s = strconv.Itoa(int(e.Port))
	default:
		s = rangeText(e)
	}
	if e.Timeout > 0 {
		s += " timeout " + duration(e.Timeout)
	}
	if e.Jump != "" {
		s += " : jump " + e.Jump
	}
	return s
}

func rangeText(e ruleset.Element) string {
	if e.First == e.Last {
		return e.First.String()
	}
	if p, ok := e.Prefix(); ok {
		return p.String()
	}
	return e.First.String() + "-" + e.Last.String()
}

// duration formats a duration the way nft reads it: 1h30m, 10s, 250ms.
func duration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	units := []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}}
	for _, u := range units {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.d
		}
	}
	return b.String()
}

// priorityNames are nft's symbolic priorities for family inet.
var priorityNames = [...]struct {
	name string
	prio int
}{{"raw", -300}, {"mangle", -150}, {"dstnat", -100}, {"filter", 0}, {"security", 50}, {"srcnat", 100}}

func priorityText(t ruleset.ChainType, p int) string {
	best, off := "", 0
	for _, n := range priorityNames {
		if t == ruleset.TypeNAT && n.name != "dstnat" && n.name != "srcnat" {
			continue
		}
		if best == "" || abs(p-n.prio) < abs(off) {
			best, off = n.name, p-n.prio
		}
	}
	switch {
	case off > 0:
		return fmt.Sprintf("%s + %d", best, off)
	case off < 0:
		return fmt.Sprintf("%s - %d", best, -off)
	}
	return best
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func writeChain(b *strings.Builder, c *ruleset.Chain) {
	fmt.Fprintf(b, "\tchain %s {\n", c.Name)
	if c.Base != nil {
		typ := "filter"
		if c.Base.Type == ruleset.TypeNAT {
			typ = "nat"
		}
		fmt.Fprintf(b, "\t\ttype %s hook %s priority %s; policy %s;\n",
			typ, c.Base.Hook, priorityText(c.Base.Type, c.Base.Priority), verdictText(c.Base.Policy))
	}
	for _, r := range c.Rules {
		fmt.Fprintf(b, "\t\t%s\n", RuleText(r))
	}
	b.WriteString("\t}\n")
}

// RuleText renders one rule as nft text.
func RuleText(r *ruleset.Rule) string {
	var parts []string
	for _, m := range r.Match {
		parts = append(parts, matchText(m))
	}
	if m := r.Meter; m != nil {
		parts = append(parts, fmt.Sprintf("update @%s { %s saddr %s }", m.Set, l3Name(m.Family), limitText(m.Limit)))
	}
	if r.Counter {
		parts = append(parts, "counter")
	}
	if r.Limit != nil {
		parts = append(parts, limitText(*r.Limit))
	}
	if r.Log != nil {
		parts = append(parts, fmt.Sprintf("log prefix %s level info", quote(r.Log.Prefix)))
	}
	if v := verdictText(r.Verdict); v != "" {
		parts = append(parts, v)
	}
	if r.Comment != "" {
		parts = append(parts, "comment "+quote(r.Comment))
	}
	return strings.Join(parts, " ")
}

// quote makes s a valid nft string: nft strings cannot hold a double quote
// or control characters, so those become ' and space.
func quote(s string) string {
	return `"` + Sanitize(s) + `"`
}

// Sanitize replaces the characters an nft string cannot hold.
func Sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' {
			return '\''
		}
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func limitText(l ruleset.Limit) string {
	over := ""
	if l.Over {
		over = "over "
	}
	return fmt.Sprintf("limit rate %s%d/%s burst %d packets", over, l.Rate, unitName(l.Unit), l.Burst)
}

func unitName(d time.Duration) string {
	switch d {
	case time.Second:
		return "second"
	case time.Minute:
		return "minute"
	case time.Hour:
		return "hour"
	case 24 * time.Hour:
		return "day"
	case 7 * 24 * time.Hour:
		return "week"
	}
	panic(fmt.Sprintf("nft: limit unit %v", d))
}

func verdictText(v ruleset.Verdict) string {
	switch v.Kind {
	case ruleset.VerdictAccept:
		return "accept"
	case ruleset.VerdictDrop:
		return "drop"
	case ruleset.VerdictReject:
		switch v.Reject {
		case ruleset.RejectTCPReset:
			return "reject with tcp reset"
		case ruleset.RejectAdminProhibited:
			return "reject with icmpx type admin-prohibited"
		}
		return "reject with icmpx type port-unreachable"
	case ruleset.VerdictJump:
		return "jump " + v.Chain
	case ruleset.VerdictReturn:
		return "return"
	case ruleset.VerdictVmap:
		if v.Proto != 0 {
			return fmt.Sprintf("%s dport vmap @%s", protoName(v.Proto), v.Map)
		}
		return fmt.Sprintf("%s %s vmap @%s", l3Name(v.Family), dirName(v.Dir, "saddr", "daddr"), v.Map)
	case ruleset.VerdictDNAT:
		if v.To.Addr().Is4() {
			return fmt.Sprintf("dnat ip to %s", v.To)
		}
		return fmt.Sprintf("dnat ip6 to %s", v.To)
	}
	return ""
}

func l3Name(f ruleset.Family) string {
	if f == ruleset.IPv6 {
		return "ip6"
	}
	return "ip"
}

func protoName(p uint8) string {
	switch p {
	case ruleset.ProtoTCP:
		return "tcp"
	case ruleset.ProtoUDP:
		return "udp"
	case ruleset.ProtoICMP:
		return "icmp"
	case ruleset.ProtoICMPv6:
		return "ipv6-icmp"
	}
	return strconv.Itoa(int(p))
}

func neg(n bool) string {
	if n {
		return "!= "
	}
	return ""
}

func dirName(d ruleset.Dir, src, dst string) string {
	if d == ruleset.Src {
		return src
	}
	return dst
}

func matchText(m ruleset.Match) string {
	switch m := m.(type) {
	case ruleset.NFProto:
		return "meta nfproto " + m.Family.String()
	case ruleset.L4Proto:
		return "meta l4proto " + protoName(m.Proto)
	case ruleset.Iface:
		return fmt.Sprintf("%s %s%s", dirName(m.Dir, "iifname", "oifname"), neg(m.Neg), quote(m.Name))
	case ruleset.Addr:
		if m.Set != "" && m.Mask > 0 {
			// As nft lists it: the lookup of a masked value reads as a
			// comparison.
			op := "=="
			if m.Neg {
				op = "!="
			}
			return fmt.Sprintf("%s %s & %s %s @%s", l3Name(m.Family), dirName(m.Dir, "saddr", "daddr"), maskText(m.Family, m.Mask), op, m.Set)
		}
		return fmt.Sprintf("%s %s %s%s", l3Name(m.Family), dirName(m.Dir, "saddr", "daddr"), neg(m.Neg), addrOperand(m))
	case ruleset.Port:
		return fmt.Sprintf("%s %s %s", protoName(m.Proto), dirName(m.Dir, "sport", "dport"), portsText(m.Ranges))
	case ruleset.CtState:
		return "ct state " + ctStateText(m.States)
	case ruleset.CtDNAT:
		return fmt.Sprintf("ct status dnat ct original proto-dst %d", m.OrigPort)
	case ruleset.TCPFlags:
		op := "=="
		if m.Neg {
			op = "!="
		}
		return fmt.Sprintf("tcp flags & (%s) %s %s", tcpFlagsText(m.Mask, "|"), op, tcpFlagsText(m.Value, "|"))
	case ruleset.ICMPType:
		kw, names := "icmp", icmpNames
		if m.Family == ruleset.IPv6 {
			kw, names = "icmpv6", icmpv6Names
		}
		var ts []string
		for _, t := range m.Types {
			ts = append(ts, names[t])
		}
		return kw + " type " + braces(ts)
	case ruleset.HopLimit:
		return fmt.Sprintf("ip6 hoplimit %d", m.Value)
	case ruleset.InSet:
		return "meta nfproto @" + m.Set
	case ruleset.LocalDst:
		return "fib daddr type local"
	case ruleset.DNATed:
		if m.Neg {
			return "ct status & dnat == 0"
		}
		return "ct status dnat"
	case ruleset.OrigPort:
		return fmt.Sprintf("meta l4proto %s ct original proto-dst %s", protoName(m.Proto), portsText([]ruleset.PortRange{m.Range}))
	}
	panic(fmt.Sprintf("nft: unknown match %T", m))
}

func addrOperand(m ruleset.Addr) string {
	if m.Set != "" {
		return "@" + m.Set
	}
	var es []string
	for _, e := range m.Ranges {
		es = append(es, rangeText(e))
	}
	return braces(es)
}

// maskText writes a prefix mask as nft lists it: ffff:ffff:ffff:ffff:: for
// /64, 255.255.255.0 for /24.
func maskText(f ruleset.Family, bits int) string {
	a, _ := netip.AddrFromSlice(familyMask(f, bits))
	return a.String()
}

// familyMask returns the bytes of a mask of the first bits ones.
func familyMask(f ruleset.Family, bits int) []byte {
	zero := netip.IPv4Unspecified()
	if f == ruleset.IPv6 {
		zero = netip.IPv6Unspecified()
	}
	return prefixMask(netip.PrefixFrom(zero, bits))
}

func braces(items []string) string {
	if len(items) == 1 {
		return items[0]
	}
	return "{ " + strings.Join(items, ", ") + " }"
}

func portsText(rs []ruleset.PortRange) string {
	var ps []string
	for _, r := range rs {
		if r.First == r.Last {
			ps = append(ps, strconv.Itoa(int(r.First)))
		} else {
			ps = append(ps, fmt.Sprintf("%d-%d", r.First, r.Last))
		}
	}
	return braces(ps)
}

func ctStateText(s uint32) string {
	var out []string
	for _, st := range []struct {
		bit  uint32
		name string
	}{{ruleset.CtInvalid, "invalid"}, {ruleset.CtEstablished, "established"}, {ruleset.CtRelated, "related"}, {ruleset.CtNew, "new"}} {
		if s&st.bit != 0 {
			out = append(out, st.name)
		}
	}
	return strings.Join(out, ",")
}

func tcpFlagsText(f uint8, sep string) string {
	if f == 0 {
		return "0x0"
	}
	var out []string
	for i, name := range []string{"fin", "syn", "rst", "psh", "ack", "urg"} {
		if f&(1<<i) != 0 {
			out = append(out, name)
		}
	}
	return strings.Join(out, sep)
}

// icmpNames and icmpv6Names hold the ICMP types seawall uses, by number.
var icmpNames = map[uint8]string{
	0: "echo-reply", 3: "destination-unreachable", 8: "echo-request",
	11: "time-exceeded", 12: "parameter-problem",
}

var icmpv6Names = map[uint8]string{
	1: "destination-unreachable", 2: "packet-too-big", 3: "time-exceeded",
	4: "parameter-problem", 128: "echo-request", 129: "echo-reply",
	130: "mld-listener-query", 131: "mld-listener-report", 132: "mld-listener-done",
	133: "nd-router-solicit", 134: "nd-router-advert", 135: "nd-neighbor-solicit",
	136: "nd-neighbor-advert", 137: "nd-redirect", 143: "mld2-listener-report",
}
