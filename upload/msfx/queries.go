package msfx

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

const (
	// statusPageSize and maxStatusPages bound one billstatus lookup: rows
	// are filtered by bill_code, so a handful is expected.
	statusPageSize = 50
	maxStatusPages = 10
	// partPageSize is the page size of listbillprocesspartsuccess; pages
	// are bounded by the part's code count.
	partPageSize = 100
	// defaultListPageSize is ListUpOut's page size when none is given.
	defaultListPageSize = 50
)

// ListUpOutOptions narrows ListUpOut. Zero values are not sent.
type ListUpOutOptions struct {
	// FromUserID is the supplier's ent_id.
	FromUserID string
	// BillType, PhysicType (2 特药, 3 普药) and Status (1 未确认, 2 已确认)
	// filter rows when non-zero.
	BillType, PhysicType, Status int
	// BillCode and ProduceBatchNo filter rows when non-empty.
	BillCode, ProduceBatchNo string
	// Page is 1-based (1 if zero); PageSize defaults to 50.
	Page, PageSize int
}

// QueryUpBillCode finds the supplier bills a scanned code arrived on
// (lsyd.query.upbillcode). Not found is an empty list.
func (c *Client) QueryUpBillCode(ctx context.Context, code string) ([]wire.UpstreamBill, error) {
	var r wire.UpBillCodeResult
	found, e := c.query(ctx, wire.MethodQueryUpBillCode, map[string]string{wire.PCode: code, wire.PRefEntID: c.refEntID}, &r)
	if e != nil || !found {
		return nil, asErr(e)
	}
	return r.Rows(), nil
}

// ListUpOut lists one page of upstream outbound bills for this store
// between the days of begin and end (China time), lsyd.listupout.
func (c *Client) ListUpOut(ctx context.Context, begin, end time.Time, o ListUpOutOptions) (*wire.Page[wire.UpOutRow], error) {
	page, size := max(o.Page, 1), o.PageSize
	if size <= 0 {
		size = defaultListPageSize
	}
	p := map[string]string{
		wire.PRefEntID:     c.refEntID,
		wire.PBeginDate:    begin.In(c.zone).Format(wire.DayLayout),
		wire.PEndDate:      end.In(c.zone).Format(wire.DayLayout),
		wire.PFromUserID:   o.FromUserID,
		wire.PBillType:     itoa(o.BillType),
		wire.PPhysicType:   itoa(o.PhysicType),
		wire.PStatus:       itoa(o.Status),
		wire.PBillCode:     o.BillCode,
		"produce_batch_no": o.ProduceBatchNo,
		wire.PPage:         strconv.Itoa(page),
		wire.PPageSize:     strconv.Itoa(size),
	}
	var r wire.ListUpOutResult
	found, e := c.query(ctx, wire.MethodListUpOut, p, &r)
	if e != nil {
		return nil, e
	}
	out := &wire.Page[wire.UpOutRow]{Page: wire.Int64(page), PageSize: wire.Int64(size)}
	if found && r.Model != nil {
		out.ResultList, out.TotalNum, out.Pages = r.Model.ResultList, wire.Int64(r.Model.Total()), r.Model.Pages
	}
	return out, nil
}

// QueryBillStatus returns the processing status rows of this store's
// bills matching billCode, created between the days of begin and end
// (China time), lsyd.query.billstatus. The platform may match bill_code
// loosely: callers filter rows by exact code.
func (c *Client) QueryBillStatus(ctx context.Context, billCode string, begin, end time.Time) ([]wire.BillStatusRow, error) {
	m := wire.MethodQueryBillStatus
	var all []wire.BillStatusRow
	for page := 1; page <= maxStatusPages; page++ {
		var r wire.BillStatusResult
		found, e := c.query(ctx, m, map[string]string{
			wire.PRefEntID:  c.refEntID,
			wire.PBeginDate: begin.In(c.zone).Format(wire.DayLayout),
			wire.PEndDate:   end.In(c.zone).Format(wire.DayLayout),
			wire.PBillType:  wire.BillTypeAllForStatus,
			wire.PBillCode:  billCode,
			wire.PPage:      strconv.Itoa(page),
			wire.PPageSize:  strconv.Itoa(statusPageSize),
		}, &r)
		if e != nil {
			return nil, e
		}
		if !found || r.Model == nil {
			break
		}
		rows := r.Model.ResultList
		all = append(all, rows...)
		if len(rows) < statusPageSize || len(all) >= r.Model.Total() {
			break
		}
	}
	return all, nil
}

// QueryUpBillDetail looks up one of this store's uploaded bills by its
// exact bill_code (lsyd.query.upbilldetail). Not found
// (FAIL_BIZ_NO_PAT_INFO) is (nil, false, nil).
func (c *Client) QueryUpBillDetail(ctx context.Context, billCode string) (*wire.BillDetail, bool, error) {
	d, found, e := c.queryUpBillDetail(ctx, billCode)
	if e != nil {
		return nil, false, e
	}
	return d, found, nil
}

