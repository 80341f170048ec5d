package jail

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// t0 is the test clock's origin.
var t0 = time.Date(2025, 12, 31, 23, 59, 0, 0, time.UTC)

// fakeHistory is a History from a map.
type fakeHistory map[netip.Prefix]int

func (h fakeHistory) BanCount(p netip.Prefix) int { return h[p] }

func addr(s string) netip.Addr     { return netip.MustParseAddr(s) }
func prefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// sshd is the configuration most tests use: 3 failures in 10 minutes ban
// for an hour.
func sshd() Config {
	return Config{Name: "sshd", MaxRetry: 3, FindTime: 10 * time.Minute, BanTime: time.Hour}
}

func newJail(t *testing.T, cfg Config, h History) *Jail {
	t.Helper()
	j, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// failN reports n failures of a, one second apart starting at start, seen
// as they happen; it returns the ban of the last one, if any, and fails
// the test if an earlier one banned.
func failN(t *testing.T, j *Jail, a string, n int, start time.Time) (Ban, bool) {
	t.Helper()
	var b Ban
	var banned bool
	for i := range n {
		if banned {
			t.Fatalf("%s banned after %d failures, before the %dth", a, i, n)
		}
		at := start.Add(time.Duration(i) * time.Second)
		b, banned = j.Fail(addr(a), at, at)
	}
	return b, banned
}

func TestBanAtMaxRetry(t *testing.T) {
	j := newJail(t, sshd(), nil)
	b, ok := failN(t, j, "203.0.113.7", 3, t0)
	if !ok {
		t.Fatal("no ban after maxretry failures")
	}
	want := Ban{Jail: "sshd", Prefix: prefix("203.0.113.7/32"), Start: t0.Add(2 * time.Second),
		Expires: t0.Add(2*time.Second + time.Hour), Count: 1, Origin: OriginLog}
	if b != want {
		t.Fatalf("ban\n got %+v\nwant %+v", b, want)
	}
	s := j.Stats()
	if s != (Stats{CurrentlyFailed: 0, TotalFailed: 3, CurrentlyBanned: 1, TotalBanned: 1}) {
		t.Fatalf("stats %+v", s)
	}
}

func TestFailuresOfBannedPrefixCountButDoNotReban(t *testing.T) {
	j := newJail(t, sshd(), nil)
	if _, ok := failN(t, j, "203.0.113.7", 3, t0); !ok {
		t.Fatal("no ban")
	}
	if _, ok := failN(t, j, "203.0.113.7", 3, t0.Add(time.Minute)); ok {
		t.Fatal("banned again while banned")
	}
	s := j.Stats()
	if s.TotalFailed != 6 || s.TotalBanned != 1 || s.CurrentlyFailed != 0 {
		t.Fatalf("stats %+v", s)
	}
	// After the ban expires, a new ban needs maxretry new failures:
	// those logged while banned were not kept.
	after := t0.Add(2 * time.Hour)
	if exp := j.Expire(after); len(exp) != 1 {
		t.Fatalf("expired %v", exp)
	}
	if b, ok := failN(t, j, "203.0.113.7", 3, after); !ok || b.Count != 1 {
		t.Fatalf("second ban %v %+v", ok, b)
	}
}

func TestSlidingWindow(t *testing.T) {
	j := newJail(t, sshd(), nil)
	a := addr("198.51.100.1")
	// Failures at 0 and 5 min, then at 10 min: the first is exactly
	// findtime old and no longer counts.
	for _, m := range []int{0, 5, 10} {
		at := t0.Add(time.Duration(m) * time.Minute)
		if _, ok := j.Fail(a, at, at); ok {
			t.Fatalf("banned at minute %d with a failure out of the window", m)
		}
	}
	// At 14 min, 5 and 10 and 14 lie within 10 minutes.
	at := t0.Add(14 * time.Minute)
	if _, ok := j.Fail(a, at, at); !ok {
		t.Fatal("no ban with 3 failures within findtime")
	}
}

func TestWindowBoundaryIsExclusive(t *testing.T) {
	j := newJail(t, sshd(), nil)
	now := t0.Add(time.Hour)
	a := addr("198.51.100.2")
	j.Fail(a, now.Add(-10*time.Minute), now) // exactly findtime old: stale
	j.Fail(a, now.Add(-10*time.Minute+time.Millisecond), now)
	j.Fail(a, now.Add(-time.Minute), now)
	if s := j.Stats(); s.Stale != 1 || s.TotalFailed != 2 || s.CurrentlyBanned != 0 {
		t.Fatalf("stats %+v", s)
	}
	if _, ok := j.Fail(a, now, now); !ok {
		t.Fatal("no ban from 3 failures inside the window")
	}
}

func TestOldLogLines(t *testing.T) {
	j := newJail(t, sshd(), nil)
	now := t0.Add(24 * time.Hour)
	// A backlog from yesterday is out of the window: nothing counts.
	for i := range 10 {
		j.Fail(addr("192.0.2.1"), t0.Add(time.Duration(i)*time.Second), now)
	}
	if s := j.Stats(); s.Stale != 10 || s.TotalFailed != 0 || s.CurrentlyFailed != 0 {
		t.Fatalf("stats %+v", s)
	}
	// A backlog of 5 minutes ago bans, from the time of the last failure.
	for i := range 3 {
		b, ok := j.Fail(addr("192.0.2.2"), now.Add(-5*time.Minute+time.Duration(i)*time.Second), now)
		if i == 2 && (!ok || !b.Start.Equal(now.Add(-5*time.Minute+2*time.Second))) {
			t.Fatalf("backlog ban %v %+v", ok, b)
		}
	}
}

func TestBanFromOldLogAlreadyOver(t *testing.T) {
	cfg := sshd()
	cfg.BanTime = time.Minute
	j := newJail(t, cfg, nil)
	now := t0.Add(time.Hour)
	for i := range 3 {
		if _, ok := j.Fail(addr("192.0.2.3"), now.Add(-5*time.Minute+time.Duration(i)*time.Second), now); ok {
			t.Fatal("banned although the ban would have ended 4 minutes ago")
		}
	}
	if s := j.Stats(); s.CurrentlyBanned != 0 || s.CurrentlyFailed != 0 || s.TotalBanned != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestFutureTimeCountsAsNow(t *testing.T) {
	j := newJail(t, sshd(), nil)
	future := t0.AddDate(1, 0, 0)
	var b Ban
	for range 3 {
		b, _ = j.Fail(addr("192.0.2.4"), future, t0)
	}
	if !b.Start.Equal(t0) || !b.Expires.Equal(t0.Add(time.Hour)) {
		t.Fatalf("ban %+v should start now", b)
	}
}

func TestOutOfOrderFailures(t *testing.T) {
	j := newJail(t, sshd(), nil)
	a := addr("192.0.2.5")
	now := t0.Add(20 * time.Minute)
	// Two sources interleave: times arrive out of order, all in the window.
	for i, m := range []int{19, 12, 15} {
		_, ok := j.Fail(a, t0.Add(time.Duration(m)*time.Minute), now)
		if ok != (i == 2) {
			t.Fatalf("failure %d: banned=%v", i, ok)
		}
	}
}

func TestMaxRetryOne(t *testing.T) {
	cfg := sshd()
	cfg.MaxRetry = 1
	j := newJail(t, cfg, nil)
	if _, ok := j.Fail(addr("192.0.2.6"), t0, t0); !ok {
		t.Fatal("maxretry 1 did not ban on the first failure")
	}
}

func TestIncrements(t *testing.T) {
	p := prefix("203.0.113.9/32")
	for _, tc := range []struct {
		name  string
		base  time.Duration
		inc   Increment
		prior int
		want  time.Duration // negative: permanent
	}{
		{"first ban", time.Hour, Increment{Factor: 2, Max: 7 * 24 * time.Hour}, 0, time.Hour},
		{"second ban doubles", time.Hour, Increment{Factor: 2, Max: 7 * 24 * time.Hour}, 1, 2 * time.Hour},
		{"fourth ban", time.Hour, Increment{Factor: 2, Max: 7 * 24 * time.Hour}, 3, 8 * time.Hour},
		{"capped at max", time.Hour, Increment{Factor: 2, Max: 24 * time.Hour}, 9, 24 * time.Hour},
		{"fractional factor", 10 * time.Minute, Increment{Factor: 1.5}, 2, 22*time.Minute + 30*time.Second},
		{"no max: capped at Longest", time.Hour, Increment{Factor: 10}, 200, Longest},
		{"increments off", time.Hour, Increment{}, 5, time.Hour},
		{"factor 1", time.Hour, Increment{Factor: 1, Max: 2 * time.Hour}, 5, time.Hour},
		{"permanent", -1, Increment{}, 0, -1},
		{"permanent with increments", -1, Increment{Factor: 2}, 3, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sshd()
			cfg.BanTime, cfg.Increment = tc.base, tc.inc
			j := newJail(t, cfg, fakeHistory{p: tc.prior})
			b, ok := failN(t, j, p.Addr().String(), 3, t0)
			if !ok {
				t.Fatal("no ban")
			}
			if b.Count != tc.prior+1 {
				t.Errorf("count %d, want %d", b.Count, tc.prior+1)
			}
			if tc.want < 0 {
				if !b.Permanent() {
					t.Fatalf("ban expires %v, want permanent", b.Expires)
				}
				return
			}
			if got := b.Expires.Sub(b.Start); got != tc.want {
				t.Fatalf("ban lasts %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPermanentBanNeverExpires(t *testing.T) {
	cfg := sshd()
	cfg.BanTime = -1
	j := newJail(t, cfg, nil)
	failN(t, j, "192.0.2.7", 3, t0)
	if exp := j.Expire(t0.AddDate(50, 0, 0)); len(exp) != 0 {
		t.Fatalf("permanent ban expired: %v", exp)
	}
	if len(j.Banned()) != 1 {
		t.Fatal("permanent ban gone")
	}
}

func TestMappedAddressesAreIPv4(t *testing.T) {
	j := newJail(t, sshd(), nil)
	j.Fail(addr("::ffff:198.51.100.9"), t0, t0)
	j.Fail(addr("198.51.100.9"), t0, t0)
	b, ok := j.Fail(addr("::ffff:c633:6409"), t0, t0)
	if !ok || b.Prefix != prefix("198.51.100.9/32") {
		t.Fatalf("mapped and plain forms not counted together: %v %v", ok, b.Prefix)
	}
	// Mapped loopback is loopback.
	if !j.Ignored(addr("::ffff:127.0.0.1")) {
		t.Fatal("::ffff:127.0.0.1 not ignored")
	}
}

func TestIPv6GroupedByPrefix(t *testing.T) {
	j := newJail(t, sshd(), nil)
	j.Fail(addr("2001:db8:1:2::1"), t0, t0)
	j.Fail(addr("2001:db8:1:2:ffff::99"), t0, t0)
	j.Fail(addr("2001:db8:1:3::1"), t0, t0) // another /64
	if s := j.Stats(); s.CurrentlyFailed != 2 {
		t.Fatalf("tracked %d prefixes, want 2", s.CurrentlyFailed)
	}
	b, ok := j.Fail(addr("2001:db8:1:2:abcd::1%eth0"), t0, t0)
	if !ok || b.Prefix != prefix("2001:db8:1:2::/64") {
		t.Fatalf("ban %v %v, want the /64", ok, b.Prefix)
	}

	cfg := sshd()
	cfg.V6Prefix = 48
	j48 := newJail(t, cfg, nil)
	for _, a := range []string{"2001:db8:1:2::1", "2001:db8:1:3::1", "2001:db8:1:ffff::1"} {
		b, ok = j48.Fail(addr(a), t0, t0)
	}
	if !ok || b.Prefix != prefix("2001:db8:1::/48") {
		t.Fatalf("ban %v %v, want the /48", ok, b.Prefix)
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"1.2.3.4":          "1.2.3.4/32",
		"::ffff:1.2.3.4":   "1.2.3.4/32",
		"2001:db8::1":      "2001:db8::/64",
		"2001:db8::1%eth0": "2001:db8::/64",
		"::1":              "::/64",
	} {
		if got := Normalize(addr(in), 0); got != prefix(want) {
			t.Errorf("Normalize(%s) = %v, want %v", in, got, want)
		}
	}
	if got := Normalize(addr("2001:db8::1"), 128); got != prefix("2001:db8::1/128") {
		t.Errorf("Normalize /128 = %v", got)
	}
}

func TestAlwaysIgnored(t *testing.T) {
	cfg := sshd()
	cfg.MaxRetry = 1
	j := newJail(t, cfg, nil)
	for _, a := range []string{"127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1", "169.254.1.1",
		"fe80::1", "fe80::1%eth0", "0.0.0.0", "::", "224.0.0.1", "ff02::1", "255.255.255.255"} {
		if _, ok := j.Fail(addr(a), t0, t0); ok {
			t.Errorf("%s banned", a)
		}
	}
	if _, ok := j.Fail(netip.Addr{}, t0, t0); ok {
		t.Error("the zero Addr banned")
	}
	if s := j.Stats(); s.Ignored != 13 || s.TotalFailed != 0 || s.CurrentlyFailed != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestConfiguredIgnore(t *testing.T) {
	cfg := sshd()
	cfg.MaxRetry = 1
	cfg.Ignore = []netip.Prefix{prefix("192.168.0.0/16"), prefix("::ffff:10.0.0.0/104"), prefix("2001:db8:aa::/48")}
	j := newJail(t, cfg, nil)
	for _, a := range []string{"192.168.4.5", "10.1.2.3", "::ffff:10.1.2.3", "2001:db8:aa:1::1"} {
		if _, ok := j.Fail(addr(a), t0, t0); ok {
			t.Errorf("ignored %s banned", a)
		}
	}
	if _, ok := j.Fail(addr("192.169.0.1"), t0, t0); !ok {
		t.Error("192.169.0.1 is not ignored but was not banned")
	}
}

func TestIPv6GroupHoldingIgnoredAddressBansOnlyTheSource(t *testing.T) {
	cfg := sshd()
	cfg.MaxRetry = 1
	// The host's own address: the attacker shares its /64.
	cfg.Ignore = []netip.Prefix{prefix("2001:db8:5::1/128")}
	j := newJail(t, cfg, nil)
	b, ok := j.Fail(addr("2001:db8:5::66"), t0, t0)
	if !ok || b.Prefix != prefix("2001:db8:5::66/128") {
		t.Fatalf("ban %v %v, want only the /128", ok, b.Prefix)
	}
	// Its failures count as banned ones, and the /128 is found by Unban.
	if _, ok := j.Fail(addr("2001:db8:5::66"), t0, t0); ok {
		t.Fatal("banned twice")
	}
	if lifted := j.Unban(prefix("2001:db8:5::66/128")); len(lifted) != 1 {
		t.Fatalf("unban lifted %v", lifted)
	}
}

func TestSetIgnoreLiftsBans(t *testing.T) {
	cfg := sshd()
	cfg.MaxRetry = 2
	j := newJail(t, cfg, nil)
	failN(t, j, "172.17.0.1", 2, t0)  // banned: Docker's gateway, not yet known
	failN(t, j, "2001:db8::5", 2, t0) // banned: its /64
	j.Fail(addr("172.17.0.9"), t0, t0)
	lifted, err := j.SetIgnore([]netip.Prefix{prefix("172.17.0.0/16"), prefix("2001:db8::1/128")})
	if err != nil {
		t.Fatal(err)
	}
	if len(lifted) != 2 {
		t.Fatalf("lifted %v, want the gateway and the /64", lifted)
	}
	if s := j.Stats(); s.CurrentlyBanned != 0 || s.CurrentlyFailed != 0 {
		t.Fatalf("stats %+v", s)
	}
	if !j.Ignored(addr("172.17.0.1")) || !j.Ignored(addr("127.0.0.1")) {
		t.Fatal("SetIgnore lost an entry or the built-in ones")
	}
	if _, err := j.SetIgnore([]netip.Prefix{{}}); err == nil {
		t.Fatal("invalid ignore entry accepted")
	}
}

func TestEvictionUnderFlood(t *testing.T) {
	cfg := sshd()
	cfg.MaxRetry = 5
	cfg.MaxTracked = 1000
	j := newJail(t, cfg, nil)
	attacker := addr("203.0.113.50")
	// The attacker fails every 500 flood addresses; the flood of distinct
	// addresses (one failure each) evicts idle ones, not the attacker.
	var banned bool
	for i := range 100_000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if _, ok := j.Fail(a, t0, t0); ok {
			t.Fatalf("flood address %v banned after one failure", a)
		}
		if i%500 == 499 && !banned {
			_, banned = j.Fail(attacker, t0, t0)
		}
		if n := j.Stats().CurrentlyFailed; n > 1000 {
			t.Fatalf("tracking %d prefixes, bound 1000", n)
		}
	}
	if !banned {
		t.Fatal("the active attacker was evicted by the flood")
	}
	s := j.Stats()
	if s.CurrentlyFailed != 1000 || s.Evicted != 100_000-1000 || s.TotalFailed != 100_000+5 {
		t.Fatalf("stats %+v", s)
	}
	if len(j.fails.slots) > 1000 {
		t.Fatalf("arena grew to %d slots", len(j.fails.slots))
	}
}

func TestManualBan(t *testing.T) {
	cfg := sshd()
	cfg.Increment = Increment{Factor: 2}
	j := newJail(t, cfg, fakeHistory{prefix("192.0.2.10/32"): 1})
	now := t0
	b, err := j.Ban(prefix("192.0.2.10/32"), 0, now)
	if err != nil {
		t.Fatal(err)
	}
	if b.Origin != OriginManual || b.Count != 2 || b.Expires.Sub(b.Start) != 2*time.Hour {
		t.Fatalf("default-duration ban %+v", b)
	}
	// Banning again sets a new duration from now, keeping start and count.
	later := now.Add(time.Minute)
	b2, err := j.Ban(prefix("192.0.2.10/32"), 24*time.Hour, later)
	if err != nil {
		t.Fatal(err)
	}
	if !b2.Start.Equal(b.Start) || b2.Count != 2 || !b2.Expires.Equal(later.Add(24*time.Hour)) {
		t.Fatalf("re-ban %+v", b2)
	}
	if exp := j.Expire(now.Add(3 * time.Hour)); len(exp) != 0 {
		t.Fatalf("the replaced ban's old expiry ended the new one: %v", exp)
	}
	if s := j.Stats(); s.TotalBanned != 1 || s.CurrentlyBanned != 1 {
		t.Fatalf("stats %+v", s)
	}
	// A manual ban forgets the prefix's pending failures.
	j.Fail(addr("2001:db8:9::8"), now, now)
	perm, err := j.Ban(prefix("2001:db8:9::7/128"), -1, now)
	if err != nil || !perm.Permanent() || perm.Prefix != prefix("2001:db8:9::/64") {
		t.Fatalf("permanent ban of an IPv6 address: %+v %v", perm, err)
	}
	if s := j.Stats(); s.CurrentlyFailed != 0 {
		t.Fatalf("pending failures of a banned prefix kept: %+v", s)
	}
}

func TestManualBanRefusesIgnored(t *testing.T) {
	cfg := sshd()
	cfg.Ignore = []netip.Prefix{prefix("172.17.0.1/32")}
	j := newJail(t, cfg, nil)
	for _, p := range []string{"127.0.0.1/32", "172.17.0.1/32", "172.16.0.0/12", "0.0.0.0/0", "::/0", "fe80::/64"} {
		if _, err := j.Ban(prefix(p), time.Hour, t0); !errors.Is(err, ErrIgnored) {
			t.Errorf("ban %s: %v, want ErrIgnored", p, err)
		}
	}
	if _, err := j.Ban(netip.Prefix{}, time.Hour, t0); err == nil {
		t.Error("invalid prefix banned")
	}
	if j.Stats().CurrentlyBanned != 0 {
		t.Fatal("a refused ban is in the list")
	}
}

func TestWideManualBanCoversSources(t *testing.T) {
	j := newJail(t, sshd(), nil)
	if _, err := j.Ban(prefix("198.51.100.0/24"), time.Hour, t0); err != nil {
		t.Fatal(err)
	}
	if _, ok := failN(t, j, "198.51.100.77", 5, t0); ok {
		t.Fatal("a source inside a banned /24 was banned again")
	}
	if s := j.Stats(); s.CurrentlyFailed != 0 || s.TotalFailed != 5 {
		t.Fatalf("stats %+v", s)
	}
	// Unbanning one address of it lifts the /24.
	if lifted := j.Unban(prefix("198.51.100.77/32")); len(lifted) != 1 || lifted[0].Prefix != prefix("198.51.100.0/24") {
		t.Fatalf("lifted %v", lifted)
	}
}

func TestUnban(t *testing.T) {
	j := newJail(t, sshd(), nil)
	failN(t, j, "2001:db8:7::1", 3, t0)
	failN(t, j, "192.0.2.20", 3, t0)
	failN(t, j, "192.0.2.21", 3, t0)
	j.Fail(addr("192.0.2.22"), t0, t0)
	if lifted := j.Unban(prefix("2001:db8:7::abcd/128")); len(lifted) != 1 || lifted[0].Prefix != prefix("2001:db8:7::/64") {
		t.Fatalf("unban of one IPv6 address lifted %v", lifted)
	}
	if lifted := j.Unban(prefix("192.0.2.0/24")); len(lifted) != 2 {
		t.Fatalf("unban of a /24 lifted %v", lifted)
	}
	if s := j.Stats(); s.CurrentlyBanned != 0 || s.CurrentlyFailed != 0 {
		t.Fatalf("stats after unban %+v", s)
	}
	if lifted := j.Unban(prefix("192.0.2.20/32")); lifted != nil {
		t.Fatalf("second unban lifted %v", lifted)
	}
	// Unban clears pending failures: two more do not ban.
	j.Fail(addr("192.0.2.23"), t0, t0)
	j.Fail(addr("192.0.2.23"), t0, t0)
	j.Unban(prefix("192.0.2.23/32"))
	if _, ok := j.Fail(addr("192.0.2.23"), t0, t0); ok {
		t.Fatal("failures from before the unban still counted")
	}
}

func TestExpire(t *testing.T) {
	j := newJail(t, sshd(), nil)
	failN(t, j, "192.0.2.30", 3, t0)
	if _, err := j.Ban(prefix("192.0.2.31/32"), 2*time.Hour, t0); err != nil {
		t.Fatal(err)
	}
	failN(t, j, "192.0.2.32", 3, t0)
	j.Unban(prefix("192.0.2.32/32"))
	j.Fail(addr("192.0.2.33"), t0, t0)

	if exp := j.Expire(t0.Add(59 * time.Minute)); len(exp) != 0 {
		t.Fatalf("expired early: %v", exp)
	}
	if j.Stats().CurrentlyFailed != 0 {
		t.Fatal("Expire kept failures older than findtime")
	}
	exp := j.Expire(t0.Add(61 * time.Minute))
	if len(exp) != 1 || exp[0].Prefix != prefix("192.0.2.30/32") {
		t.Fatalf("expired %v, want only 192.0.2.30 (192.0.2.32 was unbanned)", exp)
	}
	banned := j.Banned()
	if len(banned) != 1 || banned[0].Prefix != prefix("192.0.2.31/32") {
		t.Fatalf("left %v", banned)
	}
}

// Bans expire each at its own time, whatever order they were made in,
// including one shortened after a longer one.
func TestStaggeredExpiry(t *testing.T) {
	j := newJail(t, sshd(), nil)
	for i, d := range []time.Duration{5, 1, 3, 9} {
		if _, err := j.Ban(prefix(fmt.Sprintf("192.0.2.%d/32", 40+i)), d*time.Minute, t0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := j.Ban(prefix("192.0.2.43/32"), 2*time.Minute, t0); err != nil { // 9m shortened to 2m
		t.Fatal(err)
	}
	for _, step := range []struct {
		at   time.Duration
		want []string
	}{
		{30 * time.Second, nil},
		{time.Minute, []string{"192.0.2.41/32"}},
		{150 * time.Second, []string{"192.0.2.43/32"}},
		{4 * time.Minute, []string{"192.0.2.42/32"}},
		{299 * time.Second, nil},
		{10 * time.Minute, []string{"192.0.2.40/32"}},
	} {
		var got []string
		for _, b := range j.Expire(t0.Add(step.at)) {
			got = append(got, b.Prefix.String())
		}
		if fmt.Sprint(got) != fmt.Sprint(step.want) {
			t.Fatalf("at +%v expired %v, want %v", step.at, got, step.want)
		}
	}
	if j.Stats().CurrentlyBanned != 0 {
		t.Fatalf("bans left: %v", j.Banned())
	}
}

func TestRestore(t *testing.T) {
	cfg := sshd()
	cfg.Ignore = []netip.Prefix{prefix("10.0.0.0/8")}
	j := newJail(t, cfg, nil)
	now := t0
	keep := Ban{Jail: "sshd", Prefix: prefix("192.0.2.50/32"), Start: now.Add(-time.Minute), Expires: now.Add(time.Minute), Count: 3, Origin: OriginLog}
	perm := Ban{Jail: "sshd", Prefix: prefix("::ffff:192.0.2.51/128"), Start: now.Add(-time.Hour), Count: 1, Origin: OriginManual}
	bans := []Ban{
		keep, perm,
		{Jail: "nginx", Prefix: prefix("192.0.2.52/32"), Expires: now.Add(time.Hour)},  // another jail
		{Jail: "sshd", Prefix: prefix("192.0.2.53/32"), Expires: now},                  // expired
		{Jail: "sshd", Prefix: prefix("10.1.1.1/32"), Expires: now.Add(time.Hour)},     // ignored now
		{Jail: "sshd", Prefix: netip.Prefix{}, Expires: now.Add(time.Hour)},            // invalid
		{Jail: "sshd", Prefix: prefix("192.0.2.50/32"), Expires: now.Add(time.Second)}, // shorter duplicate
	}
	restored, dropped := j.Restore(bans, now)
	if len(restored) != 2 || len(dropped) != 5 {
		t.Fatalf("restored %v\ndropped %v", restored, dropped)
	}
	if restored[0] != keep {
		t.Fatalf("restored %+v, want %+v", restored[0], keep)
	}
	if restored[1].Prefix != prefix("192.0.2.51/32") || !restored[1].Permanent() || restored[1].Origin != OriginManual {
		t.Fatalf("restored %+v", restored[1])
	}
	if s := j.Stats(); s.CurrentlyBanned != 2 || s.TotalBanned != 0 {
		t.Fatalf("stats %+v", s)
	}
	if _, ok := failN(t, j, "192.0.2.50", 3, now); ok {
		t.Fatal("a restored ban's prefix was banned again")
	}
	if exp := j.Expire(now.Add(time.Minute)); len(exp) != 1 || exp[0].Prefix != keep.Prefix {
		t.Fatalf("restored ban did not expire on time: %v", exp)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) { c.Name = "" }, "no name"},
		{func(c *Config) { c.MaxRetry = 0 }, "maxretry"},
		{func(c *Config) { c.FindTime = 0 }, "findtime"},
		{func(c *Config) { c.BanTime = 0 }, "bantime"},
		{func(c *Config) { c.V6Prefix = 129 }, "IPv6 prefix"},
		{func(c *Config) { c.MaxTracked = -1 }, "tracked"},
		{func(c *Config) { c.Increment = Increment{Factor: 0.5} }, "factor"},
		{func(c *Config) { c.Increment = Increment{Max: time.Hour} }, "factor is not"},
		{func(c *Config) { c.Increment = Increment{Factor: 2, Max: time.Minute} }, "shorter than bantime"},
		{func(c *Config) { c.Increment = Increment{Factor: 2, Max: -time.Minute} }, "negative"},
		{func(c *Config) { c.Ignore = []netip.Prefix{{}} }, "ignore"},
		{func(c *Config) { c.Ignore = []netip.Prefix{prefix("::ffff:0:0/80")} }, "ignore"},
	} {
		cfg := sshd()
		tc.change(&cfg)
		_, err := New(cfg, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one mentioning %q", cfg, err, tc.want)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	j := newJail(t, sshd(), nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				a := netip.AddrFrom4([4]byte{10, byte(g), byte(i >> 8), byte(i)})
				for range 3 {
					j.Fail(a, t0, t0)
				}
				if i%100 == 0 {
					j.Stats()
					j.Banned()
					j.Expire(t0)
				}
			}
		})
	}
	wg.Wait()
	if s := j.Stats(); s.TotalBanned != 8000 || s.CurrentlyBanned != 8000 || s.TotalFailed != 24000 {
		t.Fatalf("stats %+v", s)
	}
}

func TestBannedIsSorted(t *testing.T) {
	j := newJail(t, sshd(), nil)
	for _, p := range []string{"2001:db8::/64", "192.0.2.9/32", "192.0.2.10/32", "192.0.2.0/24"} {
		if _, err := j.Ban(prefix(p), time.Hour, t0); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, b := range j.Banned() {
		got = append(got, b.Prefix.String())
	}
	if fmt.Sprint(got) != "[192.0.2.0/24 192.0.2.9/32 192.0.2.10/32 2001:db8::/64]" {
		t.Fatalf("order %v", got)
	}
}
