package datedetect

import "unicode/utf8"

// The lengths each element of a native matcher can match, in the order
// Python's backtracking would try them, and the byte tests they use.

// candidates lists the lengths element e can match at p, in Python's order.
func (r *nativeRun) candidates(e *elem, p int, c *cands) {
	s := r.s
	switch e.kind {
	case elYear20:
		if r.is(p, '2') && r.is(p+1, '0') && r.isDigit(p+2) && r.isDigit(p+3) {
			c.add(4)
		}
	case elSep:
		if r.in(p, e.set) {
			c.add(1)
		}
	case elSepRef, elLiteral:
		b := r.sep
		if e.kind == elLiteral {
			b = e.set[0]
		}
		if r.is(p, b) {
			c.add(1)
		}
	case elMonth: // 0?[1-9]|1[0-2]
		if r.is(p, '0') && r.inRange(p+1, '1', '9') {
			c.add(2)
		} else if r.inRange(p, '1', '9') {
			c.add(1)
		}
		if r.is(p, '1') && r.inRange(p+1, '0', '2') {
			c.add(2)
		}
	case elDay: // [1-2]\d|[0 ]?[1-9]|3[0-1]
		if r.inRange(p, '1', '2') && r.isDigit(p+1) {
			c.add(2)
		}
		if (r.is(p, '0') || r.is(p, ' ')) && r.inRange(p+1, '1', '9') {
			c.add(2)
		} else if r.inRange(p, '1', '9') {
			c.add(1)
		}
		if r.is(p, '3') && r.inRange(p+1, '0', '1') {
			c.add(2)
		}
	case elDateTimeT: // T|  ?
		if r.is(p, 'T') {
			c.add(1)
		} else if r.is(p, ' ') {
			if r.is(p+1, ' ') {
				c.add(2)
			}
			c.add(1)
		}
	case elHour: // [0-1]?\d|2[0-3]
		r.optDigit(p, '0', '1', c)
		if r.is(p, '2') && r.inRange(p+1, '0', '3') {
			c.add(2)
		}
	case elHourK: // " ?(?P<H>[0-2]?\d)"
		if r.is(p, ' ') {
			var h cands
			r.optDigit(p+1, '0', '2', &h)
			for k := 0; k < h.len; k++ {
				c.add(1 + int(h.n[k]))
			}
		}
		r.optDigit(p, '0', '2', c)
	case elMinute: // [0-5]?\d
		r.optDigit(p, '0', '5', c)
	case elSecond: // [0-5]?\d|6[0-1]
		r.optDigit(p, '0', '5', c)
		if r.is(p, '6') && r.inRange(p+1, '0', '1') {
			c.add(2)
		}
	case elFraction: // (?:[set][0-9]{1,6})?
		if r.in(p, e.set) {
			n := 0
			for n < 6 && p+1+n < len(s) && s[p+1+n] >= '0' && s[p+1+n] <= '9' {
				n++
			}
			for ; n >= 1; n-- {
				c.add(1 + n)
			}
		}
		c.add(0)
	case elZone:
		r.zoneCands(e, p, c)
	case elWeekday: // (?:%a )?
		if r.nameAt(p, weekdayAbbrs) && r.is(p+3, ' ') {
			c.add(4)
		}
		c.add(0)
	case elMonthAbbr:
		if r.nameAt(p, monthAbbrs) {
			c.add(3)
		}
	case elYearOpt: // (?: 20\d\d)?
		if r.is(p, ' ') && r.is(p+1, '2') && r.is(p+2, '0') && r.isDigit(p+3) && r.isDigit(p+4) {
			c.add(5)
		}
		c.add(0)
	case elOptByte:
		if r.in(p, e.set) {
			c.add(1)
		}
		c.add(0)
	case elYearAlt: // (?:20\d\d|\d{2})
		if r.is(p, '2') && r.is(p+1, '0') && r.isDigit(p+2) && r.isDigit(p+3) {
			c.add(4)
		}
		if r.isDigit(p) && r.isDigit(p+1) {
			c.add(2)
		}
	case elYear2:
		if r.isDigit(p) && r.isDigit(p+1) {
			c.add(2)
		}
	case elMonthEx: // 0[1-9]|1[0-2]
		if r.is(p, '0') && r.inRange(p+1, '1', '9') || r.is(p, '1') && r.inRange(p+1, '0', '2') {
			c.add(2)
		}
	case elDayEx: // [1-2]\d|0[1-9]|3[0-1]
		if r.inRange(p, '1', '2') && r.isDigit(p+1) || r.is(p, '0') && r.inRange(p+1, '1', '9') ||
			r.is(p, '3') && r.inRange(p+1, '0', '1') {
			c.add(2)
		}
	case elHourEx: // [0-1]\d|2[0-3]
		if r.inRange(p, '0', '1') && r.isDigit(p+1) || r.is(p, '2') && r.inRange(p+1, '0', '3') {
			c.add(2)
		}
	case elMinuteEx: // [0-5]\d
		if r.inRange(p, '0', '5') && r.isDigit(p+1) {
			c.add(2)
		}
	case elSecondEx: // [0-5]\d|6[0-1]
		if r.inRange(p, '0', '5') && r.isDigit(p+1) || r.is(p, '6') && r.inRange(p+1, '0', '1') {
			c.add(2)
		}
	case elZoneNameOpt: // (?:(?P<Z>Z|[A-Z]{3,5}) )? under (?i)
		if r.isFold(p, 'Z') && r.is(p+1, ' ') {
			c.add(2)
		}
		n := 0
		for n < 5 && r.isLetter(p+n) {
			n++
		}
		for ; n >= 3; n-- {
			if r.is(p+n, ' ') {
				c.add(n + 1)
			}
		}
		c.add(0)
	case elHour12: // 1[0-2]|0[1-9]|[1-9]
		if r.is(p, '1') && r.inRange(p+1, '0', '2') || r.is(p, '0') && r.inRange(p+1, '1', '9') {
			c.add(2)
		}
		if r.inRange(p, '1', '9') {
			c.add(1)
		}
	case elAMPM: // am|pm under (?i)
		if (r.isFold(p, 'A') || r.isFold(p, 'P')) && r.isFold(p+1, 'M') {
			c.add(2)
		}
	case elEpoch:
		r.epochCands(p, c)
	case elZoneOpt: // (?:%z )?
		var z cands
		r.zoneText(p, 0, &z)
		for k := 0; k < z.len; k++ {
			if n := int(z.n[k]); r.is(p+n, ' ') {
				c.add(n + 1)
			}
		}
		c.add(0)
	}
}

