package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/queue"
)

func newDiagnoseCmd() *cobra.Command {
	var path string
	var asJSON, offline bool
	cmd := &cobra.Command{
		Use:   "diagnose --config FILE [--json] [--offline] CODE",
		Short: "Tell everything known about one trace code, ending with a one-line verdict",
		Long: `diagnose walks everything this device knows about one code: its parsed
form under the configured rules, the ledger of the pack (received, sold,
returned), the bills it is on with each back end's delivery (attempts, last
error, the platform's answer), dead letters, the scans of it in the journal
and, unless --offline, what 码上放心 says about the code now (at most 10 s).
It ends with one line, e.g.

  verdict: sold in bill T1-261127-00003 (321 …) at 10:02:00, uploaded to 码上放心
  at 10:02:05, 医保 upload failing (3 attempt(s), …) because 【…】

It asks the running agent (GET /v1/diagnose) and, when no agent runs, reads
the queue file itself. Exit status 0 when the diagnosis ran, 1 when it
could not.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadConfig(path, true)
			if err != nil {
				return err
			}
			code := args[0]
			var d agent.Diagnosis
			q := url.Values{"code": {code}, "offline": {fmt.Sprint(offline)}}
			err = fromAgentOrFile(cmd.Context(), c, path,
				func(ctx context.Context, acc *apiAccess) error {
					return acc.call(ctx, http.MethodGet, "/v1/diagnose?"+q.Encode(), nil, &d)
				},
				func(ctx context.Context, in *agent.Inspector) error {
					var err error
					d, err = in.Diagnose(ctx, code, !offline)
					return err
				})
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			if asJSON {
				return writeIndented(cmd.OutOrStdout(), d)
			}
			printDiagnosis(cmd.OutOrStdout(), d)
			return nil
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the diagnosis as JSON (as GET /v1/diagnose)")
	cmd.Flags().BoolVar(&offline, "offline", false, "do not ask 码上放心 about the code")
	return cmd
}

// printDiagnosis writes a diagnosis for a person, the verdict last.
func printDiagnosis(w io.Writer, d agent.Diagnosis) {
	now := d.At
	if d.Source == agent.FromQueueFile {
		fmt.Fprintln(w, "agent not running; from the queue file")
	}
	fmt.Fprintln(w, "code     "+d.Code.Text())

	if d.Ledger != nil && len(d.Ledger.Events) > 0 {
		fmt.Fprintln(w, "ledger:")
		for _, ev := range d.Ledger.Events {
			units := ""
			if ev.Units > 0 {
				units = fmt.Sprintf(" %d unit(s)", ev.Units)
			}
			fmt.Fprintf(w, "  %s  %s%s  bill %s (%d)\n", agent.Clock(ev.At, now), ev.Action, units, ev.BillCode, ev.BillType)
		}
		if d.Ledger.PackUnits > 0 {
			fmt.Fprintf(w, "  opened pack: %d of %d unit(s) left\n", d.Ledger.Remaining, d.Ledger.PackUnits)
		}
	}

	for _, b := range d.Bills {
		fmt.Fprintf(w, "bill %s  type %d  %s", b.Bill.Code, b.Bill.Type, b.Bill.State)
		if !b.Bill.FinishedAt.IsZero() {
			fmt.Fprintf(w, " %s", agent.Clock(b.Bill.FinishedAt, now))
		}
		if b.Item != nil {
			fmt.Fprintf(w, "  (code #%d, scanned %s", b.Item.Seq, agent.Clock(b.Item.ScannedAt, now))
			if b.Item.Source != "" {
				fmt.Fprintf(w, " by %s", b.Item.Source)
			}
			fmt.Fprint(w, ")")
		}
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, dl := range b.Deliveries {
			fmt.Fprintf(tw, "  %s\t%s\t%d attempt(s)\t%s\n", agent.DestLabel(dl.Dest), dl.State, dl.Attempts, deliveryDetail(dl, now))
		}
		tw.Flush()
		for _, ev := range b.Bill.History {
			detail := ""
			if ev.Detail != "" {
				detail = ": " + oneLine(ev.Detail, 160)
			}
			fmt.Fprintf(w, "  · %s %s%s\n", agent.Clock(ev.At, now), ev.What, detail)
		}
	}

	if len(d.Scans) > 0 {
		fmt.Fprintln(w, "scans (newest first):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, s := range d.Scans {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", agent.Clock(s.At, now), s.Outcome, orDash(s.Reason), orDash(s.Source), scanDetail(s))
		}
		tw.Flush()
	}
	for _, is := range d.Issues {
		fmt.Fprintf(w, "not taken by %s in bill %s at %s: 【%s】\n", agent.DestLabel(is.Dest), is.BillCode, agent.Clock(is.At, now), is.Reason)
	}
	for _, dl := range d.DeadLetters {
		fmt.Fprintf(w, "dead letter: bill %s to %s after %d attempt(s), %s: 【%s】 (an operator must retry or drop it)\n",
			dl.BillCode, agent.DestLabel(dl.Dest), dl.Attempts, agent.Clock(dl.At, now), dl.Reason)
	}

	p := d.Platform
	switch {
	case !p.Asked:
		fmt.Fprintf(w, "码上放心  not asked: %s\n", p.Skipped)
	case p.Error != "":
		fmt.Fprintf(w, "码上放心  query failed: %s\n", p.Error)
	case !p.Found:
		fmt.Fprintln(w, "码上放心  no record of the code")
	default:
		v := p.StatusText
		if p.Info != nil && p.Info.Drug != nil {
			v += "  " + string(p.Info.Drug.PhysicName)
		}
		if p.Info != nil {
			if lot, ok := p.Info.Lot(); ok {
				v += fmt.Sprintf("  lot %s, expires %s", lot.BatchNo, lot.ExpireDate)
			}
		}
		fmt.Fprintln(w, "码上放心  "+v)
	}
	fmt.Fprintln(w, "verdict: "+d.Verdict)
}

func deliveryDetail(dl queue.Delivery, now time.Time) string {
	var parts []string
	switch dl.State {
	case queue.DeliveryDone:
		parts = append(parts, "done "+agent.Clock(dl.DoneAt, now))
		if dl.Result != "" {
			parts = append(parts, "ref "+dl.Result)
		}
	case queue.DeliveryPending, queue.DeliveryLeased:
		if !dl.NextAt.IsZero() {
			parts = append(parts, "next "+agent.Clock(dl.NextAt, now))
		}
		if dl.Unknown {
			parts = append(parts, "outcome of the last attempt unknown: asked before resending")
		}
	}
	if dl.LastError != "" && dl.State != queue.DeliveryDone {
		parts = append(parts, "last at "+agent.Clock(dl.LastAt, now)+" 【"+oneLine(dl.LastError, 160)+"】")
	}
	if dl.Note != "" {
		parts = append(parts, oneLine(dl.Note, 120))
	}
	return strings.Join(parts, "; ")
}

func scanDetail(s queue.ScanLog) string {
	if s.BillCode != "" && s.Outcome != queue.Rejected {
		return "bill " + s.BillCode
	}
	return oneLine(s.Message, 120)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
