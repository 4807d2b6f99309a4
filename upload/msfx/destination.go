package msfx

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// Defaults of Config's zero values.
const (
	// DefaultName is the destination name.
	DefaultName = "msfx"
	// DefaultSignMethod is md5, the method with a published test vector.
	DefaultSignMethod = wire.SignMD5
	// DefaultRate and DefaultBurst limit calls per AppKey: about 3/s is
	// what one chain ran at (msfx.md §5.3).
	DefaultRate  = 3.0
	DefaultBurst = 1
	// DefaultTimeout bounds one HTTP request.
	DefaultTimeout = 20 * time.Second
	// DefaultPollInterval is the wait between processing-status checks.
	DefaultPollInterval = 30 * time.Second
	// MaxCodesRetailLimit is the documented trace_codes limit of
	// uploadretail; MaxCodesInOutLimit the 2025-12 SDK's limit of
	// uploadinoutbill (older docs say 3500, the default).
	MaxCodesRetailLimit = 3500
	MaxCodesInOutLimit  = 10000
)

// skipReason is the CodeErrors reason of a code left out by SkipNonMSFX.
const skipReason = "not sent: the platform accepts only 20-digit 码上放心 codes (msfx.skip_non_msfx)"

// vaccination is bill type 322 疫苗接种, uploaded with uploadretail.
const vaccination = 322

// Config configures one store's 码上放心 destination. Zero values take the
// defaults above.
type Config struct {
	// Name is the destination's name in config and in the queue
	// (DefaultName if empty).
	Name string
	// Gateway is the TOP router URL, e.g. https://gw.api.taobao.com/router/rest.
	Gateway string
	// AppKey and AppSecret are the store's TOP credentials. The secret
	// signs requests and is never sent, logged or put in a message.
	AppKey    string
	AppSecret string
	// SignMethod is md5 (default), hmac or hmac-sha256.
	SignMethod string
	// Session is sent only when set (APIs marked 需要授权; public lsyd
	// integrations send none).
	Session string
	// Simplify sends simplify=true, as the public SDKs do: answers without
	// the method wrapper, lists as plain arrays. The agent's configuration
	// defaults to true (configs/default.yaml, msfx.simplify). Answers are
	// read in both shapes whatever it says.
	Simplify bool
	// PartnerID is sent as partner_id when set, e.g. "pda-agent-1.4.0".
	PartnerID string
	// RefEntID is the store's own ref_ent_id (货主 id, digits): ref_user_id
	// of uploads and ref_ent_id of queries. Never HQ's.
	RefEntID string
	// EntID is the store's own ent_id (32 hex digits): from_user_id or
	// to_user_id of in/out bills.
	EntID string
	// MaxCodesRetail and MaxCodesInOut are the codes per upload call
	// (default wire.MaxCodesPerUpload); bigger bills are split.
	MaxCodesRetail, MaxCodesInOut int
	// IgnorePartSuccess sends ignore_part_success_flag=1: the whole bill
	// fails if any code fails, instead of skipping bad codes.
	IgnorePartSuccess bool
	// SkipNonMSFX leaves codes other than 20-digit 码上放心 codes (GS1, …)
	// out of uploads and reports them in CodeErrors. Whether the platform
	// accepts GS1 codes is unconfirmed; by default they are sent as they
	// are.
	SkipNonMSFX bool
	// SelfPartnerTypes are in/out bill types (e.g. 111 盘盈, 205 销毁, 214
	// 盘亏) whose empty partner means the store itself. Which ent_id the
	// platform expects for such bills is unconfirmed; by default a partner
	// is required.
	SelfPartnerTypes []int
	// Rate limits this client's calls per second (uploads, queries and
	// polls together); 0 means DefaultRate, negative disables the limit.
	// Burst defaults to DefaultBurst.
	Rate  float64
	Burst int
	// Timeout bounds each HTTP request (DefaultTimeout if zero).
	Timeout time.Duration
	// PollInterval is the wait between processing-status checks
	// (DefaultPollInterval if zero).
	PollInterval time.Duration
	// OperICCode and OperICName are sent as oper_ic_code/oper_ic_name when
	// set (the AppKey number and the submitter's name).
	OperICCode, OperICName string
	// Now is the clock for timestamps and dates (time.Now if nil).
	Now func() time.Time
	// HTTPClient carries the requests (a private transport if nil). It is
	// copied so that redirects are not followed.
	HTTPClient *http.Client
	// Earlier, if set, names an earlier bill moving one of the bill's
	// packs that has not reached the platform yet; the bill then waits
	// for it. The platform refuses a pack moved the same way twice in a
	// row (码重复流向拦截), so a receiving held up by faults must not land
	// after the customer return that followed it.
	Earlier upload.Earlier
}

