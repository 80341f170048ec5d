package ruleset

import "net/netip"

// Match is one condition of a rule. The concrete types below are the whole
// vocabulary; the nft package renders each of them as text and as netlink
// expressions, and the explain package evaluates them.
type Match interface{ isMatch() }

// Protocol numbers used by matches.
const (
	ProtoICMP   uint8 = 1
	ProtoTCP    uint8 = 6
	ProtoUDP    uint8 = 17
	ProtoICMPv6 uint8 = 58
)

// Dir says whether an address or port match looks at the source or the
// destination, and whether an interface match is the input or output one.
type Dir uint8

// Directions.
const (
	Src Dir = iota
	Dst
)

// NFProto matches the packet's family (meta nfproto).
type NFProto struct{ Family Family }

// L4Proto matches the transport protocol (meta l4proto).
type L4Proto struct{ Proto uint8 }

// Iface matches the input (Src) or output (Dst) interface name; a trailing
// '*' matches a prefix.
type Iface struct {
	Dir  Dir
	Name string
	Neg  bool
}

// Addr matches the source or destination address against a named set or an
// inline list of ranges of one family.
type Addr struct {
	Family Family
	Dir    Dir
	Set    string    // a named set, or ...
	Ranges []Element // ... inline elements (First..Last), already merged
	Neg    bool
	// Mask, with Set, keeps only the first Mask bits of the address before
	// the lookup (0: the whole address): a set of /64 prefixes keyed by
	// their first address matches any address in them.
	Mask int
}

// PortRange is an inclusive range of ports.
type PortRange struct{ First, Last uint16 }

// Port matches the TCP or UDP source or destination port.
type Port struct {
	Proto  uint8 // ProtoTCP or ProtoUDP
	Dir    Dir
	Ranges []PortRange
}

// CtState bits, as the kernel numbers them.
const (
	CtInvalid     uint32 = 1
	CtEstablished uint32 = 2
	CtRelated     uint32 = 4
	CtNew         uint32 = 8
)

// CtState matches when the connection tracking state is any of States.
type CtState struct{ States uint32 }

// CtDNAT matches packets of connections that were destination-NATed and
// whose original destination port was OrigPort.
type CtDNAT struct{ OrigPort uint16 }

// DNATed matches packets of connections that were destination-NATed (Neg:
// that were not) — how ingress rules tell a published port (the client
// dialled the host) from a direct connection to a container.
type DNATed struct{ Neg bool }

// OrigPort matches the destination port the client originally dialled,
// before any DNAT (ct original proto-dst), for one protocol.
type OrigPort struct {
	Proto uint8
	Range PortRange
}

// TCP flag bits.
const (
	TCPFin uint8 = 0x01
	TCPSyn uint8 = 0x02
	TCPRst uint8 = 0x04
	TCPPsh uint8 = 0x08
	TCPAck uint8 = 0x10
	TCPUrg uint8 = 0x20
)

// TCPFlags matches TCP packets whose flags masked by Mask equal Value
// (Neg: differ from Value).
type TCPFlags struct {
	Mask, Value uint8
	Neg         bool
}

// ICMPType matches ICMP (IPv4) or ICMPv6 (IPv6) messages of the given types.
type ICMPType struct {
	Family Family
	Types  []uint8
}

// HopLimit matches the IPv6 hop limit.
type HopLimit struct{ Value uint8 }

// LocalDst matches packets addressed to one of the host's own addresses
// (fib daddr type local).
type LocalDst struct{}

// InSet matches when the packet's family is an element of an nf_proto set
// (meta nfproto @set): the confirm window's switch.
type InSet struct{ Set string }

func (NFProto) isMatch()  {}
func (L4Proto) isMatch()  {}
func (Iface) isMatch()    {}
func (Addr) isMatch()     {}
func (Port) isMatch()     {}
func (CtState) isMatch()  {}
func (CtDNAT) isMatch()   {}
func (TCPFlags) isMatch() {}
func (ICMPType) isMatch() {}
func (HopLimit) isMatch() {}
func (InSet) isMatch()    {}
func (LocalDst) isMatch() {}
func (DNATed) isMatch()   {}
func (OrigPort) isMatch() {}

// Contains reports whether a lies within the element's range.
func (e Element) Contains(a netip.Addr) bool {
	return e.First.Compare(a) <= 0 && a.Compare(e.Last) <= 0
}
