package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/seawall/seawall/bench/internal/benchrun"
)

// Targets of issue 4.
const (
	targetFilterRatio = 50.0
	targetBurstRatio  = 100.0
	targetLatencyP99  = 10 * time.Millisecond
	targetRSS         = 50_000_000 // bytes: 50 MB
)

// report prints the header, a section per benchmark that ran, the summary
// table and the warnings.
func report(b *bench, r *results, load0 string) {
	root, _ := benchrun.ModuleRoot()
	fmt.Println("seawall jails vs Debian's fail2ban, same input, one run")
	fmt.Printf("machine: %d CPUs, load average %s at start, %s at end; %s\n", runtime.NumCPU(), load0, benchrun.LoadAvg(), versions(b))
	if b.seawall != "" {
		fmt.Printf("seawall: built from %s\n", benchrun.Revision(root))
	} else {
		fmt.Printf("seawall: not measured: %v\n", b.seawallErr)
	}
	if b.f2b != nil {
		fmt.Printf("fail2ban: %s, unpacked in %s (not installed), run by %s; backend %s, log level %s, action nftables-allports\n",
			b.f2b.describe(), b.f2b.root, b.f2b.python, b.f2bBackend, b.o.f2bLogLevel)
	} else {
		fmt.Printf("fail2ban: not measured: %v\n", b.f2bErr)
	}
	fmt.Printf("jail (both engines): sshd filter, maxretry %d, findtime %s, bantime %s; every engine runs in a fresh network namespace\n\n",
		b.o.maxretry, policyDuration(b.o.findtime), policyDuration(b.o.bantime))

	if r.filter.ran {
		reportFilter(b, r.filter)
	}
	if r.burstSW.ran || r.burstF2B.ran {
		reportBurst(b, r)
	}
	if r.latSW.ran || r.latF2B.ran {
		reportLatency(b, r)
	}
	if r.memSW.ran {
		reportMemory(b, r.memSW)
	}
	summary(b, r)
	for _, w := range b.warnings {
		fmt.Printf("WARNING: %s\n", w)
	}
}

