package nft

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"

	"github.com/seawall/seawall/internal/ruleset"
)

// ErrPermission is returned when the kernel refuses for lack of
// CAP_NET_ADMIN.
var ErrPermission = errors.New("permission denied by the kernel")

// Conn talks to nftables in one network namespace. It only ever touches
// table inet seawall.
type Conn struct {
	c    *nftables.Conn
	nsFD int // owned duplicate of the namespace descriptor, or -1
}

// Open connects to nftables in the network namespace the process runs in.
func Open() (*Conn, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("could not open netlink socket: %w", classify(err))
	}
	return &Conn{c: c, nsFD: -1}, nil
}

// OpenLasting is Open with one netlink socket kept for the Conn's life
// instead of one per operation: for the daemon, whose container updates
// are on a latency budget.
func OpenLasting() (*Conn, error) {
	c, err := nftables.New(nftables.AsLasting())
	if err != nil {
		return nil, fmt.Errorf("could not open netlink socket: %w", classify(err))
	}
	return &Conn{c: c, nsFD: -1}, nil
}

// OpenNS connects to nftables in the network namespace that ns refers to
// (/run/netns/NAME, /proc/PID/ns/net). It refuses the caller's own
// namespace, so that a test meant for a scratch namespace cannot change
// the host's firewall.
//
// The Conn works on its own duplicate of the descriptor: the netlink
// library enters the namespace anew for every socket it opens, and a
// descriptor closed underneath it (a garbage-collected *os.File) would be
// reused for the library's handle on the current namespace — the caller's.
// For the same reason the duplicate is never 0, which the library reads as
// "the current namespace".
func OpenNS(ns *os.File) (*Conn, error) {
	var st, self unix.Stat_t
	if err := unix.Fstat(int(ns.Fd()), &st); err != nil {
		return nil, fmt.Errorf("could not stat namespace %s: %w", ns.Name(), err)
	}
	if err := unix.Stat("/proc/thread-self/ns/net", &self); err != nil {
		return nil, fmt.Errorf("could not stat the current namespace: %w", err)
	}
	if st.Dev == self.Dev && st.Ino == self.Ino {
		return nil, fmt.Errorf("refusing %s: it is the caller's own network namespace", ns.Name())
	}
	fd, err := unix.FcntlInt(ns.Fd(), unix.F_DUPFD_CLOEXEC, 3)
	runtime.KeepAlive(ns)
	if err != nil {
		return nil, fmt.Errorf("could not duplicate namespace descriptor: %w", err)
	}
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("could not open netlink socket: %w", classify(err))
	}
	return &Conn{c: c, nsFD: fd}, nil
}

func classify(err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%w: %v", ErrPermission, err)
	}
	return err
}

func (c *Conn) table() *nftables.Table {
	return &nftables.Table{Family: nftables.TableFamilyINet, Name: ruleset.TableName}
}

// Apply replaces table inet seawall with rs in one netlink transaction:
// packets see either the old table or the new one, never a mix.
//
// Sets named in keep are left in place with their elements, so that
// re-applying a policy whose 100k-entry blocklist did not change costs no
// element updates and rate-limit meters keep their state — but only if
// nothing has committed to nftables since gen, the generation that the
// commit which last wrote those sets produced (the caller recorded it). The
// batch itself carries the generation it was built against, so a change
// that slips in between is refused by the kernel, and Apply retries in full.
// Without kept sets, the table is created if missing, deleted and created
// anew. Apply returns the generation its own commit produced.
func (c *Conn) Apply(rs *ruleset.Ruleset, keep map[string]bool, gen uint32) (uint32, error) {
	newGen, err := c.apply(rs, keep, gen)
	if err != nil && len(keep) > 0 {
		newGen, err = c.apply(rs, nil, 0)
	}
	return newGen, err
}

func (c *Conn) apply(rs *ruleset.Ruleset, keep map[string]bool, gen uint32) (uint32, error) {
	t := c.table()
	now, err := c.c.GetGen()
	if err != nil {
		return 0, fmt.Errorf("could not read the nftables generation: %w", classify(err))
	}
	// Runtime sets (bans) are kept whatever committed since gen: their
	// elements belong to the daemon, not to the recorded ruleset, and
	// every ban it adds is a commit of its own.
	if len(keep) > 0 && (gen == 0 || now.ID != gen) {
		runtime := map[string]bool{}
		for name := range keep {
			if s := rs.Set(name); s != nil && s.Runtime {
				runtime[name] = true
			}
		}
		keep = runtime
	}
	kept, err := c.keepable(rs, keep)
	if err != nil {
		return 0, err
	}
	if len(kept) == 0 {
		c.c.AddTable(t)
		c.c.DelTable(t)
		c.c.AddTable(t)
	} else if err := c.clearExcept(t, kept); err != nil {
		return 0, err
	}
	if err := c.addContent(t, rs, kept); err != nil {
		return 0, err
	}
	if err := c.c.FlushWithGenID(now.ID); err != nil {
		return 0, fmt.Errorf("could not apply table inet %s: %w", ruleset.TableName, classify(err))
	}
	return now.ID + 1, nil
}

