package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seawall/seawall/internal/control"
	"github.com/seawall/seawall/internal/netlab"
	"github.com/seawall/seawall/internal/nft"
)

// This file holds the end-to-end tests of jails (docs/jails.md): `seawall
// daemon` reads a log (a file, or a container's output through a confined
// dockerd), bans the sources that fail maxretry times, and real packets in
// the lab's namespaces show that the attacker's new connections and its
// already-open ones die within milliseconds of the line that tipped it
// over, while other clients keep working; that bans outlive a killed
// daemon and a lost table; and that ban and unban by hand work.

// jlBudget is the latency budget: from the maxretry-th log line to
// the attacker's element in the kernel set, and its new and open
// connections dead.
const jlBudget = 50 * time.Millisecond

// jlPoll is the timeout of one attempt of the latency probers: the lab's
// links answer within a fraction of a millisecond, so an attempt that gets
// no answer within it is a drop (confirmed with a longer wait before it
// counts).
const jlPoll = 10 * time.Millisecond

// jlConfirm is how long a prober waits, after an attempt got no answer
// within jlPoll, before it believes the drop.
const jlConfirm = 300 * time.Millisecond

// The host's ports: ssh has netlab's banner server (for new connections),
// http the test's echo server (for the attacker's open sessions).
const (
	jlSSHPort  = 22
	jlEchoPort = 80
)

// jlPolicy is the host part's policy: ssh and http open, a jail (scope
// all) on the sshd log file logPath.
func jlPolicy(logPath string) string {
	return fmt.Sprintf(`version: 1
host:
  input:
    - allow: [ssh, http]
jails:
  sshd:
    logs: {file: %s}
    filter: sshd
    maxretry: 3
    findtime: 10m
    bantime: 1h
`, logPath)
}

// jlBanned is the element of the kernel set that bans addr: the address
// itself for IPv4, the first address of its /64 for IPv6.
func jlBanned(addr netip.Addr) netip.Addr {
	if addr.Is4() {
		return addr
	}
	return netip.PrefixFrom(addr, 64).Masked().Addr()
}

// jlSet is the kernel set of jail that holds addr's ban.
func jlSet(jail string, addr netip.Addr) string {
	if addr.Is4() {
		return "jail_" + jail + "_v4"
	}
	return "jail_" + jail + "_v6"
}

// jlPrefix is how seawall bans lists addr's ban.
func jlPrefix(addr netip.Addr) string {
	if addr.Is4() {
		return netip.PrefixFrom(addr, 32).String()
	}
	return netip.PrefixFrom(addr, 64).Masked().String()
}

// jlSSHLog appends sshd failures of addr to the log file path, one write
// per line; seq numbers the lines (pids and ports).
type jlSSHLog struct {
	path string
	seq  int
}

func (l *jlSSHLog) fail(t *testing.T, addr netip.Addr, n int) {
	t.Helper()
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for range n {
		l.seq++
		line := fmt.Sprintf("%s lab-host sshd[%d]: Failed password for invalid user admin from %s port %d ssh2\n",
			time.Now().Format(time.Stamp), 4000+l.seq, addr, 40000+l.seq)
		if _, err := f.WriteString(line); err != nil {
			t.Fatal(err)
		}
	}
}

// jlServeEcho starts a TCP server in namespace ns on port: every client
// gets netlab.Banner(ns, port) and then everything it sends back, until
// it closes. It stops when the test ends.
func (w *world) jlServeEcho(ns string, port uint16) {
	w.t.Helper()
	var ln net.Listener
	if err := w.lab.InNS(ns, func() error {
		var err error
		ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		return err
	}); err != nil {
		w.t.Fatalf("echo server on %s:%d: %v", ns, port, err)
	}
	banner := []byte(netlab.Banner(ns, port) + "\n")
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				if _, err := c.Write(banner); err != nil {
					return
				}
				_, _ = io.Copy(c, c)
			})
		}
	})
	w.t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}

// jlConn is an open TCP connection from a lab namespace to an echo server
// (jlServeEcho, or the test image's server with -echo).
type jlConn struct {
	name string
	c    net.Conn
	buf  []byte // received, not yet split into lines
	n    int    // pings sent
}

