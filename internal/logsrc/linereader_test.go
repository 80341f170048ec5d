package logsrc

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// readAll reads r until io.EOF and then flushes it; it returns the lines
// with the offset after each.
func readAll(t testing.TB, r *LineReader) ([]string, []int64) {
	t.Helper()
	var lines []string
	var offs []int64
	for {
		line, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		lines = append(lines, string(line))
		offs = append(offs, r.Offset())
	}
	if line, ok := r.Flush(); ok {
		lines = append(lines, string(line))
		offs = append(offs, r.Offset())
	}
	return lines, offs
}

func TestLineReader(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		lines []string
		offs  []int64
	}{
		{"empty", "", nil, nil},
		{"lines", "a\nbb\n", []string{"a", "bb"}, []int64{2, 5}},
		{"crlf", "a\r\nb\r\n", []string{"a", "b"}, []int64{3, 6}},
		{"lone CR kept", "a\rb\n\r\r\n", []string{"a\rb", "\r"}, []int64{4, 7}},
		{"empty lines", "\n\n\r\n", []string{"", "", ""}, []int64{1, 2, 4}},
		{"NUL and invalid UTF-8 untouched", "a\x00b\xff\xfe\n", []string{"a\x00b\xff\xfe"}, []int64{6}},
		{"incomplete last line flushed", "a\nbc", []string{"a", "bc"}, []int64{2, 4}},
		{"incomplete CRLF stripped when flushed", "a\r", []string{"a"}, []int64{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines, offs := readAll(t, NewLineReader(strings.NewReader(tc.in), 0, 0))
			if diff := cmp.Diff(tc.lines, lines); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.offs, offs); diff != "" {
				t.Errorf("offsets (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLineReaderHoldsIncompleteLine(t *testing.T) {
	var src bytes.Buffer // a growing file: EOF now, more later
	r := NewLineReader(&src, 100, 0)
	src.WriteString("one\ntw")
	if line, err := r.Next(); err != nil || string(line) != "one" {
		t.Fatalf("Next = %q, %v; want \"one\"", line, err)
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("Next on an incomplete line: err %v, want io.EOF", err)
	}
	if r.Offset() != 104 || r.Pending() != 2 {
		t.Fatalf("Offset, Pending = %d, %d; want 104, 2", r.Offset(), r.Pending())
	}
	src.WriteString("o\r\nthree\n")
	for _, want := range []string{"two", "three"} {
		if line, err := r.Next(); err != nil || string(line) != want {
			t.Fatalf("Next = %q, %v; want %q", line, err, want)
		}
	}
	if r.Offset() != 100+int64(len("one\ntwo\r\nthree\n")) || r.Pending() != 0 {
		t.Fatalf("Offset, Pending = %d, %d", r.Offset(), r.Pending())
	}
}

func TestLineReaderLongLines(t *testing.T) {
	const max = 8
	for _, tc := range []struct {
		name      string
		in        string
		want      string
		truncated bool
	}{
		{"max", "12345678\n", "12345678", false},
		{"max with CRLF", "12345678\r\n", "12345678", false},
		{"max plus one", "123456789\n", "12345678", true},
		{"max plus CR inside", "12345678\rx\n", "12345678", true},
		{"far over", strings.Repeat("x", 10000) + "\r\n", "xxxxxxxx", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One byte at a time, so the line is assembled, and all at
			// once, so it is cut from the read buffer.
			for _, src := range []io.Reader{iotestOneByte(tc.in), strings.NewReader(tc.in)} {
				r := NewLineReader(src, 0, max)
				line, err := r.Next()
				if err != nil || string(line) != tc.want || r.Truncated() != tc.truncated {
					t.Fatalf("Next = %q, %v, truncated %v; want %q, truncated %v", line, err, r.Truncated(), tc.want, tc.truncated)
				}
				if r.Offset() != int64(len(tc.in)) {
					t.Errorf("Offset = %d, want %d", r.Offset(), len(tc.in))
				}
			}
		})
	}
}

// TestLineReaderBoundedMemory feeds a 4 MiB line in small reads: the line
// is delivered cut, once, and the reader never holds more than max+1 bytes
// of it.
func TestLineReaderBoundedMemory(t *testing.T) {
	const max = 1024
	huge := strings.Repeat("A", 4<<20)
	src := io.MultiReader(&chunked{s: huge, n: 1000}, strings.NewReader("\nnext\n"))
	r := NewLineReader(src, 0, max)
	line, err := r.Next()
	if err != nil || len(line) != max || !r.Truncated() {
		t.Fatalf("Next = %d bytes, %v, truncated %v; want %d bytes, truncated", len(line), err, r.Truncated(), max)
	}
	if c := cap(r.line); c > 2*(max+1) {
		t.Errorf("line buffer grew to %d bytes for a bound of %d", c, max)
	}
	if line, err := r.Next(); err != nil || string(line) != "next" {
		t.Fatalf("line after the long one = %q, %v", line, err)
	}
}

func TestLineReaderFlushLongIncompleteLine(t *testing.T) {
	r := NewLineReader(strings.NewReader("ok\n"+strings.Repeat("z", 50)), 0, 10)
	lines, offs := readAll(t, r)
	if diff := cmp.Diff([]string{"ok", strings.Repeat("z", 10)}, lines); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if offs[1] != 53 {
		t.Errorf("offset after flush = %d, want 53", offs[1])
	}
}

func TestLineReaderSkipFirst(t *testing.T) {
	r := NewLineReader(strings.NewReader("tail of a line\nwhole\n"), 40, 0)
	r.skipFirst()
	line, err := r.Next()
	if err != nil || string(line) != "whole" || r.Offset() != 40+21 {
		t.Fatalf("Next = %q, %v at %d; want \"whole\" at 61", line, err, r.Offset())
	}
	// A skipped incomplete line is not flushed either, but counted.
	r = NewLineReader(strings.NewReader("partial"), 0, 0)
	r.skipFirst()
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("Next: %v, want EOF", err)
	}
	if line, ok := r.Flush(); ok || r.Offset() != 7 {
		t.Fatalf("Flush = %q, %v at %d; want nothing at 7", line, ok, r.Offset())
	}
}

func TestLineReaderErrors(t *testing.T) {
	boom := errors.New("boom")
	r := NewLineReader(io.MultiReader(strings.NewReader("a\nb"), errReader{boom}), 0, 0)
	if line, err := r.Next(); err != nil || string(line) != "a" {
		t.Fatalf("Next = %q, %v", line, err)
	}
	if _, err := r.Next(); !errors.Is(err, boom) {
		t.Fatalf("Next: %v, want the source's error", err)
	}
	r = NewLineReader(emptyReader{}, 0, 0)
	if _, err := r.Next(); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("Next on a reader that returns nothing: %v, want io.ErrNoProgress", err)
	}
}

