//go:build !windows

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newServiceCmd is the Windows service command's stand-in: on Linux the
// agent runs under systemd.
func newServiceCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "service",
		Short:              "Windows service control (Windows only; on Linux use systemd)",
		DisableFlagParsing: true,
		RunE: func(*cobra.Command, []string) error {
			return &exitError{code: exitUsage, err: errors.New("`pda-agent service` is for Windows counter PCs; on Linux the agent runs under systemd: install packaging/systemd/pda-agent.service and run systemctl enable --now pda-agent")}
		},
	}
}
