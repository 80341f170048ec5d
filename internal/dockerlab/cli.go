package dockerlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/seawall/seawall/internal/netlab"
)

// DefaultCLITimeout bounds a docker command whose context has no
// deadline.
const DefaultCLITimeout = 60 * time.Second

// Env returns the environment for docker commands aimed at the daemon:
// the caller's, without DOCKER_* variables, plus DOCKER_HOST, a private
// DOCKER_CONFIG (so the CLI neither reads nor writes ~/.docker) and
// DOCKER_BUILDKIT=0 (the classic builder; this daemon has no BuildKit
// frontend image to pull and the CLI has no buildx plugin).
func (d *Docker) Env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DOCKER_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"DOCKER_HOST="+d.Host(),
		"DOCKER_CONFIG="+filepath.Join(d.dir, "cli"),
		"DOCKER_BUILDKIT=0",
		"DOCKER_CLI_HINTS=false",
	)
}

// Command returns a docker command (docker -H <daemon> args...) with
// Env, for the caller to configure and run.
func (d *Docker) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "docker", append([]string{"--host", d.Host()}, args...)...)
	cmd.Env = d.Env()
	cmd.Dir = d.dir
	return cmd
}

// CLI runs docker args... against the daemon and returns its standard
// output; the error includes standard error. Without a deadline in ctx
// the command gets DefaultCLITimeout.
func (d *Docker) CLI(ctx context.Context, args ...string) (string, error) {
	return d.cli(ctx, nil, args...)
}

func (d *Docker) cli(ctx context.Context, stdin []byte, args ...string) (string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultCLITimeout)
		defer cancel()
	}
	cmd := d.Command(ctx, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	d.log("dockerlab: docker %s", strings.Join(args, " "))
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("could not run docker %s: %v: %s", strings.Join(args, " "), err, trimOutput(stderr.Bytes()))
	}
	return stdout.String(), nil
}

// Run starts a detached container: docker run -d --name name --hostname
// name args... (args are further docker run options, the image and its
// arguments). It returns the container ID.
func (d *Docker) Run(name string, args ...string) (string, error) {
	out, err := d.CLI(context.Background(), append([]string{"run", "-d", "--name", name, "--hostname", name}, args...)...)
	return strings.TrimSpace(out), err
}

// ReadyTimeout bounds RunServer's wait for the server to listen. It is
// generous for loaded machines; a healthy wait takes some 100ms.
const ReadyTimeout = 30 * time.Second

// RunServer runs TestImage (built first if this daemon lacks it) as a
// detached container named name, with docker run options dockerArgs and
// "serve serverArgs...", and waits until the server listens. The banner
// name defaults to name (the container's hostname). Without serverArgs
// the server just idles, for Dial.
func (d *Docker) RunServer(name string, dockerArgs []string, serverArgs ...string) error {
	if err := d.ensureImage(TestImage); err != nil {
		return err
	}
	args := append(append(append([]string{}, dockerArgs...), TestImage, "serve"), serverArgs...)
	if _, err := d.Run(name, args...); err != nil {
		return err
	}
	return d.WaitLog(name, "ready", ReadyTimeout)
}

// Inspect returns docker inspect --format format name, trimmed.
func (d *Docker) Inspect(name, format string) (string, error) {
	out, err := d.CLI(context.Background(), "inspect", "--format", format, name)
	return strings.TrimSpace(out), err
}

// Exec runs docker exec name args... and returns its standard output.
func (d *Docker) Exec(name string, args ...string) (string, error) {
	return d.CLI(context.Background(), append([]string{"exec", name}, args...)...)
}

// Logs returns the container's output (stdout and stderr, interleaved as
// the CLI prints them).
func (d *Docker) Logs(name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultCLITimeout)
	defer cancel()
	out, err := d.Command(ctx, "logs", name).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("could not run docker logs %s: %v: %s", name, err, trimOutput(out))
	}
	return string(out), nil
}

// Remove removes a container, running or not (docker rm -f -v).
func (d *Docker) Remove(name string) error {
	_, err := d.CLI(context.Background(), "rm", "-f", "-v", name)
	return err
}

// ContainerIP returns the container's IPv4 and IPv6 addresses on its
// first network (v6 is invalid if it has none).
func (d *Docker) ContainerIP(name string) (v4, v6 netip.Addr, err error) {
	out, err := d.Inspect(name, `{{range .NetworkSettings.Networks}}{{.IPAddress}} {{.GlobalIPv6Address}}|{{end}}`)
	if err != nil {
		return v4, v6, err
	}
	first, _, _ := strings.Cut(out, "|")
	for _, f := range strings.Fields(first) {
		a, perr := netip.ParseAddr(f)
		if perr != nil {
			return v4, v6, fmt.Errorf("could not parse address %q of container %s: %w", f, name, perr)
		}
		if a.Is4() {
			v4 = a
		} else {
			v6 = a
		}
	}
	if !v4.IsValid() && !v6.IsValid() {
		return v4, v6, fmt.Errorf("container %s has no address", name)
	}
	return v4, v6, nil
}

