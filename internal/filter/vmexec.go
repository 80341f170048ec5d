package filter

import (
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// This file runs a compiled program (vm.go): a backtracking search in
// leftmost-first order that records visits at the program's join points,
// so an instruction runs a bounded number of times at each position.

// scan returns where the run of the loop's characters from pos ends.
func (in *vmInst) scan(s string, pos int) int {
	switch in.anyRun {
	case anyAll:
		return len(s)
	case anyNotNL:
		if i := strings.IndexByte(s[pos:], '\n'); i >= 0 {
			return pos + i
		}
		return len(s)
	}
	tab := in.ascii
	for pos < len(s) {
		c := s[pos]
		if c < utf8.RuneSelf {
			if !tab[c] {
				return pos
			}
			pos++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[pos:])
		if in.wide != nil && !in.wide.MatchRune(r) {
			return pos
		}
		pos += size
	}
	return pos
}

// loopChar returns the width of the loop's character at pos, 0 if none.
func (in *vmInst) loopChar(s string, pos int) int {
	if pos >= len(s) {
		return 0
	}
	c := s[pos]
	if c < utf8.RuneSelf {
		if in.ascii[c] {
			return 1
		}
		return 0
	}
	r, size := utf8.DecodeRuneInString(s[pos:])
	if in.wide == nil || in.wide.MatchRune(r) {
		return size
	}
	return 0
}

// vmJob is a backtracking choice point, or a capture slot to restore.
type vmJob struct {
	pc, pos int32
	lo      int32 // greedyBack: the loop's first position; lazyMore: where its run of characters ends
	lo2     int32 // greedyBack: the loop instruction
	kind    vmJobKind
}

// job makes a job from int positions (the program and the input are small
// enough for int32: fits bounds them).
func job(kind vmJobKind, pc, pos, lo, lo2 int) vmJob {
	return vmJob{pc: int32(pc), pos: int32(pos), lo: int32(lo), lo2: int32(lo2), kind: kind}
}

type vmJobKind uint8

const (
	jobRun        vmJobKind = iota
	jobRestore              // caps[pc] = pos
	jobGreedyBack           // try pc at pos, then at the rune before, down to lo
	jobLazyMore             // loop instruction pc: take one more character at pos
)

// vmMachine is the state of a run; one per goroutine (a Matcher has one).
type vmMachine struct {
	visited []uint64
	jobs    []vmJob
	caps    []int
	out     []int
}

// fits reports whether the VM can run on an input of n bytes.
func (p *vmProg) fits(n int) bool {
	return p.nmemo*(n+1) <= maxVMVisited
}

// find returns the leftmost-first match of s as submatch byte offsets
// (FindStringSubmatchIndex's layout), or nil. The result is m's and valid
// until m runs again. The caller checks fits.
func (p *vmProg) find(m *vmMachine, s string) []int {
	words := (p.nmemo*(len(s)+1) + 63) / 64
	if cap(m.visited) < words {
		m.visited = make([]uint64, words)
	} else {
		m.visited = m.visited[:words]
		clear(m.visited)
	}
	if cap(m.caps) < p.ncap {
		m.caps = make([]int, p.ncap)
	}
	m.caps = m.caps[:p.ncap]
	end := len(s)
	if p.anchored {
		end = 0
	}
	for start := 0; start <= end; start++ {
		for i := range m.caps {
			m.caps[i] = -1
		}
		if len(m.caps) > 0 {
			m.caps[0] = start
		}
		if p.try(m, s, start) {
			m.out = append(m.out[:0], m.caps...)
			return m.out
		}
		if start < len(s) && s[start] >= utf8.RuneSelf {
			_, size := utf8.DecodeRuneInString(s[start:])
			start += size - 1
		}
	}
	return nil
}

// try runs the program from pos; on success m.caps holds the submatches.
func (p *vmProg) try(m *vmMachine, s string, pos int) bool {
	width := len(s) + 1
	m.jobs = append(m.jobs[:0], job(jobRun, p.start, pos, 0, 0))
	for len(m.jobs) > 0 {
		j := m.jobs[len(m.jobs)-1]
		m.jobs = m.jobs[:len(m.jobs)-1]
		pc, pos, lo := int(j.pc), int(j.pos), int(j.lo)
		switch j.kind {
		case jobRestore:
			m.caps[pc] = pos
			continue
		case jobGreedyBack:
			loop := &p.inst[j.lo2]
			if lit := loop.lit; lit != "" {
				// the rest starts with lit: go straight to the last place it occurs
				i := strings.LastIndex(s[lo:min(len(s), pos+len(lit))], lit)
				if i < 0 {
					continue
				}
				pos = lo + i
			}
			if pos > lo {
				w := lastRuneWidth(s[lo:pos])
				m.jobs = append(m.jobs, job(jobGreedyBack, pc, pos-w, lo, int(j.lo2)))
			}
		case jobLazyMore:
			in := &p.inst[pc]
			if in.lit != "" {
				// the rest starts with lit: go straight to where it next occurs
				end := min(len(s), lo+len(in.lit))
				if pos+1 > end {
					continue
				}
				i := strings.Index(s[pos+1:end], in.lit)
				if i < 0 {
					continue
				}
				pos += 1 + i
			} else {
				w := in.loopChar(s, pos)
				if w == 0 {
					continue
				}
				pos += w
			}
			m.jobs = append(m.jobs, job(jobLazyMore, pc, pos, lo, 0))
			pc = in.out
		}
	step:
		for {
			in := &p.inst[pc]
			if in.memo >= 0 {
				bit := uint(in.memo*width + pos)
				w := &m.visited[bit>>6]
				if *w&(1<<(bit&63)) != 0 {
					break
				}
				*w |= 1 << (bit & 63)
			}
			switch in.op {
			case vmAlt:
				// try only the branches that can start here
				k := in.altEnd
				if pos < len(s) {
					k = in.alt[s[pos]]
				}
				switch k {
				case altOut | altArg:
					m.jobs = append(m.jobs, job(jobRun, in.arg, pos, 0, 0))
					pc = in.out
				case altOut:
					pc = in.out
				case altArg:
					pc = in.arg
				default:
					break step
				}
			case vmGreedy:
				start := pos
				pos = in.scan(s, pos)
				if in.lit != "" {
					m.jobs = append(m.jobs, job(jobGreedyBack, in.out, pos, start, pc))
					break step
				}
				if pos > start {
					w := lastRuneWidth(s[start:pos])
					m.jobs = append(m.jobs, job(jobGreedyBack, in.out, pos-w, start, pc))
				}
				pc = in.out
			case vmLazy:
				m.jobs = append(m.jobs, job(jobLazyMore, pc, pos, in.scan(s, pos), 0))
				pc = in.out
			case vmLiteral:
				if pos >= len(s) || s[pos] != in.lit[0] || len(s)-pos < len(in.lit) || s[pos:pos+len(in.lit)] != in.lit {
					break step
				}
				pos += len(in.lit)
				pc = in.out
			case vmByteClass:
				if pos >= len(s) {
					break step
				}
				if c := s[pos]; c < utf8.RuneSelf {
					if !in.ascii[c] {
						break step
					}
					pos++
				} else {
					r, size := utf8.DecodeRuneInString(s[pos:])
					if !in.wide.MatchRune(r) {
						break step
					}
					pos += size
				}
				pc = in.out
			case vmAny, vmAnyNotNL:
				if pos >= len(s) || in.op == vmAnyNotNL && s[pos] == '\n' {
					break step
				}
				if s[pos] < utf8.RuneSelf {
					pos++
				} else {
					_, size := utf8.DecodeRuneInString(s[pos:])
					pos += size
				}
				pc = in.out
			case vmCapture:
				if in.arg < len(m.caps) {
					if len(m.jobs) > 0 { // something to backtrack to: undo on the way back
						m.jobs = append(m.jobs, job(jobRestore, in.arg, m.caps[in.arg], 0, 0))
					}
					m.caps[in.arg] = pos
				}
				pc = in.out
			case vmEmpty:
				if !emptyOK(in.empty, s, pos) {
					break step
				}
				pc = in.out
			case vmNop:
				pc = in.out
			case vmMatch:
				if len(m.caps) > 1 {
					m.caps[1] = pos
				}
				return true
			default:
				break step
			}
		}
	}
	return false
}

// emptyOK checks a zero-width assertion at pos. It reads bytes, not
// characters, with the same result as syntax.EmptyOpContext on the
// characters around pos: '\n' is one byte and never part of another
// character, and the word characters of Go's \b are ASCII, while every
// byte of a multi-byte (or invalid) character is 0x80 or above.
func emptyOK(op syntax.EmptyOp, s string, pos int) bool {
	var ctx syntax.EmptyOp
	if pos == 0 {
		ctx |= syntax.EmptyBeginText | syntax.EmptyBeginLine
	} else if s[pos-1] == '\n' {
		ctx |= syntax.EmptyBeginLine
	}
	if pos == len(s) {
		ctx |= syntax.EmptyEndText | syntax.EmptyEndLine
	} else if s[pos] == '\n' {
		ctx |= syntax.EmptyEndLine
	}
	if (pos > 0 && isWordByte(s[pos-1])) != (pos < len(s) && isWordByte(s[pos])) {
		ctx |= syntax.EmptyWordBoundary
	} else {
		ctx |= syntax.EmptyNoWordBoundary
	}
	return ctx&op == op
}

// isWordByte is syntax.IsWordChar for a byte: [0-9A-Za-z_].
func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// lastRuneWidth is the width of the last character of s (not empty).
func lastRuneWidth(s string) int {
	if s[len(s)-1] < utf8.RuneSelf {
		return 1
	}
	_, w := utf8.DecodeLastRuneInString(s)
	return w
}
