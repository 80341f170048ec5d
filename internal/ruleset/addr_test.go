package ruleset

import (
	"net/netip"
	"testing"
)

func TestMergePrefixes(t *testing.T) {
	in := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("10.1.0.0/16"),    // inside 10/8
		netip.MustParsePrefix("192.0.2.0/25"),   // adjacent to the next
		netip.MustParsePrefix("192.0.2.128/25"), //
		netip.MustParsePrefix("2001:db8::/32"),  // other family: ignored
		netip.MustParsePrefix("255.255.255.255/32"),
	}
	got := MergePrefixes(IPv4, in)
	want := []string{"10.0.0.0/8", "192.0.2.0/24", "255.255.255.255/32"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i, e := range got {
		p, ok := e.Prefix()
		if !ok || p.String() != want[i] {
			t.Errorf("element %d = %v-%v, want %s", i, e.First, e.Last, want[i])
		}
	}
	odd := MergeRanges([]Element{{First: netip.MustParseAddr("10.0.0.1"), Last: netip.MustParseAddr("10.0.0.5")}})
	if _, ok := odd[0].Prefix(); ok {
		t.Errorf("10.0.0.1-10.0.0.5 is not a prefix")
	}
}