// keepable returns the sets of keep that exist in the live table with the
// definition rs gives them.
func (c *Conn) keepable(rs *ruleset.Ruleset, keep map[string]bool) (map[string]bool, error) {
	if len(keep) == 0 {
		return nil, nil
	}
	exists, err := c.Exists()
	if err != nil || !exists {
		return nil, err
	}
	live, err := c.c.GetSets(c.table())
	if err != nil {
		return nil, fmt.Errorf("could not list sets: %w", classify(err))
	}
	kept := map[string]bool{}
	for _, l := range live {
		want := rs.Set(l.Name)
		if want == nil || !keep[l.Name] || l.Anonymous {
			continue
		}
		same := l.KeyType.Name == setKeyType(want.Key).Name && l.Interval == want.Interval && l.IsMap == want.Map &&
			l.Dynamic == want.Dynamic && l.HasTimeout == want.HasTimeout() &&
			l.Timeout == want.Timeout
		if same {
			kept[l.Name] = true
		}
	}
	return kept, nil
}

// clearExcept queues the removal of every rule, chain and set of the live
// table except the kept sets.
func (c *Conn) clearExcept(t *nftables.Table, kept map[string]bool) error {
	chains, err := c.c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return fmt.Errorf("could not list chains: %w", classify(err))
	}
	sets, err := c.c.GetSets(t)
	if err != nil {
		return fmt.Errorf("could not list sets: %w", classify(err))
	}
	// Rules go first (they use sets and jump to chains), then sets (map
	// elements jump to chains), then chains.
	c.c.FlushTable(t)
	for _, s := range sets {
		if !s.Anonymous && !kept[s.Name] {
			c.c.DelSet(&nftables.Set{Name: s.Name, Table: t})
		}
	}
	for _, ch := range chains {
		if ch.Table.Name == ruleset.TableName {
			c.c.DelChain(&nftables.Chain{Name: ch.Name, Table: t})
		}
	}
	return nil
}

// Delete removes table inet seawall if it exists, and nothing else.
func (c *Conn) Delete() error {
	t := c.table()
	c.c.AddTable(t)
	c.c.DelTable(t)
	if err := c.c.Flush(); err != nil {
		return fmt.Errorf("could not delete table inet %s: %w", ruleset.TableName, classify(err))
	}
	return nil
}

// Exists reports whether table inet seawall is present.
func (c *Conn) Exists() (bool, error) {
	ts, err := c.c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, fmt.Errorf("could not list tables: %w", classify(err))
	}
	for _, t := range ts {
		if t.Name == ruleset.TableName {
			return true, nil
		}
	}
	return false, nil
}

// UpdateElements adds elements to a named set of the live table in one
// transaction (used for dynamic data; the ruleset itself is untouched).
func (c *Conn) UpdateElements(set *ruleset.Set, add []ruleset.Element) error {
	s := &nftables.Set{Table: c.table(), Name: set.Name, KeyType: setKeyType(set.Key), Interval: set.Interval}
	if err := c.c.SetAddElements(s, setElements(set, add)); err != nil {
		return err
	}
	if err := c.c.Flush(); err != nil {
		return fmt.Errorf("could not update set %s: %w", set.Name, classify(err))
	}
	return nil
}

func setKeyType(k ruleset.SetKey) nftables.SetDatatype {
	switch k {
	case ruleset.KeyIPv6Addr:
		return nftables.TypeIP6Addr
	case ruleset.KeyNFProto:
		return nftables.TypeNFProto
	case ruleset.KeyPort:
		return nftables.TypeInetService
	}
	return nftables.TypeIPAddr
}

func mapDataType(s *ruleset.Set) nftables.SetDatatype {
	if s.Map {
		return nftables.TypeVerdict
	}
	return nftables.SetDatatype{}
}

