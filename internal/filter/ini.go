package filter

import (
	"fmt"
	"strings"
	"unicode"
)

// This file parses one file of fail2ban's INI dialect, which is Python's
// configparser with fail2ban's settings: "=" or ":" between name and value,
// option names folded to lower case, full-line comments starting with # or ;,
// inline comments starting with " ;", values continued on lines indented
// deeper than the option's own line, and duplicate sections or options in one
// file rejected (configparser's strict mode).

// defaultSection is the section whose options every other section sees.
const defaultSection = "DEFAULT"

// maxConfigBytes bounds one filter file; real ones are a few kilobytes.
const maxConfigBytes = 1 << 20

// iniValue is the raw (not yet interpolated) value of one option and where
// it was written.
type iniValue struct {
	raw  string
	file string
	line int
}

// iniSection holds a section's options in the order they were written.
type iniSection struct {
	name   string
	line   int
	keys   []string
	values map[string]iniValue
}

func newSection(name string, line int) *iniSection {
	return &iniSection{name: name, line: line, values: map[string]iniValue{}}
}

// set adds or replaces an option, keeping the first-seen order.
func (s *iniSection) set(key string, v iniValue) {
	if _, ok := s.values[key]; !ok {
		s.keys = append(s.keys, key)
	}
	s.values[key] = v
}

// iniFile is one parsed file.
type iniFile struct {
	path     string
	defaults *iniSection
	sections []*iniSection
	byName   map[string]*iniSection
}

// ConfigError is an error in a filter file, with the position and, when
// known, the option or tag that is wrong.
type ConfigError struct {
	File   string // the file, as it was named to Load or found by an include
	Line   int    // 1-based; 0 when the error is not tied to a line
	Option string // option or tag name, "" when none applies
	Msg    string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Option != "" {
		fmt.Fprintf(&b, "%q: ", e.Option)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// iniParser carries the state of configparser's line loop.
type iniParser struct {
	f           *iniFile
	cur         *iniSection // nil before the first section header
	opt         string      // option whose value continuation lines extend
	optLines    []string
	optPos      iniValue
	indentLevel int
}

// parseINI parses data, the contents of the file named path.
func parseINI(path string, data []byte) (*iniFile, error) {
	if len(data) > maxConfigBytes {
		return nil, &ConfigError{File: path, Msg: fmt.Sprintf("file is larger than %d bytes", maxConfigBytes)}
	}
	text := strings.TrimPrefix(string(data), "\ufeff")
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	p := &iniParser{f: &iniFile{path: path, defaults: newSection(defaultSection, 0), byName: map[string]*iniSection{}}}
	for i, line := range strings.Split(text, "\n") {
		if err := p.line(i+1, line); err != nil {
			return nil, err
		}
	}
	p.flush()
	return p.f, nil
}

// commentStart returns where a comment starts in line, or -1: a full-line
// comment starts with # or ; after optional blanks, an inline one is a ;
// at the start or after a blank.
func commentStart(line string) int {
	t := strings.TrimSpace(line)
	if strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";") {
		return 0
	}
	for i := 0; i < len(line); i++ {
		if line[i] == ';' && (i == 0 || isSpaceByte(line[i-1])) {
			return i
		}
	}
	return -1
}

func isSpaceByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func (p *iniParser) line(n int, line string) error {
	cs := commentStart(line)
	value := line
	if cs >= 0 {
		value = line[:cs]
	}
	value = strings.TrimSpace(value)
	if value == "" {
		// An empty line inside a value is kept (configparser's
		// empty_lines_in_values); a comment line is skipped.
		if cs < 0 && p.opt != "" {
			p.optLines = append(p.optLines, "")
		}
		return nil
	}
	indent := strings.IndexFunc(line, func(r rune) bool { return !unicode.IsSpace(r) })
	if p.cur != nil && p.opt != "" && indent > p.indentLevel {
		p.optLines = append(p.optLines, value)
		return nil
	}
	p.flush()
	p.indentLevel = indent
	if name, ok := sectionHeader(value); ok {
		return p.section(n, name)
	}
	if p.cur == nil {
		return &ConfigError{File: p.f.path, Line: n, Msg: "option outside any section (a [section] header must come first)"}
	}
	return p.option(n, value)
}

// sectionHeader recognises "[name]" as configparser does: from the first
// "[" to the last "]".
func sectionHeader(value string) (string, bool) {
	if !strings.HasPrefix(value, "[") {
		return "", false
	}
	end := strings.LastIndexByte(value, ']')
	if end < 2 {
		return "", false
	}
	return value[1:end], true
}

func (p *iniParser) section(n int, name string) error {
	if name == defaultSection {
		p.cur = p.f.defaults
		return nil
	}
	if _, dup := p.f.byName[name]; dup {
		return &ConfigError{File: p.f.path, Line: n, Msg: fmt.Sprintf("section [%s] appears twice in this file", name)}
	}
	s := newSection(name, n)
	p.f.byName[name] = s
	p.f.sections = append(p.f.sections, s)
	p.cur = s
	return nil
}

func (p *iniParser) option(n int, value string) error {
	i := strings.IndexAny(value, "=:")
	if i < 0 {
		return &ConfigError{File: p.f.path, Line: n, Msg: fmt.Sprintf("line is neither a [section], an option (name = value) nor a comment: %q", clip(value, 60))}
	}
	name := strings.ToLower(strings.TrimSpace(value[:i]))
	if name == "" {
		return &ConfigError{File: p.f.path, Line: n, Msg: "option without a name"}
	}
	if _, dup := p.cur.values[name]; dup {
		return &ConfigError{File: p.f.path, Line: n, Option: name, Msg: fmt.Sprintf("option set twice in section [%s]", p.cur.name)}
	}
	p.opt = name
	p.optLines = []string{strings.TrimSpace(value[i+1:])}
	p.optPos = iniValue{file: p.f.path, line: n}
	// Reserve the name now so a duplicate is caught even before flush.
	p.cur.set(name, p.optPos)
	return nil
}

// flush stores the value being collected, joined as configparser joins it.
func (p *iniParser) flush() {
	if p.opt == "" {
		return
	}
	v := p.optPos
	v.raw = strings.TrimRightFunc(strings.Join(p.optLines, "\n"), unicode.IsSpace)
	p.cur.set(p.opt, v)
	p.opt, p.optLines = "", nil
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
