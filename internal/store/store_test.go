package store

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// t0 is the tests' clock origin.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func prefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// open opens a fresh store in a temporary directory, closed at cleanup.
func open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "seawall.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// reopen closes s and opens its file again.
func reopen(t *testing.T, s *Store) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	return s2
}

func ban(jail, p string, start time.Time, d time.Duration, count int) Ban {
	b := Ban{Jail: jail, Prefix: prefix(p), Start: start, Count: count, Origin: OriginLog}
	if d > 0 {
		b.Expires = start.Add(d)
	}
	return b
}

func TestBansRoundTrip(t *testing.T) {
	s := open(t)
	manual := ban("sshd", "198.51.100.0/24", t0, 0, 1) // permanent
	manual.Origin = OriginManual
	in := []Ban{
		ban("sshd", "2001:db8:1::/64", t0, time.Hour, 2),
		ban("sshd", "192.0.2.1/32", t0.Add(123456789*time.Nanosecond), time.Hour, 1),
		manual,
		ban("nginx", "192.0.2.1/32", t0, 10*time.Minute, 3),
	}
	if err := s.PutBans(in); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s)
	got, err := s.Bans()
	if err != nil {
		t.Fatal(err)
	}
	// Ordered by jail, then prefix; times to the millisecond.
	want := []Ban{in[3], in[1], in[2], in[0]}
	want[1].Start = t0.Add(123 * time.Millisecond)
	want[1].Expires = want[1].Start.Add(time.Hour)
	if !slices.Equal(got, want) {
		t.Fatalf("bans\n got %v\nwant %v", got, want)
	}
	if !got[2].Permanent() {
		t.Fatal("permanent ban came back with an expiry")
	}
}

