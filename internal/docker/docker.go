// Package docker is seawall's only contact with the Docker Engine API. It turns
// the API's containers and networks into inventory facts (Source.Facts) and
// its event stream into debounced change notifications (Source.Watch).
//
// It only reads: it never creates, starts, stops or changes anything in the
// daemon.
package docker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/docker/client"
)

// Defaults for Source's tunables.
const (
	// DefaultDebounce is how long Watch waits for the event stream to go
	// quiet before it calls back.
	DefaultDebounce = 5 * time.Millisecond
	// DefaultMaxDelay bounds how long a steady stream of events can hold a
	// callback back.
	DefaultMaxDelay = 100 * time.Millisecond

	// inspectWorkers bounds the concurrent container inspections of Facts.
	inspectWorkers = 8
	// backoffMin and backoffMax bound the wait between attempts to reach
	// a daemon whose event stream broke.
	backoffMin = 50 * time.Millisecond
	backoffMax = time.Second
	// healthyStream is how long an event stream must have lived for the
	// next reconnection to be attempted at once, without backoff.
	healthyStream = time.Second
)

// Source watches one Docker daemon. Its methods may be called concurrently,
// e.g. Facts from within Watch's callback.
type Source struct {
	// Debounce and MaxDelay tune Watch; set them before calling it. Zero
	// means DefaultDebounce and DefaultMaxDelay.
	Debounce time.Duration
	MaxDelay time.Duration

	cli  *client.Client
	host string
	log  *slog.Logger

	// names maps container IDs to names, for the reasons of network
	// connect/disconnect events, which only carry the container's ID.
	mu    sync.Mutex
	names map[string]string

	closeCtx context.Context
	close    context.CancelFunc

	// failures counts the event streams that failed or ended.
	failures atomic.Int64
}

// New returns a Source for the daemon at host: a Docker host URL like
// "unix:///run/docker.sock" or "tcp://127.0.0.1:2375", or a bare socket path.
// Empty host means DOCKER_HOST (with DOCKER_TLS_VERIFY, DOCKER_CERT_PATH and
// DOCKER_API_VERSION), or else the default socket /var/run/docker.sock.
//
// New does not contact the daemon, so it succeeds while the daemon is down;
// Facts then fails with an *UnavailableError and Watch keeps retrying.
func New(host string, log *slog.Logger) (*Source, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if strings.HasPrefix(host, "/") {
		host = "unix://" + host
	}
	// The client's own transport keeps only 2 idle connections (Go's
	// default per host), so Facts' concurrent inspections would open and
	// close a connection for most requests. Ours keeps one per worker.
	// FromEnv and WithHost then point it at the daemon.
	hc := &http.Client{
		Transport: &http.Transport{
			MaxIdleConns:        inspectWorkers + 2,
			MaxIdleConnsPerHost: inspectWorkers + 2,
			IdleConnTimeout:     30 * time.Second,
		},
		CheckRedirect: client.CheckRedirect,
	}
	opts := []client.Opt{client.WithHTTPClient(hc), client.FromEnv}
	switch {
	case host != "":
		opts = append(opts, client.WithHost(host))
	case os.Getenv(client.EnvOverrideHost) == "":
		// FromEnv leaves our transport unconfigured without DOCKER_HOST.
		opts = append(opts, client.WithHost(client.DefaultDockerHost))
	}
	opts = append(opts, client.WithAPIVersionNegotiation())
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		if host == "" {
			host = "$" + client.EnvOverrideHost
		}
		return nil, fmt.Errorf("docker client for %s: %w", host, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Source{
		cli:      cli,
		host:     cli.DaemonHost(),
		log:      log.With("docker", cli.DaemonHost()),
		names:    map[string]string{},
		closeCtx: ctx,
		close:    cancel,
	}, nil
}

// Host returns the daemon's address, e.g. "unix:///var/run/docker.sock".
func (s *Source) Host() string { return s.host }

// Close ends a running Watch (which then returns ErrClosed) and releases the
// client's connections.
func (s *Source) Close() error {
	s.close()
	return s.cli.Close()
}

// ErrClosed is returned by Watch when the Source was closed.
var ErrClosed = errors.New("docker: source closed")

// UnavailableError means the daemon could not be reached at all: its socket
// is missing, refuses connections or may not be opened. Test for it with
// errors.As; a caller may want to keep its last ruleset while Docker is down.
type UnavailableError struct {
	Host   string // the daemon's address
	Detail string // why, e.g. "socket does not exist"
	Err    error  // the client's error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("cannot connect to the Docker daemon at %s: %s", e.Host, e.Detail)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// wrap names the failed operation and, for connection failures, turns the
// client's generic "Is the docker daemon running?" into an UnavailableError
// saying what is wrong with the socket.
func (s *Source) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("docker: %s: %w", op, err)
	}
	if client.IsErrConnectionFailed(err) {
		return fmt.Errorf("docker: %s: %w", op, &UnavailableError{Host: s.host, Detail: s.why(err), Err: err})
	}
	return fmt.Errorf("docker at %s: %s: %w", s.host, op, err)
}

// why explains a connection failure. The client drops the dial error for
// most failures, so look at the socket.
func (s *Source) why(err error) string {
	if errors.Is(err, fs.ErrPermission) {
		return "permission denied (is this user in the docker group?)"
	}
	path, ok := strings.CutPrefix(s.host, "unix://")
	if !ok {
		return "the daemon is not running or not listening there"
	}
	st, serr := os.Stat(path)
	switch {
	case errors.Is(serr, fs.ErrNotExist):
		return "socket does not exist (is the docker daemon running?)"
	case errors.Is(serr, fs.ErrPermission):
		return "permission denied"
	case serr == nil && st.Mode().Type() != fs.ModeSocket:
		return "not a socket"
	}
	return "connection refused (is the docker daemon running?)"
}
