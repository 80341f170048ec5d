// Package demo shows seawall doing its main job without touching the
// machine's own firewall. It builds a lab of network namespaces (a host
// under test, a router, a trusted LAN, an "internet" and a honeypot) and,
// where Docker can run, a dockerd confined to the host's namespace with one
// container publishing a port. It probes the host from everywhere, starts
// seawall's daemon inside the host's namespace, probes again, and then has
// a WordPress brute-forcer banned by a jail. `make demo` runs it through
// ./demo; e2e.TestDemo runs it too, so the README's first command keeps
// working.
package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/seawall/seawall/internal/dockerlab"
	"github.com/seawall/seawall/internal/netlab"
)

// hostPolicy is the host part of the demo's policy.
const hostPolicy = `version: 1
groups:
  office: [10.137.0.0/24, "2001:db8:1::/64"]   # the trusted LAN
  blog: [203.0.113.7, "2001:db8:2::7"]         # the blog server may use MySQL
sets:
  scanners:                                    # a blocklist (kernel set)
    entries: [203.0.113.12, "2001:db8:2::12"]
host:
  policy: {input: drop, output: accept, forward: drop}
  input:
    - deny: any
      from: scanners
    - allow: ssh
      from: office
      limit: 4/minute
    - allow: [http, https]
    - allow: icmp
    - allow: tcp/3306
      from: blog
  redirect:                                    # strangers' SSH goes to a honeypot
    - port: tcp/22
      not_from: office
      to: 172.31.0.4:8022
    - port: tcp/22
      not_from: office
      to: "[fd00:31::4]:8022"
`

// containersPolicy is the containers part: Docker publishes web's port to
// everyone, the scanners included; seawall keeps the blocklist in force.
const containersPolicy = `containers:
  default: {ingress: deny, egress: allow}
  web:
    select: {name: web}
    ingress:
      - deny: any
        from: scanners
      - allow: tcp/8080                        # the port clients dial: the published one
        from: any
`

// jailsPolicy is the jails part; %s is the access log.
const jailsPolicy = `jails:
  wordpress:                                   # password guessing on wp-login.php
    logs: {file: %s}
    match: ['^<HOST> \S+ \S+ \[[^\]]+\] "POST /wp-login\.php']
    maxretry: 3
    findtime: 10m
    bantime: 1h
`

// webPort is the host port Docker publishes web's port 80 on.
const webPort = 8080

// Options configure Run.
type Options struct {
	Seawall string    // the seawall binary
	Out     io.Writer // where the story is told
	// NoDocker leaves Docker out even where it could run.
	NoDocker bool
}

