package sandbox

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Paging of list queries: page from 1, page_size 1–maxPageSize.
const (
	defaultPageSize = 20
	maxPageSize     = 100
)

// queryOK answers a query with msg_code SUCCESS and its payload.
func queryOK(payloadKey string, payload any) reply {
	return reply{body: &queryModel{MsgCode: msgSuccess, MsgInfo: "成功", successKey: "response_success", success: true,
		payloadKey: payloadKey, payload: payload}}
}

func queryFail(reason, msgCode, info string) reply {
	return reply{reason: reason, body: &queryModel{MsgCode: msgCode, MsgInfo: info, successKey: "response_success"}}
}

// withSuccessKey switches a query answer to the "success" flag that the
// SDK declares for upbillcode and listupout.detail.
func withSuccessKey(r reply) reply {
	if q, ok := r.body.(*queryModel); ok {
		q.successKey = "success"
	}
	return r
}

// notFound is the lookup answer "信息不存在": a normal answer, not counted
// as a rejection.
func notFound(info string) reply { return queryFail("", msgNoInfo, info) }

// queryStart is the common head of the queries: busy fault, then the
// caller's own ref_ent_id.
func (s *Server) queryStart(c *call) (*Enterprise, *reply) {
	if c.busy {
		r := queryFail(reasonBusy, msgFail, busyText)
		return nil, &r
	}
	return s.owner(c, c.params[pRefEntID], false)
}

// paging reads page (from 1) and page_size (1–maxPageSize).
func paging(p map[string]string) (page, size int, e *gwErr) {
	page, size = 1, defaultPageSize
	if v, ok := p[pPage]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100000 {
			return 0, 0, invalidParam(reasonInvalidParam, pPage, fmt.Sprintf("page %q must be a number from 1", v))
		}
		page = n
	}
	if v, ok := p[pPageSize]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			return 0, 0, invalidParam(reasonInvalidParam, pPageSize, fmt.Sprintf("page_size %q must be 1-%d", v, maxPageSize))
		}
		size = n
	}
	return page, size, nil
}

// pageRows is one page of rows (never nil, so it encodes as []).
func pageRows[T any](rows []T, page, size int) []T {
	lo := min((page-1)*size, len(rows))
	hi := min(lo+size, len(rows))
	out := rows[lo:hi]
	if out == nil {
		out = []T{}
	}
	return out
}

// dateRange reads begin_date and end_date: yyyy-MM-dd (whole days) or
// yyyy-MM-dd HH:mm:ss, China time, begin ≤ end.
func dateRange(p map[string]string) (from, to time.Time, e *gwErr) {
	parse := func(name string, end bool) (time.Time, *gwErr) {
		v := p[name]
		if t, err := time.ParseInLocation(dayLayout, v, chinaTime); err == nil {
			if end {
				t = t.AddDate(0, 0, 1).Add(-time.Nanosecond)
			}
			return t, nil
		}
		if t, err := time.ParseInLocation(dateLayout, v, chinaTime); err == nil {
			return t, nil
		}
		return time.Time{}, invalidParam(reasonInvalidParam, name, fmt.Sprintf("%s %q must be %q or %q", name, v, dayLayout, dateLayout))
	}
	if from, e = parse(pBeginDate, false); e != nil {
		return
	}
	if to, e = parse(pEndDate, true); e != nil {
		return
	}
	if to.Before(from) {
		e = invalidParam(reasonInvalidParam, pEndDate, "end_date is before begin_date")
	}
	return
}

func fmtTime(t time.Time) string { return t.In(chinaTime).Format(dateLayout) }

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

// dealMatches applies the deal_status filter: 0/1 select bills not yet
// final, 3 and 4 the final results.
func dealMatches(v string, result int) bool {
	switch v {
	case "0", "1":
		return result == resultProcessing || result == resultUploaded
	}
	return v == strconv.Itoa(result)
}

func uploadFileName(b *bill) string { return "top_" + b.QueueID + ".txt" }

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
		return codeNotExist
	case ci.cancelled:
		return codeCancelled
	case s.soldLocked(ci) && len(ci.children) == 0, s.sold[ci.key] != "":
		return codeSold
	case s.inboundAny[ci.key] || (ci.parent != "" && s.inboundAny[ci.parent]):
		return codeVerified
	}
	return codeActive
}

func codeErrDesc(key string) string {
	switch key {
	case codeErrNotActivated:
		return "码未激活"
	case codeErrFormat:
		return "码格式校验失败"
	case codeErrDuplicate:
		return "码重复"
	case codeErrCancelled:
		return "码已注销"
	case codeErrParentChild:
		return "码存在上下级关系"
	}
	return "其他"
}
