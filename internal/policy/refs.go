package policy

import "sort"

// Names returns, sorted and once each, the names of the given kind
// (ContainerRef, DNSRef, GroupRef, SetRef) that the rules of the policy use
// in from and to, host and container rules alike.
func (p *Policy) Names(kind AddrKind) []string {
	seen := map[string]bool{}
	note := func(rules []*Rule) {
		for _, r := range rules {
			for _, lists := range [][]AddrRef{r.From, r.To} {
				for _, a := range lists {
					if a.Kind == kind {
						seen[a.Name] = true
					}
				}
			}
		}
	}
	note(p.Host.Input)
	note(p.Host.Output)
	note(p.Host.Forward)
	if p.Containers != nil {
		for _, e := range p.Containers.Entries {
			note(e.Ingress)
			note(e.Egress)
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// UsesContainers reports whether compiling the policy needs facts about
// Docker's containers: it has a containers section or names containers.
func (p *Policy) UsesContainers() bool {
	return p.Containers != nil || len(p.Names(ContainerRef)) > 0
}
