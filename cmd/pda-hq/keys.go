package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/pda-agent/pda-agent/gm"
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
			k, err := gm.GenerateKey(rand.Reader)
			if err != nil {
				return err
			}
			pem, err := gm.PrivateKeyPEM(k)
			if err != nil {
				return err
			}
			if err := writeSecretFile(out, pem, force); err != nil {
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

// writeSecretFile creates path with mode 0600, fsynced; it refuses to
// replace a file unless force.
func writeSecretFile(path string, data []byte, force bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists: not overwritten (use --force)", path)
		}
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
