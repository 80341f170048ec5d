package filter

import (
	"fmt"
	"strings"
)

// ParseSpec splits a filter spec such as "sshd[mode=aggressive, logtype=journal]"
// or "/etc/fail2ban/filter.d/x.conf[k=v]" into the name (or path) and its
// options. Values may be quoted with " or ' (then they may hold commas and
// brackets); several option groups may follow each other, name[a=1][b=2].
// Option names are folded to lower case, as fail2ban's config reader does.
func ParseSpec(spec string) (name string, opts map[string]string, err error) {
	spec = strings.TrimSpace(spec)
	open := strings.IndexByte(spec, '[')
	if open < 0 {
		if strings.ContainsRune(spec, ']') {
			return "", nil, fmt.Errorf("filter spec %q: ']' without '['", spec)
		}
		if spec == "" {
			return "", nil, fmt.Errorf("empty filter spec")
		}
		return spec, map[string]string{}, nil
	}
	name = strings.TrimSpace(spec[:open])
	if name == "" {
		return "", nil, fmt.Errorf("filter spec %q: no filter name before '['", spec)
	}
	if !strings.HasSuffix(spec, "]") {
		return "", nil, fmt.Errorf("filter spec %q: options must end with ']'", spec)
	}
	opts, err = parseSpecOptions(spec[open+1 : len(spec)-1])
	if err != nil {
		return "", nil, fmt.Errorf("filter spec %q: %w", spec, err)
	}
	return name, opts, nil
}

// parseSpecOptions parses "k=v, k2='v 2'][k3=v3" (the text between the
// first '[' and the last ']').
func parseSpecOptions(s string) (map[string]string, error) {
	opts := map[string]string{}
	p := 0
	for {
		p = skipBlanks(s, p)
		if p >= len(s) {
			return opts, nil
		}
		keyStart := p
		for p < len(s) && isOptNameByte(s[p]) {
			p++
		}
		key := s[keyStart:p]
		if key == "" || p >= len(s) || s[p] != '=' {
			return nil, fmt.Errorf("expected option name=value at offset %d: %q", keyStart, clip(s[keyStart:], 25))
		}
		p++
		value, next, err := specValue(s, p)
		if err != nil {
			return nil, fmt.Errorf("option %q: %w", key, err)
		}
		opts[strings.ToLower(key)] = value
		p, err = specSeparator(s, next, key)
		if err != nil {
			return nil, err
		}
	}
}

// specValue reads a quoted or plain value starting at p.
func specValue(s string, p int) (value string, next int, err error) {
	if p < len(s) && (s[p] == '"' || s[p] == '\'') {
		q := s[p]
		end := strings.IndexByte(s[p+1:], q)
		if end < 0 {
			return "", 0, fmt.Errorf("unterminated %c quote", q)
		}
		return strings.TrimSpace(s[p+1 : p+1+end]), p + end + 2, nil
	}
	start := p
	for p < len(s) && s[p] != ',' && s[p] != ']' {
		p++
	}
	return strings.TrimSpace(s[start:p]), p, nil
}

// specSeparator accepts ",", "][" or the end after a value.
func specSeparator(s string, p int, key string) (int, error) {
	p = skipBlanks(s, p)
	switch {
	case p >= len(s):
		return p, nil
	case s[p] == ',':
		return p + 1, nil
	case s[p] == ']':
		q := skipBlanks(s, p+1)
		if q < len(s) && s[q] == '[' {
			return q + 1, nil
		}
	}
	return 0, fmt.Errorf("unexpected %q after option %q", clip(s[p:], 25), key)
}

func skipBlanks(s string, p int) int {
	for p < len(s) && isSpaceByte(s[p]) {
		p++
	}
	return p
}

// isOptNameByte reports whether c may appear in an option name ([\w.-]).
func isOptNameByte(c byte) bool {
	return isAlnum(c) || c == '_' || c == '-' || c == '.'
}
