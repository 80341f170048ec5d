package policy

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// writeFile writes a file under dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustPrefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestLoadWithSetFiles(t *testing.T) {
	dir := t.TempDir()
	abs := writeFile(t, dir, "abs.txt", "# scanners\n\n192.0.2.0/24\n  198.51.100.7   # one host\r\n\t\n::ffff:203.0.113.0/120\n2001:db8::/32\n192.0.2.0/24\n")
	writeFile(t, dir, "rel.txt", "10.0.0.1\n")
	policy := writeFile(t, dir, "seawall.yaml", `version: 1
sets:
  scanners:
    entries: [198.51.100.7, 172.16.0.0/12]
    files: [`+abs+`, rel.txt]
  empty: {}
`)
	p, err := Load(policy)
	if err != nil {
		t.Fatal(err)
	}
	want := mustPrefixes("198.51.100.7/32", "172.16.0.0/12", "192.0.2.0/24", "203.0.113.0/24", "2001:db8::/32", "10.0.0.1/32")
	if got := p.SetByName("scanners").AllEntries(); !slices.Equal(got, want) {
		t.Errorf("AllEntries = %v\nwant %v", got, want)
	}
	if got := p.SetByName("empty").AllEntries(); len(got) != 0 {
		t.Errorf("empty set has %v", got)
	}

	// Refreshing picks up changes; a bad file leaves the sets as they were.
	writeFile(t, dir, "rel.txt", "10.0.0.2\n")
	if err := p.LoadSetFiles(); err != nil {
		t.Fatal(err)
	}
	if got := p.SetByName("scanners").AllEntries(); got[len(got)-1] != netip.MustParsePrefix("10.0.0.2/32") {
		t.Errorf("after refresh, AllEntries = %v", got)
	}
	before := p.SetByName("scanners").AllEntries()
	writeFile(t, dir, "rel.txt", "10.0.0.3\nnot-an-address\n")
	if err := p.LoadSetFiles(); err == nil {
		t.Fatal("LoadSetFiles accepted a bad file")
	}
	if got := p.SetByName("scanners").AllEntries(); !slices.Equal(got, before) {
		t.Errorf("failed refresh changed the set: %v", got)
	}
}

func TestSetFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.txt", "# header\n10.0.0.1\n\n   10.0.0.1/8 # oops\n10.0.0.5 10.0.0.6\nbogus\n10.0.0.300\n")
	src := "version: 1\nsets:\n  s:\n    files: [bad.txt, missing.txt]\n"
	p, err := Parse(filepath.Join(dir, "seawall.yaml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	err = p.LoadSetFiles()
	want := bad + `:4:4: "sets.s": host bits set; did you mean 10.0.0.0/8` + "\n" +
		bad + `:5:10: "sets.s": expected one address or CIDR per line` + "\n" +
		bad + `:6:1: "sets.s": expected an address or CIDR, got "bogus"` + "\n" +
		bad + `:7:1: "sets.s": invalid IP address "10.0.0.300"` + "\n" +
		filepath.Join(dir, "seawall.yaml") + `:4:22: "sets.s.files": open ` +
		filepath.Join(dir, "missing.txt") + `: no such file or directory`
	if err == nil || err.Error() != want {
		t.Errorf("got error\n%v\nwant\n%s", err, want)
	}
	if _, ok := err.(ErrorList); !ok {
		t.Errorf("error is %T, not ErrorList", err)
	}

	if _, err := Load(filepath.Join(dir, "seawall.yaml")); err == nil {
		t.Errorf("Load of a missing policy file succeeded")
	}
}

func TestLoadInvalidPolicy(t *testing.T) {
	path := writeFile(t, t.TempDir(), "seawall.yaml", "version: 2\n")
	_, err := Load(path)
	if want := path + `:1:10: "version": unsupported version 2; want 1`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}
