package logsrc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Defaults of Follower's tunables.
const (
	// DefaultPoll is how often a follower looks at its file without being
	// told to: a safety net for what inotify does not report (a directory
	// symlink swapped, a file on a network file system).
	DefaultPoll = time.Second
	// DefaultLinger is how long a rotated-away file is still read: a
	// writer keeps writing to it until it reopens its log (logrotate's
	// postrotate signal), and those lines are not lost.
	DefaultLinger = 5 * time.Second
	// fallbackPoll is the polling interval when inotify is unavailable
	// (e.g. the per-user limit of instances is reached).
	fallbackPoll = 100 * time.Millisecond
)

// Follower follows log files like `tail -F`, with resumable positions. Its
// zero value is ready to use; set its fields before calling Follow.
type Follower struct {
	// FromStart makes Follow, when it has no saved position, read the
	// file from its beginning. By default it starts at the end of the
	// file's last complete line, like fail2ban's "tail".
	FromStart bool
	// MaxLine bounds line length; 0 means DefaultMaxLine.
	MaxLine int
	// Poll is the safety-net polling interval; 0 means DefaultPoll.
	Poll time.Duration
	// Linger is how long a rotated-away file is still read; 0 means
	// DefaultLinger.
	Linger time.Duration
	// PollOnly makes Follow poll every Poll instead of using inotify:
	// for network file systems, whose remote changes inotify does not
	// report.
	PollOnly bool
	// Log receives warnings (a file that cannot be read, a rotated file
	// not found on resume); nil discards them.
	Log *slog.Logger
}

// Follow follows the file at path with a zero Follower: see Follower.Follow.
func Follow(ctx context.Context, path string, from Position, out chan<- Line) error {
	var f Follower
	return f.Follow(ctx, path, from, out)
}

