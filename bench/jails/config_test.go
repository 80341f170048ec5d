package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seawall/seawall/bench/internal/benchrun"
	"github.com/seawall/seawall/internal/policy"
)

// The policy the seawall side runs must be valid for seawall's own parser,
// with the jail configured as fail2ban's.
func TestSeawallPolicyParses(t *testing.T) {
	o := engineOpts{maxretry: 3, findtime: 10 * time.Minute, bantime: time.Hour}
	src := seawallPolicy("/tmp/some dir/auth.log", o)
	p, err := policy.Parse("seawall.yaml", []byte(src))
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	if len(p.Jails) != 1 {
		t.Fatalf("got %d jails", len(p.Jails))
	}
	j := p.Jails[0]
	if j.Name != jailName || j.Filter != "sshd" || j.MaxRetry != 3 || j.FindTime != 10*time.Minute || j.BanTime != time.Hour {
		t.Errorf("jail %+v", j)
	}
	if len(j.Logs) != 1 || j.Logs[0].Kind != policy.LogFile || j.Logs[0].Path != "/tmp/some dir/auth.log" {
		t.Errorf("logs %+v", j.Logs)
	}
}

func TestPolicyDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "1h", 10 * time.Minute: "10m", 90 * time.Second: "90s", 36 * time.Hour: "36h", 1500 * time.Millisecond: "2s",
	} {
		if got := policyDuration(d); got != want {
			t.Errorf("policyDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestWriteServerConf(t *testing.T) {
	root := t.TempDir()
	etc := filepath.Join(root, "etc", "fail2ban")
	for _, d := range []string{"filter.d", "action.d", "jail.d"} {
		if err := os.MkdirAll(filepath.Join(etc, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"fail2ban.conf", "jail.conf", "paths-debian.conf", "paths-common.conf"} {
		if err := os.WriteFile(filepath.Join(etc, f), []byte("[DEFAULT]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(etc, "jail.d", "defaults-debian.conf"), []byte("[sshd]\nenabled = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tree := &fail2banTree{root: root, python: "/usr/bin/python3"}
	dir := t.TempDir()
	conf, socket, err := tree.writeServerConf(dir, f2bJail{
		logPath: "/x/auth.log", maxretry: 3, findtime: 10 * time.Minute, bantime: time.Hour, backend: "pyinotify", loglevel: "NOTICE",
	})
	if err != nil {
		t.Fatal(err)
	}
	if socket != filepath.Join(dir, "fail2ban.sock") {
		t.Errorf("socket %s", socket)
	}
	for _, f := range []string{"fail2ban.conf", "jail.conf", "paths-debian.conf", "paths-common.conf", "filter.d", "action.d"} {
		if target, err := os.Readlink(filepath.Join(conf, f)); err != nil || target != filepath.Join(etc, f) {
			t.Errorf("%s: link to %q, %v", f, target, err)
		}
	}
	// Debian's jail.d enables its own sshd jail: it must not be there.
	if entries, err := os.ReadDir(filepath.Join(conf, "jail.d")); err != nil || len(entries) != 0 {
		t.Errorf("jail.d: %v, %v", entries, err)
	}
	jail, err := os.ReadFile(filepath.Join(conf, "jail.local"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[" + jailName + "]\nenabled = true\n", "filter = sshd\n", "logpath = /x/auth.log\n",
		"backend = pyinotify\n", "maxretry = 3\n", "findtime = 600\n", "bantime = 3600\n", "banaction = nftables-allports\n"} {
		if !strings.Contains(string(jail), want) {
			t.Errorf("jail.local lacks %q:\n%s", want, jail)
		}
	}
	main, err := os.ReadFile(filepath.Join(conf, "fail2ban.local"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"socket = " + socket + "\n", "dbfile = " + filepath.Join(dir, "fail2ban.sqlite3") + "\n", "loglevel = NOTICE\n"} {
		if !strings.Contains(string(main), want) {
			t.Errorf("fail2ban.local lacks %q:\n%s", want, main)
		}
	}
}

func TestStampRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := map[string]string{"fail2ban": "1.0.2-2", "python3-pyinotify": "0.9.6-2"}
	if err := writeStamp(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := readStamp(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["fail2ban"] != want["fail2ban"] || got["python3-pyinotify"] != want["python3-pyinotify"] {
		t.Errorf("got %v", got)
	}
	if err := writeStamp(dir, map[string]string{"python3-pyinotify": "0.9.6-2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := readStamp(dir); err == nil {
		t.Error("a stamp without fail2ban was accepted")
	}
}

const regexOutput = `
Running tests
=============

Use   failregex filter file : sshd, basedir: /x/etc/fail2ban

Results
=======

Failregex: 6 total
|-  #) [# of hits] regular expression
|   4) [1] ^Failed ...
` + "`-" + `

Lines: 8 lines, 4 ignored, 2 matched, 2 missed
[processed in 0.00 sec]
`

func TestParseRegexSummary(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte(regexOutput), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := parseRegexSummary(good); err != nil || n != 2 {
		t.Errorf("got %d, %v; want 2 matched", n, err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("Traceback (most recent call last):\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := parseRegexSummary(bad); err == nil {
		t.Error("output without a summary was accepted")
	}
}

func TestCountJSONFailures(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, text string
		want       int // -1: an error
	}{
		{"empty", "", 0},
		{"two", `{"line": 1, "ip": "192.0.2.1", "time": "2025-06-02T00:00:00Z"}` + "\n\n" + `{"line": 7, "ip": "2001:db8::1", "time": "2025-06-02T00:00:01Z"}` + "\n", 2},
		{"text", "Failregex: 2 total\n", -1},
		{"no ip", `{"line": 1}` + "\n", -1},
	} {
		path := filepath.Join(dir, c.name)
		if err := os.WriteFile(path, []byte(c.text), 0o644); err != nil {
			t.Fatal(err)
		}
		n, err := countJSONFailures(path)
		if c.want < 0 {
			if err == nil {
				t.Errorf("%s: got %d, want an error", c.name, n)
			}
			continue
		}
		if err != nil || n != c.want {
			t.Errorf("%s: got %d, %v; want %d", c.name, n, err, c.want)
		}
	}
}

func TestFilterRunRates(t *testing.T) {
	r := &filterRun{lines: 100_000, startup: 500 * time.Millisecond,
		runs: []usage{{Wall: 6 * time.Second}, {Wall: 5500 * time.Millisecond}, {Wall: 9 * time.Second}}}
	if got := r.median().Wall; got != 6*time.Second {
		t.Errorf("median %v, want 6s", got)
	}
	if got := r.rate(); got < 16_666 || got > 16_667 {
		t.Errorf("rate %.1f, want 16,666.7", got)
	}
	if got := r.steadyRate(); got < 18_181 || got > 18_182 {
		t.Errorf("steady rate %.1f, want 18,181.8", got)
	}
}

func TestFormatting(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 2_000_000: "2,000,000", -12345: "-12,345"} {
		if got := num(n); got != want {
			t.Errorf("num(%d) = %q, want %q", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{
		812 * time.Microsecond: "812µs", 4210 * time.Microsecond: "4.21ms", 81200 * time.Millisecond: "81.20s",
	} {
		if got := dur(d); got != want {
			t.Errorf("dur(%v) = %q, want %q", d, got, want)
		}
	}
	p := benchrun.Percentiles([]time.Duration{5, 1, 4, 2, 3, 100, 6, 7, 8, 9})
	if p.N != 10 || p.P50 != 5 || p.P90 != 9 || p.P99 != 100 || p.Max != 100 {
		t.Errorf("percentiles: %+v", p)
	}
}
