package filter

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Failure is one failure a filter found.
type Failure struct {
	Host   string            // as captured, normalised when an address
	Addr   netip.Addr        // valid when Host is an address
	Prefix netip.Prefix      // valid when a <SUBNET>/<CIDR> was captured
	Time   time.Time         // from the line's date, or the caller's (journal)
	Regex  int               // index into FailRegexes
	Fields map[string]string // other <F-*> captures, lower-case names (user, id, ...)
	Lines  []string          // the line(s) that made it (multi-line: all of them)

	// Users lists, sorted, every user name seen on the connection this
	// failure belongs to (filters that link lines by <F-MLFID>); nil otherwise.
	Users []string
}

// field is one captured group.
type field struct{ name, value string }

// fieldSet holds captured groups by name; it is small (a handful of
// groups), so a slice beats a map.
type fieldSet []field

func (fs fieldSet) get(name string) (string, bool) {
	for i := range fs {
		if fs[i].name == name {
			return fs[i].value, true
		}
	}
	return "", false
}

// has reports whether name was captured with a non-empty value (Python's
// truthiness, which fail2ban tests its flag groups with).
func (fs fieldSet) has(name string) bool {
	v, _ := fs.get(name)
	return v != ""
}

func (fs *fieldSet) set(name, value string) {
	for i := range *fs {
		if (*fs)[i].name == name {
			(*fs)[i].value = value
			return
		}
	}
	*fs = append(*fs, field{name, value})
}

func (fs *fieldSet) del(name string) {
	for i := range *fs {
		if (*fs)[i].name == name {
			*fs = append((*fs)[:i], (*fs)[i+1:]...)
			return
		}
	}
}

// groupSlot is a named group of a regex: its lower-cased name and number.
type groupSlot struct {
	name    string
	num     int
	control bool // a control group (isControl)
}

// namedGroups lists a regex's named groups.
func namedGroups(names []string) []groupSlot {
	var out []groupSlot
	for i, n := range names {
		if n != "" {
			n = strings.ToLower(n)
			out = append(out, groupSlot{n, i, isControl(n)})
		}
	}
	return out
}

// capture adds the groups of r's match loc in s that took part to fs,
// overriding earlier values (the prefregex's) of the same name.
func capture(fs *fieldSet, r *regex, s string, loc []int) {
	for _, g := range r.slots {
		if 2*g.num+1 < len(loc) && loc[2*g.num] >= 0 {
			fs.set(g.name, s[loc[2*g.num]:loc[2*g.num+1]])
		}
	}
}

// isControl reports whether a group steers matching rather than captures
// a field: those are not reported or kept.
func isControl(name string) bool {
	switch name {
	case "mlfid", "content", "nofail", "mlfforget", "mlfgained":
		return true
	}
	return false
}

// mergeAlternates applies fail2ban's <F-ALT_NAME> rule: alt_name (or
// alt_name_2, ...) supplies name when name is empty.
func (fs *fieldSet) mergeAlternates() {
	var alts []string
	for _, f := range *fs {
		if strings.HasPrefix(f.name, "alt_") {
			alts = append(alts, f.name)
		}
	}
	if len(alts) == 0 {
		return
	}
	sort.Strings(alts)
	for _, k := range alts {
		base := strings.TrimPrefix(k, "alt_")
		if i := strings.LastIndexByte(base, '_'); i > 0 {
			if _, err := strconv.Atoi(base[i+1:]); err == nil {
				base = base[:i]
			}
		}
		if v, _ := fs.get(k); v != "" && !fs.has(base) {
			fs.set(base, v)
		}
	}
}

// rawHost finds the failure's host in captured values, unparsed: the
// address (ip4, ip6), else the host name (dns), else the failure id (fid).
// isAddr says it came from an address group.
func rawHost(fs fieldSet) (host string, isAddr, ok bool) {
	fid, hasFID := fs.get("fid")
	switch {
	case hasValue(fs, "ip4", &host), hasValue(fs, "ip6", &host):
		isAddr = true
	case fs.has("dns"):
		host, _ = fs.get("dns")
	case hasFID:
		host = fid
	}
	if hasFID && fid != host {
		return fid, false, fid != "" // a failure identified by something else than its address
	}
	return host, isAddr, host != ""
}

func hasValue(fs fieldSet, name string, out *string) bool {
	v, ok := fs.get(name)
	if ok {
		*out = v
	}
	return ok
}

// hostOf returns the failure's host, normalised when it is an address:
// IPv4-mapped IPv6 becomes IPv4, a captured cidr makes a prefix. A host
// name is returned as it is, never resolved.
func hostOf(fs fieldSet) (host string, addr netip.Addr, pfx netip.Prefix, ok bool) {
	host, isAddr, ok := rawHost(fs)
	if !ok {
		return "", netip.Addr{}, netip.Prefix{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return host, netip.Addr{}, netip.Prefix{}, true
	}
	unmapped := a.Unmap()
	if bits, has := fs.get("cidr"); has && isAddr {
		a = unmapped
		n, err := strconv.Atoi(bits)
		if err != nil || n < 0 || n > a.BitLen() {
			return host + "/" + bits, netip.Addr{}, netip.Prefix{}, true
		}
		p := netip.PrefixFrom(a, n).Masked()
		return p.String(), a, p, true
	}
	if a.Is4() {
		return host, a, netip.Prefix{}, true // already canonical: ParseAddr takes no other IPv4 form
	}
	return unmapped.String(), unmapped, netip.Prefix{}, true
}

// fieldsOf returns the reportable fields: every named group (the address
// groups ip4, ip6, dns and cidr included) but the control groups and private
// ones (__name), with fid and fport named id and port.
func fieldsOf(fs fieldSet) map[string]string {
	out := make(map[string]string, len(fs))
	for _, f := range fs {
		switch k := f.name; {
		case isControl(k), strings.HasPrefix(k, "__"), strings.HasPrefix(k, "skiplines"):
			continue
		case k == "fid":
			out["id"] = f.value
		case k == "fport":
			out["port"] = f.value
		default:
			out[k] = f.value
		}
	}
	return out
}

// newFailure builds a failure from captured values; ok is false when they
// hold no host. With noFields, Fields stays nil (Options.NoFields).
func newFailure(fs fieldSet, t time.Time, regex int, lines []string, noFields bool) (Failure, bool) {
	host, addr, pfx, ok := hostOf(fs)
	if !ok {
		return Failure{}, false
	}
	f := Failure{Host: host, Addr: addr, Prefix: pfx, Time: t, Regex: regex, Lines: lines}
	if !noFields {
		f.Fields = fieldsOf(fs)
	}
	return f, true
}
