package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/pda-agent/pda-agent/demo"
)

func newDemoCmd() *cobra.Command {
	var dataDir string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Play a scripted store day against a local sandbox back end",
		Long: `demo runs the real agent on the embedded demo config: a delivery is
received, customers buy, the network drops and comes back, a box is
returned. Scans come from a replay source, bills are queued durably and
delivered to a strict sandbox back end on loopback. It ends with a summary
and checks the sandbox's ledger: every bill exactly once (exit 0), or
exit 1 naming what went wrong. Nothing leaves the machine.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var logw io.Writer
			if verbose {
				logw = cmd.ErrOrStderr()
			}
			_, err := demo.Run(ctx, demo.Options{Out: cmd.OutOrStdout(), DataDir: dataDir, Log: logw})
			return err
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "keep the queue in this directory (default: a temporary one, removed)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "show the agent's log on stderr")
	return cmd
}