// FuzzLineReader checks that any chunking of the same input, with "no more
// data for now" (io.EOF) between chunks as a followed file gives, yields the
// lines and offsets a plain split does, and that nothing panics.
func FuzzLineReader(f *testing.F) {
	f.Add([]byte("a\nb\r\nc"), []byte{1, 2, 3}, uint8(0))
	f.Add([]byte("\r\n\r\r\n\n\x00\xff"), []byte{0, 1}, uint8(2))
	f.Add([]byte(strings.Repeat("long line ", 20)+"\nshort\n"), []byte{7, 200}, uint8(16))
	f.Fuzz(func(t *testing.T, data, cuts []byte, maxByte uint8) {
		max := int(maxByte) // 0 means the default
		wantLines, wantOffs := splitLines(data, max)

		src := &stepReader{data: data, cuts: cuts}
		r := NewLineReader(src, 0, max)
		var lines []string
		var offs []int64
		for {
			line, err := r.Next()
			if errors.Is(err, io.EOF) {
				if src.done() {
					break
				}
				continue // more comes: as a follower does after a wake-up
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			lines = append(lines, string(line))
			offs = append(offs, r.Offset())
		}
		if line, ok := r.Flush(); ok {
			lines = append(lines, string(line))
			offs = append(offs, r.Offset())
		}
		if diff := cmp.Diff(wantLines, lines); diff != "" {
			t.Fatalf("lines (-split +reader):\n%s", diff)
		}
		if diff := cmp.Diff(wantOffs, offs); diff != "" {
			t.Fatalf("offsets (-split +reader):\n%s", diff)
		}
		if r.Offset() != int64(len(data)) {
			t.Fatalf("final offset %d, want %d", r.Offset(), len(data))
		}
	})
}

// splitLines is the reference: lines split at "\n", a "\r" before it
// dropped, cut to max; the last incomplete line kept (without a last "\r",
// the start of a line ending).
func splitLines(data []byte, max int) ([]string, []int64) {
	if max <= 0 {
		max = DefaultMaxLine
	}
	var lines []string
	var offs []int64
	off := int64(0)
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		var line []byte
		if i < 0 {
			line, data = data, nil
			off += int64(len(line))
		} else {
			line, data = data[:i], data[i+1:]
			off += int64(i + 1)
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > max {
			line = line[:max]
		}
		lines = append(lines, string(line))
		offs = append(offs, off)
	}
	return lines, offs
}

// stepReader returns data in chunks whose sizes come from cuts, with an
// io.EOF after each chunk, like a file being appended to.
type stepReader struct {
	data []byte
	cuts []byte
	pos  int
	i    int
	eof  bool // the next Read reports the end of the current chunk
}

func (s *stepReader) Read(p []byte) (int, error) {
	if s.eof || s.pos == len(s.data) {
		s.eof = false
		return 0, io.EOF
	}
	n := len(s.data) - s.pos
	if len(s.cuts) > 0 {
		n = min(n, int(s.cuts[s.i%len(s.cuts)])+1)
		s.i++
	}
	n = min(n, len(p))
	copy(p, s.data[s.pos:s.pos+n])
	s.pos += n
	s.eof = true
	return n, nil
}

func (s *stepReader) done() bool { return s.pos == len(s.data) && !s.eof }

// chunked returns s n bytes at a time.
type chunked struct {
	s string
	n int
}

func (c *chunked) Read(p []byte) (int, error) {
	if c.s == "" {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.n)], c.s)
	c.s = c.s[n:]
	return n, nil
}

func iotestOneByte(s string) io.Reader { return &chunked{s: s, n: 1} }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

// BenchmarkLineReader reads sshd-like lines from memory.
func BenchmarkLineReader(b *testing.B) {
	line := "Jan 12 10:00:01 host sshd[4242]: Failed password for invalid user admin from 192.0.2.17 port 50022 ssh2\n"
	data := []byte(strings.Repeat(line, 10000))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r := NewLineReader(bytes.NewReader(data), 0, 0)
		n := 0
		for {
			if _, err := r.Next(); err != nil {
				break
			}
			n++
		}
		if n != 10000 {
			b.Fatalf("%d lines", n)
		}
	}
}
