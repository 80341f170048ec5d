package filter

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file translates Python re syntax (what fail2ban filters are written
// in) to the two engines seawall uses: Go's regexp, linear in time, for
// every pattern it can express; and dlclark/regexp2, a backtracking engine
// bounded by a per-line timeout, for lookaround, back-references,
// conditionals and atomic groups. For the latter a third form is made too: a
// Go pattern matching a superset (those constructs relaxed), used to skip the
// backtracker on lines that cannot match.
//
// Differences from Python that remain: \d, \w, \s and \b are ASCII-only
// (Python's are Unicode-aware on str patterns); verbose mode (?x) and
// possessive quantifiers are rejected.

// pyPattern is a Python pattern in the engines' syntax.
type pyPattern struct {
	exact string // Go syntax, same matches; meaningful only when why == ""
	super string // Go syntax matching at least every match of the pattern
	bt    string // regexp2 syntax (used with its RE2 option)
	why   string // the first construct that needs backtracking, "" if none
}

type groupKind int

const (
	groupPlain groupKind = iota
	groupLookaround
	groupConditional
)

type pyGroup struct {
	kind   groupKind
	sawBar bool // a top-level | was seen (conditionals need one in super)
}

type pyTranslator struct {
	s               string
	i               int
	ex, sup, bt     strings.Builder
	why             string
	supOff          int  // > 0 inside a lookaround: super omits it
	lastAtomOmitted bool // the previous atom was omitted from super
	stack           []pyGroup
}

// goMaxRepeat is the largest repetition count Go's regexp accepts.
const goMaxRepeat = 1000

// translatePython translates pattern (Python re syntax).
func translatePython(pattern string) (pyPattern, error) {
	t := &pyTranslator{s: pattern}
	for t.i < len(t.s) {
		if err := t.step(); err != nil {
			return pyPattern{}, fmt.Errorf("%w at offset %d", err, t.i)
		}
	}
	if len(t.stack) > 0 {
		return pyPattern{}, fmt.Errorf("missing ')'")
	}
	return pyPattern{exact: t.ex.String(), super: t.sup.String(), bt: t.bt.String(), why: t.why}, nil
}

// need records that the pattern needs the backtracking engine.
func (t *pyTranslator) need(why string) {
	if t.why == "" {
		t.why = why
	}
}

// all writes s to every form.
func (t *pyTranslator) all(s string) { t.each(s, s, s) }

func (t *pyTranslator) each(ex, sup, bt string) {
	t.ex.WriteString(ex)
	t.bt.WriteString(bt)
	if t.supOff == 0 {
		t.sup.WriteString(sup)
	}
	t.lastAtomOmitted = t.supOff > 0
}

func (t *pyTranslator) step() error {
	c := t.s[t.i]
	switch c {
	case '\\':
		return t.escape()
	case '[':
		return t.class()
	case '(':
		return t.open()
	case ')':
		return t.close()
	case '|':
		if n := len(t.stack); n > 0 {
			t.stack[n-1].sawBar = true
		}
		t.all("|")
		t.i++
	case '*', '+', '?':
		t.i++
		return t.quantifier(string(c))
	case '{':
		return t.brace()
	default:
		_, size := utf8.DecodeRuneInString(t.s[t.i:])
		t.all(t.s[t.i : t.i+size])
		t.i += size
	}
	return nil
}

// quantifier writes q with its lazy mark; possessive forms are rejected.
func (t *pyTranslator) quantifier(q string) error {
	if t.i < len(t.s) && t.s[t.i] == '?' {
		q += "?"
		t.i++
	} else if t.i < len(t.s) && t.s[t.i] == '+' {
		return fmt.Errorf("possessive quantifier %s+ is not supported", q)
	}
	omitted := t.lastAtomOmitted
	t.ex.WriteString(q)
	t.bt.WriteString(q)
	if t.supOff == 0 && !omitted {
		t.sup.WriteString(q)
	}
	t.lastAtomOmitted = omitted
	return nil
}

// brace handles {m}, {m,}, {m,n} and Python's {,n}; any other { is literal.
func (t *pyTranslator) brace() error {
	end := strings.IndexByte(t.s[t.i:], '}')
	if end > 0 {
		body := t.s[t.i+1 : t.i+end]
		lo, hi, comma := strings.Cut(body, ",")
		if validCount(lo) && (!comma && lo != "" || comma && validCount(hi)) {
			if lo == "" {
				lo = "0"
			}
			q := "{" + lo
			if comma {
				q += "," + hi
			}
			q += "}"
			if countOver(lo) || countOver(hi) {
				t.need(fmt.Sprintf("repetition count above %d", goMaxRepeat))
			}
			t.i += end + 1
			return t.quantifier(q)
		}
	}
	t.all(`\{`)
	t.i++
	return nil
}

func validCount(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) <= 9
}

func countOver(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n > goMaxRepeat
}

