package e2e

import (
	"testing"

	"github.com/seawall/seawall/internal/netlab"
)

// TestPortsAndRateLimit: SSH from the office only, at most 4 new
// connections a minute per source; HTTP(S) from anywhere; MySQL only from
// the blog server's address; IPv4 and IPv6.
func TestPortsAndRateLimit(t *testing.T) {
	w := newWorld(t)
	w.serve(netlab.Host, 22, 80, 443, 3306, 8080)
	w.apply(`version: 1
groups:
  office: [10.137.0.0/24, "2001:db8:1::/64"]
  blog: [203.0.113.7, "2001:db8:2::7"]
host:
  input:
    - allow: ssh
      from: office
      limit: 4/minute
    - allow: [http, https]
    - allow: tcp/3306
      from: blog
`)
	h4, h6 := netlab.Addr(netlab.Host, 4), netlab.Addr(netlab.Host, 6)
	blog4, blog6 := netlab.Addr("blog", 4), netlab.Addr("blog", 6)
	probes := []netlab.Probe{
		{From: netlab.LAN2, To: h4, Proto: netlab.TCP, Port: 22, Want: netlab.Open},
		{From: netlab.LAN2, To: h6, Proto: netlab.TCP, Port: 22, Want: netlab.Open},
		{From: netlab.Net2, To: h4, Proto: netlab.TCP, Port: 22, Want: netlab.Dropped},
		{From: netlab.Net2, To: h6, Proto: netlab.TCP, Port: 22, Want: netlab.Dropped},
		{From: netlab.Net2, To: h4, Proto: netlab.TCP, Port: 80, Want: netlab.Open},
		{From: netlab.Net2, To: h6, Proto: netlab.TCP, Port: 443, Want: netlab.Open},
		{From: netlab.Net2, To: h4, Proto: netlab.TCP, Port: 8080, Want: netlab.Dropped},
		{From: netlab.Net1, Src: blog4, To: h4, Proto: netlab.TCP, Port: 3306, Want: netlab.Open},
		{From: netlab.Net1, Src: blog6, To: h6, Proto: netlab.TCP, Port: 3306, Want: netlab.Open},
		{From: netlab.Net1, To: h4, Proto: netlab.TCP, Port: 3306, Want: netlab.Dropped},
		{From: netlab.Net2, To: h4, Proto: netlab.TCP, Port: 3306, Want: netlab.Dropped},
		{From: netlab.LAN1, To: h4, Proto: netlab.TCP, Port: 3306, Want: netlab.Dropped},
	}
	w.lab.Check(t, probes)

	// The rate limit: lan1 opens 4 new SSH connections within the minute,
	// the 5th is denied, while lan2 (another source) still connects.
	// lan2 used one connection above; lan1 none yet.
	for i := 1; i <= 4; i++ {
		if r := w.lab.Probe(netlab.Probe{From: netlab.LAN1, To: h4, Proto: netlab.TCP, Port: 22}); r.Verdict != netlab.Open {
			t.Fatalf("lan1 ssh connection %d: %v, want open", i, r.Verdict)
		}
	}
	if r := w.lab.Probe(netlab.Probe{From: netlab.LAN1, To: h4, Proto: netlab.TCP, Port: 22}); r.Verdict != netlab.Dropped {
		t.Errorf("lan1 ssh connection 5 within a minute: %v, want dropped", r.Verdict)
	}
	if r := w.lab.Probe(netlab.Probe{From: netlab.LAN2, To: h4, Proto: netlab.TCP, Port: 22}); r.Verdict != netlab.Open {
		t.Errorf("lan2 ssh while lan1 is limited: %v, want open", r.Verdict)
	}
}
