package cli

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/seawall/seawall/internal/compile"
	"github.com/seawall/seawall/internal/explain"
	"github.com/seawall/seawall/internal/ruleset"
	"github.com/seawall/seawall/internal/state"
)

// errLockout is returned when apply refuses to cut off its own SSH session.
var errLockout = errors.New("refusing to apply")

func (a *app) applyCommand() *cobra.Command {
	var confirm time.Duration
	var risk string
	cmd := &cobra.Command{
		Use:   "apply",
		Short: "Apply the policy in one atomic transaction",
		Long: `apply compiles the policy and replaces table inet seawall in one atomic
transaction. With --confirm DURATION it returns at once and the kernel
itself restores the previous ruleset after DURATION unless 'seawall
confirm' arrives first (this happens even if every seawall process dies).
apply refuses a policy that would cut off the SSH session it runs from
(SSH_CONNECTION) unless --accept-risk=lose-ssh.`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			if risk != "" && risk != "lose-ssh" {
				return usagef("--accept-risk takes only lose-ssh, not %q", risk)
			}
			if confirm < 0 || (confirm > 0 && confirm < time.Second) {
				return usagef("--confirm must be at least 1s")
			}
			return a.apply(confirm, risk == "lose-ssh")
		},
	}
	cmd.Flags().DurationVar(&confirm, "confirm", 0, "restore the previous ruleset after this long unless confirmed")
	cmd.Flags().StringVar(&risk, "accept-risk", "", "apply even if it drops this SSH session: lose-ssh")
	return cmd
}

func (a *app) apply(window time.Duration, loseSSH bool) error {
	p, _, rs, err := a.desired()
	if err != nil {
		return err
	}
	if ssh := os.Getenv("SSH_CONNECTION"); ssh != "" {
		if err := sshGuard(rs, ssh); err != nil {
			if !loseSSH {
				return fmt.Errorf("%w: %v\n  this is the SSH session you are running seawall from (SSH_CONNECTION=%q).\n"+
					"  fix the policy, or pass --accept-risk=lose-ssh (best with --confirm 2m, so that the kernel undoes it unless you confirm)", errLockout, err, ssh)
			}
			fmt.Fprintf(a.errOut, "seawall: warning: %v (accepted with --accept-risk=lose-ssh)\n", err)
		}
	}
	s, err := a.openSession()
	if err != nil {
		return err
	}
	defer s.close()
	now := time.Now()
	if t, err := s.settleTrial(now); err != nil {
		return err
	} else if t != nil {
		fmt.Fprintf(a.errOut, "seawall: the confirm window of %s closed unconfirmed at %s; the previous ruleset had been restored\n",
			t.Started.Local().Format(time.DateTime), t.Deadline.Local().Format(time.TimeOnly))
	}
	if t, err := s.dir.Trial(); err != nil {
		return err
	} else if t != nil {
		return fmt.Errorf("a confirm window is open until %s: run 'seawall confirm' or 'seawall rollback' first", t.Deadline.Local().Format(time.TimeOnly))
	}
	next := &state.Applied{Time: now.UTC(), PolicyFile: p.File, PolicyHash: p.Hash, Ruleset: rs}
	if window == 0 {
		if err := s.adopt(next); err != nil {
			return err
		}
		fmt.Fprintf(a.out, "applied %s: %d rules in table inet seawall\n", p.File, rs.RuleCount())
		fmt.Fprintf(a.out, "undo with 'seawall rollback' (the previous ruleset) or 'seawall reset' (remove seawall's table)\n")
		return nil
	}
	prev, err := a.previousForWindow(s)
	if err != nil {
		return err
	}
	var prevRS *ruleset.Ruleset
	if prev != nil {
		prevRS = prev.Ruleset
	}
	gen, err := s.install(compile.ConfirmWindow(prevRS, rs, window))
	if err != nil {
		return err
	}
	t := &state.Trial{Started: now.UTC(), Deadline: now.Add(window).UTC(), Prev: prev, Next: next, Gen: gen}
	if err := s.dir.SaveTrial(t); err != nil {
		return err
	}
	fmt.Fprintf(a.out, "applied %s with a confirm window: %d rules in table inet seawall\n", p.File, rs.RuleCount())
	fmt.Fprintf(a.out, "run 'seawall confirm' before %s, or the kernel restores the previous ruleset by itself\n",
		t.Deadline.Local().Format(time.TimeOnly))
	return nil
}

