// Package state owns seawall's state directory: what was last applied (and
// the one before, for rollback), an open confirm window, and the lock that
// serialises seawall processes that change the kernel.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/seawall/seawall/internal/inventory"
	"github.com/seawall/seawall/internal/ruleset"
)

// Applied records a ruleset that is (or was) in the kernel.
type Applied struct {
	Time       time.Time        `json:"time"`
	PolicyFile string           `json:"policy_file"`
	PolicyHash string           `json:"policy_hash"`
	Ruleset    *ruleset.Ruleset `json:"ruleset"`
	// Gen is the nftables generation seawall's own commit produced; while
	// the kernel still reports it, nobody else has changed anything.
	Gen uint32 `json:"gen,omitempty"`
}

// Trial records an open confirm window: Next is in force until Deadline,
// after which the kernel itself falls back to Prev (nil: no table).
type Trial struct {
	Started  time.Time `json:"started"`
	Deadline time.Time `json:"deadline"`
	Prev     *Applied  `json:"prev,omitempty"`
	Next     *Applied  `json:"next"`
	Gen      uint32    `json:"gen,omitempty"` // generation after the window's commit
}

// PrevRuleset is what the window falls back to: nil when there was no
// table.
func (t *Trial) PrevRuleset() *ruleset.Ruleset {
	if t.Prev == nil {
		return nil
	}
	return t.Prev.Ruleset
}

// Dir is a state directory.
type Dir struct{ path string }

// Open creates the directory if needed (mode 0700: it holds the ruleset).
func Open(path string) (*Dir, error) {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("could not create state directory: %w", err)
	}
	return &Dir{path: path}, nil
}

// Path is the directory's path.
func (d *Dir) Path() string { return d.path }

// Lock takes an exclusive lock on the directory, waiting for other seawall
// processes that hold it; call the returned function to release it.
func (d *Dir) Lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(d.path, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("could not open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("could not lock state directory: %w", err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

const (
	factsFile    = "facts.json"
	appliedFile  = "applied.json"
	previousFile = "previous.json"
	trialFile    = "trial.json"
)

// Applied returns what was last applied, or nil.
func (d *Dir) Applied() (*Applied, error) { return readJSON[Applied](d.file(appliedFile)) }

// Previous returns what was applied before the last apply, or nil.
func (d *Dir) Previous() (*Applied, error) { return readJSON[Applied](d.file(previousFile)) }

// Trial returns the open confirm window, or nil.
func (d *Dir) Trial() (*Trial, error) { return readJSON[Trial](d.file(trialFile)) }

// SaveApplied records a ruleset as applied; the one it replaces becomes the
// previous one.
func (d *Dir) SaveApplied(a *Applied) error {
	if err := os.Rename(d.file(appliedFile), d.file(previousFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("could not keep the previous state: %w", err)
	}
	return writeJSON(d.file(appliedFile), a)
}

// RecordGen notes, in the applied record, the generation of a commit that
// re-installed what it describes.
func (d *Dir) RecordGen(gen uint32) error {
	a, err := d.Applied()
	if err != nil || a == nil {
		return err
	}
	a.Gen = gen
	return writeJSON(d.file(appliedFile), a)
}

// Facts returns the last facts about containers seawall saw, or nil.
func (d *Dir) Facts() (*inventory.Facts, error) { return readJSON[inventory.Facts](d.file(factsFile)) }

// SaveFacts records the facts about containers, for when Docker cannot be
// asked.
func (d *Dir) SaveFacts(f *inventory.Facts) error { return writeJSON(d.file(factsFile), f) }

// SaveTrial records an open confirm window.
func (d *Dir) SaveTrial(t *Trial) error { return writeJSON(d.file(trialFile), t) }

// ClearTrial forgets the confirm window.
func (d *Dir) ClearTrial() error { return remove(d.file(trialFile)) }

// ClearApplied records that seawall's table is gone; the last applied state
// becomes the previous one, so rollback can bring it back.
func (d *Dir) ClearApplied() error {
	if err := os.Rename(d.file(appliedFile), d.file(previousFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("could not keep the previous state: %w", err)
	}
	return nil
}

// Records returns the files a seawall process writes when it changes the
// table (the applied record and the confirm window): a change of them
// means some seawall process wrote to the kernel.
func (d *Dir) Records() []string { return []string{d.file(appliedFile), d.file(trialFile)} }

func (d *Dir) file(name string) string { return filepath.Join(d.path, name) }

func remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("could not remove %s: %w", path, err)
	}
	return nil
}

func readJSON[T any](path string) (*T, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("could not read state: %w", err)
	}
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("could not read state %s: %w", path, err)
	}
	return v, nil
}

// writeJSON replaces a file atomically (write, fsync, rename).
func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("could not encode state: %w", err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("could not write state: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("could not write state: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("could not write state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("could not write state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("could not write state: %w", err)
	}
	return nil
}
