package docker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// watcher runs WatchChanges in the background and collects its changes.
type watcher struct {
	t       *testing.T
	changes chan timedChange
	cancel  context.CancelFunc
	done    chan error
}

func startWatch(t *testing.T, s *Source) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{t: t, changes: make(chan timedChange, 1000), cancel: cancel, done: make(chan error, 1)}
	go func() { w.done <- s.WatchChanges(ctx, func(c Change) { w.changes <- timedChange{c, time.Now()} }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-w.done:
		case <-time.After(5 * time.Second):
			t.Error("Watch did not return after cancel")
		}
	})
	return w
}

// timedChange is a change and when the callback got it.
type timedChange struct {
	Change
	at time.Time
}

// next returns the next change, failing the test after timeout.
func (w *watcher) next(timeout time.Duration) Change {
	w.t.Helper()
	select {
	case c := <-w.changes:
		w.t.Logf("change: %s (%d events)", c.Reason, len(c.Events))
		return c.Change
	case <-time.After(timeout):
		w.t.Fatalf("no change within %v", timeout)
		return Change{}
	}
}

// connected waits for the "connected" change that says the stream is open.
func (w *watcher) connected() {
	w.t.Helper()
	if c := w.next(5 * time.Second); c.Reason != "connected" {
		w.t.Fatalf("first change %q, want \"connected\"", c.Reason)
	}
}

// containerEvent is a container event as dockerd 20.10 sends it.
func containerEvent(action, id, name string, timeNano int64) string {
	return fmt.Sprintf(`{"status":%q,"id":%q,"from":"nginx:1.25","Type":"container","Action":%q,"Actor":{"ID":%q,"Attributes":{"image":"nginx:1.25","name":%q,"com.docker.compose.project":"shop"}},"scope":"local","time":%d,"timeNano":%d}`,
		action, id, action, id, name, timeNano/1e9, timeNano)
}

func networkEvent(action, netID, netName, ctrID string, timeNano int64) string {
	attrs := fmt.Sprintf(`{"name":%q,"type":"bridge"}`, netName)
	if ctrID != "" {
		attrs = fmt.Sprintf(`{"container":%q,"name":%q,"type":"bridge"}`, ctrID, netName)
	}
	return fmt.Sprintf(`{"Type":"network","Action":%q,"Actor":{"ID":%q,"Attributes":%s},"scope":"local","time":%d,"timeNano":%d}`,
		action, netID, attrs, timeNano/1e9, timeNano)
}

func TestWatchEvents(t *testing.T) {
	f := newFakeEngine(t)
	s := newTestSource(t, f.host())
	w := startWatch(t, s)
	w.connected()

	now := time.Now().UnixNano()
	f.emit(containerEvent("start", idWeb, "shop-web-1", now))
	c := w.next(5 * time.Second)
	if c.Reason != "container start shop-web-1" {
		t.Errorf("reason %q, want \"container start shop-web-1\"", c.Reason)
	}
	if len(c.Events) != 1 {
		t.Fatalf("%d events, want 1", len(c.Events))
	}
	e := c.Events[0]
	t.Logf("event to callback: %v", time.Since(e.Time))
	if e.Type != "container" || e.Action != "start" || e.ID != idWeb || e.Name != "shop-web-1" || e.Time.UnixNano() != now {
		t.Errorf("event %+v", e)
	}
	if e.Received.Before(e.Time) {
		t.Errorf("received %v before the event's time %v", e.Received, e.Time)
	}

	// Events Watch ignores, but learns the container's name from, then
	// one it acts on: the change holds only the latter, naming the
	// container by the name the create event told.
	f.emit(containerEvent("create", idDB, "shop-db-1", now))
	f.emit(containerEvent("exec_start: sh", idWeb, "shop-web-1", now))
	f.emit(`{"Type":"image","Action":"pull","Actor":{"ID":"nginx:1.25","Attributes":{"name":"nginx"}},"time":1,"timeNano":1}`)
	f.emit(networkEvent("connect", idBack, "shop_backend", idDB, now))
	c = w.next(5 * time.Second)
	if c.Reason != "network connect shop_backend shop-db-1" || len(c.Events) != 1 {
		t.Errorf("change %q with %d events, want \"network connect shop_backend shop-db-1\" alone", c.Reason, len(c.Events))
	}

	// Each kind of event Watch acts on.
	for _, tc := range []struct{ event, reason string }{
		{containerEvent("die", idWeb, "shop-web-1", now), "container die shop-web-1"},
		{containerEvent("destroy", idWeb, "shop-web-1", now), "container destroy shop-web-1"},
		{`{"Type":"container","Action":"rename","Actor":{"ID":"` + idDB + `","Attributes":{"name":"db","oldName":"/shop-db-1"}},"time":1,"timeNano":1}`, "container rename shop-db-1 -> db"},
		{networkEvent("disconnect", idBack, "shop_backend", idDB, now), "network disconnect shop_backend db"},
		{networkEvent("disconnect", idBack, "shop_backend", idLegacy, now), "network disconnect shop_backend " + idLegacy[:12]},
		{networkEvent("create", idFront, "shop_frontend", "", now), "network create shop_frontend"},
		{networkEvent("destroy", idFront, "shop_frontend", "", now), "network destroy shop_frontend"},
	} {
		f.emit(tc.event)
		if c := w.next(5 * time.Second); c.Reason != tc.reason {
			t.Errorf("reason %q, want %q", c.Reason, tc.reason)
		}
	}
}

