package datedetect

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file parses the regular expressions fail2ban date patterns are made of.
// They are Python `re` expressions, and they need what Go's regexp lacks:
// lookahead and lookbehind (fail2ban's word boundaries, the epoch template),
// back-references ((?P=_sep) in the default templates) and conditionals
// ((?(square)...)). So they get their own small backtracking engine
// (regex_prog.go, regex_exec.go) with a step budget instead of a linear-time
// guarantee. The syntax accepted is Python's, with its error cases; the
// semantics are Python's for str patterns (Unicode \w, \d, \s and \b, `$`
// before a final newline, leftmost-first alternation).

// reFlags are the inline flags of Python's re.
type reFlags uint8

const (
	flagIgnoreCase reFlags = 1 << iota // (?i)
	flagMultiline                      // (?m)
	flagDotAll                         // (?s)
	flagASCII                          // (?a)
	flagVerbose                        // (?x)
)

// errNothingToRepeat and the other parse errors carry Python's wording, so a
// user who tries the same pattern in fail2ban-regex recognises the message.
var errNothingToRepeat = errors.New("nothing to repeat")

type nodeKind uint8

const (
	ndEmpty   nodeKind = iota
	ndLit              // one rune: r
	ndClass            // a character class: cls
	ndAny              // `.`
	ndConcat           // subs in sequence
	ndAlt              // subs, first that leads to a match wins
	ndRepeat           // subs[0] between min and max (-1: unbounded) times
	ndGroup            // capturing group number idx around subs[0]
	ndAssert           // zero-width assertion: assert
	ndLook             // lookahead or lookbehind (behind, neg) of subs[0]
	ndBackref          // back-reference to group idx
	ndCond             // (?(idx)subs[0]|subs[1])
)

type assertKind uint8

const (
	asBeginLine    assertKind = iota // ^
	asEndLine                        // $
	asBeginText                      // \A
	asEndText                        // \Z
	asWordBoundary                   // \b
	asNotWordBound                   // \B
	// asNotInWord is fail2ban's word boundary, (?=^|\b|\W) before a date and
	// (?=\b|\W|$) after it: both hold exactly where the position is not
	// between two word characters. Recognised by the compiler, never parsed.
	asNotInWord
)

// node is one element of a parsed expression.
type node struct {
	kind   nodeKind
	flags  reFlags
	r      rune
	cls    *charClass
	subs   []*node
	min    int
	max    int
	greedy bool
	idx    int
	assert assertKind
	behind bool
	neg    bool
	// possessive is set by the compiler on an ndRepeat whose backtracking
	// could never help (see markPossessive).
	possessive bool
}

// parsedRegex is a parsed expression with its group table.
type parsedRegex struct {
	root    *node
	ngroups int            // capturing groups, group 0 excluded
	names   map[string]int // group name to number
	order   []string       // group names in the order they were defined
}

// maxRepeat bounds {m,n} counts, as a guard against patterns that would unroll
// into huge programs; fail2ban's own patterns stay far below.
const maxRepeat = 1000

type reParser struct {
	src    string
	pos    int
	flags  reFlags
	global reFlags // global flags found anywhere, e.g. (?i) in the middle
	groups int
	names  map[string]int
	order  []string
	open   map[int]bool // groups whose closing parenthesis is not seen yet
	behind int          // depth of lookbehinds being parsed
}

// parseRegex parses a Python regular expression.
func parseRegex(src string) (*parsedRegex, error) {
	p := &reParser{src: src}
	re, err := p.parse()
	if err != nil {
		return nil, err
	}
	if p.global&^p.flags != 0 {
		// Python before 3.11 applied a global flag found mid-pattern to the
		// whole pattern (fail2ban moves the first one to the front for the
		// same effect); parse again with it set from the start.
		p = &reParser{src: src, flags: p.global}
		return p.parse()
	}
	return re, nil
}

func (p *reParser) parse() (*parsedRegex, error) {
	p.names = map[string]int{}
	p.open = map[int]bool{}
	initial := p.flags
	p.global = initial
	root, err := p.parseAlt()
	if err != nil {
		return nil, p.errorf(err)
	}
	if p.pos < len(p.src) {
		return nil, p.errorf(errors.New("unbalanced parenthesis"))
	}
	p.flags = initial
	return &parsedRegex{root: root, ngroups: p.groups, names: p.names, order: p.order}, nil
}

func (p *reParser) errorf(err error) error {
	return fmt.Errorf("%w at position %d", err, p.pos)
}

func (p *reParser) more() bool { return p.pos < len(p.src) }

