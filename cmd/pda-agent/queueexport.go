package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/queue"
)

type exportOptions struct {
	format string // jsonl or csv
	out    string // file, or - for stdout
	bom    bool
	// personal exports personal data (queue.IsPersonal attrs) as it is;
	// by default it is masked (queue.MaskRecord).
	personal bool
	stdout   io.Writer
	progress io.Writer
}

// exportDests are the destinations with columns in the CSV export: every
// destination the agent knows.
func exportDests() []string { return []string{"msfx", "nhsa", "webhook"} }

// exportBills writes every bill to o.out and returns how many. A file is
// written under a temporary name in the same directory and renamed into
// place only when complete, so an interrupted export never looks done.
func exportBills(ctx context.Context, acc queueAccess, o exportOptions) (n int, err error) {
	var w io.Writer = o.stdout
	var tmp *os.File
	if o.out != "-" {
		dir, base := filepath.Split(o.out)
		if dir == "" {
			dir = "."
		}
		if tmp, err = os.CreateTemp(dir, "."+base+".partial-*"); err != nil {
			return 0, fmt.Errorf("export: %w", err)
		}
		defer func() {
			if tmp != nil {
				tmp.Close()
				os.Remove(tmp.Name())
			}
		}()
		// CreateTemp makes it 0600 already; bills carry personal data.
		w = tmp
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	enc, err := newRecordEncoder(bw, o.format, o.bom)
	if err != nil {
		return 0, err
	}
	p := newProgress(o.progress, "exported", "bills", 0)
	withPersonal(acc, o.personal)
	err = acc.Export(ctx, func(r queue.BillRecord, total int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !o.personal {
			r = queue.MaskRecord(r)
		}
		if err := enc.encode(r); err != nil {
			return err
		}
		n++
		p.SetTotal(int64(total))
		p.Set(int64(n))
		return nil
	})
	p.Finish()
	if err == nil {
		err = enc.flush()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return n, fmt.Errorf("export: %w", err)
	}
	if tmp == nil {
		return n, nil
	}
	if err := tmp.Sync(); err != nil {
		return n, fmt.Errorf("export: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return n, fmt.Errorf("export: %w", err)
	}
	if err := os.Rename(tmp.Name(), o.out); err != nil {
		return n, fmt.Errorf("export: %w", err)
	}
	tmp = nil
	return n, nil
}

// recordEncoder writes one bill record in an export format.
type recordEncoder struct {
	encode func(queue.BillRecord) error
	flush  func() error
}

func newRecordEncoder(w io.Writer, format string, bom bool) (*recordEncoder, error) {
	switch format {
	case "jsonl":
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return &recordEncoder{
			encode: func(r queue.BillRecord) error {
				r.Items, r.Deliveries = nonNil(r.Items), nonNil(r.Deliveries)
				return enc.Encode(r)
			},
			flush: func() error { return nil },
		}, nil
	case "csv":
		if bom {
			if _, err := io.WriteString(w, "\uFEFF"); err != nil {
				return nil, err
			}
		}
		cw := csv.NewWriter(w)
		if err := cw.Write(csvHeader()); err != nil {
			return nil, err
		}
		return &recordEncoder{
			encode: func(r queue.BillRecord) error {
				rows, err := csvRows(r)
				if err != nil {
					return err
				}
				return cw.WriteAll(rows)
			},
			flush: func() error { cw.Flush(); return cw.Error() },
		}, nil
	}
	return nil, fmt.Errorf("unknown export format %q", format)
}

// The CSV columns: the bill's, the code's, and per destination its
// delivery's (prefixed "msfx_" …); csvRows fills them in this order.
func csvBillColumns() []string {
	return []string{"bill_code", "bill_type", "bill_type_name", "state", "session", "partner", "operator", "device",
		"created_at", "finished_at", "destinations", "attrs"}
}

func csvItemColumns() []string {
	return []string{"item_seq", "code", "kind", "product", "lot", "expiry", "produced", "units", "opened", "ref", "source", "scanned_at"}
}

func csvDeliveryColumns() []string {
	return []string{"state", "attempts", "done_at", "result", "last_error"}
}

func csvHeader() []string {
	h := slices.Concat(csvBillColumns(), csvItemColumns())
	for _, d := range exportDests() {
		for _, c := range csvDeliveryColumns() {
			h = append(h, d+"_"+c)
		}
	}
	return h
}

// csvRows is one row per code of the bill (one row for a bill without
// codes), each with the bill's and every destination's columns.
func csvRows(r queue.BillRecord) ([][]string, error) {
	b := r.Bill
	bill := []string{b.Code, strconv.Itoa(b.Type), billtype.Name(b.Type), string(b.State), b.Session, b.Partner, b.Operator, b.Device,
		csvTime(b.CreatedAt), csvTime(b.FinishedAt), strings.Join(b.Destinations, ";"), formatAttrs(b.Attrs, ";")}
	dests := exportDests()
	perDest := len(csvDeliveryColumns())
	deliveries := make([]string, 0, len(dests)*perDest)
	byDest := map[string]queue.Delivery{}
	for _, d := range r.Deliveries {
		if !slices.Contains(dests, d.Dest) {
			return nil, fmt.Errorf("bill %s: delivery to %q, a destination the CSV export has no columns for (use --format jsonl)", b.Code, d.Dest)
		}
		byDest[d.Dest] = d
	}
	for _, name := range dests {
		d, ok := byDest[name]
		if !ok {
			deliveries = append(deliveries, make([]string, perDest)...)
			continue
		}
		deliveries = append(deliveries, string(d.State), strconv.Itoa(d.Attempts), csvTime(d.DoneAt), d.Result, d.LastError)
	}
	if len(r.Items) == 0 {
		return [][]string{slices.Concat(bill, make([]string, len(csvItemColumns())), deliveries)}, nil
	}
	rows := make([][]string, 0, len(r.Items))
	for _, it := range r.Items {
		units := ""
		if it.Units > 0 {
			units = strconv.Itoa(it.Units)
		}
		item := []string{strconv.Itoa(it.Seq), it.Code, it.Kind, it.Product, it.Lot, it.Expiry, it.Produced, units,
			strconv.FormatBool(it.Opened), it.Ref, it.Source, csvTime(it.ScannedAt)}
		rows = append(rows, slices.Concat(bill, item, deliveries))
	}
	return rows, nil
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(chinaZone()).Format(time.RFC3339)
}
