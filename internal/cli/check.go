package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) checkCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Validate the policy without touching the kernel",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			p, _, rs, err := a.desired()
			if err != nil {
				return err
			}
			elements := 0
			for _, s := range rs.Sets {
				elements += len(s.Elements)
			}
			fmt.Fprintf(a.out, "%s: ok: %d rules in %d chains, %d sets (%d ranges)\n",
				p.File, rs.RuleCount(), len(rs.Chains), len(rs.Sets), elements)
			return nil
		},
	}
}
