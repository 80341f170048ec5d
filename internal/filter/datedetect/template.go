package datedetect

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// A template is one date format: a compiled regular expression whose first
// group is the date's text, and a way to convert it. This file builds them
// from fail2ban date patterns the way fail2ban's DatePatternRegex, DateEpoch
// and DateTai64n do (fail2ban/server/datetemplate.py): % codes expanded,
// word boundaries added around the date unless the pattern is anchored or
// says otherwise, and the whole wrapped in a group when it has none.

type convKind uint8

const (
	convStrptime  convKind = iota // named groups, see strptime.go
	convEpoch                     // seconds since 1970, with a fraction
	convEpochLong                 // the same in milliseconds or microseconds when longer
	convTAI64N                    // @4000... TAI64N label
)

// boundKind is what is required before the date.
type boundKind uint8

const (
	boundNone boundKind = iota // {UNB}
	boundWord                  // not inside a word: (?=^|\b|\W)
	boundLine                  // {^LN-BEG}: at the line start, after at most two non-word characters
)

// The boundaries fail2ban adds, as text: the parser reads them back and the
// compiler turns the lookaheads into one cheap test.
const (
	wordBeginRE = `(?=^|\b|\W)`
	lineBeginRE = `^(?:\W{0,2})?`
	wordEndRE   = `(?=\b|\W|$)`
	epochGroup  = "_epoch"
)

type template struct {
	pattern   string // as written, for messages
	regex     string // what was compiled; also the identity for duplicates
	prog      *program
	conv      convKind
	lineBegin bool // anchored at the line start (fail2ban's LINE_BEGIN)
	lineEnd   bool // anchored at the line end (LINE_END)
	fields    []fieldRef
	value     int         // the group holding an epoch or TAI64N value
	native    *nativeSpec // a hand-written matcher for the same expression, or nil
	nbegin    nativeBegin // where the native matcher starts
}

type fieldRef struct {
	kind  fieldKind
	group int
}

// newPatternTemplate builds a template from a strptime-style pattern.
func newPatternTemplate(pattern string) (*template, error) {
	p, begin, end := pattern, boundWord, true
	if rest, ok := strings.CutPrefix(p, "{UNB}"); ok {
		p, begin, end = rest, boundNone, false
	}
	if rest, ok := strings.CutPrefix(p, "{^LN-BEG}"); ok && begin != boundNone {
		p, begin = rest, boundLine
	}
	regex, err := expandDirectives(p)
	if err != nil {
		return nil, err
	}
	if hasAlphaDirective(p) {
		regex = "(?iu)" + regex
	}
	return newTemplate(pattern, regex, begin, end, convStrptime)
}

const (
	epochRE     = `\d{10,11}\b(?:\.\d{3,6})?`
	epochLongRE = `\d{10,11}(?:\d{3}(?:\.\d{1,6}|\d{3})?)?`
)

// newEpochTemplate builds the EPOCH (or LEPOCH, long) template: a number of
// seconds at the line start, after "[" at the line start, or after "audit(";
// with lineBegin, only at the line start.
func newEpochTemplate(name string, lineBegin, long bool) (*template, error) {
	num := epochRE
	conv := convEpoch
	if long {
		num, conv = epochLongRE, convEpochLong
	}
	// The conditionals are fail2ban's; as written they never reject anything,
	// and they are kept so that matches stay the same as fail2ban's.
	if !lineBegin {
		regex := `((?:^|(?P<square>(?<=^\[))|(?P<selinux>(?<=\baudit\()))` + num +
			`)(?:(?(selinux)(?=:\d+\)))|(?(square)(?=\])))`
		return newTemplate(name, regex, boundNone, true, conv)
	}
	regex := `((?P<square>(?<=^\[))?` + num + `)(?(square)(?=\]))`
	return newTemplate(name, regex, boundLine, true, conv)
}

var epochMarker = regexp.MustCompile(`(?i)\{L?EPOCH\}`)

