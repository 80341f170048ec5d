package netlab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// serveEverywhere starts TCP and UDP servers on port in every namespace of
// the standard topology.
func serveEverywhere(t *testing.T, l *Lab, port string) {
	t.Helper()
	for _, ns := range StandardNodes() {
		if _, err := l.ServeTCP(ns, ":"+port); err != nil {
			t.Fatal(err)
		}
		if _, err := l.ServeUDP(ns, ":"+port); err != nil {
			t.Fatal(err)
		}
	}
}

// reach returns TCP, UDP and ICMP probes from one namespace to an address
// key, for IPv4 and IPv6, all expecting an answer from ns owner.
func reach(from, to, owner string) []Probe {
	var ps []Probe
	for _, ipv := range []int{4, 6} {
		dst := Addr(to, ipv)
		ps = append(ps,
			Probe{From: from, To: dst, Proto: TCP, Port: 80, Want: Open, WantBanner: Banner(owner, 80)},
			Probe{From: from, To: dst, Proto: UDP, Port: 80, Want: Open, WantBanner: Banner(owner, 80)},
			Probe{From: from, To: dst, Proto: ICMP, Want: Open},
		)
	}
	return ps
}

func TestStandardTopology(t *testing.T) {
	t.Parallel()
	l := Standard(t)
	serveEverywhere(t, l, "80")

	var probes []Probe
	for _, p := range [][3]string{
		{LAN1, Net1, Net1},
		{LAN1, LAN2, LAN2},
		{LAN1, Blog, Net1},
		{LAN2, Host, Host},
		{Net1, Host, Host},
		{Net1, HostDock, Host},
		{Net1, Honeypot, Honeypot},
		{Net3, LAN1, LAN1},
		{Host, Honeypot, Honeypot},
		{Host, Net2, Net2},
		{Host, LAN1, LAN1},
		{Host, Router, Router},
		{Honeypot, Net2, Net2},
		{Honeypot, Host, Host},
		{Router, Honeypot, Honeypot},
		{Net2, RouterNet, Router},
	} {
		probes = append(probes, reach(p[0], p[1], p[2])...)
	}
	for _, ipv := range []int{4, 6} {
		probes = append(probes,
			Probe{From: Net1, Src: Addr(Blog, ipv), To: Addr(Host, ipv), Proto: TCP, Port: 80, Want: Open, WantBanner: Banner(Host, 80)},
			Probe{From: Net1, Src: Addr(Blog, ipv), To: Addr(LAN1, ipv), Proto: UDP, Port: 80, Want: Open, WantBanner: Banner(LAN1, 80)},
			Probe{From: Net1, Src: Addr(Blog, ipv), To: Addr(LAN2, ipv), Proto: ICMP, Want: Open},
		)
	}
	results := l.Check(t, probes)
	if testing.Verbose() {
		t.Logf("\n%s", FormatTable(results))
	}
}

// TestSourceAddress checks that DialUDPFrom really sends from the given
// address and that net1's primary addresses are its default sources: a
// rule in lan1 drops UDP from the blog address only.
func TestSourceAddress(t *testing.T) {
	t.Parallel()
	l := Standard(t)
	if _, err := l.ServeUDP(LAN1, ":53"); err != nil {
		t.Fatal(err)
	}
	err := l.Nft(context.Background(), LAN1, `
table inet netlabtest {
	chain input {
		type filter hook input priority 0; policy accept;
		ip saddr `+BlogV4+` udp dport 53 drop
		ip6 saddr `+BlogV6+` udp dport 53 drop
	}
}`)
	if err != nil {
		t.Fatal(err)
	}
	var probes []Probe
	for _, ipv := range []int{4, 6} {
		probes = append(probes,
			Probe{From: Net1, To: Addr(LAN1, ipv), Proto: UDP, Port: 53, Want: Open, WantBanner: Banner(LAN1, 53)},
			Probe{From: Net1, Src: Addr(Net1, ipv), To: Addr(LAN1, ipv), Proto: UDP, Port: 53, Want: Open},
			Probe{From: Net1, Src: Addr(Blog, ipv), To: Addr(LAN1, ipv), Proto: UDP, Port: 53, Want: Dropped},
		)
	}
	l.Check(t, probes)
}

