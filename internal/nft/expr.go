package nft

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/seawall/seawall/internal/ruleset"
)

// The encodings below mirror what nft 1.0.x generates for the text that
// text.go prints (checked with `nft --debug=netlink`), so a netlink apply and
// `nft -f` of the plan leave the same kernel objects:
//   - protocol dependencies (meta nfproto, meta l4proto) are added before a
//     header field unless an earlier match already established them;
//   - one address, one port or one range is compared directly (cmp, or
//     cmp gte + cmp lte); a prefix on a byte boundary loads only its bytes;
//     two or more elements become an anonymous constant set;
//   - interval sets start with a zero-key end element, and a range that
//     ends at the last address is sent open-ended.

// anonSet is an anonymous set a rule needs; it is added just before the rule.
type anonSet struct {
	set   *nftables.Set
	elems []nftables.SetElement
}

type exprBuilder struct {
	table   *nftables.Table
	nfproto ruleset.Family
	l4proto uint8
	exprs   []expr.Any
	anon    []anonSet
}

func (b *exprBuilder) add(e ...expr.Any) { b.exprs = append(b.exprs, e...) }

func (b *exprBuilder) cmp(op expr.CmpOp, data []byte) {
	b.add(&expr.Cmp{Op: op, Register: 1, Data: data})
}

func (b *exprBuilder) needNFProto(f ruleset.Family) {
	if b.nfproto == f {
		return
	}
	b.add(&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1})
	b.cmp(expr.CmpOpEq, []byte{nfproto(f)})
	b.nfproto = f
}

func (b *exprBuilder) needL4Proto(p uint8) {
	if b.l4proto == p {
		return
	}
	b.add(&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1})
	b.cmp(expr.CmpOpEq, []byte{p})
	b.l4proto = p
}

func nfproto(f ruleset.Family) byte {
	if f == ruleset.IPv6 {
		return unix.NFPROTO_IPV6
	}
	return unix.NFPROTO_IPV4
}

func eqOp(neg bool) expr.CmpOp {
	if neg {
		return expr.CmpOpNeq
	}
	return expr.CmpOpEq
}

func (b *exprBuilder) match(m ruleset.Match) error {
	switch m := m.(type) {
	case ruleset.NFProto:
		b.add(&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1})
		b.cmp(expr.CmpOpEq, []byte{nfproto(m.Family)})
		b.nfproto = m.Family
	case ruleset.L4Proto:
		b.add(&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1})
		b.cmp(expr.CmpOpEq, []byte{m.Proto})
		b.l4proto = m.Proto
	case ruleset.Iface:
		b.iface(m)
	case ruleset.Addr:
		return b.addr(m)
	case ruleset.Port:
		b.needL4Proto(m.Proto)
		off := uint32(2)
		if m.Dir == ruleset.Src {
			off = 0
		}
		b.add(&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2})
		return b.ports(m.Ranges)
	case ruleset.CtState:
		b.ctBits(expr.CtKeySTATE, m.States)
	case ruleset.CtDNAT:
		b.ctBits(expr.CtKeySTATUS, 0x20) // IPS_DST_NAT
		b.add(&expr.Ct{Register: 1, Key: expr.CtKeyPROTODST, Direction: 0, OptDirection: true})
		b.cmp(expr.CmpOpEq, be16(m.OrigPort))
	case ruleset.TCPFlags:
		b.needL4Proto(ruleset.ProtoTCP)
		b.add(&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1})
		b.add(&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{m.Mask}, Xor: []byte{0}})
		b.cmp(eqOp(m.Neg), []byte{m.Value})
	case ruleset.ICMPType:
		b.needNFProto(m.Family)
		if m.Family == ruleset.IPv6 {
			b.needL4Proto(ruleset.ProtoICMPv6)
		} else {
			b.needL4Proto(ruleset.ProtoICMP)
		}
		b.add(&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1})
		if len(m.Types) == 1 {
			b.cmp(expr.CmpOpEq, []byte{m.Types[0]})
			return nil
		}
		dt := nftables.TypeICMPType
		if m.Family == ruleset.IPv6 {
			dt = nftables.TypeICMP6Type
		}
		var elems []nftables.SetElement
		for _, t := range m.Types {
			elems = append(elems, nftables.SetElement{Key: []byte{t}})
		}
		b.lookupAnon(dt, false, elems, false)
	case ruleset.HopLimit:
		b.needNFProto(ruleset.IPv6)
		b.add(&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 7, Len: 1})
		b.cmp(expr.CmpOpEq, []byte{m.Value})
	case ruleset.DNATed:
		b.add(&expr.Ct{Register: 1, Key: expr.CtKeySTATUS})
		b.add(&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binary.NativeEndian.AppendUint32(nil, 0x20), Xor: make([]byte, 4)}) // IPS_DST_NAT
		op := expr.CmpOpNeq
		if m.Neg {
			op = expr.CmpOpEq
		}
		b.cmp(op, make([]byte, 4))
	case ruleset.OrigPort:
		b.add(&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1})
		b.cmp(expr.CmpOpEq, []byte{m.Proto})
		b.l4proto = m.Proto
		b.add(&expr.Ct{Register: 1, Key: expr.CtKeyPROTODST, Direction: 0, OptDirection: true})
		return b.ports([]ruleset.PortRange{m.Range})
	case ruleset.LocalDst:
		b.add(&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true})
		b.cmp(expr.CmpOpEq, binary.NativeEndian.AppendUint32(nil, unix.RTN_LOCAL))
	case ruleset.InSet:
		b.add(&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1})
		b.add(&expr.Lookup{SourceRegister: 1, SetName: m.Set})
	default:
		return fmt.Errorf("unknown match %T", m)
	}
	return nil
}

