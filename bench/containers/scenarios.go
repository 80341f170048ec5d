package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/seawall/seawall/bench/internal/benchrun"
	"github.com/seawall/seawall/internal/dockerlab"
	"github.com/seawall/seawall/internal/netlab"
)

// docker runs the docker CLI against the confined daemon (never the
// machine's: dockerlab's Command passes --host and a DOCKER_HOST of its
// own) and returns its standard output. The CLI gets its own process
// group, so a Ctrl-C reaches only this program.
func (e *env) docker(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := e.d.Command(ctx, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		first := args[0]
		return "", fmt.Errorf("docker %s: %v: %s", first, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// runContainer starts a detached container of the test image that the
// policy's entry selects; its server idles.
func (e *env) runContainer(ctx context.Context, name string) error {
	_, err := e.docker(ctx, "run", "-d", "--name", name, "--hostname", name, "--label", e.label, dockerlab.TestImage)
	return err
}

// ctrInfo is what docker inspect says about a started container.
type ctrInfo struct {
	addr      netip.Addr
	startedAt int64 // .State.StartedAt, wall ns
}

// inspect returns the IPv4 address (on docker0) and StartedAt of each
// named container.
func (e *env) inspect(ctx context.Context, names []string) (map[string]ctrInfo, error) {
	out := map[string]ctrInfo{}
	for chunk := range slices.Chunk(names, 50) {
		text, err := e.docker(ctx, append([]string{"inspect", "--format",
			"{{.Name}} {{.NetworkSettings.IPAddress}} {{.State.StartedAt}}"}, chunk...)...)
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
			f := strings.Fields(line)
			if len(f) != 3 {
				return nil, fmt.Errorf("docker inspect printed %q", line)
			}
			a, err := netip.ParseAddr(f[1])
			if err != nil {
				return nil, fmt.Errorf("container %s: address %q: %w", f[0], f[1], err)
			}
			t, err := time.Parse(time.RFC3339Nano, f[2])
			if err != nil {
				return nil, fmt.Errorf("container %s: StartedAt %q: %w", f[0], f[2], err)
			}
			out[strings.TrimPrefix(f[0], "/")] = ctrInfo{addr: a, startedAt: t.UnixNano()}
		}
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("docker inspect did not describe container %s", n)
		}
	}
	return out, nil
}

// removeContainers removes containers (docker rm -f -v), 50 per command.
func (e *env) removeContainers(ctx context.Context, names []string) error {
	for chunk := range slices.Chunk(names, 50) {
		if _, err := e.docker(ctx, append([]string{"rm", "-f", "-v"}, chunk...)...); err != nil {
			return err
		}
	}
	return nil
}

// runTimed is one docker run of a burst, timed.
type runTimed struct {
	start, end int64
	err        error
}

// runMany starts the named containers with at most parallel docker run
// commands at a time.
func (e *env) runMany(ctx context.Context, names []string, parallel int) (map[string]runTimed, error) {
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		out = map[string]runTimed{}
		sem = make(chan struct{}, parallel)
	)
	for _, n := range names {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r := runTimed{start: time.Now().UnixNano()}
			r.err = e.runContainer(ctx, n)
			r.end = time.Now().UnixNano()
			mu.Lock()
			out[n] = r
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, n := range names {
		if err := out[n].err; err != nil {
			return out, err
		}
	}
	return out, nil
}

// startBackground starts the containers that run for the whole benchmark,
// so that the map and Docker's container list have a realistic size.
func (e *env) startBackground(ctx context.Context) error {
	if e.o.background == 0 {
		return nil
	}
	benchrun.Status("starting %d background containers", e.o.background)
	var names []string
	for i := range e.o.background {
		names = append(names, fmt.Sprintf("swb-bg%03d", i+1))
	}
	t0 := time.Now().UnixNano()
	if _, err := e.runMany(ctx, names, 8); err != nil {
		return err
	}
	info, err := e.inspect(ctx, names)
	if err != nil {
		return err
	}
	for _, n := range names {
		if _, err := e.mw.waitTransition(ctx, info[n].addr, t0, e.chain, e.o.timeout); err != nil {
			return err
		}
	}
	return nil
}

// single is one container started alone.
type single struct {
	name              string
	addr              netip.Addr
	runStart, runEnd  int64 // the docker run command
	startedAt         int64 // docker inspect .State.StartedAt
	event             evTimes
	live              transition // the address appeared with the right jump
	watch             goSeen     // the in-process watcher's view
	goOK              bool
	rec               *reconcile // the daemon's reconcile that made it live
	updated           *logLine   // its "updated set contents" line
	reconciles        int        // reconciles that began between the event and live
	recLines          []reconcile
	die               evTimes
	gone              transition
	mapSize, mapEntry int // map size right after it became live
}

// singles starts e.o.starts containers one after the other. Each is
// removed once it is live, and the next starts only after its address
// has left the map and the daemon has had e.o.settle to go idle.
func (e *env) singles(ctx context.Context) ([]*single, error) {
	var out []*single
	for i := range e.o.starts {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(e.o.settle):
		}
		s := &single{name: fmt.Sprintf("swb-s%03d", i+1)}
		benchrun.Status("single start %d/%d", i+1, e.o.starts)
		s.runStart = time.Now().UnixNano()
		if err := e.runContainer(ctx, s.name); err != nil {
			return nil, err
		}
		s.runEnd = time.Now().UnixNano()
		info, err := e.inspect(ctx, []string{s.name})
		if err != nil {
			return nil, err
		}
		s.addr, s.startedAt = info[s.name].addr, info[s.name].startedAt
		if st := e.mw.stateAt(s.addr, s.runStart); st != "" {
			return nil, fmt.Errorf("container %s got %s, which was still in map %s (jump %s) when it started: an old container's address", s.name, s.addr, mapName, st)
		}
		if s.event, err = e.events.wait(ctx, s.name, "start", 0, e.o.timeout); err != nil {
			return nil, err
		}
		if s.live, err = e.mw.waitTransition(ctx, s.addr, s.runStart, e.chain, e.o.timeout); err != nil {
			return nil, err
		}
		s.mapSize, s.mapEntry = e.mw.count(e.chain)
		// The reconcile that made it live logs after saving the state.
		if _, err := e.sd.waitLine(ctx, "containers reconciled", s.live.prev, 5*time.Second); err != nil {
			return nil, err
		}
		s.watch, s.goOK = e.gw.get(s.name)
		lines := e.sd.since(s.runStart)
		s.recLines = reconciles(lines)
		s.rec, s.reconciles = attribute(s.recLines, s.event.at, s.live)
		if s.rec != nil {
			// Logged right after the netlink call returned, before the
			// state is saved and the reconcile ends.
			for _, l := range lines {
				if l.msg == "updated set contents" && l.read >= s.live.prev && l.read <= s.rec.end {
					s.updated = l
					break
				}
			}
		}

		rm := time.Now().UnixNano()
		if err := e.removeContainers(ctx, []string{s.name}); err != nil {
			return nil, err
		}
		if s.die, err = e.events.wait(ctx, s.name, "die", 0, e.o.timeout); err != nil {
			return nil, err
		}
		if s.gone, err = e.mw.waitTransition(ctx, s.addr, rm, "", e.o.timeout); err != nil {
			return nil, err
		}
		if e.o.verbose {
			fmt.Fprintf(os.Stderr, "  %s %s: event->live %s, took %s, reconciles %d, die->gone %s\n", s.name, s.addr,
				msd(s.live.at-s.event.at), recTook(s.rec), s.reconciles, msd(s.gone.at-s.die.at))
		}
		out = append(out, s)
	}
	return out, nil
}

