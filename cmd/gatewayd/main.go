// Command gatewayd runs CGI programs for web servers: it speaks HTTP to
// clients during development and, in later front-ends, FastCGI, SCGI and CGI
// to web servers, and gives every program one RFC 3875 environment and one
// validated response path.
//
// With no arguments it serves the built-in demo app on
// http://127.0.0.1:8000. See `gatewayd --help` for the subcommands.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func main() {
	keepFromPrograms()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// version is set at link time (-ldflags "-X main.version=v1.2.3"), else
// taken from the module's build information.
var version = ""

func gatewayVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// serverSoftware is gatewayd's SERVER_SOFTWARE and Server field.
func serverSoftware() string { return "gatewayd/" + gatewayVersion() }

// loggedError marks an error the log has told already: run exits with
// exitError without printing it again.
type loggedError struct{ err error }

func (e loggedError) Error() string { return e.err.Error() }
func (e loggedError) Unwrap() error { return e.err }

// exitStatus ends the command with status code, after printing err
// unless it is nil.
type exitStatus struct {
	code int
	err  error
}

func (e exitStatus) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

// usageError marks errors in the command line itself.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// run executes the command line args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	if _, ok := errors.AsType[loggedError](err); ok {
		return exitError
	}
	if e, ok := errors.AsType[exitStatus](err); ok {
		if e.err != nil {
			fmt.Fprintf(stderr, "gatewayd: %v\n", e.err)
		}
		return e.code
	}
	fmt.Fprintf(stderr, "gatewayd: %v\n", err)
	if _, ok := errors.AsType[usageError](err); ok {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return exitUsage
	}
	return exitError
}

// usageArgs makes the errors of an argument check usage errors.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	opts := defaultServeOptions()
	root := &cobra.Command{
		Use:   "gatewayd",
		Short: "Run CGI programs for web servers",
		Long: `gatewayd runs CGI programs (any language) for web servers and for development.

Run with no arguments, it serves the built-in demo app on http://127.0.0.1:8000.`,
		Args:          usageArgs(cobra.NoArgs),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), opts, nil, stderr)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newServeCmd(stderr), newCGICmd(stdout, stderr), newDemoCmd(stdout), newConfigCmd(stdout, stderr), newCheckCmd(stdout), newVersionCmd(stdout))
	return root
}

func newVersionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print gatewayd's version",
		Args:  usageArgs(cobra.NoArgs),
		Run: func(*cobra.Command, []string) {
			fmt.Fprintf(stdout, "gatewayd %s\n", gatewayVersion())
		},
	}
}
