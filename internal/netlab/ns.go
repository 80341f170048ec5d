package netlab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// cmdTimeout bounds every command the lab runs whose context has no
// deadline.
const cmdTimeout = 15 * time.Second

// validName reports whether a short namespace name is acceptable: 1 to 32
// lower-case letters, digits and dashes, not starting with a dash. This
// keeps names safe in paths and shell words.
func validName(name string) bool {
	if name == "" || len(name) > 32 || name[0] == '-' {
		return false
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// checkName returns an error for an invalid short namespace name.
func checkName(name string) error {
	if !validName(name) {
		return fmt.Errorf("could not use namespace %q: invalid short name", name)
	}
	return nil
}

// InNS runs fn on an OS thread that has joined namespace ns, and returns
// fn's error. Sockets created by fn stay in ns after InNS returns, so they
// can be used from any goroutine. fn must not start goroutines that expect
// to be in ns, and must not call InNS itself.
//
// The thread goes back to its original namespace before it is handed back
// to the Go scheduler; if that fails, the thread stays locked and the
// runtime discards it when the goroutine ends.
func (l *Lab) InNS(ns string, fn func() error) error {
	if err := checkName(ns); err != nil {
		return err
	}
	target, err := unix.Open(l.NSPath(ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("could not open namespace %s: %w", l.NS(ns), err)
	}
	defer unix.Close(target)

	done := make(chan error, 1)
	go func() {
		done <- runLocked(target, fn)
	}()
	return <-done
}

// runLocked locks the calling goroutine to its thread, switches the thread
// to the network namespace target, runs fn and switches back. It unlocks
// the thread only if the switch back succeeded, so a thread stuck in the
// wrong namespace dies with its goroutine.
func runLocked(target int, fn func() error) (err error) {
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("could not open current network namespace: %w", err)
	}
	defer unix.Close(orig)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("could not enter network namespace: %w", err)
	}
	defer func() {
		if rerr := unix.Setns(orig, unix.CLONE_NEWNET); rerr != nil {
			// Keep the thread locked: it must not run other goroutines.
			err = errors.Join(err, fmt.Errorf("could not restore network namespace: %w", rerr))
			return
		}
		runtime.UnlockOSThread()
	}()
	return fn()
}

// Exec runs argv inside namespace ns (via "ip netns exec") and returns its
// combined stdout and stderr. It is meant for short commands: without a
// deadline in ctx, the command is killed after 15 seconds. Use Command for
// long-running ones.
func (l *Lab) Exec(ctx context.Context, ns string, argv ...string) (string, error) {
	if err := checkName(ns); err != nil {
		return "", err
	}
	return l.run(ctx, "", append([]string{"netns", "exec", l.NS(ns)}, argv...)...)
}

// Command returns a command that runs argv inside namespace ns (via "ip
// netns exec"), for the caller to configure and start, e.g. a daemon that
// runs for the whole test. The caller must make sure it ends before the
// lab is closed.
func (l *Lab) Command(ctx context.Context, ns string, argv ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.NS(ns)}, argv...)...)
}

// Nft loads an nft script (as with "nft -f") inside namespace ns.
func (l *Lab) Nft(ctx context.Context, ns, script string) error {
	if err := checkName(ns); err != nil {
		return err
	}
	_, err := l.run(ctx, script, "netns", "exec", l.NS(ns), "nft", "-f", "-")
	return err
}

// IP runs "ip -n <ns> args..." and returns its combined output.
func (l *Lab) IP(ns string, args ...string) (string, error) {
	if err := checkName(ns); err != nil {
		return "", err
	}
	return l.run(context.Background(), "", append([]string{"-n", l.NS(ns)}, args...)...)
}

// ipBatch runs several ip commands in namespace ns with one process.
func (l *Lab) ipBatch(ns string, cmds ...string) error {
	if err := checkName(ns); err != nil {
		return err
	}
	_, err := l.run(context.Background(), strings.Join(cmds, "\n")+"\n", "-n", l.NS(ns), "-batch", "-")
	return err
}

