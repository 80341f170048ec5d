package dockerlab_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seawall/seawall/internal/dockerlab"
	"github.com/seawall/seawall/internal/netlab"
)

// requireDocker skips the test unless a confined dockerd can run here.
func requireDocker(t *testing.T) {
	t.Helper()
	netlab.RequireRoot(t)
	if err := dockerlab.Available(); err != nil {
		t.Skipf("skipping confined dockerd test: %v", err)
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs the nft binary (apt-get install nftables)")
	}
}

// rootRuleset returns the root namespace's ruleset, read-only and without
// counters (nft -s), which traffic of the machine may change.
func rootRuleset(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("nft", "-s", "list", "ruleset").Output()
	if err != nil {
		t.Fatalf("nft -s list ruleset (root namespace, read-only): %v", err)
	}
	return string(out)
}

func checkRootRuleset(t *testing.T, before, when string) {
	t.Helper()
	if after := rootRuleset(t); after != before {
		t.Errorf("SAFETY: the root namespace's ruleset changed %s.\nbefore:\n%s\nafter:\n%s", when, before, after)
	}
}

func TestConfinedDocker(t *testing.T) {
	requireDocker(t)
	before := rootRuleset(t)
	_, runContainerdErr := os.Lstat("/run/containerd")
	// Build the test server once, before the daemons need it.
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command to build the test server")
	}
	if _, err := dockerlab.ServerBinary(); err != nil {
		t.Fatal(err)
	}
	t.Run("group", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			opts dockerlab.Options
		}{
			// Docker's defaults: IPv6 published ports go through
			// docker-proxy, IPv6 egress is not masqueraded, FORWARD
			// policy drop.
			{"default", dockerlab.Options{}},
			// ip6tables and no proxy: DNAT and masquerade for both
			// families; IPv4 FORWARD policy left at accept.
			{"ip6tables-noproxy-keepforwarding", dockerlab.Options{IP6Tables: true, NoUserlandProxy: true, KeepForwarding: true}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				testDaemon(t, tc.opts, before)
			})
		}
	})
	checkRootRuleset(t, before, "during the test")
	if _, err := os.Lstat("/run/containerd"); runContainerdErr != nil && err == nil {
		t.Errorf("/run/containerd appeared in the root mount namespace")
	}
}

