// Command testserver is the program inside dockerlab's test image (an
// image built FROM scratch that holds only this static binary, as
// /server). It has two modes:
//
//	server serve [-name NAME] [-peer] [-echo] [-log] [-tcp :80,:443] [-udp :53]
//	server dial [-udp] [-timeout 500ms] [-from ADDR] ADDR:PORT
//
// serve listens on every given port and answers each TCP connection and
// each UDP datagram with the banner "NAME:PORT\n" (the format of
// netlab.Banner), NAME defaulting to the hostname. A TCP connection is then
// half-closed. With -peer the banner is "NAME:PORT PEER\n", PEER being the
// client's address as the server sees it (which tells, say, docker-proxy
// from DNAT). With -echo a TCP connection stays open after the banner and
// every line the client sends is sent back, until the client closes it or
// stays silent for a minute. With -log every line a TCP client sends is
// printed on stdout as `PEER said "LINE"` (PEER being the client's address
// as the server sees it), which gives a container log naming the client.
// Once every socket is bound it prints "ready" on stdout, so a
// caller can wait for that line in the container's log. With no ports it
// just idles, which keeps a container alive for dial. It exits on SIGTERM
// or SIGINT.
//
// dial makes one probe and prints one line: "open BANNER", "refused",
// "unreachable REASON", "dropped" or "error REASON" (the verdicts of
// netlab.Verdict). It exits 0 whenever the probe ran, whatever the
// verdict, and 2 on a usage error.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2:])
	case "dial":
		dial(os.Args[2:])
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: server serve [-name NAME] [-peer] [-echo] [-log] [-tcp :80,...] [-udp :53,...]")
	fmt.Fprintln(os.Stderr, "       server dial [-udp] [-timeout 500ms] [-from ADDR] ADDR:PORT")
	os.Exit(2)
}

// ioTimeout bounds how long serve spends on one TCP client.
const ioTimeout = 2 * time.Second

// echoIdle is how long an -echo connection may stay silent.
const echoIdle = time.Minute

// tcpMode says what serve does with a TCP connection after the banner.
type tcpMode struct {
	peer bool // the banner names the client
	echo bool // echo lines instead of half-closing
	log  bool // print every line the client sends
}

func serve(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	name := fs.String("name", "", "name in the banner (default: the hostname)")
	tcp := fs.String("tcp", "", "comma-separated TCP listen addresses, e.g. :80,:443")
	udp := fs.String("udp", "", "comma-separated UDP listen addresses, e.g. :53")
	peer := fs.Bool("peer", false, "append the client's address to the banner")
	echo := fs.Bool("echo", false, "keep TCP connections open and echo every line back")
	logLines := fs.Bool("log", false, "print every line a TCP client sends, with its address")
	_ = fs.Parse(args)
	if fs.NArg() != 0 {
		usage()
	}
	if *name == "" {
		h, err := os.Hostname()
		if err != nil {
			fatal("could not read hostname: %v", err)
		}
		*name = h
	}
	for _, addr := range split(*tcp) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fatal("could not listen on tcp %s: %v", addr, err)
		}
		go acceptLoop(ln, *name+":"+strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), tcpMode{peer: *peer, echo: *echo, log: *logLines})
	}
	for _, addr := range split(*udp) {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			fatal("could not listen on udp %s: %v", addr, err)
		}
		go answerLoop(c, *name+":"+strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port), *peer)
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// banner returns the line for a client at addr.
func banner(base string, addr net.Addr, peer bool) []byte {
	if !peer {
		return []byte(base + "\n")
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		host = addr.String()
	}
	return []byte(base + " " + host + "\n")
}

func acceptLoop(ln net.Listener, base string, mode tcpMode) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(ioTimeout))
			if _, err := c.Write(banner(base, c.RemoteAddr(), mode.peer)); err != nil {
				return
			}
			if mode.echo {
				echoLines(c, mode.log)
				return
			}
			// Half-close and wait for the client's FIN, so that the
			// connection ends cleanly rather than with a reset.
			_ = c.(*net.TCPConn).CloseWrite()
			if mode.log {
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if line != "" {
						logLine(c, line)
					}
					if err != nil {
						break
					}
				}
			}
			_, _ = io.Copy(io.Discard, c)
		}()
	}
}

