package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// The file's records are small fixed binary layouts, each starting with a
// version byte so that a later seawall can change them:
//
//	ban key:       jail name, 0x00, prefix
//	ban value:     version, origin, flags, start ms, expires ms, count
//	history key:   prefix
//	history value: version, then per jail: name length, name, count, last ban ms
//	prefix:        family (4 or 6), 4 or 16 address bytes, prefix length
//
// Times are Unix milliseconds, big-endian int64 in bans, varints in history.
const (
	recordVersion = 1
	banValueLen   = 1 + 1 + 1 + 8 + 8 + 4
	flagPermanent = 1 << 0
)

// origin codes in ban values.
var originCodes = map[Origin]byte{OriginLog: 1, OriginManual: 2}

// canonical returns p masked, an IPv4-mapped prefix (/96 or longer) as the
// IPv4 prefix it denotes, without zone: the form every key is made from, so
// that ::ffff:192.0.2.1/128 and 192.0.2.1/32 are one prefix.
func canonical(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() {
		return netip.Prefix{}, fmt.Errorf("invalid prefix %v", p)
	}
	a, bits := p.Addr().WithZone(""), p.Bits()
	if a.Is4In6() {
		if bits < 96 {
			return netip.Prefix{}, fmt.Errorf("prefix %v mixes IPv4 and IPv6", p)
		}
		a, bits = a.Unmap(), bits-96
	}
	return netip.PrefixFrom(a, bits).Masked(), nil
}

// Address families in encoded prefixes; IPv4's is lower, so IPv4 sorts first.
const (
	family4 = 4
	family6 = 6
)

// appendPrefix appends the canonical prefix p's encoding to b.
func appendPrefix(b []byte, p netip.Prefix) []byte {
	a := p.Addr()
	if a.Is4() {
		a4 := a.As4()
		b = append(append(b, family4), a4[:]...)
	} else {
		a16 := a.As16()
		b = append(append(b, family6), a16[:]...)
	}
	return append(b, byte(p.Bits()))
}

// decodePrefix decodes an encoded prefix.
func decodePrefix(b []byte) (netip.Prefix, error) {
	var a netip.Addr
	switch {
	case len(b) == 1+4+1 && b[0] == family4:
		a = netip.AddrFrom4([4]byte(b[1:5]))
	case len(b) == 1+16+1 && b[0] == family6:
		a = netip.AddrFrom16([16]byte(b[1:17]))
	default:
		return netip.Prefix{}, fmt.Errorf("undecodable prefix %x", b)
	}
	p := netip.PrefixFrom(a, int(b[len(b)-1]))
	if !p.IsValid() {
		return netip.Prefix{}, fmt.Errorf("prefix length %d for %v", b[len(b)-1], a)
	}
	return p, nil
}

// checkJail checks that name can be part of a key.
func checkJail(name string) error {
	if name == "" || strings.IndexByte(name, 0) >= 0 {
		return fmt.Errorf("invalid jail name %q", name)
	}
	return nil
}

// banKey encodes a ban's key; p must be canonical and jail checked.
func banKey(jail string, p netip.Prefix) []byte {
	b := make([]byte, 0, len(jail)+1+18)
	b = append(b, jail...)
	b = append(b, 0)
	return appendPrefix(b, p)
}

// decodeBanKey splits a ban key.
func decodeBanKey(k []byte) (string, netip.Prefix, error) {
	i := bytes.IndexByte(k, 0)
	if i < 1 {
		return "", netip.Prefix{}, errors.New("key without a jail name")
	}
	p, err := decodePrefix(k[i+1:])
	return string(k[:i]), p, err
}

// encodeBanValue encodes what a ban holds besides its key.
func encodeBanValue(b Ban) ([]byte, error) {
	origin, ok := originCodes[b.Origin]
	if !ok {
		return nil, fmt.Errorf("unknown origin %q", b.Origin)
	}
	if b.Count < 0 || int64(b.Count) > int64(^uint32(0)) {
		return nil, fmt.Errorf("ban count %d out of range", b.Count)
	}
	v := make([]byte, banValueLen)
	v[0], v[1] = recordVersion, origin
	if b.Permanent() {
		v[2] = flagPermanent
	} else {
		binary.BigEndian.PutUint64(v[11:], uint64(b.Expires.UnixMilli()))
	}
	binary.BigEndian.PutUint64(v[3:], uint64(b.Start.UnixMilli()))
	binary.BigEndian.PutUint32(v[19:], uint32(b.Count))
	return v, nil
}

// decodeBanValue fills b's fields but Jail and Prefix from v.
func decodeBanValue(v []byte, b *Ban) error {
	if len(v) != banValueLen || v[0] != recordVersion {
		return fmt.Errorf("ban record of %d bytes, version %d", len(v), firstByte(v))
	}
	for o, code := range originCodes {
		if code == v[1] {
			b.Origin = o
		}
	}
	if b.Origin == "" {
		return fmt.Errorf("unknown origin code %d", v[1])
	}
	b.Start = time.UnixMilli(int64(binary.BigEndian.Uint64(v[3:]))).UTC()
	b.Expires = time.Time{}
	if v[2]&flagPermanent == 0 {
		b.Expires = time.UnixMilli(int64(binary.BigEndian.Uint64(v[11:]))).UTC()
	}
	b.Count = int(binary.BigEndian.Uint32(v[19:]))
	return nil
}

// expiredAt reports whether the encoded ban v has expired at now (Unix ms).
func expiredAt(v []byte, now int64) bool {
	return len(v) == banValueLen && v[2]&flagPermanent == 0 && int64(binary.BigEndian.Uint64(v[11:])) <= now
}

// encodeHistory encodes a prefix's history entries.
func encodeHistory(entries []HistoryEntry) []byte {
	v := []byte{recordVersion}
	for _, e := range entries {
		v = binary.AppendUvarint(v, uint64(len(e.Jail)))
		v = append(v, e.Jail...)
		v = binary.AppendUvarint(v, uint64(e.Count))
		v = binary.AppendVarint(v, e.Last.UnixMilli())
	}
	return v
}

// decodeHistory decodes a prefix's history entries.
func decodeHistory(v []byte) ([]HistoryEntry, error) {
	if len(v) == 0 || v[0] != recordVersion {
		return nil, fmt.Errorf("history record of version %d", firstByte(v))
	}
	var out []HistoryEntry
	for rest := v[1:]; len(rest) > 0; {
		n, k := binary.Uvarint(rest)
		if k <= 0 || uint64(len(rest)-k) < n {
			return nil, errors.New("truncated history record")
		}
		jail := string(rest[k : k+int(n)])
		rest = rest[k+int(n):]
		count, k := binary.Uvarint(rest)
		if k <= 0 {
			return nil, errors.New("truncated history record")
		}
		rest = rest[k:]
		last, k := binary.Varint(rest)
		if k <= 0 {
			return nil, errors.New("truncated history record")
		}
		rest = rest[k:]
		out = append(out, HistoryEntry{Jail: jail, Count: int(count), Last: time.UnixMilli(last).UTC()})
	}
	return out, nil
}

// firstByte returns b[0], or 0 for an empty b.
func firstByte(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}
