package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/reconcile"
)

func newReconcileCmd() *cobra.Command {
	var path, since, until, csvPath string
	cmd := &cobra.Command{
		Use:   "reconcile --config FILE --since YYYY-MM-DD [--until YYYY-MM-DD] [--csv FILE]",
		Short: "Compare what this device sent with what 医保 holds, and keep the differences",
		Long: `reconcile asks 医保 which sale records it holds for the days given (UTC+8,
inclusive; --until defaults to today) through the sale trace query
(nhsa.query.trace, e.g. 3513 商品销售追溯信息查询) and compares them with the
3505 rows of the sales this device finished and delivered in those days:

  missing_on_platform  a row the device sent is not there
  codes_differ         the platform holds the row with other codes
  unknown_here         the platform holds a row no bill of this device made

The run is kept in the queue and printed; --csv writes the differences for
the auditor. It works on the queue file, so stop the agent first. Other
bill types and 码上放心 are not compared yet (listed as skipped). Exit status
0 when nothing differs, 3 when differences were found, 1 when the run failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(path, true)
			if err != nil {
				return err
			}
			cst := time.FixedZone("CST", 8*3600)
			from, err := time.ParseInLocation("2006-01-02", since, cst)
			if err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("--since %q: want YYYY-MM-DD", since)}
			}
			to := time.Now().In(cst)
			if until != "" {
				if to, err = time.ParseInLocation("2006-01-02", until, cst); err != nil {
					return &exitError{code: exitUsage, err: fmt.Errorf("--until %q: want YYYY-MM-DD", until)}
				}
			}
			if to.Before(from) {
				return &exitError{code: exitUsage, err: errors.New("--until is before --since")}
			}
			f, err := openFile(c)
			if errors.Is(err, queue.ErrLocked) {
				return &exitError{code: exitFailure, err: fmt.Errorf("the agent is running (it holds %s): stop it, then reconcile", c.QueuePath())}
			}
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			defer f.Close()
			client, err := agent.NHSAClient(c, f.s)
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			run, err := reconcile.Run(cmd.Context(), f.s, reconcile.NHSA{Client: client}, from, to)
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			if err := reconcile.WriteReport(cmd.OutOrStdout(), run); err != nil {
				return err
			}
			if csvPath != "" {
				out, err := os.OpenFile(csvPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
				if err != nil {
					return &exitError{code: exitFailure, err: fmt.Errorf("--csv: %w", err)}
				}
				werr := reconcile.WriteCSV(out, run)
				if cerr := out.Close(); werr == nil {
					werr = cerr
				}
				if werr != nil {
					return &exitError{code: exitFailure, err: werr}
				}
			}
			if len(run.Findings) > 0 {
				return &exitError{code: exitDifferences, err: errors.New("")}
			}
			return nil
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().StringVar(&since, "since", "", "first day (YYYY-MM-DD, UTC+8)")
	cmd.Flags().StringVar(&until, "until", "", "last day (YYYY-MM-DD, UTC+8; default today)")
	cmd.Flags().StringVar(&csvPath, "csv", "", "also write the differences to this CSV file")
	_ = cmd.MarkFlagRequired("since")
	return cmd
}

// exitDifferences is reconcile's status when the platform differs.
const exitDifferences = 3
