package logsrc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// JournalOptions selects the journal entries Journal follows.
type JournalOptions struct {
	// Units are systemd units (journalctl --unit); several are ORed.
	Units []string
	// Matches are journalctl matches, "FIELD=VALUE" or "+" (OR), e.g.
	// "_SYSTEMD_UNIT=ssh.service" or "SYSLOG_IDENTIFIER=sshd".
	Matches []string
	// Cursor resumes after this entry: a Line.Pos Journal delivered
	// before. Empty means the entries logged from now on.
	Cursor string
	// Directory reads the journal files in this directory (journalctl
	// --directory) instead of the system's journal.
	Directory string
	// Source is the Lines' Source; empty means "journal:" and the units
	// (or matches) joined by ",".
	Source string
	// Command is the journalctl binary; empty means "journalctl" on PATH.
	Command string
	// MaxLine bounds the lines' length; 0 means DefaultMaxLine.
	MaxLine int
	// Log receives journalctl's failures; nil discards them.
	Log *slog.Logger
}

// Bounds of Journal's restarts of journalctl, and of what it reads.
const (
	journalBackoffMin = 100 * time.Millisecond
	journalBackoffMax = 10 * time.Second
	// journalHealthy is how long journalctl must have run for a restart
	// to come at once, without backoff.
	journalHealthy = 10 * time.Second
	// maxJournalJSON bounds one JSON entry; a longer one is skipped.
	maxJournalJSON = 1 << 20
	// stderrKeep is how much of journalctl's stderr is kept for errors.
	stderrKeep = 4 << 10
)

// journalFields are the fields Journal reads (journalctl always adds
// __CURSOR, __REALTIME_TIMESTAMP, __MONOTONIC_TIMESTAMP and _BOOT_ID).
var journalFields = []string{
	"MESSAGE", "SYSLOG_IDENTIFIER", "SYSLOG_PID", "_PID", "_COMM", "_HOSTNAME",
	"_SOURCE_REALTIME_TIMESTAMP", "_SOURCE_MONOTONIC_TIMESTAMP",
}

// Validation of what is put on journalctl's command line: a unit or match
// that looked like an option would change what journalctl does.
var (
	matchRE = regexp.MustCompile(`^(\+|[A-Z0-9_]+=.*)$`)
	unitRE  = regexp.MustCompile(`^[A-Za-z0-9:_.\\@*?\[\]-]+$`)
)

// Journal follows the systemd journal through `journalctl -o json -f`,
// sending each entry selected by opts to out as a Line, until ctx ends; it
// then returns ctx.Err(). It returns another error only for invalid opts.
//
// A Line's Text is the entry formatted as fail2ban formats journal entries
// (so its filters match them): "HOSTNAME IDENT[PID]: MESSAGE", where IDENT
// is SYSLOG_IDENTIFIER or else _COMM, PID is SYSLOG_PID or else _PID, the
// kernel's messages get their monotonic time in brackets, a multi-valued
// MESSAGE is joined with spaces and newlines in it become the two
// characters "\n". Time is the entry's _SOURCE_REALTIME_TIMESTAMP, or else
// its __REALTIME_TIMESTAMP; Pos is its cursor.
//
// If journalctl exits, Journal starts it again after the last entry it
// read, with a backoff from 100 ms to 10 s.
func Journal(ctx context.Context, opts JournalOptions, out chan<- Line) error {
	j, err := newJournal(opts)
	if err != nil {
		return err
	}
	return j.run(ctx, out)
}

// journal is the state of one Journal.
type journal struct {
	opts   JournalOptions
	source string
	log    *slog.Logger
	cursor string    // of the last entry read
	since  time.Time // with no cursor: when following began
	// allFields drops --output-fields, which journalctl before systemd
	// 236 does not know.
	allFields bool
}

func newJournal(opts JournalOptions) (*journal, error) {
	for _, u := range opts.Units {
		if !unitRE.MatchString(u) {
			return nil, fmt.Errorf("logsrc: journal: invalid unit name %q", u)
		}
	}
	for _, m := range opts.Matches {
		if !matchRE.MatchString(m) {
			return nil, fmt.Errorf("logsrc: journal: invalid match %q: want FIELD=VALUE (FIELD in upper case) or +", m)
		}
	}
	j := &journal{opts: opts, source: opts.Source, log: opts.Log, cursor: opts.Cursor}
	if j.source == "" {
		keys := opts.Units
		if len(keys) == 0 {
			keys = opts.Matches
		}
		j.source = "journal:" + strings.Join(keys, ",")
	}
	if j.log == nil {
		j.log = slog.New(slog.DiscardHandler)
	}
	j.log = j.log.With("source", j.source)
	if j.opts.Command == "" {
		j.opts.Command = "journalctl"
	}
	return j, nil
}

