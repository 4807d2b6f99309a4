package msfx

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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
	m := wire.MethodQueryUpBillCode
	r, found, e := c.query(ctx, m, map[string]string{wire.PCode: code, wire.PRefEntID: c.refEntID})
	if e != nil {
		return nil, e
	}
	if !found {
		return nil, nil
	}
	rows, _, e := decodeList[wire.UpstreamBill](m, r)
	return rows, asErr(e)
}

// ListUpOut lists one page of upstream outbound bills for this store
// between the days of begin and end (China time), lsyd.listupout.
func (c *Client) ListUpOut(ctx context.Context, begin, end time.Time, o ListUpOutOptions) (*wire.Page[wire.UpOutRow], error) {
	m := wire.MethodListUpOut
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
	r, found, e := c.query(ctx, m, p)
	if e != nil {
		return nil, e
	}
	out := &wire.Page[wire.UpOutRow]{Page: wire.Int(page), PageSize: wire.Int(size)}
	if !found {
		return out, nil
	}
	rows, total, e := decodeList[wire.UpOutRow](m, r)
	if e != nil {
		return nil, e
	}
	out.ResultList, out.TotalNum = rows, wire.Int(total)
	return out, nil
}

// ListUpOutDetail returns an upstream bill with its codes
// (lsyd.listupout.detail). toRef defaults to this store's ref_ent_id.
// found is false when the platform does not know the bill.
func (c *Client) ListUpOutDetail(ctx context.Context, billCode, fromRef, toRef string) (*wire.UpOutDetail, bool, error) {
	m := wire.MethodListUpOutDetail
	if toRef == "" {
		toRef = c.refEntID
	}
	r, found, e := c.query(ctx, m, map[string]string{
		wire.PRefEntID: c.refEntID, wire.PBillCode: billCode, wire.PFromRefUserID: fromRef, wire.PToRefUserID: toRef,
	})
	if e != nil {
		return nil, false, e
	}
	if !found {
		return nil, false, nil
	}
	var d wire.UpOutDetail
	ok, e := decodeOne(m, r, &d)
	if e != nil || !ok {
		return nil, false, asErr(e)
	}
	return &d, true, nil
}

