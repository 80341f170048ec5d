package filter

import (
	"strings"
	"time"
)

// This file handles filters with maxlines > 1: the last maxlines lines are
// joined with newlines and the failregexes (compiled in multi-line mode, ^
// and $ at every line) search the whole buffer. The lines a match covers
// leave the buffer, except those a <SKIPLINES> tag skipped over.

// bufLine is a line in the multi-line buffer: as read and without its date.
type bufLine struct {
	orig, text string
}

// bufferLine is Line and Entry for multi-line filters.
func (m *Matcher) bufferLine(line string, t time.Time, hasTime bool) (Failure, bool) {
	line = trimNewline(line)
	m.stats.Lines++
	if len(line) > m.f.opts.MaxLineBytes {
		m.stats.TooLong++
		return Failure{}, false
	}
	text := line
	if !hasTime {
		text, t, hasTime = m.f.cutDate(line, &m.sc.dates, time.Time{})
	}
	if m.sc.ignored(text) {
		return Failure{}, false
	}
	t = m.when(&scanned{hasTime: hasTime, time: t})
	return m.processBuffer(line, text, t)
}

// processBuffer adds a line to the buffer and searches it.
func (m *Matcher) processBuffer(orig, text string, t time.Time) (Failure, bool) {
	if len(m.buf) >= m.f.maxLines {
		copy(m.buf, m.buf[1:])
		m.buf = m.buf[:len(m.buf)-1]
	}
	m.buf = append(m.buf, bufLine{orig: strings.Clone(orig), text: strings.Clone(text)})
	joined, starts := joinBuffer(m.buf)
	cands := m.f.candidates(joined)
	if cands == 0 {
		m.stats.Missed++
		return Failure{}, false
	}
	content, contentMapped := joined, true
	var fs fieldSet
	vm := &m.sc.vm
	if m.f.pref != nil {
		loc, res := m.f.pref.find(vm, joined)
		if res != matched {
			m.sc.countTimeout(res)
			m.stats.Missed++
			return Failure{}, false
		}
		capture(&fs, m.f.pref, joined, loc)
		if c, ok := fs.get("content"); ok {
			content, contentMapped = c, false
		}
	}
	for i, r := range m.f.fail {
		if i < maxLiterals && cands&(1<<i) == 0 {
			continue
		}
		loc, res := r.find(vm, content)
		if res != matched {
			m.sc.countTimeout(res)
			continue
		}
		m.stats.Matched++
		m.stats.FailHits[i]++
		loc = append([]int(nil), loc...) // the ignoreregexes below reuse the VM's buffer
		used, kept := m.splitBuffer(r, content, loc, starts, contentMapped)
		m.buf = kept
		if m.sc.ignored(joinTexts(used)) {
			return Failure{}, false
		}
		capture(&fs, r, content, loc)
		fs.mergeAlternates()
		lines := make([]string, len(used))
		for j, l := range used {
			lines[j] = l.orig
		}
		return m.report(fs, i, lines, orig, t)
	}
	m.stats.Missed++
	return Failure{}, false
}

// joinBuffer joins the lines' texts, each ended by a newline, and returns
// where each line starts.
func joinBuffer(buf []bufLine) (string, []int) {
	var b strings.Builder
	starts := make([]int, len(buf))
	for i, l := range buf {
		starts[i] = b.Len()
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	return b.String(), starts
}

func joinTexts(lines []bufLine) string {
	texts := make([]string, len(lines))
	for i, l := range lines {
		texts[i] = l.text
	}
	return strings.Join(texts, "\n")
}

// splitBuffer divides the buffer into the lines a match used and the lines
// that stay: those before and after the match and those <SKIPLINES> covered.
// When a prefregex replaced the buffer by its content, positions cannot be
// mapped back and the whole buffer counts as used.
func (m *Matcher) splitBuffer(r *regex, s string, loc, starts []int, mapped bool) (used, kept []bufLine) {
	if !mapped {
		return m.buf, nil
	}
	first, last := lineAt(starts, loc[0]), lineAt(starts, max(loc[0], loc[1]-1))
	skipped := skippedLines(r, s, loc)
	for i, l := range m.buf {
		switch {
		case i < first || i > last:
			kept = append(kept, l)
		case skipped[l.text] > 0:
			skipped[l.text]--
			kept = append(kept, l)
		default:
			used = append(used, l)
		}
	}
	return used, kept
}

// lineAt returns the index of the line containing offset.
func lineAt(starts []int, offset int) int {
	i := 0
	for i+1 < len(starts) && starts[i+1] <= offset {
		i++
	}
	return i
}

// skippedLines counts the lines captured by the skiplinesN groups.
func skippedLines(r *regex, s string, loc []int) map[string]int {
	out := map[string]int{}
	for i, name := range r.names {
		if !strings.HasPrefix(name, "skiplines") || loc[2*i] < 0 {
			continue
		}
		for _, l := range strings.Split(strings.TrimSuffix(s[loc[2*i]:loc[2*i+1]], "\n"), "\n") {
			if l != "" {
				out[l]++
			}
		}
	}
	return out
}
