package reconcile

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/msfx"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// MSFXPlatform is what the 码上放心 reconciliation asks; *msfx.Client
// implements it.
type MSFXPlatform interface {
	// SentParts rebuilds the bill codes a delivered bill was uploaded as.
	SentParts(b queue.Bill, items []queue.Item, progress string) ([]msfx.SentPart, error)
	// QueryUpBillDetail looks one own bill up by exact bill_code
	// (lsyd.query.upbilldetail); not found is (nil, false, nil).
	QueryUpBillDetail(ctx context.Context, billCode string) (*wire.BillDetail, bool, error)
	// SearchBills lists the own bills of the days (drug.lsyd.searchbill).
	SearchBills(ctx context.Context, begin, end time.Time) ([]msfx.SearchBillRow, error)
}

// MSFX reconciles 码上放心: every uploaded part of the bills delivered is
// looked up by its bill_code (query.upbilldetail) and its codes compared;
// the own bills the platform lists for the period (searchbill) that no
// bill of this device made are looked up too and reported as unknown here.
// The row key of a finding is the part's bill_code.
type MSFX struct {
	Platform MSFXPlatform
	// Dest is the destination's name (msfx if empty).
	Dest string
	// Known tells whether a bill_code is one of this device's bills
	// (finished outside the period, or not delivered yet), so that it is
	// not reported as unknown here. Nil: only the bills compared count.
	Known func(billCode string) bool
	// Pause is called before every platform request: the agent waits
	// there for its own uploads and bounds the request rate. Nil: no wait.
	Pause func(ctx context.Context) error
}

// Name is the destination.
func (m MSFX) Name() string {
	if m.Dest == "" {
		return "msfx"
	}
	return m.Dest
}

// partSuffix is the _<n> the client appends to the parts of a split bill.
var partSuffix = regexp.MustCompile(`_[0-9]+$`)

// Reconcile implements Backend.
func (m MSFX) Reconcile(ctx context.Context, from, to time.Time, bills []Bill) (queue.ReconcileRun, error) {
	var run queue.ReconcileRun
	sent := map[string]sentRow{}
	platform := map[string][]string{}
	noCodes := 0
	lookup := func(code string) (bool, error) {
		if m.Pause != nil {
			if err := m.Pause(ctx); err != nil {
				return false, err
			}
		}
		d, found, err := m.Platform.QueryUpBillDetail(ctx, code)
		if err != nil || !found {
			return false, err
		}
		run.Records++
		codes := msfx.DetailCodes(d)
		if len(codes) == 0 && len(d.Lines) > 0 {
			// code_and_parent_list is declared "预留属性，暂无返回": a
			// platform that does not return codes can only confirm presence.
			noCodes++
			codes = nil
		}
		platform[code] = codes
		return true, nil
	}
	for _, b := range bills {
		parts, err := m.Platform.SentParts(b.Bill, b.Items, b.Delivery.Progress)
		if err != nil {
			run.Skipped = append(run.Skipped, err.Error())
			continue
		}
		run.Bills++
		run.Compared = append(run.Compared, b.Bill.Code)
		for _, p := range parts {
			sent[p.BillCode] = sentRow{bill: b.Bill.Code, codes: p.Codes, refused: b.Refused}
			if _, err := lookup(p.BillCode); err != nil {
				return queue.ReconcileRun{}, fmt.Errorf("looking up %s (query.upbilldetail): %w", p.BillCode, err)
			}
			if got, ok := platform[p.BillCode]; ok && got == nil {
				platform[p.BillCode] = p.Codes // presence only
			}
		}
	}
	if m.Pause != nil {
		if err := m.Pause(ctx); err != nil {
			return queue.ReconcileRun{}, err
		}
	}
	listed, err := m.Platform.SearchBills(ctx, from, to)
	if err != nil {
		return queue.ReconcileRun{}, fmt.Errorf("listing own bills (searchbill): %w", err)
	}
	for _, r := range listed {
		code := string(r.BillCode)
		if _, ok := sent[code]; ok || code == "" {
			continue
		}
		if m.Known != nil && (m.Known(code) || m.Known(partSuffix.ReplaceAllString(code, ""))) {
			continue
		}
		found, err := lookup(code)
		if err != nil {
			return queue.ReconcileRun{}, fmt.Errorf("looking up listed bill %s (query.upbilldetail): %w", code, err)
		}
		if !found {
			// Listed but not found by its code: still the platform's.
			platform[code] = nil
		}
	}
	if noCodes > 0 {
		run.Skipped = append(run.Skipped, fmt.Sprintf("%d bill(s): the platform did not return their codes (code_and_parent_list), only their presence was checked", noCodes))
	}
	run.Findings = compareRows(sent, platform)
	return run, nil
}
