// Package reconcile compares what this device finished with what each
// platform holds (issue 16): for every bill delivered in a period, is it
// on the platform with exactly its codes, and does the platform hold rows
// this device does not know? Each back end answers through its own query
// interfaces (Backend); the differences are kept in the queue
// (queue.ReconcileRun) and printed as a report and CSV for the auditor.
//
// 医保 (NHSA) compares the 3505 rows of sales against 3513 商品销售追溯信息查询,
// and the rows of receiving, returns, stock-takes and stock changes by
// 3510/3511/3508/3509 (nhsa.go); 码上放心 (MSFX) looks every
// uploaded bill up by its bill_code (query.upbilldetail) and lists the
// store's own bills (drug.lsyd.searchbill) for those unknown here.
package reconcile

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/pda-agent/pda-agent/queue"
)

// Kinds of finding.
const (
	// Missing: a row of a delivered bill is not on the platform.
	Missing = "missing_on_platform"
	// CodesDiffer: the platform holds the row with other codes.
	CodesDiffer = "codes_differ"
	// UnknownHere: the platform holds a row no bill of this device made
	// (another device of the pharmacy, or a record that is not the
	// store's).
	UnknownHere = "unknown_here"
)

// Bill is a finished bill of the device as one back end sent it.
type Bill struct {
	Bill  queue.Bill
	Items []queue.Item
	// Delivery is the bill's delivery to the back end.
	Delivery queue.Delivery
	// Refused are the codes the back end refused when it took the bill
	// (partial success, kept as code issues): the platform is not
	// expected to hold them, and they are no finding.
	Refused map[string]bool
}

// Backend reconciles one platform.
type Backend interface {
	// Name is the destination's name (nhsa, msfx).
	Name() string
	// Reconcile compares the bills delivered to it between the days of
	// from and to (inclusive) with what the platform holds for them.
	Reconcile(ctx context.Context, from, to time.Time, bills []Bill) (queue.ReconcileRun, error)
}

// Run selects the bills of store finished between the days of from and to
// (UTC+8, inclusive) and delivered to the back end, reconciles them, and
// keeps the run in the queue.
func Run(ctx context.Context, store *queue.Store, b Backend, from, to time.Time) (queue.ReconcileRun, error) {
	start, end := dayStart(from), dayStart(to).AddDate(0, 0, 1)
	var bills []Bill
	var skipped []string
	var walkErr error
	err := store.ForEachBill(func(qb queue.Bill) bool {
		if qb.State != queue.BillFinished || qb.FinishedAt.Before(start) || !qb.FinishedAt.Before(end) || !slices.Contains(qb.Destinations, b.Name()) {
			return true
		}
		ds, err := store.Deliveries(qb.ID)
		if err != nil {
			walkErr = fmt.Errorf("deliveries of %s: %w", qb.Code, err)
			return false
		}
		i := slices.IndexFunc(ds, func(d queue.Delivery) bool { return d.Dest == b.Name() })
		if i < 0 || ds[i].State != queue.DeliveryDone {
			state := "none"
			if i >= 0 {
				state = string(ds[i].State)
			}
			skipped = append(skipped, fmt.Sprintf("%s: not delivered to %s yet (%s)", qb.Code, b.Name(), state))
			return true
		}
		items, err := store.Items(qb.ID)
		if err != nil {
			walkErr = fmt.Errorf("items of %s: %w", qb.Code, err)
			return false
		}
		refused, err := refusedCodes(store, qb.ID, b.Name(), items)
		if err != nil {
			walkErr = fmt.Errorf("code issues of %s: %w", qb.Code, err)
			return false
		}
		bills = append(bills, Bill{Bill: qb, Items: items, Delivery: ds[i], Refused: refused})
		return true
	})
	if err == nil {
		err = walkErr
	}
	if err != nil {
		return queue.ReconcileRun{}, fmt.Errorf("reconcile %s: %w", b.Name(), err)
	}
	run, err := b.Reconcile(ctx, from, to, bills)
	if err != nil {
		return queue.ReconcileRun{}, fmt.Errorf("reconcile %s: %w", b.Name(), err)
	}
	run.Dest, run.From, run.To = b.Name(), start, end.Add(-time.Second)
	run.Skipped = append(skipped, run.Skipped...)
	saved, err := store.SaveReconcile(ctx, run)
	if err != nil {
		return saved, err
	}
	// The bills compared without a finding are on the platform as sent
	// (queue.Options.PersonalRetention may now let their personal data go).
	differs := map[string]bool{}
	for _, f := range run.Findings {
		differs[f.Bill] = true
	}
	var present []uint64
	for _, bl := range bills {
		if !differs[bl.Bill.Code] && slices.Contains(run.Compared, bl.Bill.Code) {
			present = append(present, bl.Bill.ID)
		}
	}
	if err := store.MarkReconciled(ctx, b.Name(), present); err != nil {
		return saved, fmt.Errorf("reconcile %s: %w", b.Name(), err)
	}
	return saved, nil
}

