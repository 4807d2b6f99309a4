package sandbox

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// Paging of list queries: page from 1, page_size 1–maxPageSize.
const (
	defaultPageSize = 20
	maxPageSize     = 100
)

func boolPtr(b bool) *wire.Bool { v := wire.Bool(b); return &v }

// queryOK answers a query with the result filled by set.
func queryOK(set func(r *wire.QueryResult)) reply {
	r := &wire.QueryResult{MsgCode: wire.MsgSuccess, ResponseSuccess: boolPtr(true)}
	set(r)
	return reply{body: &wire.QueryBody{Result: r}}
}

func queryFail(reason, msgCode, info string) reply {
	return reply{reason: reason, body: &wire.QueryBody{Result: &wire.QueryResult{MsgCode: msgCode, MsgInfo: info, ResponseSuccess: boolPtr(false)}}}
}

// notFound is the lookup answer "信息不存在": a normal answer, not counted
// as a rejection.
func notFound(info string) reply { return queryFail("", wire.MsgNoInfo, info) }

func raw(v any) json.RawMessage {
	data, err := json.Marshal(v)
	if err != nil {
		// Only the sandbox's own wire types are encoded.
		return json.RawMessage("null")
	}
	return data
}

// queryStart is the common head of the queries: busy fault, then the
// caller's own ref_ent_id.
func (s *Server) queryStart(c *call) (*Enterprise, *reply) {
	if c.busy {
		r := queryFail(reasonBusy, wire.MsgFail, wire.BusyText)
		return nil, &r
	}
	return s.owner(c, c.params[wire.PRefEntID], false)
}

// paging reads page and page_size.
func paging(p map[string]string) (page, size int, e *gwErr) {
	page, size = 1, defaultPageSize
	if v, ok := p[wire.PPage]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100000 {
			return 0, 0, invalidParam(reasonInvalidParam, wire.PPage, fmt.Sprintf("page %q must be a number from 1", v))
		}
		page = n
	}
	if v, ok := p[wire.PPageSize]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			return 0, 0, invalidParam(reasonInvalidParam, wire.PPageSize, fmt.Sprintf("page_size %q must be 1-%d", v, maxPageSize))
		}
		size = n
	}
	return page, size, nil
}

func pageOf[T any](rows []T, page, size int) wire.Page[T] {
	lo := min((page-1)*size, len(rows))
	hi := min(lo+size, len(rows))
	list := rows[lo:hi]
	if list == nil {
		list = []T{}
	}
	return wire.Page[T]{ResultList: list, TotalNum: wire.Int(len(rows)), Page: wire.Int(page), PageSize: wire.Int(size)}
}

// dateRange reads begin_date and end_date: yyyy-MM-dd (whole days) or
// yyyy-MM-dd HH:mm:ss, China time, begin ≤ end.
func dateRange(p map[string]string) (from, to time.Time, e *gwErr) {
	parse := func(name string, end bool) (time.Time, *gwErr) {
		v := p[name]
		if t, err := time.ParseInLocation(wire.DayLayout, v, chinaTime); err == nil {
			if end {
				t = t.AddDate(0, 0, 1).Add(-time.Nanosecond)
			}
			return t, nil
		}
		if t, err := time.ParseInLocation(wire.DateLayout, v, chinaTime); err == nil {
			return t, nil
		}
		return time.Time{}, invalidParam(reasonInvalidParam, name, fmt.Sprintf("%s %q must be %q or %q", name, v, wire.DayLayout, wire.DateLayout))
	}
	if from, e = parse(wire.PBeginDate, false); e != nil {
		return
	}
	if to, e = parse(wire.PEndDate, true); e != nil {
		return
	}
	if to.Before(from) {
		e = invalidParam(reasonInvalidParam, wire.PEndDate, "end_date is before begin_date")
	}
	return
}

func fmtTime(t time.Time) string { return t.In(chinaTime).Format(wire.DateLayout) }

// drugLine groups an upstream bill's codes by product.
type drugLine struct {
	product *Product
	codes   []string
	units   int // smallest units: a case counts CaseSize
}

