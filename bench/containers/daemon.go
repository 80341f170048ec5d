package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/seawall/seawall/internal/dockerlab"
	"github.com/seawall/seawall/internal/netlab"
)

// logLine is one line of seawall daemon's log (log/slog's text format:
// key=value pairs), with the wall time (ns) this process read it.
type logLine struct {
	read  int64
	level string
	msg   string
	attrs map[string]string
	raw   string
}

// reconcile is a "containers reconciled" line: the daemon read Docker's
// containers, compiled the policy and updated the kernel, in took.
type reconcile struct {
	line       *logLine
	reason     string
	containers int
	took       time.Duration
	// begin and end are wall times (ns): end is when the line was read,
	// begin is end - took.
	begin, end int64
}

// seawallDaemon is `seawall daemon` running in the lab's host namespace,
// aimed at the confined dockerd, its log parsed as it comes.
type seawallDaemon struct {
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	logFile *os.File

	mu    sync.Mutex
	lines []*logLine
}

// startDaemon runs seawall -c policy --state-dir state daemon inside the
// host namespace with DOCKER_HOST set to the confined daemon (Env drops
// every other DOCKER_* variable, so the machine's own dockerd is never
// reached). Its output goes to logPath and is parsed.
func startDaemon(lab *netlab.Lab, d *dockerlab.Docker, seawall, policy, state, logPath string) (*seawallDaemon, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := lab.Command(context.Background(), netlab.Host, seawall, "-c", policy, "--state-dir", state, "daemon")
	cmd.Env = append(d.Env(), "SSH_CONNECTION=")
	// Its own process group, so that a Ctrl-C at the terminal reaches
	// only this program, which stops the daemon in order; SIGKILL if this
	// program dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	pr, pw, err := os.Pipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		logFile.Close()
		return nil, fmt.Errorf("could not start seawall daemon: %w", err)
	}
	pw.Close()
	sd := &seawallDaemon{cmd: cmd, done: make(chan struct{}), logFile: logFile}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sd.read(pr, logFile)
	}()
	go func() {
		sd.waitErr = cmd.Wait()
		<-readDone
		pr.Close()
		close(sd.done)
	}()
	return sd, nil
}

func (sd *seawallDaemon) read(r io.Reader, copyTo io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		now := time.Now().UnixNano()
		raw := sc.Text()
		fmt.Fprintln(copyTo, raw)
		attrs := parseLogfmt(raw)
		l := &logLine{read: now, level: attrs["level"], msg: attrs["msg"], attrs: attrs, raw: raw}
		sd.mu.Lock()
		sd.lines = append(sd.lines, l)
		sd.mu.Unlock()
	}
}

// running reports whether the daemon has not exited.
func (sd *seawallDaemon) running() bool {
	select {
	case <-sd.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and waits for the daemon to exit (SIGKILL after
// grace). It returns an error if it had to kill it or it had exited
// already with an error.
func (sd *seawallDaemon) stop(grace time.Duration) error {
	defer sd.logFile.Close()
	if !sd.running() {
		if sd.waitErr != nil {
			return fmt.Errorf("seawall daemon had exited: %w", sd.waitErr)
		}
		return nil
	}
	_ = sd.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-sd.done:
		return nil
	case <-time.After(grace):
	}
	_ = sd.cmd.Process.Kill()
	<-sd.done
	return fmt.Errorf("seawall daemon did not stop within %v of SIGTERM: killed", grace)
}

// since returns the lines read after wall time t.
func (sd *seawallDaemon) since(t int64) []*logLine {
	sd.mu.Lock()
	defer sd.mu.Unlock()
	i := len(sd.lines)
	for i > 0 && sd.lines[i-1].read > t {
		i--
	}
	return append([]*logLine(nil), sd.lines[i:]...)
}

// tail returns the last n lines of the log.
func (sd *seawallDaemon) tail(n int) string {
	sd.mu.Lock()
	defer sd.mu.Unlock()
	lines := sd.lines[max(0, len(sd.lines)-n):]
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("  | " + l.raw + "\n")
	}
	return b.String()
}

// waitLine waits for a line with message msg read after t.
func (sd *seawallDaemon) waitLine(ctx context.Context, msg string, t int64, timeout time.Duration) (*logLine, error) {
	var got *logLine
	err := waitFor(ctx, timeout, 2*time.Millisecond, func() (bool, error) {
		for _, l := range sd.since(t) {
			if l.msg == msg {
				got = l
				return true, nil
			}
		}
		if !sd.running() {
			return false, errors.New("seawall daemon exited")
		}
		return false, nil
	}, fmt.Sprintf("%q in seawall daemon's log", msg))
	return got, err
}

// reconciles returns the "containers reconciled" lines among lines.
func reconciles(lines []*logLine) []reconcile {
	var out []reconcile
	for _, l := range lines {
		if l.msg != "containers reconciled" {
			continue
		}
		took, err := time.ParseDuration(l.attrs["took"])
		if err != nil {
			continue
		}
		n, _ := strconv.Atoi(l.attrs["containers"])
		out = append(out, reconcile{line: l, reason: l.attrs["reason"], containers: n, took: took,
			begin: l.read - int64(took), end: l.read})
	}
	return out
}

// parseLogfmt splits a log/slog text line into its keys and values
// (values quoted with Go syntax are unquoted).
func parseLogfmt(s string) map[string]string {
	out := map[string]string{}
	for len(s) > 0 {
		s = strings.TrimLeft(s, " ")
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			break
		}
		key := s[:eq]
		s = s[eq+1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			end := 1
			for end < len(s) && s[end] != '"' {
				if s[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(s) {
				val, s = s, ""
			} else {
				val, s = s[:end+1], s[end+1:]
			}
			if u, err := strconv.Unquote(val); err == nil {
				val = u
			}
		} else {
			sp := strings.IndexByte(s, ' ')
			if sp < 0 {
				sp = len(s)
			}
			val, s = s[:sp], s[sp:]
		}
		out[key] = val
	}
	return out
}
