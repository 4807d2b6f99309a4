package msfx

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// MethodSearchBill lists this store's own uploaded bills by date range
// ([SDK] golgys0621/topsdk ability2939/Ability2939.go, method
// "alibaba.alihealth.drug.lsyd.searchbill"). Reconciliation uses it to
// find bills the platform holds that this device did not make.
const MethodSearchBill = "alibaba.alihealth.drug.lsyd.searchbill"

// searchbill's parameters as request/AlibabaAlihealthDrugLsydSearchbillRequest.go
// spells them: ref_ent_id, begin_date, end_date, bill_type (A all, AI
// inbound, AO outbound), cur_page and page_size are required.
const (
	pSearchCurPage = "cur_page"
	searchBillAll  = "A"
	searchPageSize = 50
	maxSearchPages = 40 // 2,000 bills: far more than a store makes in a lookback
)

// SearchBillResult is searchbill's answer
// (domain/AlibabaAlihealthDrugLsydSearchbillResultModel.go: model,
// msg_code, msg_info, response_success).
type SearchBillResult struct {
	wire.Status
	Model *wire.Page[SearchBillRow] `json:"model"`
}

// SearchBillRow is one listed bill (domain/AlibabaAlihealthDrugLsydSearchbillBillChkInOutDo.go;
// the page is domain/AlibabaAlihealthDrugLsydSearchbillPageInfoDto.go:
// result_list, total_num). Only the fields reconciliation reads are kept.
type SearchBillRow struct {
	BillCode       wire.Str `json:"bill_code"`
	BillType       wire.Str `json:"bill_type"`
	BillTypeName   wire.Str `json:"bill_type_name,omitempty"`
	BillTime       wire.Str `json:"bill_time,omitempty"`
	BillID         wire.Str `json:"bill_id,omitempty"`
	RefUserID      wire.Str `json:"ref_user_id,omitempty"`
	FromUserID     wire.Str `json:"from_user_id,omitempty"`
	ToUserID       wire.Str `json:"to_user_id,omitempty"`
	ProcessDate    wire.Str `json:"process_date,omitempty"`
	SubProcessFlag wire.Str `json:"sub_process_flag,omitempty"` // 51 全部成功, 52 部分成功
}

// SearchBills lists the store's own bills whose bill time falls in the
// days of begin and end (the platform's zone), every page of them.
func (c *Client) SearchBills(ctx context.Context, begin, end time.Time) ([]SearchBillRow, error) {
	var all []SearchBillRow
	for page := 1; page <= maxSearchPages; page++ {
		var r SearchBillResult
		found, e := c.query(ctx, MethodSearchBill, map[string]string{
			wire.PRefEntID:  c.refEntID,
			wire.PBeginDate: begin.In(c.zone).Format(wire.DayLayout),
			wire.PEndDate:   end.In(c.zone).Format(wire.DayLayout),
			wire.PBillType:  searchBillAll,
			pSearchCurPage:  strconv.Itoa(page),
			wire.PPageSize:  strconv.Itoa(searchPageSize),
		}, &r)
		if e != nil {
			return nil, fmt.Errorf("listing own bills, page %d: %w", page, e)
		}
		if !found || r.Model == nil {
			return all, nil
		}
		rows := r.Model.ResultList
		all = append(all, rows...)
		if len(rows) < searchPageSize || len(all) >= r.Model.Total() {
			return all, nil
		}
	}
	return nil, fmt.Errorf("listing own bills: more than %d pages of %d; shorten the period", maxSearchPages, searchPageSize)
}

// SentPart is one bill_code the client uploaded for a bill, with the
// codes it carried (a bill over the method's code limit is split into
// <bill_code>_1, _2, …).
type SentPart struct {
	BillCode string
	Codes    []string
}

// SentParts rebuilds the parts a delivered bill was uploaded as, from its
// items and the delivery's progress (which pins the split), so that
// reconciliation asks the platform for exactly those bill codes.
func (c *Client) SentParts(b queue.Bill, items []queue.Item, progress string) ([]SentPart, error) {
	method, _, err := c.billParams(b)
	if err != nil {
		return nil, fmt.Errorf("bill %s: %w", b.Code, err)
	}
	_, parts, _, _, err := c.plan(upload.Job{Bill: b, Items: items, Progress: progress}, method)
	if err != nil {
		return nil, fmt.Errorf("bill %s: %w", b.Code, err)
	}
	out := make([]SentPart, len(parts))
	for i, p := range parts {
		out[i] = SentPart{BillCode: p.code, Codes: slices.Clone(p.codes)}
	}
	return out, nil
}

// DetailCodes lists every code of an uploaded bill's detail, in order.
func DetailCodes(d *wire.BillDetail) []string {
	var out []string
	for _, l := range d.Lines {
		for _, cp := range l.Codes {
			out = append(out, string(cp.Code))
		}
	}
	return out
}

// ResendProgress is the progress a delivered bill is queued again with
// when reconciliation finds that the platform lacks it (the one-click
// resend of a finding). The split and its bill codes are kept, so the
// platform, which keys bills by bill_code, sees the same bills; every
// part is marked in doubt ("sending"), so the next attempt looks each up
// first (query.upbilldetail) and uploads only those the platform does not
// hold — a part it holds is never sent twice.
func ResendProgress(delivered string) (string, error) {
	p, ok, err := parseProgress(delivered)
	if err != nil {
		return "", fmt.Errorf("resending: %w", err)
	}
	if !ok || len(p.Parts) == 0 {
		return "", fmt.Errorf("resending: the delivery has no recorded parts to send again")
	}
	for i := range p.Parts {
		pp := &p.Parts[i]
		*pp = partProgress{Code: pp.Code, N: pp.N, Sum: pp.Sum, State: stateSending}
	}
	return p.encode(), nil
}
