package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/seawall/seawall/bench/internal/benchrun"
)

// results holds everything the report needs.
type results struct {
	tableAfter time.Duration
	cal        *calibration
	single     []*single
	bursts     []*burst
	poll       pollStats
	allLines   []*logLine
	daemonOK   bool
	profSingle *profile
}

type reportInput struct {
	o            options
	res          *results
	e            *env
	load0, load1 string
	revision     string
	versions     string
}

// benchrun.Pct holds nearest-rank percentiles.

// msd formats a duration in ms with 1 decimal (0.01 below 1 ms).
func msd[T ~int64](v T) string {
	d := time.Duration(v)
	if d > -time.Millisecond && d < time.Millisecond {
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

func recTook(r *reconcile) string {
	if r == nil {
		return "?"
	}
	return msd(r.took)
}

// row prints one percentile row; n is printed when it differs from want.
func row(w *tabwriter.Writer, name string, ds []time.Duration, want int) {
	p := benchrun.Percentiles(ds)
	if p.N == 0 {
		fmt.Fprintf(w, "%s\t-\t-\t-\t-\t%s\t\n", name, "0")
		return
	}
	n := ""
	if p.N != want {
		n = fmt.Sprintf("%d", p.N)
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t\n", name, msd(p.P50), msd(p.P90), msd(p.P99), msd(p.Max), n)
}

func durs(ss []*single, f func(*single) (int64, bool)) []time.Duration {
	var out []time.Duration
	for _, s := range ss {
		if v, ok := f(s); ok {
			out = append(out, time.Duration(v))
		}
	}
	return out
}

// reasonKind reduces a reconcile's reason to its kind: "container start",
// "network connect", "container die"...
func reasonKind(r string) string {
	f := strings.Fields(r)
	if len(f) >= 2 {
		return f[0] + " " + f[1]
	}
	return r
}

func counts(m map[string]int) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func report(ri reportInput) {
	o, r := ri.o, ri.res
	fmt.Printf("seawall container start benchmark: %d single starts, %d burst round(s) of %d (%d docker runs at a time), %d background containers\n",
		o.starts, len(r.bursts), o.burst, o.parallel, o.background)
	fmt.Printf("machine: %d CPUs; load average %s at start, %s at end\n", runtime.NumCPU(), ri.load0, ri.load1)
	fmt.Printf("seawall: built from %s; %s\n", ri.revision, ri.versions)
	fmt.Printf("t0 = timeNano of Docker's start event; t1 = first poll that shows the container's address in map %s with jump %s\n", mapName, ri.e.chain)
	pd, pg := benchrun.Percentiles(r.poll.dumps), benchrun.Percentiles(r.poll.gaps)
	fmt.Printf("polls: %d netlink dumps, one every %s (p50; p99 %s), each taking %s (p50; p99 %s); %d failed, %d torn (a commit fell inside: retried), %d addresses missed by one dump only (ignored)\n",
		r.poll.polls, msd(pg.P50), msd(pg.P99), msd(pd.P50), msd(pd.P99), r.poll.errs, r.poll.torn, r.poll.skipped)
	if c := r.cal; c != nil {
		fmt.Printf("one look at the map (%d elements): netlink dump %s (p50 of %d), `ip netns exec ... nft -j list map` %s (p50 of %d)\n",
			c.elements, msd(benchrun.Percentiles(c.netlink).P50), len(c.netlink), msd(benchrun.Percentiles(c.nftJSON).P50), len(c.nftJSON))
	}
	fmt.Printf("seawall daemon: table inet seawall %s after start\n", msd(r.tableAfter))
	fmt.Println()

	ss := r.single
	n := len(ss)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Printf("single starts: %d, one at a time, %d other containers running\n", n, o.background)
	fmt.Fprintln(w, "\tp50\tp90\tp99\tmax\tn\t")
	total := durs(ss, func(s *single) (int64, bool) { return s.live.at - s.event.at, true })
	row(w, "start event -> rules live (t1 - t0)", total, n)
	row(w, "StartedAt -> start event", durs(ss, func(s *single) (int64, bool) { return s.event.at - s.startedAt, true }), n)
	row(w, "start event -> read by a Go client", durs(ss, func(s *single) (int64, bool) { return s.watch.received - s.watch.at, s.goOK }), n)
	row(w, "start event -> debounced callback", durs(ss, func(s *single) (int64, bool) { return s.watch.callback - s.watch.at, s.goOK }), n)
	row(w, "start event -> daemon reconcile began", durs(ss, func(s *single) (int64, bool) {
		if s.rec == nil {
			return 0, false
		}
		return s.rec.begin - s.event.at, true
	}), n)
	row(w, "daemon reconcile took (its log)", durs(ss, func(s *single) (int64, bool) {
		if s.rec == nil {
			return 0, false
		}
		return int64(s.rec.took), true
	}), n)
	row(w, "rules live -> netlink call returned (log)", durs(ss, func(s *single) (int64, bool) {
		if s.updated == nil {
			return 0, false
		}
		return s.updated.read - s.live.at, true
	}), n)
	row(w, "rules live -> reconcile ended (log)", durs(ss, func(s *single) (int64, bool) {
		if s.rec == nil {
			return 0, false
		}
		return s.rec.end - s.live.at, true
	}), n)
	row(w, "poll window (uncertainty of t1)", durs(ss, func(s *single) (int64, bool) { return s.live.at - s.live.prev, true }), n)
	row(w, "start event -> event read by the docker CLI", durs(ss, func(s *single) (int64, bool) { return s.event.received - s.event.at, true }), n)
	row(w, "removal: die event -> address gone", durs(ss, func(s *single) (int64, bool) { return s.gone.at - s.die.at, true }), n)
	row(w, "docker run command (for scale)", durs(ss, func(s *single) (int64, bool) { return s.runEnd - s.runStart, true }), n)
	w.Flush()
	perStart := map[string]int{}
	madeLive := map[string]int{}
	unattributed := 0
	mapSizes := map[string]int{}
	for _, s := range ss {
		perStart[fmt.Sprintf("%d", s.reconciles)]++
		if s.rec == nil {
			unattributed++
		} else {
			madeLive[reasonKind(s.rec.reason)]++
		}
		mapSizes[fmt.Sprintf("%d", s.mapSize)]++
	}
	fmt.Printf("reconciles from the start event to live, per start: %s\n", counts(perStart))
	fmt.Printf("the reconcile that made it live was triggered by (the batch's first event): %s", counts(madeLive))
	if unattributed > 0 {
		fmt.Printf("; not attributed %d", unattributed)
	}
	fmt.Println()
	fmt.Printf("map %s size when live: %s\n", mapName, counts(mapSizes))
	p := benchrun.Percentiles(total)
	verdict := "MISS"
	if p.P99 < o.target {
		verdict = "PASS"
	}
	fmt.Printf("target: p99 of start event -> rules live < %s for single starts: %s (p99 %s, max %s)\n\n", msd(o.target), verdict, msd(p.P99), msd(p.Max))

	for _, b := range r.bursts {
		reportBurst(b, o)
	}

	reportDaemon(r, ss)
	reportProfile(r)
	if !r.daemonOK {
		fmt.Println("WARNING: seawall daemon was no longer running at the end")
	}
	if r.poll.errs > 0 {
		fmt.Printf("WARNING: %d polls failed, last: %v\n", r.poll.errs, r.poll.lastErr)
	}
}

func reportBurst(b *burst, o options) {
	var per, gone []time.Duration
	for _, n := range b.names {
		per = append(per, time.Duration(b.live[n].at-b.event[n].at))
	}
	gone = b.goneAfterDie
	fmt.Printf("burst %d: %d containers started at once (docker run, %d at a time), %d others running\n", b.round, len(b.names), o.parallel, o.background)
	fmt.Printf("  docker runs: %s from the first command to the last one returning; start events span %s\n",
		msd(b.runsDone-b.runsFirst), msd(b.lastEvent-b.firstEvent))
	fmt.Printf("  first start event -> all %d live: %s   (last start event -> all live: %s)\n", len(b.names), msd(b.allLive-b.firstEvent), msd(b.allLive-b.lastEvent))
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "\tp50\tp90\tp99\tmax\tn\t")
	row(w, "  per container: start event -> live", per, len(b.names))
	var took []time.Duration
	most := 0
	for _, r := range b.recs {
		took = append(took, r.took)
		most = max(most, r.containers)
	}
	row(w, "  daemon reconciles meanwhile: took", took, -1)
	row(w, "  removal: die event -> address gone", gone, len(b.names))
	w.Flush()
	fmt.Printf("  %d reconciles from the first start event until all were live (up to %d containers each); map %s held %d (%d jumping to the entry) when all were live; removing took %s\n\n",
		len(b.recs), most, mapName, b.mapSize, b.mapEntry, msd(b.removeTook))
}

// reportDaemon summarizes the daemon's own log.
func reportDaemon(r *results, ss []*single) {
	if len(ss) == 0 {
		return
	}
	from, to := ss[0].runStart, ss[len(ss)-1].gone.at
	var startTook, stopTook []time.Duration
	levels := map[string]int{}
	msgs := map[string]int{}
	for _, l := range r.allLines {
		if l.level != "INFO" {
			levels[l.level]++
		}
		if l.read < from || l.read > to+int64(time.Second) {
			continue
		}
		msgs[l.msg]++
	}
	for _, rc := range reconciles(r.allLines) {
		if rc.end < from || rc.end > to+int64(time.Second) {
			continue
		}
		switch k := reasonKind(rc.reason); k {
		case "container start", "network connect":
			startTook = append(startTook, rc.took)
		default:
			stopTook = append(stopTook, rc.took)
		}
	}
	fmt.Println("seawall daemon's own log during the single starts (\"containers reconciled ... took\": Docker Facts + state + compile + netlink)")
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "\tp50\tp90\tp99\tmax\tn\t")
	row(w, "reconciles after start/connect events", startTook, -1)
	row(w, "reconciles after die/disconnect/destroy events", stopTook, -1)
	w.Flush()
	fmt.Printf("log lines in that time: %s\n", counts(msgs))
	if len(levels) > 0 {
		fmt.Printf("WARNING: daemon log lines above INFO over the whole run: %s\n", counts(levels))
	}
}

// reportProfile prints the parts of a reconcile side by side with the
// daemon's own "took".
func reportProfile(r *results) {
	var profs []*profile
	if r.profSingle != nil {
		profs = append(profs, r.profSingle)
	}
	for _, b := range r.bursts {
		if b.prof != nil {
			profs = append(profs, b.prof)
		}
	}
	if len(profs) == 0 {
		return
	}
	fmt.Println()
	fmt.Println("where a reconcile's time goes: the daemon's steps run in this process with seawall's packages, against the same")
	fmt.Println("dockerd (idle), netlink into a scratch lab namespace holding the same table; p50 and max per step")
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "step"
	for _, p := range profs {
		head += fmt.Sprintf("\t%d containers p50\tmax", p.containers)
	}
	fmt.Fprintln(w, head+"\t")
	for _, s := range profs[0].steps {
		line := s.name
		for _, p := range profs {
			q := benchrun.Percentiles(p.step(s.name).ds)
			line += "\t" + msd(q.P50) + "\t" + msd(q.Max)
		}
		fmt.Fprintln(w, line+"\t")
	}
	w.Flush()
	fmt.Println("(this profile's nft.Conn opens a netlink socket per call, as the CLI does; seawall daemon keeps one lasting socket, as the two lines for comparison do)")
}