// run runs journalctl until ctx ends, restarting it when it exits.
func (j *journal) run(ctx context.Context, out chan<- Line) error {
	backoff := journalBackoffMin
	if j.cursor == "" {
		// Start after the newest entry there is: a restart of journalctl
		// before the first new entry then misses nothing.
		tc, err := j.tailCursor(ctx)
		if err != nil {
			j.log.Warn("could not read the journal's newest entry", "err", err)
		}
		j.cursor = tc
	}
	failures := 0
	for {
		began := time.Now()
		err := j.follow(ctx, out)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := backoff
		if time.Since(began) >= journalHealthy {
			wait, backoff, failures = 0, journalBackoffMin, 0
		} else {
			backoff = min(2*backoff, journalBackoffMax)
		}
		if !j.allFields && strings.Contains(err.Error(), "output-fields") {
			j.allFields = true
			wait = 0
		}
		if failures == 0 {
			j.log.Warn("journalctl ended, restarting it", "err", err, "wait", wait)
		} else {
			j.log.Debug("journalctl ended again, restarting it", "err", err, "wait", wait, "failures", failures)
		}
		failures++
		if wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				return ctx.Err()
			case <-timer.C:
			}
		}
	}
}

// args is journalctl's command line: follow after the cursor, or new
// entries only.
func (j *journal) args(follow bool) []string {
	args := []string{"--output=json", "--no-pager", "--all"}
	if !j.allFields {
		args = append(args, "--output-fields="+strings.Join(journalFields, ","))
	}
	if j.opts.Directory != "" {
		args = append(args, "--directory="+j.opts.Directory)
	}
	switch {
	case !follow:
		args = append(args, "--lines=1")
	case j.cursor != "":
		args = append(args, "--follow", "--after-cursor="+j.cursor)
	case !j.since.IsZero():
		// Restarted before any entry came: from when following began.
		args = append(args, "--follow", "--since=@"+strconv.FormatInt(j.since.Unix(), 10))
	default:
		args = append(args, "--follow", "--lines=0")
	}
	for _, u := range j.opts.Units {
		args = append(args, "--unit="+u)
	}
	return append(args, j.opts.Matches...)
}

// tailCursor returns the cursor of the newest entry selected, "" if none.
func (j *journal) tailCursor(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, j.opts.Command, j.args(false)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("could not run %s: %w%s", j.opts.Command, err, stderrText(stderr.Bytes()))
	}
	r := NewLineReader(bytes.NewReader(b), 0, maxJournalJSON)
	cursor := ""
	for {
		line, err := r.Next()
		if err != nil {
			break
		}
		if e, err := parseJournalEntry(line); err == nil {
			cursor = e.Cursor
		}
	}
	return cursor, nil
}

// follow runs one journalctl, sending its entries, until it exits or ctx
// ends.
func (j *journal) follow(ctx context.Context, out chan<- Line) error {
	cmd := exec.CommandContext(ctx, j.opts.Command, j.args(true)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = time.Second
	stderr := &tailBuffer{max: stderrKeep}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("could not run %s: %w", j.opts.Command, err)
	}
	if j.cursor == "" && j.since.IsZero() {
		j.since = time.Now()
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("could not run %s: %w", j.opts.Command, err)
	}
	j.log.Debug("following the journal", "args", strings.Join(cmd.Args, " "))
	// When ctx ends, read returns and exec sends journalctl SIGTERM.
	readErr := j.read(ctx, stdout, out)
	waitErr := cmd.Wait()
	if readErr != nil {
		return readErr
	}
	if waitErr != nil {
		return fmt.Errorf("journalctl: %w%s", waitErr, stderrText(stderr.Bytes()))
	}
	return fmt.Errorf("journalctl exited%s", stderrText(stderr.Bytes()))
}

// read parses journalctl's output until it ends; it returns an error only
// when ctx ended.
func (j *journal) read(ctx context.Context, stdout io.Reader, out chan<- Line) error {
	r := NewLineReader(stdout, 0, maxJournalJSON)
	for {
		line, err := r.Next()
		if err != nil {
			return nil // EOF or a broken pipe: journalctl exited
		}
		if r.Truncated() {
			j.log.Warn("skipping a journal entry longer than the limit", "limit", maxJournalJSON)
			continue
		}
		e, err := parseJournalEntry(line)
		if err != nil {
			j.log.Warn("skipping a journal entry", "err", err)
			continue
		}
		j.cursor = e.Cursor
		l := Line{Source: j.source, Text: e.format(j.opts.MaxLine), Time: e.Time, Pos: []byte(e.Cursor)}
		if err := send(ctx, out, l); err != nil {
			return err
		}
	}
}

// journalEntry is what Journal uses of an entry.
type journalEntry struct {
	Cursor    string
	Time      time.Time
	Hostname  string
	Ident     string // SYSLOG_IDENTIFIER, else _COMM
	PID       string // SYSLOG_PID, else _PID
	Monotonic time.Duration
	Message   string
}

