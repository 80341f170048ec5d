package filter

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeFiles writes files (name -> content) into a new directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestParseINI(t *testing.T) {
	src := "# comment\n; another\n[DEFAULT]\nshared = d\n\n[Definition]\n" +
		"Key = value ; inline comment\n" +
		"multi = first\n    second\n\n  # a comment inside\n    third\n" +
		"colon: yes\n" +
		"hash = a#b\n" +
		"semi = a;b\n" +
		"empty =\n"
	f, err := parseINI("x.conf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	def := f.byName["Definition"]
	want := map[string]string{
		"key":   "value",
		"multi": "first\nsecond\n\nthird",
		"colon": "yes",
		"hash":  "a#b",
		"semi":  "a;b",
		"empty": "",
	}
	for k, v := range want {
		if got := def.values[k].raw; got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if got := f.defaults.values["shared"].raw; got != "d" {
		t.Errorf("default shared = %q", got)
	}
	if def.values["multi"].line != 8 {
		t.Errorf("multi on line %d, want 8", def.values["multi"].line)
	}
}

func TestParseINIErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"key = v\n", "x.conf:1: option outside any section"},
		{"[A]\nno delimiter here\n", "x.conf:2: line is neither"},
		{"[A]\nk = 1\nk = 2\n", `x.conf:3: "k": option set twice in section [A]`},
		{"[A]\n[A]\n", "x.conf:2: section [A] appears twice"},
		{"[A]\n= value\n", "x.conf:2: option without a name"},
	}
	for _, tt := range tests {
		_, err := parseINI("x.conf", []byte(tt.src))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.src, err, tt.want)
		}
	}
}

// TestIncludesAndLocal checks the order fail2ban reads files in: before
// includes, the file, its .local, after includes; later files override,
// earlier values stay as known/.
func TestIncludesAndLocal(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"common.conf":  "[DEFAULT]\nprefix = common\nsuffix = none\n[Definition]\nfromcommon = yes\n",
		"common.local": "[DEFAULT]\nsuffix = local\n",
		"f.conf": "[INCLUDES]\nbefore = common.conf\nafter = after.conf\n[Definition]\n" +
			"failregex = ^%(prefix)s <HOST> %(suffix)s\n",
		"f.local":    "[Definition]\nfailregex = %(known/failregex)s\n            ^local <HOST>\n",
		"after.conf": "[Definition]\nextra = after\n",
	})
	c, err := readConfig(osSource{}, []string{filepath.Join(dir, "f.conf")})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range c.files {
		names = append(names, filepath.Base(f))
	}
	// fail2ban's order: X.local follows X.conf with X.conf's includes
	if want := []string{"common.conf", "common.local", "f.conf", "after.conf", "f.local"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}
	v, _, err := c.get("Definition", "failregex", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "^common <HOST> local\n^local <HOST>"; v != want {
		t.Errorf("failregex = %q, want %q", v, want)
	}
	for opt, want := range map[string]string{"fromcommon": "yes", "extra": "after"} {
		if got, _, _ := c.get("Definition", opt, nil); got != want {
			t.Errorf("%s = %q, want %q", opt, got, want)
		}
	}
}

func TestIncludeLoop(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.conf": "[INCLUDES]\nbefore = b.conf\n[Definition]\nfailregex = <HOST>\n",
		"b.conf": "[INCLUDES]\nbefore = a.conf\n[Definition]\nx = 1\n",
	})
	if _, err := Load(filepath.Join(dir, "a.conf"), Options{}); err != nil {
		t.Fatalf("an include loop must be cut, not fail: %v", err)
	}
}

func TestInterpolation(t *testing.T) {
	dir := writeFiles(t, map[string]string{"f.conf": `
[DEFAULT]
d = default-value
shadowed = from-default

[other]
opt = other-%(d)s
deep = %(missing_here)s

[Definition]
shadowed = from-definition
a = %(d)s
b = %(other/opt)s
c = %(default/shadowed)s
pct = 100%% sure
self = %(__name__)s
loop = %(loop2)s
loop2 = %(loop)s
bad = %(nope)s
syntax = 50% off
`})
	c, err := readConfig(osSource{}, []string{filepath.Join(dir, "f.conf")})
	if err != nil {
		t.Fatal(err)
	}
	for opt, want := range map[string]string{
		"a": "default-value", "b": "other-default-value", "c": "from-default",
		"pct": "100% sure", "self": "Definition", "shadowed": "from-definition",
	} {
		got, _, err := c.get("Definition", opt, nil)
		if err != nil || got != want {
			t.Errorf("%s = %q (%v), want %q", opt, got, err, want)
		}
	}
	// filter options take precedence in interpolation
	if got, _, _ := c.get("Definition", "a", map[string]string{"d": "option"}); got != "option" {
		t.Errorf("with option: a = %q", got)
	}
	for opt, want := range map[string]string{
		"loop":   "f.conf:17: \"loop\": interpolation nested deeper",
		"bad":    "f.conf:19: \"bad\": %(nope)s refers to an option that is not set",
		"syntax": "'%' must be followed by",
	} {
		_, _, err := c.get("Definition", opt, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", opt, err, want)
		}
	}
	if _, _, err := c.get("Definition", "absent", nil); !isNotFound(err) {
		t.Errorf("absent option: %v", err)
	}
}

