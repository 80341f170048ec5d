package datedetect

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// The expectations below were checked against fail2ban 1.0.2's own
// DateDetector (fresh for each line, TZ=Europe/Zurich, MyTime at "now"),
// apart from the fractions of a second, which fail2ban drops and Match keeps.

var zurich = mustLoad("Europe/Zurich")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// defaultNow is fail2ban's test "now": 2005-08-14 12:00 in Zurich.
var defaultNow = time.Date(2005, 8, 14, 10, 0, 0, 0, time.UTC)

type matchCase struct {
	name        string
	datepattern string // "" for the default templates
	now         string // RFC 3339; "" for defaultNow
	line        string
	text        string // the date's text, line[Start:End]
	want        string // RFC 3339 in Zurich; "" when Match must report no date
}

func runMatchCases(t *testing.T, cases []matchCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := New(c.datepattern)
			if err != nil {
				t.Fatalf("New(%q): %v", c.datepattern, err)
			}
			now := defaultNow
			if c.now != "" {
				if now, err = time.Parse(time.RFC3339, c.now); err != nil {
					t.Fatal(err)
				}
			}
			m, ok := d.Match(c.line, zurich, now)
			if got := c.line[m.Start:m.End]; got != c.text {
				t.Errorf("date text %q, want %q", got, c.text)
			}
			if c.want == "" {
				if ok {
					t.Errorf("found date %v, want none", m.Time)
				}
				return
			}
			want, err := time.Parse(time.RFC3339Nano, c.want)
			if err != nil {
				t.Fatal(err)
			}
			if !ok || !m.Time.Equal(want) {
				t.Errorf("got %v (ok %v), want %v", m.Time, ok, want)
			}
			if ok && m.Time.Location() != zurich {
				t.Errorf("time in %v, want the location given", m.Time.Location())
			}
		})
	}
}