// Run runs the demo. It returns an error if anything did not behave as
// the policy says.
func Run(opts Options) error {
	out := opts.Out
	if err := netlab.Available(); err != nil {
		return fmt.Errorf("the demo needs network namespaces: %w", err)
	}
	lab, err := netlab.StartStandard(netlab.Options{ProbeTimeout: 400 * time.Millisecond})
	if err != nil {
		return err
	}
	defer lab.Close()
	for _, s := range []struct {
		ns   string
		port uint16
	}{{netlab.Host, 22}, {netlab.Host, 80}, {netlab.Host, 443}, {netlab.Host, 3306}, {netlab.Honeypot, 8022}} {
		if _, err := lab.ServeTCP(s.ns, fmt.Sprintf(":%d", s.port)); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "seawall-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	fmt.Fprintln(out, "A lab of network namespaces: host 192.0.2.2 / 2001:db8::2 (runs seawall), a trusted LAN")
	fmt.Fprintln(out, "10.137.0.0/24, an internet 203.0.113.0/24 (net3 .12 is a known scanner, net1 also holds the")
	fmt.Fprintln(out, "blog's address .7) and a honeypot 172.31.0.4 behind the host. The machine's own firewall is not touched.")

	// Docker, confined to the host's namespace, with web publishing
	// 8080 -> 80 as `docker run -p 8080:80` does.
	var docker *dockerlab.Docker
	dockerHost := "unix://" + filepath.Join(dir, "no-docker.sock")
	if why := dockerMissing(opts); why != "" {
		fmt.Fprintf(out, "\nDocker is left out: %s.\n", why)
	} else {
		begin := time.Now()
		// KeepForwarding: Docker's FORWARD policy stays accept, so the
		// lab's own routed traffic (to the honeypot) is not Docker's to drop.
		docker, err = dockerlab.Launch(lab, dockerlab.Options{KeepForwarding: true})
		if err != nil {
			return err
		}
		defer docker.Close()
		if err := docker.RunServer("web", []string{"-p", fmt.Sprintf("%d:80", webPort)}, "-tcp", ":80"); err != nil {
			return err
		}
		dockerHost = docker.Host()
		fmt.Fprintf(out, "\nA dockerd confined to the host's namespace runs container web, published with -p %d:80 (%v).\n",
			webPort, time.Since(begin).Round(100*time.Millisecond))
	}

	title := "Without seawall: everything reaches the host"
	if docker != nil {
		title += ", and Docker publishes web to everyone"
	}
	fmt.Fprintln(out, "\n== "+title)
	fmt.Fprint(out, netlab.FormatTable(lab.Run(probes(false, docker != nil))))

	accessLog := filepath.Join(dir, "access.log")
	if err := os.WriteFile(accessLog, nil, 0o644); err != nil {
		return err
	}
	policy := hostPolicy
	if docker != nil {
		policy += containersPolicy
	}
	policy += fmt.Sprintf(jailsPolicy, accessLog)
	path := filepath.Join(dir, "seawall.yaml")
	if err := os.WriteFile(path, []byte(policy), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(out, "\n== The policy\n"+indent(policy))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env := append(cleanEnv(), "DOCKER_HOST="+dockerHost)
	sw := func(args ...string) (string, error) {
		cmd := lab.Command(ctx, netlab.Host, append([]string{opts.Seawall, "-c", path, "--state-dir", filepath.Join(dir, "state")}, args...)...)
		cmd.Env = env
		b, err := cmd.CombinedOutput()
		return string(b), err
	}

	// The daemon applies the policy, follows Docker and runs the jail.
	daemonCtx, stopDaemon := context.WithCancel(ctx)
	daemon := lab.Command(daemonCtx, netlab.Host, opts.Seawall, "-c", path, "--state-dir", filepath.Join(dir, "state"), "daemon")
	daemon.Env = env
	var dlog syncBuffer
	daemon.Stdout, daemon.Stderr = &dlog, &dlog
	start := time.Now()
	if err := daemon.Start(); err != nil {
		stopDaemon()
		return fmt.Errorf("seawall daemon: %w", err)
	}
	defer func() {
		stopDaemon()
		_ = daemon.Wait()
	}()
	want := []string{"applied policy"}
	if docker != nil {
		want = append(want, "containers reconciled")
	}
	for _, w := range want {
		if err := waitFor(10*time.Second, func() bool { return strings.Contains(dlog.String(), w) }); err != nil {
			return fmt.Errorf("seawall daemon: no %q in its log:\n%s", w, dlog.String())
		}
	}
	fmt.Fprintf(out, "== seawall daemon: %s after %v\n", strings.Join(want, ", "), time.Since(start).Round(time.Millisecond))

	failed := 0
	check := func(title string, ps []netlab.Probe) {
		fmt.Fprintln(out, "\n== "+title)
		results := lab.Run(ps)
		fmt.Fprint(out, netlab.FormatTable(results))
		for _, r := range results {
			if !r.OK {
				failed++
			}
		}
	}
	check("With seawall", probes(true, docker != nil))

	// A WordPress brute-forcer: three failed logins in the access log.
	attacker := netlab.Addr(netlab.Net2, 4)
	f, err := os.OpenFile(accessLog, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	for i := range 3 {
		fmt.Fprintf(f, "%s - - [%s] \"POST /wp-login.php HTTP/1.1\" 200 %d \"-\" \"Mozilla/5.0\"\n",
			attacker, time.Now().Format("02/Jan/2006:15:04:05 -0700"), 4000+i)
	}
	if err := f.Close(); err != nil {
		return err
	}
	wrote := time.Now()
	var bans string
	if err := waitFor(5*time.Second, func() bool {
		bans, _ = sw("bans")
		return strings.Contains(bans, attacker.String())
	}); err != nil {
		return fmt.Errorf("%v was not banned after three failed logins:\n%s\ndaemon log:\n%s", attacker, bans, dlog.String())
	}
	fmt.Fprintf(out, "\n== net2 (%v) fails three WordPress logins; banned within %v (seawall bans)\n%s",
		attacker, time.Since(wrote).Round(time.Millisecond), indent(bans))
	title = "net2 banned: cut off from the host; everyone else unaffected"
	if docker != nil {
		title = "net2 banned: cut off from the host and from web; everyone else unaffected"
	}
	check(title, banProbes(true, docker != nil))

	if o, err := sw("unban", attacker.String()); err != nil {
		return fmt.Errorf("seawall unban: %v\n%s", err, o)
	}
	check("seawall unban "+attacker.String()+": net2 is back", banProbes(false, docker != nil))

	o, err := sw("status")
	if err != nil {
		return fmt.Errorf("seawall status: %v\n%s", err, o)
	}
	fmt.Fprintln(out, "\n== seawall status (rules that counted packets, and the containers)")
	inContainers := false
	for _, line := range strings.Split(o, "\n") {
		f := strings.Fields(line)
		switch {
		case strings.TrimSpace(line) == "":
		case strings.HasSuffix(line, " entries"), line == "sets": // the sets, after the containers
			inContainers = false
		case strings.HasPrefix(line, "containers"):
			inContainers = true
			fmt.Fprintln(out, line)
		case inContainers, strings.HasPrefix(line, "chain"), len(f) > 2 && f[0] != "0" && f[0] != "packets":
			fmt.Fprintln(out, line)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d probes did not behave as the policy says", failed)
	}
	fmt.Fprintln(out, "\nEvery probe behaved as the policy says. The lab is removed on exit.")
	return nil
}

// dockerMissing says why the demo runs without Docker, or "".
func dockerMissing(opts Options) string {
	if opts.NoDocker {
		return "asked to"
	}
	if err := dockerlab.Available(); err != nil {
		return err.Error()
	}
	if _, err := dockerlab.ServerBinary(); err != nil {
		return err.Error()
	}
	return ""
}

// probes lists what the demo tries before and after seawall; with seawall,
// Want is what the policy says, without it everything is open.
func probes(withSeawall, docker bool) []netlab.Probe {
	h4, h6 := netlab.Addr(netlab.Host, 4), netlab.Addr(netlab.Host, 6)
	hostSSH, honeypot := netlab.Banner(netlab.Host, 22), netlab.Banner(netlab.Honeypot, 8022)
	type p struct {
		from   string
		src    string
		to     bool // true: v6
		proto  netlab.Proto
		port   uint16
		want   netlab.Verdict
		banner string
	}
	list := []p{
		{netlab.LAN1, "", false, netlab.TCP, 22, netlab.Open, hostSSH},
		{netlab.LAN1, "", true, netlab.TCP, 22, netlab.Open, hostSSH},
		{netlab.Net2, "", false, netlab.TCP, 22, netlab.Open, honeypot},
		{netlab.Net2, "", true, netlab.TCP, 22, netlab.Open, honeypot},
		{netlab.Net2, "", false, netlab.TCP, 80, netlab.Open, ""},
		{netlab.Net2, "", true, netlab.TCP, 443, netlab.Open, ""},
		{netlab.Net2, "", false, netlab.TCP, 3306, netlab.Dropped, ""},
		{netlab.Net1, "blog", false, netlab.TCP, 3306, netlab.Open, ""},
		{netlab.Net1, "blog", true, netlab.TCP, 3306, netlab.Open, ""},
		{netlab.Net3, "", false, netlab.TCP, 80, netlab.Dropped, ""},
		{netlab.Net3, "", true, netlab.TCP, 80, netlab.Dropped, ""},
		{netlab.Net2, "", false, netlab.ICMP, 0, netlab.Open, ""},
		{netlab.Net2, "", true, netlab.ICMP, 0, netlab.Open, ""},
		{netlab.Net3, "", false, netlab.ICMP, 0, netlab.Dropped, ""},
	}
	web := netlab.Banner("web", 80)
	if docker {
		// Docker's DNAT, over IPv4: everyone but the scanner, with
		// seawall; without it, the scanner too (Docker's published ports
		// bypass the host's input rules).
		list = append(list,
			p{netlab.LAN1, "", false, netlab.TCP, webPort, netlab.Open, web},
			p{netlab.Net2, "", false, netlab.TCP, webPort, netlab.Open, web},
			p{netlab.Net3, "", false, netlab.TCP, webPort, netlab.Dropped, ""})
	}
	var out []netlab.Probe
	for _, x := range list {
		to, ipv := h4, 4
		if x.to {
			to, ipv = h6, 6
		}
		pr := netlab.Probe{From: x.from, To: to, Proto: x.proto, Port: x.port, Want: x.want, WantBanner: x.banner}
		if x.src != "" {
			pr.Src = netlab.Addr(x.src, ipv)
		}
		if !withSeawall {
			pr.Want, pr.WantBanner = netlab.Open, ""
			switch x.banner {
			case "":
			case web:
				pr.WantBanner = web
			default:
				pr.WantBanner = hostSSH
			}
		}
		out = append(out, pr)
	}
	return out
}

// banProbes lists what the jail act tries: net2 over IPv4, banned or not,
// and net1 beside it, which the ban must not touch.
func banProbes(banned, docker bool) []netlab.Probe {
	h4 := netlab.Addr(netlab.Host, 4)
	net2 := netlab.Open
	if banned {
		net2 = netlab.Dropped
	}
	ps := []netlab.Probe{
		{From: netlab.Net2, To: h4, Proto: netlab.TCP, Port: 80, Want: net2},
		{From: netlab.Net2, To: h4, Proto: netlab.ICMP, Want: net2},
		{From: netlab.Net1, To: h4, Proto: netlab.TCP, Port: 80, Want: netlab.Open},
		{From: netlab.Net1, To: h4, Proto: netlab.ICMP, Want: netlab.Open},
		{From: netlab.LAN1, To: h4, Proto: netlab.TCP, Port: 22, Want: netlab.Open, WantBanner: netlab.Banner(netlab.Host, 22)},
	}
	if docker {
		web := netlab.Banner("web", 80)
		ps = append(ps,
			netlab.Probe{From: netlab.Net2, To: h4, Proto: netlab.TCP, Port: webPort, Want: net2},
			netlab.Probe{From: netlab.Net1, To: h4, Proto: netlab.TCP, Port: webPort, Want: netlab.Open, WantBanner: web})
		if !banned {
			ps[len(ps)-2].WantBanner = web
		}
	}
	return ps
}

// cleanEnv is the environment of seawall's processes: the caller's without
// DOCKER_* (the demo says which Docker to use) and without an SSH session,
// whose address belongs to the machine, not to the lab.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DOCKER_") && !strings.HasPrefix(kv, "SSH_CONNECTION=") {
			env = append(env, kv)
		}
	}
	return env
}

// waitFor polls cond every 10 ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// syncBuffer is a strings.Builder safe for a process's output and readers.
type syncBuffer struct {
	mu sync.Mutex
	sb strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.String()
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ") + "\n"
}
