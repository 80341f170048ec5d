package filter

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// DefaultLineTimeout bounds one backtracking regex on one line (or buffer).
const DefaultLineTimeout = 50 * time.Millisecond

// regex is one compiled failregex, ignoreregex or prefregex.
type regex struct {
	text    string // as written in the filter (after config interpolation)
	pattern string // with fail2ban's tags expanded (Python syntax)
	why     string // why the backtracking engine is used; "" for Go's

	re    *regexp.Regexp  // Go's engine; nil when bt is used
	vm    *vmProg         // the same program on the faster executor (may be nil)
	bt    *regexp2.Regexp // backtracking engine
	super *regexp.Regexp  // a superset of bt's matches, to skip it cheaply (may be nil)
	supVM *vmProg         // super on the faster executor (may be nil)
	names []string        // group name by group number ("" when unnamed)
	slots []groupSlot     // the named groups

	lit       string   // every match contains lit ("" when none is known)
	litPrefix bool     // ... right at the start of the input
	more      []needle // and these (see moreLiterals)
	litNeedle needle   // lit, to search
}

// compileRegex compiles a fail2ban regex. multiline compiles it for a
// buffer of several lines (^ and $ match at each line).
func compileRegex(text string, multiline bool, timeout time.Duration) (*regex, error) {
	r := &regex{text: text, pattern: expandRegexTags(text)}
	if strings.TrimSpace(r.pattern) == "" {
		return nil, fmt.Errorf("empty regex")
	}
	p, err := translatePython(r.pattern)
	if err != nil {
		return nil, err
	}
	flags := ""
	if multiline {
		flags = "(?m)"
	}
	r.why = p.why
	if r.why == "" {
		re, err := regexp.Compile(flags + p.exact)
		if err == nil {
			r.re, r.names = re, re.SubexpNames()
			r.slots = namedGroups(r.names)
			r.vm = compileVM(flags + p.exact)
			r.lit, r.litPrefix = requiredLiteral(flags + p.exact)
			r.setLiterals(moreLiterals(flags+p.exact, r.lit))
			return r, nil
		}
		r.why = "beyond Go's regexp: " + err.Error()
	}
	bt, err := regexp2.Compile(flags+p.bt, regexp2.RE2)
	if err != nil {
		return nil, fmt.Errorf("could not compile (%s): %w", r.why, err)
	}
	if timeout <= 0 {
		timeout = DefaultLineTimeout
	}
	bt.MatchTimeout = timeout
	r.bt = bt
	r.names = btGroupNames(bt)
	r.slots = namedGroups(r.names)
	if super, err := regexp.Compile(flags + p.super); err == nil {
		r.super, r.supVM = super, compileVM(flags+p.super)
		r.lit, r.litPrefix = requiredLiteral(flags + p.super)
		r.setLiterals(moreLiterals(flags+p.super, r.lit))
	}
	return r, nil
}

// btGroupNames lists regexp2's group names by group number.
func btGroupNames(bt *regexp2.Regexp) []string {
	nums := bt.GetGroupNumbers()
	max := 0
	for _, n := range nums {
		if n > max {
			max = n
		}
	}
	names := make([]string, max+1)
	for _, n := range nums {
		if name := bt.GroupNameFromNumber(n); name != fmt.Sprint(n) {
			names[n] = name
		}
	}
	return names
}

// matchResult says how a match attempt ended.
type matchResult int

const (
	noMatch matchResult = iota
	matched
	timedOut
)

// setLiterals prepares the searches for lit and more.
func (r *regex) setLiterals(more []string) {
	r.litNeedle = newNeedle(r.lit)
	r.more = nil
	for _, l := range more {
		r.more = append(r.more, newNeedle(l))
	}
}

// mayMatch is the cheap literal test: false means s cannot match.
func (r *regex) mayMatch(s string) bool {
	switch {
	case r.lit == "":
	case r.litPrefix:
		if !strings.HasPrefix(s, r.lit) {
			return false
		}
	case !r.litNeedle.in(s):
		return false
	}
	for i := range r.more {
		if !r.more[i].in(s) {
			return false
		}
	}
	return true
}

// find searches s, running the VM on m. loc holds byte offsets of each group (start, end), -1
// for groups that did not take part, as regexp's FindStringSubmatchIndex.
func (r *regex) find(m *vmMachine, s string) (loc []int, res matchResult) {
	if !r.mayMatch(s) {
		return nil, noMatch
	}
	if r.re != nil {
		if r.vm != nil && r.vm.fits(len(s)) {
			loc = r.vm.find(m, s)
		} else {
			loc = r.re.FindStringSubmatchIndex(s)
		}
		if loc == nil {
			return nil, noMatch
		}
		return loc, matched
	}
	if !r.superMatch(m, s) {
		return nil, noMatch
	}
	bm, err := r.bt.FindStringMatch(s)
	if err != nil {
		// regexp2 times matches by a clock that a goroutine of its own
		// advances; on a loaded machine that goroutine, or the match's,
		// can be held up long enough for a match of microseconds to
		// time out (6 in 2.8M measured here). One retry makes such a
		// false timeout all but impossible, and a real runaway costs
		// twice the bound.
		if bm, err = r.bt.FindStringMatch(s); err != nil {
			return nil, timedOut
		}
	}
	if bm == nil {
		return nil, noMatch
	}
	return btLocations(bm, s, len(r.names)), matched
}

// superMatch runs the superset gate of a backtracking regex.
func (r *regex) superMatch(m *vmMachine, s string) bool {
	switch {
	case r.supVM != nil && r.supVM.fits(len(s)):
		return r.supVM.find(m, s) != nil
	case r.super != nil:
		return r.super.MatchString(s)
	}
	return true
}

