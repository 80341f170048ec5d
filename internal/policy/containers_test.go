package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// containersYAML is the example of the containers schema, with the set it
// names.
const containersYAML = `version: 1
sets:
  scanners:
    entries: [192.0.2.0/24]
containers:
  default: {ingress: published, egress: allow}
  web:
    select: {compose: wordpress/web}     # or name: NAME, label: "key=value", image: "nginx:*"
    ingress:
      - deny: any
        from: scanners
      - allow: tcp/443
        from: any
    egress:
      - allow: tcp/3306
        to: container:db
      - allow: https
        to: api.example.com
    default: {ingress: deny, egress: reject}
  cybex:
    select: {name: cybex}
    ingress:
      - allow: tcp/5000
        from: [198.51.100.1]
      - allow: any
        from: [198.51.100.2]
    egress:
      - allow: any
        to: [198.51.100.2]
    default: {ingress: deny, egress: reject}
`

// crule builds a container rule whose action is at line:9, as in
// containersYAML.
func crule(entry, chain string, i, line int, a Action, s ...Service) *Rule {
	return &Rule{Pos: at(line, 9), Chain: chain, Entry: entry, Index: i, Action: a, ActionPos: at(line, 9), Services: s}
}

func exampleContainers() *Containers {
	web0 := crule("web", "ingress", 0, 10, Deny, svc("any", 10, 15, pp(ProtoAny)))
	web0.From = []AddrRef{ref(SetRef, "scanners", 11, 15)}
	web1 := crule("web", "ingress", 1, 12, Allow, svc("tcp/443", 12, 16, tcp(443)))
	webOut0 := crule("web", "egress", 0, 15, Allow, svc("tcp/3306", 15, 16, tcp(3306)))
	webOut0.To = []AddrRef{ref(ContainerRef, "db", 16, 13)}
	webOut1 := crule("web", "egress", 1, 17, Allow, svc("https", 17, 16, tcp(443)))
	webOut1.To = []AddrRef{ref(DNSRef, "api.example.com", 18, 13)}

	cy0 := crule("cybex", "ingress", 0, 23, Allow, svc("tcp/5000", 23, 16, tcp(5000)))
	cy0.From = []AddrRef{lit("198.51.100.1/32", 24, 16)}
	cy1 := crule("cybex", "ingress", 1, 25, Allow, svc("any", 25, 16, pp(ProtoAny)))
	cy1.From = []AddrRef{lit("198.51.100.2/32", 26, 16)}
	cyOut0 := crule("cybex", "egress", 0, 28, Allow, svc("any", 28, 16, pp(ProtoAny)))
	cyOut0.To = []AddrRef{lit("198.51.100.2/32", 29, 14)}

	return &Containers{
		Pos:     at(5, 1),
		Default: ContainerDefault{IngressPublished, EgressAllow, at(6, 3)},
		Entries: []*ContainerEntry{{
			Name:    "web",
			Pos:     at(7, 3),
			Select:  Selector{Kind: SelectCompose, Pos: at(8, 23), Project: "wordpress", Service: "web"},
			Ingress: []*Rule{web0, web1},
			Egress:  []*Rule{webOut0, webOut1},
			Default: &ContainerDefault{IngressDeny, EgressReject, at(19, 5)},
		}, {
			Name:    "cybex",
			Pos:     at(20, 3),
			Select:  Selector{Kind: SelectName, Pos: at(21, 20), Name: "cybex"},
			Ingress: []*Rule{cy0, cy1},
			Egress:  []*Rule{cyOut0},
			Default: &ContainerDefault{IngressDeny, EgressReject, at(30, 5)},
		}},
	}
}

func TestParseContainersExample(t *testing.T) {
	p, err := Parse("seawall.yaml", []byte(containersYAML))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(exampleContainers(), p.Containers, cmpOpts); diff != "" {
		t.Errorf("containers mismatch (-want +got):\n%s", diff)
	}
}

