package policy

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// maxSetLine is the longest line a set file may have.
const maxSetLine = 64 * 1024

// AllEntries returns the set's inline entries followed by the entries read
// from its files by the last successful LoadSetFiles, without duplicates.
func (s *Set) AllEntries() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(s.Entries)+len(s.fileEntries))
	seen := map[netip.Prefix]bool{}
	add := func(p netip.Prefix) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, e := range s.Entries {
		if e.Kind == Literal {
			add(e.Prefix)
		}
	}
	for _, p := range s.fileEntries {
		add(p)
	}
	return out
}

// LoadSetFiles (re)reads every set's files. A relative path is taken
// relative to the directory of the policy file. Errors carry the path, line
// and column of the bad line (or the policy position of a file that cannot
// be read); on error no set is changed. It must not run concurrently with
// other uses of the policy.
func (p *Policy) LoadSetFiles() error {
	var errs ErrorList
	loaded := make([][]netip.Prefix, len(p.Sets))
	for i, s := range p.Sets {
		for _, f := range s.Files {
			entries, ferrs := p.readSetFile(s, f)
			loaded[i] = append(loaded[i], entries...)
			errs = append(errs, ferrs...)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	for i, s := range p.Sets {
		s.fileEntries = loaded[i]
	}
	return nil
}

// setFilePath returns where a set file is: relative paths are relative to
// the policy file's directory.
// SetFilePaths lists the files the policy's sets are read from, as opened
// (relative paths resolved against the policy file's folder).
func (p *Policy) SetFilePaths() []string {
	var out []string
	for _, s := range p.Sets {
		for _, f := range s.Files {
			out = append(out, p.setFilePath(f))
		}
	}
	return out
}

func (p *Policy) setFilePath(f SetFile) string {
	if filepath.IsAbs(f.Path) {
		return f.Path
	}
	return filepath.Join(filepath.Dir(p.File), f.Path)
}

// readSetFile reads one set file.
func (p *Policy) readSetFile(s *Set, f SetFile) ([]netip.Prefix, ErrorList) {
	field := "sets." + s.Name
	path := p.setFilePath(f)
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, ErrorList{{Pos: f.Pos, Field: field + ".files", Msg: err.Error()}}
	}
	var out []netip.Prefix
	var errs ErrorList
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(nil, maxSetLine)
	line := 0
	for sc.Scan() {
		line++
		pfx, col, msg := parseSetLine(sc.Text())
		if msg != "" {
			errs = append(errs, &Error{Pos: Pos{File: path, Line: line, Col: col}, Field: field, Msg: msg})
		} else if pfx.IsValid() {
			out = append(out, pfx)
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, &Error{Pos: Pos{File: path, Line: line + 1, Col: 1}, Field: field, Msg: err.Error()})
	}
	return out, errs
}

// parseSetLine parses one line of a set file: an address or CIDR, a '#'
// comment, or nothing. It returns an invalid prefix for a line without an
// entry, and the 1-based column of a problem.
func parseSetLine(text string) (netip.Prefix, int, string) {
	if i := strings.IndexByte(text, '#'); i >= 0 {
		text = text[:i]
	}
	fields := strings.Fields(text)
	if len(fields) == 0 {
		return netip.Prefix{}, 0, ""
	}
	col := strings.Index(text, fields[0]) + 1
	if len(fields) > 1 {
		second := col - 1 + len(fields[0])
		second += strings.Index(text[second:], fields[1])
		return netip.Prefix{}, second + 1, "expected one address or CIDR per line"
	}
	pfx, msg := parseLiteral(fields[0])
	if msg == "" {
		return pfx, col, ""
	}
	if validName(fields[0]) {
		msg = fmt.Sprintf("expected an address or CIDR, got %q", fields[0])
	}
	return netip.Prefix{}, col, msg
}
