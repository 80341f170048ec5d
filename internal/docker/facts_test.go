package docker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/google/go-cmp/cmp"

	"github.com/seawall/seawall/internal/inventory"
)

// Network and container IDs of the canned daemon.
const (
	idBridge   = "6b3aa17a267e6abc290d2a1f9b1ce772cd4e70d04e6377cb709d372a67b3c50f"
	idHost     = "93bbe47cb0e6e0cd3e2b5f6e0f2b2c5a1a0c0d0e0f101112131415161718191a"
	idNone     = "7e9abcb3aa480b1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192"
	idFront    = "f1e2d3c4b5a6978877665544332211ffeeddccbbaa99887766554433221100ff"
	idBack     = "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
	idWeb      = "aaaa000000000000000000000000000000000000000000000000000000000001"
	idDB       = "aaaa000000000000000000000000000000000000000000000000000000000002"
	idHostNet  = "aaaa000000000000000000000000000000000000000000000000000000000003"
	idLegacy   = "aaaa000000000000000000000000000000000000000000000000000000000004"
	idStopped  = "aaaa000000000000000000000000000000000000000000000000000000000005"
	idVanished = "aaaa000000000000000000000000000000000000000000000000000000000006"
)

// networksJSON is /networks as dockerd 20.10 answers it (trimmed): the
// default bridge with no gateway in its IPAM config, a user-defined
// dual-stack bridge without a bridge name option, an internal one with a
// name option and an invalid subnet, host and none.
const networksJSON = `[
 {"Name":"bridge","Id":"` + idBridge + `","Created":"2026-11-21T14:23:17.983156667Z","Scope":"local","Driver":"bridge","EnableIPv6":false,
  "IPAM":{"Driver":"default","Options":null,"Config":[{"Subnet":"172.17.0.0/16"}]},"Internal":false,"Attachable":false,"Ingress":false,
  "ConfigFrom":{"Network":""},"ConfigOnly":false,"Containers":{},
  "Options":{"com.docker.network.bridge.default_bridge":"true","com.docker.network.bridge.enable_icc":"true","com.docker.network.bridge.name":"docker0","com.docker.network.driver.mtu":"1500"},"Labels":{}},
 {"Name":"shop_frontend","Id":"` + idFront + `","Scope":"local","Driver":"bridge","EnableIPv6":true,
  "IPAM":{"Driver":"default","Options":null,"Config":[{"Subnet":"172.20.0.0/16","Gateway":"172.20.0.1"},{"Subnet":"fd00:db8:1::/64","Gateway":"fd00:db8:1::1"}]},
  "Internal":false,"Containers":{},"Options":{},"Labels":{"com.docker.compose.network":"frontend","com.docker.compose.project":"shop"}},
 {"Name":"shop_backend","Id":"` + idBack + `","Scope":"local","Driver":"bridge","EnableIPv6":false,
  "IPAM":{"Driver":"default","Options":null,"Config":[{"Subnet":"172.21.0.0/16","Gateway":"172.21.0.1"},{"Subnet":"not-a-subnet"}]},
  "Internal":true,"Containers":{},"Options":{"com.docker.network.bridge.name":"br-shopback"},"Labels":{}},
 {"Name":"host","Id":"` + idHost + `","Scope":"local","Driver":"host","EnableIPv6":false,
  "IPAM":{"Driver":"default","Options":null,"Config":[]},"Internal":false,"Containers":{},"Options":{},"Labels":{}},
 {"Name":"none","Id":"` + idNone + `","Scope":"local","Driver":"null","EnableIPv6":false,
  "IPAM":{"Driver":"default","Options":null,"Config":[]},"Internal":false,"Containers":{},"Options":{},"Labels":{}}
]`

// inspectJSON is /containers/{id}/json as dockerd 20.10 answers it,
// trimmed to what matters, with the given parts filled in.
func inspectJSON(id, name, image string, running bool, netMode, labels, ports, networks string) string {
	return fmt.Sprintf(`{
 "Id":%q,"Created":"2026-11-21T14:30:00.000000000Z","Path":"/docker-entrypoint.sh","Args":[],
 "State":{"Status":"running","Running":%t,"Paused":false,"Restarting":false,"OOMKilled":false,"Dead":false,"Pid":4242,"ExitCode":0,"Error":"","StartedAt":"2026-11-21T14:30:01Z","FinishedAt":"0001-01-01T00:00:00Z"},
 "Image":"sha256:89da1fb6dcb964dd35c3f41b7b93ffc35eaf20bc61f2e1335fea710a18424287",
 "Name":"/%s","RestartCount":0,"Driver":"overlay2","Platform":"linux",
 "HostConfig":{"NetworkMode":%q,"PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0}},
 "Config":{"Hostname":"%.12s","Image":%q,"Labels":%s},
 "NetworkSettings":{"Bridge":"","SandboxID":"5d1f","HairpinMode":false,"LinkLocalIPv6Address":"","LinkLocalIPv6PrefixLen":0,
  "Ports":%s,"SandboxKey":"/var/run/docker/netns/5d1f","SecondaryIPAddresses":null,"SecondaryIPv6Addresses":null,
  "EndpointID":"","Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","MacAddress":"",
  "Networks":%s}
}`, id, running, name, netMode, id, image, labels, ports, networks)
}

