package filter

import "strings"

// A literal a line must contain is searched from its rarest byte: the
// search jumps (with strings.IndexByte, which is vectorised) to where that
// byte occurs and compares the literal around it. strings.Contains starts
// from the first byte, which in log text is often common: ": Too many
// authentication failures" would stop at every colon of every line.

// needle is a literal prepared for the search.
type needle struct {
	lit string
	k   int // index of the rarest byte in lit
}

func newNeedle(lit string) needle {
	n := needle{lit: lit}
	for i := 1; i < len(lit); i++ {
		if byteRank(lit[i]) < byteRank(lit[n.k]) {
			n.k = i
		}
	}
	return n
}

// in reports whether s contains the literal.
func (n *needle) in(s string) bool {
	lit := n.lit
	if len(lit) <= 1 || len(s) < len(lit) {
		return strings.Contains(s, lit)
	}
	b := lit[n.k]
	// the rare byte's position ranges over [k, len(s)-len(lit)+k]
	for from, last := n.k, len(s)-len(lit)+n.k; from <= last; {
		i := strings.IndexByte(s[from:last+1], b)
		if i < 0 {
			return false
		}
		start := from + i - n.k
		if s[start:start+len(lit)] == lit {
			return true
		}
		from += i + 1
	}
	return false
}

// byteRank is how rare a byte is in log text, lower is rarer: upper-case
// letters and most punctuation are rare, then the less common lower-case
// letters; digits, the common letters, '.', ':' and the blank are common.
func byteRank(c byte) int {
	const common = " etaoinsrhld0123456789.:cumfpgwybvkxjqz" // most common first
	if i := strings.IndexByte(common, c); i >= 0 {
		return 2*len(common) - i
	}
	return 0
}