// run runs the ip command with args, feeding it stdin if not empty.
func (l *Lab) run(ctx context.Context, stdin string, args ...string) (string, error) {
	if err := l.checkOpen(); err != nil {
		return "", err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cmdTimeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, "ip", args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	l.log("netlab: ip %s", strings.Join(args, " "))
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("could not run ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// baseSysctls are written in every namespace AddNS creates: no IPv6 DAD,
// no ICMP error rate limiting. Keys are paths under /proc/sys.
func baseSysctls() [][2]string {
	return [][2]string{
		{"net/ipv6/conf/all/accept_dad", "0"},
		{"net/ipv6/conf/default/accept_dad", "0"},
		{"net/ipv4/icmp_ratelimit", "0"},
		{"net/ipv4/icmp_ratemask", "0"},
		{"net/ipv6/icmp/ratelimit", "0"},
		{"net/ipv6/icmp/ratemask", ""},
	}
}

// AddNS creates namespace name (a short name: lower-case letters, digits
// and dashes) with lo up, IPv6 DAD off and ICMP rate limiting off.
func (l *Lab) AddNS(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return errors.New("could not add namespace: lab is closed")
	case l.nsSet[name]:
		l.mu.Unlock()
		return fmt.Errorf("could not add namespace %s: it exists", name)
	}
	l.nsSet[name] = true
	l.nsOrder = append(l.nsOrder, name)
	l.mu.Unlock()

	if _, err := l.run(context.Background(), "", "netns", "add", l.NS(name)); err != nil {
		return err
	}
	return l.setSysctls(name, baseSysctls(), "ip link set lo up")
}

// Sysctl sets sysctl key (dotted, e.g. "net.ipv4.ip_forward", or a path
// under /proc/sys) to value inside namespace ns.
func (l *Lab) Sysctl(ns, key, value string) error {
	key = strings.TrimPrefix(key, "/proc/sys/")
	if !strings.Contains(key, "/") {
		key = strings.ReplaceAll(key, ".", "/")
	}
	return l.setSysctls(ns, [][2]string{{key, value}}, "")
}

// setSysctls writes /proc/sys entries from a shell running inside ns, then
// runs the shell command after (if any). Entries missing on this kernel
// are skipped.
func (l *Lab) setSysctls(ns string, kv [][2]string, after string) error {
	var sb strings.Builder
	sb.WriteString("set -e\n")
	for _, e := range kv {
		if strings.ContainsAny(e[0], "'\n") || strings.ContainsAny(e[1], "'\n") || strings.Contains(e[0], "..") {
			return fmt.Errorf("could not set sysctl %q: invalid key or value", e[0])
		}
		fmt.Fprintf(&sb, "if [ -e '/proc/sys/%s' ]; then printf '%%s\\n' '%s' > '/proc/sys/%s'; fi\n", e[0], e[1], e[0])
	}
	if after != "" {
		sb.WriteString(after + "\n")
	}
	_, err := l.Exec(context.Background(), ns, "sh", "-c", sb.String())
	if err != nil {
		return fmt.Errorf("could not set sysctls in %s: %w", l.NS(ns), err)
	}
	return nil
}

// EnableForwarding turns on IPv4 and IPv6 forwarding inside namespace ns.
func (l *Lab) EnableForwarding(ns string) error {
	return l.setSysctls(ns, [][2]string{
		{"net/ipv4/ip_forward", "1"},
		{"net/ipv6/conf/all/forwarding", "1"},
	}, "")
}

// Link creates a veth pair with end aIf in namespace aNS and end bIf in
// namespace bNS, and sets both up. The pair is created inside aNS, so it
// never appears in the caller's namespace.
func (l *Lab) Link(aNS, aIf, bNS, bIf string) error {
	if err := l.ipBatch(aNS,
		fmt.Sprintf("link add %s type veth peer name %s netns %s", aIf, bIf, l.NS(bNS)),
		fmt.Sprintf("link set %s up", aIf),
	); err != nil {
		return err
	}
	_, err := l.IP(bNS, "link", "set", bIf, "up")
	return err
}

// Bridge creates bridge name in namespace ns (STP off), makes ports (which
// must already exist in ns) its members and sets everything up.
func (l *Lab) Bridge(ns, name string, ports ...string) error {
	cmds := []string{fmt.Sprintf("link add %s type bridge stp_state 0", name)}
	for _, p := range ports {
		cmds = append(cmds, fmt.Sprintf("link set %s master %s", p, name), fmt.Sprintf("link set %s up", p))
	}
	cmds = append(cmds, fmt.Sprintf("link set %s up", name))
	return l.ipBatch(ns, cmds...)
}

// AddAddr adds address prefix p (e.g. 192.0.2.2/24) to interface ifname in
// namespace ns. IPv6 addresses are added without DAD.
func (l *Lab) AddAddr(ns, ifname string, p netip.Prefix) error {
	args := []string{"addr", "add", p.String(), "dev", ifname}
	if p.Addr().Is6() {
		args = append(args, "nodad")
	}
	_, err := l.IP(ns, args...)
	return err
}

// Route adds a route to dst via gateway via in namespace ns. An invalid
// (zero) dst means the default route of via's family.
func (l *Lab) Route(ns string, dst netip.Prefix, via netip.Addr) error {
	d := "default"
	if dst.IsValid() {
		d = dst.String()
	}
	fam := "-4"
	if via.Is6() {
		fam = "-6"
	}
	_, err := l.IP(ns, fam, "route", "add", d, "via", via.String())
	return err
}

// WaitUp polls namespace ns until every link that is administratively up
// is also operationally up and no address is still tentative, or fails
// after timeout.
func (l *Lab) WaitUp(ns string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		pending, err := l.pendingLinks(ns)
		if err != nil {
			return err
		}
		if pending == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("could not bring up links in %s within %v: %s", l.NS(ns), timeout, pending)
		}
		<-tick.C
	}
}

// pendingLinks describes what in ns is not ready yet, or returns "".
func (l *Lab) pendingLinks(ns string) (string, error) {
	out, err := l.IP(ns, "-j", "addr", "show")
	if err != nil {
		return "", err
	}
	var links []struct {
		Name      string   `json:"ifname"`
		Flags     []string `json:"flags"`
		OperState string   `json:"operstate"`
		AddrInfo  []struct {
			Local     string `json:"local"`
			Tentative bool   `json:"tentative"`
			DADFailed bool   `json:"dadfailed"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil {
		return "", fmt.Errorf("could not parse ip -j addr output of %s: %w", l.NS(ns), err)
	}
	var pending []string
	for _, ln := range links {
		adminUp := false
		for _, f := range ln.Flags {
			adminUp = adminUp || f == "UP"
		}
		if !adminUp {
			continue
		}
		if ln.OperState != "UP" && ln.OperState != "UNKNOWN" {
			pending = append(pending, ln.Name+" is "+ln.OperState)
		}
		for _, a := range ln.AddrInfo {
			if a.DADFailed {
				return "", fmt.Errorf("could not use address %s on %s in %s: duplicate address detection failed", a.Local, ln.Name, l.NS(ns))
			}
			if a.Tentative {
				pending = append(pending, a.Local+" is tentative")
			}
		}
	}
	return strings.Join(pending, ", "), nil
}
