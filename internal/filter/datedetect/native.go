package datedetect

import (
	"strings"
	"unicode/utf8"
)

// Hand-written matchers for the default templates that most logs use: ISO
// 8601 (2005-08-14T11:59:59.123+02:00), syslog (Aug 14 11:59:59) and Apache
// (14/Aug/2005:11:59:59 +0200). They find exactly what the backtracking
// machine finds for the same template (a test checks this on random lines):
// each field lists the lengths it can match in the order Python's engine
// would try them, and try() backtracks over those lists. A field regex is
// one step here instead of a dozen machine instructions.
//
// They look at ASCII only. Where Python's \d, \s or case folding could match
// a non-ASCII character, they give up and the machine decides.

type elemKind uint8

const (
	elYear20      elemKind = iota // %ExY: 20\d\d
	elSep                         // (?P<_sep>[set])
	elSepRef                      // (?P=_sep)
	elMonth                       // %m
	elDay                         // %d
	elDateTimeT                   // (?:T|  ?)
	elHour                        // %H
	elHourK                       // %k, the blank-padded hour
	elMinute                      // %M
	elSecond                      // %S
	elLiteral                     // the byte set[0]
	elFraction                    // (?:[set]%f)?
	elZone                        // (?:\s*%z)? when set is empty, else (?: %z)?
	elWeekday                     // (?:%a )?
	elMonthAbbr                   // %b
	elYearOpt                     // (?: %ExY)?
	elOptByte                     // [set]?
	elYearAlt                     // (?:%ExY|%Exy)
	elYear2                       // %Exy: \d{2}
	elMonthEx                     // %Exm: 0[1-9]|1[0-2]
	elDayEx                       // %Exd: [1-2]\d|0[1-9]|3[0-1]
	elHourEx                      // %ExH: [0-1]\d|2[0-3]
	elMinuteEx                    // %ExM: [0-5]\d
	elSecondEx                    // %ExS: [0-5]\d|6[0-1]
	elZoneNameOpt                 // (?:%Z )?
	elZoneOpt                     // (?:%z )?
	elHour12                      // %I: 1[0-2]|0[1-9]|[1-9]
	elAMPM                        // %p: am|pm
	elEpoch                       // \d{10,11}\b(?:\.\d{3,6})?
)

// nativeBegin is where a native match may start.
type nativeBegin uint8

const (
	beginWord  nativeBegin = iota // (?=^|\b|\W): not inside a word
	beginLine                     // ^(?:\W{0,2})?: the line start, after at most two non-word characters
	beginZero                     // ^: the line start
	beginEpoch                    // the EPOCH template's (?:^|(?<=^\[)|(?<=\baudit\())
)

type elem struct {
	kind elemKind
	set  string
}

// nativeSpec is a template the native matcher runs.
type nativeSpec struct {
	elems []elem
	fold  bool // the template is (?iu): names and zone letters in any case
}

var (
	nativeISO = &nativeSpec{elems: []elem{
		{kind: elYear20}, {kind: elSep, set: "-/."}, {kind: elMonth}, {kind: elSepRef},
		{kind: elDay}, {kind: elDateTimeT}, {kind: elHour}, {kind: elLiteral, set: ":"},
		{kind: elMinute}, {kind: elLiteral, set: ":"}, {kind: elSecond},
		{kind: elFraction, set: ".,"}, {kind: elZone},
	}}
	nativeSyslog = &nativeSpec{fold: true, elems: []elem{
		{kind: elWeekday}, {kind: elMonthAbbr}, {kind: elLiteral, set: " "}, {kind: elDay},
		{kind: elLiteral, set: " "}, {kind: elHourK}, {kind: elLiteral, set: ":"},
		{kind: elMinute}, {kind: elLiteral, set: ":"}, {kind: elSecond},
		{kind: elFraction, set: "."}, {kind: elYearOpt},
	}}
	nativeApache = &nativeSpec{fold: true, elems: []elem{
		{kind: elDay}, {kind: elSep, set: "-/"}, {kind: elMonthAbbr}, {kind: elSepRef},
		{kind: elYear20}, {kind: elOptByte, set: " :"}, {kind: elHour}, {kind: elLiteral, set: ":"},
		{kind: elMinute}, {kind: elLiteral, set: ":"}, {kind: elSecond},
		{kind: elFraction, set: "."}, {kind: elZone, set: " "},
	}}
)

