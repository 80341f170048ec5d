package cli

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/seawall/seawall/internal/explain"
	"github.com/seawall/seawall/internal/ruleset"
)

func (a *app) explainCommand() *cobra.Command {
	var from, to, service, iface, state string
	var hook string
	cmd := &cobra.Command{
		Use:   "explain --from ADDR [--to ADDR] [--port tcp/22] [--hook input]",
		Short: "Say what the policy does with a packet, and which policy line decides",
		Long: `explain traces a packet through the compiled policy (no kernel involved):
the redirects it would take, and the verdict of the filter chain with the
rule and policy line that decide it. By default the packet opens a new
connection (--state new); --state established shows replies.`,
		Example: `  seawall explain --from 198.51.100.9 --port tcp/22
  seawall explain --hook output --to 2001:db8::53 --port udp/53`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			p, err := explainPacket(from, to, service, iface, state, hook)
			if err != nil {
				return err
			}
			_, _, rs, err := a.desired()
			if err != nil {
				return err
			}
			h := map[string]ruleset.Hook{"input": ruleset.HookInput, "output": ruleset.HookOutput, "forward": ruleset.HookForward}[hook]
			if h == ruleset.HookInput || h == ruleset.HookForward {
				if r := explain.Hook(rs, ruleset.TypeNAT, ruleset.HookPrerouting, p); r.Verdict.Kind == ruleset.VerdictDNAT {
					fmt.Fprintf(a.out, "redirected to %s by %s\n", r.Verdict.To, r.Rule.Origin)
					return nil
				}
			}
			r := explain.Hook(rs, ruleset.TypeFilter, h, p)
			verdict := map[ruleset.VerdictKind]string{ruleset.VerdictAccept: "accepted", ruleset.VerdictDrop: "dropped", ruleset.VerdictReject: "rejected"}[r.Verdict.Kind]
			switch {
			case r.Rule != nil:
				fmt.Fprintf(a.out, "%s by %s\n  chain %s: %s\n", verdict, r.Rule.Origin, r.Chain, shortRule(r.Rule))
			case r.Chain != "":
				fmt.Fprintf(a.out, "%s by the policy of chain %s\n", verdict, r.Chain)
			default:
				fmt.Fprintf(a.out, "%s: seawall has no %s chain, so it does not filter this traffic\n", verdict, hook)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "source address")
	f.StringVar(&to, "to", "", "destination address (default: a host address of the source's family)")
	f.StringVar(&service, "port", "tcp/22", "PROTO/PORT (tcp, udp), or icmp")
	f.StringVar(&iface, "iface", "", "interface the packet arrives on (input, forward) or leaves by (output)")
	f.StringVar(&state, "state", "new", "conntrack state: new, established, related or invalid")
	f.StringVar(&hook, "hook", "input", "input, output or forward")
	return cmd
}

// explainPacket builds the packet described by explain's flags.
func explainPacket(from, to, service, iface, state, hook string) (explain.Packet, error) {
	var p explain.Packet
	if hook != "input" && hook != "output" && hook != "forward" {
		return p, usagef("--hook must be input, output or forward")
	}
	if from == "" && to == "" {
		return p, usagef("give --from, --to or both")
	}
	var src, dst netip.Addr
	var err error
	if from != "" {
		if src, err = netip.ParseAddr(from); err != nil {
			return p, usagef("--from: %v", err)
		}
	}
	if to != "" {
		if dst, err = netip.ParseAddr(to); err != nil {
			return p, usagef("--to: %v", err)
		}
	}
	src, dst = src.Unmap(), dst.Unmap()
	fam := ruleset.IPv4
	if (src.IsValid() && src.Is6()) || (dst.IsValid() && dst.Is6()) {
		fam = ruleset.IPv6
	}
	if src.IsValid() && dst.IsValid() && src.Is4() != dst.Is4() {
		return p, usagef("--from and --to are of different families")
	}
	p = explain.Packet{Family: fam, Src: src, Dst: dst, DstLocal: hook == "input", HopLimit: 64}
	if hook == "output" {
		p.Oif = iface
	} else {
		p.Iif = iface
	}
	states := map[string]uint32{"new": ruleset.CtNew, "established": ruleset.CtEstablished, "related": ruleset.CtRelated, "invalid": ruleset.CtInvalid}
	if p.CtState = states[state]; p.CtState == 0 {
		return p, usagef("--state must be new, established, related or invalid")
	}
	switch {
	case service == "icmp":
		p.Proto, p.ICMPType = ruleset.ProtoICMP, 8
		if fam == ruleset.IPv6 {
			p.Proto, p.ICMPType = ruleset.ProtoICMPv6, 128
		}
	default:
		proto, port, ok := strings.Cut(service, "/")
		n, err := strconv.ParseUint(port, 10, 16)
		if !ok || err != nil || n == 0 || (proto != "tcp" && proto != "udp") {
			return p, usagef("--port must be tcp/PORT, udp/PORT or icmp, not %q", service)
		}
		p.Proto, p.DstPort, p.SrcPort = ruleset.ProtoTCP, uint16(n), 40000
		if proto == "udp" {
			p.Proto = ruleset.ProtoUDP
		}
		if p.Proto == ruleset.ProtoTCP && p.CtState == ruleset.CtNew {
			p.TCPFlags = ruleset.TCPSyn
		}
	}
	return p, nil
}
