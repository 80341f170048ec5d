package netlab

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"
)

// ICMP message types and codes that Ping understands.
const (
	icmp4EchoReply      = 0
	icmp4DestUnreach    = 3
	icmp4Echo           = 8
	icmp4TimeExceeded   = 11
	icmp4PortUnreach    = 3 // code of icmp4DestUnreach
	icmp6DestUnreach    = 1
	icmp6TimeExceeded   = 3
	icmp6Echo           = 128
	icmp6EchoReply      = 129
	icmp6PortUnreach    = 4 // code of icmp6DestUnreach
	protoICMP4          = 1
	protoICMP6          = 58
	ipv6HeaderLen       = 40
	icmpHeaderLen       = 8
	icmpPayloadTemplate = "netlab echo"
)

// Ping sends one ICMP (or ICMPv6) echo request from namespace ns to dst
// through a raw socket and waits for the reply. An echo reply is Open, a
// port unreachable error is Refused, any other destination unreachable or
// time exceeded error about this request is Unreachable, and silence is
// Dropped. A timeout of 0 means the lab's probe timeout.
func (l *Lab) Ping(ns string, dst netip.Addr, timeout time.Duration) Result {
	return l.PingFrom(ns, netip.Addr{}, dst, timeout)
}

// PingFrom is Ping with source address src (ignored if invalid).
func (l *Lab) PingFrom(ns string, src, dst netip.Addr, timeout time.Duration) Result {
	timeout = l.probeTimeout(timeout)
	start := time.Now()
	dst = dst.Unmap()
	v6 := dst.Is6()
	network, bind := "ip4:icmp", "0.0.0.0"
	if v6 {
		network, bind = "ip6:ipv6-icmp", "::"
	}
	if src.IsValid() {
		bind = src.Unmap().String()
	}
	var c net.PacketConn
	var listenErr error
	if err := l.InNS(ns, func() error {
		c, listenErr = net.ListenPacket(network, bind)
		return nil
	}); err != nil {
		return Result{Verdict: Failed, Err: err, Took: time.Since(start)}
	}
	if listenErr != nil {
		return Result{Verdict: Failed, Err: fmt.Errorf("could not open icmp socket: %w", listenErr), Took: time.Since(start)}
	}
	defer c.Close()
	_ = c.SetDeadline(start.Add(timeout))

	id, seq := uint16(rand.Uint32()), uint16(rand.Uint32())
	if _, err := c.WriteTo(echoRequest(v6, id, seq), &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		return classify(err, start)
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return classify(err, start)
		}
		fromAddr, _ := netip.AddrFromSlice(from.(*net.IPAddr).IP)
		m := echoMatch{v6: v6, dst: dst, id: id, seq: seq}
		if v, detail, ok := m.match(buf[:n], fromAddr.Unmap()); ok {
			r := Result{Verdict: v, Took: time.Since(start)}
			if v != Open {
				r.Err = fmt.Errorf("%s from %v", detail, fromAddr.Unmap())
			}
			return r
		}
	}
}

// echoRequest builds an ICMP echo request. For ICMPv6 the kernel fills in
// the checksum.
func echoRequest(v6 bool, id, seq uint16) []byte {
	b := make([]byte, icmpHeaderLen, icmpHeaderLen+len(icmpPayloadTemplate))
	b[0] = icmp4Echo
	if v6 {
		b[0] = icmp6Echo
	}
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	b = append(b, icmpPayloadTemplate...)
	if !v6 {
		binary.BigEndian.PutUint16(b[2:], checksum(b))
	}
	return b
}

// checksum is the Internet checksum (RFC 1071) of b.
func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// echoMatch recognises answers to one echo request.
type echoMatch struct {
	v6      bool
	dst     netip.Addr
	id, seq uint16
}

// match reports whether msg (an ICMP message without IP header, received
// from from) answers the request, and with which verdict.
func (m echoMatch) match(msg []byte, from netip.Addr) (Verdict, string, bool) {
	if len(msg) < icmpHeaderLen {
		return 0, "", false
	}
	typ, code := msg[0], msg[1]
	reply, unreach, exceeded, portUnreach := byte(icmp4EchoReply), byte(icmp4DestUnreach), byte(icmp4TimeExceeded), byte(icmp4PortUnreach)
	family := "icmp"
	if m.v6 {
		reply, unreach, exceeded, portUnreach = icmp6EchoReply, icmp6DestUnreach, icmp6TimeExceeded, icmp6PortUnreach
		family = "icmpv6"
	}
	switch typ {
	case reply:
		if from == m.dst && m.ids(msg) {
			return Open, "", true
		}
	case unreach, exceeded:
		if !m.quotes(msg[icmpHeaderLen:]) {
			return 0, "", false
		}
		if typ == unreach && code == portUnreach {
			return Refused, fmt.Sprintf("%s port unreachable", family), true
		}
		what := "destination unreachable"
		if typ == exceeded {
			what = "time exceeded"
		}
		return Unreachable, fmt.Sprintf("%s %s code %d", family, what, code), true
	}
	return 0, "", false
}

// ids reports whether the echo header at the start of b carries our id
// and sequence number.
func (m echoMatch) ids(b []byte) bool {
	return len(b) >= icmpHeaderLen &&
		binary.BigEndian.Uint16(b[4:]) == m.id && binary.BigEndian.Uint16(b[6:]) == m.seq
}

// quotes reports whether inner, the packet quoted by an ICMP error, is our
// echo request.
func (m echoMatch) quotes(inner []byte) bool {
	if m.v6 {
		if len(inner) < ipv6HeaderLen+icmpHeaderLen || inner[0]>>4 != 6 || inner[6] != protoICMP6 {
			return false
		}
		dst, _ := netip.AddrFromSlice(inner[24:40])
		echo := inner[ipv6HeaderLen:]
		return dst == m.dst && echo[0] == icmp6Echo && m.ids(echo)
	}
	if len(inner) < 20 || inner[0]>>4 != 4 {
		return false
	}
	ihl := int(inner[0]&0x0f) * 4
	if ihl < 20 || len(inner) < ihl+icmpHeaderLen || inner[9] != protoICMP4 {
		return false
	}
	dst, _ := netip.AddrFromSlice(inner[16:20])
	echo := inner[ihl:]
	return dst == m.dst && echo[0] == icmp4Echo && m.ids(echo)
}
