package docker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/seawall/seawall/internal/inventory"
	"github.com/seawall/seawall/internal/logsrc"
)

// LogLine is one line a container wrote to its stdout or stderr.
type LogLine struct {
	Container string    // the container's ID
	Name      string    // its name (without "/"), as of when the line was read
	Stream    string    // "stdout" or "stderr"
	Time      time.Time // when Docker read it from the container
	Text      string    // without its line ending, cut to logsrc.DefaultMaxLine
}

// Bounds of FollowLogs' reattaching to a container whose log stream broke
// while it runs.
const (
	logRetryMin = 100 * time.Millisecond
	logRetryMax = 30 * time.Second
	// logHealthy is how long a log stream must have lived for the next
	// attachment to come without backoff.
	logHealthy = time.Second
)

// FollowLogs sends the stdout and stderr lines of every running container
// that want selects to out, until ctx ends (it returns ctx.Err()) or the
// Source is closed (ErrClosed). It reads them through the Engine API, so
// the containers' log driver need not change (any driver Docker can read
// back: json-file, local, or another with Docker's dual logging).
//
// want sees a container as Facts describes it; it is asked when a container
// starts, is renamed, and for every running container when FollowLogs
// (re)connects to the daemon. want and since are called from one goroutine,
// one call at a time.
//
// since, if not nil, returns for a container ID the time of the last line
// of it the caller has processed (persisted across restarts): lines up to
// that time are not sent again. For a container since knows nothing of
// (zero time), lines from when FollowLogs began are sent: all the lines of
// a container started later, none from before.
//
// Containers are followed across restarts and reconnections: FollowLogs
// watches the daemon's events (start: attach; destroy: detach; rename: the
// new name, and want is asked again) and resumes each container's stream
// after the last line sent, by its time and the count of lines sent with
// that time (Docker's timestamps have nanoseconds), so that no line is sent
// twice or skipped. The limit: Docker timestamps stdout and stderr in
// separate goroutines, so a line can be older than the one before it; such
// a line, if a reconnection falls just between the two, is not sent.
func (s *Source) FollowLogs(ctx context.Context, want func(c *inventory.Container) bool,
	since func(containerID string) time.Time, out chan<- LogLine) error {
	if want == nil {
		return errors.New("docker: FollowLogs needs a predicate")
	}
	if since == nil {
		since = func(string) time.Time { return time.Time{} }
	}
	if s.closeCtx.Err() != nil {
		return ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m := &logManager{
		s:        s,
		want:     want,
		since:    since,
		out:      out,
		begin:    time.Now(),
		attached: map[string]*logFollower{},
		marks:    map[string]*logMark{},
		retries:  map[string]time.Duration{},
		changes:  make(chan Change, 16),
		ended:    make(chan *logFollower),
		retry:    make(chan string),
	}
	watchErr := make(chan error, 1)
	go func() {
		watchErr <- s.WatchChanges(ctx, func(c Change) {
			select {
			case m.changes <- c:
			case <-ctx.Done():
			}
		})
	}()
	err := m.run(ctx, watchErr)
	cancel()
	m.wg.Wait()
	return err
}

// logManager attaches and detaches the log followers of one FollowLogs. Its
// maps are only touched by its run goroutine.
type logManager struct {
	s     *Source
	want  func(*inventory.Container) bool
	since func(string) time.Time
	out   chan<- LogLine
	begin time.Time

	attached map[string]*logFollower  // by container ID
	marks    map[string]*logMark      // resume points, by container ID
	retries  map[string]time.Duration // next reattach backoff, by container ID

	changes chan Change
	ended   chan *logFollower
	retry   chan string
	wg      sync.WaitGroup
}

// run handles events and ended followers until ctx ends or the event watch
// returns.
func (m *logManager) run(ctx context.Context, watchErr <-chan error) error {
	for {
		select {
		case <-ctx.Done():
			return <-watchErr
		case err := <-watchErr:
			return err
		case c := <-m.changes:
			for _, e := range c.Events {
				m.handle(ctx, e)
			}
			if c.Dropped > 0 {
				m.sync(ctx) // some start events may be among them
			}
		case f := <-m.ended:
			m.followerEnded(ctx, f)
		case id := <-m.retry:
			if m.attached[id] == nil {
				m.attachID(ctx, id)
			}
		}
	}
}

// handle acts on one event.
func (m *logManager) handle(ctx context.Context, e Event) {
	switch {
	case e.Type == "stream":
		// (Re)connected: containers may have started, and streams broken.
		m.sync(ctx)
	case e.Type != "container":
	case e.Action == "start":
		if f := m.attached[e.ID]; f != nil {
			f.again = true // its old stream is ending: attach when it has
			return
		}
		m.attachID(ctx, e.ID)
	case e.Action == "destroy":
		if f := m.attached[e.ID]; f != nil {
			f.destroyed = true
			f.cancel()
			return
		}
		delete(m.marks, e.ID)
		delete(m.retries, e.ID)
	case e.Action == "rename":
		// The predicate may select by name: ask it again.
		if f := m.attached[e.ID]; f != nil {
			f.setName(e.Name)
		}
		m.attachID(ctx, e.ID)
	}
}

// sync attaches to every running container that is wanted and not
// followed yet.
func (m *logManager) sync(ctx context.Context) {
	list, err := m.s.cli.ContainerList(ctx, container.ListOptions{})
	if err != nil {
		m.s.log.Warn("cannot list containers to follow their logs", "err", m.s.wrap("list containers", err))
		return
	}
	infos, err := m.s.inspectAll(ctx, list)
	if err != nil {
		m.s.log.Warn("cannot inspect containers to follow their logs", "err", err)
		return
	}
	for _, info := range infos {
		m.attach(ctx, info)
	}
}

// attachID inspects a container and attaches to it if it runs and is
// wanted.
func (m *logManager) attachID(ctx context.Context, id string) {
	info, err := m.s.cli.ContainerInspect(ctx, id)
	switch {
	case cerrdefs.IsNotFound(err):
		return
	case err != nil:
		if ctx.Err() == nil {
			m.s.log.Warn("cannot inspect a container to follow its logs", "id", shortID(id), "err", m.s.wrap("inspect container", err))
		}
		return
	}
	if info.ContainerJSONBase == nil || info.State == nil || !info.State.Running {
		return
	}
	m.attach(ctx, &info)
}

// attach starts following a running container's logs if want selects it;
// for one followed already, it updates the name, or detaches it if want no
// longer selects it.
func (m *logManager) attach(ctx context.Context, info *container.InspectResponse) {
	c := m.s.container(info)
	wanted := m.want(c)
	if f := m.attached[c.ID]; f != nil {
		f.setName(c.Name)
		if !wanted {
			f.unwanted = true
			f.cancel()
		}
		return
	}
	if !wanted {
		return
	}
	mark := m.marks[c.ID]
	if mark == nil {
		mark = &logMark{last: m.begin}
		if t := m.since(c.ID); !t.IsZero() {
			// The caller processed everything up to t.
			mark = &logMark{last: t, n: math.MaxInt}
		}
		m.marks[c.ID] = mark
	}
	fctx, cancel := context.WithCancel(ctx)
	f := &logFollower{id: c.ID, tty: info.Config != nil && info.Config.Tty, mark: mark, cancel: cancel}
	f.setName(c.Name)
	m.attached[c.ID] = f
	m.s.log.Debug("following container logs", "container", c.Name, "since", mark.last)
	m.wg.Go(func() {
		f.started = time.Now()
		f.err = m.s.streamLogs(fctx, f, m.out)
		cancel()
		select {
		case m.ended <- f:
		case <-ctx.Done():
		}
	})
}

// followerEnded decides what comes after a log stream ended: nothing for a
// destroyed or stopped container (a start event attaches it again), a new
// stream for one that was restarted meanwhile or still runs (the daemon
// broke the stream), after a backoff if streams keep failing.
func (m *logManager) followerEnded(ctx context.Context, f *logFollower) {
	delete(m.attached, f.id)
	switch {
	case f.destroyed:
		delete(m.marks, f.id)
		delete(m.retries, f.id)
		return
	case f.unwanted:
		// Should it be wanted again, it is followed from then on.
		m.marks[f.id] = &logMark{last: time.Now(), n: math.MaxInt}
		return
	}
	if f.again {
		m.attachID(ctx, f.id)
		return
	}
	info, err := m.s.cli.ContainerInspect(ctx, f.id)
	if err != nil || info.ContainerJSONBase == nil || info.State == nil || !info.State.Running {
		// Stopped or gone, or the daemon is away (its return is a
		// "reconnected" event, which syncs).
		return
	}
	wait := m.retries[f.id]
	if time.Since(f.started) >= logHealthy || wait == 0 {
		wait = logRetryMin
	}
	m.retries[f.id] = min(2*wait, logRetryMax)
	why := "closed by the daemon"
	if f.err != nil {
		why = f.err.Error()
	}
	level := slog.LevelWarn
	if wait > logRetryMin {
		level = slog.LevelDebug // failing again: said already
	}
	m.s.log.Log(ctx, level, "container log stream ended while it runs, reattaching", "container", f.name(), "err", why, "wait", wait)
	m.wg.Go(func() {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
			select {
			case m.retry <- f.id:
			case <-ctx.Done():
			}
		case <-ctx.Done():
		}
	})
}

