package jail

import "net/netip"

// banRec is a ban as the ban list keeps it: pointer-free, times in Unix
// milliseconds.
type banRec struct {
	start   int64
	expires int64 // 0: permanent
	count   int32
	manual  bool
}

// banList holds a jail's current bans by prefix. It keeps no index of
// expiry times (a heap would cost a third more memory per ban), only the
// earliest expiry: expire scans the bans when that time has come, which
// costs about 10 ns per ban, at most once per call.
type banList struct {
	byKey map[key]banRec
	// wide holds the bans whose prefix is not a source's usual one (a
	// manual 10.0.0.0/24, an IPv6 /128 next to an ignored address): the
	// ones a lookup by a source's own prefix may miss, scanned instead.
	// Few: made by hand, or within the host's own /64.
	wide map[key]struct{}
	// next is no later than the earliest expiry of a ban; 0 when no ban
	// expires.
	next     int64
	standard func(netip.Prefix) bool
}

// newBanList returns an empty ban list; standard reports whether a prefix
// is the one its own addresses are banned by.
func newBanList(standard func(netip.Prefix) bool) *banList {
	return &banList{byKey: make(map[key]banRec), wide: make(map[key]struct{}), standard: standard}
}

// len returns the number of bans.
func (l *banList) len() int { return len(l.byKey) }

// get returns the ban of exactly k.
func (l *banList) get(k key) (banRec, bool) {
	r, ok := l.byKey[k]
	return r, ok
}

// covers reports whether a ban covers addr, whose own prefix has key k.
func (l *banList) covers(addr netip.Addr, k key) bool {
	if _, ok := l.byKey[k]; ok {
		return true
	}
	for w := range l.wide {
		if w.prefix().Contains(addr) {
			return true
		}
	}
	return false
}

// put adds or replaces the ban of k.
func (l *banList) put(k key, r banRec) {
	l.byKey[k] = r
	if !l.standard(k.prefix()) {
		l.wide[k] = struct{}{}
	}
	if r.expires != 0 && (l.next == 0 || r.expires < l.next) {
		l.next = r.expires
	}
}

// remove deletes the ban of k.
func (l *banList) remove(k key) (banRec, bool) {
	r, ok := l.byKey[k]
	if ok {
		delete(l.byKey, k)
		delete(l.wide, k)
	}
	return r, ok
}

// expire removes the bans expiring at or before now, passing each to each.
func (l *banList) expire(now int64, each func(key, banRec)) {
	if l.next == 0 || now < l.next {
		return
	}
	next := int64(0)
	for k, r := range l.byKey {
		switch {
		case r.expires == 0:
		case r.expires <= now:
			l.remove(k)
			each(k, r)
		case next == 0 || r.expires < next:
			next = r.expires
		}
	}
	l.next = next
}
