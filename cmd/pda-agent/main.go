// Command pda-agent is the pharmacy PDA daemon: it reads drug trace codes
// from scanners, keeps them in a durable queue and uploads bills to the back
// ends. Run `pda-agent help` for the commands.
package main

import (
	"errors"
	"fmt"
	"os"
	_ "time/tzdata" // bill times are China time even on devices without zoneinfo

	"github.com/spf13/cobra"
)

// version is stamped by the build (-ldflags "-X main.version=…").
var version = "dev"

// exitError carries a specific exit status out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Exit statuses scripts rely on.
const (
	exitFailure = 1
	exitUsage   = 64 // EX_USAGE
	exitConfig  = 78 // EX_CONFIG, as Vector's validate
)

func main() {
	root := newRoot()
	err := root.Execute()
	if err == nil {
		return
	}
	code := exitFailure
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if err.Error() != "" {
		fmt.Fprintln(os.Stderr, "pda-agent:", err)
	}
	os.Exit(code)
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "pda-agent",
		Short: "Drug trace-code agent for pharmacy PDAs and counter PCs",
		Long: `pda-agent reads drug trace codes (药品追溯码) from scanners, checks them,
keeps every scan in a durable offline queue and uploads bills to the
traceability back ends, exactly once, whatever the network does.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: err}
	})
	root.AddCommand(newRunCmd(), newValidateCmd(), newCodeCmd(), newVersionCmd(), newDemoCmd(),
		newQueueCmd(), newSandboxCmd(), newKeysCmd(), newFleetCmd(), newUICmd(), newStatusCmd(), newDiagnoseCmd(),
		newServiceCmd(), newPINHashCmd(), newReconcileCmd())
	return root
}
