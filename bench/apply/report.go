package main

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// results holds the samples per scenario and tool.
type results struct {
	s map[scenario]map[string][]sample
}

func newResults() *results {
	return &results{s: map[scenario]map[string][]sample{}}
}

func (r *results) add(sc scenario, tool string, s sample) {
	if r.s[sc] == nil {
		r.s[sc] = map[string][]sample{}
	}
	r.s[sc][tool] = append(r.s[sc][tool], s)
}

func (r *results) get(sc scenario, tool string) []sample { return r.s[sc][tool] }

// sameRuleset reports whether tools x and y left the same input chain (as
// nft lists it) in every scenario.
func (r *results) sameRuleset(x, y string) string {
	for _, sc := range scenarios {
		a, b := r.get(sc, x), r.get(sc, y)
		if len(a) == 0 || len(b) == 0 {
			return "not compared"
		}
		for _, s := range append(a[1:], b...) {
			if s.State.Listing != a[0].State.Listing {
				return fmt.Sprintf("NO: the input chains differ (%s)", sc)
			}
		}
	}
	return "yes"
}

// stats are the summary of durations.
type stats struct {
	Min, Median time.Duration
}

func summarize(ds []time.Duration) stats {
	if len(ds) == 0 {
		return stats{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stats{Min: s[0], Median: m}
}

func pick(ss []sample, f func(sample) time.Duration) []time.Duration {
	out := make([]time.Duration, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return out
}

func usages(us []usage, f func(usage) time.Duration) []time.Duration {
	out := make([]time.Duration, len(us))
	for i, u := range us {
		out[i] = f(u)
	}
	return out
}

func wall(u usage) time.Duration { return u.Wall }
func user(u usage) time.Duration { return u.User }
func sys(u usage) time.Duration  { return u.Sys }

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

type reportInput struct {
	o            options
	b            *bench
	tools        []*tool
	res          *results
	plan         *planResult
	same         string
	ipsetNote    string
	load0, load1 string
	versions     string
	revision     string // of the seawall tree that was built
}

// report prints the results.
func report(ri reportInput) {
	in := ri.b.in
	fmt.Printf("seawall apply benchmark: %d port rules + a %s-entry IPv4 address set (%s /32 + %d CIDRs), seed %d, %d runs per cell\n",
		len(in.Rules), thousands(len(in.Blocklist)), thousands(in.Hosts), in.CIDRs, in.Seed, ri.o.n)
	fmt.Printf("machine: %d CPUs; load average %s at start, %s at end\n", runtime.NumCPU(), ri.load0, ri.load1)
	fmt.Printf("seawall: built from %s\n", ri.revision)
	fmt.Printf("tools:   %s\n", ri.versions)
	if ri.ipsetNote != "" {
		fmt.Printf("NOTE: iptables+ipset NOT MEASURED: %s\n", ri.ipsetNote)
	}
	fmt.Println()

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "scenario\ttool\tmin\tmedian\tuser\tsys\tset elems\tset\tinput rules\tverified\t")
	for _, sc := range scenarios {
		for _, t := range ri.tools {
			ss := ri.res.get(sc, t.Name)
			if len(ss) == 0 {
				continue
			}
			wt := summarize(pick(ss, func(s sample) time.Duration { return s.Total.Wall }))
			ut := summarize(pick(ss, func(s sample) time.Duration { return s.Total.User }))
			st := summarize(pick(ss, func(s sample) time.Duration { return s.Total.Sys }))
			last := ss[len(ss)-1].State
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\t%d/%d\t\n", sc, t.Name, ms(wt.Min), ms(wt.Median),
				ms(ut.Median), ms(st.Median), last.SetElems, fates(ss), last.Rules, len(ss), ri.o.n)
		}
	}
	pw := summarize(usages(ri.plan.Runs, wall))
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", "no kernel", "seawall plan --format nft", ms(pw.Min), ms(pw.Median),
		ms(summarize(usages(ri.plan.Runs, user)).Median), ms(summarize(usages(ri.plan.Runs, sys)).Median),
		"-", "-", "-", fmt.Sprintf("%d/%d", len(ri.plan.Runs), ri.o.n))
	w.Flush()
	fmt.Println("(wall time from fork to exit; user and sys are the median CPU times from the children's rusage)")
	fmt.Println()

	for _, t := range ri.tools {
		if len(t.Steps) < 2 {
			continue
		}
		for _, sc := range scenarios {
			ss := ri.res.get(sc, t.Name)
			if len(ss) == 0 {
				continue
			}
			var parts []string
			for i, name := range t.Steps {
				steps := make([]usage, len(ss))
				for j, s := range ss {
					steps[j] = s.Steps[i]
				}
				parts = append(parts, fmt.Sprintf("%s %s (user %s, sys %s)", name,
					ms(summarize(usages(steps, wall)).Median), ms(summarize(usages(steps, user)).Median),
					ms(summarize(usages(steps, sys)).Median)))
			}
			fmt.Printf("%s, %s, median per step: %s\n", t.Name, sc, strings.Join(parts, " + "))
		}
	}
	fmt.Printf("seawall plan --format nft prints %.1f MB; apply = plan's work + the netlink transaction + saving state\n",
		float64(ri.plan.Bytes)/1e6)
	fmt.Println()

	w = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ratio (lower is better)\tfresh median\tfresh min\treapply median\treapply min\t")
	for _, other := range ri.tools[1:] {
		var cells []string
		for _, sc := range scenarios {
			sw := summarize(pick(ri.res.get(sc, "seawall apply"), func(s sample) time.Duration { return s.Total.Wall }))
			ot := summarize(pick(ri.res.get(sc, other.Name), func(s sample) time.Duration { return s.Total.Wall }))
			if ot.Median == 0 || sw.Median == 0 {
				cells = append(cells, "-", "-")
				continue
			}
			cells = append(cells, fmt.Sprintf("%.2fx", ratio(sw.Median, ot.Median)), fmt.Sprintf("%.2fx", ratio(sw.Min, ot.Min)))
		}
		fmt.Fprintf(w, "seawall / %s\t%s\t\n", other.Name, strings.Join(cells, "\t"))
	}
	w.Flush()
	if ri.ipsetNote != "" {
		fmt.Println("seawall / iptables+ipset: not measured (see NOTE above)")
	}

	sw := summarize(pick(ri.res.get(fresh, "seawall apply"), func(s sample) time.Duration { return s.Total.Wall }))
	nf := summarize(pick(ri.res.get(fresh, "nft -f"), func(s sample) time.Duration { return s.Total.Wall }))
	r := ratio(sw.Median, nf.Median)
	verdict := "MISS"
	if r <= 0.5 {
		verdict = "PASS"
	}
	fmt.Printf("\ntarget: seawall <= 0.5 x nft -f (fresh apply): %s (median %s vs %s = %.2fx)\n", verdict, ms(sw.Median), ms(nf.Median), r)
	fmt.Printf("same ruleset: seawall apply and nft -f left identical input chains: %s\n", ri.same)
}

// fates summarizes what the loads did with the set ("kept", or e.g.
// "kept 4, replaced 1" when they differ).
func fates(ss []sample) string {
	count := map[string]int{}
	var order []string
	for _, s := range ss {
		if count[s.Set] == 0 {
			order = append(order, s.Set)
		}
		count[s.Set]++
	}
	if len(order) == 1 {
		return order[0]
	}
	var parts []string
	for _, f := range order {
		parts = append(parts, fmt.Sprintf("%s %d", f, count[f]))
	}
	return strings.Join(parts, ", ")
}

// thousands formats n with commas.
func thousands(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