// jlDial connects from ns to dst and reads the server's banner, which must
// be banner.
func (w *world) jlDial(t *testing.T, ns string, dst netip.AddrPort, banner string) *jlConn {
	t.Helper()
	var c net.Conn
	if err := w.lab.InNS(ns, func() error {
		var err error
		c, err = net.DialTimeout("tcp", dst.String(), 2*time.Second)
		return err
	}); err != nil {
		t.Fatalf("from %s to %v: %v", ns, dst, err)
	}
	t.Cleanup(func() { c.Close() })
	jc := &jlConn{name: fmt.Sprintf("%s → %v", ns, dst), c: c}
	line, err := jc.readLine(time.Now().Add(2 * time.Second))
	if err != nil || line != banner {
		t.Fatalf("%s: banner %q (%v), want %q", jc.name, line, err, banner)
	}
	return jc
}

// readLine returns the next line (without newline) received by deadline.
func (c *jlConn) readLine(deadline time.Time) (string, error) {
	for {
		if i := strings.IndexByte(string(c.buf), '\n'); i >= 0 {
			line := string(c.buf[:i])
			c.buf = c.buf[i+1:]
			return line, nil
		}
		_ = c.c.SetReadDeadline(deadline)
		b := make([]byte, 4096)
		n, err := c.c.Read(b)
		c.buf = append(c.buf, b[:n]...)
		if err != nil && n == 0 {
			return "", err
		}
	}
}

// send writes a line.
func (c *jlConn) send(line string) error {
	_ = c.c.SetWriteDeadline(time.Now().Add(time.Second))
	_, err := io.WriteString(c.c, line+"\n")
	return err
}

// ping sends a numbered line and waits up to timeout for its echo.
func (c *jlConn) ping(timeout time.Duration) error {
	c.n++
	if err := c.send(fmt.Sprintf("ping %d", c.n)); err != nil {
		return err
	}
	return c.await(timeout)
}

// await waits up to timeout for the echo of the last ping, skipping the
// echoes of earlier ones that came late.
func (c *jlConn) await(timeout time.Duration) error {
	want := fmt.Sprintf("ping %d", c.n)
	deadline := time.Now().Add(timeout)
	for {
		line, err := c.readLine(deadline)
		if err != nil {
			return err
		}
		if line == want {
			return nil
		}
	}
}

// jlBanCase is one ban to measure: the source attacker (a namespace)
// reaching dst, its ban element in set, another client that must keep
// reaching dst.
type jlBanCase struct {
	attacker string
	addr     netip.Addr     // the attacker's address
	set      string         // the kernel set of its ban
	dst      netip.AddrPort // where new connections go
	banner   string         // the banner at dst
	open     *jlConn        // the attacker's open connection
	other    string         // a client that is not banned
}

// jlMeasured is what jlMeasureBan saw, each time from the trigger (the
// write of the maxretry-th failure). For the connections, dead is an upper
// bound on when the ban took hold of them: when the first attempt that got
// no answer started, if the element was in the set by then, else when the
// longer attempt that confirmed the drop started; lastOK is when the last
// answered attempt started (a lower bound).
type jlMeasured struct {
	inSet, inSetMiss     time.Duration // first poll that saw the element (its end), last that did not (its start)
	newDead, newLastOK   time.Duration
	openDead, openLastOK time.Duration
	setPolls, dials      int
	pings, hiccups       int
	otherDials           int
}

func (m jlMeasured) String() string {
	return fmt.Sprintf("element in the set after %v (not yet at %v, %d polls); new connections dead after ≤ %v (last answered at %v, %d dials); open connection dead after ≤ %v (last echo at %v, %d pings)",
		m.inSet.Round(10*time.Microsecond), m.inSetMiss.Round(10*time.Microsecond), m.setPolls,
		m.newDead.Round(10*time.Microsecond), m.newLastOK.Round(10*time.Microsecond), m.dials,
		m.openDead.Round(10*time.Microsecond), m.openLastOK.Round(10*time.Microsecond), m.pings)
}