// echoLines sends every line the client sends back (and prints it with
// log), until the client closes or stays silent for echoIdle.
func echoLines(c net.Conn, log bool) {
	r := bufio.NewReader(c)
	for {
		_ = c.SetDeadline(time.Now().Add(echoIdle))
		line, err := r.ReadString('\n')
		if line != "" {
			if log {
				logLine(c, line)
			}
			if _, werr := io.WriteString(c, line); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// logLine prints a line a client sent, with the client's address.
func logLine(c net.Conn, line string) {
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		host = c.RemoteAddr().String()
	}
	fmt.Printf("%s said %q\n", host, strings.TrimRight(line, "\r\n"))
}

func answerLoop(c net.PacketConn, base string, peer bool) {
	buf := make([]byte, 2048)
	for {
		_, from, err := c.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		_, _ = c.WriteTo(banner(base, from, peer), from)
	}
}

func dial(args []string) {
	fs := flag.NewFlagSet("dial", flag.ExitOnError)
	udp := fs.Bool("udp", false, "send a UDP datagram instead of connecting over TCP")
	timeout := fs.Duration("timeout", 500*time.Millisecond, "how long to wait for an answer")
	from := fs.String("from", "", "source address to bind")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		usage()
	}
	verdict, detail := probe(fs.Arg(0), *udp, *from, *timeout)
	if detail != "" {
		fmt.Println(verdict, detail)
	} else {
		fmt.Println(verdict)
	}
}

// probe dials dst once and returns a verdict and its detail (the banner
// for "open", a reason for "unreachable" and "error").
func probe(dst string, udp bool, from string, timeout time.Duration) (string, string) {
	network := "tcp"
	if udp {
		network = "udp"
	}
	d := net.Dialer{Timeout: timeout, Control: recvErr}
	if from != "" {
		ip := net.ParseIP(from)
		if ip == nil {
			return "error", "invalid -from address " + from
		}
		if udp {
			d.LocalAddr = &net.UDPAddr{IP: ip}
		} else {
			d.LocalAddr = &net.TCPAddr{IP: ip}
		}
	}
	deadline := time.Now().Add(timeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	c, err := d.DialContext(ctx, network, dst)
	if err != nil {
		return classify(err)
	}
	defer c.Close()
	if udp {
		_ = c.SetDeadline(deadline)
		if _, err := c.Write([]byte("dockerlab probe\n")); err != nil {
			return classify(err)
		}
		buf := make([]byte, 256)
		n, err := c.Read(buf)
		if err != nil {
			return classify(err)
		}
		return "open", strings.TrimSpace(string(buf[:n]))
	}
	// Connected: the port is open, whatever comes next. The banner read
	// gets its own timeout.
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	line, _ := bufio.NewReader(io.LimitReader(c, 256)).ReadString('\n')
	return "open", strings.TrimSpace(line)
}

// recvErr sets IP_RECVERR / IPV6_RECVERR. Between namespaces of one
// machine an ICMP error answering a SYN often arrives while connect(2)
// still owns the socket; the kernel then keeps it as a soft error and only
// retries later. With RECVERR the error is also queued, which wakes the
// poller at once, and SO_ERROR reports the soft error.
func recvErr(network, _ string, rc syscall.RawConn) error {
	level, opt := unix.IPPROTO_IP, unix.IP_RECVERR
	if strings.HasSuffix(network, "6") {
		level, opt = unix.IPPROTO_IPV6, unix.IPV6_RECVERR
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, 1) }); err != nil {
		return err
	}
	return serr
}

func classify(err error) (string, string) {
	var nerr net.Error
	var errno syscall.Errno
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &nerr) && nerr.Timeout():
		return "dropped", ""
	case errors.As(err, &errno):
		switch errno {
		case unix.ECONNREFUSED, unix.ECONNRESET:
			return "refused", ""
		case unix.EHOSTUNREACH, unix.ENETUNREACH, unix.EACCES, unix.EHOSTDOWN, unix.ENONET, unix.EPROTO:
			return "unreachable", errno.Error()
		case unix.EPERM, unix.ETIMEDOUT:
			return "dropped", ""
		}
	}
	return "error", err.Error()
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "server: "+format+"\n", args...)
	os.Exit(1)
}