func TestWatchBurst(t *testing.T) {
	f := newFakeEngine(t)
	s := newTestSource(t, f.host())
	w := startWatch(t, s)
	w.connected()

	const n = 50
	now := time.Now().UnixNano()
	for i := range n {
		f.emit(containerEvent("start", fmt.Sprintf("%064x", i), fmt.Sprintf("c%02d", i), now))
	}
	var changes, events int
	for events < n {
		c := w.next(5 * time.Second)
		changes++
		events += len(c.Events) + c.Dropped
		if changes == 1 && !strings.HasPrefix(c.Reason, "container start c00") {
			t.Errorf("first reason %q", c.Reason)
		}
	}
	t.Logf("%d events gave %d changes", n, changes)
	if events != n {
		t.Errorf("%d events delivered, want %d", events, n)
	}
	if changes > 3 {
		t.Errorf("a burst of %d events gave %d changes, want at most 3", n, changes)
	}
}

// TestWatchSlowCallback checks that events keep being read while the
// callback runs (dockerd drops events for slow subscribers), and arrive in
// the next call.
func TestWatchSlowCallback(t *testing.T) {
	f := newFakeEngine(t)
	s := newTestSource(t, f.host())
	release := make(chan struct{})
	got := make(chan Change, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.WatchChanges(ctx, func(c Change) {
			got <- c
			if c.Reason == "connected" {
				<-release
			}
		})
	}()
	defer func() {
		cancel()
		<-done
	}()
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no connected change")
	}
	// The callback is now blocked.
	const n = 200
	for i := range n {
		f.emit(containerEvent("die", fmt.Sprintf("%064x", i), fmt.Sprintf("c%03d", i), 1))
	}
	waitFor(t, "the fake to write all events", 5*time.Second, func() bool { return f.eventsServed.Load() == n })
	close(release)
	var events int
	for events < n {
		select {
		case c := <-got:
			events += len(c.Events)
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d events delivered", events, n)
		}
	}
}

func TestWatchStreamClosed(t *testing.T) {
	f := newFakeEngine(t)
	s := newTestSource(t, f.host())
	w := startWatch(t, s)
	w.connected()

	start := time.Now()
	f.dropStreams()
	c := w.next(5 * time.Second)
	if c.Reason != "reconnected" {
		t.Errorf("reason %q after the stream closed, want \"reconnected\"", c.Reason)
	}
	t.Logf("reconnected after %v", time.Since(start))
	// Events flow on the new stream.
	f.emit(containerEvent("start", idWeb, "shop-web-1", 1))
	if c := w.next(5 * time.Second); c.Reason != "container start shop-web-1" {
		t.Errorf("reason %q, want \"container start shop-web-1\"", c.Reason)
	}
}

