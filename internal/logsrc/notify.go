package logsrc

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// Watch masks. A directory is watched for names coming and going (rotation,
// re-creation, symlink swaps, a log file appearing) and for attribute
// changes (a log file made readable); an open file for writes, truncation
// and its own renaming or deletion.
const (
	dirMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
		unix.IN_ATTRIB | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR
	fileMask = unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_MOVE_SELF | unix.IN_DELETE_SELF
)

// notifier wakes a follower when something it watches changes. It does not
// say what changed: the follower looks at its files again, which is cheap
// and cannot miss an event that an event parser got wrong, and it coalesces
// bursts of events into one wake-up.
type notifier struct {
	file *os.File // the inotify instance, non-blocking so Close ends Read
	fd   int
	wake chan struct{} // capacity 1: "something changed"
	done chan struct{} // closed when the reader has returned

	mu   sync.Mutex
	dirs map[string]int // watched directory -> watch descriptor
}

// newNotifier starts an inotify instance and its reader.
func newNotifier() (*notifier, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("could not start inotify: %w", err)
	}
	n := &notifier{
		// A non-blocking descriptor gives a File in Go's poller, whose
		// Read returns when the File is closed.
		file: os.NewFile(uintptr(fd), "inotify"),
		fd:   fd,
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
		dirs: map[string]int{},
	}
	go n.read()
	return n, nil
}

// read turns every batch of events into one wake-up, until the instance is
// closed.
func (n *notifier) read() {
	defer close(n.done)
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		if _, err := n.file.Read(buf); err != nil {
			return
		}
		select {
		case n.wake <- struct{}{}:
		default:
		}
	}
}

// watchDirs makes the watched directories exactly dirs. A directory that
// cannot be watched (it does not exist yet) is left out, and its error
// returned; calling watchDirs again retries it.
func (n *notifier) watchDirs(dirs ...string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	want := map[string]bool{}
	var errs []error
	for _, d := range dirs {
		want[d] = true
		if _, ok := n.dirs[d]; ok {
			continue
		}
		wd, err := unix.InotifyAddWatch(n.fd, d, dirMask)
		if err != nil {
			errs = append(errs, fmt.Errorf("could not watch directory %s: %w", d, err))
			continue
		}
		n.dirs[d] = wd
	}
	for d, wd := range n.dirs {
		if !want[d] {
			// Fails harmlessly when the directory is gone already.
			_, _ = unix.InotifyRmWatch(n.fd, uint32(wd))
			delete(n.dirs, d)
		}
	}
	return errors.Join(errs...)
}

// forgetDir drops the watch of a directory that may have been removed, so
// the next watchDirs adds it again (on the new directory, if one exists).
func (n *notifier) forgetDir(d string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if wd, ok := n.dirs[d]; ok {
		_, _ = unix.InotifyRmWatch(n.fd, uint32(wd))
		delete(n.dirs, d)
	}
}

// watchFile watches the open file f itself: through /proc/self/fd, which
// names exactly the inode f has open even after it was renamed or deleted.
// Without /proc it falls back to f's name.
func (n *notifier) watchFile(f *os.File) (int, error) {
	wd, err := unix.InotifyAddWatch(n.fd, "/proc/self/fd/"+strconv.Itoa(int(f.Fd())), fileMask)
	if err != nil {
		wd, err = unix.InotifyAddWatch(n.fd, f.Name(), fileMask)
	}
	if err != nil {
		return -1, fmt.Errorf("could not watch %s: %w", f.Name(), err)
	}
	return wd, nil
}

// unwatch removes a file's watch; wd < 0 is no watch.
func (n *notifier) unwatch(wd int) {
	if wd >= 0 {
		_, _ = unix.InotifyRmWatch(n.fd, uint32(wd))
	}
}

// close ends the reader and releases the instance.
func (n *notifier) close() {
	n.file.Close()
	<-n.done
}