func (p *reParser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func (p *reParser) lookingAt(s string) bool { return strings.HasPrefix(p.src[p.pos:], s) }

// skipVerbose skips white space and comments in (?x) mode.
func (p *reParser) skipVerbose() {
	if p.flags&flagVerbose == 0 {
		return
	}
	for p.more() {
		c := p.src[p.pos]
		switch {
		case c == '#':
			for p.more() && p.src[p.pos] != '\n' {
				p.pos++
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			p.pos++
		default:
			return
		}
	}
}

func (p *reParser) parseAlt() (*node, error) {
	var alts []*node
	for {
		c, err := p.parseConcat()
		if err != nil {
			return nil, err
		}
		alts = append(alts, c)
		if p.peek() != '|' || !p.more() {
			break
		}
		p.pos++
	}
	if len(alts) == 1 {
		return alts[0], nil
	}
	return &node{kind: ndAlt, subs: alts}, nil
}

func (p *reParser) parseConcat() (*node, error) {
	var items []*node
	for {
		p.skipVerbose()
		if !p.more() || p.peek() == '|' || p.peek() == ')' {
			break
		}
		atom, err := p.parseAtom()
		if err != nil {
			return nil, err
		}
		if atom == nil { // a comment or a flag group
			continue
		}
		atom, err = p.parseQuantifiers(atom)
		if err != nil {
			return nil, err
		}
		items = append(items, atom)
	}
	switch len(items) {
	case 0:
		return &node{kind: ndEmpty}, nil
	case 1:
		return items[0], nil
	}
	return &node{kind: ndConcat, subs: items}, nil
}

// parseQuantifiers applies *, +, ?, {m,n} (and their lazy forms) to atom.
func (p *reParser) parseQuantifiers(atom *node) (*node, error) {
	p.skipVerbose()
	min, max, ok, err := p.parseQuantifier()
	if err != nil || !ok {
		return atom, err
	}
	if atom.kind == ndAssert {
		return nil, errNothingToRepeat
	}
	greedy := true
	if p.peek() == '?' && p.more() {
		p.pos++
		greedy = false
	}
	p.skipVerbose()
	if _, _, again, _ := p.peekQuantifier(); again {
		return nil, errors.New("multiple repeat")
	}
	return &node{kind: ndRepeat, subs: []*node{atom}, min: min, max: max, greedy: greedy}, nil
}

func (p *reParser) peekQuantifier() (int, int, bool, error) {
	save := p.pos
	min, max, ok, err := p.parseQuantifier()
	p.pos = save
	return min, max, ok, err
}

// parseQuantifier reads one quantifier; a `{` that does not start a valid
// {m,n} is a literal, as in Python.
func (p *reParser) parseQuantifier() (min, max int, ok bool, err error) {
	if !p.more() {
		return 0, 0, false, nil
	}
	switch p.src[p.pos] {
	case '*':
		p.pos++
		return 0, -1, true, nil
	case '+':
		p.pos++
		return 1, -1, true, nil
	case '?':
		p.pos++
		return 0, 1, true, nil
	case '{':
	default:
		return 0, 0, false, nil
	}
	i := p.pos + 1
	if i < len(p.src) && p.src[i] == '}' {
		return 0, 0, false, nil // "{}" is a literal in Python
	}
	lo := digitsAt(p.src, i)
	i += len(lo)
	hi := lo
	if i < len(p.src) && p.src[i] == ',' {
		i++
		hi = digitsAt(p.src, i)
		i += len(hi)
	}
	if i >= len(p.src) || p.src[i] != '}' {
		return 0, 0, false, nil
	}
	p.pos = i + 1
	min, max = 0, -1
	if lo != "" {
		if min, err = repeatCount(lo); err != nil {
			return 0, 0, false, err
		}
	}
	if hi != "" {
		if max, err = repeatCount(hi); err != nil {
			return 0, 0, false, err
		}
		if max < min {
			return 0, 0, false, errors.New("min repeat greater than max repeat")
		}
	}
	return min, max, true, nil
}

func digitsAt(s string, i int) string {
	j := i
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	return s[i:j]
}

func repeatCount(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n > maxRepeat {
		return 0, fmt.Errorf("repeat count %s is larger than %d", s, maxRepeat)
	}
	return n, nil
}

func (p *reParser) parseAtom() (*node, error) {
	c := p.src[p.pos]
	switch c {
	case '(':
		return p.parseGroup()
	case '[':
		p.pos++
		cls, err := p.parseClass()
		if err != nil {
			return nil, err
		}
		return &node{kind: ndClass, cls: cls}, nil
	case '.':
		p.pos++
		return &node{kind: ndAny, flags: p.flags}, nil
	case '^':
		p.pos++
		return &node{kind: ndAssert, assert: asBeginLine, flags: p.flags}, nil
	case '$':
		p.pos++
		return &node{kind: ndAssert, assert: asEndLine, flags: p.flags}, nil
	case '\\':
		return p.parseEscape()
	case '*', '+', '?':
		return nil, errNothingToRepeat
	case '{':
		if _, _, ok, _ := p.peekQuantifier(); ok {
			return nil, errNothingToRepeat
		}
	}
	r, w := utf8.DecodeRuneInString(p.src[p.pos:])
	p.pos += w
	return p.literal(r), nil
}

func (p *reParser) literal(r rune) *node {
	return &node{kind: ndLit, r: r, flags: p.flags}
}
