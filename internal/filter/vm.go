package filter

import (
	"regexp/syntax"
	"unicode/utf8"
)

// This file compiles patterns Go's regexp accepts for a faster executor
// (vmexec.go). It takes the program Go compiles (regexp/syntax) and runs it
// by backtracking in leftmost-first order, recording visits of (instruction,
// position) at the program's join points, as Go's own "bit-state"
// backtracker does: every instruction runs a bounded number of times per
// position, so time stays linear in the input, and the result is the same
// match with the same submatches (vm_test.go compares the two on random and
// on real patterns). It is faster because it works on bytes (a character
// class is a 256-entry table for ASCII input), runs a loop over one
// character as one instruction, jumps to the literal a loop's continuation
// must start with, and at an alternation only tries the branches that can
// start with the next byte. Inputs too long for the visited set go to Go's
// regexp.

type vmOp uint8

const (
	vmFail vmOp = iota
	vmMatch
	vmAlt
	vmByteClass // one character from a class (ASCII table, runes for the rest)
	vmLiteral   // a run of literal bytes
	vmAny       // any character
	vmAnyNotNL  // any character but \n
	vmCapture
	vmEmpty
	vmNop
	vmGreedy // x* with x one character: take the longest run, give back one at a time
	vmLazy   // x*? with x one character: take one more only when the rest fails
)

type vmInst struct {
	ascii *[256]bool   // vmByteClass, loops: ASCII bytes that match
	wide  *syntax.Inst // vmByteClass, loops: the original, for other runes (nil: any rune)
	lit   string       // vmLiteral; loops: the literal the rest must start with ("" if unknown)
	out   int          // next instruction (vmGreedy, vmLazy: after the loop)
	arg   int          // vmAlt: the other branch; vmCapture: slot
	memo  int          // row in the visited set, -1 when visits are not recorded
	op    vmOp
	empty syntax.EmptyOp // vmEmpty
	// alt (vmAlt) holds, for each byte, which branches can start with it
	// (altOut, altArg); altEnd is the same at the end of the input.
	alt    *[256]uint8
	altEnd uint8
	// anyRun marks loops over any character (.*, .+): their run ends at
	// the end of the input or at the next \n, found without decoding
	// characters (any byte, valid UTF-8 or not, is some character).
	anyRun anyRunKind
}

// vmStart is what a match from an instruction can start with: first holds
// the bytes, nullable says it can also succeed without consuming any (then
// first says nothing). It is used to compile (alternation tables, the
// filter's index by first byte), so it is kept out of vmInst, which the
// executor wants small.
type vmStart struct {
	first    byteSet
	nullable bool
}

type anyRunKind uint8

const (
	anyNone  anyRunKind = iota
	anyAll              // (?s). : every character
	anyNotNL            // . : every character but \n
)

// byteSet is a set of bytes.
type byteSet [4]uint64

func (b *byteSet) add(c byte)      { b[c>>6] |= 1 << (c & 63) }
func (b *byteSet) has(c byte) bool { return b[c>>6]&(1<<(c&63)) != 0 }
func (b *byteSet) union(o *byteSet) bool { // reports whether b grew
	grew := false
	for i := range b {
		if n := b[i] | o[i]; n != b[i] {
			b[i], grew = n, true
		}
	}
	return grew
}

// vmProg is a compiled program.
type vmProg struct {
	inst     []vmInst
	starts   []vmStart // by instruction
	start    int
	ncap     int
	anchored bool // begins with \A: only position 0 is tried
	nmemo    int  // rows in the visited set
}

// maxVMVisited bounds the visited set (instructions x positions, in bits);
// longer inputs use Go's regexp.
const maxVMVisited = 1 << 20

