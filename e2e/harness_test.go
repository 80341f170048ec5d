// Package e2e holds seawall's end-to-end tests: the real binary applies
// real policies inside network namespaces of a netlab lab, and real packets
// decide whether they work. Nothing here touches the root namespace.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seawall/seawall/internal/netlab"
)

// seawallBin is the binary under test, built once by TestMain.
var seawallBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "seawall-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	seawallBin = filepath.Join(dir, "seawall")
	build := exec.Command("go", "build", "-o", seawallBin, "../cmd/seawall")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "could not build seawall:", err)
		os.Exit(1)
	}
	before := rootTables()
	code := m.Run()
	os.RemoveAll(dir)
	if after := rootTables(); strings.Contains(after, "inet seawall") && !strings.Contains(before, "inet seawall") {
		fmt.Fprintf(os.Stderr, "SAFETY: a test created table inet seawall in the root network namespace:\n%s", after)
		code = 1
	}
	os.Exit(code)
}

// noDocker keeps seawall processes of tests away from the machine's own
// dockerd: tests that want Docker pass dockerlab's DOCKER_HOST after it
// (the last value of a variable wins).
const noDocker = "DOCKER_HOST=unix:///nonexistent/seawall-e2e-no-docker.sock"

// rootTables lists the root namespace's tables (read-only): a canary for a
// test that changed the host's firewall instead of a lab namespace's.
func rootTables() string {
	out, _ := exec.Command("nft", "list", "tables").Output()
	return string(out)
}

// world is one lab with seawall installed on its host namespace.
type world struct {
	t      *testing.T
	lab    *netlab.Lab
	dir    string // policy and state directory live here
	policy string
}

// newWorld starts the standard lab (skipping when not root) and gives the
// host a state directory and a policy path.
func newWorld(t *testing.T) *world {
	t.Helper()
	netlab.RequireRoot(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs the nft binary (apt-get install nftables)")
	}
	lab := netlab.Standard(t)
	dir := t.TempDir()
	return &world{t: t, lab: lab, dir: dir, policy: filepath.Join(dir, "seawall.yaml")}
}

// writePolicy writes the policy file (leading tabs are not allowed in YAML:
// write policies with spaces).
func (w *world) writePolicy(yaml string) {
	w.t.Helper()
	if err := os.WriteFile(w.policy, []byte(yaml), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// seawall runs the binary in the host namespace with this world's policy
// and state directory; it returns combined output and the exit code.
func (w *world) seawall(env []string, args ...string) (string, int) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	full := append([]string{"-c", w.policy, "--state-dir", filepath.Join(w.dir, "state")}, args...)
	cmd := w.lab.Command(ctx, netlab.Host, append([]string{seawallBin}, full...)...)
	// The machine's own SSH session must not reach the lockout guard: the
	// lab's host is not the machine. Tests that want a session set it.
	cmd.Env = append(append(os.Environ(), "SSH_CONNECTION=", noDocker), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			w.t.Fatalf("seawall %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

// mustSeawall runs seawall and fails the test unless it exits 0.
func (w *world) mustSeawall(args ...string) string {
	w.t.Helper()
	out, code := w.seawall(nil, args...)
	if code != 0 {
		w.t.Fatalf("seawall %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// apply writes the policy and applies it.
func (w *world) apply(yaml string) {
	w.t.Helper()
	w.writePolicy(yaml)
	w.mustSeawall("apply")
}

// nft runs nft in a namespace of the lab.
func (w *world) nft(ns string, args ...string) string {
	w.t.Helper()
	out, err := w.lab.Exec(context.Background(), ns, append([]string{"nft"}, args...)...)
	if err != nil {
		w.t.Fatalf("nft %v in %s: %v\n%s", args, ns, err, out)
	}
	return out
}

// ruleset is the host's whole nftables ruleset, stateless (no counters).
func (w *world) ruleset() string {
	w.t.Helper()
	return w.nft(netlab.Host, "-s", "list", "ruleset")
}

// serve starts TCP servers on the host (all addresses) for the ports.
func (w *world) serve(ns string, ports ...uint16) {
	w.t.Helper()
	for _, p := range ports {
		if _, err := w.lab.ServeTCP(ns, fmt.Sprintf(":%d", p)); err != nil {
			w.t.Fatal(err)
		}
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v", what, within)
	return 0
}