// escape handles a backslash outside a character class.
func (t *pyTranslator) escape() error {
	if t.i+1 >= len(t.s) {
		return fmt.Errorf("pattern ends with a backslash")
	}
	c := t.s[t.i+1]
	switch {
	case strings.IndexByte("dDwWsSbBA", c) >= 0:
		t.all(`\` + string(c))
		t.i += 2
	case c == 'Z' || c == 'z':
		t.all(`\z`)
		t.i += 2
	case c >= '0' && c <= '9':
		return t.digitEscape()
	case c == 'x' || c == 'u' || c == 'U':
		lit, n, err := hexEscape(t.s[t.i:])
		if err != nil {
			return err
		}
		t.all(lit)
		t.i += n
	case strings.IndexByte("afnrtv", c) >= 0:
		t.all(`\` + string(c))
		t.i += 2
	case isAlnum(c):
		return fmt.Errorf(`bad escape \%c`, c)
	case c >= utf8.RuneSelf:
		r, size := utf8.DecodeRuneInString(t.s[t.i+1:])
		t.all(goLiteral(r))
		t.i += 1 + size
	default:
		t.all(`\` + string(c))
		t.i += 2
	}
	return nil
}

// digitEscape is Python's octal escape or numbered back-reference.
func (t *pyTranslator) digitEscape() error {
	s := t.s[t.i+1:]
	if s[0] == '0' {
		n := 1
		for n < 3 && n < len(s) && s[n] >= '0' && s[n] <= '7' {
			n++
		}
		v, _ := strconv.ParseUint(s[:n], 8, 32)
		t.all(goLiteral(rune(v)))
		t.i += 1 + n
		return nil
	}
	if len(s) >= 3 && isOctal(s[0]) && isOctal(s[1]) && isOctal(s[2]) {
		v, _ := strconv.ParseUint(s[:3], 8, 32)
		if v > 0o377 {
			return fmt.Errorf(`octal escape \%s out of range`, s[:3])
		}
		t.all(goLiteral(rune(v)))
		t.i += 4
		return nil
	}
	n := 1
	if len(s) > 1 && s[1] >= '0' && s[1] <= '9' {
		n = 2
	}
	t.need("back-reference")
	t.each("", `(?s:.*?)`, `\`+s[:n])
	t.i += 1 + n
	return nil
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// hexEscape reads \xHH, \uHHHH or \UHHHHHHHH at the start of s.
func hexEscape(s string) (lit string, n int, err error) {
	digits := map[byte]int{'x': 2, 'u': 4, 'U': 8}[s[1]]
	if len(s) < 2+digits {
		return "", 0, fmt.Errorf(`incomplete escape \%c`, s[1])
	}
	v, perr := strconv.ParseUint(s[2:2+digits], 16, 32)
	if perr != nil || v > utf8.MaxRune {
		return "", 0, fmt.Errorf(`bad escape %s`, s[:2+digits])
	}
	return goLiteral(rune(v)), 2 + digits, nil
}

// goLiteral writes one character for Go's and regexp2's syntax.
func goLiteral(r rune) string {
	return fmt.Sprintf(`\x{%x}`, r)
}

// class copies a character class, rewriting the escapes Go reads
// differently; a '[' inside is escaped so it cannot start a [:class:].
func (t *pyTranslator) class() error {
	var b strings.Builder
	b.WriteByte('[')
	i := t.i + 1
	if i < len(t.s) && t.s[i] == '^' {
		b.WriteByte('^')
		i++
	}
	for first := true; ; first = false {
		if i >= len(t.s) {
			return fmt.Errorf("unterminated character class")
		}
		c := t.s[i]
		switch {
		case c == ']' && !first:
			b.WriteByte(']')
			t.all(b.String())
			t.i = i + 1
			return nil
		case c == ']' || c == '[':
			b.WriteString(`\` + string(c))
			i++
		case c == '\\':
			lit, n, err := classEscape(t.s[i:])
			if err != nil {
				return err
			}
			b.WriteString(lit)
			i += n
		default:
			_, size := utf8.DecodeRuneInString(t.s[i:])
			b.WriteString(t.s[i : i+size])
			i += size
		}
	}
}

// classEscape translates one escape inside a character class.
func classEscape(s string) (lit string, n int, err error) {
	if len(s) < 2 {
		return "", 0, fmt.Errorf("pattern ends with a backslash")
	}
	c := s[1]
	switch {
	case strings.IndexByte("dDwWsS", c) >= 0, strings.IndexByte("afnrtv", c) >= 0:
		return s[:2], 2, nil
	case c == 'b':
		return `\x{8}`, 2, nil
	case isOctal(c):
		n := 1
		for n < 3 && 1+n < len(s) && isOctal(s[1+n]) {
			n++
		}
		v, _ := strconv.ParseUint(s[1:1+n], 8, 32)
		return goLiteral(rune(v)), 1 + n, nil
	case c == 'x' || c == 'u' || c == 'U':
		return hexEscape(s)
	case isAlnum(c):
		return "", 0, fmt.Errorf(`bad escape \%c in character class`, c)
	case c >= utf8.RuneSelf:
		r, size := utf8.DecodeRuneInString(s[1:])
		return goLiteral(r), 1 + size, nil
	}
	return s[:2], 2, nil
}

// open handles '(' and every (?...) form.
func (t *pyTranslator) open() error {
	rest := t.s[t.i:]
	switch {
	case strings.HasPrefix(rest, "(?:"):
		t.push(groupPlain, "(?:", "(?:", "(?:")
		t.i += 3
	case strings.HasPrefix(rest, "(?P<"):
		end := strings.IndexByte(rest, '>')
		if end < 0 || !validGroupName(rest[4:end]) {
			return fmt.Errorf("bad group name in %q", clip(rest, 20))
		}
		g := rest[:end+1]
		t.push(groupPlain, g, g, g)
		t.i += end + 1
	case strings.HasPrefix(rest, "(?P="):
		end := strings.IndexByte(rest, ')')
		if end < 0 || !validGroupName(rest[4:end]) {
			return fmt.Errorf("bad back-reference %q", clip(rest, 20))
		}
		t.need("back-reference (?P=" + rest[4:end] + ")")
		t.each("", `(?s:.*?)`, `\k<`+rest[4:end]+`>`)
		t.i += end + 1
	case strings.HasPrefix(rest, "(?="), strings.HasPrefix(rest, "(?!"):
		t.need("lookahead")
		t.lookaround(rest[:3])
	case strings.HasPrefix(rest, "(?<="), strings.HasPrefix(rest, "(?<!"):
		t.need("lookbehind")
		t.lookaround(rest[:4])
	case strings.HasPrefix(rest, "(?("):
		end := strings.IndexByte(rest, ')')
		if end < 0 || !validGroupName(rest[3:end]) {
			return fmt.Errorf("bad conditional %q", clip(rest, 20))
		}
		t.need("conditional (?(" + rest[3:end] + ")...)")
		t.push(groupConditional, "(?:", "(?:", rest[:end+1])
		t.i += end + 1
	case strings.HasPrefix(rest, "(?#"):
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			return fmt.Errorf("unterminated comment")
		}
		t.i += end + 1
	case strings.HasPrefix(rest, "(?>"):
		t.need("atomic group")
		t.push(groupPlain, "(?:", "(?:", "(?>")
		t.i += 3
	case strings.HasPrefix(rest, "(?"):
		return t.flags(rest)
	default:
		t.push(groupPlain, "(", "(", "(")
		t.i++
	}
	return nil
}

func (t *pyTranslator) push(kind groupKind, ex, sup, bt string) {
	t.each(ex, sup, bt)
	t.stack = append(t.stack, pyGroup{kind: kind})
}

// lookaround starts a lookahead or lookbehind; super leaves it out.
func (t *pyTranslator) lookaround(prefix string) {
	t.ex.WriteString(prefix)
	t.bt.WriteString(prefix)
	t.supOff++
	t.stack = append(t.stack, pyGroup{kind: groupLookaround})
	t.i += len(prefix)
}

func (t *pyTranslator) close() error {
	n := len(t.stack)
	if n == 0 {
		return fmt.Errorf("unbalanced ')'")
	}
	g := t.stack[n-1]
	t.stack = t.stack[:n-1]
	t.i++
	switch g.kind {
	case groupLookaround:
		t.ex.WriteString(")")
		t.bt.WriteString(")")
		t.supOff--
		t.lastAtomOmitted = true
	case groupConditional:
		sup := ")"
		if !g.sawBar {
			sup = "|)" // (?(c)yes) also matches without yes
		}
		t.each(")", sup, ")")
	default:
		t.all(")")
	}
	return nil
}

// flags handles (?imsx-imsx) and (?imsx-imsx:...); Python's a, u and L
// flags are dropped (Go's classes are ASCII and the input is text).
func (t *pyTranslator) flags(rest string) error {
	j := 2
	for j < len(rest) && strings.IndexByte("aiLmsux-", rest[j]) >= 0 {
		j++
	}
	if j >= len(rest) || (rest[j] != ')' && rest[j] != ':') {
		return fmt.Errorf("unknown group syntax %q", clip(rest, 10))
	}
	var keep strings.Builder
	for _, f := range rest[2:j] {
		switch f {
		case 'x':
			return fmt.Errorf("verbose mode (?x) is not supported")
		case 'i', 'm', 's', '-':
			keep.WriteRune(f)
		}
	}
	fl := strings.TrimSuffix(keep.String(), "-")
	if rest[j] == ')' {
		if fl != "" {
			t.all("(?" + fl + ")")
		}
		t.i += j + 1
		return nil
	}
	t.push(groupPlain, "(?"+fl+":", "(?"+fl+":", "(?"+fl+":")
	t.i += j + 1
	return nil
}

// validGroupName reports whether name is a group name or number both Go
// and regexp2 accept.
func validGroupName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isAlnum(name[i]) && name[i] != '_' {
			return false
		}
	}
	return true
}
