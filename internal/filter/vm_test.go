package filter

import (
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"regexp/syntax"
	"strings"
	"testing"
	"unicode/utf8"
)

// The VM must give exactly what Go's regexp gives: same match, same
// submatches. These tests compare the two on random patterns and inputs,
// and on every regex of the built-in (and, when present, fail2ban's)
// filters over real log lines.

// vmAgrees compares the VM with regexp on one input; "" when they agree.
func vmAgrees(t testing.TB, pattern string, inputs []string) {
	t.Helper()
	re, err := regexp.Compile(pattern)
	if err != nil {
		return
	}
	vm := compileVM(pattern)
	if vm == nil {
		t.Fatalf("VM cannot compile %q, which regexp accepts", pattern)
	}
	var m vmMachine
	for _, in := range inputs {
		if !vm.fits(len(in)) {
			continue
		}
		want := re.FindStringSubmatchIndex(in)
		got := vm.find(&m, in)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("pattern %q on %q: VM %v, regexp %v", pattern, in, got, want)
		}
	}
}

// randomPattern builds a pattern from pieces that exercise every
// instruction: literals, classes, anchors, groups, alternation and every
// quantifier, greedy and lazy.
func randomPattern(rng *rand.Rand, depth int) string {
	atoms := []string{"a", "b", "c", " ", ".", "[ab]", "[^a]", `\d`, `\s`, `\S`, `\w`, "é", "^", "$", `\b`, `\B`, "(?i:A)", "x"}
	var b strings.Builder
	n := 1 + rng.Intn(4)
	for i := 0; i < n; i++ {
		if depth > 0 && rng.Intn(3) == 0 {
			inner := randomPattern(rng, depth-1)
			if rng.Intn(2) == 0 {
				inner += "|" + randomPattern(rng, depth-1)
			}
			switch rng.Intn(3) {
			case 0:
				b.WriteString("(" + inner + ")")
			case 1:
				b.WriteString("(?:" + inner + ")")
			default:
				b.WriteString("(?P<g" + string(rune('a'+rng.Intn(3))) + ">" + inner + ")")
			}
		} else {
			b.WriteString(atoms[rng.Intn(len(atoms))])
		}
		if rng.Intn(2) == 0 {
			qs := []string{"*", "+", "?", "*?", "+?", "??", "{1,3}", "{2}", "{0,2}?"}
			b.WriteString(qs[rng.Intn(len(qs))])
		}
	}
	return b.String()
}

func randomInput(rng *rand.Rand) string {
	pieces := []string{"a", "b", "c", " ", "1", "\n", "é", "\xff", "A", "x", "ab", "  "}
	var b strings.Builder
	for n := rng.Intn(12); n > 0; n-- {
		b.WriteString(pieces[rng.Intn(len(pieces))])
	}
	return b.String()
}

func TestVMRandomPatterns(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for i := 0; i < 2000; i++ {
		p := randomPattern(rng, 2)
		inputs := make([]string, 12)
		for j := range inputs {
			inputs[j] = randomInput(rng)
		}
		vmAgrees(t, p, inputs)
		vmAgrees(t, "(?m)"+p, inputs)
		vmAgrees(t, "(?s)"+p, inputs) // . takes \n too
	}
}

// TestVMFilterPatterns runs every regex of the built-in filters (and of
// fail2ban's, when its test data is present) over sample lines.
func TestVMFilterPatterns(t *testing.T) {
	lines := sshdMix(300, false)
	var patterns []string
	collect := func(f *Filter) {
		for _, r := range append(append([]*regex{f.pref}, f.fail...), f.ignore...) {
			if r == nil {
				continue
			}
			p, err := translatePython(r.pattern)
			if err != nil || p.why != "" {
				continue
			}
			patterns = append(patterns, p.exact)
		}
	}
	for _, name := range Builtins() {
		f, err := Load(name, Options{})
		if err != nil {
			t.Fatal(err)
		}
		collect(f)
	}
	if _, err := os.Stat(filepath.Join(sharedDir, "filter.d")); err == nil {
		files, _ := filepath.Glob(filepath.Join(sharedDir, "filter.d", "*.conf"))
		for _, file := range files {
			if f, err := Load(file, Options{}); err == nil {
				collect(f)
			}
		}
		logs, _ := filepath.Glob(filepath.Join(sharedDir, "logs", "*"))
		for _, l := range logs {
			data, _ := os.ReadFile(l)
			for _, line := range strings.Split(string(data), "\n") {
				if !strings.HasPrefix(line, "#") {
					lines = append(lines, line)
				}
			}
		}
	}
	for _, p := range patterns {
		vmAgrees(t, p, lines)
	}
	t.Logf("%d patterns x %d lines agree", len(patterns), len(lines))
}

// FuzzVM compares the VM with Go's regexp on fuzzed patterns and inputs.
func FuzzVM(f *testing.F) {
	f.Add(`^(?P<a>\S+) (\d+)?.*?$`, "web1 42 x")
	f.Add(`(a|ab)(c|bcd)(d*)`, "abcd")
	f.Add(`(?m)^x$\n^y`, "x\ny")
	f.Fuzz(func(t *testing.T, pattern, input string) {
		if len(pattern) > 200 || len(input) > 200 {
			return
		}
		vmAgrees(t, pattern, []string{input})
	})
}

// TestEmptyOK compares the byte-wise zero-width assertions with regexp's
// on every position of inputs with newlines, word characters, non-ASCII
// and invalid UTF-8.
func TestEmptyOK(t *testing.T) {
	ops := []syntax.EmptyOp{syntax.EmptyBeginLine, syntax.EmptyEndLine, syntax.EmptyBeginText, syntax.EmptyEndText,
		syntax.EmptyWordBoundary, syntax.EmptyNoWordBoundary, syntax.EmptyBeginLine | syntax.EmptyWordBoundary}
	rng := rand.New(rand.NewSource(3))
	for i := 0; i < 20000; i++ {
		s := randomInput(rng)
		for pos := 0; pos <= len(s); pos++ {
			before, after := rune(-1), rune(-1)
			if pos > 0 {
				before, _ = utf8.DecodeLastRuneInString(s[:pos])
			}
			if pos < len(s) {
				after, _ = utf8.DecodeRuneInString(s[pos:])
			}
			ctx := syntax.EmptyOpContext(before, after)
			for _, op := range ops {
				if got, want := emptyOK(op, s, pos), ctx&op == op; got != want {
					t.Fatalf("%v on %q at %d: %v, want %v", op, s, pos, got, want)
				}
			}
		}
	}
}
