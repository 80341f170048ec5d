package datedetect

import (
	"unicode"
	"unicode/utf8"
)

// machine runs compiled programs by backtracking, with an explicit stack and
// a step budget: a pattern that would backtrack catastrophically on a long
// line gives up (no date) instead of hanging the filter. A machine holds no
// state between searches but its buffers; Match takes one from a pool, so
// matching does not allocate.
type machine struct {
	prog    *program
	s       string
	slots   []int32 // capture boundaries and loop registers; -1: unset
	stack   []frame // stack[:sp] is in use; it grows by doubling
	sp      int
	steps   int
	budget  int
	aborted bool // the budget or the stack limit was exceeded
}

// frame is a backtracking point, or an undo record for a slot.
type frame struct {
	kind frameKind
	pc   int32
	pos  int32
	a, b int32
}

type frameKind uint8

const (
	frSlot   frameKind = iota // on backtrack, slots[a] = b
	frAlt                     // on backtrack, resume at pc, pos
	frGreedy                  // a greedy repetition at pos may give back runes down to a
	frLazy                    // a lazy repetition of repeats[b], a times so far, may take more
	frLitAlt                  // litAlts[b] at pos may match its branch a or a later one
)

// maxStack bounds the backtracking stack; a pattern that needs more on some
// line gives up on that line.
const maxStack = 1 << 16

// reset prepares the machine for a search of prog in s.
func (m *machine) reset(prog *program, s string) {
	m.prog, m.s, m.aborted = prog, s, false
	if cap(m.slots) < prog.nslots {
		m.slots = make([]int32, prog.nslots)
	}
	m.slots = m.slots[:prog.nslots]
	for i := range m.slots {
		m.slots[i] = -1
	}
	m.sp = 0
}

// search finds the leftmost match of the program that starts at or before
// maxStart, as Python's re.search does. On success the slots hold the
// capture boundaries.
func (m *machine) search(prog *program, s string, maxStart int) bool {
	m.reset(prog, s)
	if maxStart < 0 {
		return false
	}
	if prog.anchored {
		return m.run(0, 0, -1)
	}
	last := min(len(s), maxStart)
	first, filter := &prog.first, !prog.nullable
	for pos, w := 0, 1; pos <= last; pos += w {
		if pos == len(s) {
			if filter {
				break
			}
		} else if c := s[pos]; c < utf8.RuneSelf {
			w = 1
			if filter && !hasBit(&first.ascii, rune(c)) {
				continue
			}
		} else {
			// Matches start on rune boundaries, as Python's do on code points.
			_, w = utf8.DecodeRuneInString(s[pos:])
			if filter && !first.wide {
				continue
			}
		}
		if m.run(0, int32(pos), -1) {
			return true
		}
		if m.aborted {
			return false
		}
	}
	return false
}

// canStart reports whether a match could start at p, by its first rune.
func (prog *program) canStart(s string, p int) bool {
	if prog.nullable {
		return true
	}
	if p >= len(s) {
		return false
	}
	if c := s[p]; c < utf8.RuneSelf {
		return hasBit(&prog.first.ascii, rune(c))
	}
	return prog.first.wide
}

// group returns the span of capture group g, or -1, -1.
func (m *machine) group(g int) (int, int) {
	a, b := m.slots[2*g], m.slots[2*g+1]
	if a < 0 || b < 0 {
		return -1, -1
	}
	return int(a), int(b)
}

func (m *machine) push(f frame) bool {
	if m.sp == len(m.stack) && !m.grow() {
		return false
	}
	m.stack[m.sp] = f
	m.sp++
	return true
}

func (m *machine) grow() bool {
	if len(m.stack) >= maxStack {
		m.aborted = true
		return false
	}
	bigger := make([]frame, max(64, 2*len(m.stack)))
	copy(bigger, m.stack)
	m.stack = bigger
	return true
}

