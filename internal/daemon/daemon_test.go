package daemon

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seawall/seawall/internal/policy"
	"github.com/seawall/seawall/internal/ruleset"
	"github.com/seawall/seawall/internal/state"
)

// fakeKernel records what the daemon asks of the kernel.
type fakeKernel struct {
	mu       sync.Mutex
	table    *ruleset.Ruleset
	gen      uint32
	applies  int
	updates  [][]string
	lastKeep map[string]bool
	// elements of runtime sets: set name → address → timeout
	elements map[string]map[netip.Addr]time.Duration
	changes  int // ChangeElements calls
	// firstRuntime is how many runtime set elements the first Apply
	// carried (-1 before it).
	firstRuntime int
}

func (k *fakeKernel) ChangeElements(del, add []*ruleset.Set) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.table == nil {
		return errors.New("no table")
	}
	if k.elements == nil {
		k.elements = map[string]map[netip.Addr]time.Duration{}
	}
	for _, s := range del {
		for _, e := range s.Elements {
			delete(k.elements[s.Name], e.First)
		}
	}
	for _, s := range add {
		if k.table.Set(s.Name) == nil {
			return fmt.Errorf("no set %s", s.Name)
		}
		if k.elements[s.Name] == nil {
			k.elements[s.Name] = map[netip.Addr]time.Duration{}
		}
		for _, e := range s.Elements {
			if _, ok := k.elements[s.Name][e.First]; !ok {
				k.elements[s.Name][e.First] = e.Timeout
			}
		}
	}
	k.changes++
	k.gen++
	return nil
}

// has reports whether a runtime set holds addr.
func (k *fakeKernel) has(set string, addr netip.Addr) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.elements[set][addr]
	return ok
}

func (k *fakeKernel) Apply(rs *ruleset.Ruleset, keep map[string]bool, gen uint32) (uint32, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if gen != k.gen {
		keep = nil
	}
	// Runtime sets are rebuilt from what the apply carries unless kept.
	next := map[string]map[netip.Addr]time.Duration{}
	for _, s := range rs.Sets {
		if !s.Runtime {
			continue
		}
		if keep[s.Name] && k.elements[s.Name] != nil {
			next[s.Name] = k.elements[s.Name]
			continue
		}
		next[s.Name] = map[netip.Addr]time.Duration{}
		for _, e := range s.Elements {
			next[s.Name][e.First] = e.Timeout
		}
	}
	k.elements = next
	if k.applies == 0 {
		n := 0
		for _, m := range next {
			n += len(m)
		}
		k.firstRuntime = n
	}
	k.table, k.lastKeep = rs, keep
	k.applies++
	k.gen++
	return k.gen, nil
}
func (k *fakeKernel) Delete() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.table, k.elements = nil, nil
	k.gen++
	return nil
}
func (k *fakeKernel) Exists() (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.table != nil, nil
}
func (k *fakeKernel) ReplaceElements(ss []*ruleset.Set) (uint32, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.updates = append(k.updates, setNames(ss))
	k.gen++
	return k.gen, nil
}

func TestReloadDecisions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "seawall.yaml")
	list := filepath.Join(dir, "block.txt")
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(list, "192.0.2.1\n")
	write(path, "version: 1\nsets:\n  block:\n    files: [block.txt]\nhost:\n  input:\n    - deny: any\n      from: block\n    - allow: ssh\n")
	st, err := state.Open(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	k := &fakeKernel{}
	d := New(Config{Path: path, Load: func() (*policy.Policy, error) { return policy.Load(path) },
		Kernel: k, State: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})

	if err := d.reload(); err != nil || k.applies != 1 {
		t.Fatalf("first load: err %v, %d applies", err, k.applies)
	}
	// Unchanged policy: nothing is sent.
	if err := d.reload(); err != nil || k.applies != 1 || len(k.updates) != 0 {
		t.Fatalf("unchanged: err %v, %d applies, updates %v", err, k.applies, k.updates)
	}
	// Only the set file changed: an element update, no re-apply.
	write(list, "192.0.2.1\n198.51.100.0/24\n")
	bumpMtime(t, list)
	if !d.changed() {
		t.Fatal("a changed set file was not noticed")
	}
	if err := d.reload(); err != nil || k.applies != 1 || len(k.updates) != 1 || k.updates[0][0] != "block_v4" {
		t.Fatalf("set-only change: err %v, %d applies, updates %v", err, k.applies, k.updates)
	}
	// A rule changed: a re-apply that keeps the unchanged sets.
	write(path, "version: 1\nsets:\n  block:\n    files: [block.txt]\nhost:\n  input:\n    - deny: any\n      from: block\n    - allow: [ssh, http]\n")
	if err := d.reload(); err != nil || k.applies != 2 || !k.lastKeep["block_v4"] {
		t.Fatalf("rule change: err %v, %d applies, keep %v", err, k.applies, k.lastKeep)
	}
	// Someone else committed (Docker on every container start): a
	// set-only change is still an element update (it rewrites the whole
	// set), but a re-apply can no longer keep sets.
	k.gen += 5
	write(list, "192.0.2.2\n")
	bumpMtime(t, list)
	if err := d.reload(); err != nil || k.applies != 2 || len(k.updates) != 2 {
		t.Fatalf("after a foreign commit: err %v, %d applies, updates %v", err, k.applies, k.updates)
	}
	write(path, "version: 1\nsets:\n  block:\n    files: [block.txt]\nhost:\n  input:\n    - deny: any\n      from: block\n    - allow: [ssh, https]\n")
	k.gen += 5
	if err := d.reload(); err != nil || k.applies != 3 || k.lastKeep != nil {
		t.Fatalf("rule change after a foreign commit: err %v, %d applies, keep %v", err, k.applies, k.lastKeep)
	}
	// An invalid policy changes nothing and says where the mistake is.
	before := k.table
	write(path, "version: 1\nhost:\n  input:\n    - allow: sssh\n")
	err = d.reload()
	if err == nil || k.table != before || k.applies != 3 {
		t.Fatalf("invalid policy: err %v, %d applies", err, k.applies)
	}
	if want := "seawall.yaml:4:14"; !contains(err.Error(), want) {
		t.Errorf("error %q does not point at %s", err, want)
	}
	// The table disappears: restore re-installs the recorded state.
	k.table = nil
	if err := d.restore(); err != nil || k.table == nil || k.applies != 4 {
		t.Fatalf("restore: err %v, applies %d", err, k.applies)
	}
}

func bumpMtime(t *testing.T, path string) {
	t.Helper()
	future := time.Now().Add(2 * time.Second)
	if err := os.Chtimes(path, future, future); err != nil {
		t.Fatal(err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
