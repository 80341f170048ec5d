package datedetect

import (
	"errors"
	"fmt"
	"math/bits"
	"unicode"
	"unicode/utf8"
)

// A parsed expression is compiled into a program for the backtracking
// machine of regex_exec.go: a flat list of instructions, with repetitions of
// a single character as one instruction (so `[^\[]*` costs one backtrack
// frame, not one per character) and lookarounds as sub-programs.

type opcode uint8

const (
	opMatch    opcode = iota
	opByte            // the ASCII byte arg
	opFold            // the rune arg in any case; x, y: its ASCII forms or -1
	opRune            // the non-ASCII rune arg
	opClass           // a rune of classes[arg]
	opAny             // any rune but \n
	opAnyNL           // any rune
	opRepeat          // repeats[arg]: one of the above, min to max times
	opSplit           // continue at x; on backtrack, at y
	opJmp             // continue at x
	opSave            // slots[arg] = position (capture boundaries)
	opAssert          // zero-width test assertKind(arg); x holds reFlags
	opLook            // lookaround looks[arg]
	opBackref         // the text group arg matched; x = 1 folds case
	opCond            // x if group arg matched, else y
	opMark            // slots[arg] = position (loop register)
	opProgress        // leave the loop at x if an iteration matched empty (slots[arg] = its start)
	opLitAlt          // the first of litAlts[arg] that matches; on backtrack, the next
)

type inst struct {
	op   opcode
	arg  int32
	x, y int32
}

// repeatSpec is a repetition of one single-character instruction.
type repeatSpec struct {
	one        inst // opByte, opFold, opRune, opClass, opAny or opAnyNL
	min, max   int  // max < 0: unbounded
	greedy     bool
	possessive bool // what follows can never match a repeated rune
}

// lookSpec is a lookaround: the sub-program at start, run at the current
// position (lookahead) or width runes before it (lookbehind).
type lookSpec struct {
	start  int32
	behind bool
	neg    bool
	width  int
}

// firstSet is what the first rune of a match can be: a prefilter that lets
// the search skip positions without starting the machine.
type firstSet struct {
	ascii [2]uint64
	wide  bool // a rune at or above utf8.RuneSelf may start a match
}

func (f *firstSet) union(g firstSet) {
	f.ascii[0] |= g.ascii[0]
	f.ascii[1] |= g.ascii[1]
	f.wide = f.wide || g.wide
}

// program is a compiled expression.
type program struct {
	insts    []inst
	classes  []*charClass
	repeats  []repeatSpec
	looks    []lookSpec
	litAlts  []litAlt
	ncap     int // capture slots: 2 per group, group 0 included
	nslots   int // capture slots and loop registers
	anchored bool
	nullable bool
	first    firstSet
	required []byte // bytes every match contains (punctuation only)
}

// maxInsts bounds program size; unrolled repetitions are what could grow it.
const maxInsts = 1 << 15

var errTooLarge = errors.New("pattern too large")

type pendingLook struct {
	idx int
	sub *node
}

type compiler struct {
	prog    *program
	pending []pendingLook
}

// compileRegex turns a parsed expression into a program.
func compileRegex(re *parsedRegex) (*program, error) {
	ncap := 2 * (re.ngroups + 1)
	c := &compiler{prog: &program{ncap: ncap, nslots: ncap}}
	c.emit(inst{op: opSave, arg: 0})
	if err := c.compile(re.root); err != nil {
		return nil, err
	}
	c.emit(inst{op: opSave, arg: 1})
	c.emit(inst{op: opMatch})
	for len(c.pending) > 0 {
		pl := c.pending[0]
		c.pending = c.pending[1:]
		c.prog.looks[pl.idx].start = int32(len(c.prog.insts))
		if err := c.compile(pl.sub); err != nil {
			return nil, err
		}
		c.emit(inst{op: opMatch})
	}
	if len(c.prog.insts) > maxInsts {
		return nil, errTooLarge
	}
	c.prog.anchored = isAnchored(re.root)
	c.prog.first, c.prog.nullable = firstOf(re.root)
	req := requiredOf(re.root)
	for b := rune(0); b < utf8.RuneSelf; b++ {
		if hasBit(&req, b) && !isASCIIWord(b) {
			c.prog.required = append(c.prog.required, byte(b))
		}
	}
	return c.prog, nil
}

