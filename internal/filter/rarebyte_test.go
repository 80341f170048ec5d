package filter

import (
	"math/rand"
	"strings"
	"testing"
)

// TestNeedleEqualsContains compares the rare-byte search with
// strings.Contains on random texts made of the literal's own pieces, so
// that near misses, overlaps and matches at either end are common.
func TestNeedleEqualsContains(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	lits := []string{": Too many authentication failures", "Received disconnect from ", " from ", "3: ", "aa", "aab",
		"a", "abab", "T", "é", "\x00\xff", ": Auth fail", "[preauth]", "xTx"}
	pieces := []string{"a", "b", "T", ":", " ", "x", "é", "\xff", "\x00", "Too", " from", "m", "aa", "ab"}
	for i := 0; i < 200000; i++ {
		lit := lits[rng.Intn(len(lits))]
		var b strings.Builder
		for n := rng.Intn(12); n > 0; n-- {
			if rng.Intn(6) == 0 {
				l := lits[rng.Intn(len(lits))]
				b.WriteString(l[:rng.Intn(len(l)+1)])
			} else {
				b.WriteString(pieces[rng.Intn(len(pieces))])
			}
		}
		if rng.Intn(5) == 0 {
			b.WriteString(lit)
		}
		s := b.String()
		n := newNeedle(lit)
		if got, want := n.in(s), strings.Contains(s, lit); got != want {
			t.Fatalf("%q in %q: %v, want %v (rare byte at %d)", lit, s, got, want, n.k)
		}
	}
}
