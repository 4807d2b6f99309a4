package sandbox

import (
	"slices"
	"strings"
	"time"
)

// serveTrace answers 3513 商品销售追溯信息查询 from the ledger: one record
// per code of every 3505 row in force that matches the query (its
// fixmedins_bchno, code, med_list_codg, and the day, UTC+8, it was
// accepted between begndate and enddate). Read-only; the answer is kept
// under the msgid like any other.
func (s *Server) serveTrace(req *fsiReq, received, now time.Time) []byte {
	q, unknown, e := s.parseTrace(req)
	s.noteUnknown(unknown)
	s.mu.Lock()
	if rec := s.msgids[req.msgid]; rec != nil {
		// A copy of this msgid raced in first (serveFSI looked before).
		s.mu.Unlock()
		return s.replay(req, received, rec)
	}
	ref := s.nextRefLocked(req.inst.Admdvs)
	var ans []byte
	if e != nil {
		s.stats.Rejected[e.reason]++
		ans = s.answerLocked(ref, received, e, "", nil)
	} else {
		ans = s.answerLocked(ref, received, nil, "", s.traceRecordsLocked(req.inst, q))
	}
	s.storeLocked(req, ans, now)
	s.mu.Unlock()
	return ans
}

// traceQuery is a checked 3513 query.
type traceQuery struct {
	bchno, code, medList string
	from, to             time.Time // days, UTC+8; zero: open
}

// parseTrace checks the 3513 input: the data node, its fields' types and
// lengths, fixmedins_code that of the caller, dates yyyy-MM-dd given
// together and in order, and at least one condition besides the
// institution (a query naming nothing would dump the whole ledger).
func (s *Server) parseTrace(req *fsiReq) (traceQuery, []string, *fsiErr) {
	strs, unknown, ferr := s.queryNode(req, traceQueryFields())
	if ferr != nil {
		return traceQuery{}, unknown, ferr
	}
	q := traceQuery{bchno: strs["fixmedins_bchno"], code: strs["drug_trac_codg"], medList: strs["med_list_codg"]}
	b, e := strs["begndate"], strs["enddate"]
	if (b == "") != (e == "") {
		return traceQuery{}, unknown, refuse(reasonMissingField, "begndate与enddate应同时填写")
	}
	if b != "" {
		var err1, err2 error
		q.from, err1 = time.ParseInLocation(dateLayout, b, s.cst)
		q.to, err2 = time.ParseInLocation(dateLayout, e, s.cst)
		if err1 != nil || err2 != nil {
			return traceQuery{}, unknown, refuse(reasonInvalidDate, "begndate[%s]或enddate[%s]格式错误: 应为yyyy-MM-dd", b, e)
		}
		if q.to.Before(q.from) {
			return traceQuery{}, unknown, refuse(reasonInvalidDate, "enddate[%s]早于begndate[%s]", e, b)
		}
	}
	if q.bchno == "" && q.code == "" && q.medList == "" && q.from.IsZero() {
		return traceQuery{}, unknown, refuse(reasonMissingField, "查询条件不足: 请至少填写fixmedins_bchno、drug_trac_codg、med_list_codg或begndate/enddate")
	}
	return q, unknown, nil
}

// traceRecordsLocked lists the records q matches, in ledger order.
func (s *Server) traceRecordsLocked(inst *institution, q traceQuery) []traceRecord {
	out := []traceRecord{}
	for i, r := range s.rows {
		if r.Infno != infSale || r.Deleted || r.FixmedinsCode != inst.FixmedinsCode {
			continue
		}
		e := inst.active[r.Bchno]
		if e == nil || e.idx != i {
			continue
		}
		day := r.At.In(s.cst)
		day = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, s.cst)
		if !q.from.IsZero() && (day.Before(q.from) || day.After(q.to)) {
			continue
		}
		if (q.bchno != "" && q.bchno != r.Bchno) || (q.medList != "" && q.medList != e.row.medList) {
			continue
		}
		for _, c := range e.row.codes {
			if q.code != "" && q.code != c {
				continue
			}
			out = append(out, traceRecord{FixmedinsCode: inst.FixmedinsCode, MedListCodg: e.row.medList,
				MedinsListCodg: e.row.hilistID, MedinsListName: e.row.hilistName, FixmedinsBchno: r.Bchno,
				DrugTracCodg: c, TrdnFlag: e.row.trdn, OptTime: r.At.In(s.cst).Format(timeLayout)})
		}
	}
	return out
}

// LoseRow takes a sale row out of the ledger behind the caller's back, as
// a platform that lost it (tests of reconciliation). It reports whether
// the row was in force.
func (s *Server) LoseRow(bchno string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, inst := range s.insts {
		e := inst.active[bchno]
		if e == nil {
			continue
		}
		delete(inst.active, bchno)
		s.rows[e.idx].Deleted = true
		for _, c := range e.row.codes {
			s.releaseLocked(c, e)
		}
		return true
	}
	return false
}

// ChangeCode replaces a code of a row in force, as a platform whose record
// differs from what was sent (tests of reconciliation).
func (s *Server) ChangeCode(bchno, old, code string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, inst := range s.insts {
		e := inst.active[bchno]
		if e == nil {
			continue
		}
		i := slices.Index(e.row.codes, old)
		if i < 0 {
			return false
		}
		e.row.codes = slices.Clone(e.row.codes)
		e.row.codes[i] = code
		s.rows[e.idx].Codes = slices.Clone(e.row.codes)
		return true
	}
	return false
}

// AddForeignSale records a sale row the caller never sent (another
// system of the pharmacy, or a record the platform holds wrongly), for
// tests of reconciliation.
func (s *Server) AddForeignSale(fixmedinsCode, bchno, medList string, codes ...string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := s.insts[fixmedinsCode]
	if inst == nil || inst.active[bchno] != nil || strings.TrimSpace(bchno) == "" {
		return false
	}
	r := &row{bchno: bchno, medList: medList, trdn: "0", codes: slices.Clone(codes), count: int64(len(codes)) * 10000,
		countF: float64(len(codes))}
	e := &entry{infno: infSale, row: r, idx: len(s.rows)}
	s.rows = append(s.rows, Row{Infno: infSale, FixmedinsCode: fixmedinsCode, Bchno: bchno, Codes: slices.Clone(codes),
		Count: r.countF, TrdnFlag: "0", Applied: 1, At: s.now()})
	inst.active[bchno] = e
	for _, c := range codes {
		s.sales[c] = append(s.sales[c], e)
	}
	return true
}
