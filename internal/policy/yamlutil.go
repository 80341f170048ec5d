package policy

import (
	"fmt"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// parser holds the state of one Parse call.
type parser struct {
	file        string
	pol         *Policy
	errs        ErrorList
	pending     []pendingRefs       // name references to resolve once all names are known
	memberPaths map[*Group][]string // field path of each group member
}

// field is one key a mapping may hold and what to do with its value. fn gets
// the key/value pair and the value's dotted path.
type field struct {
	name   string
	fn     func(kv *ast.MappingValueNode, path string)
	hidden bool // left out of the allowed keys listed for an unknown key
}

// entry is one key/value pair of a mapping.
type entry struct {
	name string
	kv   *ast.MappingValueNode
	path string
}

// strItem is one string of a string-or-list value.
type strItem struct {
	s    string
	pos  Pos
	path string
}

// pos returns the position of a node: its first key for a mapping.
func (ps *parser) pos(n ast.Node) Pos {
	if m, ok := n.(*ast.MappingNode); ok && len(m.Values) > 0 {
		n = m.Values[0].Key
	}
	if n == nil {
		return Pos{File: ps.file}
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return Pos{File: ps.file}
	}
	return Pos{File: ps.file, Line: tk.Position.Line, Col: tk.Position.Column}
}

// errAt records an error at pos.
func (ps *parser) errAt(pos Pos, path, format string, args ...any) {
	ps.errs = append(ps.errs, &Error{Pos: pos, Field: path, Msg: fmt.Sprintf(format, args...)})
}

// errorf records an error at node n.
func (ps *parser) errorf(n ast.Node, path, format string, args ...any) {
	ps.errAt(ps.pos(n), path, format, args...)
}

// join appends a key to a dotted path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe names a node's type for messages, with an article.
func describe(n ast.Node) string {
	switch n.(type) {
	case nil, *ast.NullNode:
		return "null"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	case *ast.IntegerNode:
		return "an integer"
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "a boolean"
	}
	return "a " + n.Type().YAMLName()
}

// supported reports, once, YAML features the policy language leaves out.
func (ps *parser) supported(n ast.Node, path string) bool {
	switch n.(type) {
	case *ast.AnchorNode, *ast.AliasNode:
		ps.errorf(n, path, "YAML anchors and aliases are not supported")
		return false
	case *ast.TagNode:
		ps.errorf(n, path, "YAML tags are not supported")
		return false
	}
	return true
}

// isNull reports whether n is an absent or null value.
func isNull(n ast.Node) bool {
	_, null := n.(*ast.NullNode)
	return n == nil || null
}

// mapping returns n as a mapping; null counts as an empty mapping. It
// reports an error and returns false for anything else.
func (ps *parser) mapping(n ast.Node, path string) (*ast.MappingNode, bool) {
	if isNull(n) {
		return &ast.MappingNode{}, true
	}
	if !ps.supported(n, path) {
		return nil, false
	}
	m, ok := n.(*ast.MappingNode)
	if !ok {
		ps.errorf(n, path, "expected a mapping, got %s", describe(n))
	}
	return m, ok
}

// entries returns a mapping's pairs, reporting keys that are not strings and
// duplicate keys (at the second occurrence, which is then left out).
func (ps *parser) entries(m *ast.MappingNode, path string) []entry {
	var out []entry
	seen := map[string]Pos{}
	for _, kv := range m.Values {
		name, ok := ps.keyName(kv.Key, path)
		if !ok {
			continue
		}
		kpath := join(path, name)
		if first, dup := seen[name]; dup {
			ps.errorf(kv.Key, kpath, "duplicate key (first defined at %d:%d)", first.Line, first.Col)
			continue
		}
		seen[name] = ps.pos(kv.Key)
		out = append(out, entry{name: name, kv: kv, path: kpath})
	}
	return out
}

// keyName returns the text of a scalar mapping key.
func (ps *parser) keyName(k ast.MapKeyNode, path string) (string, bool) {
	if !ps.supported(k, path) {
		return "", false
	}
	switch k := k.(type) {
	case *ast.MappingKeyNode: // explicit "? key"
		if inner, ok := k.Value.(ast.MapKeyNode); ok {
			return ps.keyName(inner, path)
		}
	case *ast.MergeKeyNode:
		ps.errorf(k, path, "YAML merge keys are not supported")
		return "", false
	case *ast.StringNode:
		return k.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.NullNode:
		if tk := k.GetToken(); tk != nil {
			return tk.Value, true
		}
	}
	ps.errorf(k, path, "mapping keys must be strings, got %s", describe(k))
	return "", false
}

// fields walks a mapping whose keys are fixed, calling each known key's
// function in file order and reporting unknown keys. It returns the pairs
// seen by key name, or nil if n is not a mapping (nor null).
func (ps *parser) fields(n ast.Node, path string, fields []field) map[string]*ast.MappingValueNode {
	m, ok := ps.mapping(n, path)
	if !ok {
		return nil
	}
	seen := map[string]*ast.MappingValueNode{}
	for _, e := range ps.entries(m, path) {
		i := fieldIndex(fields, e.name)
		if i < 0 {
			ps.unknownKey(e, fields)
			continue
		}
		seen[e.name] = e.kv
		fields[i].fn(e.kv, e.path)
	}
	return seen
}

func fieldIndex(fields []field, name string) int {
	for i, f := range fields {
		if f.name == name {
			return i
		}
	}
	return -1
}

// unknownKey reports a key that is not among fields, at the key.
func (ps *parser) unknownKey(e entry, fields []field) {
	names := make([]string, 0, len(fields))
	for _, f := range fields {
		if !f.hidden {
			names = append(names, f.name)
		}
	}
	hint := ""
	if s := closest(e.name, names); s != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", s)
	}
	ps.errorf(e.kv.Key, e.path, "unknown key %q%s; allowed keys: %s",
		e.name, hint, strings.Join(names, ", "))
}