var _ upload.Destination = (*Client)(nil)

// New checks c and returns a Client.
func New(c Config) (*Client, error) {
	if err := checkGateway(c.Gateway); err != nil {
		return nil, err
	}
	if c.AppKey == "" || strings.ContainsFunc(c.AppKey, badIDRune) {
		return nil, fmt.Errorf("msfx: app_key %q: must be the TOP AppKey, non-empty, without spaces", c.AppKey)
	}
	// The secret's value never appears in an error.
	if c.AppSecret == "" {
		return nil, errors.New("msfx: empty app_secret")
	}
	if strings.TrimSpace(c.AppSecret) != c.AppSecret {
		return nil, errors.New("msfx: app_secret has leading or trailing spaces (a copy-paste slip?)")
	}
	signMethod := c.SignMethod
	switch signMethod {
	case "":
		signMethod = DefaultSignMethod
	case wire.SignMD5, wire.SignHMAC, wire.SignHMACSHA256:
	default:
		return nil, fmt.Errorf("msfx: sign_method %q: want %s, %s or %s", c.SignMethod, wire.SignMD5, wire.SignHMAC, wire.SignHMACSHA256)
	}
	if strings.ContainsFunc(c.Session, badIDRune) {
		return nil, errors.New("msfx: session contains spaces or control characters")
	}
	if strings.ContainsFunc(c.PartnerID, badIDRune) {
		return nil, fmt.Errorf("msfx: partner_id %q contains spaces or control characters", c.PartnerID)
	}
	// Only the shape is checked: digits for ref_ent_id (examples have 18,
	// the length is not documented), 32 hex digits for ent_id.
	if !isRefEntID(c.RefEntID) {
		return nil, fmt.Errorf("msfx: ref_ent_id %q: must be the store's own ref_ent_id (货主 id, digits only, e.g. 320000000000127971), not its ent_id", c.RefEntID)
	}
	if !isEntID(c.EntID) {
		return nil, fmt.Errorf("msfx: ent_id %q: must be the store's own ent_id (32 hex digits, e.g. 5069452c34b94a778abaa26c2b40b305), not its ref_ent_id", c.EntID)
	}
	maxRetail, err := codeLimit("max_codes_retail", c.MaxCodesRetail, MaxCodesRetailLimit)
	if err != nil {
		return nil, err
	}
	maxInOut, err := codeLimit("max_codes_inout", c.MaxCodesInOut, MaxCodesInOutLimit)
	if err != nil {
		return nil, err
	}
	self := make(map[int]bool, len(c.SelfPartnerTypes))
	for _, t := range c.SelfPartnerTypes {
		if d, err := billtype.DirectionOf(t); err != nil || (d != billtype.Inbound && d != billtype.Outbound) {
			return nil, fmt.Errorf("msfx: self_partner_types: %d is not an in/out bill type", t)
		}
		self[t] = true
	}
	var limiter *rate.Limiter
	switch r := c.Rate; {
	case math.IsNaN(r) || math.IsInf(r, 0):
		return nil, fmt.Errorf("msfx: rate %v is not a number of calls per second", r)
	case r >= 0:
		if r == 0 {
			r = DefaultRate
		}
		burst := c.Burst
		switch {
		case burst < 0:
			return nil, fmt.Errorf("msfx: negative burst %d", burst)
		case burst == 0:
			burst = DefaultBurst
		}
		limiter = rate.NewLimiter(rate.Limit(r), burst)
	}
	timeout, err := positive("timeout", c.Timeout, DefaultTimeout, time.Millisecond)
	if err != nil {
		return nil, err
	}
	poll, err := positive("poll_interval", c.PollInterval, DefaultPollInterval, time.Second)
	if err != nil {
		return nil, err
	}

	var hc http.Client
	if c.HTTPClient != nil {
		hc = *c.HTTPClient
	} else {
		hc.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	// A signed POST must not be replayed elsewhere or turned into a GET.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	cl := &Client{
		name: c.Name, gateway: c.Gateway, appKey: c.AppKey, secret: c.AppSecret,
		signMethod: signMethod, session: c.Session, simplify: c.Simplify, partnerID: c.PartnerID,
		refEntID: c.RefEntID, entID: c.EntID, maxRetail: maxRetail, maxInOut: maxInOut,
		ignorePart: c.IgnorePartSuccess, skipNonMSFX: c.SkipNonMSFX, selfPartner: self,
		operCode: c.OperICCode, operName: c.OperICName,
		timeout: timeout, poll: poll, now: c.Now, zone: chinaZone(), http: &hc, limiter: limiter,
		earlier: c.Earlier,
	}
	if cl.name == "" {
		cl.name = DefaultName
	}
	if cl.now == nil {
		cl.now = time.Now
	}
	return cl, nil
}

