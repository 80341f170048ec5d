package filter

import (
	"time"

	"github.com/seawall/seawall/internal/filter/datedetect"
)

// Matching a line has two stages. scan is stateless: it cuts out the date,
// runs the ignoreregexes, the prefregex and the failregexes, and records
// what matched. apply keeps the state fail2ban keeps per log source: the
// date of the last dated line (for lines without one) and the connections
// linked by <F-MLFID>. A Matcher runs both for each line; MatchReader and
// MatchLines run scan on several goroutines and apply in order (see
// parallel.go).

// Matcher runs a filter over the lines of one log source, in order. It is
// not safe for concurrent use; see MatchReader for spreading one file over
// several goroutines.
type Matcher struct {
	f        *Filter
	stats    Stats
	lastDate time.Time
	buf      []bufLine // multi-line filters: the last maxlines lines
	conns    connTable
	sc       scanner
	cur      scanned // the line being processed (its fields are reused)
	// borrowed says lines are views into larger buffers (MatchReader's
	// chunks): what a connection keeps of them is always copied, or one
	// kept value would keep its whole chunk alive.
	borrowed bool
}

// Stats counts what a Matcher did.
type Stats struct {
	Lines      int   // lines given to Line or Entry
	Matched    int   // lines some failregex matched (failure or not)
	Failures   int   // failures returned
	Missed     int   // lines no failregex matched
	Ignored    int   // lines or matches an ignoreregex dropped
	TooLong    int   // lines skipped for being longer than Options.MaxLineBytes
	NoDate     int   // lines without a date (the previous line's date was used)
	Timeouts   int   // backtracking regexes that ran out of time (counted as no match)
	FailHits   []int // per failregex: lines it matched
	IgnoreHits []int // per ignoreregex: lines it matched
}

// add sums s2 into s.
func (s *Stats) add(s2 *Stats) {
	s.Lines += s2.Lines
	s.Matched += s2.Matched
	s.Failures += s2.Failures
	s.Missed += s2.Missed
	s.Ignored += s2.Ignored
	s.TooLong += s2.TooLong
	s.NoDate += s2.NoDate
	s.Timeouts += s2.Timeouts
	for i, n := range s2.FailHits {
		s.FailHits[i] += n
	}
	for i, n := range s2.IgnoreHits {
		s.IgnoreHits[i] += n
	}
}

// reset zeroes the counts, keeping the per-regex slices.
func (s *Stats) reset() {
	fail, ign := s.FailHits, s.IgnoreHits
	clear(fail)
	clear(ign)
	*s = Stats{FailHits: fail, IgnoreHits: ign}
}

func newStats(f *Filter) Stats {
	return Stats{FailHits: make([]int, len(f.fail)), IgnoreHits: make([]int, len(f.ignore))}
}

// NewMatcher returns a Matcher for one log source.
func (f *Filter) NewMatcher() *Matcher {
	m := &Matcher{f: f, stats: newStats(f)}
	m.sc = scanner{f: f, stats: &m.stats}
	return m
}

// Stats returns the counts so far.
func (m *Matcher) Stats() Stats {
	s := m.stats
	s.FailHits = append([]int(nil), s.FailHits...)
	s.IgnoreHits = append([]int(nil), s.IgnoreHits...)
	return s
}

// Line processes one log line; its date is found in the line and cut out
// before the regexes run. A trailing newline is ignored.
func (m *Matcher) Line(line string) []Failure {
	return one(m.line(line))
}

// line is Line without the slice.
func (m *Matcher) line(line string) (Failure, bool) {
	if m.f.maxLines > 1 {
		return m.bufferLine(line, time.Time{}, false)
	}
	m.sc.scan(&m.cur, line, time.Time{}, false)
	return m.apply(&m.cur)
}

// Entry processes one journal entry's message (logtype=journal): the time
// comes from the journal, not from the text.
func (m *Matcher) Entry(line string, t time.Time) []Failure {
	if m.f.maxLines > 1 {
		return one(m.bufferLine(line, t, true))
	}
	m.sc.scan(&m.cur, line, t, true)
	return one(m.apply(&m.cur))
}

