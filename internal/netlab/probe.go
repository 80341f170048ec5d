package netlab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Verdict is what a probe observed.
type Verdict int

// Verdicts. The zero value, Failed, means the probe itself could not run.
const (
	// Failed: the probe could not run (bad input, missing namespace, an
	// unexpected local error); Result.Err says why.
	Failed Verdict = iota
	// Open: TCP connected, or a UDP or ICMP echo reply came back.
	Open
	// Refused: TCP reset (ECONNREFUSED), or ICMP port unreachable.
	Refused
	// Unreachable: any other ICMP error, such as admin-prohibited or
	// host-unreachable, or no route (EHOSTUNREACH, ENETUNREACH, EACCES).
	Unreachable
	// Dropped: nothing came back before the timeout. A packet dropped by
	// the sender's own output filter (EPERM) also counts as dropped.
	Dropped
)

// String returns "open", "refused", "unreachable", "dropped" or "error".
func (v Verdict) String() string {
	switch v {
	case Open:
		return "open"
	case Refused:
		return "refused"
	case Unreachable:
		return "unreachable"
	case Dropped:
		return "dropped"
	case Failed:
		return "error"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Result is the outcome of one probe.
type Result struct {
	Verdict Verdict
	// Banner is the first line the server sent (see Banner), without the
	// newline. It tells who answered, e.g. after a DNAT redirect. Empty for
	// ICMP echo.
	Banner string
	// Err is the error behind a verdict other than Open (nil for Dropped
	// by timeout), or an error reading the banner of an Open TCP probe.
	Err error
	// Took is how long the probe ran.
	Took time.Duration
}

// String describes r, e.g. `open "lan1:22"` or "refused (connection refused)".
func (r Result) String() string {
	switch {
	case r.Banner != "":
		return fmt.Sprintf("%v %q", r.Verdict, r.Banner)
	case r.Err != nil:
		return fmt.Sprintf("%v (%v)", r.Verdict, r.Err)
	}
	return r.Verdict.String()
}

// bannerLimit bounds how much of a banner a probe reads.
const bannerLimit = 256

// DialTCP connects from namespace ns to dst and reads the server's banner
// line. Connected is Open (whatever the banner), a reset is Refused, an
// ICMP error is Refused (port unreachable) or Unreachable (anything else),
// silence until the timeout is Dropped. A timeout of 0 means the lab's
// probe timeout; the banner read gets its own timeout of the same length.
func (l *Lab) DialTCP(ns string, dst netip.AddrPort, timeout time.Duration) Result {
	return l.DialTCPFrom(ns, netip.Addr{}, dst, timeout)
}

// DialTCPFrom is DialTCP with source address src (ignored if invalid).
func (l *Lab) DialTCPFrom(ns string, src netip.Addr, dst netip.AddrPort, timeout time.Duration) Result {
	timeout = l.probeTimeout(timeout)
	start := time.Now()
	c, err := l.tcpConnect(ns, src, dst, start.Add(timeout))
	if err != nil {
		return classify(err, start)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(io.LimitReader(c, bannerLimit)).ReadString('\n')
	if errors.Is(err, io.EOF) && line != "" {
		err = nil
	}
	if err != nil {
		err = fmt.Errorf("could not read banner: %w", err)
	}
	return Result{Verdict: Open, Banner: strings.TrimSpace(line), Err: err, Took: time.Since(start)}
}

// DialUDP sends one datagram from namespace ns to dst and waits for the
// reply: a reply is Open (Banner holds it), an ICMP port unreachable is
// Refused, any other ICMP error or a local routing error is Unreachable,
// silence (or a local output-filter drop, EPERM) is Dropped. A timeout of 0
// means the lab's probe timeout.
func (l *Lab) DialUDP(ns string, dst netip.AddrPort, timeout time.Duration) Result {
	return l.DialUDPFrom(ns, netip.Addr{}, dst, timeout)
}

// DialUDPFrom is DialUDP with source address src (ignored if invalid).
func (l *Lab) DialUDPFrom(ns string, src netip.Addr, dst netip.AddrPort, timeout time.Duration) Result {
	timeout = l.probeTimeout(timeout)
	start := time.Now()
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	// IP_RECVERR makes every ICMP error (not only "hard" ones such as
	// port unreachable) fail the next read on the connected socket.
	level, opt := unix.IPPROTO_IP, unix.IP_RECVERR
	if dst.Addr().Is6() {
		level, opt = unix.IPPROTO_IPV6, unix.IPV6_RECVERR
	}
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, 1) }); err != nil {
			return err
		}
		return serr
	}}
	if src.IsValid() {
		d.LocalAddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
	}
	var c net.Conn
	var dialErr error
	if err := l.InNS(ns, func() error {
		c, dialErr = d.Dial("udp", dst.String())
		return nil
	}); err != nil {
		return Result{Verdict: Failed, Err: err, Took: time.Since(start)}
	}
	if dialErr != nil {
		return classify(dialErr, start)
	}
	defer c.Close()
	_ = c.SetDeadline(start.Add(timeout))
	if _, err := c.Write([]byte("netlab probe\n")); err != nil {
		return classify(err, start)
	}
	buf := make([]byte, bannerLimit)
	n, err := c.Read(buf)
	if err != nil {
		return classify(err, start)
	}
	return Result{Verdict: Open, Banner: strings.TrimSpace(string(buf[:n])), Took: time.Since(start)}
}

func (l *Lab) probeTimeout(t time.Duration) time.Duration {
	if t > 0 {
		return t
	}
	return l.timeout
}

// classify maps a socket error to a verdict.
func classify(err error, start time.Time) Result {
	r := Result{Err: err, Took: time.Since(start)}
	var errno syscall.Errno
	var nerr net.Error
	var serr setupError
	switch {
	case errors.As(err, &serr):
		r.Verdict = Failed
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &nerr) && nerr.Timeout():
		r.Verdict, r.Err = Dropped, nil
	case errors.As(err, &errno):
		r.Verdict = errnoVerdict(errno)
	default:
		r.Verdict = Failed
	}
	return r
}

// setupError marks an error that happened before anything was sent, so
// that classify reports it as Failed whatever its errno.
type setupError struct{ err error }

func (e setupError) Error() string { return e.err.Error() }
func (e setupError) Unwrap() error { return e.err }

// errnoVerdict maps the errno of a failed connect, send or receive.
func errnoVerdict(errno syscall.Errno) Verdict {
	switch errno {
	case unix.ECONNREFUSED, unix.ECONNRESET:
		return Refused
	case unix.EHOSTUNREACH, unix.ENETUNREACH, unix.EACCES, unix.EHOSTDOWN, unix.ENONET, unix.EPROTO:
		return Unreachable
	case unix.EPERM, unix.ETIMEDOUT:
		return Dropped
	}
	return Failed
}
