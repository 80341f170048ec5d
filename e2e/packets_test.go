package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seawall/seawall/internal/netlab"
)

// The tests in this file apply real policies with the real binary in the
// lab's host namespace and send real packets through the lab. Helpers are
// prefixed with pk so that they do not collide with other files of the
// package.

// pkNS is the namespace that answers for an address key of the plan (the
// servers there send Banner(namespace, port)).
func pkNS(key string) string {
	switch key {
	case netlab.Blog:
		return netlab.Net1
	case netlab.HostDock:
		return netlab.Host
	case netlab.RouterLAN, netlab.RouterNet:
		return netlab.Router
	}
	return key
}

// pkBoth returns one probe per IP family from namespace from to the address
// key to. An open TCP or UDP probe also wants the banner of the namespace
// that owns the address, so that it checks who answered.
func pkBoth(from, to string, proto netlab.Proto, port uint16, want netlab.Verdict) []netlab.Probe {
	var out []netlab.Probe
	for _, ipv := range []int{4, 6} {
		p := netlab.Probe{From: from, To: netlab.Addr(to, ipv), Proto: proto, Port: port, Want: want}
		if want == netlab.Open && proto != netlab.ICMP {
			p.WantBanner = netlab.Banner(pkNS(to), port)
		}
		out = append(out, p)
	}
	return out
}

// pkWithBanner returns probes that want banner instead.
func pkWithBanner(ps []netlab.Probe, banner string) []netlab.Probe {
	out := slices.Clone(ps)
	for i := range out {
		out[i].WantBanner = banner
	}
	return out
}

// pkEnv is added to every seawall run: SSH_CONNECTION describes a session
// of the machine's own namespace, which has nothing to do with the lab's
// host, so apply's SSH guard must not judge lab policies by it.
var pkEnv = []string{"SSH_CONNECTION="}

// pkApply writes the policy, applies it and returns how long apply took.
func pkApply(w *world, yaml string) time.Duration {
	w.t.Helper()
	w.writePolicy(yaml)
	start := time.Now()
	out, code := w.seawall(pkEnv, "apply")
	took := time.Since(start)
	if code != 0 {
		w.t.Fatalf("seawall apply: exit %d\n%s\npolicy:\n%s", code, out, yaml)
	}
	return took
}

// pkServeUDP starts UDP servers in namespace ns (all addresses).
func pkServeUDP(w *world, ns string, ports ...uint16) {
	w.t.Helper()
	for _, p := range ports {
		if _, err := w.lab.ServeUDP(ns, fmt.Sprintf(":%d", p)); err != nil {
			w.t.Fatal(err)
		}
	}
}

// pkFor returns a copy of w that reports to t (for subtests).
func pkFor(w *world, t *testing.T) *world {
	c := *w
	c.t = t
	return &c
}