// journalJSON is an entry as journalctl -o json prints it. A field's value
// is a string, an array of byte values (not valid UTF-8), an array of
// those two (a field given more than once), or null.
type journalJSON struct {
	Cursor          string       `json:"__CURSOR"`
	Realtime        journalField `json:"__REALTIME_TIMESTAMP"`
	Monotonic       journalField `json:"__MONOTONIC_TIMESTAMP"`
	SourceRealtime  journalField `json:"_SOURCE_REALTIME_TIMESTAMP"`
	SourceMonotonic journalField `json:"_SOURCE_MONOTONIC_TIMESTAMP"`
	Message         journalField `json:"MESSAGE"`
	Ident           journalField `json:"SYSLOG_IDENTIFIER"`
	SyslogPID       journalField `json:"SYSLOG_PID"`
	PID             journalField `json:"_PID"`
	Comm            journalField `json:"_COMM"`
	Hostname        journalField `json:"_HOSTNAME"`
}

// journalField holds the values of one field.
type journalField [][]byte

// UnmarshalJSON decodes a string, an array of byte values, an array of
// those, or null.
func (f *journalField) UnmarshalJSON(b []byte) error {
	*f = nil
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = journalField{[]byte(s)}
		return nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("journal field: %w", err)
	}
	if len(raw) > 0 && isJSONNumber(raw[0]) {
		v, err := byteArray(raw)
		if err != nil {
			return err
		}
		*f = journalField{v}
		return nil
	}
	for _, r := range raw {
		var one journalField
		if err := one.UnmarshalJSON(r); err != nil {
			return err
		}
		*f = append(*f, one...)
	}
	return nil
}

func isJSONNumber(b json.RawMessage) bool {
	return len(b) > 0 && (b[0] >= '0' && b[0] <= '9')
}

// byteArray decodes [104,105] as "hi".
func byteArray(raw []json.RawMessage) ([]byte, error) {
	v := make([]byte, 0, len(raw))
	for _, r := range raw {
		n, err := strconv.ParseUint(string(r), 10, 8)
		if err != nil {
			return nil, fmt.Errorf("journal field: byte value %s: %w", r, err)
		}
		v = append(v, byte(n))
	}
	return v, nil
}

// first is the field's first value, "" if none.
func (f journalField) first() string {
	if len(f) == 0 {
		return ""
	}
	return string(f[0])
}

// micros parses a value in microseconds.
func (f journalField) micros() (int64, bool) {
	n, err := strconv.ParseInt(f.first(), 10, 64)
	return n, err == nil
}

// parseJournalEntry decodes one line of journalctl -o json.
func parseJournalEntry(b []byte) (*journalEntry, error) {
	var js journalJSON
	if err := json.Unmarshal(b, &js); err != nil {
		return nil, fmt.Errorf("could not decode a journal entry: %w", err)
	}
	if js.Cursor == "" {
		return nil, errors.New("journal entry without __CURSOR")
	}
	e := &journalEntry{Cursor: js.Cursor, Hostname: js.Hostname.first()}
	us, ok := js.SourceRealtime.micros()
	if !ok {
		us, ok = js.Realtime.micros()
	}
	if ok {
		e.Time = time.UnixMicro(us)
	}
	e.Ident = cmpOrString(js.Ident.first(), js.Comm.first())
	e.PID = cmpOrString(js.SyslogPID.first(), js.PID.first())
	if us, ok := js.SourceMonotonic.micros(); ok {
		e.Monotonic = time.Duration(us) * time.Microsecond
	} else if us, ok := js.Monotonic.micros(); ok {
		e.Monotonic = time.Duration(us) * time.Microsecond
	}
	msgs := make([]string, len(js.Message))
	for i, m := range js.Message {
		msgs[i] = string(m)
	}
	e.Message = strings.Join(msgs, " ")
	return e, nil
}

func cmpOrString(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// format renders the entry the way fail2ban does for its journal backend,
// cut to max bytes (0: DefaultMaxLine).
func (e *journalEntry) format(max int) string {
	if max <= 0 {
		max = DefaultMaxLine
	}
	var parts []string
	if e.Hostname != "" {
		parts = append(parts, e.Hostname)
	}
	if e.Ident != "" {
		tag := e.Ident
		if e.PID != "" {
			tag += "[" + pidText(e.PID) + "]"
		}
		parts = append(parts, tag+":")
		if e.Ident == "kernel" && e.PID == "" {
			parts = append(parts, fmt.Sprintf("[%12.6f]", e.Monotonic.Seconds()))
		}
	}
	parts = append(parts, e.Message)
	s := strings.ReplaceAll(strings.Join(parts, " "), "\n", `\n`)
	if len(s) > max {
		s = s[:max]
	}
	return s
}

// pidText prints a PID as a number when it is one (fail2ban's "%i",
// which also reads 0x and 0o prefixes), else as it is.
func pidText(s string) string {
	if n, err := strconv.ParseInt(s, 0, 64); err == nil {
		return strconv.FormatInt(n, 10)
	}
	return s
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = slices.Delete(t.b, 0, over)
	}
	return len(p), nil
}

func (t *tailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.b)
}

// stderrText renders journalctl's stderr for an error message.
func stderrText(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return ""
	}
	return ": " + strings.ReplaceAll(s, "\n", "; ")
}
