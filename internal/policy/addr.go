package policy

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// pendingRefs is a list of addresses whose names are checked once every
// group and set is known.
type pendingRefs struct {
	list  *[]AddrRef
	paths []string // field path of each item
	group bool     // the list is a group's members: only group names allowed
}

const addrWhat = "an address, CIDR, group or set name"

// validName reports whether s can name a group or set:
// ^[a-zA-Z][a-zA-Z0-9_-]{0,39}$.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 40 || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !('0' <= c && c <= '9') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// parseLiteral parses an address or CIDR. IPv4-mapped IPv6 becomes IPv4 and
// a single address becomes a /32 or /128.
func parseLiteral(s string) (netip.Prefix, string) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Sprintf("invalid CIDR %q", s)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if m := p.Masked(); m != p {
			return netip.Prefix{}, fmt.Sprintf("host bits set; did you mean %s", m)
		}
		return p, ""
	}
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil && !strings.ContainsAny(s, ".:"):
		return netip.Prefix{}, fmt.Sprintf("invalid address, CIDR or name %q", s)
	case err != nil:
		return netip.Prefix{}, fmt.Sprintf("invalid IP address %q", s)
	case a.Zone() != "":
		return netip.Prefix{}, fmt.Sprintf("address %q has a zone; zones are not allowed", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), ""
}

// addr parses one address, CIDR or name. Names are GroupRef until resolve
// knows better.
func (ps *parser) addr(it strItem) (AddrRef, bool) {
	if validName(it.s) {
		return AddrRef{Kind: GroupRef, Name: it.s, Pos: it.pos}, true
	}
	p, msg := parseLiteral(it.s)
	if msg != "" {
		ps.errAt(it.pos, it.path, "%s", msg)
		return AddrRef{}, false
	}
	return AddrRef{Kind: Literal, Prefix: p, Pos: it.pos}, true
}

// addrs parses a from, to or not_from value into dst. "any" alone leaves dst
// empty.
func (ps *parser) addrs(dst *[]AddrRef, n ast.Node, path string) {
	items := ps.strList(n, path, addrWhat, false)
	var refs []AddrRef
	var paths []string
	for _, it := range items {
		if it.s == "any" {
			if len(items) > 1 {
				ps.errAt(it.pos, it.path, `"any" cannot be combined with other addresses`)
			}
			continue
		}
		if ref, ok := ps.addr(it); ok {
			refs = append(refs, ref)
			paths = append(paths, it.path)
		}
	}
	*dst = refs
	ps.pending = append(ps.pending, pendingRefs{list: dst, paths: paths})
}

// checkName checks the name of a group or set being defined.
func (ps *parser) checkName(e entry) bool {
	switch {
	case !validName(e.name):
		ps.errorf(e.kv.Key, e.path, "invalid name %q; a name starts with a letter "+
			"and has at most 40 letters, digits, '_' and '-'", e.name)
		return false
	case e.name == "any":
		ps.errorf(e.kv.Key, e.path, `name "any" is reserved`)
		return false
	}
	return true
}

// groups parses the groups section.
func (ps *parser) groups(kv *ast.MappingValueNode, path string) {
	m, ok := ps.mapping(kv.Value, path)
	if !ok {
		return
	}
	for _, e := range ps.entries(m, path) {
		g := &Group{Name: e.name, Pos: ps.pos(e.kv.Key)}
		ok := ps.checkName(e)
		ps.members(g, e.kv.Value, e.path)
		if ok {
			ps.pol.Groups = append(ps.pol.Groups, g)
		}
	}
}

// members parses a group's members.
func (ps *parser) members(g *Group, n ast.Node, path string) {
	var paths []string
	for _, it := range ps.strList(n, path, "an address, CIDR or group name", true) {
		if it.s == "any" {
			ps.errAt(it.pos, it.path, `"any" cannot be a group member`)
			continue
		}
		if ref, ok := ps.addr(it); ok {
			g.Members = append(g.Members, ref)
			paths = append(paths, it.path)
		}
	}
	ps.memberPaths[g] = paths
	ps.pending = append(ps.pending, pendingRefs{list: &g.Members, paths: paths, group: true})
}

// sets parses the sets section.
func (ps *parser) sets(kv *ast.MappingValueNode, path string) {
	m, ok := ps.mapping(kv.Value, path)
	if !ok {
		return
	}
	for _, e := range ps.entries(m, path) {
		s := &Set{Name: e.name, Pos: ps.pos(e.kv.Key)}
		ok := ps.checkName(e)
		ps.fields(e.kv.Value, e.path, []field{
			{name: "entries", fn: func(kv *ast.MappingValueNode, path string) {
				s.Entries = ps.setEntries(kv.Value, path)
			}},
			{name: "files", fn: func(kv *ast.MappingValueNode, path string) {
				s.Files = ps.setFiles(kv.Value, path)
			}},
		})
		if ok {
			ps.pol.Sets = append(ps.pol.Sets, s)
		}
	}
}

// setEntries parses a set's inline entries: addresses and CIDRs only.
func (ps *parser) setEntries(n ast.Node, path string) []AddrRef {
	var out []AddrRef
	for _, it := range ps.strList(n, path, "an address or CIDR", true) {
		if validName(it.s) {
			ps.errAt(it.pos, it.path, "set entries must be addresses or CIDRs, not names (%q)", it.s)
			continue
		}
		if ref, ok := ps.addr(it); ok {
			out = append(out, ref)
		}
	}
	return out
}

// setFiles parses a set's file list.
func (ps *parser) setFiles(n ast.Node, path string) []SetFile {
	var out []SetFile
	for _, it := range ps.strList(n, path, "a file path", true) {
		if strings.TrimSpace(it.s) == "" {
			ps.errAt(it.pos, it.path, "empty file path")
			continue
		}
		out = append(out, SetFile{Path: it.s, Pos: it.pos})
	}
	return out
}

// redirectTo parses a redirect's destination, ADDR:PORT.
func (ps *parser) redirectTo(r *Redirect, n ast.Node, path string) {
	s, ok := ps.str(n, path, `an address and port like 172.17.0.4:8022 or "[2001:db8::4]:8022"`)
	if !ok {
		return
	}
	ap, err := netip.ParseAddrPort(s)
	switch {
	case err != nil:
		ps.errorf(n, path, "invalid address and port %q; want e.g. 172.17.0.4:8022 or [2001:db8::4]:8022", s)
	case ap.Addr().Zone() != "":
		ps.errorf(n, path, "address %q has a zone; zones are not allowed", s)
	case ap.Port() == 0:
		ps.errorf(n, path, "port 0 out of range 1-65535")
	default:
		r.To = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
}