// newEpochPatternTemplate builds a template from a pattern with {EPOCH} or
// {LEPOCH} in it, e.g. `^\[{EPOCH}\]`. {UNB} and {^LN-BEG} in front work as
// in other patterns (fail2ban would take them as literal text here).
func newEpochPatternTemplate(pattern string, long bool) (*template, error) {
	num, conv := epochRE, convEpoch
	if long {
		num, conv = epochLongRE, convEpochLong
	}
	p, begin, end := pattern, boundWord, true
	if rest, ok := strings.CutPrefix(p, "{UNB}"); ok {
		p, begin, end = rest, boundNone, false
	}
	if rest, ok := strings.CutPrefix(p, "{^LN-BEG}"); ok && begin != boundNone {
		p, begin = rest, boundLine
	}
	regex := replaceUnescaped(p, epochMarker, `(?P<`+epochGroup+`>`+num+`)`)
	if !hasCaptureGroup(p) {
		regex = "(" + regex + ")"
	}
	return newTemplate(pattern, regex, begin, end, conv)
}

// newTAI64NTemplate builds the TAI64N template (daemontools' @4000... labels).
func newTAI64NTemplate(name string, lineBegin bool) (*template, error) {
	begin := boundNone
	if lineBegin {
		begin = boundLine
	}
	return newTemplate(name, `@[0-9a-f]{24}`, begin, true, convTAI64N)
}

// newTemplate completes a regular expression the way fail2ban's
// DateTemplate.setRegex does and compiles it.
func newTemplate(pattern, regex string, begin boundKind, end bool, conv convKind) (*template, error) {
	regex = strings.TrimSpace(regex)
	flags := globalFlagsRE.FindString(regex)
	if flags != "" {
		regex = strings.Replace(regex, flags, "", 1)
	}
	addBegin := begin != boundNone && !noWordBoundBeginRE.MatchString(regex)
	addEnd := end && !hasNoWordBoundEnd(regex)
	if !hasCaptureGroup(regex) {
		regex = wrapGroupRE.ReplaceAllString(regex, "$1($2)$3")
	}
	t := &template{pattern: pattern, conv: conv}
	if addBegin {
		if begin == boundLine {
			regex = lineBeginRE + regex
			t.lineBegin = true
		} else {
			regex = wordBeginRE + regex
		}
	}
	if addEnd {
		regex += wordEndRE
	}
	t.lineBegin = t.lineBegin || hasLineBoundBegin(regex)
	t.lineEnd = hasLineBoundEnd(regex)
	t.regex = flags + deleteWordBoundMarkers(regex)
	if err := t.compile(); err != nil {
		// The position in the message is in the expression, not the pattern.
		return nil, fmt.Errorf("%w (in the expression %q)", err, t.regex)
	}
	return t, nil
}

func (t *template) compile() error {
	re, err := parseRegex(t.regex)
	if err != nil {
		return err
	}
	if re.ngroups < 1 {
		return errors.New("internal error: no date group")
	}
	if t.prog, err = compileRegex(re); err != nil {
		return err
	}
	t.value = 1
	for _, name := range re.order {
		kind := fieldNames[name]
		switch {
		case kind == fkEpoch:
			t.value = re.names[name]
		case kind != fkNone && t.conv == convStrptime:
			t.fields = append(t.fields, fieldRef{kind, re.names[name]})
		}
	}
	return nil
}

// The regular expressions below are fail2ban's own, for reading patterns;
// those that need a lookaround are written out as functions.
var (
	// RE_GLOBALFLAGS: the first inline flag group, moved to the front.
	globalFlagsRE = regexp.MustCompile(`\(\?[a-z]+\)`)
	// RE_NO_WRD_BOUND_BEG: anchored, or ** in front: no word boundary.
	noWordBoundBeginRE = regexp.MustCompile(`^\(*(?:\(\?\w+\))?(?:\^|\(*\*\*|\((?:\?:)?\^)`)
	// RE_GROUP: the whole, but the anchors, becomes group 1.
	wrapGroupRE = regexp.MustCompile(`^((?:\(\?\w+\))?\^?(?:\(\?\w+\))?)(.*?)(\$?)$`)
	// The start half of RE_DEL_WRD_BOUNDS.
	leadingStarsRE = regexp.MustCompile(`^\(*(?:\(\?\w+\))?\(*\*\*`)
)

