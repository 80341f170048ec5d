package datedetect

import (
	"unicode"
	"unicode/utf8"
)

// charClass is a set of runes with Python's semantics for str patterns: \d,
// \w and \s are Unicode-aware unless (?a) is set, and (?i) folds case.
// ASCII membership is a bitmap, so the common case is one bit test.
type charClass struct {
	ascii  [2]uint64   // ASCII membership, negation and case folding applied
	raw    [2]uint64   // ASCII members as written, before negation
	ranges []runeRange // members at or above utf8.RuneSelf, before negation
	uni    uniSet      // Unicode categories the class includes (\d, \W, ...)
	neg    bool
	fold   bool
}

type runeRange struct{ lo, hi rune }

// uniSet names the Unicode-wide Perl classes a class includes.
type uniSet uint8

const (
	uniDigit uniSet = 1 << iota
	uniNotDigit
	uniWord
	uniNotWord
	uniSpace
	uniNotSpace
	uniAll // every rune at or above utf8.RuneSelf (\D, \W, \S under (?a))
)

func setBit(b *[2]uint64, c rune) { b[c>>6] |= 1 << (uint(c) & 63) }

func hasBit(b *[2]uint64, c rune) bool { return b[c>>6]&(1<<(uint(c)&63)) != 0 }

func (c *charClass) addRange(lo, hi rune) {
	for r := lo; r <= hi && r < utf8.RuneSelf; r++ {
		setBit(&c.raw, r)
	}
	if hi >= utf8.RuneSelf {
		c.ranges = append(c.ranges, runeRange{max(lo, utf8.RuneSelf), hi})
	}
}

// addPerl adds \d, \D, \w, \W, \s or \S.
func (c *charClass) addPerl(letter byte, asciiOnly bool) {
	var in func(rune) bool
	var wide, notWide uniSet
	switch letter | 0x20 {
	case 'd':
		in, wide, notWide = isASCIIDigit, uniDigit, uniNotDigit
	case 'w':
		in, wide, notWide = isASCIIWord, uniWord, uniNotWord
	default:
		in, wide, notWide = isPySpaceASCII, uniSpace, uniNotSpace
		if asciiOnly {
			in = isASCIISpace
		}
	}
	negated := letter >= 'A' && letter <= 'Z'
	for r := rune(0); r < utf8.RuneSelf; r++ {
		if in(r) != negated {
			setBit(&c.raw, r)
		}
	}
	switch {
	case negated && asciiOnly:
		c.uni |= uniAll
	case negated:
		c.uni |= notWide
	case !asciiOnly:
		c.uni |= wide
	}
}

// finish computes the ASCII bitmap after folding and negation.
func (c *charClass) finish(fold bool) {
	c.fold = fold
	if fold {
		for r := rune(0); r < utf8.RuneSelf; r++ {
			if !hasBit(&c.raw, r) {
				continue
			}
			for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
				if f < utf8.RuneSelf {
					setBit(&c.raw, f)
				}
			}
		}
		// Non-ASCII members that fold to ASCII (the Kelvin sign to k).
		for _, rg := range c.ranges {
			for r := rg.lo; r <= rg.hi && r-rg.lo < 1024; r++ {
				for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
					if f < utf8.RuneSelf {
						setBit(&c.raw, f)
					}
				}
			}
		}
	}
	c.ascii = c.raw
	if c.neg {
		c.ascii[0], c.ascii[1] = ^c.ascii[0], ^c.ascii[1]
	}
}

// matches reports whether r is in the class.
func (c *charClass) matches(r rune) bool {
	if r < utf8.RuneSelf {
		return hasBit(&c.ascii, r)
	}
	in := c.wideMember(r)
	if !in && c.fold {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < utf8.RuneSelf && hasBit(&c.raw, f) || f >= utf8.RuneSelf && c.wideMember(f) {
				in = true
				break
			}
		}
	}
	return in != c.neg
}

func (c *charClass) wideMember(r rune) bool {
	for _, rg := range c.ranges {
		if r >= rg.lo && r <= rg.hi {
			return true
		}
	}
	u := c.uni
	switch {
	case u == 0:
		return false
	case u&uniAll != 0:
		return true
	case u&uniDigit != 0 && unicode.IsDigit(r), u&uniNotDigit != 0 && !unicode.IsDigit(r):
		return true
	case u&uniWord != 0 && isWordRune(r), u&uniNotWord != 0 && !isWordRune(r):
		return true
	case u&uniSpace != 0 && unicode.IsSpace(r), u&uniNotSpace != 0 && !unicode.IsSpace(r):
		return true
	}
	return false
}

// mayMatchWide reports whether some rune at or above utf8.RuneSelf could be
// in the class (a conservative answer is fine: it only drives a prefilter).
func (c *charClass) mayMatchWide() bool {
	if c.neg || c.uni != 0 || len(c.ranges) > 0 {
		return true
	}
	if c.fold {
		for r := rune(0); r < utf8.RuneSelf; r++ {
			if hasBit(&c.raw, r) && unicode.SimpleFold(unicode.SimpleFold(r)) != r {
				return true // e.g. k, whose fold orbit holds the Kelvin sign
			}
		}
	}
	return false
}

func isASCIIDigit(r rune) bool { return r >= '0' && r <= '9' }

func isASCIIWord(r rune) bool {
	return r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
}

func isASCIISpace(r rune) bool {
	return r == ' ' || r >= '\t' && r <= '\r'
}

// isPySpaceASCII is Python's str.isspace() on ASCII: it includes the
// separators \x1c to \x1f.
func isPySpaceASCII(r rune) bool { return isASCIISpace(r) || r >= 0x1c && r <= 0x1f }

// isWordRune is \w for str patterns: letters, numbers and the underscore.
func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return isASCIIWord(r)
	}
	return unicode.IsLetter(r) || unicode.IsNumber(r)
}
