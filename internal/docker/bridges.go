package docker

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"

	"github.com/seawall/seawall/internal/inventory"
)

// dockerBridge matches the Linux bridges Docker creates: docker0 for the
// default network, br-<first 12 hex digits of the network ID> for the others.
var dockerBridge = regexp.MustCompile(`^(docker0|br-[0-9a-f]{12})$`)

// HostBridges reads Docker's bridge networks off the host's interfaces, for
// when Docker cannot be asked and nothing was recorded: without them the
// ruleset would not know which sources are containers, and containers
// whose policy says deny would be let through as Docker leaves them. The
// networks carry no containers, so every address on them is treated as an
// unreconciled container's. Networks Docker creates without a bridge
// (macvlan, ipvlan, overlay) cannot be found this way.
func HostBridges() (*inventory.Facts, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("could not list network interfaces: %w", err)
	}
	f := &inventory.Facts{}
	for _, ifc := range ifs {
		if !dockerBridge.MatchString(ifc.Name) {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			return nil, fmt.Errorf("could not read the addresses of %s: %w", ifc.Name, err)
		}
		n := &inventory.Network{Name: ifc.Name, Driver: "bridge", Bridge: ifc.Name}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, _ := netip.AddrFromSlice(ipn.IP)
			ip = ip.Unmap()
			if ip.IsLinkLocalUnicast() {
				continue
			}
			ones, _ := ipn.Mask.Size()
			n.Subnets = append(n.Subnets, netip.PrefixFrom(ip, ones).Masked())
			n.Gateways = append(n.Gateways, ip)
		}
		if len(n.Subnets) > 0 {
			f.Networks = append(f.Networks, n)
		}
	}
	return f.Sorted(), nil
}
