// Package cli is seawall's command line: one file per subcommand, flags,
// human and JSON output, exit codes and the hints users need (only this
// package prints for humans).
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/seawall/seawall/internal/nft"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Defaults of the global flags, overridable by environment variables.
const (
	DefaultConfig   = "/etc/seawall/seawall.yaml"
	DefaultStateDir = "/var/lib/seawall"
	EnvConfig       = "SEAWALL_CONFIG"
	EnvStateDir     = "SEAWALL_STATE_DIR"
)

// usageError marks errors in how seawall was called (exit code 2).
type usageError struct{ error }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// app holds the global options and output streams of one invocation.
type app struct {
	config      string
	configGiven bool // -c or SEAWALL_CONFIG was set: a missing file is an error
	stateDir    string
	out, errOut io.Writer
}

// Main runs seawall with the given arguments and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	a := &app{out: stdout, errOut: stderr}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(stderr, "seawall: %v\n", err)
	if hint := hintFor(err); hint != "" {
		fmt.Fprintf(stderr, "hint: %s\n", hint)
	}
	var ue usageError
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") {
		return ExitUsage
	}
	return ExitFailure
}

func hintFor(err error) string {
	if errors.Is(err, nft.ErrPermission) {
		return "changing or reading the firewall needs CAP_NET_ADMIN: run as root"
	}
	return ""
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "seawall",
		Short: "A default-deny firewall for Docker hosts, from one policy file",
		Long: `seawall keeps a Linux host default-deny from one declarative policy file.
It owns one nftables table, inet seawall, and changes it only in atomic
transactions. Every command acts on the network namespace it runs in.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			a.configGiven = cmd.Flags().Changed("config") || os.Getenv(EnvConfig) != ""
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVarP(&a.config, "config", "c", envOr(EnvConfig, DefaultConfig), "policy file (env "+EnvConfig+")")
	pf.StringVar(&a.stateDir, "state-dir", envOr(EnvStateDir, DefaultStateDir), "state directory (env "+EnvStateDir+")")
	root.AddCommand(
		a.checkCommand(),
		a.planCommand(),
		a.applyCommand(),
		a.confirmCommand(),
		a.rollbackCommand(),
		a.resetCommand(),
		a.statusCommand(),
		a.daemonCommand(),
		a.explainCommand(),
		a.testFilterCommand(),
		a.jailsCommand(),
		a.bansCommand(),
		a.banCommand(),
		a.unbanCommand(),
	)
	return root
}

// noArgs rejects positional arguments as a usage error.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
