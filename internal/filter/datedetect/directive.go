package datedetect

import (
	"fmt"
	"strings"
)

// directives are the strptime-style % codes a date pattern may use, with the
// regular expressions fail2ban substitutes for them: Python's _strptime table
// as fail2ban overrides and extends it (fail2ban/server/strptime.py). Each
// field is a named group; the name says how its text is converted (see
// strptime.go), so `%k` and `%H` both capture H.
var directives = map[string]string{
	"a": `(?P<a>mon|tue|wed|thu|fri|sat|sun)`,
	"A": `(?P<A>wednesday|thursday|saturday|tuesday|monday|friday|sunday)`,
	"b": `(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)`,
	"B": `(?P<B>september|february|november|december|january|october|august|march|april|june|july|may)`,
	"d": `(?P<d>[1-2]\d|[0 ]?[1-9]|3[0-1])`,
	"f": `(?P<f>[0-9]{1,6})`,
	"G": `(?P<G>\d\d\d\d)`,
	"H": `(?P<H>[0-1]?\d|2[0-3])`,
	"I": `(?P<I>1[0-2]|0[1-9]|[1-9])`,
	"j": `(?P<j>36[0-6]|3[0-5]\d|[1-2]\d\d|0[1-9]\d|00[1-9]|[1-9]\d|0[1-9]|[1-9])`,
	"k": ` ?(?P<H>[0-2]?\d)`,
	"l": ` ?(?P<I>1?\d)`,
	"m": `(?P<m>0?[1-9]|1[0-2])`,
	"M": `(?P<M>[0-5]?\d)`,
	"p": `(?P<p>am|pm)`,
	"S": `(?P<S>[0-5]?\d|6[0-1])`,
	"u": `(?P<u>[1-7])`,
	"U": `(?P<U>5[0-3]|[0-4]\d|\d)`,
	"V": `(?P<V>5[0-3]|0[1-9]|[1-4]\d|\d)`,
	"w": `(?P<w>[0-6])`,
	"W": `(?P<W>5[0-3]|[0-4]\d|\d)`,
	"y": `(?P<y>\d\d)`,
	"Y": `(?P<Y>\d{4})`,
	"z": `(?P<z>Z|UTC|GMT|[+-][01]\d(?::?\d{2})?)`,
	"Z": `(?P<Z>Z|[A-Z]{3,5})`,
	// %e is not fail2ban's (Python's % formatting rejects it there); it is
	// accepted here as the C strptime day of month, blank-padded, like %d.
	"e": `(?P<d>[1-2]\d|[0 ]?[1-9]|3[0-1])`,

	// fail2ban's exact forms: two digits, no padding alternatives.
	"Exd": `(?P<d>[1-2]\d|0[1-9]|3[0-1])`,
	"Exm": `(?P<m>0[1-9]|1[0-2])`,
	"ExH": `(?P<H>[0-1]\d|2[0-3])`,
	"Exk": ` ?(?P<H>[0-1]?\d|2[0-3])`,
	"Exl": ` ?(?P<I>1[0-2]|\d)`,
	"ExM": `(?P<M>[0-5]\d)`,
	"ExS": `(?P<S>[0-5]\d|6[0-1])`,
	// fail2ban builds %ExY at start-up from the clock: the century digits of
	// the years from 2000 to a few years ahead (20[0-2]\d in 2026). A fixed
	// 20\d\d keeps matching deterministic and covers the same purpose: a
	// four-digit run is only a year if it looks like one of this century.
	"ExY": `(?P<Y>20\d\d)`,
	"Exy": `(?P<y>\d{2})`,
	"ExZ": `(?P<Z>[A-Z](?:[A-Z]{2,4})?)`,
	"Exz": `(?P<z>(?:[A-Z](?:[A-Z]{2,4})?)?[+-][01]\d(?::?\d{2})?|[A-Z](?:[A-Z]{2,4})?)`,

	// Python's locale-dependent composites, in the C locale.
	"c": `(?P<a>mon|tue|wed|thu|fri|sat|sun)\s+(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\s+(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])\s+(?P<H>2[0-3]|[0-1]\d|\d):(?P<M>[0-5]\d|\d):(?P<S>6[0-1]|[0-5]\d|\d)\s+(?P<Y>\d\d\d\d)`,
	"x": `(?P<m>1[0-2]|0[1-9]|[1-9])/(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])/(?P<y>\d\d)`,
	"X": `(?P<H>2[0-3]|[0-1]\d|\d):(?P<M>[0-5]\d|\d):(?P<S>6[0-1]|[0-5]\d|\d)`,
}

// expandDirectives replaces the % codes of a date pattern by their regular
// expressions; %% is a literal %. Anything else after a % is an error, as it
// is in fail2ban (where it breaks Python's % formatting).
func expandDirectives(pattern string) (string, error) {
	if !strings.Contains(pattern, "%") {
		return pattern, nil
	}
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		rest := pattern[i+1:]
		switch {
		case strings.HasPrefix(rest, "%"):
			b.WriteByte('%')
			i++
		case len(rest) >= 3 && rest[:2] == "Ex" && directives[rest[:3]] != "":
			b.WriteString(directives[rest[:3]])
			i += 3
		case rest != "" && directives[rest[:1]] != "":
			b.WriteString(directives[rest[:1]])
			i++
		case rest == "":
			return "", fmt.Errorf("a lone %% ends the pattern (write %%%% for a literal %%)")
		default:
			end := min(len(rest), 3)
			return "", fmt.Errorf("unknown directive %%%s (write %%%% for a literal %%)", rest[:end])
		}
	}
	return b.String(), nil
}

// hasAlphaDirective reports whether the pattern names months, weekdays or
// AM/PM in words; fail2ban then matches the whole pattern ignoring case.
func hasAlphaDirective(pattern string) bool {
	for i := 1; i < len(pattern); i++ {
		if pattern[i-1] == '%' && strings.IndexByte("aAbBpc", pattern[i]) >= 0 &&
			(i < 2 || pattern[i-2] != '%') {
			return true
		}
	}
	return false
}
