package nft

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/seawall/seawall/internal/ruleset"
)

func TestMain(m *testing.M) {
	before := rootTables()
	code := m.Run()
	if after := rootTables(); strings.Contains(after, "inet seawall") && !strings.Contains(before, "inet seawall") {
		fmt.Fprintf(os.Stderr, "SAFETY: a test created table inet seawall in the root network namespace:\n%s", after)
		code = 1
	}
	os.Exit(code)
}

// rootTables lists the root namespace's tables (read-only): a canary for a
// test that changed the host's firewall instead of a scratch namespace's.
func rootTables() string {
	out, _ := exec.Command("nft", "list", "tables").Output()
	return string(out)
}

// testNS creates a network namespace for one test and returns it open; the
// namespace is deleted when the test ends.
func testNS(t *testing.T) (name string, ns *os.File) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs the nft binary (apt-get install nftables)")
	}
	name = fmt.Sprintf("swnft%d%d", os.Getpid()%100000, time.Now().UnixNano()%1000)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace: %v: %s", err, out)
	}
	f, err := os.Open("/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Close()
		exec.Command("ip", "netns", "del", name).Run()
	})
	return name, f
}

func nftIn(t *testing.T, ns string, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, "nft"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nft %v: %v\n%s\ninput:\n%s", args, err, out, stdin)
	}
	return string(out)
}

