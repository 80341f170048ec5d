package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seawall/seawall/internal/netlab"
)

// dmSyncBuffer is a bytes.Buffer safe for one writer (the daemon's output)
// and concurrent readers (the test).
type dmSyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *dmSyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *dmSyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// since returns what was written after offset.
func (b *dmSyncBuffer) since(offset int) string {
	s := b.String()
	if offset > len(s) {
		return ""
	}
	return s[offset:]
}

// dmDaemon is a running `seawall daemon`.
type dmDaemon struct {
	cmd  *exec.Cmd
	log  *dmSyncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed
}

// dmStartDaemon starts `seawall daemon` in the host namespace with this
// world's policy and state directory. The daemon is killed when the test
// ends (if it still runs), and its log is shown if the test failed.
func (w *world) dmStartDaemon() *dmDaemon {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := w.lab.Command(ctx, netlab.Host, seawallBin,
		"-c", w.policy, "--state-dir", filepath.Join(w.dir, "state"), "daemon")
	cmd.Env = append(os.Environ(), sfNoSSH, noDocker)
	d := &dmDaemon{cmd: cmd, log: &dmSyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = d.log, d.log
	if err := cmd.Start(); err != nil {
		cancel()
		w.t.Fatalf("could not start seawall daemon: %v", err)
	}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	w.t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			_ = cmd.Process.Kill()
			<-d.done
		}
		cancel()
		if w.t.Failed() {
			w.t.Logf("daemon log:\n%s", d.log.String())
		}
	})
	return d
}

// dmWaitLog polls the daemon's log written after offset until it contains
// want, and returns that part of the log.
func (w *world) dmWaitLog(d *dmDaemon, offset int, within time.Duration, want string) string {
	w.t.Helper()
	var got string
	eventually(w.t, within, "daemon log line containing "+want, func() bool {
		got = d.log.since(offset)
		return strings.Contains(got, want)
	})
	return got
}

// dmTableHandle is the kernel handle of table inet seawall, or "" if it does
// not exist. A re-created table gets a new handle.
func (w *world) dmTableHandle() string {
	w.t.Helper()
	out, err := w.sfNftMay(netlab.Host, "-a", "list", "table", "inet", "seawall")
	if err != nil {
		return ""
	}
	first, _, _ := strings.Cut(out, "\n")
	_, h, ok := strings.Cut(first, "# handle ")
	if !ok {
		w.t.Fatalf("no handle in %q", first)
	}
	return strings.TrimSpace(h)
}

// dmRestoredWithin removes seawall's table with nft (args) and measures how
// long the daemon takes to put it back (a table with a new handle).
func (w *world) dmRestoredWithin(limit time.Duration, args ...string) time.Duration {
	w.t.Helper()
	before, old := w.ruleset(), w.dmTableHandle()
	w.nft(netlab.Host, args...)
	start := time.Now()
	eventually(w.t, 5*time.Second, "the daemon to restore table inet seawall", func() bool {
		h := w.dmTableHandle()
		return h != "" && h != old
	})
	took := time.Since(start)
	if took >= limit {
		w.t.Errorf("after nft %s the daemon restored the table in %v, want < %v", strings.Join(args, " "), took, limit)
	}
	if after := w.ruleset(); after != before {
		w.t.Errorf("after nft %s the restored ruleset differs:\n%s", strings.Join(args, " "), sfLineDiff(before, after))
	}
	return took
}

// dmDaemonPolicy blocks the addresses of blocked.txt and opens ssh and http;
// extra rules go at the end.
func dmDaemonPolicy(extra string) string {
	return `version: 1
sets:
  blocked:
    files: [blocked.txt]
host:
  input:
    - deny: any
      from: blocked
    - allow: [ssh, http]
` + extra
}

// dmBlockedFile lists both addresses of a lab namespace.
func dmBlockedFile(ns string) string {
	return "# blocked\n" + netlab.Addr(ns, 4).String() + "\n" + netlab.Addr(ns, 6).String() + "\n"
}

