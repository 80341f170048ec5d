package policy

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/goccy/go-yaml/ast"
)

// defaultHost returns the host settings that apply when the file says
// nothing.
func defaultHost(file string) Host {
	nowhere := Pos{File: file}
	return Host{
		Policy: DirPolicy{
			Input:  &DirDefault{Verdict: VerdictDrop, Pos: nowhere},
			Output: &DirDefault{Verdict: VerdictAccept, Pos: nowhere},
		},
		Deny:    DenyDrop,
		DenyPos: nowhere,
		Log:     LogConfig{Dropped: true, Rate: Rate{Count: 10, Unit: Minute}, Pos: nowhere},
	}
}

// host parses the host section.
func (ps *parser) host(kv *ast.MappingValueNode, path string) {
	h := &ps.pol.Host
	ps.fields(kv.Value, path, []field{
		{name: "policy", fn: ps.dirPolicy},
		{name: "deny", fn: ps.denyMode},
		{name: "log", fn: ps.logConfig},
		{name: "input", fn: func(kv *ast.MappingValueNode, path string) {
			h.Input = ps.rules(kv.Value, path, hostChain("input"))
		}},
		{name: "output", fn: func(kv *ast.MappingValueNode, path string) {
			h.Output = ps.rules(kv.Value, path, hostChain("output"))
		}},
		{name: "forward", fn: func(kv *ast.MappingValueNode, path string) {
			h.Forward = ps.rules(kv.Value, path, hostChain("forward"))
		}},
		{name: "redirect", fn: ps.redirects},
	})
}

// dirPolicy parses host.policy.
func (ps *parser) dirPolicy(kv *ast.MappingValueNode, path string) {
	dp := &ps.pol.Host.Policy
	verdict := func(dst **DirDefault) func(*ast.MappingValueNode, string) {
		return func(kv *ast.MappingValueNode, path string) {
			s, ok := ps.str(kv.Value, path, "drop or accept")
			if !ok {
				return
			}
			d := &DirDefault{Pos: ps.pos(kv.Value)}
			switch s {
			case "drop":
				d.Verdict = VerdictDrop
			case "accept":
				d.Verdict = VerdictAccept
			default:
				ps.errorf(kv.Value, path, "invalid policy %q; want drop or accept", s)
				return
			}
			*dst = d
		}
	}
	ps.fields(kv.Value, path, []field{
		{name: "input", fn: verdict(&dp.Input)},
		{name: "output", fn: verdict(&dp.Output)},
		{name: "forward", fn: verdict(&dp.Forward)},
	})
}

// denyMode parses host.deny.
func (ps *parser) denyMode(kv *ast.MappingValueNode, path string) {
	s, ok := ps.str(kv.Value, path, "drop or reject")
	if !ok {
		return
	}
	h := &ps.pol.Host
	switch s {
	case "drop":
		h.Deny = DenyDrop
	case "reject":
		h.Deny = DenyReject
	default:
		ps.errorf(kv.Value, path, "invalid deny mode %q; want drop or reject", s)
		return
	}
	h.DenyPos = ps.pos(kv.Value)
}

// logConfig parses host.log.
func (ps *parser) logConfig(kv *ast.MappingValueNode, path string) {
	lc := &ps.pol.Host.Log
	lc.Pos = ps.pos(kv.Key)
	ps.fields(kv.Value, path, []field{
		{name: "dropped", fn: func(kv *ast.MappingValueNode, path string) {
			if b, ok := ps.boolean(kv.Value, path); ok {
				lc.Dropped = b
			}
		}},
		{name: "rate", fn: func(kv *ast.MappingValueNode, path string) {
			if r, ok := ps.rate(kv.Value, path); ok {
				lc.Rate = *r
			}
		}},
	})
}

// rate parses a Rate value such as 4/minute.
func (ps *parser) rate(n ast.Node, path string) (*Rate, bool) {
	s, ok := ps.str(n, path, "a rate like 4/minute")
	if !ok {
		return nil, false
	}
	r, msg := parseRate(s)
	if msg != "" {
		ps.errorf(n, path, "%s", msg)
		return nil, false
	}
	return &r, true
}