// QueryBillStatus returns the processing status rows of this store's
// bills matching billCode, created between the days of begin and end
// (China time), lsyd.query.billstatus. The platform may match bill_code
// loosely: callers filter rows by exact code.
func (c *Client) QueryBillStatus(ctx context.Context, billCode string, begin, end time.Time) ([]wire.BillStatusRow, error) {
	m := wire.MethodQueryBillStatus
	var all []wire.BillStatusRow
	for page := 1; page <= maxStatusPages; page++ {
		r, found, e := c.query(ctx, m, map[string]string{
			wire.PRefEntID:  c.refEntID,
			wire.PBeginDate: begin.In(c.zone).Format(wire.DayLayout),
			wire.PEndDate:   end.In(c.zone).Format(wire.DayLayout),
			wire.PBillType:  wire.BillTypeAllForStatus,
			wire.PBillCode:  billCode,
			wire.PPage:      strconv.Itoa(page),
			wire.PPageSize:  strconv.Itoa(statusPageSize),
		})
		if e != nil {
			return nil, e
		}
		if !found {
			break
		}
		rows, total, e := decodeList[wire.BillStatusRow](m, r)
		if e != nil {
			return nil, e
		}
		all = append(all, rows...)
		if len(rows) < statusPageSize || len(all) >= total {
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
	r, found, e := c.query(ctx, m, map[string]string{wire.PBillCode: billCode, wire.PRefEntID: c.refEntID})
	if e != nil || !found {
		return nil, false, e
	}
	var d wire.BillDetail
	ok, e := decodeOne(m, r, &d)
	if e != nil {
		return nil, false, e
	}
	if !ok {
		// SUCCESS without a model: not a usable "found".
		return nil, false, &Error{Method: m, Class: upload.Retry, Msg: "SUCCESS without a bill in the answer"}
	}
	if d.BillCode != "" && d.BillCode != billCode {
		return nil, false, &Error{Method: m, Class: upload.Retry,
			Msg: fmt.Sprintf("asked for bill_code %q, the answer is for %q", billCode, clip(d.BillCode))}
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
		r, found, e := c.query(ctx, m, map[string]string{wire.PCodes: strings.Join(batch, ","), wire.PRefEntID: c.refEntID})
		if e != nil {
			return nil, fmt.Errorf("codes %d–%d of %d: %w", start+1, start+len(batch), len(codes), e)
		}
		if !found {
			continue
		}
		rows, _, e := decodeList[wire.CodeInfo](m, r)
		if e != nil {
			return nil, e
		}
		all = append(all, rows...)
	}
	return all, nil
}

// QueryRelation returns a code's package relations (lsyd.query.relation);
// only codes that went through an inbound bill are known.
func (c *Client) QueryRelation(ctx context.Context, code string) ([]wire.Relation, error) {
	m := wire.MethodQueryRelation
	r, found, e := c.query(ctx, m, map[string]string{wire.PCode: code, wire.PRefEntID: c.refEntID, wire.PDesRefEntID: c.refEntID})
	if e != nil {
		return nil, e
	}
	if !found {
		return nil, nil
	}
	rows, _, e := decodeList[wire.Relation](m, r)
	return rows, asErr(e)
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

// listPartFailures pages through listbillprocesspartsuccess. expect, the
// codes sent, bounds the pages; 0 means wire.MaxCodesPerUpload.
func (c *Client) listPartFailures(ctx context.Context, billCode string, expect int) ([]wire.PartFailure, *Error) {
	m := wire.MethodListBillProcessPartSuccess
	if expect <= 0 {
		expect = wire.MaxCodesPerUpload
	}
	maxPages := expect/partPageSize + 2
	var all []wire.PartFailure
	for page := 1; page <= maxPages; page++ {
		r, found, e := c.query(ctx, m, map[string]string{
			wire.PRefEntID: c.refEntID, wire.PBillCode: billCode,
			wire.PPage: strconv.Itoa(page), wire.PPageSize: strconv.Itoa(partPageSize),
		})
		if e != nil {
			return nil, e
		}
		if !found {
			break
		}
		rows, total, e := decodeList[wire.PartFailure](m, r)
		if e != nil {
			return nil, e
		}
		all = append(all, rows...)
		if len(rows) < partPageSize || len(all) >= total {
			break
		}
	}
	return all, nil
}

// GetEntInfoList resolves enterprises (ent_id, ref_ent_id) by name,
// org code (统一社会信用代码) or id (drug.lsyd.getentinfolist). Not found is
// an empty list.
func (c *Client) GetEntInfoList(ctx context.Context, q wire.EntQuery) ([]wire.EntInfo, error) {
	m := wire.MethodGetEntInfoList
	qp, err := json.Marshal(q)
	if err != nil {
		return nil, fmt.Errorf("%s: encoding query_param: %w", shortMethod(m), err)
	}
	if string(qp) == "{}" {
		return nil, fmt.Errorf("%s: empty query: give a name, org code, medical code or id", shortMethod(m))
	}
	r, found, e := c.query(ctx, m, map[string]string{wire.PQueryParam: string(qp)})
	if e != nil {
		return nil, e
	}
	if !found {
		return nil, nil
	}
	rows, _, e := decodeList[wire.EntInfo](m, r)
	return rows, asErr(e)
}

// decodeList reads a list payload leniently, because the list queries do
// not agree on where they put it: model_list, models or model, each as an
// array, a page object ({result_list, total_num}) or a single object.
// total is the page's total_num, or the row count when there is none.
func decodeList[T any](method string, r *wire.QueryResult) (rows []T, total int, err *Error) {
	for _, raw := range []json.RawMessage{r.ModelList, r.Models, r.Model} {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
			continue
		}
		switch raw[0] {
		case '[':
			if err := json.Unmarshal(raw, &rows); err != nil {
				return nil, 0, badPayload(method, err, raw)
			}
			return rows, len(rows), nil
		case '{':
			var probe map[string]json.RawMessage
			if err := json.Unmarshal(raw, &probe); err != nil {
				return nil, 0, badPayload(method, err, raw)
			}
			if _, ok := probe["result_list"]; ok {
				var p wire.Page[T]
				if err := json.Unmarshal(raw, &p); err != nil {
					return nil, 0, badPayload(method, err, raw)
				}
				total := int(p.TotalNum)
				if total == 0 {
					total = len(p.ResultList)
				}
				return p.ResultList, total, nil
			}
			var one T
			if err := json.Unmarshal(raw, &one); err != nil {
				return nil, 0, badPayload(method, err, raw)
			}
			return []T{one}, 1, nil
		default:
			return nil, 0, badPayload(method, fmt.Errorf("unexpected payload"), raw)
		}
	}
	return nil, 0, nil
}

// decodeOne reads an object payload from model (or the first element of a
// list). ok is false when there is none.
func decodeOne[T any](method string, r *wire.QueryResult, v *T) (ok bool, err *Error) {
	rows, _, e := decodeList[T](method, r)
	if e != nil {
		return false, e
	}
	if len(rows) == 0 {
		return false, nil
	}
	*v = rows[0]
	return true, nil
}

// badPayload is an answer whose payload does not have the expected shape:
// a platform or contract change, retried so that nothing is lost meanwhile.
func badPayload(method string, err error, raw []byte) *Error {
	return transportErr(method, http.StatusOK, false, err, "unexpected payload (%v): %s", err, snippet(raw))
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
