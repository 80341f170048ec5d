package datedetect

// A shortcut for the date nearly every syslog line starts with, "Jun  2
// 00:00:01" (the native syslog template, `(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?:
// %ExY)?`), taken when the text is in the canonical form rsyslog and
// syslog-ng write: a month name, a blank- or zero-padded day and two-digit
// hour, minute and second, followed by the end of the line or a character
// that is neither a word character nor the start of a fraction or a year.
// Then the path the backtracking of nativeRun.try takes first is the one
// that matches, so its result is known without trying: the shortcut fills
// the same spans. Anything else (a weekday in front, a fraction, a year,
// non-ASCII text, an hour of 60 seconds) goes to the general matcher.
// TestSyslogShortcut compares the two.

// syslogShortcut matches the canonical syslog date at p, as r.match(p)
// would; false means the general matcher must decide (not that there is
// no match).
func (r *nativeRun) syslogShortcut(p int) bool {
	s := r.s
	e := p + len("Jan _2 15:04:05")
	if e > len(s) || !isMonthAbbr(s[p], s[p+1], s[p+2]) || s[p+3] != ' ' ||
		!canonicalDay(s[p+4], s[p+5]) || s[p+6] != ' ' ||
		!twoDigits(s[p+7], s[p+8], '2') || s[p+9] != ':' ||
		!twoDigits(s[p+10], s[p+11], '5') || s[p+12] != ':' ||
		!twoDigits(s[p+13], s[p+14], '5') {
		return false
	}
	if e < len(s) {
		switch c := s[e]; {
		case c >= 0x80, isASCIIWord(rune(c)), c == '.':
			return false // a word character, a fraction or a non-ASCII character
		case c == ' ' && e+1 < len(s) && s[e+1] == '2':
			return false // perhaps a year
		}
	}
	r.a, r.end = p, e
	r.spans[fkWeekdayAbbr] = [2]int32{-1, -1}
	r.span(fkMonthAbbr, p, p+3)
	r.span(fkDay, p+4, p+6)
	r.span(fkHour, p+7, p+9)
	r.span(fkMinute, p+10, p+12)
	r.span(fkSecond, p+13, p+15)
	r.spans[fkFraction] = [2]int32{-1, -1}
	r.spans[fkYear] = [2]int32{-1, -1}
	return true
}

// isMonthAbbr reports whether three ASCII bytes are a month's name in any
// case (the template is case-insensitive). No month's name is a weekday's,
// so the optional weekday in front cannot take them.
func isMonthAbbr(a, b, c byte) bool {
	if a >= 0x80 || b >= 0x80 || c >= 0x80 {
		return false
	}
	k := uint32(lowerASCII(a))<<16 | uint32(lowerASCII(b))<<8 | uint32(lowerASCII(c))
	for _, n := range monthAbbrs {
		if n == k {
			return true
		}
	}
	return false
}

// canonicalDay reports whether two bytes are a day %d matches with both:
// " 1" to " 9", "01" to "09", "10" to "31".
func canonicalDay(a, b byte) bool {
	switch {
	case a == ' ' || a == '0':
		return b >= '1' && b <= '9'
	case a == '1' || a == '2':
		return b >= '0' && b <= '9'
	case a == '3':
		return b == '0' || b == '1'
	}
	return false
}

// twoDigits reports whether a and b are two ASCII digits, a at most hi.
func twoDigits(a, b, hi byte) bool {
	return a >= '0' && a <= hi && b >= '0' && b <= '9'
}