// jlSetConn reads the host's kernel sets over netlink (read-only), for
// polling at sub-millisecond cost. It is closed when the test ends.
func (w *world) jlSetConn(t *testing.T) *nft.Conn {
	t.Helper()
	f, err := os.Open(w.lab.NSPath(netlab.Host))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := nft.OpenNS(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// jlInSet reports whether the live set holds addr (false if the set or
// table is missing).
func jlInSet(c *nft.Conn, set string, addr netip.Addr) bool {
	els, err := c.SetAddrs(set)
	if err != nil {
		return false
	}
	for _, e := range els {
		if e.First.Compare(addr) <= 0 && addr.Compare(e.Last) <= 0 {
			return true
		}
	}
	return false
}

// jlMeasureBan watches, all at once: the kernel set for the attacker's
// element, new connections from the attacker, echoes on its open
// connection and new connections of the other client. Once each of the
// first three has made an attempt that worked, it calls trigger (which
// writes the maxretry-th failure), and it returns when the attacker is
// cut off on all three counts, or after 5 s.
func (w *world) jlMeasureBan(t *testing.T, sets *nft.Conn, bc jlBanCase, trigger func()) jlMeasured {
	t.Helper()
	const limit = 5 * time.Second
	elem := jlBanned(bc.addr)
	if jlInSet(sets, bc.set, elem) {
		t.Fatalf("%v is in %s before its maxretry-th failure", elem, bc.set)
	}
	// Each watcher records when its last good attempt started, when its
	// first bad one did and, for the probers, when the longer attempt
	// that confirmed it started (zero: none within the limit).
	type watch struct {
		lastOK, firstBad, confirmed time.Time
		n, hiccups                  int
		bad                         string
	}
	var (
		set, dial, echo watch
		ready, done     sync.WaitGroup
	)
	begin := time.Now()
	// run calls attempt until it reports false (confirmed by confirm, if
	// given) or the limit passes.
	run := func(wt *watch, attempt func() (bool, string), confirm func() bool) {
		defer done.Done()
		readied := false
		defer func() {
			if !readied {
				ready.Done()
			}
		}()
		for time.Since(begin) < limit {
			start := time.Now()
			ok, why := attempt()
			wt.n++
			if !ok && confirm != nil {
				at := time.Now()
				if confirm() {
					wt.hiccups++
					ok = true
				} else {
					wt.confirmed = at
				}
			}
			if !ok {
				wt.firstBad, wt.bad = start, why
				return
			}
			wt.lastOK = start
			if !readied {
				readied = true
				ready.Done()
			}
		}
	}
	ready.Add(3)
	done.Add(3)
	var setFoundAt time.Time
	go run(&set, func() (bool, string) {
		in := jlInSet(sets, bc.set, elem)
		if in {
			setFoundAt = time.Now()
			return false, "in the set"
		}
		time.Sleep(200 * time.Microsecond)
		return true, ""
	}, nil)
	go run(&dial, func() (bool, string) {
		r := w.lab.DialTCP(bc.attacker, bc.dst, jlPoll)
		time.Sleep(200 * time.Microsecond)
		return r.Verdict == netlab.Open && r.Banner == bc.banner, r.String()
	}, func() bool {
		// No answer within jlPoll: a drop, or a slow moment? A longer
		// attempt tells.
		r := w.lab.DialTCP(bc.attacker, bc.dst, jlConfirm)
		return r.Verdict == netlab.Open
	})
	go run(&echo, func() (bool, string) {
		err := bc.open.ping(jlPoll)
		if err == nil {
			time.Sleep(time.Millisecond)
			return true, ""
		}
		return false, err.Error()
	}, func() bool { return bc.open.await(jlConfirm) == nil })
	// The other client, until the rest is done.
	stop, otherDone := make(chan struct{}), make(chan struct{})
	var otherDials int
	var otherBad []string
	go func() {
		defer close(otherDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			r := w.lab.DialTCP(bc.other, bc.dst, sfFastProbe)
			time.Sleep(2 * time.Millisecond)
			otherDials++
			if r.Verdict != netlab.Open || r.Banner != bc.banner {
				otherBad = append(otherBad, fmt.Sprintf("%s to %v at +%v: %v", bc.other, bc.dst, time.Since(begin).Round(time.Millisecond), r))
			}
		}
	}()

	ready.Wait()
	t0 := time.Now()
	trigger()
	done.Wait()
	close(stop)
	<-otherDone

	// When did a prober's attempts start failing because of the ban? If
	// the element was in the set when its first failing attempt started,
	// then; otherwise that attempt may have been a slow moment that the
	// ban overtook, and only the longer attempt that confirmed it tells.
	dead := func(wt *watch) time.Time {
		if !setFoundAt.After(wt.firstBad) {
			return wt.firstBad
		}
		return wt.confirmed
	}
	for _, x := range []struct {
		what string
		at   time.Time
		wt   *watch
	}{
		{"the element " + elem.String() + " in " + bc.set, setFoundAt, &set},
		{"new connections from " + bc.attacker + " failing", dead(&dial), &dial},
		{bc.open.name + " failing", dead(&echo), &echo},
	} {
		switch {
		case x.wt.firstBad.IsZero():
			t.Fatalf("%s: not within %v of the maxretry-th failure (%d attempts)", x.what, limit, x.wt.n)
		case x.at.Before(t0):
			t.Fatalf("%s before the maxretry-th failure: %s", x.what, x.wt.bad)
		}
	}
	if len(otherBad) > 0 {
		t.Errorf("the other client %s lost access while %s was banned (%d of %d dials):\n%s",
			bc.other, bc.attacker, len(otherBad), otherDials, strings.Join(otherBad, "\n"))
	}
	return jlMeasured{
		inSet: setFoundAt.Sub(t0), inSetMiss: set.lastOK.Sub(t0), setPolls: set.n,
		newDead: dead(&dial).Sub(t0), newLastOK: dial.lastOK.Sub(t0), dials: dial.n,
		openDead: dead(&echo).Sub(t0), openLastOK: echo.lastOK.Sub(t0), pings: echo.n, hiccups: echo.hiccups + dial.hiccups,
		otherDials: otherDials,
	}
}

// jlJails returns `seawall jails --json`.
func (w *world) jlJails() []control.JailStatus {
	w.t.Helper()
	var js []control.JailStatus
	out := w.sfStdout("jails", "--json")
	if err := json.Unmarshal([]byte(out), &js); err != nil {
		w.t.Fatalf("seawall jails --json: %v\n%s", err, out)
	}
	return js
}

// jlBans returns `seawall bans --json` (from the daemon, or the store
// when no daemon runs).
func (w *world) jlBans() []control.Ban {
	w.t.Helper()
	var bans []control.Ban
	out := w.sfStdout("bans", "--json")
	if err := json.Unmarshal([]byte(out), &bans); err != nil {
		w.t.Fatalf("seawall bans --json: %v\n%s", err, out)
	}
	return bans
}

// jlFindBan returns the ban of prefix in bans.
func jlFindBan(bans []control.Ban, prefix string) (control.Ban, bool) {
	for _, b := range bans {
		if b.Prefix == prefix {
			return b, true
		}
	}
	return control.Ban{}, false
}

// jlWaitFailures waits until the jail's log sources have counted want
// failures in all.
func (w *world) jlWaitFailures(t *testing.T, jail string, want int64) {
	t.Helper()
	var got int64
	eventually(t, 5*time.Second, fmt.Sprintf("jail %s to count %d failures", jail, want), func() bool {
		got = 0
		for _, j := range w.jlJails() {
			if j.Name == jail {
				for _, l := range j.Logs {
					got += l.Failures
				}
			}
		}
		return got >= want
	})
	if got != want {
		t.Fatalf("jail %s counted %d failures, want %d", jail, got, want)
	}
}

// jlExpires returns the remaining time nft lists for addr's element of a
// set listing, and whether the element is there.
func jlExpires(t *testing.T, listing string, addr netip.Addr) (time.Duration, bool) {
	t.Helper()
	re := regexp.MustCompile(`(?:^|[\s{,])` + regexp.QuoteMeta(addr.String()) + `(?:\s+timeout\s+\S+)?\s+expires\s+([0-9a-z.]+)`)
	m := re.FindStringSubmatch(listing)
	if m == nil {
		return 0, false
	}
	d, err := time.ParseDuration(m[1])
	if err != nil {
		t.Fatalf("nft lists expires %q for %v: %v", m[1], addr, err)
	}
	return d, true
}

// jlProbe is a TCP probe from ns to the host.
func jlProbe(from string, ipv int, port uint16, want netlab.Verdict) netlab.Probe {
	p := sfTCP(from, ipv, port, want)
	if want == netlab.Open {
		p.WantBanner = netlab.Banner(netlab.Host, port)
	}
	return p
}

// jlProbes are the TCP probes from ns to the host's ssh and echo ports.
func jlProbes(from string, ipv int, want netlab.Verdict) []netlab.Probe {
	return []netlab.Probe{jlProbe(from, ipv, jlSSHPort, want), jlProbe(from, ipv, jlEchoPort, want)}
}

// TestJails runs a jail (scope all) on an sshd log file in `seawall
// daemon` and checks, with real connections in the lab:
//
//  1. For IPv4 and then IPv6, the maxretry-th failure line of an attacker
//     (net2) puts its address (IPv6: its /64) in the jail's kernel set
//     within 50 ms, and within the same budget its new connections and
//     its already-open connection (an echo session that worked a
//     millisecond before) die; another client (lan1) keeps working all
//     along. The IPv4 ban leaves the attacker's IPv6 session alone; the
//     IPv6 ban takes its whole /64 (net3, a neighbour in it, is cut off
//     over IPv6 but not IPv4).
//  2. kill -9 of the daemon leaves the bans in the kernel (with their
//     timeouts) and the attacker blocked; `seawall bans` reads them from
//     the store. With the table deleted too (a reboot's loss), the daemon
//     started again puts them back with the time they had left.
//  3. `seawall unban` lets the attacker in again at once; `seawall ban
//     ADDR --for 1h` blocks a source by hand and unban lifts it.
func TestJails(t *testing.T) {
	w := newWorld(t)
	w.serve(netlab.Host, jlSSHPort)
	w.jlServeEcho(netlab.Host, jlEchoPort)
	log := &jlSSHLog{path: w.sfWriteFile("auth.log", "")}
	w.writePolicy(jlPolicy(log.path))
	d := w.dmStartDaemon()
	w.dmWaitLog(d, 0, 10*time.Second, "applied policy")
	w.dmWaitLog(d, 0, 5*time.Second, "jail started")
	sets := w.jlSetConn(t)

	const attacker, other, neighbour = netlab.Net2, netlab.LAN1, netlab.Net3
	attacker4, attacker6 := netlab.Addr(attacker, 4), netlab.Addr(attacker, 6)
	if !netip.PrefixFrom(attacker6, 64).Contains(netlab.Addr(neighbour, 6)) || netip.PrefixFrom(attacker6, 64).Contains(netlab.Addr(other, 6)) {
		t.Fatalf("lab plan changed: want %s in %s's /64 and %s outside it", neighbour, attacker, other)
	}

	// Before: everyone gets in; the attacker holds an echo session per
	// IP version.
	var everyone []netlab.Probe
	for _, ns := range []string{attacker, other, neighbour} {
		for _, ipv := range []int{4, 6} {
			everyone = append(everyone, jlProbes(ns, ipv, netlab.Open)...)
		}
	}
	w.lab.Check(t, everyone)
	open := map[int]*jlConn{}
	for _, ipv := range []int{4, 6} {
		open[ipv] = w.jlDial(t, attacker, netlab.AddrPort(netlab.Host, ipv, jlEchoPort), netlab.Banner(netlab.Host, jlEchoPort))
		if err := open[ipv].ping(time.Second); err != nil {
			t.Fatalf("%s: no echo before any failure: %v", open[ipv].name, err)
		}
	}

	// 1. The bans, measured.
	failures := int64(0)
	for _, ipv := range []int{4, 6} {
		addr := netlab.Addr(attacker, ipv)
		elem := jlBanned(addr)
		set := jlSet("sshd", addr)
		log.fail(t, addr, 2)
		failures += 2
		w.jlWaitFailures(t, "sshd", failures)
		m := w.jlMeasureBan(t, sets, jlBanCase{
			attacker: attacker, addr: addr, set: set,
			dst:    netlab.AddrPort(netlab.Host, ipv, jlSSHPort),
			banner: netlab.Banner(netlab.Host, jlSSHPort),
			open:   open[ipv], other: other,
		}, func() { log.fail(t, addr, 1) })
		failures++
		t.Logf("IPv%d: 3rd failure of %v written → %v; the other client (%s) made %d dials, all answered", ipv, addr, m, other, m.otherDials)
		if m.hiccups > 0 {
			t.Logf("IPv%d: %d attempts took longer than %v before the ban (slow moments, not drops)", ipv, m.hiccups, jlPoll)
		}
		for _, c := range []struct {
			what string
			took time.Duration
		}{{"the ban in the kernel set", m.inSet}, {"new connections dead", m.newDead}, {"the open connection dead", m.openDead}} {
			if c.took > jlBudget {
				t.Errorf("IPv%d: %s %v after the maxretry-th failure line, want ≤ %v", ipv, c.what, c.took, jlBudget)
			}
		}

		listing := w.nft(netlab.Host, "list", "set", "inet", "seawall", set)
		left, ok := jlExpires(t, listing, elem)
		if !ok {
			t.Fatalf("nft does not list %v with a timeout in %s:\n%s", elem, set, listing)
		}
		if left > time.Hour || left < 59*time.Minute {
			t.Errorf("%v in %s expires in %v, want just under the bantime 1h", elem, set, left)
		}
		if err := open[ipv].ping(jlConfirm); err == nil {
			t.Errorf("%s still echoes after the ban", open[ipv].name)
		}
		probes := jlProbes(attacker, ipv, netlab.Dropped)
		probes = append(append(probes, jlProbes(other, 4, netlab.Open)...), jlProbes(other, 6, netlab.Open)...)
		if ipv == 4 {
			// The IPv4 ban is the address's alone: the attacker's IPv6
			// session and connections still work, as do its neighbours'.
			if err := open[6].ping(time.Second); err != nil {
				t.Errorf("%s: no echo after the IPv4 ban of %v: %v", open[6].name, attacker4, err)
			}
			probes = append(probes, jlProbes(attacker, 6, netlab.Open)...)
			probes = append(probes, jlProbes(neighbour, 4, netlab.Open)...)
		} else {
			// The IPv6 ban is the /64's: net3 is in it, over IPv6 only.
			probes = append(probes, jlProbes(neighbour, 6, netlab.Dropped)...)
			probes = append(probes, jlProbes(neighbour, 4, netlab.Open)...)
		}
		w.lab.Check(t, probes)
	}
	js := w.jlJails()
	if len(js) != 1 || js[0].CurrentlyBanned != 2 || js[0].TotalBanned != 2 {
		t.Errorf("seawall jails --json: want jail sshd with 2 current bans, 2 in all: %+v", js)
	}

	// While banned, the other client and the attacker's neighbour over
	// IPv4 work; the attacker does not.
	banned := append(append(jlProbes(attacker, 4, netlab.Dropped), jlProbes(attacker, 6, netlab.Dropped)...),
		jlProbes(other, 4, netlab.Open)...)
	banned = append(append(banned, jlProbes(other, 6, netlab.Open)...), jlProbes(neighbour, 4, netlab.Open)...)

	// 2. kill -9: the kernel keeps the bans and their timeouts.
	if err := d.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-d.done
	for _, addr := range []netip.Addr{attacker4, attacker6} {
		listing := w.nft(netlab.Host, "list", "set", "inet", "seawall", jlSet("sshd", addr))
		if _, ok := jlExpires(t, listing, jlBanned(addr)); !ok {
			t.Errorf("after kill -9 of the daemon, %v is not in the kernel with a timeout:\n%s", jlBanned(addr), listing)
		}
	}
	w.lab.Check(t, banned)
	stored := w.jlBans()
	for _, addr := range []netip.Addr{attacker4, attacker6} {
		if b, ok := jlFindBan(stored, jlPrefix(addr)); !ok || b.Jail != "sshd" || b.Origin != "log" || b.Expires == nil {
			t.Errorf("with the daemon down, seawall bans --json does not list %s (jail sshd, from the log, expiring): %+v", jlPrefix(addr), stored)
		}
	}
	t.Logf("daemon killed: bans still in the kernel and the store (%d stored bans)", len(stored))

	// The table lost as well (a reboot): nothing blocks the attacker...
	w.nft(netlab.Host, "delete", "table", "inet", "seawall")
	w.lab.Check(t, jlProbes(attacker, 4, netlab.Open))
	// ...until the daemon starts again and puts the bans back.
	// Polled closely: the table must come back with the bans in it.
	d = w.dmStartDaemon()
	started := time.Now()
	var tableAt, bansAt time.Duration
	for tableAt == 0 || bansAt == 0 {
		if time.Since(started) > 10*time.Second {
			t.Fatalf("the bans not back in the kernel within 10s of the daemon's start (table back: %v)", tableAt != 0)
		}
		_, err := sets.SetAddrs(jlSet("sshd", attacker4))
		in := jlInSet(sets, jlSet("sshd", attacker4), jlBanned(attacker4)) && jlInSet(sets, jlSet("sshd", attacker6), jlBanned(attacker6))
		at := time.Since(started)
		if err == nil && tableAt == 0 {
			tableAt = at
		}
		if in && bansAt == 0 {
			bansAt = at
		}
		time.Sleep(200 * time.Microsecond)
	}
	t.Logf("restarted daemon: table back %v after it started, the bans %v after",
		tableAt.Round(100*time.Microsecond), bansAt.Round(100*time.Microsecond))
	if bansAt > tableAt {
		// The apply that creates the table carries the bans: no moment
		// with the table back and the attacker let in.
		t.Errorf("the table came back %v before its bans", (bansAt - tableAt).Round(100*time.Microsecond))
	}
	for _, addr := range []netip.Addr{attacker4, attacker6} {
		set := jlSet("sshd", addr)
		listing := w.nft(netlab.Host, "list", "set", "inet", "seawall", set)
		left, ok := jlExpires(t, listing, jlBanned(addr))
		// What the ban had left, by the store's record.
		var want time.Duration
		if b, found := jlFindBan(stored, jlPrefix(addr)); found && b.Expires != nil {
			want = time.Until(*b.Expires)
		}
		switch {
		case !ok:
			t.Errorf("after the restart, %v is in %s without a timeout:\n%s", jlBanned(addr), set, listing)
		case left >= time.Hour || left > want+time.Second || left < want-5*time.Second:
			t.Errorf("after the restart, %v in %s expires in %v, want what was left of its hour (%v)", jlBanned(addr), set, left, want.Round(time.Millisecond))
		default:
			t.Logf("after the restart, %v in %s expires in %v (the store says %v)", jlBanned(addr), set, left, want.Round(time.Millisecond))
		}
	}
	w.lab.Check(t, banned)
	bans := w.jlBans()
	for _, addr := range []netip.Addr{attacker4, attacker6} {
		if b, ok := jlFindBan(bans, jlPrefix(addr)); !ok || b.Jail != "sshd" || b.Origin != "log" {
			t.Errorf("seawall bans --json does not list %s (jail sshd, from the log): %+v", jlPrefix(addr), bans)
		}
	}
	js = w.jlJails()
	if len(js) != 1 || js[0].CurrentlyBanned < 1 {
		t.Errorf("seawall jails --json after the restart: want jail sshd with current bans: %+v", js)
	} else {
		t.Logf("after the restart: jail %s: %d currently banned %v", js[0].Name, js[0].CurrentlyBanned, js[0].Banned)
	}

	// 3. Unban lets the attacker in at once; IPv6 stays banned until its
	// own unban.
	out := w.sfMust("unban", attacker4.String())
	if !strings.Contains(out, "unbanned "+jlPrefix(attacker4)+" in jail sshd") {
		t.Errorf("seawall unban %v: %s", attacker4, out)
	}
	// unban returns once the kernel lets the source in: the first
	// connection after it must work.
	if r := w.lab.DialTCP(attacker, netlab.AddrPort(netlab.Host, 4, jlSSHPort), sfFastProbe); r.Verdict != netlab.Open {
		t.Errorf("right after seawall unban %v returned, its connection: %v", attacker4, r)
	} else {
		t.Logf("right after seawall unban %v returned, its first connection: %v in %v", attacker4, r, r.Took.Round(time.Microsecond))
	}
	w.lab.Check(t, append(jlProbes(attacker, 4, netlab.Open), jlProbes(attacker, 6, netlab.Dropped)...))
	if jlInSet(sets, jlSet("sshd", attacker4), attacker4) {
		t.Errorf("%v still in the set after unban", attacker4)
	}
	out = w.sfMust("unban", attacker6.String())
	if !strings.Contains(out, "unbanned "+jlPrefix(attacker6)+" in jail sshd") {
		t.Errorf("seawall unban %v: %s", attacker6, out)
	}
	w.lab.Check(t, append(jlProbes(attacker, 6, netlab.Open), jlProbes(neighbour, 6, netlab.Open)...))
	if bans := w.jlBans(); len(bans) != 0 {
		t.Errorf("bans left after unbanning both: %+v", bans)
	}

	// A ban by hand: in force when the command returns; unban lifts it.
	byHand := netlab.Addr(netlab.LAN2, 4)
	out = w.sfMust("ban", byHand.String(), "--for", "1h")
	w.lab.Check(t, append(jlProbes(netlab.LAN2, 4, netlab.Dropped), jlProbes(other, 4, netlab.Open)...))
	listing := w.nft(netlab.Host, "list", "set", "inet", "seawall", jlSet("sshd", byHand))
	if left, ok := jlExpires(t, listing, byHand); !ok || left > time.Hour || left < 59*time.Minute {
		t.Errorf("seawall ban %v --for 1h: the element expires in %v (listed: %v), want just under 1h:\n%s", byHand, left, ok, listing)
	}
	if b, ok := jlFindBan(w.jlBans(), jlPrefix(byHand)); !ok || b.Origin != "manual" {
		t.Errorf("seawall bans does not list the ban by hand of %v: %+v (ban said %s)", byHand, b, out)
	}
	w.sfMust("unban", byHand.String())
	w.lab.Check(t, jlProbes(netlab.LAN2, 4, netlab.Open))
}

// jlContainerPolicy is the container part's policy: a jail (scope all)
// on web's own log, where the test image's server (-log) writes every
// line a client sends with the client's address.
const jlContainerPolicy = `version: 1
host:
  input:
    - allow: ssh
jails:
  web:
    logs: {container: {name: web}}
    match: ['^<HOST> said "login failed"$']
    maxretry: 3
    findtime: 10m
    bantime: 1h
`

// jlLogin makes one failed login on web: it connects from ns to dst, and
// returns a function that sends "login failed" and waits for its echo.
func (w *world) jlLogin(t *testing.T, ns string, dst netip.AddrPort) func() {
	t.Helper()
	c := w.jlDial(t, ns, dst, "web:443")
	return func() {
		if err := c.send("login failed"); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if line, err := c.readLine(time.Now().Add(2 * time.Second)); err != nil || line != "login failed" {
			t.Errorf("%s: echo %q (%v)", c.name, line, err)
		}
		c.c.Close()
	}
}

// TestJailsContainers: the same with a container's published port and a
// jail on the container's own log (read through the confined dockerd):
// the attacker (net2) fails three logins, its address (IPv6: its /64) goes
// in the kernel set, its new connections to the published port and its
// open session with the container die, another client (lan1) keeps
// working.
func TestJailsContainers(t *testing.T) {
	c := newCtWorld(t, "")
	w, d := c.world, c.d
	if err := d.RunServer("web", []string{"-p", "8443:443"}, "-tcp", ":443", "-echo", "-log"); err != nil {
		t.Fatalf("%v\n%s", err, d.LogTail(20))
	}
	w.writePolicy(jlContainerPolicy)
	c.ctStartDaemon(t)
	c.ctWaitLog(t, 0, 10*time.Second, "applied policy")
	c.ctWaitLog(t, 0, 10*time.Second, "jail started")
	sets := w.jlSetConn(t)

	const attacker, other = netlab.Net2, netlab.LAN1
	const port = 8443
	probe := func(ns string, ipv int, want netlab.Verdict) netlab.Probe {
		p := sfTCP(ns, ipv, port, want)
		if want == netlab.Open {
			p.WantBanner = "web:443"
		}
		return p
	}
	w.lab.Check(t, []netlab.Probe{probe(attacker, 4, netlab.Open), probe(attacker, 6, netlab.Open), probe(other, 4, netlab.Open), probe(other, 6, netlab.Open)})
	open := map[int]*jlConn{}
	for _, ipv := range []int{4, 6} {
		open[ipv] = w.jlDial(t, attacker, netlab.AddrPort(netlab.Host, ipv, port), "web:443")
		if err := open[ipv].ping(time.Second); err != nil {
			t.Fatalf("%s: no echo before any failure: %v", open[ipv].name, err)
		}
	}
	// The container log source follows web.
	eventually(t, 10*time.Second, "jail web to read web's log", func() bool {
		js := w.jlJails()
		return len(js) == 1 && len(js[0].Logs) == 1 && js[0].Logs[0].Lines > 0
	})

	failures := int64(0)
	for _, ipv := range []int{4, 6} {
		addr := netlab.Addr(attacker, ipv)
		dst := netlab.AddrPort(netlab.Host, ipv, port)
		for range 2 {
			w.jlLogin(t, attacker, dst)()
		}
		failures += 2
		w.jlWaitFailures(t, "web", failures)
		third := w.jlLogin(t, attacker, dst)
		m := w.jlMeasureBan(t, sets, jlBanCase{
			attacker: attacker, addr: addr, set: jlSet("web", addr),
			dst: dst, banner: "web:443", open: open[ipv], other: other,
		}, third)
		failures++
		t.Logf("IPv%d: 3rd failed login of %v sent → %v; the other client (%s) made %d dials, all answered", ipv, addr, m, other, m.otherDials)
		// The container's log passes through dockerd, so no 50 ms
		// promise here; a second is far beyond what it takes.
		if m.inSet > time.Second {
			t.Errorf("IPv%d: the ban was in the kernel set %v after the 3rd failed login, want within 1s", ipv, m.inSet)
		}
		if err := open[ipv].ping(jlConfirm); err == nil {
			t.Errorf("%s still echoes after the ban", open[ipv].name)
		}
		ps := []netlab.Probe{probe(attacker, ipv, netlab.Dropped), probe(other, 4, netlab.Open), probe(other, 6, netlab.Open)}
		if ipv == 4 {
			ps = append(ps, probe(attacker, 6, netlab.Open))
		}
		w.lab.Check(t, ps)
	}
	bans := w.jlBans()
	for _, ipv := range []int{4, 6} {
		p := jlPrefix(netlab.Addr(attacker, ipv))
		if b, ok := jlFindBan(bans, p); !ok || b.Jail != "web" || b.Origin != "log" {
			t.Errorf("seawall bans --json does not list %s (jail web, from the log): %+v", p, bans)
		}
	}
	if logs, err := d.Logs("web"); err == nil {
		t.Logf("web's log:\n%s", jlTail(logs, 8))
	}
	w.sfMust("unban", netlab.Addr(attacker, 4).String())
	w.lab.Check(t, []netlab.Probe{probe(attacker, 4, netlab.Open), probe(attacker, 6, netlab.Dropped)})
}

// jlTail returns the last n lines of s.
func jlTail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
