package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// The container labels ParseLabels reads.
const (
	LabelIngress = "seawall.ingress"
	LabelEgress  = "seawall.egress"
	LabelDefault = "seawall.default"
)

// labelPrefix starts every label seawall reads; other labels with it are
// mistakes.
const labelPrefix = "seawall."

// maxLabelValue is the longest label value ParseLabels reads. Label policies
// are short; the limit bounds the work a container's owner can cause.
const maxLabelValue = 16 * 1024

// labelNames lists the labels ParseLabels reads, for suggestions.
var labelNames = []string{LabelIngress, LabelEgress, LabelDefault}

// LabelError is one problem in a container's seawall labels.
type LabelError struct {
	Container string // container name
	Label     string // label name, e.g. seawall.ingress; "" when the container name is invalid
	Col       int    // 1-based byte column in the label's value; 0 = the label as a whole
	Msg       string
}

// Error returns `container "NAME": label LABEL: col N: message`, leaving out
// the column part when Col is 0 and the label part when Label is "".
func (e *LabelError) Error() string {
	switch {
	case e.Label == "":
		return fmt.Sprintf("container %q: %s", e.Container, e.Msg)
	case e.Col == 0:
		return fmt.Sprintf("container %q: label %s: %s", e.Container, e.Label, e.Msg)
	}
	return fmt.Sprintf("container %q: label %s: col %d: %s", e.Container, e.Label, e.Col, e.Msg)
}

// LabelErrors collects all the problems found in a container's labels,
// sorted by label name, then column.
type LabelErrors []*LabelError