func checkGateway(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("msfx: invalid gateway URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("msfx: gateway %q: scheme must be http or https (e.g. https://gw.api.taobao.com/router/rest)", s)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("msfx: gateway %q: no host", s)
	}
	if u.User != nil {
		return errors.New("msfx: gateway URL must not carry user info")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("msfx: gateway %q: must not have a query or fragment (all parameters go in the POST body)", s)
	}
	return nil
}

func codeLimit(name string, v, limit int) (int, error) {
	switch {
	case v < 0:
		return 0, fmt.Errorf("msfx: %s %d is negative", name, v)
	case v == 0:
		return min(wire.MaxCodesPerUpload, limit), nil
	case v > limit:
		return 0, fmt.Errorf("msfx: %s %d is above the documented limit %d", name, v, limit)
	}
	return v, nil
}

func positive(name string, v, def, least time.Duration) (time.Duration, error) {
	switch {
	case v == 0:
		return def, nil
	case v < least:
		return 0, fmt.Errorf("msfx: %s %v is below %v", name, v, least)
	}
	return v, nil
}

func badIDRune(r rune) bool { return r <= ' ' || r == 0x7f }

// isEntID tells whether s has the shape of an ent_id: 32 hex digits.
func isEntID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := range len(s) {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			return false
		}
	}
	return true
}

