package datedetect

import (
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// stepBudget bounds the work of one Match call, in machine steps. A line of
// a few hundred bytes takes some hundreds to a few thousand; the budget is
// only reached by pathological input (megabyte lines full of near-dates, or a
// datepattern that backtracks badly), which then gets "no date" in some
// milliseconds instead of a hang.
const stepBudget = 1 << 20

var machinePool = sync.Pool{New: func() any { return &machine{} }}

// call is the state of one Match call: the step budget, which native
// attempts count against as well as the machine; the machine, taken from
// the pool only if a template needs it (lines the native matchers settle
// never do); and what is known about the line, found once for all
// templates.
type call struct {
	line    string
	m       *machine
	steps   int
	over    bool
	starts  [3]int    // lineStarts of the line
	nstarts int       //
	has     [128]int8 // per ASCII byte: 1 in the line, -1 not, 0 not looked up yet
}

// nativeCost is what one native match attempt counts against the budget,
// about the machine steps the same attempt would take.
const nativeCost = 8

func newCall(line string) call {
	c := call{line: line}
	c.starts, c.nstarts = lineStarts(line)
	return c
}

func (c *call) machine() *machine {
	if c.m == nil {
		c.m = machinePool.Get().(*machine)
		c.m.budget = stepBudget
	}
	c.m.steps = c.steps
	return c.m
}

// done takes the steps the machine used back into the budget.
func (c *call) done() {
	c.steps = c.m.steps
	c.over = c.over || c.m.aborted
}

// charge counts native attempts; false when the budget is spent.
func (c *call) charge(attempts int) bool {
	c.steps += attempts * nativeCost
	if c.steps > stepBudget {
		c.over = true
	}
	return !c.over
}

func (c *call) aborted() bool { return c.over }

// contains reports whether the line has the ASCII byte b.
func (c *call) contains(b byte) bool {
	if c.has[b] == 0 {
		c.has[b] = -1
		if strings.IndexByte(c.line, b) >= 0 {
			c.has[b] = 1
		}
	}
	return c.has[b] > 0
}

func (c *call) release() {
	m := c.m
	if m == nil {
		return
	}
	if cap(m.stack) > 4096 {
		m.stack = nil // do not keep what a pathological line made grow
	}
	m.s, m.prog = "", nil
	machinePool.Put(m)
}

// hit is one template's match, kept while later templates are tried.
type hit struct {
	t     *template
	start int // where the whole match starts (fail2ban's "distance")
	a, b  int // the date's text: group 1
	f     fields
}

// Match finds the date in line and converts it. A date without a year gets
// now's (the year before if that would put it more than a day after now); a
// time of day alone gets now's date (the day before if that would put it
// after now); a date without a zone is wall-clock time in loc (time.Local if
// loc is nil).
//
// The templates are tried in order. A match of a template anchored at the
// line start (or end), or one starting at the line's first or second
// character, is taken at once; otherwise the match that starts first in the
// line wins, so a date quoted in the message does not beat the line's own.
// This is what a fresh fail2ban date detector does. fail2ban also reorders
// its templates by their hits as a log goes by, a speed-up that only changes
// the answer for lines with several dates; it is left out, so that Match is
// a pure function of its arguments.
//
// When ok is false and End > Start, a date-like text was found at
// [Start, End) that is not a valid date (Feb 30, an unknown zone name):
// fail2ban cuts it out of the line all the same and gives the line the time
// of the previous one. A line the datepattern marks as having no date of its
// own (`^WARNING:()**`, {NONE}) also gives ok false, with End == Start.
func (d *Detector) Match(line string, loc *time.Location, now time.Time) (Match, bool) {
	return d.match(line, loc, now, nil)
}

// match is Match and MatchCached; c may be nil.
func (d *Detector) match(line string, loc *time.Location, now time.Time, cache *Cache) (Match, bool) {
	if loc == nil {
		loc = time.Local
	}
	c := newCall(line)
	var h hit
	found := d.find(&c, &h)
	c.release()
	if !found || h.a < 0 {
		return Match{}, false
	}
	res := Match{Start: h.a, End: h.b}
	if h.a == h.b {
		return res, false
	}
	var t time.Time
	var ok bool
	if cache != nil {
		t, ok = cache.convert(h.t, line, &h, loc, now)
	} else {
		t, ok = h.t.convert(line, &h, loc, now)
	}
	if !ok {
		return res, false
	}
	res.Time = t
	return res, true
}

// find leaves the winning match in h. The rule is fail2ban's, as if the
// templates were tried one by one: the first that matches anchored at the
// line start (or end), or at the line's first or second character, wins at
// once; otherwise the match that starts first wins, the earlier template on
// a tie. It runs in two passes, so that the line is scanned once for a date
// in the middle instead of once per template: the anchored templates and
// the first two characters in template order, then the rest of the line,
// position by position, all templates at each.
func (d *Detector) find(c *call, h *hit) bool {
	line := c.line
	second := 1 // where the second character starts
	if line != "" && line[0] >= utf8.RuneSelf {
		_, second = utf8.DecodeRuneInString(line)
	}
	var alive [maxTemplates]uint8 // unanchored templates the line may match
	n := 0
	for i, t := range d.templates {
		maxStart := len(line)
		if !t.lineBegin && !t.lineEnd {
			if !t.mayMatch(c) {
				continue
			}
			alive[n] = uint8(i)
			n++
			maxStart = second
		}
		if t.search(c, maxStart, h) {
			return true
		}
		if c.aborted() {
			return false
		}
	}
	for p, w := 0, 1; p <= len(line) && n > 0; p += w {
		w = 1
		if p < len(line) && line[p] >= utf8.RuneSelf {
			_, w = utf8.DecodeRuneInString(line[p:])
		}
		if p <= second {
			continue
		}
		for _, i := range alive[:n] {
			t := d.templates[i]
			if !t.prog.canStart(line, p) {
				continue
			}
			if t.matchAt(c, p, h) {
				return true
			}
			if c.aborted() {
				return false
			}
		}
	}
	return false
}

// mayMatch reports whether the line has every byte a match needs.
func (t *template) mayMatch(c *call) bool {
	for _, b := range t.prog.required {
		if !c.contains(b) {
			return false
		}
	}
	return true
}

// matchAt matches the template starting exactly at p.
func (t *template) matchAt(c *call, p int, h *hit) bool {
	if t.native != nil && t.nbegin != beginLine {
		if !t.nbegin.mayBegin(c.line, p) || !c.charge(1) {
			return false
		}
		r := nativeRun{s: c.line, spec: t.native}
		if r.match(p) {
			t.nativeHit(&r, p, h)
			return true
		}
		if !r.unsure {
			return false
		}
	}
	m := c.machine()
	m.reset(t.prog, c.line)
	found := m.run(0, int32(p), -1)
	c.done()
	if found {
		t.capture(m, h)
	}
	return found
}

// search finds the template's leftmost match that starts at or before
// maxStart, with the native matcher when there is one.
func (t *template) search(c *call, maxStart int, h *hit) bool {
	if !t.mayMatch(c) {
		return false
	}
	if t.native != nil {
		switch t.searchNative(c, maxStart, h) {
		case nativeYes:
			return true
		case nativeNo:
			return false
		}
	}
	m := c.machine()
	found := m.search(t.prog, c.line, maxStart)
	c.done()
	if found {
		t.capture(m, h)
	}
	return found
}

// searchNative is machine.search with the native matcher.
func (t *template) searchNative(c *call, maxStart int, h *hit) nativeResult {
	line := c.line
	r := nativeRun{s: line, spec: t.native}
	if maxStart < 0 {
		return nativeNo
	}
	first := &t.prog.first
	if t.nbegin == beginLine {
		for _, p := range c.starts[:c.nstarts] {
			if p < len(line) && line[p] < utf8.RuneSelf && !hasBit(&first.ascii, rune(line[p])) {
				continue // cannot start here: the common way out
			}
			if !c.charge(1) {
				return nativeNo
			}
			if r.match(p) {
				t.nativeHit(&r, 0, h)
				return nativeYes
			}
			if r.unsure {
				return nativeUnsure
			}
		}
		return nativeNo
	}
	last := min(maxStart, len(line)-1)
	if t.nbegin == beginZero {
		last = min(last, 0)
	}
	for p := 0; p <= last; p++ {
		if c := line[p]; c >= utf8.RuneSelf {
			if first.wide {
				return nativeUnsure
			}
			continue
		} else if !hasBit(&first.ascii, rune(c)) || !t.nbegin.mayBegin(line, p) {
			continue
		}
		if !c.charge(1) {
			return nativeNo
		}
		if r.match(p) {
			t.nativeHit(&r, p, h)
			return nativeYes
		}
		if r.unsure {
			return nativeUnsure
		}
	}
	return nativeNo
}

// nativeHit copies a native match into h, fields in the template's group
// order. Every element on the path of a match records (or clears) its
// field, so the spans read here are all from this match.
func (t *template) nativeHit(r *nativeRun, start int, h *hit) {
	h.t, h.start, h.a, h.b = t, start, r.a, r.end
	h.f.n = 0
	if t.conv != convStrptime {
		h.f.add(fkEpoch, r.a, r.end)
		return
	}
	for _, fr := range t.fields {
		if sp := r.spans[fr.kind]; sp[0] >= 0 {
			h.f.add(fr.kind, int(sp[0]), int(sp[1]))
		}
	}
}

// capture copies what convert needs out of the machine.
func (t *template) capture(m *machine, h *hit) {
	h.t = t
	h.start = int(m.slots[0])
	h.a, h.b = m.group(1)
	h.f.n = 0
	if t.conv != convStrptime {
		if a, b := m.group(t.value); a >= 0 {
			h.f.add(fkEpoch, a, b)
		}
		return
	}
	for _, fr := range t.fields {
		if a, b := m.group(fr.group); a >= 0 {
			h.f.add(fr.kind, a, b)
		}
	}
}

// convert turns a hit into a time.
func (t *template) convert(line string, h *hit, loc *time.Location, now time.Time) (time.Time, bool) {
	if t.conv == convStrptime {
		return resolve(line, &h.f, loc, now)
	}
	if h.f.n == 0 {
		return time.Time{}, false
	}
	v := line[h.f.vals[0].a:h.f.vals[0].b]
	var sec, nsec int64
	var ok bool
	switch t.conv {
	case convEpoch:
		sec, nsec, ok = epochValue(v, false)
	case convEpochLong:
		sec, nsec, ok = epochValue(v, true)
	case convTAI64N:
		sec, nsec, ok = tai64nValue(v)
	}
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(sec, nsec).In(loc), true
}

// epochValue converts seconds since 1970 with an optional fraction; a long
// value (LEPOCH) of 13 or more characters is in milliseconds, of 16 or more
// digits without a fraction in microseconds.
func epochValue(v string, long bool) (sec, nsec int64, ok bool) {
	intPart, fracPart, hasFrac := strings.Cut(v, ".")
	if intPart == "" || len(intPart) > 18 {
		return 0, 0, false
	}
	n, ok := pyInt(intPart)
	if !ok {
		return 0, 0, false
	}
	frac := 0
	if hasFrac {
		if frac, ok = fraction(fracPart); !ok {
			return 0, 0, false
		}
	}
	div := int64(1)
	if long && len(v) >= 13 {
		div = 1000
		if len(v) >= 16 && !hasFrac {
			div = 1000000
		}
	}
	ip := int64(n)
	sec = ip / div
	nsec = ip%div*(1e9/div) + int64(frac)/div
	return sec, nsec, true
}

// tai64nValue converts "@" and 24 hex digits: fail2ban takes the seconds
// from hex digits 2 to 16 of the label (dropping the 2^62 offset) and
// ignores the TAI-UTC difference; the nanoseconds are the last 8 digits.
func tai64nValue(v string) (sec, nsec int64, ok bool) {
	if len(v) != 25 || v[0] != '@' {
		return 0, 0, false
	}
	s, ok1 := hexValue(v[2:17])
	ns, ok2 := hexValue(v[17:25])
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	if ns >= 1e9 {
		ns = 0
	}
	return s, ns, true
}

func hexValue(s string) (int64, bool) {
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | int64(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | int64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return n, true
}