// TestDefaultFormats covers every default template of fail2ban.
func TestDefaultFormats(t *testing.T) {
	runMatchCases(t, []matchCase{
		{name: "syslog", line: "Aug 14 11:59:59 host sshd[123]: Failed password",
			text: "Aug 14 11:59:59", want: "2005-08-14T11:59:59+02:00"},
		{name: "syslog blank-padded day", line: "Aug  4 01:02:03 host x",
			text: "Aug  4 01:02:03", want: "2005-08-04T01:02:03+02:00"},
		{name: "syslog upper case", line: "AUG 14 11:59:59 host x",
			text: "AUG 14 11:59:59", want: "2005-08-14T11:59:59+02:00"},
		{name: "asctime", line: "Mon Aug 14 11:59:59 2005 x",
			text: "Mon Aug 14 11:59:59 2005", want: "2005-08-14T11:59:59+02:00"},
		{name: "asctime fraction", line: "Sun Jan 23 21:59:59.011 2005 x",
			text: "Sun Jan 23 21:59:59.011 2005", want: "2005-01-23T21:59:59.011+01:00"},
		{name: "asctime year after day", line: "Sun Jan 23 2005 21:59:59.011 x",
			text: "Sun Jan 23 2005 21:59:59.011", want: "2005-01-23T21:59:59.011+01:00"},
		{name: "iso local", line: "2005-08-14T11:59:59 x",
			text: "2005-08-14T11:59:59", want: "2005-08-14T11:59:59+02:00"},
		{name: "iso Z", line: "2005-08-14T11:59:59Z x",
			text: "2005-08-14T11:59:59Z", want: "2005-08-14T11:59:59Z"},
		{name: "iso offset and fraction", line: "2005-08-14T11:59:59.123456+02:00 x",
			text: "2005-08-14T11:59:59.123456+02:00", want: "2005-08-14T11:59:59.123456+02:00"},
		{name: "iso negative offset", line: "2005-08-14T11:59:59-0130 x",
			text: "2005-08-14T11:59:59-0130", want: "2005-08-14T13:29:59Z"},
		{name: "iso hour offset after blank", line: "2005-08-14 11:59:59 -07 x",
			text: "2005-08-14 11:59:59 -07", want: "2005-08-14T18:59:59Z"},
		{name: "iso comma fraction", line: "2005-08-14 11:59:59,123 fail2ban.actions: x",
			text: "2005-08-14 11:59:59,123", want: "2005-08-14T11:59:59.123+02:00"},
		{name: "date with slashes", line: "2005/08/14 11:59:59 [error] x",
			text: "2005/08/14 11:59:59", want: "2005-08-14T11:59:59+02:00"},
		{name: "date with dots", line: "2005.08.14 11:59:59 x",
			text: "2005.08.14 11:59:59", want: "2005-08-14T11:59:59+02:00"},
		{name: "apache at line start", line: "[14/Aug/2005:11:59:59 +0000] x",
			text: "14/Aug/2005:11:59:59 +0000", want: "2005-08-14T11:59:59Z"},
		{name: "apache access log", line: `192.0.2.1 - - [14/Aug/2005:11:59:59 -0700] "GET / HTTP/1.1" 404 0`,
			text: "14/Aug/2005:11:59:59 -0700", want: "2005-08-14T18:59:59Z"},
		{name: "bracketed with blank", line: "[14/Aug/2005 11:59:59] x",
			text: "14/Aug/2005 11:59:59", want: "2005-08-14T11:59:59+02:00"},
		{name: "named", line: "14-Aug-2005 11:59:59.252 client x",
			text: "14-Aug-2005 11:59:59.252", want: "2005-08-14T11:59:59.252+02:00"},
		{name: "day month year", line: "23/01/2005 21:59:59 x",
			text: "23/01/2005 21:59:59", want: "2005-01-23T21:59:59+01:00"},
		{name: "two-digit year", line: "23/01/05 21:59:59 x",
			text: "23/01/05 21:59:59", want: "2005-01-23T21:59:59+01:00"},
		{name: "day month year with dashes", line: "17-07-2005 17:23:25 x",
			text: "17-07-2005 17:23:25", want: "2005-07-17T17:23:25+02:00"},
		{name: "cpanel", line: "05/20/2005:01:57:39 x",
			text: "05/20/2005:01:57:39", want: "2005-05-20T01:57:39+02:00"},
		{name: "month day year", line: "01-27-2005 16:22:44.252 x",
			text: "01-27-2005 16:22:44.252", want: "2005-01-27T16:22:44.252+01:00"},
		{name: "epoch", line: "1123963199 sshd x",
			text: "1123963199", want: "2005-08-13T19:59:59Z"},
		{name: "epoch in brackets, short fraction left out", line: "[1123963199.5] x",
			text: "1123963199", want: "2005-08-13T19:59:59Z"}, // \.\d{3,6}
		{name: "epoch audit", line: "type=AVC msg=audit(1123963199.123:45): avc: denied",
			text: "1123963199.123", want: "2005-08-13T19:59:59.123Z"},
		{name: "time of day", line: "11:59:59 x",
			text: "11:59:59", want: "2005-08-14T11:59:59+02:00"},
		{name: "time of day later than now is yesterday", line: "13:00:00 x",
			text: "13:00:00", want: "2005-08-13T13:00:00+02:00"},
		{name: "angle brackets", line: "<09/16/05@05:03:30> x",
			text: "<09/16/05@05:03:30>", want: "2005-09-16T05:03:30+02:00"},
		{name: "mysql", line: "050814 11:59:59 [Warning] x",
			text: "050814 11:59:59", want: "2005-08-14T11:59:59+02:00"},
		{name: "mysql blank-padded hour", line: "050814  1:59:59 x",
			text: "050814  1:59:59", want: "2005-08-14T01:59:59+02:00"},
		{name: "tomcat pm", line: "Jan 23, 2005 9:59:59 PM org.apache x",
			text: "Jan 23, 2005 9:59:59 PM", want: "2005-01-23T21:59:59+01:00"},
		{name: "tomcat midnight", line: "Jan 23, 2005 12:00:01 AM x",
			text: "Jan 23, 2005 12:00:01 AM", want: "2005-01-23T00:00:01+01:00"},
		{name: "assp", line: "Apr-27-05 02:33:06 [Worker_1] x",
			text: "Apr-27-05 02:33:06", want: "2005-04-27T02:33:06+02:00"},
		{name: "iso basic", line: "20050123T215959 x",
			text: "20050123T215959", want: "2005-01-23T21:59:59+01:00"},
		{name: "iso basic with zone", line: "20050123 215959 +0100 x",
			text: "20050123 215959 +0100", want: "2005-01-23T20:59:59Z"},
		{name: "zone name first", line: "PDT Apr 16 21:05:29 monit x",
			text: "PDT Apr 16 21:05:29", want: "2005-04-17T04:05:29Z"},
		{name: "offset first", line: "+00:00 Jan 23 21:59:59.011 2005 x",
			text: "+00:00 Jan 23 21:59:59.011 2005", want: "2005-01-23T21:59:59.011Z"},
		{name: "tai64n", line: "@400000004c91b044077a9e94 imap-login: x",
			text: "@400000004c91b044077a9e94", want: "2010-09-16T05:51:00.1254765Z"},
		{name: "apache error log", line: "[Sun Sep 14 21:44:43.008606 2014] [authz_core:error] x",
			text: "Sun Sep 14 21:44:43.008606 2014", want: "2014-09-14T21:44:43.008606+02:00"},
		{name: "no date", line: "no date here at all, only 192.0.2.1", text: "", want: ""},
		{name: "empty line", line: "", text: "", want: ""},
	})
}

