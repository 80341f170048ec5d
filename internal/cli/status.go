package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/seawall/seawall/internal/compile"
	"github.com/seawall/seawall/internal/inventory"
	"github.com/seawall/seawall/internal/nft"
	"github.com/seawall/seawall/internal/policy"
	"github.com/seawall/seawall/internal/ruleset"
	"github.com/seawall/seawall/internal/state"
)

// statusRule is one rule in status output.
type statusRule struct {
	Rule    string         `json:"rule"`
	Origin  ruleset.Origin `json:"origin"`
	Comment string         `json:"comment"`
	Packets uint64         `json:"packets"`
	Bytes   uint64         `json:"bytes"`
}

type statusChain struct {
	Name     string       `json:"name"`
	Hook     string       `json:"hook,omitempty"`
	Priority *int         `json:"priority,omitempty"`
	Policy   string       `json:"policy,omitempty"`
	Rules    []statusRule `json:"rules"`
}

type statusSet struct {
	Name     string `json:"name"`
	Elements int    `json:"elements"`
}

// statusContainer is one container and the policy entry that governs it.
type statusContainer struct {
	Name    string           `json:"name"`
	Addrs   []string         `json:"addresses"`
	Entry   string           `json:"entry"`  // entry name, "labels", "default" or "denied"
	Chains  []containerChain `json:"chains"` // its ingress and egress chains
	Problem string           `json:"problem,omitempty"`
}

