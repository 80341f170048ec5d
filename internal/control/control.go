// Package control is the daemon's control socket: a unix socket in the
// state directory (mode 0600, so root only) over which `seawall jails`,
// `bans`, `ban` and `unban` ask the running daemon, which alone holds the
// ban store and the jails' counters. The protocol is HTTP with JSON
// bodies; this package holds its types, the server and the client.
package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// SocketName is the control socket's file name in the state directory.
const SocketName = "control.sock"

// SocketPath returns the control socket's path in stateDir.
func SocketPath(stateDir string) string { return filepath.Join(stateDir, SocketName) }

// JailStatus is one jail as `seawall jails` shows it, with fail2ban-client
// status's counters.
type JailStatus struct {
	Name     string   `json:"name"`
	Filter   string   `json:"filter"` // the filter spec, or "match" for the jail's own patterns
	Scope    string   `json:"scope"`
	MaxRetry int      `json:"maxretry"`
	FindTime string   `json:"findtime"`
	BanTime  string   `json:"bantime"` // "permanent" for permanent bans
	Logs     []Source `json:"logs"`
	// CurrentlyFailed is the number of sources with failures pending in
	// the find window; TotalFailed counts failures in the window.
	CurrentlyFailed int `json:"currently_failed"`
	TotalFailed     int `json:"total_failed"`
	CurrentlyBanned int `json:"currently_banned"`
	// TotalBanned counts the bans made since the daemon started.
	TotalBanned int      `json:"total_banned"`
	Banned      []string `json:"banned"`
	Ignored     int      `json:"ignored"` // failures of sources on the ignore list
	Evicted     int      `json:"evicted"` // sources forgotten under a flood of distinct ones
}

// Source is one of a jail's log sources and what was read from it.
type Source struct {
	Name     string `json:"name"` // "file: /var/log/auth.log", "journal: ssh.service", "container: name=web"
	Lines    int64  `json:"lines"`
	Failures int64  `json:"failures"`
	Error    string `json:"error,omitempty"` // the last error reading it, if it is failing now
}

// Ban is one ban.
type Ban struct {
	Jail    string     `json:"jail"`
	Prefix  string     `json:"prefix"` // 203.0.113.7/32, 2001:db8:1:2::/64
	Start   time.Time  `json:"start"`
	Expires *time.Time `json:"expires"` // null: permanent
	Count   int        `json:"count"`   // the Count-th ban of this prefix by this jail
	Origin  string     `json:"origin"`  // "log" or "manual"
}

// NewBan returns a Ban; a zero expires means permanent.
func NewBan(jail string, prefix netip.Prefix, start, expires time.Time, count int, origin string) Ban {
	b := Ban{Jail: jail, Prefix: prefix.String(), Start: start, Count: count, Origin: origin}
	if !expires.IsZero() {
		b.Expires = &expires
	}
	return b
}

// BanRequest bans Addr by hand.
type BanRequest struct {
	Addr string `json:"addr"`
	// For is how long: a duration ("1h", "2d"), "permanent", or empty
	// for the jail's bantime (with its increments).
	For string `json:"for,omitempty"`
	// Jail is the jail to ban in; empty means every jail.
	Jail string `json:"jail,omitempty"`
}

// UnbanRequest lifts the bans covering Addr.
type UnbanRequest struct {
	Addr string `json:"addr"`
	Jail string `json:"jail,omitempty"` // empty: in every jail
}

// Handler is what the daemon answers with.
type Handler interface {
	Jails() []JailStatus
	Bans() []Ban
	Ban(BanRequest) ([]Ban, error)
	Unban(UnbanRequest) ([]Ban, error)
}

// errorBody is the body of a refused request.
type errorBody struct {
	Error string `json:"error"`
}

// Serve answers requests on the socket at path until ctx ends. It
// replaces a stale socket file (one no process listens on) and refuses to
// start if another daemon answers there.
func Serve(ctx context.Context, path string, h Handler) error {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("another seawall daemon answers on %s", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return fmt.Errorf("could not listen on the control socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jails", func(w http.ResponseWriter, _ *http.Request) { reply(w, h.Jails(), nil) })
	mux.HandleFunc("GET /bans", func(w http.ResponseWriter, _ *http.Request) { reply(w, h.Bans(), nil) })
	mux.HandleFunc("POST /ban", func(w http.ResponseWriter, r *http.Request) {
		var req BanRequest
		if err := decode(r, &req); err != nil {
			reply(w, nil, err)
			return
		}
		bans, err := h.Ban(req)
		reply(w, bans, err)
	})
	mux.HandleFunc("POST /unban", func(w http.ResponseWriter, r *http.Request) {
		var req UnbanRequest
		if err := decode(r, &req); err != nil {
			reply(w, nil, err)
			return
		}
		bans, err := h.Unban(req)
		reply(w, bans, err)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	err = srv.Serve(l)
	os.Remove(path)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad request: %w", err)
	}
	return nil
}

func reply(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		v = errorBody{Error: err.Error()}
	}
	json.NewEncoder(w).Encode(v)
}

// ErrNoDaemon says no daemon answers on the control socket.
var ErrNoDaemon = errors.New("the seawall daemon is not running")

// Client talks to a daemon's control socket.
type Client struct {
	path string
	http *http.Client
}

// NewClient returns a client of the socket in stateDir.
func NewClient(stateDir string) *Client {
	path := SocketPath(stateDir)
	return &Client{path: path, http: &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}},
	}}
}

// Jails returns the status of every jail.
func (c *Client) Jails() ([]JailStatus, error) {
	var out []JailStatus
	return out, c.call(http.MethodGet, "/jails", nil, &out)
}

// Bans returns every current ban.
func (c *Client) Bans() ([]Ban, error) {
	var out []Ban
	return out, c.call(http.MethodGet, "/bans", nil, &out)
}

// Ban bans by hand and returns the bans made.
func (c *Client) Ban(req BanRequest) ([]Ban, error) {
	var out []Ban
	return out, c.call(http.MethodPost, "/ban", req, &out)
}

// Unban lifts bans and returns those lifted.
func (c *Client) Unban(req UnbanRequest) ([]Ban, error) {
	var out []Ban
	return out, c.call(http.MethodPost, "/unban", req, &out)
}

func (c *Client) call(method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://seawall"+path, r)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("%w (no one answers on %s)", ErrNoDaemon, c.path)
		}
		return fmt.Errorf("could not reach the daemon on %s: %w", c.path, err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode != http.StatusOK {
		var e errorBody
		if err := dec.Decode(&e); err != nil || e.Error == "" {
			return fmt.Errorf("the daemon answered %s", resp.Status)
		}
		return errors.New(e.Error)
	}
	return dec.Decode(out)
}
