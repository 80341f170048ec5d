package ruleset

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
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
	case LocalDst:
		return "localdst"
	case DNATed:
		return "dnated"
	case OrigPort:
		return "origport"
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
	case "localdst":
		return decodeAs[LocalDst](raw)
	case "dnated":
		return decodeAs[DNATed](raw)
	case "origport":
		return decodeAs[OrigPort](raw)
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

// Elements are stored compactly, as nft writes them: "10.0.0.0/8",
// "192.0.2.1", "10.0.0.1-10.0.0.5" or "ipv4", with "/timeout=5m0s" appended
// for timed elements. A 100k-entry blocklist stays a small file.

// MarshalJSON writes the element as a string.
func (e Element) MarshalJSON() ([]byte, error) {
	var s string
	switch {
	case e.Port != 0:
		s = "port=" + strconv.Itoa(int(e.Port))
	case e.Proto != FamilyAny:
		s = e.Proto.String()
	case e.First == e.Last:
		s = e.First.String()
	default:
		if p, ok := e.Prefix(); ok {
			s = p.String()
		} else {
			s = e.First.String() + "-" + e.Last.String()
		}
	}
	if e.Timeout > 0 {
		s += " timeout=" + e.Timeout.String()
	}
	if e.Jump != "" {
		s += " jump=" + e.Jump
	}
	return json.Marshal(s)
}

// UnmarshalJSON reads an element written by MarshalJSON.
func (e *Element) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*e = Element{}
	if i := strings.Index(s, " jump="); i >= 0 {
		e.Jump, s = s[i+len(" jump="):], s[:i]
	}
	if i := strings.Index(s, " timeout="); i >= 0 {
		d, err := time.ParseDuration(s[i+len(" timeout="):])
		if err != nil {
			return fmt.Errorf("element %q: %w", s, err)
		}
		e.Timeout, s = d, s[:i]
	}
	if p, ok := strings.CutPrefix(s, "port="); ok {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return fmt.Errorf("element %q: %w", s, err)
		}
		e.Port = uint16(n)
		return nil
	}
	switch s {
	case "ipv4":
		e.Proto = IPv4
		return nil
	case "ipv6":
		e.Proto = IPv6
		return nil
	}
	if first, last, ok := strings.Cut(s, "-"); ok {
		a, err1 := netip.ParseAddr(first)
		z, err2 := netip.ParseAddr(last)
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("element %q: %w", s, err)
		}
		e.First, e.Last = a, z
		return nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("element %q: %w", s, err)
		}
		*e = Element{First: RangeOf(p).First, Last: RangeOf(p).Last, Timeout: e.Timeout, Jump: e.Jump}
		return nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return fmt.Errorf("element %q: %w", s, err)
	}
	e.First, e.Last = a, a
	return nil
}
