package policy

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/goccy/go-yaml/ast"
)

// Jail is one entry of the jails section: log lines a filter recognises as
// failures, counted per source address, and bans for the sources that fail
// too often.
type Jail struct {
	Name string
	Pos  Pos // position of the name
	Logs []*LogSource
	// Filter is the filter spec as written: a built-in name or a fail2ban
	// filter file, with options ("sshd[mode=aggressive]"); "" when the
	// jail gives its own Match patterns instead.
	Filter    string
	FilterPos Pos // zero when Filter is ""
	// Match holds failregex patterns in fail2ban's syntax (with <HOST>).
	Match    []string
	MatchPos []Pos
	MaxRetry int           // failures within FindTime that ban; default 5
	FindTime time.Duration // default 10m
	BanTime  time.Duration // default 10m; 0 when Permanent
	// Permanent bans never expire (bantime: permanent).
	Permanent bool
	Increment *Increment // nil: every ban lasts BanTime
	Ignore    []AddrRef  // sources never banned (besides loopback, the host's and Docker's own addresses)
	Scope     Scope
	ScopePos  Pos // the jail's own position when scope is defaulted
}

// Increment makes repeated bans of the same source longer: the n-th ban
// lasts BanTime × Factor^(n-1), at most Max.
type Increment struct {
	Factor float64
	Max    time.Duration
	Pos    Pos
}

// Scope says which traffic of a banned source is dropped.
type Scope int

// Scopes.
const (
	ScopeAll        Scope = iota // everything it sends: to the host and to containers
	ScopeHost                    // what it sends to the host itself
	ScopeContainers              // what it sends to containers (forwarded)
)

// String returns "all", "host" or "containers".
func (s Scope) String() string {
	switch s {
	case ScopeAll:
		return "all"
	case ScopeHost:
		return "host"
	case ScopeContainers:
		return "containers"
	}
	return "Scope(" + strconv.Itoa(int(s)) + ")"
}

// LogKind says where a jail's log lines come from.
type LogKind int

// Log kinds.
const (
	LogFile      LogKind = iota // a file, followed across rotation
	LogJournal                  // the systemd journal, by unit
	LogContainer                // the stdout and stderr of the containers a selector picks
)

// String returns "file", "journal" or "container", the keys of logs.
func (k LogKind) String() string {
	switch k {
	case LogFile:
		return "file"
	case LogJournal:
		return "journal"
	case LogContainer:
		return "container"
	}
	return "LogKind(" + strconv.Itoa(int(k)) + ")"
}

// LogSource is one of a jail's logs. Only the fields of its Kind are set.
type LogSource struct {
	Kind  LogKind
	Pos   Pos
	Path  string   // LogFile: absolute, or relative to the policy file
	Units []string // LogJournal: systemd units (ssh.service)
	// Matches are journal matches (FIELD=VALUE, e.g.
	// SYSLOG_IDENTIFIER=sshd): an entry of any unit or any match is read.
	Matches []string
	Select  *Selector // LogContainer only
}

// String returns the source as written, e.g. "file: /var/log/auth.log".
func (l *LogSource) String() string {
	switch l.Kind {
	case LogFile:
		return "file: " + l.Path
	case LogJournal:
		return "journal: " + strings.Join(append(slices.Clone(l.Units), l.Matches...), ", ")
	}
	return "container: " + l.Select.String()
}

// Jail defaults, as fail2ban's jail.conf.
const (
	DefaultMaxRetry = 5
	DefaultFindTime = 10 * time.Minute
	DefaultBanTime  = 10 * time.Minute
	maxMaxRetry     = 1_000_000
	maxJailDuration = 10 * 365 * 24 * time.Hour // bantime above this: write permanent
)

// Jail returns the jail with the given name, or nil.
func (p *Policy) Jail(name string) *Jail {
	for _, j := range p.Jails {
		if j.Name == name {
			return j
		}
	}
	return nil
}

// IgnorePrefixes returns the literal addresses and CIDRs a jail's ignore
// list names, through groups and sets (with their files' entries).
func (p *Policy) IgnorePrefixes(j *Jail) []netip.Prefix {
	var out []netip.Prefix
	for _, ref := range j.Ignore {
		switch ref.Kind {
		case Literal:
			out = append(out, ref.Prefix)
		case GroupRef:
			out = append(out, p.ResolveGroup(ref.Name)...)
		case SetRef:
			if s := p.SetByName(ref.Name); s != nil {
				for _, e := range s.Entries {
					out = append(out, e.Prefix)
				}
				out = append(out, s.fileEntries...)
			}
		}
	}
	return out
}

