package ruleset

import (
	"encoding/json"
	"fmt"
)

// The IR is stored as JSON in the state directory (the last applied ruleset
// is what a confirm window falls back to). Matches are an interface, so each
// is written as a one-key object naming its type: {"addr": {...}}.

func matchName(m Match) string {
	switch m.(type) {
	case NFProto:
		return "nfproto"
	case L4Proto:
		return "l4proto"
	case Iface:
		return "iface"
	case Addr:
		return "addr"
	case Port:
		return "port"
	case CtState:
		return "ctstate"
	case CtDNAT:
		return "ctdnat"
	case TCPFlags:
		return "tcpflags"
	case ICMPType:
		return "icmptype"
	case HopLimit:
		return "hoplimit"
	case InSet:
		return "inset"
	}
	panic(fmt.Sprintf("ruleset: unknown match %T", m))
}

func decodeMatch(name string, raw json.RawMessage) (Match, error) {
	switch name {
	case "nfproto":
		return decodeAs[NFProto](raw)
	case "l4proto":
		return decodeAs[L4Proto](raw)
	case "iface":
		return decodeAs[Iface](raw)
	case "addr":
		return decodeAs[Addr](raw)
	case "port":
		return decodeAs[Port](raw)
	case "ctstate":
		return decodeAs[CtState](raw)
	case "ctdnat":
		return decodeAs[CtDNAT](raw)
	case "tcpflags":
		return decodeAs[TCPFlags](raw)
	case "icmptype":
		return decodeAs[ICMPType](raw)
	case "hoplimit":
		return decodeAs[HopLimit](raw)
	case "inset":
		return decodeAs[InSet](raw)
	}
	return nil, fmt.Errorf("unknown match type %q", name)
}

func decodeAs[T Match](raw json.RawMessage) (Match, error) {
	var m T
	err := json.Unmarshal(raw, &m)
	return m, err
}

type ruleJSON Rule

type ruleWithMatches struct {
	Match []map[string]any `json:"match,omitempty"`
	*ruleJSON
}

// MarshalJSON writes the rule with its matches tagged by type.
func (r *Rule) MarshalJSON() ([]byte, error) {
	out := ruleWithMatches{ruleJSON: (*ruleJSON)(r)}
	for _, m := range r.Match {
		out.Match = append(out.Match, map[string]any{matchName(m): m})
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads a rule written by MarshalJSON.
func (r *Rule) UnmarshalJSON(b []byte) error {
	var in struct {
		Match []map[string]json.RawMessage `json:"match"`
		*ruleJSON
	}
	in.ruleJSON = (*ruleJSON)(r)
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	r.Match = nil
	for _, one := range in.Match {
		if len(one) != 1 {
			return fmt.Errorf("could not decode rule: match object with %d keys", len(one))
		}
		for name, raw := range one {
			m, err := decodeMatch(name, raw)
			if err != nil {
				return fmt.Errorf("could not decode rule: %w", err)
			}
			r.Match = append(r.Match, m)
		}
	}
	return nil
}
