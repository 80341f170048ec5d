package policy

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Policy is a parsed and validated policy file.
type Policy struct {
	Version int
	File    string   // file name given to Parse
	Groups  []*Group // in file order
	Sets    []*Set   // in file order
	Host    Host
	// Containers is the containers section; nil when the file has none.
	Containers *Containers
	Jails      []*Jail // in file order
	Hash       string  // sha256 hex of the source, for change detection
}

// Group is a named list of addresses, CIDRs and other groups.
type Group struct {
	Name    string
	Pos     Pos       // position of the name
	Members []AddrRef // as written; refs are always GroupRef
}

// Set is a named kernel set of addresses, filled from inline entries and
// from files.
type Set struct {
	Name    string
	Pos     Pos       // position of the name
	Entries []AddrRef // inline entries, all of kind Literal
	Files   []SetFile // files with one address or CIDR per line

	fileEntries []netip.Prefix // read by LoadSetFiles
}

// SetFile is a file named by a set. A relative Path is relative to the
// directory of the policy file.
type SetFile struct {
	Path string // as written
	Pos  Pos
}

// Host is the host section: what reaches, leaves and crosses the host.
type Host struct {
	Policy  DirPolicy
	Deny    DenyMode // what the deny action does; default DenyDrop
	DenyPos Pos
	Log     LogConfig
	Input   []*Rule
	Output  []*Rule
	Forward []*Rule

	Redirects []*Redirect
}

// DirPolicy holds the default verdict of each direction. Input and Output
// are always set (to drop and accept unless the file says otherwise, with
// a Pos whose Line is 0); Forward is nil when the file does not mention it.
type DirPolicy struct {
	Input, Output, Forward *DirDefault
}

// DirDefault is the default verdict of one direction. (It is not called
// Default because the function Default returns the default policy.)
type DirDefault struct {
	Verdict Verdict
	Pos     Pos
}

// Verdict is a chain's default verdict.
type Verdict int

// Verdicts.
const (
	VerdictAccept Verdict = iota
	VerdictDrop
)

// String returns "accept" or "drop".
func (v Verdict) String() string {
	switch v {
	case VerdictAccept:
		return "accept"
	case VerdictDrop:
		return "drop"
	}
	return "Verdict(" + strconv.Itoa(int(v)) + ")"
}

// DenyMode says what the deny action does.
type DenyMode int

// Deny modes.
const (
	DenyDrop   DenyMode = iota // drop silently
	DenyReject                 // reject with an ICMP error or TCP reset
)

// String returns "drop" or "reject".
func (d DenyMode) String() string {
	switch d {
	case DenyDrop:
		return "drop"
	case DenyReject:
		return "reject"
	}
	return "DenyMode(" + strconv.Itoa(int(d)) + ")"
}

// LogConfig says whether and how fast dropped packets are logged.
type LogConfig struct {
	Dropped bool // default true
	Rate    Rate // default 10/minute
	Pos     Pos  // position of the log key; Line 0 when absent
}

// Rate is a number of events per time unit, e.g. 4/minute.
type Rate struct {
	Count uint64
	Unit  RateUnit
}

// String returns e.g. "4/minute".
func (r Rate) String() string {
	return fmt.Sprintf("%d/%s", r.Count, r.Unit)
}

// RateUnit is the time unit of a Rate.
type RateUnit int

// Rate units.
const (
	Second RateUnit = iota
	Minute
	Hour
	Day
	Week
)

// Seconds returns the length of the unit in seconds.
func (u RateUnit) Seconds() uint64 {
	switch u {
	case Minute:
		return 60
	case Hour:
		return 3600
	case Day:
		return 86400
	case Week:
		return 7 * 86400
	}
	return 1
}

// String returns "second", "minute", "hour", "day" or "week".
func (u RateUnit) String() string {
	switch u {
	case Second:
		return "second"
	case Minute:
		return "minute"
	case Hour:
		return "hour"
	case Day:
		return "day"
	case Week:
		return "week"
	}
	return "RateUnit(" + strconv.Itoa(int(u)) + ")"
}

// Action is what a rule does with matching packets.
type Action int

// Actions.
const (
	Allow  Action = iota // accept
	Deny                 // drop or reject, as Host.Deny says
	Reject               // always reject
	Drop                 // always drop silently
)

// String returns "allow", "deny", "reject" or "drop".
func (a Action) String() string {
	switch a {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	case Reject:
		return "reject"
	case Drop:
		return "drop"
	}
	return "Action(" + strconv.Itoa(int(a)) + ")"
}

