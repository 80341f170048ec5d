package logsrc

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Test timeouts: generous for loaded CI machines; a passing test does not
// wait for them.
const (
	waitLine = 5 * time.Second        // for a line that must come
	quiet    = 150 * time.Millisecond // for lines that must not come
)

// following is a Follow running in the background, collecting lines.
type following struct {
	t      *testing.T
	lines  chan Line
	cancel context.CancelFunc
	done   chan error
}

// startFollow runs fl.Follow on path from pos. The test's log gets the
// follower's log.
func startFollow(t *testing.T, fl Follower, path string, from Position) *following {
	t.Helper()
	if fl.Log == nil {
		fl.Log = slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &following{t: t, lines: make(chan Line, 10000), cancel: cancel, done: make(chan error, 1)}
	go func() { f.done <- fl.Follow(ctx, path, from, f.lines) }()
	t.Cleanup(f.stop)
	return f
}

// stop ends Follow and checks it returned the context's error.
func (f *following) stop() {
	f.cancel()
	select {
	case err := <-f.done:
		if err != context.Canceled {
			f.t.Errorf("Follow returned %v, want context.Canceled", err)
		}
		f.done <- err // a second stop returns at once
	case <-time.After(5 * time.Second):
		f.t.Error("Follow did not return after cancel")
	}
}

// next returns the next line, failing the test if none comes.
func (f *following) next() Line {
	f.t.Helper()
	select {
	case l := <-f.lines:
		return l
	case <-time.After(waitLine):
		f.t.Fatalf("no line within %v", waitLine)
		return Line{}
	}
}

// expect reads len(want) lines and compares their texts.
func (f *following) expect(want ...string) []Line {
	f.t.Helper()
	var got []Line
	var texts []string
	for range want {
		l := f.next()
		got = append(got, l)
		texts = append(texts, l.Text)
	}
	if diff := cmp.Diff(want, texts); diff != "" {
		f.t.Fatalf("lines (-want +got):\n%s", diff)
	}
	return got
}

// expectNone checks that no line comes for a while.
func (f *following) expectNone() {
	f.t.Helper()
	select {
	case l := <-f.lines:
		f.t.Fatalf("unexpected line %q", l.Text)
	case <-time.After(quiet):
	}
}

// ready waits until Follow has positioned itself at path's end, which it
// does in the background: it appends marker lines until one comes, then
// reads the markers up to the last one written.
func (f *following) ready(path string) {
	f.t.Helper()
	deadline := time.Now().Add(waitLine)
	for i := 0; time.Now().Before(deadline); i++ {
		appendTo(f.t, path, fmt.Sprintf("ready %d\n", i))
		select {
		case l := <-f.lines:
			for l.Text != fmt.Sprintf("ready %d", i) {
				if !strings.HasPrefix(l.Text, "ready ") {
					f.t.Fatalf("got %q while waiting for the follower", l.Text)
				}
				l = f.next()
			}
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	f.t.Fatalf("follower not ready within %v", waitLine)
}

func appendTo(t testing.TB, path, s string) {
	t.Helper()
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustRename(t testing.TB, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// pos decodes a line's position, which must be there.
func pos(t testing.TB, l Line) Position {
	t.Helper()
	if l.Pos == nil {
		t.Fatalf("line %q has no position", l.Text)
	}
	p, err := ParsePosition(l.Pos)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func sizeOf(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func numbered(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s %d", prefix, i))
	}
	return out
}

func joinLines(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}
