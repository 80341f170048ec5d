package filter

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/seawall/seawall/internal/filter/datedetect"
)

// builtinFS holds seawall's own filters, in fail2ban's dialect.
//
//go:embed builtin/*.conf
var builtinFS embed.FS

// builtinDir is where the built-in filters are inside builtinFS.
const builtinDir = "builtin"

// Options are the settings of a filter that do not come from its file.
// Now may be called from several goroutines (MatchReader).
type Options struct {
	Location    *time.Location   // zone for dates without one; nil = time.Local
	Now         func() time.Time // for year-less dates; nil = time.Now
	LineTimeout time.Duration    // backtracking fallback bound; 0 = 50ms

	// MaxLineBytes skips longer lines (counted in Stats.TooLong) rather than
	// truncating them, which could make a cut line match; 0 = 64 KiB.
	MaxLineBytes int

	// NoFields leaves Failure.Fields nil, for callers that only want the
	// host, time and lines: a map per failure is a tenth of the cost of a
	// failure.
	NoFields bool
}

// DefaultMaxLineBytes is the longest line a filter looks at by default.
const DefaultMaxLineBytes = 64 << 10

func (o Options) withDefaults() Options {
	if o.Location == nil {
		o.Location = time.Local
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LineTimeout <= 0 {
		o.LineTimeout = DefaultLineTimeout
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = DefaultMaxLineBytes
	}
	return o
}

// Filter is a compiled filter. It is safe for concurrent use; the state of
// one log source lives in a Matcher.
type Filter struct {
	name     string
	files    []string
	opts     Options
	pref     *regex
	fail     []*regex
	ignore   []*regex
	maxLines int
	dates    *datedetect.Detector
	journal  []string
	lits     *literalSet // which failregexes can match a line; nil: try all
	// byFirst[b]: the failregexes (bits, the first 64) that can match a
	// text starting with byte b; byFirstEmpty: those that match "".
	byFirst      [256]uint64
	byFirstEmpty uint64
}

// Load loads a filter: a built-in name or a path to a fail2ban .conf file,
// either followed by [key=value,...] filter options.
func Load(spec string, o Options) (*Filter, error) {
	name, opts, err := ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	src, files, display, err := locate(name)
	if err != nil {
		return nil, err
	}
	c, err := readConfig(src, files)
	if err != nil {
		return nil, err
	}
	def, err := readDefinition(c, files[0], opts)
	if err != nil {
		return nil, err
	}
	f, err := compile(display, def, o)
	if err != nil {
		return nil, err
	}
	f.files = c.files
	return f, nil
}

// isPath reports whether a filter name is a file path rather than a
// built-in name.
func isPath(name string) bool {
	return strings.ContainsAny(name, `/\`) || strings.HasSuffix(name, ".conf") || strings.HasSuffix(name, ".local")
}

// locate finds the files of a filter: NAME.conf, NAME.d/*.conf, NAME.local
// and NAME.d/*.local, as fail2ban reads them.
func locate(name string) (src source, files []string, display string, err error) {
	if !isPath(name) {
		file := path.Join(builtinDir, name+".conf")
		if !isBuiltin(name) {
			return nil, nil, "", fmt.Errorf("no built-in filter %q (built-in: %s; or give a path to a .conf file)", name, strings.Join(Builtins(), ", "))
		}
		return fsSource{builtinFS}, []string{file}, name, nil
	}
	src = osSource{}
	if !src.exists(name) && src.exists(name+".conf") {
		name += ".conf" // a filter named by its path without the extension
	}
	base := strings.TrimSuffix(strings.TrimSuffix(name, ".local"), ".conf")
	display = filepath.Base(base)
	if !src.exists(name) {
		return nil, nil, "", fmt.Errorf("filter file %s: no such file", name)
	}
	files = []string{name}
	if strings.HasSuffix(name, ".conf") {
		files = append(files, src.glob(base+".d/*.conf")...)
		if local := base + ".local"; src.exists(local) {
			files = append(files, local)
		}
		files = append(files, src.glob(base+".d/*.local")...)
	}
	return src, files, display, nil
}

// Builtins lists the names of the built-in filters.
func Builtins() []string {
	entries, _ := fs.ReadDir(builtinFS, builtinDir) // the directory is embedded: no error
	var names []string
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), ".conf")
		if ok && !isInclude(n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// isInclude reports whether a built-in file only holds definitions other
// filters include.
func isInclude(name string) bool {
	return name == "common" || strings.HasSuffix(name, "-common")
}

func isBuiltin(name string) bool {
	for _, n := range Builtins() {
		if n == name {
			return true
		}
	}
	return false
}

// FromRegexes makes a filter from failregex patterns alone (a jail's
// match: list). The patterns use fail2ban's syntax and tags; dates are found
// with the default formats.
func FromRegexes(failregex []string, o Options) (*Filter, error) {
	def := &definition{maxlines: 1}
	for i, re := range failregex {
		def.failregex = append(def.failregex, sourced{text: re, file: "match", line: i + 1})
	}
	return compile("match", def, o)
}

// compile builds the filter's regexes and date detector.
func compile(name string, def *definition, o Options) (*Filter, error) {
	o = o.withDefaults()
	f := &Filter{name: name, opts: o, maxLines: def.maxlines, journal: def.journal}
	if len(def.failregex) == 0 {
		return nil, fmt.Errorf("filter %s: no failregex", name)
	}
	multi := def.maxlines > 1
	var err error
	if def.prefregex.text != "" {
		if f.pref, err = compileSourced("prefregex", def.prefregex, multi, o); err != nil {
			return nil, err
		}
	}
	for i, s := range def.failregex {
		r, err := compileSourced(fmt.Sprintf("failregex[%d]", i), s, multi, o)
		if err != nil {
			return nil, err
		}
		if !hasFailureID(r) && (f.pref == nil || !hasFailureID(f.pref)) {
			return nil, &ConfigError{File: s.file, Line: s.line, Option: fmt.Sprintf("failregex[%d]", i), Msg: fmt.Sprintf("no <HOST>, <ADDR>, <F-ID> or other failure id in %q", clip(s.text, 80))}
		}
		f.fail = append(f.fail, r)
	}
	for i, s := range def.ignoreregex {
		r, err := compileSourced(fmt.Sprintf("ignoreregex[%d]", i), s, multi, o)
		if err != nil {
			return nil, err
		}
		f.ignore = append(f.ignore, r)
	}
	f.lits = newLiteralSet(f.fail)
	f.indexFirstBytes()
	if f.dates, err = dateDetector(def.datepattern); err != nil {
		return nil, err
	}
	return f, nil
}

// indexFirstBytes fills byFirst from the regexes anchored at the start.
func (f *Filter) indexFirstBytes() {
	for i, r := range f.fail {
		if i >= maxLiterals {
			break
		}
		vm := r.vm
		if vm == nil {
			vm = r.supVM // a superset: safe to rule out with
		}
		in := (*vmStart)(nil)
		if vm != nil && vm.anchored {
			in = &vm.starts[vm.start]
		}
		for b := 0; b < 256; b++ {
			if in == nil || in.nullable || in.first.has(byte(b)) {
				f.byFirst[b] |= 1 << i
			}
		}
		if in == nil || in.nullable {
			f.byFirstEmpty |= 1 << i
		}
	}
}

// compileSourced compiles one regex, naming its origin in errors.
func compileSourced(option string, s sourced, multi bool, o Options) (*regex, error) {
	r, err := compileRegex(s.text, multi, o.LineTimeout)
	if err != nil {
		return nil, &ConfigError{File: s.file, Line: s.line, Option: option, Msg: fmt.Sprintf("%v in %q", err, clip(s.text, 120))}
	}
	return r, nil
}

// hasFailureID reports whether a regex captures something a failure can be
// identified by: an address, a host name, an <F-ID> or a connection id.
func hasFailureID(r *regex) bool {
	for _, n := range []string{"ip4", "ip6", "dns", "fid", "mlfid"} {
		if groupIndex(r, n) >= 0 {
			return true
		}
	}
	return false
}

// groupIndex returns the first group named name, or -1.
func groupIndex(r *regex, name string) int {
	for i, n := range r.names {
		if n == name {
			return i
		}
	}
	return -1
}

// dateDetector makes the detector for a datepattern ("" = defaults).
func dateDetector(p sourced) (*datedetect.Detector, error) {
	if p.text == "" {
		return datedetect.Default(), nil
	}
	d, err := datedetect.New(p.text)
	if err != nil {
		return nil, &ConfigError{File: p.file, Line: p.line, Option: "datepattern", Msg: err.Error()}
	}
	return d, nil
}

// Name is the filter's name: the built-in name or the file's base name.
func (f *Filter) Name() string { return f.name }

// Files lists the files the filter was read from, includes and .local
// overrides included, in the order they were applied.
func (f *Filter) Files() []string { return append([]string(nil), f.files...) }

// FailRegexes returns the failregex patterns as the filter defines them
// (options and tags substituted, fail2ban's regex tags like <HOST> kept).
func (f *Filter) FailRegexes() []string {
	out := make([]string, len(f.fail))
	for i, r := range f.fail {
		out[i] = r.text
	}
	return out
}

// IgnoreRegexes returns the ignoreregex patterns like FailRegexes does.
func (f *Filter) IgnoreRegexes() []string {
	out := make([]string, len(f.ignore))
	for i, r := range f.ignore {
		out[i] = r.text
	}
	return out
}

// PrefRegex returns the prefregex ("" when the filter has none).
func (f *Filter) PrefRegex() string {
	if f.pref == nil {
		return ""
	}
	return f.pref.text
}

// MaxLines is the number of lines a failregex may span.
func (f *Filter) MaxLines() int { return f.maxLines }

// JournalMatch returns the filter's journalmatch lines (journalctl match
// expressions, "+" separating alternatives), for reading the journal.
func (f *Filter) JournalMatch() []string { return append([]string(nil), f.journal...) }

// Backtracking lists the regexes that run on the backtracking engine, as
// "failregex[3]: lookahead", so a user can see which ones are slower.
func (f *Filter) Backtracking() []string {
	var out []string
	add := func(what string, r *regex) {
		if r != nil && r.bt != nil {
			out = append(out, what+": "+r.why)
		}
	}
	add("prefregex", f.pref)
	for i, r := range f.fail {
		add(fmt.Sprintf("failregex[%d]", i), r)
	}
	for i, r := range f.ignore {
		add(fmt.Sprintf("ignoreregex[%d]", i), r)
	}
	return out
}
