package datedetect

import (
	"slices"
	"strings"
	"testing"
)

// reCase is a search and what Python's re.search returns for it: the byte
// spans of every group, group 0 first, -1 for a group that did not take
// part; nil for no match. Generated with CPython 3 and checked in as data.
type reCase struct {
	pattern, input string
	want           []int
}

var reCases = []reCase{
	{`a|ab`, "ab", []int{0, 1}},
	{`(a|ab)(c|bcd)(d*)`, "abcd", []int{0, 4, 0, 1, 1, 4, 4, 4}},
	{`^(?:\W{0,2})?(\d+)`, "[1234567890] y", []int{0, 11, 1, 11}},
	{`(?=^|\b|\W)(\d{2})(?=\b|\W|$)`, "audit(1234567890.123:45)", []int{21, 23, 21, 23}},
	{`(?P<s>[-/.])x(?P=s)`, "a-x/ b.x.", []int{6, 9, 6, 7}},
	{`(a)?(?(1)b|c)`, "aab", []int{1, 3, 1, 2}},
	{`(?<=^\[)\d+`, "[1234567890] y", []int{1, 11}},
	{`(?<!a)b`, "ab cb", []int{4, 5}},
	{`(?i)jan|feb|AUG`, "x Aug", []int{2, 5}},
	{`[^\[]*\[(\w+)`, "ab [cd] e", []int{0, 6, 4, 6}},
	{`x*?y`, "xxy", []int{0, 3}},
	{`(a*)*b`, "aab", []int{0, 3, 2, 2}},
	{`(a|)+b`, "aab", []int{0, 3, 2, 2}},
	{`\bfoo\b`, "a foo b", []int{2, 5}},
	{`\Bo`, "foo", []int{1, 2}},
	{`a{2,3}?`, "aaaa", []int{0, 2}},
	{`(ab){1,3}`, "abababab", []int{0, 6, 4, 6}},
	{`(?:(a)|b)+`, "ab", []int{0, 2, 0, 1}},
	{`[a-c-]+`, "x-ab-c", []int{1, 6}},
	{`[]a]+`, "x]a]", []int{1, 4}},
	{`[^]a]+`, "]]bc", []int{2, 4}},
	{`(\s*x)?y`, "  xy", []int{0, 4, 0, 3}},
	{`a$`, "a\n", []int{0, 1}},
	{`(?m)^b`, "a\nb", []int{2, 3}},
	{`(?s)a.b`, "a\nb", []int{0, 3}},
	{`a.b`, "a\nb", nil},
	{`(?x) a  b # comment`, "ab", []int{0, 2}},
	{`\x41+`, "AAb", []int{0, 2}},
	{`\101`, "A", []int{0, 1}},
	{`[\d.]+`, "v1.2.3", []int{1, 6}},
	{`(?i)[a-c]+`, "xABCd", []int{1, 4}},
	{`(?i)k`, "K", []int{0, 3}},
	{`\w+`, "éa_1-", []int{0, 5}},
	{`\d+`, "٢٠٠٥x", []int{0, 8}},
	{`\s+`, "a  \u001cb", []int{1, 6}},
	{`(?a)\w+`, "éa_1", []int{2, 5}},
	{`(?:^|(?P<square>(?<=^\[))|(?P<selinux>(?<=\baudit\()))\d{10,11}\b(?:\.\d{3,6})?(?:(?(selinux)(?=:\d+\)))|(?(square)(?=\])))`, "type=AVC audit(1234567890.123:4)", []int{15, 29, -1, -1, 15, 15}},
	{`(?i:a)b`, "Ab AB", []int{0, 2}},
	{`(?i)(?-i:a)b`, "AB aB", []int{3, 5}},
	{`a{,2}`, "aaa", []int{0, 2}},
	{`a{}`, "a{}", []int{0, 3}},
	{`a{x`, "a{x", []int{0, 3}},
	{`(?#comment)ab`, "ab", []int{0, 2}},
	{`((a)|b)*`, "ab", []int{0, 2, 1, 2, 0, 1}},
	{`(?!a)\w`, "ab", []int{1, 2}},
	{`(?=(a))a`, "a", []int{0, 1, 0, 1}},
	{`(?!(a)b)a`, "ac", []int{0, 1, -1, -1}},
	{`(a)\1`, "xaa", []int{1, 3, 1, 2}},
	{`(?i)(a)\1`, "aA", []int{0, 2, 0, 1}},
	{`(?i)(ſep|sep)`, "SEP", []int{0, 3, 0, 3}},
	{`(?:|a|b)c`, "bc", []int{0, 2}},
	{`(?i)(?:mon|tue)? ?x`, "TUE x", []int{0, 5}},
	{`\d{10,11}\b`, "123456789012 1234567890", []int{1, 12}},
	{`[^\[]*\[`, "aaaa", nil},
	{`(?:a+)+b`, "aaaaaaaaaac", nil},
	{`(a+)+$`, "aaab", nil},
	{`é+`, "xééy", []int{1, 5}},
	{`[é-ê]+`, "aéêë", []int{1, 5}},
	{`.`, "€", []int{0, 3}},
	{`\u20ac`, "a€", []int{1, 4}},
	{`(?<=€)a`, "€a", []int{3, 4}},
	{`\bé`, "x é", []int{2, 4}},
	{`(?P<y>\d\d)(?P<m>\d\d)`, "050814", []int{0, 4, 0, 2, 2, 4}},
}

