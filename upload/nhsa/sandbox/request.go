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

	"github.com/pda-agent/pda-agent/upload/nhsa/fsi"
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
// with the bytes of an fsi.Response.
func (s *Server) serveFSI(plain []byte, received time.Time, busy bool) []byte {
	now := s.now()
	req, e := s.parseRequest(plain, now)
	if e != nil {
		return s.refuseUnstored(s.admdvsOf, received, e)
	}
	if busy {
		return s.refuseUnstored(req.inst.Admdvs, received, refuse(reasonBusy, "%s, 请稍后重试", fsi.ErrTextBusy))
	}
	// A msgid seen before is answered from the store before its input is
	// looked at again: the platform has already decided it.
	s.mu.Lock()
	rec := s.msgids[req.msgid]
	s.mu.Unlock()
	if rec != nil {
		return s.replay(req, received, rec)
	}
	rows, unknown, e := s.parseInput(req, now)
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
	if e == nil {
		e = s.applyLocked(req, rows, ref, now)
	}
	ans := s.answerLocked(ref, received, e, warn)
	s.storeLocked(req, ans, now)
	if e != nil {
		s.stats.Rejected[e.reason]++
	}
	s.mu.Unlock()

	if e != nil {
		s.log.Info("sandbox: refused", "infno", req.infno, "msgid", req.msgid, "reason", e.reason, "err_msg", e.msg, "inf_refmsgid", ref)
	} else {
		s.log.Info("sandbox: accepted", "infno", req.infno, "msgid", req.msgid, "rows", len(rows), "inf_refmsgid", ref)
	}
	return ans
}

// replay answers a msgid seen before: the stored answer, byte for byte,
// unless the msgid now carries other content, which would let a client
// believe a row was applied that never was.
func (s *Server) replay(req *fsiReq, received time.Time, rec *msgRecord) []byte {
	if rec.content != req.content {
		return s.refuseUnstored(req.inst.Admdvs, received,
			refuse(reasonMsgidReuse, "报文ID[%s]已用于其他内容的请求, 请使用新的msgid", req.msgid))
	}
	s.mu.Lock()
	s.stats.DuplicateMsgids++
	s.mu.Unlock()
	s.log.Info("sandbox: duplicate msgid answered from the store", "infno", req.infno, "msgid", req.msgid)
	return rec.answer
}

// refuseUnstored answers a refusal that is not stored under the msgid:
// the msgid is unusable, or the refusal is transient.
func (s *Server) refuseUnstored(admdvs string, received time.Time, e *fsiErr) []byte {
	s.mu.Lock()
	s.stats.Rejected[e.reason]++
	ref := s.nextRefLocked(admdvs)
	ans := s.answerLocked(ref, received, e, "")
	s.mu.Unlock()
	s.log.Info("sandbox: refused", "reason", e.reason, "err_msg", e.msg, "inf_refmsgid", ref)
	return ans
}

// nextRefLocked returns a new inf_refmsgid: admdvs(6) + time(14) +
// serial(10).
func (s *Server) nextRefLocked(admdvs string) string {
	s.refSeq++
	return admdvs + s.now().In(s.cst).Format(fsi.MsgIDTimeLayout) + fmt.Sprintf("%010d", s.refSeq%10_000_000_000)
}

// answerLocked encodes an fsi.Response; output stays empty, as for every
// 进销存 interface.
func (s *Server) answerLocked(ref string, received time.Time, e *fsiErr, warn string) []byte {
	resp := fsi.Response{Infcode: fsi.InfcodeOK, InfRefmsgid: ref, RefmsgTime: s.respTime(received),
		RespondTime: s.respTime(s.now()), WarnMsg: clip(warn, MaxErrMsg)}
	if e != nil {
		resp.Infcode = fsi.InfcodeError
		resp.ErrMsg = clip(e.msg, MaxErrMsg)
	}
	b, err := json.Marshal(resp)
	if err != nil {
		// fsi.Response holds strings and an int only.
		return []byte(`{"infcode":-1,"err_msg":"encoding the answer failed"}`)
	}
	return b
}

// respTime formats yyyyMMddHHmmssSSS with real milliseconds;
// fsi.RespTimeLayout cannot express them (Go needs a separator before
// fractional seconds, so its "000" is a literal).
func (s *Server) respTime(t time.Time) string {
	t = t.In(s.cst)
	return t.Format(fsi.MsgIDTimeLayout) + fmt.Sprintf("%03d", t.Nanosecond()/int(time.Millisecond))
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

	required := []string{"infno", "msgid", "mdtrtarea_admvs", "infver", "opter_type", "opter", "opter_name",
		"inf_time", "fixmedins_code", "fixmedins_name"}
	if s.recerSys != "" {
		required = append(required, "recer_sys_code")
	}
	for _, k := range required {
		if vals[k] == "" {
			return nil, refuse(reasonMissingField, "必填字段缺失: %s", k)
		}
	}
	if raw, ok := top["input"]; !ok || isNull(raw) {
		return nil, refuse(reasonMissingField, "必填字段缺失: input")
	}
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		if n := maxLen(k); n > 0 && utf8.RuneCountInString(vals[k]) > n {
			return nil, refuse(reasonTooLong, "字段%s超长(最多%d个字符)", k, n)
		}
	}

	infno := vals["infno"]
	if _, ok := s.schemas[infno]; !ok {
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
	case fsi.OpterClerk, fsi.OpterKiosk, fsi.OpterMobile:
	default:
		return nil, refuse(reasonOpterType, "经办人类别[%s]错误: 应为1、2或3", vals["opter_type"])
	}
	infTime, err := time.ParseInLocation(fsi.TimeLayout, vals["inf_time"], s.cst)
	if err != nil {
		return nil, refuse(reasonInfTime, "交易时间[%s]格式错误: 应为yyyy-MM-dd HH:mm:ss", vals["inf_time"])
	}
	input := bytes.TrimSpace(top["input"])
	if input[0] != '{' {
		return nil, refuse(reasonInvalidInput, "input应为JSON对象")
	}
	if n := utf8.RuneCount(input); n > MaxInput {
		return nil, refuse(reasonInvalidInput, "input超长(%d个字符, 最多%d)", n, MaxInput)
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
	if len(msgid) != fsi.MsgIDLen || !strings.HasPrefix(msgid, code) {
		return time.Time{}, false
	}
	stamp, serial := msgid[fsi.FixmedinsCodeLen:fsi.FixmedinsCodeLen+14], msgid[fsi.FixmedinsCodeLen+14:]
	if !isDigits(stamp, 14) || !isDigits(serial, 4) {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation(fsi.MsgIDTimeLayout, stamp, s.cst)
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
