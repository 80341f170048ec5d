package policy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// Containers is the containers section: the policy of Docker containers.
// A container gets the policy of the first entry, in file order, whose
// selector matches it (see Policy.SelectEntry); a container no entry
// selects may get one from its labels (see ParseLabels), and otherwise
// gets Default.
type Containers struct {
	Pos     Pos              // position of the containers key
	Default ContainerDefault // containers.default, or published/allow with a Line 0 Pos
	Entries []*ContainerEntry
}

// ContainerDefault is what happens to a container's traffic that no rule
// of its entry matches.
type ContainerDefault struct {
	Ingress IngressDefault
	Egress  EgressDefault
	Pos     Pos // position of the default key; Line 0 when not written
}

// IngressDefault is the default for traffic to a container.
type IngressDefault int

// Ingress defaults.
const (
	IngressPublished IngressDefault = iota // Docker's own behaviour: published ports are open to all
	IngressDeny                            // drop or reject, as host.deny says
	IngressReject                          // always reject
)

// String returns "published", "deny" or "reject".
func (d IngressDefault) String() string {
	switch d {
	case IngressPublished:
		return "published"
	case IngressDeny:
		return "deny"
	case IngressReject:
		return "reject"
	}
	return "IngressDefault(" + strconv.Itoa(int(d)) + ")"
}

// EgressDefault is the default for traffic from a container.
type EgressDefault int

// Egress defaults.
const (
	EgressAllow  EgressDefault = iota // Docker's own behaviour: all allowed
	EgressDeny                        // drop or reject, as host.deny says
	EgressReject                      // always reject
)

// String returns "allow", "deny" or "reject".
func (d EgressDefault) String() string {
	switch d {
	case EgressAllow:
		return "allow"
	case EgressDeny:
		return "deny"
	case EgressReject:
		return "reject"
	}
	return "EgressDefault(" + strconv.Itoa(int(d)) + ")"
}

// ContainerEntry is one entry of the containers section, or the policy a
// container's labels give (see ParseLabels).
type ContainerEntry struct {
	Name    string   // entry name; for labels, the container name
	Pos     Pos      // position of the name
	Select  Selector // which containers the entry applies to
	Ingress []*Rule  // Chain "ingress": traffic to the containers, by source
	Egress  []*Rule  // Chain "egress": traffic from the containers, by destination
	// Default is the entry's default, with the keys it leaves out taken
	// from containers.default; nil when the entry has no default (use
	// Policy.DefaultFor).
	Default *ContainerDefault
}

// SelectorKind says how a Selector picks containers.
type SelectorKind int

// Selector kinds.
const (
	SelectName    SelectorKind = iota // the container named Name
	SelectCompose                     // compose service Service of project Project (any project if "")
	SelectLabel                       // containers with label LabelKey (equal to LabelValue unless "")
	SelectImage                       // containers whose image reference matches ImageGlob
)

// String returns "name", "compose", "label" or "image", the keys of select.
func (k SelectorKind) String() string {
	switch k {
	case SelectName:
		return "name"
	case SelectCompose:
		return "compose"
	case SelectLabel:
		return "label"
	case SelectImage:
		return "image"
	}
	return "SelectorKind(" + strconv.Itoa(int(k)) + ")"
}