// versions names the kernel, nft and python.
func versions(b *bench) string {
	first := func(argv ...string) string {
		out, err := exec.CommandContext(context.Background(), argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			return argv[0] + " ?"
		}
		return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	parts := []string{"kernel " + first("uname", "-r"), first("nft", "--version")}
	if b.f2b != nil {
		parts = append(parts, first(b.f2b.python, "--version"))
	}
	return strings.Join(append(parts, runtime.Version()), ", ")
}

// reportFilter prints the filter benchmark: the generated log, a row per
// timed command, the failure counts and the ratios.
func reportFilter(b *bench, o outcome[*filterResult]) {
	fr := o.val
	if fr == nil {
		fmt.Printf("filter: failed: %v\n\n", o.err)
		return
	}
	st := fr.fullStats
	fmt.Printf("filter: generated auth.log (seed %d): %s lines, %s failures by construction, %s lines with IPv6 (%s ::ffff:), %s distinct addresses\n",
		b.o.seed, num(st.Lines), num(st.Failures), num(st.IPv6), num(st.Mapped), num(st.Distinct))
	fmt.Printf("  sshd sessions: %s; %.0f%% of the lines are cron's, sudo's, systemd's and systemd-logind's\n",
		counts(st.Sessions), 100*float64(st.Other)/float64(max(st.Lines, 1)))
	fmt.Printf("  each run is timed from fork to exit and includes `ip netns exec` (%s); median of %d run(s)\n", dur(fr.execOverhead), b.o.n)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "  \tlines\twall\tuser\tsys\tlines/s\tstartup\tlines/s without\tlines/CPU-s\tfailures\t")
	row := func(r *filterRun, file string) {
		if r == nil {
			return
		}
		name := "  " + r.label + " " + file
		if r.err != nil {
			fmt.Fprintf(w, "%s\t%s\terror\t\t\t\t\t\t\t\t\n", name, num(r.lines))
			return
		}
		m := r.median()
		matched := "-"
		if r.matched >= 0 {
			matched = num(r.matched)
		}
		startup, steady := "", ""
		if r.startup > 0 {
			startup, steady = dur(r.startup), num(int(r.steadyRate()))
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, num(r.lines), dur(m.Wall), dur(m.User), dur(m.Sys),
			num(int(r.rate())), startup, steady, num(int(r.cpuRate())), matched)
	}
	row(fr.f2b, "HEAD sshd.conf")
	row(fr.swFull, "FULL")
	row(fr.swHead, "HEAD")
	row(fr.swJSON, "HEAD")
	row(fr.swF2BFilter, "HEAD")
	fmt.Fprintf(w, "  generator's own labels, HEAD\t%s\t\t\t\t\t\t\t\t%s\t\n", num(fr.headStats.Lines), num(fr.headStats.Failures))
	w.Flush()
	fmt.Printf("  FULL is all %s lines, HEAD its first %s\n", num(fr.fullStats.Lines), num(fr.headStats.Lines))
	checkFailures(b, fr)
	if sw, f := fr.swFull, fr.f2b; sw != nil && f != nil && sw.err == nil && f.err == nil {
		fmt.Printf("  seawall/fail2ban lines/s: %.0fx (seawall on FULL with its startup, fail2ban on HEAD without its startup: the summary's ratio)",
			sw.rate()/f.steadyRate())
		if fr.swHead != nil && fr.swHead.err == nil {
			fmt.Printf("; %.0fx both on HEAD, startups included", fr.swHead.rate()/f.rate())
		}
		fmt.Printf("; %.0fx by CPU time (FULL vs HEAD)\n", sw.cpuRate()/f.cpuRate())
		if f.median().Wall > 3*(f.median().User+f.median().Sys)/2 {
			b.warn("fail2ban-regex's wall time (%s) is well above its CPU time (%s): the machine was busy; the ratio by CPU time is the steadier one",
				dur(f.median().Wall), dur(f.median().User+f.median().Sys))
		}
	}
	for _, r := range []*filterRun{fr.f2b, fr.swFull, fr.swHead, fr.swJSON, fr.swF2BFilter} {
		if r != nil && r.err != nil {
			fmt.Printf("  error: %s: %v\n", r.label, r.err)
		}
	}
	fmt.Println()
}

// checkFailures compares the failure counts on HEAD: fail2ban-regex's,
// seawall's with its built-in filter and with fail2ban's file, and the
// generator's labels. A mismatch is a warning.
func checkFailures(b *bench, fr *filterResult) {
	type count struct {
		who string
		n   int
	}
	all := []count{{"generator", fr.headStats.Failures}}
	for _, r := range []*filterRun{fr.f2b, fr.swJSON, fr.swF2BFilter} {
		if r != nil && r.err == nil && r.matched >= 0 {
			all = append(all, count{r.label, r.matched})
		}
	}
	if len(all) < 2 {
		return
	}
	var parts []string
	same := true
	for _, c := range all {
		parts = append(parts, fmt.Sprintf("%s %s", c.who, num(c.n)))
		same = same && c.n == all[0].n
	}
	if same {
		fmt.Printf("  failures on HEAD agree: %s\n", strings.Join(parts, ", "))
		return
	}
	fmt.Printf("  !!! failures on HEAD DIFFER: %s\n", strings.Join(parts, ", "))
	b.warn("the failure counts on the same lines differ: %s", strings.Join(parts, ", "))
}