func addrs(ss ...string) []ruleset.Element {
	var ps []netip.Prefix
	for _, s := range ss {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	f := ruleset.IPv4
	if ps[0].Addr().Is6() {
		f = ruleset.IPv6
	}
	return ruleset.MergePrefixes(f, ps)
}

// sampleRuleset uses every match, statement and verdict kind.
func sampleRuleset() *ruleset.Ruleset {
	v4, v6 := ruleset.IPv4, ruleset.IPv6
	tcp22 := ruleset.Port{Proto: ruleset.ProtoTCP, Dir: ruleset.Dst, Ranges: []ruleset.PortRange{{First: 22, Last: 22}}}
	r := func(v ruleset.Verdict, ms ...ruleset.Match) *ruleset.Rule {
		return &ruleset.Rule{Match: ms, Counter: true, Verdict: v, Comment: "seawall.yaml:3:5 test"}
	}
	return &ruleset.Ruleset{
		Sets: []*ruleset.Set{
			{Name: "office_v4", Key: ruleset.KeyIPv4Addr, Interval: true,
				Elements: addrs("10.137.0.0/24", "192.0.2.0/25", "192.0.2.128/26", "255.0.0.0/8")},
			{Name: "office_v6", Key: ruleset.KeyIPv6Addr, Interval: true, Elements: addrs("2001:db8:1::/48")},
			{Name: "empty_v6", Key: ruleset.KeyIPv6Addr, Interval: true},
			{Name: "rl_v4", Key: ruleset.KeyIPv4Addr, Dynamic: true, Timeout: time.Minute, Size: 65535},
			{Name: "window", Key: ruleset.KeyNFProto, Elements: []ruleset.Element{{Proto: v4, Timeout: 5 * time.Minute}, {Proto: v6, Timeout: 5 * time.Minute}}},
			{Name: "ctr_in_v4", Key: ruleset.KeyIPv4Addr, Map: true, Elements: []ruleset.Element{
				{First: netip.MustParseAddr("172.30.0.2"), Last: netip.MustParseAddr("172.30.0.2"), Jump: "sub"},
				{First: netip.MustParseAddr("172.30.0.3"), Last: netip.MustParseAddr("172.30.0.3"), Jump: "sub"}}},
			{Name: "ctr_out_v6", Key: ruleset.KeyIPv6Addr, Map: true},
			{Name: "ctr_pub_tcp", Key: ruleset.KeyPort, Map: true, Elements: []ruleset.Element{{Port: 8443, Jump: "sub"}, {Port: 9000, Jump: "sub"}}},
			{Name: "jail_sshd_v4", Key: ruleset.KeyIPv4Addr, Runtime: true, Elements: []ruleset.Element{
				{First: netip.MustParseAddr("203.0.113.9"), Last: netip.MustParseAddr("203.0.113.9"), Timeout: time.Hour},
				{First: netip.MustParseAddr("203.0.113.10"), Last: netip.MustParseAddr("203.0.113.10")}}},
			{Name: "jail_sshd_v6", Key: ruleset.KeyIPv6Addr, Runtime: true},
		},
		Chains: []*ruleset.Chain{
			{Name: "input", Base: &ruleset.Base{Type: ruleset.TypeFilter, Hook: ruleset.HookInput, Priority: 0, Policy: ruleset.Drop},
				Rules: []*ruleset.Rule{
					r(ruleset.Accept, ruleset.Iface{Dir: ruleset.Src, Name: "lo"}),
					r(ruleset.Accept, ruleset.Iface{Dir: ruleset.Src, Name: "eth*", Neg: true}),
					r(ruleset.Accept, ruleset.ICMPType{Family: v6, Types: []uint8{135, 136}}, ruleset.HopLimit{Value: 255}),
					r(ruleset.Accept, ruleset.ICMPType{Family: v4, Types: []uint8{8}}),
					r(ruleset.Drop, ruleset.CtState{States: ruleset.CtInvalid}),
					r(ruleset.Drop, ruleset.TCPFlags{Mask: ruleset.TCPFin | ruleset.TCPSyn, Value: ruleset.TCPFin | ruleset.TCPSyn}),
					r(ruleset.Drop, ruleset.TCPFlags{Mask: 0x3f, Value: 0}),
					r(ruleset.Drop, ruleset.CtState{States: ruleset.CtNew}, ruleset.TCPFlags{Mask: 0x17, Value: ruleset.TCPSyn, Neg: true}),
					r(ruleset.Accept, ruleset.CtState{States: ruleset.CtEstablished | ruleset.CtRelated}),
					r(ruleset.Accept, ruleset.Addr{Family: v4, Dir: ruleset.Src, Set: "office_v4"}, tcp22),
					r(ruleset.Drop, ruleset.Addr{Family: v4, Dir: ruleset.Src, Set: "jail_sshd_v4"}),
					r(ruleset.Drop, ruleset.Addr{Family: v6, Dir: ruleset.Src, Set: "jail_sshd_v6", Mask: 64}),
					r(ruleset.Accept, ruleset.Addr{Family: v6, Dir: ruleset.Src, Set: "office_v6", Neg: true}, tcp22),
					r(ruleset.Accept, ruleset.Addr{Family: v4, Dir: ruleset.Src, Ranges: addrs("203.0.113.7/32")}),
					r(ruleset.Accept, ruleset.Addr{Family: v4, Dir: ruleset.Src, Ranges: addrs("10.0.0.0/8")}),
					r(ruleset.Accept, ruleset.Addr{Family: v4, Dir: ruleset.Dst, Ranges: addrs("10.137.0.0/23"), Neg: true}),
					r(ruleset.Accept, ruleset.Addr{Family: v6, Dir: ruleset.Src, Ranges: addrs("2001:db8::/32")}),
					r(ruleset.Accept, ruleset.Addr{Family: v6, Dir: ruleset.Src, Ranges: addrs("2001:db8::1/128", "2001:db8:5::/64")}),
					r(ruleset.Accept, ruleset.Addr{Family: v4, Dir: ruleset.Src, Ranges: []ruleset.Element{{First: netip.MustParseAddr("10.0.0.1"), Last: netip.MustParseAddr("10.0.0.5")}}}),
					r(ruleset.Accept, ruleset.Port{Proto: ruleset.ProtoUDP, Dir: ruleset.Dst, Ranges: []ruleset.PortRange{{First: 137, Last: 138}}}),
					r(ruleset.Accept, ruleset.Port{Proto: ruleset.ProtoTCP, Dir: ruleset.Dst, Ranges: []ruleset.PortRange{{First: 80, Last: 80}, {First: 443, Last: 443}}}),
					r(ruleset.Accept, ruleset.Port{Proto: ruleset.ProtoTCP, Dir: ruleset.Dst, Ranges: []ruleset.PortRange{{First: 80, Last: 80}, {First: 8000, Last: 8100}, {First: 65000, Last: 65535}}}),
					r(ruleset.Accept, ruleset.L4Proto{Proto: ruleset.ProtoICMP}),
					r(ruleset.Accept, ruleset.NFProto{Family: v6}, ruleset.L4Proto{Proto: ruleset.ProtoICMPv6}),
					r(ruleset.Accept, ruleset.Addr{Family: v4, Dir: ruleset.Dst, Ranges: addrs("172.31.0.4/32")},
						ruleset.Port{Proto: ruleset.ProtoTCP, Dir: ruleset.Dst, Ranges: []ruleset.PortRange{{First: 8022, Last: 8022}}}, ruleset.CtDNAT{OrigPort: 22}),
					{Match: []ruleset.Match{ruleset.CtState{States: ruleset.CtNew}, tcp22},
						Meter:   &ruleset.Meter{Set: "rl_v4", Family: v4, Limit: ruleset.Limit{Rate: 4, Unit: time.Minute, Burst: 4, Over: true}},
						Counter: true, Verdict: ruleset.Drop},
					{Limit: &ruleset.Limit{Rate: 10, Unit: time.Minute, Burst: 5}, Log: &ruleset.Log{Prefix: `seawall in drop "L4": `}},
					r(ruleset.Jump("sub"), ruleset.InSet{Set: "window"}),
					r(ruleset.Verdict{Kind: ruleset.VerdictReject, Reject: ruleset.RejectTCPReset}, ruleset.L4Proto{Proto: ruleset.ProtoTCP}),
					r(ruleset.Verdict{Kind: ruleset.VerdictReject, Reject: ruleset.RejectPortUnreach}),
					r(ruleset.Verdict{Kind: ruleset.VerdictReject, Reject: ruleset.RejectAdminProhibited}),
				}},
			{Name: "sub", Rules: []*ruleset.Rule{r(ruleset.Return, ruleset.L4Proto{Proto: ruleset.ProtoUDP}), r(ruleset.Drop)}},
			{Name: "forward", Base: &ruleset.Base{Type: ruleset.TypeFilter, Hook: ruleset.HookForward, Priority: -10, Policy: ruleset.Accept},
				Rules: []*ruleset.Rule{
					r(ruleset.Vmap(v4, ruleset.Dst, "ctr_in_v4")),
					r(ruleset.Accept, ruleset.DNATed{Neg: true}, ruleset.Port{Proto: ruleset.ProtoTCP, Dir: ruleset.Dst, Ranges: []ruleset.PortRange{{First: 5432, Last: 5432}}}),
					r(ruleset.Accept, ruleset.DNATed{}, ruleset.OrigPort{Proto: ruleset.ProtoTCP, Range: ruleset.PortRange{First: 443, Last: 443}}),
					r(ruleset.Accept, ruleset.DNATed{}, ruleset.OrigPort{Proto: ruleset.ProtoUDP, Range: ruleset.PortRange{First: 8000, Last: 8100}}),
					r(ruleset.Vmap(v6, ruleset.Src, "ctr_out_v6")),
					r(ruleset.PortVmap(ruleset.ProtoTCP, "ctr_pub_tcp")),
				}},
			{Name: "prerouting", Base: &ruleset.Base{Type: ruleset.TypeNAT, Hook: ruleset.HookPrerouting, Priority: -100, Policy: ruleset.Accept},
				Rules: []*ruleset.Rule{
					r(ruleset.Verdict{Kind: ruleset.VerdictDNAT, To: netip.MustParseAddrPort("172.31.0.4:8022")}, ruleset.LocalDst{}, tcp22, ruleset.Addr{Family: v4, Dir: ruleset.Src, Set: "office_v4", Neg: true}),
					r(ruleset.Verdict{Kind: ruleset.VerdictDNAT, To: netip.MustParseAddrPort("[fd00:31::4]:8022")}, tcp22, ruleset.Addr{Family: v6, Dir: ruleset.Src, Set: "office_v6", Neg: true}),
				}},
		},
	}
}

// stripVolatile removes what differs between two loads of the same ruleset:
// the remaining time of timed elements, and the order in which a hash set
// lists its elements.
func stripVolatile(s string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		for {
			i := strings.Index(line, " expires ")
			if i < 0 {
				break
			}
			j := strings.IndexAny(line[i+9:], ",} ")
			line = line[:i] + line[i+9+j:]
		}
		out = append(out, line)
	}
	// nft --debug=netlink prints a set's elements one per line in the
	// set's internal order: sort each run of element lines.
	for i := 0; i < len(out); {
		j := i
		for j < len(out) && strings.HasPrefix(out[j], "\telement ") {
			j++
		}
		sort.Strings(out[i:j])
		i = j + 1
	}
	return strings.Join(out, "\n")
}