// refusedCodes lists the codes of a bill the back end refused at delivery.
func refusedCodes(store *queue.Store, billID uint64, dest string, items []queue.Item) (map[string]bool, error) {
	out := map[string]bool{}
	seen := map[string]bool{}
	for _, it := range items {
		if seen[it.Key] {
			continue
		}
		seen[it.Key] = true
		issues, err := store.CodeIssues(it.Key)
		if err != nil {
			return nil, err
		}
		for _, is := range issues {
			if is.BillID == billID && is.Dest == dest {
				out[is.Code] = true
			}
		}
	}
	return out, nil
}

// chinaTime is UTC+8: the platforms' days.
var chinaTime = time.FixedZone("CST", 8*3600)

func dayStart(t time.Time) time.Time {
	t = t.In(chinaTime)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, chinaTime)
}

// compareRows is the common core: the rows a device sent (by key, with
// the bill each came from) against the platform's (by key). Codes are
// compared as sets.
func compareRows(sent map[string]sentRow, platform map[string][]string) []queue.ReconcileFinding {
	var out []queue.ReconcileFinding
	for _, key := range slices.Sorted(maps.Keys(sent)) {
		r := sent[key]
		got, ok := platform[key]
		if len(r.refused) > 0 {
			// The platform refused these when it took the bill: the
			// device knows, and they are not expected there.
			var kept []string
			for _, c := range r.codes {
				if !r.refused[c] || slices.Contains(got, c) {
					kept = append(kept, c)
				}
			}
			if len(kept) == 0 && !ok {
				continue
			}
			r.codes = kept
		}
		switch {
		case !ok:
			out = append(out, queue.ReconcileFinding{Kind: Missing, Bill: r.bill, Row: key, Local: r.codes,
				Detail: fmt.Sprintf("row %s of bill %s (%d code(s)) is not on the platform", key, r.bill, len(r.codes))})
		case !sameSet(r.codes, got):
			out = append(out, queue.ReconcileFinding{Kind: CodesDiffer, Bill: r.bill, Row: key, Local: r.codes, Platform: sorted(got),
				Detail: fmt.Sprintf("row %s of bill %s: the platform holds %s, the device sent %s", key, r.bill, diffWords(got, r.codes), diffWords(r.codes, got))})
		}
	}
	for _, key := range slices.Sorted(maps.Keys(platform)) {
		if _, ok := sent[key]; !ok {
			out = append(out, queue.ReconcileFinding{Kind: UnknownHere, Row: key, Platform: sorted(platform[key]),
				Detail: fmt.Sprintf("the platform holds row %s (%d code(s)) that no bill of this device made", key, len(platform[key]))})
		}
	}
	return out
}

type sentRow struct {
	bill    string
	codes   []string
	refused map[string]bool // codes the back end refused at delivery
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

func sameSet(a, b []string) bool {
	return slices.Equal(sorted(slices.Compact(sorted(a))), sorted(slices.Compact(sorted(b))))
}

// diffWords names the codes of a that b lacks ("" → "the same codes").
func diffWords(a, b []string) string {
	var only []string
	for _, c := range sorted(a) {
		if !slices.Contains(b, c) {
			only = append(only, c)
		}
	}
	if len(only) == 0 {
		return "no other code"
	}
	return strings.Join(only, ", ")
}

// WriteCSV writes the runs' findings, one per line, for the auditor.
func WriteCSV(w io.Writer, runs ...queue.ReconcileRun) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"dest", "kind", "bill", "row", "device_codes", "platform_codes", "detail"})
	for _, run := range runs {
		for _, f := range run.Findings {
			_ = cw.Write([]string{run.Dest, f.Kind, f.Bill, f.Row, strings.Join(f.Local, " "), strings.Join(f.Platform, " "), f.Detail})
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("writing the reconciliation CSV: %w", err)
	}
	return nil
}

// WriteReport prints the run for a person.
func WriteReport(w io.Writer, run queue.ReconcileRun) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s reconciliation #%d at %s: bills finished %s … %s\n", run.Dest, run.Seq,
		run.At.In(chinaTime).Format("2006-01-02 15:04"), run.From.In(chinaTime).Format("2006-01-02"), run.To.In(chinaTime).Format("2006-01-02"))
	fmt.Fprintf(&b, "  %d bill(s) compared, %d platform record(s) read, %d difference(s)\n", run.Bills, run.Records, len(run.Findings))
	for _, f := range run.Findings {
		fmt.Fprintf(&b, "  %-19s %s\n", f.Kind, f.Detail)
	}
	for _, s := range run.Skipped {
		fmt.Fprintf(&b, "  skipped: %s\n", s)
	}
	if len(run.Findings) == 0 {
		b.WriteString("  the platform holds exactly what this device sent\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
