package sandbox

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"time"
	"unicode/utf8"
)

// isRowQuery tells the query interfaces rowquery.go answers.
func isRowQuery(infno string) bool {
	switch infno {
	case infPurchaseQuery, infSaleQuery, infStockQuery, infChangeQuery:
		return true
	}
	return false
}

// serveRowQuery answers 3510 商品采购查询 (the 3503/3504 rows), 3511
// 商品销售查询 (the 3505/3506 rows), 3508 (the 3501 stock-take rows) and
// 3509 (the 3502 stock-change rows) from the ledger: one record per row in
// force that matches the query. Read-only; the answer is kept under the
// msgid like any other. LoseRow and ChangeCode act on these rows too.
func (s *Server) serveRowQuery(req *fsiReq, received, now time.Time) []byte {
	fields, kinds := purchaseQueryFields(), []string{infPurchase, infPurchaseReturn}
	switch req.infno {
	case infSaleQuery:
		fields, kinds = saleQueryFields(), []string{infSale, infSaleReturn}
	case infStockQuery:
		fields, kinds = stockQueryFields(), []string{infStockTake}
	case infChangeQuery:
		fields, kinds = changeQueryFields(), []string{infStockChange}
	}
	q, unknown, e := s.parseRowQuery(req, fields)
	s.noteUnknown(unknown)
	s.mu.Lock()
	if rec := s.msgids[req.msgid]; rec != nil {
		s.mu.Unlock()
		return s.replay(req, received, rec)
	}
	ref := s.nextRefLocked(req.inst.Admdvs)
	var ans []byte
	if e != nil {
		s.stats.Rejected[e.reason]++
		ans = s.answerLocked(ref, received, e, "", nil)
	} else {
		ans = s.answerLocked(ref, received, nil, "", s.rowRecordsLocked(req.inst, q, kinds))
	}
	s.storeLocked(req, ans, now)
	s.mu.Unlock()
	return ans
}

// rowQuery is a checked 3508-3511 query.
type rowQuery struct {
	bchno, listID, medList, valid string
	chgType                       string // 3509 inv_chg_type filter
	from, to                      time.Time
}

// queryNode checks a query's data node: declared fields only (others are
// noted), strings within their lengths, the required ones given, and
// fixmedins_code that of the caller. It answers the node's strings.
func (s *Server) queryNode(req *fsiReq, fields []field) (map[string]string, []string, *fsiErr) {
	kinds, lens, required := tableOf(fields)
	var in map[string]json.RawMessage
	if err := json.Unmarshal(req.input, &in); err != nil || in == nil {
		return nil, nil, refuse(reasonInvalidInput, "input应为JSON对象")
	}
	var unknown []string
	for _, k := range slices.Sorted(maps.Keys(in)) {
		if k != nodeDelete {
			unknown = append(unknown, "input."+k)
		}
	}
	raw := bytes.TrimSpace(in[nodeDelete])
	if len(raw) == 0 || isNull(raw) {
		return nil, unknown, refuse(reasonMissingNode, "input缺少节点%s", nodeDelete)
	}
	var m map[string]json.RawMessage
	if raw[0] != '{' || json.Unmarshal(raw, &m) != nil {
		return nil, unknown, refuse(reasonInvalidRow, "节点%s应为JSON对象", nodeDelete)
	}
	strs := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if kinds[k] == kindNone {
			unknown = append(unknown, nodeDelete+"."+k)
			continue
		}
		if isNull(m[k]) {
			continue
		}
		var v string
		if json.Unmarshal(m[k], &v) != nil {
			return nil, unknown, refuse(reasonWrongType, "%s.%s应为字符串", nodeDelete, k)
		}
		if n := lens[k]; n > 0 && utf8.RuneCountInString(v) > n {
			return nil, unknown, refuse(reasonTooLong, "%s.%s超长(最多%d个字符)", nodeDelete, k, n)
		}
		strs[k] = v
	}
	for _, k := range required {
		if strs[k] == "" {
			return nil, unknown, refuse(reasonMissingField, "%s必填字段缺失: %s", nodeDelete, k)
		}
	}
	if strs["fixmedins_code"] != req.inst.FixmedinsCode {
		return nil, unknown, refuse(reasonUnknownInst, "%s.fixmedins_code[%s]与请求的定点医药机构编号不符", nodeDelete, strs["fixmedins_code"])
	}
	return strs, unknown, nil
}