// containerChain is one of a container's chains; its counters are the sum
// over its rules, shared by every container of the same entry.
type containerChain struct {
	Name    string `json:"name"`
	Rules   int    `json:"rules"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

type statusReport struct {
	Active     bool              `json:"active"`
	AppliedAt  *time.Time        `json:"applied_at,omitempty"`
	PolicyFile string            `json:"policy_file,omitempty"`
	PolicyHash string            `json:"policy_hash,omitempty"`
	Window     *time.Time        `json:"confirm_deadline,omitempty"`
	Recorded   bool              `json:"recorded"` // the live table matches the state directory's record
	Chains     []statusChain     `json:"chains"`
	Sets       []statusSet       `json:"sets"`
	Containers []statusContainer `json:"containers,omitempty"`
}

func (a *app) statusCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show seawall's live rules with packet and byte counters",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			rep, err := a.status()
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.out, rep)
			}
			a.printStatus(rep)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) status() (*statusReport, error) {
	conn, err := nft.Open()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	exists, err := conn.Exists()
	if err != nil {
		return nil, err
	}
	rep := &statusReport{Active: exists, Chains: []statusChain{}, Sets: []statusSet{}}
	if !exists {
		return rep, nil
	}
	counters, err := conn.Counters()
	if err != nil {
		return nil, err
	}
	var want *ruleset.Ruleset
	if dir, err := state.Open(a.stateDir); err == nil {
		rep.Containers = a.statusContainers(dir)
		var applied *state.Applied
		var trial *state.Trial
		want, applied, trial, _ = liveRuleset(dir)
		if applied != nil {
			t := applied.Time.Local()
			rep.AppliedAt, rep.PolicyFile, rep.PolicyHash = &t, applied.PolicyFile, applied.PolicyHash
		}
		if trial != nil {
			d := trial.Deadline.Local()
			rep.Window = &d
		}
	}
	byChain := map[string][]nft.RuleCounter{}
	var order []string
	for _, c := range counters {
		if byChain[c.Chain] == nil {
			order = append(order, c.Chain)
		}
		byChain[c.Chain] = append(byChain[c.Chain], c)
	}
	rep.Recorded = want != nil && matchesRecord(want, byChain)
	countContainerChains(rep.Containers, byChain, nil)
	// Static sets hold what was recorded; only dynamic ones (meters) and
	// sets of an unrecorded table are counted in the kernel.
	sets, err := conn.Sets(func(name string, dynamic bool) bool {
		return dynamic || !rep.Recorded || want.Set(name) == nil
	})
	if err != nil {
		return nil, err
	}
	for _, s := range sets {
		n := s.Elements
		if n < 0 {
			n = len(want.Set(s.Name).Elements)
		}
		rep.Sets = append(rep.Sets, statusSet{Name: s.Name, Elements: n})
	}
	if rep.Recorded {
		for _, c := range want.Chains {
			sc := statusChain{Name: c.Name, Rules: []statusRule{}}
			if b := c.Base; b != nil {
				prio := b.Priority
				sc.Hook, sc.Priority, sc.Policy = b.Hook.String(), &prio, verdictName(b.Policy)
			}
			for i, r := range c.Rules {
				live := byChain[c.Name][i]
				sc.Rules = append(sc.Rules, statusRule{Rule: shortRule(r), Origin: r.Origin, Comment: live.Comment, Packets: live.Packets, Bytes: live.Bytes})
			}
			rep.Chains = append(rep.Chains, sc)
		}
		return rep, nil
	}
	// The live table is not what seawall recorded: show what the kernel
	// says, with the comments that point at policy lines.
	for _, name := range order {
		sc := statusChain{Name: name, Rules: []statusRule{}}
		for _, live := range byChain[name] {
			sc.Rules = append(sc.Rules, statusRule{Rule: fmt.Sprintf("handle %d", live.Handle), Comment: live.Comment, Packets: live.Packets, Bytes: live.Bytes})
		}
		rep.Chains = append(rep.Chains, sc)
	}
	return rep, nil
}

// matchesRecord reports whether the live rules line up one to one with the
// recorded ruleset (same chains, same rule counts, same comments).
func matchesRecord(want *ruleset.Ruleset, live map[string][]nft.RuleCounter) bool {
	n := 0
	for _, c := range want.Chains {
		l := live[c.Name]
		if len(l) != len(c.Rules) {
			return false
		}
		for i, r := range c.Rules {
			if l[i].Comment != nft.Sanitize(r.Comment) {
				return false
			}
		}
		n++
	}
	return n == len(live)
}

// statusContainers lists the containers seawall last saw and the entries
// that govern them, according to the current policy.
func (a *app) statusContainers(dir *state.Dir) []statusContainer {
	f, err := dir.Facts()
	if err != nil || f == nil {
		return nil
	}
	p, err := policy.Load(a.config)
	if err != nil || !p.UsesContainers() {
		return nil
	}
	return containerRows(p, f)
}

// containerRows says, for each container, which entry governs it and
// through which chains.
func containerRows(p *policy.Policy, f *inventory.Facts) []statusContainer {
	var out []statusContainer
	for _, as := range compile.Assign(p, f) {
		sc := statusContainer{Name: as.Container.Name, Entry: as.Key, Chains: []containerChain{}, Addrs: []string{}}
		switch as.Source {
		case "label":
			sc.Entry = "labels"
		case "denied":
			sc.Problem = as.Err.Error()
		}
		if p.Containers != nil {
			sc.Chains = []containerChain{{Name: "ctr_" + as.Key + "_in"}, {Name: "ctr_" + as.Key + "_out"}}
		}
		for _, addr := range as.Container.Addrs() {
			sc.Addrs = append(sc.Addrs, addr.String())
		}
		out = append(out, sc)
	}
	return out
}

// countContainerChains fills the containers' chain counters from the
// kernel's (status) or the rule counts from the ruleset (plan).
func countContainerChains(rows []statusContainer, byChain map[string][]nft.RuleCounter, rs *ruleset.Ruleset) {
	for i := range rows {
		for j := range rows[i].Chains {
			ch := &rows[i].Chains[j]
			for _, c := range byChain[ch.Name] {
				ch.Rules++
				ch.Packets += c.Packets
				ch.Bytes += c.Bytes
			}
			if byChain == nil && rs != nil {
				if c := rs.Chain(ch.Name); c != nil {
					ch.Rules = len(c.Rules)
				}
			}
		}
	}
}

// printContainers prints the containers section of status and plan.
func printContainers(w io.Writer, indent string, rows []statusContainer, counters bool) {
	for _, c := range rows {
		fmt.Fprintf(w, "%s  %-24s %-10s %s\n", indent, c.Name, c.Entry, strings.Join(c.Addrs, " "))
		for _, ch := range c.Chains {
			if counters {
				fmt.Fprintf(w, "%s    %-28s %d rules, %d packets, %s\n", indent, ch.Name, ch.Rules, ch.Packets, humanBytes(ch.Bytes))
			} else {
				fmt.Fprintf(w, "%s    %-28s %d rules\n", indent, ch.Name, ch.Rules)
			}
		}
		if c.Problem != "" {
			fmt.Fprintf(w, "%s    denied both ways: %s\n", indent, c.Problem)
		}
	}
}

func verdictName(v ruleset.Verdict) string {
	if v.Kind == ruleset.VerdictDrop {
		return "drop"
	}
	return "accept"
}

func (a *app) printStatus(rep *statusReport) {
	if !rep.Active {
		fmt.Fprintln(a.out, "seawall: inactive (table inet seawall does not exist)")
		return
	}
	fmt.Fprint(a.out, "seawall: active")
	if rep.AppliedAt != nil {
		fmt.Fprintf(a.out, ", applied %s from %s", rep.AppliedAt.Format(time.DateTime), rep.PolicyFile)
	}
	fmt.Fprintln(a.out)
	if rep.Window != nil {
		left := time.Until(*rep.Window).Round(time.Second)
		if left > 0 {
			fmt.Fprintf(a.out, "confirm window: open, the kernel restores the previous ruleset at %s (in %s) unless 'seawall confirm'\n", rep.Window.Format(time.TimeOnly), left)
		} else {
			fmt.Fprintf(a.out, "confirm window: closed unconfirmed at %s: the previous ruleset is in force\n", rep.Window.Format(time.TimeOnly))
		}
	}
	if !rep.Recorded {
		fmt.Fprintf(a.out, "note: the live table differs from what %s recorded; showing the kernel's rules\n", a.stateDir)
	}
	for _, c := range rep.Chains {
		fmt.Fprintf(a.out, "\nchain %s", c.Name)
		if c.Hook != "" {
			fmt.Fprintf(a.out, " (hook %s, priority %d, policy %s)", c.Hook, *c.Priority, c.Policy)
		}
		fmt.Fprintln(a.out)
		fmt.Fprintf(a.out, "  %10s %8s  %s\n", "packets", "bytes", "rule  # origin")
		for _, r := range c.Rules {
			origin := r.Comment
			if r.Origin.Line > 0 {
				origin = r.Origin.String()
			}
			fmt.Fprintf(a.out, "  %10d %8s  %s  # %s\n", r.Packets, humanBytes(r.Bytes), r.Rule, origin)
		}
	}
	if len(rep.Containers) > 0 {
		fmt.Fprintln(a.out, "\ncontainers (entry, addresses; chain counters are per entry)")
		printContainers(a.out, "", rep.Containers, true)
	}
	if len(rep.Sets) > 0 {
		fmt.Fprintln(a.out, "\nsets")
		for _, s := range rep.Sets {
			fmt.Fprintf(a.out, "  %-24s %d entries\n", s.Name, s.Elements)
		}
	}
}

func humanBytes(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%dB", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%c", float64(b)/float64(div), "KMGTPE"[exp])
}