// TestDaemon: `seawall daemon` applies the policy, puts table inet seawall
// back within a second when someone flushes the ruleset or deletes the
// table, applies valid edits of the policy file, refuses invalid ones
// (the kernel keeps its ruleset, the log points at file:line:col), applies
// a fix, turns a set file edit into element updates of the live set, and
// on SIGTERM exits 0 leaving the rules in place.
func TestDaemon(t *testing.T) {
	w := newWorld(t)
	w.serve(netlab.Host, 80, 8080, 8443)
	w.sfWriteFile("blocked.txt", dmBlockedFile(netlab.Net3))
	w.writePolicy(dmDaemonPolicy(""))
	d := w.dmStartDaemon()

	// (a) It applies the policy.
	took := eventually(t, 5*time.Second, "the daemon to create table inet seawall", w.sfHasTable)
	t.Logf("(a) table created %v after start", took.Round(time.Millisecond))
	w.dmWaitLog(d, 0, 2*time.Second, "applied policy")
	w.lab.Check(t, append(append(sfBoth(netlab.Net2, 80, netlab.Open), sfBoth(netlab.Net3, 80, netlab.Dropped)...),
		sfBoth(netlab.Net2, 8080, netlab.Dropped)...))
	if exe, err := os.Readlink("/proc/" + strconv.Itoa(d.cmd.Process.Pid) + "/exe"); err != nil || exe != seawallBin {
		t.Fatalf("the started process is %q (%v), not seawall: signals would not reach the daemon", exe, err)
	}

	// (b) nft flush ruleset: back within a second.
	off := len(d.log.String())
	took = w.dmRestoredWithin(time.Second, "flush", "ruleset")
	t.Logf("(b) nft flush ruleset: table restored after %v", took.Round(time.Millisecond))
	w.dmWaitLog(d, off, time.Second, "restored")
	w.lab.Check(t, sfBoth(netlab.Net3, 80, netlab.Dropped))

	// (c) nft delete table inet seawall: back within a second.
	took = w.dmRestoredWithin(time.Second, "delete", "table", "inet", "seawall")
	t.Logf("(c) nft delete table inet seawall: table restored after %v", took.Round(time.Millisecond))

	// (d) A valid edit opens port 8080.
	off = len(d.log.String())
	w.writePolicy(dmDaemonPolicy("    - allow: tcp/8080\n"))
	took = w.sfWaitProbes(3*time.Second, "(d) port 8080 open after the policy edit", sfBoth(netlab.Net2, 8080, netlab.Open))
	t.Logf("(d) valid edit in force after %v", took.Round(time.Millisecond))
	w.dmWaitLog(d, off, time.Second, "applied policy")

	// (e) An invalid edit is not applied: the kernel keeps its ruleset
	// and the log points at the mistake.
	before := w.sfObjects()
	off = len(d.log.String())
	w.writePolicy(dmDaemonPolicy("    - allow: tcp/8080\n    - allow: tcp/8443\n      form: office\n"))
	logged := w.dmWaitLog(d, off, 3*time.Second, "seawall.yaml:12:7")
	if !strings.Contains(logged, "level=ERROR") || !strings.Contains(logged, `unknown key \"form\"`) {
		t.Errorf("(e) the daemon did not log the invalid policy as an error:\n%s", logged)
	}
	if after := w.sfObjects(); after != before {
		t.Errorf("(e) the kernel ruleset changed after an invalid edit:\n%s", sfLineDiff(before, after))
	}
	w.lab.Check(t, append(sfBoth(netlab.Net2, 8080, netlab.Open), sfBoth(netlab.Net2, 8443, netlab.Dropped)...))
	// Meanwhile the daemon still guards the last valid ruleset.
	took = w.dmRestoredWithin(time.Second, "delete", "table", "inet", "seawall")
	t.Logf("(e) invalid policy on disk; deleted table restored after %v", took.Round(time.Millisecond))

	// (f) Fixing the file applies it.
	off = len(d.log.String())
	w.writePolicy(dmDaemonPolicy("    - allow: tcp/8080\n    - allow: tcp/8443\n"))
	took = w.sfWaitProbes(3*time.Second, "(f) port 8443 open after fixing the policy", sfBoth(netlab.Net2, 8443, netlab.Open))
	t.Logf("(f) fixed policy in force after %v", took.Round(time.Millisecond))
	w.dmWaitLog(d, off, time.Second, "applied policy")

	// (g) Editing only the set file updates the live set's elements: net3
	// is let in, net2 is blocked, and the rules are the same kernel
	// objects (same handles) as before.
	rulesBefore := w.nft(netlab.Host, "-s", "-a", "list", "chain", "inet", "seawall", "input")
	off = len(d.log.String())
	w.sfWriteFile("blocked.txt", dmBlockedFile(netlab.Net2))
	took = w.sfWaitProbes(3*time.Second, "(g) the set file edit in force",
		append(sfBoth(netlab.Net3, 80, netlab.Open), sfBoth(netlab.Net2, 80, netlab.Dropped)...))
	t.Logf("(g) set file edit in force after %v", took.Round(time.Millisecond))
	logged = w.dmWaitLog(d, off, time.Second, "updated set contents")
	if strings.Contains(logged, "applied policy") {
		t.Errorf("(g) the daemon re-applied the policy for a set file edit:\n%s", logged)
	}
	if rulesAfter := w.nft(netlab.Host, "-s", "-a", "list", "chain", "inet", "seawall", "input"); rulesAfter != rulesBefore {
		t.Errorf("(g) the input chain was re-created for a set file edit:\n%s", sfLineDiff(rulesBefore, rulesAfter))
	}
	set := w.nft(netlab.Host, "list", "set", "inet", "seawall", "blocked_v4")
	if !strings.Contains(set, netlab.Net2V4) || strings.Contains(set, netlab.Net3V4) {
		t.Errorf("(g) set blocked_v4 does not hold net2 alone:\n%s", set)
	}

	// (h) SIGTERM: exit 0, the rules stay.
	before = w.sfObjects()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		t.Fatal("(h) the daemon did not exit within 5 s of SIGTERM")
	}
	var ee *exec.ExitError
	if errors.As(d.err, &ee) {
		t.Errorf("(h) the daemon exited with %v after SIGTERM, want exit 0", ee)
	} else if d.err != nil {
		t.Errorf("(h) the daemon: %v", d.err)
	}
	if after := w.sfObjects(); after != before {
		t.Errorf("(h) the ruleset changed when the daemon stopped:\n%s", sfLineDiff(before, after))
	}
	if !strings.Contains(d.log.String(), "the rules stay") {
		t.Errorf("(h) the daemon did not log that it stops leaving the rules:\n%s", d.log.String())
	}
	w.lab.Check(t, append(sfBoth(netlab.Net2, 80, netlab.Dropped), sfBoth(netlab.Net3, 8443, netlab.Open)...))
}