// one makes the result of Line and Entry: at most one failure per line.
func one(f Failure, ok bool) []Failure {
	if !ok {
		return nil
	}
	return []Failure{f}
}

// scanState says what scan found.
type scanState uint8

const (
	scanSkipped scanState = iota // too long or ignored: the line does not count
	scanMissed                   // no failregex matched
	scanMatched                  // failregex number regex matched; fields holds the captures
)

// scanned is the result of scanning one line.
type scanned struct {
	state   scanState
	line    string
	hasTime bool
	time    time.Time
	regex   int
	fields  fieldSet
}

// scanner is the stateless stage; one per goroutine.
type scanner struct {
	f     *Filter
	stats *Stats
	vm    vmMachine
	pf    prefilter
	dates datedetect.Cache
	// now, when set, stands for Options.Now() for the lines of one batch
	// (read once per batch rather than per line: 4% of the time).
	now time.Time
}

// scan processes line up to the regex matches. With hasTime the time is the
// caller's (journal) and the line has no date to cut out.
func (sc *scanner) scan(s *scanned, line string, t time.Time, hasTime bool) {
	f := sc.f
	line = trimNewline(line)
	*s = scanned{line: line, hasTime: hasTime, time: t, fields: s.fields[:0]}
	sc.stats.Lines++
	if len(line) > f.opts.MaxLineBytes {
		sc.stats.TooLong++
		return
	}
	text := line
	if !hasTime {
		text, s.time, s.hasTime = f.cutDate(line, &sc.dates, sc.now)
	}
	if sc.ignored(text) {
		return
	}
	s.state = scanMissed
	cands := sc.candidates(text)
	if cands == 0 {
		sc.stats.Missed++
		return
	}
	content := text
	if f.pref != nil {
		loc, res := f.pref.find(&sc.vm, text)
		if res != matched {
			sc.countTimeout(res)
			sc.stats.Missed++
			return
		}
		capture(&s.fields, f.pref, text, loc)
		if c, ok := s.fields.get("content"); ok {
			content = c
		}
	}
	if content == "" {
		cands &= f.byFirstEmpty | ^uint64(0)<<min(len(f.fail), maxLiterals)
	} else {
		cands &= f.byFirst[content[0]] | ^uint64(0)<<min(len(f.fail), maxLiterals)
	}
	for i, r := range f.fail {
		if i < maxLiterals && cands&(1<<i) == 0 {
			continue
		}
		loc, res := r.find(&sc.vm, content)
		if res != matched {
			sc.countTimeout(res)
			continue
		}
		sc.stats.Matched++
		sc.stats.FailHits[i]++
		capture(&s.fields, r, content, loc)
		s.fields.mergeAlternates()
		s.state, s.regex = scanMatched, i
		return
	}
	sc.stats.Missed++
}

// trimNewline drops the \r and \n characters at the end of a line
// (strings.TrimRight(line, "\r\n"), without building a cutset).
func trimNewline(line string) string {
	n := len(line)
	for n > 0 && (line[n-1] == '\n' || line[n-1] == '\r') {
		n--
	}
	return line[:n]
}

// cutDate finds the date in line and returns the line without it. ok is
// false when no date was found or it could not be read; a date-like text
// that is no valid date (Feb 30) is cut out all the same, as fail2ban does.
// c is the calling goroutine's cache of the last date converted (nil: no
// cache); now is the time year-less dates are read against (zero: ask
// Options.Now).
func (f *Filter) cutDate(line string, c *datedetect.Cache, now time.Time) (text string, t time.Time, ok bool) {
	var dm datedetect.Match
	var found bool
	if now.IsZero() {
		now = f.opts.Now()
	}
	if c != nil {
		dm, found = f.dates.MatchCached(line, f.opts.Location, now, c)
	} else {
		dm, found = f.dates.Match(line, f.opts.Location, now)
	}
	if !found && dm.End <= dm.Start {
		return line, time.Time{}, false
	}
	switch {
	case dm.Start == 0:
		text = line[dm.End:]
	case dm.End == len(line):
		text = line[:dm.Start]
	default:
		text = line[:dm.Start] + line[dm.End:]
	}
	return text, dm.Time, found && !dm.Time.IsZero()
}