// TestLineStartAndPosition covers where in the line a date is taken from.
func TestLineStartAndPosition(t *testing.T) {
	runMatchCases(t, []matchCase{
		{name: "two non-word characters before", line: "  Aug 14 11:59:59 x",
			text: "Aug 14 11:59:59", want: "2005-08-14T11:59:59+02:00"},
		{name: "three blanks: found further in", line: "   Aug 14 11:59:59 x",
			text: "Aug 14 11:59:59", want: "2005-08-14T11:59:59+02:00"},
		{name: "not inside a word", line: "xAug 14 11:59:59 x", text: "", want: ""},
		{name: "not followed by a word character", line: "Aug 14 11:59:59x y", text: "", want: ""},
		{name: "the first date in the line wins", line: "host sshd: Aug 14 11:59:59 later 2005-08-14 10:00:00 x",
			text: "Aug 14 11:59:59", want: "2005-08-14T11:59:59+02:00"},
		{name: "a line-start date beats an earlier template", line: "2005-08-14 11:59:59 Aug 13 10:00:00",
			text: "2005-08-14 11:59:59", want: "2005-08-14T11:59:59+02:00"},
		{name: "line start only", datepattern: "{^LN-BEG}", line: "x: Aug 14 11:59:59 y", text: "", want: ""},
		{name: "a word before is read as a zone name", datepattern: "{^LN-BEG}", line: "host Aug 14 11:59:59 x",
			text: "host Aug 14 11:59:59", want: ""}, // as in fail2ban: %Z matches "host", an unknown zone
		{name: "line start", datepattern: "{^LN-BEG}", line: "Aug 14 11:59:59 host x",
			text: "Aug 14 11:59:59", want: "2005-08-14T11:59:59+02:00"},
		{name: "all defaults", datepattern: "{DEFAULT}", line: "x: Aug 14 11:59:59 y",
			text: "Aug 14 11:59:59", want: "2005-08-14T11:59:59+02:00"},
	})
}