// TestLockdown: input, output and forward drop. The trusted LAN may SSH
// in (the banner coming back proves that replies leave under output drop),
// strangers time out; the host itself may only resolve, browse and ping;
// the container behind the host is out of reach; netbios noise is dropped
// without logging.
func TestLockdown(t *testing.T) {
	w := newWorld(t)
	w.serve(netlab.Host, 22, 80)
	pkServeUDP(w, netlab.Host, 137)
	w.serve(netlab.Net1, 25, 53, 80, 443, 8080)
	pkServeUDP(w, netlab.Net1, 53, 123)
	w.serve(netlab.Honeypot, 80, 443)
	pkApply(w, `version: 1
groups:
  trusted: [10.137.0.0/24, "2001:db8:1::/64"]
host:
  policy: {input: drop, output: drop, forward: drop}
  input:
    - allow: ssh
      from: trusted
      comment: trusted admins only
    - deny: udp/137-138
      log: false
  output:
    - allow: [dns, http, https, icmp]
`)
	const H, HP = netlab.Host, netlab.Honeypot
	probes := slices.Concat(
		// In: ssh from the trusted LAN only.
		pkBoth(netlab.LAN1, H, netlab.TCP, 22, netlab.Open),
		pkBoth(netlab.LAN2, H, netlab.TCP, 22, netlab.Open),
		pkBoth(netlab.Net1, H, netlab.TCP, 22, netlab.Dropped),
		pkBoth(netlab.Net2, H, netlab.TCP, 22, netlab.Dropped),
		pkBoth(netlab.Net1, H, netlab.TCP, 80, netlab.Dropped),
		pkBoth(netlab.LAN1, H, netlab.TCP, 80, netlab.Dropped),
		pkBoth(netlab.Net1, H, netlab.ICMP, 0, netlab.Dropped),
		// Netbios noise: dropped although a server listens.
		pkBoth(netlab.Net1, H, netlab.UDP, 137, netlab.Dropped),
		pkBoth(netlab.LAN1, H, netlab.UDP, 137, netlab.Dropped),
		// Out: DNS (udp and tcp), HTTP(S) and ICMP only.
		pkBoth(H, netlab.Net1, netlab.TCP, 443, netlab.Open),
		pkBoth(H, netlab.Net1, netlab.TCP, 80, netlab.Open),
		pkBoth(H, netlab.Net1, netlab.TCP, 53, netlab.Open),
		pkBoth(H, netlab.Net1, netlab.UDP, 53, netlab.Open),
		pkBoth(H, netlab.Net1, netlab.ICMP, 0, netlab.Open),
		pkBoth(H, netlab.Router, netlab.ICMP, 0, netlab.Open),
		pkBoth(H, netlab.Net1, netlab.TCP, 25, netlab.Dropped),
		pkBoth(H, netlab.Net1, netlab.TCP, 8080, netlab.Dropped),
		pkBoth(H, netlab.Net1, netlab.UDP, 123, netlab.Dropped),
		// Forward: the container is unreachable, and cannot get out.
		pkBoth(netlab.Net1, HP, netlab.TCP, 80, netlab.Dropped),
		pkBoth(netlab.Net1, HP, netlab.TCP, 443, netlab.Dropped),
		pkBoth(netlab.Net1, HP, netlab.ICMP, 0, netlab.Dropped),
		pkBoth(netlab.LAN1, HP, netlab.TCP, 80, netlab.Dropped),
		pkBoth(HP, netlab.Net1, netlab.TCP, 443, netlab.Dropped),
	)
	w.lab.Check(t, probes)

	plan := w.mustSeawall("plan", "--format", "nft")
	for _, want := range []string{`log prefix "seawall in drop`, `log prefix "seawall in foreign`} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %s", want)
		}
	}
	var netbios, foreign int
	for line := range strings.SplitSeq(plan, "\n") {
		if strings.Contains(line, "dport 137-138") {
			netbios++
			if strings.Contains(line, " log ") || !strings.Contains(line, " drop ") {
				t.Errorf("netbios rule should drop without logging: %s", strings.TrimSpace(line))
			}
		}
		if strings.Contains(line, `"seawall in foreign`) {
			foreign++
			if !strings.Contains(line, "tcp dport 22") {
				t.Errorf("foreign log rule is not about ssh: %s", strings.TrimSpace(line))
			}
		}
	}
	if netbios == 0 {
		t.Errorf("plan has no netbios rule:\n%s", plan)
	}
	if foreign == 0 {
		t.Errorf("plan has no foreign log rule for ssh")
	}
	if t.Failed() {
		t.Logf("plan:\n%s", plan)
	}
}