// Selector picks the containers an entry applies to. Only the fields of
// its Kind are set.
//
//   - name: NAME, the exact container name (a leading "/" of the name
//     given to Matches is ignored, as Docker's API writes one).
//   - compose: PROJECT/SERVICE, or SERVICE to match that service in any
//     compose project.
//   - label: KEY=VALUE, the label with that exact value, or KEY alone,
//     any container that has the label whatever its value. KEY= (an empty
//     value) is an error: write KEY.
//   - image: a pattern matched against the image reference as written when
//     the container was created, e.g. nginx:1.25 or ghcr.io/org/app@sha256:...
//     No normalisation is done: "nginx" does not match
//     "docker.io/library/nginx". '*' matches any run of characters,
//     including '/' and ':'; '?' matches one character; nothing else is
//     special. A pattern with no tag or digest (no ':' after its last '/',
//     no '@') also matches the reference without its tag and digest, so
//     "nginx" matches "nginx" and "nginx:1.25", while "nginx:*" matches
//     "nginx:1.25" but not "nginx".
type Selector struct {
	Kind SelectorKind
	Pos  Pos // position of the selector's value

	Name             string // SelectName
	Project, Service string // SelectCompose; Project "" = any project
	LabelKey         string // SelectLabel
	LabelValue       string // SelectLabel; "" = any value
	ImageGlob        string // SelectImage
}

// Matches reports whether the selector picks a container with the given
// name, image reference, compose project and service (com.docker.compose.*
// labels; "" when not from compose) and labels.
func (s Selector) Matches(name, image, project, service string, labels map[string]string) bool {
	switch s.Kind {
	case SelectName:
		return s.Name != "" && strings.TrimPrefix(name, "/") == s.Name
	case SelectCompose:
		return s.Service != "" && service == s.Service && (s.Project == "" || project == s.Project)
	case SelectLabel:
		v, ok := labels[s.LabelKey]
		return s.LabelKey != "" && ok && (s.LabelValue == "" || v == s.LabelValue)
	case SelectImage:
		return imageMatch(s.ImageGlob, image)
	}
	return false
}

// String returns the selector as written in select, e.g. "compose: wordpress/web".
func (s Selector) String() string {
	v := s.Name
	switch s.Kind {
	case SelectCompose:
		v = s.Service
		if s.Project != "" {
			v = s.Project + "/" + s.Service
		}
	case SelectLabel:
		v = s.LabelKey
		if s.LabelValue != "" {
			v += "=" + s.LabelValue
		}
	case SelectImage:
		v = s.ImageGlob
	}
	return s.Kind.String() + ": " + v
}

// imageMatch reports whether the image reference matches the pattern (see
// Selector).
func imageMatch(pattern, image string) bool {
	if pattern == "" || image == "" {
		return false
	}
	if globMatch(pattern, image) {
		return true
	}
	return !hasTagOrDigest(pattern) && hasTagOrDigest(image) && globMatch(pattern, imageRepo(image))
}

// hasTagOrDigest reports whether an image reference (or pattern) has a
// digest ('@') or a tag (':' after the last '/'; an earlier ':' is a
// registry port).
func hasTagOrDigest(ref string) bool {
	return strings.Contains(ref, "@") || strings.Contains(ref[strings.LastIndex(ref, "/")+1:], ":")
}

// imageRepo returns an image reference without its digest and tag.
func imageRepo(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	slash := strings.LastIndex(ref, "/")
	if i := strings.LastIndex(ref, ":"); i > slash {
		ref = ref[:i]
	}
	return ref
}

// globMatch matches s against a pattern where '*' matches any run of bytes
// and '?' one byte. It runs in O(len(pattern) * len(s)) at worst.
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0 // last '*' seen in pattern, and where s was then
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			mark++
			p, i = star+1, mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// defaultContainerDefault is the default when the file gives none:
// Docker's behaviour.
func defaultContainerDefault(file string) ContainerDefault {
	return ContainerDefault{Ingress: IngressPublished, Egress: EgressAllow, Pos: Pos{File: file}}
}

// Entry returns the entry with the given name, or nil. c may be nil.
func (c *Containers) Entry(name string) *ContainerEntry {
	if c == nil {
		return nil
	}
	for _, e := range c.Entries {
		if e.Name == name {
			return e
		}
	}
	return nil
}

// ContainerEntry returns the containers entry with the given name, or nil
// (also when the policy has no containers section).
func (p *Policy) ContainerEntry(name string) *ContainerEntry {
	if p == nil {
		return nil
	}
	return p.Containers.Entry(name)
}

