package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// crashEnv carries the store path to the child of TestKillKeepsCommittedBans.
const crashEnv = "SEAWALL_STORE_CRASH_CHILD"

// crashBatchSize is the number of bans per batch the child writes.
const crashBatchSize = 100

// crashBatch returns the ith batch of bans the child writes.
func crashBatch(i int) []Ban {
	bans := make([]Ban, crashBatchSize)
	for j := range bans {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), byte(j)})
		bans[j] = Ban{Jail: "crash", Prefix: netip.PrefixFrom(a, 32), Start: t0, Expires: t0.Add(time.Hour), Count: 1, Origin: OriginLog}
	}
	return bans
}

// TestCrashChild is not a test: run by TestKillKeepsCommittedBans as a child
// process, it writes batches of bans and offsets, printing each batch's
// number once stored, until it SIGKILLs itself at a random moment, most
// likely in the middle of a transaction.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("helper process of TestKillKeepsCommittedBans")
	}
	s, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	var committed atomic.Int64
	go func() {
		for committed.Load() < 20 {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(time.Duration(rand.IntN(5000)) * time.Microsecond)
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}()
	for i := 0; ; i++ {
		if err := s.PutBans(crashBatch(i)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		if err := s.SaveOffsets(map[string][]byte{"batch": []byte(strconv.Itoa(i))}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		fmt.Fprintf(os.Stdout, "committed %d\n", i) // os.Stdout is unbuffered
		committed.Add(1)
	}
}

func TestKillKeepsCommittedBans(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes; skipped with -short")
	}
	for round := range 3 {
		path := filepath.Join(t.TempDir(), "seawall.db")
		last := runCrashChild(t, path)
		s, err := Open(path)
		if err != nil {
			t.Fatalf("round %d: reopening after kill -9: %v", round, err)
		}
		checkBatches(t, s, last)
		s.Close()
		t.Logf("round %d: killed after batch %d was reported committed", round, last)
	}
}

// runCrashChild runs TestCrashChild on path until it kills itself and
// returns the last batch it reported committed.
func runCrashChild(t *testing.T, path string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("child was not killed: %v\n%s", err, stderr.Bytes())
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, not SIGKILL\n%s", err, stderr.Bytes())
	}
	last := -1
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var i int
		if _, err := fmt.Sscanf(sc.Text(), "committed %d", &i); err == nil {
			last = i
		}
	}
	if last < 19 {
		t.Fatalf("child reported %d batches, want at least 20\n%s", last+1, out)
	}
	return last
}

// checkBatches checks that every batch up to last is whole in s, and that
// any later one (committed after its number was printed, or cut by the
// kill) is whole or absent: never half-written.
func checkBatches(t *testing.T, s *Store, last int) {
	t.Helper()
	bans, err := s.Bans()
	if err != nil {
		t.Fatalf("reading bans after kill -9: %v", err)
	}
	per := map[int]int{}
	for _, b := range bans {
		a := b.Prefix.Addr().As4()
		per[int(a[1])<<8|int(a[2])]++
	}
	for i, n := range per {
		if n != crashBatchSize {
			t.Errorf("batch %d has %d of %d bans: a transaction was torn", i, n, crashBatchSize)
		}
	}
	for i := 0; i <= last; i++ {
		if per[i] != crashBatchSize {
			t.Errorf("committed batch %d lost (%d bans left)", i, per[i])
		}
	}
	if len(per) > last+2 {
		t.Errorf("%d batches stored, but the child reported %d and writes one at a time", len(per), last+1)
	}
	v, err := s.Offset("batch")
	if n, _ := strconv.Atoi(string(v)); err != nil || n < last {
		t.Errorf("offset %q (%v), want at least %d", v, err, last)
	}
}
