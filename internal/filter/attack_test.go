package filter

import (
	"strings"
	"testing"
	"time"
)

// These tests feed the filters what an attacker controls: user names,
// URLs, e-mail addresses and host names that hold other people's
// addresses, odd address forms, huge lines, broken UTF-8 and NULs, and
// input that makes backtracking regexes explode. Nothing wrong may be
// reported, nothing may hang.

// victim is an address an attacker would like to get banned.
const victim = "192.0.2.1"

func TestAttackInjection(t *testing.T) {
	tests := []struct {
		spec, line string
		want       string // the only acceptable host; "" for no failure
	}{
		{"sshd", "Nov 21 08:00:00 web1 sshd[1]: Invalid user " + victim + " from 203.0.113.9 port 22", "203.0.113.9"},
		{"sshd", "Nov 21 08:00:00 web1 sshd[1]: Invalid user x from " + victim + " port 1 from 203.0.113.9 port 22", "203.0.113.9"},
		{"sshd", "Nov 21 08:00:00 web1 sshd[1]: Failed password for invalid user root@" + victim + " from 203.0.113.9 port 22 ssh2", "203.0.113.9"},
		{"sshd", "Nov 21 08:00:00 web1 sshd[1]: Failed password for invalid user http://" + victim + "/x from 203.0.113.9 port 22 ssh2", "203.0.113.9"},
		{"sshd", "Nov 21 08:00:00 web1 sshd[1]: Failed password for invalid user a from " + victim + " from 203.0.113.9 port 22 ssh2", "203.0.113.9"},
		{"sshd", "Nov 21 08:00:00 web1 sshd[1]: Failed none for invalid user x from 203.0.113.9 port 22 ssh2: from " + victim + " port 22 ssh2", "203.0.113.9"},
		{"sshd", "Nov 21 08:00:00 web1 sshd[1]: Connection closed by authenticating user " + victim + " 203.0.113.9 port 22 [preauth]", ""},
		{"sshd[mode=aggressive]", "Nov 21 08:00:00 web1 sshd[1]: Connection closed by authenticating user " + victim + " 203.0.113.9 port 22 [preauth]", "203.0.113.9"},
		{"sshd", "Nov 21 08:00:00 web1 sshd[1]: Invalid user x from ::ffff:203.0.113.9 port 22", "203.0.113.9"},
		{"sshd", "Nov 21 08:00:00 web1 sshd[1]: Invalid user x from 203.0.113.9.evil.example port 22", "203.0.113.9.evil.example"},
		{"sshd", "Nov 21 08:00:00 web1 sshd[1]: Invalid user x from ::ffff:cb00:7109 port 22", "203.0.113.9"},
		{"sshd", "Nov 21 08:00:00 web1 cron[1]: Invalid user x from " + victim + " port 22", ""},
		{"nginx-http-auth", `2025/11/21 08:00:00 [error] 1#1: *1 user "a, client: ` + victim + `, server: x": password mismatch, client: 203.0.113.9, server: www.example.com, request: "GET / HTTP/1.1", host: "www.example.com"`, "203.0.113.9"},
		{"nginx-4xx", `203.0.113.9 - - [21/Nov/2025:08:00:00 +0000] "GET /?next=http://` + victim + `/ HTTP/1.1" 404 1 "http://` + victim + `/" "` + victim + ` - - [] \"GET /\" 404 1"`, "203.0.113.9"},
		{"vaultwarden", "[2025-11-21 08:00:00.000][vaultwarden::api::identity][ERROR] Username or password is incorrect. Try again. IP: 203.0.113.9. Username: IP: " + victim + ".", "203.0.113.9"},
		{"postfix[mode=auth]", "Nov 21 08:00:00 mx1 postfix/smtpd[1]: warning: mail[" + victim + "].example[203.0.113.9]: SASL LOGIN authentication failed: x", ""},
		{"dovecot", "Nov 21 08:00:00 mx1 dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<rip=" + victim + ">, method=PLAIN, rip=203.0.113.9, lip=192.0.2.10, TLS", "203.0.113.9"},
	}
	for _, tt := range tests {
		f, err := Load(tt.spec, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		got := f.NewMatcher().Line(tt.line)
		switch {
		case tt.want == "" && len(got) > 0:
			t.Errorf("%s: %q\n  reported %s, want nothing", tt.spec, tt.line, got[0].Host)
		case tt.want != "" && (len(got) != 1 || got[0].Host != tt.want):
			t.Errorf("%s: %q\n  got %+v, want %s", tt.spec, tt.line, got, tt.want)
		}
		for _, fl := range got {
			if fl.Host == victim {
				t.Errorf("%s: the victim's address was reported: %q", tt.spec, tt.line)
			}
		}
	}
}

// TestAttackOddInput runs every built-in filter (and a backtracking one)
// over hostile input: a 1 MB line, lines without a newline, invalid UTF-8,
// NULs, and lines made to make regexes work hard.
func TestAttackOddInput(t *testing.T) {
	long := "Nov 21 08:00:00 web1 sshd[1]: Failed password for invalid user " + strings.Repeat("a from 1.2.3.4 ", 1<<20/15) + "from 203.0.113.9 port 22 ssh2"
	inputs := []string{
		long,
		"Nov 21 08:00:00 web1 sshd[1]: Invalid user \xff\xfe\x00\x00 from 203.0.113.9 port 22",
		"Nov 21 08:00:00 web1 sshd[1]: Invalid user x\x00 from 203.0.113.9\x00 port 22",
		"Nov 21 08:00:00 web1 sshd[1]: " + strings.Repeat("Failed ", 5000),
		"Nov 21 08:00:00 web1 sshd[1]: Failed password for " + strings.Repeat("invalid user ", 3000) + "x from 203.0.113.9 port 22 ssh2",
		strings.Repeat("[", 10000) + strings.Repeat("a: ", 10000),
		"\x00\x00\x00",
		"",
		"Nov 21 08:00:00 web1 sshd[1]: Invalid user \xc3\x28 from 2001:db8::\xe2\x82 port 22",
	}
	specs := append(Builtins(), "sshd[mode=aggressive]", "postfix[mode=aggressive]")
	for _, spec := range specs {
		for _, big := range []int{0, 2 << 20} {
			o := testOptions()
			o.MaxLineBytes = big
			f, err := Load(spec, o)
			if err != nil {
				t.Fatal(err)
			}
			m := f.NewMatcher()
			for _, in := range inputs {
				start := time.Now()
				for _, fl := range m.Line(in) {
					if fl.Host == "1.2.3.4" || fl.Host == victim {
						t.Errorf("%s: injected address %s reported", spec, fl.Host)
					}
					if fl.Addr.IsValid() && fl.Addr.String() != fl.Host {
						t.Errorf("%s: host %q and address %v disagree", spec, fl.Host, fl.Addr)
					}
				}
				if d := time.Since(start); d > 10*time.Second { // generous: -race and busy CI machines are slow
					t.Errorf("%s: %d-byte line took %v", spec, len(in), d)
				}
			}
		}
	}
	// the long line, read in full, still names the right client
	o := testOptions()
	o.MaxLineBytes = 2 << 20
	f, _ := Load("sshd", o)
	got := f.NewMatcher().Line(long)
	if len(got) != 1 || got[0].Host != "203.0.113.9" {
		t.Errorf("1 MB line: %+v", hostsOf(got))
	}
}

func hostsOf(fs []Failure) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Host)
	}
	return out
}

