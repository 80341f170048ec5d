package docker

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/go-connections/nat"

	"github.com/seawall/seawall/internal/inventory"
)

// Docker's well-known labels and options.
const (
	labelProject  = "com.docker.compose.project"
	labelService  = "com.docker.compose.service"
	optBridgeName = "com.docker.network.bridge.name"
	optDefault    = "com.docker.network.bridge.default_bridge"
)

// Facts lists the running containers and all networks and returns them as
// sorted inventory facts. It makes one list call for containers, one for
// networks, and inspects the containers concurrently (the list's image name
// is replaced by an image ID once the tag moves on, inspect keeps the name).
//
// A container that disappears between list and inspect is left out, as is
// one that is no longer running: the events of its going trigger Watch.
func (s *Source) Facts(ctx context.Context) (*inventory.Facts, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type netResult struct {
		nets []network.Summary
		err  error
	}
	netc := make(chan netResult, 1)
	go func() {
		nets, err := s.cli.NetworkList(ctx, network.ListOptions{})
		netc <- netResult{nets, err}
	}()

	type infoResult struct {
		info system.Info
		err  error
	}
	infoc := make(chan infoResult, 1)
	go func() {
		info, err := s.cli.Info(ctx)
		infoc <- infoResult{info, err}
	}()

	list, err := s.cli.ContainerList(ctx, container.ListOptions{})
	if err != nil {
		return nil, s.wrap("list containers", err)
	}
	infos, err := s.inspectAll(ctx, list)
	if err != nil {
		return nil, err
	}
	nr := <-netc
	if nr.err != nil {
		return nil, s.wrap("list networks", nr.err)
	}

	ir := <-infoc
	if ir.err != nil {
		return nil, s.wrap("read the engine's info", ir.err)
	}
	f := &inventory.Facts{Engine: engine(&ir.info)}
	names := make(map[string]string, len(infos))
	for _, info := range infos {
		c := s.container(info)
		names[c.ID] = c.Name
		f.Containers = append(f.Containers, c)
	}
	for i := range nr.nets {
		f.Networks = append(f.Networks, s.network(&nr.nets[i]))
	}
	fillGateways(f, infos)

	s.mu.Lock()
	maps.Copy(s.names, names)
	s.mu.Unlock()
	return f.Sorted(), nil
}

// engine describes the Docker daemon, from its /info.
func engine(info *system.Info) *inventory.Engine {
	e := &inventory.Engine{Version: info.ServerVersion, Firewall: "iptables"}
	if fw := info.FirewallBackend; fw != nil && fw.Driver != "" {
		e.Firewall = fw.Driver
	}
	return e
}

// FirewallCaveat says what seawall cannot do beside Docker's firewall
// backend, or "" when nothing. With Docker's iptables backend (iptables-nft
// or legacy) seawall's forward chain runs before Docker's FORWARD rules
// and both must accept, which is what the container policy needs: Docker
// accepts what it publishes, seawall narrows it. With Docker 29's nftables
// backend the same holds for what Docker accepts; what Docker's own table
// drops, an allow of seawall's cannot open.
func FirewallCaveat(e *inventory.Engine) string {
	if e == nil || !strings.Contains(e.Firewall, "nftables") {
		return ""
	}
	return fmt.Sprintf("Docker %s uses its nftables firewall backend: seawall's container rules still filter everything Docker lets through "+
		"(its drops are final), but an allow cannot open what Docker's own table drops (unpublished container ports, traffic between Docker networks): "+
		"that would need Docker's bridge-accept-fwmark, which seawall does not set", e.Version)
}

// inspectAll inspects the listed containers with a bounded pool of workers
// and returns the running ones in list order.
func (s *Source) inspectAll(ctx context.Context, list []container.Summary) ([]*container.InspectResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make([]*container.InspectResponse, len(list))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan int)
	)
	for range min(inspectWorkers, len(list)) {
		wg.Go(func() {
			for i := range next {
				info, err := s.cli.ContainerInspect(ctx, list[i].ID)
				switch {
				case err == nil:
					if info.ContainerJSONBase != nil && info.State != nil && info.State.Running {
						out[i] = &info
					}
				case cerrdefs.IsNotFound(err):
					s.log.Debug("container vanished during inspection", "id", list[i].ID)
				default:
					mu.Lock()
					if firstErr == nil {
						firstErr = s.wrap("inspect container "+shortID(list[i].ID), err)
						cancel()
					}
					mu.Unlock()
				}
			}
		})
	}
feed:
	for i := range list {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, s.wrap("inspect containers", err)
	}
	return slices.DeleteFunc(out, func(c *container.InspectResponse) bool { return c == nil }), nil
}

// container converts an inspection into a Container.
func (s *Source) container(info *container.InspectResponse) *inventory.Container {
	c := &inventory.Container{
		ID:   info.ID,
		Name: strings.TrimPrefix(info.Name, "/"),
	}
	if cfg := info.Config; cfg != nil {
		c.Image = cfg.Image
		if len(cfg.Labels) > 0 {
			c.Labels = maps.Clone(cfg.Labels)
			c.Project = cfg.Labels[labelProject]
			c.Service = cfg.Labels[labelService]
		}
	}
	ns := info.NetworkSettings
	if ns == nil {
		return c
	}
	mode := ""
	if info.HostConfig != nil {
		mode = string(info.HostConfig.NetworkMode)
	}
	if mode != "host" && mode != "none" {
		for name, ep := range ns.Networks {
			if ep == nil {
				continue
			}
			c.Endpoints = append(c.Endpoints, inventory.Endpoint{
				Network: name,
				IPv4:    s.addr(ep.IPAddress, c.Name),
				IPv6:    s.addr(ep.GlobalIPv6Address, c.Name),
				MAC:     ep.MacAddress,
			})
		}
		slices.SortFunc(c.Endpoints, func(a, b inventory.Endpoint) int { return strings.Compare(a.Network, b.Network) })
	}
	c.Ports = s.ports(ns.Ports, c.Name)
	return c
}