// isRefEntID tells whether s has the shape of a ref_ent_id: digits.
func isRefEntID(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Deliver makes one attempt to get job's bill uploaded and processed: it
// uploads the parts not yet on the platform (looking unsure ones up first),
// then polls their processing status. It never retries by itself.
func (c *Client) Deliver(ctx context.Context, job upload.Job) upload.Outcome {
	out := c.deliver(ctx, job)
	// Defence in depth: the secret is never sent, but platform text could
	// still echo it from elsewhere.
	out.Message = c.redact(out.Message)
	for k, v := range out.CodeErrors {
		out.CodeErrors[k] = c.redact(v)
	}
	return out
}

func (c *Client) deliver(ctx context.Context, job upload.Job) upload.Outcome {
	b := job.Bill
	refuse := func(format string, args ...any) upload.Outcome {
		return upload.Outcome{Class: upload.Permanent, Message: fmt.Sprintf(format, args...), Progress: job.Progress}
	}
	if b.Code == "" {
		return refuse("msfx: bill %d has no bill_code", b.ID)
	}
	if b.FinishedAt.IsZero() {
		return refuse("msfx: bill %s has no finish time (bill_time)", b.Code)
	}
	method, base, err := c.billParams(b)
	if err != nil {
		return refuse("msfx: bill %s: %v", b.Code, err)
	}
	prog, parts, skipped, unsure, err := c.plan(job, method)
	if err != nil {
		return refuse("msfx: bill %s: %s: %v", b.Code, shortMethod(method), err)
	}
	if len(parts) == 0 {
		if len(skipped) == 0 {
			return refuse("msfx: bill %s has no codes", b.Code)
		}
		ce := make(map[string]string, len(skipped))
		for _, code := range skipped {
			ce[code] = skipReason
		}
		return upload.Outcome{Class: upload.Done, Ref: b.Code, CodeErrors: ce, Progress: prog.encode(),
			Message: fmt.Sprintf("msfx: bill %s: nothing sent: none of its %d codes is a 码上放心 code (msfx.skip_non_msfx)", b.Code, len(skipped))}
	}
	if unsure {
		// An earlier attempt may have sent any part not known to be
		// uploaded: each is looked up before it is sent again.
		for i := range prog.Parts {
			if prog.Parts[i].State == statePending {
				prog.Parts[i].State = stateSending
			}
		}
	}
	if c.earlier != nil && slices.ContainsFunc(prog.Parts, func(pp partProgress) bool {
		return pp.State == statePending || pp.State == stateSending
	}) {
		// Something may still be sent: packs must reach the platform in
		// the order they moved. The progress keeps the parts to look up.
		if out := c.earlier.Hold(ctx, job, "码上放心", prog.encode()); out != nil {
			out.Message = "msfx: " + out.Message
			return *out
		}
	}
	r := &run{c: c, bill: b, method: method, base: base, prog: prog, parts: parts, skipped: skipped}
	return r.do(ctx)
}

// billParams picks the upload method of b and its parameters common to
// every part.
func (c *Client) billParams(b queue.Bill) (string, map[string]string, error) {
	dir, err := billtype.DirectionOf(b.Type)
	if err != nil {
		return "", nil, err
	}
	p := map[string]string{
		wire.PBillTime:   b.FinishedAt.In(c.zone).Format(wire.DateLayout),
		wire.PBillType:   strconv.Itoa(b.Type),
		wire.PRefUserID:  c.refEntID,
		wire.POperICCode: c.operCode,
		wire.POperICName: c.operName,
	}
	if c.ignorePart {
		p[wire.PIgnorePartSuccessFlag] = wire.IgnorePartSuccessStrict
	}
	switch {
	case b.Type == billtype.RetailSale || b.Type == vaccination || b.Type == billtype.CustomerReturn:
		return wire.MethodUploadRetail, p, nil
	case dir != billtype.Inbound && dir != billtype.Outbound:
		return "", nil, fmt.Errorf("bill type %d %s is not uploaded by retail pharmacies (lsyd); 323 is the medical-institution (yljg) retail type, pharmacies use 321",
			b.Type, billtype.Name(b.Type))
	}
	partner := strings.TrimSpace(b.Partner)
	if partner == "" && c.selfPartner[b.Type] {
		partner = c.entID
	}
	who := "supplier"
	if dir == billtype.Outbound {
		who = "receiver"
	}
	switch {
	case partner == "":
		return "", nil, fmt.Errorf("bill has no %s ent_id (partner), required by %s for %d %s", who, shortMethod(wire.MethodUploadInOutBill), b.Type, billtype.Name(b.Type))
	case !isEntID(partner):
		return "", nil, fmt.Errorf("partner %q is not a %s ent_id (32 hex digits); a ref_ent_id or a name would file the bill under the wrong enterprise", clip(partner), who)
	}
	p[wire.PClientType] = wire.ClientType
	// Inbound: goods come from the partner to us; outbound: from us to
	// the partner. 203 调拨出库 follows the outbound rule, although its
	// direction is unconfirmed (one chain's HQ data does not flip the
	// columns, msfx.md §4.2): settle it with a store-side test.
	if dir == billtype.Inbound {
		p[wire.PFromUserID], p[wire.PToUserID] = partner, c.entID
	} else {
		p[wire.PFromUserID], p[wire.PToUserID] = c.entID, partner
	}
	if b.Type == 201 { // 销售出库 also names the distributor: ourselves.
		p[wire.PDisEntID] = c.entID
	}
	destructionParams(p, b) // compliance.go
	return wire.MethodUploadInOutBill, p, nil
}

// partParams completes base with one part's bill_code, codes and
// physic_type: 2 特药 when every code is a special (89-prefixed) pack, 3 普药
// otherwise, a bill mixing both included. The SDK marks physic_type "可不填"
// and "上传后会以实际为准" (the platform re-derives it per code), and
// msfx.md §4.2 advises sending 3; 2 is kept for all-special bills only.
func partParams(base map[string]string, pt part) map[string]string {
	p := maps.Clone(base)
	p[wire.PBillCode] = pt.code
	p[wire.PTraceCodes] = strings.Join(pt.codes, ",")
	p[wire.PPhysicType] = strconv.Itoa(physicType(pt.codes))
	return p
}

// physicType is the physic_type of a part's codes (see partParams).
func physicType(codes []string) int {
	special := func(s string) bool { return strings.HasPrefix(s, "89") }
	if len(codes) > 0 && !slices.ContainsFunc(codes, func(s string) bool { return !special(s) }) {
		return wire.PhysicTypeSpecial
	}
	return wire.PhysicTypeOrdinary
}

// askPartFailures tells whether the codes that failed in processing must
// be asked for (listbillprocesspartsuccess, one call of the AppKey's
// budget per page). The 2025-12 SDK declares query.billstatus
// sub_process_flag 51 全部成功 / 52 部分成功: 52 asks, 51 does not. An
// answer without the flag (older platforms; [META] does not declare it)
// or with another value asks, so that no failure is lost; that the
// platform always sends the flag on processed bills is unconfirmed.
// Strict bills (ignore_part_success_flag=1) process whole or fail, and
// are never asked.
func (c *Client) askPartFailures(pp partProgress) bool {
	if c.ignorePart {
		return false
	}
	return pp.Sub != wire.SubProcessAllOK
}

// limitFor is the per-call code limit of method.
func (c *Client) limitFor(method string) int {
	if method == wire.MethodUploadRetail {
		return c.maxRetail
	}
	return c.maxInOut
}

// plan splits the bill into parts and pairs them with the progress of
// earlier attempts. Once a part may be on the platform the split recorded
// in the progress is kept, whatever the configuration says now. unsure is
// true when an earlier attempt may have sent parts the progress does not
// show (job.Unknown, or a progress that cannot be read).
func (c *Client) plan(job upload.Job, method string) (prog *progress, parts []part, skipped []string, unsure bool, err error) {
	old, ok, perr := parseProgress(job.Progress)
	unsure = job.Unknown || perr != nil
	if ok && (old.started() || job.Unknown) {
		send, skipped, err := selectCodes(job.Items, old.SkipNonMSFX)
		if err != nil {
			return nil, nil, nil, false, err
		}
		parts = splitParts(job.Bill.Code, send, old.Limit)
		if err := old.matches(method, parts); err != nil {
			return nil, nil, nil, false, fmt.Errorf("the codes no longer match the parts an earlier attempt may have uploaded: %w", err)
		}
		return old, parts, skipped, unsure, nil
	}
	limit := c.limitFor(method)
	send, skipped, err := selectCodes(job.Items, c.skipNonMSFX)
	if err != nil {
		return nil, nil, nil, false, err
	}
	parts = splitParts(job.Bill.Code, send, limit)
	return newProgress(method, limit, c.skipNonMSFX, parts), parts, skipped, unsure, nil
}

// run is one Deliver attempt in progress.
type run struct {
	c       *Client
	bill    queue.Bill
	method  string
	base    map[string]string
	prog    *progress
	parts   []part
	skipped []string
}

func (r *run) do(ctx context.Context) upload.Outcome {
	c := r.c
	fresh := 0
	for i, pt := range r.parts {
		pp := &r.prog.Parts[i]
		if pp.State == stateSent || pp.State == stateFinal {
			continue
		}
		if pp.State == stateSending {
			_, found, e := c.queryUpBillDetail(ctx, pt.code)
			switch {
			case e != nil && e.Class == upload.Retry:
				return r.failed(i, "looking it up before sending it again ("+shortMethod(wire.MethodQueryUpBillDetail)+")", e)
			case found:
				r.uploaded(pp, howFound, "", "")
				continue
			}
			// Not on the platform, or the lookup itself is refused (no
			// permission, say): sending is safe either way, since a
			// second upload of a bill_code is answered "duplicate".
			pp.State = statePending
		}
		res, dup, e := c.upload(ctx, r.method, partParams(r.base, pt))
		if e != nil {
			if e.MaybeApplied {
				pp.State = stateSending
			}
			return r.failed(i, "uploading", e)
		}
		info := ""
		if res.OperationInfo != nil {
			info = string(res.OperationInfo.CodeCheckErrorInfo)
		}
		if dup {
			r.uploaded(pp, howDuplicate, string(res.Model), info)
			continue
		}
		r.uploaded(pp, howSent, string(res.Model), info)
		fresh++
	}
	if fresh > 0 {
		// Processing takes a while; asking at once would only spend quota.
		return r.wait(fmt.Sprintf("uploaded %s, queued on the platform", r.partsWord(fresh)))
	}

	var waiting []string
	for i := range r.parts {
		pp := &r.prog.Parts[i]
		if pp.State != stateSent {
			continue
		}
		begin, end := r.statusRange(pp)
		rows, err := c.QueryBillStatus(ctx, pp.Code, begin, end)
		if err != nil {
			return r.stillUploaded(i, "polling the processing status", err)
		}
		row := pickRow(rows, pp.Code)
		switch {
		case row == nil:
			pp.Polls++
			waiting = append(waiting, r.label(i, "not listed by query.billstatus yet"))
		case row.ResultType == wire.ResultSucceeded || row.ResultType == wire.ResultFailed:
			pp.State, pp.Result, pp.ProcessInfo = stateFinal, int(row.ResultType), clip(string(row.ProcessInfo))
			pp.Sub = clip(strings.TrimSpace(string(row.SubProcessFlag)))
		default:
			pp.Polls++
			pp.Result = int(row.ResultType)
			waiting = append(waiting, r.label(i, resultWords(int(row.ResultType))))
		}
	}
	if len(waiting) > 0 {
		return r.wait("waiting for the platform to process it: " + strings.Join(waiting, "; "))
	}
	return r.final(ctx)
}

// uploaded records that a part is on the platform.
func (r *run) uploaded(pp *partProgress, how, queueID, checkInfo string) {
	pp.State, pp.How, pp.QueueID, pp.CheckErrors = stateSent, how, clip(queueID), checkInfo
	pp.SentAt = r.c.now()
}

// final judges a bill whose parts are all processed.
func (r *run) final(ctx context.Context) upload.Outcome {
	var failed, ok []string
	for _, pp := range r.prog.Parts {
		if pp.Result == wire.ResultFailed {
			info := pp.ProcessInfo
			if info == "" {
				info = "no process_info given"
			}
			failed = append(failed, r.partName(pp.Code)+info)
		} else {
			ok = append(ok, pp.Code)
		}
	}
	if len(failed) > 0 {
		msg := fmt.Sprintf("msfx: bill %s: %s: 处理失败 (query.billstatus result_type 4): %s", r.bill.Code, shortMethod(r.method), strings.Join(failed, "; "))
		if len(ok) > 0 {
			msg += fmt.Sprintf("; processed: %s", strings.Join(ok, ", "))
		}
		return upload.Outcome{Class: upload.Permanent, Message: msg, Progress: r.prog.encode()}
	}

	ce := make(map[string]string)
	for _, code := range r.skipped {
		addReason(ce, code, skipReason)
	}
	var notes []string
	for i, pp := range r.prog.Parts {
		m, err := parseCheckErrors(pp.CheckErrors)
		if err != nil {
			notes = append(notes, r.label(i, fmt.Sprintf("unreadable code_check_error_info (%v): %s", err, clip(pp.CheckErrors))))
		}
		for code, why := range m {
			addReason(ce, code, why)
		}
		if !r.c.askPartFailures(pp) {
			continue
		}
		rows, e := r.c.listPartFailures(ctx, pp.Code, pp.N)
		if e != nil {
			return r.stillUploaded(i, "listing the codes that failed ("+shortMethod(wire.MethodListBillProcessPartSuccess)+")", e)
		}
		for _, row := range rows {
			if row.Code != "" {
				addReason(ce, string(row.Code), partFailureReason(row))
			}
		}
	}
	msg := fmt.Sprintf("msfx: bill %s: uploaded via %s in %s and processed (处理成功)", r.bill.Code, shortMethod(r.method), r.partsWord(len(r.parts)))
	if dups := r.how(howDuplicate, howFound); len(dups) > 0 {
		msg += fmt.Sprintf("; already on the platform from an earlier attempt: %s", strings.Join(dups, ", "))
	}
	if len(ce) > 0 {
		msg += fmt.Sprintf("; %s not taken", plural(len(ce), "code"))
	} else {
		ce = nil
	}
	if len(notes) > 0 {
		msg += "; " + strings.Join(notes, "; ")
	}
	return upload.Outcome{Class: upload.Done, Ref: r.ref(), CodeErrors: ce, Message: msg, Progress: r.prog.encode()}
}

// failed turns a failed call on part i into the attempt's outcome.
func (r *run) failed(i int, what string, e *Error) upload.Outcome {
	msg := fmt.Sprintf("msfx: bill %s: %s: %v", r.bill.Code, r.label(i, what), e)
	if e.Class == upload.Permanent {
		if done := r.how(howSent, howDuplicate, howFound); len(done) > 0 {
			msg += fmt.Sprintf("; already on the platform: %s", strings.Join(done, ", "))
		}
	}
	return upload.Outcome{
		Class: e.Class, RetryAfter: e.RetryAfter, Message: msg,
		MaybeApplied: e.Class == upload.Retry && r.prog.unsure(),
		Progress:     r.prog.encode(),
	}
}

// stillUploaded is a failed status or part-failure query: the bill is on
// the platform whatever the query says, so even a refusal is retried
// rather than dead-lettered as if the bill had been refused.
func (r *run) stillUploaded(i int, what string, err error) upload.Outcome {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Method: wire.MethodQueryBillStatus, Class: upload.Retry, Msg: err.Error()}
	}
	return upload.Outcome{
		Class: upload.Retry, RetryAfter: e.RetryAfter, Progress: r.prog.encode(),
		Message: fmt.Sprintf("msfx: bill %s: uploaded, but %s: %v", r.bill.Code, r.label(i, what), e),
	}
}

