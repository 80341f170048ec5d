package daemon

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seawall/seawall/internal/policy"
	"github.com/seawall/seawall/internal/ruleset"
	"github.com/seawall/seawall/internal/state"
)

// fakeKernel records what the daemon asks of the kernel.
type fakeKernel struct {
	table    *ruleset.Ruleset
	gen      uint32
	applies  int
	updates  [][]string
	lastKeep map[string]bool
}

func (k *fakeKernel) Apply(rs *ruleset.Ruleset, keep map[string]bool, gen uint32) (uint32, error) {
	if gen != k.gen {
		keep = nil
	}
	k.table, k.lastKeep = rs, keep
	k.applies++
	k.gen++
	return k.gen, nil
}
func (k *fakeKernel) Delete() error         { k.table = nil; k.gen++; return nil }
func (k *fakeKernel) Exists() (bool, error) { return k.table != nil, nil }
func (k *fakeKernel) ReplaceElements(ss []*ruleset.Set) (uint32, error) {
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
