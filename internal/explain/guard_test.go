package explain

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/seawall/seawall/internal/compile"
	"github.com/seawall/seawall/internal/policy"
	"github.com/seawall/seawall/internal/ruleset"
)

func compiled(t *testing.T, src string) *ruleset.Ruleset {
	t.Helper()
	p, err := policy.Parse("seawall.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := compile.Compile(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestSSHLockout(t *testing.T) {
	const office = `version: 1
groups:
  office: [10.137.0.0/24]
host:
  input:
    - allow: ssh
      from: office
`
	cases := []struct {
		name, policy, client, want string
	}{
		{"trusted source", office, "10.137.0.10:50000", ""},
		{"untrusted source", office, "198.51.100.9:50000", "would be dropped by seawall.yaml:6:7 (host.input[0] foreign)"},
		{"ipv4-mapped client", office, "[::ffff:10.137.0.10]:50000", ""},
		{"default policy", "version: 1\nhost:\n  input:\n    - allow: ssh\n", "198.51.100.9:1", ""},
		{"no ssh rule", "version: 1\nhost:\n  input:\n    - allow: http\n", "198.51.100.9:1", "would be dropped by host.policy.input"},
		{"explicit deny", "version: 1\nhost:\n  deny: reject\n  input:\n    - deny: ssh\n      from: 198.51.100.0/24\n    - allow: ssh\n",
			"198.51.100.9:1", "would be rejected by seawall.yaml:5:7 (host.input[0] deny)"},
		{"honeypot", office + "  redirect:\n    - port: tcp/22\n      not_from: office\n      to: 172.31.0.4:8022\n",
			"198.51.100.9:50000", "redirected to 172.31.0.4:8022 by seawall.yaml:9:7 (host.redirect[0])"},
		{"honeypot, trusted", office + "  redirect:\n    - port: tcp/22\n      not_from: office\n      to: 172.31.0.4:8022\n",
			"10.137.0.10:50000", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rs := compiled(t, c.policy)
			err := SSHLockout(rs, netip.MustParseAddrPort(c.client), netip.MustParseAddrPort("192.0.2.2:22"), "eth0")
			switch {
			case c.want == "" && err != nil:
				t.Errorf("unexpected lockout: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}