func TestDifferentialTextVsNetlink(t *testing.T) {
	rs := sampleRuleset()
	nsText, _ := testNS(t)
	nftIn(t, nsText, Script(rs), "-f", "-")
	viaText := nftIn(t, nsText, "", "-s", "list", "ruleset")

	nsNL, fd := testNS(t)
	c, err := OpenNS(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Apply(rs, nil, 0); err != nil {
		t.Fatal(err)
	}
	viaNetlink := nftIn(t, nsNL, "", "-s", "list", "ruleset")
	if a, b := stripVolatile(viaText), stripVolatile(viaNetlink); a != b {
		t.Errorf("nft -f and netlink apply differ\n--- nft -f\n%s\n--- netlink\n%s", a, b)
	}
	// The listing is derived from the kernel's expressions but can hide
	// differences (a missing dependency prints the same); compare the raw
	// expressions too.
	rawText := nftIn(t, nsText, "", "--debug=netlink", "list", "ruleset")
	rawNL := nftIn(t, nsNL, "", "--debug=netlink", "list", "ruleset")
	if a, b := stripVolatile(rawText), stripVolatile(rawNL); a != b {
		t.Errorf("kernel expressions differ\n--- nft -f\n%s\n--- netlink\n%s", a, b)
	}
	// Applying again replaces the table rather than adding to it.
	if _, err := c.Apply(rs, nil, 0); err != nil {
		t.Fatal(err)
	}
	if again := nftIn(t, nsNL, "", "-s", "list", "ruleset"); stripVolatile(again) != stripVolatile(viaNetlink) {
		t.Errorf("second apply changed the ruleset:\n%s", again)
	}
	got, err := c.SetAddrs("office_v4")
	if err != nil {
		t.Fatal(err)
	}
	if want := rs.Sets[0].Elements; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("read back office_v4 = %v, want %v", got, want)
	}
}

