package sandbox

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Optional parameters of the uploads: the fields of
// golgys0621/topsdk ability2939/request/AlibabaAlihealthDrugtraceTopLsydUploadinoutbillRequest.go
// and …UploadretailRequest.go without `required:"true"`.
func inOutOptional() []string {
	return []string{"agent_ref_user_id", "dest_user_id", "oper_ic_code", "oper_ic_name", "warehouse_id", "drug_id",
		pReturnReasonCode, pReturnReasonDes, "cancel_reason_code", "cancel_reason_des",
		"executer_name", "executer_code", "superviser_name", "superviser_code",
		"from_address", "to_address", "from_bill_code", "order_code", "from_person", "to_person",
		"dis_ref_ent_id", pDisEntID, "xt_is_check", "xt_check_code", "xt_check_code_desc", "drug_list_json",
		"ass_ref_ent_id", "ass_ent_id", "qu_receivable", pIgnorePartSuccessFlag}
}

func retailOptional() []string {
	return []string{pPhysicType, pFromUserID, "oper_ic_code", "oper_ic_name",
		pCustomerIDType, "customer_id", pUserTel, "network_bill_flag",
		"medic_doctor", "medic_dispenser", "user_name", "user_agent", "remarks", pIgnorePartSuccessFlag}
}

// maxBillCode is the longest bill_code accepted; the platform's limit is
// not published.
const maxBillCode = 64

// upload is a parsed upload request.
type upload struct {
	billCode string
	billTime string
	billType int
	refUser  string
	from, to string
	codes    []string
	strict   bool // ignore_part_success_flag=1
}

