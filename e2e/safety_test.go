package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seawall/seawall/internal/netlab"
)

// This file holds the safety tests: what seawall does to the kernel is
// exactly what it promises (plan == apply), all-or-nothing (no packet sees
// a half-applied ruleset), nothing for an invalid policy, nothing outside
// table inet seawall, undone by the kernel itself when a confirm window
// expires, and never a lockout of the SSH session seawall runs from.

// sfFastProbe is the timeout of probes expected to be dropped: the lab's
// links answer within microseconds, so a quarter second of silence is a
// drop.
const sfFastProbe = 250 * time.Millisecond

// sfNoSSH clears SSH_CONNECTION for a seawall run, so that a test run from an
// SSH session does not trip the lockout guard on the lab's addresses.
const sfNoSSH = "SSH_CONNECTION="

// sfRun runs seawall with SSH_CONNECTION cleared (env may set it again: the
// last entry wins) and returns combined output and exit code.
func (w *world) sfRun(env []string, args ...string) (string, int) {
	w.t.Helper()
	return w.seawall(append([]string{sfNoSSH}, env...), args...)
}

// sfMust runs seawall (see sfRun) and fails the test unless it exits 0.
func (w *world) sfMust(args ...string) string {
	w.t.Helper()
	out, code := w.sfRun(nil, args...)
	if code != 0 {
		w.t.Fatalf("seawall %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// sfPut writes the policy and applies it (see sfMust).
func (w *world) sfPut(yaml string) string {
	w.t.Helper()
	w.writePolicy(yaml)
	return w.sfMust("apply")
}

// sfStdout runs seawall and returns its standard output alone; it fails the
// test unless seawall exits 0.
func (w *world) sfStdout(args ...string) string {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	argv := append([]string{seawallBin, "-c", w.policy, "--state-dir", filepath.Join(w.dir, "state")}, args...)
	cmd := w.lab.Command(ctx, netlab.Host, argv...)
	cmd.Env = append(os.Environ(), sfNoSSH, noDocker)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		w.t.Fatalf("seawall %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// sfWriteFile writes a file of the world's directory.
func (w *world) sfWriteFile(name, content string) string {
	w.t.Helper()
	path := filepath.Join(w.dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		w.t.Fatal(err)
	}
	return path
}

// sfNftMay runs nft in a namespace and returns its output and error.
func (w *world) sfNftMay(ns string, args ...string) (string, error) {
	return w.lab.Exec(context.Background(), ns, append([]string{"nft"}, args...)...)
}

// sfHasTable reports whether table inet seawall exists in the host namespace.
func (w *world) sfHasTable() bool {
	w.t.Helper()
	out := w.nft(netlab.Host, "list", "tables")
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == "table inet seawall" {
			return true
		}
	}
	return false
}

// sfFull is the host's whole ruleset with counters and handles: any change
// to the kernel objects, even a re-send of the same rules, shows in it.
func (w *world) sfFull() string {
	w.t.Helper()
	return w.nft(netlab.Host, "-a", "list", "ruleset")
}

// sfObjects is the host's ruleset with handles but without counters. Every
// change seawall can make to the kernel shows in it: re-created rules,
// chains, sets and tables get new handles, and element updates change the
// listed elements. It is used where counters would only add noise from
// unrelated traffic (a refused apply must not touch any kernel object).
func (w *world) sfObjects() string {
	w.t.Helper()
	return w.nft(netlab.Host, "-s", "-a", "list", "ruleset")
}

// sfQuiet waits until the host's ruleset listing (with counters) has not
// changed for 1.5 s, so that byte-for-byte comparisons are not upset by the
// lab's own start-up traffic: right after links and addresses come up the
// kernel sends unsolicited IPv6 MLD and IPv4 IGMP reports, repeated at
// random times within the 1 s unsolicited report interval.
func (w *world) sfQuiet() {
	w.t.Helper()
	const calm = 1500 * time.Millisecond
	prev, since := w.sfFull(), time.Now()
	start := time.Now()
	eventually(w.t, 10*time.Second, "host ruleset counters to settle", func() bool {
		if cur := w.sfFull(); cur != prev {
			prev, since = cur, time.Now()
		}
		return time.Since(since) >= calm
	})
	w.t.Logf("host ruleset quiet after %v", time.Since(start).Round(time.Millisecond))
}

// sfWaitProbes runs probes until all get their wanted verdicts, and fails
// with the last table when that does not happen within the deadline. It
// returns how long it took.
func (w *world) sfWaitProbes(within time.Duration, what string, probes []netlab.Probe) time.Duration {
	w.t.Helper()
	start := time.Now()
	for {
		res := w.lab.Run(probes)
		ok := true
		for _, r := range res {
			ok = ok && r.OK
		}
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > within {
			w.t.Fatalf("%s: not within %v; last probes:\n%s", what, within, netlab.FormatTable(res))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sfTCP is a TCP probe from ns to the host (IPv4 or IPv6) with a short
// timeout.
func sfTCP(from string, ipv int, port uint16, want netlab.Verdict) netlab.Probe {
	return netlab.Probe{From: from, To: netlab.Addr(netlab.Host, ipv), Proto: netlab.TCP, Port: port, Want: want, Timeout: sfFastProbe}
}

// sfBoth is the probe for both IP versions.
func sfBoth(from string, port uint16, want netlab.Verdict) []netlab.Probe {
	return []netlab.Probe{sfTCP(from, 4, port, want), sfTCP(from, 6, port, want)}
}

// sfLineDiff shows the first region where two listings differ.
func sfLineDiff(want, got string) string {
	a, b := strings.Split(want, "\n"), strings.Split(got, "\n")
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	ea, eb := len(a), len(b)
	for ea > i && eb > i && a[ea-1] == b[eb-1] {
		ea--
		eb--
	}
	from := max(0, i-3)
	var sb strings.Builder
	fmt.Fprintf(&sb, "first difference at line %d:\n", i+1)
	for k := from; k < i; k++ {
		fmt.Fprintf(&sb, "  %s\n", a[k])
	}
	for k := i; k < ea && k < i+40; k++ {
		fmt.Fprintf(&sb, "- %s\n", a[k])
	}
	for k := i; k < eb && k < i+40; k++ {
		fmt.Fprintf(&sb, "+ %s\n", b[k])
	}
	return sb.String()
}

// sfBlocks splits an nft listing into its top-level objects (a table's sets
// and chains), each as its text, in listing order.
func sfBlocks(listing string) (names []string, bodies map[string]string) {
	bodies = map[string]string{}
	var name string
	var body strings.Builder
	for _, l := range strings.Split(listing, "\n") {
		if f := strings.Fields(l); len(f) >= 2 && (f[0] == "set" || f[0] == "chain" || f[0] == "map") && strings.HasPrefix(l, "\t") && !strings.HasPrefix(l, "\t\t") {
			name = f[0] + " " + f[1]
			names = append(names, name)
			body.Reset()
		}
		if name != "" {
			body.WriteString(l + "\n")
			bodies[name] = body.String()
		}
		if strings.TrimSpace(l) == "}" && strings.HasPrefix(l, "\t}") {
			name = ""
		}
	}
	return names, bodies
}

// sfDescribeDiff explains how two listings differ: only in the order of
// their sets and chains (it lists both orders), or in the contents of some
// of them (for sets: the elements only one side has).
func sfDescribeDiff(want, got string) string {
	wn, wb := sfBlocks(want)
	gn, gb := sfBlocks(got)
	var sb strings.Builder
	if strings.Join(wn, ",") != strings.Join(gn, ",") {
		fmt.Fprintf(&sb, "sets and chains in a different order:\n  plan:  %s\n  apply: %s\n",
			strings.Join(wn, ", "), strings.Join(gn, ", "))
	}
	for _, n := range wn {
		switch {
		case gb[n] == "":
			fmt.Fprintf(&sb, "%s: missing after apply\n", n)
		case wb[n] != gb[n] && strings.HasPrefix(n, "set "):
			only := func(a, b string) []string {
				in := map[string]bool{}
				for _, e := range sfElements(b) {
					in[e] = true
				}
				var out []string
				for _, e := range sfElements(a) {
					if !in[e] {
						out = append(out, e)
					}
				}
				return out
			}
			fmt.Fprintf(&sb, "%s: contents differ: only in plan: %v; only after apply: %v\n", n, only(wb[n], gb[n]), only(gb[n], wb[n]))
		case wb[n] != gb[n]:
			fmt.Fprintf(&sb, "%s: differs (- plan, + apply):\n%s", n, sfLineDiff(wb[n], gb[n]))
		}
	}
	for _, n := range gn {
		if wb[n] == "" {
			fmt.Fprintf(&sb, "%s: only after apply\n", n)
		}
	}
	if sb.Len() == 0 {
		return "(- plan, + apply)\n" + sfLineDiff(want, got)
	}
	return sb.String()
}

// sfElements returns the elements of a set's listing.
func sfElements(set string) []string {
	_, rest, ok := strings.Cut(set, "elements = {")
	if !ok {
		return nil
	}
	rest, _, _ = strings.Cut(rest, "}")
	var out []string
	for _, e := range strings.Split(rest, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// sfFirstLine is the first line of s.
func sfFirstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// sfReadTestdata reads a policy of the compiler's golden tests.
func sfReadTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "internal", "compile", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sfBigSetFile returns a set file with n entries: single IPv4 and IPv6
// addresses and CIDRs that do not touch (so they stay n separate kernel
// elements), plus a few adjacent and overlapping ones that seawall merges,
// comments and blank lines.
func sfBigSetFile(n int) string {
	var sb strings.Builder
	sb.WriteString("# generated blocklist\n\n")
	extra := []string{"10.200.0.0/25", "10.200.0.128/25", "10.201.0.0/16", "10.201.7.7", "2001:db8:ee::/49", "2001:db8:ee:8000::/49"}
	for _, e := range extra {
		sb.WriteString(e + "   # merged by seawall\n")
	}
	for i := 0; len(extra)+i < n; i++ {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&sb, "198.18.%d.%d\n", i/4/100, (i/4%100)*2+1)
		case 1:
			fmt.Fprintf(&sb, "100.%d.%d.0/24\n", 64+i/4/100, (i/4%100)*2)
		case 2:
			fmt.Fprintf(&sb, "2001:db8:%x::/48\n", 0x100+(i/4)*2)
		case 3:
			fmt.Fprintf(&sb, "2001:db8:2:ff::%x\n", 0x1000+(i/4)*2)
		}
	}
	return sb.String()
}

// sfBigPolicy uses a set read from big.txt in rules of several chains.
const sfBigPolicy = `version: 1
groups:
  office: [10.137.0.0/24, "2001:db8:1::/64"]
sets:
  small:
    entries: [192.0.2.77, "2001:db8::77"]
  big:
    files: [big.txt]
host:
  policy: {input: drop, output: accept, forward: drop}
  input:
    - deny: any
      from: big
    - drop: any
      from: small
    - allow: ssh
      from: office
      limit: 4/minute
    - allow: [http, https]
  output:
    - reject: tcp/25
      to: big
  forward:
    - allow: tcp/443
      to: 172.31.0.0/24
`

// TestDifferentialPlanVsApply: the script `seawall plan --format nft`
// prints, loaded with `nft -f` into a namespace without a firewall (lan2),
// gives exactly the kernel ruleset that `seawall apply` gives in the host
// namespace. The listings are compared as text, unnormalised: the netlink
// encoding and the text encoding must produce the same kernel objects,
// including set element merging and a 1000-entry set. The host applies the
// policies one after the other over its previous table (the way operators
// use apply, which exercises the re-apply path that keeps unchanged sets);
// the plan script always replaces the whole table.
func TestDifferentialPlanVsApply(t *testing.T) {
	w := newWorld(t)
	w.sfWriteFile("big.txt", sfBigSetFile(1000))
	// The same policy with a rule edited and the small set changed: the
	// big set is unchanged, so apply keeps it in place.
	bigEdited := strings.Replace(sfBigPolicy, "- allow: [http, https]", "- allow: [http, https, tcp/8443]", 1)
	bigEdited = strings.Replace(bigEdited, "192.0.2.77,", "192.0.2.78,", 1)
	// Each step applies a policy on the host and loads its plan into lan2.
	// tamper, if set, are nft commands run in the host just before the
	// apply: someone changed seawall's sets behind its back (or a stale
	// `nft list ruleset` dump was reloaded); apply must still produce the
	// policy's ruleset. After a failed step the host is reset, so that one
	// difference does not cascade into the following steps.
	steps := []struct {
		name, policy string
		tamper       [][]string
	}{
		{name: "example", policy: sfReadTestdata(t, "example.yaml")},
		{name: "lockdown", policy: sfReadTestdata(t, "lockdown.yaml")},
		{name: "big-set", policy: sfBigPolicy},
		{name: "big-set-again", policy: sfBigPolicy},
		{name: "big-set-edited", policy: bigEdited},
		{name: "big-set-fresh", policy: sfBigPolicy},
		{name: "big-set-tampered", policy: sfBigPolicy, tamper: [][]string{
			{"delete", "element", "inet", "seawall", "big_v4", "{ 198.18.0.1 }"},
			{"add", "element", "inet", "seawall", "small_v4", "{ 192.0.2.99 }"},
		}},
		{name: "example-again", policy: sfReadTestdata(t, "example.yaml")},
	}
	for _, c := range steps {
		w.writePolicy(c.policy)
		script := w.sfStdout("plan", "--format", "nft")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := w.lab.Nft(ctx, netlab.LAN2, script)
		cancel()
		if err != nil {
			t.Fatalf("%s: nft -f of the plan in lan2: %v", c.name, err)
		}
		for _, args := range c.tamper {
			w.nft(netlab.Host, args...)
		}
		w.sfMust("apply")
		want := w.nft(netlab.LAN2, "-s", "list", "ruleset")
		got := w.ruleset()
		if got != want {
			t.Errorf("%s: host ruleset after seawall apply differs from nft -f of seawall plan:\n%s",
				c.name, sfDescribeDiff(want, got))
			w.sfMust("reset")
			continue
		}
		if strings.HasPrefix(c.name, "big-set") && !strings.Contains(got, "198.18.2.") {
			t.Errorf("%s: the listing lacks the big set's entries:\n%s", c.name, got)
		}
		t.Logf("%s: identical (%d lines)", c.name, strings.Count(got, "\n"))
	}
}

// sfCounter counts events from the race sources and from the control
// sources separately.
type sfCounter struct {
	race, control atomic.Int64
}

// sfIsRaceSource reports whether a is an address the prober uses during the
// applies (net1's primary addresses); the control phase uses the blog
// addresses.
func sfIsRaceSource(a netip.Addr) bool {
	a = a.Unmap()
	return a == netlab.Addr(netlab.Net1, 4) || a == netlab.Addr(netlab.Net1, 6)
}

func (c *sfCounter) add(from netip.Addr) {
	if sfIsRaceSource(from) {
		c.race.Add(1)
	} else {
		c.control.Add(1)
	}
}

// sfCountingServers listens on port in the host namespace, TCP and UDP, IPv4
// and IPv6, and counts accepted connections and received datagrams by
// source. They stop when the test ends.
func (w *world) sfCountingServers(port int) (tcpC, udpC *sfCounter) {
	w.t.Helper()
	tcpC, udpC = &sfCounter{}, &sfCounter{}
	var closers []func() error
	var wg sync.WaitGroup
	err := w.lab.InNS(netlab.Host, func() error {
		for _, nw := range []string{"tcp4", "tcp6"} {
			ln, err := net.Listen(nw, fmt.Sprintf(":%d", port))
			if err != nil {
				return err
			}
			closers = append(closers, ln.Close)
			wg.Go(func() {
				for {
					c, err := ln.Accept()
					if errors.Is(err, net.ErrClosed) {
						return
					}
					if err != nil {
						continue
					}
					tcpC.add(c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr())
					c.Close()
				}
			})
		}
		for _, nw := range []string{"udp4", "udp6"} {
			pc, err := net.ListenPacket(nw, fmt.Sprintf(":%d", port))
			if err != nil {
				return err
			}
			closers = append(closers, pc.Close)
			uc := pc.(*net.UDPConn)
			wg.Go(func() {
				buf := make([]byte, 2048)
				for {
					_, from, err := uc.ReadFromUDPAddrPort(buf)
					if errors.Is(err, net.ErrClosed) {
						return
					}
					if err == nil {
						udpC.add(from.Addr())
					}
				}
			})
		}
		return nil
	})
	w.t.Cleanup(func() {
		for _, c := range closers {
			c()
		}
		wg.Wait()
	})
	if err != nil {
		w.t.Fatalf("counting servers: %v", err)
	}
	return tcpC, udpC
}

// sfFloodStats are what a prober did.
type sfFloodStats struct {
	attempts  atomic.Int64 // TCP connects started (SYNs sent)
	connected atomic.Int64 // TCP connections that completed
	datagrams atomic.Int64 // UDP datagrams sent
}

// sfSockaddrOf converts an address and port for unix.Connect and unix.Bind.
func sfSockaddrOf(ap netip.AddrPort) unix.Sockaddr {
	if ap.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}

// sfSynFlood starts TCP connections from namespace ns (bound to srcs[i] for
// dsts[i]) in rounds of batch sockets until ctx ends: each socket gets up to
// roundTime to connect, then all are closed. A socket counts as connected
// when the handshake completed. It returns when ctx ends.
func (w *world) sfSynFlood(ctx context.Context, ns string, srcs []netip.Addr, dsts []netip.AddrPort, batch int, st *sfFloodStats) error {
	const roundTime = 30 * time.Millisecond
	for ctx.Err() == nil {
		fds := make([]int, 0, batch)
		err := w.lab.InNS(ns, func() error {
			for i := range batch {
				dst := dsts[i%len(dsts)]
				fam := unix.AF_INET
				if dst.Addr().Is6() {
					fam = unix.AF_INET6
				}
				fd, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					return err
				}
				fds = append(fds, fd)
			}
			return nil
		})
		closeAll := func() {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}
		if err != nil {
			closeAll()
			return err
		}
		var pending []unix.PollFd
		for i, fd := range fds {
			if err := unix.Bind(fd, sfSockaddrOf(netip.AddrPortFrom(srcs[i%len(srcs)], 0))); err != nil {
				closeAll()
				return fmt.Errorf("bind: %w", err)
			}
			err := unix.Connect(fd, sfSockaddrOf(dsts[i%len(dsts)]))
			switch {
			case errors.Is(err, unix.EINPROGRESS):
				st.attempts.Add(1)
				pending = append(pending, unix.PollFd{Fd: int32(fd), Events: unix.POLLOUT})
			case err == nil:
				st.attempts.Add(1)
				st.connected.Add(1)
			default:
				st.attempts.Add(1) // refused at once: still a probe
			}
		}
		deadline := time.Now().Add(roundTime)
		for len(pending) > 0 {
			left := time.Until(deadline)
			if left <= 0 {
				break
			}
			n, err := unix.Poll(pending, int(left/time.Millisecond)+1)
			if errors.Is(err, unix.EINTR) || n == 0 {
				continue
			}
			if err != nil {
				closeAll()
				return err
			}
			rest := pending[:0]
			for _, p := range pending {
				if p.Revents == 0 {
					rest = append(rest, p)
					continue
				}
				soErr, _ := unix.GetsockoptInt(int(p.Fd), unix.SOL_SOCKET, unix.SO_ERROR)
				if _, perr := unix.Getpeername(int(p.Fd)); soErr == 0 && perr == nil {
					st.connected.Add(1)
				}
			}
			pending = rest
		}
		closeAll()
	}
	return nil
}

// sfUDPBlast sends datagrams from namespace ns (from srcs[i] to dsts[i])
// until ctx ends, a few every half millisecond.
func (w *world) sfUDPBlast(ctx context.Context, ns string, srcs []netip.Addr, dsts []netip.AddrPort, st *sfFloodStats) error {
	conns := make([]*net.UDPConn, len(dsts))
	err := w.lab.InNS(ns, func() error {
		for i := range dsts {
			c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(srcs[i], 0)))
			if err != nil {
				return err
			}
			conns[i] = c
		}
		return nil
	})
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err != nil {
		return err
	}
	tick := time.NewTicker(500 * time.Microsecond)
	defer tick.Stop()
	msg := []byte("seawall e2e atomicity\n")
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		for range 2 {
			for i, c := range conns {
				if _, err := c.WriteToUDPAddrPort(msg, dsts[i]); err == nil {
					st.datagrams.Add(1)
				}
			}
		}
	}
}

// sfFlood runs sfSynFlood (several workers) and sfUDPBlast from ns until the
// returned stop function is called; stop waits for them and reports the
// first error.
func (w *world) sfFlood(ns string, srcs []netip.Addr, port uint16) (*sfFloodStats, func() error) {
	st := &sfFloodStats{}
	ctx, cancel := context.WithCancel(context.Background())
	dsts := []netip.AddrPort{netlab.AddrPort(netlab.Host, 4, port), netlab.AddrPort(netlab.Host, 6, port)}
	var wg sync.WaitGroup
	const workers = 2
	errs := make([]error, workers+1)
	for i := range workers {
		wg.Go(func() { errs[i] = w.sfSynFlood(ctx, ns, srcs, dsts, 16, st) })
	}
	wg.Go(func() { errs[workers] = w.sfUDPBlast(ctx, ns, srcs, dsts, st) })
	var once sync.Once
	stop := func() error {
		once.Do(func() { cancel(); wg.Wait() })
		return errors.Join(errs...)
	}
	w.t.Cleanup(func() { stop() })
	return st, stop
}

// sfAtomicA and sfAtomicB both deny tcp/9 and udp/9 (explicitly and by the
// input policy) but differ elsewhere: deny mode, open ports, their own
// sets, a group; they share one unchanged set, which apply keeps in place
// while it replaces everything else.
const sfAtomicA = `version: 1
sets:
  shared:
    entries: [198.51.100.0/24, "2001:db8:99::/48"]
  only_a:
    entries: [192.0.2.200, "2001:db8::200"]
host:
  deny: drop
  input:
    - deny: [tcp/9, udp/9]
    - deny: any
      from: [shared, only_a]
    - allow: [ssh, http]
`

const sfAtomicB = `version: 1
groups:
  office: [10.137.0.0/24, "2001:db8:1::/64"]
sets:
  shared:
    entries: [198.51.100.0/24, "2001:db8:99::/48"]
  only_b:
    entries: [192.0.2.0/28, 198.18.0.0/15, "2001:db8:77::/48"]
host:
  deny: reject
  input:
    - allow: [https, tcp/8080]
    - allow: ssh
      from: office
    - deny: any
      from: only_b
    - reject: tcp/9
    - drop: udp/9
    - deny: any
      from: shared
`

// TestAtomicity: 200 applies alternating between two policies that both
// deny port 9, while net1 keeps opening TCP connections to host:9 (IPv4
// and IPv6, short timeouts, many at once) and blasting UDP datagrams at
// host:9. If any apply ever left a moment without the table (or with a
// half-built one), the host's counting servers on port 9 would see a
// connection or a datagram. A control phase from another source address,
// before any seawall table exists, shows the same prober and servers do
// detect an open port.
func TestAtomicity(t *testing.T) {
	w := newWorld(t)
	tcpC, udpC := w.sfCountingServers(9)
	blog := []netip.Addr{netlab.Addr(netlab.Blog, 4), netlab.Addr(netlab.Blog, 6)}
	net1 := []netip.Addr{netlab.Addr(netlab.Net1, 4), netlab.Addr(netlab.Net1, 6)}

	// Control: no seawall table yet, port 9 is open, the prober sees it.
	ctl, stopCtl := w.sfFlood(netlab.Net1, blog, 9)
	eventually(t, 5*time.Second, "control: the prober connects to an open port 9", func() bool {
		return ctl.connected.Load() >= 20 && tcpC.control.Load() >= 20 && udpC.control.Load() >= 20
	})
	if err := stopCtl(); err != nil {
		t.Fatalf("control prober: %v", err)
	}
	if tcpC.race.Load() != 0 || udpC.race.Load() != 0 {
		t.Fatal("the servers counted race sources during the control phase: the source classification is broken")
	}
	t.Logf("control (no firewall): %d of %d TCP probes connected, server accepted %d, received %d of %d datagrams",
		ctl.connected.Load(), ctl.attempts.Load(), tcpC.control.Load(), udpC.control.Load(), ctl.datagrams.Load())

	pathA := w.sfWriteFile("a.yaml", sfAtomicA)
	pathB := w.sfWriteFile("b.yaml", sfAtomicB)
	wa := &world{t: t, lab: w.lab, dir: w.dir, policy: pathA}
	wb := &world{t: t, lab: w.lab, dir: w.dir, policy: pathB}
	wa.sfMust("apply")
	w.lab.Check(t, []netlab.Probe{sfTCP(netlab.Net2, 4, 9, netlab.Dropped), sfTCP(netlab.Net2, 6, 9, netlab.Dropped)})

	st, stop := w.sfFlood(netlab.Net1, net1, 9)
	eventually(t, 5*time.Second, "the prober to start", func() bool {
		return st.attempts.Load() >= 200 && st.datagrams.Load() >= 200
	})
	attempts0, datagrams0 := st.attempts.Load(), st.datagrams.Load()
	const applies = 200
	start := time.Now()
	for i := range applies {
		ww := wb
		if i%2 == 1 {
			ww = wa
		}
		if out, code := ww.sfRun(nil, "apply"); code != 0 {
			stop()
			t.Fatalf("apply %d (%s): exit %d\n%s", i+1, filepath.Base(ww.policy), code, out)
		}
	}
	took := time.Since(start)
	attempts, datagrams := st.attempts.Load()-attempts0, st.datagrams.Load()-datagrams0
	if err := stop(); err != nil {
		t.Fatalf("prober: %v", err)
	}
	t.Logf("%d applies took %v (%v each); meanwhile net1 started %d TCP connections and sent %d UDP datagrams to host:9",
		applies, took.Round(time.Millisecond), (took / applies).Round(time.Microsecond), attempts, datagrams)

	if n := st.connected.Load(); n != 0 {
		t.Errorf("%d TCP connections from net1 to host:9 completed during the applies", n)
	}
	if n := tcpC.race.Load(); n != 0 {
		t.Errorf("the host's TCP server on port 9 accepted %d connections from net1 during the applies", n)
	}
	if n := udpC.race.Load(); n != 0 {
		t.Errorf("the host's UDP server on port 9 received %d datagrams from net1 during the applies", n)
	}
	// The test could fail only if probes were in flight during the applies:
	// at least 5 TCP and 5 UDP probes per apply.
	if attempts < 5*applies || datagrams < 5*applies {
		t.Errorf("too few probes during the applies to show anything: %d TCP, %d UDP", attempts, datagrams)
	}
	// The last apply was policy A's: its own behaviour is in force.
	w.lab.Check(t, []netlab.Probe{sfTCP(netlab.Net2, 4, 9, netlab.Dropped), sfTCP(netlab.Net2, 6, 9, netlab.Dropped)})
}

// sfPositionRe finds file:line:col positions in error messages.
var sfPositionRe = regexp.MustCompile(`seawall\.yaml:(\d+):(\d+)`)

// TestInvalidPolicyLeavesKernelUnchanged: after a good policy is applied
// (and has counted traffic), each broken policy makes `seawall apply` exit
// 1 with an error that points at the mistake (seawall.yaml:LINE:COL), and
// the host's ruleset — with handles, so that even a re-send of the same
// table would show — is byte-for-byte what it was. (Counters are left out:
// IPv6 neighbour discovery moves them at any moment.)
func TestInvalidPolicyLeavesKernelUnchanged(t *testing.T) {
	w := newWorld(t)
	w.serve(netlab.Host, 80)
	w.sfWriteFile("blocked.txt", "203.0.113.12\n2001:db8:2::12\n")
	good := `version: 1
groups:
  office: [10.137.0.0/24, "2001:db8:1::/64"]
sets:
  blocked:
    files: [blocked.txt]
host:
  input:
    - deny: any
      from: blocked
    - allow: ssh
      from: office
    - allow: http
`
	w.sfPut(good)
	// Traffic, so that counters are not all zero and a re-apply (which
	// resets them) would show.
	w.lab.Check(t, append(sfBoth(netlab.Net2, 80, netlab.Open), sfBoth(netlab.Net3, 80, netlab.Dropped)...))
	w.sfQuiet()

	cases := []struct {
		name, policy, pos string
	}{
		{"unknown key", "version: 1\nhost:\n  input:\n    - allow: http\n      form: 10.0.0.1\n", "5:7"},
		{"bad address", "version: 1\nhost:\n  input:\n    - allow: http\n      from: 10.0.0.256\n", "5:13"},
		{"unknown group", "version: 1\ngroups:\n  office: [10.137.0.0/24]\nhost:\n  input:\n    - allow: ssh\n      from: ofice\n", "7:13"},
		{"yaml syntax", "version: 1\nhost: [input\n", "2:7"},
		{"bad port", "version: 1\nhost:\n  input:\n    - allow: tcp/65536\n", "4:14"},
		{"port range reversed", "version: 1\nhost:\n  input:\n    - allow: ssh\n    - allow: tcp/90-80\n", "5:14"},
	}
	for _, c := range cases {
		w.writePolicy(c.policy)
		before := w.sfObjects()
		out, code := w.sfRun(nil, "apply")
		after := w.sfObjects()
		if code != 1 {
			t.Errorf("%s: seawall apply exit %d, want 1\n%s", c.name, code, out)
		}
		if m := sfPositionRe.FindStringSubmatch(out); m == nil {
			t.Errorf("%s: the error does not point at seawall.yaml:LINE:COL:\n%s", c.name, out)
		} else if got := m[1] + ":" + m[2]; got != c.pos {
			t.Errorf("%s: the error points at seawall.yaml:%s, want seawall.yaml:%s:\n%s", c.name, got, c.pos, out)
		}
		if after != before {
			t.Errorf("%s: the kernel ruleset changed although apply failed:\n%s", c.name, sfLineDiff(before, after))
		}
		t.Logf("%s: exit %d: %s", c.name, code, sfFirstLine(out))
	}

	// A bad line in a set file: the error points into the set file, and
	// the kernel keeps the set's old contents.
	w.writePolicy(good)
	setFile := w.sfWriteFile("blocked.txt", "203.0.113.12\n2001:db8:2::12 # ok\n203.0.113.300\n")
	before := w.sfObjects()
	out, code := w.sfRun(nil, "apply")
	if after := w.sfObjects(); after != before {
		t.Errorf("bad set file: the kernel ruleset changed although apply failed:\n%s", sfLineDiff(before, after))
	}
	if code != 1 || !strings.Contains(out, setFile+":3:1") {
		t.Errorf("bad set file: exit %d, want 1 and an error at %s:3:1:\n%s", code, setFile, out)
	}
	w.lab.Check(t, append(sfBoth(netlab.Net2, 80, netlab.Open), sfBoth(netlab.Net3, 80, netlab.Dropped)...))
}

// sfForeignTables are what other tools put in a host's ruleset: iptables-nft
// (table ip filter, ip nat), firewalld (table inet firewalld, with a set),
// and a table named seawall in another family, which is not seawall's.
const sfForeignTables = `table ip filter {
	chain INPUT {
		type filter hook input priority filter; policy accept;
		tcp dport 5555 counter packets 0 bytes 0 accept comment "foreign rule"
	}
	chain DOCKER-USER {
		counter return
	}
}
table inet firewalld {
	set blocklist {
		type ipv4_addr
		flags interval
		elements = { 198.51.100.0/24, 203.0.113.99 }
	}
	chain filter_INPUT {
		type filter hook input priority filter + 10; policy accept;
		ct state established,related accept
		ip saddr @blocklist tcp dport 6666 drop
	}
}
table ip nat {
	chain PREROUTING {
		type nat hook prerouting priority dstnat; policy accept;
		tcp dport 7777 counter jump DOCKER
	}
	chain DOCKER {
		iifname "dock0" return
	}
	chain POSTROUTING {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 172.31.0.0/24 oifname != "dock0" masquerade
	}
}
table ip seawall {
	chain keep {
		counter
	}
}
`

// TestResetLeavesForeignTables: apply and reset touch table inet seawall
// and nothing else: tables of iptables-nft and firewalld, and a table
// named seawall in family ip, stay byte-for-byte as they were (with
// handles and counters), through apply, re-apply, another policy and
// reset.
func TestResetLeavesForeignTables(t *testing.T) {
	w := newWorld(t)
	if err := w.lab.Nft(context.Background(), netlab.Host, sfForeignTables); err != nil {
		t.Fatal(err)
	}
	w.sfQuiet()
	before := w.sfFull()
	tables := []string{"ip filter", "inet firewalld", "ip nat", "ip seawall"}
	listing := func() map[string]string {
		m := map[string]string{}
		for _, tb := range tables {
			m[tb] = w.nft(netlab.Host, append([]string{"-a", "list", "table"}, strings.Fields(tb)...)...)
		}
		return m
	}
	want := listing()
	check := func(when string) {
		t.Helper()
		got := listing()
		for _, tb := range tables {
			if got[tb] != want[tb] {
				t.Errorf("%s: table %s changed:\n%s", when, tb, sfLineDiff(want[tb], got[tb]))
			}
		}
	}

	w.sfPut(sfReadTestdata(t, "example.yaml"))
	if !w.sfHasTable() {
		t.Fatal("apply did not create table inet seawall")
	}
	check("after apply")
	w.sfMust("apply")
	check("after applying again")
	w.sfPut(sfReadTestdata(t, "lockdown.yaml"))
	check("after applying another policy")

	w.sfMust("reset")
	if w.sfHasTable() {
		t.Error("table inet seawall exists after reset")
	}
	if after := w.sfFull(); after != before {
		t.Errorf("after reset the ruleset is not what it was before seawall (- before, + after):\n%s", sfLineDiff(before, after))
	}
	// Reset with no seawall table is harmless too.
	w.sfMust("reset")
	if after := w.sfFull(); after != before {
		t.Errorf("after a second reset the ruleset changed:\n%s", sfLineDiff(before, after))
	}
}

// Policies of the confirm window tests: A opens port 80, B closes it and
// opens 8080.
const (
	sfConfirmA = `version: 1
host:
  input:
    - allow: [ssh, http]
`
	sfConfirmB = `version: 1
host:
  input:
    - allow: [ssh, tcp/8080]
`
)

// Expected behaviour of A, B and of no seawall table at all, from net2.
var (
	sfBehaviourA    = append(sfBoth(netlab.Net2, 80, netlab.Open), sfBoth(netlab.Net2, 8080, netlab.Dropped)...)
	sfBehaviourB    = append(sfBoth(netlab.Net2, 80, netlab.Dropped), sfBoth(netlab.Net2, 8080, netlab.Open)...)
	sfBehaviourNone = append(sfBoth(netlab.Net2, 80, netlab.Open), sfBoth(netlab.Net2, 8080, netlab.Open)...)
)

// sfSeawallProcesses lists running processes of the binary under test that
// work on this world's policy (other tests run in parallel).
func (w *world) sfSeawallProcesses() []string {
	var out []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		exe, err := os.Readlink(d + "/exe")
		if err != nil || exe != seawallBin {
			continue
		}
		if cmdline, err := os.ReadFile(d + "/cmdline"); err == nil && bytes.Contains(cmdline, []byte(w.dir)) {
			out = append(out, filepath.Base(d))
		}
	}
	return out
}

// sfConfirmWorld is a fresh lab with servers on 80 and 8080.
func sfConfirmWorld(t *testing.T) *world {
	w := newWorld(t)
	w.serve(netlab.Host, 80, 8080)
	return w
}

// TestConfirmRollback: `apply --confirm` puts the new ruleset in force at
// once, and the kernel itself — with no seawall process alive — restores
// the previous one when the window expires unconfirmed; confirm keeps it,
// rollback ends the window at once.
func TestConfirmRollback(t *testing.T) {
	netlab.RequireRoot(t)

	t.Run("expires", func(t *testing.T) {
		t.Parallel()
		w := sfConfirmWorld(t)
		w.sfPut(sfConfirmA)
		listingA := w.ruleset()
		w.lab.Check(t, sfBehaviourA)

		w.writePolicy(sfConfirmB)
		const window = 3 * time.Second
		start := time.Now()
		out := w.sfMust("apply", "--confirm", "3s")
		if !strings.Contains(out, "confirm") {
			t.Errorf("apply --confirm output does not mention the confirm window:\n%s", out)
		}
		w.lab.Check(t, sfBehaviourB)
		if st := w.sfMust("status"); !strings.Contains(st, "confirm window: open") {
			t.Errorf("status during the window does not mention it:\n%s", st)
		}
		// Nobody confirms; no seawall process runs: the kernel switches
		// back to A on its own.
		if ps := w.sfSeawallProcesses(); len(ps) > 0 {
			t.Fatalf("seawall processes are running during the window: %v", ps)
		}
		w.sfWaitProbes(2*window, "A in force again after the window expired", sfBehaviourA)
		if back := time.Since(start); back < window-100*time.Millisecond {
			t.Errorf("A came back %v after apply --confirm 3s: before the deadline", back)
		} else {
			t.Logf("A back in force %v after apply --confirm 3s, with no seawall process running", back.Round(time.Millisecond))
		}
		if ps := w.sfSeawallProcesses(); len(ps) > 0 {
			t.Errorf("seawall processes ran while the kernel rolled back: %v", ps)
		}
		// Nobody touched the table: it still is the composed window table,
		// whose timed confirm_window elements have expired.
		live := w.ruleset()
		if !strings.Contains(live, "chain prev_input") {
			t.Errorf("the window table was replaced, so the kernel did not roll back by itself:\n%s", live)
		}
		if set := w.nft(netlab.Host, "list", "set", "inet", "seawall", "confirm_window"); strings.Contains(set, "elements") {
			t.Errorf("A is in force but set confirm_window still holds elements:\n%s", set)
		}
		if st := w.sfMust("status"); !strings.Contains(st, "closed unconfirmed") {
			t.Errorf("status after the window does not say it closed unconfirmed:\n%s", st)
		}
		// The next apply settles the table: the composed window table is
		// replaced by A alone, exactly as a plain apply of A leaves it.
		w.writePolicy(sfConfirmA)
		out = w.sfMust("apply")
		if !strings.Contains(out, "closed unconfirmed") {
			t.Errorf("apply after the window does not report the expired window:\n%s", out)
		}
		if got := w.ruleset(); got != listingA {
			t.Errorf("after the expired window and apply, the ruleset is not A's:\n%s", sfLineDiff(listingA, got))
		}
		w.lab.Check(t, sfBehaviourA)
	})

	t.Run("confirmed", func(t *testing.T) {
		t.Parallel()
		w := sfConfirmWorld(t)
		w.sfPut(sfConfirmA)
		w.writePolicy(sfConfirmB)
		const window = 3 * time.Second
		start := time.Now()
		w.sfMust("apply", "--confirm", "3s")
		w.lab.Check(t, sfBehaviourB)
		if out := w.sfMust("confirm"); !strings.Contains(out, "confirmed") {
			t.Errorf("confirm output:\n%s", out)
		}
		listingB := w.ruleset()
		if strings.Contains(listingB, "confirm_window") {
			t.Errorf("after confirm the table still holds the window:\n%s", listingB)
		}
		// Time passing is what is under test: wait out the deadline.
		time.Sleep(time.Until(start.Add(window + 500*time.Millisecond)))
		w.lab.Check(t, sfBehaviourB)
		if got := w.ruleset(); got != listingB {
			t.Errorf("the confirmed ruleset changed after the deadline:\n%s", sfLineDiff(listingB, got))
		}
		if st := w.sfMust("status"); strings.Contains(st, "confirm window") {
			t.Errorf("status after confirm still mentions a window:\n%s", st)
		}
	})

	t.Run("no-previous-table", func(t *testing.T) {
		t.Parallel()
		w := sfConfirmWorld(t)
		w.lab.Check(t, sfBehaviourNone)
		w.writePolicy(sfConfirmB)
		const window = 2 * time.Second
		start := time.Now()
		w.sfMust("apply", "--confirm", "2s")
		w.lab.Check(t, sfBehaviourB)
		w.sfWaitProbes(2*window+time.Second, "everything accepted again after the window expired", sfBehaviourNone)
		if back := time.Since(start); back < window-100*time.Millisecond {
			t.Errorf("traffic was accepted again %v after apply --confirm 2s: before the deadline", back)
		}
		// Too late to confirm; that settles the table: seawall's table goes.
		out, code := w.sfRun(nil, "confirm")
		if code != 1 || !strings.Contains(out, "too late") {
			t.Errorf("confirm after the window: exit %d, want 1 and 'too late':\n%s", code, out)
		}
		if w.sfHasTable() {
			t.Errorf("table inet seawall still exists after the expired window (no previous table) was settled:\n%s", w.ruleset())
		}
		w.lab.Check(t, sfBehaviourNone)
	})

	t.Run("rollback", func(t *testing.T) {
		t.Parallel()
		w := sfConfirmWorld(t)
		w.sfPut(sfConfirmA)
		listingA := w.ruleset()
		w.writePolicy(sfConfirmB)
		w.sfMust("apply", "--confirm", "30s")
		w.lab.Check(t, sfBehaviourB)
		if out := w.sfMust("rollback"); !strings.Contains(out, "rolled back") {
			t.Errorf("rollback output:\n%s", out)
		}
		// At once: no polling.
		w.lab.Check(t, sfBehaviourA)
		if got := w.ruleset(); got != listingA {
			t.Errorf("after rollback the ruleset is not A's:\n%s", sfLineDiff(listingA, got))
		}
		out, code := w.sfRun(nil, "confirm")
		if code != 1 || !strings.Contains(out, "no confirm window") {
			t.Errorf("confirm after rollback: exit %d, want 1 and 'no confirm window':\n%s", code, out)
		}
	})

	t.Run("confirm-without-window", func(t *testing.T) {
		t.Parallel()
		w := sfConfirmWorld(t)
		out, code := w.sfRun(nil, "confirm")
		if code != 1 || !strings.Contains(out, "no confirm window is open") {
			t.Errorf("confirm with nothing applied: exit %d, want 1:\n%s", code, out)
		}
		w.sfPut(sfConfirmA)
		before := w.sfObjects()
		out, code = w.sfRun(nil, "confirm")
		if code != 1 || !strings.Contains(out, "no confirm window is open") {
			t.Errorf("confirm after a plain apply: exit %d, want 1:\n%s", code, out)
		}
		if after := w.sfObjects(); after != before {
			t.Errorf("a refused confirm changed the kernel:\n%s", sfLineDiff(before, after))
		}
	})
}

// sfSshConn is an SSH_CONNECTION value for a session from client to the
// host's port 22.
func sfSshConn(client string, ipv int) string {
	return fmt.Sprintf("SSH_CONNECTION=%s 50000 %s 22", netlab.Addr(client, ipv), netlab.Addr(netlab.Host, ipv))
}

// TestLockoutGuard: apply refuses a policy that would cut off the SSH
// session it runs from (SSH_CONNECTION), naming the rule responsible,
// unless --accept-risk=lose-ssh; it accepts the same policy from a source
// the policy allows; a honeypot redirect that would catch the session is
// refused too. A refused apply leaves the kernel alone.
func TestLockoutGuard(t *testing.T) {
	w := newWorld(t)
	w.serve(netlab.Host, 22)
	officeOnly := `version: 1
groups:
  office: [10.137.0.0/24, "2001:db8:1::/64"]
host:
  input:
    - allow: ssh
      from: office
    - allow: http
`
	w.writePolicy(officeOnly)
	for _, ipv := range []int{4, 6} {
		before := w.sfObjects()
		out, code := w.sfRun([]string{sfSshConn(netlab.Net2, ipv)}, "apply")
		if code != 1 {
			t.Errorf("IPv%d session from net2, ssh only from office: exit %d, want 1\n%s", ipv, code, out)
		}
		// The refusal names the rule: the policy line that allows ssh
		// only from office.
		if !strings.Contains(out, "seawall.yaml:6:7") || !strings.Contains(out, netlab.Addr(netlab.Net2, ipv).String()) {
			t.Errorf("IPv%d: the refusal does not name the session's source and the rule at seawall.yaml:6:\n%s", ipv, out)
		}
		if after := w.sfObjects(); after != before {
			t.Errorf("IPv%d: a refused apply changed the kernel:\n%s", ipv, sfLineDiff(before, after))
		}
		t.Logf("IPv%d session from net2: exit %d: %s", ipv, code, sfFirstLine(out))
	}
	if w.sfHasTable() {
		t.Fatal("a refused apply created table inet seawall")
	}

	// From the office the same policy is fine, without any flag.
	out, code := w.sfRun([]string{sfSshConn(netlab.LAN1, 4)}, "apply")
	if code != 0 {
		t.Fatalf("session from lan1 (office): exit %d, want 0\n%s", code, out)
	}
	w.lab.Check(t, []netlab.Probe{sfTCP(netlab.LAN1, 4, 22, netlab.Open), sfTCP(netlab.Net2, 4, 22, netlab.Dropped)})
	w.sfMust("reset")

	// With the risk accepted, net2's session may be cut off.
	out, code = w.sfRun([]string{sfSshConn(netlab.Net2, 4)}, "apply", "--accept-risk=lose-ssh")
	if code != 0 {
		t.Fatalf("--accept-risk=lose-ssh: exit %d, want 0\n%s", code, out)
	}
	if !strings.Contains(out, "warning") {
		t.Errorf("--accept-risk=lose-ssh applied without a warning:\n%s", out)
	}
	w.lab.Check(t, []netlab.Probe{sfTCP(netlab.Net2, 4, 22, netlab.Dropped)})

	// A redirect of ssh from outside the office to the honeypot would
	// catch net2's session: refused, naming the redirect's line.
	honeypot := `version: 1
groups:
  office: [10.137.0.0/24, "2001:db8:1::/64"]
host:
  input:
    - allow: ssh
  redirect:
    - port: tcp/22
      not_from: office
      to: 172.31.0.4:22
`
	w.writePolicy(honeypot)
	before := w.sfObjects()
	out, code = w.sfRun([]string{sfSshConn(netlab.Net2, 4)}, "apply")
	if code != 1 || !strings.Contains(out, "redirect") || !strings.Contains(out, "seawall.yaml:8:7") {
		t.Errorf("honeypot redirect catching the session: exit %d, want 1 and the redirect at seawall.yaml:8:\n%s", code, out)
	}
	if after := w.sfObjects(); after != before {
		t.Errorf("a refused apply changed the kernel:\n%s", sfLineDiff(before, after))
	}
	t.Logf("honeypot redirect, session from net2: exit %d: %s", code, sfFirstLine(out))
	// The office is not redirected.
	if out, code := w.sfRun([]string{sfSshConn(netlab.LAN1, 4)}, "apply"); code != 0 {
		t.Errorf("honeypot redirect, session from the office: exit %d, want 0\n%s", code, out)
	}

	// A typo in the flag is a usage error, and applies nothing.
	w.writePolicy(officeOnly)
	before = w.sfObjects()
	out, code = w.sfRun([]string{sfSshConn(netlab.Net2, 4)}, "apply", "--accept-risk=foo")
	if code != 2 {
		t.Errorf("--accept-risk=foo: exit %d, want 2\n%s", code, out)
	}
	if after := w.sfObjects(); after != before {
		t.Errorf("a usage error changed the kernel:\n%s", sfLineDiff(before, after))
	}
}

// TestRaisedRateLimitTakesEffect: a source that hit an SSH rate limit can
// connect again once the operator applies a policy with a higher limit.
// (Raising a limit that locked an admin out is how one recovers; the
// per-source limiter state must not outlive the rule that created it.)
func TestRaisedRateLimitTakesEffect(t *testing.T) {
	w := newWorld(t)
	w.serve(netlab.Host, 22)
	limited := func(rate string) string {
		return `version: 1
groups:
  office: [10.137.0.0/24, "2001:db8:1::/64"]
host:
  input:
    - allow: ssh
      from: office
      limit: ` + rate + "\n"
	}
	w.sfPut(limited("2/minute"))
	lan1 := sfTCP(netlab.LAN1, 4, 22, netlab.Open)
	for i := 1; i <= 2; i++ {
		if r := w.lab.Probe(lan1); r.Verdict != netlab.Open {
			t.Fatalf("lan1 ssh connection %d under 2/minute: %v, want open", i, r)
		}
	}
	if r := w.lab.Probe(lan1); r.Verdict != netlab.Dropped {
		t.Fatalf("lan1 ssh connection 3 under 2/minute: %v, want dropped", r)
	}

	// The operator raises the limit: lan1 is let in again at once.
	w.sfPut(limited("100/minute"))
	w.lab.Check(t, []netlab.Probe{
		sfTCP(netlab.LAN1, 4, 22, netlab.Open),
		sfTCP(netlab.LAN2, 4, 22, netlab.Open),
	})
	if !t.Failed() {
		return
	}
	t.Logf("ruleset after raising the limit (the meter set still holds lan1's element from the old limit):\n%s", w.ruleset())
	// Diagnosis: the same policy applied from scratch lets lan1 in.
	w.sfMust("reset")
	w.sfMust("apply")
	if r := w.lab.Probe(lan1); r.Verdict == netlab.Open {
		t.Logf("after reset and apply of the same policy lan1 connects: the limiter state that the re-apply kept is the cause")
	}
}
