package jail

import (
	"net/netip"
	"slices"
	"testing"
)

func TestRecordKeepsLatestInWindow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		times  []int64
		t      int64
		cutoff int64
		want   []int64
	}{
		{"appends", []int64{10, 20}, 30, 0, []int64{10, 20, 30}},
		{"drops out of window", []int64{10, 20}, 30, 10, []int64{20, 30}},
		{"drops all old", []int64{1, 2, 3}, 30, 5, []int64{30}},
		{"full: replaces the earliest", []int64{20, 10, 30}, 25, 0, []int64{20, 25, 30}},
		{"full: an earlier time is not kept", []int64{20, 10, 30}, 5, 0, []int64{10, 20, 30}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := record(slices.Clone(tc.times), tc.t, tc.cutoff, 3)
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("record(%v, %d, cutoff %d) = %v, want %v", tc.times, tc.t, tc.cutoff, got, tc.want)
			}
		})
	}
}

func keyN(i int) key {
	return keyOf(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 32))
}

// chain returns the tracked keys' numbers from the oldest to the newest.
func chain(f *failures) []int {
	var out []int
	for i := f.oldest; i != none; i = f.slots[i].next {
		k := f.slots[i].key
		out = append(out, int(k.addr[14])<<8|int(k.addr[15]))
	}
	return out
}

func TestFailuresChainAndEviction(t *testing.T) {
	f := newFailures(5, 3)
	for i := range 3 {
		f.add(keyN(i), 100, 0)
	}
	f.add(keyN(0), 101, 0) // 0 becomes the newest
	if got := chain(f); !slices.Equal(got, []int{1, 2, 0}) {
		t.Fatalf("chain %v", got)
	}
	if n := f.add(keyN(0), 102, 0); n != 3 {
		t.Fatalf("count %d, want 3", n)
	}
	f.add(keyN(3), 100, 0) // evicts 1, the least recently failed
	if got := chain(f); !slices.Equal(got, []int{2, 0, 3}) || f.evicted != 1 {
		t.Fatalf("chain %v evicted %d", got, f.evicted)
	}
	if !f.remove(keyN(0)) || f.remove(keyN(0)) {
		t.Fatal("remove")
	}
	// A freed slot is reused and starts empty.
	if n := f.add(keyN(4), 100, 0); n != 1 || len(f.slots) != 3 {
		t.Fatalf("count %d with %d slots", n, len(f.slots))
	}
	if got := chain(f); !slices.Equal(got, []int{2, 3, 4}) {
		t.Fatalf("chain %v", got)
	}
	f.add(keyN(3), 200, 0)
	if n := f.expire(150); n != 2 || f.len() != 1 {
		t.Fatalf("expire forgot %d, %d left", n, f.len())
	}
	if got := chain(f); !slices.Equal(got, []int{3}) || f.oldest != f.newest {
		t.Fatalf("chain %v", got)
	}
}