// jails parses the jails section.
func (ps *parser) jails(kv *ast.MappingValueNode, path string) {
	m, ok := ps.mapping(kv.Value, path)
	if !ok {
		return
	}
	for _, e := range ps.entries(m, path) {
		if !ps.checkName(e) {
			continue
		}
		if j := ps.jail(e); j != nil {
			ps.pol.Jails = append(ps.pol.Jails, j)
		}
	}
}

// jail parses one jail; nil if its value is not a mapping.
func (ps *parser) jail(e entry) *Jail {
	j := &Jail{Name: e.name, Pos: ps.pos(e.kv.Key), MaxRetry: DefaultMaxRetry, FindTime: DefaultFindTime, BanTime: DefaultBanTime}
	j.ScopePos = j.Pos // scope: all unless the jail says otherwise
	seen := ps.fields(e.kv.Value, e.path, []field{
		{name: "logs", fn: func(kv *ast.MappingValueNode, path string) { j.Logs = ps.logSources(kv.Value, path) }},
		{name: "filter", fn: func(kv *ast.MappingValueNode, path string) {
			s, ok := ps.str(kv.Value, path, `a filter name like "sshd" or a fail2ban filter file`)
			if !ok {
				return
			}
			if msg := checkFilterSpec(s); msg != "" {
				ps.errorf(kv.Value, path, "%s", msg)
				return
			}
			j.Filter, j.FilterPos = s, ps.pos(kv.Value)
		}},
		{name: "match", fn: func(kv *ast.MappingValueNode, path string) {
			for _, it := range ps.strList(kv.Value, path, "a failregex pattern", false) {
				if !strings.Contains(it.s, "<HOST>") && !strings.Contains(it.s, "<ADDR>") &&
					!strings.Contains(it.s, "<IP4>") && !strings.Contains(it.s, "<IP6>") &&
					!strings.Contains(it.s, "<SUBNET>") && !strings.Contains(it.s, "<CIDR>") &&
					!strings.Contains(it.s, "<F-IP>") && !strings.Contains(it.s, "(?P<host>") {
					ps.errAt(it.pos, it.path, "pattern %q has no <HOST>: it must say where the address is", it.s)
					continue
				}
				j.Match = append(j.Match, it.s)
				j.MatchPos = append(j.MatchPos, it.pos)
			}
		}},
		{name: "maxretry", fn: func(kv *ast.MappingValueNode, path string) {
			if n, ok := ps.integer(kv.Value, path, 1, maxMaxRetry); ok {
				j.MaxRetry = n
			}
		}},
		{name: "findtime", fn: func(kv *ast.MappingValueNode, path string) {
			if d, ok := ps.duration(kv.Value, path, false); ok {
				j.FindTime = d
			}
		}},
		{name: "bantime", fn: func(kv *ast.MappingValueNode, path string) {
			d, ok := ps.duration(kv.Value, path, true)
			if !ok {
				return
			}
			if d < 0 {
				j.Permanent, j.BanTime = true, 0
				return
			}
			j.BanTime = d
		}},
		{name: "increment", fn: func(kv *ast.MappingValueNode, path string) { j.Increment = ps.increment(kv, path) }},
		{name: "ignore", fn: ps.addrField(&j.Ignore, addrOpts{})},
		{name: "scope", fn: func(kv *ast.MappingValueNode, path string) {
			s, ok := ps.str(kv.Value, path, "host, containers or all")
			if !ok {
				return
			}
			switch s {
			case "all":
				j.Scope = ScopeAll
			case "host":
				j.Scope = ScopeHost
			case "containers":
				j.Scope = ScopeContainers
			default:
				ps.errorf(kv.Value, path, "unknown scope %q%s; want host, containers or all", s, didYouMean(s, []string{"host", "containers", "all"}))
				return
			}
			j.ScopePos = ps.pos(kv.Value)
		}},
	})
	if seen == nil {
		return nil
	}
	ps.required(seen, j.Pos, e.path, "logs")
	switch {
	case seen["filter"] != nil && seen["match"] != nil:
		ps.errorf(seen["match"].Key, e.path+".match", "a jail has either filter or match, not both")
	case seen["filter"] == nil && seen["match"] == nil:
		ps.errAt(j.Pos, e.path, "missing filter or match: say which log lines are failures")
	}
	if inc := j.Increment; inc != nil && !j.Permanent && inc.Max != 0 && inc.Max < j.BanTime {
		ps.errAt(inc.Pos, e.path+".increment.max", "increment max %s is shorter than bantime %s", FormatDuration(inc.Max), FormatDuration(j.BanTime))
	}
	return j
}

