package store

import (
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// manyBans returns n bans, IPv4 and IPv6 alternating, half of them expiring
// at t0+1m and half at t0+1h.
func manyBans(n int) []Ban {
	bans := make([]Ban, n)
	for i := range bans {
		var a netip.Addr
		bits := 32
		if i%2 == 0 {
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], 11<<24|uint32(i))
			a = netip.AddrFrom4(b)
		} else {
			var b [16]byte
			binary.BigEndian.PutUint32(b[:], 0x20010db8)
			binary.BigEndian.PutUint32(b[4:], uint32(i))
			a, bits = netip.AddrFrom16(b), 64
		}
		d := time.Minute
		if i%4 >= 2 {
			d = time.Hour
		}
		bans[i] = Ban{Jail: "sshd", Prefix: netip.PrefixFrom(a, bits), Start: t0, Expires: t0.Add(d), Count: 1, Origin: OriginLog}
	}
	return bans
}

// TestHundredThousandBans stores 100k bans in one batch, as a restart with
// a full ban list or a burst would, and reports the times and file size.
func TestHundredThousandBans(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100k bans; skipped with -short")
	}
	const n = 100_000
	path := filepath.Join(t.TempDir(), "seawall.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	bans := manyBans(n)

	start := time.Now()
	if err := s.PutBans(bans); err != nil {
		t.Fatal(err)
	}
	putTime := time.Since(start)

	s = reopen(t, s)
	start = time.Now()
	got, err := s.Bans()
	loadTime := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("loaded %d bans, want %d", len(got), n)
	}
	seen := make(map[netip.Prefix]bool, n)
	for _, b := range got {
		seen[b.Prefix] = true
	}
	for _, b := range bans {
		if !seen[b.Prefix] {
			t.Fatalf("ban of %v lost", b.Prefix)
		}
	}

	start = time.Now()
	const lookups = 10_000
	for i := range lookups {
		if c := s.BanCount(bans[i*7%n].Prefix); c != 1 {
			t.Fatalf("count %d for %v", c, bans[i*7%n].Prefix)
		}
	}
	lookupTime := time.Since(start) / lookups

	start = time.Now()
	pruned, err := s.PruneExpired(t0.Add(time.Minute))
	pruneTime := time.Since(start)
	if err != nil || pruned != n/2 {
		t.Fatalf("pruned %d (%v), want %d", pruned, err, n/2)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("100k bans: PutBans %v, Bans() %v after reopen, BanCount %v each, PruneExpired(50k) %v, file %.1f MB",
		putTime.Round(time.Millisecond), loadTime.Round(time.Millisecond), lookupTime.Round(100*time.Nanosecond),
		pruneTime.Round(time.Millisecond), float64(info.Size())/(1<<20))
	if info.Size() > 64<<20 {
		t.Errorf("file of %d MB for 100k bans", info.Size()>>20)
	}
}

// BenchmarkPutBans stores batches of 1000 new bans, the size of a burst.
func BenchmarkPutBans(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "seawall.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	bans := manyBans(1000)
	i := 0
	for b.Loop() {
		for j := range bans {
			bans[j].Start = t0.Add(time.Duration(i) * time.Second)
		}
		i++
		if err := s.PutBans(bans); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(bans))/b.Elapsed().Seconds(), "bans/s")
}
