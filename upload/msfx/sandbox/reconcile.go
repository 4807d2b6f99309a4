package sandbox

import (
	"fmt"
	"slices"
	"strconv"
	"time"
)

// methodSearchBill is drug.lsyd.searchbill: the caller's own bills by date
// range ([SDK] ability2939/Ability2939.go, request/AlibabaAlihealthDrugLsydSearchbillRequest.go).
const methodSearchBill = "alibaba.alihealth.drug.lsyd.searchbill"

// Parameters of searchbill as its request type spells them.
const (
	pCurPage       = "cur_page"
	pAuthRefUserID = "auth_ref_user_id"
	pPartnerSend   = "partner_id_send"
	pPartnerRecv   = "partner_id_recv"
)

// searchBillSpec: ref_ent_id, begin_date, end_date, bill_type, cur_page and
// page_size are `required:"true"` in request/AlibabaAlihealthDrugLsydSearchbillRequest.go.
func searchBillSpec() methodSpec {
	return methodSpec{required: []string{pRefEntID, pBeginDate, pEndDate, pBillType, pCurPage, pPageSize},
		optional: []string{pAuthRefUserID, pPartnerSend, pPartnerRecv, pBillCode}, run: (*Server).searchBill}
}

// searchBillRow follows domain/AlibabaAlihealthDrugLsydSearchbillBillChkInOutDo.go
// (golgys0621/topsdk ability2939); the fields the ledger has no value for
// are left out.
type searchBillRow struct {
	BillType       string `json:"bill_type"`
	BillCode       string `json:"bill_code"`
	BillTypeName   string `json:"bill_type_name"`
	BillTime       string `json:"bill_time"`
	BillID         string `json:"bill_id"`
	FromUserID     string `json:"from_user_id,omitempty"`
	ToUserID       string `json:"to_user_id,omitempty"`
	RefUserID      string `json:"ref_user_id"`
	RefUserName    string `json:"ref_user_name"`
	ProcessDate    string `json:"process_date,omitempty"`
	SubProcessFlag string `json:"sub_process_flag,omitempty"`
}

// searchBillPage follows domain/AlibabaAlihealthDrugLsydSearchbillPageInfoDto.go.
type searchBillPage struct {
	ResultList []searchBillRow `json:"result_list"`
	TotalNum   int64           `json:"total_num"`
}

// searchBill lists the caller's own uploads whose bill_time falls in the
// days asked, in upload order. bill_type is A (all), AI (inbound) or AO
// (outbound), as the request type's comment declares.
func (s *Server) searchBill(c *call) reply {
	p := c.params
	from, to, e := dateRange(p)
	kind := p[pBillType]
	if e == nil && kind != "A" && kind != "AI" && kind != "AO" {
		e = invalidParam(reasonInvalidParam, pBillType, fmt.Sprintf("bill_type %q must be A, AI or AO", kind))
	}
	page, size := 1, defaultPageSize
	for _, q := range []struct {
		name string
		to   *int
		max  int
	}{{pCurPage, &page, 100000}, {pPageSize, &size, maxPageSize}} {
		if e != nil {
			break
		}
		n, err := strconv.Atoi(p[q.name])
		if err != nil || n < 1 || n > q.max {
			e = invalidParam(reasonInvalidParam, q.name, fmt.Sprintf("%s %q must be a number from 1 to %d", q.name, p[q.name], q.max))
		}
		*q.to = n
	}
	if e != nil {
		return reply{err: e}
	}
	own, r := s.queryStart(c)
	if r != nil {
		return *r
	}
	s.mu.Lock()
	var rows []searchBillRow
	if st := s.ents[own.RefEntID]; st != nil {
		for _, b := range st.order {
			t, err := time.ParseInLocation(dateLayout, b.BillTime, chinaTime)
			if err != nil || t.Before(from) || t.After(to) {
				continue
			}
			in := isInbound(b.BillType)
			if (kind == "AI" && !in) || (kind == "AO" && in) || !matches(p, pBillCode, b.BillCode) ||
				!matches(p, pPartnerSend, b.From) || !matches(p, pPartnerRecv, b.To) {
				continue
			}
			row := searchBillRow{BillType: strconv.Itoa(b.BillType), BillCode: b.BillCode, BillTypeName: billTypeName(b.BillType),
				BillTime: b.BillTime, BillID: b.QueueID, FromUserID: b.From, ToUserID: b.To, RefUserID: own.RefEntID, RefUserName: own.Name}
			if b.final {
				row.ProcessDate = fmtTime(b.ProcessedAt)
				row.SubProcessFlag = subProcessAllOK
				if len(b.failures) > 0 {
					row.SubProcessFlag = subProcessPartial
				}
			}
			rows = append(rows, row)
		}
	}
	s.mu.Unlock()
	return queryOK("model", searchBillPage{ResultList: pageRows(rows, page, size), TotalNum: int64(len(rows))})
}

