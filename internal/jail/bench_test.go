package jail

import (
	"encoding/binary"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// v4 returns the ith IPv4 test address in 11.0.0.0/8.
func v4(i int) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], 11<<24|uint32(i))
	return netip.AddrFrom4(b)
}

// v6 returns an address in the ith /64 of 2001:db8::/32.
func v6(i int) netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint32(b[0:], 0x20010db8)
	binary.BigEndian.PutUint32(b[4:], uint32(i))
	b[15] = 1
	return netip.AddrFrom16(b)
}

// BenchmarkFail10kAttackers is the burst of the benchmark: 10,000
// distinct attackers fail maxretry (5) times each, interleaved, so that all
// of them are pending at once before the bans come.
func BenchmarkFail10kAttackers(b *testing.B) {
	const attackers, maxretry = 10_000, 5
	cfg := Config{Name: "sshd", MaxRetry: maxretry, FindTime: 10 * time.Minute, BanTime: time.Hour}
	for b.Loop() {
		j, err := New(cfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		bans := 0
		for round := range maxretry {
			at := t0.Add(time.Duration(round) * time.Second)
			for i := range attackers {
				if _, ok := j.Fail(v4(i), at, at); ok {
					bans++
				}
			}
		}
		if bans != attackers {
			b.Fatalf("%d bans, want %d", bans, attackers)
		}
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N*attackers*maxretry)/sec, "failures/s")
	b.ReportMetric(float64(b.N*attackers)/sec, "bans/s")
}

// fill makes a jail with bans active bans (each after maxretry failures,
// IPv4 and IPv6 alternating) and tracked more prefixes with one pending
// failure each.
func fill(tb testing.TB, bans, tracked int) *Jail {
	j, err := New(Config{Name: "sshd", MaxRetry: 5, FindTime: 10 * time.Minute, BanTime: time.Hour, MaxTracked: max(tracked, 1)}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	source := func(i int) netip.Addr {
		if i%2 == 1 {
			return v6(i)
		}
		return v4(i)
	}
	for i := range bans {
		for range 5 {
			j.Fail(source(i), t0, t0)
		}
	}
	for i := range tracked {
		j.Fail(source(bans+i), t0, t0)
	}
	if s := j.Stats(); s.CurrentlyBanned != bans || s.CurrentlyFailed != tracked {
		tb.Fatalf("stats %+v", s)
	}
	return j
}

// heapGrowth returns the live heap bytes that build's result holds.
func heapGrowth(build func() any) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(v)
	return after.HeapAlloc - before.HeapAlloc
}

// BenchmarkMemory100k reports the heap a jail holds with 100k active bans
// and 100k tracked prefixes.
func BenchmarkMemory100k(b *testing.B) {
	const n = 100_000
	var grown uint64
	for b.Loop() {
		grown = heapGrowth(func() any { return fill(b, n, n) })
	}
	b.ReportMetric(float64(grown)/(2*n), "bytes/entry")
	b.ReportMetric(float64(grown)/(1<<20), "MB")
}

// TestMemoryBudget holds the jail to its share of the daemon's 50 MB target
// with 100k active bans: well under 200 bytes per ban or tracked prefix.
func TestMemoryBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 200k entries; skipped with -short")
	}
	const n = 100_000
	for _, tc := range []struct {
		name          string
		bans, tracked int
	}{
		{"100k bans", n, 0},
		{"100k tracked prefixes", 0, n},
		{"100k bans + 100k tracked prefixes", n, n},
	} {
		grown := heapGrowth(func() any { return fill(t, tc.bans, tc.tracked) })
		per := float64(grown) / float64(tc.bans+tc.tracked)
		t.Logf("%s: %.1f MB heap, %.0f bytes/entry", tc.name, float64(grown)/(1<<20), per)
		if per > 200 {
			t.Errorf("%s: %.0f bytes per entry, budget 200", tc.name, per)
		}
	}
}
