package benchns

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2)")
	}
}

func exists(name string) bool {
	_, err := os.Stat(filepath.Join(netnsDir, name))
	return err == nil
}

func TestCreateRunDelete(t *testing.T) {
	needRoot(t)
	r := NewRegistry("seawall-bench-test")
	t.Cleanup(func() { r.DeleteAll() })
	ns, err := r.Create("unit")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("seawall-bench-test-unit-%d-1", os.Getpid()); ns.Name() != want {
		t.Errorf("name %q, want %q", ns.Name(), want)
	}
	if !exists(ns.Name()) {
		t.Fatalf("%s does not exist", ns.Path())
	}

	// A command started in it runs there, and Holds tells the two apart.
	cmd := ns.Command(context.Background(), "sleep", "10")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if in, err := waitHolds(ns, cmd.Process.Pid); err != nil || !in {
		t.Errorf("the command's process is not in the namespace: %v, %v", in, err)
	}
	if in, err := ns.Holds(os.Getpid()); err != nil || in {
		t.Errorf("the test process is in the namespace: %v, %v", in, err)
	}

	// Only loopback is there, and it is down: no way out.
	out, err := ns.Command(context.Background(), "ip", "-o", "link").Output()
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 1 || !strings.Contains(lines[0], " lo:") {
		t.Errorf("links in a new namespace: %q", out)
	}

	c, closeConn, err := ns.Nftables()
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTables()
	closeConn()
	if err != nil || len(tables) != 0 {
		t.Errorf("tables in a new namespace: %v, %v", tables, err)
	}

	if err := ns.Delete(); err != nil {
		t.Fatal(err)
	}
	if exists(ns.Name()) {
		t.Errorf("%s still exists after Delete", ns.Name())
	}
	if err := ns.Delete(); err != nil {
		t.Errorf("a second Delete: %v", err)
	}
}

// waitHolds polls Holds for a while: until "ip netns exec" has joined the
// namespace, the process is ip in the caller's namespace.
func waitHolds(ns *NS, pid int) (bool, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		in, err := ns.Holds(pid)
		if err != nil || in || time.Now().After(deadline) {
			return in, err
		}
		time.Sleep(time.Millisecond)
	}
}

func TestDeleteAll(t *testing.T) {
	needRoot(t)
	r := NewRegistry("seawall-bench-test")
	a, err := r.Create("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Create("b")
	if err != nil {
		r.DeleteAll()
		t.Fatal(err)
	}
	if err := r.DeleteAll(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*NS{a, b} {
		if exists(n.Name()) {
			t.Errorf("%s still exists after DeleteAll", n.Name())
		}
	}
}

func TestRemoveStale(t *testing.T) {
	needRoot(t)
	// A namespace named as a run with a dead pid would have named it.
	dead := 1 << 22 // above the default pid_max
	for processAlive(dead) {
		dead++
	}
	stale := fmt.Sprintf("seawall-bench-test-f2b-%d-1", dead)
	other := fmt.Sprintf("seawall-bench-testx-f2b-%d-1", dead) // another prefix: not ours
	for _, name := range []string{stale, other} {
		if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add %s: %v: %s", name, err, out)
		}
	}
	t.Cleanup(func() {
		for _, name := range []string{stale, other} {
			if exists(name) {
				exec.Command("ip", "netns", "del", name).Run()
			}
		}
	})
	r := NewRegistry("seawall-bench-test")
	mine, err := r.Create("live")
	if err != nil {
		t.Fatal(err)
	}
	defer r.DeleteAll()

	gone, err := RemoveStale("seawall-bench-test")
	if err != nil {
		t.Fatal(err)
	}
	if len(gone) != 1 || gone[0] != stale {
		t.Errorf("removed %q, want only %q", gone, stale)
	}
	if exists(stale) {
		t.Errorf("%s still exists", stale)
	}
	if !exists(other) || !exists(mine.Name()) {
		t.Errorf("removed a namespace that is not stale")
	}
}

func TestCreateRefusesBadLabels(t *testing.T) {
	r := NewRegistry("seawall-bench-test")
	for _, label := range []string{"", "Sw", "a-b", "x y"} {
		if ns, err := r.Create(label); err == nil {
			ns.Delete()
			t.Errorf("label %q was accepted", label)
		}
	}
}