func endpointJSON(netID, gw, ip, gw6, ip6, mac string) string {
	return fmt.Sprintf(`{"IPAMConfig":null,"Links":null,"Aliases":["x"],"NetworkID":%q,"EndpointID":"e1","Gateway":%q,"IPAddress":%q,"IPPrefixLen":16,"IPv6Gateway":%q,"GlobalIPv6Address":%q,"GlobalIPv6PrefixLen":64,"MacAddress":%q,"DriverOpts":null}`,
		netID, gw, ip, gw6, ip6, mac)
}

// cannedDaemon fills the fake with the containers and networks TestFacts
// expects.
func cannedDaemon(f *fakeEngine) {
	f.setNetworks(networksJSON)
	f.addContainer(inspectJSON(idWeb, "shop-web-1", "nginx:1.25", true, "shop_frontend",
		`{"com.docker.compose.project":"shop","com.docker.compose.service":"web","com.docker.compose.container-number":"1"}`,
		`{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"},{"HostIp":"::","HostPort":"8080"}],
		  "443/tcp":null,
		  "53/udp":[{"HostIp":"127.0.0.1","HostPort":"5353"}],
		  "9000/tcp":[{"HostIp":"","HostPort":"9000"}],
		  "132/sctp":[{"HostIp":"0.0.0.0","HostPort":"132"}]}`,
		`{"shop_frontend":`+endpointJSON(idFront, "172.20.0.1", "172.20.0.2", "fd00:db8:1::1", "fd00:db8:1::2", "02:42:ac:14:00:02")+
			`,"shop_backend":`+endpointJSON(idBack, "172.21.0.1", "172.21.0.2", "", "", "02:42:ac:15:00:02")+`}`))
	f.addContainer(inspectJSON(idDB, "shop-db-1", "postgres:16", true, "shop_backend",
		`{"com.docker.compose.project":"shop","com.docker.compose.service":"db"}`,
		`{"5432/tcp":null}`,
		`{"shop_backend":`+endpointJSON(idBack, "172.21.0.1", "172.21.0.3", "", "", "02:42:ac:15:00:03")+`}`))
	f.addContainer(inspectJSON(idHostNet, "node-exporter", "prom/node-exporter", true, "host",
		`{}`, `{}`,
		`{"host":`+endpointJSON(idHost, "", "", "", "", "")+`}`))
	f.addContainer(inspectJSON(idLegacy, "legacy", "busybox", true, "default",
		`null`,
		`{"8081/tcp":[{"HostIp":"192.0.2.10","HostPort":"81"}]}`,
		`{"bridge":`+endpointJSON(idBridge, "172.17.0.1", "172.17.0.2", "", "", "02:42:ac:11:00:02")+`}`))
	// Stopped between list and inspect: left out.
	f.addContainer(inspectJSON(idStopped, "stopped", "busybox", false, "default", `{}`, `{}`, `{}`))
	// Removed between list and inspect (404): left out.
	f.addContainer(inspectJSON(idVanished, "vanished", "busybox", true, "default", `{}`, `{}`, `{}`))
	f.mu.Lock()
	delete(f.inspect, idVanished)
	f.mu.Unlock()
}

var cmpAddrs = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