// candidates returns the failregexes (bits) that may match text or a part
// of it (the prefregex's content): those whose required literal occurs.
// With more than 64 failregexes the bits only cover the first 64 and the
// rest always run.
func (f *Filter) candidates(text string) uint64 {
	if f.lits == nil {
		return ^uint64(0)
	}
	return f.lits.candidates(text)
}

// prefilter decides whether looking for the failregexes' literals in a
// whole line pays. It does when many lines have none of them (they are
// then dropped without running a regex); when nearly every line has some,
// as in a log of an sshd under attack, the search is wasted and each regex
// checks its own literal where it applies instead (the result is the same).
// The decision is made on samples of lines and revisited.
type prefilter struct {
	skip     int // lines left to scan without the literal search
	lines    int // lines in the current sample
	rejected int // of which had no literal
}

const (
	prefilterSample = 1024  // lines per sample
	prefilterPause  = 16384 // lines without the search when it did not pay
)

// candidates is Filter.candidates with the prefilter's sampling.
func (sc *scanner) candidates(text string) uint64 {
	if sc.f.lits == nil {
		return ^uint64(0)
	}
	if sc.pf.skip > 0 {
		sc.pf.skip--
		return ^uint64(0)
	}
	c := sc.f.lits.candidates(text)
	sc.pf.lines++
	if c == 0 {
		sc.pf.rejected++
	}
	if sc.pf.lines == prefilterSample {
		if sc.pf.rejected*4 < sc.pf.lines { // under a quarter of the lines saved
			sc.pf.skip = prefilterPause
		}
		sc.pf.lines, sc.pf.rejected = 0, 0
	}
	return c
}

func (sc *scanner) countTimeout(res matchResult) {
	if res == timedOut {
		sc.stats.Timeouts++
	}
}

// ignored runs the ignoreregexes over text.
func (sc *scanner) ignored(text string) bool {
	for i, r := range sc.f.ignore {
		_, res := r.find(&sc.vm, text)
		if res == matched {
			sc.stats.Ignored++
			sc.stats.IgnoreHits[i]++
			return true
		}
		sc.countTimeout(res)
	}
	return false
}

// when returns the time of a scanned line: its own, else the last dated
// line's, else now. It also remembers a line's own date.
func (m *Matcher) when(s *scanned) time.Time {
	switch {
	case s.hasTime:
		m.lastDate = s.time
		return s.time
	case !m.lastDate.IsZero():
		m.stats.NoDate++
		return m.lastDate
	}
	m.stats.NoDate++
	return m.f.opts.Now()
}

// apply is the stateful stage for a scanned line; ok says it made a
// failure (a line makes at most one).
func (m *Matcher) apply(s *scanned) (f Failure, ok bool) {
	if s.state == scanSkipped {
		return Failure{}, false
	}
	t := m.when(s)
	if s.state != scanMatched {
		return Failure{}, false
	}
	return m.report(s.fields, s.regex, nil, s.line, t)
}

// report turns a match into a failure (or feeds its connection). lines
// are the lines the match covers; nil means just orig.
func (m *Matcher) report(fs fieldSet, idx int, lines []string, orig string, t time.Time) (Failure, bool) {
	if id, ok := fs.get("mlfid"); ok {
		f, ok := m.connFailure(id, fs, idx, orig, t)
		if !ok {
			return Failure{}, false
		}
		m.stats.Failures++
		return f, true
	}
	if fs.has("nofail") {
		return Failure{}, false
	}
	if lines == nil {
		lines = []string{orig}
	}
	f, ok := newFailure(fs, t, idx, lines, m.f.opts.NoFields)
	if !ok {
		return Failure{}, false
	}
	m.stats.Failures++
	return f, true
}
