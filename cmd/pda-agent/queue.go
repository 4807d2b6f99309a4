package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/queue"
)

func newQueueCmd() *cobra.Command {
	q := &cobra.Command{
		Use:   "queue",
		Short: "Inspect bills and deliveries, repair held bills, retry or drop dead letters and held deliveries, export for audits",
		Long: `The queue commands work on the running agent through its local API
(api.listen, token from api.token_file) and on the queue file when the
agent is stopped; each says which it used. --via api or --via file forces
one. stats and compact need the agent stopped.`,
	}
	q.AddCommand(newQueueListCmd(), newQueueShowCmd(), newQueueRetryCmd(), newQueueDropCmd(), newQueueSetCmd(),
		newQueueExportCmd(), newQueueStatsCmd(), newQueueCompactCmd())
	return q
}

// queueFlags are the flags every access-using queue command has.
type queueFlags struct {
	config string
	via    string
}

func (f *queueFlags) add(cmd *cobra.Command) {
	configFlag(cmd, &f.config)
	cmd.Flags().StringVar(&f.via, "via", viaAuto, "auto (the agent's API if it answers, else the queue file), api or file")
}

// withAccess loads the config, opens the API or the file, says which on
// stderr and runs fn. Ctrl-C cancels fn's context.
func (f *queueFlags) withAccess(cmd *cobra.Command, fn func(ctx context.Context, acc queueAccess) error) error {
	c, err := loadConfig(f.config, true)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	acc, err := openAccess(ctx, c, f.via)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "via %s\n", acc.Via())
	err = fn(ctx, acc)
	if cerr := acc.Close(); err == nil {
		err = cerr
	}
	return err
}

func newQueueListCmd() *cobra.Command {
	var f queueFlags
	var q billQuery
	var since string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list --config FILE [--state S] [--dest D] [--dead] [--since T] [--limit N]",
		Short: "List bills, newest first, with each destination's delivery state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if q.Since, err = parseSince(since, time.Now()); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			if q.Limit < 1 {
				return &exitError{code: exitUsage, err: fmt.Errorf("--limit must be at least 1; got %d", q.Limit)}
			}
			if q.State != "" && q.State != string(queue.BillOpen) && q.State != string(queue.BillFinished) && q.State != string(queue.BillCancelled) {
				return &exitError{code: exitUsage, err: fmt.Errorf("--state must be open, finished or cancelled; got %q", q.State)}
			}
			return f.withAccess(cmd, func(ctx context.Context, acc queueAccess) error {
				recs, err := acc.Bills(ctx, q)
				if err != nil {
					return err
				}
				if asJSON {
					type entry struct {
						Bill       queue.Bill       `json:"bill"`
						Deliveries []queue.Delivery `json:"deliveries"`
					}
					out := make([]entry, 0, len(recs))
					for _, r := range recs {
						out = append(out, entry{r.Bill, nonNil(r.Deliveries)})
					}
					return writeJSONTo(cmd.OutOrStdout(), out)
				}
				printBillList(cmd.OutOrStdout(), recs)
				return nil
			})
		},
	}
	f.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&q.State, "state", "", "only bills in this state: open, finished or cancelled")
	fl.IntVar(&q.Type, "type", 0, "only bills of this type (e.g. 321)")
	fl.StringVar(&q.Dest, "dest", "", "only bills for this destination (msfx, nhsa, webhook)")
	fl.BoolVar(&q.Dead, "dead", false, "only bills with a dead letter (to --dest, if given)")
	fl.StringVar(&since, "since", "", "only bills created since: a duration back (24h) or a date (2026-01-02, RFC 3339)")
	fl.IntVar(&q.Limit, "limit", 50, "at most this many bills (through the API at most 1000)")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// parseSince reads --since: a duration back from now, a date (China
// time, the bills' zone) or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, chinaZone()); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--since %q: want a duration like 24h, a date like 2026-01-02 or an RFC 3339 time", s)
}

// chinaZone is the zone of bill dates (UTC+8, no DST).
func chinaZone() *time.Location { return agent.StoreZone() }

// storeDateTime is a date and time as every command shows them: China
// time with its offset (agent.Clock's convention).
func storeDateTime(t time.Time) string { return t.In(chinaZone()).Format("2006-01-02 15:04:05 -07:00") }