func TestTags(t *testing.T) {
	opts := map[string]string{
		"mode":          "aggressive",
		"re":            "^<re-<mode>> <HOST>$",
		"re-normal":     "n",
		"re-aggressive": "<re-normal>|a",
		"self":          "x<self>",
	}
	order := []string{"mode", "re", "re-normal", "re-aggressive"}
	got, err := substituteTags(opts, order, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "^n|a <HOST>$"; got["re"] != want {
		t.Errorf("re = %q, want %q", got["re"], want)
	}
	if _, err := substituteTags(opts, []string{"self"}, nil); err == nil {
		t.Error("a self-referencing tag must fail")
	}
	// a tag that doubles on every step must stop, not eat memory
	grow := map[string]string{"a": "<b><b><b><b>", "b": "<c><c><c><c>", "c": "<d><d><d><d>", "d": "<e><e><e><e>",
		"e": "<f><f><f><f>", "f": "<g><g><g><g>", "g": "<h><h><h><h>", "h": "<i><i><i><i>", "i": "<j><j><j><j>",
		"j": "<k><k><k><k>", "k": strings.Repeat("x", 100)}
	if _, err := substituteTags(grow, []string{"a"}, nil); err == nil {
		t.Error("exponential growth must be cut")
	}
}

func TestParseSpec(t *testing.T) {
	tests := []struct {
		spec string
		name string
		opts map[string]string
		err  string
	}{
		{"sshd", "sshd", map[string]string{}, ""},
		{" sshd[mode=aggressive] ", "sshd", map[string]string{"mode": "aggressive"}, ""},
		{"sshd[mode=aggressive, logtype=journal]", "sshd", map[string]string{"mode": "aggressive", "logtype": "journal"}, ""},
		{`/etc/f.conf[Key="a, b]", other='x']`, "/etc/f.conf", map[string]string{"key": "a, b]", "other": "x"}, ""},
		{"x[a=1][b=2]", "x", map[string]string{"a": "1", "b": "2"}, ""},
		{"x[a=]", "x", map[string]string{"a": ""}, ""},
		{"x[]", "x", map[string]string{}, ""},
		{"x[a=1", "", nil, "must end with ']'"},
		{"x[=1]", "", nil, "expected option name=value"},
		{`x[a="1]`, "", nil, "unterminated"},
		{"x[a=1 b=2]", "x", map[string]string{"a": "1 b=2"}, ""},
		{"x[a=1,,b=2]", "", nil, "expected option name=value"},
		{"[a=1]", "", nil, "no filter name"},
		{"", "", nil, "empty filter spec"},
	}
	for _, tt := range tests {
		name, opts, err := ParseSpec(tt.spec)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.spec, err, tt.err)
			}
			continue
		}
		if err != nil || name != tt.name || !reflect.DeepEqual(opts, tt.opts) {
			t.Errorf("%q: %q %v %v, want %q %v", tt.spec, name, opts, err, tt.name, tt.opts)
		}
	}
}

// TestFilterOptionsAndInit checks that filter options override [Init] and
// [Definition], that [Init] values stay reachable as known/, and that
// options reach both %(name)s and <name>.
func TestFilterOptionsAndInit(t *testing.T) {
	dir := writeFiles(t, map[string]string{"f.conf": `
[Definition]
word = from-definition
failregex = ^%(word)s <HOST> <tail>$
            ^init <HOST> <known/tail>$
[Init]
tail = init-tail
maxlines = 1
`})
	path := filepath.Join(dir, "f.conf")
	f, err := Load(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"^from-definition <HOST> init-tail$", "^init <HOST> init-tail$"}
	if got := f.FailRegexes(); !reflect.DeepEqual(got, want) {
		t.Errorf("failregex %q, want %q", got, want)
	}
	f, err = Load(path+"[word=opt, tail='given tail']", Options{})
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"^opt <HOST> given tail$", "^init <HOST> init-tail$"}
	if got := f.FailRegexes(); !reflect.DeepEqual(got, want) {
		t.Errorf("with options: failregex %q, want %q", got, want)
	}
}