// attribute finds, among the daemon's reconciles, the one whose commit the
// poll saw: its span [begin, end] overlaps the window (live.prev, live.at]
// in which the address appeared, and of those it is the one that began
// last. It also counts the reconciles that began between the start event
// and live.at.
func attribute(recs []reconcile, event int64, live transition) (*reconcile, int) {
	var best *reconcile
	n := 0
	for i := range recs {
		r := &recs[i]
		if r.begin <= live.at && r.end >= live.prev && (best == nil || r.begin > best.begin) {
			best = r
		}
		if r.begin >= event-int64(2*time.Millisecond) && r.begin <= live.at {
			n++
		}
	}
	return best, n
}

// burst is one round of containers started at once.
type burst struct {
	round        int
	names        []string
	runs         map[string]runTimed
	info         map[string]ctrInfo
	event        map[string]evTimes
	live         map[string]transition
	firstEvent   int64
	lastEvent    int64
	allLive      int64
	runsFirst    int64 // first docker run command started
	runsDone     int64 // last docker run command returned
	recs         []reconcile
	mapSize      int
	mapEntry     int
	removeTook   time.Duration
	goneAfterDie []time.Duration
	prof         *profile // the parts of a reconcile with all containers running (first round)
}

// burstRound starts e.o.burst containers with e.o.parallel docker run
// commands at a time, waits until all are live, then removes them and
// waits until their addresses left the map.
func (e *env) burstRound(ctx context.Context, round int) (*burst, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(max(e.o.settle, time.Second)):
	}
	b := &burst{round: round, event: map[string]evTimes{}, live: map[string]transition{}}
	for i := range e.o.burst {
		b.names = append(b.names, fmt.Sprintf("swb-b%d-%03d", round, i+1))
	}
	benchrun.Status("burst %d: starting %d containers, %d at a time", round, e.o.burst, e.o.parallel)
	t0 := time.Now().UnixNano()
	b.runsFirst = t0
	var err error
	if b.runs, err = e.runMany(ctx, b.names, e.o.parallel); err != nil {
		return nil, err
	}
	for _, r := range b.runs {
		b.runsDone = max(b.runsDone, r.end)
	}
	if b.info, err = e.inspect(ctx, b.names); err != nil {
		return nil, err
	}
	benchrun.Status("burst %d: waiting for all %d addresses in map %s", round, e.o.burst, mapName)
	for _, n := range b.names {
		if st := e.mw.stateAt(b.info[n].addr, t0); st != "" {
			return nil, fmt.Errorf("container %s got %s, which was still in map %s (jump %s) when the burst began", n, b.info[n].addr, mapName, st)
		}
		ev, err := e.events.wait(ctx, n, "start", 0, e.o.timeout)
		if err != nil {
			return nil, err
		}
		tr, err := e.mw.waitTransition(ctx, b.info[n].addr, t0, e.chain, e.o.timeout)
		if err != nil {
			return nil, err
		}
		b.event[n], b.live[n] = ev, tr
		if b.firstEvent == 0 || ev.at < b.firstEvent {
			b.firstEvent = ev.at
		}
		b.lastEvent = max(b.lastEvent, ev.at)
		b.allLive = max(b.allLive, tr.at)
	}
	b.mapSize, b.mapEntry = e.mw.count(e.chain)
	if _, err := e.sd.waitLine(ctx, "containers reconciled", b.allLive, 5*time.Second); err != nil {
		return nil, err
	}
	for _, r := range reconciles(e.sd.since(t0)) {
		if r.end >= b.firstEvent && r.begin <= b.allLive {
			b.recs = append(b.recs, r)
		}
	}

	if e.prof != nil && round == 1 {
		benchrun.Status("burst %d: timing the parts of %d reconciles with %d containers running", round, e.o.profile, e.o.background+e.o.burst)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(2 * time.Second): // let dockerd finish its work
		}
		var err error
		if b.prof, err = e.prof.run(ctx, e.o.profile, e.chain); err != nil {
			return nil, fmt.Errorf("profiling a reconcile: %w", err)
		}
	}

	benchrun.Status("burst %d: removing %d containers", round, e.o.burst)
	rm := time.Now()
	if err := e.removeContainers(ctx, b.names); err != nil {
		return nil, err
	}
	for _, n := range b.names {
		die, err := e.events.wait(ctx, n, "die", 0, e.o.timeout)
		if err != nil {
			return nil, err
		}
		gone, err := e.mw.waitTransition(ctx, b.info[n].addr, rm.UnixNano(), "", e.o.timeout)
		if err != nil {
			return nil, err
		}
		b.goneAfterDie = append(b.goneAfterDie, time.Duration(gone.at-die.at))
	}
	b.removeTook = time.Since(rm)
	return b, nil
}

