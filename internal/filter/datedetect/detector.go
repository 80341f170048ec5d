// Package datedetect finds the date in a log line and parses it the way
// fail2ban does: with fail2ban's default templates (syslog, ISO 8601, Apache,
// MySQL, epoch, TAI64N and the rest), or with a filter's `datepattern` in
// fail2ban's syntax (strptime % codes inside a Python regular expression,
// {^LN-BEG}, {UNB}, {DATE}, {NONE}, EPOCH, LEPOCH, TAI64N, several lines).
//
// It owns the date templates, a small backtracking engine for the Python
// regular expressions they are written in (fail2ban's own templates need
// lookarounds, back-references and conditionals, which Go's regexp lacks),
// and the conversion of the fields found to a time. It does not know about
// filters or log sources; package filter calls it for every line and cuts
// the date it reports out of the line before running failregex, as fail2ban
// does.
package datedetect

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Detector finds dates in log lines. It is immutable after construction and
// safe for concurrent use.
type Detector struct {
	templates []*template
}

// Match is a date found in a line.
type Match struct {
	// Time is the date. Dates without a zone are wall-clock time in the
	// location given to Match; dates with one ("+0200", "Z", "UTC", "CEST")
	// are converted from it. The location of Time is always the one given.
	Time time.Time
	// Start and End are the byte span of the date's text in the line: what
	// fail2ban cuts out before the failregex runs.
	Start, End int
}

// defaultPatterns are fail2ban's default date templates, in fail2ban's order
// (DateDetectorCache.DEFAULT_TEMPLATES in fail2ban/server/datedetector.py).
var defaultPatterns = []string{
	// ISO 8601 and the like: 2005-01-23T21:59:59.981746+01:00, 2005/01/23 21:59:59
	`%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\s*%z)?`,
	// asctime and syslog: Sun Jan 23 21:59:59.011 2005, Jan 23 21:59:59
	`(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?`,
	// asctime with the year after the day: Sun Jan 23 2005 21:59:59.011
	`(?:%a )?%b %d %ExY %k:%M:%S(?:\.%f)?`,
	// 23/01/2005 21:59:59, 23/01/05 21:59:59, 17-07-2008 17:23:25
	`%d(?P<_sep>[-/])%m(?P=_sep)(?:%ExY|%Exy) %k:%M:%S`,
	// Apache: 31/Oct/2006:09:22:55 -0000; named: 26-Jul-2007 15:20:52.252
	`%d(?P<_sep>[-/])%b(?P=_sep)%ExY[ :]?%H:%M:%S(?:\.%f)?(?: %z)?`,
	// CPanel: 05/20/2008:01:57:39
	`%m/%d/%ExY:%H:%M:%S`,
	// 01-27-2012 16:22:44.252
	`%m-%d-%ExY %k:%M:%S(?:\.%f)?`,
	// seconds since 1970
	`EPOCH`,
	// only a time of day, at the line start
	`{^LN-BEG}%H:%M:%S`,
	// <09/16/08@05:03:30>
	`^<%m/%d/%Exy@%H:%M:%S>`,
	// MySQL: 130322 11:46:11
	`%Exy%Exm%Exd  ?%H:%M:%S`,
	// Apache Tomcat: Jan 23, 2005 9:59:59 PM
	`%b %d, %ExY %I:%M:%S %p`,
	// ASSP: Apr-27-13 02:33:06
	`^%b-%d-%Exy %k:%M:%S`,
	// 20050123T215959, 20050123 215959
	`%ExY%Exm%Exd(?:T|  ?)%ExH%ExM%ExS(?:[.,]%f)?(?:\s*%z)?`,
	// a zone name in front (monit): PDT Apr 16 21:05:29
	`(?:%Z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?`,
	// an offset in front: +00:00 Jan 23 21:59:59.011 2005
	`(?:%z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?`,
	// daemontools' TAI64N
	`TAI64N`,
}