// hasNoWordBoundEnd is RE_NO_WRD_BOUND_END: the pattern ends with $, $), \b,
// \s or ** (then closing parentheses), so no word boundary is added.
func hasNoWordBoundEnd(re string) bool {
	for _, suffix := range []string{"$", "$)", `\b`, `\s`} {
		if strings.HasSuffix(re, suffix) && !escapedAt(re, len(re)-len(suffix)) {
			return true
		}
	}
	t := strings.TrimRight(re, ")")
	return strings.HasSuffix(t, "**") && !escapedAt(t, len(t)-2)
}

// escapedAt reports whether the character before i is a backslash (the
// (?<!\\) of fail2ban's expressions, which looks at one character only).
func escapedAt(s string, i int) bool { return i > 0 && s[i-1] == '\\' }

// hasCaptureGroup is RE_GROUPED: an opening parenthesis that starts a
// capturing group, not escaped, not (?...) and not the (?( of a conditional.
func hasCaptureGroup(re string) bool {
	for i := 0; i < len(re); i++ {
		if re[i] != '(' || escapedAt(re, i) || i+1 < len(re) && re[i+1] == '?' {
			continue
		}
		if i >= 2 && re[i-2:i] == "(?" {
			continue
		}
		return true
	}
	return false
}

// hasLineBoundBegin is RE_LINE_BOUND_BEG: the expression starts, after an
// optional flag group, with ^, (^ or (?:^, not followed by |.
func hasLineBoundBegin(re string) bool {
	starts := []string{re}
	if m := inlineFlagPrefixRE.FindString(re); m != "" {
		starts = append(starts, re[len(m):])
	}
	for _, s := range starts {
		switch {
		case strings.HasPrefix(s, "^"):
			return true
		case strings.HasPrefix(s, "(^") && !strings.HasPrefix(s, "(^|"):
			return true
		case strings.HasPrefix(s, "(?:^") && !strings.HasPrefix(s, "(?:^|"):
			return true
		}
	}
	return false
}

var inlineFlagPrefixRE = regexp.MustCompile(`^\(\?\w+\)`)

// hasLineBoundEnd is RE_LINE_BOUND_END: the expression ends with $ or $),
// the $ not escaped and not an alternative of its own (|$).
func hasLineBoundEnd(re string) bool {
	s := strings.TrimSuffix(re, ")")
	if !strings.HasSuffix(s, "$") {
		return false
	}
	i := len(s) - 1
	return i == 0 || (s[i-1] != '\\' && s[i-1] != '|')
}

// deleteWordBoundMarkers removes the ** fail2ban allows at the start and the
// end of a pattern to ask for no word boundary there.
func deleteWordBoundMarkers(re string) string {
	if m := leadingStarsRE.FindString(re); m != "" {
		re = strings.Replace(m, "**", "", 1) + re[len(m):]
	}
	t := strings.TrimRight(re, ")")
	if strings.HasSuffix(t, "**") && !escapedAt(t, len(t)-2) {
		re = t[:len(t)-2] + re[len(t):]
	}
	return re
}

// replaceUnescaped replaces the matches of re in s that are not preceded by a
// backslash.
func replaceUnescaped(s string, re *regexp.Regexp, repl string) string {
	var b strings.Builder
	last := 0
	for _, m := range re.FindAllStringIndex(s, -1) {
		if escapedAt(s, m[0]) {
			continue
		}
		b.WriteString(s[last:m[0]])
		b.WriteString(repl)
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}