// parseUpload checks the parameter formats of both uploads; problems are
// gateway errors 41 (isv.invalid-parameter), like the SDK-side check().
func (s *Server) parseUpload(c *call, retail bool) (*upload, *gwErr) {
	p := c.params
	u := &upload{billCode: p[pBillCode], billTime: p[pBillTime], refUser: p[pRefUserID],
		from: p[pFromUserID], to: p[pToUserID], strict: p[pIgnorePartSuccessFlag] == ignorePartSuccessFlag}
	bad := func(name, format string, args ...any) (*upload, *gwErr) {
		return nil, invalidParam(reasonInvalidParam, name, fmt.Sprintf(format, args...))
	}
	if !validText(u.billCode, maxBillCode) || strings.TrimSpace(u.billCode) != u.billCode {
		return bad(pBillCode, "bill_code %q must be 1-%d printable characters without surrounding spaces", u.billCode, maxBillCode)
	}
	if _, err := time.ParseInLocation(dateLayout, u.billTime, chinaTime); err != nil {
		return bad(pBillTime, "bill_time %q must be %q", u.billTime, dateLayout)
	}
	t := p[pBillType]
	if len(t) > 4 || !allDigits(t) {
		return bad(pBillType, "bill_type %q must be a number", t)
	}
	u.billType, _ = strconv.Atoi(t)
	switch {
	case !retail && (inboundType(u.billType) || outboundType(u.billType)):
	case !retail && (retailType(u.billType) || u.billType == typeYLJGRetail):
		return bad(pBillType, "bill_type %d is a retail type: upload it with %s", u.billType, methodUploadRetail)
	case retail && retailType(u.billType):
	case retail && u.billType == typeYLJGRetail:
		return bad(pBillType, "bill_type 323 is the 医疗机构 (yljg) retail type; retail pharmacies use 321")
	case retail && (inboundType(u.billType) || outboundType(u.billType)):
		return bad(pBillType, "bill_type %d is an in/out type: upload it with %s", u.billType, methodUploadInOutBill)
	default:
		return bad(pBillType, "bill_type %d is not a known bill type", u.billType)
	}
	if v, ok := p[pPhysicType]; ok && v != "2" && v != "3" {
		return bad(pPhysicType, "physic_type %q must be 3 (普药) or 2 (特药)", v)
	}
	if !retail {
		if v := p[pClientType]; v != clientTypeValue {
			return bad(pClientType, "client_type %q must be %q", v, clientTypeValue)
		}
		if _, ok := p["agent_ref_user_id"]; ok {
			return bad("agent_ref_user_id", "agent_ref_user_id is legacy and must not be sent (doc: 不要填值)")
		}
		for _, k := range []string{pReturnReasonCode, pReturnReasonDes} {
			if _, ok := p[k]; ok && u.billType != 103 && u.billType != 202 {
				return bad(k, "%s is only for return bills (103, 202), not %d", k, u.billType)
			}
		}
		for _, k := range []string{"cancel_reason_code", "cancel_reason_des", "executer_name", "executer_code", "superviser_name", "superviser_code"} {
			if _, ok := p[k]; ok && u.billType != 205 {
				return bad(k, "%s is only for destruction bills (205), not %d", k, u.billType)
			}
		}
		if v, ok := p[pDisEntID]; ok && !isEntID(v) {
			return bad(pDisEntID, "dis_ent_id %q must be a 32-hex ent_id", v)
		}
	} else {
		if v, ok := p[pCustomerIDType]; ok && !slices.Contains([]string{"1", "2", "3", "4", "5", "6", "9"}, v) {
			return bad(pCustomerIDType, "customer_id_type %q must be one of 1-6 or 9", v)
		}
		if v, ok := p[pUserTel]; ok && (len(v) > 11 || !validText(v, 11)) {
			return bad(pUserTel, "user_tel must be at most 11 characters")
		}
		if v, ok := p["network_bill_flag"]; ok && v != "0" && v != "1" {
			return bad("network_bill_flag", "network_bill_flag %q must be 0 or 1", v)
		}
		for _, k := range []string{"medic_doctor", "medic_dispenser", "user_name", "user_agent"} {
			if v, ok := p[k]; ok && !validText(v, 20) {
				return bad(k, "%s must be at most 20 printable characters", k)
			}
		}
	}
	u.codes = strings.Split(p[pTraceCodes], ",")
	limit := s.maxInOut
	if retail {
		limit = s.maxRetail
	}
	if len(u.codes) > limit {
		return nil, invalidParam(reasonTooManyCodes, pTraceCodes, fmt.Sprintf("trace_codes has %d codes, at most %d per upload", len(u.codes), limit))
	}
	for i, code := range u.codes {
		if code == "" {
			return bad(pTraceCodes, "trace_codes entry %d is empty (comma-joined, no empty entries)", i+1)
		}
	}
	return u, nil
}

// uploadInOut is lsyd.uploadinoutbill.
func (s *Server) uploadInOut(c *call) reply {
	u, e := s.parseUpload(c, false)
	if e != nil {
		return reply{err: e}
	}
	return s.upload(c, u, false)
}

// uploadRetail is lsyd.uploadretail.
func (s *Server) uploadRetail(c *call) reply {
	u, e := s.parseUpload(c, true)
	if e != nil {
		return reply{err: e}
	}
	return s.upload(c, u, true)
}

// noCodeErrors is operation_info_map when no code was checked or none
// failed: an empty JSON object in the string.
func noCodeErrors() operationInfoMap { return operationInfoMap{CodeCheckErrorInfo: "{}"} }

func uploadFail(reason, msgCode, info string) reply {
	return reply{reason: reason, body: &uploadAnswer{MsgCode: msgCode, MsgInfo: info, OperationInfoMap: noCodeErrors()}}
}

// owner checks that the app uploads for its own enterprise.
func (s *Server) owner(c *call, ref string, upload bool) (*Enterprise, *reply) {
	fail := func(info string) (*Enterprise, *reply) {
		var r reply
		if upload {
			r = uploadFail(reasonAuth, msgAuthError, info)
		} else {
			r = queryFail(reasonAuth, msgAuthError, info)
		}
		return nil, &r
	}
	switch {
	case c.ent == nil:
		return fail(fmt.Sprintf("应用 %s 未绑定平台企业，无权操作", c.appKey))
	case ref == c.ent.RefEntID:
		return c.ent, nil
	case ref == c.ent.EntID:
		return fail(fmt.Sprintf("%s 是本企业的 ent_id；此处应填 ref_ent_id（货主id）%s", ref, c.ent.RefEntID))
	}
	return fail(fmt.Sprintf("无权操作企业 %s 的数据（本应用属于 %s）", ref, c.ent.RefEntID))
}