func TestFacts(t *testing.T) {
	f := newFakeEngine(t)
	cannedDaemon(f)
	s := newTestSource(t, f.host())

	got, err := s.Facts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr
	p := netip.MustParsePrefix
	want := &inventory.Facts{
		Engine: &inventory.Engine{Version: "20.10.24+dfsg1", Firewall: "iptables"},
		Containers: []*inventory.Container{
			{
				ID: idLegacy, Name: "legacy", Image: "busybox",
				Endpoints: []inventory.Endpoint{{Network: "bridge", IPv4: a("172.17.0.2"), MAC: "02:42:ac:11:00:02"}},
				Ports:     []inventory.PublishedPort{{HostIP: a("192.0.2.10"), HostPort: 81, ContainerPort: 8081, Proto: "tcp"}},
			},
			{ID: idHostNet, Name: "node-exporter", Image: "prom/node-exporter"},
			{
				ID: idDB, Name: "shop-db-1", Image: "postgres:16", Project: "shop", Service: "db",
				Labels:    map[string]string{"com.docker.compose.project": "shop", "com.docker.compose.service": "db"},
				Endpoints: []inventory.Endpoint{{Network: "shop_backend", IPv4: a("172.21.0.3"), MAC: "02:42:ac:15:00:03"}},
			},
			{
				ID: idWeb, Name: "shop-web-1", Image: "nginx:1.25", Project: "shop", Service: "web",
				Labels: map[string]string{"com.docker.compose.project": "shop", "com.docker.compose.service": "web", "com.docker.compose.container-number": "1"},
				Endpoints: []inventory.Endpoint{
					{Network: "shop_backend", IPv4: a("172.21.0.2"), MAC: "02:42:ac:15:00:02"},
					{Network: "shop_frontend", IPv4: a("172.20.0.2"), IPv6: a("fd00:db8:1::2"), MAC: "02:42:ac:14:00:02"},
				},
				Ports: []inventory.PublishedPort{
					{HostIP: a("127.0.0.1"), HostPort: 5353, ContainerPort: 53, Proto: "udp"},
					{HostIP: a("0.0.0.0"), HostPort: 8080, ContainerPort: 80, Proto: "tcp"},
					{HostIP: a("::"), HostPort: 8080, ContainerPort: 80, Proto: "tcp"},
					{HostIP: a("0.0.0.0"), HostPort: 9000, ContainerPort: 9000, Proto: "tcp"},
					{HostIP: a("::"), HostPort: 9000, ContainerPort: 9000, Proto: "tcp"},
				},
			},
		},
		Networks: []*inventory.Network{
			// The default bridge's gateway comes from its endpoints.
			{ID: idBridge, Name: "bridge", Driver: "bridge", Bridge: "docker0", Subnets: []netip.Prefix{p("172.17.0.0/16")}, Gateways: []netip.Addr{a("172.17.0.1")}},
			{ID: idHost, Name: "host", Driver: "host"},
			{ID: idNone, Name: "none", Driver: "null"},
			{ID: idBack, Name: "shop_backend", Driver: "bridge", Bridge: "br-shopback", Subnets: []netip.Prefix{p("172.21.0.0/16")}, Gateways: []netip.Addr{a("172.21.0.1")}, Internal: true},
			{ID: idFront, Name: "shop_frontend", Driver: "bridge", Bridge: "br-" + idFront[:12],
				Subnets:  []netip.Prefix{p("172.20.0.0/16"), p("fd00:db8:1::/64")},
				Gateways: []netip.Addr{a("172.20.0.1"), a("fd00:db8:1::1")}},
		},
	}
	if d := cmp.Diff(want, got, cmpAddrs); d != "" {
		t.Errorf("Facts (-want +got):\n%s", d)
	}
	// Version negotiation: every versioned request used the daemon's 1.41.
	f.versions.Range(func(k, _ any) bool {
		if k != "1.41" {
			t.Errorf("request with API version %v, want 1.41 only", k)
		}
		return true
	})
	if n := f.hitCount("/containers/json"); n != 1 {
		t.Errorf("%d container list calls, want 1", n)
	}
	if n := f.hitCount("/networks"); n != 1 {
		t.Errorf("%d network list calls, want 1", n)
	}
}

// TestFactsEngine checks that Facts says which firewall backend Docker
// uses: Docker 29 may run its nftables one, where seawall's accepts are
// not final.
func TestFactsEngine(t *testing.T) {
	for _, tc := range []struct{ info, version, firewall string }{
		{"", "20.10.24+dfsg1", "iptables"},
		{`{"ServerVersion":"29.0.1","FirewallBackend":{"Driver":"nftables"}}`, "29.0.1", "nftables"},
		{`{"ServerVersion":"28.3.0","FirewallBackend":{"Driver":"iptables+firewalld"}}`, "28.3.0", "iptables+firewalld"},
	} {
		f := newFakeEngine(t)
		f.info = tc.info
		s := newTestSource(t, f.host())
		got, err := s.Facts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got.Engine == nil || got.Engine.Version != tc.version || got.Engine.Firewall != tc.firewall {
			t.Errorf("info %s: engine %+v, want version %s, firewall %s", tc.info, got.Engine, tc.version, tc.firewall)
		}
	}
}

func TestFactsEmpty(t *testing.T) {
	f := newFakeEngine(t)
	s := newTestSource(t, f.host())
	got, err := s.Facts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Containers) != 0 || len(got.Networks) != 0 {
		t.Errorf("Facts of an empty daemon = %+v", got)
	}
}