func testDaemon(t *testing.T, opts dockerlab.Options, rootBefore string) {
	lab := netlab.Standard(t)
	begin := time.Now()
	d, err := dockerlab.Start(t, lab, opts)
	if err != nil {
		t.Skipf("the confined dockerd cannot start here: %v", err)
	}
	t.Logf("dockerd answered after %v (storage driver %s)", d.StartTook().Round(time.Millisecond), d.StorageDriver())
	dir, cgroupParent := d.Dir(), d.CgroupParent()

	// dockerd's rules are in the lab's host namespace.
	tables, err := lab.Exec(context.Background(), netlab.Host, "nft", "list", "tables")
	if err != nil {
		t.Fatal(err)
	}
	wantTables := []string{"table ip nat", "table ip filter"}
	if opts.IP6Tables {
		wantTables = append(wantTables, "table ip6 nat", "table ip6 filter")
	}
	for _, want := range wantTables {
		if !strings.Contains(tables, want) {
			t.Errorf("host namespace has no %s:\n%s", want, tables)
		}
	}
	fwd, err := lab.Exec(context.Background(), netlab.Host, "nft", "list", "chain", "ip", "filter", "FORWARD")
	if err != nil {
		t.Fatal(err)
	}
	wantPolicy := "policy drop"
	if opts.KeepForwarding {
		wantPolicy = "policy accept"
	}
	if !strings.Contains(fwd, wantPolicy) {
		t.Errorf("FORWARD chain of ip filter in the host has no %s:\n%s", wantPolicy, fwd)
	}
	// The lab's own routed path to the honeypot goes through that chain.
	if _, err := lab.ServeTCP(netlab.Honeypot, ":80"); err != nil {
		t.Fatal(err)
	}
	honeypot := netlab.Dropped
	if opts.KeepForwarding {
		honeypot = netlab.Open
	}
	lab.Check(t, []netlab.Probe{{From: netlab.Net1, To: netlab.Addr(netlab.Honeypot, 4), Proto: netlab.TCP, Port: 80, Want: honeypot}})

	start := time.Now()
	if err := d.BuildImage(""); err != nil {
		t.Fatal(err)
	}
	t.Logf("image built in %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	err = d.RunServer("web", []string{"-p", "8080:80", "-p", "8053:53/udp"}, "-tcp", ":80", "-udp", ":53", "-peer")
	if err != nil {
		t.Fatalf("%v\n%s", err, d.LogTail(30))
	}
	t.Logf("container serving after %v", time.Since(start).Round(time.Millisecond))
	if !opts.IP6Tables {
		// A server that cannot start fails RunServer at once, with its output.
		start := time.Now()
		err := d.RunServer("bad", nil, "-no-such-flag")
		if err == nil || !strings.Contains(err.Error(), "flag provided but not defined") {
			t.Errorf("RunServer with a bad flag: %v", err)
		}
		t.Logf("failing server reported after %v", time.Since(start).Round(time.Millisecond))
	}
	if err := d.WaitRunning("web", 15*time.Second); err != nil {
		t.Fatal(err)
	}
	v4, v6, err := d.ContainerIP("web")
	if err != nil {
		t.Fatal(err)
	}
	if !netip.MustParsePrefix(dockerlab.DefaultBridge).Masked().Contains(v4) || !netip.MustParsePrefix(dockerlab.DefaultFixedCIDRv6).Contains(v6) {
		t.Errorf("container addresses %v, %v are not on docker0 (%s, %s)", v4, v6, dockerlab.DefaultBridge, dockerlab.DefaultFixedCIDRv6)
	}

	// Published ports from the internet and the lan, through the router.
	docker0 := map[string]bool{"172.30.0.1": true, "fd00:dead::1": true}
	for _, from := range []string{netlab.Net1, netlab.LAN1} {
		for _, ipv := range []int{4, 6} {
			client := netlab.Addr(from, ipv).String()
			r, err := dockerlab.WaitTCP(lab, from, netlab.AddrPort(netlab.Host, ipv, 8080), "", 15*time.Second)
			if err != nil {
				t.Errorf("tcp %s -> host v%d:8080: %v", from, ipv, err)
				continue
			}
			name, peer, _ := strings.Cut(r.Banner, " ")
			if name != "web:80" {
				t.Errorf("tcp %s -> host v%d:8080: banner %q, want web:80", from, ipv, r.Banner)
			}
			u := lab.DialUDP(from, netlab.AddrPort(netlab.Host, ipv, 8053), time.Second)
			uname, upeer, _ := strings.Cut(u.Banner, " ")
			if u.Verdict != netlab.Open || uname != "web:53" {
				t.Errorf("udp %s -> host v%d:8053: %v, want open web:53", from, ipv, u)
			}
			// IPv4 always goes through DNAT, which keeps the client's
			// address. IPv6 without ip6tables reaches docker-proxy,
			// which connects from docker0.
			viaProxy := ipv == 6 && !opts.IP6Tables
			for _, got := range []string{peer, upeer} {
				switch {
				case viaProxy && !docker0[got]:
					t.Errorf("%s -> host v%d: container saw %q, want a docker0 address (docker-proxy)", from, ipv, got)
				case !viaProxy && got != client:
					t.Errorf("%s -> host v%d: container saw %q, want the client %s (DNAT)", from, ipv, got, client)
				}
			}
			t.Logf("%s -> host v%d:8080 and :8053: %q, %q", from, ipv, r.Banner, u.Banner)
		}
	}

	// Egress from the container, masqueraded to the host's address.
	if _, err := lab.ServeTCP(netlab.Net1, ":9000"); err != nil {
		t.Fatal(err)
	}
	if _, err := lab.ServeUDP(netlab.Net1, ":9053"); err != nil {
		t.Fatal(err)
	}
	for _, ipv := range []int{4, 6} {
		for _, p := range []struct {
			proto netlab.Proto
			port  uint16
		}{{netlab.TCP, 9000}, {netlab.UDP, 9053}} {
			r := d.Dial("web", p.proto, netlab.AddrPort(netlab.Net1, ipv, p.port), 500*time.Millisecond)
			want := netlab.Banner(netlab.Net1, p.port)
			switch {
			case ipv == 4 || opts.IP6Tables:
				if r.Verdict != netlab.Open || r.Banner != want {
					t.Errorf("container -> net1 v%d %s/%d: %v, want open %q", ipv, p.proto, p.port, r, want)
				}
			default:
				// No NAT66: net1's answer to fd00:dead:: has no way back.
				if r.Verdict == netlab.Open || r.Verdict == netlab.Failed {
					t.Errorf("container -> net1 v%d %s/%d: %v, want no answer (no NAT66 without ip6tables)", ipv, p.proto, p.port, r)
				}
			}
			t.Logf("container -> net1 v%d %s/%d: %v (%v)", ipv, p.proto, p.port, r, r.Took.Round(time.Millisecond))
		}
		r := d.Dial("web", netlab.TCP, netlab.AddrPort(netlab.Net1, 4, 9001), 500*time.Millisecond)
		if r.Verdict != netlab.Refused {
			t.Errorf("container -> net1 v4 tcp/9001 (closed): %v, want refused", r)
		}
	}

	// Restart: dockerd stops (and with it web, which has no restart
	// policy) and comes back; a container with --restart always runs
	// again.
	if err := d.RunServer("keeper", []string{"--restart", "always"}); err != nil {
		t.Fatal(err)
	}
	away, err := d.Restart(60 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dockerd restarted: answering again %v after the signal", away.Round(time.Millisecond))
	for name, want := range map[string]string{"keeper": "true", "web": "false"} {
		var got string
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if got, err = d.Inspect(name, "{{.State.Running}}"); err == nil && got == want {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if got != want {
			t.Errorf("after the restart, %s running=%q (%v), want %s", name, got, err, want)
		}
	}
	if _, err := d.CLI(context.Background(), "start", "web"); err != nil {
		t.Fatal(err)
	}

	// What Close must take away: the container's processes and network
	// namespace.
	pid, err := d.HostPID("web")
	if err != nil {
		t.Fatal(err)
	}
	if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); !strings.HasPrefix(string(cmdline), "/server\x00serve") {
		t.Fatalf("HostPID(web) = %d, which runs %q", pid, cmdline)
	}
	containerNet, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		t.Fatal(err)
	}
	hostNet := nsOfFile(t, lab.NSPath(netlab.Host))

	checkRootRuleset(t, rootBefore, "while the confined dockerd runs")

	start = time.Now()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("closed in %v; total %v", time.Since(start).Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))
	if left := d.Leftovers(); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	// Independent checks: no process of ours, no mounts, no files. The
	// kernel reaps a killed PID namespace's processes asynchronously, so
	// processes get a moment to go.
	var left []string
	for deadline := time.Now().Add(5 * time.Second); ; {
		left = procsWhere(func(pid string) bool {
			cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline")
			net, _ := os.Readlink("/proc/" + pid + "/ns/net")
			return strings.Contains(string(cmdline), dir) || net == containerNet || net == hostNet
		})
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, p := range left {
		t.Errorf("process left: %s", p)
	}
	mountinfo, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mountinfo), "\n") {
		if strings.Contains(line, dir) || strings.Contains(line, containerNet) {
			t.Errorf("mount left: %s", line)
		}
	}
	if _, err := os.Lstat(dir); err == nil {
		t.Errorf("directory left: %s", dir)
	}
	cgs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", cgroupParent))
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", cgroupParent)); err == nil {
		cgs = append(cgs, filepath.Join("/sys/fs/cgroup", cgroupParent))
	}
	for _, cg := range cgs {
		t.Errorf("cgroup left: %s", cg)
	}
	if out, err := lab.IP(netlab.Host, "link", "show", "docker0"); err == nil {
		t.Errorf("docker0 left in the host namespace: %s", out)
	}
	tables, _ = lab.Exec(context.Background(), netlab.Host, "nft", "list", "tables")
	if strings.TrimSpace(tables) != "" {
		t.Errorf("tables left in the host namespace:\n%s", tables)
	}
	checkRootRuleset(t, rootBefore, "after Close")
}