// reportBurst prints a row per engine of the burst.
func reportBurst(b *bench, r *results) {
	fmt.Printf("burst: %s distinct IPv4 attackers x %d failure lines = %s lines in one write; time until every attacker is in the kernel set (netlink dumps every %s)\n",
		num(b.o.attackers), b.o.maxretry, num(b.o.attackers*b.o.maxretry), dur(b.eo.every))
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "  \tall banned\tfirst ban\tbans/s\tfirst 10%\tlast 10%\tpoll window\tRSS then\twarm-up ban\tset\t")
	for _, x := range []struct {
		tool string
		o    outcome[*burstResult]
		set  string
	}{{toolSeawall, r.burstSW, "inet " + seawallTable + " " + seawallJailSet}, {toolFail2ban, r.burstF2B, "inet " + f2bTable + " " + f2bSet}} {
		if !x.o.ran {
			continue
		}
		if !x.o.ok() {
			fmt.Fprintf(w, "  %s\terror\t\t\t\t\t\t\t\t\t\n", x.tool)
			continue
		}
		v := x.o.val
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", x.tool, dur(v.elapsed), dur(v.firstBan), num(int(v.rate())),
			rateCell(v.rateBetween(0, 0.1)), rateCell(v.rateBetween(0.9, 1)), dur(v.wait.all.window()), mb(v.mem.RSS), dur(v.warmup), x.set)
	}
	w.Flush()
	printErr("seawall burst", r.burstSW.err)
	printErr("fail2ban burst", r.burstF2B.err)
	fmt.Println()
}

// rateCell formats a rate of bans per second ("-" when unknown).
func rateCell(r float64) string {
	if r <= 0 {
		return "-"
	}
	return num(int(r)) + "/s"
}

// reportLatency prints a row of percentiles per engine.
func reportLatency(b *bench, r *results) {
	fmt.Printf("ban latency: %d-1 failure lines, a %s pause, then the line that completes the ban; from its write to the first poll that shows\n", b.o.maxretry, dur(b.o.gap))
	fmt.Printf("  the address in the kernel set (a netlink dump of the set every %s; the poll window is how uncertain each sample is)\n", dur(b.o.poll))
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "  \tn\tp50\tp90\tp99\tmax\tpoll window p99\t")
	for _, x := range []struct {
		tool string
		o    outcome[*latencyResult]
	}{{toolSeawall, r.latSW}, {toolFail2ban, r.latF2B}} {
		if !x.o.ran {
			continue
		}
		if x.o.val == nil || len(x.o.val.upper) == 0 {
			fmt.Fprintf(w, "  %s\terror\t\t\t\t\t\t\n", x.tool)
			continue
		}
		p, win := benchrun.Percentiles(x.o.val.upper), benchrun.Percentiles(x.o.val.windows)
		fmt.Fprintf(w, "  %s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", x.tool, p.N, dur(p.P50), dur(p.P90), dur(p.P99), dur(p.Max), dur(win.P99))
	}
	w.Flush()
	printErr("seawall latency", r.latSW.err)
	printErr("fail2ban latency", r.latF2B.err)
	fmt.Println()
}

// reportMemory prints seawall daemon's memory with many active bans.
func reportMemory(b *bench, o outcome[*burstResult]) {
	fmt.Printf("memory: seawall daemon, %s distinct attackers x %d lines in one write, until all are banned; VmRSS and VmHWM from /proc/PID/status\n",
		num(b.o.memBans), b.o.maxretry)
	if v := o.val; v != nil && o.err == nil {
		fmt.Printf("  all banned after %s (%s bans/s); VmRSS %s at that moment, %s %s later (anonymous %s, mapped files %s); VmHWM (peak) %s\n",
			dur(v.elapsed), num(int(v.rate())), mb(v.mem.RSS), mb(v.memSettled.RSS), dur(b.o.settle), mb(v.memSettled.Anon), mb(v.memSettled.File), mb(v.memSettled.HWM))
	}
	printErr("seawall memory", o.err)
	fmt.Println()
}

