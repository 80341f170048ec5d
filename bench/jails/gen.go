package main

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"
)

// The generated auth.log: what an internet-facing Debian host's sshd logs
// through rsyslog (classic "Jan _2 15:04:05 host prog[pid]: msg" lines),
// with the PAM, cron, sudo and systemd-logind lines around it. Sessions
// overlap, each keeps its sshd process id, and every line is labelled with
// whether fail2ban's sshd filter (mode normal) counts it as a failure.

// syslogStamp is the classic syslog time stamp (no year, local time).
const syslogStamp = "Jan _2 15:04:05"

// logHost is the host name in every generated line.
const logHost = "web1"

// logStart is the local time of the first line: in June, so that no
// daylight saving change falls inside the ~30 hours 2M lines span.
var logStart = time.Date(2025, time.June, 2, 0, 0, 0, 0, time.Local)

// genStats describes a generated log.
type genStats struct {
	Lines    int            // lines written
	Failures int            // lines fail2ban's sshd filter counts as failures
	Other    int            // lines of other programs (cron, sudo, systemd, systemd-logind)
	Sessions map[string]int // sshd sessions by kind
	IPv6     int            // lines naming an IPv6 address (mapped ones included)
	Mapped   int            // lines naming an IPv4-mapped IPv6 address
	Distinct int            // distinct addresses named
}

// logLine is one line before its time stamp and host are added.
type logLine struct {
	prog string // "sshd", "CRON", ...
	pid  int    // 0: none ("sudo:")
	msg  string
	addr netip.Addr // the address the line names, if any
	fail bool       // a failure for fail2ban's sshd filter
}

// session is the lines one sshd process logs, in order.
type session struct {
	lines []logLine
	next  int
}

// sshdLog generates the lines, deterministically from its seed.
type sshdLog struct {
	rng    *rand.Rand
	clock  time.Time
	pid    int
	active []*session
	pool   *addrPool
	stats  genStats
	seen   map[netip.Addr]struct{}
	logind int // systemd-logind's session counter
}

func newSSHDLog(seed uint64) *sshdLog {
	rng := rand.New(rand.NewPCG(seed, 0x5ea3a11))
	return &sshdLog{
		rng:    rng,
		clock:  logStart,
		pid:    1000 + rng.IntN(9000),
		pool:   newAddrPool(rng),
		stats:  genStats{Sessions: map[string]int{}},
		seen:   map[netip.Addr]struct{}{},
		logind: 1,
	}
}