// SelectEntry returns the first containers entry, in file order, whose
// selector matches the container, or nil (see Selector.Matches).
func (p *Policy) SelectEntry(name, image, project, service string, labels map[string]string) *ContainerEntry {
	if p == nil || p.Containers == nil {
		return nil
	}
	for _, e := range p.Containers.Entries {
		if e.Select.Matches(name, image, project, service, labels) {
			return e
		}
	}
	return nil
}

// DefaultFor returns the default that applies to an entry's containers:
// the entry's own, else containers.default, else Docker's behaviour
// (published, allow). A nil entry gets containers.default.
func (p *Policy) DefaultFor(e *ContainerEntry) ContainerDefault {
	switch {
	case e != nil && e.Default != nil:
		return *e.Default
	case p != nil && p.Containers != nil:
		return p.Containers.Default
	case p != nil:
		return defaultContainerDefault(p.File)
	}
	return defaultContainerDefault("")
}

// Why container rules cannot have from or to.
const (
	whyNoTo   = "ingress rules match sources; the destination is the container"
	whyNoFrom = "egress rules match destinations; the source is the container"
)

// ingressChain and egressChain return the specs of an entry's rules.
// Ingress sources may be containers; egress destinations may also be DNS
// names.
func ingressChain(entry string) chainSpec {
	return chainSpec{chain: "ingress", entry: entry, from: addrOpts{container: true}, noTo: whyNoTo}
}

func egressChain(entry string) chainSpec {
	return chainSpec{chain: "egress", entry: entry, to: addrOpts{container: true, dns: true}, noFrom: whyNoFrom}
}

// partialDefault is a default as written: the keys it leaves out are nil.
type partialDefault struct {
	ingress *IngressDefault
	egress  *EgressDefault
	pos     Pos
}

// merge fills the keys p leaves out from base.
func (p partialDefault) merge(base ContainerDefault) *ContainerDefault {
	d := &ContainerDefault{Ingress: base.Ingress, Egress: base.Egress, Pos: p.pos}
	if p.ingress != nil {
		d.Ingress = *p.ingress
	}
	if p.egress != nil {
		d.Egress = *p.egress
	}
	return d
}

// parseIngressDefault and parseEgressDefault parse the values of a
// default's keys.
func parseIngressDefault(s string) (IngressDefault, string) {
	for d := IngressPublished; d <= IngressReject; d++ {
		if s == d.String() {
			return d, ""
		}
	}
	return 0, fmt.Sprintf("invalid ingress default %q; want published, deny or reject", s)
}

func parseEgressDefault(s string) (EgressDefault, string) {
	for d := EgressAllow; d <= EgressReject; d++ {
		if s == d.String() {
			return d, ""
		}
	}
	return 0, fmt.Sprintf("invalid egress default %q; want allow, deny or reject", s)
}

// containers parses the containers section. Its keys are the entries'
// names, except default, which holds the defaults.
func (ps *parser) containers(kv *ast.MappingValueNode, path string) {
	c := &Containers{Pos: ps.pos(kv.Key), Default: defaultContainerDefault(ps.file)}
	ps.pol.Containers = c
	m, ok := ps.mapping(kv.Value, path)
	if !ok {
		return
	}
	type pending struct {
		e *ContainerEntry
		d *partialDefault
	}
	var entries []pending
	for _, e := range ps.entries(m, path) {
		if e.name == "default" {
			if looksLikeEntry(e.kv.Value) {
				ps.errorf(e.kv.Key, e.path, `name "default" is reserved for the defaults of all `+
					"containers (keys ingress and egress); give the entry another name")
				continue
			}
			if d := ps.containerDefault(e.kv, e.path); d != nil {
				c.Default = *d.merge(c.Default)
			}
			continue
		}
		ok := ps.checkName(e)
		ce, d := ps.containerEntry(e)
		if ok && ce != nil {
			entries = append(entries, pending{ce, d})
		}
	}
	// containers.default may come after the entries.
	for _, p := range entries {
		if p.d != nil {
			p.e.Default = p.d.merge(c.Default)
		}
		c.Entries = append(c.Entries, p.e)
	}
}

