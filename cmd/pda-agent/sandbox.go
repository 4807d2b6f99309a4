package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/pda-agent/pda-agent/upload/webhook/sandbox"
)

// Test credentials of the standalone sandbox: obviously fake.
const (
	sandboxKeyID  = "sandbox"
	sandboxSecret = "sandbox-secret-not-for-production"
)

func newSandboxCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "sandbox [--addr 127.0.0.1:8780]",
		Short: "Serve the strict back-end sandbox on loopback for ERP/POS trials",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			run, err := sandbox.Start(addr, sandbox.Options{KeyID: sandboxKeyID, Secret: sandboxSecret, Logger: log})
			if err != nil {
				return err
			}
			defer run.Close()
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "webhook sandbox listening on %s\n", run.URL())
			fmt.Fprintf(out, "test credentials (fake): key_id=%s secret=%s\n", sandboxKeyID, sandboxSecret)
			fmt.Fprintf(out, "point an agent at it with:\n  PDA_WEBHOOK_ENABLED=true PDA_WEBHOOK_URL=%s PDA_WEBHOOK_KEY_ID=%s PDA_WEBHOOK_SECRET=%s\n", run.URL(), sandboxKeyID, sandboxSecret)
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			st := run.Stats()
			fmt.Fprintf(out, "sandbox stopping: %d requests, %d bills accepted, %d duplicates\n", st.Requests, st.Accepted, st.Duplicates)
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8780", "listen address (keep it on loopback)")
	return cmd
}