// requiredOf returns the ASCII bytes every match of n contains: a line
// without one of them cannot match, which one IndexByte tells.
func requiredOf(n *node) [2]uint64 {
	var req [2]uint64
	switch n.kind {
	case ndLit:
		if n.r < utf8.RuneSelf && (n.flags&flagIgnoreCase == 0 || unicode.SimpleFold(n.r) == n.r) {
			setBit(&req, n.r)
		}
	case ndClass:
		if !n.cls.mayMatchWide() && bits.OnesCount64(n.cls.ascii[0])+bits.OnesCount64(n.cls.ascii[1]) == 1 {
			req = n.cls.ascii
		}
	case ndConcat:
		for _, sub := range n.subs {
			r := requiredOf(sub)
			req[0] |= r[0]
			req[1] |= r[1]
		}
	case ndAlt:
		req = requiredOf(n.subs[0])
		for _, sub := range n.subs[1:] {
			r := requiredOf(sub)
			req[0] &= r[0]
			req[1] &= r[1]
		}
	case ndRepeat:
		if n.min > 0 {
			req = requiredOf(n.subs[0])
		}
	case ndGroup:
		req = requiredOf(n.subs[0])
	}
	return req
}

func (c *compiler) emit(in inst) int32 {
	c.prog.insts = append(c.prog.insts, in)
	return int32(len(c.prog.insts) - 1)
}

func (c *compiler) pc() int32 { return int32(len(c.prog.insts)) }

func (c *compiler) compile(n *node) error {
	if len(c.prog.insts) > maxInsts {
		return errTooLarge
	}
	switch n.kind {
	case ndEmpty:
	case ndLit, ndClass, ndAny:
		c.emit(c.single(n))
	case ndConcat:
		for i, sub := range n.subs {
			if i+1 < len(n.subs) {
				markPossessive(sub, n.subs[i+1])
			}
			if err := c.compile(sub); err != nil {
				return err
			}
		}
	case ndAlt:
		return c.compileAlt(n.subs)
	case ndRepeat:
		return c.compileRepeat(n)
	case ndGroup:
		c.emit(inst{op: opSave, arg: int32(2 * n.idx)})
		if err := c.compile(n.subs[0]); err != nil {
			return err
		}
		c.emit(inst{op: opSave, arg: int32(2*n.idx + 1)})
	case ndAssert:
		c.emit(inst{op: opAssert, arg: int32(n.assert), x: int32(n.flags)})
	case ndLook:
		return c.compileLook(n)
	case ndBackref:
		fold := int32(0)
		if n.flags&flagIgnoreCase != 0 {
			fold = 1
		}
		c.emit(inst{op: opBackref, arg: int32(n.idx), x: fold})
	case ndCond:
		cond := c.emit(inst{op: opCond, arg: int32(n.idx)})
		c.prog.insts[cond].x = c.pc()
		if err := c.compile(n.subs[0]); err != nil {
			return err
		}
		jmp := c.emit(inst{op: opJmp})
		c.prog.insts[cond].y = c.pc()
		if err := c.compile(n.subs[1]); err != nil {
			return err
		}
		c.prog.insts[jmp].x = c.pc()
	default:
		return fmt.Errorf("internal error: node kind %d", n.kind)
	}
	return nil
}

// single is the instruction matching one rune for a literal, class or dot.
func (c *compiler) single(n *node) inst {
	switch n.kind {
	case ndClass:
		c.prog.classes = append(c.prog.classes, n.cls)
		return inst{op: opClass, arg: int32(len(c.prog.classes) - 1)}
	case ndAny:
		if n.flags&flagDotAll != 0 {
			return inst{op: opAnyNL}
		}
		return inst{op: opAny}
	}
	r := n.r
	if n.flags&flagIgnoreCase != 0 && unicode.SimpleFold(r) != r {
		in := inst{op: opFold, arg: r, x: -1, y: -1}
		for f := unicode.SimpleFold(r); ; f = unicode.SimpleFold(f) {
			if f < utf8.RuneSelf {
				if in.x < 0 {
					in.x = f
				} else if in.y < 0 && f != in.x {
					in.y = f
				}
			}
			if f == r {
				break
			}
		}
		return in
	}
	if r < utf8.RuneSelf {
		return inst{op: opByte, arg: r}
	}
	return inst{op: opRune, arg: r}
}

func (c *compiler) compileAlt(subs []*node) error {
	if la, ok := newLitAlt(subs); ok {
		c.prog.litAlts = append(c.prog.litAlts, la)
		c.emit(inst{op: opLitAlt, arg: int32(len(c.prog.litAlts) - 1)})
		return nil
	}
	var jumps []int32
	for i, sub := range subs {
		var split int32 = -1
		if i+1 < len(subs) {
			split = c.emit(inst{op: opSplit})
			c.prog.insts[split].x = c.pc()
		}
		if err := c.compile(sub); err != nil {
			return err
		}
		if split >= 0 {
			jumps = append(jumps, c.emit(inst{op: opJmp}))
			c.prog.insts[split].y = c.pc()
		}
	}
	for _, j := range jumps {
		c.prog.insts[j].x = c.pc()
	}
	return nil
}