// required reports keys missing from a mapping, at the mapping. It does
// nothing if seen is nil (the value was not a mapping).
func (ps *parser) required(seen map[string]*ast.MappingValueNode, at Pos, path string, keys ...string) {
	if seen == nil {
		return
	}
	for _, k := range keys {
		if seen[k] == nil {
			ps.errAt(at, path, "missing required key %q", k)
		}
	}
}

// str returns a string value; what names the expected value for messages.
func (ps *parser) str(n ast.Node, path, what string) (string, bool) {
	if !ps.supported(n, path) {
		return "", false
	}
	switch n := n.(type) {
	case *ast.StringNode:
		return n.Value, true
	case *ast.LiteralNode:
		if n.Value != nil {
			return strings.TrimSuffix(n.Value.Value, "\n"), true
		}
	}
	hint := ""
	if _, isInt := n.(*ast.IntegerNode); isInt && what == serviceWhat {
		hint = `; write ports as tcp/N or udp/N, and quote port lists inside [ ], e.g. "tcp/80,443"`
	}
	if m, ok := n.(*ast.MappingNode); ok && len(m.Values) == 1 {
		// Inside { }, the YAML parser reads [container:db] as a mapping.
		if k, ok := m.Values[0].Key.(*ast.StringNode); ok && k.Value+":" == containerPrefix {
			hint = `; inside { }, quote container references: "container:NAME"`
		}
	}
	ps.errorf(n, path, "expected %s, got %s%s", what, describe(n), hint)
	return "", false
}

// boolean returns a true or false value.
func (ps *parser) boolean(n ast.Node, path string) (bool, bool) {
	if !ps.supported(n, path) {
		return false, false
	}
	if b, ok := n.(*ast.BoolNode); ok {
		return b.Value, true
	}
	ps.errorf(n, path, "expected true or false, got %s", describe(n))
	return false, false
}

// list returns the items of a list value; null is an empty list and any
// other single value a list of one.
func (ps *parser) list(n ast.Node, path string) ([]ast.Node, []string) {
	if isNull(n) || !ps.supported(n, path) {
		return nil, nil
	}
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		return []ast.Node{n}, []string{path}
	}
	paths := make([]string, len(seq.Values))
	for i := range seq.Values {
		paths[i] = fmt.Sprintf("%s[%d]", path, i)
	}
	return seq.Values, paths
}

// seq returns the items of a list value; null is an empty list.
func (ps *parser) seq(n ast.Node, path, what string) ([]ast.Node, []string) {
	if !ps.supported(n, path) {
		return nil, nil
	}
	if _, ok := n.(*ast.SequenceNode); !ok && !isNull(n) {
		ps.errorf(n, path, "expected a list of %s, got %s", what, describe(n))
		return nil, nil
	}
	return ps.list(n, path)
}

// strList returns a string-or-list-of-strings value. what names one item
// for messages. Unless emptyOK, null and [] are errors.
func (ps *parser) strList(n ast.Node, path, what string, emptyOK bool) []strItem {
	if !ps.supported(n, path) {
		return nil
	}
	nodes, paths := ps.list(n, path)
	if len(nodes) == 0 && !emptyOK {
		if isNull(n) {
			ps.errorf(n, path, "expected %s or a list of them, got null", what)
		} else {
			ps.errorf(n, path, "empty list")
		}
		return nil
	}
	var out []strItem
	for i, item := range nodes {
		if s, ok := ps.str(item, paths[i], what); ok {
			out = append(out, strItem{s: s, pos: ps.pos(item), path: paths[i]})
		}
	}
	return out
}
