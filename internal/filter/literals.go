package filter

import "math/bits"

// This file finds which of a filter's required literals occur in a line,
// all in one pass (an Aho-Corasick automaton over bytes), so that only the
// regexes whose literal is present run. A regex without a required literal
// always runs.

// literalSet is the automaton for up to 64 literals.
type literalSet struct {
	class  [256]uint8 // byte -> column; 0 for bytes in no literal
	ncol   int
	next   []uint16 // state*ncol + column -> state
	out    []uint64 // state -> literals ending here (and at its suffixes)
	always uint64   // regexes without a literal (by regex bit)
	byLit  []uint64 // literal -> the regexes (bits) that need it
}

// maxLiterals is how many regexes the set can track (one bit each).
const maxLiterals = 64

// newLiteralSet builds the set for the regexes' literals; nil when there
// are too many regexes or the automaton would be too large.
func newLiteralSet(regexes []*regex) *literalSet {
	if len(regexes) > maxLiterals {
		return nil
	}
	ls := &literalSet{}
	index := map[string]int{}
	var lits []string
	for i, r := range regexes {
		if r.lit == "" {
			ls.always |= 1 << i
			continue
		}
		id, ok := index[r.lit]
		if !ok {
			id = len(lits)
			index[r.lit] = id
			lits = append(lits, r.lit)
			ls.byLit = append(ls.byLit, 0)
		}
		ls.byLit[id] |= 1 << i
	}
	if !ls.build(lits) {
		return nil
	}
	return ls
}

// maxStates bounds the automaton (states fit in uint16).
const maxStates = 1 << 15

// build makes the trie, its failure links and the transition table.
func (ls *literalSet) build(lits []string) bool {
	ls.ncol = 1
	for _, l := range lits {
		for i := 0; i < len(l); i++ {
			if ls.class[l[i]] == 0 {
				if ls.ncol == 255 {
					return false
				}
				ls.class[l[i]] = uint8(ls.ncol)
				ls.ncol++
			}
		}
	}
	// trie: goto[state][col], 0 meaning none (state 0 is the root)
	trie := [][]uint16{make([]uint16, ls.ncol)}
	out := []uint64{0}
	for id, l := range lits {
		s := 0
		for i := 0; i < len(l); i++ {
			c := ls.class[l[i]]
			if trie[s][c] == 0 {
				if len(trie) >= maxStates {
					return false
				}
				trie = append(trie, make([]uint16, ls.ncol))
				out = append(out, 0)
				trie[s][c] = uint16(len(trie) - 1)
			}
			s = int(trie[s][c])
		}
		out[s] |= 1 << id
	}
	ls.linkFailures(trie, out)
	return true
}

// linkFailures completes the transitions breadth-first, so the table has
// an entry for every state and column.
func (ls *literalSet) linkFailures(trie [][]uint16, out []uint64) {
	n := len(trie)
	ls.next = make([]uint16, n*ls.ncol)
	fail := make([]int, n)
	queue := []int{0}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for c := 0; c < ls.ncol; c++ {
			t := int(trie[s][c])
			switch {
			case t != 0 && s != 0:
				fail[t] = int(ls.next[fail[s]*ls.ncol+c])
				out[t] |= out[fail[t]]
				fallthrough
			case t != 0:
				ls.next[s*ls.ncol+c] = uint16(t)
				queue = append(queue, t)
			case s != 0:
				ls.next[s*ls.ncol+c] = ls.next[fail[s]*ls.ncol+c]
			}
		}
	}
	ls.out = out
}

// candidates returns the regexes (bits) whose literal occurs in s, plus
// those without one.
func (ls *literalSet) candidates(s string) uint64 {
	var found uint64
	state := 0
	for i := 0; i < len(s); i++ {
		state = int(ls.next[state*ls.ncol+int(ls.class[s[i]])])
		found |= ls.out[state]
	}
	regs := ls.always
	for found != 0 {
		id := bits.TrailingZeros64(found)
		found &= found - 1
		regs |= ls.byLit[id]
	}
	return regs
}