// search compiles a pattern and runs one search as Match would.
func search(t *testing.T, pattern, input string) ([]int, error) {
	t.Helper()
	re, err := parseRegex(pattern)
	if err != nil {
		return nil, err
	}
	prog, err := compileRegex(re)
	if err != nil {
		return nil, err
	}
	m := &machine{budget: stepBudget}
	if !m.search(prog, input, len(input)) {
		if m.aborted {
			t.Fatalf("%q on %q: step budget exceeded", pattern, input)
		}
		return nil, nil
	}
	out := make([]int, prog.ncap)
	for i := range out {
		out[i] = int(m.slots[i])
	}
	return out, nil
}

// TestRegexLikePython checks the engine against CPython's re on patterns
// that exercise each construct: alternation order, greedy and lazy
// repetition, groups in loops, lookarounds, back-references, conditionals,
// inline flags, Unicode classes and word boundaries, case folding.
func TestRegexLikePython(t *testing.T) {
	for _, c := range reCases {
		got, err := search(t, c.pattern, c.input)
		if err != nil {
			t.Errorf("%q: %v", c.pattern, err)
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%q on %q: got %v, want %v", c.pattern, c.input, got, c.want)
		}
	}
}

func TestRegexErrors(t *testing.T) {
	for _, c := range []struct{ pattern, err string }{
		{`*a`, "nothing to repeat"},
		{`^*`, "nothing to repeat"},
		{`a**`, "multiple repeat"},
		{`a{2,1}`, "min repeat greater than max repeat"},
		{`(a`, "missing ), unterminated subpattern"},
		{`a)`, "unbalanced parenthesis"},
		{`[a`, "unterminated character set"},
		{`[z-a]`, "bad character range"},
		{`[\d-z]`, "bad character range"},
		{`\q`, `bad escape \q`},
		{`\1(a)`, "invalid group reference 1"},
		{`(a\1)`, "cannot refer to an open group"},
		{`(?P<a>x)(?P<a>y)`, "redefinition of group name"},
		{`(?P<1a>x)`, "bad character in group name"},
		{`(?P=b)`, "unknown group name"},
		{`(?<=a*)b`, "look-behind requires fixed-width pattern"},
		{`(?<=(a)\1)b`, "cannot use group reference in lookbehind"},
		{`(?(2)a|b)`, "invalid group reference 2"},
		{`(a)(?(1)a|b|c)`, "more than two branches"},
		{`(?Q)`, "unknown extension"},
		{`(?#x`, "unterminated comment"},
		{`\x4`, "incomplete escape"},
		{`(?:a){1001}`, "larger than 1000"},
	} {
		_, err := search(t, c.pattern, "")
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%q: got error %v, want one with %q", c.pattern, err, c.err)
		}
	}
}

// TestRegexBudget checks that catastrophic backtracking stops at the step
// budget instead of running for ages.
func TestRegexBudget(t *testing.T) {
	re, err := parseRegex(`(a+)+$`)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := compileRegex(re)
	if err != nil {
		t.Fatal(err)
	}
	m := &machine{budget: 1 << 16}
	if m.search(prog, strings.Repeat("a", 40)+"b", 100) || !m.aborted {
		t.Errorf("(a+)+$ on a^40 b: matched or finished, want the budget to stop it (aborted=%v)", m.aborted)
	}
}

// TestPossessiveRepeat: a star whose follower can never match one of its
// characters gives nothing back, so a long line costs one pass.
func TestPossessiveRepeat(t *testing.T) {
	re, _ := parseRegex(`^[^\[]*\[`)
	prog, _ := compileRegex(re)
	if !prog.repeats[0].possessive {
		t.Fatal(`[^\[]* before \[ is not possessive`)
	}
	m := &machine{budget: 1 << 22}
	line := strings.Repeat("x", 1<<20)
	if m.search(prog, line, len(line)) || m.aborted || m.steps > 1<<20+100 {
		t.Errorf("steps %d, aborted %v", m.steps, m.aborted)
	}
	re, _ = parseRegex(`[^\[]*x`)
	prog, _ = compileRegex(re)
	if prog.repeats[0].possessive {
		t.Error(`[^\[]* before x is possessive, but x is one of its characters`)
	}
}

func TestRequiredBytes(t *testing.T) {
	for _, c := range []struct {
		pattern string
		want    string
	}{
		{`%H:%M`, ":"},
		{`a:b|c:d`, ":"},
		{`a:b|c`, ""},
		{`(?:x:)?y`, ""},
		{`\[\d+\]`, "[]"},
		{`(?i)a-b`, "-"},
	} {
		regex, _ := expandDirectives(c.pattern)
		re, err := parseRegex(regex)
		if err != nil {
			t.Fatal(err)
		}
		prog, err := compileRegex(re)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(prog.required); got != c.want {
			t.Errorf("%q: required %q, want %q", c.pattern, got, c.want)
		}
	}
}