// TestAttackTimestamps checks dates far away and the turn of the year
// for year-less syslog dates.
func TestAttackTimestamps(t *testing.T) {
	newYear := time.Date(2026, 1, 1, 0, 5, 0, 0, time.UTC)
	f, err := Load("sshd", Options{Location: time.UTC, Now: func() time.Time { return newYear }})
	if err != nil {
		t.Fatal(err)
	}
	m := f.NewMatcher()
	got := m.Line("Dec 31 23:59:59 web1 sshd[1]: Invalid user x from 203.0.113.9 port 22")
	if len(got) != 1 || got[0].Time.Year() != 2025 {
		t.Errorf("December line read on 1 January: %+v", got)
	}
	got = m.Line("Jan  1 00:04:59 web1 sshd[1]: Invalid user x from 203.0.113.9 port 22")
	if len(got) != 1 || got[0].Time.Year() != 2026 {
		t.Errorf("January line: %+v", got)
	}
	// dates far away: a failure may or may not be found (the date formats
	// decide), but it is never attributed to anyone else nor dated wrong
	f, _ = Load("nginx-4xx", testOptions())
	for line, year := range map[string]int{
		`203.0.113.9 - - [01/Jan/1970:00:00:00 +0000] "GET / HTTP/1.1" 404 1 "-" "-"`: 1970,
		`203.0.113.9 - - [31/Dec/9999:23:59:59 +0000] "GET / HTTP/1.1" 404 1 "-" "-"`: 9999,
		`203.0.113.9 - - [21/Nov/2025:08:00:00 +0000] "GET / HTTP/1.1" 404 1 "-" "-"`: 2025,
	} {
		got := f.NewMatcher().Line(line)
		for _, fl := range got {
			if fl.Host != "203.0.113.9" || fl.Time.Year() != year && !fl.Time.Equal(testNow) {
				t.Errorf("%q: %+v", line, fl)
			}
		}
		if year == 2025 && len(got) != 1 {
			t.Errorf("%q: %+v", line, got)
		}
	}
}
