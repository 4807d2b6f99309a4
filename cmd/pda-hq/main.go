// Command pda-hq is the chain headquarters' side of fleet configuration:
// it enrolls devices, publishes a config tree as signed per-device bundles in
// staged rollouts, serves them to the agents and shows the fleet's state.
// Run `pda-hq help` for the commands. The logic lives in package fleet/hq.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/pda-agent/pda-agent/fleet/hq"
)

// version is stamped by the build (-ldflags "-X main.version=…").
var version = "dev"

// Exit statuses scripts rely on.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 64 // EX_USAGE
	exitConfig  = 78 // EX_CONFIG: a rendered config is invalid
)

// exitError carries a specific exit status out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stderr)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code := exitFailure
	var ee *exitError
	var re *hq.RenderError
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case errors.As(err, &re):
		code = exitConfig
	case strings.HasPrefix(err.Error(), "unknown command"):
		code = exitUsage // cobra's own usage error has no type
	}
	fmt.Fprintln(stderr, "pda-hq:", err)
	return code
}

func newRoot(stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "pda-hq",
		Short: "Publish signed configuration to a pharmacy chain's pda-agent fleet",
		Long: `pda-hq keeps the chain's devices and their keys (enroll), renders the
config tree for each device and signs it as a bundle (publish), rolls it out
in waves that halt on failures, and serves the bundles to the agents (serve)
or writes them for a static web server (export).`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: err}
	})
	root.AddCommand(newKeysCmd(), newEnrollCmd(), newPublishCmd(stderr), newServeCmd(stderr),
		newStatusCmd(), newExportCmd(), newSettingsCmd(), newImportCmd(), newMigrateCmd())
	return root
}