func (s *Server) linesOf(b *UpstreamBill) []*drugLine {
	var lines []*drugLine
	for _, c := range b.Codes {
		ci := s.world.code(c, false)
		var l *drugLine
		for _, x := range lines {
			if x.product == ci.product {
				l = x
			}
		}
		if l == nil {
			l = &drugLine{product: ci.product}
			lines = append(lines, l)
		}
		l.codes = append(l.codes, c)
		if ci.isCase {
			l.units += ci.product.CaseSize
		} else {
			l.units++
		}
	}
	return lines
}

// confirmedLocked tells whether the receiver has taken an upstream bill in:
// every code went through one of its inbound bills, itself, its case, or
// (for a case) all of its boxes. s.mu must be held.
func (s *Server) confirmedLocked(st *entState, b *UpstreamBill) bool {
	if st == nil {
		return false
	}
	for _, c := range b.Codes {
		ci := s.world.code(c, false)
		if st.inbound[ci.key] || (ci.parent != "" && st.inbound[ci.parent]) {
			continue
		}
		if len(ci.children) == 0 {
			return false
		}
		for _, ch := range ci.children {
			if !st.inbound[ch] {
				return false
			}
		}
	}
	return true
}

// queryUpBillCode is lsyd.query.upbillcode: the upstream bills addressed
// to the caller that carry the code (or the case holding it).
func (s *Server) queryUpBillCode(c *call) reply {
	own, r := s.queryStart(c)
	if r != nil {
		return *r
	}
	code := c.params[wire.PCode]
	ci := s.world.code(code, false)
	var rows []wire.UpstreamBill
	if ci.errKey == "" {
		for _, b := range s.world.upstreamFor(own.RefEntID) {
			if !s.billHolds(b, ci) {
				continue
			}
			from, to := s.world.entByRef(b.FromRefEntID), s.world.entByRef(b.ToRefEntID)
			rows = append(rows, wire.UpstreamBill{BillCode: b.BillCode, BillTime: fmtTime(b.BillTime), BillType: wire.Int(b.BillType),
				FromUserID: from.EntID, FromRefUserID: from.RefEntID, FromUserName: from.Name,
				ToUserID: to.EntID, ToRefUserID: to.RefEntID, ToUserName: to.Name, RefUserID: from.RefEntID})
		}
	}
	// This method answers "success" rather than "response_success".
	if len(rows) == 0 {
		return reply{body: &wire.QueryBody{Result: &wire.QueryResult{MsgCode: wire.MsgNoInfo, Success: boolPtr(false),
			MsgInfo: "信息不存在：未找到含追溯码 " + code + " 的上游出库单据"}}}
	}
	res := &wire.QueryResult{MsgCode: wire.MsgSuccess, Success: boolPtr(true), ModelList: raw(rows)}
	return reply{body: &wire.QueryBody{Result: res}}
}

// billHolds tells whether an upstream bill carries the pack or its case
// (GS1 codes compare by identity, whatever optional AIs they carry).
func (s *Server) billHolds(b *UpstreamBill, ci codeInfo) bool {
	for _, c := range b.Codes {
		if k := s.world.code(c, false).key; k == ci.key || (ci.parent != "" && k == ci.parent) {
			return true
		}
	}
	return false
}

