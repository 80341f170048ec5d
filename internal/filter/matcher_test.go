package filter

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2025, 11, 21, 12, 0, 0, 0, time.UTC)

func testOptions() Options {
	return Options{Location: time.UTC, Now: func() time.Time { return testNow }}
}

func TestHostOf(t *testing.T) {
	tests := []struct {
		vals fieldSet
		host string
		addr string // "" when not an address
		pfx  string
	}{
		{fieldSet{{"ip4", "192.0.2.1"}}, "192.0.2.1", "192.0.2.1", ""},
		{fieldSet{{"ip6", "2001:DB8:0:0::1"}}, "2001:db8::1", "2001:db8::1", ""},
		{fieldSet{{"ip6", "::ffff:c000:201"}}, "192.0.2.1", "192.0.2.1", ""},
		{fieldSet{{"ip4", "192.0.2.77"}, {"cidr", "24"}}, "192.0.2.0/24", "192.0.2.77", "192.0.2.0/24"},
		{fieldSet{{"ip4", "192.0.2.1"}, {"cidr", "33"}}, "192.0.2.1/33", "", ""},
		{fieldSet{{"ip4", "192.0.2.300"}}, "192.0.2.300", "", ""},
		{fieldSet{{"ip4", "010.0.0.1"}}, "010.0.0.1", "", ""},
		{fieldSet{{"dns", "scanner.example.net"}}, "scanner.example.net", "", ""},
		{fieldSet{{"fid", "session-42"}}, "session-42", "", ""},
		{fieldSet{{"ip4", "192.0.2.1"}, {"fid", "user@host"}}, "user@host", "", ""},
	}
	for _, tt := range tests {
		host, addr, pfx, ok := hostOf(tt.vals)
		if !ok || host != tt.host {
			t.Errorf("%v: host %q (%v), want %q", tt.vals, host, ok, tt.host)
		}
		if got := addrString(addr); got != tt.addr {
			t.Errorf("%v: addr %q, want %q", tt.vals, got, tt.addr)
		}
		if got := prefixString(pfx); got != tt.pfx {
			t.Errorf("%v: prefix %q, want %q", tt.vals, got, tt.pfx)
		}
	}
	if _, _, _, ok := hostOf(fieldSet{{"user", "x"}}); ok {
		t.Error("no host groups: want !ok")
	}
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func prefixString(p netip.Prefix) string {
	if !p.IsValid() {
		return ""
	}
	return p.String()
}

func TestFieldsAndAlternates(t *testing.T) {
	f, err := FromRegexes([]string{`user=<F-USER>\S*</F-USER> ruser=<F-ALT_USER>\S*</F-ALT_USER> id=<F-ID/> port=<F-PORT/> from <HOST>`}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	got := f.NewMatcher().Line("Nov 21 10:00:00 user= ruser=bob id=abc port=22 from 192.0.2.9")
	if len(got) != 1 {
		t.Fatalf("got %v", got)
	}
	want := map[string]string{"user": "bob", "alt_user": "bob", "id": "abc", "port": "22", "ip4": "192.0.2.9"}
	for k, v := range want {
		if got[0].Fields[k] != v {
			t.Errorf("field %s = %q, want %q (%v)", k, got[0].Fields[k], v, got[0].Fields)
		}
	}
	if got[0].Host != "abc" {
		t.Errorf("a failure with an <F-ID> other than the address is identified by the id: host %q", got[0].Host)
	}
}

func TestSubnet(t *testing.T) {
	f, err := FromRegexes([]string{`^blocked <SUBNET>$`, `^net <ADDR>/<CIDR>$`}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	m := f.NewMatcher()
	for line, want := range map[string]string{
		"blocked 198.51.100.7/24":  "198.51.100.0/24",
		"blocked [2001:db8::1]":    "2001:db8::1",
		"net 2001:db8:1:2::5/48":   "2001:db8:1::/48",
		"blocked 198.51.100.7/999": "198.51.100.7/999",
	} {
		got := m.Line(line)
		if len(got) != 1 || got[0].Host != want {
			t.Errorf("%q: %+v, want %s", line, got, want)
		}
	}
}

func TestEntryAndDates(t *testing.T) {
	f, err := Load("sshd[logtype=journal]", testOptions())
	if err != nil {
		t.Fatal(err)
	}
	m := f.NewMatcher()
	when := time.Date(2025, 11, 21, 9, 30, 0, 0, time.UTC)
	got := m.Entry("web1 sshd[1]: Invalid user x from 192.0.2.1 port 22", when)
	if len(got) != 1 || !got[0].Time.Equal(when) {
		t.Fatalf("got %+v", got)
	}

	// a line without a date takes the previous line's; with none before, now
	f, _ = FromRegexes([]string{`^\s*fail from <HOST>$`}, testOptions())
	m = f.NewMatcher()
	if got := m.Line("fail from 192.0.2.2"); len(got) != 1 || !got[0].Time.Equal(testNow) {
		t.Errorf("undated first line: %+v", got)
	}
	m.Line("2025-11-21 08:00:00 fail from 192.0.2.3")
	if got := m.Line("fail from 192.0.2.4"); len(got) != 1 || got[0].Time.Hour() != 8 {
		t.Errorf("undated line after a dated one: %+v", got)
	}
	if s := m.Stats(); s.NoDate != 2 || s.Lines != 3 || s.Failures != 3 {
		t.Errorf("stats %+v", s)
	}
}

func TestIgnoreAndStats(t *testing.T) {
	dir := writeFiles(t, map[string]string{"f.conf": `
[Definition]
failregex = ^\s*login failed for \S+ from <HOST>$
            ^\s*bad request from <HOST>$
ignoreregex = from 192\.0\.2\.\d+$
`})
	f, err := Load(filepath.Join(dir, "f.conf"), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	m := f.NewMatcher()
	lines := []string{
		"2025-11-21 08:00:00 login failed for bob from 198.51.100.1",
		"2025-11-21 08:00:01 login failed for bob from 192.0.2.1",
		"2025-11-21 08:00:02 bad request from 198.51.100.2",
		"2025-11-21 08:00:03 something else",
		"2025-11-21 08:00:04 " + strings.Repeat("x", DefaultMaxLineBytes),
	}
	var n int
	for _, l := range lines {
		n += len(m.Line(l))
	}
	want := Stats{Lines: 5, Matched: 2, Failures: 2, Missed: 1, Ignored: 1, TooLong: 1, FailHits: []int{1, 1}, IgnoreHits: []int{1}}
	if got := m.Stats(); n != 2 || !reflect.DeepEqual(got, want) {
		t.Errorf("failures %d, stats %+v, want %+v", n, got, want)
	}
}

func TestNofailWithoutConnection(t *testing.T) {
	f, err := FromRegexes([]string{`^<F-NOFAIL>probe</F-NOFAIL> from <HOST>$`, `^attack from <HOST>$`}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	m := f.NewMatcher()
	if got := m.Line("probe from 192.0.2.1"); len(got) != 0 {
		t.Errorf("a <F-NOFAIL> line is not a failure: %v", got)
	}
	if got := m.Line("attack from 192.0.2.1"); len(got) != 1 {
		t.Errorf("got %v", got)
	}
}

// TestMultiLine checks maxlines buffers: a failure spread over lines, the
// lines a <SKIPLINES> skips staying in the buffer, and the buffer size.
func TestMultiLine(t *testing.T) {
	dir := writeFiles(t, map[string]string{"f.conf": `
[Definition]
failregex = ^\s*conn (?P<id>\d+) from <HOST>$<SKIPLINES>^\s*conn (?P=id) auth failed$
maxlines = 4
datepattern = {^LN-BEG}
`})
	f, err := Load(filepath.Join(dir, "f.conf"), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if f.MaxLines() != 4 {
		t.Fatalf("maxlines %d", f.MaxLines())
	}
	m := f.NewMatcher()
	lines := []string{
		"2025-11-21 08:00:00 conn 7 from 198.51.100.7",
		"2025-11-21 08:00:01 conn 8 from 198.51.100.8",
		"2025-11-21 08:00:02 conn 7 auth failed",
		"2025-11-21 08:00:03 conn 8 auth failed",
	}
	var got []Failure
	for _, l := range lines {
		got = append(got, m.Line(l)...)
	}
	if len(got) != 2 || got[0].Host != "198.51.100.7" || got[1].Host != "198.51.100.8" {
		t.Fatalf("got %+v", got)
	}
	if len(got[0].Lines) != 2 || got[0].Lines[1] != lines[2] || got[0].Time.Second() != 2 {
		t.Errorf("first failure: %+v", got[0])
	}
	// beyond maxlines lines apart, the two halves do not meet
	m = f.NewMatcher()
	n := 0
	for _, l := range []string{lines[0], "2025-11-21 08:00:01 a", "2025-11-21 08:00:01 b", "2025-11-21 08:00:01 c", lines[2]} {
		n += len(m.Line(l))
	}
	if n != 0 {
		t.Errorf("%d failures across more than maxlines lines", n)
	}
}

// TestConnectionTable checks the bounds of the <F-MLFID> table: entries
// expire after connTTL of log time and the table never holds more than
// maxConns.
func TestConnectionTable(t *testing.T) {
	f, err := FromRegexes([]string{`^<F-MLFID>\S+</F-MLFID> (?:<F-NOFAIL>hello</F-NOFAIL> from <HOST>|bye)$`}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	m := f.NewMatcher()
	base := time.Date(2025, 11, 21, 8, 0, 0, 0, time.UTC)
	m.Entry("c1 hello from 192.0.2.1", base)
	if got := m.Entry("c1 bye", base.Add(time.Minute)); len(got) != 1 || got[0].Host != "192.0.2.1" || len(got[0].Lines) != 2 {
		t.Errorf("linked failure: %+v", got)
	}
	m.Entry("c2 hello from 192.0.2.2", base)
	if got := m.Entry("c2 bye", base.Add(connTTL+time.Minute)); len(got) != 0 {
		t.Errorf("an expired connection must not link: %+v", got)
	}
	for i := 0; i < 3*maxConns; i++ {
		m.Entry("c"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+strconv.Itoa(i)+" hello from 192.0.2.3", base)
	}
	if n := len(m.conns.m); n > maxConns {
		t.Errorf("%d connections held, limit %d", n, maxConns)
	}
	if n := len(m.conns.order); n > 4*maxConns+1 {
		t.Errorf("use order grew to %d", n)
	}
}

// TestNoAllocationsOnMiss checks the miss path: lines that are no failure
// cost no allocation (with a dated line, as read from a file).
func TestNoAllocationsOnMiss(t *testing.T) {
	f, err := Load("sshd", testOptions())
	if err != nil {
		t.Fatal(err)
	}
	m := f.NewMatcher()
	lines := []string{
		"Nov 21 06:30:00 web1 sshd[1021]: Server listening on 0.0.0.0 port 22.",
		"Nov 21 06:30:11 web1 sshd[40201]: pam_unix(sshd:session): session opened for user deploy(uid=1001) by deploy(uid=0)",
		"Nov 21 06:30:12 web1 systemd[1]: Started ssh.service - OpenBSD Secure Shell server.",
	}
	for _, l := range lines {
		m.Line(l) // warm up buffers
	}
	i := 0
	if n := testing.AllocsPerRun(1000, func() { m.Line(lines[i%len(lines)]); i++ }); n != 0 {
		t.Errorf("%.1f allocations per line that is no failure", n)
	}
}

// NoFields leaves Failure.Fields out and changes nothing else.
func TestNoFields(t *testing.T) {
	lines := []string{
		"Jan  2 10:00:00 web1 sshd[77]: Invalid user admin from 203.0.113.9 port 4242",
		"Jan  2 10:00:01 web1 sshd[78]: Failed password for root from 2001:db8::7 port 22 ssh2",
	}
	now := func() time.Time { return time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) }
	run := func(noFields bool) []Failure {
		f, err := Load("sshd", Options{Location: time.UTC, Now: now, NoFields: noFields})
		if err != nil {
			t.Fatal(err)
		}
		var out []Failure
		m := f.NewMatcher()
		for _, l := range lines {
			out = append(out, m.Line(l)...)
		}
		return out
	}
	with, without := run(false), run(true)
	if len(with) != 2 || len(without) != 2 {
		t.Fatalf("%d and %d failures, want 2", len(with), len(without))
	}
	for i := range with {
		if with[i].Fields == nil || without[i].Fields != nil {
			t.Errorf("failure %d: Fields %v with, %v without", i, with[i].Fields, without[i].Fields)
		}
		a, b := with[i], without[i]
		a.Fields, b.Fields = nil, nil
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("failure %d differs beyond Fields:\n%+v\n%+v", i, a, b)
		}
	}
}
