package filter

import (
	"sort"
	"strings"
	"time"
)

// This file links the lines of one connection (or session, or process) by
// the id a filter captures with <F-MLFID>, as fail2ban does for sshd:
//
//   - a line matched with <F-NOFAIL> (or <F-MLFGAINED>) is not a failure by
//     itself; it can carry data, such as the address, for later lines;
//   - a failure line without an address waits for a later line of the same
//     connection that has one (that line completes it, nofail or not);
//   - a failure reports every line of the connection since the previous
//     failure (their number is fail2ban's "attempts");
//   - a connection that tried two or more user names fails even on nofail
//     lines, so a success for one name cannot hide guesses for others;
//   - <F-MLFFORGET> ends the connection.
//
// Connections expire after connTTL of log time, and at most maxConns are
// kept (the least recently used go first), so memory stays bounded under
// floods of connections.

const (
	connTTL      = 5 * time.Minute
	maxConns     = 4096
	maxConnLines = 16       // lines kept per connection for Failure.Lines
	maxConnBytes = 16 << 10 // and their total size
	// Values and lines of lines up to this size are kept as they are,
	// holding on to the line; parts of longer lines are copied, so a
	// connection never holds a long line (or a reader's buffer) alive.
	maxSharedLine = 1 << 10
)

// keepString returns s, or a copy of it when it comes from a long line.
func keepString(s string, lineLen int) string {
	if lineLen <= maxSharedLine {
		return s
	}
	return strings.Clone(s)
}

// conn is what is known about one connection.
type conn struct {
	id      string    // the connection id (the table's key)
	vals    fieldSet  // merged captures
	users   []string  // distinct user names seen
	lines   []string  // lines since the last failure
	pending bool      // a failure waits for the address
	seen    time.Time // log time of the last line
	touched uint64    // when it was last used, in table.clock ticks
	inTable bool      // in the table's map (false once removed, or never added)
	valsBuf [8]field  // vals' first array, allocated with the conn
}

// newConn makes an empty connection (one allocation, room for the values
// of most connections included).
func newConn() *conn {
	c := &conn{}
	c.vals = c.valsBuf[:0]
	return c
}

// connTable holds the open connections of one Matcher, with their order of
// last use so the least recently used goes first when the table is full.
type connTable struct {
	m     map[string]*conn
	order []connRef // order of use; entries whose touched differs, or whose conn left the table, are stale
	clock uint64
}

type connRef struct {
	c       *conn
	touched uint64
}

// get returns the live connection for id, dropping an expired one.
func (t *connTable) get(id string, now time.Time) *conn {
	c := t.m[id]
	if c != nil && now.Sub(c.seen) > connTTL {
		t.remove(c)
		return nil
	}
	return c
}

// remove takes c out of the table; its entries in the use order become
// stale.
func (t *connTable) remove(c *conn) {
	if c.inTable {
		delete(t.m, c.id)
		c.inTable = false
	}
}

// live reports whether an entry of the use order is c's last use while c
// is in the table.
func (r connRef) live() bool { return r.c.touched == r.touched && r.c.inTable }

// add stores a new connection, evicting the least recently used when full.
func (t *connTable) add(id string, c *conn) {
	if t.m == nil {
		t.m = map[string]*conn{}
	}
	for len(t.m) >= maxConns && t.evictOne() {
	}
	c.id = strings.Clone(id) // the map key outlives many lines
	t.m[c.id] = c
	c.inTable = true
}

// touch records a use of c.
func (t *connTable) touch(c *conn) {
	t.clock++
	c.touched = t.clock
	t.order = append(t.order, connRef{c, t.clock})
	if len(t.order) > 4*maxConns {
		t.compact()
	}
}

// evictOne drops the least recently used connection.
func (t *connTable) evictOne() bool {
	for len(t.order) > 0 {
		r := t.order[0]
		t.order = t.order[1:]
		if r.live() {
			t.remove(r.c)
			return true
		}
	}
	return false
}