// Follow sends the lines of the file at path to out, and goes on sending
// the lines appended to it, until ctx ends; it then returns ctx.Err(). It
// returns another error only when path is empty.
//
// Every Line carries the Position after it (Line.Pos). Given that position
// as from, a later Follow resumes after that line:
//   - if the file at path is the same file (device, inode and the
//     fingerprint of its first bytes), at the position's offset, or at 0
//     if the file is now shorter (it was truncated);
//   - if path is now another file (rotated meanwhile), it first reads the
//     rest of the old file if it finds it in the directory under another
//     name (path.1, path-20240102, ...: the same inode and first bytes; or,
//     after copytruncate, a copy with the same first bytes), then the new
//     file from 0.
//
// Without a saved position, Follow starts at the end of the file (see
// FromStart). A file that does not exist yet is waited for, and read from
// its beginning when it appears.
//
// Follow survives rename rotation (the old file is read to its end, and
// still read for Linger in case its writer has not reopened yet; those late
// lines carry no Pos), copytruncate (the file shrinks or its first bytes
// change: reading restarts at 0), deletion and re-creation, and a symlink
// at path pointing to another file (path is resolved again each time). An
// incomplete last line is held until its newline arrives, and delivered
// as it is when its file is rotated away or truncated; when ctx ends it is
// not delivered, so that a Follow resuming from the last Pos reads it
// whole.
//
// Follow wakes up on inotify events of the file and of its directory, so a
// line is delivered within microseconds of being written, and polls every
// Poll in case an event was missed.
func (fl *Follower) Follow(ctx context.Context, path string, from Position, out chan<- Line) error {
	if path == "" {
		return errors.New("logsrc: follow: empty path")
	}
	t := &tail{
		path:   path,
		out:    out,
		max:    fl.MaxLine,
		poll:   cmpOr(fl.Poll, DefaultPoll),
		linger: cmpOr(fl.Linger, DefaultLinger),
		log:    fl.Log,
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	t.log = t.log.With("file", path)
	if !fl.PollOnly {
		n, err := newNotifier()
		if err != nil {
			t.log.Warn("following without inotify, by polling", "err", err, "interval", fallbackPoll)
			t.poll = min(t.poll, fallbackPoll)
		} else {
			t.notify = n
			defer n.close()
		}
	}
	defer t.closeAll()
	t.from, t.fromStart = from, fl.FromStart
	return t.run(ctx)
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// tail is the state of one Follow.
type tail struct {
	path   string
	out    chan<- Line
	max    int
	poll   time.Duration
	linger time.Duration
	log    *slog.Logger
	notify *notifier // nil: polling only

	// from and fromStart say where to start; resumed that it started.
	from      Position
	fromStart bool
	resumed   bool

	cur      *logFile          // the file at path being read; nil while there is none
	retired  []*logFile        // files rotated away, read until their linger ends
	problems map[string]string // ongoing problems logged, by kind: each is logged once
}

// logFile is one open log file and how far it was read.
type logFile struct {
	f       *os.File
	id      fileID
	head    head     // its first bytes, as last seen
	sum     [16]byte // head.sum()
	r       *LineReader
	wd      int       // inotify watch descriptor, -1 for none
	retired time.Time // when it was rotated away; zero for the current file
}

// pread reads a file at an offset of its own, so the follower decides where
// reading goes on rather than the descriptor's offset.
type pread struct {
	f   *os.File
	off int64
}

func (p *pread) Read(b []byte) (int, error) {
	n, err := p.f.ReadAt(b, p.off)
	p.off += int64(n)
	if n > 0 && errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

func (t *tail) maxLine() int {
	if t.max > 0 {
		return t.max
	}
	return DefaultMaxLine
}

// run reads until ctx ends, waking up on inotify events and on the poll
// ticker.
func (t *tail) run(ctx context.Context) error {
	ticker := time.NewTicker(t.poll)
	defer ticker.Stop()
	var wake <-chan struct{}
	if t.notify != nil {
		wake = t.notify.wake
	}
	for {
		if err := t.step(ctx); err != nil {
			return err
		}
		var lingerC <-chan time.Time
		var timer *time.Timer
		if d, ok := t.nextRetirement(); ok {
			timer = time.NewTimer(d)
			lingerC = timer.C
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-ticker.C:
		case <-lingerC:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// step reads what is new: the current file, a file that replaced it at
// path, and the retired files.
func (t *tail) step(ctx context.Context) error {
	t.watchDirs()
	if !t.resumed {
		ok, err := t.resume(ctx)
		if !ok || err != nil {
			return err
		}
		t.resumed = true
	}
	if t.cur != nil {
		if err := t.readCurrent(ctx); err != nil {
			return err
		}
	}
	if err := t.checkPath(ctx); err != nil {
		return err
	}
	return t.readRetired(ctx)
}

// readCurrent reads the current file's new lines, first restarting at 0 if
// it was truncated (copytruncate) or rewritten.
func (t *tail) readCurrent(ctx context.Context) error {
	lf := t.cur
	truncated, err := t.refreshHead(lf)
	if err != nil {
		t.problem(errRead, err)
		return nil
	}
	if truncated {
		t.log.Info("log file was truncated, reading it from the start")
		if err := t.flush(ctx, lf, true); err != nil {
			return err
		}
		if lf.head, err = readHead(lf.f); err != nil {
			t.problem(errRead, err)
			return nil
		}
		lf.sum = lf.head.sum()
		lf.r.Reset(&pread{f: lf.f}, 0)
	}
	return t.drain(ctx, lf, true)
}

// refreshHead rereads the first bytes of lf and reports whether the file
// was truncated or rewritten: it is shorter than what was read of it, or
// its first bytes changed.
func (t *tail) refreshHead(lf *logFile) (bool, error) {
	size, err := fileSize(lf.f)
	if err != nil {
		return false, err
	}
	if size < lf.r.Offset()+lf.r.Pending() {
		return true, nil
	}
	if len(lf.head) < headSize && size == int64(len(lf.head)) {
		return false, nil // a short file that did not grow
	}
	h, err := readHead(lf.f)
	if err != nil {
		return false, err
	}
	if !bytes.HasPrefix(h, lf.head) {
		return true, nil
	}
	if len(h) != len(lf.head) {
		lf.head, lf.sum = h, h.sum()
	}
	return false, nil
}

// checkPath looks at what path is now: the current file, another file
// (rotation: the current one is retired, the new one read from 0), or
// nothing (the current one is read on; a new one will come).
func (t *tail) checkPath(ctx context.Context) error {
	fi, err := os.Stat(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		t.resolved(errStat)
		return nil
	}
	if err != nil {
		t.problem(errStat, err)
		return nil
	}
	t.resolved(errStat)
	if t.cur != nil && idOf(fi) == t.cur.id {
		return nil
	}
	lf, err := t.open()
	if err != nil {
		t.problem(errOpen, err)
		return nil
	}
	t.resolved(errOpen)
	if lf == nil {
		return nil // gone again between the stat and the open
	}
	if t.cur != nil && lf.id == t.cur.id {
		// Replaced and put back between the stat and the open.
		t.closeFile(lf)
		return nil
	}
	if t.cur != nil {
		// Lines written just before the rotation still get positions.
		if err := t.drain(ctx, t.cur, true); err != nil {
			t.closeFile(lf)
			return err
		}
		t.log.Info("log file was replaced (rotated, re-created or a symlink swapped), reading the new one")
		t.retire(t.cur)
	}
	t.setCurrent(lf, 0, false)
	return t.drain(ctx, lf, true)
}

// open opens the file at path; it returns nil and no error when there is
// none.
func (t *tail) open() (*logFile, error) {
	lf, err := openLogFile(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return lf, err
}

// openLogFile opens a regular file and reads its head.
func openLogFile(name string) (*logFile, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file (%s)", name, fi.Mode().Type())
	}
	h, err := readHead(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &logFile{f: f, id: idOf(fi), head: h, sum: h.sum(), wd: -1}, nil
}

// setCurrent makes lf the current file, read from offset start (skipping
// the line start falls in when skip), and watches it.
func (t *tail) setCurrent(lf *logFile, start int64, skip bool) {
	lf.r = NewLineReader(&pread{f: lf.f, off: start}, start, t.max)
	if skip {
		lf.r.skipFirst()
	}
	if t.notify != nil {
		wd, err := t.notify.watchFile(lf.f)
		if err != nil {
			t.log.Warn("relying on polling for this file", "err", err)
		}
		lf.wd = wd
	}
	t.cur = lf
	t.watchDirs()
}

// retire moves lf from current to retired: it is read on for the linger
// time, its lines without positions.
func (t *tail) retire(lf *logFile) {
	lf.retired = time.Now()
	t.retired = append(t.retired, lf)
	t.cur = nil
}

// readRetired reads the retired files, and closes those whose linger is
// over, delivering their incomplete last line.
func (t *tail) readRetired(ctx context.Context) error {
	kept := t.retired[:0]
	for _, lf := range t.retired {
		if err := t.drain(ctx, lf, false); err != nil {
			return err
		}
		if time.Since(lf.retired) < t.linger {
			kept = append(kept, lf)
			continue
		}
		if err := t.flush(ctx, lf, false); err != nil {
			return err
		}
		t.closeFile(lf)
	}
	clear(t.retired[len(kept):])
	t.retired = kept
	return nil
}

// nextRetirement is how long until the first retired file's linger ends.
func (t *tail) nextRetirement() (time.Duration, bool) {
	if len(t.retired) == 0 {
		return 0, false
	}
	return max(0, t.linger-time.Since(t.retired[0].retired)), true
}

// drain delivers the complete lines lf has, with positions if withPos.
func (t *tail) drain(ctx context.Context, lf *logFile, withPos bool) error {
	for {
		text, err := lf.r.Next()
		if errors.Is(err, io.EOF) {
			t.resolved(errRead)
			return nil
		}
		if err != nil {
			t.problem(errRead, err)
			return nil
		}
		if err := t.deliver(ctx, lf, text, withPos); err != nil {
			return err
		}
	}
}

// flush delivers lf's incomplete last line, if any.
func (t *tail) flush(ctx context.Context, lf *logFile, withPos bool) error {
	text, ok := lf.r.Flush()
	if !ok {
		return nil
	}
	return t.deliver(ctx, lf, text, withPos)
}

func (t *tail) deliver(ctx context.Context, lf *logFile, text []byte, withPos bool) error {
	l := Line{Source: t.path, Text: string(text)}
	if withPos {
		t.growHead(lf)
		p := Position{Dev: lf.id.dev, Ino: lf.id.ino, HeadLen: uint16(len(lf.head)), HeadSum: lf.sum, Offset: lf.r.Offset()}
		l.Pos = p.appendBinary(make([]byte, 0, posSize))
	}
	return send(ctx, t.out, l)
}

// growHead extends a short head over what was read since it was taken, so
// a position's fingerprint covers as much as the file had (up to headSize).
func (t *tail) growHead(lf *logFile) {
	if len(lf.head) == headSize || lf.r.Offset() <= int64(len(lf.head)) {
		return
	}
	h, err := readHead(lf.f)
	if err == nil && len(h) > len(lf.head) && bytes.HasPrefix(h, lf.head) {
		lf.head, lf.sum = h, h.sum()
	}
}

// dirs are the directories to watch: path's, and its symlink target's.
func (t *tail) dirs() []string {
	dirs := []string{filepath.Dir(t.path)}
	if real, err := filepath.EvalSymlinks(t.path); err == nil {
		if d := filepath.Dir(real); d != dirs[0] {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// watchDirs keeps the notifier on the directories to watch; one that does
// not exist yet is retried at the next step.
func (t *tail) watchDirs() {
	if t.notify == nil {
		return
	}
	if err := t.notify.watchDirs(t.dirs()...); err != nil {
		t.problem(errWatch, err)
		return
	}
	t.resolved(errWatch)
}

// Kinds of problems a follower logs once while they last.
const (
	errOpen  = "could not open the log file"
	errRead  = "could not read the log file"
	errStat  = "could not look at the log file"
	errWatch = "relying on polling until the directory exists"
)

// problem logs a problem of a kind, unless the same one was logged last.
func (t *tail) problem(kind string, err error) {
	if t.problems == nil {
		t.problems = map[string]string{}
	}
	if t.problems[kind] == err.Error() {
		return
	}
	t.problems[kind] = err.Error()
	t.log.Warn(kind, "err", err)
}

// resolved notes that a kind of problem is over: should it come back, it
// is logged again.
func (t *tail) resolved(kind string) { delete(t.problems, kind) }

func (t *tail) closeFile(lf *logFile) {
	if t.notify != nil {
		t.notify.unwatch(lf.wd)
	}
	lf.f.Close()
}

func (t *tail) closeAll() {
	if t.cur != nil {
		t.closeFile(t.cur)
		t.cur = nil
	}
	for _, lf := range t.retired {
		t.closeFile(lf)
	}
	t.retired = nil
}

func fileSize(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
