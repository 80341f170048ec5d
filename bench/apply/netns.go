package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// netnsDir is where iproute2 keeps named network namespaces.
const netnsDir = "/run/netns"

// namespaces creates and deletes the benchmark's network namespaces. Every
// command of the benchmark that touches netfilter runs in one of them;
// the root namespace is only used for "ip netns add/del".
type namespaces struct {
	prefix string

	mu   sync.Mutex
	seq  int
	live map[string]*netns
}

func newNamespaces() *namespaces {
	return &namespaces{prefix: fmt.Sprintf("swbench-%d-", os.Getpid()), live: map[string]*netns{}}
}

// netns is one namespace, held open by a file descriptor.
type netns struct {
	name string
	fd   int
	m    *namespaces
}

// create adds a namespace and checks that a command started in it really
// runs there (and not in the root namespace).
func (m *namespaces) create() (*netns, error) {
	m.mu.Lock()
	m.seq++
	name := fmt.Sprintf("%s%d", m.prefix, m.seq)
	m.mu.Unlock()
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	n := &netns{name: name, fd: -1, m: m}
	m.mu.Lock()
	m.live[name] = n
	m.mu.Unlock()
	fd, err := unix.Open(filepath.Join(netnsDir, name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		n.delete()
		return nil, fmt.Errorf("open namespace %s: %w", name, err)
	}
	n.fd = fd
	if err := n.check(); err != nil {
		n.delete()
		return nil, err
	}
	return n, nil
}

// check makes sure that children started by run land in the namespace.
func (n *netns) check() error {
	var st unix.Stat_t
	if err := unix.Fstat(n.fd, &st); err != nil {
		return err
	}
	out, err := n.output("readlink", "/proc/self/ns/net")
	if err != nil {
		return err
	}
	want := fmt.Sprintf("net:[%d]", st.Ino)
	if got := strings.TrimSpace(out); got != want {
		return fmt.Errorf("a child started for namespace %s runs in %s, not %s: refusing to go on", n.name, got, want)
	}
	return nil
}

// delete removes the namespace (the kernel frees what is in it).
func (n *netns) delete() {
	if n.fd >= 0 {
		unix.Close(n.fd)
		n.fd = -1
	}
	n.m.mu.Lock()
	_, ok := n.m.live[n.name]
	delete(n.m.live, n.name)
	n.m.mu.Unlock()
	if !ok {
		return
	}
	if out, err := exec.Command("ip", "netns", "del", n.name).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: warning: ip netns del %s: %v: %s\n", n.name, err, bytes.TrimSpace(out))
	}
}

// deleteAll removes every namespace still alive (on exit and on signals).
func (m *namespaces) deleteAll() {
	m.mu.Lock()
	var all []*netns
	for _, n := range m.live {
		all = append(all, n)
	}
	m.mu.Unlock()
	for _, n := range all {
		n.delete()
	}
}

// usage is what one timed run cost: wall time from fork to reaping, and
// the CPU time the child (and any children it waited for) used.
type usage struct {
	Wall, User, Sys time.Duration
}

func (u usage) add(v usage) usage {
	return usage{u.Wall + v.Wall, u.User + v.User, u.Sys + v.Sys}
}

// spec is one command to run in a namespace.
type spec struct {
	Argv  []string
	Stdin string // file fed on stdin, or ""
}

func (s spec) String() string {
	t := strings.Join(s.Argv, " ")
	if s.Stdin != "" {
		t += " < " + s.Stdin
	}
	return t
}

// childEnv is the environment of every child: the benchmark's, without
// what would change seawall's behaviour (SSH_CONNECTION turns on the
// lockout guard; SEAWALL_* would override the flags).
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SSH_CONNECTION=") || strings.HasPrefix(kv, "SEAWALL_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// run runs one command in the namespace with stdout going to out (nil =
// discarded) and returns its cost. stdout and stdin are files, so the
// child's I/O is not copied through the benchmark.
func (n *netns) run(s spec, out *os.File) (usage, error) {
	cmd := exec.Command(s.Argv[0], s.Argv[1:]...)
	cmd.Env = childEnv()
	if s.Stdin != "" {
		f, err := os.Open(s.Stdin)
		if err != nil {
			return usage{}, err
		}
		defer f.Close()
		cmd.Stdin = f
	}
	if out == nil {
		devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return usage{}, err
		}
		defer devnull.Close()
		out = devnull
	}
	cmd.Stdout = out
	var stderr bytes.Buffer
	cmd.Stderr = &stderr

	start := time.Now()
	if err := n.start(cmd); err != nil {
		return usage{}, fmt.Errorf("%s: %w", s, err)
	}
	err := cmd.Wait()
	wall := time.Since(start)
	if err != nil {
		return usage{}, fmt.Errorf("%s (in %s): %v: %s", s, n.name, err, tail(stderr.String()))
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	u := usage{Wall: wall}
	if ru != nil {
		u.User = time.Duration(ru.Utime.Nano())
		u.Sys = time.Duration(ru.Stime.Nano())
	}
	return u, nil
}

// runAll runs commands one after the other and sums their cost, also
// returning each one's.
func (n *netns) runAll(specs []spec) (usage, []usage, error) {
	var total usage
	var each []usage
	for _, s := range specs {
		u, err := n.run(s, nil)
		if err != nil {
			return usage{}, nil, err
		}
		total = total.add(u)
		each = append(each, u)
	}
	return total, each, nil
}

// output runs a command in the namespace and returns its stdout (for
// checks; not timed).
func (n *netns) output(argv ...string) (string, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = childEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := n.start(cmd); err != nil {
		return "", fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	if err := cmd.Wait(); err != nil {
		return stdout.String(), fmt.Errorf("%s (in %s): %v: %s", strings.Join(argv, " "), n.name, err, tail(stderr.String()))
	}
	return stdout.String(), nil
}

// start starts cmd from an OS thread that has joined the namespace: a
// child inherits the network namespace of the thread that forks it. The
// thread switches back before it is given back to the Go scheduler; if it
// cannot, it stays locked and dies with its goroutine.
func (n *netns) start(cmd *exec.Cmd) error {
	if n.fd < 0 {
		return errors.New("namespace is closed")
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(n.fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", n.name, err)
			return
		}
		startErr := cmd.Start()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			if startErr == nil {
				cmd.Process.Kill()
				cmd.Wait()
			}
			errc <- fmt.Errorf("could not switch a thread back to the root namespace: %w", err)
			return // the thread stays locked and is discarded
		}
		runtime.UnlockOSThread()
		errc <- startErr
	}()
	return <-errc
}

// tail returns the last lines of a command's stderr, for error messages.
func tail(s string) string {
	s = strings.TrimSpace(s)
	lines := strings.Split(s, "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, "\n")
}