// summary prints the final table: one row per target.
func summary(b *bench, r *results) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "summary\tseawall\tfail2ban\tratio\ttarget\tresult")
	if r.filter.ran {
		var sw, f2b float64
		if fr := r.filter.val; fr != nil {
			if fr.swFull != nil && fr.swFull.err == nil {
				sw = fr.swFull.rate()
			}
			if fr.f2b != nil && fr.f2b.err == nil {
				f2b = fr.f2b.steadyRate()
			}
		}
		ratioRow(w, "filter sshd, lines/s (fail2ban: without startup)", sw, f2b, func(v float64) string { return num(int(v)) }, false, targetFilterRatio)
	}
	if r.burstSW.ran || r.burstF2B.ran {
		var sw, f2b float64
		if r.burstSW.ok() {
			sw = r.burstSW.val.elapsed.Seconds()
		}
		if r.burstF2B.ok() {
			f2b = r.burstF2B.val.elapsed.Seconds()
		}
		ratioRow(w, fmt.Sprintf("burst of %s attackers, until all banned", num(b.o.attackers)), sw, f2b,
			func(v float64) string { return dur(time.Duration(v * float64(time.Second))) }, true, targetBurstRatio)
	}
	if r.latSW.ran || r.latF2B.ran {
		latRow := func(name string, pick func(benchrun.Pct) time.Duration, judge bool) {
			var sw, f2b time.Duration
			if r.latSW.ok() {
				sw = pick(benchrun.Percentiles(r.latSW.val.upper))
			}
			if r.latF2B.ok() {
				f2b = pick(benchrun.Percentiles(r.latF2B.val.upper))
			}
			target, result := "-", "-"
			if judge {
				target = "p99 < " + dur(targetLatencyP99)
				result = verdict(r.latSW.ok(), sw < targetLatencyP99)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", name, durOr(sw, r.latSW.ran), durOr(f2b, r.latF2B.ran), ratio(f2b.Seconds(), sw.Seconds()), target, result)
		}
		latRow("ban latency p50", func(p benchrun.Pct) time.Duration { return p.P50 }, false)
		latRow("ban latency p99", func(p benchrun.Pct) time.Duration { return p.P99 }, true)
	}
	if r.memSW.ran {
		sw := "error"
		var rss uint64
		if r.memSW.ok() {
			m := r.memSW.val.memSettled
			rss = m.RSS
			sw = fmt.Sprintf("%s (anon %s)", mb(rss), mb(m.Anon))
		}
		f2b := "-"
		if r.burstF2B.ok() {
			f2b = fmt.Sprintf("(%s with %s)", mb(r.burstF2B.val.mem.RSS), num(b.o.attackers))
		}
		fmt.Fprintf(w, "RSS with %s active bans\t%s\t%s\t-\t< %s\t%s\n", num(b.o.memBans), sw, f2b, mb(targetRSS), verdict(r.memSW.ok(), rss < targetRSS))
	}
	w.Flush()
}

// ratioRow prints a row judged by seawall's advantage: sw/f2b (higher is
// better) or, with lowerBetter, f2b/sw. A zero value is a missing one.
func ratioRow(w *tabwriter.Writer, name string, sw, f2b float64, format func(float64) string, lowerBetter bool, target float64) {
	cell := func(v float64) string {
		if v == 0 {
			return "n/a"
		}
		return format(v)
	}
	x := sw / f2b
	if lowerBetter {
		x = f2b / sw
	}
	ok := sw > 0 && f2b > 0
	rs := "n/a"
	if ok {
		rs = fmt.Sprintf("%.0fx", x)
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t>= %.0fx\t%s\n", name, cell(sw), cell(f2b), rs, target, verdict(ok, x >= target))
}

func verdict(measured, pass bool) string {
	switch {
	case !measured:
		return "n/a"
	case pass:
		return "PASS"
	default:
		return "MISS"
	}
}

func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0fx", a/b)
}

func durOr(d time.Duration, ran bool) string {
	switch {
	case d > 0:
		return dur(d)
	case ran:
		return "error"
	default:
		return "-"
	}
}

func printErr(what string, err error) {
	if err != nil {
		fmt.Printf("  error: %s: %s\n", what, strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
}

// benchrun.Pct holds nearest-rank percentiles.

// dur formats a duration with 3 significant digits: 812µs, 4.21ms, 81.2s.
func dur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'g', 3, 64) + "ms"
	default:
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
	}
}

// num formats n with thousands separators.
func num(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// mb formats bytes in MB (10^6 bytes, the unit of the target).
func mb(b uint64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }

// counts formats a map of counts, largest first.
func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %s", k, num(m[k]))
	}
	return strings.Join(parts, ", ")
}
