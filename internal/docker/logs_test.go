package docker

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/seawall/seawall/internal/inventory"
	"github.com/seawall/seawall/internal/logsrc"
)

// logEngine is the fake engine plus containers' logs: it serves
// /containers/{id}/logs as dockerd does, multiplexed frames for non-TTY
// containers and a raw stream for TTY ones, with the since, follow and
// timestamps options, and follows until the container stops.
type logEngine struct {
	*fakeEngine

	mu      sync.Mutex
	logs    map[string]*fakeLog
	failing bool // logs requests fail as with a driver Docker cannot read
	queries []logQuery
	cut     chan struct{} // closed to break the open log streams
	open    atomic.Int64  // open log streams
}

type fakeLog struct {
	name    string
	tty     bool
	running bool
	entries []fakeEntry
	changed chan struct{} // closed and replaced when entries or running change
}

// fakeEntry is a message as Docker stores it: a line with its "\n", or a
// part of a longer line without.
type fakeEntry struct {
	t      time.Time
	stream byte // frameStdout or frameStderr
	msg    string
}

type logQuery struct {
	id    string
	query url.Values
}

func newLogEngine(t *testing.T) *logEngine {
	t.Helper()
	f := newFakeEngine(t)
	f.stop()
	e := &logEngine{fakeEngine: f, logs: map[string]*fakeLog{}, cut: make(chan struct{})}
	e.start()
	return e
}

// start serves the API with logs on the fake's socket; the fake's stop
// stops it, and start again restarts the daemon.
func (e *logEngine) start() {
	e.t.Helper()
	l, err := net.Listen("unix", e.sock)
	if err != nil {
		e.t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(e.serveWithLogs))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	e.fakeEngine.mu.Lock()
	e.srv, e.closing = srv, make(chan struct{})
	e.fakeEngine.mu.Unlock()
}

func (e *logEngine) serveWithLogs(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if m := versionPrefix.FindStringSubmatch(path); m != nil {
		path = path[len(m[0])-1:]
	}
	if id, ok := strings.CutSuffix(strings.TrimPrefix(path, "/containers/"), "/logs"); ok && strings.HasPrefix(path, "/containers/") {
		e.serveLogs(w, r, id)
		return
	}
	e.fakeEngine.serve(w, r)
}

