package docker

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/seawall/seawall/internal/dockerlab"
	"github.com/seawall/seawall/internal/inventory"
	"github.com/seawall/seawall/internal/netlab"
)

// waitEvent returns the first change holding an event that match accepts,
// skipping others, and the time the callback got it.
func (w *watcher) waitEvent(what string, timeout time.Duration, match func(Event) bool) (Event, time.Time) {
	w.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case c := <-w.changes:
			w.t.Logf("change: %s", c.Reason)
			for _, e := range c.Events {
				if match(e) {
					return e, c.at
				}
			}
		case <-deadline:
			w.t.Fatalf("no change with %s within %v", what, timeout)
		}
	}
}

func is(typ, action, name string) func(Event) bool {
	return func(e Event) bool { return e.Type == typ && e.Action == action && e.Name == name }
}

// TestLab runs Facts and Watch against a real dockerd 20.10, confined to a
// netlab namespace by dockerlab (never the machine's own daemon). It skips
// where dockerlab cannot run.
func TestLab(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a confined dockerd")
	}
	netlab.RequireRoot(t)
	if err := dockerlab.Available(); err != nil {
		t.Skipf("skipping confined dockerd test: %v", err)
	}
	lab := netlab.Standard(t)
	d, err := dockerlab.Start(t, lab, dockerlab.Options{})
	if err != nil {
		t.Skipf("the confined dockerd cannot start here: %v", err)
	}
	ctx := context.Background()
	s := newTestSource(t, d.Host())
	w := startWatch(t, s)
	w.connected()

	if _, err := d.CLI(ctx, "network", "create", "--ipv6", "--subnet", "172.30.100.0/24", "--subnet", "fd00:beef::/64", "app"); err != nil {
		t.Fatal(err)
	}
	w.waitEvent("network create app", 10*time.Second, is("network", "create", "app"))

	err = d.RunServer("web", []string{
		"--network", "app", "-p", "8080:80", "-p", "127.0.0.1:8053:53/udp",
		"--label", "com.docker.compose.project=shop", "--label", "com.docker.compose.service=web",
	}, "-tcp", ":80", "-udp", ":53")
	if err != nil {
		t.Fatal(err)
	}
	e, at := w.waitEvent("container start web", 30*time.Second, is("container", "start", "web"))
	t.Logf("container start: daemon event -> read %v, -> callback %v", e.Received.Sub(e.Time), at.Sub(e.Time))

	if _, err := d.CLI(ctx, "network", "connect", "bridge", "web"); err != nil {
		t.Fatal(err)
	}
	e, _ = w.waitEvent("network connect bridge web", 10*time.Second, is("network", "connect", "bridge"))
	if e.Container != "web" {
		t.Errorf("network connect names container %q, want web", e.Container)
	}

	start := time.Now()
	f, err := s.Facts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Facts took %v", time.Since(start))
	if len(f.Containers) != 1 {
		t.Fatalf("containers %+v, want web alone", f.Containers)
	}
	c := f.Containers[0]
	if c.Name != "web" || c.Image != dockerlab.TestImage || c.Project != "shop" || c.Service != "web" {
		t.Errorf("container %+v", c)
	}
	nets := map[string]*inventory.Network{}
	for _, n := range f.Networks {
		nets[n.Name] = n
	}
	app, bridge := nets["app"], nets["bridge"]
	if app == nil || bridge == nil {
		t.Fatalf("networks %v lack app or bridge", f.Networks)
	}
	t.Logf("app: %+v; bridge: %+v", *app, *bridge)
	if app.Bridge != "br-"+app.ID[:12] || bridge.Bridge != "docker0" {
		t.Errorf("bridges %q and %q", app.Bridge, bridge.Bridge)
	}
	if !slices.Equal(app.Subnets, []netip.Prefix{netip.MustParsePrefix("172.30.100.0/24"), netip.MustParsePrefix("fd00:beef::/64")}) {
		t.Errorf("app subnets %v", app.Subnets)
	}
	if !slices.Contains(app.Gateways, netip.MustParseAddr("172.30.100.1")) {
		t.Errorf("app gateways %v", app.Gateways)
	}
	if len(bridge.Subnets) == 0 || len(bridge.Gateways) == 0 || !bridge.Subnets[0].Contains(bridge.Gateways[0]) {
		t.Errorf("bridge subnets %v, gateways %v", bridge.Subnets, bridge.Gateways)
	}
	if len(c.Endpoints) != 2 {
		t.Fatalf("endpoints %+v, want app and bridge", c.Endpoints)
	}
	for _, ep := range c.Endpoints {
		n := nets[ep.Network]
		if n == nil || !n.Subnets[0].Contains(ep.IPv4) || ep.MAC == "" {
			t.Errorf("endpoint %+v", ep)
		}
		if ep.Network == "app" && !app.Subnets[1].Contains(ep.IPv6) {
			t.Errorf("endpoint %+v has no address in %v", ep, app.Subnets[1])
		}
	}
	t.Logf("ports %+v", c.Ports)
	want := inventory.PublishedPort{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 8053, ContainerPort: 53, Proto: "udp"}
	if !slices.Contains(c.Ports, want) {
		t.Errorf("ports %+v lack %+v", c.Ports, want)
	}
	want = inventory.PublishedPort{HostIP: netip.IPv4Unspecified(), HostPort: 8080, ContainerPort: 80, Proto: "tcp"}
	if !slices.Contains(c.Ports, want) {
		t.Errorf("ports %+v lack %+v", c.Ports, want)
	}

	if _, err := d.CLI(ctx, "rename", "web", "web2"); err != nil {
		t.Fatal(err)
	}
	e, _ = w.waitEvent("container rename", 10*time.Second, is("container", "rename", "web2"))
	if e.OldName != "web" {
		t.Errorf("rename from %q, want web", e.OldName)
	}
	if err := d.Remove("web2"); err != nil {
		t.Fatal(err)
	}
	w.waitEvent("container destroy web2", 30*time.Second, is("container", "destroy", "web2"))
	if _, err := d.CLI(ctx, "network", "rm", "app"); err != nil {
		t.Fatal(err)
	}
	w.waitEvent("network destroy app", 10*time.Second, is("network", "destroy", "app"))
	f, err = s.Facts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Containers) != 0 || slices.ContainsFunc(f.Networks, func(n *inventory.Network) bool { return n.Name == "app" }) {
		t.Errorf("after removal: containers %+v, networks %+v", f.Containers, f.Networks)
	}
}