// btLocations converts regexp2's rune positions to byte offsets.
func btLocations(m *regexp2.Match, s string, ngroups int) []int {
	offsets := runeOffsets(s)
	loc := make([]int, 2*ngroups)
	for i := range loc {
		loc[i] = -1
	}
	for n := 0; n < ngroups; n++ {
		g := m.GroupByNumber(n)
		if g == nil || len(g.Captures) == 0 {
			continue
		}
		loc[2*n] = offsets[g.Index]
		loc[2*n+1] = offsets[g.Index+g.Length]
	}
	return loc
}

// runeOffsets maps the rune index (as regexp2 counts: one per invalid byte)
// to byte offsets, including the end.
func runeOffsets(s string) []int {
	out := make([]int, 0, len(s)+1)
	for i := 0; i < len(s); {
		out = append(out, i)
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return append(out, len(s))
}

// requiredLiteral finds a literal that every match of the Go pattern
// contains, preferring one anchored at the start; "" when there is none.
func requiredLiteral(pattern string) (lit string, atStart bool) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return "", false
	}
	re = re.Simplify()
	if p := anchoredPrefix(re); p != "" {
		return p, true
	}
	_, _, best := literalInfo(re)
	return best, false
}

// moreLiterals lists other literals than lit that every match of the Go
// pattern contains, the longest first, at most maxMoreLiterals of at least
// minMoreLiteral bytes: a line without one of them cannot match, which is
// cheaper to find out than by running the regex (fail2ban's sshd filter
// has several regexes that share a start and differ further on).
func moreLiterals(pattern, lit string) []string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	var all []string
	requiredRuns(re.Simplify(), &all)
	sort.SliceStable(all, func(i, j int) bool { return len(all[i]) > len(all[j]) })
	var out []string
	for _, l := range all {
		if len(l) < minMoreLiteral || strings.Contains(lit, l) || slices.ContainsFunc(out, func(o string) bool { return strings.Contains(o, l) }) {
			continue
		}
		out = append(out, l)
		if len(out) == maxMoreLiterals {
			break
		}
	}
	return out
}

const (
	maxMoreLiterals = 2
	minMoreLiteral  = 3
)

// requiredRuns adds to out the literal runs every match of re contains:
// the runs of exact parts of a concatenation, and those of the parts that
// must match at least once.
func requiredRuns(re *syntax.Regexp, out *[]string) {
	switch re.Op {
	case syntax.OpCapture, syntax.OpPlus:
		requiredRuns(re.Sub[0], out)
	case syntax.OpRepeat:
		if re.Min >= 1 {
			requiredRuns(re.Sub[0], out)
		}
	case syntax.OpLiteral:
		if exact, ok, _ := literalInfo(re); ok && exact != "" {
			*out = append(*out, exact)
		}
	case syntax.OpConcat:
		var run strings.Builder
		for _, sub := range re.Sub {
			if e, ok, _ := literalInfo(sub); ok {
				run.WriteString(e)
				continue
			}
			if run.Len() > 0 {
				*out = append(*out, run.String())
				run.Reset()
			}
			requiredRuns(sub, out)
		}
		if run.Len() > 0 {
			*out = append(*out, run.String())
		}
	}
}

// anchoredPrefix returns the literal right after a leading \A (or ^ outside
// multi-line mode).
func anchoredPrefix(re *syntax.Regexp) string {
	for re.Op == syntax.OpCapture {
		re = re.Sub[0]
	}
	if re.Op != syntax.OpConcat || len(re.Sub) < 2 || re.Sub[0].Op != syntax.OpBeginText {
		return ""
	}
	var b strings.Builder
	for _, sub := range re.Sub[1:] {
		exact, ok, _ := literalInfo(sub)
		if !ok {
			break
		}
		b.WriteString(exact)
	}
	return b.String()
}

// literalInfo returns the one string re matches (ok) and the longest
// literal every match of re contains.
func literalInfo(re *syntax.Regexp) (exact string, ok bool, best string) {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return "", false, ""
		}
		s := string(re.Rune)
		return s, true, s
	case syntax.OpCharClass:
		if len(re.Rune) == 2 && re.Rune[0] == re.Rune[1] {
			s := string(re.Rune[0])
			return s, true, s
		}
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return "", true, ""
	case syntax.OpCapture:
		return literalInfo(re.Sub[0])
	case syntax.OpPlus:
		e, ok, b := literalInfo(re.Sub[0])
		if ok {
			return "", false, e
		}
		return "", false, b
	case syntax.OpRepeat:
		if re.Min >= 1 {
			e, ok, b := literalInfo(re.Sub[0])
			if ok {
				return "", false, e
			}
			return "", false, b
		}
	case syntax.OpConcat:
		return concatLiteral(re.Sub)
	}
	return "", false, ""
}

// concatLiteral joins the runs of exact parts of a concatenation.
func concatLiteral(subs []*syntax.Regexp) (exact string, ok bool, best string) {
	var run strings.Builder
	all := true
	for _, sub := range subs {
		e, isExact, b := literalInfo(sub)
		if isExact {
			run.WriteString(e)
			continue
		}
		all = false
		best = longer(best, run.String())
		best = longer(best, b)
		run.Reset()
	}
	best = longer(best, run.String())
	if all {
		return run.String(), true, best
	}
	return "", false, best
}

func longer(a, b string) string {
	if len(b) > len(a) {
		return b
	}
	return a
}
