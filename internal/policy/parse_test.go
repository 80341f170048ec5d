package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// exampleYAML is the example policy of the schema.
const exampleYAML = `version: 1
groups:                      # named address groups: addresses, CIDRs, other group names
  office: [10.137.0.0/24, "2001:db8:1::/48"]
  blog: [203.0.113.7]
sets:                        # kernel sets; group and set names share one namespace
  scanners:
    entries: [192.0.2.0/24]
    files: [/etc/seawall/scanners.txt]
host:
  policy: {input: drop, output: accept, forward: drop}
  deny: drop                 # drop (silent) | reject
  log: {dropped: true, rate: 10/minute}
  input:
    - deny: any
      from: scanners
    - allow: ssh
      from: office
      limit: 4/minute        # new connections per source
    - allow: [http, https]
    - allow: icmp
    - allow: tcp/3306
      from: blog
    - deny: udp/137-138
      log: false
  output:
    - allow: [dns, http, https, icmp]
  redirect:
    - port: tcp/22
      not_from: office
      to: 172.17.0.4:8022
`

// at returns a position in seawall.yaml.
func at(line, col int) Pos { return Pos{File: "seawall.yaml", Line: line, Col: col} }

func lit(s string, line, col int) AddrRef {
	return AddrRef{Kind: Literal, Prefix: netip.MustParsePrefix(s), Pos: at(line, col)}
}

func ref(kind AddrKind, name string, line, col int) AddrRef {
	return AddrRef{Kind: kind, Name: name, Pos: at(line, col)}
}

func svc(name string, line, col int, pps ...ProtoPorts) Service {
	return Service{Name: name, Pos: at(line, col), Ports: pps}
}

func tcp(ports ...uint16) ProtoPorts { return pp(ProtoTCP, ports...) }
func udp(ports ...uint16) ProtoPorts { return pp(ProtoUDP, ports...) }

// pp builds a ProtoPorts from single ports.
func pp(proto Proto, ports ...uint16) ProtoPorts {
	out := ProtoPorts{Proto: proto}
	for _, p := range ports {
		out.Ports = append(out.Ports, PortRange{p, p})
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// cmpOpts compares policies, including unexported set state.
var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b }),
	cmpopts.EquateEmpty(),
	cmp.AllowUnexported(Set{}),
}

func examplePolicy() *Policy {
	sum := sha256.Sum256([]byte(exampleYAML))
	return &Policy{
		Version: 1,
		File:    "seawall.yaml",
		Hash:    hex.EncodeToString(sum[:]),
		Groups: []*Group{
			{Name: "office", Pos: at(3, 3), Members: []AddrRef{
				lit("10.137.0.0/24", 3, 12), lit("2001:db8:1::/48", 3, 27)}},
			{Name: "blog", Pos: at(4, 3), Members: []AddrRef{lit("203.0.113.7/32", 4, 10)}},
		},
		Sets: []*Set{{
			Name: "scanners", Pos: at(6, 3),
			Entries: []AddrRef{lit("192.0.2.0/24", 7, 15)},
			Files:   []SetFile{{Path: "/etc/seawall/scanners.txt", Pos: at(8, 13)}},
		}},
		Host: exampleHost(),
	}
}

func exampleHost() Host {
	return Host{
		Policy: DirPolicy{
			Input:   &DirDefault{VerdictDrop, at(10, 19)},
			Output:  &DirDefault{VerdictAccept, at(10, 33)},
			Forward: &DirDefault{VerdictDrop, at(10, 50)},
		},
		Deny: DenyDrop, DenyPos: at(11, 9),
		Log:   LogConfig{Dropped: true, Rate: Rate{10, Minute}, Pos: at(12, 3)},
		Input: exampleInput(),
		Output: []*Rule{{
			Pos: at(26, 7), Chain: "output", Action: Allow, ActionPos: at(26, 7),
			Services: []Service{
				svc("dns", 26, 15, udp(53), tcp(53)), svc("http", 26, 20, tcp(80)),
				svc("https", 26, 26, tcp(443)), svc("icmp", 26, 33, pp(ProtoICMP)),
			},
		}},
		Redirects: []*Redirect{{
			Pos:     at(28, 7),
			Port:    tcp(22),
			NotFrom: []AddrRef{ref(GroupRef, "office", 29, 17)},
			To:      netip.MustParseAddrPort("172.17.0.4:8022"),
		}},
	}
}

