// Package dockerlab runs a Docker daemon confined to one network namespace
// of a netlab lab (by default netlab.Host), for end-to-end tests of
// seawall against the rules a real dockerd writes.
//
// # Confinement
//
// Start (in tests) and Launch (elsewhere) start dockerd as PID 1 of a new
// PID namespace, in a new mount namespace, inside the lab namespace:
//
//   - Network: dockerd runs in the lab namespace, so docker0, its veths and
//     every iptables-nft rule it writes (tables ip nat, ip filter, and ip6
//     nat, ip6 filter with Options.IP6Tables) exist only there. The root
//     network namespace is never touched.
//   - Mounts: the mount namespace is a slave of the root one (mounts made
//     there never propagate back; unmounts in the root still propagate in,
//     so lab namespaces and other mounts are not pinned). /run is a fresh
//     tmpfs (exec root, containerd's state and sockets, shim sockets, the
//     pid file, the trust key), /sys a sysfs of the lab namespace (with the
//     cgroup hierarchies bound back in) and /proc belongs to the new PID
//     namespace. The machine's dockerd, containerd and their sockets are
//     invisible to the confined daemon, which starts its own containerd.
//   - Processes: when dockerd's init (docker-init) exits, or is killed,
//     the kernel kills every process of the PID namespace: containerd,
//     shims, docker-proxy, containers. The init also gets SIGKILL when the
//     thread that started it dies, so a crashed test leaves no daemon.
//   - Disk: everything persistent lives in one directory under
//     os.TempDir() (data root, daemon socket, log, CLI config).
//   - Cgroups: containers go under the cgroup parent /dockerlab<pid>_<hex>
//     of each v1 hierarchy, which Close removes.
//
// Close removes the containers and networks through the API, stops
// dockerd, waits for the PID namespace to empty, removes the cgroups and
// the directory (images go with the data root), and deletes from the lab
// namespace the links and nftables tables dockerd left there that did not
// exist before Start. Start also removes directories and cgroups left by a
// dockerlab process that died.
//
// # Addresses
//
// docker0 is 172.30.0.1/24 (DefaultBridge) and fd00:dead::1/64
// (DefaultFixedCIDRv6); user-defined networks get /24s from
// 172.30.64.0/18 (DefaultAddressPool). None of these overlap the lab's
// plan (172.31.0.0/24 is the lab's dock0). The lab's router has no route
// to them: from outside the host, containers are reachable only through
// published ports, and their egress is masqueraded to the host address,
// as on a real Docker host.
//
// # Forwarding
//
// dockerd 20.10 sets the policy of the FORWARD chain of table ip filter
// to drop only when it has to turn IPv4 forwarding on itself, as on a
// freshly booted machine. The lab's host forwards already, so by default
// Launch turns forwarding off just before dockerd starts, and dockerd
// behaves as on a real Docker host: forwarding on, FORWARD policy drop.
// This also drops the lab's own routed traffic through the host that
// Docker's rules do not accept, such as the router-to-honeypot path via
// dock0. Options.KeepForwarding keeps the policy at accept. With
// Options.IP6Tables dockerd sets the FORWARD policy of table ip6 filter
// to drop in any case.
//
// # Pitfalls
//
// Anything that talks to this daemon (seawall's Docker source included)
// must be given Host or Env explicitly: without DOCKER_HOST it would reach
// the machine's own daemon at /var/run/docker.sock.
//
// Paths and pids that the daemon reports belong to its namespaces:
// .State.Pid is a pid in dockerd's PID namespace (use Docker.HostPID) and
// .NetworkSettings.SandboxKey is a file in its private /run, which no
// other process can open (use /proc/<HostPID>/ns/net).
//
// Options.IPTables gives dockerd iptables-nft or iptables-legacy whatever
// the machine's alternatives say: links to the variant's commands, first
// in dockerd's PATH. Legacy rules live in x_tables, which `nft list` does
// not show; Close flushes them (iptables-legacy -F/-X, FORWARD accept).
//
// With Options.IP6Tables, iptables-nft writes Docker's IPv6 DNAT and
// MASQUERADE rules as xtables-compat expressions, which nft prints as
// "XT target DNAT not found" (or not at all); the IPv4 ones are native
// nftables expressions.
//
// # Driving the daemon
//
// Docker.CLI runs the docker command line against the daemon (-H), with a
// private DOCKER_CONFIG. BuildImage builds TestImage: FROM scratch plus a
// static build of ./testserver, which serves banners (the format of
// netlab.Banner) and makes probes from inside a container (Docker.Dial).
// Run, RunServer, Inspect, Exec, ContainerIP and the Wait helpers cover
// the rest; every wait polls against a deadline.
package dockerlab