// upload applies both upload methods. The ledger, the duplicate check and
// every code state change happen under one lock, which is what makes
// concurrent duplicates apply exactly once.
func (s *Server) upload(c *call, u *upload, retail bool) reply {
	if c.busy {
		return uploadFail(reasonBusy, msgFail, busyText)
	}
	own, r := s.owner(c, u.refUser, true)
	if r != nil {
		return *r
	}
	// Direction and codes depend on the World only: judged outside the
	// lock, answered in the documented order.
	dirFail := s.checkDirection(own, u, retail)
	chk := s.checkCodes(u.codes)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.entLocked(own.RefEntID)
	// The platform keys bills by bill_code alone and never compares
	// contents, so a changed resend is still a duplicate.
	if b := st.bills[u.billCode]; b != nil {
		b.Duplicates++
		s.stats.Duplicates++
		return reply{body: &uploadAnswer{MsgCode: msgFail, OperationInfoMap: noCodeErrors(),
			MsgInfo: duplicateBillText + "（上传时间：" + b.UploadedAt.In(chinaTime).Format(dateLayout) + "）"}}
	}
	if dirFail != nil {
		return *dirFail
	}
	if u.strict && len(chk.failures) > 0 {
		res := &uploadAnswer{MsgCode: msgFail,
			MsgInfo:          fmt.Sprintf("%d个追溯码校验失败，整单不处理（ignore_part_success_flag=1）", len(chk.failures)),
			OperationInfoMap: operationInfoMap{CodeCheckErrorInfo: chk.errorInfo()}}
		return reply{reason: reasonStrict, body: res}
	}
	inbound := isInbound(u.billType)
	if !retail {
		if r := s.repeatFlow(st, chk, inbound); r != nil {
			return *r
		}
	}
	if u.billType == typeSale || u.billType == typeVaccination {
		for _, i := range chk.ok {
			if s.soldLocked(chk.infos[i]) {
				return uploadFail(reasonSold, msgFail, soldCodeText)
			}
		}
	}

	s.queueSeq++
	b := &bill{Bill: Bill{
		RefEntID: own.RefEntID, BillCode: u.billCode, Method: c.method, BillType: u.billType, BillTime: u.billTime,
		From: u.from, To: u.to, Codes: slices.Clone(u.codes), Applied: 1,
		QueueID: strconv.FormatInt(200118300000000+int64(s.queueSeq), 10), Result: resultUploaded,
		CodeErrors: make(map[string]string), UploadedAt: s.now(),
	}, failures: chk.failures}
	for _, f := range chk.failures {
		b.CodeErrors[f.code] = f.key
	}
	for _, i := range chk.ok {
		b.okCodes = append(b.okCodes, u.codes[i])
		key := chk.infos[i].key
		st.last[key] = movement{inbound: inbound, billCode: u.billCode}
		if inbound {
			st.inbound[key] = true
			s.inboundAny[key] = true
		}
		switch u.billType {
		case typeSale, typeVaccination:
			s.sold[key] = own.RefEntID + "/" + u.billCode
		case typeConsumerReturn:
			delete(s.sold, key)
		}
	}
	if s.processAfter == 0 {
		b.finish(b.UploadedAt)
	}
	st.bills[u.billCode] = b
	st.order = append(st.order, b)
	s.stats.Accepted++
	res := &uploadAnswer{Model: b.QueueID, MsgCode: msgSuccess, MsgInfo: "上传成功", ResponseSuccess: true,
		OperationInfoMap: operationInfoMap{CodeCheckErrorInfo: chk.errorInfo()}}
	return reply{body: res}
}

