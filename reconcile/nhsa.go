package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/nhsa"
	"github.com/pda-agent/pda-agent/upload/nhsa/fsi"
)

// NHSA reconciles 医保. Sales (3505): their rows against the trace records
// 3513 returns for the period (nhsa.query.trace), codes compared.
// Receiving and supplier returns (3503/3504) and sale returns (3506):
// each row asked by its fixmedins_bchno of the query interface the
// reference declares for it — 3510 商品采购查询 (nhsa.query.purchase) and
// 3511 商品销售查询 (nhsa.query.sale), newtouch-cloud/openhis
// WinServiceAPI/NeiMengGuYiBaoApp/Models/Input/YiBao/Input_3510.cs and
// Input_3511.cs. Their declared answers (Output_3510.cs, Output_3511.cs)
// carry no trace code, and their input requires a row or catalogue code,
// so for these only a row's presence is compared, and rows the platform
// holds that this device did not send cannot be listed. Stock-takes (901,
// 3501) and stock-change bills (3502) likewise, by row presence: 3508
// (nhsa.query.stock_take) and 3509 (nhsa.query.stock_change), whose
// declared input (Input_3508.cs, Input_3509.cs there) takes the row's
// fixmedins_bchno and whose answer (Output_3508.cs, Output_3509.cs) names
// it as fixmedinsBchno, without trace codes. Every switch is off by
// default (single source, unconfirmed).
type NHSA struct {
	Client *nhsa.Client
	// Dest is the destination's name (nhsa if empty).
	Dest string
	// Pause, if set, is called before every platform request (the
	// agent's rate and yielding).
	Pause func(context.Context) error
}

// Name is the destination.
func (n NHSA) Name() string {
	if n.Dest == "" {
		return nhsa.DefaultName
	}
	return n.Dest
}

func (n NHSA) pause(ctx context.Context) error {
	if n.Pause == nil {
		return nil
	}
	return n.Pause(ctx)
}

// Reconcile implements Backend.
func (n NHSA) Reconcile(ctx context.Context, from, to time.Time, bills []Bill) (queue.ReconcileRun, error) {
	var run queue.ReconcileRun
	sales := n.Client.SaleTraceQuery() != ""
	platform := map[string][]string{}
	if sales {
		if err := n.pause(ctx); err != nil {
			return queue.ReconcileRun{}, err
		}
		recs, err := n.Client.SaleTraces(ctx, from, to)
		if err != nil {
			return queue.ReconcileRun{}, err
		}
		platform = platformRows(recs)
		run.Records = len(recs)
	}
	sent := map[string]sentRow{}
	presenceOnly := 0
	for _, b := range bills {
		var qinf string
		switch {
		case b.Bill.Type == billtype.RetailSale && !sales:
			run.Skipped = append(run.Skipped, fmt.Sprintf("%s: 医保 sales are not compared (nhsa.query.trace is off)", b.Bill.Code))
			continue
		case b.Bill.Type != billtype.RetailSale:
			if qinf = n.Client.RowQuery(b.Bill.Type); qinf == "" {
				run.Skipped = append(run.Skipped, fmt.Sprintf("%s: %s is not compared (%s)", b.Bill.Code, billtype.Name(b.Bill.Type), noQuery(b.Bill.Type)))
				continue
			}
		}
		rows, err := n.Client.SentRows(ctx, b.Bill, b.Items, nhsa.LegacyProgress(b.Delivery.Progress))
		if err != nil {
			run.Skipped = append(run.Skipped, err.Error())
			continue
		}
		run.Bills++
		run.Compared = append(run.Compared, b.Bill.Code)
		for _, r := range rows {
			sent[r.Bchno] = sentRow{bill: b.Bill.Code, codes: r.Codes, refused: b.Refused}
			if qinf == "" {
				continue
			}
			if err := n.pause(ctx); err != nil {
				return queue.ReconcileRun{}, err
			}
			// The platform's day of a row is when it took it: from the
			// bill's finish to its delivery (or the period's end).
			until := to
			if b.Delivery.DoneAt.After(until) {
				until = b.Delivery.DoneAt
			}
			held, err := n.Client.HoldsRow(ctx, qinf, r.Bchno, b.Bill.FinishedAt, until)
			if err != nil {
				return queue.ReconcileRun{}, err
			}
			if held {
				run.Records++
				presenceOnly++
				platform[r.Bchno] = r.Codes // presence only: the answer has no codes
			}
		}
	}
	if presenceOnly > 0 {
		run.Skipped = append(run.Skipped, fmt.Sprintf("%d row(s) of receiving, returns and stock: 3508-3511 answer no trace codes, only their presence was checked", presenceOnly))
	}
	run.Findings = compareRows(sent, platform)
	return run, nil
}

// noQuery says why a bill type has no query here.
func noQuery(t int) string {
	switch t {
	case billtype.Purchase, billtype.SupplierReturn:
		return "nhsa.query.purchase, e.g. 3510, is off"
	case billtype.CustomerReturn:
		return "nhsa.query.sale, e.g. 3511, is off"
	case billtype.StockTake:
		return "nhsa.query.stock_take, e.g. 3508, is off"
	}
	if billtype.StockChange(t) {
		return "nhsa.query.stock_change, e.g. 3509, is off"
	}
	return "no public query declares its rows"
}

// platformRows groups trace records by row.
func platformRows(recs []fsi.TraceRecord) map[string][]string {
	out := map[string][]string{}
	for _, r := range recs {
		out[r.FixmedinsBchno] = append(out[r.FixmedinsBchno], r.DrugTracCodg)
	}
	return out
}