// wait is the outcome of an uploaded bill whose processing is not over.
func (r *run) wait(what string) upload.Outcome {
	return upload.Outcome{
		Class: upload.Wait, RetryAfter: r.c.poll, Progress: r.prog.encode(),
		Message: fmt.Sprintf("msfx: bill %s: %s: %s; next check in %v", r.bill.Code, shortMethod(r.method), what, r.c.poll),
	}
}

// label names part i (when the bill has several) in front of text.
func (r *run) label(i int, text string) string {
	if len(r.parts) == 1 {
		return text
	}
	return fmt.Sprintf("part %s (%d/%d): %s", r.parts[i].code, i+1, len(r.parts), text)
}

// partName prefixes a part's words with its code when there are several.
func (r *run) partName(code string) string {
	if len(r.parts) == 1 {
		return ""
	}
	return "part " + code + ": "
}

func (r *run) partsWord(n int) string { return plural(n, "part") }

// plural renders "1 part", "2 parts".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// how lists the parts uploaded in one of the given ways.
func (r *run) how(ways ...string) []string {
	var out []string
	for _, pp := range r.prog.Parts {
		if pp.State != statePending && pp.State != stateSending && slices.Contains(ways, pp.How) {
			out = append(out, pp.Code)
		}
	}
	return out
}

