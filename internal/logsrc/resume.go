package logsrc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
)

// This file holds where a Follow starts: at a saved position, after the
// rest of a file rotated while not followed, or at the end.

// resume opens the file and positions the reader: at from if it is the
// same file, else after reading the rest of the rotated file from points
// to, else at the start or the end per fromStart. It reports false when
// the file exists but cannot be opened (yet): step calls it again.
func (t *tail) resume(ctx context.Context) (bool, error) {
	lf, err := t.open()
	if err != nil {
		t.problem(errOpen, err)
		return false, nil
	}
	t.resolved(errOpen)
	from := t.from
	if from.IsZero() {
		if lf != nil {
			start, skip := int64(0), false
			if !t.fromStart {
				start, skip = t.tailStart(lf)
			}
			t.setCurrent(lf, start, skip)
		}
		return true, nil
	}
	if lf != nil && from.sameFile(lf.id, lf.head) {
		start := from.Offset
		if size, err := fileSize(lf.f); err == nil && size < start {
			t.log.Info("log file was truncated while not followed, reading it from the start", "size", size, "offset", start)
			start = 0
		}
		t.setCurrent(lf, start, false)
		return true, nil
	}
	// Rotated (or deleted) while not followed: finish the old file first.
	if err := t.finishRotated(ctx, from); err != nil {
		if lf != nil {
			t.closeFile(lf)
		}
		return false, err
	}
	if lf != nil {
		t.setCurrent(lf, 0, false)
	}
	return true, nil
}

// finishRotated reads the rest of the file from was taken on, if it is
// still in the directory under another name, delivering its lines with
// their positions.
func (t *tail) finishRotated(ctx context.Context, from Position) error {
	old := t.findRotated(from)
	if old == nil {
		t.log.Warn("log file changed while not followed (rotated, truncated or replaced) and the old content was not found (compressed or deleted?): its unread lines are lost, reading the new file from the start", "position", from.String())
		return nil
	}
	defer t.closeFile(old)
	t.log.Info("log file was rotated while not followed, reading the rest of the old file first", "old", old.f.Name(), "offset", from.Offset)
	old.r = NewLineReader(&pread{f: old.f, off: from.Offset}, from.Offset, t.max)
	if err := t.drain(ctx, old, true); err != nil {
		return err
	}
	return t.flush(ctx, old, true)
}

// findRotated looks for the file p was taken on in the directories of path
// and of its symlink target, where rotation leaves it: renamed (the same
// inode and first bytes) or, after copytruncate, copied (the same first
// bytes, at least as long as the offset, not the file at path).
func (t *tail) findRotated(p Position) *logFile {
	var current fileID
	if fi, err := os.Stat(t.path); err == nil {
		current = idOf(fi)
	}
	var copies []string
	for _, dir := range t.dirs() {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if !e.Type().IsRegular() {
				continue
			}
			name := filepath.Join(dir, e.Name())
			fi, err := os.Stat(name)
			if err != nil || idOf(fi) == current {
				continue
			}
			if idOf(fi).ino != p.Ino {
				// Without a head (the file was empty) a copy cannot be
				// told from any file; nor is there anything to recover.
				if p.HeadLen > 0 && fi.Size() >= p.Offset {
					copies = append(copies, name)
				}
				continue
			}
			if lf := openMatching(name, p); lf != nil {
				return lf
			}
		}
	}
	for _, name := range copies {
		if lf := openMatching(name, p); lf != nil {
			return lf
		}
	}
	return nil
}

// openMatching opens the file name if its first bytes match p's.
func openMatching(name string, p Position) *logFile {
	lf, err := openLogFile(name)
	if err != nil {
		return nil
	}
	if !p.matches(lf.head) {
		lf.f.Close()
		return nil
	}
	return lf
}

// tailStart is where reading starts without a saved position: after the
// file's last newline, so a last line still being written is read whole.
// When the last newline is further back than a line may be long, reading
// starts at the end and skips to the next newline.
func (t *tail) tailStart(lf *logFile) (int64, bool) {
	size, err := fileSize(lf.f)
	if err != nil || size == 0 {
		return 0, false
	}
	n := min(size, int64(t.maxLine())+2)
	buf := make([]byte, n)
	if _, err := lf.f.ReadAt(buf, size-n); err != nil && !errors.Is(err, io.EOF) {
		return size, false
	}
	switch i := bytes.LastIndexByte(buf, '\n'); {
	case i >= 0:
		return size - n + int64(i) + 1, false
	case n == size:
		return 0, false
	default:
		return size, true
	}
}