var (
	lit       = func(b string) elem { return elem{kind: elLiteral, set: b} }
	timeOfDay = []elem{lit(":"), {kind: elMinute}, lit(":"), {kind: elSecond}}
	// the rest of the syslog formats after the weekday
	syslogTail = []elem{{kind: elMonthAbbr}, lit(" "), {kind: elDay}, lit(" "), {kind: elHourK},
		timeOfDay[0], timeOfDay[1], timeOfDay[2], timeOfDay[3], {kind: elFraction, set: "."}, {kind: elYearOpt}}
)

// nativeSpecs are the native matchers of the default patterns, by pattern.
var nativeSpecs = map[string]*nativeSpec{
	defaultPatterns[0]: nativeISO,
	defaultPatterns[1]: nativeSyslog,
	// (?:%a )?%b %d %ExY %k:%M:%S(?:\.%f)?
	defaultPatterns[2]: {fold: true, elems: concatElems([]elem{{kind: elWeekday}, {kind: elMonthAbbr},
		lit(" "), {kind: elDay}, lit(" "), {kind: elYear20}, lit(" "), {kind: elHourK}},
		timeOfDay, []elem{{kind: elFraction, set: "."}})},
	// %d(?P<_sep>[-/])%m(?P=_sep)(?:%ExY|%Exy) %k:%M:%S
	defaultPatterns[3]: {elems: concatElems([]elem{{kind: elDay}, {kind: elSep, set: "-/"}, {kind: elMonth},
		{kind: elSepRef}, {kind: elYearAlt}, lit(" "), {kind: elHourK}}, timeOfDay)},
	defaultPatterns[4]: nativeApache,
	// %m/%d/%ExY:%H:%M:%S
	defaultPatterns[5]: {elems: concatElems([]elem{{kind: elMonth}, lit("/"), {kind: elDay}, lit("/"),
		{kind: elYear20}, lit(":"), {kind: elHour}}, timeOfDay)},
	// %m-%d-%ExY %k:%M:%S(?:\.%f)?
	defaultPatterns[6]: {elems: concatElems([]elem{{kind: elMonth}, lit("-"), {kind: elDay}, lit("-"),
		{kind: elYear20}, lit(" "), {kind: elHourK}}, timeOfDay, []elem{{kind: elFraction, set: "."}})},
	// %Exy%Exm%Exd  ?%H:%M:%S
	defaultPatterns[10]: {elems: concatElems([]elem{{kind: elYear2}, {kind: elMonthEx}, {kind: elDayEx},
		lit(" "), {kind: elOptByte, set: " "}, {kind: elHour}}, timeOfDay)},
	// %ExY%Exm%Exd(?:T|  ?)%ExH%ExM%ExS(?:[.,]%f)?(?:\s*%z)?
	defaultPatterns[13]: {elems: []elem{{kind: elYear20}, {kind: elMonthEx}, {kind: elDayEx},
		{kind: elDateTimeT}, {kind: elHourEx}, {kind: elMinuteEx}, {kind: elSecondEx},
		{kind: elFraction, set: ".,"}, {kind: elZone}}},
	// (?:%Z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?
	defaultPatterns[14]: {fold: true, elems: concatElems([]elem{{kind: elZoneNameOpt}, {kind: elWeekday}}, syslogTail)},
	// (?:%z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?
	defaultPatterns[15]: {fold: true, elems: concatElems([]elem{{kind: elZoneOpt}, {kind: elWeekday}}, syslogTail)},
	// EPOCH, and {^LN-BEG}EPOCH for the anchored copy
	defaultPatterns[7]: {elems: []elem{{kind: elEpoch}}},
	// {^LN-BEG}%H:%M:%S
	defaultPatterns[8]: {elems: concatElems([]elem{{kind: elHour}}, timeOfDay)},
	// ^<%m/%d/%Exy@%H:%M:%S>
	defaultPatterns[9]: {elems: concatElems([]elem{lit("<"), {kind: elMonth}, lit("/"), {kind: elDay}, lit("/"),
		{kind: elYear2}, lit("@"), {kind: elHour}}, timeOfDay, []elem{lit(">")})},
	// %b %d, %ExY %I:%M:%S %p
	defaultPatterns[11]: {fold: true, elems: concatElems([]elem{{kind: elMonthAbbr}, lit(" "), {kind: elDay},
		lit(","), lit(" "), {kind: elYear20}, lit(" "), {kind: elHour12}}, timeOfDay,
		[]elem{lit(" "), {kind: elAMPM}})},
	// ^%b-%d-%Exy %k:%M:%S
	defaultPatterns[12]: {fold: true, elems: concatElems([]elem{{kind: elMonthAbbr}, lit("-"), {kind: elDay},
		lit("-"), {kind: elYear2}, lit(" "), {kind: elHourK}}, timeOfDay)},
}