func (b *exprBuilder) ctBits(key expr.CtKey, bits uint32) {
	b.add(&expr.Ct{Register: 1, Key: key})
	b.add(&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
		Mask: binary.NativeEndian.AppendUint32(nil, bits), Xor: make([]byte, 4)})
	b.cmp(expr.CmpOpNeq, make([]byte, 4))
}

func (b *exprBuilder) iface(m ruleset.Iface) {
	key := expr.MetaKeyIIFNAME
	if m.Dir == ruleset.Dst {
		key = expr.MetaKeyOIFNAME
	}
	b.add(&expr.Meta{Key: key, Register: 1})
	if n := len(m.Name); n > 0 && m.Name[n-1] == '*' {
		b.cmp(eqOp(m.Neg), []byte(m.Name[:n-1]))
		return
	}
	name := make([]byte, unix.IFNAMSIZ)
	copy(name, m.Name)
	b.cmp(eqOp(m.Neg), name)
}

func (b *exprBuilder) addr(m ruleset.Addr) error {
	b.needNFProto(m.Family)
	off, size := uint32(12), uint32(4)
	if m.Family == ruleset.IPv6 {
		off, size = 8, 16
	}
	if m.Dir == ruleset.Dst {
		off += size
	}
	load := func(n uint32) {
		b.add(&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n})
	}
	if m.Set != "" {
		load(size)
		if m.Mask > 0 {
			b.add(&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: size, Mask: familyMask(m.Family, m.Mask), Xor: make([]byte, size)})
		}
		b.add(&expr.Lookup{SourceRegister: 1, SetName: m.Set, Invert: m.Neg})
		return nil
	}
	if len(m.Ranges) != 1 {
		load(size)
		b.lookupAnon(addrType(m.Family), true, intervalElements(m.Ranges), m.Neg)
		return nil
	}
	r := m.Ranges[0]
	if r.First == r.Last {
		load(size)
		b.cmp(eqOp(m.Neg), r.First.AsSlice())
		return nil
	}
	p, ok := r.Prefix()
	if !ok {
		if m.Neg {
			// nft encodes a negated range with a range expression; a
			// one-element anonymous set reads the same and is simpler.
			load(size)
			b.lookupAnon(addrType(m.Family), true, intervalElements(m.Ranges), true)
			return nil
		}
		load(size)
		b.cmp(expr.CmpOpGte, r.First.AsSlice())
		b.cmp(expr.CmpOpLte, r.Last.AsSlice())
		return nil
	}
	if p.Bits()%8 == 0 {
		n := uint32(p.Bits() / 8)
		load(n)
		b.cmp(eqOp(m.Neg), p.Addr().AsSlice()[:n])
		return nil
	}
	load(size)
	b.add(&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: size, Mask: prefixMask(p), Xor: make([]byte, size)})
	b.cmp(eqOp(m.Neg), p.Addr().AsSlice())
	return nil
}

func prefixMask(p netip.Prefix) []byte {
	mask := make([]byte, p.Addr().BitLen()/8)
	for i := 0; i < p.Bits(); i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return mask
}

func (b *exprBuilder) ports(rs []ruleset.PortRange) error {
	if len(rs) == 1 {
		r := rs[0]
		if r.First == r.Last {
			b.cmp(expr.CmpOpEq, be16(r.First))
		} else {
			b.cmp(expr.CmpOpGte, be16(r.First))
			b.cmp(expr.CmpOpLte, be16(r.Last))
		}
		return nil
	}
	interval := false
	var elems []nftables.SetElement
	for _, r := range rs {
		if r.First != r.Last {
			interval = true
		}
	}
	if interval {
		elems = append(elems, nftables.SetElement{Key: be16(0), IntervalEnd: true})
	}
	for _, r := range rs {
		elems = append(elems, nftables.SetElement{Key: be16(r.First)})
		if interval {
			if r.Last == 0xffff {
				elems[len(elems)-1].IntervalOpen = true
			} else {
				elems = append(elems, nftables.SetElement{Key: be16(r.Last + 1), IntervalEnd: true})
			}
		}
	}
	b.lookupAnon(nftables.TypeInetService, interval, elems, false)
	return nil
}