// logFollower follows one container's log stream.
type logFollower struct {
	id     string
	tty    bool
	mark   *logMark // owned by the follower while it runs
	cancel context.CancelFunc
	nameV  atomic.Pointer[string]

	// Set by the manager.
	again     bool // the container started again: reattach when this ends
	destroyed bool // the container is gone
	unwanted  bool // the predicate no longer selects the container
	// Set by the follower before it reports its end.
	started time.Time
	err     error
}

func (f *logFollower) setName(n string) { f.nameV.Store(&n) }
func (f *logFollower) name() string     { return *f.nameV.Load() }

// logMark is where a container's log was read up to: the newest line time
// sent, and how many lines with that time were sent.
type logMark struct {
	last time.Time
	n    int
}

// resume filters the lines of a stream opened since m.last: it drops those
// sent already (older than the mark, or among the first n at the mark's
// time) until the first line after the mark.
type resume struct {
	m      *logMark
	replay bool // still at or before the mark
	seen   int  // lines at the mark's time seen in this stream
}

func (r *resume) keep(t time.Time) bool {
	if r.replay {
		switch {
		case t.After(r.m.last):
			r.replay = false
		case t.Before(r.m.last):
			return false
		default:
			r.seen++
			if r.seen <= r.m.n {
				return false
			}
		}
	}
	switch {
	case t.After(r.m.last):
		r.m.last, r.m.n = t, 1
	case t.Equal(r.m.last):
		r.m.n++
	}
	return true
}