// TestLoadErrors checks that errors name the file, the line and the option.
func TestLoadErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"badre.conf":   "[Definition]\nfailregex = ^ok <HOST>$\n            ^bad (<HOST>\n",
		"noid.conf":    "[Definition]\n\nfailregex = ^no address here$\n",
		"nodef.conf":   "[Init]\nx = 1\n",
		"maxl.conf":    "[Definition]\nfailregex = <HOST>\nmaxlines = many\n",
		"date.conf":    "[Definition]\nfailregex = <HOST>\ndatepattern = %%Q(\n",
		"interp.conf":  "[Definition]\nfailregex = %(undefined)s <HOST>\n",
		"noregex.conf": "[Definition]\nignoreregex = x\n",
		"selftag.conf": "[Definition]\nfailregex = <HOST> <a>\na = <b>\nb = <a>\n",
		"possess.conf": "[Definition]\nfailregex = <HOST> a*+\n",
	})
	tests := []struct{ file, want string }{
		{"badre.conf", "badre.conf:2: \"failregex[1]\": missing ')'"},
		{"noid.conf", "noid.conf:3: \"failregex[0]\": no <HOST>"},
		{"nodef.conf", "nodef.conf: no [Definition] section"},
		{"maxl.conf", "maxl.conf:3: \"maxlines\": want a whole number"},
		{"date.conf", "date.conf:3: \"datepattern\""},
		{"interp.conf", "interp.conf:2: \"failregex\": %(undefined)s refers to an option that is not set"},
		{"noregex.conf", "no failregex"},
		{"selftag.conf", "selftag.conf:2: \"failregex\": tags refer to each other in a loop (through <a>)"},
		{"possess.conf", "possessive quantifier"},
	}
	for _, tt := range tests {
		_, err := Load(filepath.Join(dir, tt.file), Options{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to contain %q", tt.file, err, tt.want)
		}
	}
	var ce *ConfigError
	_, err := Load(filepath.Join(dir, "badre.conf"), Options{})
	if !errors.As(err, &ce) || ce.Line != 2 || ce.Option != "failregex[1]" {
		t.Errorf("want a *ConfigError for line 2, got %#v", err)
	}
	if _, err := Load("no-such-builtin", Options{}); err == nil || !strings.Contains(err.Error(), "built-in: ") {
		t.Errorf("unknown built-in: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.conf"), Options{}); err == nil {
		t.Error("a missing file must fail")
	}
	if _, err := Load(filepath.Join(dir, "badre")+"[x=1]", Options{}); err == nil || !strings.Contains(err.Error(), "badre.conf:2") {
		t.Errorf("a path without .conf finds the .conf: %v", err)
	}
}

// TestBuiltinsLoad loads every built-in filter in every mode it documents.
func TestBuiltinsLoad(t *testing.T) {
	modes := map[string][]string{
		"sshd":            {"normal", "ddos", "extra", "aggressive"},
		"nginx-http-auth": {"normal", "auth", "fallback", "aggressive"},
		"apache-auth":     {"normal", "aggressive"},
		"postfix":         {"normal", "more", "rbl", "auth", "errors", "ddos", "extra", "aggressive"},
		"dovecot":         {"normal", "aggressive"},
		"traefik-auth":    {"normal", "ddos", "aggressive"},
	}
	want := []string{"apache-auth", "dovecot", "nginx-4xx", "nginx-botsearch", "nginx-http-auth", "nginx-limit-req", "postfix", "sshd", "traefik-auth", "vaultwarden"}
	if got := Builtins(); !reflect.DeepEqual(got, want) {
		t.Errorf("Builtins() = %v, want %v", got, want)
	}
	for _, name := range Builtins() {
		for _, spec := range append([]string{name, name + "[logtype=journal]"}, prefixAll(name+"[mode=", modes[name], "]")...) {
			f, err := Load(spec, Options{})
			if err != nil {
				t.Errorf("%s: %v", spec, err)
				continue
			}
			if f.Name() != name {
				t.Errorf("%s: name %q", spec, f.Name())
			}
		}
	}
	for _, spec := range []string{"sshd", "sshd[mode=aggressive]", "nginx-4xx", "nginx-http-auth", "nginx-botsearch", "nginx-limit-req", "apache-auth", "postfix", "dovecot", "vaultwarden", "traefik-auth"} {
		f, _ := Load(spec, Options{})
		if bt := f.Backtracking(); len(bt) > 0 {
			t.Errorf("%s: the default modes of built-in filters must not need the backtracking engine: %v", spec, bt)
		}
	}
}

func prefixAll(pre string, list []string, suf string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = pre + s + suf
	}
	return out
}

func TestFromRegexes(t *testing.T) {
	f, err := FromRegexes([]string{`^<HOST> - \S+ \[\] "[A-Z]+ [^"]*" 404 `}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := f.NewMatcher()
	got := m.Line(`192.0.2.7 - - [21/Nov/2025:10:00:00 +0000] "GET /x HTTP/1.1" 404 10 "-" "-"`)
	if len(got) != 1 || got[0].Host != "192.0.2.7" {
		t.Fatalf("got %+v", got)
	}
	if _, err := FromRegexes([]string{"no host"}, Options{}); err == nil {
		t.Error("a regex without <HOST> must fail")
	}
}
