package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/tracecode"
)

func newCodeCmd() *cobra.Command {
	code := &cobra.Command{Use: "code", Short: "Work with trace codes offline"}
	var asJSON bool
	var path string
	check := &cobra.Command{
		Use:   "check [--json] [CODE...]",
		Short: "Parse codes and say what they are (exit 1 if any is invalid)",
		Long: `check parses each code (or each line of standard input when no code is
given) and prints what it is: 码上放心 20-digit code, GS1 element string or
a chain's own format, with its fields, or why it is not a trace code.
GS may be written as <GS> or any configured substitute. With --config the
config's codes rules apply; otherwise the defaults. With --json each code
is one JSON object per line. Exit status 1 if any code is invalid.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			rules := tracecode.DefaultRules()
			if path != "" {
				c, err := loadConfig(path, true)
				if err != nil {
					return err
				}
				if rules, err = agent.Rules(c.Codes); err != nil {
					return err
				}
			}
			if len(args) == 0 {
				sc := bufio.NewScanner(cmd.InOrStdin())
				for sc.Scan() {
					if line := strings.TrimRight(sc.Text(), "\r"); strings.TrimSpace(line) != "" {
						args = append(args, line)
					}
				}
				if err := sc.Err(); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			enc := json.NewEncoder(out)
			enc.SetEscapeHTML(false)
			invalid := 0
			for _, a := range args {
				rep := tracecode.Check(a, rules)
				if !rep.Valid {
					invalid++
				}
				if asJSON {
					if err := enc.Encode(rep); err != nil {
						return err
					}
				} else {
					fmt.Fprintln(out, rep.Text())
				}
			}
			if invalid > 0 {
				return &exitError{code: exitFailure, err: fmt.Errorf("%d of %d code(s) invalid", invalid, len(args))}
			}
			return nil
		},
	}
	check.Flags().BoolVar(&asJSON, "json", false, "one JSON object per code")
	check.Flags().StringVarP(&path, "config", "c", "", "apply this config's codes rules")
	code.AddCommand(check)
	return code
}