// addr parses an address Docker reports; empty or invalid gives the zero
// Addr (invalid ones are logged).
func (s *Source) addr(a, ctr string) netip.Addr {
	if a == "" {
		return netip.Addr{}
	}
	ip, err := netip.ParseAddr(a)
	if err != nil {
		s.log.Warn("ignoring invalid address", "container", ctr, "addr", a)
		return netip.Addr{}
	}
	return ip.Unmap()
}

// ports converts Docker's port map: each host binding of a container port
// is one PublishedPort; ports without bindings are not published. An empty
// host IP means all addresses of both families, and becomes 0.0.0.0 and ::
// (Docker itself reports the two separately).
func (s *Source) ports(pm nat.PortMap, ctr string) []inventory.PublishedPort {
	var out []inventory.PublishedPort
	for port, bindings := range pm {
		proto, num := port.Proto(), port.Port()
		cport, err := strconv.ParseUint(num, 10, 16)
		if err != nil || cport == 0 {
			s.log.Warn("ignoring invalid container port", "container", ctr, "port", string(port))
			continue
		}
		if proto != "tcp" && proto != "udp" {
			if len(bindings) > 0 {
				s.log.Warn("ignoring published port of unsupported protocol", "container", ctr, "port", string(port))
			}
			continue
		}
		for _, b := range bindings {
			hport, err := strconv.ParseUint(b.HostPort, 10, 16)
			if err != nil || hport == 0 {
				if b.HostPort != "" {
					s.log.Warn("ignoring invalid host port", "container", ctr, "port", string(port), "host_port", b.HostPort)
				}
				continue
			}
			p := inventory.PublishedPort{HostPort: uint16(hport), ContainerPort: uint16(cport), Proto: proto}
			if b.HostIP == "" {
				for _, ip := range []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()} {
					p.HostIP = ip
					out = append(out, p)
				}
				continue
			}
			ip, err := netip.ParseAddr(b.HostIP)
			if err != nil {
				s.log.Warn("ignoring port bound to an invalid address", "container", ctr, "port", string(port), "host_ip", b.HostIP)
				continue
			}
			p.HostIP = ip.Unmap()
			out = append(out, p)
		}
	}
	slices.SortFunc(out, comparePorts)
	return slices.Compact(out)
}

func comparePorts(a, b inventory.PublishedPort) int {
	return cmp.Or(
		cmp.Compare(a.HostPort, b.HostPort),
		strings.Compare(a.Proto, b.Proto),
		a.HostIP.Compare(b.HostIP),
		cmp.Compare(a.ContainerPort, b.ContainerPort),
	)
}

// network converts a listed network.
func (s *Source) network(n *network.Summary) *inventory.Network {
	out := &inventory.Network{ID: n.ID, Name: n.Name, Driver: n.Driver, Internal: n.Internal}
	if n.Driver == "bridge" {
		out.Bridge = bridgeName(n)
	}
	for _, cfg := range n.IPAM.Config {
		if cfg.Subnet != "" {
			if p, err := netip.ParsePrefix(cfg.Subnet); err == nil {
				out.Subnets = append(out.Subnets, p.Masked())
			} else {
				s.log.Warn("ignoring invalid subnet", "network", n.Name, "subnet", cfg.Subnet)
			}
		}
		if cfg.Gateway != "" {
			if ip, err := netip.ParseAddr(cfg.Gateway); err == nil {
				out.Gateways = append(out.Gateways, ip.Unmap())
			} else {
				s.log.Warn("ignoring invalid gateway", "network", n.Name, "gateway", cfg.Gateway)
			}
		}
	}
	return out
}

// bridgeName is the Linux bridge of a bridge network: the name set in its
// options, else docker0 for the default network, else what Docker's bridge
// driver names it, "br-" and the first 12 characters of the network's ID.
func bridgeName(n *network.Summary) string {
	if b := n.Options[optBridgeName]; b != "" {
		return b
	}
	if n.Name == "bridge" || n.Options[optDefault] == "true" {
		return "docker0"
	}
	if len(n.ID) >= 12 {
		return "br-" + n.ID[:12]
	}
	return ""
}

// fillGateways gives networks whose IPAM config names no gateway the
// gateways their containers' endpoints report. Docker leaves the default
// bridge's gateway (docker0's address) and those it picked itself out of the
// network's IPAM config.
func fillGateways(f *inventory.Facts, infos []*container.InspectResponse) {
	byName := map[string]*inventory.Network{}
	for _, n := range f.Networks {
		byName[n.Name] = n
	}
	add := func(n *inventory.Network, a string) {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return
		}
		ip = ip.Unmap()
		if slices.ContainsFunc(n.Gateways, func(g netip.Addr) bool { return g.Is4() == ip.Is4() }) {
			return
		}
		n.Gateways = append(n.Gateways, ip)
	}
	for _, info := range infos {
		if info.NetworkSettings == nil {
			continue
		}
		for name, ep := range info.NetworkSettings.Networks {
			n := byName[name]
			if n == nil || ep == nil {
				continue
			}
			add(n, ep.Gateway)
			add(n, ep.IPv6Gateway)
		}
	}
	for _, n := range f.Networks {
		slices.SortFunc(n.Gateways, func(a, b netip.Addr) int {
			if a.Is4() != b.Is4() {
				if a.Is4() {
					return -1
				}
				return 1
			}
			return a.Compare(b)
		})
	}
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
