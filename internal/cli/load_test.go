package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A jail whose filter does not load makes the policy invalid, with the
// filter's position, like any other error; a filter file is found next to
// the policy file.
func TestCheckLoadsJailFilters(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "filters"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "filters", "app.conf"), []byte("[Definition]\nfailregex = ^bad login from <HOST>$\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(body string) string {
		path := filepath.Join(dir, "seawall.yaml")
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	run := func(path string) (int, string) {
		var out, errOut bytes.Buffer
		code := Main([]string{"check", "-c", path, "--state-dir", filepath.Join(dir, "state")}, &out, &errOut)
		return code, out.String() + errOut.String()
	}
	good := write("version: 1\njails:\n  app:\n    logs: {file: app.log}\n    filter: filters/app.conf\n")
	if code, out := run(good); code != ExitOK {
		t.Fatalf("a filter file next to the policy: exit %d\n%s", code, out)
	}
	bad := write("version: 1\njails:\n  a:\n    logs: {file: x.log}\n    filter: nosuch\n  c:\n    logs: {file: x.log}\n    match: ['^<HOST> (a']\n")
	code, out := run(bad)
	for _, want := range []string{
		`seawall.yaml:5:13: "jails.a.filter": no built-in filter "nosuch"`,
		`seawall.yaml:8:13: "jails.c.match[0]":`,
	} {
		if code != ExitFailure || !strings.Contains(out, want) {
			t.Errorf("exit %d, want %d and %q in:\n%s", code, ExitFailure, want, out)
		}
	}
}
