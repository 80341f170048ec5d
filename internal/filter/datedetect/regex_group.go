package datedetect

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Parsing of the parenthesised constructs of Python regular expressions:
// groups, named groups and references to them, lookarounds, conditionals,
// comments and inline flags.

func (p *reParser) parseGroup() (*node, error) {
	p.pos++ // (
	if !p.lookingAt("?") {
		p.groups++
		return p.groupBody(p.groups, "")
	}
	p.pos++
	switch {
	case p.lookingAt("P<"):
		p.pos += 2
		name, err := p.groupName('>')
		if err != nil {
			return nil, err
		}
		if _, dup := p.names[name]; dup {
			return nil, fmt.Errorf("redefinition of group name %q", name)
		}
		p.groups++
		p.names[name] = p.groups
		p.order = append(p.order, name)
		return p.groupBody(p.groups, name)
	case p.lookingAt("P="):
		p.pos += 2
		name, err := p.groupName(')')
		if err != nil {
			return nil, err
		}
		idx, ok := p.names[name]
		if !ok {
			return nil, fmt.Errorf("unknown group name %q", name)
		}
		return p.backref(idx)
	case p.lookingAt(":"):
		p.pos++
		return p.nonCapturing(p.flags)
	case p.lookingAt("="), p.lookingAt("!"):
		neg := p.src[p.pos] == '!'
		p.pos++
		return p.lookaround(false, neg)
	case p.lookingAt("<="), p.lookingAt("<!"):
		neg := p.src[p.pos+1] == '!'
		p.pos += 2
		return p.lookaround(true, neg)
	case p.lookingAt("#"):
		end := strings.IndexByte(p.src[p.pos:], ')')
		if end < 0 {
			return nil, errors.New("missing ), unterminated comment")
		}
		p.pos += end + 1
		return nil, nil
	case p.lookingAt("("):
		p.pos++
		return p.conditional()
	}
	return p.flagGroup()
}

// groupName reads a group name up to the terminator.
func (p *reParser) groupName(term byte) (string, error) {
	end := strings.IndexByte(p.src[p.pos:], term)
	if end < 0 {
		return "", errors.New("missing group name terminator")
	}
	name := p.src[p.pos : p.pos+end]
	if !isIdentifier(name) {
		return "", fmt.Errorf("bad character in group name %q", name)
	}
	p.pos += end + 1
	return name, nil
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r != '_' && !unicode.IsLetter(r) && (i == 0 || !unicode.IsDigit(r)) {
			return false
		}
	}
	return true
}

func (p *reParser) groupBody(idx int, name string) (*node, error) {
	p.open[idx] = true
	sub, err := p.parseAlt()
	if err != nil {
		return nil, err
	}
	if err := p.closeParen(); err != nil {
		return nil, err
	}
	delete(p.open, idx)
	return &node{kind: ndGroup, idx: idx, subs: []*node{sub}}, nil
}

func (p *reParser) closeParen() error {
	if p.peek() != ')' || !p.more() {
		return errors.New("missing ), unterminated subpattern")
	}
	p.pos++
	return nil
}

func (p *reParser) nonCapturing(flags reFlags) (*node, error) {
	saved := p.flags
	p.flags = flags
	sub, err := p.parseAlt()
	p.flags = saved
	if err != nil {
		return nil, err
	}
	// Wrapped, so that (?:^)* is a repeated group, which Python allows,
	// and not a repeated assertion, which it rejects.
	return &node{kind: ndConcat, subs: []*node{sub}}, p.closeParen()
}

func (p *reParser) lookaround(behind, neg bool) (*node, error) {
	if behind {
		p.behind++
	}
	sub, err := p.parseAlt()
	if behind {
		p.behind--
	}
	if err != nil {
		return nil, err
	}
	if err := p.closeParen(); err != nil {
		return nil, err
	}
	return &node{kind: ndLook, behind: behind, neg: neg, subs: []*node{sub}}, nil
}

func (p *reParser) backref(idx int) (*node, error) {
	if p.open[idx] {
		return nil, errors.New("cannot refer to an open group")
	}
	if p.behind > 0 {
		return nil, errors.New("cannot use group reference in lookbehind")
	}
	return &node{kind: ndBackref, idx: idx, flags: p.flags}, nil
}

// conditional parses (?(id/name)yes|no) after its "(?(".
func (p *reParser) conditional() (*node, error) {
	end := strings.IndexByte(p.src[p.pos:], ')')
	if end < 0 {
		return nil, errors.New("missing ), unterminated name")
	}
	ref := p.src[p.pos : p.pos+end]
	p.pos += end + 1
	idx, ok := p.names[ref]
	if !ok {
		n, err := strconv.Atoi(ref)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad character in group name %q", ref)
		}
		if n > p.groups {
			return nil, fmt.Errorf("invalid group reference %d", n)
		}
		idx = n
	}
	yes, err := p.parseConcat()
	if err != nil {
		return nil, err
	}
	no := &node{kind: ndEmpty}
	if p.peek() == '|' && p.more() {
		p.pos++
		if no, err = p.parseConcat(); err != nil {
			return nil, err
		}
		if p.peek() == '|' && p.more() {
			return nil, errors.New("conditional backref with more than two branches")
		}
	}
	if err := p.closeParen(); err != nil {
		return nil, err
	}
	return &node{kind: ndCond, idx: idx, subs: []*node{yes, no}}, nil
}

// flagGroup parses (?flags) and (?flags-flags:...) after the "(?".
func (p *reParser) flagGroup() (*node, error) {
	on, err := p.flagLetters()
	if err != nil {
		return nil, err
	}
	var off reFlags
	if p.peek() == '-' && p.more() {
		p.pos++
		if off, err = p.flagLetters(); err != nil {
			return nil, err
		}
		if off == 0 {
			return nil, errors.New("missing flag")
		}
	}
	switch {
	case p.peek() == ')' && p.more() && off == 0:
		if on == 0 {
			return nil, errors.New("missing flag")
		}
		p.pos++
		p.global |= on
		p.flags |= on
		return nil, nil
	case p.peek() == ':' && p.more():
		p.pos++
		return p.nonCapturing(p.flags&^off | on)
	}
	return nil, errors.New("unknown extension or missing :")
}

func (p *reParser) flagLetters() (reFlags, error) {
	var f reFlags
	for p.more() {
		switch p.src[p.pos] {
		case 'i':
			f |= flagIgnoreCase
		case 'm':
			f |= flagMultiline
		case 's':
			f |= flagDotAll
		case 'a':
			f |= flagASCII
		case 'x':
			f |= flagVerbose
		case 'u': // Unicode matching is the default for str patterns
		case 'L':
			return 0, errors.New("bad inline flags: cannot use 'L' flag with a str pattern")
		default:
			return f, nil
		}
		p.pos++
	}
	return f, nil
}
