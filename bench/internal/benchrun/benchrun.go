// Package benchrun holds what every seawall benchmark in bench/ needs
// around its measurements: finding the repository, building the seawall
// binary under test, naming the revision, the machine's load, and a
// progress line on stderr.
package benchrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