// HostPID returns the pid, as the caller sees it, of the container's main
// process: /proc/<HostPID>/ns/net is the container's network namespace.
// Docker's own .State.Pid does not do: it is a pid in dockerd's PID
// namespace. Likewise .NetworkSettings.SandboxKey names a file in
// dockerd's private mount namespace.
func (d *Docker) HostPID(name string) (int, error) {
	out, err := d.Inspect(name, "{{.Id}} {{.State.Pid}}")
	if err != nil {
		return 0, err
	}
	id, inner, _ := strings.Cut(out, " ")
	if inner == "0" || inner == "" {
		return 0, fmt.Errorf("could not find the process of container %s: it is not running", name)
	}
	// cgroup v1 (pids hierarchy), else v2.
	procs, err := os.ReadFile(filepath.Join(cgroupRoot, "pids", d.cgroupParent, id, "cgroup.procs"))
	if err != nil {
		var err2 error
		if procs, err2 = os.ReadFile(filepath.Join(cgroupRoot, d.cgroupParent, id, "cgroup.procs")); err2 != nil {
			return 0, fmt.Errorf("could not find the process of container %s: %w", name, err)
		}
	}
	for _, p := range strings.Fields(string(procs)) {
		status, err := os.ReadFile("/proc/" + p + "/status")
		if err != nil {
			continue
		}
		// NSpid lists the pid in each PID namespace, outermost first:
		// ours, dockerd's, the container's.
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) >= 3 && f[0] == "NSpid:" && f[2] == inner {
				return strconv.Atoi(f[1])
			}
		}
	}
	return 0, fmt.Errorf("could not find the process of container %s (pid %s in dockerd's PID namespace)", name, inner)
}

// State returns the container's state (created, running, exited...).
func (d *Docker) State(name string) (string, error) {
	return d.Inspect(name, "{{.State.Status}}")
}

// WaitRunning polls until the container is running, and fails at once if
// it has exited.
func (d *Docker) WaitRunning(name string, timeout time.Duration) error {
	return Poll(timeout, 25*time.Millisecond, "wait for container "+name+" to run", func() (bool, error) {
		st, err := d.State(name)
		if err != nil {
			return false, err
		}
		switch st {
		case "running":
			return true, nil
		case "exited", "dead":
			logs, _ := d.Logs(name)
			return false, fmt.Errorf("container %s is %s; its output:\n%s", name, st, logs)
		}
		return false, nil
	})
}

// WaitLog follows the container's output (docker logs --follow) until
// it contains substr, and fails as soon as the output ends without it
// (the container has exited) or timeout passes.
func (d *Docker) WaitLog(name, substr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	pr, pw := io.Pipe()
	cmd := d.Command(ctx, "logs", "--follow", name)
	cmd.Stdout, cmd.Stderr = pw, pw
	d.log("dockerlab: docker logs --follow %s", name)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("could not run docker logs %s: %w", name, err)
	}
	waitErr := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		pw.Close()
		waitErr <- err
	}()
	var seen []byte
	buf := make([]byte, 4096)
	for {
		n, err := pr.Read(buf)
		seen = append(seen, buf[:n]...)
		if bytes.Contains(seen, []byte(substr)) {
			cancel()
			pr.Close()
			<-waitErr
			return nil
		}
		if err != nil {
			break
		}
	}
	werr := <-waitErr
	what := fmt.Sprintf("could not wait for %q in the output of container %s", substr, name)
	if ctx.Err() != nil {
		return fmt.Errorf("%s within %v; its output:\n%s", what, timeout, seen)
	}
	if werr != nil {
		return fmt.Errorf("%s: docker logs: %v: %s", what, werr, trimOutput(seen))
	}
	st, _ := d.State(name)
	return fmt.Errorf("%s: its output ended (container %s); its output:\n%s", what, st, seen)
}

// Dial makes one probe from inside a running container of TestImage
// (docker exec NAME /server dial ...) and returns what it saw, as a
// netlab.Result. Proto is netlab.TCP or netlab.UDP; a timeout of 0 means
// 500ms. Took includes the docker exec overhead (some 100ms).
func (d *Docker) Dial(container string, proto netlab.Proto, dst netip.AddrPort, timeout time.Duration) netlab.Result {
	start := time.Now()
	if timeout <= 0 {
		timeout = 500 * time.Millisecond
	}
	args := []string{"exec", container, "/server", "dial", "-timeout", timeout.String()}
	switch proto {
	case netlab.TCP:
	case netlab.UDP:
		args = append(args, "-udp")
	default:
		return netlab.Result{Verdict: netlab.Failed, Err: fmt.Errorf("could not dial from %s: unsupported protocol %q", container, proto)}
	}
	args = append(args, dst.String())
	out, err := d.CLI(context.Background(), args...)
	r := netlab.Result{Took: time.Since(start)}
	if err != nil {
		r.Verdict, r.Err = netlab.Failed, err
		return r
	}
	r.Verdict, r.Banner, r.Err = parseDial(out)
	return r
}

// parseDial parses the line printed by "server dial".
func parseDial(out string) (netlab.Verdict, string, error) {
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	word, detail, _ := strings.Cut(line, " ")
	switch word {
	case "open":
		return netlab.Open, detail, nil
	case "refused":
		return netlab.Refused, "", nil
	case "unreachable":
		return netlab.Unreachable, "", errors.New(detail)
	case "dropped":
		return netlab.Dropped, "", nil
	case "error":
		return netlab.Failed, "", errors.New(detail)
	}
	return netlab.Failed, "", fmt.Errorf("could not parse dial output %q", out)
}

// WaitTCP polls with lab.DialTCP from namespace from to dst until it
// connects and (if banner is not empty) reads banner. It returns the last
// result; the error says what it saw last if the deadline passed.
func WaitTCP(lab *netlab.Lab, from string, dst netip.AddrPort, banner string, timeout time.Duration) (netlab.Result, error) {
	var r netlab.Result
	err := Poll(timeout, 25*time.Millisecond, fmt.Sprintf("reach %v from %s", dst, from), func() (bool, error) {
		r = lab.DialTCP(from, dst, 0)
		return r.Verdict == netlab.Open && (banner == "" || r.Banner == banner), nil
	})
	if err != nil {
		err = fmt.Errorf("%w (last: %v)", err, r)
	}
	return r, err
}