// nativeBeginOf is where the native matcher of a default pattern starts:
// anchored is true for the line-start copy fail2ban makes of it.
func nativeBeginOf(pattern string, anchored bool) nativeBegin {
	switch {
	case anchored || strings.HasPrefix(pattern, "{^LN-BEG}"):
		return beginLine
	case strings.HasPrefix(pattern, "^"):
		return beginZero
	case pattern == "EPOCH":
		return beginEpoch
	}
	return beginWord
}

// mayBegin reports whether a native match may start at p; for beginLine,
// the caller tries the starts lineStarts gives instead.
func (b nativeBegin) mayBegin(s string, p int) bool {
	switch b {
	case beginWord:
		return notInWord(s, p)
	case beginZero:
		return p == 0
	case beginEpoch:
		return p == 0 || p == 1 && s[0] == '[' ||
			p >= 6 && s[p-6:p] == "audit(" && !wordBefore(s, p-6, 0)
	}
	return false
}

func concatElems(parts ...[]elem) []elem {
	var out []elem
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// nativeFor returns the native matcher of a default pattern, or nil.
func nativeFor(pattern string) *nativeSpec { return nativeSpecs[pattern] }

type nativeResult uint8

const (
	nativeNo     nativeResult = iota
	nativeYes                 // run.a, run.end and run.spans hold the match
	nativeUnsure              // a non-ASCII character decides: ask the machine
)

// nativeRun is the state of one native match attempt.
type nativeRun struct {
	s      string
	spec   *nativeSpec
	unsure bool
	sep    byte
	a, end int
	spans  [fkEpoch + 1][2]int32 // by field kind
}

// cands are the lengths an element can match, in the order to try them.
type cands struct {
	n   [8]int8
	len int
}

func (c *cands) add(n int) { c.n[c.len] = int8(n); c.len++ }

// match tries the template with the date starting at p (line start: the
// caller passes each start offset the line-begin prefix allows). Every
// element records or clears its field on the way, so the spans of a match
// need no reset beforehand.
func (r *nativeRun) match(p int) bool {
	if r.spec == nativeSyslog && r.syslogShortcut(p) {
		return true
	}
	r.a = p
	return r.try(0, p)
}

// try matches elements i... at p, backtracking over each element's lengths.
func (r *nativeRun) try(i, p int) bool {
	if r.unsure {
		return false
	}
	els := r.spec.elems
	if i == len(els) {
		if !notInWord(r.s, p) {
			return false
		}
		r.end = p
		return true
	}
	e := &els[i]
	var c cands
	r.candidates(e, p, &c)
	for k := 0; k < c.len; k++ {
		n := int(c.n[k])
		r.record(e, p, n)
		if r.try(i+1, p+n) {
			return true
		}
		if r.unsure {
			return false
		}
	}
	return false
}

// record notes the field an element captured with length n.
func (r *nativeRun) record(e *elem, p, n int) {
	switch e.kind {
	case elYear20:
		r.span(fkYear, p, p+n)
	case elSep:
		r.sep = r.s[p]
	case elMonth:
		r.span(fkMonth, p, p+n)
	case elDay:
		r.span(fkDay, p, p+n)
	case elHour:
		r.span(fkHour, p, p+n)
	case elHourK:
		if r.s[p] == ' ' { // the blank before the hour is outside the group
			p, n = p+1, n-1
		}
		r.span(fkHour, p, p+n)
	case elMinute:
		r.span(fkMinute, p, p+n)
	case elSecond:
		r.span(fkSecond, p, p+n)
	case elFraction:
		r.optSpan(fkFraction, p+1, p+n, n > 0)
	case elZone:
		z := p // after the blanks
		for z < p+n && !isZoneStart(r.s[z], r.spec.fold) {
			z++
		}
		r.optSpan(fkZone, z, p+n, n > 0)
	case elWeekday:
		r.optSpan(fkWeekdayAbbr, p, p+3, n > 0)
	case elMonthAbbr:
		r.span(fkMonthAbbr, p, p+3)
	case elYearOpt:
		r.optSpan(fkYear, p+1, p+5, n > 0)
	case elYearAlt: // which alternative matched is told by the length
		r.optSpan(fkYear, p, p+n, n == 4)
		r.optSpan(fkYear2, p, p+n, n == 2)
	case elYear2:
		r.span(fkYear2, p, p+n)
	case elMonthEx:
		r.span(fkMonth, p, p+n)
	case elDayEx:
		r.span(fkDay, p, p+n)
	case elHourEx:
		r.span(fkHour, p, p+n)
	case elMinuteEx:
		r.span(fkMinute, p, p+n)
	case elSecondEx:
		r.span(fkSecond, p, p+n)
	case elZoneNameOpt:
		r.optSpan(fkZoneName, p, p+n-1, n > 0)
	case elZoneOpt:
		r.optSpan(fkZone, p, p+n-1, n > 0)
	case elHour12:
		r.span(fkHour12, p, p+n)
	case elAMPM:
		r.span(fkAMPM, p, p+n)
	case elEpoch:
		r.span(fkEpoch, p, p+n)
	}
}

func (r *nativeRun) span(k fieldKind, a, b int) { r.spans[k] = [2]int32{int32(a), int32(b)} }

func (r *nativeRun) optSpan(k fieldKind, a, b int, taken bool) {
	if taken {
		r.span(k, a, b)
	} else {
		r.spans[k] = [2]int32{-1, -1}
	}
}

func isZoneStart(c byte, fold bool) bool {
	if fold {
		c = lowerASCII(c)
		return c == 'z' || c == 'u' || c == 'g' || c == '+' || c == '-'
	}
	return c == 'Z' || c == 'U' || c == 'G' || c == '+' || c == '-'
}

// notInWord is fail2ban's word boundary at p.
func notInWord(s string, p int) bool {
	return !wordBefore(s, p, 0) || !wordAt(s, p, 0)
}

// lineStarts lists where a date may start after `^(?:\W{0,2})?`: after two
// leading non-word characters, after one, at the start, in that order.
func lineStarts(s string) (starts [3]int, n int) {
	o := [3]int{0, -1, -1}
	for i := 1; i <= 2; i++ {
		p := o[i-1]
		if p >= len(s) {
			break
		}
		r, w := utf8.DecodeRuneInString(s[p:])
		if isWordRune(r) {
			break
		}
		o[i] = p + w
	}
	for i := 2; i >= 0; i-- {
		if o[i] >= 0 {
			starts[n] = o[i]
			n++
		}
	}
	return starts, n
}