// TestYearAndDayTurn covers dates without a year or without a date.
func TestYearAndDayTurn(t *testing.T) {
	runMatchCases(t, []matchCase{
		{name: "december seen in january is last year's", now: "2006-01-01T00:30:00+01:00",
			line: "Dec 31 23:59:59 x", text: "Dec 31 23:59:59", want: "2005-12-31T23:59:59+01:00"},
		{name: "january in january", now: "2006-01-01T00:30:00+01:00",
			line: "Jan  1 00:00:01 x", text: "Jan  1 00:00:01", want: "2006-01-01T00:00:01+01:00"},
		{name: "less than a day ahead stays this year", line: "Aug 15 11:59:59 x",
			text: "Aug 15 11:59:59", want: "2005-08-15T11:59:59+02:00"},
		{name: "more than a day ahead is last year", line: "Aug 16 11:59:59 x",
			text: "Aug 16 11:59:59", want: "2004-08-16T11:59:59+02:00"},
		{name: "time after midnight, seen before midnight", now: "2005-12-31T23:30:00+01:00",
			line: "00:10:00 x", text: "00:10:00", want: "2005-12-31T00:10:00+01:00"},
		{name: "time before midnight, seen after", now: "2006-01-01T00:30:00+01:00",
			line: "23:59:00 x", text: "23:59:00", want: "2005-12-31T23:59:00+01:00"},
		{name: "february 29 in a leap year", now: "2008-03-01T00:00:00+01:00",
			line: "Feb 29 10:00:00 x", text: "Feb 29 10:00:00", want: "2008-02-29T10:00:00+01:00"},
		{name: "february 29 in another year is no date", line: "Feb 29 10:00:00 x",
			text: "Feb 29 10:00:00", want: ""},
		{name: "february 30 is no date", line: "Feb 30 10:00:00 x", text: "Feb 30 10:00:00", want: ""},
		{name: "hour 24 is no date", line: "Aug 14 24:00:00 x", text: "Aug 14 24:00:00", want: ""},
		{name: "second 60 is no date", line: "2005-08-14 11:59:60 x", text: "2005-08-14 11:59:60", want: ""},
		{name: "far past as written", line: "2000-01-01 00:00:00 x",
			text: "2000-01-01 00:00:00", want: "2000-01-01T00:00:00+01:00"},
		{name: "far future as written", datepattern: "^%Y-%m-%d %H:%M:%S", line: "9999-12-31 23:59:59 x",
			text: "9999-12-31 23:59:59", want: "9999-12-31T23:59:59+01:00"},
		{name: "year zero is no date", datepattern: "^%Y-%m-%d", line: "0000-01-01 x", text: "0000-01-01", want: ""},
	})
}

// TestDatepatterns covers fail2ban's datepattern syntax.
func TestDatepatterns(t *testing.T) {
	access := `192.0.2.1 - - [14/Aug/2005:11:59:59 -0700] "GET / HTTP/1.1" 404 0`
	runMatchCases(t, []matchCase{
		{name: "anchored", datepattern: "^%Y-%m-%d %H:%M:%S", line: "2005-08-14 11:59:59 x",
			text: "2005-08-14 11:59:59", want: "2005-08-14T11:59:59+02:00"},
		{name: "anchored, elsewhere", datepattern: "^%Y-%m-%d %H:%M:%S", line: "x 2005-08-14 11:59:59", text: "", want: ""},
		{name: "word boundaries", datepattern: "%H:%M:%S", line: "x11:59:59x", text: "", want: ""},
		{name: "no boundaries", datepattern: "{UNB}%H:%M:%S", line: "x11:59:59x",
			text: "11:59:59", want: "2005-08-14T11:59:59+02:00"},
		{name: "** for no boundary", datepattern: "**%H:%M:%S**", line: "x11:59:59x",
			text: "11:59:59", want: "2005-08-14T11:59:59+02:00"},
		{name: "line start", datepattern: "{^LN-BEG}%d.%m.%Y %H:%M", line: "[14.08.2005 11:59] x",
			text: "14.08.2005 11:59", want: "2005-08-14T11:59:00+02:00"},
		{name: "DATE in brackets", datepattern: `^[^\[]*\[({DATE})`, line: access,
			text: "14/Aug/2005:11:59:59 -0700", want: "2005-08-14T18:59:59Z"},
		{name: "DATE without a group takes the prefix along", datepattern: `^<\d+>\d+\s+{DATE}`,
			line: "<38>1 2019-07-08T17:40:16.954167-04:00 host sshd 57915 - - Failed",
			text: "<38>1 2019-07-08T17:40:16.954167-04:00", want: "2019-07-08T21:40:16.954167Z"},
		{name: "DATE at the start makes EPOCH anchored", datepattern: "^{DATE}", line: "1123963199 x",
			text: "1123963199", want: "2005-08-13T19:59:59Z"},
		{name: "several lines, second matches", datepattern: "^%Y-%m-%d %H:%M:%S\n{^LN-BEG}",
			line: "Aug 14 11:59:59 x", text: "Aug 14 11:59:59", want: "2005-08-14T11:59:59+02:00"},
		{name: "EPOCH", datepattern: "EPOCH", line: "1123963199.123456 x",
			text: "1123963199.123456", want: "2005-08-13T19:59:59.123456Z"},
		{name: "line-start epoch", datepattern: "{^LN-BEG}Epoch", line: "[1123963199] x",
			text: "1123963199", want: "2005-08-13T19:59:59Z"},
		{name: "epoch in a pattern", datepattern: `^\[{EPOCH}\]`, line: "[1123963199] x",
			text: "[1123963199]", want: "2005-08-13T19:59:59Z"},
		{name: "LEPOCH milliseconds", datepattern: "LEPOCH", line: "1123963199123 x",
			text: "1123963199123", want: "2005-08-13T19:59:59.123Z"},
		{name: "LEPOCH microseconds", datepattern: "LEPOCH", line: "1123963199123456 x",
			text: "1123963199123456", want: "2005-08-13T19:59:59.123456Z"},
		{name: "LEPOCH seconds", datepattern: "LEPOCH", line: "1123963199 x",
			text: "1123963199", want: "2005-08-13T19:59:59Z"},
		{name: "TAI64N", datepattern: "{^LN-BEG}TAI64N", line: "@400000004c91b044077a9e94 x",
			text: "@400000004c91b044077a9e94", want: "2010-09-16T05:51:00.1254765Z"},
		{name: "NONE", datepattern: "{NONE}", line: "Aug 14 11:59:59 x", text: "", want: ""},
		{name: "an empty date group: a line without date", datepattern: "^%Y-%m-%d %H:%M:%S\n^I\\(()**",
			line: "I(<0.1.0>:ejabberd_c2s:1) x", text: "", want: ""},
		{name: "ISO8601", datepattern: "ISO8601", line: "2005-08-14T11:59:59Z x",
			text: "2005-08-14T11:59:59Z", want: "2005-08-14T11:59:59Z"},
		{name: "empty datepattern is the defaults", datepattern: " \n ", line: "Aug 14 11:59:59 x",
			text: "Aug 14 11:59:59", want: "2005-08-14T11:59:59+02:00"},
		{name: "lookbehind", datepattern: "(?<=at )%H:%M:%S", line: "seen at 11:59:59 x",
			text: "11:59:59", want: "2005-08-14T11:59:59+02:00"},
		{name: "backreference", datepattern: "%Y(?P<_sep>[-/])%m(?P=_sep)%d", line: "2005/08-14 2005-08-14 x",
			text: "2005-08-14", want: "2005-08-14T00:00:00+02:00"},
	})
}

