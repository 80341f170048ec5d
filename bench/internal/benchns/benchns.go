// Package benchns gives a benchmark the network namespaces it runs its
// tools in. It creates them under names that say which run made them
// ("<prefix>-<label>-<pid>-<n>"), checks that a command started for one
// really runs there, deletes them on every exit path, removes the ones a
// killed earlier run left behind, and opens netlink sockets into them.
//
// The root namespace is only ever touched by "ip netns add" and "ip netns
// del"; a netlink socket is never opened into the caller's own namespace
// or PID 1's.
package benchns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// netnsDir is where iproute2 keeps named network namespaces.
const netnsDir = "/run/netns"

// Registry creates the namespaces of one benchmark run and remembers the
// ones still alive, so that DeleteAll can remove them on exit or on a
// signal.
type Registry struct {
	prefix string

	mu   sync.Mutex
	seq  int
	live map[string]*NS
}

// NewRegistry returns a Registry whose namespaces are named
// "<prefix>-<label>-<pid>-<n>", pid being this process's. prefix must not
// contain the digits-and-dashes tail that RemoveStale parses.
func NewRegistry(prefix string) *Registry {
	return &Registry{prefix: prefix, live: map[string]*NS{}}
}

// NS is one network namespace of the registry.
type NS struct {
	name string
	ino  uint64 // inode of the namespace, what /proc/PID/ns/net links to
	r    *Registry
}

// Name is the namespace's name for "ip netns".
func (n *NS) Name() string { return n.name }

// Path is the namespace's file under /run/netns.
func (n *NS) Path() string { return filepath.Join(netnsDir, n.name) }

// labelRE is what a label may be, so that RemoveStale can parse the
// names back.
const labelRE = `[a-z0-9]+`

var labelPattern = regexp.MustCompile(`^` + labelRE + `$`)

// Create adds a namespace labelled label (lowercase letters and digits)
// and checks that a command started in it runs there, not in the caller's
// namespace.
func (r *Registry) Create(label string) (*NS, error) {
	if !labelPattern.MatchString(label) {
		return nil, fmt.Errorf("namespace label %q: want lowercase letters and digits", label)
	}
	r.mu.Lock()
	r.seq++
	name := fmt.Sprintf("%s-%s-%d-%d", r.prefix, label, os.Getpid(), r.seq)
	r.mu.Unlock()
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("could not create namespace: ip netns add %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	n := &NS{name: name, r: r}
	r.mu.Lock()
	r.live[name] = n
	r.mu.Unlock()
	var st unix.Stat_t
	if err := unix.Stat(n.Path(), &st); err != nil {
		return nil, errors.Join(fmt.Errorf("namespace %s: %w", name, err), n.Delete())
	}
	n.ino = st.Ino
	if err := n.check(); err != nil {
		return nil, errors.Join(err, n.Delete())
	}
	return n, nil
}

// check makes sure that a command started by Command lands in n.
func (n *NS) check() error {
	out, err := n.Command(context.Background(), "readlink", "/proc/self/ns/net").Output()
	if err != nil {
		return fmt.Errorf("could not start a command in namespace %s: %w", n.name, err)
	}
	if got, want := strings.TrimSpace(string(out)), fmt.Sprintf("net:[%d]", n.ino); got != want {
		return fmt.Errorf("a command started for namespace %s runs in %s, not %s: refusing to go on", n.name, got, want)
	}
	return nil
}

// Command returns a command that runs argv inside the namespace through
// "ip netns exec". ip execs argv in place, so the command's process is
// argv's (Holds can check it).
func (n *NS) Command(ctx context.Context, argv ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.name}, argv...)...)
}

// Holds reports whether process pid runs in this namespace.
func (n *NS) Holds(pid int) (bool, error) {
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st); err != nil {
		return false, fmt.Errorf("network namespace of process %d: %w", pid, err)
	}
	return st.Ino == n.ino, nil
}

// Delete removes the namespace; the kernel frees what is in it once no
// process uses it. Deleting twice is a no-op.
func (n *NS) Delete() error {
	n.r.mu.Lock()
	_, ok := n.r.live[n.name]
	delete(n.r.live, n.name)
	n.r.mu.Unlock()
	if !ok {
		return nil
	}
	if out, err := exec.Command("ip", "netns", "del", n.name).CombinedOutput(); err != nil {
		return fmt.Errorf("could not delete namespace: ip netns del %s: %v: %s", n.name, err, bytes.TrimSpace(out))
	}
	return nil
}

// DeleteAll removes every namespace of the registry still alive.
func (r *Registry) DeleteAll() error {
	r.mu.Lock()
	var all []*NS
	for _, n := range r.live {
		all = append(all, n)
	}
	r.mu.Unlock()
	var errs []error
	for _, n := range all {
		errs = append(errs, n.Delete())
	}
	return errors.Join(errs...)
}

// RemoveStale deletes the namespaces named "<prefix>-<label>-<pid>-<n>"
// whose pid is no longer a running process: what an earlier run that was
// killed (SIGKILL) left behind. It returns the names it deleted.
func RemoveStale(prefix string) ([]string, error) {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("could not list namespaces: %w", err)
	}
	pattern := regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + `-` + labelRE + `-(\d+)-\d+$`)
	var gone []string
	var errs []error
	for _, e := range entries {
		m := pattern.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		if out, err := exec.Command("ip", "netns", "del", e.Name()).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("ip netns del %s: %v: %s", e.Name(), err, bytes.TrimSpace(out)))
			continue
		}
		gone = append(gone, e.Name())
	}
	return gone, errors.Join(errs...)
}

// processAlive reports whether a process with this pid exists.
func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Nftables opens a lasting nftables netlink socket in the namespace. It
// refuses the caller's own namespace and the root's (so that a mistake can
// never aim at the machine's firewall). close releases the socket.
func (n *NS) Nftables() (conn *nftables.Conn, close func(), err error) {
	f, err := os.Open(n.Path())
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var st, self, root unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, nil, err
	}
	if st.Ino != n.ino {
		return nil, nil, fmt.Errorf("%s is no longer the namespace this run created", n.Path())
	}
	if err := unix.Stat("/proc/thread-self/ns/net", &self); err != nil {
		return nil, nil, err
	}
	if st.Dev == self.Dev && st.Ino == self.Ino {
		return nil, nil, fmt.Errorf("refusing %s: it is the caller's own network namespace", n.Path())
	}
	// PID 1's namespace, where this process may see it (in some sandboxes
	// it may not: then the check above has to do).
	if unix.Stat("/proc/1/ns/net", &root) == nil && st.Dev == root.Dev && st.Ino == root.Ino {
		return nil, nil, fmt.Errorf("refusing %s: it is the root network namespace", n.Path())
	}
	// nftables keeps the descriptor; it must not be 0 (WithNetNSFd treats
	// 0 as "none") and must outlive f.
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 3)
	runtime.KeepAlive(f)
	if err != nil {
		return nil, nil, err
	}
	c, err := nftables.New(nftables.WithNetNSFd(fd), nftables.AsLasting())
	if err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("could not open a netlink socket in %s: %w", n.name, err)
	}
	return c, func() {
		c.CloseLasting()
		unix.Close(fd)
	}, nil
}
