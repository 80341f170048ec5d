package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/seawall/seawall/internal/netlab"
)

// TestExplainAgreesWithKernel: for a grid of sources, families and ports,
// what `seawall explain` predicts must be what the kernel does to real
// packets: accepted → the connection opens (with the host's banner),
// dropped → silence, rejected → refused, redirected → the honeypot answers.
func TestExplainAgreesWithKernel(t *testing.T) {
	w := newWorld(t)
	w.serve(netlab.Host, 22, 80, 443, 3306, 5432)
	w.serve(netlab.Honeypot, 8022)
	w.apply(`version: 1
groups:
  office: [10.137.0.0/24, "2001:db8:1::/64"]
  blog: [203.0.113.7, "2001:db8:2::7"]
sets:
  scanners:
    entries: [203.0.113.12, "2001:db8:2::12"]
host:
  policy: {input: drop, forward: drop}
  input:
    - deny: any
      from: scanners
    - allow: ssh
      from: office
    - allow: [http, https]
      from: [10.137.0.0/24, 203.0.113.0/28]
    - reject: tcp/443
    - allow: tcp/3306
      from: blog
  redirect:
    - port: tcp/22
      not_from: office
      to: 172.31.0.4:8022
`)
	type src struct{ ns, addr string }
	sources := []src{{netlab.LAN1, ""}, {netlab.Net1, "blog"}, {netlab.Net2, ""}, {netlab.Net3, ""}}
	var probes []netlab.Probe
	var predictions []string
	for _, s := range sources {
		for _, ipv := range []int{4, 6} {
			for _, port := range []uint16{22, 80, 443, 3306, 5432} {
				from := netlab.Addr(s.ns, ipv)
				p := netlab.Probe{From: s.ns, To: netlab.Addr(netlab.Host, ipv), Proto: netlab.TCP, Port: port}
				if s.addr != "" {
					from = netlab.Addr(s.addr, ipv)
					p.Src = from
				}
				out := w.mustSeawall("explain", "--from", from.String(), "--to", p.To.String(), "--port", fmt.Sprintf("tcp/%d", port))
				predicted := strings.Fields(out)[0]
				switch predicted {
				case "accepted":
					p.Want, p.WantBanner = netlab.Open, netlab.Banner(netlab.Host, port)
				case "dropped":
					p.Want = netlab.Dropped
				case "rejected":
					p.Want = netlab.Refused
				case "redirected":
					p.Want, p.WantBanner = netlab.Open, netlab.Banner(netlab.Honeypot, 8022)
				default:
					t.Fatalf("explain said %q", out)
				}
				probes = append(probes, p)
				predictions = append(predictions, strings.TrimSpace(out))
			}
		}
	}
	for i, r := range w.lab.Run(probes) {
		if !r.OK {
			t.Errorf("explain says %q, but the kernel: %s", predictions[i], r)
		}
	}
	t.Logf("%d packets: explain and the kernel agree", len(probes))
}
