package dockerlab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/seawall/seawall/internal/netlab"
)

// Defaults of Options.
const (
	// DefaultBridge is docker0's address (--bip). The lab uses
	// 172.31.0.0/24 for its own dock0, so this stays clear of it.
	DefaultBridge = "172.30.0.1/24"
	// DefaultAddressPool is the pool user-defined networks take /24s from
	// (--default-address-pool).
	DefaultAddressPool = "172.30.64.0/18"
	// DefaultFixedCIDRv6 is docker0's IPv6 subnet (--fixed-cidr-v6).
	DefaultFixedCIDRv6 = "fd00:dead::/64"
	// DefaultStartTimeout bounds how long Launch waits for the daemon.
	DefaultStartTimeout = 30 * time.Second
)

// namePrefix starts the directory and the cgroup parent of every daemon:
// namePrefix + pid + "_" + random hex.
const namePrefix = "dockerlab"

// maxSocketPath is the longest path a unix socket address can hold
// (sizeof(sun_path) minus the terminating NUL).
const maxSocketPath = 107

// cgroupRoot is where the cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// Options configure Start and Launch. The zero value is usable: dockerd in
// the lab's host namespace, IPv6 on docker0, userland proxy on.
type Options struct {
	// NS is the short name of the lab namespace dockerd runs in
	// (netlab.Host if empty).
	NS string
	// Bridge is docker0's address and prefix length (DefaultBridge if
	// empty).
	Bridge string
	// AddressPool is the base of the pool of /24s for user-defined
	// networks (DefaultAddressPool if empty).
	AddressPool string
	// NoIPv6 turns IPv6 off on docker0 (no --ipv6).
	NoIPv6 bool
	// FixedCIDRv6 is docker0's IPv6 subnet (DefaultFixedCIDRv6 if empty).
	FixedCIDRv6 string
	// IP6Tables lets dockerd write ip6tables rules (--experimental
	// --ip6tables; experimental in dockerd 20.10): NAT66 for container
	// egress and DNAT for published ports over IPv6. Without it, IPv6
	// connections to a published port reach docker-proxy (if enabled).
	IP6Tables bool
	// NoUserlandProxy turns docker-proxy off (--userland-proxy=false).
	NoUserlandProxy bool
	// IPTables chooses the iptables dockerd writes its rules with:
	// "nft" (iptables-nft: nftables tables ip nat, ip filter...), "legacy"
	// (iptables-legacy: the kernel's x_tables, which nft does not see), or
	// "" for whatever `iptables` is on the machine (Debian 12: nft).
	IPTables string
	// StorageDriver is passed as --storage-driver if set; otherwise
	// dockerd picks one (overlay2 where the temp directory supports it).
	StorageDriver string
	// KeepForwarding leaves the namespace's IPv4 forwarding as it is. By
	// default Launch turns it off before dockerd starts, as on a freshly
	// booted machine: dockerd then turns it on and, as it does on real
	// hosts, sets the policy of the FORWARD chain of table ip filter to
	// drop. (dockerd 20.10 leaves the policy at accept when forwarding is
	// already on, as it is in the lab's host.) Close restores the value.
	KeepForwarding bool
	// ExtraArgs are appended to dockerd's command line.
	ExtraArgs []string
	// Debug runs dockerd with --log-level debug.
	Debug bool
	// StartTimeout bounds the wait for the daemon (DefaultStartTimeout if
	// zero).
	StartTimeout time.Duration
	// Logf, if set, receives a line for every docker command run.
	Logf func(format string, args ...any)
}

// Docker is a dockerd confined to a lab namespace. Its methods are safe
// for concurrent use.
type Docker struct {
	lab          *netlab.Lab
	ns           string
	name         string // namePrefix + pid + "_" + hex
	dir          string // everything on disk
	sock         string
	logPath      string
	cgroupParent string // "/" + name
	logf         func(format string, args ...any)

	iptables string // "nft" or "legacy"; "" for the machine's iptables

	cmd     *exec.Cmd
	exited  chan struct{} // closed when the init process has exited
	waitErr error         // set before exited is closed
	pidNS   string        // e.g. "pid:[4026532301]"

	startTook time.Duration
	driver    string

	linksBefore   map[string]bool
	tablesBefore  map[string]bool
	forwardBefore string // net.ipv4.ip_forward before Launch changed it, or ""

	mu     sync.Mutex
	images map[string]bool

	closeOnce sync.Once
	closeErr  error
}

