package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seawall/seawall/internal/dockerlab"
	"github.com/seawall/seawall/internal/netlab"
)

// This file holds the end-to-end tests of the containers section
// (docs/containers.md): a real dockerd, confined by dockerlab to the lab's
// host namespace, runs containers of dockerlab's test image; `seawall
// daemon`, told where that dockerd is by DOCKER_HOST, follows its events and
// keeps the verdict maps in step; packets from the lab's internet hosts and
// from inside containers decide whether the policy holds.
//
// The machine's own dockerd is never used: every seawall process gets
// DOCKER_HOST of the confined daemon (ctEnv), and the docker CLI is always
// dockerlab's.

// ctProbeTimeout is the timeout of a probe expected to be dropped: the
// lab's links answer within microseconds.
const ctProbeTimeout = 250 * time.Millisecond

// ctPollProbe is the timeout of the probes that poll for a verdict to
// start holding (a drop costs this much per round, an open answer returns
// at once).
const ctPollProbe = 50 * time.Millisecond

// Addresses of the lab the policy names.
var (
	ctNet1V4 = netlab.Addr(netlab.Net1, 4)
	ctNet1V6 = netlab.Addr(netlab.Net1, 6)
)

// ctReuseSubnet is a network with room for one container (.2 beside the
// gateway .1): the next container on it must get the address of the last
// one removed. It lies outside docker0 and dockerlab's address pool.
const ctReuseSubnet = "172.30.200.0/30"

// ctGateway is docker0's address: the host, as containers reach it.
var ctGateway = netip.MustParsePrefix(dockerlab.DefaultBridge).Addr()

// ctPolicy is the policy of TestContainers. Every entry's ingress names the
// host port a client dials.
var ctPolicy = fmt.Sprintf(`version: 1
host:
  input:
    - allow: ssh
containers:
  default: {ingress: deny, egress: allow}
  web:
    select: {compose: shop/web}
    ingress:
      - allow: tcp/8443
        from: [%[1]s, %[2]s]
  db:
    select: {name: db}
    ingress:
      - allow: tcp/5432
        from: container:web
  fetcher:
    select: {name: fetcher}
    ingress:
      - allow: tcp/9443
        from: [%[1]s, %[2]s]
    egress:
      - allow: tcp/443
        to: [%[1]s, %[2]s]
    default: {egress: reject}
  reuse:
    select: {name: ra}
    ingress:
      - allow: tcp/7000
        from: [%[1]s, %[2]s]
  late:
    select: {name: late}
    ingress:
      - allow: tcp/9090
        from: [%[1]s, %[2]s]
`, ctNet1V4, ctNet1V6)

// ctEnv is the environment of every seawall process of these tests: the
// caller's without DOCKER_* variables, DOCKER_HOST dockerHost (the confined
// daemon's, or a socket that does not exist), and no SSH session (the
// lockout guard is not under test).
func ctEnv(dockerHost string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DOCKER_") && !strings.HasPrefix(kv, "SSH_CONNECTION=") {
			env = append(env, kv)
		}
	}
	return append(env, "DOCKER_HOST="+dockerHost, sfNoSSH)
}

// ctWorld is a world with a confined dockerd and seawall's daemon.
type ctWorld struct {
	*world
	d      *dockerlab.Docker
	daemon *ctDaemon
}

// ctDaemon is a running `seawall daemon`.
type ctDaemon struct {
	cmd  *exec.Cmd
	log  *dmSyncBuffer
	done chan struct{} // closed when the process has exited
}

// ctStartDaemon starts `seawall daemon` in the host namespace, aimed at the
// confined dockerd, and makes it c.daemon. It is killed when the whole test
// (c.t) ends, and its log is shown if the test failed; t is the running
// (sub)test.
func (c *ctWorld) ctStartDaemon(t *testing.T) *ctDaemon {
	t.Helper()
	return c.ctStartDaemonWith(t, c.d.Host())
}

// ctStartDaemonWith starts `seawall daemon` with DOCKER_HOST dockerHost.
func (c *ctWorld) ctStartDaemonWith(t *testing.T, dockerHost string) *ctDaemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := c.lab.Command(ctx, netlab.Host, seawallBin,
		"-c", c.policy, "--state-dir", filepath.Join(c.dir, "state"), "daemon")
	cmd.Env = ctEnv(dockerHost)
	dm := &ctDaemon{cmd: cmd, log: &dmSyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = dm.log, dm.log
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("could not start seawall daemon: %v", err)
	}
	go func() {
		_ = cmd.Wait()
		close(dm.done)
	}()
	c.t.Cleanup(func() {
		select {
		case <-dm.done:
		default:
			_ = cmd.Process.Kill()
			<-dm.done
		}
		cancel()
		if c.t.Failed() {
			c.t.Logf("seawall daemon log:\n%s", dm.log.String())
		}
	})
	c.daemon = dm
	return dm
}

// ctStop stops the daemon with SIGTERM and waits for it.
func (dm *ctDaemon) ctStop(t *testing.T) {
	t.Helper()
	if err := dm.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-dm.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the seawall daemon did not exit within 5 s of SIGTERM")
	}
}