func (c *Client) queryUpBillDetail(ctx context.Context, billCode string) (*wire.BillDetail, bool, *Error) {
	m := wire.MethodQueryUpBillDetail
	var r wire.UpBillDetailResult
	found, e := c.query(ctx, m, map[string]string{wire.PBillCode: billCode, wire.PRefEntID: c.refEntID}, &r)
	if e != nil || !found {
		return nil, false, e
	}
	d, ok := r.Model.First()
	if !ok {
		// SUCCESS without a model: not a usable "found".
		return nil, false, &Error{Method: m, Class: upload.Retry, Msg: "SUCCESS without a bill in the answer"}
	}
	if d.BillCode != "" && string(d.BillCode) != billCode {
		return nil, false, &Error{Method: m, Class: upload.Retry,
			Msg: fmt.Sprintf("asked for bill_code %q, the answer is for %q", billCode, clip(string(d.BillCode)))}
	}
	return &d, true, nil
}

// QueryCodeDetail returns the platform's information on codes
// (lsyd.query.codedetail), at most wire.MaxCodesPerCodeDetail per call.
func (c *Client) QueryCodeDetail(ctx context.Context, codes []string) ([]wire.CodeInfo, error) {
	m := wire.MethodQueryCodeDetail
	var all []wire.CodeInfo
	for start := 0; start < len(codes); start += wire.MaxCodesPerCodeDetail {
		batch := codes[start:min(start+wire.MaxCodesPerCodeDetail, len(codes))]
		var r wire.CodeDetailResult
		found, e := c.query(ctx, m, map[string]string{wire.PCodes: strings.Join(batch, ","), wire.PRefEntID: c.refEntID}, &r)
		if e != nil {
			return nil, fmt.Errorf("codes %d–%d of %d: %w", start+1, start+len(batch), len(codes), e)
		}
		if found {
			all = append(all, r.Rows()...)
		}
	}
	return all, nil
}

// QueryRelation returns a code's package relations (lsyd.query.relation);
// only codes that went through an inbound bill are known.
func (c *Client) QueryRelation(ctx context.Context, code string) ([]wire.Relation, error) {
	var r wire.RelationResult
	found, e := c.query(ctx, wire.MethodQueryRelation, map[string]string{wire.PCode: code, wire.PRefEntID: c.refEntID, wire.PDesRefEntID: c.refEntID}, &r)
	if e != nil || !found {
		return nil, asErr(e)
	}
	return r.Rows(), nil
}

// ListBillProcessPartSuccess returns every code of a partially processed
// bill that failed, with the platform's reasons
// (lsyd.listbillprocesspartsuccess), collecting all pages.
func (c *Client) ListBillProcessPartSuccess(ctx context.Context, billCode string) ([]wire.PartFailure, error) {
	rows, e := c.listPartFailures(ctx, billCode, 0)
	if e != nil {
		return nil, e
	}
	return rows, nil
}

// listPartFailures pages through listbillprocesspartsuccess (rows at
// model.result, the page count at model.pages). expect, the codes sent,
// bounds the pages; 0 means wire.MaxCodesPerUpload.
func (c *Client) listPartFailures(ctx context.Context, billCode string, expect int) ([]wire.PartFailure, *Error) {
	m := wire.MethodListBillProcessPartSuccess
	if expect <= 0 {
		expect = wire.MaxCodesPerUpload
	}
	maxPages := expect/partPageSize + 2
	var all []wire.PartFailure
	for page := 1; page <= maxPages; page++ {
		var r wire.PartSuccessResult
		found, e := c.query(ctx, m, map[string]string{
			wire.PRefEntID: c.refEntID, wire.PBillCode: billCode,
			wire.PPage: strconv.Itoa(page), wire.PPageSize: strconv.Itoa(partPageSize),
		}, &r)
		if e != nil {
			return nil, e
		}
		if !found || r.Model == nil {
			break
		}
		rows := r.Model.ResultList
		all = append(all, rows...)
		switch {
		case r.Model.Pages > 0:
			// The platform says how many pages there are.
			if page >= int(r.Model.Pages) {
				return all, nil
			}
		case len(rows) < partPageSize || len(all) >= r.Model.Total():
			return all, nil
		}
		if len(rows) == 0 {
			break
		}
	}
	return all, nil
}

// GetEntInfoList resolves enterprises (ent_id, ref_ent_id) by name,
// org code (统一社会信用代码) or id (drug.lsyd.getentinfolist), asked as this
// store (ref_ent_id, required by the SDK). Not found is an empty list.
func (c *Client) GetEntInfoList(ctx context.Context, q wire.EntQuery) ([]wire.EntInfo, error) {
	m := wire.MethodGetEntInfoList
	qp, err := json.Marshal(q)
	if err != nil {
		return nil, fmt.Errorf("%s: encoding query_param: %w", shortMethod(m), err)
	}
	if string(qp) == "{}" {
		return nil, fmt.Errorf("%s: empty query: give a name, org code, medical code or id", shortMethod(m))
	}
	var r wire.EntInfoResult
	found, e := c.query(ctx, m, map[string]string{wire.PRefEntID: c.refEntID, wire.PQueryParam: string(qp)}, &r)
	if e != nil || !found {
		return nil, asErr(e)
	}
	return r.Rows(), nil
}

// itoa renders n, or "" (not sent) for zero.
func itoa(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// asErr turns a nil *Error into a nil error (not a non-nil interface
// holding a nil pointer).
func asErr(e *Error) error {
	if e == nil {
		return nil
	}
	return e
}
