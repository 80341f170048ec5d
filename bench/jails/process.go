package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is a long-running program the benchmark started in one of its
// namespaces (seawall daemon, fail2ban-server), with its output in a file.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	done    chan struct{}
	waitErr error
}

// startProcess starts cmd in a process group of its own (so that a Ctrl-C
// at the terminal reaches only this program, which then stops it in
// order), killed if this program dies first, with stdout and stderr going
// to logPath.
func startProcess(name string, cmd *exec.Cmd, logPath string) (*process, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("could not start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, logFile: f, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// pid is the process's id. Commands run through "ip netns exec", which
// execs them in place, so this is the program's own process.
func (p *process) pid() int { return p.cmd.Process.Pid }

// running reports whether the process has not exited.
func (p *process) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// exited describes how the process ended, for error messages.
func (p *process) exited() error {
	if p.waitErr != nil {
		return fmt.Errorf("%s exited: %w", p.name, p.waitErr)
	}
	return fmt.Errorf("%s exited", p.name)
}

// stop sends SIGTERM to the process group and waits for the process to
// exit; after grace it kills the group. It returns an error if it had to
// kill, or if the process had already failed.
func (p *process) stop(grace time.Duration) error {
	defer p.logFile.Close()
	if !p.running() {
		if p.waitErr != nil {
			return fmt.Errorf("%s had exited: %w", p.name, p.waitErr)
		}
		return nil
	}
	pgid := p.pid() // Setpgid: the group is the process's own
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("%s did not stop within %v of SIGTERM: killed", p.name, grace)
}

// tail returns the last n lines of the process's output, indented.
func (p *process) tail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return "  (no output: " + err.Error() + ")\n"
	}
	return indent(tail(string(b), n))
}

// memInfo is a process's resident memory.
type memInfo struct {
	RSS, HWM uint64 // VmRSS and VmHWM (its peak), bytes
	// Anon and File split RSS: the heap and stacks, and mapped file
	// pages (bbolt maps its file: those pages are page cache, shared
	// and reclaimable).
	Anon, File uint64
}

// memory reads the process's VmRSS and VmHWM from /proc/PID/status, after
// checking that the process is the program it should be (exe).
func (p *process) memory(exe string) (memInfo, error) {
	var m memInfo
	want, err := filepath.EvalSymlinks(exe)
	if err != nil {
		return m, err
	}
	if got, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.pid())); err != nil {
		return m, err
	} else if got != want {
		return m, fmt.Errorf("process %d runs %s, not %s", p.pid(), got, want)
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.pid()))
	if err != nil {
		return m, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			continue
		}
		switch key {
		case "VmRSS":
			m.RSS = kb << 10
		case "VmHWM":
			m.HWM = kb << 10
		case "RssAnon":
			m.Anon = kb << 10
		case "RssFile":
			m.File = kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		return m, err
	}
	if m.RSS == 0 {
		return m, errors.New("no VmRSS in /proc/" + strconv.Itoa(p.pid()) + "/status")
	}
	return m, nil
}

// childEnv is the environment of every child: the benchmark's, without
// what would change seawall's behaviour (SSH_CONNECTION turns on its
// lockout guard; SEAWALL_* would override its flags) or point it at the
// machine's Docker (DOCKER_*; the daemon is given a socket path that does
// not exist instead).
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SSH_CONNECTION=") || strings.HasPrefix(kv, "SEAWALL_") ||
			strings.HasPrefix(kv, "DOCKER_") || strings.HasPrefix(kv, "PYTHON") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// indent prefixes every line of s with "  | ".
func indent(s string) string {
	if s == "" {
		return ""
	}
	return "  | " + strings.ReplaceAll(s, "\n", "\n  | ") + "\n"
}
