package compile

import (
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seawall/seawall/internal/inventory"
	"github.com/seawall/seawall/internal/nft"
	"github.com/seawall/seawall/internal/policy"
)

var update = flag.Bool("update", false, "rewrite the golden .nft files")

// TestGolden compiles every testdata/*.yaml and compares the nft text with
// testdata/*.nft. Run `go test ./internal/compile -update` after an
// intended change and review the diff as text.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.yaml")
	if len(files) == 0 {
		t.Fatal("no golden inputs")
	}
	for _, in := range files {
		t.Run(filepath.Base(in), func(t *testing.T) {
			p, err := policy.Load(in)
			if err != nil {
				t.Fatal(err)
			}
			rs, err := Compile(p, loadFacts(t, strings.TrimSuffix(in, ".yaml")+".facts.json"))
			if err != nil {
				t.Fatal(err)
			}
			got := nft.Table(rs)
			golden := strings.TrimSuffix(in, ".yaml") + ".nft"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("compiled %s differs from %s:\n%s", in, golden, got)
			}
			nftCheck(t, nft.Script(rs))
		})
	}
}

// loadFacts reads the facts a golden policy is compiled with, if any.
func loadFacts(t *testing.T, path string) *inventory.Facts {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var f inventory.Facts
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &f
}

// nftCheck asks nft to parse and evaluate a script without committing it
// (nft -c), inside a throwaway network namespace.
func nftCheck(t *testing.T, script string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Log("not root: skipping the nft -c check of the golden script")
		return
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Log("no nft binary: skipping the nft -c check")
		return
	}
	cmd := exec.Command("unshare", "--net", "nft", "-c", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("nft -c rejected the script: %v\n%s", err, out)
	}
}