// run executes the program from pc at pos. It returns true at an opMatch
// reached at endMust (any position when endMust < 0); on false every frame
// it pushed is gone and every slot it set is restored.
func (m *machine) run(pc, pos, endMust int32) bool {
	base := m.sp
	insts := m.prog.insts
	classes := m.prog.classes
	s := m.s
	steps, budget := m.steps, m.budget
	defer func() { m.steps = steps }()
	for {
		if steps++; steps > budget {
			m.aborted = true
			return false
		}
		in := &insts[pc]
		ok := true
		switch in.op {
		case opMatch:
			if endMust < 0 || pos == endMust {
				return true
			}
			ok = false
		case opByte:
			if int(pos) < len(s) && s[pos] == byte(in.arg) {
				pos++
				pc++
			} else {
				ok = false
			}
		case opClass:
			if int(pos) < len(s) && s[pos] < utf8.RuneSelf {
				if ok = hasBit(&classes[in.arg].ascii, rune(s[pos])); ok {
					pos++
					pc++
				}
				break
			}
			fallthrough
		case opFold, opRune, opAny, opAnyNL:
			if w := m.one(in, pos); w > 0 {
				pos += w
				pc++
			} else {
				ok = false
			}
		case opRepeat:
			var n int
			pos, n, ok = m.repeat(pc, in.arg, pos)
			steps += n
			pc++
		case opSplit:
			ok = m.push(frame{kind: frAlt, pc: in.y, pos: pos})
			pc = in.x
		case opJmp:
			pc = in.x
		case opSave, opMark:
			ok = m.push(frame{kind: frSlot, a: in.arg, b: m.slots[in.arg]})
			m.slots[in.arg] = pos
			pc++
		case opProgress:
			if m.slots[in.arg] == pos {
				pc = in.x
			} else {
				pc++
			}
		case opAssert:
			ok = m.assert(assertKind(in.arg), reFlags(in.x), pos)
			pc++
		case opLook:
			m.steps = steps
			ok = m.look(&m.prog.looks[in.arg], pos)
			steps = m.steps
			pc++
		case opBackref:
			var w int32
			w, ok = m.backref(in.arg, in.x != 0, pos)
			pos += w
			pc++
		case opLitAlt:
			ok = m.litAlt(pc, in.arg, &pos)
			pc++
		case opCond:
			if a, _ := m.group(int(in.arg)); a >= 0 {
				pc = in.x
			} else {
				pc = in.y
			}
		}
		if !ok {
			if m.aborted { // the stack limit, or the budget in a lookaround
				return false
			}
			if pc, pos, ok = m.backtrack(base); !ok {
				return false
			}
		}
	}
}

// backtrack pops frames down to base until one gives a new place to resume.
func (m *machine) backtrack(base int) (int32, int32, bool) {
	for m.sp > base {
		top := m.sp - 1
		f := &m.stack[top]
		switch f.kind {
		case frSlot:
			m.slots[f.a] = f.b
			m.sp = top
		case frAlt:
			m.sp = top
			return f.pc, f.pos, true
		case frGreedy:
			if f.pos <= f.a {
				m.sp = top
				continue
			}
			if c := m.s[f.pos-1]; c < utf8.RuneSelf {
				f.pos--
			} else {
				_, w := utf8.DecodeLastRuneInString(m.s[f.a:f.pos])
				f.pos -= int32(w)
			}
			return f.pc, f.pos, true
		case frLitAlt:
			la := &m.prog.litAlts[f.b]
			k, w := la.next(m.s, int(f.pos), int(f.a))
			if k < 0 {
				m.sp = top
				continue
			}
			pos := f.pos + int32(w)
			if later, _ := la.next(m.s, int(f.pos), k+1); later >= 0 {
				f.a = int32(later)
			} else {
				m.sp = top
			}
			return f.pc, pos, true
		case frLazy:
			rp := &m.prog.repeats[f.b]
			w := int32(0)
			if rp.max < 0 || int(f.a) < rp.max {
				w = m.one(&rp.one, f.pos)
			}
			if w == 0 {
				m.sp = top
				continue
			}
			f.pos += w
			f.a++
			if rp.max >= 0 && int(f.a) >= rp.max {
				m.sp = top
			}
			return f.pc, f.pos, true
		}
	}
	return 0, 0, false
}

// unwind pops every frame above h, restoring slots.
func (m *machine) unwind(h int) {
	for i := m.sp - 1; i >= h; i-- {
		if f := &m.stack[i]; f.kind == frSlot {
			m.slots[f.a] = f.b
		}
	}
	m.sp = h
}

// one matches a single-rune instruction at pos and returns its width, or 0.
func (m *machine) one(in *inst, pos int32) int32 {
	s := m.s
	if int(pos) >= len(s) {
		return 0
	}
	c := s[pos]
	if c < utf8.RuneSelf {
		switch in.op {
		case opByte:
			if c == byte(in.arg) {
				return 1
			}
		case opClass:
			if hasBit(&m.prog.classes[in.arg].ascii, rune(c)) {
				return 1
			}
		case opAny:
			if c != '\n' {
				return 1
			}
		case opAnyNL:
			return 1
		case opFold:
			if int32(c) == in.x || int32(c) == in.y {
				return 1
			}
		}
		return 0
	}
	r, w := utf8.DecodeRuneInString(s[pos:])
	switch in.op {
	case opClass:
		if m.prog.classes[in.arg].matches(r) {
			return int32(w)
		}
	case opAny, opAnyNL:
		return int32(w)
	case opRune:
		if r == in.arg {
			return int32(w)
		}
	case opFold:
		if equalFold(r, in.arg) {
			return int32(w)
		}
	}
	return 0
}

func equalFold(a, b rune) bool {
	if a == b {
		return true
	}
	for f := unicode.SimpleFold(a); f != a; f = unicode.SimpleFold(f) {
		if f == b {
			return true
		}
	}
	return false
}

