package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pda-agent/pda-agent/gm"
	"github.com/pda-agent/pda-agent/keyfile"
)

func newKeysCmd() *cobra.Command {
	keys := &cobra.Command{Use: "keys", Short: "Manage HQ's bundle signing key"}
	keys.AddCommand(newKeysGenCmd())
	return keys
}

func newKeysGenCmd() *cobra.Command {
	var out string
	var force bool
	cmd := &cobra.Command{
		Use:   "gen --out FILE",
		Short: "Generate HQ's SM2 signing key; print the public key agents pin",
		Long: `gen writes a new SM2 private key (PEM, file mode 0600) for signing bundles
and prints its public key (Base64 of 04‖X‖Y) and fingerprint: configure the
public key on every agent as fleet.hq_key. Keep the private key offline or
on the publishing host only. It never overwrites a file unless --force.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageError("keys gen needs --out FILE")
			}
			k, err := keyfile.NewSM2(out, force)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "HQ signing key written to %s (mode 0600; never copy it to a device)\n", out)
			fmt.Fprintf(w, "public key for the agents' fleet.hq_key (Base64 of 04‖X‖Y):\n%s\n", gm.PublicKeyBase64(&k.PublicKey))
			fmt.Fprintf(w, "fingerprint: %s\n", gm.Fingerprint(&k.PublicKey))
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "private key file to write")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	return cmd
}