// writeSSHDLog writes n lines generated from seed to w.
func writeSSHDLog(w io.Writer, n int, seed uint64) (genStats, error) {
	g := newSSHDLog(seed)
	bw := bufio.NewWriterSize(w, 1<<20)
	buf := make([]byte, 0, 512)
	for range n {
		l := g.nextLine()
		buf = g.format(buf[:0], l)
		if _, err := bw.Write(buf); err != nil {
			return g.stats, fmt.Errorf("could not write the generated log: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return g.stats, fmt.Errorf("could not write the generated log: %w", err)
	}
	g.stats.Distinct = len(g.seen)
	return g.stats, nil
}

// format appends l as a syslog line, and counts it.
func (g *sshdLog) format(b []byte, l logLine) []byte {
	b = g.clock.AppendFormat(b, syslogStamp)
	b = append(b, ' ')
	b = append(b, logHost...)
	b = append(b, ' ')
	b = append(b, l.prog...)
	if l.pid != 0 {
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(l.pid), 10)
		b = append(b, ']')
	}
	b = append(b, ": "...)
	b = append(b, l.msg...)
	b = append(b, '\n')

	g.stats.Lines++
	if l.prog != "sshd" {
		g.stats.Other++
	}
	if l.fail {
		g.stats.Failures++
	}
	if l.addr.IsValid() {
		g.seen[l.addr] = struct{}{}
		if l.addr.Is6() {
			g.stats.IPv6++
			if l.addr.Is4In6() {
				g.stats.Mapped++
			}
		}
	}
	return b
}

// nextLine advances the clock and returns the next line: now and then a
// line of another program, otherwise the next line of one of the open
// sshd sessions (1 to 8 at a time, opened as others end).
func (g *sshdLog) nextLine() logLine {
	g.clock = g.clock.Add(time.Duration(g.rng.ExpFloat64() * float64(50*time.Millisecond)))
	if g.rng.IntN(100) < 12 {
		return g.noise()
	}
	if g.rng.IntN(100_000) == 0 {
		g.active = append(g.active, g.restart())
	}
	for len(g.active) == 0 || (len(g.active) < 8 && g.rng.IntN(4) == 0) {
		g.active = append(g.active, g.newSession())
	}
	i := g.rng.IntN(len(g.active))
	s := g.active[i]
	l := s.lines[s.next]
	s.next++
	if s.next == len(s.lines) {
		g.active[i] = g.active[len(g.active)-1]
		g.active = g.active[:len(g.active)-1]
	}
	return l
}

// sessionKind is one kind of sshd session and its share of all sessions.
type sessionKind struct {
	name   string
	weight int
	lines  func(g *sshdLog, pid int) []logLine
}

var sessionKinds = []sessionKind{
	{"invalid user", 30, (*sshdLog).invalidUser},
	{"root brute force", 22, (*sshdLog).rootBrute},
	{"scanner", 18, (*sshdLog).scanner},
	{"publickey login", 16, (*sshdLog).publickeyLogin},
	{"password login after a typo", 4, (*sshdLog).passwordLogin},
	{"failed key, then accepted key", 4, (*sshdLog).failedKeyLogin},
	{"client gives up at the banner", 6, (*sshdLog).earlyClose},
}

func (g *sshdLog) newSession() *session {
	total := 0
	for _, k := range sessionKinds {
		total += k.weight
	}
	r := g.rng.IntN(total)
	for _, k := range sessionKinds {
		if r < k.weight {
			g.pid++
			g.stats.Sessions[k.name]++
			return &session{lines: k.lines(g, g.pid)}
		}
		r -= k.weight
	}
	panic("unreachable: weights do not add up")
}

// Words of the generated messages.
var (
	invalidUsers = []string{"admin", "test", "user", "oracle", "postgres", "ubuntu", "guest", "ftpuser",
		"pi", "git", "support", "deploy", "hadoop", "jenkins", "minecraft", "steam", "ts3", "nagios",
		"debian", "centos", "mysql", "www", "webmaster", "123456", "Admin", "ansible", "odoo", "sol"}
	validUsers = []string{"alice", "bob", "deploy", "backup"}
	keyTypes   = []string{"ED25519", "RSA", "ECDSA"}
	kexErrors  = []string{"no matching host key type found. Their offer: ssh-rsa,ssh-dss",
		"no matching key exchange method found. Their offer: diffie-hellman-group14-sha1,diffie-hellman-group-exchange-sha1,diffie-hellman-group1-sha1"}
)

func (g *sshdLog) pick(words []string) string { return words[g.rng.IntN(len(words))] }

func (g *sshdLog) port() string { return strconv.Itoa(1024 + g.rng.IntN(64511)) }

func (g *sshdLog) fingerprint() string {
	var b [32]byte
	for i := range b {
		b[i] = byte(g.rng.Uint32())
	}
	return base64.RawStdEncoding.EncodeToString(b[:])
}

// sshd returns a line of sshd process pid.
func sshd(pid int, a netip.Addr, fail bool, format string, args ...any) logLine {
	return logLine{prog: "sshd", pid: pid, msg: fmt.Sprintf(format, args...), addr: a, fail: fail}
}

// verbose is the "Connection from" line sshd logs at LogLevel VERBOSE
// (one host in ten has it).
func (g *sshdLog) verbose(pid int, a netip.Addr, port string) []logLine {
	if g.rng.IntN(10) != 0 {
		return nil
	}
	return []logLine{sshd(pid, a, false, `Connection from %s port %s on 10.0.0.5 port 22 rdomain ""`, a, port)}
}

// invalidUser: a dictionary attack on a user that does not exist.
// (Log-injection tricks, such as an address inside the user name, belong
// to the filter engine's attack corpus, not here: fail2ban refuses some of
// them on purpose, and the counts would differ for a known reason.)
func (g *sshdLog) invalidUser(pid int) []logLine {
	a, port, user := g.pool.attacker(), g.port(), g.pick(invalidUsers)
	ls := g.verbose(pid, a, port)
	ls = append(ls,
		sshd(pid, a, true, "Invalid user %s from %s port %s", user, a, port),
		sshd(pid, a, false, "pam_unix(sshd:auth): check pass; user unknown"),
		sshd(pid, a, false, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=%s", a))
	for range 1 + g.rng.IntN(3) {
		ls = append(ls, sshd(pid, a, true, "Failed password for invalid user %s from %s port %s ssh2", user, a, port))
	}
	if g.rng.IntN(2) == 0 {
		return append(ls,
			sshd(pid, a, false, "Received disconnect from %s port %s:11: Bye Bye [preauth]", a, port),
			sshd(pid, a, false, "Disconnected from invalid user %s %s port %s [preauth]", user, a, port))
	}
	return append(ls, sshd(pid, a, false, "Connection closed by invalid user %s %s port %s [preauth]", user, a, port))
}

// rootBrute: password guessing for root, up to MaxAuthTries.
func (g *sshdLog) rootBrute(pid int) []logLine {
	a, port := g.pool.attacker(), g.port()
	ls := g.verbose(pid, a, port)
	ls = append(ls, sshd(pid, a, false, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=%s  user=root", a))
	tries := 1 + g.rng.IntN(6)
	for range tries {
		ls = append(ls, sshd(pid, a, true, "Failed password for root from %s port %s ssh2", a, port))
	}
	if tries == 6 {
		return append(ls,
			sshd(pid, a, true, "error: maximum authentication attempts exceeded for root from %s port %s ssh2 [preauth]", a, port),
			sshd(pid, a, false, "Disconnecting authenticating user root %s port %s: Too many authentication failures [preauth]", a, port),
			sshd(pid, a, false, "PAM 5 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=%s  user=root", a),
			sshd(pid, a, false, "PAM service(sshd) ignoring max retries; 6 > 3"))
	}
	return append(ls,
		sshd(pid, a, false, "Received disconnect from %s port %s:11: Bye Bye [preauth]", a, port),
		sshd(pid, a, false, "Disconnected from authenticating user root %s port %s [preauth]", a, port))
}

// scanner: port scanners and clients that cannot agree on algorithms.
// None of these is a failure in mode normal.
func (g *sshdLog) scanner(pid int) []logLine {
	a, port := g.pool.attacker(), g.port()
	switch g.rng.IntN(5) {
	case 0:
		return []logLine{
			sshd(pid, a, false, "error: kex_exchange_identification: Connection closed by remote host"),
			sshd(pid, a, false, "Connection closed by %s port %s", a, port)}
	case 1:
		return []logLine{
			sshd(pid, a, false, "error: kex_exchange_identification: read: Connection reset by peer"),
			sshd(pid, a, false, "Connection reset by %s port %s", a, port)}
	case 2:
		return []logLine{sshd(pid, a, false, "banner exchange: Connection from %s port %s: invalid format", a, port)}
	case 3:
		return []logLine{sshd(pid, a, false, "Unable to negotiate with %s port %s: %s [preauth]", a, port, g.pick(kexErrors))}
	default:
		return []logLine{sshd(pid, a, false, "Connection closed by %s port %s [preauth]", a, port)}
	}
}

// earlyClose: a client that connects and says nothing.
func (g *sshdLog) earlyClose(pid int) []logLine {
	a, port := g.pool.attacker(), g.port()
	return []logLine{sshd(pid, a, false, "Did not receive identification string from %s port %s", a, port)}
}

// login is the part of a successful login after "Accepted ...".
func (g *sshdLog) login(pid int, a netip.Addr, port, user string) []logLine {
	g.logind++
	n := g.logind
	uid := 1000 + len(user)
	return []logLine{
		sshd(pid, a, false, "pam_unix(sshd:session): session opened for user %s(uid=%d) by (uid=0)", user, uid),
		{prog: "systemd-logind", pid: 412, msg: fmt.Sprintf("New session %d of user %s.", n, user)},
		sshd(pid, a, false, "Received disconnect from %s port %s:11: disconnected by user", a, port),
		sshd(pid, a, false, "Disconnected from user %s %s port %s", user, a, port),
		sshd(pid, a, false, "pam_unix(sshd:session): session closed for user %s", user),
		{prog: "systemd-logind", pid: 412, msg: fmt.Sprintf("Session %d logged out. Waiting for processes to exit.", n)},
		{prog: "systemd-logind", pid: 412, msg: fmt.Sprintf("Removed session %d.", n)},
	}
}

func (g *sshdLog) publickeyLogin(pid int) []logLine {
	a, port, user := g.pool.user(), g.port(), g.pick(validUsers)
	ls := g.verbose(pid, a, port)
	ls = append(ls, sshd(pid, a, false, "Accepted publickey for %s from %s port %s ssh2: %s SHA256:%s", user, a, port, g.pick(keyTypes), g.fingerprint()))
	return append(ls, g.login(pid, a, port, user)...)
}

// passwordLogin: a user mistypes the password once.
func (g *sshdLog) passwordLogin(pid int) []logLine {
	a, port, user := g.pool.user(), g.port(), g.pick(validUsers)
	ls := []logLine{
		sshd(pid, a, false, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=%s  user=%s", a, user),
		sshd(pid, a, true, "Failed password for %s from %s port %s ssh2", user, a, port),
		sshd(pid, a, false, "Accepted password for %s from %s port %s ssh2", user, a, port),
	}
	return append(ls, g.login(pid, a, port, user)...)
}

// failedKeyLogin: the client offers a key the server does not know, then
// the right one. A failed publickey of a valid user is no failure.
func (g *sshdLog) failedKeyLogin(pid int) []logLine {
	a, port, user := g.pool.user(), g.port(), g.pick(validUsers)
	ls := []logLine{
		sshd(pid, a, false, "Failed publickey for %s from %s port %s ssh2: RSA SHA256:%s", user, a, port, g.fingerprint()),
		sshd(pid, a, false, "Accepted publickey for %s from %s port %s ssh2: ED25519 SHA256:%s", user, a, port, g.fingerprint()),
	}
	return append(ls, g.login(pid, a, port, user)...)
}

// restart: sshd restarted (a package upgrade).
func (g *sshdLog) restart() *session {
	old := g.pid
	g.pid++
	return &session{lines: []logLine{
		{prog: "sshd", pid: old, msg: "Received signal 15; terminating."},
		{prog: "sshd", pid: g.pid, msg: "Server listening on 0.0.0.0 port 22."},
		{prog: "sshd", pid: g.pid, msg: "Server listening on :: port 22."},
	}}
}

// noise is a line of another program: cron, sudo, systemd.
func (g *sshdLog) noise() logLine {
	g.pid++
	switch g.rng.IntN(6) {
	case 0:
		return logLine{prog: "CRON", pid: g.pid, msg: "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)"}
	case 1:
		return logLine{prog: "CRON", pid: g.pid, msg: "pam_unix(cron:session): session closed for user root"}
	case 2:
		return logLine{prog: "sudo", msg: fmt.Sprintf("   %s : TTY=pts/0 ; PWD=/home/%[1]s ; USER=root ; COMMAND=/usr/bin/systemctl status nginx", g.pick(validUsers))}
	case 3:
		return logLine{prog: "sudo", msg: fmt.Sprintf("pam_unix(sudo:session): session opened for user root(uid=0) by %s(uid=1001)", g.pick(validUsers))}
	case 4:
		return logLine{prog: "sudo", msg: "pam_unix(sudo:session): session closed for user root"}
	default:
		return logLine{prog: "systemd", pid: 1, msg: "Started session-" + strconv.Itoa(g.logind) + ".scope - Session " + strconv.Itoa(g.logind) + " of User alice."}
	}
}

// addrPool hands out client addresses: half of the attacks come from a
// fixed set of 2,000 busy attackers, the other half from a fresh random
// address each (so a 2M-line log names a few hundred thousand distinct
// addresses). About 15% are IPv6, 0.5% IPv4-mapped IPv6. Users log in from
// 16 addresses of their own.
type addrPool struct {
	rng   *rand.Rand
	busy  []netip.Addr
	users []netip.Addr
}

func newAddrPool(rng *rand.Rand) *addrPool {
	p := &addrPool{rng: rng}
	for range 2000 {
		p.busy = append(p.busy, p.fresh())
	}
	for i := range 8 {
		p.users = append(p.users, netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i)}))
		p.users = append(p.users, netip.MustParseAddr(fmt.Sprintf("2001:db8:5ea::%x", 0x10+i)))
	}
	return p
}

func (p *addrPool) attacker() netip.Addr {
	if p.rng.IntN(2) == 0 {
		return p.busy[p.rng.IntN(len(p.busy))]
	}
	return p.fresh()
}

func (p *addrPool) user() netip.Addr { return p.users[p.rng.IntN(len(p.users))] }

// fresh returns a random public address.
func (p *addrPool) fresh() netip.Addr {
	switch r := p.rng.IntN(1000); {
	case r < 5:
		return netip.AddrFrom16(randomIPv4(p.rng).As16()) // ::ffff:a.b.c.d
	case r < 150:
		return randomIPv6(p.rng)
	default:
		return randomIPv4(p.rng)
	}
}

// randomIPv4 returns a random unicast address outside the private,
// loopback, link-local, shared (100.64/10) and reserved ranges.
func randomIPv4(rng *rand.Rand) netip.Addr {
	for {
		var b [4]byte
		v := rng.Uint32()
		b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
		a := netip.AddrFrom4(b)
		if b[0] == 0 || b[0] >= 224 || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() ||
			(b[0] == 100 && b[1]&0xc0 == 64) || b[3] == 0 || b[3] == 255 {
			continue
		}
		return a
	}
}

// randomIPv6 returns a random address in 2001::/16 or 2400::/6 (where
// most allocations are); half of them have zeros in the middle, as
// hosting providers' addresses often do ("2a01:4f8:c17:2a3::1").
func randomIPv6(rng *rand.Rand) netip.Addr {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	if rng.IntN(2) == 0 {
		b[0], b[1] = 0x20, 0x01
	} else {
		b[0] = 0x24 + byte(rng.IntN(4))
	}
	if rng.IntN(2) == 0 {
		for i := 8; i < 15; i++ {
			b[i] = 0
		}
	}
	return netip.AddrFrom16(b)
}
