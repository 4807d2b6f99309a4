package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/reconcile"
)

func newReconcileCmd() *cobra.Command {
	var path, since, until, csvPath string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "reconcile --config FILE --since YYYY-MM-DD [--until YYYY-MM-DD] [--csv FILE]",
		Short: "Compare what this device sent with what 医保 and 码上放心 hold, and keep the differences",
		Long: `reconcile compares the bills this device finished and delivered in the days
given (UTC+8, inclusive; --until defaults to today) with what the platforms
hold:

  医保     the sale trace query (nhsa.query.trace, e.g. 3513 商品销售追溯信息查询)
           against the 3505 rows of the sales (when nhsa.query.trace is set)
  码上放心 every uploaded bill looked up by its bill_code
           (lsyd.query.upbilldetail), and the store's own bills of the days
           (drug.lsyd.searchbill) for those no bill of this device made

  missing_on_platform  a bill or row the device sent is not there
  codes_differ         the platform holds it with other codes
  unknown_here         the platform holds one no bill of this device made

Each run is kept in the queue and printed; --csv writes the differences for
the auditor. With the agent stopped it works on the queue file; while the
agent runs it asks the agent (POST /v1/reconcile) and waits up to --wait for
the result. Exit status 0 when nothing differs, 3 when differences were
found, 1 when a run failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(path, true)
			if err != nil {
				return err
			}
			cst := time.FixedZone("CST", 8*3600)
			from, err := time.ParseInLocation(time.DateOnly, since, cst)
			if err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("--since %q: want YYYY-MM-DD", since)}
			}
			to := time.Now().In(cst)
			if until != "" {
				if to, err = time.ParseInLocation(time.DateOnly, until, cst); err != nil {
					return &exitError{code: exitUsage, err: fmt.Errorf("--until %q: want YYYY-MM-DD", until)}
				}
			}
			if to.Before(from) {
				return &exitError{code: exitUsage, err: errors.New("--until is before --since")}
			}
			var runs []queue.ReconcileRun
			var failed []string
			f, err := openFile(c)
			switch {
			case errors.Is(err, queue.ErrLocked):
				runs, failed, err = reconcileViaAPI(cmd.Context(), c, since, until, wait)
			case err != nil:
			default:
				runs, failed, err = reconcileFile(cmd.Context(), c, f.s, from, to)
				f.Close()
			}
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			return reportRuns(cmd.OutOrStdout(), runs, failed, csvPath)
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().StringVar(&since, "since", "", "first day (YYYY-MM-DD, UTC+8)")
	cmd.Flags().StringVar(&until, "until", "", "last day (YYYY-MM-DD, UTC+8; default today)")
	cmd.Flags().StringVar(&csvPath, "csv", "", "also write the differences to this CSV file")
	cmd.Flags().DurationVar(&wait, "wait", 30*time.Minute, "while the agent runs: how long to wait for its reconciliation")
	_ = cmd.MarkFlagRequired("since")
	return cmd
}

// reconcileFile runs every back end on a stopped agent's queue.
func reconcileFile(ctx context.Context, c *configs.Config, s *queue.Store, from, to time.Time) ([]queue.ReconcileRun, []string, error) {
	backends, err := agent.ReconcileBackends(c, s)
	if err != nil {
		return nil, nil, err
	}
	var runs []queue.ReconcileRun
	var failed []string
	for _, b := range backends {
		run, err := reconcile.Run(ctx, s, b, from, to)
		if err != nil {
			failed = append(failed, err.Error())
			continue
		}
		runs = append(runs, run)
	}
	return runs, failed, nil
}

// reconcileViaAPI asks the running agent to reconcile and waits for the
// runs it keeps.
func reconcileViaAPI(ctx context.Context, c *configs.Config, since, until string, wait time.Duration) ([]queue.ReconcileRun, []string, error) {
	if !c.API.Enabled {
		return nil, nil, fmt.Errorf("the agent is running (it holds %s) and api.enabled is false: stop it, then reconcile", c.QueuePath())
	}
	a, err := dialAPI(ctx, c)
	if err != nil {
		return nil, nil, fmt.Errorf("the agent holds %s but its API does not answer: %w", c.QueuePath(), err)
	}
	var before agent.ReconcileView
	if err := a.call(ctx, "GET", "/v1/reconcile?limit=1", nil, &before); err != nil {
		return nil, nil, err
	}
	var last uint64
	if len(before.Runs) > 0 {
		last = before.Runs[0].Seq
	}
	started := time.Now()
	if err := a.call(ctx, "POST", "/v1/reconcile", map[string]string{"since": since, "until": until}, nil); err != nil {
		return nil, nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		var v agent.ReconcileView
		if err := a.call(ctx, "GET", "/v1/reconcile?limit=100", nil, &v); err != nil {
			return nil, nil, err
		}
		if !v.Running {
			var runs []queue.ReconcileRun
			for _, r := range v.Runs {
				if r.Seq > last {
					runs = append(runs, r)
				}
			}
			slices.Reverse(runs)
			var failed []string
			for dest, f := range v.Failures {
				if !f.At.Before(started.Add(-time.Second)) {
					failed = append(failed, dest+": "+f.Error)
				}
			}
			if len(runs) > 0 || len(failed) > 0 {
				return runs, failed, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("the agent's reconciliation did not end within %s (it waits for uploads and online checks); see GET /v1/reconcile", wait)
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// reportRuns prints the runs (and writes the CSV) and picks the exit.
func reportRuns(w io.Writer, runs []queue.ReconcileRun, failed []string, csvPath string) error {
	differ := false
	for _, run := range runs {
		if err := reconcile.WriteReport(w, run); err != nil {
			return err
		}
		differ = differ || len(run.Findings) > 0
	}
	for _, f := range failed {
		fmt.Fprintf(w, "failed: %s\n", f)
	}
	if csvPath != "" {
		out, err := os.OpenFile(csvPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return &exitError{code: exitFailure, err: fmt.Errorf("--csv: %w", err)}
		}
		werr := reconcile.WriteCSV(out, runs...)
		if cerr := out.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return &exitError{code: exitFailure, err: werr}
		}
	}
	switch {
	case len(failed) > 0:
		return &exitError{code: exitFailure, err: fmt.Errorf("%d reconciliation(s) failed", len(failed))}
	case differ:
		return &exitError{code: exitDifferences, err: errors.New("")}
	}
	return nil
}

// exitDifferences is reconcile's status when the platform differs.
const exitDifferences = 3