// nsOfFile returns "net:[inode]" for a namespace file.
func nsOfFile(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("net:[%d]", fi.Sys().(*syscall.Stat_t).Ino)
}

// procsWhere returns "pid cmdline" of the processes for which match holds.
func procsWhere(match func(pid string) bool) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil || e.Name() == strconv.Itoa(os.Getpid()) {
			continue
		}
		if match(e.Name()) {
			cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			out = append(out, e.Name()+" "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return out
}

// A daemon that cannot start leaves nothing behind either.
func TestLaunchFailureCleansUp(t *testing.T) {
	requireDocker(t)
	before := rootRuleset(t)
	lab := netlab.Standard(t)
	d, err := dockerlab.Launch(lab, dockerlab.Options{ExtraArgs: []string{"--no-such-flag"}})
	if err == nil {
		d.Close()
		t.Fatal("Launch succeeded with an invalid flag")
	}
	if !strings.Contains(err.Error(), "no-such-flag") {
		t.Errorf("error does not quote dockerd's log: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(os.TempDir(), fmt.Sprintf("dockerlab%d_*", os.Getpid())))
	for _, l := range left {
		t.Errorf("left behind: %s", l)
	}
	out, err := lab.Exec(context.Background(), netlab.Host, "cat", "/proc/sys/net/ipv4/ip_forward")
	if err != nil || strings.TrimSpace(out) != "1" {
		t.Errorf("host ip_forward not restored: %q %v", out, err)
	}
	checkRootRuleset(t, before, "by a failed Launch")
}