// looksLikeEntry reports whether the value of containers.default was meant
// as an entry: it has a select key or a list of rules.
func looksLikeEntry(n ast.Node) bool {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		return false
	}
	for _, kv := range m.Values {
		k, ok := kv.Key.(*ast.StringNode)
		if !ok {
			continue
		}
		_, isList := kv.Value.(*ast.SequenceNode)
		if k.Value == "select" || (k.Value == "ingress" || k.Value == "egress") && isList {
			return true
		}
	}
	return false
}

// containerDefault parses containers.default or an entry's default. It
// returns nil if the value is not a mapping.
func (ps *parser) containerDefault(kv *ast.MappingValueNode, path string) *partialDefault {
	d := &partialDefault{pos: ps.pos(kv.Key)}
	seen := ps.fields(kv.Value, path, []field{
		{name: "ingress", fn: func(kv *ast.MappingValueNode, path string) {
			s, ok := ps.str(kv.Value, path, "published, deny or reject")
			if !ok {
				return
			}
			v, msg := parseIngressDefault(s)
			if msg != "" {
				ps.errorf(kv.Value, path, "%s", msg)
				return
			}
			d.ingress = &v
		}},
		{name: "egress", fn: func(kv *ast.MappingValueNode, path string) {
			s, ok := ps.str(kv.Value, path, "allow, deny or reject")
			if !ok {
				return
			}
			v, msg := parseEgressDefault(s)
			if msg != "" {
				ps.errorf(kv.Value, path, "%s", msg)
				return
			}
			d.egress = &v
		}},
	})
	if seen == nil {
		return nil
	}
	return d
}

// containerEntry parses one entry. It returns nil if the value is not a
// mapping, and the entry's default as written, if any.
func (ps *parser) containerEntry(e entry) (*ContainerEntry, *partialDefault) {
	ce := &ContainerEntry{Name: e.name, Pos: ps.pos(e.kv.Key)}
	var d *partialDefault
	seen := ps.fields(e.kv.Value, e.path, []field{
		{name: "select", fn: func(kv *ast.MappingValueNode, path string) {
			ce.Select = ps.selector(kv, path)
		}},
		{name: "ingress", fn: func(kv *ast.MappingValueNode, path string) {
			ce.Ingress = ps.rules(kv.Value, path, ingressChain(e.name))
		}},
		{name: "egress", fn: func(kv *ast.MappingValueNode, path string) {
			ce.Egress = ps.rules(kv.Value, path, egressChain(e.name))
		}},
		{name: "default", fn: func(kv *ast.MappingValueNode, path string) {
			d = ps.containerDefault(kv, path)
		}},
	})
	ps.required(seen, ce.Pos, e.path, "select")
	if seen == nil {
		return nil, nil
	}
	return ce, d
}

// selectorWhat describes each selector's value in messages.
var selectorWhat = [...]string{
	SelectName:    "a container name",
	SelectCompose: "PROJECT/SERVICE or SERVICE",
	SelectLabel:   "KEY=VALUE or KEY",
	SelectImage:   `an image pattern like "nginx:*"`,
}