// TestApplyKeepingSets re-applies a changed ruleset while keeping the
// leading run of unchanged sets: the result must list exactly like a fresh
// apply, kept sets must be the same kernel objects (same handles), and a
// change made by anyone else in between must defeat keeping.
func TestApplyKeepingSets(t *testing.T) {
	old := sampleRuleset()
	next := sampleRuleset()
	in := next.Chain("input")
	in.Rules = in.Rules[1:]                          // a rule removed
	next.Sets[2].Elements = addrs("2001:db8:7::/48") // empty_v6 changed
	keep := ruleset.UnchangedSets(old, next)
	if !keep["office_v4"] || !keep["office_v6"] || keep["empty_v6"] || keep["rl_v4"] {
		t.Fatalf("UnchangedSets = %v, want the leading run office_v4, office_v6", keep)
	}

	nsFresh, freshFD := testNS(t)
	fresh, err := OpenNS(freshFD)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if _, err := fresh.Apply(next, nil, 0); err != nil {
		t.Fatal(err)
	}
	want := nftIn(t, nsFresh, "", "-s", "list", "ruleset")

	ns, fd := testNS(t)
	c, err := OpenNS(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	gen, err := c.Apply(old, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if now, _ := c.Generation(); now != gen {
		t.Fatalf("Apply returned generation %d, the kernel reports %d", gen, now)
	}
	// A full apply deletes and re-creates the table, which gets a new
	// handle; keeping sets keeps the table (set handles alone cannot tell:
	// a re-created table numbers its objects from 1 again).
	handle := func() string {
		out := nftIn(t, ns, "", "-a", "list", "table", "inet", "seawall")
		i := strings.Index(out, "# handle ")
		return strings.Fields(out[i+len("# handle "):])[0]
	}
	before := handle()
	if gen, err = c.Apply(next, keep, gen); err != nil {
		t.Fatal(err)
	}
	if after := handle(); after != before {
		t.Errorf("the table was re-created (handle %s → %s): sets were not kept", before, after)
	}
	if got := nftIn(t, ns, "", "-s", "list", "ruleset"); stripVolatile(got) != stripVolatile(want) {
		t.Errorf("apply keeping sets differs from a fresh apply\n--- fresh\n%s\n--- kept\n%s", want, got)
	}

	// Someone else changes a kept set: the generation moves on, and the
	// next apply re-creates everything, repairing the set.
	nftIn(t, ns, "", "add", "element", "inet", "seawall", "office_v4", "{ 198.18.0.1 }")
	if got := nftIn(t, ns, "", "list", "set", "inet", "seawall", "office_v4"); !strings.Contains(got, "198.18.0.1") {
		t.Fatal("could not tamper with the set")
	}
	before = handle()
	if _, err := c.Apply(next, keep, gen); err != nil {
		t.Fatal(err)
	}
	if after := handle(); after == before {
		t.Error("sets were kept although someone changed nftables since seawall's commit")
	}
	if got := nftIn(t, ns, "", "-s", "list", "ruleset"); stripVolatile(got) != stripVolatile(want) {
		t.Errorf("a tampered set was not repaired:\n%s", got)
	}
}

// blocks returns a listing's blank-line separated blocks, sorted.
func blocks(listing string) string {
	bs := strings.Split(listing, "\n\n")
	sort.Strings(bs)
	return strings.Join(bs, "\n\n")
}

// TestBulkLoadCount loads 100,000 non-adjacent addresses (200,000 interval
// elements) and counts them back from the kernel. google/nftables v0.3.0
// silently truncated element batches this large; go.mod pins a later
// commit, and this test keeps it that way.
func TestBulkLoadCount(t *testing.T) {
	ns, c := testConn(t)
	const n = 100_000
	var ps []netip.Prefix
	for i := 0; i < n; i++ {
		// every other address of 10.0.0.0/8: nothing merges
		a := netip.AddrFrom4([4]byte{10, byte(i >> 15), byte(i >> 7), byte(i<<1) & 0xfe})
		ps = append(ps, netip.PrefixFrom(a, 32))
	}
	set := &ruleset.Set{Name: "bulk_v4", Key: ruleset.KeyIPv4Addr, Interval: true, Elements: ruleset.MergePrefixes(ruleset.IPv4, ps)}
	if len(set.Elements) != n {
		t.Fatalf("merge produced %d ranges, want %d", len(set.Elements), n)
	}
	start := time.Now()
	if _, err := c.Apply(&ruleset.Ruleset{Sets: []*ruleset.Set{set}}, nil, 0); err != nil {
		t.Fatal(err)
	}
	t.Logf("applied in %v", time.Since(start))
	// Count with nft: reading 200k elements back through google/nftables
	// takes several times longer (smaller dump messages, and the kernel
	// restarts its tree walk for each one).
	var listing struct {
		Nftables []struct {
			Set *struct {
				Elem []json.RawMessage `json:"elem"`
			} `json:"set"`
		} `json:"nftables"`
	}
	out := nftIn(t, ns, "", "-j", "list", "set", "inet", "seawall", "bulk_v4")
	if err := json.Unmarshal([]byte(out), &listing); err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, o := range listing.Nftables {
		if o.Set != nil {
			got += len(o.Set.Elem)
		}
	}
	if got != n {
		t.Fatalf("kernel holds %d elements after a bulk load of %d", got, n)
	}
}

// TestOpenNSRefusesOwnNamespace: a Conn meant for a scratch namespace must
// never land in the caller's own.
func TestOpenNSRefusesOwnNamespace(t *testing.T) {
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Skip(err)
	}
	defer self.Close()
	if c, err := OpenNS(self); err == nil {
		c.Close()
		t.Fatal("OpenNS accepted the caller's own network namespace")
	}
}
