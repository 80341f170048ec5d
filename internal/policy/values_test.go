package policy

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// valueCases parse small valid policies and compare one part of the result.
var valueCases = []struct {
	name string
	src  string
	get  func(p *Policy) any
	want any
}{
	{"defaults", "version: 1\n", func(p *Policy) any { return p.Host }, Host{
		Policy: DirPolicy{
			Input:  &DirDefault{VerdictDrop, Pos{File: "seawall.yaml"}},
			Output: &DirDefault{VerdictAccept, Pos{File: "seawall.yaml"}},
		},
		DenyPos: Pos{File: "seawall.yaml"},
		Log:     LogConfig{Dropped: true, Rate: Rate{10, Minute}, Pos: Pos{File: "seawall.yaml"}},
	}},
	{"null sections", "version: 1\ngroups:\nsets:\nhost:\n", func(p *Policy) any {
		return []any{len(p.Groups), len(p.Sets), p.Host.Policy.Forward == nil}
	}, []any{0, 0, true}},
	{"host settings", "version: 1\nhost:\n  policy: {forward: accept}\n  deny: reject\n  log:\n    dropped: false\n    rate: 5/seconds\n",
		func(p *Policy) any { return []any{*p.Host.Policy.Forward, p.Host.Deny, p.Host.DenyPos, p.Host.Log} },
		[]any{DirDefault{VerdictAccept, at(3, 21)}, DenyReject, at(4, 9),
			LogConfig{Dropped: false, Rate: Rate{5, Second}, Pos: at(5, 3)}}},
	{"rate units", "version: 1\nhost:\n  input:\n" +
		"    - {allow: ssh, limit: 1/hour}\n    - {allow: ssh, limit: 2/days}\n    - {allow: ssh, limit: 3/week}\n",
		func(p *Policy) any {
			var out []string
			for _, r := range p.Host.Input {
				out = append(out, r.Limit.String())
			}
			return out
		}, []string{"1/hour", "2/day", "3/week"}},
	{"services", "version: 1\nhost:\n  input:\n    - allow: [\"tcp/80,443,8000-8100\", udp, ping, icmpv6, sftp, netbios]\n",
		func(p *Policy) any {
			var out []string
			for _, s := range p.Host.Input[0].Services {
				for _, pp := range s.Ports {
					out = append(out, s.Name+"="+pp.String())
				}
			}
			return out
		}, []string{"tcp/80,443,8000-8100=tcp/80,443,8000-8100", "udp=udp", "ping=icmp",
			"icmpv6=icmpv6", "sftp=tcp/22", "netbios=udp/137-138", "netbios=tcp/139"}},
	{"port list in block scalar", "version: 1\nhost:\n  input:\n    - allow: tcp/80, 443\n",
		func(p *Policy) any { return p.Host.Input[0].Services[0].Ports }, []ProtoPorts{tcp(80, 443)}},
	{"explicit key", "version: 1\nhost:\n  ? deny\n  : reject\n",
		func(p *Policy) any { return p.Host.Deny }, DenyReject},
	{"addresses", "version: 1\nhost:\n  input:\n    - allow: ssh\n" +
		"      from: [\"::ffff:192.0.2.1\", \"::ffff:10.0.0.0/104\", \"2001:db8::1\", 198.51.100.0/24]\n",
		func(p *Policy) any { return prefixes(p.Host.Input[0].From) },
		[]string{"192.0.2.1/32", "10.0.0.0/8", "2001:db8::1/128", "198.51.100.0/24"}},
	{"any address", "version: 1\nhost:\n  input:\n    - {allow: ssh, from: any, to: [any]}\n",
		func(p *Policy) any { return []int{len(p.Host.Input[0].From), len(p.Host.Input[0].To)} },
		[]int{0, 0}},
	{"rule extras", "version: 1\nhost:\n  forward:\n    - reject: http\n      iface: veth*\n" +
		"      to: 10.0.0.0/8\n      log: true\n      comment: |\n        no web\n    - drop: any\n",
		func(p *Policy) any {
			r, r2 := p.Host.Forward[0], p.Host.Forward[1]
			return []any{r.Chain, r.Action, r.Iface, prefixes(r.To), *r.Log, r.Comment, r2.Action, r2.Index}
		}, []any{"forward", Reject, "veth*", []string{"10.0.0.0/8"}, true, "no web", Drop, 1}},
	{"redirect", "version: 1\ngroups:\n  lan: [192.168.0.0/16]\nhost:\n  redirect:\n" +
		"    - port: ssh\n      from: lan\n      not_from: 192.168.1.1\n" +
		"      to: \"[2001:db8::4]:8022\"\n      iface: eth0\n      comment: honeypot\n",
		func(p *Policy) any { return *p.Host.Redirects[0] }, Redirect{
			Pos:     at(6, 7),
			Port:    tcp(22),
			From:    []AddrRef{ref(GroupRef, "lan", 7, 13)},
			NotFrom: []AddrRef{lit("192.168.1.1/32", 8, 17)},
			To:      netip.MustParseAddrPort("[2001:db8::4]:8022"),
			Iface:   "eth0",
			Comment: "honeypot",
		}},
	{"redirect mapped", "version: 1\nhost:\n  redirect:\n    - {port: udp/53, to: \"[::ffff:10.0.0.1]:53\"}\n",
		func(p *Policy) any { return p.Host.Redirects[0].To.String() }, "10.0.0.1:53"},
	{"groups", "version: 1\ngroups:\n  empty: []\n  none:\n  both: [empty, none, 10.0.0.1]\n",
		func(p *Policy) any { return p.Groups }, []*Group{
			{Name: "empty", Pos: at(3, 3)},
			{Name: "none", Pos: at(4, 3)},
			{Name: "both", Pos: at(5, 3), Members: []AddrRef{
				ref(GroupRef, "empty", 5, 10), ref(GroupRef, "none", 5, 17), lit("10.0.0.1/32", 5, 23)}},
		}},
	{"sets", "version: 1\nsets:\n  bare:\n  one: {files: blocked.txt}\n",
		func(p *Policy) any { return p.Sets }, []*Set{
			{Name: "bare", Pos: at(3, 3)},
			{Name: "one", Pos: at(4, 3), Files: []SetFile{{Path: "blocked.txt", Pos: at(4, 16)}}},
		}},
}