func (b *exprBuilder) lookupAnon(dt nftables.SetDatatype, interval bool, elems []nftables.SetElement, invert bool) {
	s := &nftables.Set{
		Table:     b.table,
		Anonymous: true,
		Constant:  true,
		Interval:  interval,
		KeyType:   dt,
	}
	b.anon = append(b.anon, anonSet{set: s, elems: elems})
	// SetName and SetID are filled in by the caller once AddSet has
	// allocated the set's transaction ID.
	b.add(&expr.Lookup{SourceRegister: 1, Invert: invert})
}

func addrType(f ruleset.Family) nftables.SetDatatype {
	if f == ruleset.IPv6 {
		return nftables.TypeIP6Addr
	}
	return nftables.TypeIPAddr
}

// intervalElements encodes ranges the way nft does for an interval set.
func intervalElements(rs []ruleset.Element) []nftables.SetElement {
	if len(rs) == 0 {
		return nil
	}
	zero := make([]byte, rs[0].First.BitLen()/8)
	elems := make([]nftables.SetElement, 0, 2*len(rs)+1)
	elems = append(elems, nftables.SetElement{Key: zero, IntervalEnd: true})
	for _, r := range rs {
		next := r.Last.Next()
		if !next.IsValid() {
			elems = append(elems, nftables.SetElement{Key: r.First.AsSlice(), IntervalOpen: true})
			continue
		}
		elems = append(elems,
			nftables.SetElement{Key: r.First.AsSlice()},
			nftables.SetElement{Key: next.AsSlice(), IntervalEnd: true})
	}
	return elems
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// statements appends the rule's statements and verdict.
func (b *exprBuilder) statements(r *ruleset.Rule) error {
	if m := r.Meter; m != nil {
		b.needNFProto(m.Family)
		off, size := uint32(12), uint32(4)
		if m.Family == ruleset.IPv6 {
			off, size = 8, 16
		}
		b.add(&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: size})
		b.add(&expr.Dynset{SrcRegKey: 1, SetName: m.Set, Operation: unix.NFT_DYNSET_OP_UPDATE,
			Exprs: []expr.Any{limitExpr(m.Limit)}})
	}
	if r.Counter {
		b.add(&expr.Counter{})
	}
	if r.Limit != nil {
		b.add(limitExpr(*r.Limit))
	}
	if r.Log != nil {
		b.add(&expr.Log{Key: 1<<unix.NFTA_LOG_PREFIX | 1<<unix.NFTA_LOG_LEVEL,
			Level: expr.LogLevelInfo, Data: []byte(Sanitize(r.Log.Prefix))})
	}
	return b.verdict(r.Verdict)
}

func limitExpr(l ruleset.Limit) *expr.Limit {
	units := map[string]expr.LimitTime{"second": expr.LimitTimeSecond, "minute": expr.LimitTimeMinute,
		"hour": expr.LimitTimeHour, "day": expr.LimitTimeDay, "week": expr.LimitTimeWeek}
	return &expr.Limit{Type: expr.LimitTypePkts, Rate: l.Rate, Over: l.Over, Unit: units[unitName(l.Unit)], Burst: l.Burst}
}

func (b *exprBuilder) verdict(v ruleset.Verdict) error {
	switch v.Kind {
	case ruleset.VerdictNone:
	case ruleset.VerdictAccept:
		b.add(&expr.Verdict{Kind: expr.VerdictAccept})
	case ruleset.VerdictDrop:
		b.add(&expr.Verdict{Kind: expr.VerdictDrop})
	case ruleset.VerdictJump:
		b.add(&expr.Verdict{Kind: expr.VerdictJump, Chain: v.Chain})
	case ruleset.VerdictReturn:
		b.add(&expr.Verdict{Kind: expr.VerdictReturn})
	case ruleset.VerdictVmap:
		if v.Proto != 0 {
			b.needL4Proto(v.Proto)
			b.add(&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
				&expr.Lookup{SourceRegister: 1, SetName: v.Map, DestRegister: 0, IsDestRegSet: true})
			return nil
		}
		b.needNFProto(v.Family)
		off, size := uint32(12), uint32(4)
		if v.Family == ruleset.IPv6 {
			off, size = 8, 16
		}
		if v.Dir == ruleset.Dst {
			off += size
		}
		b.add(&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: size},
			&expr.Lookup{SourceRegister: 1, SetName: v.Map, DestRegister: 0, IsDestRegSet: true})
	case ruleset.VerdictReject:
		switch v.Reject {
		case ruleset.RejectTCPReset:
			b.add(&expr.Reject{Type: unix.NFT_REJECT_TCP_RST, Code: 0})
		case ruleset.RejectAdminProhibited:
			b.add(&expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED})
		default:
			b.add(&expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_PORT_UNREACH})
		}
	case ruleset.VerdictDNAT:
		fam := uint32(unix.NFPROTO_IPV4)
		if v.To.Addr().Is6() {
			fam = unix.NFPROTO_IPV6
		}
		b.add(&expr.Immediate{Register: 1, Data: v.To.Addr().AsSlice()},
			&expr.Immediate{Register: 2, Data: be16(v.To.Port())},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: fam, RegAddrMin: 1, RegProtoMin: 2, Specified: true})
	default:
		return fmt.Errorf("unknown verdict kind %d", v.Kind)
	}
	return nil
}
