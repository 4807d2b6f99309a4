package sandbox

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Rejection reasons, the keys of Stats.Rejected (listed in the package
// documentation with the answers they come with).
const (
	reasonHTTPMethod         = "http_method"
	reasonBodyTooLarge       = "body_too_large"
	reasonUnreadableBody     = "unreadable_body"
	reasonContentType        = "content_type"
	reasonEncoding           = "invalid_encoding"
	reasonForm               = "malformed_form"
	reasonDuplicateParam     = "duplicate_param"
	reasonEmptyParam         = "empty_param"
	reasonMissingMethod      = "missing_method"
	reasonInvalidMethod      = "invalid_method"
	reasonMissingAppKey      = "missing_app_key"
	reasonInvalidAppKey      = "invalid_app_key"
	reasonMissingTimestamp   = "missing_timestamp"
	reasonInvalidTimestamp   = "invalid_timestamp"
	reasonStaleTimestamp     = "stale_timestamp"
	reasonMissingVersion     = "missing_version"
	reasonInvalidVersion     = "invalid_version"
	reasonUnsupportedVersion = "unsupported_version"
	reasonFormat             = "invalid_format"
	reasonMissingSignMethod  = "missing_sign_method"
	reasonSignMethod         = "invalid_sign_method"
	reasonMissingSign        = "missing_signature"
	reasonBadSign            = "invalid_signature"
	reasonSimplify           = "invalid_simplify"
	reasonBanned             = "banned"
	reasonMissingParam       = "missing_param"
	reasonUnknownParam       = "unknown_param"
	reasonInvalidParam       = "invalid_param"
	reasonTooManyCodes       = "too_many_codes"

	// Business refusals (normal answers with msg_code ≠ SUCCESS).
	reasonAuth       = "auth"
	reasonDirection  = "direction"
	reasonPartner    = "unknown_partner"
	reasonStrict     = "strict_codes"
	reasonRepeatFlow = "repeat_flow"
	reasonSold       = "sold"
	reasonBusy       = "busy"
)

// gwErr is a gateway error answer.
type gwErr struct {
	reason string
	status int // HTTP status; 0 = 200 like TOP
	resp   topError
}

// topErr is a TOP system error (codes 7–34), which carries no sub_code on
// the real gateway; the sandbox adds a sub_msg saying what is wrong.
func topErr(reason string, code int, msg, subMsg string) *gwErr {
	return &gwErr{reason: reason, resp: topError{Code: code, Msg: msg, SubMsg: subMsg}}
}

// invalidParam is error 41 with sub_code isv.invalid-parameter.
func invalidParam(reason, name, subMsg string) *gwErr {
	msg := "Invalid arguments"
	if name != "" {
		msg += ":" + name
	}
	return &gwErr{reason: reason, resp: topError{Code: 41, Msg: msg, SubCode: "isv.invalid-parameter", SubMsg: subMsg}}
}

// call is a request that passed the gateway checks.
type call struct {
	reqID    string
	params   map[string]string
	method   string
	appKey   string
	simplify bool
	busy     bool
	ent      *Enterprise // the app's enterprise; nil if the app has none
}

// reply is a method's outcome: a gateway error, or a business body (with
// a rejection reason when it is a refusal).
type reply struct {
	err    *gwErr
	body   any
	reason string
}

// isSystemParam tells the TOP common parameters every method allows.
// session is accepted and ignored: the lsyd methods need none.
func isSystemParam(k string) bool {
	switch k {
	case paramMethod, paramAppKey, paramSession, paramTimestamp, paramVersion,
		paramSignMethod, paramSign, paramFormat, paramSimplify, paramPartnerID, paramTargetApp:
		return true
	}
	return false
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *gwErr) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err == nil {
		return body, nil
	}
	if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
		e := invalidParam(reasonBodyTooLarge, "", fmt.Sprintf("request body exceeds %d bytes", MaxBody))
		e.status = http.StatusRequestEntityTooLarge
		return nil, e
	}
	e := invalidParam(reasonUnreadableBody, "", "reading the request body: "+err.Error())
	e.status = http.StatusBadRequest
	return nil, e
}

