// Package netlab owns the network-namespace lab used by seawall's
// end-to-end tests and by the demo program.
//
// A Lab is a set of Linux network namespaces, all named with one per-lab
// prefix ("swlab<pid>_<random>-", so parallel test processes never
// collide), joined by veth pairs and bridges that live only inside those
// namespaces. netlab never changes the firewall, routes, addresses, links
// or sysctls of the namespace the process runs in: veth pairs are created
// inside a lab namespace with their peer placed directly in another lab
// namespace, every ip command targets a lab namespace ("ip -n"), and every
// sysctl is written by a process running inside a lab namespace.
// Lab.Close deletes every namespace of the lab; Start also deletes
// namespaces left behind by an earlier netlab process that has died.
//
// Beyond topology, the package owns in-namespace sockets (Lab.InNS), echo
// servers that identify who answered (Lab.ServeTCP, Lab.ServeUDP, Banner),
// probes that classify what came back (Lab.DialTCP, Lab.DialUDP, Lab.Ping,
// Verdict) and a concurrent probe table (Probe, Lab.Run, Lab.Check,
// FormatTable).
//
// Tests use Standard(t) (or New(t) plus the primitives Lab.AddNS,
// Lab.Link, Lab.Bridge, Lab.AddAddr, Lab.Route for other topologies); the
// lab is closed by t.Cleanup and the test is skipped when not run as root.
// Other programs (the demo) use StartStandard or Start and call Lab.Close.
//
// # Address plan of the standard topology
//
// Standard and StartStandard build this topology. Short namespace names are
// the constants Host, Honeypot, Router, LAN1, LAN2, Net1, Net2 and Net3;
// Lab.NS turns them into full namespace names. Addr returns every address
// below as a netip.Addr (for example Addr(LAN1, 6)).
//
//	namespace  interface         IPv4             IPv6               Addr key
//	host       eth0              192.0.2.2/24     2001:db8::2/64     host
//	host       dock0 (bridge)    172.31.0.1/24    fd00:31::1/64      host-dock
//	honeypot   eth0 (on dock0)   172.31.0.4/24    fd00:31::4/64      honeypot
//	router     to-host           192.0.2.1/24     2001:db8::1/64     router
//	router     br-lan (bridge)   10.137.0.1/24    2001:db8:1::1/64   router-lan
//	router     br-net (bridge)   203.0.113.1/24   2001:db8:2::1/64   router-net
//	lan1       eth0 (on br-lan)  10.137.0.10/24   2001:db8:1::10/64  lan1
//	lan2       eth0 (on br-lan)  10.137.0.11/24   2001:db8:1::11/64  lan2
//	net1       eth0 (on br-net)  203.0.113.10/24  2001:db8:2::10/64  net1
//	net1       eth0 (second)     203.0.113.7/24   2001:db8:2::7/64   blog
//	net2       eth0 (on br-net)  203.0.113.11/24  2001:db8:2::11/64  net2
//	net3       eth0 (on br-net)  203.0.113.12/24  2001:db8:2::12/64  net3
//
// The host is the machine under test (seawall runs there). Its default
// routes go via the router (192.0.2.1, 2001:db8::1) and IPv4 and IPv6
// forwarding are on. Its dock0 is a Linux bridge, like Docker's docker0,
// whose only port "veth-hp" leads to the honeypot, which plays a container
// and routes everything via the host (172.31.0.1, fd00:31::1).
//
// The router forwards between the host net (192.0.2.0/24, 2001:db8::/64),
// the lan net (10.137.0.0/24, 2001:db8:1::/64; bridge ports "lan1" and
// "lan2") and the internet net (203.0.113.0/24, 2001:db8:2::/64; bridge
// ports "net1", "net2", "net3"), and routes the docker net (172.31.0.0/24,
// fd00:31::/64) via the host. bridge-nf-call-* is off in the router, so its
// bridges behave like plain switches and its forward hook sees only routed
// traffic. (In the host, bridge-nf-call-* keeps the kernel default: on
// when br_netfilter is loaded, as on a Docker host.) lan and internet hosts route everything via the router address
// of their net. net1's second address is the "blog" server of the
// examples; its IPv6 form is deprecated (preferred_lft 0) so that net1
// uses it as a source only when asked to (Lab.DialTCPFrom).
//
// In every lab namespace lo is up, IPv6 duplicate address detection is off
// (addresses are usable at once) and ICMP error rate limiting is off, so
// that many probes in a row still see every port-unreachable.
package netlab
