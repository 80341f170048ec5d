package main

import (
	"bufio"
	"bytes"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func genLog(t *testing.T, n int, seed uint64) ([]byte, genStats) {
	t.Helper()
	var buf bytes.Buffer
	st, err := writeSSHDLog(&buf, n, seed)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), st
}

func TestGeneratorIsDeterministic(t *testing.T) {
	a, _ := genLog(t, 5000, 7)
	b, _ := genLog(t, 5000, 7)
	c, _ := genLog(t, 5000, 8)
	if !bytes.Equal(a, b) {
		t.Error("the same seed gave different logs")
	}
	if bytes.Equal(a, c) {
		t.Error("different seeds gave the same log")
	}
}

// The filter benchmark gives fail2ban the first lines of seawall's file by
// generating fewer lines from the same seed.
func TestGeneratorShorterRunIsPrefix(t *testing.T) {
	short, sst := genLog(t, 3000, 3)
	long, _ := genLog(t, 9000, 3)
	if !bytes.HasPrefix(long, short) {
		t.Fatal("3,000 lines from a seed are not the first lines of 9,000 from the same seed")
	}
	if got := bytes.Count(short, []byte("\n")); got != 3000 || sst.Lines != 3000 {
		t.Errorf("got %d lines (stats %d), want 3000", got, sst.Lines)
	}
}

var syslogLine = regexp.MustCompile(`^(Jun|Jul) [ 0-9]\d \d\d:\d\d:\d\d web1 [A-Za-z-]+(\[\d+\])?: +\S.*$`)

func TestGeneratorShape(t *testing.T) {
	const n = 50_000
	log, st := genLog(t, n, 1)
	sc := bufio.NewScanner(bytes.NewReader(log))
	lines, sshdLines := 0, 0
	var prev time.Time
	for sc.Scan() {
		line := sc.Text()
		lines++
		if !syslogLine.MatchString(line) {
			t.Fatalf("line %d is not a syslog line: %q", lines, line)
		}
		ts, err := time.ParseInLocation(syslogStamp, line[:15], time.Local)
		if err != nil {
			t.Fatalf("line %d: %v", lines, err)
		}
		if !prev.IsZero() && ts.Before(prev) {
			t.Fatalf("line %d goes back in time: %q", lines, line)
		}
		prev = ts
		if strings.Contains(line, " sshd[") {
			sshdLines++
		}
	}
	if lines != n || st.Lines != n {
		t.Fatalf("got %d lines (stats %d), want %d", lines, st.Lines, n)
	}
	share := func(k int) float64 { return float64(k) / float64(n) }
	checks := []struct {
		what     string
		got      float64
		min, max float64
	}{
		{"failures", share(st.Failures), 0.15, 0.40},
		{"IPv6 lines", share(st.IPv6), 0.05, 0.30},
		{"IPv4-mapped lines", share(st.Mapped), 0.0005, 0.02},
		{"sshd lines", share(sshdLines), 0.70, 0.90},
		{"sshd lines, by the stats", share(n - st.Other), share(sshdLines), share(sshdLines)},
	}
	for _, c := range checks {
		if c.got < c.min || c.got > c.max {
			t.Errorf("%s: %.4f of all lines, want %.4f..%.4f", c.what, c.got, c.min, c.max)
		}
	}
	if st.Distinct < 2000 {
		t.Errorf("only %d distinct addresses in %d lines", st.Distinct, n)
	}
	for _, k := range sessionKinds {
		if st.Sessions[k.name] == 0 {
			t.Errorf("no session of kind %q", k.name)
		}
	}
}

func TestRandomAddressesArePublic(t *testing.T) {
	g := newSSHDLog(5)
	for range 20_000 {
		a := g.pool.fresh()
		if a.Is4In6() {
			a = a.Unmap()
		}
		if a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsMulticast() || a.IsUnspecified() {
			t.Fatalf("fresh address %s is not a public unicast address", a)
		}
		if a.Is6() && !netip.MustParsePrefix("2000::/3").Contains(a) {
			t.Fatalf("fresh address %s is not in 2000::/3", a)
		}
	}
}

func TestAttackerAddrs(t *testing.T) {
	addrs := attackerAddrs(20_000, 1)
	if len(addrs) != 20_000 {
		t.Fatalf("got %d addresses", len(addrs))
	}
	if again := attackerAddrs(20_000, 1); again[0] != addrs[0] || again[19_999] != addrs[19_999] {
		t.Error("the same seed gave other addresses")
	}
	pool := netip.MustParsePrefix("20.0.0.0/7")
	seen := map[netip.Addr]bool{}
	for _, a := range addrs {
		if !pool.Contains(a) {
			t.Fatalf("%s is outside %s", a, pool)
		}
		if seen[a] {
			t.Fatalf("%s twice", a)
		}
		if b := a.As4(); b[3] == 0 {
			t.Fatalf("%s ends in .0", a)
		}
		seen[a] = true
	}
	for a := range seen {
		if seen[a.Next()] {
			t.Fatalf("%s and %s are adjacent: an interval set could merge them", a, a.Next())
		}
	}
}

func TestAppendFailLine(t *testing.T) {
	at := time.Date(2025, time.March, 5, 7, 8, 9, 0, time.Local)
	got := string(appendFailLine(nil, at, 20001, netip.MustParseAddr("20.1.2.4")))
	want := "Mar  5 07:08:09 web1 sshd[20001]: Failed password for invalid user admin from 20.1.2.4 port 21025 ssh2\n"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// cachedFail2ban returns the fail2ban tree a benchmark run unpacked into
// the default cache directory, or skips the test.
func cachedFail2ban(t *testing.T) *fail2banTree {
	t.Helper()
	if testing.Short() {
		t.Skip("runs fail2ban-regex (-short)")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Skip("no cache directory:", err)
	}
	tree := filepath.Join(cache, "seawall-bench", "fail2ban", "tree")
	versions, err := readStamp(tree)
	if err != nil {
		t.Skipf("Debian's fail2ban is not unpacked in %s (go run ./bench/jails does that): %v", tree, err)
	}
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	return &fail2banTree{root: tree, python: "/usr/bin/python3", versions: versions}
}

// The generator's labels are what fail2ban's sshd filter decides, and the
// lines the ban benchmarks write are failures for it: otherwise the
// comparisons of the benchmark would compare different things.
func TestGeneratorLabelsAgreeWithFail2ban(t *testing.T) {
	f2b := cachedFail2ban(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "auth.log")
	st, err := writeLogFile(path, 20_000, 11)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	var extra []byte
	for i, a := range attackerAddrs(50, 2) {
		extra = appendFailLine(extra, logStart.Add(30*time.Hour), 20000+i, a)
	}
	if _, err := f.Write(extra); err != nil {
		t.Fatal(err)
	}
	f.Close()

	argv := f2b.argv("fail2ban-regex", path, f2b.sshdFilter())
	cmd := exec.CommandContext(context.Background(), argv[0], argv[1:]...)
	cmd.Env = f2b.env()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("fail2ban-regex: %v", err)
	}
	outPath := filepath.Join(dir, "out.txt")
	if err := os.WriteFile(outPath, out, 0o644); err != nil {
		t.Fatal(err)
	}
	matched, err := parseRegexSummary(outPath)
	if err != nil {
		t.Fatal(err)
	}
	if want := st.Failures + 50; matched != want {
		t.Errorf("fail2ban-regex matched %d lines; the generator labelled %d failures (+50 burst lines)", matched, want)
	}
}
