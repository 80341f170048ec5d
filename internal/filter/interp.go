package filter

import (
	"fmt"
	"strings"
)

// This file implements %(name)s interpolation as configparser's
// BasicInterpolation does, with fail2ban's additions: %(section/option)s
// reads another section, %(known/option)s the value the option had before a
// later file overrode it, %(default/option)s the [DEFAULT] one, and
// %(__name__)s the section's own name.

// maxInterpolationDepth is configparser's MAX_INTERPOLATION_DEPTH.
const maxInterpolationDepth = 10

// maxValueBytes bounds a value after interpolation and tag substitution, so
// a file whose references multiply (a = %(b)s%(b)s, b = %(c)s%(c)s, ...)
// fails instead of exhausting memory.
const maxValueBytes = 1 << 20

// errNoOption and errNoSection are returned by get when the option or the
// section does not exist (configparser's NoOptionError, NoSectionError).
type errNoOption struct{ section, option string }

func (e errNoOption) Error() string {
	return fmt.Sprintf("no option %q in section [%s]", e.option, e.section)
}

type errNoSection struct{ section string }

func (e errNoSection) Error() string { return fmt.Sprintf("no section [%s]", e.section) }

// isNotFound reports whether err says an option or section is missing.
func isNotFound(err error) bool {
	switch err.(type) {
	case errNoOption, errNoSection:
		return true
	}
	return false
}

// lookup finds option for interpolation in section: vars first, then the
// section, then [DEFAULT].
func (c *config) lookup(section, option string, vars map[string]string) (iniValue, bool) {
	if v, ok := vars[option]; ok {
		return iniValue{raw: v, file: "(filter options)"}, true
	}
	if s := c.sections[section]; s != nil {
		if v, ok := s.values[option]; ok {
			return v, true
		}
	}
	v, ok := c.defaults.values[option]
	return v, ok
}

// get returns the interpolated value of option in section; vars (the filter
// options) take precedence over the file's values.
func (c *config) get(section, option string, vars map[string]string) (string, iniValue, error) {
	option = strings.ToLower(option)
	if section != defaultSection && !c.hasSection(section) {
		return "", iniValue{}, errNoSection{section}
	}
	v, ok := c.lookup(section, option, vars)
	if !ok {
		return "", iniValue{}, errNoOption{section, option}
	}
	var b strings.Builder
	if err := c.interpolate(&b, section, option, v.raw, vars, 1); err != nil {
		return "", v, &ConfigError{File: v.file, Line: v.line, Option: option, Msg: err.Error()}
	}
	return b.String(), v, nil
}

// interpolate appends rest to b with its %(name)s references replaced.
func (c *config) interpolate(b *strings.Builder, section, option, rest string, vars map[string]string, depth int) error {
	if depth > maxInterpolationDepth {
		return fmt.Errorf("interpolation nested deeper than %d (a value refers to itself?)", maxInterpolationDepth)
	}
	for rest != "" {
		p := strings.IndexByte(rest, '%')
		if p < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:p])
		rest = rest[p:]
		switch {
		case strings.HasPrefix(rest, "%%"):
			b.WriteByte('%')
			rest = rest[2:]
		case strings.HasPrefix(rest, "%("):
			end := strings.IndexByte(rest, ')')
			if end < 0 || end+1 >= len(rest) || rest[end+1] != 's' {
				return fmt.Errorf("bad interpolation reference %q (want %%(name)s)", clip(rest, 30))
			}
			name := strings.ToLower(rest[2:end])
			rest = rest[end+2:]
			v, err := c.reference(section, name, vars)
			if err != nil {
				return err
			}
			if strings.Contains(v, "%") {
				if err := c.interpolate(b, section, option, v, vars, depth+1); err != nil {
					return err
				}
			} else {
				b.WriteString(v)
			}
		default:
			return fmt.Errorf("'%%' must be followed by '%%' or '(', found %q", clip(rest, 30))
		}
		if b.Len() > maxValueBytes {
			return fmt.Errorf("value grows beyond %d bytes", maxValueBytes)
		}
	}
	return nil
}

// reference resolves the name of one %(name)s, raw (not yet interpolated).
func (c *config) reference(section, name string, vars map[string]string) (string, error) {
	if v, ok := c.lookup(section, name, vars); ok {
		return v.raw, nil
	}
	if name == "__name__" {
		return section, nil
	}
	if sec, opt, ok := strings.Cut(name, "/"); ok && validSectionRef(sec) {
		if v, ok := c.sectionRef(section, sec, opt); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("%%(%s)s refers to an option that is not set", name)
}

// validSectionRef reports whether sec can name a section in
// %(section/option)s ([\w-]+).
func validSectionRef(sec string) bool {
	if sec == "" {
		return false
	}
	for i := 0; i < len(sec); i++ {
		ch := sec[i]
		if !(ch == '_' || ch == '-' || isAlnum(ch)) {
			return false
		}
	}
	return true
}

func isAlnum(ch byte) bool {
	return '0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z'
}

// sectionRef reads option opt of section sec for %(sec/opt)s used in
// section cur: known/ is cur's overridden value, default/ the [DEFAULT]
// one; a section without the option falls back to [DEFAULT].
func (c *config) sectionRef(cur, sec, opt string) (string, bool) {
	switch strings.ToLower(sec) {
	case "default":
	case "known":
		if v, ok := c.sections["KNOWN/"+cur].lookup(opt); ok {
			return v.raw, true
		}
	default:
		s := c.findSection(sec)
		if s == nil {
			return "", false
		}
		if v, ok := s.values[opt]; ok {
			return v.raw, true
		}
	}
	v, ok := c.defaults.values[opt]
	return v.raw, ok
}

// findSection returns the named section; names are case-sensitive, as in
// configparser, but %(...)s folds the reference to lower case, so a
// case-insensitive match is accepted when there is exactly one.
func (c *config) findSection(name string) *iniSection {
	if s := c.sections[name]; s != nil {
		return s
	}
	var found *iniSection
	for n, s := range c.sections {
		if strings.EqualFold(n, name) && !strings.HasPrefix(n, "KNOWN/") {
			if found != nil {
				return nil
			}
			found = s
		}
	}
	return found
}

// getEx is get with fail2ban's section-qualified names: "sec/opt" reads
// section sec, "known/opt" the overridden value in section (falling back to
// the current one), "default/opt" [DEFAULT].
func (c *config) getEx(section, option string, vars map[string]string) (string, error) {
	if sec, opt, ok := strings.Cut(option, "/"); ok && validSectionRef(sec) && opt != "" && !strings.ContainsAny(opt, " \t>") {
		var tries []string
		switch strings.ToLower(sec) {
		case "known":
			tries = []string{"KNOWN/" + section, section}
		case "default":
			tries = []string{defaultSection}
		default:
			if s := c.findSection(sec); s != nil {
				tries = []string{s.name}
			}
		}
		for _, t := range tries {
			v, _, err := c.get(t, opt, nil)
			if err == nil {
				return v, nil
			}
			if !isNotFound(err) {
				return "", err
			}
		}
	}
	v, _, err := c.get(section, option, vars)
	return v, err
}