// Available reports why a confined dockerd cannot run here, or nil: it
// needs root, netlab, and the dockerd, containerd, runc, docker-init,
// docker (CLI), iptables, nsenter and mount commands.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("could not use dockerlab: not running as root")
	}
	if err := netlab.Available(); err != nil {
		return err
	}
	var missing []string
	for _, b := range []string{"dockerd", "containerd", "containerd-shim-runc-v2", "runc", "docker-init", "docker", "iptables", "nsenter", "mount", "sh"} {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("could not use dockerlab: not found in PATH: %s", strings.Join(missing, ", "))
	}
	if _, err := os.Stat(cgroupRoot); err != nil {
		return fmt.Errorf("could not use dockerlab: no cgroup hierarchies: %w", err)
	}
	return nil
}

// Start starts a confined dockerd in lab (see Launch) and closes it when
// tb's test ends; a failure to close fails the test. If tb implements
// netlab.Skipper, Start skips the test when Available reports a problem.
// It returns an error if the daemon does not start; tests usually skip
// then, with the error as the reason.
func Start(tb netlab.TB, lab *netlab.Lab, opts Options) (*Docker, error) {
	tb.Helper()
	if s, ok := tb.(netlab.Skipper); ok {
		if err := Available(); err != nil {
			s.Skipf("skipping confined dockerd test: %v", err)
		}
	}
	d, err := Launch(lab, opts)
	if err != nil {
		return nil, err
	}
	tb.Cleanup(func() {
		if err := d.Close(); err != nil {
			tb.Errorf("%v", err)
		}
	})
	return d, nil
}

// Launch starts a dockerd confined to the lab namespace opts.NS (netlab.Host
// by default) and waits until it answers. On failure it cleans up and
// returns an error that includes the end of dockerd's log. The caller
// must call Close, and must close the Docker before the lab.
func Launch(lab *netlab.Lab, opts Options) (*Docker, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	ns := opts.NS
	if ns == "" {
		ns = netlab.Host
	}
	if !lab.Has(ns) {
		return nil, fmt.Errorf("could not start dockerd: lab has no namespace %q", ns)
	}
	removeStale(opts.Logf)

	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("could not start dockerd: %w", err)
	}
	name := fmt.Sprintf("%s%d_%s", namePrefix, os.Getpid(), hex.EncodeToString(b[:]))
	dir := filepath.Join(os.TempDir(), name)
	if n := len(dir + "/docker.sock"); n > maxSocketPath {
		return nil, fmt.Errorf("could not start dockerd: socket path %s/docker.sock is %d bytes long, more than a unix socket allows (%d): set TMPDIR to a shorter directory", dir, n, maxSocketPath)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("could not start dockerd: %w", err)
	}
	d := &Docker{
		lab:          lab,
		ns:           ns,
		name:         name,
		dir:          dir,
		sock:         filepath.Join(dir, "docker.sock"),
		logPath:      filepath.Join(dir, "dockerd.log"),
		cgroupParent: "/" + name,
		logf:         opts.Logf,
		iptables:     opts.IPTables,
		exited:       make(chan struct{}),
		images:       map[string]bool{},
	}
	if err := d.start(opts); err != nil {
		err = fmt.Errorf("could not start dockerd in %s: %w%s", lab.NS(ns), err, d.logTail(25))
		return nil, errors.Join(err, d.Close())
	}
	return d, nil
}

// iptablesCommands are the commands dockerd runs to write its rules.
var iptablesCommands = []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"}