// TestDirectives covers the % codes.
func TestDirectives(t *testing.T) {
	runMatchCases(t, []matchCase{
		{name: "%B %e %p", datepattern: "%B %e, %Y %I:%M %p", line: "August  4, 2005 01:59 PM x",
			text: "August  4, 2005 01:59 PM", want: "2005-08-04T13:59:00+02:00"},
		{name: "%l", datepattern: "%b %d %l:%M %p", line: "Aug 14  1:59 am x",
			text: "Aug 14  1:59 am", want: "2005-08-14T01:59:00+02:00"},
		{name: "%A %Z", datepattern: "%A, %d %b %Y %H:%M:%S %Z", line: "Sunday, 14 Aug 2005 11:59:59 CEST x",
			text: "Sunday, 14 Aug 2005 11:59:59 CEST", want: "2005-08-14T09:59:59Z"},
		{name: "%Z unknown abbreviation", datepattern: "%H:%M:%S %Z", line: "11:59:59 XYZ x",
			text: "11:59:59 XYZ", want: ""},
		{name: "%Exz", datepattern: "%Y-%m-%dT%H:%M:%S%Exz", line: "2005-08-14T11:59:59CET+01 x",
			text: "2005-08-14T11:59:59CET+01", want: "2005-08-14T09:59:59Z"},
		{name: "%z hours only", datepattern: "%H:%M:%S %z", line: "11:59:59 +05 x",
			text: "11:59:59 +05", want: "2005-08-14T06:59:59Z"},
		{name: "%j", datepattern: "%Y %j %H:%M:%S", line: "2005 226 11:59:59 x",
			text: "2005 226 11:59:59", want: "2005-08-14T11:59:59+02:00"},
		{name: "%W with a weekday", datepattern: "%Y-W%W-%a %H:%M", line: "2005-W32-Sun 11:59 x",
			text: "2005-W32-Sun 11:59", want: "2005-08-14T11:59:00+02:00"},
		{name: "%y", datepattern: "%y%m%d-%H%M%S", line: "050814-115959 x",
			text: "050814-115959", want: "2005-08-14T11:59:59+02:00"},
		{name: "%Ex codes", datepattern: `^\[?%ExY%Exm%Exd-%ExH:%ExM:%ExS\]?`, line: "[20050814-11:59:59] x",
			text: "[20050814-11:59:59]", want: "2005-08-14T11:59:59+02:00"},
		{name: "%ExSS is %ExS then S", datepattern: "%H:%M:%ExSS", line: "11:59:59S x",
			text: "11:59:59S", want: "2005-08-14T11:59:59+02:00"},
		{name: "%% is a percent sign", datepattern: "%H:%M:%S%%", line: "11:59:59% x",
			text: "11:59:59%", want: "2005-08-14T11:59:59+02:00"},
		{name: "%f", datepattern: "^%H:%M:%S.%f", line: "11:59:59.5 x",
			text: "11:59:59.5", want: "2005-08-14T11:59:59.5+02:00"},
		{name: "%c", datepattern: "%c", line: "Sun Aug 14 11:59:59 2005 x",
			text: "Sun Aug 14 11:59:59 2005", want: "2005-08-14T11:59:59+02:00"},
		{name: "%x %X", datepattern: "%x %X", line: "08/14/05 11:59:59 x",
			text: "08/14/05 11:59:59", want: "2005-08-14T11:59:59+02:00"},
		{name: "digits of another script", datepattern: "%Y-%m-%d %H:%M:%S", line: "٢٠٠٥-08-14 11:59:59 x",
			text: "٢٠٠٥-08-14 11:59:59", want: "2005-08-14T11:59:59+02:00"},
	})
}