func exampleInput() []*Rule {
	rule := func(i, line int, a Action, s ...Service) *Rule {
		return &Rule{Pos: at(line, 7), Chain: "input", Index: i, Action: a, ActionPos: at(line, 7), Services: s}
	}
	r0 := rule(0, 14, Deny, svc("any", 14, 13, pp(ProtoAny)))
	r0.From = []AddrRef{ref(SetRef, "scanners", 15, 13)}
	r1 := rule(1, 16, Allow, svc("ssh", 16, 14, tcp(22)))
	r1.From = []AddrRef{ref(GroupRef, "office", 17, 13)}
	r1.Limit, r1.LimitPos = &Rate{4, Minute}, at(18, 14)
	r2 := rule(2, 19, Allow, svc("http", 19, 15, tcp(80)), svc("https", 19, 21, tcp(443)))
	r3 := rule(3, 20, Allow, svc("icmp", 20, 14, pp(ProtoICMP)))
	r4 := rule(4, 21, Allow, svc("tcp/3306", 21, 14, tcp(3306)))
	r4.From = []AddrRef{ref(GroupRef, "blog", 22, 13)}
	r5 := rule(5, 23, Deny, svc("udp/137-138", 23, 13,
		ProtoPorts{ProtoUDP, []PortRange{{137, 138}}}))
	r5.Log = ptr(false)
	return []*Rule{r0, r1, r2, r3, r4, r5}
}

func TestParseExample(t *testing.T) {
	p, err := Parse("seawall.yaml", []byte(exampleYAML))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(examplePolicy(), p, cmpOpts); diff != "" {
		t.Errorf("policy mismatch (-want +got):\n%s", diff)
	}
}

func TestLookups(t *testing.T) {
	p, err := Parse("seawall.yaml", []byte(exampleYAML))
	if err != nil {
		t.Fatal(err)
	}
	if g := p.Group("blog"); g == nil || g.Name != "blog" {
		t.Errorf("Group(blog) = %v", g)
	}
	if g := p.Group("scanners"); g != nil {
		t.Errorf("Group(scanners) = %v, want nil", g)
	}
	if s := p.SetByName("scanners"); s == nil || s.Name != "scanners" {
		t.Errorf("SetByName(scanners) = %v", s)
	}
	if s := p.SetByName("office"); s != nil {
		t.Errorf("SetByName(office) = %v, want nil", s)
	}
	want := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	if got := p.SetByName("scanners").AllEntries(); !slices.Equal(got, want) {
		t.Errorf("AllEntries = %v, want %v", got, want)
	}
}

func TestResolveGroup(t *testing.T) {
	src := `version: 1
groups:
  a: [10.0.0.0/8, b, 192.0.2.1]
  b: [c, "2001:db8::/32", 10.0.0.0/8]
  c: [192.0.2.1, 198.51.100.0/24]
  d: []
`
	p, err := Parse("seawall.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		want []string
	}{
		{"a", []string{"10.0.0.0/8", "192.0.2.1/32", "198.51.100.0/24", "2001:db8::/32"}},
		{"b", []string{"192.0.2.1/32", "198.51.100.0/24", "2001:db8::/32", "10.0.0.0/8"}},
		{"d", nil},
		{"nope", nil},
	}
	for _, tc := range tests {
		var want []netip.Prefix
		for _, s := range tc.want {
			want = append(want, netip.MustParsePrefix(s))
		}
		if got := p.ResolveGroup(tc.name); !slices.Equal(got, want) {
			t.Errorf("ResolveGroup(%q) = %v, want %v", tc.name, got, want)
		}
	}
}
