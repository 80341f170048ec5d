package jail

import (
	"net/netip"
)

// DefaultV6Prefix is the prefix length IPv6 sources are counted and banned
// by when Config.V6Prefix is zero. A /64 is what one subscriber line or one
// cloud instance usually gets: banning a single /128 inside it is useless,
// since the attacker can pick any of its 2^64 addresses.
const DefaultV6Prefix = 64

// alwaysIgnored are sources no jail may ever count or ban: banning loopback
// or link-local bans the host itself (and, on a Docker host, every container
// talking to its gateway); unspecified, broadcast and multicast addresses are
// not valid sources, so a log line naming one is garbage or an injection.
var alwaysIgnored = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),        // loopback
	netip.MustParsePrefix("169.254.0.0/16"),     // link-local
	netip.MustParsePrefix("0.0.0.0/32"),         // unspecified
	netip.MustParsePrefix("224.0.0.0/4"),        // multicast
	netip.MustParsePrefix("255.255.255.255/32"), // limited broadcast
	netip.MustParsePrefix("::1/128"),            // loopback
	netip.MustParsePrefix("fe80::/10"),          // link-local
	netip.MustParsePrefix("::/128"),             // unspecified
	netip.MustParsePrefix("ff00::/8"),           // multicast
}

// Normalize returns the prefix a source address is counted and banned by:
// IPv4 (also when written IPv4-mapped, ::ffff:1.2.3.4) as its /32, IPv6 as
// its /v6Bits prefix. It drops any IPv6 zone. v6Bits outside 1..128 means
// DefaultV6Prefix.
func Normalize(addr netip.Addr, v6Bits int) netip.Prefix {
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return netip.PrefixFrom(addr, 32)
	}
	if v6Bits < 1 || v6Bits > 128 {
		v6Bits = DefaultV6Prefix
	}
	p, _ := addr.Prefix(v6Bits) // cannot fail: addr is IPv6, v6Bits in range
	return p
}

// canonicalPrefix returns p masked, with an IPv4-mapped IPv6 prefix of /96 or
// longer rewritten as the IPv4 prefix it denotes, and any zone dropped. ok is
// false for an invalid prefix or a mapped prefix shorter than /96, which
// mixes IPv4 and IPv6 space and is no sensible ban or ignore entry.
func canonicalPrefix(p netip.Prefix) (netip.Prefix, bool) {
	if !p.IsValid() {
		return netip.Prefix{}, false
	}
	a := p.Addr().WithZone("")
	bits := p.Bits()
	if a.Is4In6() {
		if bits < 96 {
			return netip.Prefix{}, false
		}
		a, bits = a.Unmap(), bits-96
	}
	return netip.PrefixFrom(a, bits).Masked(), true
}

// isHost reports whether p covers exactly one address.
func isHost(p netip.Prefix) bool { return p.Bits() == p.Addr().BitLen() }

// ignoreList holds the prefixes a jail never bans: the built-in ones and the
// caller's, all canonical.
type ignoreList struct{ prefixes []netip.Prefix }

// newIgnoreList builds the list from the caller's prefixes; it returns the
// first invalid one as bad.
func newIgnoreList(user []netip.Prefix) (l ignoreList, bad netip.Prefix, ok bool) {
	l.prefixes = make([]netip.Prefix, 0, len(alwaysIgnored)+len(user))
	l.prefixes = append(l.prefixes, alwaysIgnored...)
	for _, p := range user {
		c, ok := canonicalPrefix(p)
		if !ok {
			return ignoreList{}, p, false
		}
		l.prefixes = append(l.prefixes, c)
	}
	return l, netip.Prefix{}, true
}

// contains reports whether addr (unmapped, unzoned) is ignored.
func (l ignoreList) contains(addr netip.Addr) bool {
	for _, p := range l.prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// overlaps reports whether any address of p (canonical) is ignored.
func (l ignoreList) overlaps(p netip.Prefix) bool {
	for _, q := range l.prefixes {
		if q.Overlaps(p) {
			return true
		}
	}
	return false
}

// key is a canonical prefix in a form without pointers (netip.Addr holds
// one), so that the maps of tracked and banned prefixes are not scanned by
// the garbage collector and cost a fixed 18 bytes per key.
type key struct {
	addr [16]byte
	bits uint8
	v4   bool
}

// keyOf returns p's key; p must be canonical.
func keyOf(p netip.Prefix) key {
	a := p.Addr()
	return key{addr: a.As16(), bits: uint8(p.Bits()), v4: a.Is4()}
}

// prefix returns the prefix k stands for.
func (k key) prefix() netip.Prefix {
	a := netip.AddrFrom16(k.addr)
	if k.v4 {
		a = a.Unmap()
	}
	return netip.PrefixFrom(a, int(k.bits))
}
