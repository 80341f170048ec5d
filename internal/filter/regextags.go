package filter

import (
	"fmt"
	"strings"
)

// This file expands fail2ban's regex tags, <HOST>, <ADDR>, <F-USER>...</F-USER>
// and the others, into named groups (in Python syntax; pyregex.go then
// translates the whole pattern). The group names are fail2ban's, so captured
// values read the same as in fail2ban: ip4, ip6, dns, cidr, fid, fport, and
// the lower-cased name of every <F-NAME> group.

// Address patterns. IPv6's fail2ban form ends in "(?<=:):"; the lookbehind
// always holds there (every repetition ends with ':'), so it is dropped and
// the pattern stays within Go's syntax.
const (
	ip4Pattern = `(?:\d{1,3}\.){3}\d{1,3}`
	ip6Pattern = `(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|:)`

	reIP4    = `(?:::f{4,6}:)?(?P<ip4>` + ip4Pattern + `)` // ::ffff:1.2.3.4 captures 1.2.3.4
	reIP6    = `(?P<ip6>` + ip6Pattern + `)`
	reDNS    = `(?P<dns>[\w\-.^_]*\w)`
	reCIDR   = `(?P<cidr>\d+)`
	reAddr   = `\[?(?:` + reIP4 + `|` + reIP6 + `)\]?`
	reHost   = `(?:` + reAddr + `|` + reDNS + `)`
	reSubnet = `\[?(?:` + reIP4 + `|` + reIP6 + `)(?:/` + reCIDR + `)?\]?`
)

// staticTags are the tags replaced by a fixed pattern.
var staticTags = map[string]string{
	"HOST": reHost, "ADDR": reAddr, "F-ADDR/": reAddr,
	"IP4": reIP4, "F-IP4/": reIP4, "IP6": reIP6, "F-IP6/": reIP6,
	"DNS": reDNS, "F-DNS/": reDNS, "CIDR": reCIDR, "F-CIDR/": reCIDR,
	"SUBNET": reSubnet, "F-SUBNET/": reSubnet,
	"F-ID/": `(?P<fid>\S+)`, "F-PORT/": `(?P<fport>\w+)`,
}

// fieldGroup maps an <F-NAME> tag name to its group name.
func fieldGroup(tag string) string {
	n := strings.ToLower(tag)
	switch n {
	case "id":
		return "fid"
	case "port":
		return "fport"
	}
	return n
}

// expandRegexTags replaces fail2ban's tags in a failregex, ignoreregex or
// prefregex. Unknown <TAGS> are left as they are (they may be part of the
// log text, like <HOST> is not).
func expandRegexTags(re string) string {
	var b strings.Builder
	open := map[string]bool{}
	skip := 0
	last := 0
	for i := 0; i < len(re); i++ {
		if re[i] != '<' {
			continue
		}
		end, tag, ok := regexTagAt(re, i)
		if !ok {
			continue
		}
		b.WriteString(re[last:i])
		last = end
		name := tag[1 : len(tag)-1]
		switch {
		case name == "SKIPLINES":
			fmt.Fprintf(&b, `\n(?P<skiplines%d>(?:(?:.*\n)*?))`, skip)
			skip++
		case staticTags[name] != "":
			b.WriteString(staticTags[name])
		default:
			b.WriteString(fieldTag(name, tag, open))
		}
		i = end - 1
	}
	b.WriteString(re[last:])
	return b.String()
}

// fieldTag expands <F-NAME> to a named group and </F-NAME> to its end; any
// other tag stays as written.
func fieldTag(name, tag string, open map[string]bool) string {
	closing := strings.HasPrefix(name, "/")
	n := strings.TrimPrefix(name, "/")
	if !strings.HasPrefix(n, "F-") || !validFieldName(n[2:]) {
		return tag
	}
	n = n[2:]
	if closing {
		if open[n] {
			return ")"
		}
		return tag
	}
	open[n] = true
	return "(?P<" + fieldGroup(n) + ">"
}

// validFieldName reports whether s is an <F-NAME> name: [A-Z0-9_-]+.
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// regexTagAt recognises </?[\w-]+/?> at i.
func regexTagAt(s string, i int) (end int, tag string, ok bool) {
	j := i + 1
	if j < len(s) && s[j] == '/' {
		j++
	}
	start := j
	for j < len(s) && (isAlnum(s[j]) || s[j] == '_' || s[j] == '-') {
		j++
	}
	if j == start {
		return 0, "", false
	}
	if j < len(s) && s[j] == '/' {
		j++
	}
	if j >= len(s) || s[j] != '>' {
		return 0, "", false
	}
	return j + 1, s[i : j+1], true
}