// containerValueCases parse small valid policies and compare one part of
// the containers section.
var containerValueCases = []struct {
	name string
	src  string
	get  func(p *Policy) any
	want any
}{
	{"no section", "version: 1\n", func(p *Policy) any { return p.Containers == nil }, true},
	{"null section", "version: 1\ncontainers:\n", func(p *Policy) any { return p.Containers },
		&Containers{Pos: at(2, 1), Default: ContainerDefault{Pos: Pos{File: "seawall.yaml"}}}},
	{"default only ingress", "version: 1\ncontainers:\n  default: {ingress: reject}\n",
		func(p *Policy) any { return p.Containers.Default }, ContainerDefault{IngressReject, EgressAllow, at(3, 3)}},
	{"entry default merges, default after entries", "version: 1\ncontainers:\n" +
		"  a: {select: {name: a}, default: {egress: deny}}\n" +
		"  b: {select: {name: b}}\n" +
		"  c: {select: {name: c}, default: {}}\n" +
		"  default: {ingress: deny, egress: reject}\n",
		func(p *Policy) any {
			cs := p.Containers
			return []any{*cs.Entries[0].Default, cs.Entries[1].Default == nil, *cs.Entries[2].Default,
				p.DefaultFor(cs.Entries[0]), p.DefaultFor(cs.Entries[1])}
		},
		[]any{ContainerDefault{IngressDeny, EgressDeny, at(3, 26)}, true, ContainerDefault{IngressDeny, EgressReject, at(5, 26)},
			ContainerDefault{IngressDeny, EgressDeny, at(3, 26)}, ContainerDefault{IngressDeny, EgressReject, at(6, 3)}}},
	{"selectors", "version: 1\ncontainers:\n" +
		"  a: {select: {name: my-app.1}}\n" +
		"  b: {select: {compose: web}}\n" +
		"  c: {select: {compose: my_proj-2/web.x}}\n" +
		"  d: {select: {label: \"com.example.tier=front=end\"}}\n" +
		"  e: {select: {label: com.example.public}}\n" +
		"  f: {select: {image: \"ghcr.io/org/*:v?\"}}\n",
		func(p *Policy) any {
			var out []string
			for _, e := range p.Containers.Entries {
				out = append(out, e.Select.String())
			}
			return out
		}, []string{"name: my-app.1", "compose: web", "compose: my_proj-2/web.x",
			"label: com.example.tier=front=end", "label: com.example.public", "image: ghcr.io/org/*:v?"}},
	{"label selector fields", "version: 1\ncontainers:\n  a: {select: {label: \"k=v=w\"}}\n",
		func(p *Policy) any { return p.Containers.Entries[0].Select },
		Selector{Kind: SelectLabel, Pos: at(3, 23), LabelKey: "k", LabelValue: "v=w"}},
	{"entry names share nothing with groups", "version: 1\ngroups:\n  web: [10.0.0.1]\ncontainers:\n" +
		"  web:\n    select: {name: web}\n    ingress:\n      - allow: https\n        from: web\n",
		func(p *Policy) any { return p.Containers.Entries[0].Ingress[0].From },
		[]AddrRef{ref(GroupRef, "web", 9, 15)}},
	{"container refs", "version: 1\ncontainers:\n  db: {select: {name: db}}\n  web:\n    select: {name: web}\n" +
		"    ingress:\n      - allow: http\n        from: [container:proxy, container:db, 10.0.0.0/8]\n" +
		"    egress:\n      - allow: mysql\n        to: container:my_db.1\n",
		func(p *Policy) any {
			e := p.Containers.Entries[1]
			return append(append([]AddrRef{}, e.Ingress[0].From...), e.Egress[0].To...)
		},
		[]AddrRef{ref(ContainerRef, "proxy", 8, 16), ref(ContainerRef, "db", 8, 33),
			lit("10.0.0.0/8", 8, 47), ref(ContainerRef, "my_db.1", 11, 13)}},
	{"entry rule extras", "version: 1\ncontainers:\n  web:\n    select: {image: nginx}\n    egress:\n" +
		"      - reject: any\n        to: [1password.com, API.Example.org]\n        iface: br-*\n" +
		"        log: true\n        comment: no\n      - allow: https\n        limit: 10/second\n",
		func(p *Policy) any {
			r0, r1 := p.Containers.Entries[0].Egress[0], p.Containers.Entries[0].Egress[1]
			return []any{r0.Action, r0.To, r0.Iface, *r0.Log, r0.Comment, r1.Index, *r1.Limit}
		},
		[]any{Reject, []AddrRef{ref(DNSRef, "1password.com", 7, 14), ref(DNSRef, "API.Example.org", 7, 29)},
			"br-*", true, "no", 1, Rate{10, Second}}},
	{"host output dns and container refs", "version: 1\nhost:\n  input:\n    - allow: postgres\n" +
		"      from: container:app\n  output:\n    - allow: https\n      to: [updates.example.com, container:app]\n",
		func(p *Policy) any { return append(p.Host.Input[0].From, p.Host.Output[0].To...) },
		[]AddrRef{ref(ContainerRef, "app", 5, 13), ref(DNSRef, "updates.example.com", 8, 12),
			ref(ContainerRef, "app", 8, 33)}},
	{"empty rule lists", "version: 1\ncontainers:\n  web:\n    select: {name: web}\n    ingress: []\n    egress:\n",
		func(p *Policy) any { e := p.Containers.Entries[0]; return len(e.Ingress) + len(e.Egress) }, 0},
}

