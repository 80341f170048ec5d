// Package benchrun holds what every seawall benchmark in bench/ needs
// around its measurements: finding the repository, building the seawall
// binary under test, naming the revision, the machine's load, and a
// progress line on stderr.
package benchrun

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// ModuleRoot is the directory of the seawall repository the benchmark runs
// from.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run this from the seawall repository (no go.mod found)")
	}
	dir := filepath.Dir(mod)
	if _, err := os.Stat(filepath.Join(dir, "cmd", "seawall")); err != nil {
		return "", fmt.Errorf("%s has no cmd/seawall: run this from the seawall repository", dir)
	}
	return dir, nil
}

// Revision describes the repository's commit ("unknown revision" outside
// git).
func Revision(root string) string {
	out, err := exec.Command("git", "-C", root, "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown revision"
	}
	return strings.TrimSpace(string(out))
}

// BuildSeawall builds ./cmd/seawall of root into the file out.
func BuildSeawall(ctx context.Context, root, out string) error {
	build := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/seawall")
	build.Dir = root
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/seawall: %v\n%s", err, b)
	}
	return nil
}

// LoadAvg is the machine's 1, 5 and 15 minute load averages.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// Status prints progress on stderr: on a terminal on one line that it
// overwrites, else one line per step. An empty message ends the progress.
func Status(format string, args ...any) {
	fi, err := os.Stderr.Stat()
	tty := err == nil && fi.Mode()&os.ModeCharDevice != 0
	msg := fmt.Sprintf(format, args...)
	switch {
	case !tty && msg == "":
	case !tty:
		fmt.Fprintf(os.Stderr, "bench: %s\n", msg)
	case msg == "":
		fmt.Fprint(os.Stderr, "\r\033[K")
	default:
		fmt.Fprintf(os.Stderr, "\r\033[Kbench: %s", msg)
	}
}

// Pct holds the percentiles of a sample of durations.
type Pct struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

// Percentiles returns the nearest-rank percentiles of ds (zero when empty).
func Percentiles(ds []time.Duration) Pct {
	if len(ds) == 0 {
		return Pct{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return Pct{N: len(s), P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), Max: s[len(s)-1]}
}

// ExitCode reports how a benchmark ended and returns its exit code: 130
// when ctx was cancelled (a signal), 1 for an error, 0 otherwise.
func ExitCode(ctx context.Context, err error) int {
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "bench: interrupted")
		return 130
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	return 0
}

// RequireTools checks that the programs are on PATH.
func RequireTools(names ...string) error {
	for _, t := range names {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Errorf("%s is needed: %w", t, err)
		}
	}
	return nil
}

// WorkDir creates the benchmark's work directory; done removes it, or with
// keep prints where it is.
func WorkDir(prefix string, keep bool) (dir string, done func(), err error) {
	dir, err = os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	if keep {
		return dir, func() { fmt.Printf("work directory kept: %s\n", dir) }, nil
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// SignalContext returns a context cancelled at the first SIGINT, SIGTERM
// or SIGHUP, after saying on stderr what the benchmark does then (stopping
// says, e.g., "stopping and cleaning up"). A second signal runs atExit, if
// any, and exits at once with status 130.
func SignalContext(stopping string, atExit func()) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "\nbench: %v: %s (again to exit at once)\n", s, stopping)
		cancel()
		<-sigs
		if atExit != nil {
			atExit()
		}
		os.Exit(130)
	}()
	return ctx, cancel
}
