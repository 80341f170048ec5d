package docker

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeEngine is a canned Docker Engine API (as dockerd 20.10, API 1.41,
// answers it) on a unix socket in a test's temporary directory. It never
// touches the machine's own dockerd.
type fakeEngine struct {
	t    testing.TB
	sock string

	mu         sync.Mutex
	srv        *httptest.Server
	closing    chan struct{} // closed to end the open event streams
	list       []string      // container IDs /containers/json lists
	inspect    map[string]string
	networks   string
	info       string // /info's JSON; "" for dockerd 20.10's (no FirewallBackend)
	eventsCode int    // non-zero: /events fails with this status

	inspectDelay time.Duration
	inFlight     atomic.Int64 // inspections being served
	maxInFlight  atomic.Int64
	conns        atomic.Int64 // connections accepted
	versions     sync.Map     // API versions seen in paths
	hits         sync.Map     // path (without version) -> *atomic.Int64
	eventsServed atomic.Int64 // events written to streams
	streams      atomic.Int64 // open event streams

	subsMu sync.Mutex
	subs   map[chan string]struct{}
}

func newFakeEngine(t testing.TB) *fakeEngine {
	t.Helper()
	f := &fakeEngine{
		t:        t,
		sock:     filepath.Join(t.TempDir(), "docker.sock"),
		inspect:  map[string]string{},
		networks: "[]",
		subs:     map[chan string]struct{}{},
	}
	f.start()
	t.Cleanup(f.stop)
	return f
}

// host is the address to give New.
func (f *fakeEngine) host() string { return "unix://" + f.sock }

// start serves the API on the socket; stop and start again simulate a
// daemon restart.
func (f *fakeEngine) start() {
	f.t.Helper()
	l, err := net.Listen("unix", f.sock)
	if err != nil {
		f.t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	srv.Listener.Close()
	srv.Listener = l
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			f.conns.Add(1)
		}
	}
	srv.Start()
	f.mu.Lock()
	f.srv, f.closing = srv, make(chan struct{})
	f.mu.Unlock()
}

func (f *fakeEngine) stop() {
	f.mu.Lock()
	srv, closing := f.srv, f.closing
	f.srv = nil
	f.mu.Unlock()
	if srv == nil {
		return
	}
	close(closing)
	srv.CloseClientConnections()
	srv.Close()
}

// dropStreams ends the open event streams, as a daemon going away does,
// but keeps serving.
func (f *fakeEngine) dropStreams() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.closing)
	f.closing = make(chan struct{})
}

// addContainer adds a running container: its inspect JSON (which must
// have "Id") is served, and it is listed.
func (f *fakeEngine) addContainer(inspectJSON string) string {
	f.t.Helper()
	var c struct{ Id string }
	if err := json.Unmarshal([]byte(inspectJSON), &c); err != nil || c.Id == "" {
		f.t.Fatalf("bad inspect JSON (%v): %s", err, inspectJSON)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = append(f.list, c.Id)
	f.inspect[c.Id] = inspectJSON
	return c.Id
}

func (f *fakeEngine) setNetworks(js string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.networks = js
}

func (f *fakeEngine) setEventsCode(code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.eventsCode = code
}

// emit sends an event (JSON) to every open stream.
func (f *fakeEngine) emit(js string) {
	f.subsMu.Lock()
	defer f.subsMu.Unlock()
	if len(f.subs) == 0 {
		f.t.Errorf("emit with no event stream open: %s", js)
	}
	for c := range f.subs {
		c <- js
	}
}

func (f *fakeEngine) hitCount(path string) int64 {
	if v, ok := f.hits.Load(path); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

var versionPrefix = regexp.MustCompile(`^/v([0-9]+\.[0-9]+)/`)

func (f *fakeEngine) serve(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if m := versionPrefix.FindStringSubmatch(path); m != nil {
		f.versions.Store(m[1], true)
		path = path[len(m[0])-1:]
	}
	v, _ := f.hits.LoadOrStore(path, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)

	w.Header().Set("Api-Version", "1.41")
	w.Header().Set("Ostype", "linux")
	w.Header().Set("Server", "Docker/20.10.24 (linux)")
	f.mu.Lock()
	list, networks, eventsCode, closing := f.list, f.networks, f.eventsCode, f.closing
	f.mu.Unlock()

	switch {
	case path == "/_ping":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if r.Method != http.MethodHead {
			fmt.Fprint(w, "OK")
		}
	case path == "/version":
		writeJSON(w, `{"Version":"20.10.24+dfsg1","ApiVersion":"1.41","MinAPIVersion":"1.12","Os":"linux","Arch":"amd64"}`)
	case path == "/containers/json":
		var items []string
		for _, id := range list {
			// The list's Image is an ID, as when the tag has moved on:
			// Facts must take the name from inspect.
			items = append(items, fmt.Sprintf(`{"Id":%q,"Names":["/x"],"Image":"sha256:0123","State":"running","Status":"Up 1 second"}`, id))
		}
		writeJSON(w, "["+strings.Join(items, ",")+"]")
	case strings.HasPrefix(path, "/containers/") && strings.HasSuffix(path, "/json"):
		id := strings.TrimSuffix(strings.TrimPrefix(path, "/containers/"), "/json")
		n := f.inFlight.Add(1)
		for {
			m := f.maxInFlight.Load()
			if n <= m || f.maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		if f.inspectDelay > 0 {
			time.Sleep(f.inspectDelay) // simulated daemon latency
		}
		f.inFlight.Add(-1)
		f.mu.Lock()
		js, ok := f.inspect[id]
		f.mu.Unlock()
		switch {
		case js == "error":
			w.WriteHeader(http.StatusInternalServerError)
			writeJSON(w, `{"message":"containerd: deadline exceeded"}`)
		case !ok:
			w.WriteHeader(http.StatusNotFound)
			writeJSON(w, fmt.Sprintf(`{"message":"No such container: %s"}`, id))
		default:
			writeJSON(w, js)
		}
	case path == "/networks":
		writeJSON(w, networks)
	case path == "/info":
		f.mu.Lock()
		info := f.info
		f.mu.Unlock()
		if info == "" {
			info = `{"ServerVersion":"20.10.24+dfsg1","OSType":"linux"}`
		}
		writeJSON(w, info)
	case path == "/events":
		if eventsCode != 0 {
			w.WriteHeader(eventsCode)
			writeJSON(w, `{"message":"events are broken"}`)
			return
		}
		c := make(chan string, 1000)
		f.subsMu.Lock()
		f.subs[c] = struct{}{}
		f.subsMu.Unlock()
		f.streams.Add(1)
		defer func() {
			f.subsMu.Lock()
			delete(f.subs, c)
			f.subsMu.Unlock()
			f.streams.Add(-1)
		}()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for {
			select {
			case js := <-c:
				fmt.Fprintln(w, js)
				w.(http.Flusher).Flush()
				f.eventsServed.Add(1)
			case <-closing:
				return
			case <-r.Context().Done():
				return
			}
		}
	default:
		w.WriteHeader(http.StatusNotFound)
		writeJSON(w, fmt.Sprintf(`{"message":"page not found: %s"}`, path))
	}
}

func writeJSON(w http.ResponseWriter, js string) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintln(w, js)
}

// newTestSource returns a Source for the fake, logging to the test.
func newTestSource(t *testing.T, host string) *Source {
	t.Helper()
	s, err := New(host, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond) // polling interval
	}
}