// checkContentType accepts only an urlencoded form in UTF-8.
func checkContentType(v string) *gwErr {
	const want = "application/x-www-form-urlencoded"
	if v == "" {
		return invalidParam(reasonContentType, "", "Content-Type is required: "+want+";charset=utf-8")
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil || mt != want {
		return invalidParam(reasonContentType, "", fmt.Sprintf("Content-Type %q: the sandbox only reads %s (no multipart, no JSON)", v, want))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return topErr(reasonEncoding, 47, "Invalid encoding", fmt.Sprintf("charset %q: only utf-8 is accepted", cs))
	}
	return nil
}

// parseParams merges the query string (where the official PHP SDK puts the
// system parameters) and the body. A name given twice is refused because
// the signature would be ambiguous; so are empty values, because the
// official SDKs disagree on whether they are signed.
func parseParams(rawQuery string, body []byte) (map[string]string, *gwErr) {
	out := make(map[string]string)
	for _, src := range []struct{ where, data string }{{"query string", rawQuery}, {"body", string(body)}} {
		vals, err := url.ParseQuery(src.data)
		if err != nil {
			return nil, invalidParam(reasonForm, "", fmt.Sprintf("malformed form data in the %s: %v", src.where, err))
		}
		for _, k := range slices.Sorted(maps.Keys(vals)) {
			vs := vals[k]
			if !utf8.ValidString(k) || !allValidUTF8(vs) {
				return nil, topErr(reasonEncoding, 47, "Invalid encoding", fmt.Sprintf("parameter %q in the %s is not valid UTF-8", k, src.where))
			}
			if len(vs) > 1 {
				return nil, invalidParam(reasonDuplicateParam, k, fmt.Sprintf("parameter %q is given %d times in the %s", k, len(vs), src.where))
			}
			if _, dup := out[k]; dup {
				return nil, invalidParam(reasonDuplicateParam, k, fmt.Sprintf("parameter %q is given both in the query string and in the body", k))
			}
			out[k] = vs[0]
		}
	}
	var empty []string
	for _, k := range slices.Sorted(maps.Keys(out)) {
		if k == "" || out[k] == "" {
			empty = append(empty, strconv.Quote(k))
		}
	}
	if len(empty) > 0 {
		return nil, invalidParam(reasonEmptyParam, "", "empty parameters are not allowed (SDKs disagree on signing them; omit them): "+strings.Join(empty, ", "))
	}
	return out, nil
}

func allValidUTF8(vs []string) bool {
	for _, v := range vs {
		if !utf8.ValidString(v) {
			return false
		}
	}
	return true
}

// verify checks the system parameters and the signature, in the order
// listed in the package documentation.
func (s *Server) verify(p map[string]string) (*call, *gwErr) {
	method, ok := p[paramMethod]
	if !ok {
		return nil, topErr(reasonMissingMethod, 21, "Missing method", "parameter method is required")
	}
	if _, known := lookupMethod(method); !known {
		return nil, topErr(reasonInvalidMethod, 22, "Invalid method", fmt.Sprintf("method %q is not served (the sandbox serves the lsyd methods listed by sandbox.Methods)", method))
	}
	app, ok := p[paramAppKey]
	if !ok {
		return nil, topErr(reasonMissingAppKey, 28, "Missing app key", "parameter app_key is required")
	}
	secret, ok := s.apps[app]
	if !ok {
		return nil, topErr(reasonInvalidAppKey, 29, "Invalid app key", fmt.Sprintf("app_key %q is not known", app))
	}
	tsText, ok := p[paramTimestamp]
	if !ok {
		return nil, topErr(reasonMissingTimestamp, 30, "Missing timestamp", "parameter timestamp is required")
	}
	ts, err := time.ParseInLocation(timestampLayout, tsText, chinaTime)
	if err != nil {
		return nil, topErr(reasonInvalidTimestamp, 31, "Invalid timestamp", fmt.Sprintf("timestamp %q must be %q in China time (UTC+8)", tsText, timestampLayout))
	}
	switch v, ok := p[paramVersion]; {
	case !ok:
		return nil, topErr(reasonMissingVersion, 32, "Missing version", "parameter v is required: 2.0")
	case v == topVersion:
	default:
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return nil, topErr(reasonInvalidVersion, 33, "Invalid version", fmt.Sprintf("v %q is not a version number; use 2.0", v))
		}
		return nil, topErr(reasonUnsupportedVersion, 34, "Unsupported version", fmt.Sprintf("v %q is not supported; use 2.0", v))
	}
	if f, ok := p[paramFormat]; !ok || f != "json" {
		what := "format is absent, which means xml (the TOP default)"
		if ok {
			what = fmt.Sprintf("format %q was asked", f)
		}
		return nil, topErr(reasonFormat, 23, "Invalid format", what+": the sandbox only speaks json, send format=json")
	}
	sm, ok := p[paramSignMethod]
	if !ok {
		return nil, topErr(reasonMissingSignMethod, 25, "Invalid signature", "parameter sign_method is required: md5, hmac or hmac-sha256")
	}
	if sm != signMD5 && sm != signHMAC && sm != signHMACSHA256 {
		return nil, topErr(reasonSignMethod, 25, "Invalid signature", fmt.Sprintf("sign_method %q is not md5, hmac or hmac-sha256", sm))
	}
	got, ok := p[paramSign]
	if !ok {
		return nil, topErr(reasonMissingSign, 24, "Missing signature", "parameter sign is required")
	}
	want := topSign(p, secret, sm)
	// The gateway compares the uppercase hex text: lowercase is wrong.
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return nil, topErr(reasonBadSign, 25, "Invalid signature",
			"sign does not match: "+sm+" over every parameter but sign, sorted by name, as uppercase hex")
	}
	// The clock is checked after the signature so that a caller without
	// the secret learns nothing about it.
	if skew := s.now().Sub(ts); skew > s.window || skew < -s.window {
		return nil, topErr(reasonStaleTimestamp, 31, "Invalid timestamp",
			fmt.Sprintf("timestamp %s (UTC+8) is %v away from the gateway clock %s (allowed ±%v)",
				tsText, skew.Round(time.Second), s.now().In(chinaTime).Format(timestampLayout), s.window))
	}
	c := &call{params: p, method: method, appKey: app, ent: s.world.entByApp(app)}
	switch v, ok := p[paramSimplify]; {
	case !ok || v == "false":
	case v == "true":
		c.simplify = true
	default:
		return nil, invalidParam(reasonSimplify, paramSimplify, fmt.Sprintf("simplify %q must be true or false", v))
	}
	return c, nil
}

