package filter

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// This file reads a filter with everything it includes, in fail2ban's order:
// for each file its [INCLUDES] before= files, the file, then its after=
// files; every X.conf is followed by X.local when that exists. Later files
// override earlier ones option by option; the value a section option had
// before it was overridden stays reachable as known/OPTION.

// source is where filter files are read from: the file system, or the
// built-in filters embedded in the binary.
type source interface {
	readFile(name string) ([]byte, error)
	exists(name string) bool
	glob(pattern string) []string
	join(dir, name string) string
	dir(name string) string
	isAbs(name string) bool
}

// osSource reads the machine's files.
type osSource struct{}

func (osSource) readFile(name string) ([]byte, error) {
	st, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	if st.Size() > maxConfigBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxConfigBytes)
	}
	return os.ReadFile(name)
}

func (osSource) exists(name string) bool {
	st, err := os.Stat(name)
	return err == nil && st.Mode().IsRegular()
}

func (osSource) glob(pattern string) []string {
	m, _ := filepath.Glob(pattern) // the only error is a bad pattern, which ours are not
	sort.Strings(m)
	return m
}

func (osSource) join(dir, name string) string { return filepath.Join(dir, name) }
func (osSource) dir(name string) string       { return filepath.Dir(name) }
func (osSource) isAbs(name string) bool       { return filepath.IsAbs(name) }

// fsSource reads an fs.FS (the embedded built-in filters).
type fsSource struct{ fsys fs.FS }

func (s fsSource) readFile(name string) ([]byte, error) { return fs.ReadFile(s.fsys, name) }

func (s fsSource) exists(name string) bool {
	st, err := fs.Stat(s.fsys, name)
	return err == nil && st.Mode().IsRegular()
}

func (s fsSource) glob(pattern string) []string {
	m, _ := fs.Glob(s.fsys, pattern)
	sort.Strings(m)
	return m
}

func (fsSource) join(dir, name string) string { return path.Join(dir, name) }
func (fsSource) dir(name string) string       { return path.Dir(name) }
func (fsSource) isAbs(string) bool            { return false }

// config is the merged content of a filter file and its includes.
type config struct {
	defaults *iniSection
	sections map[string]*iniSection // "KNOWN/<name>" holds overridden values
	files    []string               // the files read, in order
}

// maxIncludeDepth bounds [INCLUDES] nesting; loops are cut earlier.
const maxIncludeDepth = 16

// readConfig reads the files (a .conf with its .d/*.conf, .local and
// .d/*.local) and everything they include.
func readConfig(src source, files []string) (*config, error) {
	r := &includeReader{src: src, parsed: map[string]*iniFile{}}
	var order []string
	for _, f := range withLocal(src, files) {
		list, err := r.resolve(f, nil)
		if err != nil {
			return nil, err
		}
		order = append(order, list...)
	}
	c := &config{defaults: newSection(defaultSection, 0), sections: map[string]*iniSection{}}
	for _, name := range order {
		if f := r.parsed[name]; f != nil {
			c.merge(f)
			c.files = append(c.files, name)
		}
	}
	if len(c.files) == 0 {
		return nil, &ConfigError{File: strings.Join(files, ", "), Msg: "no such filter file"}
	}
	return c, nil
}

// withLocal adds X.local after every X.conf that has one.
func withLocal(src source, files []string) []string {
	seen := map[string]bool{}
	for _, f := range files {
		seen[f] = true
	}
	var out []string
	for _, f := range files {
		out = append(out, f)
		local := strings.TrimSuffix(f, path.Ext(f)) + ".local"
		if !seen[local] && src.exists(local) {
			seen[local] = true
			out = append(out, local)
		}
	}
	return out
}

// includeReader parses files once each and expands their includes.
type includeReader struct {
	src    source
	parsed map[string]*iniFile // nil value: file missing (skipped, as fail2ban does)
}

// resolve returns the files to read for name, its includes around it.
func (r *includeReader) resolve(name string, seen []string) ([]string, error) {
	if len(seen) > maxIncludeDepth {
		return nil, &ConfigError{File: name, Msg: fmt.Sprintf("includes nested deeper than %d", maxIncludeDepth)}
	}
	f, err := r.parse(name)
	if err != nil || f == nil {
		return nil, err
	}
	inc := f.byName["INCLUDES"]
	var before, after []string
	for _, which := range []struct {
		key  string
		list *[]string
	}{{"before", &before}, {"after", &after}} {
		v, ok := inc.lookup(which.key)
		if !ok {
			continue
		}
		for _, item := range strings.Split(v.raw, "\n") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			target := item
			if !r.src.isAbs(item) {
				target = r.src.join(r.src.dir(name), item)
			}
			if target == name || contains(seen, target) {
				continue
			}
			for _, t := range withLocal(r.src, []string{target}) {
				list, err := r.resolve(t, append(append([]string(nil), seen...), name))
				if err != nil {
					return nil, err
				}
				*which.list = append(*which.list, list...)
			}
		}
	}
	out := append(before, name)
	return append(out, after...), nil
}

// lookup returns an option of the section; a nil section has none.
func (s *iniSection) lookup(key string) (iniValue, bool) {
	if s == nil {
		return iniValue{}, false
	}
	v, ok := s.values[key]
	return v, ok
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parse reads and parses one file, once; a missing file yields nil.
func (r *includeReader) parse(name string) (*iniFile, error) {
	if f, ok := r.parsed[name]; ok {
		return f, nil
	}
	data, err := r.src.readFile(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			r.parsed[name] = nil
			return nil, nil
		}
		return nil, &ConfigError{File: name, Msg: fmt.Sprintf("could not read: %v", err)}
	}
	f, err := parseINI(name, data)
	if err != nil {
		return nil, err
	}
	r.parsed[name] = f
	return f, nil
}

// merge lays f over c: defaults and sections option by option, keeping the
// overridden values of a section in KNOWN/<section>.
func (c *config) merge(f *iniFile) {
	for _, k := range f.defaults.keys {
		c.defaults.set(k, f.defaults.values[k])
	}
	for _, s := range f.sections {
		old, ok := c.sections[s.name]
		if !ok {
			cp := newSection(s.name, s.line)
			for _, k := range s.keys {
				cp.set(k, s.values[k])
			}
			c.sections[s.name] = cp
			continue
		}
		known := c.sections["KNOWN/"+s.name]
		if known == nil {
			known = newSection("KNOWN/"+s.name, s.line)
			c.sections[known.name] = known
		}
		for _, k := range s.keys {
			if v, had := old.values[k]; had {
				known.set(k, v)
			}
			old.set(k, s.values[k])
		}
	}
}

// hasSection reports whether the merged config has the section.
func (c *config) hasSection(name string) bool {
	_, ok := c.sections[name]
	return ok
}
