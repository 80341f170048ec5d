package compile

import (
	"fmt"
	"slices"
	"time"

	"github.com/seawall/seawall/internal/ruleset"
)

// WindowSet is the set whose elements hold a confirm window open.
const WindowSet = "confirm_window"

// PrevPrefix starts the names of the previous ruleset's chains and sets in
// a confirm window's table.
const PrevPrefix = "prev_"

// ConfirmWindow composes the table that `apply --confirm` installs: the next
// ruleset and the previous one side by side, switched by the kernel itself.
// Every hook gets a dispatcher base chain that sends packets to the next
// ruleset while set confirm_window holds an element for their family, and
// to the previous ruleset once those elements time out. The rollback is
// thus armed in the kernel: it happens on time even if every seawall
// process is killed. prev may be nil (there was no table: everything is
// accepted, as without seawall).
//
// Base chains of both rulesets become regular chains (next ones keep their
// names, previous ones get the prefix "prev_") that end with their base
// chain's policy as an explicit rule.
func ConfirmWindow(prev, next *ruleset.Ruleset, window time.Duration) *ruleset.Ruleset {
	out := &ruleset.Ruleset{}
	out.Sets = append(out.Sets, &ruleset.Set{
		Name: WindowSet, Key: ruleset.KeyNFProto,
		Elements: []ruleset.Element{{Proto: ruleset.IPv4, Timeout: window}, {Proto: ruleset.IPv6, Timeout: window}},
		Origin:   ruleset.Origin{What: "confirm window"},
	})
	type hookKey struct {
		typ  ruleset.ChainType
		hook ruleset.Hook
		prio int
	}
	targets := map[hookKey]*[2]string{} // [next chain, prev chain]
	var order []hookKey
	add := func(rs *ruleset.Ruleset, prefix string, slot int) {
		if rs == nil {
			return
		}
		rename := func(n string) string { return prefix + n }
		for _, s := range rs.Sets {
			c := *s
			c.Name = rename(s.Name)
			out.Sets = append(out.Sets, &c)
		}
		for _, ch := range rs.Chains {
			c := &ruleset.Chain{Name: rename(ch.Name)}
			for _, r := range ch.Rules {
				c.Rules = append(c.Rules, renameRule(r, rename))
			}
			if b := ch.Base; b != nil {
				k := hookKey{b.Type, b.Hook, b.Priority}
				if targets[k] == nil {
					targets[k] = &[2]string{}
					order = append(order, k)
				}
				targets[k][slot] = c.Name
				// The policy becomes a final rule, accept included: a
				// chain that ran out of rules would return to the
				// dispatcher and fall through to the other ruleset.
				c.Rules = append(c.Rules, &ruleset.Rule{Counter: true, Verdict: b.Policy,
					Origin: ruleset.Origin{What: "chain policy"}, Comment: "policy " + verdictWord(b.Policy)})
			}
			out.Chains = append(out.Chains, c)
		}
	}
	add(next, "", 0)
	add(prev, PrevPrefix, 1)
	var dispatchers []*ruleset.Chain
	o := ruleset.Origin{What: "confirm window"}
	for _, k := range order {
		t := targets[k]
		d := &ruleset.Chain{
			Name: fmt.Sprintf("window_%s_%s", k.hook, prioName(k.prio)),
			Base: &ruleset.Base{Type: k.typ, Hook: k.hook, Priority: k.prio, Policy: ruleset.Accept},
		}
		inWindow := ruleset.Verdict{Kind: ruleset.VerdictAccept}
		if t[0] != "" {
			inWindow = ruleset.Jump(t[0])
		}
		if t[0] != "" || t[1] != "" {
			d.Rules = append(d.Rules, &ruleset.Rule{Match: []ruleset.Match{ruleset.InSet{Set: WindowSet}},
				Counter: true, Verdict: inWindow, Origin: o, Comment: "confirm window: next ruleset"})
		}
		if t[1] != "" {
			d.Rules = append(d.Rules, &ruleset.Rule{Counter: true, Verdict: ruleset.Jump(t[1]),
				Origin: o, Comment: "confirm window: previous ruleset"})
		}
		dispatchers = append(dispatchers, d)
	}
	out.Chains = append(dispatchers, out.Chains...)
	return out
}

func verdictWord(v ruleset.Verdict) string {
	if v.Kind == ruleset.VerdictDrop {
		return "drop"
	}
	return "accept"
}

func prioName(p int) string {
	if p < 0 {
		return fmt.Sprintf("m%d", -p)
	}
	return fmt.Sprint(p)
}

// renameRule copies a rule with the set and chain names it refers to
// renamed.
func renameRule(r *ruleset.Rule, rename func(string) string) *ruleset.Rule {
	c := *r
	c.Match = slices.Clone(r.Match)
	for i, m := range c.Match {
		switch m := m.(type) {
		case ruleset.Addr:
			if m.Set != "" {
				m.Set = rename(m.Set)
			}
			c.Match[i] = m
		case ruleset.InSet:
			m.Set = rename(m.Set)
			c.Match[i] = m
		}
	}
	if r.Meter != nil {
		m := *r.Meter
		m.Set = rename(m.Set)
		c.Meter = &m
	}
	if r.Verdict.Kind == ruleset.VerdictJump {
		c.Verdict.Chain = rename(r.Verdict.Chain)
	}
	return &c
}
