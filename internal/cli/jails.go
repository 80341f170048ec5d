package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/seawall/seawall/internal/control"
	"github.com/seawall/seawall/internal/policy"
	"github.com/seawall/seawall/internal/store"
)

// storeFile is the ban store's file name in the state directory.
const storeFile = "bans.db"

func (a *app) client() *control.Client { return control.NewClient(a.stateDir) }

func (a *app) jailsCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "jails [NAME]",
		Short: "Show each jail: its logs, failures and bans (from the running daemon)",
		Long: `jails shows, per jail, what fail2ban-client status shows: the sources
with failures in the find window (currently failed), the failures in it
(total failed), the current bans and the bans made since the daemon
started, the banned list, and each log source with the lines and failures
read from it. It asks the running daemon over its control socket.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			js, err := a.client().Jails()
			if err != nil {
				return noDaemonHint(err)
			}
			if len(args) == 1 {
				var one []control.JailStatus
				for _, j := range js {
					if j.Name == args[0] {
						one = append(one, j)
					}
				}
				if len(one) == 0 {
					return fmt.Errorf("no jail %q runs", args[0])
				}
				js = one
			}
			if asJSON {
				return writeJSON(a.out, js)
			}
			if len(js) == 0 {
				fmt.Fprintln(a.out, "no jails: the policy has no jails section")
				return nil
			}
			for i, j := range js {
				if i > 0 {
					fmt.Fprintln(a.out)
				}
				printJail(a.out, j)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printJail(w io.Writer, j control.JailStatus) {
	fmt.Fprintf(w, "jail %s: filter %s, scope %s, %d failures in %s ban for %s\n", j.Name, j.Filter, j.Scope, j.MaxRetry, j.FindTime, j.BanTime)
	for _, l := range j.Logs {
		fmt.Fprintf(w, "  log        %s: %d lines, %d failures", l.Name, l.Lines, l.Failures)
		if l.Error != "" {
			fmt.Fprintf(w, " (failing: %s)", l.Error)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  failed     %d currently, %d total in the window", j.CurrentlyFailed, j.TotalFailed)
	if j.Ignored > 0 {
		fmt.Fprintf(w, ", %d from ignored sources", j.Ignored)
	}
	if j.Evicted > 0 {
		fmt.Fprintf(w, ", %d sources forgotten under a flood", j.Evicted)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  banned     %d currently, %d total\n", j.CurrentlyBanned, j.TotalBanned)
	if len(j.Banned) > 0 {
		fmt.Fprintf(w, "  list       %s\n", strings.Join(j.Banned, " "))
	}
}

func (a *app) bansCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "bans",
		Short: "List the current bans",
		Long: `bans lists every current ban: jail, banned address or /64, when it
ends, how many times the jail banned it, and whether a log or a person made
it. It asks the running daemon; when no daemon runs it reads the ban store
in the state directory (those bans are back in the kernel when the daemon
starts).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bans, err := a.client().Bans()
			from := ""
			if errors.Is(err, control.ErrNoDaemon) {
				bans, err = a.storedBans()
				from = "the daemon is not running: these are the stored bans, put back in the kernel when it starts"
			}
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.out, bans)
			}
			if from != "" {
				fmt.Fprintln(a.errOut, from)
			}
			if len(bans) == 0 {
				fmt.Fprintln(a.out, "no bans")
				return nil
			}
			printBans(a.out, bans, time.Now())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printBans(w io.Writer, bans []control.Ban, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JAIL\tSOURCE\tENDS\tLEFT\tCOUNT\tORIGIN")
	for _, b := range bans {
		ends, left := "never", "permanent"
		if b.Expires != nil {
			ends = b.Expires.Local().Format("2006-01-02 15:04:05")
			left = policy.FormatDuration(b.Expires.Sub(now).Round(time.Second))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", b.Jail, b.Prefix, ends, left, b.Count, b.Origin)
	}
	tw.Flush()
}

// storedBans reads the unexpired bans from the store, for when no daemon
// runs (the daemon holds the store open while it runs).
func (a *app) storedBans() ([]control.Ban, error) {
	path := filepath.Join(a.stateDir, storeFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return []control.Ban{}, nil // no daemon ever ran here
	}
	db, err := store.OpenTimeout(path, time.Second)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	stored, err := db.Bans()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := []control.Ban{}
	for _, b := range stored {
		if !b.Permanent() && !b.Expires.After(now) {
			continue
		}
		out = append(out, control.NewBan(b.Jail, b.Prefix, b.Start, b.Expires, b.Count, string(b.Origin)))
	}
	return out, nil
}

func (a *app) banCommand() *cobra.Command {
	var req control.BanRequest
	cmd := &cobra.Command{
		Use:   "ban ADDR",
		Short: "Ban an address by hand, in one jail or all",
		Long: `ban bans one address (IPv6: its /64) in the jail --jail names, or in
every jail, for --for (a duration like 30m, 2h, 7d, or "permanent"; by
default the jail's bantime with its increments). It returns once the ban is
in the kernel. Addresses a jail ignores (loopback, the host's own, Docker's
gateways, the jail's ignore list) are refused. For ranges, use a set in the
policy.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Addr = args[0]
			if _, err := netip.ParseAddr(req.Addr); err != nil {
				return usagef("%q is not an IP address", req.Addr)
			}
			bans, err := a.client().Ban(req)
			if err != nil {
				return noDaemonHint(err)
			}
			printBans(a.out, bans, time.Now())
			return nil
		},
	}
	cmd.Flags().StringVar(&req.For, "for", "", `how long: 30m, 2h, 7d, "permanent" (default: the jail's bantime)`)
	cmd.Flags().StringVar(&req.Jail, "jail", "", "the jail to ban in (default: every jail)")
	return cmd
}

func (a *app) unbanCommand() *cobra.Command {
	var req control.UnbanRequest
	cmd := &cobra.Command{
		Use:   "unban ADDR|PREFIX",
		Short: "Lift the bans covering an address or prefix",
		Long: `unban lifts every ban covering the address (an IPv6 address lifts its
/64) or prefix, in the jail --jail names or in every jail, and forgets the
source's pending failures. It returns once the kernel lets the source in.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Addr = args[0]
			lifted, err := a.client().Unban(req)
			if err != nil {
				return noDaemonHint(err)
			}
			if len(lifted) == 0 {
				fmt.Fprintf(a.out, "%s was not banned\n", req.Addr)
				return nil
			}
			for _, b := range lifted {
				fmt.Fprintf(a.out, "unbanned %s in jail %s\n", b.Prefix, b.Jail)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&req.Jail, "jail", "", "the jail to unban in (default: every jail)")
	return cmd
}

// noDaemonHint explains a missing daemon.
func noDaemonHint(err error) error {
	if errors.Is(err, control.ErrNoDaemon) {
		return fmt.Errorf("%w: jails run in the daemon; start it with `seawall daemon` (or its systemd unit)", err)
	}
	return err
}