// TestRejectVersusDrop: under deny: reject, denied TCP gets a reset and
// denied UDP a port unreachable, and so does whatever the input default
// denies; drop: stays silent whatever deny says; reject: refuses even under
// deny: drop. Every port has a server, so each verdict is the firewall's.
func TestRejectVersusDrop(t *testing.T) {
	w := newWorld(t)
	ports := []uint16{80, 81, 82, 83, 84}
	w.serve(netlab.Host, ports...)
	pkServeUDP(w, netlab.Host, ports...)
	policy := `version: 1
host:
  policy: {input: drop}
  deny: %s
  input:
    - allow: [tcp/80, udp/80]
    - deny: [tcp/81, udp/81]
    - drop: [tcp/82, udp/82]
    - reject: [tcp/84, udp/84]
`
	const H = netlab.Host
	for _, c := range []struct {
		deny   string
		denied netlab.Verdict // rule deny: and the default
	}{
		{"reject", netlab.Refused},
		{"drop", netlab.Dropped},
	} {
		t.Run("deny="+c.deny, func(t *testing.T) {
			w := pkFor(w, t)
			pkApply(w, fmt.Sprintf(policy, c.deny))
			var probes []netlab.Probe
			for _, proto := range []netlab.Proto{netlab.TCP, netlab.UDP} {
				probes = slices.Concat(probes,
					pkBoth(netlab.Net1, H, proto, 80, netlab.Open),
					pkBoth(netlab.Net1, H, proto, 81, c.denied),       // deny:
					pkBoth(netlab.Net1, H, proto, 82, netlab.Dropped), // drop:
					pkBoth(netlab.Net1, H, proto, 83, c.denied),       // the default
					pkBoth(netlab.Net1, H, proto, 84, netlab.Refused), // reject:
					pkBoth(netlab.LAN1, H, proto, 84, netlab.Refused),
				)
			}
			// Echo requests meet the default too (rejected with port
			// unreachable, which netlab calls refused).
			probes = append(probes, pkBoth(netlab.Net1, H, netlab.ICMP, 0, c.denied)...)
			w.lab.Check(t, probes)
		})
	}
}

// pkRange is an inclusive address range.
type pkRange struct{ first, last netip.Addr }

func (r pkRange) String() string {
	if r.first == r.last {
		return r.first.String()
	}
	return r.first.String() + "-" + r.last.String()
}

// pkRangeOf is the range a prefix covers.
func pkRangeOf(p netip.Prefix) pkRange {
	p = p.Masked()
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	last, _ := netip.AddrFromSlice(b)
	return pkRange{p.Addr(), last}
}

// pkSortRanges sorts ranges by first address.
func pkSortRanges(rs []pkRange) {
	slices.SortFunc(rs, func(a, b pkRange) int { return a.first.Compare(b.first) })
}

// pkLiveSet reads the ranges of set NAME of table inet seawall in the
// host namespace with nft's JSON output.
func pkLiveSet(t *testing.T, w *world, name string) []pkRange {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := w.lab.Command(ctx, netlab.Host, "nft", "-j", "list", "set", "inet", "seawall", name)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nft -j list set inet seawall %s: %v\n%s", name, err, stderr.String())
	}
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("could not parse nft JSON for set %s: %v", name, err)
	}
	var elems []json.RawMessage
	found := false
	for _, obj := range doc.Nftables {
		raw, ok := obj["set"]
		if !ok {
			continue
		}
		var s struct {
			Elem []json.RawMessage `json:"elem"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatalf("could not parse set %s: %v", name, err)
		}
		elems, found = s.Elem, true
	}
	if !found {
		t.Fatalf("nft listed no set %s", name)
	}
	out2 := make([]pkRange, 0, len(elems))
	for _, e := range elems {
		r, err := pkParseElem(e)
		if err != nil {
			t.Fatalf("set %s: element %s: %v", name, e, err)
		}
		out2 = append(out2, r)
	}
	pkSortRanges(out2)
	return out2
}

// pkParseElem parses one element of nft's JSON: "ADDR", {"prefix": {"addr":
// ADDR, "len": N}}, {"range": [ADDR, ADDR]} or {"elem": {"val": ...}}.
func pkParseElem(raw json.RawMessage) (pkRange, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		a, err := netip.ParseAddr(s)
		return pkRange{a, a}, err
	}
	var obj struct {
		Prefix *struct {
			Addr string `json:"addr"`
			Len  int    `json:"len"`
		} `json:"prefix"`
		Range []string `json:"range"`
		Elem  *struct {
			Val json.RawMessage `json:"val"`
		} `json:"elem"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return pkRange{}, err
	}
	switch {
	case obj.Prefix != nil:
		a, err := netip.ParseAddr(obj.Prefix.Addr)
		if err != nil {
			return pkRange{}, err
		}
		return pkRangeOf(netip.PrefixFrom(a, obj.Prefix.Len)), nil
	case len(obj.Range) == 2:
		a, err1 := netip.ParseAddr(obj.Range[0])
		b, err2 := netip.ParseAddr(obj.Range[1])
		if err1 != nil || err2 != nil {
			return pkRange{}, fmt.Errorf("bad range")
		}
		return pkRange{a, b}, nil
	case obj.Elem != nil:
		return pkParseElem(obj.Elem.Val)
	}
	return pkRange{}, fmt.Errorf("unknown element form")
}