func TestFactsInspectFails(t *testing.T) {
	f := newFakeEngine(t)
	cannedDaemon(f)
	f.mu.Lock()
	f.inspect[idDB] = "error"
	f.mu.Unlock()
	s := newTestSource(t, f.host())
	_, err := s.Facts(context.Background())
	if err == nil {
		t.Fatal("Facts succeeded although an inspection failed")
	}
	for _, want := range []string{"inspect container " + idDB[:12], "deadline exceeded", f.host()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	var ue *UnavailableError
	if errors.As(err, &ue) {
		t.Errorf("a failed inspection is not an UnavailableError: %v", err)
	}
}

func TestFactsUnavailable(t *testing.T) {
	dir := t.TempDir()

	// No socket at all.
	missing := filepath.Join(dir, "missing.sock")
	_, err := newTestSource(t, "unix://"+missing).Facts(context.Background())
	checkUnavailable(t, err, missing, "socket does not exist")

	// A bare path is accepted as a unix socket.
	_, err = newTestSource(t, missing).Facts(context.Background())
	checkUnavailable(t, err, missing, "socket does not exist")

	// A socket nobody listens on.
	dead := filepath.Join(dir, "dead.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: dead, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	_, err = newTestSource(t, "unix://"+dead).Facts(context.Background())
	checkUnavailable(t, err, dead, "connection refused")
}

func checkUnavailable(t *testing.T, err error, sock, detail string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Facts on %s succeeded", sock)
	}
	t.Logf("error: %v", err)
	var ue *UnavailableError
	if !errors.As(err, &ue) {
		t.Errorf("error %v is not an UnavailableError", err)
	}
	for _, want := range []string{"unix://" + sock, detail} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestFactsCanceled(t *testing.T) {
	f := newFakeEngine(t)
	cannedDaemon(f)
	s := newTestSource(t, f.host())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Facts(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Facts with a canceled context: %v, want context.Canceled", err)
	}
}

// addMany adds n running containers, each on the default bridge with a
// published port.
func addMany(f *fakeEngine, n int) {
	f.setNetworks(networksJSON)
	for i := range n {
		id := fmt.Sprintf("%064x", i+1)
		ip := fmt.Sprintf("172.17.%d.%d", i/250, i%250+2)
		f.addContainer(inspectJSON(id, fmt.Sprintf("c%03d", i), "nginx:1.25", true, "default",
			`{"com.docker.compose.project":"many","com.docker.compose.service":"svc"}`,
			fmt.Sprintf(`{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"%d"}]}`, 10000+i),
			`{"bridge":`+endpointJSON(idBridge, "172.17.0.1", ip, "", "", "02:42:ac:11:00:02")+`}`))
	}
}

// TestFacts200 checks that 200 containers take under a second (about 60 ms
// without the race detector), with a simulated 1 ms per inspection, that
// the pool bounds concurrency, and that connections are reused.
func TestFacts200(t *testing.T) {
	f := newFakeEngine(t)
	addMany(f, 200)
	f.inspectDelay = time.Millisecond
	s := newTestSource(t, f.host())
	start := time.Now()
	got, err := s.Facts(context.Background())
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Containers) != 200 {
		t.Fatalf("%d containers, want 200", len(got.Containers))
	}
	t.Logf("Facts of 200 containers (1 ms per inspect): %v, %d connections, max %d inspections in flight",
		elapsed, f.conns.Load(), f.maxInFlight.Load())
	if elapsed > time.Second {
		t.Errorf("Facts of 200 containers took %v", elapsed)
	}
	if m := f.maxInFlight.Load(); m > inspectWorkers || m < 2 {
		t.Errorf("max %d inspections in flight, want 2..%d", m, inspectWorkers)
	}
	if c := f.conns.Load(); c > inspectWorkers+4 {
		t.Errorf("%d connections for one Facts, want them reused", c)
	}
}

func BenchmarkFacts200(b *testing.B) {
	for _, delay := range []time.Duration{0, time.Millisecond} {
		b.Run(fmt.Sprintf("inspect=%v", delay), func(b *testing.B) {
			f := newFakeEngine(b)
			addMany(f, 200)
			f.inspectDelay = delay
			s, err := New(f.host(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.Facts(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestBridgeName(t *testing.T) {
	for _, tc := range []struct {
		name, id string
		opts     map[string]string
		want     string
	}{
		{"bridge", idBridge, nil, "docker0"},
		{"bridge", idBridge, map[string]string{optBridgeName: "sw0"}, "sw0"},
		{"renamed-default", idBridge, map[string]string{optDefault: "true"}, "docker0"},
		{"app", idFront, map[string]string{}, "br-f1e2d3c4b5a6"},
		{"app", idFront, map[string]string{optBridgeName: "app0"}, "app0"},
	} {
		n := &network.Summary{Name: tc.name, ID: tc.id, Driver: "bridge", Options: tc.opts}
		if got := bridgeName(n); got != tc.want {
			t.Errorf("bridgeName(%s, %v) = %q, want %q", tc.name, tc.opts, got, tc.want)
		}
	}
}