// ctWaitLog polls the daemon's log after offset until it contains want.
func (c *ctWorld) ctWaitLog(t *testing.T, offset int, within time.Duration, want string) string {
	t.Helper()
	var got string
	eventually(t, within, "daemon log line containing "+want, func() bool {
		got = c.daemon.log.since(offset)
		return strings.Contains(got, want)
	})
	return got
}

// ctSeawall runs seawall with the confined dockerd's environment.
func (c *ctWorld) ctSeawall(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	full := append([]string{seawallBin, "-c", c.policy, "--state-dir", filepath.Join(c.dir, "state")}, args...)
	cmd := c.lab.Command(ctx, netlab.Host, full...)
	cmd.Env = ctEnv(c.d.Host())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("seawall %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ctRun starts a container of the test image serving TCP on ports (none:
// it idles, for dials from inside) and waits until it listens.
func (c *ctWorld) ctRun(t *testing.T, name string, dockerArgs []string, ports ...int) {
	t.Helper()
	var serverArgs []string
	if len(ports) > 0 {
		var ls []string
		for _, p := range ports {
			ls = append(ls, fmt.Sprintf(":%d", p))
		}
		serverArgs = []string{"-tcp", strings.Join(ls, ",")}
	}
	if err := c.d.RunServer(name, dockerArgs, serverArgs...); err != nil {
		t.Fatalf("%v\n%s", err, c.d.LogTail(20))
	}
}

// ctIP returns the container's addresses on its first network.
func (c *ctWorld) ctIP(t *testing.T, name string) (v4, v6 netip.Addr) {
	t.Helper()
	v4, v6, err := c.d.ContainerIP(name)
	if err != nil {
		t.Fatal(err)
	}
	return v4, v6
}

// ctDocker runs the docker CLI against the confined daemon.
func (c *ctWorld) ctDocker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.d.CLI(context.Background(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ctMapTarget returns the chain a verdict map of table inet seawall sends
// addr to ("" when addr is not in the map, or the map is missing).
func (c *ctWorld) ctMapTarget(m string, addr netip.Addr) string {
	out, err := c.sfNftMay(netlab.Host, "list", "map", "inet", "seawall", m)
	if err != nil {
		return ""
	}
	re := regexp.MustCompile(`(?:^|[\s{,])` + regexp.QuoteMeta(addr.String()) + ` : jump (\w+)`)
	if m := re.FindStringSubmatch(out); m != nil {
		return m[1]
	}
	return ""
}

// ctHostProbes are probes from ns to the host's published port (IPv4 and,
// where v6 is true, IPv6).
func ctHostProbes(from string, port uint16, want netlab.Verdict, banner string, v6 bool) []netlab.Probe {
	var ps []netlab.Probe
	for _, ipv := range []int{4, 6} {
		if ipv == 6 && !v6 {
			continue
		}
		p := netlab.Probe{From: from, To: netlab.Addr(netlab.Host, ipv), Proto: netlab.TCP, Port: port, Want: want, Timeout: ctProbeTimeout}
		if want == netlab.Open {
			p.WantBanner = banner
		}
		ps = append(ps, p)
	}
	return ps
}

// ctProber dials one address from a lab namespace over and over, in the
// background, and records every result other than the wanted one.
type ctProber struct {
	stop  chan struct{}
	done  chan struct{}
	start time.Time
	mu    sync.Mutex
	n     int      // probes made
	bad   []string // the unwanted results, with when their probe started
}

// ctStartProber starts a prober from ns to dst that wants verdict want
// (and, for open, banner).
func (c *ctWorld) ctStartProber(from string, dst netip.AddrPort, want netlab.Verdict, banner string) *ctProber {
	p := &ctProber{stop: make(chan struct{}), done: make(chan struct{}), start: time.Now()}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			at := time.Since(p.start)
			// A drop costs the whole timeout, so probes that want one
			// are short; probes that want an answer get the normal
			// timeout, so that a slow machine does not fail them.
			timeout := ctProbeTimeout
			if want == netlab.Dropped {
				timeout = ctPollProbe
			}
			r := c.lab.DialTCP(from, dst, timeout)
			p.mu.Lock()
			p.n++
			if r.Verdict != want || (want == netlab.Open && r.Banner != banner) {
				p.bad = append(p.bad, fmt.Sprintf("from %s to %v at +%v: want %v, got %v", from, dst, at.Round(time.Millisecond), want, r))
			}
			p.mu.Unlock()
		}
	}()
	return p
}

// ctProbes returns how many probes the prober has made.
func (p *ctProber) ctProbes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// ctStopProber stops the prober and returns how many probes it made and
// the unwanted results.
func (p *ctProber) ctStopProber() (int, []string) {
	close(p.stop)
	<-p.done
	return p.n, p.bad
}

// ctDialCheck dials from inside a container and reports a verdict other
// than want (and, for open, a banner other than banner).
func (c *ctWorld) ctDialCheck(t *testing.T, from string, dst netip.AddrPort, want netlab.Verdict, banner string) {
	t.Helper()
	r := c.d.Dial(from, netlab.TCP, dst, 2*ctProbeTimeout)
	if r.Verdict != want || (want == netlab.Open && banner != "" && r.Banner != banner) {
		w := want.String()
		if want == netlab.Open && banner != "" {
			w += fmt.Sprintf(" %q", banner)
		}
		t.Errorf("from container %s to %v: want %s, got %v", from, dst, w, r)
		return
	}
	t.Logf("from container %s to %v: %v", from, dst, r)
}

// ctWaitOpen polls with short probes until ns reaches dst with banner, and
// returns how long that took; it fails the test after within.
func (c *ctWorld) ctWaitOpen(t *testing.T, from string, dst netip.AddrPort, banner string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last netlab.Result
	for time.Since(start) < within {
		last = c.lab.DialTCP(from, dst, ctPollProbe)
		if last.Verdict == netlab.Open && last.Banner == banner {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("from %s to %v: not open %q within %v (last: %v)", from, dst, banner, within, last)
	return 0
}

// ctIP6Tables runs the confined dockerd with Options.IP6Tables, so that
// IPv6 connections to published ports are DNATed like IPv4 ones and meet
// the container's ingress in seawall's forward chain; IPv6 is then checked
// everywhere IPv4 is. (Without it, IPv6 to a published port reaches
// docker-proxy through the host's input; "flush ruleset" below exercises
// that path, for both families, once Docker's DNAT rules are gone.)
const ctIP6Tables = true

// newCtWorld starts the lab, a dockerd confined to its host namespace and
// the test image; it skips the test, saying why, where Docker cannot run.
// iptables is the variant dockerd writes its rules with (dockerlab.Options).
func newCtWorld(t *testing.T, iptables string) *ctWorld {
	t.Helper()
	w := newWorld(t)
	if err := dockerlab.Available(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	if iptables != "" {
		if _, err := exec.LookPath("iptables-" + iptables); err != nil {
			t.Skipf("skipping: dockerd cannot use iptables-%s here: %v", iptables, err)
		}
	}
	begin := time.Now()
	d, err := dockerlab.Start(t, w.lab, dockerlab.Options{IP6Tables: ctIP6Tables, IPTables: iptables})
	if err != nil {
		t.Skipf("the confined dockerd cannot start here: %v", err)
	}
	if err := d.BuildImage(""); err != nil {
		t.Fatal(err)
	}
	t.Logf("dockerd up and test image built after %v", time.Since(begin).Round(time.Millisecond))
	return &ctWorld{world: w, d: d}
}

// TestContainers runs seawall's daemon against a confined dockerd and
// checks the container rules with real packets: published ports open only
// to the sources an entry names, egress allowlists, container to container
// by selector, container to the host, rules that follow a restarted
// container to its new address, an address reused by another container
// that does not inherit access, labels (and a label error that denies both
// ways), containers seawall has not reconciled that are denied, a daemon
// restart that keeps reconciled containers open, and the rules put back
// after nft removes them.
func TestContainers(t *testing.T) { testContainers(t, "") }

// TestContainersIPTablesLegacy runs TestContainers with dockerd writing its
// rules through iptables-legacy, into the kernel's x_tables, which nft
// does not see: seawall's rules must mean the same beside them.
func TestContainersIPTablesLegacy(t *testing.T) { testContainers(t, "legacy") }

// testContainers is TestContainers with dockerd writing its rules through
// the iptables variant iptables ("" for the machine's).
func testContainers(t *testing.T, iptables string) {
	c := newCtWorld(t, iptables)
	w := c.world
	w.serve(netlab.Net1, 443, 8443)
	w.serve(netlab.Host, 22)
	w.writePolicy(ctPolicy)
	c.ctStartDaemon(t)
	c.ctWaitLog(t, 0, 10*time.Second, "applied policy")
	c.ctWaitLog(t, 0, 10*time.Second, "containers reconciled")
	const v6 = ctIP6Tables
	if iptables == "legacy" {
		c.ctCheckLegacy(t)
	}

	// 1. A published port is open to the one source its entry names, and
	// a second published port of the same container that the entry does
	// not name is closed even to that source.
	t.Run("published port open to one source", func(t *testing.T) {
		c.ctRun(t, "web", []string{"--restart", "always", "-p", "8443:443", "-p", "8080:80",
			"--label", "com.docker.compose.project=shop", "--label", "com.docker.compose.service=web"}, 443, 80)
		v4, v6addr := c.ctIP(t, "web")
		eventually(t, 5*time.Second, "web's address in ctr_in_v4", func() bool { return c.ctMapTarget("ctr_in_v4", v4) == "ctr_web_in" })
		if v6addr.IsValid() && c.ctMapTarget("ctr_in_v6", v6addr) != "ctr_web_in" {
			t.Errorf("web's IPv6 address %v is not sent to ctr_web_in", v6addr)
		}
		c.lab.Check(t, ctConcat(
			ctHostProbes(netlab.Net1, 8443, netlab.Open, "web:443", v6),
			ctHostProbes(netlab.Net2, 8443, netlab.Dropped, "", v6),
			ctHostProbes(netlab.Net1, 8080, netlab.Dropped, "", v6),
			ctHostProbes(netlab.Net2, 8080, netlab.Dropped, "", v6)))

		// plan shows web under its entry for the desired state; status
		// shows the same with the counters the probes just moved.
		plan := c.ctSeawall(t, "plan")
		webRow := regexp.MustCompile(`(?m)^#\s+web\s+web\s+` + regexp.QuoteMeta(v4.String()) + `\b.*\n#\s+ctr_web_in\s+\d+ rules`)
		if !webRow.MatchString(plan) {
			t.Errorf("plan does not list web, its entry, address and chains:\n%s", plan[strings.Index(plan, "# summary"):])
		}
		status := c.ctSeawall(t, "status")
		counted := regexp.MustCompile(`(?m)^\s+web\s+web\s+` + regexp.QuoteMeta(v4.String()) + `\b.*\n\s+ctr_web_in\s+\d+ rules, ([1-9]\d*) packets`)
		if !counted.MatchString(status) {
			t.Errorf("status does not list web with the packets its ingress chain counted:\n%s", status)
		}
	})

	// 2. An egress allowlist: tcp/443 to net1 only, everything else
	// rejected; connections to the container's published port still work
	// (their replies are not new outbound connections).
	t.Run("egress allowlist", func(t *testing.T) {
		c.ctRun(t, "fetcher", []string{"-p", "9443:443"}, 443)
		v4, v6addr := c.ctIP(t, "fetcher")
		eventually(t, 5*time.Second, "fetcher's address in ctr_out_v4", func() bool { return c.ctMapTarget("ctr_out_v4", v4) == "ctr_fetcher_out" })
		c.ctDialCheck(t, "fetcher", netip.AddrPortFrom(ctNet1V4, 443), netlab.Open, "net1:443")
		c.ctDialCheck(t, "fetcher", netip.AddrPortFrom(ctNet1V4, 8443), netlab.Refused, "")
		if v6addr.IsValid() {
			c.ctDialCheck(t, "fetcher", netip.AddrPortFrom(ctNet1V6, 443), netlab.Open, "net1:443")
			c.ctDialCheck(t, "fetcher", netip.AddrPortFrom(ctNet1V6, 8443), netlab.Refused, "")
		}
		c.lab.Check(t, ctConcat(
			ctHostProbes(netlab.Net1, 9443, netlab.Open, "fetcher:443", v6),
			ctHostProbes(netlab.Net2, 9443, netlab.Dropped, "", v6)))
		c.ctLogChainOnFailure(t, "forward")
	})

	// 3. Container to container by selector: db's ingress allows tcp/5432
	// from container:web only.
	t.Run("container to container by selector", func(t *testing.T) {
		c.ctRun(t, "db", nil, 5432)
		c.ctRun(t, "other", nil)
		db4, db6 := c.ctIP(t, "db")
		other4, _ := c.ctIP(t, "other")
		eventually(t, 5*time.Second, "db and other in the maps", func() bool {
			return c.ctMapTarget("ctr_in_v4", db4) == "ctr_db_in" && c.ctMapTarget("ctr_out_v4", other4) == "ctr_default_out"
		})
		c.ctDialCheck(t, "web", netip.AddrPortFrom(db4, 5432), netlab.Open, "db:5432")
		c.ctDialCheck(t, "other", netip.AddrPortFrom(db4, 5432), netlab.Dropped, "")
		if db6.IsValid() {
			c.ctDialCheck(t, "web", netip.AddrPortFrom(db6, 5432), netlab.Open, "db:5432")
			c.ctDialCheck(t, "other", netip.AddrPortFrom(db6, 5432), netlab.Dropped, "")
		}
		c.ctLogChainOnFailure(t, "forward")
	})

	// A container's traffic to the host meets its egress, then the host's
	// rules (docs/containers.md): other (egress allow) reaches the host's
	// ssh, which host.input allows; fetcher's egress rejects it.
	t.Run("container to the host", func(t *testing.T) {
		c.ctDialCheck(t, "other", netip.AddrPortFrom(ctGateway, 22), netlab.Open, "host:22")
		c.ctDialCheck(t, "fetcher", netip.AddrPortFrom(ctGateway, 22), netlab.Refused, "")
		c.ctLogChainOnFailure(t, "input")
	})

	// 4. A restarted container gets another address (filler takes its
	// old one); the rules follow it within a second of docker start.
	t.Run("restart keeps rules", func(t *testing.T) {
		old4, _ := c.ctIP(t, "web")
		c.ctDocker(t, "stop", "-t", "1", "web")
		c.ctRun(t, "filler", nil)
		off := len(c.daemon.log.String())
		c.ctDocker(t, "start", "web")
		started := time.Now()
		c.ctWaitOpen(t, netlab.Net1, netlab.AddrPort(netlab.Host, 4, 8443), "web:443", 5*time.Second)
		took := time.Since(started)
		new4, new6 := c.ctIP(t, "web")
		filler4, _ := c.ctIP(t, "filler")
		t.Logf("web restarted: %v -> %v (filler has %v); net1 reaches web through 8443 %v after docker start returned",
			old4, new4, filler4, took.Round(time.Millisecond))
		if old4 == new4 {
			t.Logf("note: web got its old address %v back", new4)
		}
		if took > time.Second {
			t.Errorf("the rules applied to web's new address %v after %v, want within 1 s", new4, took)
		}
		if got := c.ctMapTarget("ctr_in_v4", new4); got != "ctr_web_in" {
			t.Errorf("ctr_in_v4 sends web's new address %v to %q, want ctr_web_in", new4, got)
		}
		if new6.IsValid() {
			if got := c.ctMapTarget("ctr_in_v6", new6); got != "ctr_web_in" {
				t.Errorf("ctr_in_v6 sends web's new address %v to %q, want ctr_web_in", new6, got)
			}
		}
		if got := c.ctMapTarget("ctr_in_v4", old4); old4 != new4 && (got == "ctr_web_in" || (old4 != filler4 && got != "")) {
			t.Errorf("ctr_in_v4 still sends web's old address %v to %q", old4, got)
		}
		c.lab.Check(t, ctConcat(
			ctHostProbes(netlab.Net1, 8443, netlab.Open, "web:443", v6),
			ctHostProbes(netlab.Net2, 8443, netlab.Dropped, "", v6),
			ctHostProbes(netlab.Net1, 8080, netlab.Dropped, "", v6)))
		// container:web follows the new address too.
		db4, _ := c.ctIP(t, "db")
		c.ctDialCheck(t, "web", netip.AddrPortFrom(db4, 5432), netlab.Open, "db:5432")
		t.Logf("the daemon after docker start:\n%s", c.daemon.log.since(off))
	})

	// 5. ra (open to net1 on 7000) is removed and rb (no entry, default
	// ingress deny) starts at once on ra's address and port: net1 must
	// never reach it, from the moment docker run returns.
	t.Run("address reuse does not inherit access", func(t *testing.T) {
		c.ctDocker(t, "network", "create", "--subnet", ctReuseSubnet, "reuse")
		defer func() {
			_ = c.d.Remove("rb")
			if _, err := c.d.CLI(context.Background(), "network", "rm", "reuse"); err != nil {
				t.Error(err)
			}
		}()
		c.ctRun(t, "ra", []string{"--network", "reuse", "-p", "7000:80"}, 80)
		a4, _ := c.ctIP(t, "ra")
		eventually(t, 5*time.Second, "ra in ctr_in_v4", func() bool { return c.ctMapTarget("ctr_in_v4", a4) == "ctr_reuse_in" })
		c.lab.Check(t, ctConcat(
			ctHostProbes(netlab.Net1, 7000, netlab.Open, "ra:80", false),
			ctHostProbes(netlab.Net2, 7000, netlab.Dropped, "", false)))

		if err := c.d.Remove("ra"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.d.Run("rb", "--network", "reuse", "-p", "7000:80", dockerlab.TestImage, "serve", "-tcp", ":80"); err != nil {
			t.Fatal(err)
		}
		// Any answer at all, even a reset from a server not listening
		// yet, would mean the SYN got through.
		var leaks []string
		probes := 0
		for start := time.Now(); time.Since(start) < 1500*time.Millisecond; {
			at := time.Since(start)
			r := c.lab.DialTCP(netlab.Net1, netlab.AddrPort(netlab.Host, 4, 7000), ctPollProbe)
			probes++
			if r.Verdict != netlab.Dropped {
				leaks = append(leaks, fmt.Sprintf("at +%v: %v", at.Round(time.Millisecond), r))
			}
		}
		b4, _ := c.ctIP(t, "rb")
		if b4 != a4 {
			t.Fatalf("rb got %v, not ra's old address %v: the test did not reuse an address", b4, a4)
		}
		t.Logf("rb got ra's old address %v; %d probes from net1 in the 1.5 s after docker run returned", b4, probes)
		if len(leaks) > 0 {
			t.Errorf("net1 reached rb (ra's old address %v) on 7000, which no entry allows: %v", b4, leaks)
		}
		if got := c.ctMapTarget("ctr_in_v4", b4); got != "ctr_default_in" {
			t.Errorf("ctr_in_v4 sends rb's address %v to %q, want ctr_default_in", b4, got)
		}
		if err := c.d.WaitLog("rb", "ready", 10*time.Second); err != nil {
			t.Fatal(err)
		}
		c.lab.Check(t, ctHostProbes(netlab.Net1, 7000, netlab.Dropped, "", false))
	})

	// 7. Labels: lbl opens its published port to net1 alone; badlbl's
	// labels would open it to everyone but do not parse, so it is denied
	// both ways, and seawall status says why.
	t.Run("labels", func(t *testing.T) {
		c.ctRun(t, "lbl", []string{"-p", "8081:80", "--label",
			fmt.Sprintf("seawall.ingress=allow tcp/8081 from %s, %s", ctNet1V4, ctNet1V6)}, 80)
		c.ctRun(t, "badlbl", []string{"-p", "8082:80",
			"--label", "seawall.default=ingress=published,egress=allow",
			"--label", "seawall.ingress=alow tcp/8082"}, 80)
		lbl4, _ := c.ctIP(t, "lbl")
		bad4, _ := c.ctIP(t, "badlbl")
		eventually(t, 5*time.Second, "lbl and badlbl in ctr_in_v4", func() bool {
			return strings.HasPrefix(c.ctMapTarget("ctr_in_v4", lbl4), "ctr_lbl_") && c.ctMapTarget("ctr_in_v4", bad4) == "ctr_denied_in"
		})
		c.lab.Check(t, ctConcat(
			ctHostProbes(netlab.Net1, 8081, netlab.Open, "lbl:80", v6),
			ctHostProbes(netlab.Net2, 8081, netlab.Dropped, "", v6),
			ctHostProbes(netlab.Net1, 8082, netlab.Dropped, "", v6),
			ctHostProbes(netlab.Net2, 8082, netlab.Dropped, "", v6)))
		if got := c.ctMapTarget("ctr_out_v4", bad4); got != "ctr_denied_out" {
			t.Errorf("ctr_out_v4 sends badlbl's address %v to %q, want ctr_denied_out", bad4, got)
		}
		c.ctDialCheck(t, "badlbl", netip.AddrPortFrom(ctNet1V4, 443), netlab.Dropped, "")
		// lbl's egress is containers.default's: allow.
		c.ctDialCheck(t, "lbl", netip.AddrPortFrom(ctNet1V4, 443), netlab.Open, "net1:443")

		status := c.ctSeawall(t, "status")
		if !regexp.MustCompile(`(?m)^\s*badlbl\s+denied\s`).MatchString(status) ||
			!strings.Contains(status, `denied both ways: container "badlbl": label seawall.ingress: col 1: unknown action "alow"`) {
			t.Errorf("seawall status does not name badlbl and its label error:\n%s", status)
		}
		if log := c.daemon.log.String(); !strings.Contains(log, "alow") {
			t.Logf("note: the daemon's log does not mention badlbl's label error (seawall status does)")
		}
	})

	// 8. With the daemon stopped, a new container (which the policy
	// opens to net1) is in docker_nets but in no map: denied. The daemon,
	// started again, reconciles it.
	t.Run("unreconciled containers fail closed", func(t *testing.T) {
		c.daemon.ctStop(t)
		c.ctRun(t, "late", []string{"-p", "9090:80"}, 80)
		late4, _ := c.ctIP(t, "late")
		if got := c.ctMapTarget("ctr_in_v4", late4); got != "" {
			t.Fatalf("late's address %v is in ctr_in_v4 (%s) with the daemon stopped", late4, got)
		}
		nets := c.ctNft(t, "list", "set", "inet", "seawall", "docker_nets_v4")
		if !strings.Contains(nets, netip.MustParsePrefix(dockerlab.DefaultBridge).Masked().String()) {
			t.Errorf("docker_nets_v4 does not hold docker0's subnet:\n%s", nets)
		}
		c.lab.Check(t, ctConcat(
			ctHostProbes(netlab.Net1, 9090, netlab.Dropped, "", v6),
			ctHostProbes(netlab.Net2, 9090, netlab.Dropped, "", v6),
			ctHostProbes(netlab.Net1, 8443, netlab.Open, "web:443", v6)))

		c.ctStartDaemon(t)
		started := time.Now()
		c.ctWaitOpen(t, netlab.Net1, netlab.AddrPort(netlab.Host, 4, 9090), "late:80", 10*time.Second)
		t.Logf("the restarted daemon opened late to net1 %v after it started", time.Since(started).Round(time.Millisecond))
		c.ctWaitLog(t, 0, 5*time.Second, "containers reconciled")
		c.lab.Check(t, ctConcat(
			ctHostProbes(netlab.Net1, 9090, netlab.Open, "late:80", v6),
			ctHostProbes(netlab.Net2, 9090, netlab.Dropped, "", v6),
			ctHostProbes(netlab.Net1, 8443, netlab.Open, "web:443", v6)))
	})

	// Restarting seawall's daemon must not close what it had opened: the
	// kernel holds the reconciled containers, and the state directory
	// records them (as `seawall apply` uses when Docker cannot be
	// reached).
	t.Run("daemon restart keeps reconciled containers", func(t *testing.T) {
		webPort := netlab.AddrPort(netlab.Host, 4, 8443)
		t.Run("docker reachable", func(t *testing.T) {
			c.daemon.ctStop(t)
			// net1 may reach web, net2 and net3 may not. A dropped probe
			// takes ctPollProbe, so several probers watch the closed side.
			// (This catches a window of a few tens of milliseconds most of
			// the time; "docker unreachable" below makes it last.)
			probers := []*ctProber{c.ctStartProber(netlab.Net1, webPort, netlab.Open, "web:443")}
			for i := 0; i < 8; i++ {
				probers = append(probers, c.ctStartProber([]string{netlab.Net2, netlab.Net3}[i%2], webPort, netlab.Dropped, ""))
			}
			c.ctStartDaemon(t)
			c.ctWaitLog(t, 0, 5*time.Second, "containers reconciled")
			// Keep probing a little past the reconcile.
			after := probers[1].ctProbes()
			eventually(t, 5*time.Second, "more probes after the reconcile", func() bool { return probers[1].ctProbes() >= after+4 })
			var n int
			var bad []string
			for _, p := range probers {
				pn, pbad := p.ctStopProber()
				n, bad = n+pn, append(bad, pbad...)
			}
			t.Logf("%d probes to web while the daemon restarted; daemon log:\n%s", n, c.daemon.log.String())
			if len(bad) > 0 {
				t.Errorf("web's verdicts did not hold while seawall's daemon restarted (%d of %d probes):\n%s",
					len(bad), n, strings.Join(bad, "\n"))
			}
		})
		t.Run("docker unreachable", func(t *testing.T) {
			c.daemon.ctStop(t)
			c.ctStartDaemonWith(t, "unix://"+filepath.Join(c.dir, "no-docker.sock"))
			// The daemon has compiled and applied its first ruleset once
			// it reports that Docker does not answer.
			c.ctWaitLog(t, 0, 5*time.Second, "could not read Docker's containers")
			web4, _ := c.ctIP(t, "web")
			if got := c.ctMapTarget("ctr_in_v4", web4); got != "ctr_web_in" {
				t.Errorf("with Docker unreachable, the restarted daemon sends web's address %v to %q, want ctr_web_in (as recorded)", web4, got)
			}
			c.lab.Check(t, ctConcat(
				ctHostProbes(netlab.Net1, 8443, netlab.Open, "web:443", v6),
				ctHostProbes(netlab.Net2, 8443, netlab.Dropped, "", v6),
				ctHostProbes(netlab.Net1, 8080, netlab.Dropped, "", v6),
				ctHostProbes(netlab.Net1, 9090, netlab.Open, "late:80", v6),
				ctHostProbes(netlab.Net2, 9090, netlab.Dropped, "", v6)))
			c.ctDialCheck(t, "fetcher", netip.AddrPortFrom(ctNet1V4, 8443), netlab.Refused, "")
			c.daemon.ctStop(t)
			c.ctStartDaemon(t)
			c.ctWaitLog(t, 0, 5*time.Second, "containers reconciled")
			c.ctWaitOpen(t, netlab.Net1, webPort, "web:443", 5*time.Second)
		})
		// With neither Docker nor a record (a fresh state directory),
		// plan reads Docker's bridges off the interfaces: every address
		// on docker0 is an unknown container, denied, not let through.
		t.Run("docker unreachable, nothing recorded", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := c.lab.Command(ctx, netlab.Host, seawallBin, "-c", c.policy, "--state-dir", t.TempDir(), "plan", "--format", "nft")
			cmd.Env = ctEnv("unix://" + filepath.Join(c.dir, "no-docker.sock"))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("seawall plan: %v\n%s", err, stderr.String())
			}
			if !strings.Contains(stderr.String(), "Docker's bridges") {
				t.Errorf("plan did not say it fell back to Docker's bridges:\n%s", stderr.String())
			}
			bridge := netip.MustParsePrefix(dockerlab.DefaultBridge).Masked().String()
			if !regexp.MustCompile(`(?s)set docker_nets_v4 \{[^}]*` + regexp.QuoteMeta(bridge)).Match(out) {
				t.Errorf("the plan's docker_nets_v4 does not hold docker0's subnet %s:\n%s", bridge, out)
			}
		})
	})

	// 6. The daemon puts the rules back within a second when nft removes
	// them.
	t.Run("resilience", func(t *testing.T) {
		t.Run("delete table", func(t *testing.T) {
			c.ctRestored(t, "delete", "table", "inet", "seawall")
			c.lab.Check(t, ctConcat(
				ctHostProbes(netlab.Net1, 8443, netlab.Open, "web:443", v6),
				ctHostProbes(netlab.Net2, 8443, netlab.Dropped, "", v6)))
		})
		// nft flush ruleset also removes Docker's own tables in the
		// host namespace, which dockerd 20.10 does not put back. Its DNAT
		// is gone, so published ports now reach docker-proxy through the
		// host's input, where seawall's ctr_pub maps still apply web's
		// ingress.
		t.Run("flush ruleset", func(t *testing.T) {
			c.ctRestored(t, "flush", "ruleset")
			tables := c.ctNft(t, "list", "tables")
			t.Logf("tables after the flush: %s", strings.Join(strings.Fields(tables), " "))
			c.lab.Check(t, ctConcat(
				ctHostProbes(netlab.Net1, 8443, netlab.Open, "web:443", true),
				ctHostProbes(netlab.Net2, 8443, netlab.Dropped, "", true),
				ctHostProbes(netlab.Net1, 8080, netlab.Dropped, "", true)))
		})
		// Last, as it stops every container but web: dockerd stops and
		// starts again (putting back the rules the flush removed); web
		// (--restart always) comes back, perhaps on another address.
		// seawall's event stream breaks and reconnects, reads everything
		// again, and web's rules follow it within a second of its start.
		t.Run("docker daemon restart", func(t *testing.T) {
			off := len(c.daemon.log.String())
			away, err := c.d.Restart(90 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("dockerd answered again %v after SIGTERM", away.Round(time.Millisecond))
			var v4 netip.Addr
			eventually(t, 60*time.Second, "web running again", func() bool {
				running, err := c.d.Inspect("web", "{{.State.Running}}")
				if err != nil || running != "true" {
					return false
				}
				v4, _ = c.ctIP(t, "web")
				return v4.IsValid()
			})
			// The map may still hold web's address from before (it often
			// gets the same one back): what counts is a reconcile of the
			// facts read after the restart.
			c.ctWaitLog(t, off, 10*time.Second, "reconnected")
			eventually(t, 10*time.Second, "web's address in ctr_in_v4", func() bool { return c.ctMapTarget("ctr_in_v4", v4) == "ctr_web_in" })
			live := time.Now()
			startedAt, err := c.d.Inspect("web", "{{.State.StartedAt}}")
			if err != nil {
				t.Fatal(err)
			}
			started, err := time.Parse(time.RFC3339Nano, startedAt)
			if err != nil {
				t.Fatal(err)
			}
			// live is when a poll first saw the element: an upper bound.
			lag := live.Sub(started)
			t.Logf("web (%v) started at %s; its rules were live at most %v later", v4, started.Format(time.StampMicro), lag.Round(time.Millisecond))
			if lag > time.Second {
				t.Errorf("web's rules were live %v after it started again, want under 1s", lag)
			}
			c.lab.Check(t, ctConcat(
				ctHostProbes(netlab.Net1, 8443, netlab.Open, "web:443", v6),
				ctHostProbes(netlab.Net2, 8443, netlab.Dropped, "", v6),
				ctHostProbes(netlab.Net1, 8080, netlab.Dropped, "", v6)))
		})
	})
}

// ctConcat joins probe lists.
// ctCheckLegacy checks that dockerd's rules really are in x_tables: its
// DNAT chain in iptables-legacy's nat table, and no ip nat table in
// nftables (where iptables-nft would have put it).
func (c *ctWorld) ctCheckLegacy(t *testing.T) {
	t.Helper()
	out, err := c.lab.Exec(context.Background(), netlab.Host, "iptables-legacy-save", "-t", "nat")
	if err != nil || !strings.Contains(out, ":DOCKER ") {
		t.Fatalf("dockerd's DOCKER chain is not in iptables-legacy's nat table (err %v):\n%s", err, out)
	}
	if tables := c.ctNft(t, "list", "tables"); strings.Contains(tables, "table ip nat") {
		t.Fatalf("dockerd wrote nftables tables although it was given iptables-legacy:\n%s", tables)
	}
}

func ctConcat(lists ...[]netlab.Probe) []netlab.Probe {
	var out []netlab.Probe
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// ctLogChainOnFailure logs a chain of table inet seawall, with counters,
// when the test has failed.
func (c *ctWorld) ctLogChainOnFailure(t *testing.T, chain string) {
	t.Helper()
	if t.Failed() {
		out, _ := c.sfNftMay(netlab.Host, "list", "chain", "inet", "seawall", chain)
		t.Logf("chain %s:\n%s", chain, out)
	}
}

// ctRestored removes seawall's rules with nft args, measures how long the
// daemon takes to put the table and web's map elements back, and checks
// the verdicts between containers, which need neither NAT nor Docker's
// tables.
func (c *ctWorld) ctRestored(t *testing.T, args ...string) {
	t.Helper()
	web4, _ := c.ctIP(t, "web")
	db4, _ := c.ctIP(t, "db")
	old := c.ctTableHandle()
	off := len(c.daemon.log.String())
	c.ctNft(t, args...)
	start := time.Now()
	eventually(t, 5*time.Second, "the daemon to restore table inet seawall", func() bool {
		h := c.ctTableHandle()
		return h != "" && h != old && c.ctMapTarget("ctr_in_v4", web4) == "ctr_web_in"
	})
	took := time.Since(start)
	t.Logf("after nft %s: table and maps back after %v", strings.Join(args, " "), took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("after nft %s the daemon restored the rules after %v, want within 1 s", strings.Join(args, " "), took)
	}
	c.ctWaitLog(t, off, time.Second, "restored")
	c.ctDialCheck(t, "web", netip.AddrPortFrom(db4, 5432), netlab.Open, "db:5432")
	c.ctDialCheck(t, "other", netip.AddrPortFrom(db4, 5432), netlab.Dropped, "")
}

// ctNft runs nft in the host namespace.
func (c *ctWorld) ctNft(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.sfNftMay(netlab.Host, args...)
	if err != nil {
		t.Fatalf("nft %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// ctTableHandle is the handle of table inet seawall in the host, or "".
func (c *ctWorld) ctTableHandle() string {
	out, err := c.sfNftMay(netlab.Host, "-a", "list", "table", "inet", "seawall")
	if err != nil {
		return ""
	}
	first, _, _ := strings.Cut(out, "\n")
	_, h, _ := strings.Cut(first, "# handle ")
	return strings.TrimSpace(h)
}