// pkCompareSets reports the first difference between want and got.
func pkCompareSets(t *testing.T, name string, want, got []pkRange) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("set %s holds %d elements in the kernel, want %d", name, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("set %s: element %d is %v, want %v", name, i, got[i], want[i])
			return
		}
	}
}

// TestLargeSet: a 100,000-entry set read from a file lands in the kernel
// complete (every element, none lost to a truncated netlink batch), and it
// blocks what it lists.
func TestLargeSet(t *testing.T) {
	w := newWorld(t)
	w.serve(netlab.Host, 80)

	// 100,000 IPv4 /32s two apart (so no two merge), some CIDRs that touch
	// nothing else, net2, and some IPv6; plus a comment, a blank line and a
	// duplicate, which must not count.
	var lines []string
	base := binary.BigEndian.Uint32(netip.MustParseAddr("100.64.0.0").AsSlice())
	for i := range uint32(100_000) {
		a := netip.AddrFrom4([4]byte(binary.BigEndian.AppendUint32(nil, base+2*i)))
		lines = append(lines, a.String())
	}
	lines = append(lines,
		"# CIDRs", "",
		"100.100.0.0/16", "192.168.0.0/16", "198.18.0.0/24", "198.18.2.0/23",
		"198.51.100.0/25", "198.51.100.192/26",
		netlab.Net2V4, netlab.Net2V4+" # twice",
		netlab.Net2V6, "2001:db8:100::/48", "fd12::/16",
	)
	v6base := netip.MustParseAddr("2001:db8:ff::").As16()
	for i := range 1000 {
		a := v6base
		binary.BigEndian.PutUint16(a[14:], uint16(2*i))
		lines = append(lines, netip.AddrFrom16(a).String())
	}
	want := map[int][]pkRange{}
	seen := map[netip.Prefix]bool{}
	for _, l := range lines {
		l, _, _ = strings.Cut(l, "#")
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		p, err := netip.ParsePrefix(l)
		if err != nil {
			a := netip.MustParseAddr(l)
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if seen[p] {
			continue
		}
		seen[p] = true
		ipv := 4
		if p.Addr().Is6() {
			ipv = 6
		}
		want[ipv] = append(want[ipv], pkRangeOf(p))
	}
	for ipv, rs := range want {
		pkSortRanges(rs)
		for i := 1; i < len(rs); i++ {
			if rs[i].first.Compare(rs[i-1].last.Next()) <= 0 {
				t.Fatalf("test bug: IPv%d entries %v and %v touch, the kernel set would merge them", ipv, rs[i-1], rs[i])
			}
		}
	}
	if err := os.WriteFile(filepath.Join(w.dir, "blocked.txt"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	policy := `version: 1
sets:
  blocked:
    files: [blocked.txt]
host:
  input:
    - deny: any
      from: blocked
    - allow: tcp/80
`
	took := pkApply(w, policy)
	t.Logf("apply with %d IPv4 and %d IPv6 set elements took %v", len(want[4]), len(want[6]), took.Round(time.Millisecond))
	check := func(t *testing.T) {
		start := time.Now()
		pkCompareSets(t, "blocked_v4", want[4], pkLiveSet(t, w, "blocked_v4"))
		pkCompareSets(t, "blocked_v6", want[6], pkLiveSet(t, w, "blocked_v6"))
		t.Logf("reading the sets back took %v", time.Since(start).Round(time.Millisecond))
		w.lab.Check(t, slices.Concat(
			pkBoth(netlab.Net2, netlab.Host, netlab.TCP, 80, netlab.Dropped),
			pkBoth(netlab.Net2, netlab.Host, netlab.TCP, 22, netlab.Dropped),
			pkBoth(netlab.Net1, netlab.Host, netlab.TCP, 80, netlab.Open),
			pkBoth(netlab.Net3, netlab.Host, netlab.TCP, 80, netlab.Open),
			pkBoth(netlab.LAN1, netlab.Host, netlab.TCP, 80, netlab.Open),
		))
	}
	check(t)

	// Applying the same policy again must leave the kernel holding the
	// same elements.
	took = pkApply(w, policy)
	t.Logf("applying it again took %v", took.Round(time.Millisecond))
	check(t)
}

// TestHoneypotRedirect: connections to the host's ssh port from outside the
// office are sent on to the honeypot container (IPv4 to its IPv4 address,
// IPv6 to its IPv6 one), while the office reaches the host's own sshd. The
// redirect works with forward left alone and under forward drop, where the
// redirect's own accept rule lets the redirected flow through, and the
// honeypot's port stays closed to direct connections.
func TestHoneypotRedirect(t *testing.T) {
	w := newWorld(t)
	w.serve(netlab.Host, 22)
	w.serve(netlab.Honeypot, 8022)
	policy := `version: 1
groups:
  office: [10.137.0.0/24, "2001:db8:1::/64"]
host:
  policy: {input: drop%s}
  input:
    - allow: ssh
      from: office
  redirect:
    - port: tcp/22
      not_from: office
      to: 172.31.0.4:8022
    - port: tcp/22
      not_from: office
      to: "[fd00:31::4]:8022"
`
	const H, HP = netlab.Host, netlab.Honeypot
	honeypot := netlab.Banner(HP, 8022)
	for _, c := range []struct {
		name, forward string
	}{
		{"forward=unset", ""},
		{"forward=drop", ", forward: drop"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := pkFor(w, t)
			pkApply(w, fmt.Sprintf(policy, c.forward))
			probes := slices.Concat(
				pkBoth(netlab.LAN1, H, netlab.TCP, 22, netlab.Open),
				pkBoth(netlab.LAN2, H, netlab.TCP, 22, netlab.Open),
				pkWithBanner(pkBoth(netlab.Net1, H, netlab.TCP, 22, netlab.Open), honeypot),
				pkWithBanner(pkBoth(netlab.Net2, H, netlab.TCP, 22, netlab.Open), honeypot),
				// Only connections to port 22 are redirected.
				pkBoth(netlab.Net1, H, netlab.TCP, 8022, netlab.Dropped),
			)
			if c.forward != "" {
				// Under forward drop, only redirected connections reach it.
				probes = append(probes, pkBoth(netlab.Net1, HP, netlab.TCP, 8022, netlab.Dropped)...)
			}
			w.lab.Check(t, probes)
		})
	}
}

// TestRedirectOnlyHostPorts: a redirect of "tcp/22" is about connections to
// the host's port 22. Connections that merely pass through the host to port
// 22 elsewhere — here, the container going out to an internet server — must
// not be caught by it.
func TestRedirectOnlyHostPorts(t *testing.T) {
	w := newWorld(t)
	w.serve(netlab.Host, 22)
	w.serve(netlab.Honeypot, 22, 8022)
	w.serve(netlab.Net1, 22)
	const H, HP = netlab.Host, netlab.Honeypot
	passing := slices.Concat(
		// The container's own ssh connection out to an internet server ...
		pkBoth(HP, netlab.Net1, netlab.TCP, 22, netlab.Open),
		// ... and an internet client's connection to the container's ssh,
		// which the host only routes.
		pkBoth(netlab.Net2, HP, netlab.TCP, 22, netlab.Open),
	)
	// Without seawall they work (so what follows is seawall's doing).
	w.lab.Check(t, passing)
	pkApply(w, `version: 1
groups:
  office: [10.137.0.0/24, "2001:db8:1::/64"]
host:
  input:
    - allow: ssh
  redirect:
    - port: tcp/22
      not_from: office
      to: 172.31.0.4:8022
    - port: tcp/22
      not_from: office
      to: "[fd00:31::4]:8022"
`)
	w.lab.Check(t, slices.Concat(
		// The redirect of the host's port works ...
		pkWithBanner(pkBoth(netlab.Net2, H, netlab.TCP, 22, netlab.Open), netlab.Banner(HP, 8022)),
		pkBoth(netlab.LAN1, H, netlab.TCP, 22, netlab.Open),
		// ... and traffic the host merely forwards still goes where it was
		// addressed.
		passing,
	))
}

// TestIPv6UnderOutputDrop: with output drop, IPv6 neighbour discovery keeps
// working through the built-in rules, in and out, after every neighbour
// cache on the host's link was flushed.
func TestIPv6UnderOutputDrop(t *testing.T) {
	w := newWorld(t)
	w.serve(netlab.Host, 22)
	w.serve(netlab.Net1, 443, 8080)
	const H = netlab.Host
	flush := func(t *testing.T) {
		t.Helper()
		for _, ns := range []string{netlab.Host, netlab.Router} {
			if out, err := w.lab.IP(ns, "neigh", "flush", "all"); err != nil {
				t.Fatalf("flush neighbours of %s: %v\n%s", ns, err, out)
			}
		}
	}
	for _, c := range []struct {
		name, output string
		ping         netlab.Verdict
	}{
		// https and icmp out: outgoing neighbour discovery would pass the
		// icmp rule anyway; incoming needs the input built-ins.
		{"https+icmp", "[https, icmp]", netlab.Open},
		// https only: neighbour discovery in both directions rests on the
		// built-in rules alone, and ping is dropped.
		{"https", "[https]", netlab.Dropped},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := pkFor(w, t)
			pkApply(w, fmt.Sprintf(`version: 1
host:
  policy: {input: drop, output: drop}
  input:
    - allow: ssh
  output:
    - allow: %s
`, c.output))
			flush(t)
			// First, alone: the host must resolve its gateway to get out.
			first := pkBoth(H, netlab.Net1, netlab.TCP, 443, netlab.Open)[1]
			w.lab.Check(t, []netlab.Probe{first})
			// The router must resolve the host to deliver inbound ssh.
			flush(t)
			w.lab.Check(t, pkBoth(netlab.LAN1, H, netlab.TCP, 22, netlab.Open)[1:])
			w.lab.Check(t, slices.Concat(
				pkBoth(H, netlab.Net1, netlab.TCP, 443, netlab.Open),
				pkBoth(H, netlab.Net1, netlab.TCP, 8080, netlab.Dropped),
				pkBoth(netlab.LAN1, H, netlab.TCP, 22, netlab.Open),
				pkBoth(netlab.Net2, H, netlab.TCP, 22, netlab.Open),
				pkBoth(H, netlab.Router, netlab.ICMP, 0, c.ping),
				pkBoth(H, netlab.Net1, netlab.ICMP, 0, c.ping),
			))
		})
	}
}