// entLocked returns an enterprise's state, creating it; s.mu must be held.
func (s *Server) entLocked(ref string) *entState {
	st := s.ents[ref]
	if st == nil {
		st = &entState{bills: make(map[string]*bill), inbound: make(map[string]bool), last: make(map[string]movement)}
		s.ents[ref] = st
	}
	return st
}

// checkDirection enforces who is on which side of the bill: inbound
// to_user_id = own ent_id, outbound from_user_id = own ent_id, the partner
// a known enterprise; a retail from_user_id, if sent, is the store itself.
func (s *Server) checkDirection(own *Enterprise, u *upload, retail bool) *reply {
	fail := func(reason, info string) *reply {
		r := uploadFail(reason, msgFail, info)
		return &r
	}
	hint := func(id string) string {
		if id == own.RefEntID {
			return "（" + id + " 是 ref_ent_id；收发货企业应填 32 位 ent_id " + own.EntID + "）"
		}
		return ""
	}
	if retail {
		if u.from != "" && u.from != own.EntID {
			return fail(reasonDirection, "企业与单据方向不符：零售单据的 from_user_id 应为本企业 ent_id "+own.EntID+hint(u.from))
		}
		return nil
	}
	var partner string
	if isInbound(u.billType) {
		if u.to != own.EntID {
			return fail(reasonDirection, "企业与单据方向不符：入库单据（"+strconv.Itoa(u.billType)+"）的 to_user_id 应为本企业 ent_id "+own.EntID+hint(u.to))
		}
		partner = u.from
	} else {
		if u.from != own.EntID {
			return fail(reasonDirection, "企业与单据方向不符：出库单据（"+strconv.Itoa(u.billType)+"）的 from_user_id 应为本企业 ent_id "+own.EntID+hint(u.from))
		}
		partner = u.to
	}
	if s.world.entByEntID(partner) == nil {
		if e := s.world.entByRef(partner); e != nil {
			return fail(reasonPartner, "往来企业不存在："+partner+" 是 "+e.Name+" 的 ref_ent_id，收发货企业应填其 ent_id")
		}
		return fail(reasonPartner, "往来企业不存在：ent_id "+partner)
	}
	return nil
}

// codeCheck is the per-code verdict on a bill (partial-success rules).
type codeCheck struct {
	infos    []codeInfo
	ok       []int               // indices of accepted codes
	failures []failure           // one per distinct failed code, in bill order
	entries  map[string][]string // error key → entries for code_check_error_info
}

// errorInfo is operation_info_map.code_check_error_info: a JSON string of
// key → comma-joined entries.
func (k *codeCheck) errorInfo() string {
	m := make(map[string]string, len(k.entries))
	for key, list := range k.entries {
		m[key] = strings.Join(list, ",")
	}
	data, _ := json.Marshal(m) // a map of strings always encodes
	return string(data)
}

