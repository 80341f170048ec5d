package state

import (
	"net/netip"
	"testing"
	"time"

	"github.com/seawall/seawall/internal/ruleset"
)

func TestRoundTrip(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if a, err := d.Applied(); a != nil || err != nil {
		t.Fatalf("empty dir: %v %v", a, err)
	}
	rs := &ruleset.Ruleset{
		Sets: []*ruleset.Set{{Name: "x_v4", Key: ruleset.KeyIPv4Addr, Interval: true,
			Elements: []ruleset.Element{{First: netip.MustParseAddr("10.0.0.0"), Last: netip.MustParseAddr("10.0.0.255")}}}},
		Chains: []*ruleset.Chain{{Name: "input", Rules: []*ruleset.Rule{{
			Match:   []ruleset.Match{ruleset.Addr{Family: ruleset.IPv4, Dir: ruleset.Src, Set: "x_v4"}, ruleset.Port{Proto: 6, Dir: ruleset.Dst, Ranges: []ruleset.PortRange{{First: 22, Last: 22}}}},
			Counter: true, Verdict: ruleset.Accept, Comment: "c"}}}},
	}
	first := &Applied{Time: time.Unix(1, 0).UTC(), PolicyHash: "a", Ruleset: rs}
	if err := d.SaveApplied(first); err != nil {
		t.Fatal(err)
	}
	second := &Applied{Time: time.Unix(2, 0).UTC(), PolicyHash: "b", Ruleset: &ruleset.Ruleset{}}
	if err := d.SaveApplied(second); err != nil {
		t.Fatal(err)
	}
	got, _ := d.Applied()
	prev, _ := d.Previous()
	if got.PolicyHash != "b" || prev.PolicyHash != "a" {
		t.Fatalf("applied %q previous %q", got.PolicyHash, prev.PolicyHash)
	}
	r := prev.Ruleset.Chains[0].Rules[0]
	if len(r.Match) != 2 || r.Match[0].(ruleset.Addr).Set != "x_v4" || r.Match[1].(ruleset.Port).Ranges[0].First != 22 {
		t.Fatalf("matches did not survive: %#v", r.Match)
	}
	if e := prev.Ruleset.Sets[0].Elements[0]; e.Last != netip.MustParseAddr("10.0.0.255") {
		t.Fatalf("element did not survive: %v", e)
	}
	unlock, err := d.Lock()
	if err != nil {
		t.Fatal(err)
	}
	unlock()
}
