package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// labelPolicyYAML is the policy label tests resolve names against.
const labelPolicyYAML = `version: 1
groups:
  office: [10.137.0.0/24]
sets:
  scanners: {entries: [192.0.2.0/24]}
containers:
  default: {ingress: reject, egress: allow}
  db: {select: {compose: shop/db}}
`

func labelPolicy(t testing.TB) *Policy {
	p, err := Parse("seawall.yaml", []byte(labelPolicyYAML))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// labelErrorCase is a container's labels and the whole error text they
// give, for container "web".
type labelErrorCase struct {
	name   string
	labels map[string]string
	want   string
}

func TestLabelErrors(t *testing.T) {
	p := labelPolicy(t)
	for _, tc := range labelErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := ParseLabels(p, "/web", tc.labels)
			if err == nil {
				t.Fatalf("ParseLabels succeeded: %+v", e)
			}
			var list LabelErrors
			if !errors.As(err, &list) {
				t.Fatalf("error is %T, not LabelErrors", err)
			}
			if e != nil {
				t.Errorf("ParseLabels returned an entry with an error")
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("got error\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// lpos returns a position in a label of container "web".
func lpos(label string, col int) Pos {
	return Pos{File: `container "web" label ` + label, Line: 1, Col: col}
}

// colOf returns the 1-based column of the n-th (0-based) occurrence of sub
// in v.
func colOf(t *testing.T, v, sub string, n int) int {
	t.Helper()
	off := 0
	for {
		i := strings.Index(v[off:], sub)
		if i < 0 {
			t.Fatalf("%q not in %q", sub, v)
		}
		if n == 0 {
			return off + i + 1
		}
		n--
		off += i + 1
	}
}

func TestParseLabels(t *testing.T) {
	const (
		in  = "allow tcp/80,443, https from office,10.0.0.0/8 limit 4/minute; deny any from scanners;;"
		out = "allow mysql to container:db; allow https\tto api.example.com container:cache\n; reject any ;"
	)
	labels := map[string]string{
		LabelIngress: in, LabelEgress: out, LabelDefault: "egress=deny",
		"com.docker.compose.service": "web", "traefik.enable": "true",
	}
	e, err := ParseLabels(labelPolicy(t), "/web", labels)
	if err != nil {
		t.Fatal(err)
	}
	ip := func(sub string, n int) Pos { return lpos(LabelIngress, colOf(t, in, sub, n)) }
	ep := func(sub string, n int) Pos { return lpos(LabelEgress, colOf(t, out, sub, n)) }
	nowhere := Pos{File: `container "web"`}
	want := &ContainerEntry{
		Name:   "web",
		Pos:    nowhere,
		Select: Selector{Kind: SelectName, Pos: nowhere, Name: "web"},
		Ingress: []*Rule{{
			Pos: ip("allow", 0), Chain: "ingress", Entry: "web", Index: 0, Action: Allow, ActionPos: ip("allow", 0),
			Services: []Service{
				{Name: "tcp/80,443", Pos: ip("tcp/80", 0), Ports: []ProtoPorts{tcp(80, 443)}},
				{Name: "https", Pos: ip("https", 0), Ports: []ProtoPorts{tcp(443)}},
			},
			From:  []AddrRef{{Kind: GroupRef, Name: "office", Pos: ip("office", 0)}, {Kind: Literal, Prefix: mustPrefixes("10.0.0.0/8")[0], Pos: ip("10.0", 0)}},
			Limit: &Rate{4, Minute}, LimitPos: ip("4/minute", 0),
		}, {
			Pos: ip("deny", 0), Chain: "ingress", Entry: "web", Index: 1, Action: Deny, ActionPos: ip("deny", 0),
			Services: []Service{{Name: "any", Pos: ip("any", 0), Ports: []ProtoPorts{pp(ProtoAny)}}},
			From:     []AddrRef{{Kind: SetRef, Name: "scanners", Pos: ip("scanners", 0)}},
		}},
		Egress: []*Rule{{
			Pos: ep("allow", 0), Chain: "egress", Entry: "web", Index: 0, Action: Allow, ActionPos: ep("allow", 0),
			Services: []Service{{Name: "mysql", Pos: ep("mysql", 0), Ports: []ProtoPorts{tcp(3306)}}},
			To:       []AddrRef{{Kind: ContainerRef, Name: "db", Pos: ep("container:db", 0)}},
		}, {
			Pos: ep("allow", 1), Chain: "egress", Entry: "web", Index: 1, Action: Allow, ActionPos: ep("allow", 1),
			Services: []Service{{Name: "https", Pos: ep("https", 0), Ports: []ProtoPorts{tcp(443)}}},
			To: []AddrRef{{Kind: DNSRef, Name: "api.example.com", Pos: ep("api.", 0)},
				{Kind: ContainerRef, Name: "cache", Pos: ep("container:cache", 0)}},
		}, {
			Pos: ep("reject", 0), Chain: "egress", Entry: "web", Index: 2, Action: Reject, ActionPos: ep("reject", 0),
			Services: []Service{{Name: "any", Pos: ep("any", 0), Ports: []ProtoPorts{pp(ProtoAny)}}},
		}},
		// ingress comes from the policy's containers.default.
		Default: &ContainerDefault{Ingress: IngressReject, Egress: EgressDeny, Pos: lpos(LabelDefault, 1)},
	}
	if diff := cmp.Diff(want, e, cmpOpts); diff != "" {
		t.Errorf("entry mismatch (-want +got):\n%s", diff)
	}
}

func TestParseLabelsForms(t *testing.T) {
	p := labelPolicy(t)
	services := func(e *ContainerEntry) []string {
		var out []string
		for _, r := range e.Ingress {
			for _, s := range r.Services {
				out = append(out, r.Action.String()+" "+s.Name)
			}
		}
		return out
	}
	tests := []struct {
		ingress string
		want    []string
	}{
		{"allow tcp/80,443,8000-8100,https,udp/53", []string{"allow tcp/80,443,8000-8100", "allow https", "allow udp/53"}},
		{"allow tcp/80, 443 ,8443 ssh", []string{"allow tcp/80, 443 ,8443", "allow ssh"}},
		{"allow ssh https , http", []string{"allow ssh", "allow https", "allow http"}},
		{"\tdrop\nicmp\r\n;reject\tudp", []string{"drop icmp", "reject udp"}},
		{";; ;allow ssh;", []string{"allow ssh"}},
		{"", nil},
		{" ; ", nil},
	}
	for _, tc := range tests {
		e, err := ParseLabels(p, "web", map[string]string{LabelIngress: tc.ingress})
		if err != nil || e == nil {
			t.Errorf("%q: %v, %v", tc.ingress, e, err)
			continue
		}
		if diff := cmp.Diff(tc.want, services(e), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.ingress, diff)
		}
		if e.Default != nil {
			t.Errorf("%q: Default = %v, want nil", tc.ingress, e.Default)
		}
	}
	for _, v := range []string{"ingress=deny egress=reject", " egress=reject , ingress=deny "} {
		e, err := ParseLabels(p, "web", map[string]string{LabelDefault: v})
		if err != nil || e.Default.Ingress != IngressDeny || e.Default.Egress != EgressReject {
			t.Errorf("%q: %v, %v", v, e, err)
		}
	}
	if e, err := ParseLabels(p, "web", map[string]string{LabelDefault: "  "}); err != nil || e == nil || e.Default != nil {
		t.Errorf("empty default: %v, %v", e, err)
	}
}

func TestParseLabelsNone(t *testing.T) {
	for _, labels := range []map[string]string{nil, {}, {"com.docker.compose.project": "x", "seawall": "x", "seawallx.ingress": "x"}} {
		if e, err := ParseLabels(labelPolicy(t), "web", labels); e != nil || err != nil {
			t.Errorf("ParseLabels(%v) = %v, %v; want nil, nil", labels, e, err)
		}
	}
}

func TestParseLabelsBadContainer(t *testing.T) {
	for name, want := range map[string]string{
		"/":     `container "": empty container name`,
		"a b/c": `container "a b/c": invalid container name "a b/c"; a name starts with a letter or digit and has at most 255 letters, digits, '_', '.' and '-'`,
	} {
		e, err := ParseLabels(nil, name, map[string]string{LabelIngress: "allow ssh"})
		if e != nil || err == nil || err.Error() != want {
			t.Errorf("ParseLabels(%q) = %v, %v; want %s", name, e, err, want)
		}
	}
	if e, err := ParseLabels(nil, "", nil); e != nil || err != nil {
		t.Errorf("ParseLabels without labels = %v, %v; want nil, nil", e, err)
	}
}

func TestParseLabelsNilPolicy(t *testing.T) {
	e, err := ParseLabels(nil, "web", map[string]string{
		LabelIngress: "allow ssh from 10.0.0.1, container:admin", LabelDefault: "ingress=deny"})
	if err != nil {
		t.Fatal(err)
	}
	if *e.Default != (ContainerDefault{IngressDeny, EgressAllow, e.Default.Pos}) || len(e.Ingress[0].From) != 2 {
		t.Errorf("entry = %+v", e)
	}
	_, err = ParseLabels(nil, "web", map[string]string{LabelIngress: "allow ssh from office"})
	if want := `container "web": label seawall.ingress: col 16: unknown group or set "office"`; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

func FuzzParseLabels(f *testing.F) {
	f.Add("web", "allow tcp/80,443, https from office,10.0.0.0/8 limit 4/minute; deny any from scanners;;",
		"allow mysql to container:db; allow https to api.example.com", "ingress=deny,egress=reject")
	f.Add("/", "allow ssh", "", "")
	for _, tc := range labelErrorCases {
		f.Add("/web", tc.labels[LabelIngress], tc.labels[LabelEgress], tc.labels[LabelDefault])
	}
	p := labelPolicy(f)
	f.Fuzz(func(t *testing.T, container, ingress, egress, def string) {
		labels := map[string]string{LabelIngress: ingress, LabelEgress: egress, LabelDefault: def}
		e, err := ParseLabels(p, container, labels)
		e2, err2 := ParseLabels(p, container, labels)
		if fmt.Sprint(err) != fmt.Sprint(err2) || !cmp.Equal(e, e2, cmpOpts) {
			t.Fatalf("ParseLabels is not deterministic: %v / %v", err, err2)
		}
		name := strings.TrimPrefix(container, "/")
		if err != nil {
			checkLabelErrors(t, e, err, name, labels)
			return
		}
		if e == nil || e.Name != name || e.Select.Kind != SelectName || e.Select.Name != name {
			t.Fatalf("bad entry %+v", e)
		}
		for _, r := range append(append([]*Rule(nil), e.Ingress...), e.Egress...) {
			if r.Entry != name {
				t.Fatalf("rule of entry %q in %q", r.Entry, name)
			}
			checkRule(t, p, r)
			v := labels["seawall."+r.Chain]
			checkLabelPos(t, r.Pos, name, "seawall."+r.Chain, v)
			checkLabelPos(t, r.ActionPos, name, "seawall."+r.Chain, v)
			for _, s := range r.Services {
				checkLabelPos(t, s.Pos, name, "seawall."+r.Chain, v)
			}
			for _, a := range append(append([]AddrRef(nil), r.From...), r.To...) {
				checkLabelPos(t, a.Pos, name, "seawall."+r.Chain, v)
			}
			if (r.Limit == nil) != (r.LimitPos == Pos{}) {
				t.Fatalf("Limit %v at %v", r.Limit, r.LimitPos)
			}
			if r.Limit != nil {
				checkLabelPos(t, r.LimitPos, name, "seawall."+r.Chain, v)
			}
		}
		if e.Default != nil {
			checkLabelPos(t, e.Default.Pos, name, LabelDefault, def)
		}
	})
}

// checkLabelErrors checks that a failed ParseLabels returns a non-empty,
// sorted LabelErrors with columns inside the label values (fuzzed labels
// all have known names).
func checkLabelErrors(t *testing.T, e *ContainerEntry, err error, name string, labels map[string]string) {
	var list LabelErrors
	if !errors.As(err, &list) || len(list) == 0 || e != nil {
		t.Fatalf("bad result %v, %T %v", e, err, err)
	}
	for i, le := range list {
		v, ok := labels[le.Label]
		if le.Label == "" && len(list) == 1 && checkContainerName(name) != "" {
			return // bad container name
		}
		whole := le.Col == 0 && len(v) > maxLabelValue // the only whole-label error here
		if le.Container != name || !ok || !whole && (le.Col < 1 || le.Col > len(v)+1) || le.Msg == "" {
			t.Fatalf("bad error %#v", le)
		}
		if i > 0 && (le.Label < list[i-1].Label || le.Label == list[i-1].Label && le.Col < list[i-1].Col) {
			t.Fatalf("errors out of order:\n%v", err)
		}
	}
}

// checkLabelPos checks a position in a label value.
func checkLabelPos(t *testing.T, pos Pos, container, label, v string) {
	file := fmt.Sprintf("container %q label %s", container, label)
	if pos.File != file || pos.Line != 1 || pos.Col < 1 || pos.Col > len(v) {
		t.Fatalf("bad position %#v in %s %q", pos, label, v)
	}
}
