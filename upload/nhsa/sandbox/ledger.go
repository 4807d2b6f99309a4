package sandbox

import (
	"slices"
	"strings"
	"time"
)

// institution is an Institution with its rows.
type institution struct {
	Institution
	active map[string]*entry // by fixmedins_bchno; rows not deleted
	// byRef finds the rows a 3504 or 3506 may name: key is infno + NUL +
	// the row's own medins_prod_purc_no / medins_prod_sel_no, or its
	// fixmedins_bchno.
	byRef map[string][]*entry
	// deleted holds bchnos deleted by 3507 and not taken again since.
	deleted map[string]bool
}

// entry is a row in force.
type entry struct {
	idx   int // in Server.rows
	infno string
	row   *row
	ref   *entry // 3504, 3506: the row returned against
	// 3503, 3505: what active returns took back.
	returned int64
	retCodes map[string]bool
	deps     int // active 3504/3506 rows naming this row
}

// applyLocked applies the business rules to a validated call and, if
// they pass, changes the ledger. Every check is done before any change,
// so a call applies whole or not at all. The server lock is held.
func (s *Server) applyLocked(req *fsiReq, rows []*row, ref string, now time.Time) *fsiErr {
	inst := req.inst
	if req.infno == infDelete {
		return s.deleteLocked(req, rows[0], ref, now)
	}
	for _, r := range rows {
		if msg, ok := s.refuse[r.bchno]; ok {
			return refuse(reasonRowRefused, "fixmedins_bchno[%s]: %s", r.bchno, msg)
		}
	}
	var dups, conflicts []string
	for _, r := range rows {
		if !s.uniqueBchno {
			break // the platform does not look: a taken bchno is recorded again
		}
		if e := inst.active[r.bchno]; e != nil {
			if e.infno == req.infno && e.row.content == r.content {
				dups = append(dups, r.bchno)
			} else {
				conflicts = append(conflicts, r.bchno)
			}
		}
	}
	switch {
	case len(conflicts) > 0:
		// Worded so as not to contain TextDuplicateNo: this row is
		// not there, another one is.
		return refuse(reasonBchnoConflict, "批次流水号冲突: fixmedins_bchno[%s]已用于内容不同的记录", strings.Join(conflicts, ","))
	case len(dups) == len(rows):
		return refuse(reasonDuplicateBchno, "%s: [%s]已上传", TextDuplicateNo, strings.Join(dups, ","))
	case len(dups) > 0:
		// A mixed call cannot be answered per row (output is empty), and
		// TextDuplicateNo would make the client drop the new rows.
		return refuse(reasonPartialDup, "部分记录已上传(批次流水号%s), 请单独上传其余记录", strings.Join(dups, ","))
	}

	plan := make([]*entry, len(rows))
	pendingCnt := make(map[*entry]int64)
	pendingCodes := make(map[*entry]map[string]bool)
	for i, r := range rows {
		e := &entry{infno: req.infno, row: r}
		switch req.infno {
		case infSale:
			if err := s.checkSoldLocked(r); err != nil {
				return err
			}
		case infPurchaseReturn, infSaleReturn:
			orig, err := findOriginal(inst, req.infno, r, pendingCnt, pendingCodes)
			if err != nil {
				return err
			}
			e.ref = orig
			pendingCnt[orig] += r.count
			if pendingCodes[orig] == nil {
				pendingCodes[orig] = make(map[string]bool)
			}
			for _, c := range r.codes {
				pendingCodes[orig][c] = true
			}
		}
		plan[i] = e
	}
	for _, e := range plan {
		s.addLocked(req, e, ref, now)
	}
	return nil
}

// checkSoldLocked enforces one code, one sale: a code held by a sale in
// force (not returned, not deleted) cannot be sold again, except that a
// split sale (trdn_flag 1) may repeat a code held only by split sales.
func (s *Server) checkSoldLocked(r *row) *fsiErr {
	var held []string
	splitOnly := true
	for _, c := range r.codes {
		holders := s.sales[c]
		if len(holders) == 0 {
			continue
		}
		whole := slices.ContainsFunc(holders, func(e *entry) bool { return e.row.trdn != "1" })
		if r.trdn != "1" || whole {
			held = append(held, c)
			splitOnly = splitOnly && !whole
		}
	}
	if len(held) == 0 {
		return nil
	}
	if splitOnly {
		return refuse(reasonSoldCode, "%s(已拆零销售, 不能整盒销售): %s", TextSoldCode, formatCodes(held))
	}
	return refuse(reasonSoldCode, "%s: %s", TextSoldCode, formatCodes(held))
}

