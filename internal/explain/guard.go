package explain

import (
	"fmt"
	"net/netip"

	"github.com/seawall/seawall/internal/ruleset"
)

// SSHLockout checks whether a new connection like the SSH session seawall
// runs from (client → server:port, arriving on iface) would be redirected
// or denied by rs. It returns nil when the session could reconnect, or an
// error that names the rule responsible.
func SSHLockout(rs *ruleset.Ruleset, client, server netip.AddrPort, iface string) error {
	fam := ruleset.IPv4
	if server.Addr().Is6() && !server.Addr().Is4In6() {
		fam = ruleset.IPv6
	}
	p := Packet{
		Family: fam, Iif: iface,
		Src: client.Addr().Unmap(), Dst: server.Addr().Unmap(),
		Proto: ruleset.ProtoTCP, SrcPort: client.Port(), DstPort: server.Port(),
		TCPFlags: ruleset.TCPSyn, CtState: ruleset.CtNew, DstLocal: true,
	}
	if r := Hook(rs, ruleset.TypeNAT, ruleset.HookPrerouting, p); r.Verdict.Kind == ruleset.VerdictDNAT {
		return fmt.Errorf("new SSH connections from %s to port %d would be redirected to %s by %s",
			p.Src, p.DstPort, r.Verdict.To, describe(r))
	}
	if r := Hook(rs, ruleset.TypeFilter, ruleset.HookInput, p); r.Denied() {
		return fmt.Errorf("new SSH connections from %s to port %d would be %s by %s",
			p.Src, p.DstPort, deniedWord(r.Verdict), describe(r))
	}
	return nil
}

func deniedWord(v ruleset.Verdict) string {
	if v.Kind == ruleset.VerdictReject {
		return "rejected"
	}
	return "dropped"
}

// describe names what decided: a rule's origin or a chain's policy.
func describe(r Result) string {
	if r.Rule != nil {
		return r.Rule.Origin.String()
	}
	return fmt.Sprintf("the policy of chain %s", r.Chain)
}