// iptablesBin makes dir/bin, where each of iptablesCommands is a link to
// its variant (iptables-save -> iptables-legacy-save), and returns it:
// first in dockerd's PATH, it is what dockerd runs.
func (d *Docker) iptablesBin() (string, error) {
	if d.iptables != "nft" && d.iptables != "legacy" {
		return "", fmt.Errorf("unknown iptables variant %q (want nft or legacy)", d.iptables)
	}
	bin := filepath.Join(d.dir, "bin")
	if err := os.Mkdir(bin, 0o700); err != nil {
		return "", err
	}
	for _, c := range iptablesCommands {
		// iptables-save -> iptables-legacy-save
		target, err := exec.LookPath(strings.Replace(c, "tables", "tables-"+d.iptables, 1))
		if err != nil {
			return "", fmt.Errorf("iptables variant %s: %w", d.iptables, err)
		}
		if err := os.Symlink(target, filepath.Join(bin, c)); err != nil {
			return "", err
		}
	}
	return bin, nil
}

// Host returns the DOCKER_HOST value of the daemon ("unix:///...").
func (d *Docker) Host() string { return "unix://" + d.sock }

// Socket returns the path of the daemon's socket.
func (d *Docker) Socket() string { return d.sock }

// Dir returns the directory holding the data root, the socket, the log
// and the CLI configuration. Close removes it.
func (d *Docker) Dir() string { return d.dir }

// LogPath returns the path of dockerd's log (stdout and stderr).
func (d *Docker) LogPath() string { return d.logPath }

// NS returns the short name of the lab namespace dockerd runs in.
func (d *Docker) NS() string { return d.ns }

// CgroupParent returns the cgroup parent of the daemon's containers.
func (d *Docker) CgroupParent() string { return d.cgroupParent }

// StartTook returns how long the daemon took to answer after it was
// started.
func (d *Docker) StartTook() time.Duration { return d.startTook }

// StorageDriver returns the storage driver the daemon uses.
func (d *Docker) StorageDriver() string { return d.driver }

// Pid returns the pid, as the caller sees it, of the daemon's init
// (docker-init: PID 1 of the daemon's PID namespace, parent of dockerd).
func (d *Docker) Pid() int { return d.cmd.Process.Pid }

// initScript runs as PID 1 of the new PID and mount namespaces, inside the
// lab's network namespace, and then becomes docker-init. Its first step
// turns the mount namespace into a slave of the root one, before any
// mount: nothing mounted here may propagate back.
const initScript = `set -eu
mount --make-rslave /
mount -t proc proc /proc
mount -t tmpfs -o mode=0755,size=256m dockerlab-run /run
mkdir /run/cgroup
mount --rbind /sys/fs/cgroup /run/cgroup
mount -t sysfs sysfs /sys
mount --move /run/cgroup /sys/fs/cgroup
rmdir /run/cgroup
exec "$@"
`

// superviseScript runs under docker-init and keeps dockerd running, as
// systemd does on a Docker host: when dockerd exits (Restart stops it), it
// starts it again. SIGTERM (Close) stops dockerd and the loop.
const superviseScript = `stop=0
trap 'stop=1; kill -TERM "$child" 2>/dev/null' TERM INT
while :; do
	"$@" &
	child=$!
	while kill -0 "$child" 2>/dev/null; do wait "$child"; done
	[ "$stop" = 1 ] && exit 0
	echo "dockerlab: dockerd exited; starting it again" >&2
done
`

// daemonJSON is dockerd's configuration file. The trust key (the engine
// ID) goes to the private /run instead of /etc/docker/key.json, which
// dockerd 20.10 creates if it is missing; there is no flag for it.
const daemonJSON = `{"deprecated-key-path": "/run/key.json"}
`

