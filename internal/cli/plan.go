package cli

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/seawall/seawall/internal/nft"
	"github.com/seawall/seawall/internal/ruleset"
	"github.com/seawall/seawall/internal/state"
)

func (a *app) planCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Print the nft script apply would send, and what it changes",
		Long: `plan prints the exact nft script that apply sends as one transaction
(--format nft prints it alone, ready for nft -f), followed by a summary,
as nft comments, of what changes compared with the live table.`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			if format != "text" && format != "nft" && format != "json" {
				return usagef("--format must be text, nft or json, not %q", format)
			}
			p, f, rs, err := a.desired()
			if err != nil {
				return err
			}
			script := nft.Script(rs)
			if format == "nft" {
				fmt.Fprint(a.out, script)
				return nil
			}
			summary := a.planSummary(rs)
			var ctrs []statusContainer
			if p.UsesContainers() {
				ctrs = containerRows(p, f)
				countContainerChains(ctrs, nil, rs)
			}
			if format == "json" {
				return writeJSON(a.out, map[string]any{"script": script, "summary": summary, "containers": ctrs, "ruleset": rs})
			}
			fmt.Fprint(a.out, script)
			fmt.Fprintln(a.out, "\n# summary")
			for _, line := range summary {
				fmt.Fprintf(a.out, "# %s\n", line)
			}
			if p.UsesContainers() {
				fmt.Fprintf(a.out, "#\n# containers (%d: entry, addresses, chains)\n", len(ctrs))
				printContainers(a.out, "#", ctrs, false)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "text, nft or json")
	return cmd
}

// planSummary compares the desired ruleset with what the kernel holds.
func (a *app) planSummary(rs *ruleset.Ruleset) []string {
	total := fmt.Sprintf("%d chains, %d rules, %d sets (%d ranges)", len(rs.Chains), rs.RuleCount(), len(rs.Sets), elementCount(rs))
	conn, err := nft.Open()
	if err != nil {
		return []string{"desired: " + total, fmt.Sprintf("live table unknown: %v", err)}
	}
	defer conn.Close()
	exists, err := conn.Exists()
	if err != nil {
		return []string{"desired: " + total, fmt.Sprintf("live table unknown: %v", err)}
	}
	if !exists {
		return []string{"table inet seawall does not exist: apply creates it with " + total}
	}
	dir, err := state.Open(a.stateDir)
	var live *ruleset.Ruleset
	var trial *state.Trial
	if err == nil {
		live, _, trial, err = liveRuleset(dir)
	}
	if err != nil || live == nil {
		return []string{"table inet seawall exists but seawall has no record of it in " + a.stateDir + ": apply replaces it with " + total}
	}
	var out []string
	if trial != nil {
		out = append(out, fmt.Sprintf("a confirm window is open until %s: confirm or roll back first", trial.Deadline.Local().Format("15:04:05")))
		live = trial.Next.Ruleset
	}
	return append(out, diffRulesets(live, rs)...)
}

func elementCount(rs *ruleset.Ruleset) int {
	n := 0
	for _, s := range rs.Sets {
		n += len(s.Elements)
	}
	return n
}

// diffRulesets summarises the change from old to new: rules added and
// removed per chain (compared as text) and set contents.
func diffRulesets(old, new *ruleset.Ruleset) []string {
	var out []string
	for _, c := range new.Chains {
		add, del := ruleDiff(old.Chain(c.Name), c)
		if add+del > 0 {
			out = append(out, fmt.Sprintf("chain %s: +%d -%d rules", c.Name, add, del))
		}
	}
	for _, c := range old.Chains {
		if new.Chain(c.Name) == nil {
			out = append(out, fmt.Sprintf("chain %s: removed (%d rules)", c.Name, len(c.Rules)))
		}
	}
	for _, s := range new.Sets {
		o := old.Set(s.Name)
		switch {
		case o == nil:
			out = append(out, fmt.Sprintf("set %s: new (%d ranges)", s.Name, len(s.Elements)))
		case !slices.Equal(o.Elements, s.Elements):
			out = append(out, fmt.Sprintf("set %s: %d → %d ranges", s.Name, len(o.Elements), len(s.Elements)))
		}
	}
	for _, s := range old.Sets {
		if new.Set(s.Name) == nil {
			out = append(out, fmt.Sprintf("set %s: removed", s.Name))
		}
	}
	if len(out) == 0 {
		out = append(out, "no change: the live table already holds this ruleset (apply re-sends it, resetting counters)")
	}
	return out
}

func ruleDiff(old, new *ruleset.Chain) (add, del int) {
	count := map[string]int{}
	if old != nil {
		for _, r := range old.Rules {
			count[nft.RuleText(r)]++
		}
	}
	for _, r := range new.Rules {
		t := nft.RuleText(r)
		if count[t] > 0 {
			count[t]--
		} else {
			add++
		}
	}
	for _, n := range count {
		del += n
	}
	return add, del
}

func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// shortRule is a rule's text without the counter and comment, for tables.
func shortRule(r *ruleset.Rule) string {
	c := *r
	c.Counter, c.Comment = false, ""
	return strings.TrimSpace(nft.RuleText(&c))
}
