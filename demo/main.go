// Command demo shows seawall doing its main job without touching the
// machine's own firewall: it builds a lab of network namespaces (a host
// under test, a router, a trusted LAN, an "internet" and a honeypot), probes
// the host from everywhere, applies a policy with seawall inside the host's
// namespace, and probes again. Run it as root: `make demo`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/seawall/seawall/internal/netlab"
)

const policy = `version: 1
groups:
  office: [10.137.0.0/24, "2001:db8:1::/64"]   # the trusted LAN
  blog: [203.0.113.7, "2001:db8:2::7"]         # the blog server may use MySQL
sets:
  scanners:                                    # a blocklist (kernel set)
    entries: [203.0.113.12, "2001:db8:2::12"]
host:
  policy: {input: drop, output: accept, forward: drop}
  input:
    - deny: any
      from: scanners
    - allow: ssh
      from: office
      limit: 4/minute
    - allow: [http, https]
    - allow: icmp
    - allow: tcp/3306
      from: blog
  redirect:                                    # strangers' SSH goes to a honeypot
    - port: tcp/22
      not_from: office
      to: 172.31.0.4:8022
    - port: tcp/22
      not_from: office
      to: "[fd00:31::4]:8022"
`

func main() {
	bin := flag.String("seawall", "bin/seawall", "the seawall binary")
	flag.Parse()
	if err := run(*bin); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(bin string) error {
	if err := netlab.Available(); err != nil {
		return fmt.Errorf("the demo needs network namespaces: %w", err)
	}
	lab, err := netlab.StartStandard(netlab.Options{ProbeTimeout: 400 * time.Millisecond})
	if err != nil {
		return err
	}
	defer lab.Close()
	for _, s := range []struct {
		ns   string
		port uint16
	}{{netlab.Host, 22}, {netlab.Host, 80}, {netlab.Host, 443}, {netlab.Host, 3306}, {netlab.Honeypot, 8022}} {
		if _, err := lab.ServeTCP(s.ns, fmt.Sprintf(":%d", s.port)); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "seawall-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := dir + "/seawall.yaml"
	if err := os.WriteFile(path, []byte(policy), 0o644); err != nil {
		return err
	}

	fmt.Println("A lab of network namespaces: host 192.0.2.2 / 2001:db8::2 (runs seawall), a trusted LAN")
	fmt.Println("10.137.0.0/24, an internet 203.0.113.0/24 (net3 .12 is a known scanner, net1 also holds the")
	fmt.Println("blog's address .7) and a honeypot 172.31.0.4 behind the host. The machine's own firewall is not touched.")
	fmt.Println("\n== Without seawall: everything reaches the host")
	fmt.Print(netlab.FormatTable(lab.Run(probes(false))))

	fmt.Println("\n== The policy\n" + indent(policy))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sw := func(args ...string) (string, error) {
		cmd := lab.Command(ctx, netlab.Host, append([]string{bin, "-c", path, "--state-dir", dir + "/state"}, args...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	start := time.Now()
	out, err := sw("apply")
	if err != nil {
		return fmt.Errorf("seawall apply: %v\n%s", err, out)
	}
	fmt.Printf("== seawall apply (%v)\n%s", time.Since(start).Round(time.Millisecond), indent(out))

	fmt.Println("\n== With seawall")
	results := lab.Run(probes(true))
	fmt.Print(netlab.FormatTable(results))
	failed := 0
	for _, r := range results {
		if !r.OK {
			failed++
		}
	}

	out, err = sw("status")
	if err != nil {
		return fmt.Errorf("seawall status: %v\n%s", err, out)
	}
	fmt.Println("\n== seawall status (rules that counted packets)")
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if strings.HasPrefix(line, "chain") || (len(f) > 2 && f[0] != "0" && f[0] != "packets") {
			fmt.Println(line)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d probes did not behave as the policy says", failed)
	}
	fmt.Println("\nEvery probe behaved as the policy says. The lab is removed on exit.")
	return nil
}

// probes lists what the demo tries; with seawall, Want is what the policy
// says, without it everything is open.
func probes(withSeawall bool) []netlab.Probe {
	h4, h6 := netlab.Addr(netlab.Host, 4), netlab.Addr(netlab.Host, 6)
	hostSSH, honeypot := netlab.Banner(netlab.Host, 22), netlab.Banner(netlab.Honeypot, 8022)
	type p struct {
		from   string
		src    string
		to     bool // true: v6
		proto  netlab.Proto
		port   uint16
		want   netlab.Verdict
		banner string
	}
	list := []p{
		{netlab.LAN1, "", false, netlab.TCP, 22, netlab.Open, hostSSH},
		{netlab.LAN1, "", true, netlab.TCP, 22, netlab.Open, hostSSH},
		{netlab.Net2, "", false, netlab.TCP, 22, netlab.Open, honeypot},
		{netlab.Net2, "", true, netlab.TCP, 22, netlab.Open, honeypot},
		{netlab.Net2, "", false, netlab.TCP, 80, netlab.Open, ""},
		{netlab.Net2, "", true, netlab.TCP, 443, netlab.Open, ""},
		{netlab.Net2, "", false, netlab.TCP, 3306, netlab.Dropped, ""},
		{netlab.Net1, "blog", false, netlab.TCP, 3306, netlab.Open, ""},
		{netlab.Net1, "blog", true, netlab.TCP, 3306, netlab.Open, ""},
		{netlab.Net3, "", false, netlab.TCP, 80, netlab.Dropped, ""},
		{netlab.Net3, "", true, netlab.TCP, 80, netlab.Dropped, ""},
		{netlab.Net2, "", false, netlab.ICMP, 0, netlab.Open, ""},
		{netlab.Net2, "", true, netlab.ICMP, 0, netlab.Open, ""},
		{netlab.Net3, "", false, netlab.ICMP, 0, netlab.Dropped, ""},
	}
	var out []netlab.Probe
	for _, x := range list {
		to, ipv := h4, 4
		if x.to {
			to, ipv = h6, 6
		}
		pr := netlab.Probe{From: x.from, To: to, Proto: x.proto, Port: x.port, Want: x.want, WantBanner: x.banner}
		if x.src != "" {
			pr.Src = netlab.Addr(x.src, ipv)
		}
		if !withSeawall {
			pr.Want, pr.WantBanner = netlab.Open, ""
			if x.banner != "" {
				pr.WantBanner = hostSSH
			}
		}
		out = append(out, pr)
	}
	return out
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ") + "\n"
}
