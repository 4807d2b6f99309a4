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

// NHSA reconciles 医保: the 3505 rows of the sales delivered against the
// trace records 3513 returns for the period (nhsa.query.trace; off by
// default, its layout is single-source). Other bill types are skipped.
type NHSA struct {
	Client *nhsa.Client
	// Dest is the destination's name (nhsa if empty).
	Dest string
}

// Name is the destination.
func (n NHSA) Name() string {
	if n.Dest == "" {
		return nhsa.DefaultName
	}
	return n.Dest
}

// Reconcile implements Backend.
func (n NHSA) Reconcile(ctx context.Context, from, to time.Time, bills []Bill) (queue.ReconcileRun, error) {
	recs, err := n.Client.SaleTraces(ctx, from, to)
	if err != nil {
		return queue.ReconcileRun{}, err
	}
	platform := platformRows(recs)
	sent := map[string]sentRow{}
	var run queue.ReconcileRun
	for _, b := range bills {
		if b.Bill.Type != billtype.RetailSale {
			run.Skipped = append(run.Skipped, fmt.Sprintf("%s: %s is not compared yet (only 3505 sales have a query here)", b.Bill.Code, billtype.Name(b.Bill.Type)))
			continue
		}
		rows, err := n.Client.SentRows(b.Bill, b.Items, nhsa.LegacyProgress(b.Delivery.Progress))
		if err != nil {
			run.Skipped = append(run.Skipped, err.Error())
			continue
		}
		run.Bills++
		for _, r := range rows {
			sent[r.Bchno] = sentRow{bill: b.Bill.Code, codes: r.Codes, refused: b.Refused}
		}
	}
	run.Records = len(recs)
	run.Findings = compareRows(sent, platform)
	return run, nil
}

// platformRows groups trace records by row.
func platformRows(recs []fsi.TraceRecord) map[string][]string {
	out := map[string][]string{}
	for _, r := range recs {
		out[r.FixmedinsBchno] = append(out[r.FixmedinsBchno], r.DrugTracCodg)
	}
	return out
}
