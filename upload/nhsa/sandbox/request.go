package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// fsiErr is a refusal answered inside an FSI response (infcode -1).
type fsiErr struct {
	reason string
	msg    string
}

func refuse(reason, format string, args ...any) *fsiErr {
	return &fsiErr{reason: reason, msg: fmt.Sprintf(format, args...)}
}

// fsiReq is an FSI request whose header passed every check.
type fsiReq struct {
	infno   string
	msgid   string
	inst    *institution
	input   json.RawMessage
	content string    // digest of infno + canonical input: what a msgid stands for
	at      time.Time // the time in msgid
	unknown []string  // unknown header fields, for warn_msg
}

// serveFSI answers one FSI request (already decrypted in sm2sm4 mode)
// with the bytes of an FSI answer in the given shape.
func (s *Server) serveFSI(plain []byte, received time.Time, f Fault, shape Answer) []byte {
	now := s.now()
	req, e := s.parseRequest(plain, now)
	if e != nil {
		return s.refuseUnstored(s.admdvsOf, received, e, nil)
	}
	switch f {
	case FaultBusy:
		return s.refuseUnstored(req.inst.Admdvs, received, refuse(reasonBusy, "%s, 请稍后重试", TextBusy), nil)
	case FaultBusyResult:
		return s.refuseUnstored(req.inst.Admdvs, received, refuse(reasonBusy, "%s, 请稍后重试", TextBusy),
			resultOutput{Result: retResult{RetRslt: "0", MsgRslt: TextBusy + ", 请稍后重试"}})
	}
	// A msgid seen before is answered from the store before its input is
	// looked at again: the platform has already decided it.
	s.mu.Lock()
	rec := s.msgids[req.msgid]
	s.mu.Unlock()
	if rec != nil {
		return s.replay(req, received, rec)
	}
	if req.infno == infTraceQuery {
		return s.serveTrace(req, received, now)
	}
	if isRowQuery(req.infno) {
		return s.serveRowQuery(req, received, now)
	}
	rows, rowErrs, unknown, callErr := s.parseInput(req, now)
	s.noteUnknown(unknown)
	unknown = append(req.unknown, unknown...)
	warn := ""
	if len(unknown) > 0 {
		warn = "已忽略未知字段: " + strings.Join(unknown, ",")
	}

	s.mu.Lock()
	// Checked again under the lock that covers the apply: two copies of
	// one msgid racing must still apply once.
	if rec := s.msgids[req.msgid]; rec != nil {
		s.mu.Unlock()
		return s.replay(req, received, rec)
	}
	ref := s.nextRefLocked(req.inst.Admdvs)
	var ans []byte
	var refused []*fsiErr
	switch {
	case callErr != nil:
		// The input as a whole is wrong: no shape can speak per row.
		refused = []*fsiErr{callErr}
		ans = s.answerLocked(ref, received, callErr, warn, nil)
	case shape == AnswerPerRow:
		out := rowsOutput{Rows: make([]rowResult, len(rows))}
		for i, r := range rows {
			e := rowErrs[i]
			if e == nil {
				e = s.applyLocked(req, []*row{r}, ref, now)
			}
			out.Rows[i] = rowResult{MedListCodg: r.medList, FixmedinsHilistID: r.hilistID,
				FixmedinsHilistName: r.hilistName, FixmedinsBchno: r.bchno, RetRslt: "1", MsgRslt: "成功"}
			if e != nil {
				refused = append(refused, e)
				out.Rows[i].RetRslt, out.Rows[i].MsgRslt = "0", clip(e.msg, maxMsgRslt)
			}
		}
		ans = s.answerLocked(ref, received, nil, warn, out)
	default:
		e := firstErr(rowErrs)
		if e == nil {
			e = checkCall(req.infno, rows)
		}
		if e == nil {
			e = s.applyLocked(req, rows, ref, now)
		}
		if e != nil {
			refused = []*fsiErr{e}
		}
		switch {
		case shape != AnswerRetRslt:
			ans = s.answerLocked(ref, received, e, warn, nil)
		case e != nil:
			ans = s.answerLocked(ref, received, nil, warn, resultOutput{Result: retResult{RetRslt: "0", MsgRslt: clip(e.msg, maxMsgRslt)}})
		default:
			ans = s.answerLocked(ref, received, nil, warn, resultOutput{Result: retResult{RetRslt: "1", MsgRslt: "成功"}})
		}
	}
	s.storeLocked(req, ans, now)
	for _, e := range refused {
		s.stats.Rejected[e.reason]++
	}
	s.mu.Unlock()

	if len(refused) > 0 {
		s.log.Info("sandbox: refused", "infno", req.infno, "msgid", req.msgid, "shape", shape.String(),
			"reason", refused[0].reason, "err_msg", refused[0].msg, "refused_rows", len(refused), "inf_refmsgid", ref)
	} else {
		s.log.Info("sandbox: accepted", "infno", req.infno, "msgid", req.msgid, "shape", shape.String(),
			"rows", len(rows), "inf_refmsgid", ref)
	}
	return ans
}

