package filter

import (
	"fmt"
	"math/rand"
	"sort"
	"testing"
	"time"
	"unsafe"
)

// TestConnTableEqualsModel drives the connection table as connFailure does
// (get, add when absent, touch, remove on forget) with random ids and
// times, and compares the connections it holds with a plain model: a
// least-recently-used list with expiry.
func TestConnTableEqualsModel(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	var table connTable
	type entry struct {
		seen time.Time
		use  int
	}
	model := map[string]*entry{}
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := maxConns + maxConns/2
	steps := 60000
	if testing.Short() {
		steps = 10000
	}
	for step := 0; step < steps; step++ {
		now = now.Add(time.Duration(rng.Intn(200)) * time.Millisecond)
		id := fmt.Sprint(rng.Intn(ids))
		if rng.Intn(50) == 0 {
			id = "" // an empty connection id is an id too
		}
		forget := rng.Intn(5) == 0
		// the model
		if e := model[id]; e != nil && now.Sub(e.seen) > connTTL {
			delete(model, id)
		}
		if model[id] == nil && !forget {
			for len(model) >= maxConns {
				oldest, min := "", -1
				for k, e := range model {
					if min < 0 || e.use < min {
						oldest, min = k, e.use
					}
				}
				delete(model, oldest)
			}
			model[id] = &entry{}
		}
		if e := model[id]; e != nil {
			e.seen, e.use = now, step
		}
		if forget {
			delete(model, id)
		}
		// the table
		c := table.get(id, now)
		if c == nil {
			c = newConn()
			if !forget {
				table.add(id, c)
			}
		}
		c.seen = now
		table.touch(c)
		if forget {
			table.remove(c)
		}
		if step%97 == 0 || len(table.m) != len(model) {
			if got, want := keys(table.m), keys(model); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("step %d: table holds %d connections, model %d", step, len(got), len(want))
			}
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// A borrowed line (a view into MatchReader's chunk) is never kept as it
// is: the connection copies what it keeps, so that it does not hold the
// chunk; an owned short line is kept without a copy.
func TestBorrowedLinesAreCopied(t *testing.T) {
	f, err := Load("sshd", Options{})
	if err != nil {
		t.Fatal(err)
	}
	chunk := "Jan  2 10:00:00 web1 sshd[77]: Invalid user admin from 203.0.113.9 port 4242\n"
	line := chunk[:len(chunk)-1]
	inChunk := func(s string) bool {
		start := uintptr(unsafe.Pointer(unsafe.StringData(chunk)))
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		return p >= start && p < start+uintptr(len(chunk))
	}
	for _, borrowed := range []bool{false, true} {
		m := f.NewMatcher()
		m.borrowed = borrowed
		m.Line(line)
		shared := false
		for _, c := range m.conns.m {
			for _, v := range c.vals {
				shared = shared || inChunk(v.value)
			}
			for _, l := range c.lines {
				shared = shared || inChunk(l)
			}
		}
		if len(m.conns.m) != 1 {
			t.Fatalf("borrowed %v: %d connections, want the line's", borrowed, len(m.conns.m))
		}
		if shared == borrowed {
			t.Errorf("borrowed %v: the connection shares the line's memory: %v", borrowed, shared)
		}
	}
}