// prefixes returns the literal prefixes of refs as strings.
func prefixes(refs []AddrRef) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Prefix.String())
	}
	return out
}

func TestParseValues(t *testing.T) {
	for _, tc := range valueCases {
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

func TestDefault(t *testing.T) {
	p := Default()
	if p.File != "<default>" || p.Version != 1 {
		t.Errorf("File, Version = %q, %d", p.File, p.Version)
	}
	h := p.Host
	if h.Policy.Input.Verdict != VerdictDrop || h.Policy.Output.Verdict != VerdictAccept || h.Policy.Forward != nil {
		t.Errorf("policy = %v %v %v", h.Policy.Input, h.Policy.Output, h.Policy.Forward)
	}
	if h.Policy.Input.Pos.Line == 0 || h.Policy.Output.Pos.Line == 0 {
		t.Errorf("input and output policies should be written in default.yaml")
	}
	var got []string
	for _, r := range h.Input {
		got = append(got, r.Action.String()+" "+r.Services[0].Name)
	}
	if want := []string{"allow ssh", "allow icmp"}; !cmp.Equal(got, want) {
		t.Errorf("input rules = %q, want %q", got, want)
	}
	if len(h.Output)+len(h.Forward)+len(h.Redirects)+len(p.Groups)+len(p.Sets) != 0 {
		t.Errorf("default policy has more than the input rules")
	}
	if Default() == p {
		t.Errorf("Default returned the same policy twice")
	}
}

func TestHashChanges(t *testing.T) {
	a, _ := Parse("a", []byte("version: 1\n"))
	b, _ := Parse("a", []byte("version: 1 # changed\n"))
	if a.Hash == b.Hash || len(a.Hash) != 64 {
		t.Errorf("hashes %q and %q", a.Hash, b.Hash)
	}
}

func TestServiceCatalogue(t *testing.T) {
	names := ServiceNames()
	for i := 1; i < len(names); i++ {
		if names[i-1] >= names[i] {
			t.Errorf("ServiceNames not sorted or has duplicates at %q, %q", names[i-1], names[i])
		}
	}
	for _, n := range names {
		if _, ok := LookupService(n); !ok {
			t.Errorf("LookupService(%q) failed", n)
		}
	}
	want := map[string]string{
		"ssh": "tcp/22", "sftp": "tcp/22", "http3": "udp/443", "quic": "udp/443",
		"dns": "udp/53 tcp/53", "dhcp": "udp/67-68", "dhcpv6": "udp/546-547",
		"postgresql": "tcp/5432", "samba": "tcp/445", "netbios": "udp/137-138 tcp/139",
		"ipsec": "udp/500,4500", "ethereum": "tcp/30303 udp/30303", "sip": "udp/5060 tcp/5060",
		"mdns": "udp/5353", "ping": "icmp", "icmp": "icmp", "icmpv6": "icmpv6", "any": "any",
	}
	for name, spec := range want {
		pps, ok := LookupService(name)
		var got []string
		for _, pp := range pps {
			got = append(got, pp.String())
		}
		if !ok || strings.Join(got, " ") != spec {
			t.Errorf("LookupService(%q) = %q, %v; want %q", name, got, ok, spec)
		}
	}
	if _, ok := LookupService("tcp/22"); ok {
		t.Errorf("LookupService accepted tcp/22")
	}
}

func TestStrings(t *testing.T) {
	got := []string{
		Pos{"f", 3, 4}.String(), Pos{File: "f"}.String(),
		(&Error{at(1, 2), "host", "bad"}).Error(), (&Error{Pos: at(1, 2), Msg: "bad"}).Error(),
		Rate{4, Minute}.String(), Allow.String(), Deny.String(), Reject.String(), Drop.String(),
		VerdictAccept.String(), VerdictDrop.String(), DenyDrop.String(), DenyReject.String(),
		ProtoICMPv4.String(), GroupRef.String(), PortRange{137, 138}.String(),
	}
	want := []string{
		"f:3:4", "f", `seawall.yaml:1:2: "host": bad`, "seawall.yaml:1:2: bad",
		"4/minute", "allow", "deny", "reject", "drop", "accept", "drop", "drop", "reject",
		"icmpv4", "group", "137-138",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	secs := []uint64{Second.Seconds(), Minute.Seconds(), Hour.Seconds(), Day.Seconds(), Week.Seconds()}
	if diff := cmp.Diff([]uint64{1, 60, 3600, 86400, 604800}, secs); diff != "" {
		t.Errorf("Seconds (-want +got):\n%s", diff)
	}
}
