package filter

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fuzzFilters are the filters FuzzMatch runs lines through: the built-in
// ones most exposed to the Internet, one in a backtracking mode, and a
// multi-line one.
var fuzzFilters = []string{"sshd", "sshd[mode=aggressive]", "nginx-http-auth", "nginx-4xx", "postfix[mode=aggressive]", "dovecot"}

// FuzzMatch runs arbitrary lines through several filters: no panic, a
// bounded time per line, and every failure has a host that is consistent
// with its address.
func FuzzMatch(f *testing.F) {
	for _, l := range sshdMix(50, false) {
		f.Add(l)
	}
	f.Add("Nov 21 08:00:00 web1 sshd[1]: Failed password for invalid user \xff from ::ffff:1.2.3.4 port 22 ssh2")
	f.Add(`2025/11/21 08:00:00 [error] 1#1: *1 user "a": password mismatch, client: 2001:db8::1, server: x`)
	f.Add(`203.0.113.9 - - [21/Nov/2025:08:00:00 +0000] "GET / HTTP/1.1" 404 1 "-" "-"`)
	var matchers []*Matcher
	for _, spec := range fuzzFilters {
		fl, err := Load(spec, testOptions())
		if err != nil {
			f.Fatal(err)
		}
		matchers = append(matchers, fl.NewMatcher())
	}
	conf := filepath.Join(f.TempDir(), "multi.conf")
	multiConf := "[Definition]\nfailregex = ^\\s*open (?P<id>\\d+) <HOST>$<SKIPLINES>^\\s*fail (?P=id)$\nmaxlines = 3\n"
	if err := os.WriteFile(conf, []byte(multiConf), 0o644); err != nil {
		f.Fatal(err)
	}
	multi, err := Load(conf, testOptions())
	if err != nil {
		f.Fatal(err)
	}
	matchers = append(matchers, multi.NewMatcher())
	f.Fuzz(func(t *testing.T, line string) {
		for _, m := range matchers {
			start := time.Now()
			for _, fl := range m.Line(line) {
				checkFailure(t, fl)
			}
			for _, fl := range m.Entry(line, testNow) {
				checkFailure(t, fl)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("%d-byte line took %v", len(line), d)
			}
		}
	})
}

func checkFailure(t *testing.T, fl Failure) {
	t.Helper()
	if fl.Host == "" {
		t.Fatalf("failure without a host: %+v", fl)
	}
	if fl.Addr.IsValid() {
		if fl.Addr.Is4In6() {
			t.Fatalf("IPv4-mapped address not normalised: %v", fl.Addr)
		}
		if !fl.Prefix.IsValid() && fl.Host != fl.Addr.String() {
			t.Fatalf("host %q and address %v disagree", fl.Host, fl.Addr)
		}
		if a, err := netip.ParseAddr(fl.Host); err == nil && a != fl.Addr {
			t.Fatalf("host %q parses as %v, address is %v", fl.Host, a, fl.Addr)
		}
	}
}

// FuzzConfig feeds arbitrary filter files (and options) to Load: it may
// fail, but never panic or hang.
func FuzzConfig(f *testing.F) {
	entries, _ := builtinFS.ReadDir(builtinDir)
	for _, e := range entries {
		data, err := builtinFS.ReadFile(builtinDir + "/" + e.Name())
		if err == nil {
			f.Add(string(data), "mode=aggressive")
		}
	}
	f.Add("[Definition]\nfailregex = <a>\na = <b><b>\nb = <a>\n", "")
	f.Add("[Definition]\nfailregex = %(x)s\nx = %(y)s%(y)s\ny = %(x)s\n", "")
	f.Add("[INCLUDES]\nbefore = f.conf\n[Definition]\nfailregex = ^<HOST>\n", "x='1,2]'")
	dir := f.TempDir()
	path := filepath.Join(dir, "f.conf")
	f.Fuzz(func(t *testing.T, conf, opts string) {
		if len(conf) > 64<<10 {
			return
		}
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		fl, err := Load(path+"["+opts+"]", testOptions())
		if err == nil {
			m := fl.NewMatcher()
			m.Line("Nov 21 08:00:00 web1 sshd[1]: Failed password for root from 192.0.2.1 port 22 ssh2")
			m.Line(conf)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("took %v", d)
		}
		if err != nil && strings.TrimSpace(err.Error()) == "" {
			t.Fatal("empty error message")
		}
	})
}
