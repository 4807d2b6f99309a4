package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/pda-agent/pda-agent/pinhash"
)

// newPINHashCmd prints the hash of a supervisor PIN for
// sessions.supervisor_pin_hash; the PIN itself is never stored.
func newPINHashCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "pin-hash",
		Short: "Hash a supervisor PIN for sessions.supervisor_pin_hash",
		Long: `pin-hash reads a supervisor PIN (from the terminal without echo, else
the first line of standard input) and prints its salted PBKDF2-SHA256 hash
for sessions.supervisor_pin_hash. Exceptions on key varieties (packs sold
without a code) need that PIN.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var pin string
			if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
				fmt.Fprint(cmd.ErrOrStderr(), "supervisor PIN: ")
				b, err := term.ReadPassword(fd)
				fmt.Fprintln(cmd.ErrOrStderr())
				if err != nil {
					return fmt.Errorf("reading the PIN: %w", err)
				}
				pin = string(b)
			} else {
				line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if err != nil && line == "" {
					return fmt.Errorf("reading the PIN from standard input: %w", err)
				}
				pin = strings.TrimRight(line, "\r\n")
			}
			if len(pin) < 4 {
				return errors.New("the PIN needs at least 4 characters")
			}
			h, err := pinhash.Hash(pin, pinhash.DefaultIterations)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), h)
			return nil
		},
	}
}