// TestWatchDaemonRestart stops the daemon for a while, as a restart does:
// Watch retries with backoff and reports "reconnected" soon after it is
// back.
func TestWatchDaemonRestart(t *testing.T) {
	f := newFakeEngine(t)
	s := newTestSource(t, f.host())
	w := startWatch(t, s)
	w.connected()

	f.stop()
	// Let Watch fail a few times, so that its backoff grows.
	waitFor(t, "Watch to retry", 5*time.Second, func() bool { return s.failures.Load() >= 4 })
	f.start()
	back := time.Now()
	c := w.next(5 * time.Second)
	if c.Reason != "reconnected" {
		t.Errorf("reason %q, want \"reconnected\"", c.Reason)
	}
	took := time.Since(back)
	t.Logf("reconnected %v after the daemon came back", took)
	if took > 1500*time.Millisecond {
		t.Errorf("reconnecting took %v, want the backoff capped at about 1 s", took)
	}
}

// TestWatchBackoff has /events fail while the rest of the API works: Watch
// must back off, not busy-loop, and report nothing.
func TestWatchBackoff(t *testing.T) {
	f := newFakeEngine(t)
	f.setEventsCode(http.StatusInternalServerError)
	s := newTestSource(t, f.host())
	start := time.Now()
	w := startWatch(t, s)
	// Attempts are 50, 100, 200 and 400 ms apart at least.
	waitFor(t, "5 attempts", 5*time.Second, func() bool { return f.hitCount("/events") >= 5 })
	elapsed := time.Since(start)
	t.Logf("5 attempts took %v", elapsed)
	if elapsed < 700*time.Millisecond {
		t.Errorf("5 attempts within %v: no backoff", elapsed)
	}
	select {
	case c := <-w.changes:
		t.Errorf("change %q without an event stream", c.Reason)
	default:
	}
	// Once /events works, Watch connects.
	f.setEventsCode(0)
	w.connected()
}

func TestWatchCancel(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(f *fakeEngine)
	}{
		{"streaming", nil},
		{"daemon down", func(f *fakeEngine) { f.stop() }},
		{"events failing", func(f *fakeEngine) { f.setEventsCode(http.StatusInternalServerError) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEngine(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			s := newTestSource(t, f.host())
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			connected := make(chan struct{}, 1)
			go func() {
				done <- s.Watch(ctx, func(string) {
					select {
					case connected <- struct{}{}:
					default:
					}
				})
			}()
			if tc.setup == nil {
				select {
				case <-connected:
				case <-time.After(5 * time.Second):
					t.Fatal("Watch did not connect")
				}
			} else {
				waitFor(t, "Watch to retry", 5*time.Second, func() bool { return s.failures.Load() >= 2 })
			}
			start := time.Now()
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Watch returned %v, want context.Canceled", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Watch did not return after cancel")
			}
			if took := time.Since(start); took > 100*time.Millisecond {
				t.Errorf("Watch took %v to return after cancel", took)
			}
			waitFor(t, "the event stream to close", 5*time.Second, func() bool { return f.streams.Load() == 0 })
		})
	}
}

func TestWatchClose(t *testing.T) {
	f := newFakeEngine(t)
	s := newTestSource(t, f.host())
	done := make(chan error, 1)
	connected := make(chan struct{})
	go func() {
		done <- s.Watch(context.Background(), func(r string) {
			if r == "connected" {
				close(connected)
			}
		})
	}()
	<-connected
	s.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Watch returned %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after Close")
	}
	if err := s.Watch(context.Background(), func(string) {}); !errors.Is(err, ErrClosed) {
		t.Errorf("Watch on a closed Source: %v, want ErrClosed", err)
	}
}

func TestReason(t *testing.T) {
	start := Event{Type: "container", Action: "start", Name: "web"}
	re := Event{Type: "stream", Action: "reconnected"}
	for _, tc := range []struct {
		evs     []Event
		dropped int
		want    string
	}{
		{[]Event{start}, 0, "container start web"},
		{[]Event{start, start}, 0, "container start web (+1 more)"},
		{[]Event{start, re}, 3, "reconnected (+4 more)"},
	} {
		if got := reason(tc.evs, tc.dropped); got != tc.want {
			t.Errorf("reason = %q, want %q", got, tc.want)
		}
	}
}