func (e *logEngine) serveLogs(w http.ResponseWriter, r *http.Request, id string) {
	q := r.URL.Query()
	e.mu.Lock()
	e.queries = append(e.queries, logQuery{id, q})
	lg, cut, failing := e.logs[id], e.cut, e.failing
	e.mu.Unlock()
	e.fakeEngine.mu.Lock()
	closing := e.closing
	e.fakeEngine.mu.Unlock()
	if lg == nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		writeJSON(w, fmt.Sprintf(`{"message":"No such container: %s"}`, id))
		return
	}
	if failing {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotImplemented)
		writeJSON(w, `{"message":"configured logging driver does not support reading"}`)
		return
	}
	since, err := parseSince(q.Get("since"))
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		writeJSON(w, fmt.Sprintf(`{"message":%q}`, err.Error()))
		return
	}
	e.open.Add(1)
	defer e.open.Add(-1)
	if lg.tty {
		w.Header().Set("Content-Type", "application/vnd.docker.raw-stream")
	} else {
		w.Header().Set("Content-Type", "application/vnd.docker.multiplexed-stream")
	}
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()

	next, started := 0, false
	for {
		e.mu.Lock()
		entries, running, changed := lg.entries[next:], lg.running, lg.changed
		e.mu.Unlock()
		for _, en := range entries {
			next++
			// As json-file's reader: skip until the first message at or
			// after since, then send all.
			if !started && en.t.Before(since) {
				continue
			}
			started = true
			w.Write(encodeMessage(lg.tty, en, q.Get("timestamps") == "1"))
		}
		w.(http.Flusher).Flush()
		if q.Get("follow") != "1" || !running {
			return
		}
		select {
		case <-changed:
		case <-cut:
			return
		case <-closing:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// parseSince reads the API's "seconds.nanoseconds".
func parseSince(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	sec, nsec, _ := strings.Cut(s, ".")
	a, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad since %q", s)
	}
	b, _ := strconv.ParseInt(nsec, 10, 64)
	return time.Unix(a, b), nil
}

// encodeMessage writes a message as the API sends it: for non-TTY
// containers, one frame per message.
func encodeMessage(tty bool, en fakeEntry, timestamps bool) []byte {
	msg := en.msg
	if timestamps {
		msg = en.t.UTC().Format("2006-01-02T15:04:05.000000000Z07:00") + " " + msg
	}
	if tty {
		return []byte(msg)
	}
	return logFrame(en.stream, msg)
}

func logFrame(stream byte, payload string) []byte {
	b := make([]byte, frameHeaderLen, frameHeaderLen+len(payload))
	b[0] = stream
	binary.BigEndian.PutUint32(b[4:], uint32(len(payload)))
	return append(b, payload...)
}

// run starts a container (again, if it ran before): it is listed and
// inspected as running, and its start event is sent if events are watched.
func (e *logEngine) run(id, name string, tty bool, labels map[string]string) {
	e.t.Helper()
	e.mu.Lock()
	lg := e.logs[id]
	if lg == nil {
		lg = &fakeLog{changed: make(chan struct{})}
		e.logs[id] = lg
	}
	lg.name, lg.tty, lg.running = name, tty, true
	e.notify(lg)
	e.mu.Unlock()
	e.setInspect(id, name, tty, labels, true)
	if e.streams.Load() > 0 {
		e.emit(containerEvent("start", id, name, time.Now().UnixNano()))
	}
}

// stopContainer stops a container: its log streams end, and it dies.
func (e *logEngine) stopContainer(id string) {
	e.mu.Lock()
	lg := e.logs[id]
	lg.running = false
	e.notify(lg)
	e.mu.Unlock()
	e.setInspect(id, lg.name, lg.tty, nil, false)
	e.emit(containerEvent("die", id, lg.name, time.Now().UnixNano()))
}

func (e *logEngine) destroy(id string) {
	e.mu.Lock()
	lg := e.logs[id]
	lg.running = false
	e.notify(lg)
	delete(e.logs, id)
	e.mu.Unlock()
	e.fakeEngine.mu.Lock()
	delete(e.inspect, id)
	e.fakeEngine.mu.Unlock()
	e.emit(containerEvent("destroy", id, lg.name, time.Now().UnixNano()))
}

func (e *logEngine) rename(id, name string) {
	e.mu.Lock()
	lg := e.logs[id]
	lg.name = name
	e.mu.Unlock()
	e.setInspect(id, name, lg.tty, nil, lg.running)
	e.emit(containerEvent("rename", id, name, time.Now().UnixNano()))
}

// setInspect sets the container's inspect JSON, and lists it if running.
func (e *logEngine) setInspect(id, name string, tty bool, labels map[string]string, running bool) {
	e.t.Helper()
	js, err := json.Marshal(map[string]any{
		"Id":              id,
		"Name":            "/" + name,
		"Config":          map[string]any{"Image": "nginx:1.25", "Tty": tty, "Labels": labels},
		"State":           map[string]any{"Running": running, "Status": map[bool]string{true: "running", false: "exited"}[running]},
		"HostConfig":      map[string]any{"NetworkMode": "bridge"},
		"NetworkSettings": map[string]any{"Networks": map[string]any{}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.fakeEngine.mu.Lock()
	defer e.fakeEngine.mu.Unlock()
	e.inspect[id] = string(js)
	e.list = withoutID(e.list, id)
	if running {
		e.list = append(e.list, id)
	}
}

// withoutID returns a new list without id: the fake serves a list it read
// under its lock, so the old one must not change.
func withoutID(list []string, id string) []string {
	var out []string
	for _, x := range list {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

// write logs a message of the container at time t.
func (e *logEngine) write(id string, stream byte, t time.Time, msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	lg := e.logs[id]
	lg.entries = append(lg.entries, fakeEntry{t: t, stream: stream, msg: msg})
	e.notify(lg)
}

// notify wakes the container's log streams; e.mu is held.
func (e *logEngine) notify(lg *fakeLog) {
	close(lg.changed)
	lg.changed = make(chan struct{})
}

// breakStreams ends the open log streams while the daemon keeps running.
func (e *logEngine) breakStreams() {
	e.mu.Lock()
	defer e.mu.Unlock()
	close(e.cut)
	e.cut = make(chan struct{})
}

func (e *logEngine) logQueries() []logQuery {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]logQuery(nil), e.queries...)
}

// logFollowing is a FollowLogs running in the background.
type logFollowing struct {
	t     *testing.T
	lines chan LogLine
	done  chan error
	stop  context.CancelFunc
}

func startFollowLogs(t *testing.T, s *Source, want func(*inventory.Container) bool, since func(string) time.Time) *logFollowing {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &logFollowing{t: t, lines: make(chan LogLine, 1000), done: make(chan error, 1), stop: cancel}
	go func() { f.done <- s.FollowLogs(ctx, want, since, f.lines) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-f.done:
			if !errors.Is(err, context.Canceled) && !errors.Is(err, ErrClosed) {
				t.Errorf("FollowLogs returned %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("FollowLogs did not return after cancel")
		}
	})
	return f
}

func allContainers(*inventory.Container) bool { return true }

// expect reads len(want) lines and compares their texts.
func (f *logFollowing) expect(want ...string) []LogLine {
	f.t.Helper()
	var got []LogLine
	var texts []string
	for range want {
		select {
		case l := <-f.lines:
			got = append(got, l)
			texts = append(texts, l.Text)
		case <-time.After(5 * time.Second):
			f.t.Fatalf("got %q, then no line within 5s; want %q", texts, want)
		}
	}
	if diff := cmp.Diff(want, texts); diff != "" {
		f.t.Fatalf("lines (-want +got):\n%s", diff)
	}
	return got
}

func (f *logFollowing) expectNone() {
	f.t.Helper()
	select {
	case l := <-f.lines:
		f.t.Fatalf("unexpected line %q", l.Text)
	case <-time.After(150 * time.Millisecond):
	}
}

// waitStreams waits until n log streams are open.
func (e *logEngine) waitStreams(t *testing.T, n int64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d open log streams", n), 5*time.Second, func() bool { return e.open.Load() == n })
}

const webID = "c0ffee0000000000000000000000000000000000000000000000000000000001"

func TestFollowLogs(t *testing.T) {
	e := newLogEngine(t)
	e.run(webID, "web", false, nil)
	old := time.Now().Add(-time.Hour)
	e.write(webID, frameStdout, old, "from before seawall started\n")

	s := newTestSource(t, e.host())
	begin := time.Now()
	f := startFollowLogs(t, s, allContainers, nil)
	e.waitStreams(t, 1)

	t0 := time.Now()
	ts := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Microsecond) }
	e.write(webID, frameStdout, ts(1), "192.0.2.1 - - \"GET /admin HTTP/1.1\" 404 0\n")
	e.write(webID, frameStderr, ts(2), "error: bad request from 192.0.2.2\r\n")
	// A long line, cut by Docker into parts with the first part's time,
	// with a stderr line between them.
	e.write(webID, frameStdout, ts(3), "first part, ")
	e.write(webID, frameStderr, ts(4), "stderr between parts\n")
	e.write(webID, frameStdout, ts(3), "second part\n")
	e.write(webID, frameStdout, ts(5), strings.Repeat("x", 100<<10)+"\n")
	e.write(webID, frameStdout, ts(6), "invalid \xff UTF-8 and NUL \x00 kept\n")

	got := f.expect(
		"192.0.2.1 - - \"GET /admin HTTP/1.1\" 404 0",
		"error: bad request from 192.0.2.2",
		"stderr between parts",
		"first part, second part",
		strings.Repeat("x", logsrc.DefaultMaxLine),
		"invalid \xff UTF-8 and NUL \x00 kept",
	)
	want := []LogLine{
		{Container: webID, Name: "web", Stream: "stdout", Time: ts(1)},
		{Container: webID, Name: "web", Stream: "stderr", Time: ts(2)},
		{Container: webID, Name: "web", Stream: "stderr", Time: ts(4)},
		{Container: webID, Name: "web", Stream: "stdout", Time: ts(3)},
	}
	for i, w := range want {
		g := got[i]
		g.Text = ""
		if !g.Time.Equal(w.Time) {
			t.Errorf("line %d: time %v, want %v", i, g.Time, w.Time)
		}
		g.Time, w.Time = time.Time{}, time.Time{}
		if g != w {
			t.Errorf("line %d: %+v, want %+v", i, g, w)
		}
	}
	f.expectNone()

	q := e.logQueries()[0]
	since, _ := parseSince(q.query.Get("since"))
	if q.id != webID || q.query.Get("follow") != "1" || q.query.Get("timestamps") != "1" ||
		q.query.Get("stdout") != "1" || q.query.Get("stderr") != "1" || since.Before(begin) || since.After(t0) {
		t.Errorf("logs query %v, want follow, timestamps, stdout, stderr, since FollowLogs began", q.query)
	}
}

func TestFollowLogsTTY(t *testing.T) {
	e := newLogEngine(t)
	e.run(webID, "console", true, nil)
	s := newTestSource(t, e.host())
	f := startFollowLogs(t, s, allContainers, nil)
	e.waitStreams(t, 1)
	t0 := time.Now()
	e.write(webID, frameStdout, t0, "tty line one\r\n")
	e.write(webID, frameStdout, t0.Add(time.Microsecond), "tty line two\r\n")
	got := f.expect("tty line one", "tty line two")
	if !got[1].Time.Equal(t0.Add(time.Microsecond)) || got[1].Stream != "stdout" {
		t.Errorf("line %+v", got[1])
	}
}

func TestFollowLogsSelectsContainers(t *testing.T) {
	e := newLogEngine(t)
	const dbID = "d000000000000000000000000000000000000000000000000000000000000002"
	e.run(webID, "web", false, map[string]string{"seawall.jail": "nginx"})
	e.run(dbID, "db", false, nil)
	s := newTestSource(t, e.host())
	want := func(c *inventory.Container) bool { return c.Labels["seawall.jail"] == "nginx" }
	f := startFollowLogs(t, s, want, nil)
	e.waitStreams(t, 1)
	e.write(dbID, frameStdout, time.Now(), "db line\n")
	e.write(webID, frameStdout, time.Now(), "web line\n")
	f.expect("web line")
	f.expectNone()
	for _, q := range e.logQueries() {
		if q.id != webID {
			t.Errorf("logs of %s requested", q.id)
		}
	}
}

// TestFollowLogsSince: the caller processed lines up to T; those are not
// sent again, even the ones at T itself.
func TestFollowLogsSince(t *testing.T) {
	e := newLogEngine(t)
	e.run(webID, "web", false, nil)
	T := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	e.write(webID, frameStdout, T.Add(-time.Second), "before\n")
	e.write(webID, frameStdout, T, "at T, processed\n")
	e.write(webID, frameStderr, T.Add(time.Nanosecond), "after T\n")
	s := newTestSource(t, e.host())
	since := func(id string) time.Time {
		if id == webID {
			return T
		}
		return time.Time{}
	}
	f := startFollowLogs(t, s, allContainers, since)
	f.expect("after T")
	f.expectNone()
	if q := e.logQueries()[0].query.Get("since"); q != fmt.Sprintf("%d.%09d", T.Unix(), T.Nanosecond()) {
		t.Errorf("since %q, want T", q)
	}
}

// TestFollowLogsNewContainer: a container started later is followed from
// its first line, including lines written before FollowLogs attached.
func TestFollowLogsNewContainer(t *testing.T) {
	e := newLogEngine(t)
	s := newTestSource(t, e.host())
	f := startFollowLogs(t, s, allContainers, nil)
	waitFor(t, "the event stream", 5*time.Second, func() bool { return e.streams.Load() == 1 })
	e.run(webID, "web", false, nil)
	e.write(webID, frameStdout, time.Now(), "first words\n")
	got := f.expect("first words")
	if got[0].Name != "web" {
		t.Errorf("name %q", got[0].Name)
	}
}

// TestFollowLogsContainerRestart: the stream ends when the container stops;
// its start attaches again, without the lines already sent.
func TestFollowLogsContainerRestart(t *testing.T) {
	e := newLogEngine(t)
	e.run(webID, "web", false, nil)
	s := newTestSource(t, e.host())
	f := startFollowLogs(t, s, allContainers, nil)
	e.waitStreams(t, 1)
	e.write(webID, frameStdout, time.Now(), "first run\n")
	f.expect("first run")
	e.stopContainer(webID)
	e.waitStreams(t, 0)
	f.expectNone()

	e.run(webID, "web", false, nil)
	e.write(webID, frameStdout, time.Now(), "second run\n")
	f.expect("second run")
	f.expectNone()
}

// TestFollowLogsDaemonRestart: the daemon goes away and comes back; lines
// written meanwhile are sent once the event stream reconnects, each once,
// including one that shares the nanosecond of the last line sent.
func TestFollowLogsDaemonRestart(t *testing.T) {
	e := newLogEngine(t)
	e.run(webID, "web", false, nil)
	s := newTestSource(t, e.host())
	f := startFollowLogs(t, s, allContainers, nil)
	e.waitStreams(t, 1)
	t0 := time.Now()
	e.write(webID, frameStdout, t0, "one\n")
	e.write(webID, frameStdout, t0.Add(time.Microsecond), "two a\n")
	f.expect("one", "two a")

	e.stop()
	waitFor(t, "the client to notice", 5*time.Second, func() bool { return s.failures.Load() > 0 && e.open.Load() == 0 })
	e.write(webID, frameStderr, t0.Add(time.Microsecond), "two b, same time\n")
	e.write(webID, frameStdout, t0.Add(2*time.Microsecond), "three\n")
	e.start()
	f.expect("two b, same time", "three")
	f.expectNone()
	if n := len(e.logQueries()); n != 2 {
		t.Errorf("%d log requests, want 2", n)
	}
}

// TestFollowLogsStreamBroken: the log stream breaks while the container
// runs and no event says so: FollowLogs reattaches by itself.
func TestFollowLogsStreamBroken(t *testing.T) {
	e := newLogEngine(t)
	e.run(webID, "web", false, nil)
	s := newTestSource(t, e.host())
	f := startFollowLogs(t, s, allContainers, nil)
	e.waitStreams(t, 1)
	e.write(webID, frameStdout, time.Now(), "before the break\n")
	f.expect("before the break")
	e.breakStreams()
	e.write(webID, frameStdout, time.Now(), "after the break\n")
	f.expect("after the break")
	f.expectNone()
}

// TestFollowLogsUnreadable: Docker cannot read the container's logs back
// (log driver "none", or syslog without dual logging). FollowLogs retries
// with a growing backoff, not in a busy loop, and picks up when it can.
func TestFollowLogsUnreadable(t *testing.T) {
	e := newLogEngine(t)
	e.run(webID, "web", false, nil)
	e.mu.Lock()
	e.failing = true
	e.mu.Unlock()
	s := newTestSource(t, e.host())
	f := startFollowLogs(t, s, allContainers, nil)
	waitFor(t, "a first attempt", 5*time.Second, func() bool { return len(e.logQueries()) > 0 })
	time.Sleep(700 * time.Millisecond) // the backoff's span: 100 + 200 + 400 ms
	if n := len(e.logQueries()); n > 5 {
		t.Errorf("%d attempts in 700 ms, want a backoff (at most 4)", n)
	}
	e.mu.Lock()
	e.failing = false
	e.mu.Unlock()
	e.waitStreams(t, 1)
	e.write(webID, frameStdout, time.Now(), "readable now\n")
	f.expect("readable now")
}

func TestFollowLogsDestroy(t *testing.T) {
	e := newLogEngine(t)
	e.run(webID, "web", false, nil)
	s := newTestSource(t, e.host())
	f := startFollowLogs(t, s, allContainers, nil)
	e.waitStreams(t, 1)
	waitFor(t, "the event stream", 5*time.Second, func() bool { return e.streams.Load() == 1 })
	e.destroy(webID)
	e.waitStreams(t, 0)
	f.expectNone()
	if n := len(e.logQueries()); n != 1 {
		t.Errorf("%d log requests after destroy, want 1", n)
	}
}

func TestFollowLogsRename(t *testing.T) {
	e := newLogEngine(t)
	e.run(webID, "web", false, nil)
	s := newTestSource(t, e.host())
	// Selected by name: renamed away, it is no longer followed.
	want := func(c *inventory.Container) bool { return strings.HasPrefix(c.Name, "web") }
	f := startFollowLogs(t, s, want, nil)
	e.waitStreams(t, 1)
	waitFor(t, "the event stream", 5*time.Second, func() bool { return e.streams.Load() == 1 })

	renamed := func(name string) {
		// The rename is handled once the container is inspected again.
		inspected := e.hitCount("/containers/" + webID + "/json")
		e.rename(webID, name)
		waitFor(t, "the rename handled", 5*time.Second, func() bool {
			return e.hitCount("/containers/"+webID+"/json") > inspected
		})
	}
	renamed("web-2")
	e.write(webID, frameStdout, time.Now(), "renamed\n")
	if got := f.expect("renamed"); got[0].Name != "web-2" {
		t.Errorf("name %q after rename, want web-2", got[0].Name)
	}

	renamed("old-web")
	e.waitStreams(t, 0)
	e.write(webID, frameStdout, time.Now(), "not wanted\n")
	f.expectNone()
}

func TestFollowLogsClosedSource(t *testing.T) {
	e := newLogEngine(t)
	s := newTestSource(t, e.host())
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- s.FollowLogs(ctx, allContainers, nil, make(chan LogLine)) }()
	waitFor(t, "the event stream", 5*time.Second, func() bool { return e.streams.Load() == 1 })
	s.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("FollowLogs returned %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("FollowLogs did not return after Close")
	}
	if err := s.FollowLogs(ctx, nil, nil, nil); err == nil {
		t.Error("FollowLogs without a predicate did not fail")
	}
}

func TestReadMultiplexed(t *testing.T) {
	ts := "2024-01-02T03:04:05.000000001Z "
	var stream bytes.Buffer
	stream.Write(logFrame(frameStdout, ts+"a\n"))
	stream.Write(logFrame(frameStdout, ts+"part 1, "))
	stream.Write(logFrame(frameStderr, ts+"err\r\n"))
	stream.Write(logFrame(frameSystemerr, "Error grabbing logs: boom\n"))
	stream.Write(logFrame(frameStdout, ts+"part 2\n"))
	stream.Write(logFrame(frameStdout, ts+strings.Repeat("y", 200<<10)+"\n")) // over the bound
	stream.Write(logFrame(0, "stdin frame, ignored\n"))
	stream.Write(logFrame(frameStdout, ts+"after big\n"))
	stream.Write(logFrame(frameStderr, ts+"unterminated at the end"))

	s := &Source{log: slog.New(slog.DiscardHandler)}
	f := &logFollower{id: webID}
	f.setName("web")
	var got []string
	err := s.readMultiplexed(&stream, f, func(st string, msg []byte) error {
		_, text := splitTimestamp(msg)
		got = append(got, st+": "+string(text))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"stdout: a",
		"stderr: err",
		"stdout: part 1, part 2",
		"stdout: " + strings.Repeat("y", logsrc.DefaultMaxLine),
		"stdout: after big",
		"stderr: unterminated at the end",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}

	// A frame cut short is an error, not a line.
	cut := logFrame(frameStdout, ts+"complete\n")
	cut = append(cut, logFrame(frameStdout, ts+"cut short\n")[:20]...)
	got = nil
	err = s.readMultiplexed(bytes.NewReader(cut), f, func(st string, msg []byte) error {
		got = append(got, string(msg))
		return nil
	})
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(got) != 1 {
		t.Errorf("cut stream: %d lines, err %v; want 1 line, io.ErrUnexpectedEOF", len(got), err)
	}
}

func TestSplitTimestamp(t *testing.T) {
	for _, tc := range []struct {
		in   string
		time time.Time
		text string
	}{
		{"2024-01-02T03:04:05.123456789Z hello world", time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC), "hello world"},
		{"2024-01-02T03:04:05.000000000Z ", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), ""},
		{"2024-01-02T03:04:05.000000000Z", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), ""},
		{"no timestamp here", time.Time{}, "no timestamp here"},
		{"", time.Time{}, ""},
	} {
		tm, text := splitTimestamp([]byte(tc.in))
		if !tm.Equal(tc.time) || string(text) != tc.text {
			t.Errorf("splitTimestamp(%q) = %v, %q; want %v, %q", tc.in, tm, text, tc.time, tc.text)
		}
	}
}

// TestResumeKeep walks a resumed stream through the mark: lines before it
// and the ones at its time already sent are dropped; after the first newer
// line everything is kept, even an older one (stdout and stderr are
// timestamped by separate goroutines).
func TestResumeKeep(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	at := func(ns int) time.Time { return t0.Add(time.Duration(ns)) }
	m := &logMark{last: at(5), n: 2}
	r := &resume{m: m, replay: true}
	var kept []int
	for _, ns := range []int{4, 5, 5, 5, 6, 3, 6, 7} {
		if r.keep(at(ns)) {
			kept = append(kept, ns)
		}
	}
	if diff := cmp.Diff([]int{5, 6, 3, 6, 7}, kept); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
	if !m.last.Equal(at(7)) || m.n != 1 {
		t.Errorf("mark %v ×%d, want %v ×1", m.last, m.n, at(7))
	}
	// The caller's since: everything at its time was processed.
	r = &resume{m: &logMark{last: at(5), n: math.MaxInt}, replay: true}
	if r.keep(at(5)) || !r.keep(at(6)) {
		t.Error("a line at the caller's since time was kept, or the next one dropped")
	}
}