// parseRowQuery checks the data node (queryNode), begndate and enddate
// valid and in order, and one of medins_list_codg and fixmedins_bchno.
func (s *Server) parseRowQuery(req *fsiReq, fields []field) (rowQuery, []string, *fsiErr) {
	strs, unknown, ferr := s.queryNode(req, fields)
	if ferr != nil {
		return rowQuery{}, unknown, ferr
	}
	if strs["medins_list_codg"] == "" && strs["fixmedins_bchno"] == "" {
		return rowQuery{}, unknown, refuse(reasonMissingField, "医药机构目录编码、定点医药机构批次流水号中,必须传其中一个字段")
	}
	q := rowQuery{bchno: strs["fixmedins_bchno"], listID: strs["medins_list_codg"], medList: strs["med_list_codg"], valid: strs["vali_flag"], chgType: strs["inv_chg_type"]}
	var err1, err2 error
	q.from, err1 = time.ParseInLocation(dateLayout, strs["begndate"], s.cst)
	q.to, err2 = time.ParseInLocation(dateLayout, strs["enddate"], s.cst)
	if err1 != nil || err2 != nil {
		return rowQuery{}, unknown, refuse(reasonInvalidDate, "begndate[%s]或enddate[%s]格式错误: 应为yyyy-MM-dd", strs["begndate"], strs["enddate"])
	}
	if q.to.Before(q.from) {
		return rowQuery{}, unknown, refuse(reasonInvalidDate, "enddate[%s]早于begndate[%s]", strs["enddate"], strs["begndate"])
	}
	return q, unknown, nil
}

// rowRecordsLocked lists the rows of the interfaces infnos that q matches,
// in ledger order, as 3510, 3511, 3508 or 3509 records.
func (s *Server) rowRecordsLocked(inst *institution, q rowQuery, infnos []string) []any {
	out := []any{}
	if q.valid != "" && q.valid != "1" {
		return out // only rows in force are kept here
	}
	for i, r := range s.rows {
		if !slices.Contains(infnos, r.Infno) || r.Deleted || r.FixmedinsCode != inst.FixmedinsCode {
			continue
		}
		e := inst.active[r.Bchno]
		if e == nil || e.idx != i {
			continue
		}
		day := r.At.In(s.cst)
		day = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, s.cst)
		if day.Before(q.from) || day.After(q.to) {
			continue
		}
		if (q.bchno != "" && q.bchno != r.Bchno) || (q.listID != "" && q.listID != e.row.hilistID) ||
			(q.medList != "" && q.medList != e.row.medList) || (q.chgType != "" && q.chgType != e.row.changeType) {
			continue
		}
		at := r.At.In(s.cst).Format(timeLayout)
		switch r.Infno {
		case infPurchase, infPurchaseReturn:
			flag := "0"
			if r.Infno == infPurchaseReturn {
				flag = "1"
			}
			out = append(out, purchaseRecord{FixmedinsCode: inst.FixmedinsCode, MedListCodg: e.row.medList,
				MedinsListCodg: e.row.hilistID, MedinsListName: e.row.hilistName, FixmedinsBchno: r.Bchno,
				MedinsProdPurcNo: e.row.refNo, ProdRetnFlag: flag, PurcRetnCnt: e.row.countF, OptTime: at, ValiFlag: "1"})
		case infStockTake:
			out = append(out, stockRecord{FixmedinsCode: inst.FixmedinsCode, MedListCodg: e.row.medList,
				MedinsListCodg: e.row.hilistID, MedinsListName: e.row.hilistName, FixmedinsBchno: r.Bchno,
				InvCnt: e.row.countF, TrdnFlag: e.row.trdn, OptTime: at, ValiFlag: "1"})
		case infStockChange:
			out = append(out, changeRecord{FixmedinsCode: inst.FixmedinsCode, MedListCodg: e.row.medList,
				MedinsListCodg: e.row.hilistID, MedinsListName: e.row.hilistName, FixmedinsBchno: r.Bchno,
				InvChgType: e.row.changeType, Cnt: e.row.countF, TrdnFlag: e.row.trdn, OptTime: at, ValiFlag: "1"})
		default:
			out = append(out, saleRecord{FixmedinsCode: inst.FixmedinsCode, MedListCodg: e.row.medList,
				MedinsListCodg: e.row.hilistID, MedinsListName: e.row.hilistName, FixmedinsBchno: r.Bchno,
				MedinsProdSelNo: e.row.refNo, SelRetnCnt: e.row.countF, TrdnFlag: e.row.trdn, OptTime: at, ValiFlag: "1"})
		}
	}
	return out
}
