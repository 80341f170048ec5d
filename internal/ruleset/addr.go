package ruleset

import (
	"net/netip"
	"slices"
)

// RangeOf returns the first and last address of a prefix.
func RangeOf(p netip.Prefix) Element {
	p = p.Masked()
	first := p.Addr()
	b := first.AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	last, _ := netip.AddrFromSlice(b)
	return Element{First: first, Last: last}
}

// MergePrefixes turns prefixes of one family into sorted, non-overlapping
// ranges, merging overlapping and adjacent ones. Prefixes of the other
// family are ignored.
func MergePrefixes(f Family, ps []netip.Prefix) []Element {
	rs := make([]Element, 0, len(ps))
	for _, p := range ps {
		if (p.Addr().Is4()) == (f == IPv4) {
			rs = append(rs, RangeOf(p))
		}
	}
	return MergeRanges(rs)
}

// MergeRanges sorts ranges and merges overlapping and adjacent ones.
func MergeRanges(rs []Element) []Element {
	if len(rs) == 0 {
		return nil
	}
	slices.SortFunc(rs, func(a, b Element) int { return a.First.Compare(b.First) })
	out := rs[:1]
	for _, r := range rs[1:] {
		cur := &out[len(out)-1]
		next := cur.Last.Next()
		if r.First.Compare(cur.Last) <= 0 || (next.IsValid() && r.First == next) {
			if r.Last.Compare(cur.Last) > 0 {
				cur.Last = r.Last
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

// Prefix returns the element as one prefix when its range is exactly one.
func (e Element) Prefix() (netip.Prefix, bool) {
	bits := e.First.BitLen()
	for b := 0; b <= bits; b++ {
		p := netip.PrefixFrom(e.First, b)
		if p.Masked().Addr() != e.First {
			continue
		}
		if RangeOf(p).Last == e.Last {
			return p, true
		}
	}
	return netip.Prefix{}, false
}