// LoseBill deletes an accepted bill from an enterprise's ledger behind the
// uploader's back, as if the platform had lost it: the bill is no longer
// found, listed or a duplicate, and its codes are free again. It reports
// whether the bill was there.
func (s *Server) LoseBill(refEntID, billCode string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.ents[refEntID]
	if st == nil || st.bills[billCode] == nil {
		return false
	}
	b := st.bills[billCode]
	delete(st.bills, billCode)
	st.order = slices.DeleteFunc(st.order, func(x *bill) bool { return x == b })
	holder := refEntID + "/" + billCode
	for _, code := range b.okCodes {
		key := s.world.code(code, false).key
		if s.sold[key] == holder {
			delete(s.sold, key)
		}
		if mv, ok := st.last[key]; ok && mv.billCode == billCode {
			delete(st.last, key)
			if mv.inbound {
				delete(st.inbound, key)
			}
		}
	}
	return true
}

// ChangeCode replaces an accepted code of a bill by another code of a
// product the world knows, as if the platform held the bill with other
// codes. It reports whether the change was made.
func (s *Server) ChangeCode(refEntID, billCode, oldCode, newCode string) bool {
	if ci := s.world.code(newCode, false); ci.product == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.ents[refEntID]
	if st == nil || st.bills[billCode] == nil {
		return false
	}
	b := st.bills[billCode]
	i := slices.Index(b.okCodes, oldCode)
	if i < 0 {
		return false
	}
	b.okCodes[i] = newCode
	if j := slices.Index(b.Codes, oldCode); j >= 0 {
		b.Codes[j] = newCode
	}
	return true
}

// AddForeignBill puts a processed bill into an enterprise's ledger that no
// upload of the device made (another till of the same store, or a record
// that is not the store's). The codes must be of products the world knows.
func (s *Server) AddForeignBill(refEntID, billCode string, billType int, billTime time.Time, codes ...string) error {
	if len(codes) == 0 {
		return fmt.Errorf("foreign bill %s: no codes", billCode)
	}
	for _, c := range codes {
		if ci := s.world.code(c, false); ci.product == nil {
			return fmt.Errorf("foreign bill %s: code %s is of no product of the world", billCode, c)
		}
	}
	if _, ok := s.world.Enterprise(refEntID); !ok {
		return fmt.Errorf("foreign bill %s: no enterprise %s", billCode, refEntID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.entLocked(refEntID)
	if st.bills[billCode] != nil {
		return fmt.Errorf("foreign bill %s: the ledger holds that bill_code", billCode)
	}
	s.queueSeq++
	b := &bill{Bill: Bill{RefEntID: refEntID, BillCode: billCode, Method: methodUploadRetail, BillType: billType,
		BillTime: billTime.In(chinaTime).Format(dateLayout), Codes: slices.Clone(codes), Applied: 1,
		QueueID: strconv.FormatInt(200118300000000+int64(s.queueSeq), 10), CodeErrors: map[string]string{},
		UploadedAt: s.now()}, okCodes: slices.Clone(codes)}
	b.finish(b.UploadedAt)
	st.bills[billCode] = b
	st.order = append(st.order, b)
	return nil
}
