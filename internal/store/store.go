// Package store owns seawall's embedded persistence: current bans, ban
// history (how often a prefix was banned, for increments) and log read
// offsets, in one bbolt file. Every write is one transaction, so after a
// crash or kill -9 the file holds exactly the writes that returned. Only one
// process may hold the file open: the daemon.
//
// Store knows no jail logic: it keeps its own Ban record and the caller
// converts.
package store

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"golang.org/x/sys/unix"
)

// DefaultLockTimeout is how long Open waits for another process to release
// the file.
const DefaultLockTimeout = 2 * time.Second

// initialMmapSize is the file mapping reserved at open.
const initialMmapSize = 64 << 20

// schemaVersion is the layout of the file this code writes; a file with a
// newer one is refused rather than misread.
const schemaVersion = 1

// Bucket names, and the key of the schema version in metaBucket.
var (
	metaBucket    = []byte("meta")
	bansBucket    = []byte("bans")
	historyBucket = []byte("history")
	offsetsBucket = []byte("offsets")
	schemaKey     = []byte("schema")
)

// ErrLocked is what a LockedError is: another process holds the store.
var ErrLocked = errors.New("store is locked")

// LockedError is returned by Open when another process holds the file
// past the timeout.
type LockedError struct {
	Path string
	// Holder names the holding process ("pid 812, seawall") when the
	// kernel tells; empty otherwise.
	Holder string
}

func (e *LockedError) Error() string {
	msg := "another seawall process (the daemon?) holds " + e.Path
	if e.Holder != "" {
		msg += " (" + e.Holder + ")"
	}
	return msg
}

// Is makes errors.Is(err, ErrLocked) true for a LockedError.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Store is an open store file. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string
}

// Open opens the store at path, creating it (mode 0600) if needed, and
// waits up to DefaultLockTimeout for another process to release it.
func Open(path string) (*Store, error) {
	return OpenTimeout(path, DefaultLockTimeout)
}

// OpenTimeout is Open with a given lock timeout (at least a few
// milliseconds; zero waits forever).
func OpenTimeout(path string, timeout time.Duration) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: timeout,
		// The map freelist stays fast as the file grows and fragments.
		FreelistType: bolt.FreelistMapType,
		// Address space only (the file grows as written): mapping room
		// for some 300k bans at once spares the remaps that would copy
		// every node of a large batch to the heap (2-3x faster for 100k).
		InitialMmapSize: initialMmapSize,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, &LockedError{Path: path, Holder: lockHolder(path)}
	}
	if err != nil {
		return nil, fmt.Errorf("could not open store %s: %w", path, err)
	}
	if err := db.Update(initialize); err != nil {
		db.Close()
		return nil, fmt.Errorf("could not open store %s: %w", path, err)
	}
	return &Store{db: db, path: path}, nil
}

// initialize creates the buckets and checks the schema version.
func initialize(tx *bolt.Tx) error {
	for _, name := range [][]byte{metaBucket, bansBucket, historyBucket, offsetsBucket} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("could not create bucket %q: %w", name, err)
		}
	}
	meta := tx.Bucket(metaBucket)
	v := meta.Get(schemaKey)
	if v == nil {
		return meta.Put(schemaKey, []byte(strconv.Itoa(schemaVersion)))
	}
	got, err := strconv.Atoi(string(v))
	if err != nil {
		return fmt.Errorf("unreadable schema version %q", v)
	}
	if got > schemaVersion {
		return fmt.Errorf("the store was written by a newer seawall (schema %d, this one knows %d)", got, schemaVersion)
	}
	return nil
}

// Path returns the file's path.
func (s *Store) Path() string { return s.path }

// Close closes the file and releases it for other processes.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("could not close store %s: %w", s.path, err)
	}
	return nil
}

// lockHolder names the process holding a flock on path, from /proc/locks,
// or returns "" when it cannot tell (no procfs, another PID namespace).
func lockHolder(path string) string {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return ""
	}
	f, err := os.Open("/proc/locks")
	if err != nil {
		return ""
	}
	defer f.Close()
	// A line: "1: FLOCK  ADVISORY  WRITE 812 fd:01:131090 0 EOF", the file
	// as major:minor (hex) and inode; "->" lines are waiters, not holders.
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" || fields[5] != want {
			continue
		}
		pid := fields[4]
		comm, err := os.ReadFile("/proc/" + pid + "/comm")
		if err != nil {
			return "pid " + pid
		}
		return "pid " + pid + ", " + strings.TrimSpace(string(comm))
	}
	return ""
}

// Release drops the store file's pages from the process's resident set.
// bbolt reads the file through a shared read-only mapping, so every page a
// transaction walked stays resident (some 35 MB with 100k bans); the pages
// stay in the kernel's page cache, and a later read maps them again with a
// minor fault. The read transaction keeps bbolt from remapping meanwhile.
func (s *Store) Release() error {
	return s.db.View(func(tx *bolt.Tx) error {
		page := uintptr(os.Getpagesize())
		n := (uintptr(tx.Size()) + page - 1) &^ (page - 1)
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, s.db.Info().Data, n, unix.MADV_DONTNEED); errno != 0 {
			return fmt.Errorf("could not release the store's pages: %w", errno)
		}
		return nil
	})
}
