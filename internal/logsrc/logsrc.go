// Package logsrc owns seawall's log sources: it turns log files (followed
// across rotations, truncations and restarts), the systemd journal and
// arbitrary byte streams into Lines, each carrying an opaque position from
// which reading can resume without re-reading or skipping a line.
//
// It interprets nothing in the lines: bytes, including invalid UTF-8 and
// NULs, reach the filter as written. It imports no other seawall package.
package logsrc

import (
	"context"
	"time"
)

// Line is one log line and where it came from.
type Line struct {
	// Source is a stable key for persisting the position: the file's path
	// as given to Follow, "journal:UNIT", "docker:NAME".
	Source string
	// Text is the line without its line ending ("\n" or "\r\n"), cut to
	// the source's maximum line length.
	Text string
	// Time is when the source says the line was logged: zero for files
	// (the filter finds the date in the text), set for journal entries.
	Time time.Time
	// Pos is the marshalled position just after this line: persist it and
	// hand it back (to Follow via ParsePosition, to Journal as Cursor) to
	// resume after this line. Nil when the line cannot be resumed from.
	Pos []byte
}

// send delivers l on out unless ctx ends first.
func send(ctx context.Context, out chan<- Line, l Line) error {
	select {
	case out <- l:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
