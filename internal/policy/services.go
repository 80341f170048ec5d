package policy

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// serviceWhat describes an action's value in messages.
const serviceWhat = "a service like ssh or tcp/22"

// service is one entry of the catalogue: a name and its protocols and
// ports, written as space-separated protocol specs.
type service struct {
	name, spec string
}

// catalogue lists the named services. It is a function, not a variable, so
// that nothing can change it.
func catalogue() []service {
	return []service{
		{"any", "any"}, {"icmp", "icmp"}, {"ping", "icmp"},
		{"icmpv4", "icmpv4"}, {"icmpv6", "icmpv6"},
		{"ssh", "tcp/22"}, {"sftp", "tcp/22"}, {"ftp", "tcp/21"},
		{"http", "tcp/80"}, {"https", "tcp/443"},
		{"http3", "udp/443"}, {"quic", "udp/443"},
		{"http-alt", "tcp/8080"}, {"https-alt", "tcp/8443"},
		{"dns", "udp/53 tcp/53"}, {"dot", "tcp/853"}, {"mdns", "udp/5353"},
		{"smtp", "tcp/25"}, {"submission", "tcp/587"}, {"smtps", "tcp/465"},
		{"imap", "tcp/143"}, {"imaps", "tcp/993"},
		{"pop3", "tcp/110"}, {"pop3s", "tcp/995"},
		{"ntp", "udp/123"}, {"dhcp", "udp/67-68"}, {"dhcpv6", "udp/546-547"},
		{"mysql", "tcp/3306"}, {"mariadb", "tcp/3306"},
		{"postgres", "tcp/5432"}, {"postgresql", "tcp/5432"},
		{"redis", "tcp/6379"}, {"mongodb", "tcp/27017"},
		{"memcached", "tcp/11211"}, {"elasticsearch", "tcp/9200"},
		{"rabbitmq", "tcp/5672"}, {"mqtt", "tcp/1883"}, {"mqtts", "tcp/8883"},
		{"ldap", "tcp/389"}, {"ldaps", "tcp/636"},
		{"rdp", "tcp/3389"}, {"vnc", "tcp/5900"},
		{"smb", "tcp/445"}, {"samba", "tcp/445"},
		{"netbios", "udp/137-138 tcp/139"},
		{"snmp", "udp/161"}, {"syslog", "udp/514"},
		{"kubernetes", "tcp/6443"}, {"docker-tls", "tcp/2376"},
		{"wireguard", "udp/51820"}, {"openvpn", "udp/1194"},
		{"ipsec", "udp/500,4500"},
		{"minecraft", "tcp/25565"}, {"git", "tcp/9418"},
		{"prometheus", "tcp/9090"}, {"grafana", "tcp/3000"},
		{"bitcoin", "tcp/8333"}, {"ethereum", "tcp/30303 udp/30303"},
		{"xmpp", "tcp/5222"}, {"sip", "udp/5060 tcp/5060"},
	}
}

// LookupService returns the protocols and ports of a named service from
// the catalogue, including the special names any, icmp, icmpv4, icmpv6 and
// ping. It does not parse PROTO/PORTS forms.
func LookupService(name string) ([]ProtoPorts, bool) {
	for _, s := range catalogue() {
		if s.name == name {
			var out []ProtoPorts
			for spec := range strings.FieldsSeq(s.spec) {
				pp, msg := parseProtoSpec(spec)
				if msg != "" {
					panic("policy: bad catalogue entry " + s.name + ": " + msg)
				}
				out = append(out, pp)
			}
			return out, true
		}
	}
	return nil, false
}

// ServiceNames returns the names of all catalogue services, sorted.
func ServiceNames() []string {
	var names []string
	for _, s := range catalogue() {
		names = append(names, s.name)
	}
	slices.Sort(names)
	return names
}

// parseService parses one item of a rule's action value: a catalogue name
// or a PROTO/PORTS form. It returns a message on failure.
func parseService(s string) ([]ProtoPorts, string) {
	if pps, ok := LookupService(s); ok {
		return pps, ""
	}
	if s == "tcp" || s == "udp" || strings.Contains(s, "/") {
		pp, msg := parseProtoSpec(s)
		if msg != "" {
			return nil, msg
		}
		return []ProtoPorts{pp}, ""
	}
	hint := ""
	if c := closest(s, ServiceNames()); c != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", c)
	}
	return nil, fmt.Sprintf("unknown service %q%s; use a service name or PROTO/PORTS like tcp/22", s, hint)
}

// parseProtoSpec parses any, icmp, icmpv4, icmpv6, tcp, udp, tcp/PORTS or
// udp/PORTS.
func parseProtoSpec(s string) (ProtoPorts, string) {
	proto, ports, hasPorts := strings.Cut(s, "/")
	var pp ProtoPorts
	switch proto {
	case "any":
		pp.Proto = ProtoAny
	case "icmp":
		pp.Proto = ProtoICMP
	case "icmpv4":
		pp.Proto = ProtoICMPv4
	case "icmpv6":
		pp.Proto = ProtoICMPv6
	case "tcp":
		pp.Proto = ProtoTCP
	case "udp":
		pp.Proto = ProtoUDP
	default:
		return pp, fmt.Sprintf("unknown protocol %q in %q; want tcp or udp", proto, s)
	}
	if !hasPorts {
		return pp, ""
	}
	if pp.Proto != ProtoTCP && pp.Proto != ProtoUDP {
		return pp, fmt.Sprintf("protocol %q has no ports", proto)
	}
	if ports == "" {
		return pp, fmt.Sprintf("missing ports after %q", proto+"/")
	}
	var msg string
	pp.Ports, msg = parsePorts(ports, s)
	return pp, msg
}

// parsePorts parses a comma list of ports and port ranges; spec is the whole
// service, for messages.
func parsePorts(s, spec string) ([]PortRange, string) {
	var out []PortRange
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Sprintf("empty port in %q", spec)
		}
		first, last, isRange := strings.Cut(part, "-")
		lo, msg := parsePort(first)
		if msg != "" {
			return nil, msg
		}
		hi := lo
		if isRange {
			if hi, msg = parsePort(last); msg != "" {
				return nil, msg
			}
		}
		if lo > hi {
			return nil, fmt.Sprintf("port range %q is reversed; write %d-%d", part, hi, lo)
		}
		out = append(out, PortRange{First: lo, Last: hi})
	}
	return out, ""
}

// parsePort parses one port number, 1-65535.
func parsePort(s string) (uint16, string) {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseUint(s, 10, 16)
	switch {
	case errors.Is(err, strconv.ErrRange), err == nil && n == 0:
		return 0, fmt.Sprintf("port %s out of range 1-65535", s)
	case err != nil:
		return 0, fmt.Sprintf("invalid port %q", s)
	}
	return uint16(n), ""
}