// epochCands lists \d{10,11}\b(?:\.\d{3,6})?: ten or eleven digits that
// end a word, then maybe a fraction (longest first, as \d{3,6} backtracks).
func (r *nativeRun) epochCands(p int, c *cands) {
	n := r.digitRun(p, 12)
	if r.unsure || n < 10 || n > 11 || wordAt(r.s, p+n, 0) {
		return
	}
	if r.is(p+n, '.') {
		f := r.digitRun(p+n+1, 7)
		if r.unsure {
			return
		}
		for k := min(f, 6); k >= 3; k-- {
			c.add(n + 1 + k)
		}
	}
	c.add(n)
}

// digitRun counts the ASCII digits at p, up to max.
func (r *nativeRun) digitRun(p, max int) int {
	n := 0
	for n < max && r.isDigit(p+n) {
		n++
	}
	return n
}

// isLetter is [A-Z] under (?iu): an ASCII letter; a non-ASCII letter may
// fold to one (ſ to S, K to K), which the machine handles.
func (r *nativeRun) isLetter(p int) bool {
	if p >= len(r.s) {
		return false
	}
	c := r.s[p]
	if c >= utf8.RuneSelf {
		r.unsure = true
		return false
	}
	c = lowerASCII(c)
	return c >= 'a' && c <= 'z'
}