func TestContainerValues(t *testing.T) {
	for _, tc := range containerValueCases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse("seawall.yaml", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, tc.get(p), cmpOpts); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSelectorMatches(t *testing.T) {
	type ctr struct {
		name, image, project, service string
		labels                        map[string]string
	}
	web := ctr{"/wordpress-web-1", "wordpress:6.5-apache", "wordpress", "web", map[string]string{"tier": "front", "public": ""}}
	db := ctr{"db", "mariadb", "shop", "db", map[string]string{"tier": "back"}}
	app := ctr{"app", "ghcr.io/org/app@sha256:abc", "", "", nil}
	reg := ctr{"reg", "localhost:5000/nginx:1.25", "", "", nil}
	tests := []struct {
		sel  string // YAML select value
		c    ctr
		want bool
	}{
		{"{name: wordpress-web-1}", web, true},
		{"{name: wordpress-web}", web, false},
		{"{name: db}", db, true},
		{"{compose: wordpress/web}", web, true},
		{"{compose: web}", web, true},
		{"{compose: shop/web}", web, false},
		{"{compose: db}", db, true},
		{"{compose: db}", app, false},
		{"{label: tier=front}", web, true},
		{"{label: tier=back}", web, false},
		{"{label: tier}", db, true},
		{"{label: public}", web, true},
		{"{label: public}", db, false},
		{"{label: tier}", app, false},
		{`{image: "wordpress:*"}`, web, true},
		{`{image: "wordpress"}`, web, true},
		{`{image: "wordpress:6.?-*"}`, web, true},
		{`{image: "wordpress:7*"}`, web, false},
		{`{image: "word"}`, web, false},
		{`{image: "mariadb"}`, db, true},
		{`{image: "mariadb:*"}`, db, false},
		{`{image: "*"}`, db, true},
		{`{image: "ghcr.io/org/*"}`, app, true},
		{`{image: "ghcr.io/org/app"}`, app, true},
		{`{image: "ghcr.io/*@sha256:*"}`, app, true},
		{`{image: "ghcr.io/org/app:*"}`, app, false},
		{`{image: "localhost:5000/nginx"}`, reg, true},
		{`{image: "localhost:5000/*"}`, reg, true},
		{`{image: "nginx"}`, reg, false},
		{`{image: "*nginx:1.2?"}`, reg, true},
	}
	for _, tc := range tests {
		p, err := Parse("seawall.yaml", []byte("version: 1\ncontainers:\n  e: {select: "+tc.sel+"}\n"))
		if err != nil {
			t.Fatalf("%s: %v", tc.sel, err)
		}
		c := tc.c
		if got := p.Containers.Entries[0].Select.Matches(c.name, c.image, c.project, c.service, c.labels); got != tc.want {
			t.Errorf("select %s on %+v = %v, want %v", tc.sel, c, got, tc.want)
		}
	}
	if (Selector{}).Matches("", "", "", "", nil) || (Selector{Kind: 99}).Matches("a", "a", "a", "a", nil) {
		t.Errorf("empty or unknown selector matched")
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true}, {"", "a", false}, {"*", "", true}, {"?", "", false},
		{"a*b*c", "aXbYc", true}, {"a*b*c", "abcb", false}, {"**a", "ba", true},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"*:*", "x/y:z", true},
		{"*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
	}
	for _, tc := range tests {
		if got := globMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestContainerLookups(t *testing.T) {
	p, err := Parse("seawall.yaml", []byte(containersYAML))
	if err != nil {
		t.Fatal(err)
	}
	if e := p.ContainerEntry("cybex"); e == nil || e.Name != "cybex" {
		t.Errorf("ContainerEntry(cybex) = %v", e)
	}
	if e := p.Containers.Entry("default"); e != nil {
		t.Errorf("Entry(default) = %v, want nil", e)
	}
	if e := p.SelectEntry("wordpress-web-1", "wordpress", "wordpress", "web", nil); e == nil || e.Name != "web" {
		t.Errorf("SelectEntry(web) = %v", e)
	}
	if e := p.SelectEntry("other", "nginx", "", "", nil); e != nil {
		t.Errorf("SelectEntry(other) = %v, want nil", e)
	}
	if d := p.DefaultFor(nil); d != (ContainerDefault{IngressPublished, EgressAllow, at(6, 3)}) {
		t.Errorf("DefaultFor(nil) = %v", d)
	}
	none := Default()
	var nilPolicy *Policy
	if none.ContainerEntry("web") != nil || none.SelectEntry("web", "", "", "", nil) != nil ||
		nilPolicy.ContainerEntry("web") != nil || (*Containers)(nil).Entry("web") != nil {
		t.Errorf("lookups in a policy without containers found something")
	}
	want := ContainerDefault{Pos: Pos{File: "<default>"}}
	if d := none.DefaultFor(nil); d != want {
		t.Errorf("DefaultFor without containers = %v, want %v", d, want)
	}
	// The new kinds are not group members, so ResolveGroup and AllEntries
	// have nothing to skip; references to them must not be taken for groups.
	if got := p.ResolveGroup("db"); got != nil {
		t.Errorf("ResolveGroup(db) = %v", got)
	}
}

func TestContainerStrings(t *testing.T) {
	got := []string{
		IngressPublished.String(), IngressDeny.String(), IngressReject.String(), IngressDefault(9).String(),
		EgressAllow.String(), EgressDeny.String(), EgressReject.String(), EgressDefault(9).String(),
		SelectName.String(), SelectCompose.String(), SelectLabel.String(), SelectImage.String(), SelectorKind(9).String(),
		ContainerRef.String(), DNSRef.String(), AddrKind(9).String(),
		ref(ContainerRef, "db", 1, 1).String(), ref(DNSRef, "a.example", 1, 1).String(),
		Selector{Kind: SelectCompose, Service: "web"}.String(), Selector{Kind: SelectLabel, LabelKey: "k"}.String(),
	}
	want := []string{
		"published", "deny", "reject", "IngressDefault(9)",
		"allow", "deny", "reject", "EgressDefault(9)",
		"name", "compose", "label", "image", "SelectorKind(9)",
		"container", "dns", "AddrKind(9)",
		"container:db", "a.example",
		"compose: web", "label: k",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
