package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/seawall/seawall/internal/compile"
	"github.com/seawall/seawall/internal/docker"
	"github.com/seawall/seawall/internal/filter"
	"github.com/seawall/seawall/internal/inventory"
	"github.com/seawall/seawall/internal/nft"
	"github.com/seawall/seawall/internal/policy"
	"github.com/seawall/seawall/internal/ruleset"
	"github.com/seawall/seawall/internal/state"
)

// loadPolicy reads the policy file. When the file is missing and no path
// was given explicitly, the embedded default policy is used and a note says
// so; a missing file that was named explicitly is an error.
func (a *app) loadPolicy() (*policy.Policy, error) {
	_, statErr := os.Stat(a.config)
	if errors.Is(statErr, fs.ErrNotExist) && !a.configGiven {
		fmt.Fprintf(a.errOut, "seawall: no policy at %s: using the built-in default (input: drop except ssh, ICMP and replies; output: accept)\n", a.config)
		return policy.Default(), nil
	}
	p, err := policy.Load(a.config)
	if err != nil {
		return nil, err
	}
	if err := checkFilters(p); err != nil {
		return nil, err
	}
	return p, nil
}

// checkFilters loads every jail's filter (a built-in, a fail2ban filter
// file with its includes, or the jail's own patterns), so that one that
// does not load is an error of the policy at its line, and the policy is
// refused like any other invalid one.
func checkFilters(p *policy.Policy) error {
	var errs policy.ErrorList
	for _, j := range p.Jails {
		if j.Filter != "" {
			if _, err := filter.Load(p.FilterSpec(j), filter.Options{}); err != nil {
				errs = append(errs, &policy.Error{Pos: j.FilterPos, Field: "jails." + j.Name + ".filter", Msg: err.Error()})
			}
		}
		for i, m := range j.Match {
			if _, err := filter.FromRegexes([]string{m}, filter.Options{}); err != nil {
				errs = append(errs, &policy.Error{Pos: j.MatchPos[i], Field: fmt.Sprintf("jails.%s.match[%d]", j.Name, i), Msg: err.Error()})
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// desired loads and compiles the policy.
func (a *app) desired() (*policy.Policy, *inventory.Facts, *ruleset.Ruleset, error) {
	p, err := a.loadPolicy()
	if err != nil {
		return nil, nil, nil, err
	}
	f := a.containerFacts(p)
	rs, err := compile.Compile(p, f)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("could not compile policy: %w", err)
	}
	return p, f, rs, nil
}

// containerFacts asks Docker (DOCKER_HOST, or the default socket) about its
// containers when the policy has container rules. When Docker cannot be
// reached it falls back to the facts last recorded in the state directory,
// or else to Docker's bridges read off the interfaces (every container on
// them unreconciled: denied where the policy says deny), and says so; the
// daemon reconciles as soon as Docker answers.
func (a *app) containerFacts(p *policy.Policy) *inventory.Facts {
	if !p.UsesContainers() {
		return nil
	}
	dir, dirErr := state.Open(a.stateDir)
	src, err := docker.New("", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var f *inventory.Facts
		if f, err = src.Facts(ctx); err == nil {
			src.Close()
			if w := docker.FirewallCaveat(f.Engine); w != "" {
				fmt.Fprintf(a.errOut, "seawall: warning: %s\n", w)
			}
			if dirErr == nil {
				if err := dir.SaveFacts(f); err != nil {
					fmt.Fprintf(a.errOut, "seawall: warning: %v\n", err)
				}
			}
			return f
		}
		src.Close()
	}
	if dirErr == nil {
		if f, ferr := dir.Facts(); ferr == nil && f != nil {
			fmt.Fprintf(a.errOut, "seawall: warning: %v: using the containers recorded last time\n", err)
			return f
		}
	}
	f, berr := docker.HostBridges()
	if berr != nil {
		fmt.Fprintf(a.errOut, "seawall: warning: %v; %v: no containers known, so none is dispatched to its rules until 'seawall daemon' reaches Docker\n", err, berr)
		return nil
	}
	fmt.Fprintf(a.errOut, "seawall: warning: %v, and no containers were recorded: every address on Docker's bridges (%d found) is treated as an unknown container, denied where the policy says deny, until 'seawall daemon' reaches Docker\n", err, len(f.Networks))
	return f
}

// session is what commands that change the kernel hold: the locked state
// directory and a netlink connection.
type session struct {
	dir    *state.Dir
	conn   *nft.Conn
	unlock func()
}

func (a *app) openSession() (*session, error) {
	dir, err := state.Open(a.stateDir)
	if err != nil {
		return nil, err
	}
	unlock, err := dir.Lock()
	if err != nil {
		return nil, err
	}
	conn, err := nft.Open()
	if err != nil {
		unlock()
		return nil, err
	}
	return &session{dir: dir, conn: conn, unlock: unlock}, nil
}

func (s *session) close() {
	s.conn.Close()
	s.unlock()
}

// install replaces the table with rs, or removes it when rs is nil, and
// returns the nftables generation its commit produced. Sets that the
// recorded live ruleset already holds unchanged stay in place, if nothing
// else has touched nftables since seawall's last commit.
func (s *session) install(rs *ruleset.Ruleset) (uint32, error) {
	if rs == nil {
		return 0, s.conn.Delete()
	}
	live, applied, trial, err := liveRuleset(s.dir)
	if err != nil {
		return 0, err
	}
	var gen uint32
	switch {
	case trial != nil:
		gen = trial.Gen
	case applied != nil:
		gen = applied.Gen
	}
	return s.conn.Apply(rs, ruleset.UnchangedSets(live, rs), gen)
}

// settleTrial handles a confirm window whose deadline has passed: the
// kernel already switched to the previous ruleset; make the table hold only
// that, and forget the window. It returns the expired window, if any.
func (s *session) settleTrial(now time.Time) (*state.Trial, error) {
	t, err := s.dir.Trial()
	if err != nil || t == nil || now.Before(t.Deadline) {
		return nil, err
	}
	return t, s.closeWindow(t)
}

// closeWindow puts the table back on the ruleset a confirm window falls
// back to, and forgets the window.
func (s *session) closeWindow(t *state.Trial) error {
	gen, err := s.install(t.PrevRuleset())
	if err != nil {
		return err
	}
	if err := s.dir.ClearTrial(); err != nil {
		return err
	}
	return s.dir.RecordGen(gen)
}

// adopt installs a recorded ruleset and records it as the applied one.
func (s *session) adopt(a *state.Applied) error {
	var err error
	if a.Gen, err = s.install(a.Ruleset); err != nil {
		return err
	}
	return s.dir.SaveApplied(a)
}

// liveRuleset is the ruleset the kernel should hold according to the state
// directory: the applied one, or during a confirm window the composed one.
func liveRuleset(dir *state.Dir) (*ruleset.Ruleset, *state.Applied, *state.Trial, error) {
	t, err := dir.Trial()
	if err != nil {
		return nil, nil, nil, err
	}
	if t != nil {
		prev := t.PrevRuleset()
		return compile.ConfirmWindow(prev, t.Next.Ruleset, 0), t.Next, t, nil
	}
	a, err := dir.Applied()
	if err != nil || a == nil {
		return nil, nil, nil, err
	}
	return a.Ruleset, a, nil, nil
}