// dockerdArgs returns dockerd's command line.
func (d *Docker) dockerdArgs(opts Options) []string {
	or := func(s, def string) string {
		if s == "" {
			return def
		}
		return s
	}
	args := []string{
		// Our own configuration (see daemonJSON), not
		// /etc/docker/daemon.json.
		"--config-file", filepath.Join(d.dir, "daemon.json"),
		"--data-root", filepath.Join(d.dir, "data"),
		// /run is the init script's tmpfs: invisible outside, gone with
		// the mount namespace.
		"--exec-root", "/run/docker",
		"--pidfile", "/run/docker.pid",
		"--host", d.Host(),
		"--cgroup-parent", d.cgroupParent,
		"--exec-opt", "native.cgroupdriver=cgroupfs",
		"--bip", or(opts.Bridge, DefaultBridge),
		"--default-address-pool", "base=" + or(opts.AddressPool, DefaultAddressPool) + ",size=24",
		"--userland-proxy=" + strconv.FormatBool(!opts.NoUserlandProxy),
	}
	if !opts.NoIPv6 {
		args = append(args, "--ipv6", "--fixed-cidr-v6", or(opts.FixedCIDRv6, DefaultFixedCIDRv6))
		if opts.IP6Tables {
			args = append(args, "--experimental", "--ip6tables")
		}
	}
	if opts.StorageDriver != "" {
		args = append(args, "--storage-driver", opts.StorageDriver)
	}
	if opts.Debug {
		args = append(args, "--log-level", "debug")
	}
	return append(args, opts.ExtraArgs...)
}

func (d *Docker) start(opts Options) error {
	if err := os.WriteFile(filepath.Join(d.dir, "daemon.json"), []byte(daemonJSON), 0o600); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(d.dir, "cli"), 0o700); err != nil {
		return err
	}
	var err error
	if d.linksBefore, err = d.nsLinks(); err != nil {
		return err
	}
	if d.tablesBefore, err = d.nsTables(); err != nil {
		return err
	}
	if !opts.KeepForwarding {
		out, err := d.lab.Exec(context.Background(), d.ns, "cat", "/proc/sys/net/ipv4/ip_forward")
		if err != nil {
			return err
		}
		if v := strings.TrimSpace(out); v != "0" {
			if err := d.lab.Sysctl(d.ns, "net.ipv4.ip_forward", "0"); err != nil {
				return err
			}
			d.forwardBefore = v
		}
	}
	logFile, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()

	initPath, err := exec.LookPath("docker-init")
	if err != nil {
		return err
	}
	argv := append([]string{"--net=" + d.lab.NSPath(d.ns), "--", "sh", "-c", initScript, "dockerlab-init",
		initPath, "--", "sh", "-c", superviseScript, "dockerlab-supervise", "dockerd"}, d.dockerdArgs(opts)...)
	d.cmd = exec.Command("nsenter", argv...)
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	d.cmd.Dir = "/"
	d.cmd.Env = daemonEnv()
	if d.iptables != "" {
		bin, err := d.iptablesBin()
		if err != nil {
			return err
		}
		d.cmd.Env = append(d.cmd.Env, "PATH="+bin+":"+os.Getenv("PATH"))
	}
	d.cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS,
		Pdeathsig:  syscall.SIGKILL,
	}
	d.log("dockerlab: nsenter %s", strings.Join(argv, " "))

	begin := time.Now()
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that forked the child exits,
		// so this goroutine keeps its thread for as long as the daemon
		// runs; the thread ends with the goroutine.
		runtime.LockOSThread()
		if err := d.cmd.Start(); err != nil {
			started <- err
			close(d.exited)
			return
		}
		started <- nil
		d.waitErr = d.cmd.Wait()
		close(d.exited)
	}()
	if err := <-started; err != nil {
		return err
	}
	if link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", d.cmd.Process.Pid)); err == nil {
		d.pidNS = link
	}

	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	if err := d.waitPing(timeout); err != nil {
		return err
	}
	d.startTook = time.Since(begin)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := d.CLI(ctx, "info", "--format", "{{.Driver}}")
	if err != nil {
		return err
	}
	d.driver = strings.TrimSpace(out)
	d.log("dockerlab: dockerd in %s answered after %v (storage driver %s)", d.lab.NS(d.ns), d.startTook.Round(time.Millisecond), d.driver)
	return nil
}