// Rule is one entry of host.input, host.output or host.forward, of a
// container entry's ingress or egress list, or one statement of a
// container's seawall.ingress or seawall.egress label (see ParseLabels).
type Rule struct {
	Pos       Pos    // position of the rule's first key
	Chain     string // "input", "output", "forward", "ingress" or "egress"
	Entry     string // the container entry's name for ingress and egress; "" for host rules
	Index     int    // 0-based index in its list
	Action    Action
	ActionPos Pos       // position of the action key
	Services  []Service // what the action's value names, in order
	From, To  []AddrRef // empty = any
	Iface     string    // "" = any; may end with '*' (prefix wildcard)
	Limit     *Rate     // new connections per source; only with Allow
	LimitPos  Pos
	Log       *bool // nil = default
	Comment   string
}

// Service is one item of a rule's action value.
type Service struct {
	Name  string // as written: "ssh", "tcp/22", "any"
	Pos   Pos
	Ports []ProtoPorts
}

// Proto is a protocol a service uses.
type Proto int

// Protocols.
const (
	ProtoAny    Proto = iota // any protocol
	ProtoTCP                 // TCP
	ProtoUDP                 // UDP
	ProtoICMP                // ICMP for IPv4 and ICMPv6 for IPv6
	ProtoICMPv6              // ICMPv6 only
	ProtoICMPv4              // ICMP for IPv4 only
)

// String returns the protocol's name as written in a policy.
func (p Proto) String() string {
	switch p {
	case ProtoAny:
		return "any"
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoICMP:
		return "icmp"
	case ProtoICMPv6:
		return "icmpv6"
	case ProtoICMPv4:
		return "icmpv4"
	}
	return "Proto(" + strconv.Itoa(int(p)) + ")"
}

// ProtoPorts is a protocol and some of its ports.
type ProtoPorts struct {
	Proto Proto
	Ports []PortRange // empty = all ports; only TCP and UDP have ports
}

// String returns e.g. "tcp/80,443,8000-8100" or "udp".
func (pp ProtoPorts) String() string {
	if len(pp.Ports) == 0 {
		return pp.Proto.String()
	}
	parts := make([]string, len(pp.Ports))
	for i, r := range pp.Ports {
		parts[i] = r.String()
	}
	return pp.Proto.String() + "/" + strings.Join(parts, ",")
}

// PortRange is an inclusive range of ports; First == Last for one port.
type PortRange struct {
	First, Last uint16
}

// String returns "22" or "137-138".
func (r PortRange) String() string {
	if r.First == r.Last {
		return strconv.Itoa(int(r.First))
	}
	return fmt.Sprintf("%d-%d", r.First, r.Last)
}

// AddrKind says what an AddrRef holds.
type AddrKind int

// Address kinds.
const (
	Literal  AddrKind = iota // an address or CIDR, in Prefix
	GroupRef                 // the name of a group
	SetRef                   // the name of a set
	// ContainerRef is written container:NAME; Name holds NAME. When a
	// containers entry has that name (Policy.ContainerEntry), it means the
	// containers the entry selects; otherwise it is a container name or a
	// compose service, looked up at run time (no match is not an error).
	// Allowed in the from and to of rules only.
	ContainerRef
	// DNSRef is a DNS name such as api.example.com, in Name as written.
	// Allowed only as a destination of egress rules: the to of
	// containers' egress rules and of host.output.
	DNSRef
)

// String returns "literal", "group", "set", "container" or "dns".
func (k AddrKind) String() string {
	switch k {
	case Literal:
		return "literal"
	case GroupRef:
		return "group"
	case SetRef:
		return "set"
	case ContainerRef:
		return "container"
	case DNSRef:
		return "dns"
	}
	return "AddrKind(" + strconv.Itoa(int(k)) + ")"
}

// AddrRef is an address, CIDR, group name, set name, container reference
// or DNS name as written in a policy. A single address is stored as a /32
// or /128 prefix; IPv4-mapped IPv6 addresses are stored as IPv4.
type AddrRef struct {
	Kind   AddrKind
	Prefix netip.Prefix // Literal only; masked
	Name   string       // GroupRef, SetRef, ContainerRef (without "container:") and DNSRef only
	Pos    Pos
}

// String returns the prefix, the name, or container:NAME.
func (a AddrRef) String() string {
	switch a.Kind {
	case Literal:
		return a.Prefix.String()
	case ContainerRef:
		return containerPrefix + a.Name
	}
	return a.Name
}

// Redirect sends connections to a host port on to another address and port.
type Redirect struct {
	Pos     Pos        // position of the redirect's first key
	Port    ProtoPorts // exactly one proto (tcp or udp) and one port
	From    []AddrRef  // only these sources are redirected (empty = all) ...
	NotFrom []AddrRef  // ... minus these
	To      netip.AddrPort
	Iface   string
	Comment string
}