func setElements(s *ruleset.Set, es []ruleset.Element) []nftables.SetElement {
	if s.Key == ruleset.KeyNFProto || s.Key == ruleset.KeyPort {
		out := make([]nftables.SetElement, 0, len(es))
		for _, e := range es {
			el := nftables.SetElement{Key: []byte{nfproto(e.Proto)}, Timeout: e.Timeout}
			if s.Key == ruleset.KeyPort {
				el.Key = be16(e.Port)
			}
			if e.Jump != "" {
				el.VerdictData = &expr.Verdict{Kind: expr.VerdictJump, Chain: e.Jump}
			}
			out = append(out, el)
		}
		return out
	}
	if s.Interval {
		return intervalElements(es)
	}
	out := make([]nftables.SetElement, 0, len(es))
	for _, e := range es {
		el := nftables.SetElement{Key: e.First.AsSlice(), Timeout: e.Timeout}
		if e.Jump != "" {
			el.VerdictData = &expr.Verdict{Kind: expr.VerdictJump, Chain: e.Jump}
		}
		out = append(out, el)
	}
	return out
}

var hooks = map[ruleset.Hook]*nftables.ChainHook{
	ruleset.HookPrerouting:  nftables.ChainHookPrerouting,
	ruleset.HookInput:       nftables.ChainHookInput,
	ruleset.HookForward:     nftables.ChainHookForward,
	ruleset.HookOutput:      nftables.ChainHookOutput,
	ruleset.HookPostrouting: nftables.ChainHookPostrouting,
}

// addContent queues the table's content: chains first (verdict map
// elements jump to them), then sets with their elements (rules look them
// up), then rules.
func (c *Conn) addContent(t *nftables.Table, rs *ruleset.Ruleset, kept map[string]bool) error {
	chains := map[string]*nftables.Chain{}
	for _, ch := range rs.Chains {
		nc := &nftables.Chain{Name: ch.Name, Table: t}
		if b := ch.Base; b != nil {
			nc.Hooknum = hooks[b.Hook]
			nc.Priority = nftables.ChainPriorityRef(nftables.ChainPriority(b.Priority))
			nc.Type = nftables.ChainTypeFilter
			if b.Type == ruleset.TypeNAT {
				nc.Type = nftables.ChainTypeNAT
			}
			pol := nftables.ChainPolicyAccept
			if b.Policy.Kind == ruleset.VerdictDrop {
				pol = nftables.ChainPolicyDrop
			}
			nc.Policy = &pol
		}
		chains[ch.Name] = c.c.AddChain(nc)
	}
	for _, s := range rs.Sets {
		if kept[s.Name] {
			continue
		}
		ns := &nftables.Set{
			Table:      t,
			Name:       s.Name,
			KeyType:    setKeyType(s.Key),
			Interval:   s.Interval,
			IsMap:      s.Map,
			DataType:   mapDataType(s),
			Dynamic:    s.Dynamic,
			HasTimeout: s.HasTimeout(),
			Timeout:    s.Timeout,
			Size:       s.Size,
		}
		if err := c.c.AddSet(ns, setElements(s, s.Elements)); err != nil {
			return fmt.Errorf("could not add set %s: %w", s.Name, err)
		}
	}
	for _, ch := range rs.Chains {
		for _, r := range ch.Rules {
			if err := c.addRule(t, chains[ch.Name], r); err != nil {
				return fmt.Errorf("chain %s: rule %q: %w", ch.Name, RuleText(r), err)
			}
		}
	}
	return nil
}

func (c *Conn) addRule(t *nftables.Table, ch *nftables.Chain, r *ruleset.Rule) error {
	b := &exprBuilder{table: t}
	for _, m := range r.Match {
		if err := b.match(m); err != nil {
			return err
		}
	}
	if err := b.statements(r); err != nil {
		return err
	}
	// Anonymous sets go into the batch before the rule that uses them; the
	// lookups waiting for a set name are filled in order.
	next := 0
	for _, e := range b.exprs {
		l, ok := e.(*expr.Lookup)
		if !ok || l.SetName != "" {
			continue
		}
		a := b.anon[next]
		next++
		if err := c.c.AddSet(a.set, a.elems); err != nil {
			return err
		}
		l.SetName, l.SetID = a.set.Name, a.set.ID
	}
	nr := &nftables.Rule{Table: t, Chain: ch, Exprs: b.exprs}
	if r.Comment != "" {
		nr.UserData = userdata.AppendString(nil, userdata.TypeComment, Sanitize(r.Comment))
	}
	c.c.AddRule(nr)
	return nil
}