// daemonEnv returns dockerd's environment: the caller's without
// variables dockerd or its children would act on (DOCKER_* such as
// DOCKER_DRIVER or DOCKER_TMPDIR, and the systemd notification and
// socket-activation variables of a service the caller may run in).
func daemonEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "DOCKER_"), k == "NOTIFY_SOCKET", k == "LISTEN_FDS", k == "LISTEN_PID", k == "LISTEN_FDNAMES":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// waitPing polls the daemon's /_ping until it answers OK, the daemon
// exits, or timeout passes.
func (d *Docker) waitPing(timeout time.Duration) error {
	client := &http.Client{
		Timeout: time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", d.sock)
			},
			DisableKeepAlives: true,
		},
	}
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		resp, err := client.Get("http://docker/_ping")
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && string(body) == "OK" {
				return nil
			}
			err = fmt.Errorf("/_ping: %s: %q", resp.Status, body)
		}
		last = err
		select {
		case <-d.exited:
			return fmt.Errorf("dockerd exited during startup (%v)", d.waitErr)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("dockerd did not answer within %v: %v", timeout, last)
		}
	}
}

// running reports whether the daemon's init has not exited.
func (d *Docker) running() bool {
	if d.cmd == nil || d.cmd.Process == nil {
		return false
	}
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

// Close removes the daemon's containers and networks, stops it (SIGTERM,
// then SIGKILL after 15 seconds), waits for its PID namespace to empty,
// removes its cgroups and its directory, and deletes from the lab
// namespace the Docker links and tables that were not there before. It
// returns an error if something could not be removed, including anything
// Leftovers still finds. Close is idempotent.
func (d *Docker) Close() error {
	d.closeOnce.Do(func() { d.closeErr = d.close() })
	return d.closeErr
}

func (d *Docker) close() error {
	var errs []error
	if d.running() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if out, err := d.CLI(ctx, "ps", "-aq"); err != nil {
			errs = append(errs, err)
		} else if ids := strings.Fields(out); len(ids) > 0 {
			if _, err := d.CLI(ctx, append([]string{"rm", "-f", "-v"}, ids...)...); err != nil {
				errs = append(errs, err)
			}
		}
		if _, err := d.CLI(ctx, "network", "prune", "-f"); err != nil {
			errs = append(errs, err)
		}
		cancel()
		if err := d.stop(15 * time.Second); err != nil {
			errs = append(errs, err)
		}
	} else if d.cmd != nil && d.cmd.Process != nil {
		<-d.exited
	}
	if err := d.waitPidNSEmpty(10 * time.Second); err != nil {
		errs = append(errs, err)
	}
	if err := removeCgroups(d.name, 10*time.Second); err != nil {
		errs = append(errs, err)
	}
	if err := d.cleanNS(); err != nil {
		errs = append(errs, err)
	}
	if err := removeDir(d.dir); err != nil {
		errs = append(errs, err)
	}
	if left := d.Leftovers(); len(left) > 0 {
		errs = append(errs, fmt.Errorf("left behind: %s", strings.Join(left, "; ")))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("could not clean up dockerd %s: %w", d.name, err)
	}
	return nil
}