// TestZones checks zones in the line against the location given.
func TestZones(t *testing.T) {
	d := Default()
	for _, loc := range []*time.Location{time.UTC, zurich, mustLoad("America/New_York"), nil} {
		m, ok := d.Match("2005-08-14T11:59:59+02:00 x", loc, defaultNow)
		if want := time.Date(2005, 8, 14, 9, 59, 59, 0, time.UTC); !ok || !m.Time.Equal(want) {
			t.Errorf("in %v: got %v, want %v", loc, m.Time, want)
		}
		m, ok = d.Match("2005-08-14T11:59:59 x", loc, defaultNow)
		wantLoc := loc
		if loc == nil {
			wantLoc = time.Local
		}
		if want := time.Date(2005, 8, 14, 11, 59, 59, 0, wantLoc); !ok || !m.Time.Equal(want) {
			t.Errorf("in %v: got %v, want wall clock %v", loc, m.Time, want)
		}
	}
}

// TestNewErrors checks that bad datepatterns are refused with a reason.
func TestNewErrors(t *testing.T) {
	for _, c := range []struct{ datepattern, reason string }{
		{"%q", "unknown directive %q"},
		{"%H:%M:%", "a lone %"},
		{"%Exb", "unknown directive %Exb"},
		{"%H %H", `redefinition of group name "H"`},
		{"(%H", "missing )"},
		{"%H)", "unbalanced parenthesis"},
		{"%H [a", "unterminated character set"},
		{"(?<=a+)%H", "look-behind requires fixed-width pattern"},
		{"%H**:", "multiple repeat"},
		{`\q%H`, `bad escape \q`},
		{"(?P=x)%H", `unknown group name "x"`},
		{"*%H", "nothing to repeat"},
		{"%H{3,2}", "min repeat greater than max repeat"},
		{"%H{2000}", "larger than 1000"},
		{"^%H:%M:%S\n^%H:%M:%S", "twice"},
		{"(?L)%H", "'L' flag"},
	} {
		_, err := New(c.datepattern)
		if err == nil || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("New(%q) = %v, want an error about %q", c.datepattern, err, c.reason)
		}
	}
	if _, err := New("^%H:%M:%S\n^%H:%M:%S"); !errors.Is(err, errDuplicate) {
		t.Errorf("a template given twice: %v, want errDuplicate", err)
	}
	var lines []string
	for i := range 300 {
		lines = append(lines, fmt.Sprintf("^%d %%H:%%M:%%S", i))
	}
	if _, err := New(strings.Join(lines, "\n")); err == nil {
		t.Errorf("New with 300 templates succeeded, want the limit error")
	}
}

