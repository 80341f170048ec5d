package policy

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte(exampleYAML))
	f.Add([]byte(defaultYAML))
	f.Add([]byte(containersYAML))
	for _, tc := range slices.Concat(errorCases, containerErrorCases, jailErrorCases) {
		f.Add([]byte(tc.src))
	}
	for _, tc := range valueCases {
		f.Add([]byte(tc.src))
	}
	for _, tc := range containerValueCases {
		f.Add([]byte(tc.src))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		p, err := Parse("f.yaml", src)
		if err != nil {
			checkErrors(t, p, err)
			return
		}
		checkPositions(t, p)
		checkInvariants(t, p)
	})
}

// checkErrors checks that a failed parse returns a non-empty ErrorList of
// positioned errors in file order.
func checkErrors(t *testing.T, p *Policy, err error) {
	var list ErrorList
	if !errors.As(err, &list) || len(list) == 0 {
		t.Fatalf("error %T %v is not a non-empty ErrorList", err, err)
	}
	if p != nil {
		t.Fatalf("Parse returned a policy and an error")
	}
	for i, e := range list {
		if e.Pos.File != "f.yaml" || e.Pos.Line <= 0 || e.Pos.Col <= 0 {
			t.Fatalf("error without a position: %v", e)
		}
		if i > 0 && (e.Pos.Line < list[i-1].Pos.Line ||
			e.Pos.Line == list[i-1].Pos.Line && e.Pos.Col < list[i-1].Pos.Col) {
			t.Fatalf("errors out of order:\n%v", err)
		}
	}
}

// checkPositions checks that every Pos of a parsed policy is in the file,
// except those of settings the file left at their defaults.
func checkPositions(t *testing.T, p *Policy) {
	h := p.Host
	defaulted := map[string]bool{
		".Host.Policy.Input.Pos":  h.Policy.Input.Verdict == VerdictDrop,
		".Host.Policy.Output.Pos": h.Policy.Output.Verdict == VerdictAccept,
		".Host.DenyPos":           h.Deny == DenyDrop,
		".Host.Log.Pos":           h.Log == defaultHost("f.yaml").Log,
		".Containers.Default.Pos": p.Containers != nil && p.Containers.Default == defaultContainerDefault("f.yaml"),
	}
	for i, j := range p.Jails {
		defaulted[fmt.Sprintf(".Jails[%d].FilterPos", i)] = j.Filter == ""
	}
	walkPos(reflect.ValueOf(p), "", func(path string, pos Pos) {
		switch {
		case pos.Line > 0 && pos.Col > 0 && pos.File == "f.yaml":
		case pos == Pos{File: "f.yaml"} && defaulted[path]:
		case pos == Pos{} && defaulted[path] && strings.HasPrefix(path, ".Jails["):
		case pos == Pos{} && strings.HasSuffix(path, ".LimitPos"):
		default:
			t.Fatalf("%s: bad position %#v", path, pos)
		}
	})
	for _, r := range allRules(p) {
		if (r.Limit == nil) != (r.LimitPos == Pos{}) {
			t.Fatalf("rule %s[%d]: Limit %v at %v", r.Chain, r.Index, r.Limit, r.LimitPos)
		}
	}
}

// walkPos calls visit for every Pos reachable from v through exported
// fields, pointers and slices.
func walkPos(v reflect.Value, path string, visit func(string, Pos)) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkPos(v.Elem(), path, visit)
		}
	case reflect.Slice:
		for i := range v.Len() {
			walkPos(v.Index(i), fmt.Sprintf("%s[%d]", path, i), visit)
		}
	case reflect.Struct:
		if pos, ok := v.Interface().(Pos); ok {
			visit(path, pos)
			return
		}
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				walkPos(v.Field(i), path+"."+f.Name, visit)
			}
		}
	}
}

func allRules(p *Policy) []*Rule {
	out := append(append(append([]*Rule(nil), p.Host.Input...), p.Host.Output...), p.Host.Forward...)
	if p.Containers != nil {
		for _, e := range p.Containers.Entries {
			out = append(append(out, e.Ingress...), e.Egress...)
		}
	}
	return out
}