// RuleCounter is one live rule of table inet seawall with its counter.
type RuleCounter struct {
	Chain   string
	Handle  uint64
	Comment string
	Packets uint64
	Bytes   uint64
	Counted bool // the rule has a counter statement
}

// Counters reads every rule of the live table with its counter and comment.
func (c *Conn) Counters() ([]RuleCounter, error) {
	t := c.table()
	chains, err := c.c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("could not list chains: %w", classify(err))
	}
	var out []RuleCounter
	for _, ch := range chains {
		if ch.Table.Name != ruleset.TableName {
			continue
		}
		rules, err := c.c.GetRules(t, ch)
		if err != nil {
			return nil, fmt.Errorf("could not list rules of chain %s: %w", ch.Name, classify(err))
		}
		for _, r := range rules {
			rc := RuleCounter{Chain: ch.Name, Handle: r.Handle}
			rc.Comment, _ = userdata.GetString(r.UserData, userdata.TypeComment)
			for _, e := range r.Exprs {
				if ctr, ok := e.(*expr.Counter); ok {
					rc.Packets, rc.Bytes, rc.Counted = ctr.Packets, ctr.Bytes, true
				}
			}
			out = append(out, rc)
		}
	}
	return out, nil
}

// SetInfo describes a live set.
type SetInfo struct {
	Name     string
	Dynamic  bool
	Elements int // -1 when not counted
}

// Sets lists the named sets of the live table. Elements are counted (ranges,
// not end markers) only for the sets count says: dumping a large interval
// set costs the kernel a tree walk per netlink message, seconds for 100k
// entries.
func (c *Conn) Sets(count func(name string, dynamic bool) bool) ([]SetInfo, error) {
	sets, err := c.c.GetSets(c.table())
	if err != nil {
		return nil, fmt.Errorf("could not list sets: %w", classify(err))
	}
	var out []SetInfo
	for _, s := range sets {
		if s.Anonymous {
			continue
		}
		if !count(s.Name, s.Dynamic) {
			out = append(out, SetInfo{Name: s.Name, Dynamic: s.Dynamic, Elements: -1})
			continue
		}
		els, err := c.c.GetSetElements(s)
		if err != nil {
			return nil, fmt.Errorf("could not list elements of set %s: %w", s.Name, classify(err))
		}
		n := 0
		for _, e := range els {
			if !e.IntervalEnd {
				n++
			}
		}
		out = append(out, SetInfo{Name: s.Name, Dynamic: s.Dynamic, Elements: n})
	}
	return out, nil
}

// SetAddrs returns the elements of a live address set as ranges.
func (c *Conn) SetAddrs(name string) ([]ruleset.Element, error) {
	s, err := c.c.GetSetByName(c.table(), name)
	if err != nil {
		return nil, fmt.Errorf("could not find set %s: %w", name, classify(err))
	}
	els, err := c.c.GetSetElements(s)
	if err != nil {
		return nil, fmt.Errorf("could not list elements of set %s: %w", name, classify(err))
	}
	return decodeElements(s.Interval, els), nil
}

func decodeElements(interval bool, els []nftables.SetElement) []ruleset.Element {
	type key struct {
		a         netip.Addr
		end, open bool
	}
	var keys []key
	for _, e := range els {
		if a, ok := netip.AddrFromSlice(e.Key); ok {
			keys = append(keys, key{a, e.IntervalEnd, e.IntervalOpen})
		}
	}
	slices.SortFunc(keys, func(x, y key) int { return x.a.Compare(y.a) })
	var out []ruleset.Element
	for i, k := range keys {
		switch {
		case k.end:
		case !interval:
			out = append(out, ruleset.Element{First: k.a, Last: k.a})
		case k.open || i+1 == len(keys) || !keys[i+1].end:
			out = append(out, ruleset.Element{First: k.a, Last: maxAddr(k.a)})
		default:
			out = append(out, ruleset.Element{First: k.a, Last: keys[i+1].a.Prev()})
		}
	}
	return ruleset.MergeRanges(out)
}

func maxAddr(a netip.Addr) netip.Addr {
	b := a.AsSlice()
	for i := range b {
		b[i] = 0xff
	}
	m, _ := netip.AddrFromSlice(b)
	return m
}

// Close releases the netlink socket and the namespace descriptor.
func (c *Conn) Close() error {
	err := c.c.CloseLasting()
	if c.nsFD >= 0 {
		unix.Close(c.nsFD)
		c.nsFD = -1
	}
	return err
}

