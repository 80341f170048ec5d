package netlab

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// Short names of the namespaces of the standard topology, and of the
// extra address keys that Addr understands.
const (
	Host     = "host"     // the host under test (namespace)
	Honeypot = "honeypot" // the container behind dock0 (namespace)
	Router   = "router"   // the router (namespace); as an Addr key, its host-net address
	LAN1     = "lan1"     // first lan host (namespace)
	LAN2     = "lan2"     // second lan host (namespace)
	Net1     = "net1"     // first internet host (namespace)
	Net2     = "net2"     // second internet host (namespace)
	Net3     = "net3"     // third internet host (namespace)

	Blog      = "blog"       // Addr key: net1's second address
	HostDock  = "host-dock"  // Addr key: the host's address on dock0
	RouterLAN = "router-lan" // Addr key: the router's address on the lan net
	RouterNet = "router-net" // Addr key: the router's address on the internet net
)

// Networks of the standard topology.
const (
	HostNetV4  = "192.0.2.0/24"    // between host and router
	HostNetV6  = "2001:db8::/64"   // between host and router
	LANV4      = "10.137.0.0/24"   // lan net behind the router
	LANV6      = "2001:db8:1::/64" // lan net behind the router
	InternetV4 = "203.0.113.0/24"  // internet net behind the router
	InternetV6 = "2001:db8:2::/64" // internet net behind the router
	DockerV4   = "172.31.0.0/24"   // dock0 net behind the host
	DockerV6   = "fd00:31::/64"    // dock0 net behind the host
)

// Addresses of the standard topology.
const (
	RouterV4    = "192.0.2.1"
	RouterV6    = "2001:db8::1"
	HostV4      = "192.0.2.2"
	HostV6      = "2001:db8::2"
	HostDockV4  = "172.31.0.1"
	HostDockV6  = "fd00:31::1"
	HoneypotV4  = "172.31.0.4"
	HoneypotV6  = "fd00:31::4"
	RouterLANV4 = "10.137.0.1"
	RouterLANV6 = "2001:db8:1::1"
	LAN1V4      = "10.137.0.10"
	LAN1V6      = "2001:db8:1::10"
	LAN2V4      = "10.137.0.11"
	LAN2V6      = "2001:db8:1::11"
	RouterNetV4 = "203.0.113.1"
	RouterNetV6 = "2001:db8:2::1"
	Net1V4      = "203.0.113.10"
	Net1V6      = "2001:db8:2::10"
	BlogV4      = "203.0.113.7"
	BlogV6      = "2001:db8:2::7"
	Net2V4      = "203.0.113.11"
	Net2V6      = "2001:db8:2::11"
	Net3V4      = "203.0.113.12"
	Net3V6      = "2001:db8:2::12"
)

// planEntry is one named address pair of the standard topology.
type planEntry struct {
	key    string
	v4, v6 string
}

// plan lists the standard topology's addresses; the first entry for a
// namespace is its primary address.
func plan() []planEntry {
	return []planEntry{
		{Host, HostV4, HostV6},
		{HostDock, HostDockV4, HostDockV6},
		{Honeypot, HoneypotV4, HoneypotV6},
		{Router, RouterV4, RouterV6},
		{RouterLAN, RouterLANV4, RouterLANV6},
		{RouterNet, RouterNetV4, RouterNetV6},
		{LAN1, LAN1V4, LAN1V6},
		{LAN2, LAN2V4, LAN2V6},
		{Net1, Net1V4, Net1V6},
		{Blog, BlogV4, BlogV6},
		{Net2, Net2V4, Net2V6},
		{Net3, Net3V4, Net3V6},
	}
}

// StandardNodes returns the short names of the namespaces of the standard
// topology.
func StandardNodes() []string {
	return []string{Router, Host, Honeypot, LAN1, LAN2, Net1, Net2, Net3}
}

// Addr returns the standard-topology address of key (a namespace name
// such as LAN1, or one of Blog, HostDock, RouterLAN, RouterNet) for IP
// version ipv (4 or 6). It panics on an unknown key or version, which is
// a bug in the caller.
func Addr(key string, ipv int) netip.Addr {
	for _, e := range plan() {
		if e.key != key {
			continue
		}
		switch ipv {
		case 4:
			return netip.MustParseAddr(e.v4)
		case 6:
			return netip.MustParseAddr(e.v6)
		}
		panic(fmt.Sprintf("netlab: invalid IP version %d", ipv))
	}
	panic(fmt.Sprintf("netlab: no address for %q in the standard plan", key))
}

// AddrPort returns Addr(key, ipv) with port.
func AddrPort(key string, ipv int, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(Addr(key, ipv), port)
}

// NameOf returns the Addr key of a standard-topology address, or "" if
// addr is not part of the plan.
func NameOf(addr netip.Addr) string {
	addr = addr.Unmap()
	for _, e := range plan() {
		if addr == netip.MustParseAddr(e.v4) || addr == netip.MustParseAddr(e.v6) {
			return e.key
		}
	}
	return ""
}

// Addr is the package function Addr, for convenience.
func (l *Lab) Addr(key string, ipv int) netip.Addr { return Addr(key, ipv) }

