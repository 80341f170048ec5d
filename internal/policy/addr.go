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

// containerPrefix starts a container reference, container:NAME.
const containerPrefix = "container:"

// Messages for address kinds used where they are not allowed.
const (
	msgDNSNotEgress    = "DNS names are only allowed as destinations of egress rules"
	msgContainerNoRule = "container references are only allowed in the from and to of rules"
)

// addrOpts says which kinds of address a list may hold besides addresses,
// CIDRs and group and set names.
type addrOpts struct {
	container bool // container:NAME
	dns       bool // DNS names: only the destinations of egress rules
}

// validName reports whether s can name a group or set:
// ^[a-zA-Z][a-zA-Z0-9_-]{0,39}$.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 40 || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !isDigit(c) && c != '_' && c != '-' {
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

// parseAddr parses one address, CIDR, name, container:NAME or DNS name,
// returning a message on failure. Names are GroupRef until resolve knows
// better. The kinds o leaves out are errors.
func parseAddr(s string, pos Pos, o addrOpts) (AddrRef, string) {
	if name, ok := strings.CutPrefix(s, containerPrefix); ok {
		if !o.container {
			return AddrRef{}, msgContainerNoRule
		}
		if msg := checkContainerName(name); msg != "" {
			return AddrRef{}, msg
		}
		return AddrRef{Kind: ContainerRef, Name: name, Pos: pos}, ""
	}
	if validName(s) {
		return AddrRef{Kind: GroupRef, Name: s, Pos: pos}, ""
	}
	p, msg := parseLiteral(s)
	if msg == "" {
		return AddrRef{Kind: Literal, Prefix: p, Pos: pos}, ""
	}
	if looksLikeDNSName(s) {
		if dmsg := checkDNSName(s); dmsg != "" {
			return AddrRef{}, dmsg
		}
		if !o.dns {
			return AddrRef{}, msgDNSNotEgress
		}
		return AddrRef{Kind: DNSRef, Name: s, Pos: pos}, ""
	}
	return AddrRef{}, msg
}

// addr parses one address of a YAML list, reporting a mistake.
func (ps *parser) addr(it strItem, o addrOpts) (AddrRef, bool) {
	ref, msg := parseAddr(it.s, it.pos, o)
	if msg != "" {
		ps.errAt(it.pos, it.path, "%s", msg)
		return AddrRef{}, false
	}
	return ref, true
}

// addrs parses a from, to or not_from value into dst. "any" alone leaves dst
// empty.
func (ps *parser) addrs(dst *[]AddrRef, n ast.Node, path string, o addrOpts) {
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
		if ref, ok := ps.addr(it, o); ok {
			refs = append(refs, ref)
			paths = append(paths, it.path)
		}
	}
	*dst = refs
	ps.pending = append(ps.pending, pendingRefs{list: dst, paths: paths})
}

// looksLikeDNSName reports whether s that is not an address was probably
// meant as a DNS name: it has a dot, a label that starts with a letter, and
// no character of an IPv6 address or CIDR.
func looksLikeDNSName(s string) bool {
	if !strings.Contains(s, ".") || strings.ContainsAny(s, ":/%") {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label != "" && isLetter(label[0]) {
			return true
		}
	}
	return false
}

// checkDNSName checks a DNS name: at most 253 characters, at least two
// dot-separated labels of 1 to 63 letters, digits and hyphens, no label
// starting or ending with a hyphen, and a last label that starts with a
// letter (so that no name can be read as an IPv4 address). A trailing dot
// is not allowed.
func checkDNSName(s string) string {
	switch {
	case len(s) > 253:
		return fmt.Sprintf("DNS name %.20q... is longer than 253 characters", s)
	case strings.HasSuffix(s, "."):
		return fmt.Sprintf("invalid DNS name %q; write it without the trailing '.'", s)
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		switch {
		case l == "":
			return fmt.Sprintf("invalid DNS name %q: empty label", s)
		case len(l) > 63:
			return fmt.Sprintf("invalid DNS name %q: label %.20q... is longer than 63 characters", s, l)
		case l[0] == '-' || l[len(l)-1] == '-':
			return fmt.Sprintf("invalid DNS name %q: label %q starts or ends with '-'", s, l)
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !isLetter(c) && !isDigit(c) && c != '-' {
				return fmt.Sprintf("invalid DNS name %q: a DNS name has only letters, digits, '-' and '.'", s)
			}
		}
	}
	if last := labels[len(labels)-1]; !isLetter(last[0]) {
		return fmt.Sprintf("invalid DNS name %q: the last label must start with a letter", s)
	}
	return ""
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// checkContainerName checks a container name or compose service as Docker
// allows them: ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$, at most 255 characters.
func checkContainerName(s string) string {
	if s == "" {
		return "missing container name after \"" + containerPrefix + "\""
	}
	ok := len(s) <= 255 && (isLetter(s[0]) || isDigit(s[0]))
	for i := 1; ok && i < len(s); i++ {
		c := s[i]
		ok = isLetter(c) || isDigit(c) || c == '_' || c == '.' || c == '-'
	}
	if !ok {
		return fmt.Sprintf("invalid container name %q; a name starts with a letter or digit "+
			"and has at most 255 letters, digits, '_', '.' and '-'", s)
	}
	return ""
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
		if ref, ok := ps.addr(it, addrOpts{}); ok {
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
		ref, ok := ps.addr(it, addrOpts{container: true, dns: true})
		switch {
		case !ok:
		case ref.Kind != Literal:
			ps.errAt(it.pos, it.path, "set entries must be addresses or CIDRs, not names (%q)", it.s)
		default:
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