// listUpOut is lsyd.listupout: one row per drug line of the upstream
// outbound bills addressed to the caller within the date range.
func (s *Server) listUpOut(c *call) reply {
	p := c.params
	from, to, e := dateRange(p)
	if e == nil {
		e = intParam(p, wire.PBillType, wire.PPhysicType, wire.PStatus)
	}
	page, size, pe := paging(p)
	if e == nil {
		e = pe
	}
	if e != nil {
		return reply{err: e}
	}
	own, r := s.queryStart(c)
	if r != nil {
		return *r
	}
	s.mu.Lock()
	st := s.ents[own.RefEntID]
	var rows []wire.UpOutRow
	for _, b := range s.world.upstreamFor(own.RefEntID) {
		if b.BillTime.Before(from) || b.BillTime.After(to) {
			continue
		}
		shipper := s.world.entByRef(b.FromRefEntID)
		status := 1
		if s.confirmedLocked(st, b) {
			status = 2
		}
		if !matches(p, wire.PFromUserID, shipper.EntID) || !matches(p, wire.PBillCode, b.BillCode) ||
			!matches(p, wire.PBillType, strconv.Itoa(b.BillType)) || !matches(p, wire.PStatus, strconv.Itoa(status)) {
			continue
		}
		for _, l := range s.linesOf(b) {
			pr := l.product
			if !matches(p, wire.PPhysicType, strconv.Itoa(pr.physicType())) || !matches(p, "produce_batch_no", pr.Batch) ||
				!matches(p, "drug_ent_base_info_id", pr.Prefix+pr.GTIN) {
				continue
			}
			rows = append(rows, wire.UpOutRow{BillCode: b.BillCode, BillType: wire.Int(b.BillType), BillTime: fmtTime(b.BillTime),
				BillOutID: b.BillOutID, PhysicName: pr.Name, PkgSpec: pr.PkgSpec, PrepnSpec: pr.PrepnSpec,
				ProduceBatchNo: pr.Batch, ProduceDate: pr.ProduceDate, ExpireDate: pr.ExpireDate,
				CodeCount: wire.Int(l.units), PrepnCount: wire.Int(l.units), Status: wire.Int(status),
				FromUserID: shipper.EntID, FromUserName: shipper.Name, ToUserID: own.EntID})
		}
	}
	s.mu.Unlock()
	return queryOK(func(r *wire.QueryResult) { r.Model = raw(pageOf(rows, page, size)) })
}

// matches tells whether an optional filter parameter is absent or equal.
func matches(p map[string]string, name, v string) bool {
	f, ok := p[name]
	return !ok || f == v
}

// intParam checks that optional numeric filters are numbers.
func intParam(p map[string]string, names ...string) *gwErr {
	for _, n := range names {
		if v, ok := p[n]; ok && (len(v) > 9 || !allDigits(v)) {
			return invalidParam(reasonInvalidParam, n, fmt.Sprintf("%s %q must be a number", n, v))
		}
	}
	return nil
}

// listUpOutDetail is lsyd.listupout.detail: one upstream bill with its
// drug lines and codes.
func (s *Server) listUpOutDetail(c *call) reply {
	own, r := s.queryStart(c)
	if r != nil {
		return *r
	}
	p := c.params
	if v, ok := p[wire.PToRefUserID]; ok && v != own.RefEntID {
		return queryFail(reasonAuth, wire.MsgAuthError, "to_ref_user_id "+v+" 不是本企业，无权查看")
	}
	for _, b := range s.world.upstreamFor(own.RefEntID) {
		if b.BillCode != p[wire.PBillCode] || !matches(p, wire.PFromRefUserID, b.FromRefEntID) {
			continue
		}
		shipper := s.world.entByRef(b.FromRefEntID)
		d := wire.UpOutDetail{BillCode: b.BillCode, BillType: wire.Int(b.BillType), BillTime: fmtTime(b.BillTime),
			FromRefUserID: shipper.RefEntID, ToRefUserID: own.RefEntID, FromUserID: shipper.EntID, ToUserID: own.EntID}
		for _, l := range s.linesOf(b) {
			pr := l.product
			d.Drugs = append(d.Drugs, wire.DrugLine{PhysicName: pr.Name, PkgSpec: pr.PkgSpec, ProduceBatchNo: pr.Batch,
				ProduceDate: pr.ProduceDate, ExpireDate: pr.ExpireDate, CodeCount: wire.Int(l.units), Codes: l.codes})
		}
		return queryOK(func(r *wire.QueryResult) { r.Model = raw(d) })
	}
	return notFound("信息不存在：无上游出库单据 " + p[wire.PBillCode])
}

