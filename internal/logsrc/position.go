package logsrc

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// headSize is how many of a file's first bytes its fingerprint covers:
// enough for the first line of most logs, whose timestamp tells two files
// apart when the kernel reuses an inode.
const headSize = 256

// Position is where a file is being read: which file, and the offset just
// after the last line delivered. The zero Position means "no saved
// position".
//
// A file is identified by its device and inode, and by a fingerprint of its
// first bytes, so that a new file that happens to get a deleted file's inode
// is not taken for it. The fingerprint covers the first HeadLen bytes
// (up to 256): a file shorter than that when the position was taken
// matches any file that starts with the same bytes.
type Position struct {
	Dev     uint64
	Ino     uint64
	HeadLen uint16   // how many first bytes HeadSum covers
	HeadSum [16]byte // SHA-256 of the first HeadLen bytes, truncated
	Offset  int64
}

// IsZero reports whether p is the zero Position.
func (p Position) IsZero() bool { return p == Position{} }

// String describes p for logs.
func (p Position) String() string {
	return fmt.Sprintf("dev %d inode %d offset %d", p.Dev, p.Ino, p.Offset)
}

// posVersion is the first byte of a marshalled Position; posSize its length.
const (
	posVersion = 1
	posSize    = 1 + 8 + 8 + 2 + 16 + 8
)

// MarshalBinary encodes p in 43 bytes: a version byte, then the fields in
// big-endian order.
func (p Position) MarshalBinary() ([]byte, error) {
	return p.appendBinary(make([]byte, 0, posSize)), nil
}

func (p Position) appendBinary(b []byte) []byte {
	b = append(b, posVersion)
	b = binary.BigEndian.AppendUint64(b, p.Dev)
	b = binary.BigEndian.AppendUint64(b, p.Ino)
	b = binary.BigEndian.AppendUint16(b, p.HeadLen)
	b = append(b, p.HeadSum[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(p.Offset))
}

// ErrBadPosition is returned when bytes do not hold a Position.
var ErrBadPosition = errors.New("not a file position")

// UnmarshalBinary decodes what MarshalBinary encoded.
func (p *Position) UnmarshalBinary(b []byte) error {
	if len(b) != posSize || b[0] != posVersion {
		return fmt.Errorf("could not decode %d bytes: %w", len(b), ErrBadPosition)
	}
	b = b[1:]
	q := Position{
		Dev:     binary.BigEndian.Uint64(b[0:8]),
		Ino:     binary.BigEndian.Uint64(b[8:16]),
		HeadLen: binary.BigEndian.Uint16(b[16:18]),
		Offset:  int64(binary.BigEndian.Uint64(b[34:42])),
	}
	copy(q.HeadSum[:], b[18:34])
	if q.HeadLen > headSize || q.Offset < 0 {
		return fmt.Errorf("could not decode: head %d, offset %d: %w", q.HeadLen, q.Offset, ErrBadPosition)
	}
	*p = q
	return nil
}

// ParsePosition decodes a Line.Pos of a file. Empty b gives the zero
// Position.
func ParsePosition(b []byte) (Position, error) {
	var p Position
	if len(b) == 0 {
		return p, nil
	}
	err := p.UnmarshalBinary(b)
	return p, err
}

// fileID is what the kernel says identifies a file.
type fileID struct{ dev, ino uint64 }

func idOf(fi os.FileInfo) fileID {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino}
}

// head is the first bytes of a file as last read, up to headSize.
type head []byte

// readHead reads the first bytes of f, up to headSize.
func readHead(f io.ReaderAt) (head, error) {
	b := make([]byte, headSize)
	n, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("could not read the head of %s: %w", nameOf(f), err)
	}
	return head(b[:n]), nil
}

func (h head) sum() [16]byte {
	full := sha256.Sum256(h)
	var s [16]byte
	copy(s[:], full[:16])
	return s
}

// matches reports whether a file whose first bytes are h can be the file
// p was taken on, as far as the fingerprint tells.
func (p Position) matches(h head) bool {
	if int(p.HeadLen) > len(h) {
		return false
	}
	return head(h[:p.HeadLen]).sum() == p.HeadSum
}

// sameFile reports whether the file with id and first bytes h is the file
// p was taken on. The inode and the fingerprint must match. The device
// number need not: it can change across reboots (device-mapper, NFS,
// btrfs), and a false "rotated" there would read the file again.
func (p Position) sameFile(id fileID, h head) bool {
	return p.Ino == id.ino && p.matches(h)
}

func nameOf(f io.ReaderAt) string {
	if f, ok := f.(*os.File); ok {
		return f.Name()
	}
	return "file"
}

// EndPosition returns the position after the last complete line of the
// file at path (as Follow would start without a saved position): following
// from it reads exactly what is appended from the moment EndPosition
// returns, whenever the follower gets to open the file. A file that does
// not exist yet gives the zero Position, with which Follow waits for it and
// reads it from its beginning.
func EndPosition(path string) (Position, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Position{}, nil
	}
	if err != nil {
		return Position{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Position{}, err
	}
	h, err := readHead(f)
	if err != nil {
		return Position{}, err
	}
	t := &tail{}
	off, _ := t.tailStart(&logFile{f: f})
	id := idOf(fi)
	return Position{Dev: id.dev, Ino: id.ino, HeadLen: uint16(len(h)), HeadSum: h.sum(), Offset: off}, nil
}