func printBillList(w io.Writer, recs []queue.BillRecord) {
	if len(recs) == 0 {
		fmt.Fprintln(w, "no bills")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BILL\tTYPE\tSTATE\tCODES\tCREATED (UTC+8)\tDELIVERIES")
	for _, r := range recs {
		b := r.Bill
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\n", b.Code, b.Type, b.State, b.Items, storeDateTime(b.CreatedAt), deliverySummary(r))
	}
	tw.Flush()
}

// deliverySummary is "msfx done, nhsa DEAD, webhook pending (3 attempts)".
func deliverySummary(r queue.BillRecord) string {
	if len(r.Deliveries) == 0 {
		if r.Bill.State == queue.BillFinished {
			return "(no destination)"
		}
		return "-"
	}
	parts := make([]string, 0, len(r.Deliveries))
	for _, d := range r.Deliveries {
		s := d.Dest + " " + string(d.State)
		switch d.State {
		case queue.DeliveryDead:
			s = d.Dest + " DEAD"
		case queue.DeliveryPending, queue.DeliveryLeased:
			switch {
			case len(d.Missing) > 0:
				s += " (HELD: lacks data)"
			case d.LastError != "":
				s += " (failing, " + plural(d.Attempts, "attempt") + ")"
			}
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func newQueueShowCmd() *cobra.Command {
	var f queueFlags
	var asJSON, personal bool
	cmd := &cobra.Command{
		Use:   "show BILL_CODE --config FILE",
		Short: "Show a bill: its codes, history and each destination's attempts and answers",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.withAccess(cmd, func(ctx context.Context, acc queueAccess) error {
				withPersonal(acc, personal)
				r, err := acc.Bill(ctx, args[0])
				if err != nil {
					return err
				}
				if !personal {
					r = queue.MaskRecord(r)
				}
				if asJSON {
					r.Items, r.Deliveries = nonNil(r.Items), nonNil(r.Deliveries)
					return writeJSONTo(cmd.OutOrStdout(), r)
				}
				printBill(cmd.OutOrStdout(), r)
				return nil
			})
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (the API's bill view)")
	cmd.Flags().BoolVar(&personal, "with-personal-data", false, "show personal data (人员编号, 证件号码, names, phone) unmasked")
	return cmd
}

func printBill(w io.Writer, r queue.BillRecord) {
	b := r.Bill
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "bill\t%s (id %d)\n", b.Code, b.ID)
	fmt.Fprintf(tw, "type\t%d %s\n", b.Type, billtype.Name(b.Type))
	fmt.Fprintf(tw, "state\t%s\n", b.State)
	fmt.Fprintf(tw, "session\t%s\n", b.Session)
	for _, kv := range [][2]string{{"partner", b.Partner}, {"operator", b.Operator}, {"device", b.Device}} {
		if kv[1] != "" {
			fmt.Fprintf(tw, "%s\t%s\n", kv[0], kv[1])
		}
	}
	fmt.Fprintf(tw, "created\t%s\n", b.CreatedAt.In(chinaZone()).Format(time.RFC3339))
	if !b.FinishedAt.IsZero() {
		fmt.Fprintf(tw, "finished\t%s\n", b.FinishedAt.In(chinaZone()).Format(time.RFC3339))
	}
	if len(b.Destinations) > 0 {
		fmt.Fprintf(tw, "destinations\t%s\n", strings.Join(b.Destinations, ", "))
	}
	if len(b.Attrs) > 0 {
		fmt.Fprintf(tw, "attrs\t%s\n", formatAttrs(b.Attrs, "  "))
	}
	if len(b.Sealed) > 0 {
		fmt.Fprintf(tw, "personal data\tCANNOT BE DECRYPTED with this device's key (%s): restore the key file it was written with\n",
			strings.Join(slices.Sorted(maps.Keys(b.Sealed)), ", "))
	}
	if !b.PersonalErased.IsZero() {
		fmt.Fprintf(tw, "personal data\terased %s (every destination has the bill)\n", b.PersonalErased.In(chinaZone()).Format(time.RFC3339))
	}
	tw.Flush()

	fmt.Fprintf(w, "\ncodes (%d)\n", len(r.Items))
	if len(r.Items) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  #\tCODE\tKIND\tPRODUCT\tLOT\tEXPIRY\tUNITS\tSCANNED")
		for _, it := range r.Items {
			units := "pack"
			if it.Units > 0 {
				units = fmt.Sprint(it.Units)
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Seq, it.Code, it.Kind, dash(it.Product), dash(it.Lot), dash(it.Expiry), units, storeDateTime(it.ScannedAt))
		}
		tw.Flush()
	}

	fmt.Fprintf(w, "\ndeliveries (%d)\n", len(r.Deliveries))
	for _, d := range r.Deliveries {
		fmt.Fprintf(w, "  %s: %s, %s", d.Dest, d.State, plural(d.Attempts, "attempt"))
		switch {
		case !d.DoneAt.IsZero():
			fmt.Fprintf(w, ", done %s", storeDateTime(d.DoneAt))
		case d.State == queue.DeliveryPending && !d.NextAt.IsZero():
			fmt.Fprintf(w, ", next attempt %s", storeDateTime(d.NextAt))
		}
		if !d.LastAt.IsZero() {
			fmt.Fprintf(w, ", last %s", storeDateTime(d.LastAt))
		}
		fmt.Fprintln(w)
		if d.Unknown {
			fmt.Fprintln(w, "    outcome of the last attempt unknown: the back end is asked before sending again")
		}
		if d.Note != "" {
			fmt.Fprintf(w, "    note: %s\n", d.Note)
		}
		if len(d.Missing) > 0 && d.State != queue.DeliveryDropped {
			fmt.Fprintf(w, "    HELD on this device, never sent; missing (repair: pda-agent queue set %s key=value…):\n", b.Code)
			for _, m := range d.Missing {
				fmt.Fprintf(w, "      %s from %s: %s\n", dash(m.Field), m.Source, m.Detail)
			}
		} else if d.LastError != "" && d.State != queue.DeliveryDead {
			fmt.Fprintf(w, "    last error: %s\n", d.LastError)
		}
		if d.Result != "" {
			label := "platform reference"
			if d.State == queue.DeliveryDead || d.State == queue.DeliveryDropped {
				label = "platform answer"
			}
			fmt.Fprintf(w, "    %s: %s\n", label, d.Result)
		}
	}

	fmt.Fprintf(w, "\nhistory (%d)\n", len(b.History))
	for _, e := range b.History {
		fmt.Fprintf(w, "  %s  %s", storeDateTime(e.At), e.What)
		if e.Detail != "" {
			fmt.Fprintf(w, ": %s", e.Detail)
		}
		fmt.Fprintln(w)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// formatAttrs is "k=v" pairs in key order.
func formatAttrs(attrs map[string]string, sep string) string {
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+attrs[k])
	}
	return strings.Join(parts, sep)
}

func newQueueRetryCmd() *cobra.Command {
	var f queueFlags
	var allDead bool
	var dest string
	cmd := &cobra.Command{
		Use:   "retry (BILL_CODE DEST | --all-dead [--dest D]) --config FILE",
		Short: "Send dead letters again (one, or all of them), or look at a held delivery again now",
		Long: `retry puts a dead letter (a bill a back end refused for good) back in the
queue, due now: fix the cause first (catalogue, credentials, the bill's
data on the platform), then retry. --all-dead retries every dead letter,
or those of --dest. A held delivery (held back on this device because the
bill lacks data) is looked at again now, e.g. after the catalogue or the
config was fixed; a change of the bill's attrs (queue set) does so itself.`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case allDead && len(args) != 0:
				return &exitError{code: exitUsage, err: errors.New("--all-dead takes no BILL_CODE DEST")}
			case !allDead && len(args) != 2:
				return &exitError{code: exitUsage, err: errors.New("give BILL_CODE DEST, or --all-dead")}
			case !allDead && dest != "":
				return &exitError{code: exitUsage, err: errors.New("--dest goes with --all-dead; a single retry names its DEST as the second argument")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.withAccess(cmd, func(ctx context.Context, acc queueAccess) error {
				when := "the agent sends it now"
				if _, ok := acc.(*fileAccess); ok {
					when = "the agent sends it when it starts"
				}
				out := cmd.OutOrStdout()
				if !allDead {
					if err := acc.Retry(ctx, args[0], args[1]); err != nil {
						return err
					}
					fmt.Fprintf(out, "retry %s → %s: back in the queue, due now; %s\n", args[0], args[1], when)
					return nil
				}
				return retryAllDead(ctx, acc, dest, out, cmd.ErrOrStderr(), when)
			})
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&allDead, "all-dead", false, "retry every dead letter")
	cmd.Flags().StringVar(&dest, "dest", "", "with --all-dead: only this destination's dead letters")
	return cmd
}

// retryAllDead retries every dead letter (of dest), with progress; one
// that fails is reported and the others go on.
func retryAllDead(ctx context.Context, acc queueAccess, dest string, out, errw io.Writer, when string) error {
	dl, err := acc.DeadLetters(ctx)
	if err != nil {
		return err
	}
	var todo []queue.DeadLetter
	for _, d := range dl {
		if dest == "" || d.Dest == dest {
			todo = append(todo, d)
		}
	}
	if len(todo) == 0 {
		fmt.Fprintln(out, "no dead letters to retry")
		return nil
	}
	p := newProgress(errw, "retried", "dead letters", int64(len(todo)))
	byDest := map[string]int{}
	var failed []string
	for i, d := range todo {
		if err := ctx.Err(); err != nil {
			p.Finish()
			return fmt.Errorf("interrupted after %d of %d dead letters: %w", i, len(todo), err)
		}
		if err := acc.Retry(ctx, d.BillCode, d.Dest); err != nil {
			failed = append(failed, fmt.Sprintf("%s → %s: %v", d.BillCode, d.Dest, err))
		} else {
			byDest[d.Dest]++
		}
		p.Set(int64(i + 1))
	}
	p.Finish()
	dests := make([]string, 0, len(byDest))
	for d, n := range byDest {
		dests = append(dests, fmt.Sprintf("%s %d", d, n))
	}
	sort.Strings(dests)
	fmt.Fprintf(out, "retried %d of %d dead letters (%s); %s\n", len(todo)-len(failed), len(todo), strings.Join(dests, ", "), when)
	if len(failed) > 0 {
		for _, f := range failed {
			fmt.Fprintln(errw, "  not retried:", f)
		}
		return fmt.Errorf("%d dead letter(s) not retried", len(failed))
	}
	return nil
}

func newQueueDropCmd() *cobra.Command {
	var f queueFlags
	var reason string
	var yes bool
	cmd := &cobra.Command{
		Use:   "drop BILL_CODE DEST --reason TEXT --config FILE [--yes]",
		Short: "Give up on a dead letter or a held delivery for good, with the reason (kept on the bill)",
		Long: `drop records that a dead letter or a held delivery (never sent: the bill
lacks data) will never be delivered — e.g. the bill was entered by hand in
the platform's web console, or a cash sale was marked 医保 by mistake. The
bill and the reason stay on record. On a terminal it asks you to type the
bill code; otherwise (a script) it needs --yes.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			code, dest := args[0], args[1]
			if strings.TrimSpace(reason) == "" {
				return &exitError{code: exitUsage, err: errors.New("--reason is required: say why this bill will never reach " + dest)}
			}
			stdin, tty := terminalIn(cmd.InOrStdin())
			if !yes && !tty {
				return &exitError{code: exitUsage, err: errors.New("stdin is not a terminal: pass --yes to drop without typing the bill code")}
			}
			return f.withAccess(cmd, func(ctx context.Context, acc queueAccess) error {
				r, err := acc.Bill(ctx, code)
				if err != nil {
					return err
				}
				d, ok := findDelivery(r, dest)
				held := ok && d.State == queue.DeliveryPending && len(d.Missing) > 0
				if !ok || (d.State != queue.DeliveryDead && !held) {
					state := "no delivery"
					if ok {
						state = string(d.State)
					}
					return fmt.Errorf("bill %s → %s is neither a dead letter nor held (%s): only those can be dropped", code, dest, state)
				}
				if !yes {
					errw := cmd.ErrOrStderr()
					fmt.Fprintf(errw, "Bill %s (type %d, %d codes) will NEVER be delivered to %s.\n", code, r.Bill.Type, r.Bill.Items, dest)
					said := "The platform said: " + d.Result
					if held {
						said = "Held back, never sent: " + missingText(d.Missing)
					}
					fmt.Fprintf(errw, "%s\nReason recorded: %s\nType the bill code to confirm: ", said, reason)
					line, _ := bufio.NewReader(stdin).ReadString('\n')
					if strings.TrimSpace(line) != code {
						return errors.New("not confirmed: nothing dropped")
					}
				}
				if err := acc.Drop(ctx, code, dest, reason); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "dropped %s → %s: %s\n", code, dest, reason)
				return nil
			})
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "why the bill will never be delivered (kept on the bill)")
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation (scripts)")
	return cmd
}

// terminalIn tells whether r is an interactive terminal.
func terminalIn(r io.Reader) (io.Reader, bool) {
	f, ok := r.(*os.File)
	return r, ok && term.IsTerminal(int(f.Fd()))
}

func findDelivery(r queue.BillRecord, dest string) (queue.Delivery, bool) {
	for _, d := range r.Deliveries {
		if d.Dest == dest {
			return d, true
		}
	}
	return queue.Delivery{}, false
}

func newQueueExportCmd() *cobra.Command {
	var f queueFlags
	var format, out string
	var bom, personal bool
	cmd := &cobra.Command{
		Use:   "export --format jsonl|csv --out FILE --config FILE",
		Short: "Write every bill with its codes and delivery states to a file (audits)",
		Long: `export writes every bill the queue holds, oldest first, with its codes and
each destination's delivery state: jsonl is one bill per line (the API's
bill view: bill, items, deliveries); csv is one row per code (a bill
without codes has one row), with the bill's columns and per destination
its state, attempts, completion time, platform reference or answer and
last error. The file is written beside FILE and renamed into place when
complete, with mode 0600 (bills carry 医保 settlement data). --out - writes
to stdout. Personal data (the patient's 人员编号, 证件号码, name, phone) is
masked unless --with-personal-data.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "jsonl" && format != "csv" {
				return &exitError{code: exitUsage, err: fmt.Errorf("--format must be jsonl or csv; got %q", format)}
			}
			if out == "" {
				return &exitError{code: exitUsage, err: errors.New("--out FILE is required (- for stdout)")}
			}
			return f.withAccess(cmd, func(ctx context.Context, acc queueAccess) error {
				n, err := exportBills(ctx, acc, exportOptions{format: format, out: out, bom: bom, personal: personal,
					stdout: cmd.OutOrStdout(), progress: cmd.ErrOrStderr()})
				if err != nil {
					return err
				}
				if out != "-" {
					fmt.Fprintf(cmd.OutOrStdout(), "exported %d bills to %s (%s)\n", n, out, format)
				}
				return nil
			})
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&format, "format", "jsonl", "jsonl or csv")
	cmd.Flags().StringVar(&out, "out", "", "the file to write (- for stdout)")
	cmd.Flags().BoolVar(&bom, "bom", true, "csv: start with a UTF-8 byte order mark, so Excel shows Chinese text")
	cmd.Flags().BoolVar(&personal, "with-personal-data", false, "export personal data (人员编号, 证件号码, names, phone) unmasked")
	return cmd
}

func newQueueStatsCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "stats --config FILE",
		Short: "Print the queue file's state as JSON (agent stopped; else GET /v1/status)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(path, true)
			if err != nil {
				return err
			}
			f, err := openFile(c)
			if errors.Is(err, queue.ErrLocked) {
				return fmt.Errorf("%w: the running agent's state is at GET /v1/status of its local API", err)
			}
			if err != nil {
				return err
			}
			defer f.Close()
			st, err := f.s.Stats()
			if err != nil {
				return err
			}
			return writeJSONTo(cmd.OutOrStdout(), struct {
				queue.Stats
				Alarms []queue.Alarm `json:"alarm_list,omitempty"`
			}{st, f.s.Alarms()})
		},
	}
	configFlag(cmd, &path)
	return cmd
}

func newQueueCompactCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "compact --config FILE",
		Short: "Rewrite the queue file without its free pages (agent stopped)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(path, true)
			if err != nil {
				return err
			}
			return compactQueue(cmd.Context(), c, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	configFlag(cmd, &path)
	return cmd
}

// compactQueue compacts the file with progress. The new file gets the
// old one's owner: run as root, it would otherwise lock the agent out.
func compactQueue(ctx context.Context, c *configs.Config, out, errw io.Writer) error {
	file := c.QueuePath()
	if c.API.Enabled {
		if a, err := dialAPI(ctx, c); err == nil {
			return fmt.Errorf("the agent is running (its API answers at %s): stop it first (systemctl stop pda-agent); compaction needs the queue file to itself", a.base)
		}
	}
	was, err := os.Stat(file)
	if err != nil {
		return fmt.Errorf("queue file: %w", err)
	}
	p := newProgress(errw, "compacted", "", was.Size())
	before, after, err := queue.CompactWithProgress(file, queueOptions(c), func(done, total int64) {
		p.SetTotal(total)
		p.Set(done)
	})
	p.Finish()
	if errors.Is(err, queue.ErrLocked) {
		return fmt.Errorf("%w: stop the agent first (systemctl stop pda-agent)", err)
	}
	if err != nil {
		return err
	}
	if err := keepOwner(file, was); err != nil {
		return fmt.Errorf("compacted, but the file's owner could not be restored (the agent may not open it): %w", err)
	}
	fmt.Fprintf(out, "compacted %s: %s → %s\n", file, agent.Bytes(before), agent.Bytes(after))
	return nil
}

func writeJSONTo(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// nonNil makes an empty list print as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// missingText lists what a held bill lacks: "field (source), …".
func missingText(ms []queue.Missing) string {
	parts := make([]string, 0, len(ms))
	for _, m := range ms {
		f := m.Field
		if f == "" {
			f = m.Detail
		}
		parts = append(parts, f+" ("+m.Source+")")
	}
	return strings.Join(parts, ", ")
}

func newQueueSetCmd() *cobra.Command {
	var f queueFlags
	cmd := &cobra.Command{
		Use:   "set BILL_CODE key=value… --config FILE",
		Short: "Change a bill's attrs, also after it was finished: the repair of a held bill",
		Long: `set changes the attrs of a bill (key=value sets one, key= deletes it), also
after the bill was finished, as long as no destination that uses a changed
attr may already have been sent the bill (医保 uses the nhsa. attrs;
码上放心 and the webhook send none). It is refused, with the reason,
otherwise, or while an attempt is under way. The bill's held deliveries
are then looked at again at once. Values are recorded; the bill's history
names only the keys.

  pda-agent queue set DEV1-261207-00012 nhsa.prsc_dr_name=王医生 nhsa.psn_cert_type=01`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			changes := map[string]*string{}
			for _, kv := range args[1:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return &exitError{code: exitUsage, err: fmt.Errorf("%q: give key=value (key= deletes the attr)", kv)}
				}
				if _, dup := changes[k]; dup {
					return &exitError{code: exitUsage, err: fmt.Errorf("attr %s given twice", k)}
				}
				changes[k] = nil
				if v != "" {
					changes[k] = &v
				}
			}
			if err := agent.CheckAttrChanges(changes); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			return f.withAccess(cmd, func(ctx context.Context, acc queueAccess) error {
				v, err := acc.SetAttrs(ctx, args[0], changes)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				fmt.Fprintf(out, "%s: attrs now %s\n", v.Bill.Code, dash(formatAttrs(v.Bill.Attrs, " ")))
				if len(v.Requeued) > 0 {
					when := "looked at again now"
					if _, ok := acc.(*fileAccess); ok {
						when = "looked at when the agent starts"
					}
					fmt.Fprintf(out, "  %s: %s\n", strings.Join(v.Requeued, ", "), when)
				}
				for _, o := range v.Outlook {
					if o.Will == agent.WillHold {
						fmt.Fprintf(out, "  %s: still held, missing %s\n", o.Dest, missingText(o.Missing))
					} else {
						fmt.Fprintf(out, "  %s: will send\n", o.Dest)
					}
				}
				return nil
			})
		},
	}
	f.add(cmd)
	return cmd
}