// previousForWindow is what a confirm window falls back to: the recorded
// state when the table exists, nothing when it does not.
func (a *app) previousForWindow(s *session) (*state.Applied, error) {
	exists, err := s.conn.Exists()
	if err != nil {
		return nil, err
	}
	if !exists {
		return nil, nil
	}
	prev, err := s.dir.Applied()
	if err != nil {
		return nil, err
	}
	if prev == nil {
		return nil, fmt.Errorf("table inet seawall exists but %s has no record of it, so a confirm window could not restore it: apply without --confirm, or 'seawall reset' first", a.stateDir)
	}
	return prev, nil
}

// withSession runs fn holding the locked state directory and a netlink
// connection.
func (a *app) withSession(fn func(*session) error) error {
	s, err := a.openSession()
	if err != nil {
		return err
	}
	defer s.close()
	return fn(s)
}

// sshGuard checks the session described by SSH_CONNECTION
// ("client port server port").
func sshGuard(rs *ruleset.Ruleset, conn string) error {
	f := strings.Fields(conn)
	if len(f) != 4 {
		return nil
	}
	client, err1 := netip.ParseAddrPort(joinHostPort(f[0], f[1]))
	server, err2 := netip.ParseAddrPort(joinHostPort(f[2], f[3]))
	if err1 != nil || err2 != nil {
		return nil
	}
	return explain.SSHLockout(rs, client, server, ifaceOf(server.Addr()))
}

func joinHostPort(host, port string) string { return net.JoinHostPort(host, port) }

// ifaceOf names the interface that holds an address (the one an SSH
// session to that address most likely arrives on), or "".
func ifaceOf(a netip.Addr) string {
	ifs, err := net.Interfaces()
	if err != nil {
		return ""
	}
	for _, i := range ifs {
		addrs, _ := i.Addrs()
		for _, ad := range addrs {
			if n, ok := ad.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == a.Unmap() {
					return i.Name
				}
			}
		}
	}
	return ""
}

func (a *app) confirmCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "confirm",
		Short: "Keep the ruleset applied with --confirm",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			return a.withSession(func(s *session) error {
				if t, err := s.settleTrial(time.Now()); err != nil {
					return err
				} else if t != nil {
					return fmt.Errorf("too late: the confirm window closed at %s and the kernel restored the previous ruleset; nothing was confirmed",
						t.Deadline.Local().Format(time.TimeOnly))
				}
				t, err := s.dir.Trial()
				if err != nil {
					return err
				}
				if t == nil {
					return errors.New("no confirm window is open")
				}
				if err := s.adopt(t.Next); err != nil {
					return err
				}
				if err := s.dir.ClearTrial(); err != nil {
					return err
				}
				fmt.Fprintf(a.out, "confirmed: %s stays applied\n", t.Next.PolicyFile)
				return nil
			})
		},
	}
}

func (a *app) rollbackCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rollback",
		Short: "Restore the previous ruleset (or close a confirm window now)",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			return a.withSession(func(s *session) error {
				if _, err := s.settleTrial(time.Now()); err != nil {
					return err
				}
				t, err := s.dir.Trial()
				if err != nil {
					return err
				}
				if t != nil {
					if err := s.closeWindow(t); err != nil {
						return err
					}
					fmt.Fprintln(a.out, "rolled back: the confirm window is closed and the previous ruleset is in force")
					return nil
				}
				prev, err := s.dir.Previous()
				if err != nil {
					return err
				}
				if prev == nil {
					return errors.New("nothing to roll back to: no previous ruleset is recorded")
				}
				if err := s.adopt(prev); err != nil {
					return err
				}
				fmt.Fprintf(a.out, "rolled back to the ruleset applied at %s from %s\n", prev.Time.Local().Format(time.DateTime), prev.PolicyFile)
				return nil
			})
		},
	}
}

func (a *app) resetCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "reset",
		Short: "Remove table inet seawall, and nothing else",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			return a.withSession(func(s *session) error {
				if _, err := s.install(nil); err != nil {
					return err
				}
				if err := s.dir.ClearTrial(); err != nil {
					return err
				}
				if err := s.dir.ClearApplied(); err != nil {
					return err
				}
				fmt.Fprintln(a.out, "removed table inet seawall; other tables were not touched ('seawall rollback' brings it back)")
				return nil
			})
		},
	}
}
