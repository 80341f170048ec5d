package policy

import (
	"net/netip"
	"testing"
	"time"
)

// TestJails parses the jails of the schema and the defaults.
func TestJails(t *testing.T) {
	src := `version: 1
groups:
  office: [198.51.100.0/24, 2001:db8:1::/48]
sets:
  partners:
    entries: [203.0.113.7]
jails:
  sshd:
    logs: {journal: ssh.service}
    filter: sshd
    maxretry: 5
    findtime: 10m
    bantime: 1h
    increment: {factor: 2, max: 1w}
    ignore: [office, partners, 192.0.2.1]
    scope: all
  nginx-404:
    logs: {container: {compose: proxy/nginx}}
    match: ['^<HOST> - \S+ \[[^\]]+\] "[A-Z]+ [^"]*" 404 ']
    maxretry: 5
    findtime: 10m
    bantime: 10m
  f2b:
    logs:
      - {file: /var/log/auth.log}
      - {journal: [ssh.service, sshd.service, SYSLOG_IDENTIFIER=sshd]}
    filter: /etc/fail2ban/filter.d/sshd.conf[mode=aggressive]
    bantime: permanent
    scope: host
  plain:
    logs: {file: auth.log}
    filter: sshd
`
	p, err := Parse("seawall.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Jails) != 4 {
		t.Fatalf("%d jails, want 4", len(p.Jails))
	}
	ssh := p.Jail("sshd")
	if ssh.Filter != "sshd" || ssh.MaxRetry != 5 || ssh.FindTime != 10*time.Minute || ssh.BanTime != time.Hour ||
		ssh.Increment == nil || ssh.Increment.Factor != 2 || ssh.Increment.Max != 7*24*time.Hour || ssh.Scope != ScopeAll {
		t.Errorf("sshd: %+v", ssh)
	}
	if len(ssh.Logs) != 1 || ssh.Logs[0].Kind != LogJournal || ssh.Logs[0].Units[0] != "ssh.service" {
		t.Errorf("sshd logs: %+v", ssh.Logs)
	}
	want := []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8:1::/48"),
		netip.MustParsePrefix("203.0.113.7/32"), netip.MustParsePrefix("192.0.2.1/32")}
	if got := p.IgnorePrefixes(ssh); len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Errorf("sshd ignores %v, want %v", got, want)
	}
	web := p.Jail("nginx-404")
	if len(web.Match) != 1 || web.Filter != "" || web.Logs[0].Kind != LogContainer ||
		web.Logs[0].Select.Project != "proxy" || web.Logs[0].Select.Service != "nginx" {
		t.Errorf("nginx-404: %+v %+v", web, web.Logs[0])
	}
	f2b := p.Jail("f2b")
	if j := f2b.Logs[1]; len(j.Units) != 2 || len(j.Matches) != 1 || j.Matches[0] != "SYSLOG_IDENTIFIER=sshd" ||
		j.String() != "journal: ssh.service, sshd.service, SYSLOG_IDENTIFIER=sshd" {
		t.Errorf("f2b journal source: %+v", j)
	}
	if !f2b.Permanent || f2b.BanTime != 0 || f2b.Scope != ScopeHost || len(f2b.Logs) != 2 ||
		f2b.Logs[1].Units[1] != "sshd.service" || f2b.Filter != "/etc/fail2ban/filter.d/sshd.conf[mode=aggressive]" {
		t.Errorf("f2b: %+v", f2b)
	}
	plain := p.Jail("plain")
	if plain.MaxRetry != DefaultMaxRetry || plain.FindTime != DefaultFindTime || plain.BanTime != DefaultBanTime || plain.Increment != nil {
		t.Errorf("plain does not have fail2ban's defaults: %+v", plain)
	}
}

func TestJailDurations(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"600": 10 * time.Minute, "30s": 30 * time.Second, "1h30m": 90 * time.Minute, "1d": 24 * time.Hour,
		"2w": 14 * 24 * time.Hour, "1w1d": 8 * 24 * time.Hour,
	} {
		got, msg := parseJailDuration(in)
		if msg != "" || got != want {
			t.Errorf("parseJailDuration(%q) = %v, %q; want %v", in, got, msg, want)
		}
		if back, _ := parseJailDuration(FormatDuration(got)); back != got {
			t.Errorf("FormatDuration(%v) = %q does not parse back", got, FormatDuration(got))
		}
	}
	for _, in := range []string{"", "m", "1h30", "-1", "1.5h", "10 m", "9999999999s", "0"} {
		if _, msg := parseJailDuration(in); msg == "" {
			t.Errorf("parseJailDuration(%q) succeeded", in)
		}
	}
}