// Generation returns nftables' current generation id; every committed
// transaction, by anyone, increments it.
func (c *Conn) Generation() (uint32, error) {
	g, err := c.c.GetGen()
	if err != nil {
		return 0, fmt.Errorf("could not read the nftables generation: %w", classify(err))
	}
	return g.ID, nil
}

// ReplaceElements sets the contents of named sets of the live table in one
// transaction (flush each set, add its new elements): dynamic data changes
// without touching the ruleset. It returns the generation it produced.
func (c *Conn) ReplaceElements(sets []*ruleset.Set) (uint32, error) {
	now, err := c.c.GetGen()
	if err != nil {
		return 0, fmt.Errorf("could not read the nftables generation: %w", classify(err))
	}
	t := c.table()
	for _, set := range sets {
		s := &nftables.Set{Table: t, Name: set.Name, KeyType: setKeyType(set.Key), Interval: set.Interval,
			IsMap: set.Map, DataType: mapDataType(set)}
		c.c.FlushSet(s)
		if len(set.Elements) == 0 {
			continue
		}
		if err := c.c.SetAddElements(s, setElements(set, set.Elements)); err != nil {
			return 0, fmt.Errorf("could not update set %s: %w", set.Name, err)
		}
	}
	if err := c.c.FlushWithGenID(now.ID); err != nil {
		return 0, fmt.Errorf("could not update sets: %w", classify(err))
	}
	return now.ID + 1, nil
}

// AddElements adds the elements of each set (name, key and Elements, with
// their timeouts) to the live table's runtime sets in one transaction: a
// batch of bans. See ChangeElements.
func (c *Conn) AddElements(sets []*ruleset.Set) error { return c.ChangeElements(nil, sets) }

// DeleteElements removes the elements of each set from the live table in
// one transaction. See ChangeElements.
func (c *Conn) DeleteElements(sets []*ruleset.Set) error { return c.ChangeElements(sets, nil) }

// ChangeElements removes the elements of del and then adds those of add,
// in one transaction: a ban whose time changes is deleted and added again
// (an add leaves a present element's timeout as it was). If the
// transaction fails, each element is sent on its own: deleting one that is
// not there (it expired meanwhile) is no error; adds that fail are returned
// in the error, and the rest are in.
func (c *Conn) ChangeElements(del, add []*ruleset.Set) error {
	nd, err := c.queueElements(del, c.c.SetDeleteElements)
	if err != nil {
		return err
	}
	na, err := c.queueElements(add, c.c.SetAddElements)
	if err != nil {
		return err
	}
	n := nd + na
	if n == 0 {
		return nil
	}
	err = c.c.Flush()
	if err == nil {
		return nil
	}
	if n == 1 && !(len(del) > 0 && errors.Is(err, unix.ENOENT)) {
		return fmt.Errorf("could not change a set element: %w", classify(err))
	}
	// One at a time, to find the ones that fail.
	var failed []string
	one := func(sets []*ruleset.Set, op func(*nftables.Set, []nftables.SetElement) error, verb string) {
		for _, set := range sets {
			for _, e := range set.Elements {
				single := *set
				single.Elements = []ruleset.Element{e}
				_, err := c.queueElements([]*ruleset.Set{&single}, op)
				if err == nil {
					err = c.c.Flush()
				}
				if err == nil || verb == "delete" && errors.Is(err, unix.ENOENT) {
					continue
				}
				failed = append(failed, fmt.Sprintf("%s %s in %s: %v", verb, e.First, set.Name, classify(err)))
			}
		}
	}
	one(del, c.c.SetDeleteElements, "delete")
	one(add, c.c.SetAddElements, "add")
	if len(failed) > 0 {
		return fmt.Errorf("could not change %d of %d set elements: %s", len(failed), n, strings.Join(failed, "; "))
	}
	return nil
}

// queueElements queues op on the elements of each set and returns how
// many it queued.
func (c *Conn) queueElements(sets []*ruleset.Set, op func(*nftables.Set, []nftables.SetElement) error) (int, error) {
	t := c.table()
	n := 0
	for _, set := range sets {
		if len(set.Elements) == 0 {
			continue
		}
		s := &nftables.Set{Table: t, Name: set.Name, KeyType: setKeyType(set.Key), Interval: set.Interval, HasTimeout: set.HasTimeout()}
		if err := op(s, setElements(set, set.Elements)); err != nil {
			return n, fmt.Errorf("could not queue the elements of set %s: %w", set.Name, err)
		}
		n += len(set.Elements)
	}
	return n, nil
}
