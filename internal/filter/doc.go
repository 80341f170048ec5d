// Package filter runs fail2ban filter files (and seawall's own built-in
// filters, written in the same dialect) over log lines and reports failures:
// which address (or host name, never resolved) failed, when, through which
// failregex, and any other <F-*> fields the regex captured.
//
// It owns:
//
//   - Reading filter files: fail2ban's INI dialect (ini.go) with [INCLUDES]
//     before and after and .local overrides (config.go), %(name)s
//     interpolation with section/, known/ and default/ references
//     (interp.go), <tag> substitution with nested tags (tags.go), and the
//     [Definition] and [Init] options combined with the filter options given
//     in the spec, sshd[mode=aggressive] (spec.go, reader.go).
//   - Regexes: fail2ban's tags <HOST>, <ADDR>, <F-USER>... expanded
//     (regextags.go) and Python's syntax translated (pyregex.go) for Go's
//     linear-time engine, run by a faster executor of Go's compiled programs
//     (vm.go, vmexec.go); lookaround, back-references, conditionals and
//     atomic groups go to a backtracking engine bounded by a per-line
//     timeout, behind a linear-time superset that skips it on lines that
//     cannot match (regex.go). Required literals let lines skip regexes that
//     cannot match (literals.go; each literal is searched from its rarest
//     byte, rarebyte.go).
//   - Matching as fail2ban does (matcher.go): the date is found and cut out
//     of the line, then prefregex with <F-CONTENT>, the failregexes (first
//     match wins) and ignoreregex; multi-line buffers for maxlines > 1
//     (multiline.go); connections linked by <F-MLFID> with <F-NOFAIL>,
//     <F-MLFFORGET> and <F-MLFGAINED> (mlfid.go); the failure's address,
//     normalised (IPv4-mapped IPv6 is IPv4), and its fields (failure.go).
//     Host names found in logs are never resolved.
//   - Reading a whole log on several goroutines with the same result as one
//     Matcher (parallel.go).
//   - The built-in filters in builtin/, embedded in the binary.
//
// Date detection lives in the datedetect sub-package. Ban decisions (counting,
// find time, ignore lists) are not made here: that is package jail.
package filter
