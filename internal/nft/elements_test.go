package nft

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/seawall/seawall/internal/ruleset"
)

// TestRuntimeElements adds bans to runtime sets as the daemon does: a batch
// of 10,000 with timeouts, all counted in the kernel; an element that
// expires is gone without seawall; adding one already there and deleting
// one already gone are not errors for the rest of the batch; and a /64 in
// the IPv6 set matches every address of it through the mask.
func TestRuntimeElements(t *testing.T) {
	ns, c := testConn(t)
	v4 := &ruleset.Set{Name: "jail_x_v4", Key: ruleset.KeyIPv4Addr, Runtime: true}
	v6 := &ruleset.Set{Name: "jail_x_v6", Key: ruleset.KeyIPv6Addr, Runtime: true}
	rs := &ruleset.Ruleset{Sets: []*ruleset.Set{v4, v6}, Chains: []*ruleset.Chain{{Name: "bans",
		Base: &ruleset.Base{Type: ruleset.TypeFilter, Hook: ruleset.HookPrerouting, Priority: -300, Policy: ruleset.Accept},
		Rules: []*ruleset.Rule{
			{Match: []ruleset.Match{ruleset.Addr{Family: ruleset.IPv4, Dir: ruleset.Src, Set: v4.Name}}, Counter: true, Verdict: ruleset.Drop},
			{Match: []ruleset.Match{ruleset.Addr{Family: ruleset.IPv6, Dir: ruleset.Src, Set: v6.Name, Mask: 64}}, Counter: true, Verdict: ruleset.Drop},
		}}}}
	if _, err := c.Apply(rs, nil, 0); err != nil {
		t.Fatal(err)
	}
	one := func(a string, timeout time.Duration) ruleset.Element {
		addr := netip.MustParseAddr(a)
		return ruleset.Element{First: addr, Last: addr, Timeout: timeout}
	}
	batch := &ruleset.Set{Name: v4.Name, Key: v4.Key, Runtime: true}
	for i := range 10_000 {
		a := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		batch.Elements = append(batch.Elements, ruleset.Element{First: a, Last: a, Timeout: time.Hour})
	}
	batch.Elements = append(batch.Elements, one("203.0.113.5", 1500*time.Millisecond))
	start := time.Now()
	if err := c.AddElements([]*ruleset.Set{batch, {Name: v6.Name, Key: v6.Key, Runtime: true, Elements: []ruleset.Element{one("2001:db8:7:1::", 0)}}}); err != nil {
		t.Fatal(err)
	}
	t.Logf("10,001 + 1 elements added in one transaction in %v", time.Since(start))
	if n := countElements(t, ns, v4.Name); n != 10_001 {
		t.Fatalf("kernel holds %d elements of %s, want 10001", n, v4.Name)
	}
	listing := nftIn(t, ns, "", "list", "set", "inet", "seawall", v6.Name)
	if !strings.Contains(listing, "2001:db8:7:1::") {
		t.Fatalf("%s does not hold the /64's key:\n%s", v6.Name, listing)
	}
	rules := nftIn(t, ns, "", "list", "chain", "inet", "seawall", "bans")
	if !strings.Contains(rules, "ip6 saddr & ffff:ffff:ffff:ffff:: == @jail_x_v6") {
		t.Errorf("the IPv6 rule is not masked to /64:\n%s", rules)
	}

	// Add again (one already there, one new): both in afterwards.
	if err := c.AddElements([]*ruleset.Set{{Name: v4.Name, Key: v4.Key, Runtime: true, Elements: []ruleset.Element{one("198.18.0.1", time.Hour), one("203.0.113.77", time.Hour)}}}); err != nil {
		t.Fatalf("re-adding a present element: %v", err)
	}
	if n := countElements(t, ns, v4.Name); n != 10_002 {
		t.Fatalf("%d elements after adding one new and one present, want 10002", n)
	}
	// The 1.5 s element expires in the kernel: poll until it is gone.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		n := countElements(t, ns, v4.Name)
		if n == 10_001 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d elements 10 s after adding 203.0.113.5 with a 1.5 s timeout, want 10001", n)
		}
	}
	// Delete: one present, one that expired.
	if err := c.DeleteElements([]*ruleset.Set{{Name: v4.Name, Key: v4.Key, Runtime: true, Elements: []ruleset.Element{one("198.18.0.1", 0), one("203.0.113.5", 0)}}}); err != nil {
		t.Fatalf("deleting a present and an expired element: %v", err)
	}
	if n := countElements(t, ns, v4.Name); n != 10_000 {
		t.Fatalf("%d elements after deleting one, want 10000", n)
	}
}

// countElements counts a set's elements with nft -j.
func countElements(t *testing.T, ns, set string) int {
	t.Helper()
	var listing struct {
		Nftables []struct {
			Set *struct {
				Elem []json.RawMessage `json:"elem"`
			} `json:"set"`
		} `json:"nftables"`
	}
	out := nftIn(t, ns, "", "-j", "list", "set", "inet", "seawall", set)
	if err := json.Unmarshal([]byte(out), &listing); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, o := range listing.Nftables {
		if o.Set != nil {
			n += len(o.Set.Elem)
		}
	}
	return n
}

// testConn opens a Conn in a scratch namespace, closed when the test ends.
func testConn(t *testing.T) (string, *Conn) {
	t.Helper()
	ns, fd := testNS(t)
	c, err := OpenNS(fd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return ns, c
}

// TestRuntimeSetsOutliveReapply: a ban's time changes by delete and add in
// one transaction, and a full re-apply keeps the runtime sets' elements even
// though the daemon's ban commits moved the generation on since the
// recorded one; other sets are rebuilt as usual.
func TestRuntimeSetsOutliveReapply(t *testing.T) {
	ns, c := testConn(t)
	bans := &ruleset.Set{Name: "jail_x_v4", Key: ruleset.KeyIPv4Addr, Runtime: true}
	static := &ruleset.Set{Name: "allow_v4", Key: ruleset.KeyIPv4Addr, Elements: []ruleset.Element{{First: netip.MustParseAddr("192.0.2.1"), Last: netip.MustParseAddr("192.0.2.1")}}}
	rs := &ruleset.Ruleset{Sets: []*ruleset.Set{bans, static}}
	gen, err := c.Apply(rs, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr("203.0.113.9")
	el := func(d time.Duration) []*ruleset.Set {
		return []*ruleset.Set{{Name: bans.Name, Key: bans.Key, Runtime: true, Elements: []ruleset.Element{{First: a, Last: a, Timeout: d}}}}
	}
	if err := c.AddElements(el(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := c.ChangeElements(el(0), el(30*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if out := nftIn(t, ns, "", "list", "set", "inet", "seawall", bans.Name); !strings.Contains(out, "timeout 1d6h") {
		t.Fatalf("the ban's new timeout is not in the kernel:\n%s", out)
	}
	keep := ruleset.UnchangedSets(rs, rs)
	if _, err := c.Apply(rs, keep, gen); err != nil { // gen is stale: two commits since
		t.Fatal(err)
	}
	if n := countElements(t, ns, bans.Name); n != 1 {
		t.Fatalf("%d elements in %s after a re-apply, want the 1 ban kept", n, bans.Name)
	}
	if n := countElements(t, ns, static.Name); n != 1 {
		t.Fatalf("%d elements in %s after a re-apply, want 1", n, static.Name)
	}
}