// compileVM compiles a Go pattern for the VM; nil when it cannot.
func compileVM(pattern string) *vmProg {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	re = re.Simplify()
	p, err := syntax.Compile(re)
	if err != nil {
		return nil
	}
	vp := &vmProg{start: p.Start, ncap: p.NumCap, inst: make([]vmInst, len(p.Inst))}
	vp.anchored = startsAnchored(p)
	for i := range p.Inst {
		in := &p.Inst[i]
		v := &vp.inst[i]
		v.out = int(in.Out)
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			v.op, v.arg = vmAlt, int(in.Arg)
		case syntax.InstCapture:
			v.op, v.arg = vmCapture, int(in.Arg)
		case syntax.InstEmptyWidth:
			v.op, v.empty = vmEmpty, syntax.EmptyOp(in.Arg)
		case syntax.InstMatch:
			v.op = vmMatch
		case syntax.InstFail:
			v.op = vmFail
		case syntax.InstNop:
			v.op = vmNop
		case syntax.InstRuneAny:
			v.op = vmAny
		case syntax.InstRuneAnyNotNL:
			v.op = vmAnyNotNL
		case syntax.InstRune, syntax.InstRune1:
			compileRuneInst(v, in)
		default:
			return nil
		}
	}
	vp.mergeLiterals()
	vp.findLoops()
	vp.placeMemo()
	vp.computeFirst()
	vp.tabulateAlts()
	return vp
}

// Bits of an alternation's table: which branches can start with a byte.
const (
	altOut = 1 << iota // the preferred branch (out)
	altArg             // the other branch (arg)
)

// tabulateAlts gives every alternation the table of the branches that can
// start with each byte, so the executor decides with one look-up.
func (p *vmProg) tabulateAlts() {
	for i := range p.inst {
		in := &p.inst[i]
		if in.op != vmAlt {
			continue
		}
		out, arg := &p.starts[in.out], &p.starts[in.arg]
		tab := new([256]uint8)
		for c := range tab {
			if out.nullable || out.first.has(byte(c)) {
				tab[c] |= altOut
			}
			if arg.nullable || arg.first.has(byte(c)) {
				tab[c] |= altArg
			}
		}
		in.alt = tab
		if out.nullable {
			in.altEnd |= altOut
		}
		if arg.nullable {
			in.altEnd |= altArg
		}
	}
}

// computeFirst fills in starts (first and nullable) for every instruction, by
// iterating to a fixed point (loops make the graph cyclic).
func (p *vmProg) computeFirst() {
	p.starts = make([]vmStart, len(p.inst))
	for changed := true; changed; {
		changed = false
		for i := range p.inst {
			in, st := &p.inst[i], &p.starts[i]
			var set byteSet
			nullable := false
			switch in.op {
			case vmMatch:
				nullable = true
			case vmFail:
			case vmAlt:
				set, nullable = p.starts[in.out].first, p.starts[in.out].nullable || p.starts[in.arg].nullable
				set.union(&p.starts[in.arg].first)
			case vmGreedy, vmLazy:
				set = in.classSet()
				set.union(&p.starts[in.out].first)
				nullable = p.starts[in.out].nullable
			case vmByteClass:
				set = in.classSet()
			case vmLiteral:
				set.add(in.lit[0])
			case vmAny, vmAnyNotNL:
				for c := 0; c < 256; c++ {
					if in.op == vmAny || c != '\n' {
						set.add(byte(c))
					}
				}
			default: // vmCapture, vmNop, vmEmpty: see through
				set, nullable = p.starts[in.out].first, p.starts[in.out].nullable
			}
			if st.first.union(&set) {
				changed = true
			}
			if nullable && !st.nullable {
				st.nullable, changed = true, true
			}
		}
	}
}

// classSet is the set of first bytes of a character class (or loop): its
// ASCII members, and every non-ASCII byte when it may match a rune beyond
// ASCII (or the U+FFFD an invalid byte reads as).
func (in *vmInst) classSet() byteSet {
	var set byteSet
	for c := 0; c < utf8.RuneSelf; c++ {
		if in.ascii[c] {
			set.add(byte(c))
		}
	}
	if in.wide == nil || in.wide.Op != syntax.InstFail {
		for c := utf8.RuneSelf; c < 256; c++ {
			set.add(byte(c))
		}
	}
	return set
}

// placeMemo chooses the instructions that record visits: those that more
// than one path can reach (jump targets with several predecessors, the
// start, and the targets of backtracking). An instruction with one
// predecessor is reached at a position at most as often as that
// predecessor, so recording the join points keeps every instruction at
// most once per position, the guarantee that keeps matching linear.
func (p *vmProg) placeMemo() {
	preds := make([]int, len(p.inst))
	for i := range p.inst {
		in := &p.inst[i]
		switch in.op {
		case vmFail, vmMatch:
			continue
		case vmAlt:
			preds[in.arg] += 2 // also entered from the job stack
		}
		preds[in.out]++
		if in.op == vmGreedy || in.op == vmLazy {
			preds[in.out]++ // re-entered for each position given back or taken
			preds[i]++
		}
	}
	preds[p.start] += 2
	for i, n := range preds {
		p.inst[i].memo = -1
		if n > 1 {
			p.inst[i].memo = p.nmemo
			p.nmemo++
		}
	}
}