// streamLogs reads one log stream of f's container until it ends (the
// container stopped, the daemon went away) or ctx ends.
func (s *Source) streamLogs(ctx context.Context, f *logFollower, out chan<- LogLine) error {
	rc, err := s.cli.ContainerLogs(ctx, f.id, container.LogsOptions{
		ShowStdout: true,
		ShowStderr: true,
		Follow:     true,
		Timestamps: true,
		Since:      fmt.Sprintf("%d.%09d", f.mark.last.Unix(), f.mark.last.Nanosecond()),
	})
	if err != nil {
		return s.wrap("logs of container "+shortID(f.id), err)
	}
	defer rc.Close()
	r := &resume{m: f.mark, replay: true}
	emit := func(stream string, msg []byte) error {
		t, text := splitTimestamp(msg)
		if !t.IsZero() && !r.keep(t) {
			return nil
		}
		l := LogLine{Container: f.id, Name: f.name(), Stream: stream, Time: t, Text: string(text)}
		select {
		case out <- l:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if f.tty {
		err = readRaw(rc, emit)
	} else {
		err = s.readMultiplexed(rc, f, emit)
	}
	if err != nil && ctx.Err() == nil {
		return s.wrap("logs of container "+shortID(f.id), err)
	}
	return err
}

// splitTimestamp splits "2024-01-02T03:04:05.123456789Z text" (Docker's
// Timestamps option) into the time and the text. Without a timestamp the
// time is zero and the text all of msg.
func splitTimestamp(msg []byte) (time.Time, []byte) {
	i := bytes.IndexByte(msg, ' ')
	if i < 0 {
		i = len(msg)
	}
	t, err := time.Parse(time.RFC3339Nano, string(msg[:i]))
	if err != nil {
		return time.Time{}, msg
	}
	if i < len(msg) {
		i++
	}
	return t, msg[i:]
}

// readRaw reads a TTY container's stream: lines of "TIMESTAMP text\r\n",
// nothing else. (A line longer than Docker's 16 KiB buffer arrives in parts
// that each have a timestamp; in a raw stream their boundaries are lost and
// the timestamps of the later parts stay in the text.)
func readRaw(rc io.Reader, emit func(stream string, msg []byte) error) error {
	lr := logsrc.NewLineReader(rc, 0, logsrc.DefaultMaxLine+timestampLen)
	for {
		line, err := lr.Next()
		if errors.Is(err, io.EOF) {
			if last, ok := lr.Flush(); ok {
				return emit("stdout", last)
			}
			return nil
		}
		if err != nil {
			return err
		}
		if err := emit("stdout", line); err != nil {
			return err
		}
	}
}

// timestampLen is the length of Docker's fixed-width timestamps with the
// space after them: "2006-01-02T15:04:05.000000000Z ".
const timestampLen = 31

// Stream types of the multiplexed format's frame headers.
const (
	frameStdout    = 1
	frameStderr    = 2
	frameSystemerr = 3
	frameHeaderLen = 8
)

// readMultiplexed reads a non-TTY container's stream: frames of an 8-byte
// header (stream type, 3 zero bytes, big-endian payload length) and a
// payload, one log message per frame. A message without a newline is a
// part of a longer line, continued by the next message of its stream.
func (s *Source) readMultiplexed(rc io.Reader, f *logFollower, emit func(stream string, msg []byte) error) error {
	br := bufio.NewReaderSize(rc, 32<<10)
	parts := map[byte]*partLine{frameStdout: {stream: "stdout"}, frameStderr: {stream: "stderr"}}
	var header [frameHeaderLen]byte
	payload := make([]byte, 0, 16<<10)
	for {
		if _, err := io.ReadFull(br, header[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return flushParts(parts, emit)
			}
			return err
		}
		size := int64(binary.BigEndian.Uint32(header[4:]))
		var complete bool
		var err error
		payload, complete, err = readPayload(br, size, payload[:0])
		if err != nil {
			return err
		}
		p := parts[header[0]]
		if p == nil {
			if header[0] == frameSystemerr {
				s.log.Warn("docker reports an error reading container logs", "container", f.name(), "msg", string(bytes.TrimSpace(payload)))
			}
			continue
		}
		if line, ok := p.add(payload, complete); ok {
			if err := emit(p.stream, line); err != nil {
				return err
			}
		}
	}
}

// maxMessage bounds what is kept of one message: a line's bound plus its
// timestamp and line ending.
const maxMessage = logsrc.DefaultMaxLine + timestampLen + 2

// readPayload reads a frame's payload of size bytes into buf, keeping at
// most maxMessage of them, and reports whether it ended with a newline.
func readPayload(r io.Reader, size int64, buf []byte) ([]byte, bool, error) {
	keep := min(size, maxMessage)
	if int64(cap(buf)) < keep {
		buf = make([]byte, keep)
	}
	buf = buf[:keep]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, false, unexpected(err)
	}
	last := byte(0)
	if keep > 0 {
		last = buf[keep-1]
	}
	if rest := size - keep; rest > 0 {
		var lb lastByte
		if _, err := io.CopyN(&lb, r, rest); err != nil {
			return nil, false, unexpected(err)
		}
		last = lb.b
	}
	return buf, last == '\n', nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// lastByte is a writer that remembers the last byte written to it.
type lastByte struct{ b byte }

func (l *lastByte) Write(p []byte) (int, error) {
	if len(p) > 0 {
		l.b = p[len(p)-1]
	}
	return len(p), nil
}

// partLine assembles one stream's line from its messages.
type partLine struct {
	stream string
	buf    []byte // "TIMESTAMP text" of the parts so far, at most maxMessage
}

// add adds a message; it returns the line when the message completes it.
// The parts after the first lose their timestamps, which repeat the first
// one's.
func (p *partLine) add(msg []byte, complete bool) ([]byte, bool) {
	if len(p.buf) > 0 {
		if t, text := splitTimestamp(msg); !t.IsZero() {
			msg = text
		}
	}
	p.buf = append(p.buf, msg[:min(len(msg), maxMessage-len(p.buf))]...)
	if !complete {
		return nil, false
	}
	line := bytes.TrimSuffix(bytes.TrimSuffix(p.buf, []byte("\n")), []byte("\r"))
	p.buf = p.buf[:0]
	return cutLine(line), true
}

// cutLine bounds a "TIMESTAMP text" line's text to logsrc.DefaultMaxLine.
func cutLine(line []byte) []byte {
	if i := bytes.IndexByte(line, ' '); i >= 0 && len(line)-i-1 > logsrc.DefaultMaxLine {
		return line[:i+1+logsrc.DefaultMaxLine]
	}
	return line
}

// flushParts sends the incomplete lines left when a stream ends.
func flushParts(parts map[byte]*partLine, emit func(string, []byte) error) error {
	for _, k := range []byte{frameStdout, frameStderr} {
		p := parts[k]
		if len(p.buf) == 0 {
			continue
		}
		line := cutLine(bytes.TrimSuffix(p.buf, []byte("\r")))
		p.buf = nil
		if err := emit(p.stream, line); err != nil {
			return err
		}
	}
	return nil
}
