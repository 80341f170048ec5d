package policy

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// named is a group or set definition, for namespace checks.
type named struct {
	name, path, kind string
	pos              Pos
}

// names indexes the groups, sets and container entries of a policy, for
// resolve.
type names struct {
	groups     map[string]*Group
	sets       map[string]*Set
	entries    map[string]bool // container entry names
	groupNames []string        // in file order
	allNames   []string        // groups then sets, in file order
}

// newNames indexes p; a nil p has no names.
func newNames(p *Policy) *names {
	ns := &names{groups: map[string]*Group{}, sets: map[string]*Set{}, entries: map[string]bool{}}
	if p == nil {
		return ns
	}
	if p.Containers != nil {
		for _, e := range p.Containers.Entries {
			ns.entries[e.Name] = true
		}
	}
	for _, g := range p.Groups {
		ns.groups[g.Name] = g
		ns.groupNames = append(ns.groupNames, g.Name)
	}
	ns.allNames = slices.Clone(ns.groupNames)
	for _, s := range p.Sets {
		ns.sets[s.Name] = s
		ns.allNames = append(ns.allNames, s.Name)
	}
	return ns
}

// resolve checks names once the whole file is read: one namespace for
// groups and sets, references to known names, no group cycles.
func (ps *parser) resolve() {
	ps.namespace()
	ns := newNames(ps.pol)
	for _, pr := range ps.pending {
		for i := range *pr.list {
			// Names are GroupRef until resolved; container references
			// and DNS names need no resolving.
			if ref := &(*pr.list)[i]; ref.Kind == GroupRef {
				if msg := ns.resolve(ref, pr.group); msg != "" {
					ps.errAt(ref.Pos, pr.paths[i], "%s", msg)
				}
			}
		}
	}
	ps.cycles(ns.groups)
}

// resolve sets the kind of one name reference, or returns what is wrong
// with it. inGroup says the reference is a group member.
func (ns *names) resolve(ref *AddrRef, inGroup bool) string {
	isGroup := ns.groups[ref.Name] != nil
	isSet := ns.sets[ref.Name] != nil
	switch {
	case isGroup:
		ref.Kind = GroupRef
	case isSet && inGroup:
		return fmt.Sprintf("set %q cannot be a group member", ref.Name)
	case isSet:
		ref.Kind = SetRef
	case inGroup:
		return fmt.Sprintf("unknown group %q%s", ref.Name, didYouMean(ref.Name, ns.groupNames))
	case ns.entries[ref.Name]:
		return fmt.Sprintf("unknown group or set %q; to name the containers of entry %q, write %s%s",
			ref.Name, ref.Name, containerPrefix, ref.Name)
	default:
		return fmt.Sprintf("unknown group or set %q%s", ref.Name, didYouMean(ref.Name, ns.allNames))
	}
	return ""
}

// didYouMean returns ` (did you mean "x"?)` for the closest candidate, or "".
func didYouMean(name string, candidates []string) string {
	if c := closest(name, candidates); c != "" {
		return fmt.Sprintf(" (did you mean %q?)", c)
	}
	return ""
}

// namespace reports a group or set whose name is already used, at the
// later definition.
func (ps *parser) namespace() {
	var defs []named
	for _, g := range ps.pol.Groups {
		defs = append(defs, named{g.Name, "groups." + g.Name, "group", g.Pos})
	}
	for _, s := range ps.pol.Sets {
		defs = append(defs, named{s.Name, "sets." + s.Name, "set", s.Pos})
	}
	slices.SortStableFunc(defs, func(a, b named) int {
		return cmp.Or(cmp.Compare(a.pos.Line, b.pos.Line), cmp.Compare(a.pos.Col, b.pos.Col))
	})
	first := map[string]named{}
	for _, d := range defs {
		if f, dup := first[d.name]; dup {
			ps.errAt(d.pos, d.path, "name %q is already used by the %s at %d:%d",
				d.name, f.kind, f.pos.Line, f.pos.Col)
			continue
		}
		first[d.name] = d
	}
}

// cycles reports each group membership that closes a cycle.
func (ps *parser) cycles(groups map[string]*Group) {
	const (
		unseen = iota
		onStack
		done
	)
	state := map[*Group]int{}
	var stack []string
	var visit func(g *Group)
	visit = func(g *Group) {
		state[g] = onStack
		stack = append(stack, g.Name)
		for i, m := range g.Members {
			h := groups[m.Name]
			if m.Kind != GroupRef || h == nil {
				continue
			}
			switch state[h] {
			case unseen:
				visit(h)
			case onStack:
				cyc := append(slices.Clone(stack[slices.Index(stack, h.Name):]), h.Name)
				ps.errAt(m.Pos, ps.memberPaths[g][i], "group cycle: %s", strings.Join(cyc, " -> "))
			}
		}
		stack = stack[:len(stack)-1]
		state[g] = done
	}
	for _, g := range ps.pol.Groups {
		if state[g] == unseen {
			visit(g)
		}
	}
}

// Group returns the group with the given name, or nil.
func (p *Policy) Group(name string) *Group {
	for _, g := range p.Groups {
		if g.Name == name {
			return g
		}
	}
	return nil
}

// SetByName returns the set with the given name, or nil.
func (p *Policy) SetByName(name string) *Set {
	for _, s := range p.Sets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// ResolveGroup flattens a group, recursively through nested group names,
// into its literal prefixes, in order and without duplicates. It returns
// nil for an unknown name.
func (p *Policy) ResolveGroup(name string) []netip.Prefix {
	var out []netip.Prefix
	seen := map[netip.Prefix]bool{}
	visited := map[string]bool{}
	var walk func(name string)
	walk = func(name string) {
		g := p.Group(name)
		if g == nil || visited[name] {
			return
		}
		visited[name] = true
		for _, m := range g.Members {
			switch {
			case m.Kind == GroupRef:
				walk(m.Name)
			case m.Kind == Literal && !seen[m.Prefix]:
				seen[m.Prefix] = true
				out = append(out, m.Prefix)
			}
		}
	}
	walk(name)
	return out
}