func TestVerdicts(t *testing.T) {
	t.Parallel()
	l := Standard(t)
	ctx := context.Background()
	for _, port := range []string{"80", "81", "82", "83"} {
		if _, err := l.ServeTCP(Net1, ":"+port); err != nil {
			t.Fatal(err)
		}
	}
	for _, port := range []string{"53", "84", "85", "86"} {
		if _, err := l.ServeUDP(Net1, ":"+port); err != nil {
			t.Fatal(err)
		}
	}
	rules := map[string]string{
		Net1: `
table inet netlabtest {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport 81 drop
		tcp dport 82 reject with icmpx type admin-prohibited
		tcp dport 83 reject with tcp reset
		udp dport 84 drop
		udp dport 85 reject with icmpx type admin-prohibited
		udp dport 86 reject
		ip saddr ` + LAN2V4 + ` icmp type echo-request drop
		ip6 saddr ` + LAN2V6 + ` icmpv6 type echo-request drop
		ip saddr ` + Net2V4 + ` icmp type echo-request reject with icmpx type admin-prohibited
		ip6 saddr ` + Net2V6 + ` icmpv6 type echo-request reject with icmpx type admin-prohibited
		ip saddr ` + Net3V4 + ` icmp type echo-request reject
		ip6 saddr ` + Net3V6 + ` icmpv6 type echo-request reject
	}
}`,
		Router: `
table inet netlabtest {
	chain forward {
		type filter hook forward priority 0; policy accept;
		tcp dport 88 reject with icmpx type host-unreachable
		udp dport 88 reject with icmpx type no-route
	}
}`,
		LAN1: `
table inet netlabtest {
	chain output {
		type filter hook output priority 0; policy accept;
		meta l4proto { tcp, udp } th dport 89 drop
	}
}`,
	}
	for ns, script := range rules {
		if err := l.Nft(ctx, ns, script); err != nil {
			t.Fatal(err)
		}
	}

	var probes []Probe
	for _, ipv := range []int{4, 6} {
		dst := Addr(Net1, ipv)
		p := func(proto Proto, port uint16, want Verdict) Probe {
			return Probe{From: LAN1, To: dst, Proto: proto, Port: port, Want: want}
		}
		probes = append(probes,
			Probe{From: LAN1, To: dst, Proto: TCP, Port: 80, Want: Open, WantBanner: "net1:80"},
			p(TCP, 81, Dropped),
			p(TCP, 82, Unreachable),
			p(TCP, 83, Refused),
			p(TCP, 87, Refused), // no listener: RST
			p(TCP, 88, Unreachable),
			p(TCP, 89, Dropped), // local output drop
			Probe{From: LAN1, To: dst, Proto: UDP, Port: 53, Want: Open, WantBanner: "net1:53"},
			p(UDP, 84, Dropped),
			p(UDP, 85, Unreachable),
			p(UDP, 86, Refused),
			p(UDP, 87, Refused), // no listener: port unreachable
			p(UDP, 88, Unreachable),
			p(UDP, 89, Dropped), // local output drop (EPERM)
			p(ICMP, 0, Open),
			Probe{From: LAN2, To: dst, Proto: ICMP, Want: Dropped},
			Probe{From: Net2, To: dst, Proto: ICMP, Want: Unreachable},
			Probe{From: Net3, To: dst, Proto: ICMP, Want: Refused},
			// Nobody listens on UDP 87 anywhere: many in a row must all see
			// port unreachable (ICMP rate limiting is off).
			p(UDP, 87, Refused), p(UDP, 87, Refused), p(UDP, 87, Refused), p(UDP, 87, Refused),
			p(UDP, 87, Refused), p(UDP, 87, Refused), p(UDP, 87, Refused), p(UDP, 87, Refused),
		)
	}
	results := l.Check(t, probes)
	for _, r := range results {
		if r.Result.Verdict == Dropped && r.Result.Err == nil && r.Result.Took < l.timeout/2 {
			t.Errorf("%v: dropped after only %v", r.Probe, r.Result.Took)
		}
	}
	if testing.Verbose() {
		t.Logf("\n%s", FormatTable(results))
	}

	// Direct calls agree with the table.
	if r := l.DialTCP(LAN1, AddrPort(Net1, 4, 83), 0); r.Verdict != Refused || r.Verdict.String() != "refused" {
		t.Errorf("DialTCP to a tcp-reset port: got %v", r)
	}
	if r := l.Ping(LAN1, Addr(Net1, 6), 0); r.Verdict != Open {
		t.Errorf("Ping: got %v", r)
	}
	if r := l.DialTCP("nosuchns", AddrPort(Net1, 4, 80), 0); r.Verdict != Failed || r.Err == nil {
		t.Errorf("DialTCP from a missing namespace: got %v", r)
	}
}

