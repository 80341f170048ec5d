package main

import (
	"bufio"
	"context"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
)

// fakeBanner is a stand-in ban engine for testing the benchmark's
// scenarios without seawall or fail2ban: it follows the log file and, at
// the threshold-th failure line of an address, adds the address to set
// jail_bench_v4 of table inet seawall through netlink.
type fakeBanner struct {
	threshold int
	stop      chan struct{}
	done      chan error
}

var failFrom = regexp.MustCompile(`Failed password for .* from (\S+) port \d+`)

func (f *fakeBanner) run(e *engine) {
	f.done <- func() error {
		conn, closeConn, err := e.ns.Nftables()
		if err != nil {
			return err
		}
		defer closeConn()
		set := &nftables.Set{Table: &nftables.Table{Family: nftables.TableFamilyINet, Name: seawallTable}, Name: seawallJailSet, KeyType: nftables.TypeIPAddr}
		in, err := os.Open(e.logPath)
		if err != nil {
			return err
		}
		defer in.Close()
		r := bufio.NewReader(in)
		count := map[netip.Addr]int{}
		var partial string
		for {
			line, err := r.ReadString('\n')
			if err == io.EOF {
				partial += line
				select {
				case <-f.stop:
					return nil
				case <-time.After(200 * time.Microsecond):
				}
				continue
			}
			if err != nil {
				return err
			}
			line, partial = partial+line, ""
			m := failFrom.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			a := netip.MustParseAddr(m[1])
			count[a]++
			if count[a] != f.threshold {
				continue
			}
			if err := conn.SetAddElements(set, []nftables.SetElement{{Key: a.AsSlice()}}); err != nil {
				return err
			}
			if err := conn.Flush(); err != nil {
				return err
			}
		}
	}()
}

// fakeEngine returns an engine whose "process" is a sleep in a test
// namespace and whose bans come from a fakeBanner with threshold.
func fakeEngine(t *testing.T, threshold int) (*bench, *engine) {
	t.Helper()
	ns := testNS(t)
	nft(t, ns, "table inet "+seawallTable+" {\n set "+seawallJailSet+" { type ipv4_addr; flags timeout; }\n}")
	dir := t.TempDir()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("needs sleep")
	}
	e := &engine{tool: "fake", exe: sleep, ns: ns, dir: dir, logPath: filepath.Join(dir, "auth.log"), pids: map[netip.Addr]int{}, nextPID: 20000}
	if e.log, err = os.OpenFile(e.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		t.Fatal(err)
	}
	if e.proc, err = startProcess("sleep", ns.Command(context.Background(), sleep, "60"), filepath.Join(dir, "sleep.out")); err != nil {
		t.Fatal(err)
	}
	if e.set, err = newSetReader(ns, seawallTable, seawallJailSet); err != nil {
		t.Fatal(err)
	}
	f := &fakeBanner{threshold: threshold, stop: make(chan struct{}), done: make(chan error, 1)}
	go f.run(e)
	t.Cleanup(func() {
		close(f.stop)
		if err := <-f.done; err != nil {
			t.Errorf("fake banner: %v", err)
		}
		e.ns = nil // testNS deletes it
		if err := e.close(); err != nil {
			t.Error(err)
		}
	})
	b := &bench{
		eo: engineOpts{maxretry: 3, every: time.Millisecond},
		o:  options{poll: 100 * time.Microsecond, timeout: 20 * time.Second, latencyTimeout: 5 * time.Second, stall: 5 * time.Second},
	}
	return b, e
}

func TestBurstOnFakeEngine(t *testing.T) {
	b, e := fakeEngine(t, 3)
	addrs := attackerAddrs(300, 9)
	r, err := b.burst(context.Background(), e, addrs, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if r.lines != 900 || r.attackers != 300 {
		t.Errorf("lines %d, attackers %d", r.lines, r.attackers)
	}
	if r.elapsed <= 0 || r.firstBan <= 0 || r.firstBan > r.elapsed || r.rate() <= 0 {
		t.Errorf("elapsed %v, first ban %v, rate %.0f", r.elapsed, r.firstBan, r.rate())
	}
	if r.rateBetween(0, 0.1) <= 0 {
		t.Errorf("no rate for the first 10%%: progress %v", r.wait.progress)
	}
	if r.mem.RSS == 0 || r.memSettled.RSS == 0 {
		t.Errorf("memory not read: %+v %+v", r.mem, r.memSettled)
	}
	got, err := e.set.addrs()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 300 {
		t.Errorf("%d addresses in the set, want 300", len(got))
	}
	// Every line the burst wrote names its attacker with the attacker's
	// own process id, maxretry times.
	log, err := os.ReadFile(e.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(log), "\n"); n != 900 {
		t.Errorf("%d lines in the log, want 900", n)
	}
	if pid := e.pids[addrs[7]]; strings.Count(string(log), "sshd["+strconv.Itoa(pid)+"]: Failed password for invalid user admin from "+addrs[7].String()+" ") != 3 {
		t.Errorf("attacker %s does not have 3 lines with pid %d", addrs[7], pid)
	}
}

func TestLatencyOnFakeEngine(t *testing.T) {
	b, e := fakeEngine(t, 3)
	r, err := b.latency(context.Background(), e, attackerAddrs(5, 3), 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.upper) != 5 || len(r.lower) != 5 || len(r.windows) != 5 {
		t.Fatalf("%d samples", len(r.upper))
	}
	for i := range r.upper {
		if r.upper[i] <= 0 || r.lower[i] < 0 || r.lower[i] > r.upper[i] || r.upper[i] > time.Second {
			t.Errorf("sample %d: lower %v, upper %v", i, r.lower[i], r.upper[i])
		}
	}
}

// An engine that bans before the maxretry-th line is caught.
func TestLatencyCatchesEarlyBan(t *testing.T) {
	b, e := fakeEngine(t, 2)
	_, err := b.latency(context.Background(), e, attackerAddrs(1, 3), 50*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "before the maxretry-th") {
		t.Errorf("got %v, want an early ban", err)
	}
}