// maxMsgRslt is the longest msgRslt (错误原因 字符型 2000, Output_3502A).
const maxMsgRslt = 2000

func firstErr(errs []*fsiErr) *fsiErr {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// replay answers a msgid seen before: the stored answer, byte for byte,
// unless the msgid now carries other content, which would let a client
// believe a row was applied that never was.
func (s *Server) replay(req *fsiReq, received time.Time, rec *msgRecord) []byte {
	if rec.content != req.content {
		return s.refuseUnstored(req.inst.Admdvs, received,
			refuse(reasonMsgidReuse, "报文ID[%s]已用于其他内容的请求, 请使用新的msgid", req.msgid), nil)
	}
	s.mu.Lock()
	s.stats.DuplicateMsgids++
	s.mu.Unlock()
	s.log.Info("sandbox: duplicate msgid answered from the store", "infno", req.infno, "msgid", req.msgid)
	return rec.answer
}

// refuseUnstored answers a refusal that is not stored under the msgid:
// the msgid is unusable, or the refusal is transient. With output set
// the refusal is worded as a business result under infcode 0.
func (s *Server) refuseUnstored(admdvs string, received time.Time, e *fsiErr, output any) []byte {
	s.mu.Lock()
	s.stats.Rejected[e.reason]++
	ref := s.nextRefLocked(admdvs)
	var ans []byte
	if output != nil {
		ans = s.answerLocked(ref, received, nil, "", output)
	} else {
		ans = s.answerLocked(ref, received, e, "", nil)
	}
	s.mu.Unlock()
	s.log.Info("sandbox: refused", "reason", e.reason, "err_msg", e.msg, "inf_refmsgid", ref)
	return ans
}

// nextRefLocked returns a new inf_refmsgid: admdvs(6) + time(14) +
// serial(10).
func (s *Server) nextRefLocked(admdvs string) string {
	s.refSeq++
	return admdvs + s.now().In(s.cst).Format(msgidTimeLayout) + fmt.Sprintf("%010d", s.refSeq%10_000_000_000)
}

// answerLocked encodes an FSI answer: infcode -1 and err_msg for e, else
// infcode 0 with output (omitted when nil, as for the plain 进销存 answer).
func (s *Server) answerLocked(ref string, received time.Time, e *fsiErr, warn string, output any) []byte {
	resp := fsiAnswer{Infcode: infcodeOK, InfRefmsgid: ref, RefmsgTime: s.respTime(received),
		RespondTime: s.respTime(s.now()), WarnMsg: clip(warn, MaxErrMsg), Output: output}
	if e != nil {
		resp.Infcode = infcodeError
		resp.ErrMsg = clip(e.msg, MaxErrMsg)
		resp.Output = nil
	}
	b, err := json.Marshal(resp)
	if err != nil {
		// fsiAnswer holds strings, ints and the sandbox's own output types.
		return []byte(`{"infcode":-1,"err_msg":"encoding the answer failed"}`)
	}
	return b
}

// respTime formats yyyyMMddHHmmssSSS with real milliseconds (Go's
// layouts need a separator before fractional seconds).
func (s *Server) respTime(t time.Time) string {
	t = t.In(s.cst)
	return t.Format(msgidTimeLayout) + fmt.Sprintf("%03d", t.Nanosecond()/int(time.Millisecond))
}

// clip cuts s to at most n characters.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// parseRequest checks the FSI request envelope. The order is fixed (see
// the package documentation); the windows come last so that a request
// that is wrong in form is told so whatever the clock.
func (s *Server) parseRequest(plain []byte, now time.Time) (*fsiReq, *fsiErr) {
	if !utf8.Valid(plain) {
		return nil, refuse(reasonInvalidJSON, "入参不是有效的UTF-8")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(plain, &top); err != nil || top == nil {
		return nil, refuse(reasonInvalidJSON, "入参不是JSON对象")
	}
	vals := make(map[string]string, len(top))
	var unknown []string
	for _, k := range slices.Sorted(maps.Keys(top)) {
		raw := top[k]
		if k == "input" || isNull(raw) {
			continue
		}
		if s.header[k] != kindString {
			unknown = append(unknown, k)
			continue
		}
		var v string
		if json.Unmarshal(raw, &v) != nil {
			return nil, refuse(reasonWrongType, "字段%s应为字符串", k)
		}
		vals[k] = v
	}
	s.noteUnknown(unknown)

	for _, k := range s.headerReq {
		if vals[k] == "" {
			return nil, refuse(reasonMissingField, "必填字段缺失: %s", k)
		}
	}
	if raw, ok := top["input"]; !ok || isNull(raw) {
		return nil, refuse(reasonMissingField, "必填字段缺失: input")
	}
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		if n := s.headerLens[k]; n > 0 && utf8.RuneCountInString(vals[k]) > n {
			return nil, refuse(reasonTooLong, "字段%s超长(最多%d个字符)", k, n)
		}
	}

	infno := vals["infno"]
	if _, ok := s.schemas[infno]; !ok && infno != infTraceQuery && !isRowQuery(infno) {
		return nil, refuse(reasonUnknownInfno, "交易编号[%s]不存在", infno)
	}
	s.mu.Lock()
	s.stats.ByInfno[infno]++
	s.mu.Unlock()

	code := vals["fixmedins_code"]
	inst := s.insts[code]
	if inst == nil {
		return nil, refuse(reasonUnknownInst, "定点医药机构编号[%s]不存在", code)
	}
	msgid := vals["msgid"]
	msgTime, ok := s.parseMsgid(msgid, code)
	if !ok {
		return nil, refuse(reasonInvalidMsgid, "报文ID[%s]格式错误: 应为定点医药机构编号(12)+yyyyMMddHHmmss(14)+顺序号(4)", msgid)
	}
	if vals["fixmedins_name"] != inst.FixmedinsName {
		return nil, refuse(reasonInstName, "定点医药机构名称与编号[%s]不符", code)
	}
	if adm := vals["mdtrtarea_admvs"]; !isDigits(adm, 6) || adm != inst.Admdvs {
		return nil, refuse(reasonAdmdvs, "就医地医保区划[%s]错误: 应为机构所在区划(6位数字)", adm)
	}
	if adm, ok := vals["insuplc_admdvs"]; ok && !isDigits(adm, 6) {
		return nil, refuse(reasonAdmdvs, "参保地医保区划[%s]应为6位数字", adm)
	}
	if s.recerSys != "" && vals["recer_sys_code"] != s.recerSys {
		return nil, refuse(reasonRecerSysCode, "接收方系统代码[%s]错误", vals["recer_sys_code"])
	}
	switch vals["opter_type"] {
	case "1", "2", "3": // 经办人, 自助终端, 移动终端 (nhsa.md §2.1)
	default:
		return nil, refuse(reasonOpterType, "经办人类别[%s]错误: 应为1、2或3", vals["opter_type"])
	}
	infTime, err := time.ParseInLocation(timeLayout, vals["inf_time"], s.cst)
	if err != nil {
		return nil, refuse(reasonInfTime, "交易时间[%s]格式错误: 应为yyyy-MM-dd HH:mm:ss", vals["inf_time"])
	}
	input := bytes.TrimSpace(top["input"])
	if input[0] != '{' {
		return nil, refuse(reasonInvalidInput, "input应为JSON对象")
	}
	if n := utf8.RuneCount(input); n > s.maxInput {
		return nil, refuse(reasonInputTooLong, "入参input长度[%d]超过最大长度[%d]", n, s.maxInput)
	}
	if !s.within(msgTime, now) {
		return nil, refuse(reasonStaleMsgid, "报文ID[%s]的时间超出允许范围(±%v)", msgid, s.window)
	}
	if !s.within(infTime, now) {
		return nil, refuse(reasonStaleInfTime, "交易时间[%s]超出允许范围(±%v)", vals["inf_time"], s.window)
	}
	return &fsiReq{infno: infno, msgid: msgid, inst: inst, input: input,
		content: digest(infno + "\n" + canonical(input)), at: msgTime, unknown: unknown}, nil
}

// parseMsgid checks msgid = fixmedins_code(12) + yyyyMMddHHmmss(14, UTC+8)
// + 4 digits and returns its time.
func (s *Server) parseMsgid(msgid, code string) (time.Time, bool) {
	if len(msgid) != msgidLen || !strings.HasPrefix(msgid, code) {
		return time.Time{}, false
	}
	stamp, serial := msgid[fixmedinsCodeLen:fixmedinsCodeLen+14], msgid[fixmedinsCodeLen+14:]
	if !isDigits(stamp, 14) || !isDigits(serial, 4) {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation(msgidTimeLayout, stamp, s.cst)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// digest stands for a long text in maps that outlive the request.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return string(sum[:])
}

// storeLocked keeps the answer of a msgid. A msgid whose time is outside
// the window is refused before it is looked up, so records older than two
// windows (allowing for a clock that moves back) can never be asked for
// again; they are pruned whenever the map has doubled, which keeps memory
// proportional to one window's traffic.
func (s *Server) storeLocked(req *fsiReq, answer []byte, now time.Time) {
	s.msgids[req.msgid] = &msgRecord{content: req.content, at: req.at, answer: answer}
	if len(s.msgids) <= max(s.msgidPrune, 1024) {
		return
	}
	for k, r := range s.msgids {
		if d := now.Sub(r.at); d > 2*s.window || d < -2*s.window {
			delete(s.msgids, k)
		}
	}
	s.msgidPrune = 2 * len(s.msgids)
}

// canonical re-encodes JSON with sorted keys, numbers as written and null
// members dropped (a platform stores absent and null alike), so that
// formatting does not tell two requests apart. Input that does not decode
// is returned as is.
func canonical(raw []byte) string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return string(raw)
	}
	b, err := json.Marshal(dropNulls(v, 0))
	if err != nil {
		return string(raw)
	}
	return string(b)
}

// dropNulls removes null object members at every depth (bounded, though
// the body size bounds it already).
func dropNulls(v any, depth int) any {
	if depth > 64 {
		return v
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == nil {
				delete(x, k)
				continue
			}
			x[k] = dropNulls(e, depth+1)
		}
	case []any:
		for i, e := range x {
			x[i] = dropNulls(e, depth+1)
		}
	}
	return v
}

// formatCodes lists codes for an err_msg, as many as fit.
func formatCodes(codes []string) string {
	var b strings.Builder
	for i, c := range codes {
		if b.Len() > 120 {
			b.WriteString("等" + strconv.Itoa(len(codes)) + "个")
			break
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(c)
	}
	return b.String()
}