// ref is the delivered bill's reference: "<part code>:<queue id>" per part
// (the part code alone when the queue id is unknown), comma-separated.
func (r *run) ref() string {
	refs := make([]string, 0, len(r.prog.Parts))
	for _, pp := range r.prog.Parts {
		if pp.QueueID != "" {
			refs = append(refs, pp.Code+":"+pp.QueueID)
		} else {
			refs = append(refs, pp.Code)
		}
	}
	return strings.Join(refs, ",")
}

// statusRange is the creation-date range of query.billstatus for a part:
// a day around both the bill time and the upload time, since which of the
// two the platform means by 单据创建时间 is unconfirmed.
func (r *run) statusRange(pp *partProgress) (begin, end time.Time) {
	sent := pp.SentAt
	if sent.IsZero() {
		sent = r.c.now()
	}
	a, b := r.bill.FinishedAt, sent
	if b.Before(a) {
		a, b = b, a
	}
	return a.Add(-24 * time.Hour), b.Add(24 * time.Hour)
}

// pickRow finds the status row of exactly code (the platform may match
// loosely): a final row over a non-final one, then the latest process date.
func pickRow(rows []wire.BillStatusRow, code string) *wire.BillStatusRow {
	var best *wire.BillStatusRow
	final := func(r *wire.BillStatusRow) bool {
		return r.ResultType == wire.ResultSucceeded || r.ResultType == wire.ResultFailed
	}
	for i := range rows {
		row := &rows[i]
		if string(row.BillCode) != code {
			continue
		}
		if best == nil || (final(row) && !final(best)) || (final(row) == final(best) && row.ProcessDate > best.ProcessDate) {
			best = row
		}
	}
	return best
}

// resultWords renders a non-final result_type.
func resultWords(t int) string {
	switch t {
	case wire.ResultProcessing:
		return "处理中 (result_type 0)"
	case wire.ResultUploaded:
		return "上传成功, not processed yet (result_type 1)"
	}
	return fmt.Sprintf("result_type %d", t)
}

// partFailureReason renders a listbillprocesspartsuccess row as
// "error_code_desc: process_status_reason_desc".
func partFailureReason(f wire.PartFailure) string {
	desc := clip(string(f.ErrorCodeDesc))
	if desc == "" {
		desc = clip(string(f.ErrorCode))
	}
	if why := clip(string(f.ProcessStatusReasonDesc)); why != "" {
		if desc == "" {
			return why
		}
		return desc + ": " + why
	}
	if desc == "" {
		return "failed in processing (no reason given)"
	}
	return desc
}