// checkCodes classifies every code: unusable (key 1/2), cancelled (4),
// listed more than once (3: every occurrence fails, listed once), parent
// and child together (6: both fail, listed as "child(下级);parent(上级)").
func (s *Server) checkCodes(codes []string) *codeCheck {
	k := &codeCheck{infos: make([]codeInfo, len(codes)), entries: make(map[string][]string)}
	failed := make([]string, len(codes))
	reasons := make([]string, len(codes))
	count := make(map[string]int, len(codes))
	for i, c := range codes {
		ci := s.world.code(c, s.rejectGS1)
		k.infos[i] = ci
		count[ci.key]++
		switch {
		case ci.errKey != "":
			failed[i], reasons[i] = ci.errKey, ci.reason
		case ci.cancelled:
			failed[i], reasons[i] = codeErrCancelled, "追溯码已注销"
		}
	}
	listed := make(map[string]bool)
	for i, c := range codes {
		if failed[i] != "" {
			if !listed[c] {
				listed[c] = true
				k.entries[failed[i]] = append(k.entries[failed[i]], c)
			}
			continue
		}
		if count[k.infos[i].key] > 1 {
			failed[i], reasons[i] = codeErrDuplicate, "追溯码在单据中重复出现"
			if !listed[c] {
				listed[c] = true
				k.entries[codeErrDuplicate] = append(k.entries[codeErrDuplicate], c)
			}
		}
	}
	present := make(map[string]int)
	for i := range codes {
		if failed[i] == "" {
			present[k.infos[i].key] = i
		}
	}
	for i, c := range codes {
		if failed[i] != "" && failed[i] != codeErrParentChild {
			continue
		}
		j, ok := present[k.infos[i].parent]
		if k.infos[i].parent == "" || !ok {
			continue
		}
		k.entries[codeErrParentChild] = append(k.entries[codeErrParentChild], c+"(下级);"+codes[j]+"(上级)")
		failed[i], reasons[i] = codeErrParentChild, "与上级码 "+codes[j]+" 在同一单据中"
		if failed[j] == "" {
			failed[j], reasons[j] = codeErrParentChild, "与其下级码在同一单据中"
		}
	}
	seen := make(map[string]bool)
	for i, c := range codes {
		if failed[i] == "" {
			k.ok = append(k.ok, i)
			continue
		}
		if !seen[c] {
			seen[c] = true
			k.failures = append(k.failures, failure{code: c, key: failed[i], reason: reasons[i]})
		}
	}
	return k
}

// repeatFlow refuses an in/out bill moving a code the same way as its
// last movement at this enterprise (in twice without out, or out twice):
// the platform's 码重复流向拦截, which also catches a retry that changed
// its bill_code. s.mu must be held.
func (s *Server) repeatFlow(st *entState, chk *codeCheck, inbound bool) *reply {
	var codes, bills []string
	for _, i := range chk.ok {
		if mv, ok := st.last[chk.infos[i].key]; ok && mv.inbound == inbound {
			codes = append(codes, chk.infos[i].key)
			if !slices.Contains(bills, mv.billCode) {
				bills = append(bills, mv.billCode)
			}
		}
	}
	if len(codes) == 0 {
		return nil
	}
	list := strings.Join(codes[:min(len(codes), 5)], ",")
	if len(codes) > 5 {
		list += fmt.Sprintf(" 等%d个码", len(codes))
	}
	r := uploadFail(reasonRepeatFlow, msgRepeatFlow, "码重复流向拦截:"+list+"，重复流向涉及单据号:"+strings.Join(bills, ","))
	return &r
}

// soldLocked tells whether a code is held by an accepted sale: itself, its
// case, or (for a case) one of its boxes. s.mu must be held.
func (s *Server) soldLocked(ci codeInfo) bool {
	if s.sold[ci.key] != "" || (ci.parent != "" && s.sold[ci.parent] != "") {
		return true
	}
	for _, ch := range ci.children {
		if s.sold[ch] != "" {
			return true
		}
	}
	return false
}

// finish makes a bill final: 4 when every code failed, else 3.
func (b *bill) finish(at time.Time) {
	b.final = true
	b.ProcessedAt = at
	switch {
	case len(b.okCodes) == 0:
		b.Result = resultFailed
		b.ProcessInfo = fmt.Sprintf("单据处理失败：全部%d个追溯码校验失败", len(b.failures))
	case len(b.failures) > 0:
		b.Result = resultSucceeded
		b.ProcessInfo = fmt.Sprintf("部分处理成功：%d个追溯码处理失败", len(b.failures))
	default:
		b.Result = resultSucceeded
		b.ProcessInfo = "处理成功"
	}
}

// poll is one query.billstatus answer listing the bill.
func (b *bill) poll(processAfter int, now time.Time) {
	b.Polls++
	switch {
	case b.final:
	case b.Polls > processAfter:
		b.finish(now)
	case b.Polls > 1:
		b.Result = resultProcessing
	}
}