// Restart stops dockerd (SIGTERM: it stops the containers, as on
// `systemctl restart docker` without live-restore) and waits until the
// one started in its place answers. Containers with a restart policy come
// back; their addresses may change. It returns how long dockerd was away,
// from the signal to the first answer.
func (d *Docker) Restart(timeout time.Duration) (time.Duration, error) {
	old, err := d.dockerdPid()
	if err != nil {
		return 0, err
	}
	begin := time.Now()
	if err := syscall.Kill(old, syscall.SIGTERM); err != nil {
		return 0, fmt.Errorf("could not stop dockerd (pid %d): %w", old, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		if pid, err := d.dockerdPid(); err == nil && pid != old {
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("dockerd (pid %d) did not stop and start again within %v", old, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := d.waitPing(time.Until(deadline)); err != nil {
		return 0, err
	}
	away := time.Since(begin)
	d.log("dockerlab: dockerd restarted; it answered %v after the signal", away.Round(time.Millisecond))
	return away, nil
}

// dockerdPid returns the root-namespace pid of the running dockerd: the
// child of the supervising shell, the child of docker-init.
func (d *Docker) dockerdPid() (int, error) {
	for _, sup := range childPids(d.cmd.Process.Pid) {
		for _, pid := range childPids(sup) {
			if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(comm)) == "dockerd" {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("dockerd %s is not running", d.name)
}

// childPids returns the pids whose parent is pid.
func childPids(pid int) []int {
	return procs(func(dir string) bool {
		stat, err := os.ReadFile(dir + "/stat")
		if err != nil {
			return false
		}
		// pid (comm) state ppid ...: comm may hold spaces and parens.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			return false
		}
		f := strings.Fields(string(stat[i+1:]))
		return len(f) > 1 && f[1] == strconv.Itoa(pid)
	})
}

// procs returns the pids of the processes whose /proc directory match
// accepts.
func procs(match func(dir string) bool) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && match("/proc/"+e.Name()) {
			out = append(out, pid)
		}
	}
	return out
}

// stop sends SIGTERM to the daemon's init (which passes it on to dockerd)
// and waits; after grace it kills the init, which kills the whole PID
// namespace.
func (d *Docker) stop(grace time.Duration) error {
	begin := time.Now()
	defer func() { d.log("dockerlab: dockerd stopped after %v", time.Since(begin).Round(time.Millisecond)) }()
	p := d.cmd.Process
	if err := p.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("could not stop dockerd: %w", err)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-d.exited:
		return nil
	case <-timer.C:
	}
	d.log("dockerlab: dockerd did not stop within %v, killing it", grace)
	if err := p.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("could not kill dockerd: %w", err)
	}
	<-d.exited
	return nil
}

// pidNSProcs returns the root-namespace pids of the processes in the
// daemon's PID namespace.
func (d *Docker) pidNSProcs() []int {
	if d.pidNS == "" {
		return nil
	}
	return procs(func(dir string) bool {
		link, err := os.Readlink(dir + "/ns/pid")
		return err == nil && link == d.pidNS
	})
}

// waitPidNSEmpty waits until no process is left in the daemon's PID
// namespace. Once its init has exited the kernel kills the rest, so this
// normally returns at once.
func (d *Docker) waitPidNSEmpty(timeout time.Duration) error {
	return Poll(timeout, 20*time.Millisecond, "wait for the processes of dockerd's PID namespace to end", func() (bool, error) {
		return len(d.pidNSProcs()) == 0, nil
	})
}

// dockerLink matches the names of links dockerd creates.
var dockerLink = regexp.MustCompile(`^(docker0|docker_gwbridge|br-[0-9a-f]{12}|veth[0-9a-f]{7})$`)

// dockerTables are the nftables tables iptables-nft creates for dockerd.
var dockerTables = []string{"ip nat", "ip filter", "ip6 nat", "ip6 filter"}

// nsLinks returns the names of the links in the daemon's namespace.
func (d *Docker) nsLinks() (map[string]bool, error) {
	out, err := d.lab.IP(d.ns, "-o", "link", "show")
	if err != nil {
		return nil, err
	}
	links := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		links[name] = true
	}
	return links, nil
}

// nsTables returns the nftables tables ("family name") in the daemon's
// namespace.
func (d *Docker) nsTables() (map[string]bool, error) {
	out, err := d.lab.Exec(context.Background(), d.ns, "nft", "list", "tables")
	if err != nil {
		return nil, err
	}
	tables := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		if t, ok := strings.CutPrefix(strings.TrimSpace(line), "table "); ok {
			tables[t] = true
		}
	}
	return tables, nil
}