func TestPutBansReplacesAndCanonicalizes(t *testing.T) {
	s := open(t)
	if err := s.PutBans([]Ban{ban("sshd", "::ffff:192.0.2.9/128", t0, time.Hour, 1)}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBans([]Ban{ban("sshd", "192.0.2.9/32", t0, 2*time.Hour, 1)}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBans([]Ban{ban("sshd", "2001:db8::1/64", t0, time.Hour, 1)}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Bans()
	if len(got) != 2 || got[0].Prefix != prefix("192.0.2.9/32") || got[0].Expires != t0.Add(2*time.Hour) ||
		got[1].Prefix != prefix("2001:db8::/64") {
		t.Fatalf("bans %v", got)
	}
}

func TestPutBansIsAllOrNothing(t *testing.T) {
	s := open(t)
	bad := ban("sshd", "192.0.2.3/32", t0, time.Hour, 1)
	bad.Origin = "cron"
	for _, b := range []Ban{bad, {Jail: "", Prefix: prefix("192.0.2.4/32"), Origin: OriginLog},
		{Jail: "a\x00b", Prefix: prefix("192.0.2.4/32"), Origin: OriginLog},
		{Jail: "sshd", Origin: OriginLog}} {
		err := s.PutBans([]Ban{ban("sshd", "192.0.2.2/32", t0, time.Hour, 1), b})
		if err == nil {
			t.Fatalf("stored %+v", b)
		}
	}
	if got, _ := s.Bans(); len(got) != 0 {
		t.Fatalf("a failed batch left %v", got)
	}
	if n := s.BanCount(prefix("192.0.2.2/32")); n != 0 {
		t.Fatalf("a failed batch left history: %d", n)
	}
}

func TestDeleteBans(t *testing.T) {
	s := open(t)
	s.PutBans([]Ban{ban("sshd", "192.0.2.1/32", t0, time.Hour, 1), ban("sshd", "192.0.2.2/32", t0, time.Hour, 1),
		ban("nginx", "192.0.2.1/32", t0, time.Hour, 1)})
	err := s.DeleteBans([]BanKey{{"sshd", prefix("::ffff:192.0.2.1/128")}, {"sshd", prefix("203.0.113.1/32")}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := s.Bans()
	if len(got) != 2 || got[0].Jail != "nginx" || got[1].Prefix != prefix("192.0.2.2/32") {
		t.Fatalf("left %v", got)
	}
	if s.JailHistory("sshd").BanCount(prefix("192.0.2.1/32")) != 1 {
		t.Fatal("deleting a ban deleted its history")
	}
	if err := s.DeleteBans([]BanKey{{"", prefix("192.0.2.2/32")}}); err == nil {
		t.Fatal("invalid key accepted")
	}
}

func TestPruneExpired(t *testing.T) {
	s := open(t)
	var bans []Ban
	for i := range 100 {
		// Even ones expire at t0+1m, odd ones an hour later; every tenth
		// is permanent.
		d := time.Minute + time.Duration(i%2)*time.Hour
		if i%10 == 0 {
			d = 0
		}
		bans = append(bans, ban("sshd", fmt.Sprintf("192.0.2.%d/32", i), t0, d, 1))
	}
	s.PutBans(bans)
	n, err := s.PruneExpired(t0.Add(time.Minute))
	if err != nil || n != 40 {
		t.Fatalf("pruned %d (%v), want the 40 even non-permanent bans", n, err)
	}
	left, _ := s.Bans()
	for _, b := range left {
		if !b.Permanent() && !b.Expires.After(t0.Add(time.Minute)) {
			t.Fatalf("expired ban left: %v", b)
		}
	}
	if len(left) != 60 {
		t.Fatalf("%d left, want 60", len(left))
	}
}

func TestHistory(t *testing.T) {
	s := open(t)
	p := prefix("203.0.113.5/32")
	b1 := ban("sshd", "203.0.113.5/32", t0, time.Hour, 1)
	s.PutBans([]Ban{b1})
	s.PutBans([]Ban{b1}) // the same ban again: not a new one
	b1.Expires = b1.Expires.Add(time.Hour)
	s.PutBans([]Ban{b1}) // extended: not a new one either
	if n := s.BanCount(p); n != 1 {
		t.Fatalf("count %d after one ban stored three times", n)
	}
	s.PutBans([]Ban{ban("sshd", "::ffff:203.0.113.5/128", t0.Add(2*time.Hour), time.Hour, 2)})
	s.PutBans([]Ban{ban("nginx", "203.0.113.5/32", t0.Add(3*time.Hour), time.Hour, 1)})
	// A ban whose count says more than the history knows (history pruned
	// meanwhile) raises the count.
	s.PutBans([]Ban{ban("postfix", "203.0.113.5/32", t0.Add(3*time.Hour), time.Hour, 4)})
	s = reopen(t, s)
	if n := s.BanCount(p); n != 2+1+4 {
		t.Fatalf("total count %d, want 7", n)
	}
	if n := s.JailHistory("sshd").BanCount(prefix("::ffff:203.0.113.5/128")); n != 2 {
		t.Fatalf("sshd count %d, want 2", n)
	}
	// The same for a ban of a jail already in the history.
	s.PutBans([]Ban{ban("other", "192.0.2.99/32", t0.Add(3*time.Hour), time.Hour, 1)})
	s.PutBans([]Ban{ban("other", "192.0.2.99/32", t0.Add(4*time.Hour), time.Hour, 5)})
	if n := s.JailHistory("other").BanCount(prefix("192.0.2.99/32")); n != 5 {
		t.Fatalf("count %d, want the ban's 5", n)
	}
	if n := s.JailHistory("dovecot").BanCount(p); n != 0 {
		t.Fatalf("dovecot count %d", n)
	}
	entries, err := s.History(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []HistoryEntry{{"sshd", 2, t0.Add(2 * time.Hour)}, {"nginx", 1, t0.Add(3 * time.Hour)}, {"postfix", 4, t0.Add(3 * time.Hour)}}
	if !slices.Equal(entries, want) {
		t.Fatalf("history %v, want %v", entries, want)
	}

	n, err := s.PruneHistory(t0.Add(150 * time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d (%v), want sshd's entry", n, err)
	}
	if n := s.JailHistory("sshd").BanCount(p); n != 0 {
		t.Fatalf("pruned entry still counts %d", n)
	}
	if n, _ := s.PruneHistory(t0.Add(24 * time.Hour)); n != 3 {
		t.Fatalf("pruned %d, want 3", n)
	}
	if entries, _ := s.History(p); entries != nil {
		t.Fatalf("history left %v", entries)
	}
	// Emptied records are deleted, not kept empty.
	s.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(historyBucket).Cursor().First(); k != nil {
			t.Errorf("history record %x left", k)
		}
		return nil
	})
}

// history is jail.History, restated here: store must not import jail.
type history interface{ BanCount(netip.Prefix) int }

var (
	_ history = (*Store)(nil)
	_ history = JailHistory{}
)

func TestOffsets(t *testing.T) {
	s := open(t)
	err := s.SaveOffsets(map[string][]byte{
		"file:/var/log/auth.log": []byte("ino=12 off=4096"),
		"journal:ssh.service":    []byte("s=abc;i=1f"),
		"file:/var/log/empty":    {},
	})
	if err != nil {
		t.Fatal(err)
	}
	more := map[string][]byte{"file:/var/log/auth.log": []byte("ino=12 off=8192"), "journal:ssh.service": nil}
	for i := range 200 { // enough for the bucket to get pages of its own
		more[fmt.Sprintf("container:%064d", i)] = []byte(strings.Repeat("x", 40))
	}
	if err := s.SaveOffsets(more); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s)
	v, err := s.Offset("file:/var/log/auth.log")
	if err != nil || string(v) != "ino=12 off=8192" {
		t.Fatalf("offset %q %v", v, err)
	}
	if v, err := s.Offset("journal:ssh.service"); v != nil || err != nil {
		t.Fatalf("deleted offset %q %v", v, err)
	}
	if v, err := s.Offset("file:/var/log/empty"); v == nil || len(v) != 0 || err != nil {
		t.Fatalf("empty offset %q %v", v, err)
	}
	if err := s.SaveOffsets(map[string][]byte{"": []byte("x")}); err == nil {
		t.Fatal("empty key accepted")
	}
	// What Offset returned is the caller's: it outlives the file's mapping.
	s.Close()
	if string(v) != "ino=12 off=8192" {
		t.Fatalf("offset changed to %q after Close", v)
	}
}

func TestOpenLockedNamesTheHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seawall.db")
	first, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = OpenTimeout(path, 100*time.Millisecond)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the lock timeout took %v", took)
	}
	var locked *LockedError
	if !errors.As(err, &locked) || !errors.Is(err, ErrLocked) {
		t.Fatalf("error %v, want a LockedError", err)
	}
	if !strings.Contains(err.Error(), "another seawall process (the daemon?) holds "+path) {
		t.Fatalf("message %q", err)
	}
	// flock locks belong to open files, so this very process is the holder.
	if comm, err := os.ReadFile("/proc/self/comm"); err == nil {
		want := fmt.Sprintf("pid %d, %s", os.Getpid(), strings.TrimSpace(string(comm)))
		if locked.Holder != want {
			t.Errorf("holder %q, want %q", locked.Holder, want)
		}
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second, err := OpenTimeout(path, 100*time.Millisecond)
	if err != nil {
		t.Fatalf("after close: %v", err)
	}
	second.Close()
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seawall.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(metaBucket)
		if err != nil {
			return err
		}
		return b.Put(schemaKey, []byte("99"))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "newer seawall") {
		t.Fatalf("error %v, want a newer-schema refusal", err)
	}
}

func TestOpenErrors(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "missing", "seawall.db"))
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "could not open store") {
		t.Fatalf("error %v", err)
	}
	notDB := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(notDB, []byte(strings.Repeat("not a database\n", 1000)), 0o600)
	if _, err := Open(notDB); err == nil {
		t.Fatal("opened a text file as a store")
	}
}

// Release leaves the data readable (the pages come back from the page
// cache) and can run while the store is written.
func TestRelease(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "bans.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now().UTC().Truncate(time.Millisecond)
	var bans []Ban
	for i := range 5000 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 32)
		bans = append(bans, Ban{Jail: "sshd", Prefix: p, Start: now, Expires: now.Add(time.Hour), Count: 1, Origin: OriginLog})
	}
	done := make(chan error, 1)
	go func() {
		for range 50 {
			if err := s.Release(); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	if err := s.PutBans(bans); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.Release(); err != nil {
		t.Fatal(err)
	}
	got, err := s.Bans()
	if err != nil || len(got) != len(bans) || got[4999] != bans[4999] {
		t.Fatalf("after Release: %d bans, %v", len(got), err)
	}
}
