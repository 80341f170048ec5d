package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/seawall/seawall/internal/docker"
	"github.com/seawall/seawall/internal/dockerlab"
)

// dockerEvent is one container event as the docker CLI prints it with
// --format '{{json .}}'.
type dockerEvent struct {
	Type     string `json:"Type"`
	Action   string `json:"Action"`
	TimeNano int64  `json:"timeNano"`
	Actor    struct {
		ID         string            `json:"ID"`
		Attributes map[string]string `json:"Attributes"`
	} `json:"Actor"`
}

// evTimes are the times of one container's events: when the daemon
// emitted it (its timeNano) and when the stream delivered it here.
type evTimes struct {
	at, received int64
}

// eventLog follows `docker events` of the confined daemon in the
// background and keeps, per container name, the times of its start and
// die events.
type eventLog struct {
	cmd  *exec.Cmd
	done chan struct{}

	mu    sync.Mutex
	start map[string][]evTimes
	die   map[string][]evTimes
	lines int
	bad   int
	err   error
}

// startEventLog runs docker events --since <now> (so that no event after
// this call can be missed, even before the stream is up) for container
// start and die events.
func startEventLog(ctx context.Context, d *dockerlab.Docker) (*eventLog, error) {
	since := time.Now().Add(-time.Second)
	cmd := d.Command(ctx, "events", "--format", "{{json .}}",
		"--since", strconv.FormatInt(since.Unix(), 10),
		"--filter", "type=container", "--filter", "event=start", "--filter", "event=die")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("docker events: %w", err)
	}
	l := &eventLog{cmd: cmd, done: make(chan struct{}), start: map[string][]evTimes{}, die: map[string][]evTimes{}}
	go func() {
		defer close(l.done)
		l.read(out)
		err := cmd.Wait()
		l.mu.Lock()
		if err != nil && ctx.Err() == nil {
			l.err = fmt.Errorf("docker events ended: %v: %s", err, strings.TrimSpace(stderr.String()))
		}
		l.mu.Unlock()
	}()
	return l, nil
}

func (l *eventLog) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		now := time.Now().UnixNano()
		var e dockerEvent
		l.mu.Lock()
		l.lines++
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.TimeNano == 0 {
			l.bad++
			l.mu.Unlock()
			continue
		}
		name := strings.TrimPrefix(e.Actor.Attributes["name"], "/")
		t := evTimes{at: e.TimeNano, received: now}
		switch e.Action {
		case "start":
			l.start[name] = append(l.start[name], t)
		case "die":
			l.die[name] = append(l.die[name], t)
		}
		l.mu.Unlock()
	}
}

// stop ends the stream.
func (l *eventLog) stop() {
	if l.cmd.Process != nil {
		_ = l.cmd.Process.Kill()
	}
	<-l.done
}

// wait returns the first start (or die) event of container name that the
// daemon emitted at or after wall time after, waiting for the stream to
// deliver it.
func (l *eventLog) wait(ctx context.Context, name, action string, after int64, timeout time.Duration) (evTimes, error) {
	var got evTimes
	err := waitFor(ctx, timeout, time.Millisecond, func() (bool, error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.err != nil {
			return false, l.err
		}
		evs := l.start[name]
		if action == "die" {
			evs = l.die[name]
		}
		for _, e := range evs {
			if e.at >= after {
				got = e
				return true, nil
			}
		}
		return false, nil
	}, fmt.Sprintf("the %s event of container %s", action, name))
	return got, err
}

// goWatch subscribes to the daemon's events the way seawall daemon does
// (internal/docker's Source.WatchChanges, with its default 5 ms debounce),
// in this process. It shows how long a Go client takes to read a start
// event, and when the debounced callback fires: the part of the latency
// before seawall's reconcile can begin.
type goWatch struct {
	src    *docker.Source
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	connected bool
	start     map[string]goSeen
}

// goSeen is a container start as the in-process watcher saw it.
type goSeen struct {
	at, received, callback int64
}

func startGoWatch(ctx context.Context, host string) (*goWatch, error) {
	src, err := docker.New(host, nil)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	g := &goWatch{src: src, cancel: cancel, done: make(chan struct{}), start: map[string]goSeen{}}
	go func() {
		defer close(g.done)
		_ = src.WatchChanges(ctx, func(c docker.Change) {
			now := time.Now().UnixNano()
			g.mu.Lock()
			defer g.mu.Unlock()
			for _, e := range c.Events {
				switch {
				case e.Type == "stream":
					g.connected = true
				case e.Type == "container" && e.Action == "start":
					if _, seen := g.start[e.Name]; !seen {
						g.start[e.Name] = goSeen{at: e.Time.UnixNano(), received: e.Received.UnixNano(), callback: now}
					}
				}
			}
		})
	}()
	err = waitFor(ctx, 10*time.Second, 5*time.Millisecond, func() (bool, error) {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.connected, nil
	}, "the in-process Docker event watcher to connect")
	if err != nil {
		g.stop()
		return nil, err
	}
	return g, nil
}

func (g *goWatch) get(name string) (goSeen, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.start[name]
	return s, ok
}

func (g *goWatch) stop() {
	g.cancel()
	<-g.done
	g.src.Close()
}