// parseRate parses N/UNIT where UNIT is second, minute, hour, day or week,
// singular or plural.
func parseRate(s string) (Rate, string) {
	bad := fmt.Sprintf("invalid rate %q; want N/second, N/minute, N/hour, N/day or N/week", s)
	count, unit, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, bad
	}
	n, err := strconv.ParseUint(strings.TrimSpace(count), 10, 64)
	if err != nil {
		return Rate{}, bad
	}
	if n == 0 {
		return Rate{}, fmt.Sprintf("invalid rate %q; the count must be at least 1", s)
	}
	unit = strings.TrimSuffix(strings.TrimSpace(unit), "s")
	for u := Second; u <= Week; u++ {
		if unit == u.String() {
			return Rate{Count: n, Unit: u}, ""
		}
	}
	return Rate{}, bad
}

// chainSpec says what the rules of one chain may hold.
type chainSpec struct {
	chain    string   // Rule.Chain
	entry    string   // Rule.Entry
	from, to addrOpts // what from and to may name
	// noFrom and noTo, when set, say why the key is not allowed.
	noFrom, noTo string
}

// hostChain returns the spec of host.input, host.output or host.forward:
// only host.output's destinations may be DNS names.
func hostChain(chain string) chainSpec {
	return chainSpec{
		chain: chain,
		from:  addrOpts{container: true},
		to:    addrOpts{container: true, dns: chain == "output"},
	}
}

// rules parses a list of rules of one chain.
func (ps *parser) rules(n ast.Node, path string, spec chainSpec) []*Rule {
	items, paths := ps.seq(n, path, "rules")
	var out []*Rule
	for i, item := range items {
		if r := ps.rule(item, paths[i], spec, i); r != nil {
			out = append(out, r)
		}
	}
	return out
}

// notAllowed returns a field function that reports the key with why.
func (ps *parser) notAllowed(key, why string) func(*ast.MappingValueNode, string) {
	return func(kv *ast.MappingValueNode, path string) {
		ps.errorf(kv.Key, path, "%q is not allowed here: %s", key, why)
	}
}

// rule parses one rule.
func (ps *parser) rule(n ast.Node, path string, spec chainSpec, index int) *Rule {
	r := &Rule{Pos: ps.pos(n), Chain: spec.chain, Entry: spec.entry, Index: index}
	from, to := ps.addrField(&r.From, spec.from), ps.addrField(&r.To, spec.to)
	if spec.noFrom != "" {
		from = ps.notAllowed("from", spec.noFrom)
	}
	if spec.noTo != "" {
		to = ps.notAllowed("to", spec.noTo)
	}
	var act *Action
	action := func(a Action) func(*ast.MappingValueNode, string) {
		return func(kv *ast.MappingValueNode, path string) {
			if act != nil {
				ps.errorf(kv.Key, path, "rule has more than one action (%s and %s)", *act, a)
				ps.services(kv.Value, path) // report its mistakes too
				return
			}
			act, r.Action, r.ActionPos = &a, a, ps.pos(kv.Key)
			r.Services = ps.services(kv.Value, path)
		}
	}
	seen := ps.fields(n, path, []field{
		{name: Allow.String(), fn: action(Allow)},
		{name: Deny.String(), fn: action(Deny)},
		{name: Reject.String(), fn: action(Reject)},
		{name: Drop.String(), fn: action(Drop)},
		{name: "from", fn: from, hidden: spec.noFrom != ""},
		{name: "to", fn: to, hidden: spec.noTo != ""},
		{name: "iface", fn: ps.ifaceField(&r.Iface)},
		{name: "limit", fn: func(kv *ast.MappingValueNode, path string) {
			r.Limit, _ = ps.rate(kv.Value, path)
			r.LimitPos = ps.pos(kv.Value)
		}},
		{name: "log", fn: func(kv *ast.MappingValueNode, path string) {
			if b, ok := ps.boolean(kv.Value, path); ok {
				r.Log = &b
			}
		}},
		{name: "comment", fn: ps.commentField(&r.Comment)},
	})
	if seen == nil {
		return nil
	}
	if act == nil {
		ps.errAt(r.Pos, path, "rule has no action (allow, deny, reject or drop)")
	} else if lim := seen["limit"]; lim != nil && r.Action != Allow {
		ps.errorf(lim.Key, join(path, "limit"), "limit is only allowed with allow, not %s", r.Action)
	}
	return r
}

