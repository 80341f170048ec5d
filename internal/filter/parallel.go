package filter

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// This file spreads one log over several goroutines, for test-filter and
// for reading a large file at start-up. Lines go in batches; the stateless
// stage (date, regexes: scan) of each batch runs on any worker, the
// stateful stage (connections, dates of undated lines: apply) runs on one
// goroutine in line order. The result is exactly that of one Matcher fed
// the lines in order. Filters with maxlines > 1 buffer lines between
// regexes, so all their work runs in order on one goroutine.

// batchLines is how many lines go to a worker at once.
const batchLines = 2048

// chunkBytes is how much MatchReader reads at once.
const chunkBytes = 1 << 20

// batch is a run of consecutive lines and what scanning them found.
type batch struct {
	first int      // 1-based number of the first line
	lines []string // the lines, without their newlines
	scans []scanned
	stats Stats
	done  chan struct{} // closed when scans are ready
}

// MatchReader reads a log from r and runs the filter over its lines as one
// Matcher would, on up to workers goroutines (0 means GOMAXPROCS). emit is
// called with each failure in line order, with the 1-based line number the
// failure was found on. Lines longer than Options.MaxLineBytes are skipped.
func (f *Filter) MatchReader(r io.Reader, workers int, emit func(lineNo int, fl Failure)) (Stats, error) {
	src := &chunkReader{r: bufio.NewReaderSize(r, chunkBytes), max: f.opts.MaxLineBytes}
	return f.run(src.batch, workers, emit)
}

// MatchLines is MatchReader for lines already in memory; emit gets the
// index into lines.
func (f *Filter) MatchLines(lines []string, workers int, emit func(index int, fl Failure)) Stats {
	next := 0
	src := func() ([]string, int, error) {
		if next >= len(lines) {
			return nil, 0, io.EOF
		}
		end := min(next+batchLines, len(lines))
		b := lines[next:end]
		first := next
		next = end
		return b, first, nil
	}
	st, _ := f.run(src, workers, emit)
	return st
}

// run drives the pipeline over a source of line batches.
func (f *Filter) run(next func() ([]string, int, error), workers int, emit func(int, Failure)) (Stats, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	m := f.NewMatcher()
	m.borrowed = true
	if workers == 1 || f.maxLines > 1 {
		err := runSerial(m, next, emit)
		return m.Stats(), err
	}
	work := make(chan *batch, 2*workers)
	ordered := make(chan *batch, 4*workers)
	// Batches go back to the reader once applied, so that their scans (and
	// the fields each keeps room for) are reused rather than allocated for
	// every line; at most cap(free) batches are ever made.
	free := make(chan *batch, 7*workers+2) // all there can be in the channels and the stages
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.scanBatches(work)
		}()
	}
	var readErr error
	go func() {
		defer close(ordered)
		defer close(work)
		for {
			lines, first, err := next()
			if len(lines) > 0 {
				var b *batch
				select {
				case b = <-free:
				default:
					b = &batch{stats: newStats(f)}
				}
				b.first, b.lines, b.done = first, lines, make(chan struct{})
				work <- b
				ordered <- b
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					readErr = err
				}
				return
			}
		}
	}()
	for b := range ordered {
		<-b.done
		m.stats.add(&b.stats)
		for i := range b.scans {
			if fl, ok := m.apply(&b.scans[i]); ok {
				emit(b.first+i, fl)
			}
		}
		b.lines = nil
		select {
		case free <- b:
		default:
		}
	}
	wg.Wait()
	return m.Stats(), readErr
}

// scanBatches is a worker: it scans the batches it is given.
func (f *Filter) scanBatches(work <-chan *batch) {
	sc := scanner{f: f}
	for b := range work {
		b.stats.reset()
		sc.stats = &b.stats
		if cap(b.scans) < len(b.lines) {
			b.scans = newScans(len(b.lines))
		}
		b.scans = b.scans[:len(b.lines)]
		sc.now = f.opts.Now()
		for i, line := range b.lines {
			sc.scan(&b.scans[i], line, time.Time{}, false)
		}
		close(b.done)
	}
}

// fieldsPerLine is the room for captured fields each scanned line of a
// batch starts with (sshd's regexes capture up to about eight).
const fieldsPerLine = 8

