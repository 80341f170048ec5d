package jail

// failures tracks, per prefix, the times of its recent failures. Prefixes
// live in an arena of slots, chained from the one whose last failure came
// longest ago to the most recent, so that the oldest is evicted in constant
// time when the bound is reached. Links are arena indexes rather than
// pointers, which keeps the index map pointer-free and each slot small.
type failures struct {
	keep   int // times kept per prefix: maxretry
	bound  int // prefixes tracked at most
	index  map[key]int32
	slots  []slot
	free   []int32 // unused slots, reused before the arena grows
	oldest int32   // chain ends; none when empty
	newest int32

	evicted int
}

// none marks the end of a chain.
const none = -1

// slot is one tracked prefix.
type slot struct {
	key        key
	prev, next int32
	// times are failure times (Unix milliseconds) not yet out of the
	// window when last looked at: at most keep, in no particular order.
	times []int64
}

// newFailures returns an empty tracker keeping keep times per prefix for at
// most bound prefixes.
func newFailures(keep, bound int) *failures {
	return &failures{keep: keep, bound: bound, index: make(map[key]int32), oldest: none, newest: none}
}

// len returns the number of tracked prefixes.
func (f *failures) len() int { return len(f.index) }

// add records a failure of k at t and returns how many failures of k lie
// after cutoff (at most keep). Both are Unix milliseconds, t > cutoff.
func (f *failures) add(k key, t, cutoff int64) int {
	i, ok := f.index[k]
	if ok {
		f.unlink(i)
	} else {
		i = f.alloc(k)
	}
	f.linkNewest(i)
	s := &f.slots[i]
	s.times = record(s.times, t, cutoff, f.keep)
	return len(s.times)
}

// record drops the times at or before cutoff, then adds t, keeping the keep
// latest times: an earlier one cannot complete a window the later ones don't.
func record(times []int64, t, cutoff int64, keep int) []int64 {
	live := times[:0]
	for _, x := range times {
		if x > cutoff {
			live = append(live, x)
		}
	}
	if len(live) < keep {
		return append(live, t)
	}
	earliest := 0
	for j, x := range live {
		if x < live[earliest] {
			earliest = j
		}
	}
	if t > live[earliest] {
		live[earliest] = t
	}
	return live
}

// remove forgets k; it reports whether k was tracked.
func (f *failures) remove(k key) bool {
	i, ok := f.index[k]
	if !ok {
		return false
	}
	f.release(i)
	return true
}

// removeWhere forgets every prefix whose slot satisfies drop and returns
// how many it forgot.
func (f *failures) removeWhere(drop func(*slot) bool) int {
	n := 0
	for i := f.oldest; i != none; {
		next := f.slots[i].next
		if drop(&f.slots[i]) {
			f.release(i)
			n++
		}
		i = next
	}
	return n
}

// expire forgets the prefixes with no failure after cutoff.
func (f *failures) expire(cutoff int64) int {
	return f.removeWhere(func(s *slot) bool {
		for _, t := range s.times {
			if t > cutoff {
				return false
			}
		}
		return true
	})
}

// alloc returns a slot for the new key k, evicting the oldest prefix first
// when the bound is reached.
func (f *failures) alloc(k key) int32 {
	if len(f.index) >= f.bound {
		f.release(f.oldest)
		f.evicted++
	}
	var i int32
	if n := len(f.free); n > 0 {
		i, f.free = f.free[n-1], f.free[:n-1]
	} else {
		f.slots = append(f.slots, slot{times: make([]int64, 0, 1)})
		i = int32(len(f.slots) - 1)
	}
	f.slots[i].key = k
	f.index[k] = i
	return i
}

// release unlinks slot i, forgets its key and puts it on the free list,
// keeping its times' storage for reuse.
func (f *failures) release(i int32) {
	f.unlink(i)
	s := &f.slots[i]
	delete(f.index, s.key)
	s.key = key{}
	s.times = s.times[:0]
	f.free = append(f.free, i)
}

// unlink takes slot i out of the chain.
func (f *failures) unlink(i int32) {
	s := &f.slots[i]
	if s.prev != none {
		f.slots[s.prev].next = s.next
	} else {
		f.oldest = s.next
	}
	if s.next != none {
		f.slots[s.next].prev = s.prev
	} else {
		f.newest = s.prev
	}
	s.prev, s.next = none, none
}

// linkNewest appends slot i at the newest end of the chain.
func (f *failures) linkNewest(i int32) {
	s := &f.slots[i]
	s.prev, s.next = f.newest, none
	if f.newest != none {
		f.slots[f.newest].next = i
	} else {
		f.oldest = i
	}
	f.newest = i
}
