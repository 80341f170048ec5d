package filter

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestTranslatePython(t *testing.T) {
	tests := []struct {
		py    string
		exact string // "" when backtracking is needed
		why   string // substring of the reason
		super string // checked when not ""
	}{
		{`^a\d{1,3}$`, `^a\d{1,3}$`, "", ""},
		{`x{,3}`, `x{0,3}`, "", ""},
		{`{DATE} {x}`, `\{DATE} \{x}`, "", ""},
		{`end\Z`, `end\z`, "", ""},
		{`(?P<user>\S+)`, `(?P<user>\S+)`, "", ""},
		{`a(?#comment)b`, `ab`, "", ""},
		{`(?i)abc`, `(?i)abc`, "", ""},
		{`(?iu:abc)`, `(?i:abc)`, "", ""},
		{`[[:x]`, `[\[:x]`, "", ""},
		{`[]a]`, `[\]a]`, "", ""},
		{`[\b]`, `[\x{8}]`, "", ""},
		{`\101\0`, `\x{41}\x{0}`, "", ""},
		{`\u00e9\x41`, `\x{e9}\x{41}`, "", ""},
		{`a(?=b)c`, "", "lookahead", "ac"},
		{`a(?!b)`, "", "lookahead", "a"},
		{`(?<=a)b`, "", "lookbehind", "b"},
		{`(?P<x>a)(?P=x)`, "", "back-reference", `(?P<x>a)(?s:.*?)`},
		{`(a)\1`, "", "back-reference", `(a)(?s:.*?)`},
		{`(?P<c>a)?(?(c)b|d)`, "", "conditional", `(?P<c>a)?(?:b|d)`},
		{`(?P<c>a)?(?(c)b)`, "", "conditional", `(?P<c>a)?(?:b|)`},
		{`(?>ab)`, "", "atomic", `(?:ab)`},
		{`a{2000}`, "", "repetition count", ""},
	}
	for _, tt := range tests {
		p, err := translatePython(tt.py)
		if err != nil {
			t.Errorf("%q: %v", tt.py, err)
			continue
		}
		if tt.why == "" {
			if p.why != "" || p.exact != tt.exact {
				t.Errorf("%q: exact %q (why %q), want %q", tt.py, p.exact, p.why, tt.exact)
			}
			continue
		}
		if !strings.Contains(p.why, tt.why) {
			t.Errorf("%q: why %q, want %q", tt.py, p.why, tt.why)
		}
		if tt.super != "" && p.super != tt.super {
			t.Errorf("%q: super %q, want %q", tt.py, p.super, tt.super)
		}
	}
	for _, bad := range []string{`(a`, `a)`, `[a`, `a\`, `\q`, `(?x)a`, `a++`, `(?P<>a)`} {
		if _, err := translatePython(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

// TestSupersetGate checks that the Go form of a backtracking pattern
// accepts everything the pattern accepts.
func TestSupersetGate(t *testing.T) {
	pats := []string{`^Failed (?!publickey)\S+ for (?P<u>\S+)`, `(?P<a>\w+) (?P=a)`, `(?P<c>x)?(?(c)y|z)+`, `(?<!a)b(?=c)`}
	inputs := []string{"Failed password for root", "Failed publickey for root", "go go", "go to", "xy", "z", "xz", "bc", "abc", "b"}
	for _, py := range pats {
		r, err := compileRegex(py, false, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		super := regexp.MustCompile(translateOrDie(t, py).super)
		for _, in := range inputs {
			m, _ := r.bt.FindStringMatch(in)
			if m != nil && !super.MatchString(in) {
				t.Errorf("%q on %q: backtracker matches, superset does not", py, in)
			}
		}
	}
}

func translateOrDie(t *testing.T, py string) pyPattern {
	t.Helper()
	p, err := translatePython(py)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExpandRegexTags(t *testing.T) {
	got := expandRegexTags(`<F-USER>\S+</F-USER> from <ADDR> <F-ID>x</F-ID> <F-PORT/> </F-NOTOPEN> <UNKNOWN> (?P<n>a)`)
	for _, want := range []string{`(?P<user>\S+)`, `(?P<ip4>`, `(?P<ip6>`, `(?P<fid>x)`, `(?P<fport>\w+)`, `</F-NOTOPEN>`, `<UNKNOWN>`, `(?P<n>a)`} {
		if !strings.Contains(got, want) {
			t.Errorf("expansion lacks %q: %s", want, got)
		}
	}
	if strings.Contains(got, "(?P<dns>") {
		t.Error("<ADDR> must not accept host names")
	}
	if got := expandRegexTags("a<SKIPLINES>b<SKIPLINES>"); !strings.Contains(got, "skiplines0") || !strings.Contains(got, "skiplines1") {
		t.Errorf("SKIPLINES: %s", got)
	}
}

func TestRequiredLiteral(t *testing.T) {
	tests := []struct {
		re     string
		lit    string
		prefix bool
	}{
		{`^Failed \S+ for`, "Failed ", true},
		{`^(?P<x>Invalid) user`, "Invalid user", true},
		{`user (?:a|b) not allowed because`, " not allowed because", false},
		{`(?i)abc`, "", false},
		{`^(?:Connection closed|Disconnected)`, "", false},
		{`x+yz`, "yz", false},
	}
	for _, tt := range tests {
		lit, prefix := requiredLiteral(tt.re)
		if lit != tt.lit || prefix != tt.prefix {
			t.Errorf("%q: %q %v, want %q %v", tt.re, lit, prefix, tt.lit, tt.prefix)
		}
	}
}

func TestLiteralSet(t *testing.T) {
	var regs []*regex
	for _, lit := range []string{"Failed ", "Invalid user", "", "user", "Failed "} {
		regs = append(regs, &regex{lit: lit})
	}
	ls := newLiteralSet(regs)
	for _, tt := range []struct {
		s    string
		want uint64
	}{
		{"nothing here", 1 << 2},
		{"xx Failed password", 1<<0 | 1<<2 | 1<<4},
		{"Invalid user root", 1<<1 | 1<<2 | 1<<3},
		{"Invalid use", 1 << 2},
	} {
		if got := ls.candidates(tt.s); got != tt.want {
			t.Errorf("%q: %b, want %b", tt.s, got, tt.want)
		}
	}
}

// TestBacktrackTimeout makes sure a catastrophic pattern on the
// backtracking engine is cut off by the line timeout and counted.
func TestBacktrackTimeout(t *testing.T) {
	// the back-reference needs the backtracker; the "z" makes it try every
	// way of splitting the a's (the superset gate lets the line through)
	f, err := FromRegexes([]string{`^(?:(a+)+)+\1y <HOST>$`}, Options{LineTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m := f.NewMatcher()
	start := time.Now()
	got := m.Line(strings.Repeat("a", 40) + "zy 192.0.2.1")
	if len(got) != 0 {
		t.Errorf("got %v", got)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
	if m.Stats().Timeouts != 1 {
		t.Errorf("timeouts = %d, want 1", m.Stats().Timeouts)
	}
}
