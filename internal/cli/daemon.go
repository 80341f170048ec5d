package cli

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/seawall/seawall/internal/control"
	"github.com/seawall/seawall/internal/daemon"
	"github.com/seawall/seawall/internal/docker"
	"github.com/seawall/seawall/internal/nft"
	"github.com/seawall/seawall/internal/state"
	"github.com/seawall/seawall/internal/store"
)

func (a *app) daemonCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "daemon",
		Short: "Keep the policy applied: reapply on change, restore a removed table",
		Long: `daemon applies the policy, then keeps it in force: it reapplies when the
policy file or a set file changes (only if the policy is valid; set-only
changes are element updates), restores table inet seawall within a
fraction of a second when someone removes it, and settles confirm windows
that expire. It runs the policy's jails: it reads their logs, bans in the
kernel, and keeps bans, ban history and log positions in bans.db in the
state directory, from which every unexpired ban is back at start. jails,
bans, ban and unban talk to it over control.sock there. SIGHUP reloads at
once; SIGTERM stops it and leaves the rules (and the bans) in the kernel.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := state.Open(a.stateDir)
			if err != nil {
				return err
			}
			conn, err := nft.OpenLasting()
			if err != nil {
				return err
			}
			defer conn.Close()
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			log := slog.New(slog.NewTextHandler(a.errOut, nil))
			db, err := store.Open(filepath.Join(dir.Path(), storeFile))
			if err != nil {
				return err
			}
			defer db.Close()
			cfg := daemon.Config{
				Path:    a.config,
				Load:    a.loadPolicy,
				Kernel:  conn,
				State:   dir,
				Store:   db,
				Control: control.SocketPath(dir.Path()),
				Log:     log,
				Reload:  hup,
				Resolve: func(ctx context.Context, name string) ([]netip.Addr, error) {
					return net.DefaultResolver.LookupNetIP(ctx, "ip", name)
				},
			}
			// Docker is watched when its socket is there (DOCKER_HOST or
			// the default); without Docker the daemon runs without it.
			if src, err := docker.New("", log); err == nil {
				defer src.Close()
				cfg.Docker = src
				cfg.ContainerLogs = src
				cfg.Bridges = docker.HostBridges
			}
			return daemon.New(cfg).Run(ctx)
		},
	}
}
