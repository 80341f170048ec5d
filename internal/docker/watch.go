package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

// Event is one reason facts may have changed: a Docker event Watch acts on,
// or Watch's own "connected" / "reconnected" once its event stream is
// (re)established.
type Event struct {
	Type   string // "container", "network", or "stream" for Watch's own
	Action string // start, die, destroy, rename, create, connect, disconnect; connected, reconnected
	ID     string // the container's or network's ID
	Name   string // the container's or network's name
	// Container is, for network connect and disconnect, the container's
	// name (or short ID if Watch has not seen its name), and ContainerID
	// its full ID.
	Container   string
	ContainerID string
	// OldName is, for container rename, the former name.
	OldName string
	// Time is when the daemon emitted the event (zero for stream events).
	Time time.Time
	// Received is when Watch read the event.
	Received time.Time
}

// String describes the event, e.g. "container start web",
// "network connect frontend web", "reconnected".
func (e Event) String() string {
	switch {
	case e.Type == "stream":
		return e.Action
	case e.Type == "container" && e.Action == "rename":
		return fmt.Sprintf("container rename %s -> %s", e.OldName, e.Name)
	case e.Container != "":
		return fmt.Sprintf("%s %s %s %s", e.Type, e.Action, e.Name, e.Container)
	}
	return fmt.Sprintf("%s %s %s", e.Type, e.Action, e.Name)
}

// Change is one debounced notification: the events since the previous one.
type Change struct {
	// Reason describes the first event, and how many more there were:
	// "container start web", "container die db (+49 more)". A stream
	// event is put first: "reconnected (+3 more)".
	Reason string
	// Events are the events in the order Watch read them, at most
	// maxBatch; Dropped counts those left out.
	Events  []Event
	Dropped int
}

// maxBatch bounds the events kept for one Change.
const maxBatch = 1000

// Watch calls onChange whenever the facts may have changed: when a container
// starts, dies, is destroyed or renamed, a container is connected to or
// disconnected from a network, a network is created or destroyed, and when
// the event stream is established ("connected") or re-established after it
// broke ("reconnected"): the daemon restarted or events may have been
// missed. The first "connected" closes the gap between a Facts taken
// before Watch subscribed and the subscription.
//
// Events are coalesced: onChange runs once the stream has been quiet for
// Debounce, or MaxDelay after the first pending event, whichever is first.
// onChange is never called concurrently with itself; events keep being read
// while it runs and are delivered in the next call.
//
// A broken stream is retried with exponential backoff from 50 ms up to 1 s,
// forever: Watch does not fail when the daemon is down. It returns ctx.Err()
// when ctx ends, or ErrClosed when the Source is closed, after any running
// onChange returned.
func (s *Source) Watch(ctx context.Context, onChange func(reason string)) error {
	if onChange == nil {
		return errors.New("docker: Watch needs a callback")
	}
	return s.WatchChanges(ctx, func(c Change) { onChange(c.Reason) })
}

// WatchChanges is Watch with the events behind each notification, and
// their timestamps.
func (s *Source) WatchChanges(ctx context.Context, onChange func(Change)) error {
	if onChange == nil {
		return errors.New("docker: Watch needs a callback")
	}
	if s.closeCtx.Err() != nil {
		return ErrClosed
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.closeCtx, cancel)
	defer stop()

	q := &queue{kick: make(chan struct{}, 1)}
	var wg sync.WaitGroup
	wg.Go(func() { s.read(wctx, q) })
	s.dispatch(wctx, q, onChange)
	cancel()
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return ErrClosed
}

// queue hands events from the reader to the dispatcher without ever
// blocking the reader: the daemon drops events for subscribers that do not
// keep up.
type queue struct {
	mu      sync.Mutex
	evs     []Event
	dropped int
	kick    chan struct{} // capacity 1: "there is something"
}

func (q *queue) push(e Event) {
	q.mu.Lock()
	if len(q.evs) < maxBatch {
		q.evs = append(q.evs, e)
	} else {
		q.dropped++
	}
	q.mu.Unlock()
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

func (q *queue) take() ([]Event, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	evs, dropped := q.evs, q.dropped
	q.evs, q.dropped = nil, 0
	return evs, dropped
}

// dispatch debounces the queue's events into calls of onChange until ctx
// ends.
func (s *Source) dispatch(ctx context.Context, q *queue, onChange func(Change)) {
	quietFor, maxDelay := cmpOr(s.Debounce, DefaultDebounce), cmpOr(s.MaxDelay, DefaultMaxDelay)
	quiet := time.NewTimer(time.Hour)
	deadline := time.NewTimer(time.Hour)
	defer quiet.Stop()
	defer deadline.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.kick:
		}
		quiet.Reset(quietFor)
		deadline.Reset(maxDelay)
	debounce:
		for {
			select {
			case <-ctx.Done():
				return
			case <-q.kick:
				quiet.Reset(quietFor)
			case <-quiet.C:
				break debounce
			case <-deadline.C:
				break debounce
			}
		}
		quiet.Stop()
		deadline.Stop()
		evs, dropped := q.take()
		if len(evs) == 0 {
			continue
		}
		onChange(Change{Reason: reason(evs, dropped), Events: evs, Dropped: dropped})
	}
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// reason describes a batch by its first stream event, else its first event.
func reason(evs []Event, dropped int) string {
	first := evs[0]
	for _, e := range evs {
		if e.Type == "stream" {
			first = e
			break
		}
	}
	if n := len(evs) - 1 + dropped; n > 0 {
		return fmt.Sprintf("%s (+%d more)", first, n)
	}
	return first.String()
}