// optDigit lists [lo-hi]?\d: two digits first, then one.
func (r *nativeRun) optDigit(p int, lo, hi byte, c *cands) {
	if r.inRange(p, lo, hi) && r.isDigit(p+1) {
		c.add(2)
	}
	if r.isDigit(p) {
		c.add(1)
	}
}

// zoneCands lists (?:\s*%z)? (set "") or (?: %z)? (set " "), %z being
// Z|UTC|GMT|[+-][01]\d(?::?\d{2})?.
func (r *nativeRun) zoneCands(e *elem, p int, c *cands) {
	if e.set != "" {
		if r.is(p, ' ') {
			r.zoneText(p+1, 1, c)
		}
		c.add(0)
		return
	}
	n := 0
	for p+n < len(r.s) {
		ch := r.s[p+n]
		if ch >= utf8.RuneSelf {
			r.unsure = true // maybe a Unicode space
			return
		}
		if !isPySpaceASCII(rune(ch)) {
			break
		}
		n++
	}
	// \s* gives back blanks one by one, but %z cannot start with one: only
	// the longest run can be followed by a zone.
	r.zoneText(p+n, n, c)
	c.add(0)
}

// zoneText adds the lengths of %z at p, plus lead.
func (r *nativeRun) zoneText(p, lead int, c *cands) {
	switch {
	case r.isFold(p, 'Z'):
		c.add(lead + 1)
	case r.isFold(p, 'U') && r.isFold(p+1, 'T') && r.isFold(p+2, 'C'),
		r.isFold(p, 'G') && r.isFold(p+1, 'M') && r.isFold(p+2, 'T'):
		c.add(lead + 3)
	case (r.is(p, '+') || r.is(p, '-')) && r.inRange(p+1, '0', '1') && r.isDigit(p+2):
		if r.is(p+3, ':') && r.isDigit(p+4) && r.isDigit(p+5) {
			c.add(lead + 6)
		} else if r.isDigit(p+3) && r.isDigit(p+4) {
			c.add(lead + 5)
		}
		c.add(lead + 3)
	}
}

// The three-letter names, packed as three lower-case bytes.
var (
	monthAbbrs   = packNames("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
	weekdayAbbrs = packNames("mon", "tue", "wed", "thu", "fri", "sat", "sun")
)

func packNames(names ...string) []uint32 {
	out := make([]uint32, len(names))
	for i, n := range names {
		out[i] = uint32(n[0])<<16 | uint32(n[1])<<8 | uint32(n[2])
	}
	return out
}

// nameAt reports whether one of the three-letter names is at p.
func (r *nativeRun) nameAt(p int, names []uint32) bool {
	if p+3 > len(r.s) {
		return false
	}
	var k uint32
	for i := range 3 {
		c := r.s[p+i]
		if c >= utf8.RuneSelf {
			r.unsure = true // ſ folds to s
			return false
		}
		if r.spec.fold {
			c = lowerASCII(c)
		}
		k = k<<8 | uint32(c)
	}
	for _, n := range names {
		if n == k {
			return true
		}
	}
	return false
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func (r *nativeRun) is(p int, b byte) bool { return p < len(r.s) && r.s[p] == b }

func (r *nativeRun) isFold(p int, upper byte) bool {
	if p >= len(r.s) {
		return false
	}
	c := r.s[p]
	return c == upper || r.spec.fold && c == upper+'a'-'A'
}

func (r *nativeRun) in(p int, set string) bool {
	if p >= len(r.s) {
		return false
	}
	for i := 0; i < len(set); i++ {
		if r.s[p] == set[i] {
			return true
		}
	}
	return false
}

func (r *nativeRun) inRange(p int, lo, hi byte) bool {
	return p < len(r.s) && r.s[p] >= lo && r.s[p] <= hi
}

// isDigit is \d: an ASCII digit; a non-ASCII character might be a digit of
// another script, which the machine handles.
func (r *nativeRun) isDigit(p int) bool {
	if p >= len(r.s) {
		return false
	}
	c := r.s[p]
	if c >= utf8.RuneSelf {
		r.unsure = true
		return false
	}
	return c >= '0' && c <= '9'
}