// defaultSet holds the default templates, built once.
type defaultSet struct {
	base      []*template // defaultPatterns, compiled
	bases     []string    // their patterns (the {DATE} substitutes)
	all       []*template // line-start copies first, then base: {DEFAULT}
	lineBegin []*template // those anchored at the line start: {^LN-BEG}
	detector  *Detector
}

var defaults = sync.OnceValue(func() *defaultSet {
	ds, err := buildDefaults()
	if err != nil {
		panic(fmt.Sprintf("datedetect: fail2ban's default templates do not compile: %v", err))
	}
	return ds
})

// buildDefaults compiles the defaults and, as fail2ban does, puts before
// them a copy of each that is anchored at the line start, so a date at the
// start of the line is preferred to one in the message.
func buildDefaults() (*defaultSet, error) {
	ds := &defaultSet{bases: defaultPatterns}
	var anchored []*template
	for _, p := range defaultPatterns {
		t, err := specialTemplate(p, strings.ToUpper(p))
		if err != nil {
			return nil, err
		}
		t.native, t.nbegin = nativeFor(p), nativeBeginOf(p, false)
		ds.base = append(ds.base, t)
		if strings.HasPrefix(p, "{^LN-BEG}") || strings.HasPrefix(p, "^") {
			continue
		}
		a, err := specialTemplate("{^LN-BEG}"+p, strings.ToUpper("{^LN-BEG}"+p))
		if err != nil {
			return nil, err
		}
		a.native, a.nbegin = nativeFor(p), nativeBeginOf(p, true)
		anchored = append(anchored, a)
	}
	ds.all = append(anchored, ds.base...)
	for _, t := range ds.all {
		if t.lineBegin {
			ds.lineBegin = append(ds.lineBegin, t)
		}
	}
	ds.detector = &Detector{templates: ds.all}
	return ds, nil
}

// Default returns a detector with fail2ban's default templates: what a
// filter without a datepattern uses.
func Default() *Detector { return defaults().detector }

// New returns a detector for a filter's datepattern value (after the
// filter file's interpolation, so %% has become %). Each non-empty line is
// one template, tried in order:
//
//   - a strptime-style pattern in a Python regular expression, e.g.
//     `^%Y-%m-%d %H:%M:%S`; a word boundary is required around the date
//     unless the pattern is anchored (^, $) or starts or ends with **;
//     {^LN-BEG} in front anchors it at the line start (after at most two
//     non-word characters), {UNB} in front drops the boundaries; the date is
//     the pattern's first group, or the whole match;
//   - {DATE} inside a regular expression, replaced by each default template
//     in turn, e.g. `^[^\[]*\[({DATE})`;
//   - {^LN-BEG} alone: the default templates anchored at the line start;
//     {DEFAULT}: all default templates;
//   - EPOCH, LEPOCH (milliseconds or microseconds), TAI64N, each optionally
//     with ^ or {^LN-BEG} in front, or {EPOCH} / {LEPOCH} inside a pattern;
//     ISO8601 (an extension) is the default ISO 8601 template;
//   - {NONE}: lines carry no date.
//
// An empty datepattern means the default templates, as in fail2ban.
func New(datepattern string) (*Detector, error) {
	b := &builder{seen: map[string]bool{}}
	for line := range strings.SplitSeq(datepattern, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if err := b.add(line); err != nil {
			return nil, fmt.Errorf("could not use datepattern %q: %w", line, err)
		}
	}
	if len(b.templates) == 0 {
		return Default(), nil
	}
	if len(b.templates) > maxTemplates {
		return nil, fmt.Errorf("datepattern has %d date templates, more than the %d allowed", len(b.templates), maxTemplates)
	}
	return &Detector{templates: b.templates}, nil
}

// maxTemplates bounds the templates of one detector ({DEFAULT} is 31).
const maxTemplates = 256

// builder collects the templates of a datepattern, without duplicates.
type builder struct {
	templates []*template
	seen      map[string]bool
}

var errDuplicate = errors.New("the same date template is given twice")

