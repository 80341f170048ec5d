package filter

import (
	"fmt"
	"math/rand"
	"runtime"
	"strings"
	"testing"
	"time"
)

// sshdSessions returns n lines of an auth.log as an Internet-facing host
// writes it (the idea of bench/jails' generator, smaller): sshd sessions
// that overlap, each line of one session with its process id, from
// dictionary attacks, root brute force, scanners and logins, and lines of
// other programs in between. Unlike sshdMix, connections span several
// lines, so the connection table does real work.
func sshdSessions(n int, seed int64) []string {
	rng := rand.New(rand.NewSource(seed))
	clock := time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC)
	pid := 1000
	addr := func() string {
		if rng.Intn(7) == 0 {
			return fmt.Sprintf("2001:db8:%x::%x", rng.Intn(1<<16), 1+rng.Intn(1<<16))
		}
		return fmt.Sprintf("%d.%d.%d.%d", 1+rng.Intn(222), rng.Intn(256), rng.Intn(256), 1+rng.Intn(254))
	}
	users := []string{"admin", "test", "oracle", "postgres", "ubuntu", "git", "pi", "deploy"}
	session := func() []string {
		a, port, user := addr(), 1024+rng.Intn(64000), users[rng.Intn(len(users))]
		switch rng.Intn(6) {
		case 0, 1: // invalid user
			s := []string{fmt.Sprintf("Invalid user %s from %s port %d", user, a, port),
				"pam_unix(sshd:auth): check pass; user unknown",
				"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=" + a}
			for range 1 + rng.Intn(3) {
				s = append(s, fmt.Sprintf("Failed password for invalid user %s from %s port %d ssh2", user, a, port))
			}
			return append(s, fmt.Sprintf("Received disconnect from %s port %d:11: Bye Bye [preauth]", a, port),
				fmt.Sprintf("Disconnected from invalid user %s %s port %d [preauth]", user, a, port))
		case 2: // root brute force
			s := []string{"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=" + a + "  user=root"}
			tries := 1 + rng.Intn(6)
			for range tries {
				s = append(s, fmt.Sprintf("Failed password for root from %s port %d ssh2", a, port))
			}
			if tries == 6 {
				return append(s, fmt.Sprintf("error: maximum authentication attempts exceeded for root from %s port %d ssh2 [preauth]", a, port),
					fmt.Sprintf("Disconnecting authenticating user root %s port %d: Too many authentication failures [preauth]", a, port))
			}
			return append(s, fmt.Sprintf("Connection closed by authenticating user root %s port %d [preauth]", a, port))
		case 3: // scanner
			return []string{"error: kex_exchange_identification: Connection closed by remote host",
				fmt.Sprintf("Connection closed by %s port %d", a, port)}
		case 4: // login with a key
			return []string{fmt.Sprintf("Connection from %s port %d on 10.0.0.5 port 22 rdomain \"\"", a, port),
				fmt.Sprintf("Accepted publickey for %s from %s port %d ssh2: ED25519 SHA256:Ohb5dA1YFkNj2n3xkq0w8Rk0CdyH0o9nT3Ht7Yx6v2E", user, a, port),
				fmt.Sprintf("pam_unix(sshd:session): session opened for user %s(uid=1001) by (uid=0)", user),
				fmt.Sprintf("Received disconnect from %s port %d:11: disconnected by user", a, port),
				fmt.Sprintf("Disconnected from user %s %s port %d", user, a, port)}
		default: // a typo, then the password
			return []string{fmt.Sprintf("Failed password for %s from %s port %d ssh2", user, a, port),
				fmt.Sprintf("Accepted password for %s from %s port %d ssh2", user, a, port)}
		}
	}
	type sess struct {
		pid   int
		lines []string
	}
	var open []sess
	lines := make([]string, 0, n)
	for len(lines) < n {
		clock = clock.Add(time.Duration(rng.ExpFloat64() * float64(50*time.Millisecond)))
		stamp := clock.Format(time.Stamp)
		if rng.Intn(100) < 12 {
			pid++
			lines = append(lines, fmt.Sprintf("%s web1 CRON[%d]: pam_unix(cron:session): session closed for user root", stamp, pid))
			continue
		}
		for len(open) == 0 || len(open) < 8 && rng.Intn(4) == 0 {
			pid++
			open = append(open, sess{pid, session()})
		}
		i := rng.Intn(len(open))
		s := &open[i]
		lines = append(lines, fmt.Sprintf("%s web1 sshd[%d]: %s", stamp, s.pid, s.lines[0]))
		if s.lines = s.lines[1:]; len(s.lines) == 0 {
			open[i] = open[len(open)-1]
			open = open[:len(open)-1]
		}
	}
	return lines
}

// TestMatchReaderSessions is TestMatchReaderEqualsMatcher on a log whose
// connections span many lines and many batches.
func TestMatchReaderSessions(t *testing.T) {
	lines := sshdSessions(3*batchLines+77, 2)
	for _, spec := range []string{"sshd", "sshd[mode=aggressive]"} {
		f, err := Load(spec, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		want, wantStats := serialRun(f, lines)
		if len(want) == 0 {
			t.Fatalf("%s: no failures in the generated log", spec)
		}
		for _, workers := range []int{2, 3} {
			var got []emitted
			st, err := f.MatchReader(strings.NewReader(strings.Join(lines, "\n")), workers, func(n int, fl Failure) {
				got = append(got, emitted{n, fl.Host, fl.Regex, len(fl.Lines)})
			})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(st) != fmt.Sprint(wantStats) {
				t.Errorf("%s, %d workers: %d failures, want %d (first difference %s)", spec, workers, len(got), len(want), firstDiff(got, want))
			}
		}
	}
}

// BenchmarkSSHDSessions is test-filter on a realistic log: MatchReader on
// every CPU over sshd sessions (see sshdSessions). lines/s is the figure
// to compare with fail2ban-regex.
func BenchmarkSSHDSessions(b *testing.B) {
	now := time.Date(2025, 6, 5, 0, 0, 0, 0, time.UTC)
	f, err := Load("sshd", Options{Location: time.UTC, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	const n = 200000
	text := strings.Join(sshdSessions(n, 1), "\n") + "\n"
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := f.MatchReader(strings.NewReader(text), runtime.GOMAXPROCS(0), func(int, Failure) {}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/line")
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "lines/s")
}