// pkEnviron is the process environment without the variables that would
// name a policy file, a state directory or an SSH session.
func pkEnviron() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "SEAWALL_CONFIG", "SEAWALL_STATE_DIR", "SSH_CONNECTION":
			continue
		}
		out = append(out, kv)
	}
	return append(out, noDocker)
}

// pkRun runs the seawall binary in the host namespace with exactly args and
// the environment env, and returns stdout, stderr and the exit code.
func pkRun(t *testing.T, w *world, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := w.lab.Command(ctx, netlab.Host, append([]string{seawallBin}, args...)...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("seawall %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return stdout.String(), stderr.String(), code
}

// pkTableExists reports whether the host has table inet seawall.
func pkTableExists(t *testing.T, w *world) bool {
	t.Helper()
	out := w.nft(netlab.Host, "list", "tables")
	return strings.Contains(out, "table inet seawall")
}

// TestDefaultPolicy: a policy file named explicitly (-c or SEAWALL_CONFIG)
// must exist; a file that says only "version: 1" gets the schema's defaults
// (input drop, nothing allowed), not the built-in policy; with no file
// named and none at the default path, the built-in policy applies: ssh and
// ping in, nothing else.
func TestDefaultPolicy(t *testing.T) {
	w := newWorld(t)
	w.serve(netlab.Host, 22, 80)
	w.serve(netlab.Net1, 443)
	const H = netlab.Host
	stateDir := filepath.Join(w.dir, "state")
	missing := filepath.Join(w.dir, "missing.yaml")

	t.Run("explicit path missing", func(t *testing.T) {
		w := pkFor(w, t)
		for _, c := range []struct {
			name string
			env  []string
			args []string
		}{
			{"-c", pkEnviron(), []string{"-c", missing, "--state-dir", stateDir, "apply"}},
			{"SEAWALL_CONFIG", append(pkEnviron(), "SEAWALL_CONFIG="+missing), []string{"--state-dir", stateDir, "apply"}},
		} {
			stdout, stderr, code := pkRun(t, w, c.env, c.args...)
			if code != 1 || !strings.Contains(stderr, missing) || strings.Contains(stderr, "built-in default") {
				t.Errorf("apply with a missing policy named by %s: exit %d, want 1 and an error naming %s\nstdout:\n%s\nstderr:\n%s",
					c.name, code, missing, stdout, stderr)
			}
		}
		if pkTableExists(t, w) {
			t.Errorf("a failed apply created table inet seawall")
		}
	})

	t.Run("version only", func(t *testing.T) {
		w := pkFor(w, t)
		pkApply(w, "version: 1\n")
		w.lab.Check(t, slices.Concat(
			pkBoth(netlab.Net1, H, netlab.TCP, 80, netlab.Dropped),
			pkBoth(netlab.Net1, H, netlab.TCP, 22, netlab.Dropped),
			pkBoth(netlab.Net1, H, netlab.ICMP, 0, netlab.Dropped),
			pkBoth(H, netlab.Net1, netlab.TCP, 443, netlab.Open),
		))
	})

	t.Run("built-in default", func(t *testing.T) {
		const def = "/etc/seawall/seawall.yaml"
		if _, err := os.Stat(def); err == nil {
			t.Skipf("%s exists on this machine, and the lab's host reads the machine's files: cannot test the built-in default", def)
		}
		w := pkFor(w, t)
		stdout, stderr, code := pkRun(t, w, pkEnviron(), "--state-dir", stateDir, "apply")
		if code != 0 {
			t.Fatalf("apply without a policy file: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if !strings.Contains(stderr, "built-in default") {
			t.Errorf("stderr does not mention the built-in default:\n%s", stderr)
		}
		w.lab.Check(t, slices.Concat(
			pkBoth(netlab.Net1, H, netlab.TCP, 22, netlab.Open),
			pkBoth(netlab.LAN1, H, netlab.TCP, 22, netlab.Open),
			pkBoth(netlab.Net1, H, netlab.TCP, 80, netlab.Dropped),
			pkBoth(netlab.Net1, H, netlab.ICMP, 0, netlab.Open),
			pkBoth(H, netlab.Net1, netlab.TCP, 443, netlab.Open),
		))
	})
}
