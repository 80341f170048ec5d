// Package inventory holds plain facts about the host that compile needs
// besides the policy: Docker's containers and networks. It knows nothing of
// Docker's API (internal/docker fills it) nor of netfilter.
package inventory

import (
	"net/netip"
	"sort"
)

// Facts is a snapshot of what runs on the host.
type Facts struct {
	Containers []*Container `json:"containers"`
	Networks   []*Network   `json:"networks"`
	// Resolved holds the addresses the daemon resolved for DNS names the
	// policy uses as egress destinations.
	Resolved map[string][]netip.Addr `json:"resolved,omitempty"`
	// Engine describes the Docker daemon the facts came from (nil when
	// they did not come from Docker).
	Engine *Engine `json:"engine,omitempty"`
}

// Engine is the Docker daemon: what seawall must coexist with.
type Engine struct {
	Version string `json:"version"`
	// Firewall is Docker's firewall backend: "iptables" (also when
	// Docker does not say: before Docker 28.3 it had no other) or
	// "nftables" (Docker 29's, with no DOCKER-USER chain).
	Firewall string `json:"firewall"`
}

// Container is one running container.
type Container struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"` // without the leading "/"
	Image   string            `json:"image"`
	Project string            `json:"project,omitempty"` // com.docker.compose.project
	Service string            `json:"service,omitempty"` // com.docker.compose.service
	Labels  map[string]string `json:"labels,omitempty"`
	// Endpoints are the container's attachments to networks.
	Endpoints []Endpoint `json:"endpoints"`
	// Ports are the container's published ports.
	Ports []PublishedPort `json:"ports,omitempty"`
}

// Endpoint is a container's attachment to one network.
type Endpoint struct {
	Network string     `json:"network"` // network name
	IPv4    netip.Addr `json:"ipv4,omitzero"`
	IPv6    netip.Addr `json:"ipv6,omitzero"`
	MAC     string     `json:"mac,omitempty"`
}

// PublishedPort maps a host address and port to a container port.
type PublishedPort struct {
	HostIP        netip.Addr `json:"host_ip,omitzero"` // unspecified (0.0.0.0 / ::) for all addresses
	HostPort      uint16     `json:"host_port"`
	ContainerPort uint16     `json:"container_port"`
	Proto         string     `json:"proto"` // "tcp" or "udp"
}

// Network is one Docker network.
type Network struct {
	ID       string         `json:"id"`
	Name     string         `json:"name"`
	Driver   string         `json:"driver"`           // bridge, overlay, macvlan, host, null...
	Bridge   string         `json:"bridge,omitempty"` // the Linux bridge device, for bridge networks
	Subnets  []netip.Prefix `json:"subnets,omitempty"`
	Gateways []netip.Addr   `json:"gateways,omitempty"`
	Internal bool           `json:"internal,omitempty"`
}

// Addrs returns every address of the container, IPv4 first, sorted.
func (c *Container) Addrs() []netip.Addr {
	var out []netip.Addr
	for _, e := range c.Endpoints {
		for _, a := range []netip.Addr{e.IPv4, e.IPv6} {
			if a.IsValid() {
				out = append(out, a)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Is4() != out[j].Is4() {
			return out[i].Is4()
		}
		return out[i].Less(out[j])
	})
	return out
}

// Sorted returns the facts with containers and networks in a stable order
// (by name), so that compiling the same facts gives the same ruleset.
func (f *Facts) Sorted() *Facts {
	if f == nil {
		return &Facts{}
	}
	out := &Facts{Containers: append([]*Container(nil), f.Containers...), Networks: append([]*Network(nil), f.Networks...), Resolved: f.Resolved, Engine: f.Engine}
	sort.Slice(out.Containers, func(i, j int) bool { return out.Containers[i].Name < out.Containers[j].Name })
	sort.Slice(out.Networks, func(i, j int) bool { return out.Networks[i].Name < out.Networks[j].Name })
	return out
}
