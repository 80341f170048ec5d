package datedetect

import (
	"strings"
	"testing"
	"time"
)

// benchLines are typical lines of the formats that matter most for speed.
var benchLines = []struct {
	name, datepattern, line string
}{
	{"syslog", "", "Aug 14 11:59:59 host sshd[12345]: Failed password for invalid user admin from 192.0.2.1 port 52234 ssh2"},
	{"syslog-lnbeg", "{^LN-BEG}", "Aug 14 11:59:59 host sshd[12345]: Failed password for invalid user admin from 192.0.2.1 port 52234 ssh2"},
	{"iso8601", "", "2005-08-14T11:59:59.123456+02:00 host app[1]: authentication failure for user bob from 192.0.2.1"},
	{"iso8601-lnbeg", "{^LN-BEG}", "2005-08-14 11:59:59,123 fail2ban.actions [1]: NOTICE [sshd] Ban 192.0.2.1"},
	{"apache", "", `192.0.2.1 - - [14/Aug/2005:11:59:59 +0200] "GET /wp-login.php HTTP/1.1" 404 512 "-" "Mozilla/5.0"`},
	{"apache-nginx-filter", "{^LN-BEG}%ExY(?P<_sep>[-/.])%m(?P=_sep)%d[T ]%H:%M:%S(?:[.,]%f)?(?:\\s*%z)?\n^[^\\[]*\\[({DATE})\n{^LN-BEG}",
		`192.0.2.1 - - [14/Aug/2005:11:59:59 +0200] "GET /wp-login.php HTTP/1.1" 404 512 "-" "Mozilla/5.0"`},
	{"custom", "^%Y-%m-%d %H:%M:%S", "2005-08-14 11:59:59 [warn] login failed for 192.0.2.1"},
	{"epoch", "", "1123963199.123 audit: denied from 192.0.2.1"},
	{"nodate", "", "this line has no date at all, only an address 192.0.2.1 and some words"},
}

func BenchmarkMatch(b *testing.B) {
	loc, _ := time.LoadLocation("Europe/Zurich")
	now := time.Date(2005, 8, 14, 10, 0, 0, 0, time.UTC)
	for _, bl := range benchLines {
		d, err := New(bl.datepattern)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d.Match(bl.line, loc, now)
			}
		})
	}
}

// BenchmarkLongLine is a megabyte line without a date: the bound on work.
func BenchmarkLongLine(b *testing.B) {
	line := strings.Repeat("ab 12:34 x/y 1999-", 1<<20/18)
	now := time.Date(2005, 8, 14, 10, 0, 0, 0, time.UTC)
	d := Default()
	b.ReportAllocs()
	for b.Loop() {
		d.Match(line, time.UTC, now)
	}
}
