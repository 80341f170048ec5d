package netlab

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Proto is the protocol of a Probe.
type Proto string

// Probe protocols.
const (
	TCP  Proto = "tcp"
	UDP  Proto = "udp"
	ICMP Proto = "icmp" // ICMP echo, or ICMPv6 echo for an IPv6 target
)

// maxParallelProbes bounds how many probes Run runs at once.
const maxParallelProbes = 32

// Probe is one expected reachability fact: from namespace From, traffic to
// To (TCP or UDP port Port, or ICMP echo) gets verdict Want.
type Probe struct {
	From  string     // short namespace name
	Src   netip.Addr // source address to bind, optional
	To    netip.Addr
	Proto Proto
	Port  uint16 // ignored for ICMP
	Want  Verdict
	// WantBanner, if set, must equal Result.Banner (for Want == Open): it
	// checks who answered, e.g. Banner(Honeypot, 22).
	WantBanner string
	// Timeout overrides the lab's probe timeout if positive.
	Timeout time.Duration
}

// Target describes where p goes, e.g. "host (192.0.2.2) tcp/22".
func (p Probe) Target() string {
	to := p.To.String()
	if n := NameOf(p.To); n != "" {
		to = n + " (" + to + ")"
	}
	if p.Proto == ICMP {
		return to + " icmp"
	}
	return fmt.Sprintf("%s %s/%d", to, p.Proto, p.Port)
}

// Source describes where p comes from, e.g. "net1" or "net1 [203.0.113.7]".
func (p Probe) Source() string {
	if p.Src.IsValid() {
		return fmt.Sprintf("%s [%v]", p.From, p.Src)
	}
	return p.From
}

// String describes p, e.g. "from net2 to host (192.0.2.2) tcp/22".
func (p Probe) String() string { return "from " + p.Source() + " to " + p.Target() }

// ProbeResult is a probe with its outcome.
type ProbeResult struct {
	Probe  Probe
	Result Result
	// OK reports whether Result matches Probe.Want (and Probe.WantBanner).
	OK bool
}

// String describes r, e.g. `from net2 to host (192.0.2.2) tcp/22: want
// dropped, got open "host:22"`.
func (r ProbeResult) String() string {
	want := r.Probe.Want.String()
	if r.Probe.WantBanner != "" {
		want += fmt.Sprintf(" %q", r.Probe.WantBanner)
	}
	return fmt.Sprintf("%v: want %s, got %v", r.Probe, want, r.Result)
}

// Probe runs one probe.
func (l *Lab) Probe(p Probe) Result {
	switch p.Proto {
	case TCP:
		return l.DialTCPFrom(p.From, p.Src, netip.AddrPortFrom(p.To, p.Port), p.Timeout)
	case UDP:
		return l.DialUDPFrom(p.From, p.Src, netip.AddrPortFrom(p.To, p.Port), p.Timeout)
	case ICMP:
		return l.PingFrom(p.From, p.Src, p.To, p.Timeout)
	}
	return Result{Verdict: Failed, Err: fmt.Errorf("could not run probe: unknown protocol %q", p.Proto)}
}

// Run runs probes concurrently (at most 32 at a time) and returns their
// results in the same order.
func (l *Lab) Run(probes []Probe) []ProbeResult {
	out := make([]ProbeResult, len(probes))
	sem := make(chan struct{}, maxParallelProbes)
	var wg sync.WaitGroup
	for i, p := range probes {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r := l.Probe(p)
			ok := r.Verdict == p.Want && (p.WantBanner == "" || r.Banner == p.WantBanner)
			out[i] = ProbeResult{Probe: p, Result: r, OK: ok}
		})
	}
	wg.Wait()
	return out
}

// Check runs probes (see Run), reports every mismatch as a test error and,
// if there was one, logs the whole table. It returns the results.
func (l *Lab) Check(tb TB, probes []Probe) []ProbeResult {
	tb.Helper()
	results := l.Run(probes)
	failed := false
	for _, r := range results {
		if !r.OK {
			failed = true
			tb.Errorf("%v", r)
		}
	}
	if failed {
		tb.Logf("probe results:\n%s", FormatTable(results))
	}
	return results
}

// FormatTable renders results as an aligned text table with one row per
// probe and a final column that is "ok" or "FAIL".
func FormatTable(results []ProbeResult) string {
	var sb strings.Builder
	w := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "FROM\tTO\tPROBE\tWANT\tGOT\tDETAIL\tTOOK\tRESULT")
	for _, r := range results {
		to := r.Probe.To.String()
		if n := NameOf(r.Probe.To); n != "" {
			to = n + " " + to
		}
		probe := string(r.Probe.Proto)
		if r.Probe.Proto != ICMP {
			probe = fmt.Sprintf("%s/%d", r.Probe.Proto, r.Probe.Port)
		}
		want := r.Probe.Want.String()
		if r.Probe.WantBanner != "" {
			want += " " + r.Probe.WantBanner
		}
		detail := r.Result.Banner
		if detail == "" && r.Result.Err != nil {
			detail = r.Result.Err.Error()
		}
		mark := "ok"
		if !r.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Probe.Source(), to, probe, want,
			r.Result.Verdict, detail, r.Result.Took.Round(100*time.Microsecond), mark)
	}
	_ = w.Flush()
	return sb.String()
}
