package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/seawall/seawall/bench/internal/benchns"
	"github.com/seawall/seawall/bench/internal/benchrun"
)

// The jail both engines run, and where seawall puts its IPv4 bans. The
// set's name comes from internal/compile (jail_<name>_v4 and _v6 in table
// inet seawall); keep it in step.
const (
	jailName       = "bench"
	seawallTable   = "seawall"
	seawallJailSet = "jail_" + jailName + "_v4"
)

// Tools under test, as the report names them.
const (
	toolSeawall  = "seawall"
	toolFail2ban = "fail2ban"
)

// engine is a ban engine under test, running in a network namespace of
// its own and reading one log file that the benchmark appends to.
type engine struct {
	tool    string
	exe     string // the program whose memory counts (seawall, or python)
	ns      *benchns.NS
	dir     string
	proc    *process
	logPath string
	log     *os.File // logPath, opened for appending
	set     *setReader
	pids    map[netip.Addr]int // the sshd process id each attacker's lines carry
	nextPID int
	warmup  time.Duration // from the warm-up attacker's lines to its ban
}

// engineOpts is what both engines are configured with.
type engineOpts struct {
	maxretry   int
	findtime   time.Duration
	bantime    time.Duration
	readyAfter time.Duration // how long to wait for an engine to come up
	every      time.Duration // poll interval while waiting for bans
}

// newEngine creates the namespace, directory and (empty) log file an
// engine needs.
func (b *bench) newEngine(tool, label string) (*engine, error) {
	ns, err := b.nsReg.Create(label)
	if err != nil {
		return nil, err
	}
	e := &engine{tool: tool, ns: ns, dir: filepath.Join(b.work, ns.Name()), pids: map[netip.Addr]int{}, nextPID: 20000}
	if err := os.MkdirAll(e.dir, 0o755); err != nil {
		return e, err
	}
	e.logPath = filepath.Join(e.dir, "auth.log")
	if e.log, err = os.OpenFile(e.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return e, err
	}
	return e, nil
}

// startSeawall runs seawall daemon with a policy holding one jail on the
// engine's log file, waits until the jail's set exists, and bans a
// warm-up attacker.
func (b *bench) startSeawall(ctx context.Context, label string) (_ *engine, err error) {
	e, err := b.newEngine(toolSeawall, label)
	defer func() {
		if err != nil {
			err = errors.Join(err, e.close())
		}
	}()
	if err != nil {
		return e, err
	}
	e.exe = b.seawall
	policy := filepath.Join(e.dir, "seawall.yaml")
	if err := os.WriteFile(policy, []byte(seawallPolicy(e.logPath, b.eo)), 0o644); err != nil {
		return e, err
	}
	cmd := e.ns.Command(context.Background(), b.seawall, "-c", policy, "--state-dir", filepath.Join(e.dir, "state"), "daemon")
	// No Docker: a socket path that does not exist, so that the daemon
	// never talks to the machine's own dockerd.
	cmd.Env = append(childEnv(), "DOCKER_HOST=unix://"+filepath.Join(e.dir, "no-docker.sock"))
	if e.proc, err = startProcess("seawall daemon", cmd, filepath.Join(e.dir, "daemon.log")); err != nil {
		return e, err
	}
	if e.set, err = newSetReader(e.ns, seawallTable, seawallJailSet); err != nil {
		return e, err
	}
	benchrun.Status("%s: waiting for set %s", label, e.set.name())
	if err := e.waitReady(ctx, b.eo.readyAfter, e.set.exists); err != nil {
		return e, err
	}
	return e, e.warmUp(ctx, b)
}

// seawallPolicy is the policy of the seawall side: ssh open, one jail on
// the log file with the sshd filter.
func seawallPolicy(logPath string, o engineOpts) string {
	return fmt.Sprintf(`# written by bench/jails
version: 1
host:
  input:
    - allow: ssh
      from: any
jails:
  %s:
    logs: {file: %s}
    filter: sshd
    maxretry: %d
    findtime: %s
    bantime: %s
`, jailName, strconv.Quote(logPath), o.maxretry, policyDuration(o.findtime), policyDuration(o.bantime))
}

// policyDuration writes d the way a policy file does: 10m, 1h, 90s.
func policyDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	default:
		return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10) + "s"
	}
}

// startFail2ban runs fail2ban-server in the foreground (-xf start) with
// one jail on the engine's log file and the nftables-allports action,
// waits until fail2ban-client reports the jail, and bans a warm-up
// attacker.
func (b *bench) startFail2ban(ctx context.Context, label string) (_ *engine, err error) {
	e, err := b.newEngine(toolFail2ban, label)
	defer func() {
		if err != nil {
			err = errors.Join(err, e.close())
		}
	}()
	if err != nil {
		return e, err
	}
	t := b.f2b
	e.exe = t.python
	conf, socket, err := t.writeServerConf(e.dir, f2bJail{
		logPath: e.logPath, maxretry: b.eo.maxretry, findtime: b.eo.findtime, bantime: b.eo.bantime,
		backend: b.f2bBackend, loglevel: b.o.f2bLogLevel,
	})
	if err != nil {
		return e, err
	}
	cmd := e.ns.Command(context.Background(), t.argv("fail2ban-server", "-xf", "-c", conf, "-s", socket,
		"-p", filepath.Join(e.dir, "fail2ban.pid"), "start")...)
	cmd.Env = t.env()
	cmd.Dir = e.dir
	if e.proc, err = startProcess("fail2ban-server", cmd, filepath.Join(e.dir, "server.out")); err != nil {
		return e, err
	}
	if e.set, err = newSetReader(e.ns, f2bTable, f2bSet); err != nil {
		return e, err
	}
	benchrun.Status("%s: waiting for fail2ban-client status %s", label, jailName)
	status := func() (bool, error) {
		c := e.ns.Command(ctx, t.argv("fail2ban-client", "-c", conf, "-s", socket, "status", jailName)...)
		c.Env = t.env()
		return c.Run() == nil, nil
	}
	if err := e.waitReady(ctx, b.eo.readyAfter, status); err != nil {
		return e, err
	}
	return e, e.warmUp(ctx, b)
}

