package logsrc

import (
	"errors"
	"testing"
)

// position builds the Position of offset off in the file id whose first
// bytes are h.
func position(id fileID, h head, off int64) Position {
	return Position{Dev: id.dev, Ino: id.ino, HeadLen: uint16(len(h)), HeadSum: h.sum(), Offset: off}
}

func TestPositionMarshal(t *testing.T) {
	p := position(fileID{dev: 0xfd00, ino: 1 << 40}, head("Jan  1 00:00:00 host sshd[1]: hello\n"), 1<<33)
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != posSize {
		t.Fatalf("marshalled to %d bytes, want %d", len(b), posSize)
	}
	got, err := ParsePosition(b)
	if err != nil {
		t.Fatal(err)
	}
	if got != p {
		t.Fatalf("round trip: got %+v, want %+v", got, p)
	}
	if zero, err := ParsePosition(nil); err != nil || !zero.IsZero() {
		t.Fatalf("ParsePosition(nil) = %+v, %v; want the zero Position", zero, err)
	}
}

func TestPositionUnmarshalRejects(t *testing.T) {
	good, _ := position(fileID{1, 2}, head("x"), 3).MarshalBinary()
	badVersion := append([]byte{9}, good[1:]...)
	badHead := append([]byte(nil), good...)
	badHead[17], badHead[18] = 0xff, 0xff // HeadLen 65535
	negative := append([]byte(nil), good...)
	negative[35] = 0x80 // offset < 0
	for name, b := range map[string][]byte{
		"short":           good[:10],
		"long":            append(append([]byte(nil), good...), 0),
		"version":         badVersion,
		"head too long":   badHead,
		"negative offset": negative,
		"journal cursor":  []byte("s=0123;i=1;b=ab;m=1;t=2;x=3"),
	} {
		var p Position
		if err := p.UnmarshalBinary(b); !errors.Is(err, ErrBadPosition) {
			t.Errorf("%s: err %v, want ErrBadPosition", name, err)
		}
	}
}

func TestPositionSameFile(t *testing.T) {
	h := head("Jan  1 00:00:00 first line\n")
	p := position(fileID{dev: 1, ino: 42}, h, 10)
	for _, tc := range []struct {
		name string
		id   fileID
		h    head
		want bool
	}{
		{"same", fileID{1, 42}, h, true},
		{"grown: head is longer now", fileID{1, 42}, head(string(h) + "second line\n"), true},
		{"other device after a reboot", fileID{7, 42}, h, true},
		{"other inode", fileID{1, 43}, h, false},
		{"inode reused", fileID{1, 42}, head("Feb  2 10:00:00 other file\n"), false},
		{"shorter than the head", fileID{1, 42}, h[:5], false},
	} {
		if got := p.sameFile(tc.id, tc.h); got != tc.want {
			t.Errorf("%s: sameFile = %v, want %v", tc.name, got, tc.want)
		}
	}
}
