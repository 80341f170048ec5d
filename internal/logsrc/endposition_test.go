package logsrc

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// EndPosition taken before the follower starts: the lines appended after
// it are read, the ones before are not, and an unfinished last line is read
// whole; a missing file gives the zero Position.
func TestEndPosition(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "auth.log")
	if p, err := EndPosition(path); err != nil || !p.IsZero() {
		t.Fatalf("missing file: %v %v", p, err)
	}
	if err := os.WriteFile(path, []byte("old 1\nold 2\nhalf"), 0o644); err != nil {
		t.Fatal(err)
	}
	pos, err := EndPosition(path)
	if err != nil || pos.Offset != int64(len("old 1\nold 2\n")) {
		t.Fatalf("EndPosition: %v %v", pos, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(" done\nnew\n")
	f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out := make(chan Line, 10)
	go Follow(ctx, path, pos, out)
	for _, want := range []string{"half done", "new"} {
		select {
		case l := <-out:
			if l.Text != want {
				t.Fatalf("got %q, want %q", l.Text, want)
			}
		case <-ctx.Done():
			t.Fatalf("no line %q", want)
		}
	}
}
