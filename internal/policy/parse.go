package policy

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	yamlparser "github.com/goccy/go-yaml/parser"
)

//go:embed default.yaml
var defaultYAML string

// Default returns the built-in default policy: drop incoming traffic except
// ssh and ICMP, accept outgoing traffic. Each call returns a new Policy.
func Default() *Policy {
	p, err := Parse("<default>", []byte(defaultYAML))
	if err != nil {
		panic("policy: embedded default policy is invalid: " + err.Error())
	}
	return p
}

// Load reads and parses the policy file at path, then reads its sets'
// files. The error is an ErrorList when the policy or a set file is
// invalid.
func Load(path string) (*Policy, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p, err := Parse(path, src)
	if err != nil {
		return nil, err
	}
	if err := p.LoadSetFiles(); err != nil {
		return nil, err
	}
	return p, nil
}

// Parse parses and validates a policy. filename is used in positions only;
// set files are not read (see LoadSetFiles). The error is an ErrorList
// holding every problem found, in file order.
func Parse(filename string, src []byte) (*Policy, error) {
	sum := sha256.Sum256(src)
	ps := &parser{
		file:        filename,
		memberPaths: map[*Group][]string{},
		pol: &Policy{
			File: filename,
			Hash: hex.EncodeToString(sum[:]),
			Host: defaultHost(filename),
		},
	}
	if body, ok := ps.document(src); ok {
		ps.top(body)
		ps.resolve()
	}
	ps.errs.sort()
	if err := ps.errs.err(); err != nil {
		return nil, err
	}
	return ps.pol, nil
}

// document parses the YAML and returns the body of its only document (nil
// for an empty file).
func (ps *parser) document(src []byte) (ast.Node, bool) {
	f, err := parseYAML(src)
	if err != nil {
		ps.syntaxError(err)
		return nil, false
	}
	var bodies []ast.Node
	for _, d := range f.Docs {
		if d != nil && d.Body != nil {
			bodies = append(bodies, d.Body)
		}
	}
	switch len(bodies) {
	case 0:
		return nil, true
	case 1:
		return bodies[0], true
	}
	ps.errorf(bodies[1], "", "multiple YAML documents are not supported")
	return nil, false
}

// parseYAML runs the YAML parser, turning a panic in it into an error.
func parseYAML(src []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml parser failed: %v", r)
		}
	}()
	return yamlparser.ParseBytes(src, 0, yamlparser.AllowDuplicateMapKey())
}

// syntaxError records a YAML syntax error at the position the YAML parser
// gives.
func (ps *parser) syntaxError(err error) {
	pos := Pos{File: ps.file, Line: 1, Col: 1}
	msg := err.Error()
	var ye yaml.Error
	if errors.As(err, &ye) {
		msg = ye.GetMessage()
		if tk := ye.GetToken(); tk != nil && tk.Position != nil && tk.Position.Line > 0 {
			pos.Line, pos.Col = tk.Position.Line, max(tk.Position.Column, 1)
		}
	}
	ps.errAt(pos, "", "yaml: %s", msg)
}

// top parses the top-level mapping. To add a section, add a field here.
func (ps *parser) top(body ast.Node) {
	seen := ps.fields(body, "", []field{
		{name: "version", fn: ps.version},
		{name: "groups", fn: ps.groups},
		{name: "sets", fn: ps.sets},
		{name: "host", fn: ps.host},
		{name: "containers", fn: ps.containers},
		{name: "jails", fn: ps.jails},
	})
	at := ps.pos(body)
	if at.Line == 0 {
		at.Line, at.Col = 1, 1
	}
	ps.required(seen, at, "", "version")
}

// version parses the version, which must be 1.
func (ps *parser) version(kv *ast.MappingValueNode, path string) {
	if !ps.supported(kv.Value, path) {
		return
	}
	n, ok := kv.Value.(*ast.IntegerNode)
	if !ok {
		ps.errorf(kv.Value, path, "expected an integer, got %s", describe(kv.Value))
		return
	}
	if fmt.Sprint(n.Value) != "1" {
		ps.errorf(n, path, "unsupported version %s; want 1", n.GetToken().Value)
		return
	}
	ps.pol.Version = 1
}