// findOriginal finds the row a 3504/3506 returns against: an active
// 3503/3505 whose own medins_prod_purc_no / medins_prod_sel_no or
// fixmedins_bchno is the reference, with the same med_list_codg (and
// trdn_flag), holding the returned codes not yet returned, and enough
// count left. pending holds what earlier rows of the same call take.
func findOriginal(inst *institution, infno string, r *row, pendingCnt map[*entry]int64,
	pendingCodes map[*entry]map[string]bool) (*entry, *fsiErr) {
	origInfno, what, field := infPurchase, "采购", "medins_prod_purc_no"
	if infno == infSaleReturn {
		origInfno, what, field = infSale, "销售", "medins_prod_sel_no"
	}
	cands := inst.byRef[origInfno+"\x00"+r.refNo]
	if len(cands) == 0 {
		return nil, refuse(reasonUnknownRef, "原%s记录不存在: %s[%s]", what, field, r.refNo)
	}
	var first *fsiErr
	for _, o := range cands {
		err := checkReturn(o, r, what, pendingCnt[o], pendingCodes[o])
		if err == nil {
			return o, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

func checkReturn(o *entry, r *row, what string, pendingCnt int64, pendingCodes map[string]bool) *fsiErr {
	if o.row.medList != r.medList {
		return refuse(reasonReturnMismatch, "退货的med_list_codg[%s]与原%s记录[%s]不符", r.medList, what, o.row.medList)
	}
	if o.infno == infSale && o.row.trdn != r.trdn {
		return refuse(reasonReturnMismatch, "退货的trdn_flag[%s]与原销售记录[%s]不符", r.trdn, o.row.trdn)
	}
	var foreign, again []string
	for _, c := range r.codes {
		switch {
		case !slices.Contains(o.row.codes, c):
			foreign = append(foreign, c)
		case o.retCodes[c] || pendingCodes[c]:
			again = append(again, c)
		}
	}
	if len(foreign) > 0 {
		return refuse(reasonReturnMismatch, "追溯码不在原%s记录中: %s", what, formatCodes(foreign))
	}
	if len(again) > 0 {
		return refuse(reasonReturnMismatch, "追溯码已退货: %s", formatCodes(again))
	}
	if o.returned+pendingCnt+r.count > o.row.count {
		return refuse(reasonReturnMismatch, "退货数量超过原%s记录的剩余数量", what)
	}
	return nil
}

// addLocked puts a checked row into force and into the ledger.
func (s *Server) addLocked(req *fsiReq, e *entry, ref string, now time.Time) {
	inst, r := req.inst, e.row
	if o := inst.active[r.bchno]; o != nil && o.infno == req.infno && o.row.content == r.content {
		// Only without bchno uniqueness: the same row recorded twice,
		// which the ledger shows as Applied 2 (idempotency failed).
		s.rows[o.idx].Applied++
		s.stats.AcceptedRows++
		return
	}
	e.idx = len(s.rows)
	s.rows = append(s.rows, Row{Infno: req.infno, Msgid: req.msgid, FixmedinsCode: inst.FixmedinsCode,
		Bchno: r.bchno, RefNo: r.refNo, Codes: slices.Clone(r.codes), Count: r.countF, TrdnFlag: r.trdn,
		ChangeType: r.changeType, InfRefmsgid: ref, Applied: 1, At: now})
	s.stats.AcceptedRows++
	inst.active[r.bchno] = e
	delete(inst.deleted, r.bchno)
	switch req.infno {
	case infPurchase, infSale:
		for _, k := range refKeys(r) {
			inst.byRef[req.infno+"\x00"+k] = append(inst.byRef[req.infno+"\x00"+k], e)
		}
		if req.infno == infSale {
			for _, c := range r.codes {
				s.sales[c] = append(s.sales[c], e)
			}
		}
	case infPurchaseReturn, infSaleReturn:
		o := e.ref
		o.returned += r.count
		o.deps++
		if req.infno == infSaleReturn {
			if o.retCodes == nil {
				o.retCodes = make(map[string]bool)
			}
			for _, c := range r.codes {
				o.retCodes[c] = true
				s.releaseLocked(c, o)
			}
		}
	}
}

// deleteLocked handles 3507: the row named leaves force (a sale's codes
// become sellable again, a return's codes sold again) and stays in the
// ledger marked Deleted.
func (s *Server) deleteLocked(req *fsiReq, d *row, ref string, now time.Time) *fsiErr {
	inst := req.inst
	e := inst.active[d.bchno]
	if e == nil {
		if inst.deleted[d.bchno] {
			return refuse(reasonAlreadyDeleted, "记录已删除: fixmedins_bchno[%s]", d.bchno)
		}
		return refuse(reasonUnknownBchno, "记录不存在: fixmedins_bchno[%s]", d.bchno)
	}
	want := delPurchase
	switch e.infno {
	case infSale, infSaleReturn:
		want = delSale
	case infStockTake:
		want = delInventory
	case infStockChange:
		want = delStock
	}
	if d.delType != want {
		return refuse(reasonDeleteType, "inv_data_type[%s]与记录类型不符: fixmedins_bchno[%s]是%s记录(应为%s)",
			d.delType, d.bchno, e.infno, want)
	}
	if e.deps > 0 {
		return refuse(reasonDeleteBlocked, "fixmedins_bchno[%s]已有退货记录, 请先删除退货记录", d.bchno)
	}
	if e.infno == infSaleReturn {
		// Undoing a return sells its codes again; refuse if one was sold
		// anew meanwhile, or a code would be sold twice.
		var resold []string
		for _, c := range e.row.codes {
			holders := s.sales[c]
			whole := slices.ContainsFunc(holders, func(h *entry) bool { return h.row.trdn != "1" })
			if whole || (len(holders) > 0 && e.ref.row.trdn != "1") {
				resold = append(resold, c)
			}
		}
		if len(resold) > 0 {
			return refuse(reasonDeleteBlocked, "追溯码已再次销售, 不能删除退货记录: %s", formatCodes(resold))
		}
	}

	delete(inst.active, d.bchno)
	inst.deleted[d.bchno] = true
	s.rows[e.idx].Deleted = true
	switch e.infno {
	case infPurchase, infSale:
		for _, k := range refKeys(e.row) {
			key := e.infno + "\x00" + k
			inst.byRef[key] = slices.DeleteFunc(inst.byRef[key], func(x *entry) bool { return x == e })
			if len(inst.byRef[key]) == 0 {
				delete(inst.byRef, key)
			}
		}
		if e.infno == infSale {
			for _, c := range e.row.codes {
				s.releaseLocked(c, e)
			}
		}
	case infPurchaseReturn, infSaleReturn:
		o := e.ref
		o.returned -= e.row.count
		o.deps--
		if e.infno == infSaleReturn {
			for _, c := range e.row.codes {
				delete(o.retCodes, c)
				s.sales[c] = append(s.sales[c], o)
			}
		}
	}
	s.rows = append(s.rows, Row{Infno: req.infno, Msgid: req.msgid, FixmedinsCode: inst.FixmedinsCode,
		Bchno: d.bchno, InfRefmsgid: ref, Applied: 1, At: now})
	s.stats.AcceptedRows++
	return nil
}

// releaseLocked takes code out of sale e.
func (s *Server) releaseLocked(code string, e *entry) {
	h := slices.DeleteFunc(s.sales[code], func(x *entry) bool { return x == e })
	if len(h) == 0 {
		delete(s.sales, code)
		return
	}
	s.sales[code] = h
}

// refKeys are the references a 3504/3506 may use for a row: its own
// number if it sent one, and its fixmedins_bchno.
func refKeys(r *row) []string {
	if r.refNo == "" || r.refNo == r.bchno {
		return []string{r.bchno}
	}
	return []string{r.refNo, r.bchno}
}
