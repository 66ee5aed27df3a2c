package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"gatewayd/cmd/gatewayd/internal/config"
)

// newConfigCmd is `gatewayd config`, the commands about configuration
// files.
func newConfigCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check configuration files",
		Args:  usageArgs(cobra.NoArgs),
		// Runnable, so that a missing or unknown subcommand is a usage
		// error rather than help and status 0.
		RunE: func(*cobra.Command, []string) error {
			return usageError{errors.New("config: no subcommand: give check FILE")}
		},
	}
	cmd.AddCommand(newConfigCheckCmd(stdout, stderr))
	return cmd
}

func newConfigCheckCmd(stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE",
		Short: "Check a configuration file without serving it",
		Long: `Check the configuration file FILE as serve --config would read it, like
nginx -t: its syntax, its keys, its values, and that its roots are
directories and its programs executable files. Nothing is started.

With no mistake it prints "FILE: configuration ok" and exits 0. Otherwise
it prints one "FILE:LINE:COL: message" line per mistake on stderr, in file
order, and exits 1. A FILE that cannot be read is an error too (status 1);
a wrong command line is status 2.`,
		Example: `  gatewayd config check /etc/gatewayd/gatewayd.hcl && systemctl reload gatewayd`,
		Args: usageArgs(func(_ *cobra.Command, args []string) error {
			switch {
			case len(args) == 0:
				return errors.New("config check: no FILE")
			case len(args) > 1:
				return fmt.Errorf("config check: one FILE, not %d", len(args))
			}
			return nil
		}),
		RunE: func(_ *cobra.Command, args []string) error {
			return configCheck(args[0], stdout, stderr)
		},
	}
}

// configCheck checks the file at path: problems go to stderr, one a line.
func configCheck(path string, stdout, stderr io.Writer) error {
	_, err := config.Load(path)
	if problems, ok := errors.AsType[config.Problems](err); ok {
		for _, p := range problems {
			fmt.Fprintln(stderr, p)
		}
		return loggedError{err}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: configuration ok\n", path)
	return nil
}