// selector parses an entry's select: exactly one of name, compose, label
// and image.
func (ps *parser) selector(kv *ast.MappingValueNode, path string) Selector {
	var sel Selector
	var first *SelectorKind // the first selector key seen
	one := func(kind SelectorKind) func(*ast.MappingValueNode, string) {
		return func(kv *ast.MappingValueNode, path string) {
			if first != nil {
				ps.errorf(kv.Key, path, "select has more than one selector (%s and %s); use exactly one", *first, kind)
				return
			}
			first = &kind
			s, ok := ps.str(kv.Value, path, selectorWhat[kind])
			if !ok {
				return
			}
			v, msg := parseSelector(kind, s)
			if msg != "" {
				ps.errorf(kv.Value, path, "%s", msg)
				return
			}
			v.Pos = ps.pos(kv.Value)
			sel = v
		}
	}
	ps.fields(kv.Value, path, []field{
		{name: SelectName.String(), fn: one(SelectName)},
		{name: SelectCompose.String(), fn: one(SelectCompose)},
		{name: SelectLabel.String(), fn: one(SelectLabel)},
		{name: SelectImage.String(), fn: one(SelectImage)},
	})
	if m, ok := kv.Value.(*ast.MappingNode); isNull(kv.Value) || ok && len(m.Values) == 0 {
		ps.errorf(kv.Key, path, "select needs one of name, compose, label or image")
	}
	return sel
}

// parseSelector parses the value of one selector kind.
func parseSelector(kind SelectorKind, s string) (Selector, string) {
	sel := Selector{Kind: kind}
	switch kind {
	case SelectName:
		if msg := checkContainerName(s); msg != "" {
			return sel, fmt.Sprintf("invalid container name %q; a name starts with a letter or digit "+
				"and has at most 255 letters, digits, '_', '.' and '-'", s)
		}
		sel.Name = s
	case SelectCompose:
		project, service, hasProject := strings.Cut(s, "/")
		if !hasProject {
			project, service = "", s
		}
		switch {
		case strings.Contains(service, "/") || hasProject && project == "" || service == "":
			return sel, fmt.Sprintf("invalid compose selector %q; want PROJECT/SERVICE or SERVICE", s)
		case hasProject && !validProject(project):
			return sel, fmt.Sprintf("invalid compose project %q; a project name starts with a "+
				"lowercase letter or digit and has lowercase letters, digits, '_' and '-'", project)
		case !validService(service):
			return sel, fmt.Sprintf("invalid compose service %q; a service name has letters, "+
				"digits, '_', '.' and '-'", service)
		}
		sel.Project, sel.Service = project, service
	case SelectLabel:
		key, value, hasValue := strings.Cut(s, "=")
		switch {
		case key == "" || strings.ContainsFunc(key, isSpaceOrControl):
			return sel, fmt.Sprintf("invalid label selector %q; want KEY=VALUE or KEY", s)
		case hasValue && value == "":
			return sel, fmt.Sprintf("label selector %q has an empty value; write %q to select "+
				"containers that have the label", s, key)
		}
		sel.LabelKey, sel.LabelValue = key, value
	case SelectImage:
		if msg := checkImageGlob(s); msg != "" {
			return sel, msg
		}
		sel.ImageGlob = s
	}
	return sel, ""
}

func isSpaceOrControl(r rune) bool {
	return r <= ' ' || r == 0x7f
}

// validProject reports whether s is a compose project name:
// ^[a-z0-9][a-z0-9_-]*$.
func validProject(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		lower := 'a' <= c && c <= 'z' || isDigit(c)
		if !lower && (i == 0 || c != '_' && c != '-') {
			return false
		}
	}
	return s != ""
}

// validService reports whether s is a compose service name:
// ^[a-zA-Z0-9._-]+$.
func validService(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isLetter(c) && !isDigit(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return s != ""
}

// checkImageGlob checks an image pattern: the characters of image
// references (letters, digits, '.', '_', '-', '/', ':', '@') and the
// wildcards '*' and '?'.
func checkImageGlob(s string) string {
	if s == "" {
		return "empty image pattern"
	}
	if len(s) > 512 {
		return fmt.Sprintf("image pattern %.20q... is longer than 512 characters", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !isDigit(c) && !strings.ContainsRune("._-/:@*?", rune(c)) {
			return fmt.Sprintf("invalid image pattern %q: only letters, digits, '.', '_', '-', '/', ':', '@' "+
				"and the wildcards '*' and '?' are allowed", s)
		}
	}
	return ""
}
