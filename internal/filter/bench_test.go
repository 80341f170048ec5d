package filter

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// sshdMix returns n sshd lines in a mix like a server on the Internet
// logs: mostly guessed passwords and scanners, some logins and noise.
func sshdMix(n int, journal bool) []string {
	rng := rand.New(rand.NewSource(1))
	users := []string{"root", "admin", "test", "ubuntu", "oracle", "git", "postgres", "user"}
	lines := make([]string, n)
	start := time.Date(2025, 11, 21, 6, 0, 0, 0, time.UTC)
	for i := range lines {
		ip := fmt.Sprintf("%d.%d.%d.%d", 1+rng.Intn(222), rng.Intn(256), rng.Intn(256), 1+rng.Intn(254))
		user := users[rng.Intn(len(users))]
		port := 1024 + rng.Intn(60000)
		var msg string
		switch r := rng.Intn(100); {
		case r < 25:
			msg = fmt.Sprintf("Failed password for invalid user %s from %s port %d ssh2", user, ip, port)
		case r < 35:
			msg = fmt.Sprintf("Failed password for root from %s port %d ssh2", ip, port)
		case r < 50:
			msg = fmt.Sprintf("Invalid user %s from %s port %d", user, ip, port)
		case r < 60:
			msg = fmt.Sprintf("Connection closed by %s port %d [preauth]", ip, port)
		case r < 70:
			msg = fmt.Sprintf("Received disconnect from %s port %d:11: Bye Bye [preauth]", ip, port)
		case r < 75:
			msg = fmt.Sprintf("Disconnected from invalid user %s %s port %d [preauth]", user, ip, port)
		case r < 80:
			msg = fmt.Sprintf("Accepted publickey for %s from %s port %d ssh2: ED25519 SHA256:Ohb5dA1YFkNj2n3xkq0w8Rk0CdyH0o9nT3Ht7Yx6v2E", user, ip, port)
		case r < 85:
			msg = "pam_unix(sshd:session): session opened for user root(uid=0) by (uid=0)"
		case r < 90:
			msg = fmt.Sprintf("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=%s  user=%s", ip, user)
		case r < 95:
			msg = fmt.Sprintf("Connection from %s port %d on 10.0.0.5 port 22 rdomain \"\"", ip, port)
		case r < 97:
			msg = "error: kex_exchange_identification: Connection closed by remote host"
		default:
			msg = "Server listening on 0.0.0.0 port 22."
		}
		pid := 1000 + rng.Intn(30000)
		if journal {
			lines[i] = fmt.Sprintf("web1 sshd[%d]: %s", pid, msg)
			continue
		}
		t := start.Add(time.Duration(i) * 10 * time.Millisecond)
		lines[i] = fmt.Sprintf("%s web1 sshd[%d]: %s", t.Format(time.Stamp), pid, msg)
	}
	return lines
}

func benchmarkFilter(b *testing.B, spec string, journal bool) {
	now := time.Date(2025, 11, 21, 12, 0, 0, 0, time.UTC)
	f, err := Load(spec, Options{Location: time.UTC, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	lines := sshdMix(1<<16, journal)
	m := f.NewMatcher()
	b.ReportAllocs()
	b.ResetTimer()
	failures := 0
	for i := 0; i < b.N; i++ {
		line := lines[i&(len(lines)-1)]
		if journal {
			failures += len(m.Entry(line, now))
		} else {
			failures += len(m.Line(line))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/line")
	if failures == 0 {
		b.Fatal("no failures found")
	}
}

// BenchmarkSSHDLine runs the built-in sshd filter over syslog lines, date
// detection included.
func BenchmarkSSHDLine(b *testing.B) { benchmarkFilter(b, "sshd", false) }

// BenchmarkSSHDEntry runs it over journal messages (no date detection).
func BenchmarkSSHDEntry(b *testing.B) { benchmarkFilter(b, "sshd[logtype=journal]", true) }

// BenchmarkSSHDAggressive is the built-in filter with every mode on.
func BenchmarkSSHDAggressive(b *testing.B) { benchmarkFilter(b, "sshd[mode=aggressive]", false) }

// BenchmarkSSHDFail2banFilter runs fail2ban's own sshd.conf (lookahead and
// conditionals: partly on the backtracking engine), when its test data is
// present.
func BenchmarkSSHDFail2banFilter(b *testing.B) {
	path := filepath.Join(sharedDir, "filter.d", "sshd.conf")
	if _, err := os.Stat(path); err != nil {
		b.Skipf("fail2ban's filters not found at %s", sharedDir)
	}
	benchmarkFilter(b, path, false)
}

// BenchmarkSSHDFile is what test-filter does: a whole log read with
// MatchReader on every CPU.
func BenchmarkSSHDFile(b *testing.B) {
	now := time.Date(2025, 11, 21, 12, 0, 0, 0, time.UTC)
	f, err := Load("sshd", Options{Location: time.UTC, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	const n = 200000
	text := strings.Join(sshdMix(n, false), "\n") + "\n"
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := f.MatchReader(strings.NewReader(text), runtime.GOMAXPROCS(0), func(int, Failure) {}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/line")
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "lines/s")
}