func (c *compiler) compileRepeat(n *node) error {
	sub := n.subs[0]
	if sub.kind == ndLit || sub.kind == ndClass || sub.kind == ndAny {
		c.prog.repeats = append(c.prog.repeats, repeatSpec{
			one: c.single(sub), min: n.min, max: n.max, greedy: n.greedy, possessive: n.possessive,
		})
		c.emit(inst{op: opRepeat, arg: int32(len(c.prog.repeats) - 1)})
		return nil
	}
	for i := 0; i < n.min; i++ {
		if err := c.compile(sub); err != nil {
			return err
		}
	}
	if n.max < 0 {
		return c.compileStar(sub, n.greedy)
	}
	// Optional copies, nested: x{0,2} is (?:x(?:x)?)?.
	var splits []int32
	for i := n.min; i < n.max; i++ {
		s := c.emit(inst{op: opSplit})
		splits = append(splits, s)
		c.prog.insts[s].x = c.pc()
		if err := c.compile(sub); err != nil {
			return err
		}
	}
	for _, s := range splits {
		c.setBranches(s, n.greedy, c.prog.insts[s].x, c.pc())
	}
	return nil
}

// compileStar compiles sub* (or sub*? when lazy). A sub that can match the
// empty string gets a progress check: as in Python's engine, an iteration
// that matched nothing is kept (with its captures) but ends the loop, so it
// cannot spin in place.
func (c *compiler) compileStar(sub *node, greedy bool) error {
	loop := c.emit(inst{op: opSplit})
	body := c.pc()
	reg, progress := int32(-1), int32(-1)
	if nullable(sub) {
		reg = int32(c.prog.nslots)
		c.prog.nslots++
		c.emit(inst{op: opMark, arg: reg})
	}
	if err := c.compile(sub); err != nil {
		return err
	}
	if reg >= 0 {
		progress = c.emit(inst{op: opProgress, arg: reg})
	}
	c.emit(inst{op: opJmp, x: loop})
	c.setBranches(loop, greedy, body, c.pc())
	if progress >= 0 {
		c.prog.insts[progress].x = c.pc()
	}
	return nil
}

func (c *compiler) setBranches(split int32, greedy bool, body, exit int32) {
	if greedy {
		c.prog.insts[split].x, c.prog.insts[split].y = body, exit
	} else {
		c.prog.insts[split].x, c.prog.insts[split].y = exit, body
	}
}

func (c *compiler) compileLook(n *node) error {
	if !n.behind && !n.neg && isF2BBoundary(n.subs[0]) {
		c.emit(inst{op: opAssert, arg: int32(asNotInWord)})
		return nil
	}
	width := 0
	if n.behind {
		lo, hi := widthOf(n.subs[0])
		if lo != hi || hi < 0 {
			return errors.New("look-behind requires fixed-width pattern")
		}
		width = lo
	}
	c.prog.looks = append(c.prog.looks, lookSpec{behind: n.behind, neg: n.neg, width: width})
	idx := len(c.prog.looks) - 1
	c.pending = append(c.pending, pendingLook{idx: idx, sub: n.subs[0]})
	c.emit(inst{op: opLook, arg: int32(idx)})
	return nil
}

// isF2BBoundary recognises the alternations fail2ban puts in lookaheads
// around a date, ^|\b|\W and \b|\W|$ (in any order): both hold where the
// position is not between two word characters, which one instruction tests.
func isF2BBoundary(n *node) bool {
	if n.kind != ndAlt || len(n.subs) != 3 {
		return false
	}
	var seen [3]bool
	for _, s := range n.subs {
		switch {
		case s.kind == ndAssert && s.assert == asWordBoundary && s.flags&flagASCII == 0:
			seen[0] = true
		case s.kind == ndClass && isNotWordClass(s.cls):
			seen[1] = true
		case s.kind == ndAssert && s.flags&flagMultiline == 0 &&
			(s.assert == asBeginLine || s.assert == asEndLine):
			seen[2] = true
		default:
			return false
		}
	}
	return seen[0] && seen[1] && seen[2]
}

func isNotWordClass(c *charClass) bool {
	var w charClass
	w.addPerl('W', false)
	w.finish(false)
	return !c.neg && !c.fold && len(c.ranges) == 0 && c.uni == w.uni && c.ascii == w.ascii
}