// services parses an action's value.
func (ps *parser) services(n ast.Node, path string) []Service {
	items := ps.strList(n, path, serviceWhat, false)
	var out []Service
	for _, it := range items {
		if it.s == "any" && len(items) > 1 {
			ps.errAt(it.pos, it.path, `"any" cannot be combined with other services`)
			continue
		}
		pps, msg := parseService(it.s)
		if msg != "" {
			ps.errAt(it.pos, it.path, "%s", msg)
			continue
		}
		out = append(out, Service{Name: it.s, Pos: it.pos, Ports: pps})
	}
	return out
}

// addrField returns a field function that parses addresses into dst.
func (ps *parser) addrField(dst *[]AddrRef, o addrOpts) func(*ast.MappingValueNode, string) {
	return func(kv *ast.MappingValueNode, path string) {
		ps.addrs(dst, kv.Value, path, o)
	}
}

// ifaceField returns a field function that parses an interface name.
func (ps *parser) ifaceField(dst *string) func(*ast.MappingValueNode, string) {
	return func(kv *ast.MappingValueNode, path string) {
		s, ok := ps.str(kv.Value, path, "an interface name")
		if !ok {
			return
		}
		if msg := checkIface(s); msg != "" {
			ps.errorf(kv.Value, path, "%s", msg)
			return
		}
		*dst = s
	}
}

// checkIface checks an interface name as Linux does, allowing a trailing
// '*' wildcard.
func checkIface(s string) string {
	name := strings.TrimSuffix(s, "*")
	switch {
	case name == "":
		return fmt.Sprintf("invalid interface name %q", s)
	case len(name) > 15:
		return fmt.Sprintf("interface name %q is longer than 15 characters", s)
	case name == "." || name == "..":
		return fmt.Sprintf("invalid interface name %q", s)
	}
	for _, c := range name {
		if c == '/' || c == ':' || c == '*' || unicode.IsSpace(c) || c < 0x20 || c > 0x7e {
			return fmt.Sprintf("invalid interface name %q", s)
		}
	}
	return ""
}

// commentField returns a field function that parses a comment.
func (ps *parser) commentField(dst *string) func(*ast.MappingValueNode, string) {
	return func(kv *ast.MappingValueNode, path string) {
		if s, ok := ps.str(kv.Value, path, "a string"); ok {
			*dst = s
		}
	}
}

// redirects parses host.redirect.
func (ps *parser) redirects(kv *ast.MappingValueNode, path string) {
	items, paths := ps.seq(kv.Value, path, "redirects")
	for i, item := range items {
		if r := ps.redirect(item, paths[i]); r != nil {
			ps.pol.Host.Redirects = append(ps.pol.Host.Redirects, r)
		}
	}
}

// redirect parses one redirect.
func (ps *parser) redirect(n ast.Node, path string) *Redirect {
	r := &Redirect{Pos: ps.pos(n)}
	seen := ps.fields(n, path, []field{
		{name: "port", fn: func(kv *ast.MappingValueNode, path string) {
			ps.redirectPort(r, kv.Value, path)
		}},
		{name: "from", fn: ps.addrField(&r.From, addrOpts{})},
		{name: "not_from", fn: ps.addrField(&r.NotFrom, addrOpts{})},
		{name: "to", fn: func(kv *ast.MappingValueNode, path string) {
			ps.redirectTo(r, kv.Value, path)
		}},
		{name: "iface", fn: ps.ifaceField(&r.Iface)},
		{name: "comment", fn: ps.commentField(&r.Comment)},
	})
	ps.required(seen, r.Pos, path, "port", "to")
	if seen == nil {
		return nil
	}
	return r
}

// redirectPort parses a redirect's port: one tcp or udp port.
func (ps *parser) redirectPort(r *Redirect, n ast.Node, path string) {
	s, ok := ps.str(n, path, "a port like tcp/22")
	if !ok {
		return
	}
	pps, msg := parseService(s)
	if msg == "" && (len(pps) != 1 || len(pps[0].Ports) != 1 ||
		pps[0].Ports[0].First != pps[0].Ports[0].Last) {
		msg = fmt.Sprintf("redirect port %q must be one tcp or udp port, like tcp/22", s)
	}
	if msg != "" {
		ps.errorf(n, path, "%s", msg)
		return
	}
	r.Port = pps[0]
}