func (b *builder) append(t *template, ignoreDup bool) error {
	key := fmt.Sprintf("%d:%s", t.conv, t.regex)
	if b.seen[key] {
		if ignoreDup {
			return nil
		}
		return errDuplicate
	}
	b.seen[key] = true
	b.templates = append(b.templates, t)
	return nil
}

// add adds the templates of one datepattern line (fail2ban's
// DateDetector.appendTemplate).
func (b *builder) add(line string) error {
	key := line
	if !strings.Contains(line, "%") {
		key = strings.ToUpper(line)
	}
	ds := defaults()
	switch {
	case key == "{^LN-BEG}":
		return b.appendAll(ds.lineBegin)
	case key == "{DEFAULT}":
		return b.appendAll(ds.all)
	case strings.Contains(key, "{DATE}"):
		return b.addDate(line, ds)
	case key == "{NONE}":
		t, err := newPatternTemplate("{UNB}^")
		if err != nil {
			return err
		}
		return b.append(t, false)
	case key == "ISO8601":
		return b.append(ds.base[0], false)
	}
	t, err := specialTemplate(line, key)
	if err != nil {
		return err
	}
	return b.append(t, false)
}

// appendAll adds default templates; those already there are skipped, as in
// fail2ban.
func (b *builder) appendAll(ts []*template) error {
	ignoreDup := len(b.templates) > 0
	for _, t := range ts {
		if err := b.append(t, ignoreDup); err != nil {
			return err
		}
	}
	return nil
}

// addDate adds one template per default pattern, each put in place of
// {DATE} in the line. EPOCH and TAI64N go in by name, as in fail2ban: with
// `^{DATE}` they become ^EPOCH and ^TAI64N, anchored at the line start;
// anywhere else the name is taken as literal text.
func (b *builder) addDate(line string, ds *defaultSet) error {
	ignoreDup := len(b.templates) > 0
	for _, base := range ds.bases {
		var t *template
		var err error
		switch base {
		case "EPOCH", "TAI64N":
			name := replaceUnescaped(line, dateMarker, map[string]string{"EPOCH": "Epoch", "TAI64N": "TAI64N"}[base])
			t, err = specialTemplate(name, strings.ToUpper(name))
		default:
			t, err = newPatternTemplate(replaceUnescaped(line, dateMarker, unboundPattern(base)))
		}
		if err != nil {
			return err
		}
		if err := b.append(t, ignoreDup); err != nil {
			return err
		}
	}
	return nil
}

var dateMarker = regexp.MustCompile(`(?i)\{DATE\}`)

// unboundPattern strips the boundary markers off a default pattern before it
// goes inside another.
func unboundPattern(p string) string {
	p = strings.TrimPrefix(p, "{UNB}")
	p = strings.TrimPrefix(p, "{^LN-BEG}")
	for _, pre := range []string{`(?:^|\b|\W)`, `(^|\b|\W)`} {
		p = strings.TrimPrefix(p, pre)
	}
	return strings.TrimSuffix(p, wordEndRE)
}

// specialTemplate builds the template of one line that is not {DATE},
// {DEFAULT}, {^LN-BEG} or {NONE}: EPOCH and TAI64N in their forms, else a
// pattern. key is the line, upper-cased when it has no % code.
func specialTemplate(line, key string) (*template, error) {
	if strings.Contains(key, "EPOCH") {
		if epochMarker.MatchString(line) {
			return newEpochPatternTemplate(line, strings.Contains(key, "LEPOCH"))
		}
		switch key {
		case "EPOCH", "{^LN-BEG}EPOCH", "^EPOCH":
			return newEpochTemplate(line, key != "EPOCH", false)
		case "LEPOCH", "{^LN-BEG}LEPOCH", "^LEPOCH":
			return newEpochTemplate(line, key != "LEPOCH", true)
		}
	}
	switch key {
	case "TAI64N", "{^LN-BEG}TAI64N", "^TAI64N":
		return newTAI64NTemplate(line, key != "TAI64N")
	}
	return newPatternTemplate(line)
}