// Error returns the errors one per line.
func (l LabelErrors) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// ParseLabels reads the policy a container gives itself with labels, a
// second source of container policy besides the containers section:
//
//	seawall.ingress: allow https; allow ssh from office limit 4/minute
//	seawall.egress:  allow tcp/5432 to container:db; allow https to api.example.com
//	seawall.default: ingress=deny,egress=reject
//
// seawall.ingress and seawall.egress hold statements separated by ';'.
// Empty statements (";;", a trailing ';', an empty label) are allowed and
// ignored. A statement is
//
//	ACTION TARGET... [from ADDR...] [to ADDR...] [limit N/UNIT]
//
// where words are separated by spaces:
//
//   - ACTION is allow, deny, reject or drop, as the keys of a rule.
//   - TARGETs are services as in the policy file (ssh, https, tcp/443,
//     udp/60000-61000, any), separated by commas and/or spaces. A port
//     list keeps its commas: an item that starts with a digit and follows
//     a comma continues the port list of the tcp/... or udp/... target
//     before it, so "tcp/80,443,https" is tcp/80,443 and https. A port
//     anywhere else ("ssh,443", "tcp/80 443", "443") is an error.
//   - from, to and limit are clauses, in any order, each at most once.
//     ADDRs are separated by commas and/or spaces and are as in the file:
//     addresses, CIDRs, any, the groups and sets of p, container:NAME, and
//     in seawall.egress DNS names. Ingress statements cannot have to and
//     egress statements cannot have from, as in the file. limit takes one
//     rate and only goes with allow.
//
// The words from, to and limit are always keywords, so groups or sets with
// those names cannot be used in labels. Everything is case-sensitive.
//
// seawall.default holds ingress=VALUE and/or egress=VALUE, separated by
// commas and/or spaces, with the values of a default in the file; the keys
// it leaves out come from p's containers.default.
//
// A value may be at most 16 KiB long. Other labels that start with
// "seawall." are errors; all other labels are ignored. ParseLabels returns nil, nil when the container has none of the
// three labels.
//
// The entry is named after the container (a leading "/" is dropped; the
// name must be valid as in select: {name: ...}) and selects it by name. Its rules have Chain "ingress" or "egress" and Entry
// the container name; their positions are in the pseudo-file
// `container "NAME" label LABEL`, line 1, at the byte column in the label
// value. p may be nil: then no group or set names are known. ParseLabels
// only reads p.
//
// The policy file wins where both speak: the caller (the compiler) uses a
// label entry only for a container that no entry of the containers section
// selects (p.SelectEntry returns nil), and ignores the labels otherwise.
//
// The error is a LabelErrors holding every problem found.
func ParseLabels(p *Policy, container string, labels map[string]string) (*ContainerEntry, error) {
	container = strings.TrimPrefix(container, "/")
	lp := &labelParser{ns: newNames(p), base: p.DefaultFor(nil), container: container}
	var keys []string
	for k := range labels {
		if strings.HasPrefix(k, labelPrefix) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	if msg := checkContainerName(container); msg != "" {
		if container == "" {
			msg = "empty container name"
		}
		return nil, LabelErrors{{Container: container, Msg: msg}}
	}
	slices.Sort(keys)
	nowhere := Pos{File: fmt.Sprintf("container %q", container)}
	e := &ContainerEntry{Name: container, Pos: nowhere, Select: Selector{Kind: SelectName, Name: container, Pos: nowhere}}
	found := false
	for _, k := range keys {
		lp.label = k
		v := labels[k]
		if len(v) > maxLabelValue && slices.Contains(labelNames, k) {
			lp.errAt(-1, "value is %d bytes long; the limit is %d", len(v), maxLabelValue)
			continue
		}
		switch k {
		case LabelIngress:
			e.Ingress = lp.rules(v, ingressChain(container))
		case LabelEgress:
			e.Egress = lp.rules(v, egressChain(container))
		case LabelDefault:
			e.Default = lp.defaults(v)
		default:
			lp.errAt(-1, "unknown seawall label%s; seawall reads %s, %s and %s",
				didYouMean(k, labelNames), LabelIngress, LabelEgress, LabelDefault)
			continue
		}
		found = true
	}
	if len(lp.errs) > 0 {
		slices.SortStableFunc(lp.errs, func(a, b *LabelError) int {
			return cmp.Or(strings.Compare(a.Label, b.Label), cmp.Compare(a.Col, b.Col))
		})
		return nil, lp.errs
	}
	if !found {
		return nil, nil
	}
	return e, nil
}

// labelParser holds the state of one ParseLabels call.
type labelParser struct {
	ns        *names
	base      ContainerDefault // containers.default
	container string
	label     string // the label being parsed
	errs      LabelErrors
}

// errAt records an error at a 0-based byte offset in the label value; -1
// means the whole label.
func (lp *labelParser) errAt(off int, format string, args ...any) {
	lp.errs = append(lp.errs, &LabelError{
		Container: lp.container, Label: lp.label, Col: off + 1, Msg: fmt.Sprintf(format, args...),
	})
}

// pos returns the position of a 0-based byte offset in the label value.
func (lp *labelParser) pos(off int) Pos {
	return Pos{File: fmt.Sprintf("container %q label %s", lp.container, lp.label), Line: 1, Col: off + 1}
}

// word is a run of non-space bytes in a label value.
type word struct {
	s   string
	off int // 0-based byte offset in the label value
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// words splits v[start:end] at spaces.
func words(v string, start, end int) []word {
	var out []word
	for i := start; i < end; {
		if isSpace(v[i]) {
			i++
			continue
		}
		j := i
		for j < end && !isSpace(v[j]) {
			j++
		}
		out = append(out, word{v[i:j], i})
		i = j
	}
	return out
}

// item is one item of a comma and/or space separated list.
type item struct {
	s     string
	off   int
	comma bool // a comma separates it from the item before
}

// items splits the span of ws (consecutive words of v) into items
// separated by commas and/or spaces. what names an item for messages. It
// reports a comma with no item before or after it.
func (lp *labelParser) items(v string, ws []word, what string) []item {
	if len(ws) == 0 {
		return nil
	}
	last := ws[len(ws)-1]
	start, end := ws[0].off, last.off+len(last.s)
	var out []item
	comma := -1 // offset of a comma not yet followed by an item
	for i := start; i < end; {
		switch c := v[i]; {
		case isSpace(c):
			i++
		case c == ',':
			if comma >= 0 || len(out) == 0 {
				lp.errAt(i, "missing %s before ','", what)
			}
			comma = i
			i++
		default:
			j := i
			for j < end && v[j] != ',' && !isSpace(v[j]) {
				j++
			}
			out = append(out, item{v[i:j], i, comma >= 0})
			comma = -1
			i = j
		}
	}
	if comma >= 0 {
		lp.errAt(comma, "missing %s after ','", what)
	}
	return out
}

// isClauseKeyword reports whether s starts a clause of a statement.
func isClauseKeyword(s string) bool {
	return s == "from" || s == "to" || s == "limit"
}

// parseAction returns the action a word names.
func parseAction(s string) (Action, bool) {
	for a := Allow; a <= Drop; a++ {
		if s == a.String() {
			return a, true
		}
	}
	return 0, false
}

// isService reports whether s, or the part of it before a comma, is a
// service.
func isService(s string) bool {
	first, _, _ := strings.Cut(s, ",")
	_, msg := parseService(first)
	return msg == ""
}

// rules parses a seawall.ingress or seawall.egress value.
func (lp *labelParser) rules(v string, spec chainSpec) []*Rule {
	var out []*Rule
	for start := 0; start <= len(v); {
		end := strings.IndexByte(v[start:], ';')
		if end < 0 {
			end = len(v)
		} else {
			end += start
		}
		if ws := words(v, start, end); len(ws) > 0 {
			if r := lp.statement(v, ws, spec, len(out)); r != nil {
				out = append(out, r)
			}
		}
		start = end + 1
	}
	return out
}

// clause is the action and its targets, or a clause keyword and its words.
type clause struct {
	kw    word
	words []word
}

// statement parses one statement, given as its words.
func (lp *labelParser) statement(v string, ws []word, spec chainSpec, index int) *Rule {
	act := ws[0]
	a, ok := parseAction(act.s)
	if !ok {
		before, _, comma := strings.Cut(act.s, ",")
		if _, isAction := parseAction(before); isAction && comma {
			lp.errAt(act.off+len(before), "expected a space after %q, not ','", before)
		} else if isClauseKeyword(act.s) || isService(act.s) {
			lp.errAt(act.off, "missing action before %q; a statement starts with allow, deny, reject or drop", act.s)
		} else {
			lp.errAt(act.off, "unknown action %q%s; want allow, deny, reject or drop",
				act.s, didYouMean(act.s, []string{"allow", "deny", "reject", "drop"}))
		}
		return nil
	}
	at := lp.pos(act.off)
	r := &Rule{Pos: at, Chain: spec.chain, Entry: spec.entry, Index: index, Action: a, ActionPos: at}
	clauses := []clause{{kw: act}}
	for _, w := range ws[1:] {
		if isClauseKeyword(w.s) {
			clauses = append(clauses, clause{kw: w})
			continue
		}
		c := &clauses[len(clauses)-1]
		c.words = append(c.words, w)
	}
	if len(clauses[0].words) == 0 {
		lp.errAt(act.off, "missing service after %q; want a service like ssh or tcp/22", act.s)
	} else {
		r.Services = lp.targets(v, clauses[0].words)
	}
	seen := map[string]int{}
	for _, c := range clauses[1:] {
		kw := c.kw
		if first, dup := seen[kw.s]; dup {
			lp.errAt(kw.off, "%q given twice (first at col %d)", kw.s, first+1)
			continue
		}
		seen[kw.s] = kw.off
		switch kw.s {
		case "from":
			r.From = lp.addrClause(v, c, spec.from, spec.noFrom)
		case "to":
			r.To = lp.addrClause(v, c, spec.to, spec.noTo)
		case "limit":
			lp.limit(r, c)
		}
	}
	return r
}

// targets parses the targets of a statement.
func (lp *labelParser) targets(v string, ws []word) []Service {
	// spans of the targets as written, port lists joined up
	type span struct{ start, end int }
	var spans []span
	for _, it := range lp.items(v, ws, "service") {
		if isDigit(it.s[0]) {
			if n := len(spans); it.comma && n > 0 {
				prev := v[spans[n-1].start:spans[n-1].end]
				if strings.HasPrefix(prev, "tcp/") || strings.HasPrefix(prev, "udp/") {
					spans[n-1].end = it.off + len(it.s)
					continue
				}
			}
			lp.errAt(it.off, "port %s needs a protocol; write tcp/%s or udp/%s, "+
				"or put it after a comma in a tcp/ or udp/ port list", it.s, it.s, it.s)
			continue
		}
		spans = append(spans, span{it.off, it.off + len(it.s)})
	}
	var out []Service
	for _, sp := range spans {
		name := v[sp.start:sp.end]
		if name == "any" && len(spans) > 1 {
			lp.errAt(sp.start, `"any" cannot be combined with other services`)
			continue
		}
		pps, msg := parseService(name)
		if msg != "" {
			lp.errAt(sp.start, "%s", msg)
			continue
		}
		out = append(out, Service{Name: name, Pos: lp.pos(sp.start), Ports: pps})
	}
	return out
}

// addrClause parses a from or to clause; why, when set, says why the
// clause is not allowed.
func (lp *labelParser) addrClause(v string, c clause, o addrOpts, why string) []AddrRef {
	switch {
	case why != "":
		lp.errAt(c.kw.off, "%q is not allowed here: %s", c.kw.s, why)
		return nil
	case len(c.words) == 0:
		lp.errAt(c.kw.off, "missing address after %q; want %s, or any", c.kw.s, addrWhat)
		return nil
	}
	its := lp.items(v, c.words, "address")
	var out []AddrRef
	for _, it := range its {
		if it.s == "any" {
			if len(its) > 1 {
				lp.errAt(it.off, `"any" cannot be combined with other addresses`)
			}
			continue
		}
		ref, msg := parseAddr(it.s, lp.pos(it.off), o)
		if msg == "" && ref.Kind == GroupRef {
			msg = lp.ns.resolve(&ref, false)
		}
		if msg != "" {
			if isService(it.s) {
				msg = fmt.Sprintf("%q is a service, not an address; services come right after the action", it.s)
			}
			lp.errAt(it.off, "%s", msg)
			continue
		}
		out = append(out, ref)
	}
	return out
}

// limit parses a limit clause.
func (lp *labelParser) limit(r *Rule, c clause) {
	if r.Action != Allow {
		lp.errAt(c.kw.off, "limit is only allowed with allow, not %s", r.Action)
		return
	}
	if len(c.words) == 0 {
		lp.errAt(c.kw.off, `missing rate after "limit"; want a rate like 4/minute`)
		return
	}
	for _, w := range c.words[1:] {
		lp.errAt(w.off, "unexpected %q; limit takes one rate like 4/minute", w.s)
	}
	w := c.words[0]
	rate, msg := parseRate(w.s)
	if msg != "" {
		lp.errAt(w.off, "%s", msg)
		return
	}
	r.Limit, r.LimitPos = &rate, lp.pos(w.off)
}

// defaults parses a seawall.default value; nil when it is empty.
func (lp *labelParser) defaults(v string) *ContainerDefault {
	ws := words(v, 0, len(v))
	if len(ws) == 0 {
		return nil
	}
	d := partialDefault{pos: lp.pos(0)}
	seen := map[string]int{}
	for _, it := range lp.items(v, ws, "ingress=VALUE or egress=VALUE") {
		if i := strings.IndexByte(it.s, ';'); i >= 0 {
			lp.errAt(it.off+i, "separate ingress=VALUE and egress=VALUE with ',', not ';'")
			continue
		}
		key, val, ok := strings.Cut(it.s, "=")
		if !ok {
			lp.errAt(it.off, "expected ingress=VALUE or egress=VALUE, got %q", it.s)
			continue
		}
		if first, dup := seen[key]; dup {
			lp.errAt(it.off, "%s given twice (first at col %d)", key, first+1)
			continue
		}
		valOff := it.off + len(key) + 1
		switch key {
		case "ingress":
			ing, msg := parseIngressDefault(val)
			if msg != "" {
				lp.errAt(valOff, "%s", msg)
				continue
			}
			d.ingress = &ing
		case "egress":
			eg, msg := parseEgressDefault(val)
			if msg != "" {
				lp.errAt(valOff, "%s", msg)
				continue
			}
			d.egress = &eg
		default:
			lp.errAt(it.off, "unknown key %q%s; want ingress or egress",
				key, didYouMean(key, []string{"ingress", "egress"}))
			continue
		}
		seen[key] = it.off
	}
	return d.merge(lp.base)
}
