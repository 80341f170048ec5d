package datedetect

import "time"

// Cache remembers the last date a Detector converted. The lines of a log
// come in time order and many share their date (a busy sshd logs dozens of
// lines a second), so converting a date again, which means reading its
// fields and building a time in a location, can often be skipped. The
// cached result is used only when it is the one Match would compute: the
// same template, location and field texts, and, for a date without a year,
// the same year taken from now and the same answer to "more than a day
// ahead of now?". A time of day alone depends on now's date and is not
// remembered.
//
// The zero Cache is ready to use. A Cache is not safe for concurrent use:
// give each goroutine its own.
type Cache struct {
	// the key: the text from the first field's start to the last field's
	// end, the fields relative to it, the template and the location
	text [cacheText]byte
	n    int // length of text; 0: nothing cached
	f    fields
	t    *template
	loc  *time.Location

	parsed bool // the fields could be read
	dp     dateParts
	hasRes bool // res, resOK and dep are set
	res    time.Time
	resOK  bool
	dep    nowDep
}

// cacheText bounds the date texts a Cache keeps.
const cacheText = 64

// MatchCached is Match, with the conversion of the date remembered in c for
// the next line. It returns exactly what Match returns.
func (d *Detector) MatchCached(line string, loc *time.Location, now time.Time, c *Cache) (Match, bool) {
	return d.match(line, loc, now, c)
}

// convert is template.convert through the cache.
func (c *Cache) convert(t *template, line string, h *hit, loc *time.Location, now time.Time) (time.Time, bool) {
	f := &h.f
	if t.conv != convStrptime || f.n == 0 {
		return t.convert(line, h, loc, now)
	}
	lo, hi := int(f.vals[0].a), int(f.vals[0].b)
	for _, v := range f.vals[1:f.n] {
		lo, hi = min(lo, int(v.a)), max(hi, int(v.b))
	}
	if hi-lo > cacheText || hi == lo {
		return t.convert(line, h, loc, now)
	}
	if !c.holds(t, loc, line[lo:hi], f, lo) {
		c.n = copy(c.text[:], line[lo:hi])
		c.t, c.loc = t, loc
		c.f.n = f.n
		for i, v := range f.vals[:f.n] {
			c.f.vals[i] = fieldVal{v.kind, v.a - int32(lo), v.b - int32(lo)}
		}
		c.dp, c.parsed = parseFields(line, f)
		c.hasRes = false
	}
	if !c.parsed {
		return time.Time{}, false
	}
	if c.hasRes && c.dep.holds(loc, now) {
		return c.res, c.resOK
	}
	c.res, c.resOK, c.dep = c.dp.toTime(loc, now)
	c.hasRes = c.dep.kind != depAll
	return c.res, c.resOK
}

// holds reports whether the cache is for this template, location and
// field text.
func (c *Cache) holds(t *template, loc *time.Location, text string, f *fields, lo int) bool {
	if c.n == 0 || c.t != t || c.loc != loc || c.n != len(text) || c.f.n != f.n || string(c.text[:c.n]) != text {
		return false
	}
	for i, v := range f.vals[:f.n] {
		if c.f.vals[i] != (fieldVal{v.kind, v.a - int32(lo), v.b - int32(lo)}) {
			return false
		}
	}
	return true
}