// calibration is the cost of one look at the map, two ways.
type calibration struct {
	netlink   []time.Duration // one netlink dump in this process
	nftJSON   []time.Duration // ip netns exec HOST nft -j list map ...
	elements  int
	nftParsed bool
}

// calibrate times map dumps through a netlink socket of its own (the
// poller's is not shared) and with the nft command.
func calibrate(ctx context.Context, e *env) (*calibration, error) {
	c := &calibration{}
	mw, err := newMapWatch(e.lab.NSPath(netlab.Host), e.o.poll)
	if err != nil {
		return nil, err
	}
	defer mw.close()
	for range 300 {
		t := time.Now()
		m, err := mw.dump()
		if errors.Is(err, errTorn) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("dumping map %s: %w", mapName, err)
		}
		c.netlink = append(c.netlink, time.Since(t))
		c.elements = len(m)
	}
	for range 10 {
		t := time.Now()
		cmd := e.lab.Command(ctx, netlab.Host, "nft", "-j", "list", "map", "inet", tableName, mapName)
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("ip netns exec ... nft -j list map: %w", err)
		}
		c.nftJSON = append(c.nftJSON, time.Since(t))
		c.nftParsed = bytes.Contains(out, []byte(`"map"`))
	}
	return c, nil
}

// toolVersions describes the tools, for the report header.
func toolVersions(ctx context.Context, d *dockerlab.Docker) string {
	first := func(argv ...string) string {
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).Output()
		if err != nil {
			return argv[0] + " ?"
		}
		return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	server := "?"
	if out, err := d.CLI(ctx, "version", "--format", "{{.Server.Version}}"); err == nil {
		server = strings.TrimSpace(out)
	}
	return fmt.Sprintf("dockerd %s (storage %s), %s", server, d.StorageDriver(), first("nft", "--version"))
}