// markPossessive makes a greedy single-rune repetition possessive when the
// next element can never match one of its runes: giving back a rune could
// then never help, and `[^\[]*\[` on a long line stays linear.
func markPossessive(rep, next *node) {
	if rep.kind != ndRepeat || !rep.greedy {
		return
	}
	sub := rep.subs[0]
	a, okA := runeSet(sub)
	b, okB := runeSet(next)
	if !okA || !okB {
		return
	}
	if a.ascii[0]&b.ascii[0] == 0 && a.ascii[1]&b.ascii[1] == 0 && !(a.wide && b.wide) {
		rep.possessive = true
	}
}

// runeSet is the set of runes a single-rune node matches.
func runeSet(n *node) (firstSet, bool) {
	switch n.kind {
	case ndLit, ndClass, ndAny:
		f, _ := firstOf(n)
		return f, true
	}
	return firstSet{}, false
}

func nullable(n *node) bool {
	_, null := firstOf(n)
	return null
}

// firstOf returns what the first rune of a match of n can be, and whether n
// can match the empty string.
func firstOf(n *node) (firstSet, bool) {
	var f firstSet
	switch n.kind {
	case ndLit:
		if n.flags&flagIgnoreCase == 0 {
			if n.r < utf8.RuneSelf {
				setBit(&f.ascii, n.r)
			} else {
				f.wide = true
			}
			return f, false
		}
		for r := unicode.SimpleFold(n.r); ; r = unicode.SimpleFold(r) {
			if r < utf8.RuneSelf {
				setBit(&f.ascii, r)
			} else {
				f.wide = true
			}
			if r == n.r {
				break
			}
		}
		return f, false
	case ndClass:
		return firstSet{ascii: n.cls.ascii, wide: n.cls.mayMatchWide()}, false
	case ndAny:
		f.ascii = [2]uint64{^uint64(0), ^uint64(0)}
		if n.flags&flagDotAll == 0 {
			f.ascii[0] &^= 1 << '\n'
		}
		f.wide = true
		return f, false
	case ndConcat:
		for _, sub := range n.subs {
			g, null := firstOf(sub)
			f.union(g)
			if !null {
				return f, false
			}
		}
		return f, true
	case ndAlt:
		anyNull := false
		for _, sub := range n.subs {
			g, null := firstOf(sub)
			f.union(g)
			anyNull = anyNull || null
		}
		return f, anyNull
	case ndRepeat:
		g, null := firstOf(n.subs[0])
		return g, null || n.min == 0
	case ndGroup:
		return firstOf(n.subs[0])
	case ndCond:
		g, nullY := firstOf(n.subs[0])
		h, nullN := firstOf(n.subs[1])
		g.union(h)
		return g, nullY || nullN
	case ndBackref:
		return firstSet{ascii: [2]uint64{^uint64(0), ^uint64(0)}, wide: true}, true
	}
	return f, true // empty, assertions, lookarounds
}

// isAnchored reports whether every match must start at position 0.
func isAnchored(n *node) bool {
	switch n.kind {
	case ndAssert:
		return n.assert == asBeginText || n.assert == asBeginLine && n.flags&flagMultiline == 0
	case ndConcat:
		return isAnchored(n.subs[0])
	case ndGroup:
		return isAnchored(n.subs[0])
	case ndAlt:
		for _, sub := range n.subs {
			if !isAnchored(sub) {
				return false
			}
		}
		return true
	}
	return false
}

// widthOf returns the minimum and maximum number of runes n matches (-1:
// unbounded), for lookbehinds, which Python requires to be fixed-width.
func widthOf(n *node) (int, int) {
	switch n.kind {
	case ndLit, ndClass, ndAny:
		return 1, 1
	case ndConcat:
		lo, hi := 0, 0
		for _, sub := range n.subs {
			l, h := widthOf(sub)
			lo += l
			if hi >= 0 && h >= 0 {
				hi += h
			} else {
				hi = -1
			}
		}
		return lo, hi
	case ndAlt, ndCond:
		lo, hi := widthOf(n.subs[0])
		for _, sub := range n.subs[1:] {
			l, h := widthOf(sub)
			lo = min(lo, l)
			if h < 0 || hi < 0 {
				hi = -1
			} else {
				hi = max(hi, h)
			}
		}
		return lo, hi
	case ndRepeat:
		l, h := widthOf(n.subs[0])
		if n.max < 0 || h < 0 {
			return l * n.min, -1
		}
		return l * n.min, h * n.max
	case ndGroup:
		return widthOf(n.subs[0])
	case ndBackref:
		return 0, -1
	}
	return 0, 0
}