// queryBillStatus is lsyd.query.billstatus over the caller's own uploads,
// by upload date. Every bill matching the filters other than deal_status
// counts one poll, which is what moves it towards its final result.
func (s *Server) queryBillStatus(c *call) reply {
	p := c.params
	from, to, e := dateRange(p)
	side := p[wire.PBillType]
	if e == nil && side != wire.BillTypeAllForStatus && side != wire.BillTypeInForStatus && side != wire.BillTypeOutForStatus {
		e = invalidParam(reasonInvalidParam, wire.PBillType, fmt.Sprintf("bill_type %q must be A, AI or AO", side))
	}
	if v, ok := p[wire.PDealStatus]; e == nil && ok && !slices.Contains([]string{"0", "1", "3", "4"}, v) {
		e = invalidParam(reasonInvalidParam, wire.PDealStatus, fmt.Sprintf("deal_status %q must be 0, 1, 3 or 4", v))
	}
	page, size, pe := paging(p)
	if e == nil {
		e = pe
	}
	if e != nil {
		return reply{err: e}
	}
	own, r := s.queryStart(c)
	if r != nil {
		return *r
	}
	now := s.now()
	s.mu.Lock()
	var rows []wire.BillStatusRow
	if st := s.ents[own.RefEntID]; st != nil {
		candidates := st.order
		if code, ok := p[wire.PBillCode]; ok {
			// The usual question is about one bill: no need to walk them all.
			candidates = nil
			if b := st.bills[code]; b != nil {
				candidates = []*bill{b}
			}
		}
		for _, b := range candidates {
			if b.UploadedAt.Before(from) || b.UploadedAt.After(to) ||
				(side != wire.BillTypeAllForStatus && statusSide(b.BillType) != side) ||
				!matches(p, wire.PBillCode, b.BillCode) || !matches(p, wire.PFromUserID, b.From) || !matches(p, wire.PToUserID, b.To) {
				continue
			}
			b.poll(s.processAfter, now)
			if v, ok := p[wire.PDealStatus]; ok && !dealMatches(v, b.Result) {
				continue
			}
			row := wire.BillStatusRow{BillCode: b.BillCode, BillType: wire.Int(b.BillType), ResultType: wire.Int(b.Result),
				UploadFileName: uploadFileName(b)}
			if b.final {
				row.ProcessInfo, row.ProcessDate = b.ProcessInfo, fmtTime(b.ProcessedAt)
			}
			rows = append(rows, row)
		}
	}
	s.mu.Unlock()
	return queryOK(func(r *wire.QueryResult) { r.Model = raw(pageOf(rows, page, size)) })
}

// dealMatches applies the deal_status filter: 0/1 select bills not yet
// final, 3 and 4 the final results.
func dealMatches(v string, result int) bool {
	switch v {
	case "0", "1":
		return result == wire.ResultProcessing || result == wire.ResultUploaded
	}
	return v == strconv.Itoa(result)
}

func uploadFileName(b *bill) string { return "top_" + b.QueueID + ".txt" }

// queryUpBillDetail is lsyd.query.upbilldetail: one of the caller's own
// uploads by exact bill_code, with the codes the platform took.
func (s *Server) queryUpBillDetail(c *call) reply {
	own, r := s.queryStart(c)
	if r != nil {
		return *r
	}
	code := c.params[wire.PBillCode]
	s.mu.Lock()
	var d *wire.BillDetail
	if st := s.ents[own.RefEntID]; st != nil {
		if b := st.bills[code]; b != nil {
			d = &wire.BillDetail{BillCode: b.BillCode, BillType: wire.Int(b.BillType), BillTime: b.BillTime,
				FromUserID: b.From, ToUserID: b.To, Codes: slices.Clone(b.okCodes), UploadFileName: uploadFileName(b)}
			if d.Codes == nil {
				d.Codes = []string{}
			}
			if b.final {
				d.ProcessDate = fmtTime(b.ProcessedAt)
			}
		}
	}
	s.mu.Unlock()
	if d == nil {
		return notFound("信息不存在：本企业无单据 " + code)
	}
	return queryOK(func(r *wire.QueryResult) { r.Model = raw(d) })
}