// TestBadInput: nothing panics or takes long, whatever the line.
func TestBadInput(t *testing.T) {
	long := strings.Repeat("Aug 14 1:59 2005-08- 14/Aug/ 1123 @4000 ", 1<<20/40)
	digits := strings.Repeat("1", 1<<20)
	lines := map[string]string{
		"1 MB of near-dates": long,
		"1 MB of digits":     digits,
		"1 MB, date at end":  long + " 2005-08-14 11:59:59",
		"invalid UTF-8":      "\xff\xfe Aug 14 11:59:59 \xc3\x28 x",
		"NULs":               "\x00\x00Aug 14 11:59:59\x00x",
		"month 13":           "2005-13-14 11:59:59 x",
		"day 32":             "2005-08-32 11:59:59 x",
		"year 99999":         "99999-08-14 11:59:59 x",
		"epoch of 11 nines":  "99999999999 x",
		"tai64n max":         "@ffffffffffffffffffffffff x",
		"huge fraction":      "2005-08-14 11:59:59." + strings.Repeat("9", 1000),
	}
	detectors := map[string]*Detector{"default": Default()}
	for _, dp := range []string{`^[^\[]*\[({DATE})`, "(?:a|b)*c%H", "(x+x+)+y%H", `(?:\S+\s*)*%H:%M`, "LEPOCH"} {
		d, err := New(dp)
		if err != nil {
			t.Fatal(err)
		}
		detectors[dp] = d
	}
	for dname, d := range detectors {
		for lname, line := range lines {
			start := time.Now()
			m, ok := d.Match(line, zurich, defaultNow)
			if m.Start < 0 || m.End < m.Start || m.End > len(line) {
				t.Errorf("%s on %s: span %d..%d outside the line", dname, lname, m.Start, m.End)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("%s on %s took %v", dname, lname, took)
			}
			_ = ok
		}
	}
	m, ok := Default().Match(lines["invalid UTF-8"], zurich, defaultNow)
	if !ok || lines["invalid UTF-8"][m.Start:m.End] != "Aug 14 11:59:59" {
		t.Errorf("date next to invalid UTF-8: got %q, %v", lines["invalid UTF-8"][m.Start:m.End], ok)
	}
	if m, ok := Default().Match(lines["NULs"], zurich, defaultNow); !ok || m.Start != 2 {
		t.Errorf("date after NULs: got %+v, %v", m, ok)
	}
}

// TestConcurrentUse runs one detector from many goroutines (run with -race).
func TestConcurrentUse(t *testing.T) {
	d, err := New("{^LN-BEG}\n^[^\\[]*\\[({DATE})")
	if err != nil {
		t.Fatal(err)
	}
	lines := []string{"Aug 14 11:59:59 x", `1.2.3.4 - - [14/Aug/2005:11:59:59 +0200] "GET /"`, "x", "2005-08-14 11:59:59 x"}
	want := make([]Match, len(lines))
	for i, l := range lines {
		want[i], _ = d.Match(l, zurich, defaultNow)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				k := (i + g) % len(lines)
				if got, _ := d.Match(lines[k], zurich, defaultNow); got != want[k] {
					errs <- fmt.Errorf("line %q: got %+v, want %+v", lines[k], got, want[k])
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestMatchDoesNotAllocate guards the hot path.
func TestMatchDoesNotAllocate(t *testing.T) {
	for _, bl := range benchLines {
		d, err := New(bl.datepattern)
		if err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { d.Match(bl.line, zurich, defaultNow) }); n != 0 {
			t.Errorf("%s: %v allocations per Match, want 0", bl.name, n)
		}
	}
}

func TestDefaultIsShared(t *testing.T) {
	if Default() != Default() {
		t.Error("Default builds a new detector each time")
	}
	if d, err := New(""); err != nil || d != Default() {
		t.Errorf("New(\"\") = %v, %v; want Default()", d, err)
	}
}
