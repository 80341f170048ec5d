package datedetect

import (
	"strings"
	"unicode/utf8"
)

// litAlt is an alternation of plain strings, such as the month names of %b:
// one instruction that tries the branches in order, instead of a chain of
// splits that each fail on the first character.
type litAlt struct {
	lits    []string    // the branches; lower case when fold
	fold    bool        // (?i)
	byFirst [128]uint64 // branches that can match when the line has this ASCII byte first
	always  uint64      // empty branches, which always match
}

// maxLitAlt is the most branches a litAlt takes (one bit each in a mask).
const maxLitAlt = 64

// newLitAlt builds a litAlt from alternation branches if each is a string
// of literals with the same case-folding.
func newLitAlt(subs []*node) (litAlt, bool) {
	la := litAlt{}
	if len(subs) < 2 || len(subs) > maxLitAlt {
		return la, false
	}
	first := true
	for i, sub := range subs {
		lit, fold, ok := literalString(sub)
		if !ok || (!first && fold != la.fold && lit != "") {
			return la, false
		}
		if lit != "" {
			la.fold, first = fold, false
		}
		if fold {
			lit = strings.Map(func(r rune) rune { // ASCII only: other runes compare by folding
				if r < utf8.RuneSelf {
					return rune(lowerASCII(byte(r)))
				}
				return r
			}, lit)
		}
		la.lits = append(la.lits, lit)
		bit := uint64(1) << i
		if lit == "" {
			la.always |= bit
			continue
		}
		for c := 0; c < utf8.RuneSelf; c++ {
			if equalFoldByte(byte(c), lit, fold) {
				la.byFirst[c] |= bit
			}
		}
	}
	return la, true
}

// equalFoldByte reports whether an ASCII byte can be the first of lit.
func equalFoldByte(c byte, lit string, fold bool) bool {
	r, _ := utf8.DecodeRuneInString(lit)
	if !fold {
		return rune(c) == r
	}
	return equalFold(rune(c), r)
}

// literalString returns the text of a node made of literals only.
func literalString(n *node) (string, bool, bool) {
	switch n.kind {
	case ndEmpty:
		return "", false, true
	case ndLit:
		return string(n.r), n.flags&flagIgnoreCase != 0, true
	case ndConcat:
		var b strings.Builder
		fold := false
		for i, sub := range n.subs {
			if sub.kind != ndLit {
				return "", false, false
			}
			f := sub.flags&flagIgnoreCase != 0
			if i > 0 && f != fold {
				return "", false, false
			}
			fold = f
			b.WriteRune(sub.r)
		}
		return b.String(), fold, true
	}
	return "", false, false
}

// next returns the first branch from `from` on that matches s at pos, and
// its width in s, or -1.
func (la *litAlt) next(s string, pos, from int) (int, int) {
	var mask uint64
	if pos < len(s) && s[pos] < utf8.RuneSelf {
		mask = la.byFirst[s[pos]] | la.always
	} else {
		mask = ^uint64(0) // a non-ASCII rune may fold to anything: check each
	}
	mask &^= uint64(1)<<from - 1
	for i := from; i < len(la.lits) && mask != 0; i++ {
		if mask&(1<<i) == 0 {
			continue
		}
		mask &^= 1 << i
		if w, ok := la.matchAt(i, s, pos); ok {
			return i, w
		}
	}
	return -1, 0
}

// matchAt matches branch i at pos.
func (la *litAlt) matchAt(i int, s string, pos int) (int, bool) {
	lit := la.lits[i]
	if !la.fold {
		if strings.HasPrefix(s[pos:], lit) {
			return len(lit), true
		}
		return 0, false
	}
	n := pos
	for _, want := range lit {
		if n >= len(s) {
			return 0, false
		}
		c := s[n]
		if c < utf8.RuneSelf {
			if want < utf8.RuneSelf && lowerASCII(c) != byte(want) ||
				want >= utf8.RuneSelf && !equalFold(rune(c), want) {
				return 0, false
			}
			n++
			continue
		}
		r, w := utf8.DecodeRuneInString(s[n:])
		if !equalFold(r, want) {
			return 0, false
		}
		n += w
	}
	return n - pos, true
}
