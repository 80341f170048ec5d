package filter

import (
	"fmt"
	"strings"
)

// This file does fail2ban's <tag> substitution in option values: <name> is
// replaced by the option name (or by another section's option for
// <section/option>), repeatedly, so tags may nest (<lt_<logtype>/prefix>
// first becomes <lt_file/prefix>, then that option's value). Tags that name
// no option (<HOST>, <F-USER>) are left for the regex stage.

// maxTagReplace is fail2ban's MAX_TAG_REPLACE_COUNT: how often one tag may
// be replaced inside one value before the definitions count as recursive.
const maxTagReplace = 25

// findTag returns the next <name> at or after from: name is one or more
// characters other than blank, '<' and '>'.
func findTag(s string, from int) (start, end int, name string, ok bool) {
	for i := from; i < len(s); i++ {
		if s[i] != '<' {
			continue
		}
		j := i + 1
		for j < len(s) && s[j] != ' ' && s[j] != '<' && s[j] != '>' {
			j++
		}
		if j < len(s) && s[j] == '>' && j > i+1 {
			return i, j + 1, s[i+1 : j], true
		}
	}
	return 0, 0, "", false
}

// tagLookup finds the value of a tag that is not one of the substituted
// options (fail2ban's "addrepl"); ok is false when there is none.
type tagLookup func(name string) (value string, ok bool, err error)

// tagError says which option's value could not be substituted.
type tagError struct {
	tag string
	err error
}

func (e *tagError) Error() string { return e.err.Error() }
func (e *tagError) Unwrap() error { return e.err }

// substituteTags replaces tags in every value of opts (keys in order) using
// opts itself and then more. It returns a new map.
func substituteTags(opts map[string]string, order []string, more tagLookup) (map[string]string, error) {
	tags := make(map[string]string, len(opts))
	for k, v := range opts {
		tags[k] = v
	}
	done := map[string]bool{}
	counts := map[string]map[string]int{}
	for {
		again := false
		for _, tag := range order {
			if done[tag] {
				continue
			}
			orig := tags[tag]
			value, err := substituteOne(tag, orig, tags, counts, more)
			if err != nil {
				return nil, &tagError{tag: tag, err: err}
			}
			if value != orig {
				if _, _, _, left := findTag(value, 0); left {
					again = true
				}
				tags[tag] = value
			}
			if !strings.Contains(value, "<") {
				done[tag] = true
			}
		}
		if !again {
			return tags, nil
		}
	}
}

// substituteOne replaces the tags inside one value.
func substituteOne(tag, value string, tags map[string]string, counts map[string]map[string]int, more tagLookup) (string, error) {
	rplc := counts[tag]
	if rplc == nil {
		rplc = map[string]int{}
		counts[tag] = rplc
	}
	start, end, rtag, ok := findTag(value, 0)
	for ok {
		if rtag == tag {
			return "", fmt.Errorf("<%s> refers to itself", tag)
		}
		if rplc[rtag] >= maxTagReplace {
			return "", fmt.Errorf("tags refer to each other in a loop (through <%s>)", rtag)
		}
		repl, found := tags[rtag]
		if !found && more != nil {
			var err error
			repl, found, err = more(rtag)
			if err != nil {
				return "", err
			}
		}
		if !found {
			start, end, rtag, ok = findTag(value, end)
			continue
		}
		value = strings.ReplaceAll(value, "<"+rtag+">", repl)
		if len(value) > maxValueBytes {
			return "", fmt.Errorf("value of %q grows beyond %d bytes while replacing <%s>", tag, maxValueBytes, rtag)
		}
		rplc[rtag]++
		start, end, rtag, ok = findTag(value, start)
	}
	return value, nil
}