// findLoops turns "L: alt(X, next); X: one character, back to L" into a
// single loop instruction at L (and the lazy form, alt(next, X)).
func (p *vmProg) findLoops() {
	for i := range p.inst {
		v := &p.inst[i]
		if v.op != vmAlt {
			continue
		}
		switch {
		case p.oneChar(v.out, i):
			p.makeLoop(v, vmGreedy, v.out, v.arg)
		case p.oneChar(v.arg, i):
			p.makeLoop(v, vmLazy, v.arg, v.out)
		}
	}
}

// oneChar reports whether instruction x matches one character and jumps
// back to loop.
func (p *vmProg) oneChar(x, loop int) bool {
	in := &p.inst[x]
	if in.out != loop {
		return false
	}
	switch in.op {
	case vmByteClass, vmAny, vmAnyNotNL:
		return true
	case vmLiteral:
		return len(in.lit) == 1
	}
	return false
}

func (p *vmProg) makeLoop(v *vmInst, op vmOp, body, next int) {
	b := &p.inst[body]
	switch b.op {
	case vmByteClass:
		v.ascii, v.wide = b.ascii, b.wide
	case vmLiteral:
		var tab [256]bool
		tab[b.lit[0]] = true
		v.ascii = &tab
		v.wide = &syntax.Inst{Op: syntax.InstFail}
	default: // any character, with or without \n
		var tab [256]bool
		for c := range tab {
			tab[c] = b.op == vmAny || c != '\n'
		}
		v.ascii, v.wide = &tab, nil
		v.anyRun = anyAll
		if b.op == vmAnyNotNL {
			v.anyRun = anyNotNL
		}
	}
	v.op, v.out, v.arg = op, next, body
	v.lit = p.leadingLiteral(next)
}

// leadingLiteral returns the literal that whatever runs from pc must match
// first (only captures may come before it), or "".
func (p *vmProg) leadingLiteral(pc int) string {
	for n := 0; n < len(p.inst); n++ {
		in := &p.inst[pc]
		switch in.op {
		case vmCapture, vmNop:
			pc = in.out
		case vmLiteral:
			return in.lit
		default:
			return ""
		}
	}
	return ""
}

// startsAnchored reports whether every match must start at position 0.
func startsAnchored(p *syntax.Prog) bool {
	pc := p.Start
	for {
		in := &p.Inst[pc]
		switch in.Op {
		case syntax.InstCapture, syntax.InstNop:
			pc = int(in.Out)
		case syntax.InstEmptyWidth:
			return syntax.EmptyOp(in.Arg)&syntax.EmptyBeginText != 0
		default:
			return false
		}
	}
}

// compileRuneInst turns a character instruction into a byte class, or a
// one-byte literal when it matches a single ASCII character.
func compileRuneInst(v *vmInst, in *syntax.Inst) {
	if len(in.Rune) == 1 && in.Rune[0] < utf8.RuneSelf && syntax.Flags(in.Arg)&syntax.FoldCase == 0 {
		v.op, v.lit = vmLiteral, string(rune(in.Rune[0]))
		return
	}
	var tab [256]bool
	for c := 0; c < utf8.RuneSelf; c++ {
		tab[c] = in.MatchRune(rune(c))
	}
	v.op, v.ascii, v.wide = vmByteClass, &tab, in
}

// mergeLiterals joins chains of one-byte literals into longer ones (the
// first instruction of a chain takes the whole run; the others stay for
// jumps into the middle, which compiled programs do not make for literals).
func (p *vmProg) mergeLiterals() {
	for i := range p.inst {
		v := &p.inst[i]
		if v.op != vmLiteral {
			continue
		}
		lit, next := v.lit, v.out
		for p.inst[next].op == vmLiteral && len(p.inst[next].lit) == 1 && next != i {
			lit += p.inst[next].lit
			next = p.inst[next].out
			if len(lit) > 64 {
				break
			}
		}
		v.lit, v.out = lit, next
	}
}
