package netlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// serverIOTimeout bounds how long a server spends on one client.
const serverIOTimeout = 2 * time.Second

// Banner returns the line (without the trailing newline) that servers in
// namespace ns on port send, e.g. "lan1:22". Result.Banner holds it when a
// probe reached such a server.
func Banner(ns string, port uint16) string { return ns + ":" + strconv.Itoa(int(port)) }

// Server is an echo-style server started by ServeTCP or ServeUDP. The lab
// closes it on Close; closing it earlier frees the port.
type Server struct {
	NS    string // short namespace name
	Proto string // "tcp" or "udp"
	Port  uint16 // bound port (useful when asked for port 0)

	closers []io.Closer
	wg      sync.WaitGroup
	once    sync.Once
	err     error
}

// Close stops the server and waits for its goroutines. It is idempotent.
func (s *Server) Close() error {
	s.once.Do(func() {
		var errs []error
		for _, c := range s.closers {
			if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
		s.wg.Wait()
		if len(errs) > 0 {
			s.err = fmt.Errorf("could not close %s server %s: %w", s.Proto, Banner(s.NS, s.Port), errors.Join(errs...))
		}
	})
	return s.err
}

// ServeTCP starts a TCP server in namespace ns listening on addr ("host:port";
// an empty host, as in ":22", means all IPv4 and IPv6 addresses of ns).
// Every client gets Banner(ns, port) plus "\n", then the connection closes.
func (l *Lab) ServeTCP(ns, addr string) (*Server, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("could not serve tcp on %q in %s: %w", addr, ns, err)
	}
	var ln net.Listener
	err := l.InNS(ns, func() error {
		var err error
		ln, err = (&net.ListenConfig{}).Listen(context.Background(), "tcp", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("could not serve tcp on %q in %s: %w", addr, ns, err)
	}
	s := &Server{NS: ns, Proto: "tcp", Port: uint16(ln.Addr().(*net.TCPAddr).Port), closers: []io.Closer{ln}}
	banner := []byte(Banner(ns, s.Port) + "\n")
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			s.wg.Go(func() { serveTCPConn(c, banner) })
		}
	})
	if err := l.addServer(s); err != nil {
		return nil, err
	}
	return s, nil
}

// serveTCPConn sends banner, half-closes and waits briefly for the client
// to close, so the connection ends with FIN rather than RST.
func serveTCPConn(c net.Conn, banner []byte) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(serverIOTimeout))
	if _, err := c.Write(banner); err != nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, c)
}

// ServeUDP starts a UDP server in namespace ns on addr ("host:port"; an
// empty host means all IPv4 and IPv6 addresses of ns). It answers every
// datagram with Banner(ns, port) plus "\n", sent from the address the
// datagram was sent to.
func (l *Lab) ServeUDP(ns, addr string) (*Server, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("could not serve udp on %q in %s: %w", addr, ns, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("could not serve udp on %q in %s: invalid port: %w", addr, ns, err)
	}
	var binds []netip.AddrPort
	if host == "" {
		binds = []netip.AddrPort{
			netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(port)),
			netip.AddrPortFrom(netip.IPv6Unspecified(), uint16(port)),
		}
	} else {
		a, err := netip.ParseAddr(host)
		if err != nil {
			return nil, fmt.Errorf("could not serve udp on %q in %s: %w", addr, ns, err)
		}
		binds = []netip.AddrPort{netip.AddrPortFrom(a, uint16(port))}
	}

	s := &Server{NS: ns, Proto: "udp"}
	var conns []*net.UDPConn
	for _, b := range binds {
		if s.Port != 0 {
			b = netip.AddrPortFrom(b.Addr(), s.Port) // same port for v4 and v6
		}
		c, err := l.listenUDP(ns, b)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, fmt.Errorf("could not serve udp on %q in %s: %w", addr, ns, err)
		}
		conns = append(conns, c)
		s.closers = append(s.closers, c)
		s.Port = c.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	}
	banner := []byte(Banner(ns, s.Port) + "\n")
	for _, c := range conns {
		s.wg.Go(func() { serveUDP(c, banner) })
	}
	if err := l.addServer(s); err != nil {
		return nil, err
	}
	return s, nil
}

// listenUDP opens a UDP socket in ns bound to b that reports each
// datagram's destination address (IP_PKTINFO / IPV6_RECVPKTINFO).
func (l *Lab) listenUDP(ns string, b netip.AddrPort) (*net.UDPConn, error) {
	network, level, opt := "udp4", unix.IPPROTO_IP, unix.IP_PKTINFO
	if b.Addr().Is6() {
		network, level, opt = "udp6", unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, 1) }); err != nil {
			return err
		}
		return serr
	}}
	var pc net.PacketConn
	err := l.InNS(ns, func() error {
		var err error
		pc, err = lc.ListenPacket(context.Background(), network, b.String())
		return err
	})
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

// serveUDP answers datagrams on c until c is closed.
func serveUDP(c *net.UDPConn, banner []byte) {
	buf := make([]byte, 2048)
	oob := make([]byte, 512)
	for {
		_, oobn, _, from, err := c.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		_, _, _ = c.WriteMsgUDPAddrPort(banner, replySource(oob[:oobn]), from)
	}
}

// replySource turns the packet-info control message of a received datagram
// into one that makes the reply leave from the datagram's destination
// address. It returns nil if there is none.
func replySource(oob []byte) []byte {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	for _, m := range msgs {
		switch {
		case m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_PKTINFO && len(m.Data) >= unix.SizeofInet4Pktinfo:
			// struct in_pktinfo { int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr; }
			var dst [4]byte
			copy(dst[:], m.Data[8:12])
			if a := netip.AddrFrom4(dst); a.IsMulticast() || a.IsUnspecified() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
				return nil
			}
			return unix.PktInfo4(&unix.Inet4Pktinfo{Spec_dst: dst})
		case m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_PKTINFO && len(m.Data) >= unix.SizeofInet6Pktinfo:
			// struct in6_pktinfo { in6_addr ipi6_addr; int ipi6_ifindex; }
			var dst [16]byte
			copy(dst[:], m.Data[:16])
			a := netip.AddrFrom16(dst)
			if a.IsMulticast() || a.IsUnspecified() {
				return nil
			}
			return unix.PktInfo6(&unix.Inet6Pktinfo{Addr: dst})
		}
	}
	return nil
}

// addServer registers s for Close, or closes it if the lab is closed.
func (l *Lab) addServer(s *Server) error {
	l.mu.Lock()
	closed := l.closed
	if !closed {
		l.servers = append(l.servers, s)
	}
	l.mu.Unlock()
	if closed {
		return errors.Join(errors.New("could not keep server: lab is closed"), s.Close())
	}
	return nil
}