// checkInvariants checks what the compiler relies on.
func checkInvariants(t *testing.T, p *Policy) {
	if p.Version != 1 {
		t.Fatalf("version %d", p.Version)
	}
	for _, r := range allRules(p) {
		checkRule(t, p, r)
	}
	checkContainers(t, p)
	for _, g := range p.Groups {
		checkRefs(t, p, g.Members, true)
		p.ResolveGroup(g.Name)
	}
	for _, s := range p.Sets {
		checkRefs(t, p, s.Entries, false)
		s.AllEntries()
	}
	for _, r := range p.Host.Redirects {
		if len(r.Port.Ports) != 1 || r.Port.Ports[0].First != r.Port.Ports[0].Last ||
			!r.To.IsValid() || r.To.Port() == 0 {
			t.Fatalf("bad redirect %+v", r)
		}
		checkRefs(t, p, r.From, false)
		checkRefs(t, p, r.NotFrom, false)
	}
}

// checkRule checks one rule of any chain.
func checkRule(t *testing.T, p *Policy, r *Rule) {
	if len(r.Services) == 0 || r.Limit != nil && r.Action != Allow {
		t.Fatalf("bad rule %+v", r)
	}
	container := r.Chain == "ingress" || r.Chain == "egress"
	if container == (r.Entry == "") || r.Chain == "ingress" && len(r.To) > 0 || r.Chain == "egress" && len(r.From) > 0 {
		t.Fatalf("bad %s rule of entry %q: from %v to %v", r.Chain, r.Entry, r.From, r.To)
	}
	checkRefs(t, p, r.From, false)
	checkRefs(t, p, r.To, false)
	for _, a := range r.From {
		if a.Kind == DNSRef {
			t.Fatalf("DNS name %q in from", a.Name)
		}
	}
	for _, a := range r.To {
		if a.Kind == DNSRef && r.Chain != "egress" && r.Chain != "output" {
			t.Fatalf("DNS name %q in the to of %s", a.Name, r.Chain)
		}
	}
}

// checkContainers checks the containers section.
func checkContainers(t *testing.T, p *Policy) {
	cs := p.Containers
	if cs == nil {
		return
	}
	seen := map[string]bool{}
	for _, e := range cs.Entries {
		if !validName(e.Name) || e.Name == "any" || e.Name == "default" || seen[e.Name] {
			t.Fatalf("bad or duplicate entry name %q", e.Name)
		}
		seen[e.Name] = true
		s := e.Select
		ok := false
		switch s.Kind {
		case SelectName:
			ok = checkContainerName(s.Name) == ""
		case SelectCompose:
			ok = validService(s.Service) && (s.Project == "" || validProject(s.Project))
		case SelectLabel:
			ok = s.LabelKey != ""
		case SelectImage:
			ok = checkImageGlob(s.ImageGlob) == ""
		}
		if !ok {
			t.Fatalf("entry %q: bad selector %+v", e.Name, s)
		}
		s.Matches("a", "b", "c", "d", map[string]string{"e": "f"})
		if d := p.DefaultFor(e); e.Default != nil && d != *e.Default || e.Default == nil && d != cs.Default {
			t.Fatalf("entry %q: DefaultFor = %v", e.Name, d)
		}
		if p.ContainerEntry(e.Name) == nil {
			t.Fatalf("entry %q not found", e.Name)
		}
	}
}

// checkRefs checks that literals are masked prefixes and names resolve.
func checkRefs(t *testing.T, p *Policy, refs []AddrRef, inGroup bool) {
	for _, a := range refs {
		switch a.Kind {
		case ContainerRef:
			if inGroup || checkContainerName(a.Name) != "" {
				t.Fatalf("bad container ref %q", a.Name)
			}
		case DNSRef:
			if inGroup || !looksLikeDNSName(a.Name) || checkDNSName(a.Name) != "" {
				t.Fatalf("bad DNS name %q", a.Name)
			}
		case Literal:
			if !a.Prefix.IsValid() || a.Prefix != a.Prefix.Masked() || a.Prefix.Addr().Is4In6() {
				t.Fatalf("bad literal %v", a.Prefix)
			}
		case GroupRef:
			if p.Group(a.Name) == nil {
				t.Fatalf("unknown group %q", a.Name)
			}
		case SetRef:
			if inGroup || p.SetByName(a.Name) == nil {
				t.Fatalf("bad set ref %q", a.Name)
			}
		default:
			t.Fatalf("unknown address kind %v", a.Kind)
		}
	}
}