// Standard returns a lab with the standard topology (see the package
// documentation), closed when tb's test ends. It skips the test when
// netlab cannot run here and tb implements Skipper, and fails it if the
// topology cannot be built.
func Standard(tb TB) *Lab {
	tb.Helper()
	l := New(tb)
	if err := l.BuildStandard(); err != nil {
		tb.Fatalf("%v", err)
	}
	return l
}

// StartStandard starts a lab and builds the standard topology in it. The
// caller must call Close.
func StartStandard(opts Options) (*Lab, error) {
	l, err := Start(opts)
	if err != nil {
		return nil, err
	}
	if err := l.BuildStandard(); err != nil {
		return nil, errors.Join(err, l.Close())
	}
	return l, nil
}

// BuildStandard builds the standard topology in an empty lab.
func (l *Lab) BuildStandard() error {
	if err := parallel(StandardNodes(), l.AddNS); err != nil {
		return fmt.Errorf("could not build standard topology: %w", err)
	}
	links := [][4]string{
		{Router, "to-host", Host, "eth0"},
		{Host, "veth-hp", Honeypot, "eth0"},
		{Router, LAN1, LAN1, "eth0"},
		{Router, LAN2, LAN2, "eth0"},
		{Router, Net1, Net1, "eth0"},
		{Router, Net2, Net2, "eth0"},
		{Router, Net3, Net3, "eth0"},
	}
	if err := parallel(links, func(k [4]string) error { return l.Link(k[0], k[1], k[2], k[3]) }); err != nil {
		return fmt.Errorf("could not build standard topology: %w", err)
	}

	// Per namespace: ip batch commands.
	defaultRoutes := func(gw4, gw6 string) []string {
		return []string{
			"route add 0.0.0.0/0 via " + gw4,
			"route add ::/0 via " + gw6,
		}
	}
	addr := func(ifname, a, plen string) string {
		s := "addr add " + a + "/" + plen + " dev " + ifname
		if netip.MustParseAddr(a).Is6() {
			s += " nodad"
		}
		return s
	}
	eth0 := func(v4, v6 string) []string { return []string{addr("eth0", v4, "24"), addr("eth0", v6, "64")} }
	batches := map[string][]string{
		Router: {
			"link add br-lan type bridge stp_state 0",
			"link set lan1 master br-lan", "link set lan2 master br-lan",
			"link add br-net type bridge stp_state 0",
			"link set net1 master br-net", "link set net2 master br-net", "link set net3 master br-net",
			"link set br-lan up", "link set br-net up",
			addr("to-host", RouterV4, "24"), addr("to-host", RouterV6, "64"),
			addr("br-lan", RouterLANV4, "24"), addr("br-lan", RouterLANV6, "64"),
			addr("br-net", RouterNetV4, "24"), addr("br-net", RouterNetV6, "64"),
			"route add " + DockerV4 + " via " + HostV4,
			"route add " + DockerV6 + " via " + HostV6,
		},
		Host: append([]string{
			"link add dock0 type bridge stp_state 0",
			"link set veth-hp master dock0",
			"link set dock0 up",
			addr("eth0", HostV4, "24"), addr("eth0", HostV6, "64"),
			addr("dock0", HostDockV4, "24"), addr("dock0", HostDockV6, "64"),
		}, defaultRoutes(RouterV4, RouterV6)...),
		Honeypot: append(eth0(HoneypotV4, HoneypotV6), defaultRoutes(HostDockV4, HostDockV6)...),
		LAN1:     append(eth0(LAN1V4, LAN1V6), defaultRoutes(RouterLANV4, RouterLANV6)...),
		LAN2:     append(eth0(LAN2V4, LAN2V6), defaultRoutes(RouterLANV4, RouterLANV6)...),
		// The blog's IPv6 address is deprecated (preferred_lft 0) so that
		// net1 never picks it as a source address on its own.
		Net1: append(append(eth0(Net1V4, Net1V6),
			addr("eth0", BlogV4, "24"), addr("eth0", BlogV6, "64")+" preferred_lft 0"),
			defaultRoutes(RouterNetV4, RouterNetV6)...),
		Net2: append(eth0(Net2V4, Net2V6), defaultRoutes(RouterNetV4, RouterNetV6)...),
		Net3: append(eth0(Net3V4, Net3V6), defaultRoutes(RouterNetV4, RouterNetV6)...),
	}
	err := parallel(StandardNodes(), func(ns string) error {
		switch ns {
		case Router:
			if err := l.setSysctls(ns, [][2]string{
				{"net/ipv4/ip_forward", "1"},
				{"net/ipv6/conf/all/forwarding", "1"},
				{"net/bridge/bridge-nf-call-iptables", "0"},
				{"net/bridge/bridge-nf-call-ip6tables", "0"},
				{"net/bridge/bridge-nf-call-arptables", "0"},
			}, ""); err != nil {
				return err
			}
		case Host:
			if err := l.EnableForwarding(ns); err != nil {
				return err
			}
		}
		return l.ipBatch(ns, batches[ns]...)
	})
	if err != nil {
		return fmt.Errorf("could not build standard topology: %w", err)
	}
	if err := parallel(StandardNodes(), func(ns string) error { return l.WaitUp(ns, 5*time.Second) }); err != nil {
		return fmt.Errorf("could not build standard topology: %w", err)
	}
	return nil
}

// parallel calls fn for every item concurrently and joins the errors.
func parallel[T any](items []T, fn func(T) error) error {
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Go(func() { errs[i] = fn(it) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