// litAlt runs opLitAlt at *pos; a frame remembers the next branch that
// also matches, if any.
func (m *machine) litAlt(pc, idx int32, pos *int32) bool {
	la := &m.prog.litAlts[idx]
	k, w := la.next(m.s, int(*pos), 0)
	if k < 0 {
		return false
	}
	if later, _ := la.next(m.s, int(*pos), k+1); later >= 0 {
		if !m.push(frame{kind: frLitAlt, pc: pc + 1, pos: *pos, a: int32(later), b: idx}) {
			return false
		}
	}
	*pos += int32(w)
	return true
}

// repeat runs opRepeat: the minimum, then as many (greedy) or as few (lazy)
// more as the pattern lets, leaving one frame to backtrack through. It
// returns the new position, the runes it consumed (for the step budget) and
// whether it matched.
func (m *machine) repeat(pc, idx int32, pos int32) (int32, int, bool) {
	rp := &m.prog.repeats[idx]
	n := 0
	for ; n < rp.min; n++ {
		w := m.one(&rp.one, pos)
		if w == 0 {
			return pos, n, false
		}
		pos += w
	}
	if !rp.greedy {
		if rp.max < 0 || n < rp.max {
			return pos, n, m.push(frame{kind: frLazy, pc: pc + 1, pos: pos, a: int32(n), b: idx})
		}
		return pos, n, true
	}
	minPos := pos
	for ; rp.max < 0 || n < rp.max; n++ {
		w := m.one(&rp.one, pos)
		if w == 0 {
			break
		}
		pos += w
	}
	if pos > minPos && !rp.possessive {
		return pos, n, m.push(frame{kind: frGreedy, pc: pc + 1, pos: pos, a: minPos})
	}
	return pos, n, true
}

// assert tests a zero-width assertion at pos.
func (m *machine) assert(kind assertKind, flags reFlags, pos int32) bool {
	s, p := m.s, int(pos)
	switch kind {
	case asBeginLine:
		return p == 0 || flags&flagMultiline != 0 && s[p-1] == '\n'
	case asEndLine:
		return p == len(s) || p == len(s)-1 && s[p] == '\n' || flags&flagMultiline != 0 && s[p] == '\n'
	case asBeginText:
		return p == 0
	case asEndText:
		return p == len(s)
	case asWordBoundary:
		return wordBefore(s, p, flags) != wordAt(s, p, flags)
	case asNotWordBound:
		return wordBefore(s, p, flags) == wordAt(s, p, flags)
	case asNotInWord:
		return !wordBefore(s, p, flags) || !wordAt(s, p, flags)
	}
	return false
}

func wordAt(s string, p int, flags reFlags) bool {
	if p >= len(s) {
		return false
	}
	if c := s[p]; c < utf8.RuneSelf {
		return isASCIIWord(rune(c))
	}
	if flags&flagASCII != 0 {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s[p:])
	return isWordRune(r)
}

func wordBefore(s string, p int, flags reFlags) bool {
	if p <= 0 {
		return false
	}
	if c := s[p-1]; c < utf8.RuneSelf {
		return isASCIIWord(rune(c))
	}
	if flags&flagASCII != 0 {
		return false
	}
	r, _ := utf8.DecodeLastRuneInString(s[:p])
	return isWordRune(r)
}

// look runs a lookaround at pos. Like Python's, lookarounds are atomic: a
// lookahead that matched is not re-entered on backtracking, but the groups it
// captured stay set.
func (m *machine) look(lk *lookSpec, pos int32) bool {
	start, endMust := pos, int32(-1)
	if lk.behind {
		endMust = pos
		for i := 0; i < lk.width; i++ {
			if start <= 0 {
				return lk.neg
			}
			_, w := utf8.DecodeLastRuneInString(m.s[:start])
			start -= int32(w)
		}
	}
	h := m.sp
	if !m.run(lk.start, start, endMust) {
		return lk.neg && !m.aborted
	}
	if lk.neg {
		m.unwind(h)
		return false
	}
	// Keep the slot undo records, drop the alternatives.
	kept := h
	for i := h; i < m.sp; i++ {
		if m.stack[i].kind == frSlot {
			m.stack[kept] = m.stack[i]
			kept++
		}
	}
	m.sp = kept
	return true
}

// backref matches the text group g captured, at pos.
func (m *machine) backref(g int32, fold bool, pos int32) (int32, bool) {
	a, b := m.group(int(g))
	if a < 0 {
		return 0, false
	}
	want, rest := m.s[a:b], m.s[pos:]
	if !fold {
		if len(rest) >= len(want) && rest[:len(want)] == want {
			return int32(len(want)), true
		}
		return 0, false
	}
	n := 0
	for _, r := range want {
		if n >= len(rest) {
			return 0, false
		}
		q, w := utf8.DecodeRuneInString(rest[n:])
		if !equalFold(r, q) {
			return 0, false
		}
		n += w
	}
	return int32(n), true
}