func TestCloseRemovesNamespaces(t *testing.T) {
	RequireRoot(t)
	t.Parallel()

	// A namespace left behind by a dead netlab process.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("%s%d_abc123-stale", namePrefix, dead.Process.Pid)
	if out, err := exec.Command("ip", "netns", "add", stale).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = deleteNetns(stale) })

	l, err := StartStandard(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(netnsDir + "/" + stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale namespace %s still exists after Start (stat: %v)", stale, err)
	}
	got, err := listNetns(l.Prefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(StandardNodes()) {
		t.Errorf("lab has namespaces %v, want %d", got, len(StandardNodes()))
	}
	// The root namespace must not have gained any of the lab's links.
	out, err := exec.Command("ip", "-o", "link", "show").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"veth-hp", "to-host", "br-lan", "br-net", "dock0"} {
		if strings.Contains(string(out), " "+name+":") || strings.Contains(string(out), " "+name+"@") {
			t.Errorf("link %s appeared in the root namespace", name)
		}
	}
	if _, err := l.ServeTCP(Host, ":22"); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := listNetns(l.Prefix()); len(got) != 0 {
		t.Errorf("namespaces left after Close: %v", got)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := l.AddNS("late"); err == nil {
		t.Error("AddNS after Close succeeded")
	}
}

func TestInNSRestoresNamespace(t *testing.T) {
	t.Parallel()
	l := New(t)
	if err := l.AddNS("a"); err != nil {
		t.Fatal(err)
	}
	self, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		var inside string
		if err := l.InNS("a", func() error {
			var err error
			inside, err = os.Readlink("/proc/thread-self/ns/net")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if inside == self {
			t.Fatalf("InNS ran fn in the caller's namespace %s", self)
		}
	}
	want := errors.New("boom")
	if err := l.InNS("a", func() error { return want }); !errors.Is(err, want) {
		t.Errorf("InNS returned %v, want %v", err, want)
	}
	if err := l.InNS("missing", func() error { return nil }); err == nil {
		t.Error("InNS into a missing namespace succeeded")
	}
}

func TestAddrPlan(t *testing.T) {
	if got := Addr(LAN1, 4); got != netip.MustParseAddr("10.137.0.10") {
		t.Errorf("Addr(lan1, 4) = %v", got)
	}
	if got := Addr(Blog, 4); got != netip.MustParseAddr("203.0.113.7") {
		t.Errorf("Addr(blog, 4) = %v", got)
	}
	if got := AddrPort(Honeypot, 6, 22).String(); got != "[fd00:31::4]:22" {
		t.Errorf("AddrPort(honeypot, 6, 22) = %v", got)
	}
	for _, key := range []string{Host, HostDock, Honeypot, Router, RouterLAN, RouterNet, LAN1, LAN2, Net1, Blog, Net2, Net3} {
		for _, ipv := range []int{4, 6} {
			a := Addr(key, ipv)
			if a.Is4() != (ipv == 4) {
				t.Errorf("Addr(%s, %d) = %v: wrong family", key, ipv, a)
			}
			if got := NameOf(a); got != key {
				t.Errorf("NameOf(%v) = %q, want %q", a, got, key)
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Addr of an unknown key did not panic")
		}
	}()
	Addr("nosuch", 4)
}

func TestFormatTable(t *testing.T) {
	p := Probe{From: Net2, To: Addr(Host, 4), Proto: TCP, Port: 22, Want: Dropped}
	r := ProbeResult{Probe: p, Result: Result{Verdict: Open, Banner: "host:22", Took: 3 * time.Millisecond}}
	want := `from net2 to host (192.0.2.2) tcp/22: want dropped, got open "host:22"`
	if r.String() != want {
		t.Errorf("String() = %q, want %q", r.String(), want)
	}
	table := FormatTable([]ProbeResult{r, {Probe: Probe{From: LAN1, To: Addr(Net1, 6), Proto: ICMP, Want: Open}, Result: Result{Verdict: Open}, OK: true}})
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 || !strings.HasSuffix(lines[1], "FAIL") || !strings.HasSuffix(lines[2], "ok") {
		t.Errorf("unexpected table:\n%s", table)
	}
	for v, s := range map[Verdict]string{Open: "open", Refused: "refused", Unreachable: "unreachable", Dropped: "dropped", Failed: "error"} {
		if v.String() != s {
			t.Errorf("Verdict(%d).String() = %q, want %q", int(v), v.String(), s)
		}
	}
}