// newScans makes the scans of a batch, their fields all in one array.
func newScans(n int) []scanned {
	scans := make([]scanned, n)
	fields := make([]field, n*fieldsPerLine)
	for i := range scans {
		scans[i].fields = fields[i*fieldsPerLine : i*fieldsPerLine : (i+1)*fieldsPerLine]
	}
	return scans
}

// runSerial runs everything on the calling goroutine.
func runSerial(m *Matcher, next func() ([]string, int, error), emit func(int, Failure)) error {
	for {
		lines, first, err := next()
		for i, line := range lines {
			if fl, ok := m.line(line); ok {
				emit(first+i, fl)
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// chunkReader cuts a reader into batches of lines. Each chunk of input
// becomes one string that the batch's lines are slices of, so lines cost
// no allocation of their own.
type chunkReader struct {
	r       *bufio.Reader
	max     int    // a longer line becomes a stand-in the matcher counts as too long
	lineNo  int    // lines read so far
	carry   []byte // the start of a line the last chunk cut
	buf     []byte // reused for reading each chunk (its text is copied out)
	pending []string
	first   int // number of pending[0]
	err     error
}

// batch returns the next batchLines lines (or fewer) and the number of the
// first, reading a chunk when none are pending.
func (c *chunkReader) batch() ([]string, int, error) {
	for len(c.pending) == 0 && c.err == nil {
		c.pending, c.first, c.err = c.next()
	}
	n := min(batchLines, len(c.pending))
	lines, first := c.pending[:n], c.first
	c.pending, c.first = c.pending[n:], c.first+n
	if len(c.pending) > 0 {
		return lines, first, nil
	}
	return lines, first, c.err
}

// next returns the next lines and the 1-based number of the first.
func (c *chunkReader) next() ([]string, int, error) {
	// The chunk is read into a buffer kept from one chunk to the next, so
	// that it is not grown from nothing by appends each time; its text is
	// copied out once, into the string the lines are slices of.
	buf := append(c.buf[:0], c.carry...)
	c.carry = c.carry[:0]
	defer func() { c.buf = buf[:0] }()
	var err error
	cut := bytes.LastIndexByte(buf, '\n') + 1 // after the last newline read
	// read a chunk, and on until a line ends or the line is too long to keep
	for err == nil && (len(buf) < chunkBytes || cut == 0) && (cut > 0 || len(buf) <= c.max+1) {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, chunkBytes)
		}
		var n int
		n, err = c.r.Read(buf[len(buf):cap(buf)])
		if i := bytes.LastIndexByte(buf[len(buf):len(buf)+n], '\n'); i >= 0 {
			cut = len(buf) + i + 1
		}
		buf = buf[:len(buf)+n]
	}
	if err != nil {
		cut = len(buf) // the last line may lack its newline
	}
	if cut == 0 && len(buf) > c.max+1 {
		// no newline within the longest line allowed: skip to the next one
		skipped, serr := c.skipLine()
		if serr != nil && !errors.Is(serr, io.EOF) {
			return nil, 0, fmt.Errorf("could not read log: %w", serr)
		}
		c.lineNo++
		return []string{skipped}, c.lineNo, serr
	}
	text := string(buf[:cut])
	if cut < len(buf) {
		c.carry = append(c.carry, buf[cut:]...)
	}
	lines := splitLines(text)
	first := c.lineNo + 1
	c.lineNo += len(lines)
	if err != nil && !errors.Is(err, io.EOF) {
		return lines, first, fmt.Errorf("could not read log: %w", err)
	}
	return lines, first, err
}

// skipLine drops the rest of an over-long line; it returns a stand-in
// longer than any allowed line, so the matcher counts it as too long.
func (c *chunkReader) skipLine() (string, error) {
	for {
		_, err := c.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return string(make([]byte, c.max+1)), err
	}
}

// splitLines splits text at newlines (a final newline ends the last line).
func splitLines(text string) []string {
	lines := make([]string, 0, strings.Count(text, "\n")+1)
	for len(text) > 0 {
		i := strings.IndexByte(text, '\n')
		if i < 0 {
			lines = append(lines, text)
			break
		}
		lines = append(lines, text[:i])
		text = text[i+1:]
	}
	return lines
}
