package logsrc

import (
	"bytes"
	"io"
)

// DefaultMaxLine bounds the length of a line. Longer lines are delivered cut
// to this length, once; the rest up to the next newline is skipped.
const DefaultMaxLine = 64 << 10

// readSize is how much a LineReader asks its source for at a time.
const readSize = 64 << 10

// maxEmptyReads is how many reads returning nothing and no error a
// LineReader tolerates before it reports io.ErrNoProgress, as bufio does.
const maxEmptyReads = 100

// LineReader splits a byte stream into lines, keeping track of the offset in
// the stream just after the last line it returned.
//
// A line ends at "\n"; a "\r" before it is removed too. Other bytes,
// including NULs, other "\r" and invalid UTF-8, are kept. A line longer than
// the maximum is returned cut to the maximum once its newline arrives; the
// bytes beyond the maximum are counted but never held, so memory stays
// bounded by the maximum whatever the input. An incomplete last line (no
// newline yet) is held until its newline arrives, or until Flush.
//
// A LineReader is not safe for concurrent use.
type LineReader struct {
	src io.Reader
	max int

	rbuf       []byte // bytes read from src, rbuf[rpos:rend] not yet consumed
	rpos, rend int

	line      []byte // the incomplete line so far, at most max+1 bytes
	over      bool   // the incomplete line had bytes beyond max+1
	discard   bool   // drop the incomplete line entirely (started mid-line)
	pending   int64  // bytes of the incomplete line consumed from rbuf
	off       int64  // offset just after the last returned line
	truncated bool   // the last returned line was cut to max
	empty     int    // consecutive empty reads
}

// NewLineReader returns a LineReader reading src, whose first byte is at
// offset off of the stream. max bounds line length; 0 or less means
// DefaultMaxLine.
func NewLineReader(src io.Reader, off int64, max int) *LineReader {
	if max <= 0 {
		max = DefaultMaxLine
	}
	return &LineReader{src: src, max: max, off: off, rbuf: make([]byte, readSize)}
}

// Next returns the next complete line, without its line ending. The slice
// is valid until the next call of a method of r.
//
// Next returns io.EOF when src is at its end and no complete line is left;
// the bytes of an incomplete last line stay held, and Next can be called
// again once src has more (as when following a growing file). Other errors
// of src are returned as they are.
func (r *LineReader) Next() ([]byte, error) {
	for {
		if r.rpos < r.rend {
			if line, ok := r.scan(); ok {
				return line, nil
			}
			continue
		}
		if err := r.fill(); err != nil {
			return nil, err
		}
	}
}

// scan looks for a newline in the buffered bytes: it returns the line it
// ends, or appends what it has to the incomplete line. A line to discard
// is consumed without being returned.
func (r *LineReader) scan() ([]byte, bool) {
	buf := r.rbuf[r.rpos:r.rend]
	i := bytes.IndexByte(buf, '\n')
	if i < 0 {
		r.appendLine(buf)
		r.pending += int64(len(buf))
		r.rpos, r.rend = 0, 0
		return nil, false
	}
	r.rpos += i + 1
	r.pending += int64(i + 1)
	var text []byte
	if len(r.line) == 0 && !r.over && !r.discard {
		// The whole line is in the buffer: no copy.
		text = buf[:i]
	} else {
		r.appendLine(buf[:i])
		text = r.line
	}
	discard := r.discard
	text = r.finish(text)
	return text, !discard
}

// appendLine adds bytes to the incomplete line, keeping at most max+1 of
// them: one more than max tells a line of exactly max bytes and a "\r"
// from one that is too long.
func (r *LineReader) appendLine(p []byte) {
	if r.discard {
		return
	}
	if room := r.max + 1 - len(r.line); len(p) > room {
		p = p[:room]
		r.over = true
	}
	r.line = append(r.line, p...)
}

// finish completes a line whose newline was consumed: it strips "\r",
// applies the bound, and resets the incomplete-line state.
func (r *LineReader) finish(text []byte) []byte {
	if r.discard {
		text = nil
	}
	if !r.over && len(text) > 0 && text[len(text)-1] == '\r' {
		text = text[:len(text)-1]
	}
	r.truncated = len(text) > r.max
	if r.truncated {
		text = text[:r.max]
	}
	r.off += r.pending
	r.pending = 0
	r.line = r.line[:0]
	r.over, r.discard = false, false
	return text
}

// fill reads more bytes from src into the empty read buffer.
func (r *LineReader) fill() error {
	n, err := r.src.Read(r.rbuf)
	r.rpos, r.rend = 0, n
	if n > 0 {
		r.empty = 0
		return nil
	}
	if err != nil {
		return err
	}
	r.empty++
	if r.empty >= maxEmptyReads {
		r.empty = 0
		return io.ErrNoProgress
	}
	return nil
}

// Flush returns the incomplete last line held (cut to the maximum, and
// without a last "\r": the start of a "\r\n"), if there is one, and
// counts it as read: Offset moves past it. A source that
// ends for good (a file rotated away, a closed stream) flushes its last
// line this way. The slice is valid until the next call of a method of r.
func (r *LineReader) Flush() ([]byte, bool) {
	// Bytes read but not yet scanned belong to the incomplete line too.
	if r.rpos < r.rend {
		r.appendLine(r.rbuf[r.rpos:r.rend])
		r.pending += int64(r.rend - r.rpos)
		r.rpos, r.rend = 0, 0
	}
	if r.pending == 0 {
		return nil, false
	}
	discard := r.discard
	text := r.finish(r.line)
	if discard {
		return nil, false
	}
	return text, true
}

// Offset returns the stream offset just after the last line returned by
// Next or Flush (or the starting offset): where reading resumes to get the
// next line.
func (r *LineReader) Offset() int64 { return r.off }

// Pending returns how many bytes after Offset were read and belong to the
// incomplete line held.
func (r *LineReader) Pending() int64 {
	return r.pending + int64(r.rend-r.rpos)
}

// Truncated reports whether the last line returned was longer than the
// maximum and cut.
func (r *LineReader) Truncated() bool { return r.truncated }

// Reset makes r read src from stream offset off, dropping any held bytes.
func (r *LineReader) Reset(src io.Reader, off int64) {
	r.src, r.off = src, off
	r.rpos, r.rend = 0, 0
	r.line = r.line[:0]
	r.over, r.discard, r.truncated = false, false, false
	r.pending, r.empty = 0, 0
}

// skipFirst makes r drop the first line it reads: for a reader started in
// the middle of a line, whose head it cannot see.
func (r *LineReader) skipFirst() { r.discard = true }
