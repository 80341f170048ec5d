package datedetect

import (
	"errors"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Parsing of backslash escapes and character classes, with Python's rules
// (an unknown letter escape is an error; \1 is a group reference outside a
// class and an octal escape inside one).

func (p *reParser) parseEscape() (*node, error) {
	p.pos++ // backslash
	if !p.more() {
		return nil, errors.New("bad escape (end of pattern)")
	}
	c := p.src[p.pos]
	switch c {
	case 'b':
		p.pos++
		return &node{kind: ndAssert, assert: asWordBoundary, flags: p.flags}, nil
	case 'B':
		p.pos++
		return &node{kind: ndAssert, assert: asNotWordBound, flags: p.flags}, nil
	case 'A':
		p.pos++
		return &node{kind: ndAssert, assert: asBeginText}, nil
	case 'Z':
		p.pos++
		return &node{kind: ndAssert, assert: asEndText}, nil
	case 'd', 'D', 'w', 'W', 's', 'S':
		p.pos++
		cls := &charClass{}
		cls.addPerl(c, p.flags&flagASCII != 0)
		cls.finish(p.flags&flagIgnoreCase != 0)
		return &node{kind: ndClass, cls: cls}, nil
	}
	if c >= '1' && c <= '9' {
		return p.numericEscape()
	}
	r, err := p.charEscape()
	if err != nil {
		return nil, err
	}
	return p.literal(r), nil
}

// numericEscape is a group reference \1..\99, or an octal escape when three
// octal digits follow the backslash (Python's rule).
func (p *reParser) numericEscape() (*node, error) {
	s := p.src[p.pos:]
	if len(s) >= 3 && isOctal(s[0]) && isOctal(s[1]) && isOctal(s[2]) {
		v, _ := strconv.ParseUint(s[:3], 8, 32)
		if v > 0o377 {
			return nil, fmt.Errorf("octal escape value \\%s outside of range 0-0o377", s[:3])
		}
		p.pos += 3
		return p.literal(rune(v)), nil
	}
	n := 1
	if len(s) >= 2 && s[1] >= '0' && s[1] <= '9' {
		n = 2
	}
	idx, _ := strconv.Atoi(s[:n])
	p.pos += n
	if idx > p.groups {
		return nil, fmt.Errorf("invalid group reference %d", idx)
	}
	return p.backref(idx)
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// charEscape reads an escape that stands for one character, after the
// backslash: \n, \x41, \0, \. and the like. Unknown letters are errors.
func (p *reParser) charEscape() (rune, error) {
	c := p.src[p.pos]
	p.pos++
	switch c {
	case 'a':
		return '\a', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'v':
		return '\v', nil
	case 'x':
		return p.hexEscape(2)
	case 'u':
		return p.hexEscape(4)
	case 'U':
		return p.hexEscape(8)
	case '0':
		v := 0
		for i := 0; i < 2 && p.more() && isOctal(p.src[p.pos]); i++ {
			v = v*8 + int(p.src[p.pos]-'0')
			p.pos++
		}
		return rune(v), nil
	}
	if c < utf8.RuneSelf && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
		return 0, fmt.Errorf("bad escape \\%c", c)
	}
	p.pos--
	r, w := utf8.DecodeRuneInString(p.src[p.pos:])
	p.pos += w
	return r, nil
}

func (p *reParser) hexEscape(n int) (rune, error) {
	if p.pos+n > len(p.src) {
		return 0, fmt.Errorf("incomplete escape \\x")
	}
	v, err := strconv.ParseUint(p.src[p.pos:p.pos+n], 16, 32)
	if err != nil || v > unicode.MaxRune {
		return 0, fmt.Errorf("bad escape %q", p.src[p.pos-2:p.pos+n])
	}
	p.pos += n
	return rune(v), nil
}

// parseClass parses a character class after its `[`.
func (p *reParser) parseClass() (*charClass, error) {
	cls := &charClass{}
	if p.peek() == '^' && p.more() {
		cls.neg = true
		p.pos++
	}
	first := true
	for {
		if !p.more() {
			return nil, errors.New("unterminated character set")
		}
		c := p.src[p.pos]
		if c == ']' && !first {
			p.pos++
			break
		}
		first = false
		lo, set, err := p.classAtom()
		if err != nil {
			return nil, err
		}
		if set != 0 {
			if p.lookingAt("-") && !p.lookingAt("-]") {
				return nil, errors.New("bad character range")
			}
			cls.addPerl(set, p.flags&flagASCII != 0)
			continue
		}
		if !p.lookingAt("-") || p.lookingAt("-]") || p.pos+1 >= len(p.src) {
			cls.addRange(lo, lo)
			continue
		}
		p.pos++ // -
		hi, set, err := p.classAtom()
		if err != nil {
			return nil, err
		}
		if set != 0 || hi < lo {
			return nil, errors.New("bad character range")
		}
		cls.addRange(lo, hi)
	}
	cls.finish(p.flags&flagIgnoreCase != 0)
	return cls, nil
}

// classAtom reads one class member: a character, or a Perl class (\d...)
// reported by its letter in set.
func (p *reParser) classAtom() (r rune, set byte, err error) {
	c := p.src[p.pos]
	if c != '\\' {
		r, w := utf8.DecodeRuneInString(p.src[p.pos:])
		p.pos += w
		return r, 0, nil
	}
	p.pos++
	if !p.more() {
		return 0, 0, errors.New("bad escape (end of pattern)")
	}
	switch e := p.src[p.pos]; e {
	case 'd', 'D', 'w', 'W', 's', 'S':
		p.pos++
		return 0, e, nil
	case 'b':
		p.pos++
		return '\b', 0, nil
	}
	if c := p.src[p.pos]; c >= '1' && c <= '7' {
		// In a class, \1.. are octal escapes (up to three digits).
		v, n := 0, 0
		for n < 3 && p.more() && isOctal(p.src[p.pos]) {
			v = v*8 + int(p.src[p.pos]-'0')
			p.pos++
			n++
		}
		return rune(v), 0, nil
	}
	r, err = p.charEscape()
	return r, 0, err
}
