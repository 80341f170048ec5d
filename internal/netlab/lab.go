package netlab

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// netnsDir is where iproute2 keeps named network namespaces.
const netnsDir = "/run/netns"

// namePrefix starts every namespace name netlab creates. The full prefix of
// one lab is namePrefix + pid + "_" + random hex + "-".
const namePrefix = "swlab"

// DefaultProbeTimeout is how long a probe waits for an answer before it
// calls the target Dropped, unless Options.ProbeTimeout or Probe.Timeout say
// otherwise.
const DefaultProbeTimeout = 400 * time.Millisecond

// TB is the part of testing.TB that a Lab needs. *testing.T and *testing.B
// implement it; a non-test program can implement it with a few lines.
type TB interface {
	Helper()
	Cleanup(func())
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Skipper is the part of testing.TB that RequireRoot needs.
type Skipper interface {
	Helper()
	Skipf(format string, args ...any)
}

// Options configure Start and StartStandard. The zero value is usable.
type Options struct {
	// ProbeTimeout is the default probe timeout (DefaultProbeTimeout if 0).
	ProbeTimeout time.Duration
	// Logf, if set, receives a line for every command the lab runs.
	Logf func(format string, args ...any)
}

// Lab is a set of network namespaces sharing one name prefix, plus the
// servers running in them. Its methods are safe for concurrent use.
type Lab struct {
	prefix  string
	timeout time.Duration
	logf    func(format string, args ...any)

	mu      sync.Mutex
	nsOrder []string // short names, in creation order
	nsSet   map[string]bool
	servers []*Server
	closed  bool
}

// Available reports why netlab cannot run here, or nil if it can: it needs
// root, the ip command and the right to create a network namespace.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("could not use netlab: not running as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("could not use netlab: ip (iproute2) not found: %w", err)
	}
	name, err := newPrefix()
	if err != nil {
		return err
	}
	name += "probe"
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("could not use netlab: could not create a network namespace: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("could not use netlab: could not delete network namespace %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// RequireRoot skips the test when netlab cannot run here (see Available),
// with the reason.
func RequireRoot(t Skipper) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("skipping network namespace test: %v", err)
	}
}

// Start returns an empty lab with a fresh namespace name prefix. It first
// deletes namespaces left behind by netlab processes that no longer exist
// (a crashed test or demo). The caller must call Close.
func Start(opts Options) (*Lab, error) {
	prefix, err := newPrefix()
	if err != nil {
		return nil, err
	}
	timeout := opts.ProbeTimeout
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	l := &Lab{
		prefix:  prefix,
		timeout: timeout,
		logf:    opts.Logf,
		nsSet:   map[string]bool{},
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("could not find ip (iproute2): %w", err)
	}
	if err := l.removeStale(); err != nil {
		// Not fatal: stale namespaces never collide with fresh names.
		l.log("netlab: %v", err)
	}
	return l, nil
}

// New returns an empty lab that is closed when tb's test ends. It skips
// the test (see RequireRoot) if tb also implements Skipper and netlab
// cannot run here, and fails it if the lab cannot start.
func New(tb TB) *Lab {
	tb.Helper()
	if s, ok := tb.(Skipper); ok {
		RequireRoot(s)
	}
	l, err := Start(Options{})
	if err != nil {
		tb.Fatalf("%v", err)
	}
	tb.Cleanup(func() {
		if err := l.Close(); err != nil {
			tb.Errorf("%v", err)
		}
	})
	return l
}

// Prefix returns the namespace name prefix of this lab.
func (l *Lab) Prefix() string { return l.prefix }

// NS returns the full namespace name of the lab namespace with short name
// name (for use with "ip netns exec" or "ip -n").
func (l *Lab) NS(name string) string { return l.prefix + name }

// NSPath returns the path of the namespace file of name, which can be
// opened and passed to setns(2) or to libraries that take a netns fd.
func (l *Lab) NSPath(name string) string { return netnsDir + "/" + l.NS(name) }

// Namespaces returns the short names of the lab's namespaces in creation
// order.
func (l *Lab) Namespaces() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.nsOrder...)
}

// Has reports whether the lab created a namespace with short name name.
func (l *Lab) Has(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nsSet[name]
}

// Close stops the lab's servers and deletes all its namespaces (and with
// them every link inside). It returns the first error but always tries
// everything. Close is idempotent.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	servers := l.servers
	l.servers = nil
	names := append([]string(nil), l.nsOrder...)
	l.mu.Unlock()

	var errs []error
	for _, s := range servers {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	for i := len(names) - 1; i >= 0; i-- {
		if err := deleteNetns(l.NS(names[i])); err != nil {
			errs = append(errs, err)
		}
	}
	// Catch namespaces created with this prefix outside AddNS.
	left, err := listNetns(l.prefix)
	if err != nil {
		errs = append(errs, err)
	}
	for _, name := range left {
		if err := deleteNetns(name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (l *Lab) log(format string, args ...any) {
	if l.logf != nil {
		l.logf(format, args...)
	}
}

func (l *Lab) checkOpen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("could not use lab: it is closed")
	}
	return nil
}

// newPrefix returns a fresh, machine-unique namespace name prefix.
func newPrefix() (string, error) {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("could not generate lab prefix: %w", err)
	}
	return fmt.Sprintf("%s%d_%s-", namePrefix, os.Getpid(), hex.EncodeToString(b[:])), nil
}

// staleName matches namespace names made by newPrefix and captures the pid.
const staleName = `^` + namePrefix + `([0-9]+)_[0-9a-f]+-`

// removeStale deletes namespaces whose name carries the pid of a process
// that no longer exists.
func (l *Lab) removeStale() error {
	re := regexp.MustCompile(staleName)
	names, err := listNetns(namePrefix)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		m := re.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		l.log("netlab: deleting stale namespace %s", name)
		if err := deleteNetns(name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// listNetns returns the names of named namespaces starting with prefix.
func listNetns(prefix string) ([]string, error) {
	ents, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("could not list network namespaces: %w", err)
	}
	var names []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// deleteNetns deletes the named namespace; a missing one is not an error.
func deleteNetns(name string) error {
	if _, err := os.Stat(netnsDir + "/" + name); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	out, err := exec.Command("ip", "netns", "del", name).CombinedOutput()
	if _, serr := os.Stat(netnsDir + "/" + name); err != nil && errors.Is(serr, os.ErrNotExist) {
		return nil // deleted concurrently, e.g. by another lab's stale cleanup
	}
	if err != nil {
		return fmt.Errorf("could not delete network namespace %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}