// cleanNS deletes the Docker links and tables that appeared in the lab
// namespace since Start. A lab that is already closed is not an error.
func (d *Docker) cleanNS() error {
	if d.linksBefore == nil || d.tablesBefore == nil || !d.lab.Has(d.ns) {
		return nil
	}
	links, err := d.nsLinks()
	if err != nil {
		if _, serr := os.Stat(d.lab.NSPath(d.ns)); serr != nil {
			return nil // the lab is gone, and everything in it
		}
		return err
	}
	var errs []error
	if d.forwardBefore != "" {
		if err := d.lab.Sysctl(d.ns, "net.ipv4.ip_forward", d.forwardBefore); err != nil {
			errs = append(errs, err)
		}
	}
	for name := range links {
		if !d.linksBefore[name] && dockerLink.MatchString(name) {
			if _, err := d.lab.IP(d.ns, "link", "del", name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	tables, err := d.nsTables()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, t := range dockerTables {
		if tables[t] && !d.tablesBefore[t] {
			if out, err := d.lab.Exec(context.Background(), d.ns, "nft", "delete", "table", strings.Fields(t)[0], strings.Fields(t)[1]); err != nil {
				errs = append(errs, fmt.Errorf("could not delete table %s: %v: %s", t, err, out))
			}
		}
	}
	if d.iptables == "legacy" {
		errs = append(errs, d.cleanLegacy())
	}
	return errors.Join(errs...)
}

// Leftovers describes what of this daemon is still there: processes,
// mounts under its directory (seen from the caller's mount namespace),
// the directory itself, cgroups, and Docker links or tables in the lab
// namespace. It is empty after a successful Close.
func (d *Docker) Leftovers() []string {
	var left []string
	if pids := d.pidNSProcs(); len(pids) > 0 {
		left = append(left, fmt.Sprintf("processes %v in dockerd's PID namespace", pids))
	}
	if m := mountsUnder(d.dir); len(m) > 0 {
		left = append(left, fmt.Sprintf("mounts %v", m))
	}
	if _, err := os.Lstat(d.dir); err == nil {
		left = append(left, "directory "+d.dir)
	}
	if cg := cgroupDirs(d.name); len(cg) > 0 {
		left = append(left, fmt.Sprintf("cgroups %v", cg))
	}
	if d.lab.Has(d.ns) && d.linksBefore != nil {
		if _, err := os.Stat(d.lab.NSPath(d.ns)); err == nil {
			if links, err := d.nsLinks(); err == nil {
				for name := range links {
					if !d.linksBefore[name] && dockerLink.MatchString(name) {
						left = append(left, "link "+name+" in "+d.lab.NS(d.ns))
					}
				}
			}
			if tables, err := d.nsTables(); err == nil {
				for _, t := range dockerTables {
					if tables[t] && !d.tablesBefore[t] {
						left = append(left, "table "+t+" in "+d.lab.NS(d.ns))
					}
				}
			}
			if d.iptables == "legacy" {
				for _, cmd := range []string{"iptables-legacy-save", "ip6tables-legacy-save"} {
					if out, err := d.lab.Exec(context.Background(), d.ns, cmd); err == nil && strings.Contains(out, "DOCKER") {
						left = append(left, "Docker's "+cmd+" rules in "+d.lab.NS(d.ns))
					}
				}
			}
		}
	}
	return left
}

// cleanLegacy removes the rules and chains dockerd wrote with
// iptables-legacy (which nft does not see) and puts the policies back to
// accept.
func (d *Docker) cleanLegacy() error {
	var errs []error
	for _, cmd := range []string{"iptables-legacy", "ip6tables-legacy"} {
		for _, args := range [][]string{
			{"-t", "nat", "-F"}, {"-t", "nat", "-X"},
			{"-t", "filter", "-F"}, {"-t", "filter", "-X"},
			{"-t", "filter", "-P", "FORWARD", "ACCEPT"},
		} {
			if out, err := d.lab.Exec(context.Background(), d.ns, append([]string{cmd}, args...)...); err != nil {
				errs = append(errs, fmt.Errorf("%s %s: %v: %s", cmd, strings.Join(args, " "), err, out))
			}
		}
	}
	return errors.Join(errs...)
}

// mountsUnder returns the mount points at or below dir in the caller's
// mount namespace.
func mountsUnder(dir string) []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		if mp := f[4]; mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out
}

// removeDir removes dir unless something is mounted below it.
func removeDir(dir string) error {
	if m := mountsUnder(dir); len(m) > 0 {
		return fmt.Errorf("could not remove %s: still mounted: %v", dir, m)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("could not remove %s: %w", dir, err)
	}
	return nil
}

// cgroupDirs returns the cgroup directories named name: directly below
// the root of each v1 hierarchy (and of the hybrid "unified" one), or
// directly below the root on a pure cgroup v2 host.
func cgroupDirs(name string) []string {
	ents, err := os.ReadDir(cgroupRoot)
	if err != nil {
		return nil
	}
	var dirs []string
	add := func(p string) {
		if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
			dirs = append(dirs, p)
		}
	}
	add(filepath.Join(cgroupRoot, name))
	for _, e := range ents {
		if e.IsDir() && e.Name() != name {
			add(filepath.Join(cgroupRoot, e.Name(), name))
		}
	}
	return dirs
}

// removeCgroups removes the cgroup trees named name in every hierarchy,
// deepest first, retrying while the kernel still reports them busy.
func removeCgroups(name string, timeout time.Duration) error {
	var last error
	err := Poll(timeout, 20*time.Millisecond, "remove cgroups "+name, func() (bool, error) {
		last = nil
		for _, top := range cgroupDirs(name) {
			var dirs []string
			_ = filepath.WalkDir(top, func(p string, e os.DirEntry, err error) error {
				if err == nil && e.IsDir() {
					dirs = append(dirs, p)
				}
				return nil
			})
			for i := len(dirs) - 1; i >= 0; i-- {
				if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, syscall.ENOENT) {
					last = fmt.Errorf("could not remove cgroup %s: %w", dirs[i], err)
				}
			}
		}
		return last == nil, nil
	})
	if err != nil && last != nil {
		return last
	}
	return err
}

