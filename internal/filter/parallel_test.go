package filter

import (
	"fmt"
	"io"
	"math/rand"
	"reflect"
	"strings"
	"testing"
)

// emitted is a failure with the line it was reported for.
type emitted struct {
	line int
	host string
	regs int
	n    int // lines
}

// serialRun runs a Matcher line by line: the reference result.
func serialRun(f *Filter, lines []string) ([]emitted, Stats) {
	m := f.NewMatcher()
	var out []emitted
	for i, l := range lines {
		for _, fl := range m.Line(l) {
			out = append(out, emitted{i + 1, fl.Host, fl.Regex, len(fl.Lines)})
		}
	}
	return out, m.Stats()
}

// TestMatchReaderEqualsMatcher checks that spreading a log over workers
// gives exactly what one Matcher gives, failures and statistics.
func TestMatchReaderEqualsMatcher(t *testing.T) {
	lines := sshdMix(8000, false)
	// connections whose lines are far apart, and undated lines
	lines = append(lines,
		"Nov 21 08:00:00 web1 sshd[777]: Connection from 198.51.100.77 port 1 on 10.0.0.5 port 22",
		"continued line without a date",
		"Nov 21 08:00:09 web1 sshd[777]: Disconnecting: Too many authentication failures for root [preauth]")
	specs := []string{"sshd", "sshd[mode=aggressive]", "postfix[mode=ddos]"}
	for _, spec := range specs {
		f, err := Load(spec, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		want, wantStats := serialRun(f, lines)
		for _, workers := range []int{1, 2, 3} {
			var got []emitted
			st, err := f.MatchReader(strings.NewReader(strings.Join(lines, "\n")), workers, func(n int, fl Failure) {
				got = append(got, emitted{n, fl.Host, fl.Regex, len(fl.Lines)})
			})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s, %d workers: %d failures, want %d (first difference %s)", spec, workers, len(got), len(want), firstDiff(got, want))
			}
			if !reflect.DeepEqual(st, wantStats) {
				t.Errorf("%s, %d workers: stats %+v, want %+v", spec, workers, st, wantStats)
			}
		}
	}
}

func firstDiff(a, b []emitted) string {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return fmt.Sprintf("%+v vs %+v", a[i], b[i])
		}
	}
	return "at the end"
}

// TestChunkReader checks line splitting: CRLF, a last line without a
// newline, empty lines, and lines longer than a chunk.
func TestChunkReader(t *testing.T) {
	huge := strings.Repeat("x", chunkBytes+10)
	input := "a\r\n\nb\n" + huge + "\nc\nlast"
	f, err := FromRegexes([]string{`^\S+ <ADDR>$`}, Options{MaxLineBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.MatchReader(strings.NewReader(input), 2, func(int, Failure) {})
	if err != nil {
		t.Fatal(err)
	}
	if st.Lines != 6 || st.TooLong != 1 {
		t.Errorf("lines %d, too long %d; want 6 and 1", st.Lines, st.TooLong)
	}
	var hosts []string
	var nums []int
	_, err = f.MatchReader(strings.NewReader("x 192.0.2.1\r\ny\nz 192.0.2.2"), 2, func(n int, fl Failure) {
		hosts = append(hosts, fl.Host)
		nums = append(nums, n)
	})
	if err != nil || !reflect.DeepEqual(hosts, []string{"192.0.2.1", "192.0.2.2"}) || !reflect.DeepEqual(nums, []int{1, 3}) {
		t.Errorf("hosts %v on lines %v (%v)", hosts, nums, err)
	}
}

// TestChunkReaderLongLimit reads lines longer than a chunk when the limit
// allows them.
func TestChunkReaderLongLimit(t *testing.T) {
	f, err := FromRegexes([]string{`^\S+ <ADDR>$`}, Options{MaxLineBytes: 3 * chunkBytes})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 2*chunkBytes) + " 192.0.2.1"
	var hosts []string
	st, err := f.MatchReader(strings.NewReader(long+"\n"+long), 2, func(n int, fl Failure) { hosts = append(hosts, fl.Host) })
	if err != nil || st.Lines != 2 || len(hosts) != 2 {
		t.Errorf("lines %d, hosts %v, err %v", st.Lines, hosts, err)
	}
}

func TestMatchLinesMultiLine(t *testing.T) {
	dir := writeFiles(t, map[string]string{"f.conf": "[Definition]\nfailregex = ^\\s*a <HOST>$\\n^\\s*b$\nmaxlines = 2\n"})
	f, err := Load(dir+"/f.conf", testOptions())
	if err != nil {
		t.Fatal(err)
	}
	lines := []string{"a 192.0.2.1", "b", "x", "a 192.0.2.2", "c", "b"}
	var got []int
	f.MatchLines(lines, 4, func(i int, fl Failure) { got = append(got, i) })
	if !reflect.DeepEqual(got, []int{1}) {
		t.Errorf("failures on %v, want [1]", got)
	}
}

// randomReader returns at most a random number of bytes per Read, so that
// chunks end anywhere: inside lines, on newlines, between \r and \n.
type randomReader struct {
	s   string
	rng *rand.Rand
}

func (r *randomReader) Read(p []byte) (int, error) {
	if len(r.s) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(r.s), 1+r.rng.Intn(3*chunkBytes/2))
	if r.rng.Intn(4) == 0 {
		n = min(n, 1+r.rng.Intn(64))
	}
	copy(p, r.s[:n])
	r.s = r.s[n:]
	return n, nil
}

// TestChunkReaderEqualsLines checks MatchReader's reading against the
// lines split in memory, on generated logs: lines of every length around
// the limit and beyond a chunk, CRLF, NULs, invalid UTF-8, empty lines,
// with or without a last newline, read in pieces of random sizes.
func TestChunkReaderEqualsLines(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	const limit = 120
	f, err := FromRegexes([]string{`^\S+ <ADDR>$`}, Options{MaxLineBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	rounds := 40
	if testing.Short() {
		rounds = 8
	}
	for round := range rounds {
		var lines []string
		size := 0
		for size < 3*chunkBytes {
			var l string
			switch r := rng.Intn(100); {
			case r < 60:
				l = fmt.Sprintf("h%d 192.0.2.%d", rng.Intn(1000), rng.Intn(256))
			case r < 70:
				l = ""
			case r < 80:
				l = strings.Repeat("y", limit-2+rng.Intn(5)) // around the limit
			case r < 85:
				l = "x 192.0.2.1\r"
			case r < 90:
				l = "\x00\xff\xfe 192.0.2.2"
			case r < 99:
				l = strings.Repeat("z", rng.Intn(4*limit))
			default:
				l = strings.Repeat("w", chunkBytes/2+rng.Intn(chunkBytes))
			}
			lines = append(lines, l)
			size += len(l) + 1
		}
		text := strings.Join(lines, "\n")
		if rng.Intn(2) == 0 {
			text += "\n"
		}
		want, wantStats := serialRun(f, lines)
		for _, workers := range []int{1, 2} {
			var got []emitted
			st, err := f.MatchReader(&randomReader{s: text, rng: rng}, workers, func(n int, fl Failure) {
				got = append(got, emitted{n, fl.Host, fl.Regex, len(fl.Lines)})
			})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(st, wantStats) {
				t.Fatalf("round %d, %d workers: %d failures, want %d (first difference %s); stats %+v, want %+v",
					round, workers, len(got), len(want), firstDiff(got, want), st, wantStats)
			}
		}
	}
}
