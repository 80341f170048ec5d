package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Pos is a position in a policy file. Line and Col are 1-based; a zero Line
// means the value was not written in the file (a default) or the problem
// concerns the whole file.
type Pos struct {
	File      string
	Line, Col int
}

// String returns "file:line:col", or the file name alone if Line is 0.
func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is one problem found in a policy.
type Error struct {
	Pos   Pos
	Field string // dotted path of the field concerned, e.g. host.input[0].from; may be empty
	Msg   string
}

// Error returns `file:line:col: "field": message`, leaving out the field
// part when Field is empty.
func (e *Error) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
	}
	return fmt.Sprintf("%s: %q: %s", e.Pos, e.Field, e.Msg)
}

// ErrorList collects all the problems found in a policy, in file order.
type ErrorList []*Error

// Error returns the errors one per line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// sort orders the list by file, line and column, keeping the discovery order
// of errors at the same position.
func (l ErrorList) sort() {
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(
			strings.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Col, b.Pos.Col),
		)
	})
}

// err returns the list as an error, or nil when it is empty.
func (l ErrorList) err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}
