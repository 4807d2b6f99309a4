package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/pda-agent/pda-agent/agent"
)

func newRunCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "run --config FILE",
		Short: "Run the agent in the foreground until SIGINT or SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(path, true)
			if err != nil {
				return err
			}
			log := newLogger(c, cmd.ErrOrStderr())
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			a, err := agent.New(c, agent.Options{Logger: log, Stdin: cmd.InOrStdin(), Stdout: cmd.OutOrStdout()})
			if err != nil {
				return err
			}
			log.Info("pda-agent started", "version", version, "device", c.Device.ID, "queue", c.QueuePath(), "scanners", len(c.Scanners))
			runErr := a.Run(ctx)
			closeErr := a.Close()
			log.Info("pda-agent stopped")
			if runErr != nil {
				return runErr
			}
			return closeErr
		},
	}
	configFlag(cmd, &path)
	return cmd
}