// compact drops the stale entries of the use order.
func (t *connTable) compact() {
	live := make([]connRef, 0, len(t.m)+maxConns)
	for _, r := range t.order {
		if r.live() {
			live = append(live, r)
		}
	}
	t.order = live
}

// merge lays the groups of a new match over the connection's. A group
// that took part replaces the connection's value; one that did not leaves
// it. The address is replaced as a whole: a match that captured any of
// ip4, ip6, dns and cidr clears the others. Control groups are not kept.
func (c *conn) merge(fs fieldSet, lineLen int) {
	user := ""
	for _, f := range fs {
		if isAddressGroup(f.name) {
			for _, g := range addressGroups {
				c.vals.del(g)
			}
			break
		}
	}
	for _, f := range fs {
		if !isControl(f.name) {
			c.setVal(f.name, f.value, lineLen)
		}
		if f.name == "user" {
			user = f.value
		}
	}
	if user != "" && !contains(c.users, user) && len(c.users) < maxConnLines {
		c.users = append(c.users, keepString(user, lineLen))
	}
}

func isAddressGroup(name string) bool {
	switch name {
	case "ip4", "ip6", "dns", "cidr":
		return true
	}
	return false
}

// addressGroups are the groups a failure's address is made of.
var addressGroups = []string{"ip4", "ip6", "dns", "cidr"}

// setVal stores a value (see keepString).
func (c *conn) setVal(name, v string, lineLen int) {
	for i := range c.vals {
		if c.vals[i].name == name {
			if c.vals[i].value != v {
				c.vals[i].value = keepString(v, lineLen)
			}
			return
		}
	}
	c.vals = append(c.vals, field{name, keepString(v, lineLen)})
}

// keep remembers a line of the connection for a later failure, dropping
// the oldest beyond maxConnLines lines or maxConnBytes; lineLen decides
// whether it is copied (see keepString).
func (c *conn) keep(line string, lineLen int) {
	if c.lines == nil {
		c.lines = make([]string, 0, 4) // room for the failure's line too
	}
	c.lines = append(c.lines, keepString(line, lineLen))
	size := 0
	for _, l := range c.lines {
		size += len(l)
	}
	for len(c.lines) > 1 && (len(c.lines) > maxConnLines || size > maxConnBytes) {
		size -= len(c.lines[0])
		c.lines = c.lines[1:]
	}
}

// connFailure processes a line matched by failregex idx that carries the
// connection id mlfid. It returns the failure it completes, if any.
func (m *Matcher) connFailure(mlfid string, fs fieldSet, idx int, line string, t time.Time) (Failure, bool) {
	nofail := fs.has("nofail") || fs.has("mlfgained")
	forget := fs.has("mlfforget")
	c := m.conns.get(mlfid, t)
	if c == nil {
		c = newConn()
		if !forget {
			m.conns.add(mlfid, c)
		}
	}
	c.seen = t
	m.conns.touch(c)
	keepLen := len(line) // what keepString decides by
	if m.borrowed {
		keepLen = maxSharedLine + 1
	}
	c.merge(fs, keepLen)
	if forget {
		m.conns.remove(c)
	}
	if len(c.users) > 1 {
		nofail = false
	}
	_, _, hasHost := rawHost(c.vals)
	if nofail && !(c.pending && hasHost) || !nofail && !hasHost {
		c.pending = c.pending || !nofail
		if !forget {
			c.keep(line, keepLen)
		}
		return Failure{}, false
	}
	lines := append(c.lines, line)
	f, ok := newFailure(c.vals, t, idx, lines, m.f.opts.NoFields)
	if !ok {
		return Failure{}, false
	}
	if len(c.users) > 0 {
		f.Users = append([]string(nil), c.users...)
		sort.Strings(f.Users)
	}
	c.lines, c.pending = nil, false
	return f, true
}
