package dockerlab

import (
	"archive/tar"
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/seawall/seawall/internal/netlab"
)

func TestParseDial(t *testing.T) {
	for _, tc := range []struct {
		out     string
		verdict netlab.Verdict
		banner  string
		err     bool
	}{
		{"open web:80\n", netlab.Open, "web:80", false},
		{"open web:80 203.0.113.10\n", netlab.Open, "web:80 203.0.113.10", false},
		{"open\n", netlab.Open, "", false},
		{"refused\n", netlab.Refused, "", false},
		{"dropped\n", netlab.Dropped, "", false},
		{"unreachable no route to host\n", netlab.Unreachable, "", true},
		{"error invalid -from address x\n", netlab.Failed, "", true},
		{"", netlab.Failed, "", true},
		{"what\n", netlab.Failed, "", true},
	} {
		v, b, err := parseDial(tc.out)
		if v != tc.verdict || b != tc.banner || (err != nil) != tc.err {
			t.Errorf("parseDial(%q) = %v, %q, %v; want %v, %q, error %v", tc.out, v, b, err, tc.verdict, tc.banner, tc.err)
		}
	}
}

func TestDockerdArgs(t *testing.T) {
	d := &Docker{dir: "/tmp/dockerlab1_ab", sock: "/tmp/dockerlab1_ab/docker.sock", cgroupParent: "/dockerlab1_ab"}
	args := d.dockerdArgs(Options{})
	joined := strings.Join(args, " ")
	for _, want := range []string{
		"--config-file /tmp/dockerlab1_ab/daemon.json",
		"--data-root /tmp/dockerlab1_ab/data",
		"--exec-root /run/docker",
		"--host unix:///tmp/dockerlab1_ab/docker.sock",
		"--cgroup-parent /dockerlab1_ab",
		"--bip " + DefaultBridge,
		"--default-address-pool base=" + DefaultAddressPool + ",size=24",
		"--ipv6 --fixed-cidr-v6 " + DefaultFixedCIDRv6,
		"--userland-proxy=true",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("dockerd args lack %q: %s", want, joined)
		}
	}
	if slices.Contains(args, "--ip6tables") || slices.Contains(args, "--storage-driver") {
		t.Errorf("unexpected options: %s", joined)
	}
	joined = strings.Join(d.dockerdArgs(Options{IP6Tables: true, NoUserlandProxy: true, StorageDriver: "vfs", ExtraArgs: []string{"--mtu", "1400"}}), " ")
	for _, want := range []string{"--experimental --ip6tables", "--userland-proxy=false", "--storage-driver vfs", "--mtu 1400"} {
		if !strings.Contains(joined, want) {
			t.Errorf("dockerd args lack %q: %s", want, joined)
		}
	}
	joined = strings.Join(d.dockerdArgs(Options{NoIPv6: true, IP6Tables: true}), " ")
	if strings.Contains(joined, "--ipv6") {
		t.Errorf("NoIPv6 still enables IPv6: %s", joined)
	}
}

func TestBuildContext(t *testing.T) {
	data, err := buildContext([]byte("binary"))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(data))
	files := map[string]string{}
	modes := map[string]int64{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name], modes[h.Name] = string(b), h.Mode
	}
	if files["server"] != "binary" || modes["server"] != 0o755 {
		t.Errorf("server in build context: %q mode %o", files["server"], modes["server"])
	}
	if !strings.HasPrefix(files["Dockerfile"], "FROM scratch\n") {
		t.Errorf("Dockerfile: %q", files["Dockerfile"])
	}
}
