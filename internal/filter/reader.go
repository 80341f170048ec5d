package filter

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// This file turns a read config into a filter definition the way fail2ban's
// FilterReader does: the [Definition] options are interpolated with the
// filter options taking precedence, [Init] options become tags (the filter
// options override them; their file values stay reachable as known/NAME),
// then <tag>s are substituted in everything.

// definitionOptions are the [Definition] options a filter is made of, in
// fail2ban's order.
var definitionOptions = []string{"prefregex", "ignoreregex", "failregex", "maxlines", "datepattern", "journalmatch"}

// sourced is a value with where it was written.
type sourced struct {
	text string
	file string
	line int
}

// definition is what a filter file defines, fully substituted.
type definition struct {
	prefregex   sourced // text "" when none
	failregex   []sourced
	ignoreregex []sourced
	maxlines    int
	datepattern sourced // text "" when the default date formats apply
	journal     []string
	opts        map[string]string // the combined options and tags
}

// readDefinition reads the filter definition from c with the filter
// options opts (already lower-cased names).
func readDefinition(c *config, mainFile string, opts map[string]string) (*definition, error) {
	if !c.hasSection("Definition") {
		return nil, &ConfigError{File: mainFile, Msg: "no [Definition] section"}
	}
	combined := map[string]string{}
	pos := map[string]iniValue{}
	var order []string
	add := func(k, v string, at iniValue) {
		if _, ok := combined[k]; !ok {
			order = append(order, k)
		}
		combined[k] = v
		pos[k] = at
	}
	for _, name := range definitionOptions {
		if _, given := opts[name]; given {
			continue
		}
		v, at, err := c.get("Definition", name, opts)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		add(name, v, at)
	}
	optPos := iniValue{file: mainFile}
	for _, k := range sortedKeys(opts) {
		add(k, opts[k], optPos)
	}
	if err := addInit(c, opts, add); err != nil {
		return nil, err
	}
	subst, err := substituteTags(combined, order, definitionLookup(c, opts))
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			return nil, ce // an interpolation error in a looked-up option
		}
		ce = &ConfigError{File: mainFile, Msg: err.Error()}
		var te *tagError
		if errors.As(err, &te) {
			at := pos[te.tag]
			ce.Option = te.tag
			if at.file != "" {
				ce.File, ce.Line = at.file, at.line
			}
		}
		return nil, ce
	}
	return buildDefinition(subst, pos)
}

// addInit adds the [Init] options: NAME unless a filter option sets it,
// and known/NAME always.
func addInit(c *config, opts map[string]string, add func(k, v string, at iniValue)) error {
	init := c.sections["Init"]
	if init == nil {
		return nil
	}
	for _, k := range init.keys {
		v, at, err := c.get("Init", k, nil)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(k, "known/") {
			add("known/"+k, v, at)
		}
		if _, given := opts[k]; !given {
			add(k, v, at)
		}
	}
	return nil
}

// definitionLookup finds tags that are not among the substituted options:
// any [Definition] option (with the filter options as variables), or
// another section's option through <section/option>.
func definitionLookup(c *config, opts map[string]string) tagLookup {
	cache := map[string]*string{}
	return func(name string) (string, bool, error) {
		if v, ok := cache[name]; ok {
			if v == nil {
				return "", false, nil
			}
			return *v, true, nil
		}
		v, err := c.getEx("Definition", name, opts)
		if isNotFound(err) {
			cache[name] = nil
			return "", false, nil
		}
		if err != nil {
			return "", false, err
		}
		cache[name] = &v
		return v, true, nil
	}
}

// buildDefinition reads the final option values.
func buildDefinition(opts map[string]string, pos map[string]iniValue) (*definition, error) {
	d := &definition{maxlines: 1, opts: opts}
	at := func(k, text string) sourced {
		p := pos[k]
		return sourced{text: text, file: p.file, line: p.line}
	}
	d.failregex = regexLines(opts["failregex"], at("failregex", ""))
	d.ignoreregex = regexLines(opts["ignoreregex"], at("ignoreregex", ""))
	if v := strings.TrimSpace(opts["prefregex"]); v != "" {
		d.prefregex = at("prefregex", v)
	}
	if v := strings.TrimSpace(opts["datepattern"]); v != "" {
		d.datepattern = at("datepattern", v)
	}
	if v := strings.TrimSpace(opts["maxlines"]); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxMaxLines {
			p := pos["maxlines"]
			return nil, &ConfigError{File: p.file, Line: p.line, Option: "maxlines", Msg: fmt.Sprintf("want a whole number from 1 to %d, got %q", maxMaxLines, v)}
		}
		d.maxlines = n
	}
	for _, m := range strings.Split(opts["journalmatch"], "\n") {
		if m = strings.TrimSpace(m); m != "" {
			d.journal = append(d.journal, m)
		}
	}
	return d, nil
}

// maxMaxLines bounds a filter's line buffer.
const maxMaxLines = 1000

// regexLines splits a multi-line regex option; empty lines are dropped.
func regexLines(v string, at sourced) []sourced {
	var out []sourced
	for _, line := range strings.Split(v, "\n") {
		if line != "" {
			s := at
			s.text = line
			out = append(out, s)
		}
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