// splitCodes reads a comma-joined code list of at most limit distinct entries.
func splitCodes(p map[string]string, name string, limit int) ([]string, *gwErr) {
	var out []string
	for i, c := range strings.Split(p[name], ",") {
		if c == "" {
			return nil, invalidParam(reasonInvalidParam, name, fmt.Sprintf("%s entry %d is empty", name, i+1))
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
		if len(out) > limit {
			return nil, invalidParam(reasonTooManyCodes, name, fmt.Sprintf("%s has more than %d codes", name, limit))
		}
	}
	return out, nil
}

// statusLocked is a code's platform status. s.mu must be held.
func (s *Server) statusLocked(ci codeInfo) string {
	switch {
	case ci.errKey != "":
		return wire.CodeNotExist
	case ci.cancelled:
		return wire.CodeCancelled
	case s.soldLocked(ci) && len(ci.children) == 0, s.sold[ci.key] != "":
		return wire.CodeSold
	case s.inboundAny[ci.key] || (ci.parent != "" && s.inboundAny[ci.parent]):
		return wire.CodeVerified
	}
	return wire.CodeActive
}

// queryCodeDetail is lsyd.query.codedetail for up to 1000 codes.
func (s *Server) queryCodeDetail(c *call) reply {
	codes, e := splitCodes(c.params, wire.PCodes, wire.MaxCodesPerCodeDetail)
	if e != nil {
		return reply{err: e}
	}
	if _, r := s.queryStart(c); r != nil {
		return *r
	}
	models := make([]wire.CodeInfo, 0, len(codes))
	s.mu.Lock()
	for _, code := range codes {
		ci := s.world.code(code, false)
		m := wire.CodeInfo{Code: code, Status: &wire.CodeStatus{CodeStatus: s.statusLocked(ci)}}
		if pr := ci.product; pr != nil {
			level, small, resProd := 1, 1, pr.Prefix
			if ci.isCase {
				level, small, resProd = 2, pr.CaseSize, pr.CasePrefix
			}
			m.Barcode69 = pr.Barcode69
			m.PkgRatio = "1"
			if pr.CaseSize > 0 {
				m.PkgRatio = "1:" + strconv.Itoa(pr.CaseSize)
			}
			m.PackageLevel = wire.Int(level)
			m.Produce = &wire.ProduceInfo{ProduceBatchNo: pr.Batch, ProduceDate: pr.ProduceDate, ExpireDate: pr.ExpireDate,
				PkgSpec: pr.PkgSpec, PhysicType: wire.Int(pr.physicType()), SmallPkgNum: wire.Int(small)}
			m.Drug = &wire.DrugBaseInfo{PhysicName: pr.Name, ProdEntName: pr.Maker, ApprovalLicn: pr.ApprovalNo, ResProdCode: resProd}
			m.Status.ParentCode = ci.parent
			m.Status.ChildCodes = slices.Clone(ci.children)
		}
		models = append(models, m)
	}
	s.mu.Unlock()
	return queryOK(func(r *wire.QueryResult) { r.Models = raw(models) })
}

// queryRelation is lsyd.query.relation: the package tree around a code
// that went through one of the caller's inbound bills (itself or its case).
func (s *Server) queryRelation(c *call) reply {
	own, r := s.queryStart(c)
	if r != nil {
		return *r
	}
	if v, ok := c.params[wire.PDesRefEntID]; ok && v != own.RefEntID {
		return queryFail(reasonAuth, wire.MsgAuthError, "des_ref_ent_id "+v+" 不是本企业，无权查询")
	}
	code := c.params[wire.PCode]
	ci := s.world.code(code, false)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.ents[own.RefEntID]
	if ci.errKey != "" || st == nil || (!st.inbound[ci.key] && (ci.parent == "" || !st.inbound[ci.parent])) {
		return notFound("信息不存在：只有做过入库的码，才能进行查询（" + code + "）")
	}
	top := ci
	if ci.parent != "" {
		top = s.world.code(ci.parent, false)
	}
	pr := top.product
	rows := []wire.Relation{s.relationLocked(top, top.key, pr)}
	for _, ch := range top.children {
		rows = append(rows, s.relationLocked(s.world.code(ch, false), ch, pr))
	}
	return queryOK(func(r *wire.QueryResult) { r.ModelList = raw(rows) })
}

func (s *Server) relationLocked(ci codeInfo, code string, pr *Product) wire.Relation {
	rel := wire.Relation{Code: code, ParentCode: ci.parent, CodeLevel: 1, CodePackLevel: 1, IsSmallest: true,
		Status: s.statusLocked(ci), BoxAmount: 1}
	switch {
	case ci.isCase:
		rel.CodePackLevel, rel.IsSmallest, rel.BoxAmount = 2, false, wire.Int(pr.CaseSize)
		rel.ChildCodes = slices.Clone(ci.children)
	case pr.CaseSize > 0:
		rel.CodeLevel = 2 // a box under a case level
	}
	return rel
}

// listPartSuccess is lsyd.listbillprocesspartsuccess: the failed codes of
// one of the caller's bills, once processed (before that, none).
func (s *Server) listPartSuccess(c *call) reply {
	page, size, e := paging(c.params)
	if e != nil {
		return reply{err: e}
	}
	own, r := s.queryStart(c)
	if r != nil {
		return *r
	}
	p := c.params
	s.mu.Lock()
	var b *bill
	if st := s.ents[own.RefEntID]; st != nil {
		b = st.bills[p[wire.PBillCode]]
	}
	var rows []wire.PartFailure
	final := b != nil && b.final
	if final {
		for _, f := range b.failures {
			if !matches(p, wire.PErrorCode, f.key) || !matches(p, wire.PCode, f.code) {
				continue
			}
			rows = append(rows, wire.PartFailure{Code: f.code, ErrorCode: f.key, ErrorCodeDesc: codeErrDesc(f.key),
				ProcessStatusReasonDesc: f.reason, LastProcessDateDesc: fmtTime(b.ProcessedAt)})
		}
	}
	s.mu.Unlock()
	if b == nil {
		return notFound("信息不存在：本企业无单据 " + p[wire.PBillCode])
	}
	return queryOK(func(r *wire.QueryResult) {
		r.Model = raw(pageOf(rows, page, size))
		if !final {
			r.MsgInfo = "单据处理中"
		}
	})
}

func codeErrDesc(key string) string {
	switch key {
	case wire.CodeErrNotActivated:
		return "码未激活"
	case wire.CodeErrFormat:
		return "码格式校验失败"
	case wire.CodeErrDuplicate:
		return "码重复"
	case wire.CodeErrCancelled:
		return "码已注销"
	case wire.CodeErrParentChild:
		return "码存在上下级关系"
	}
	return "其他"
}

// getEntInfoList is drug.lsyd.getentinfolist: enterprises matching every
// field of query_param (ent_name as a substring, the others exactly).
func (s *Server) getEntInfoList(c *call) reply {
	var q wire.EntQuery
	dec := json.NewDecoder(strings.NewReader(c.params[wire.PQueryParam]))
	dec.DisallowUnknownFields()
	err := dec.Decode(&q)
	if err == nil && dec.More() {
		err = fmt.Errorf("data after the object")
	}
	if err != nil {
		return reply{err: invalidParam(reasonInvalidParam, wire.PQueryParam, "query_param must be one JSON object of ent_name, org_code, medical_code, par_ref_ent_id, ent_id: "+err.Error())}
	}
	if q == (wire.EntQuery{}) {
		return reply{err: invalidParam(reasonInvalidParam, wire.PQueryParam, "query_param needs at least one of ent_name, org_code, medical_code, par_ref_ent_id, ent_id")}
	}
	if c.busy {
		return queryFail(reasonBusy, wire.MsgFail, wire.BusyText)
	}
	var rows []wire.EntInfo
	for _, e := range s.world.Enterprises() {
		if (q.EntName != "" && !strings.Contains(e.Name, q.EntName)) || (q.OrgCode != "" && q.OrgCode != e.OrgCode) ||
			q.MedicalCode != "" || (q.ParRefEntID != "" && q.ParRefEntID != e.ParRefEntID) || (q.EntID != "" && q.EntID != e.EntID) {
			continue
		}
		rows = append(rows, wire.EntInfo{EntID: e.EntID, RefEntID: e.RefEntID, EntName: e.Name, OrgCode: e.OrgCode,
			AuditStatus: 1, SettleStatus: 1})
	}
	if len(rows) == 0 {
		return notFound("信息不存在：无匹配企业")
	}
	return queryOK(func(r *wire.QueryResult) { r.ModelList = raw(rows) })
}
