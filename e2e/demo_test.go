package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/seawall/seawall/internal/demo"
	"github.com/seawall/seawall/internal/dockerlab"
	"github.com/seawall/seawall/internal/netlab"
)

// TestDemo runs `make demo`'s story, so that the README's first command
// keeps working: every probe must behave as the policy says, with Docker
// where a confined dockerd can run here.
func TestDemo(t *testing.T) {
	netlab.RequireRoot(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs the nft binary (apt-get install nftables)")
	}
	var out strings.Builder
	err := demo.Run(demo.Options{Seawall: seawallBin, Out: &out})
	if err != nil || t.Failed() {
		t.Errorf("demo: %v\n%s", err, out.String())
		return
	}
	if dockerlab.Available() == nil && strings.Contains(out.String(), "Docker is left out") {
		t.Errorf("the demo left Docker out although a confined dockerd can run here:\n%s", out.String())
	}
	for _, want := range []string{"banned within", "Every probe behaved as the policy says"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, out.String())
		}
	}
}