// topSign is the TOP signature: every parameter but sign, sorted by name,
// joined as name+value; md5 wraps the text in the secret, hmac and
// hmac-sha256 key the MAC with it; uppercase hex. signMethod must be one
// of the three.
func topSign(p map[string]string, secret []byte, signMethod string) string {
	var h hash.Hash
	switch signMethod {
	case signHMAC:
		h = hmac.New(md5.New, secret)
	case signHMACSHA256:
		h = hmac.New(sha256.New, secret)
	default:
		h = md5.New()
		h.Write(secret)
	}
	for _, k := range slices.Sorted(maps.Keys(p)) {
		if k == paramSign {
			continue
		}
		io.WriteString(h, k)
		io.WriteString(h, p[k])
	}
	if signMethod == signMD5 {
		h.Write(secret)
	}
	return strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
}

// methodSpec is a served method: its business parameters and handler.
type methodSpec struct {
	required []string
	optional []string
	upload   bool // answers in the upload shape (fields at top level)
	run      func(*Server, *call) reply
}

// lookupMethod returns the spec of a served method. The required and
// optional parameters are those of the golgys0621/topsdk request types
// (ability2939/request/<Method>Request.go, `required:"true"` tags), except
// where noted.
func lookupMethod(m string) (methodSpec, bool) {
	switch m {
	case methodUploadInOutBill:
		// …LsydUploadinoutbillRequest.go
		return methodSpec{required: []string{pBillCode, pBillTime, pBillType, pPhysicType, pRefUserID, pFromUserID, pToUserID,
			pTraceCodes, pClientType}, optional: inOutOptional(), upload: true, run: (*Server).uploadInOut}, true
	case methodUploadRetail:
		// …LsydUploadretailRequest.go
		return methodSpec{required: []string{pBillCode, pBillTime, pBillType, pRefUserID, pTraceCodes},
			optional: retailOptional(), upload: true, run: (*Server).uploadRetail}, true
	case methodQueryUpBillCode:
		// …LsydQueryUpbillcodeRequest.go marks both optional; without
		// them there is nothing to look up, so the sandbox requires them.
		return methodSpec{required: []string{pCode, pRefEntID}, run: (*Server).queryUpBillCode}, true
	case methodListUpOut:
		// …LsydListupoutRequest.go
		return methodSpec{required: []string{pRefEntID, pBeginDate, pEndDate, pPageSize, pPage},
			optional: []string{pFromUserID, "produce_batch_no", "drug_ent_base_info_id", pBillType, pPhysicType,
				pStatus, pBillCode, "ass_ref_ent_id"},
			run: (*Server).listUpOut}, true
	case methodListUpOutDetail:
		// …LsydListupoutDetailRequest.go
		return methodSpec{required: []string{pRefEntID, pBillCode, pFromRefUserID, pToRefUserID},
			optional: []string{"ass_ref_ent_id"}, run: (*Server).listUpOutDetail}, true
	case methodQueryBillStatus:
		// …LsydQueryBillstatusRequest.go
		return methodSpec{required: []string{pRefEntID, pBeginDate, pEndDate, pBillType, pPageSize, pPage},
			optional: []string{pBillCode, "drug_type", pDealStatus, pFromUserID, pToUserID, "agent_ref_user_id"},
			run:      (*Server).queryBillStatus}, true
	case methodQueryUpBillDetail:
		// …LsydQueryUpbilldetailRequest.go
		return methodSpec{required: []string{pBillCode, pRefEntID}, run: (*Server).queryUpBillDetail}, true
	case methodQueryCodeDetail:
		// …LsydQueryCodedetailRequest.go
		return methodSpec{required: []string{pRefEntID, pCodes}, run: (*Server).queryCodeDetail}, true
	case methodQueryRelation:
		// …LsydQueryRelationRequest.go: des_ref_ent_id required too.
		return methodSpec{required: []string{pRefEntID, pCode, pDesRefEntID}, run: (*Server).queryRelation}, true
	case methodListBillProcessPartSuccess:
		// …LsydListbillprocesspartsuccessRequest.go: bill_code optional,
		// page and page_size required.
		return methodSpec{required: []string{pRefEntID, pPage, pPageSize},
			optional: []string{pBillCode, pErrorCode, pCode}, run: (*Server).listPartSuccess}, true
	case methodGetEntInfoList:
		// AlibabaAlihealthDrugLsydGetentinfolistRequest.go: ref_ent_id
		// required, query_param optional.
		return methodSpec{required: []string{pRefEntID}, optional: []string{pQueryParam}, run: (*Server).getEntInfoList}, true
	case methodSearchBill:
		return searchBillSpec(), true
	}
	return complianceSpec(m)
}

// checkParams refuses missing required and unknown business parameters;
// the real gateway ignores unknown ones, but a misspelt optional parameter
// would then be lost without a word.
func (m *methodSpec) checkParams(c *call) *gwErr {
	var missing []string
	for _, k := range m.required {
		if _, ok := c.params[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return &gwErr{reason: reasonMissingParam, resp: topError{Code: 40,
			Msg: "Missing required arguments:" + missing[0], SubCode: "isv.missing-parameter",
			SubMsg: "缺少必选参数: " + strings.Join(missing, ", ")}}
	}
	for _, k := range slices.Sorted(maps.Keys(c.params)) {
		if !isSystemParam(k) && !slices.Contains(m.required, k) && !slices.Contains(m.optional, k) {
			return invalidParam(reasonUnknownParam, k, fmt.Sprintf("parameter %q is not a parameter of %s", k, c.method))
		}
	}
	return nil
}
