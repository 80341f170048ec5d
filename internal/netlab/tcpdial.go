package netlab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Why netlab connects TCP sockets by hand: between namespaces on one
// machine, an ICMP error answering a SYN (say admin-prohibited) is often
// processed while connect(2) still owns the socket. The kernel then keeps
// it only as a "soft" error and retries the SYN a second later, so
// connect would look like a timeout (Dropped). With IP_RECVERR /
// IPV6_RECVERR set, the error is also queued on the socket's error queue,
// which raises POLLERR at once; tcpConnect polls for that.

// sizeofSockExtendedErr is sizeof(struct sock_extended_err).
const sizeofSockExtendedErr = 16

// icmpError is an ICMP error reported through a socket error queue.
type icmpError struct {
	errno     unix.Errno
	v6        bool
	typ, code uint8
	from      netip.Addr // the sender of the ICMP error, if known
}

func (e *icmpError) Error() string {
	fam := "icmp"
	if e.v6 {
		fam = "icmpv6"
	}
	s := fmt.Sprintf("%v (%s type %d code %d", e.errno, fam, e.typ, e.code)
	if e.from.IsValid() {
		s += fmt.Sprintf(" from %v", e.from)
	}
	return s + ")"
}

func (e *icmpError) Unwrap() error { return e.errno }

// tcpConnect opens a TCP socket in namespace ns, binds it to src (if
// valid) and connects it to dst within deadline. It returns the connection,
// or an error that classify understands: a timeout, an errno or an
// *icmpError.
func (l *Lab) tcpConnect(ns string, src netip.Addr, dst netip.AddrPort, deadline time.Time) (net.Conn, error) {
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	family, level, opt := unix.AF_INET, unix.IPPROTO_IP, unix.IP_RECVERR
	if dst.Addr().Is6() {
		family, level, opt = unix.AF_INET6, unix.IPPROTO_IPV6, unix.IPV6_RECVERR
	}
	fd := -1
	if err := l.InNS(ns, func() error {
		var err error
		fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		return err
	}); err != nil {
		return nil, setupError{fmt.Errorf("could not create tcp socket in %s: %w", l.NS(ns), err)}
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	if err := unix.SetsockoptInt(fd, level, opt, 1); err != nil {
		return nil, setupError{fmt.Errorf("could not set IP_RECVERR: %w", err)}
	}
	if src.IsValid() {
		if err := unix.Bind(fd, sockaddr(netip.AddrPortFrom(src.Unmap(), 0))); err != nil {
			return nil, setupError{fmt.Errorf("could not bind to %v: %w", src, err)}
		}
	}
	err := unix.Connect(fd, sockaddr(dst))
	if err != nil && !errors.Is(err, unix.EINPROGRESS) {
		return nil, fmt.Errorf("could not connect to %v: %w", dst, err)
	}
	if err != nil {
		if err := waitConnected(fd, deadline); err != nil {
			return nil, err
		}
	}
	f := os.NewFile(uintptr(fd), "tcp "+dst.String())
	ok = true // f owns fd now
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, setupError{fmt.Errorf("could not wrap tcp socket: %w", err)}
	}
	return c, nil
}

// waitConnected polls a connecting socket until it is connected, fails,
// has an ICMP error queued, or deadline passes (os.ErrDeadlineExceeded).
func waitConnected(fd int, deadline time.Time) error {
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("could not connect: %w", os.ErrDeadlineExceeded)
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		n, err := unix.Poll(fds, int((left+time.Millisecond-1)/time.Millisecond))
		if errors.Is(err, unix.EINTR) || (err == nil && n == 0) {
			continue
		}
		if err != nil {
			return setupError{fmt.Errorf("could not poll tcp socket: %w", err)}
		}
		soErr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return setupError{fmt.Errorf("could not read socket error: %w", err)}
		}
		if ie := readErrQueue(fd); ie != nil {
			return fmt.Errorf("could not connect: %w", ie)
		}
		if soErr != 0 {
			return fmt.Errorf("could not connect: %w", unix.Errno(soErr))
		}
		if fds[0].Revents&unix.POLLOUT != 0 {
			if _, err := unix.Getpeername(fd); err == nil {
				return nil
			}
		}
	}
}

// readErrQueue returns the first ICMP error queued on fd, or nil.
func readErrQueue(fd int) *icmpError {
	buf := make([]byte, 512)
	oob := make([]byte, 512)
	for {
		_, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		if err != nil {
			return nil
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			continue
		}
		for _, m := range msgs {
			isV4 := m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_RECVERR
			isV6 := m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_RECVERR
			if (!isV4 && !isV6) || len(m.Data) < sizeofSockExtendedErr {
				continue
			}
			d := m.Data
			origin := d[4]
			if origin != unix.SO_EE_ORIGIN_ICMP && origin != unix.SO_EE_ORIGIN_ICMP6 {
				continue
			}
			ie := &icmpError{
				errno: unix.Errno(binary.NativeEndian.Uint32(d[0:4])),
				v6:    origin == unix.SO_EE_ORIGIN_ICMP6,
				typ:   d[5],
				code:  d[6],
			}
			// The offender's sockaddr follows struct sock_extended_err.
			off := d[sizeofSockExtendedErr:]
			switch {
			case len(off) >= unix.SizeofSockaddrInet4 && binary.NativeEndian.Uint16(off) == unix.AF_INET:
				ie.from = netip.AddrFrom4([4]byte(off[4:8]))
			case len(off) >= unix.SizeofSockaddrInet6 && binary.NativeEndian.Uint16(off) == unix.AF_INET6:
				ie.from = netip.AddrFrom16([16]byte(off[8:24])).Unmap()
			}
			return ie
		}
	}
}

// sockaddr converts an address and port to a unix.Sockaddr.
func sockaddr(ap netip.AddrPort) unix.Sockaddr {
	if ap.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}