// logSources parses logs: one source or a list of them.
func (ps *parser) logSources(n ast.Node, path string) []*LogSource {
	nodes, paths := ps.list(n, path)
	if len(nodes) == 0 {
		ps.errorf(n, path, "expected a log source ({file: PATH}, {journal: UNIT} or {container: {SELECTOR}}), got %s", describe(n))
		return nil
	}
	var out []*LogSource
	for i, item := range nodes {
		if l := ps.logSource(item, paths[i]); l != nil {
			out = append(out, l)
		}
	}
	return out
}

// logSource parses one log source: exactly one of file, journal and
// container.
func (ps *parser) logSource(n ast.Node, path string) *LogSource {
	var l *LogSource
	one := func(kind LogKind, parse func(l *LogSource, kv *ast.MappingValueNode, path string) bool) func(*ast.MappingValueNode, string) {
		return func(kv *ast.MappingValueNode, path string) {
			if l != nil {
				ps.errorf(kv.Key, path, "a log source has one of file, journal and container (%s and %s); write a list for several", l.Kind, kind)
				return
			}
			src := &LogSource{Kind: kind, Pos: ps.pos(kv.Value)}
			if parse(src, kv, path) {
				l = src
			}
		}
	}
	seen := ps.fields(n, path, []field{
		{name: "file", fn: one(LogFile, func(l *LogSource, kv *ast.MappingValueNode, path string) bool {
			s, ok := ps.str(kv.Value, path, "a file path")
			if !ok {
				return false
			}
			if s == "" || strings.ContainsRune(s, 0) {
				ps.errorf(kv.Value, path, "invalid file path %q", s)
				return false
			}
			l.Path = s
			return true
		})},
		{name: "journal", fn: one(LogJournal, func(l *LogSource, kv *ast.MappingValueNode, path string) bool {
			for _, it := range ps.strList(kv.Value, path, "a systemd unit like ssh.service, or a match like SYSLOG_IDENTIFIER=sshd", false) {
				if field, _, ok := strings.Cut(it.s, "="); ok {
					if field == "" || strings.TrimLeft(field, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != "" || strings.ContainsFunc(it.s, unicode.IsControl) {
						ps.errAt(it.pos, it.path, "invalid journal match %q; want FIELD=VALUE with an upper-case field, like SYSLOG_IDENTIFIER=sshd", it.s)
						return false
					}
					l.Matches = append(l.Matches, it.s)
					continue
				}
				if it.s == "" || strings.ContainsFunc(it.s, isSpaceOrControl) || strings.HasPrefix(it.s, "-") {
					ps.errAt(it.pos, it.path, "invalid systemd unit %q", it.s)
					return false
				}
				l.Units = append(l.Units, it.s)
			}
			return len(l.Units)+len(l.Matches) > 0
		})},
		{name: "container", fn: one(LogContainer, func(l *LogSource, kv *ast.MappingValueNode, path string) bool {
			sel := ps.selector(kv, path)
			if sel.Pos.Line == 0 {
				return false
			}
			l.Select = &sel
			return true
		})},
	})
	if seen != nil && len(seen) == 0 {
		ps.errorf(n, path, "a log source needs one of file, journal and container")
	}
	return l
}

// increment parses increment: {factor: F, max: DURATION}.
func (ps *parser) increment(kv *ast.MappingValueNode, path string) *Increment {
	inc := &Increment{Factor: 2, Pos: ps.pos(kv.Key)}
	seen := ps.fields(kv.Value, path, []field{
		{name: "factor", fn: func(kv *ast.MappingValueNode, path string) {
			var f float64
			switch v := kv.Value.(type) {
			case *ast.IntegerNode:
				f, _ = strconv.ParseFloat(v.GetToken().Value, 64)
			case *ast.FloatNode:
				f = v.Value
			default:
				ps.errorf(kv.Value, path, "expected a number, got %s", describe(kv.Value))
				return
			}
			if f < 1 || f > 1000 || math.IsNaN(f) {
				ps.errorf(kv.Value, path, "factor %v out of range: want 1 to 1000", f)
				return
			}
			inc.Factor = f
		}},
		{name: "max", fn: func(kv *ast.MappingValueNode, path string) {
			if d, ok := ps.duration(kv.Value, path, false); ok {
				inc.Max = d
			}
		}},
	})
	if seen == nil {
		return nil
	}
	return inc
}

// integer returns an integer value within [lo, hi].
func (ps *parser) integer(n ast.Node, path string, lo, hi int) (int, bool) {
	if !ps.supported(n, path) {
		return 0, false
	}
	in, ok := n.(*ast.IntegerNode)
	if !ok {
		ps.errorf(n, path, "expected an integer, got %s", describe(n))
		return 0, false
	}
	v, err := strconv.Atoi(in.GetToken().Value)
	if err != nil || v < lo || v > hi {
		ps.errorf(n, path, "%s out of range: want %d to %d", in.GetToken().Value, lo, hi)
		return 0, false
	}
	return v, true
}

// duration parses a duration: a number of seconds, or numbers with units
// s, m, h, d and w, as in "10m", "1h30m", "1w" (fail2ban's forms).
// permanentOK allows "permanent" and -1 (returned as -1).
func (ps *parser) duration(n ast.Node, path string, permanentOK bool) (time.Duration, bool) {
	if !ps.supported(n, path) {
		return 0, false
	}
	var s string
	switch v := n.(type) {
	case *ast.IntegerNode:
		s = v.GetToken().Value
	case *ast.StringNode:
		s = v.Value
	default:
		ps.errorf(n, path, "expected a duration like 10m, 1h or 1w, got %s", describe(n))
		return 0, false
	}
	if permanentOK && (s == "permanent" || s == "-1") {
		return -1, true
	}
	d, msg := parseJailDuration(s)
	if msg != "" {
		if permanentOK && strings.HasPrefix(msg, "invalid") {
			msg += `, or "permanent"`
		}
		ps.errorf(n, path, "%s", msg)
		return 0, false
	}
	return d, true
}

// parseJailDuration parses the duration forms of jails.
// FilterSpec returns jail j's filter spec with a relative filter file path
// made relative to the policy file's directory, as log file paths are:
// "filters/app.conf[mode=x]" next to /etc/seawall/seawall.yaml is
// "/etc/seawall/filters/app.conf[mode=x]". Built-in names (no slash) are
// returned as they are.
func (p *Policy) FilterSpec(j *Jail) string {
	spec := j.Filter
	name, opts, _ := strings.Cut(spec, "[")
	if !strings.Contains(name, "/") || filepath.IsAbs(name) {
		return spec
	}
	spec = filepath.Join(filepath.Dir(p.File), name)
	if opts != "" {
		spec += "[" + opts
	}
	return spec
}

// LogPath returns a file log source's path, made relative to the policy
// file's directory when it is relative.
func (p *Policy) LogPath(l *LogSource) string {
	if filepath.IsAbs(l.Path) {
		return l.Path
	}
	return filepath.Join(filepath.Dir(p.File), l.Path)
}

// ParseDuration parses a duration as jails write them: seconds, or
// numbers with units s, m, h, d and w ("1h30m", "2d").
func ParseDuration(s string) (time.Duration, error) {
	d, msg := parseJailDuration(s)
	if msg != "" {
		return 0, errors.New(msg)
	}
	return d, nil
}

func parseJailDuration(s string) (time.Duration, string) {
	bad := fmt.Sprintf("invalid duration %q; want a number of seconds or e.g. 30s, 10m, 1h30m, 1d, 1w", s)
	if s == "" {
		return 0, bad
	}
	units := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && isDigit(rest[i]) {
			i++
		}
		if i == 0 || i > 9 {
			return 0, bad
		}
		n, _ := strconv.Atoi(rest[:i])
		unit := time.Second
		if i < len(rest) {
			u, ok := units[rest[i]]
			if !ok {
				return 0, bad
			}
			unit = u
			i++
		} else if total != 0 {
			return 0, bad // "1h30": a bare number only alone
		}
		total += time.Duration(n) * unit
		if total > maxJailDuration {
			return 0, fmt.Sprintf("duration %q is longer than ten years", s)
		}
		rest = rest[i:]
	}
	if total <= 0 {
		return 0, fmt.Sprintf("duration %q must be positive", s)
	}
	return total, ""
}

// checkFilterSpec checks the shape of a filter spec: NAME or PATH, with
// optional [key=value, ...] options. The filter itself is read when the
// jail starts (and by check), which reports what is wrong inside it.
func checkFilterSpec(s string) string {
	base, opts, hasOpts := strings.Cut(s, "[")
	switch {
	case strings.TrimSpace(base) == "":
		return fmt.Sprintf("invalid filter %q: want a name like sshd or a filter file path", s)
	case strings.ContainsFunc(base, isSpaceOrControl):
		return fmt.Sprintf("invalid filter %q: the name or path has a space or control character", s)
	case hasOpts && !strings.HasSuffix(opts, "]"):
		return fmt.Sprintf("invalid filter %q: options must end with ]", s)
	}
	return ""
}

// FormatDuration writes a duration in the units of jails: 1w, 1d2h, 10m,
// 90s.
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{7 * 24 * time.Hour, "w"}, {24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.d
		}
	}
	if b.Len() == 0 {
		return d.String()
	}
	return b.String()
}