// waitReady polls ready until it holds, the process dies or timeout
// passes.
func (e *engine) waitReady(ctx context.Context, timeout time.Duration, ready func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		if !e.proc.running() {
			return fmt.Errorf("%v; its output:\n%s", e.proc.exited(), e.proc.tail(15))
		}
		ok, err := ready()
		if err != nil {
			return err
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s was not ready after %v; its output:\n%s", e.proc.name, timeout, e.proc.tail(15))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if ok, err := e.ns.Holds(e.proc.pid()); err != nil || !ok {
		return fmt.Errorf("%s (pid %d) does not run in namespace %s (%v): refusing to go on", e.proc.name, e.proc.pid(), e.ns.Name(), err)
	}
	return nil
}

// warmUp bans one attacker from the benchmark-only range 198.18.0.0/15
// and waits until it is in the set. That shows the engine reads the log
// and bans, and takes one-time costs (fail2ban creates its table, chain
// and set at the first ban) out of the measurements. seawall reads a new
// log from its end, and may open it only after its set exists, so the
// lines are written again every 2 s until the ban shows.
func (e *engine) warmUp(ctx context.Context, b *bench) error {
	b.warmups++
	a := netip.AddrFrom4([4]byte{198, 18, byte(b.warmups >> 7), byte(b.warmups<<1) + 2})
	start := time.Now()
	deadline := start.Add(b.eo.readyAfter)
	for writes := 1; ; writes++ {
		if _, err := e.appendFailures([]netip.Addr{a}, b.eo.maxretry); err != nil {
			return err
		}
		_, err := e.set.waitOne(ctx, a, time.Now(), waitOpts{every: 5 * time.Millisecond, timeout: 2 * time.Second, alive: e.alive})
		if err == nil {
			e.warmup = time.Since(start)
			return nil
		}
		if ctx.Err() != nil || !e.proc.running() || time.Now().After(deadline) {
			return fmt.Errorf("%s did not ban the warm-up attacker %s within %v (its %d lines written %d times; last: %w); its output:\n%s",
				e.tool, a, time.Since(start).Round(time.Second), b.eo.maxretry, writes, err, e.proc.tail(15))
		}
	}
}

// alive fails once the engine's process has exited.
func (e *engine) alive() error {
	if e.proc.running() {
		return nil
	}
	return fmt.Errorf("%v; its output:\n%s", e.proc.exited(), e.proc.tail(15))
}

// appendFailures appends perAddr failed-password lines for each address
// (each address's lines carry its own sshd process id, as one attacking
// connection's would), all in one write, stamped with the current time.
// It returns the time just before the write.
func (e *engine) appendFailures(addrs []netip.Addr, perAddr int) (time.Time, error) {
	now := time.Now()
	buf := make([]byte, 0, len(addrs)*perAddr*100)
	for _, a := range addrs {
		pid, ok := e.pids[a]
		if !ok {
			e.nextPID++
			pid = e.nextPID
			e.pids[a] = pid
		}
		for range perAddr {
			buf = appendFailLine(buf, now, pid, a)
		}
	}
	start := time.Now()
	if _, err := e.log.Write(buf); err != nil {
		return start, fmt.Errorf("could not append to %s: %w", e.logPath, err)
	}
	return start, nil
}

// appendFailLine appends one sshd line that fail2ban's sshd filter counts
// as a failure from a.
func appendFailLine(b []byte, t time.Time, pid int, a netip.Addr) []byte {
	b = t.AppendFormat(b, syslogStamp)
	b = append(b, " "+logHost+" sshd["...)
	b = strconv.AppendInt(b, int64(pid), 10)
	b = append(b, "]: Failed password for invalid user admin from "...)
	b = a.AppendTo(b)
	b = append(b, " port "...)
	b = strconv.AppendInt(b, int64(1024+pid%60000), 10)
	return append(b, " ssh2\n"...)
}

// close stops the engine's process and deletes its namespace.
func (e *engine) close() error {
	if e == nil {
		return nil
	}
	var errs []error
	if e.proc != nil {
		// fail2ban unbans everything at stop (one nft flush); give it time.
		errs = append(errs, e.proc.stop(30*time.Second))
	}
	if e.set != nil {
		e.set.close()
	}
	if e.log != nil {
		errs = append(errs, e.log.Close())
	}
	if e.ns != nil {
		errs = append(errs, e.ns.Delete())
	}
	return errors.Join(errs...)
}
