package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	msfxsb "github.com/pda-agent/pda-agent/upload/msfx/sandbox"
	"github.com/pda-agent/pda-agent/upload/webhook/sandbox"
)

// Test credentials of the standalone webhook sandbox: obviously fake.
const (
	sandboxKeyID  = "sandbox"
	sandboxSecret = "sandbox-secret-not-for-production"
)

func newSandboxCmd() *cobra.Command {
	var msfxAddr, hookAddr string
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Serve the strict back-end sandboxes on loopback for ERP/POS trials",
		Long: `sandbox serves, until SIGINT/SIGTERM, the strict sandboxes the tests and
the demo use: the 码上放心 TOP gateway (lsyd methods: uploads, queries,
processing status, with a world of enterprises, products and upstream
bills) and the signed webhook receiver. It prints their URLs, fake test
credentials and the environment to point an agent at them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			gw, err := msfxsb.Start(msfxAddr, msfxsb.Options{Apps: msfxsb.DefaultApps(), Logger: log})
			if err != nil {
				return err
			}
			defer gw.Close()
			hook, err := sandbox.Start(hookAddr, sandbox.Options{KeyID: sandboxKeyID, Secret: sandboxSecret, Logger: log})
			if err != nil {
				return err
			}
			defer hook.Close()
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "码上放心 (msfx) sandbox gateway: %s\n", gw.URL())
			fmt.Fprintf(out, "  store %s: ref_ent_id %s, ent_id %s, app_key %s, app_secret %s (fake)\n",
				msfxsb.DefaultStoreName, msfxsb.DefaultStoreRefEntID, msfxsb.DefaultStoreEntID, msfxsb.DefaultStoreAppKey, msfxsb.DefaultStoreSecret)
			fmt.Fprintf(out, "  supplier %s: ent_id %s; upstream bills %s, %s; products %s, %s, %s, %s, GTIN %s\n",
				msfxsb.DefaultSupplierName, msfxsb.DefaultSupplierEntID, msfxsb.DefaultUpBill1, msfxsb.DefaultUpBill2,
				msfxsb.ProductAmoxicillin, msfxsb.ProductIbuprofen, msfxsb.ProductLicorice, msfxsb.ProductTramadol, msfxsb.GTINAtorvastatin)
			fmt.Fprintf(out, "webhook sandbox: %s (key_id %s, secret %s, fake)\n", hook.URL(), sandboxKeyID, sandboxSecret)
			fmt.Fprintf(out, "point an agent at them with:\n")
			fmt.Fprintf(out, "  PDA_MSFX_ENABLED=true PDA_MSFX_GATEWAY=%s PDA_MSFX_APP_KEY=%s PDA_MSFX_APP_SECRET=%s PDA_MSFX_REF_ENT_ID=%s PDA_MSFX_ENT_ID=%s\n",
				gw.URL(), msfxsb.DefaultStoreAppKey, msfxsb.DefaultStoreSecret, msfxsb.DefaultStoreRefEntID, msfxsb.DefaultStoreEntID)
			fmt.Fprintf(out, "  PDA_WEBHOOK_ENABLED=true PDA_WEBHOOK_URL=%s PDA_WEBHOOK_KEY_ID=%s PDA_WEBHOOK_SECRET=%s\n", hook.URL(), sandboxKeyID, sandboxSecret)
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			ms, hs := gw.Stats(), hook.Stats()
			fmt.Fprintf(out, "sandboxes stopping: msfx %d requests, %d uploads accepted, %d duplicates; webhook %d requests, %d bills accepted, %d duplicates\n",
				ms.Requests, ms.Accepted, ms.Duplicates, hs.Requests, hs.Accepted, hs.Duplicates)
			return nil
		},
	}
	cmd.Flags().StringVar(&msfxAddr, "msfx-addr", "127.0.0.1:8781", "msfx gateway listen address (keep it on loopback)")
	cmd.Flags().StringVar(&hookAddr, "webhook-addr", "127.0.0.1:8780", "webhook listen address (keep it on loopback)")
	return cmd
}