// read keeps an event stream open until ctx ends, pushing the events of
// interest, and a stream event each time the stream is (re)established.
func (s *Source) read(ctx context.Context, q *queue) {
	action := "connected"
	backoff := backoffMin
	failures := 0
	for {
		up, lived, err := s.stream(ctx, q, action)
		if ctx.Err() != nil {
			return
		}
		s.failures.Add(1)
		if up {
			action = "reconnected"
		}
		wait := backoff
		if up && lived >= healthyStream {
			// A stream that worked for a while: retry at once.
			wait, backoff, failures = 0, backoffMin, 0
		} else {
			backoff = min(2*backoff, backoffMax)
		}
		switch {
		case up:
			s.log.Warn("docker event stream ended, reconnecting", "err", streamErr(err), "after", lived.Round(time.Millisecond))
		case failures == 0:
			s.log.Warn("cannot watch docker events, retrying", "err", err)
		default:
			s.log.Debug("cannot watch docker events, retrying", "err", err, "failures", failures, "wait", wait)
		}
		failures++
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

func streamErr(err error) string {
	if errors.Is(err, io.EOF) {
		return "closed by the daemon"
	}
	return err.Error()
}

// filter asks the daemon for the events Watch acts on (and container create,
// to learn the names of containers before they connect to networks). The
// daemon ANDs keys and ORs values, so it lets some others through; accept
// drops those.
var filter = filters.NewArgs(
	filters.Arg("type", string(events.ContainerEventType)),
	filters.Arg("type", string(events.NetworkEventType)),
	filters.Arg("event", "create"),
	filters.Arg("event", "start"),
	filters.Arg("event", "die"),
	filters.Arg("event", "destroy"),
	filters.Arg("event", "rename"),
	filters.Arg("event", "connect"),
	filters.Arg("event", "disconnect"),
)

// streamGrace is how long an event stream must not have failed to count as
// established.
const streamGrace = 5 * time.Millisecond

// stream runs one event stream until it breaks or ctx ends. up reports
// whether it was established (and the stream event pushed), lived for how
// long.
func (s *Source) stream(ctx context.Context, q *queue, action string) (up bool, lived time.Duration, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the client's reading goroutine
	// Ping first: it tells a daemon that is down from a broken stream, and
	// renegotiates the API version, which may differ after a restart.
	ping, err := s.cli.Ping(ctx)
	if err != nil {
		return false, 0, s.wrap("ping", err)
	}
	s.cli.NegotiateAPIVersionPing(ping)
	msgs, errs := s.cli.Events(ctx, events.ListOptions{Filters: filter})
	// Events returns once the daemon answered, or failed to; in the latter
	// case the error follows on errs a moment later. Give it that moment,
	// rather than announce a stream that is not there.
	var first *events.Message
	grace := time.NewTimer(streamGrace)
	select {
	case err := <-errs:
		grace.Stop()
		return false, 0, s.wrap("events", err)
	case m := <-msgs:
		grace.Stop()
		first = &m
	case <-grace.C:
	}
	start := time.Now()
	q.push(Event{Type: "stream", Action: action, Received: start})
	s.log.Info("watching docker events", "event", action)
	if first != nil {
		if e, ok := s.accept(*first, start); ok {
			q.push(e)
		}
	}
	for {
		select {
		case m := <-msgs:
			if e, ok := s.accept(m, time.Now()); ok {
				q.push(e)
			}
		case err := <-errs:
			if err == nil {
				err = io.EOF
			}
			return true, time.Since(start), err
		}
	}
}

// accept converts a Docker event, noting container names, and reports
// whether Watch acts on it.
func (s *Source) accept(m events.Message, now time.Time) (Event, bool) {
	e := Event{
		Type:     string(m.Type),
		Action:   string(m.Action),
		ID:       m.Actor.ID,
		Name:     strings.TrimPrefix(m.Actor.Attributes["name"], "/"),
		Received: now,
	}
	switch {
	case m.TimeNano != 0:
		e.Time = time.Unix(0, m.TimeNano)
	case m.Time != 0:
		e.Time = time.Unix(m.Time, 0)
	}
	switch m.Type {
	case events.ContainerEventType:
		s.mu.Lock()
		defer s.mu.Unlock()
		if e.Name == "" {
			e.Name = s.names[e.ID]
		}
		if e.Name == "" {
			e.Name = shortID(e.ID)
		}
		switch m.Action {
		case events.ActionCreate:
			s.names[e.ID] = e.Name
			return e, false
		case events.ActionStart, events.ActionDie:
			s.names[e.ID] = e.Name
		case events.ActionRename:
			s.names[e.ID] = e.Name
			e.OldName = strings.TrimPrefix(m.Actor.Attributes["oldName"], "/")
		case events.ActionDestroy:
			delete(s.names, e.ID)
		default:
			return e, false
		}
		return e, true
	case events.NetworkEventType:
		switch m.Action {
		case events.ActionCreate, events.ActionDestroy:
		case events.ActionConnect, events.ActionDisconnect:
			id := m.Actor.Attributes["container"]
			e.ContainerID = id
			s.mu.Lock()
			e.Container = s.names[id]
			s.mu.Unlock()
			if e.Container == "" {
				e.Container = shortID(id)
			}
		default:
			return e, false
		}
		if e.Name == "" {
			e.Name = shortID(e.ID)
		}
		return e, true
	}
	return e, false
}