// staleName matches names made by Launch and captures the pid.
var staleName = regexp.MustCompile(`^` + namePrefix + `([0-9]+)_[0-9a-f]+$`)

// removeStale removes directories and cgroups left by dockerlab processes
// that no longer exist. Their daemons died with them (Pdeathsig), and
// with the daemons their mount namespaces.
func removeStale(logf func(string, ...any)) {
	isStale := func(name string) bool {
		m := staleName.FindStringSubmatch(name)
		if m == nil {
			return false
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid <= 0 || pid == os.Getpid() {
			return false
		}
		err = syscall.Kill(pid, 0)
		return err != nil && !errors.Is(err, syscall.EPERM)
	}
	names := map[string]bool{}
	if ents, err := os.ReadDir(os.TempDir()); err == nil {
		for _, e := range ents {
			if e.IsDir() && isStale(e.Name()) {
				names[e.Name()] = true
			}
		}
	}
	if hs, err := os.ReadDir(cgroupRoot); err == nil {
		for _, h := range hs {
			if !h.IsDir() {
				continue
			}
			if isStale(h.Name()) { // cgroup v2
				names[h.Name()] = true
				continue
			}
			ents, _ := os.ReadDir(filepath.Join(cgroupRoot, h.Name()))
			for _, e := range ents {
				if e.IsDir() && isStale(e.Name()) {
					names[e.Name()] = true
				}
			}
		}
	}
	for name := range names {
		if logf != nil {
			logf("dockerlab: removing leftovers of %s", name)
		}
		dir := filepath.Join(os.TempDir(), name)
		if _, err := os.Stat(dir); err == nil {
			if err := removeDir(dir); err != nil && logf != nil {
				logf("dockerlab: %v", err)
			}
		}
		if err := removeCgroups(name, time.Second); err != nil && logf != nil {
			logf("dockerlab: %v", err)
		}
	}
}

// logTail returns the last n lines of dockerd's log, prefixed for an
// error message, or "".
func (d *Docker) logTail(n int) string {
	data, err := os.ReadFile(d.logPath)
	if err != nil || len(data) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "\ndockerd log (last lines):\n" + strings.Join(lines, "\n")
}

// LogTail returns the last n lines of dockerd's log (while the Docker is
// open; Close removes the log).
func (d *Docker) LogTail(n int) string {
	return strings.TrimPrefix(d.logTail(n), "\ndockerd log (last lines):\n")
}

func (d *Docker) log(format string, args ...any) {
	if d.logf != nil {
		d.logf(format, args...)
	}
}

// Poll calls cond every interval until it returns true or an error, or
// timeout passes; what names the wait in the error.
func Poll(timeout, interval time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("could not %s: %w", what, err)
		}
		if ok {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("could not %s within %v", what, timeout)
		}
		time.Sleep(min(interval, left))
	}
}

// trimOutput shortens command output for an error message.
func trimOutput(b []byte) string {
	s := string(bytes.TrimSpace(b))
	if len(s) > 2000 {
		s = s[:2000] + "..."
	}
	return s
}
