package sandbox

import (
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// DefaultWindow is how far a request's timestamp may be from the
	// sandbox clock when Options.Window is zero (the real gateway: ±10 min).
	DefaultWindow = 10 * time.Minute
	// MaxBody is the largest request body read; 10,000 GS1 codes fit.
	MaxBody = 2 << 20
	// SlowDelay is how long FaultSlow holds a request before handling it.
	SlowDelay = 2 * time.Second
	// BanDuration is how long FaultBan bans the app.
	BanDuration = time.Second
	// ProcessAtOnce as Options.ProcessAfter makes accepted bills final at
	// once (result 3/4 on the first billstatus poll).
	ProcessAtOnce = -1
)

// Options configures a Server.
type Options struct {
	// Apps maps app_key → secret (DefaultApps() if nil). Each app's
	// enterprise is the World enterprise with that AppKey.
	Apps map[string]string
	// Window is how far timestamp may be from Now either way, read as China
	// time (UTC+8) whatever the host zone (DefaultWindow if zero).
	Window time.Duration
	// Now is the platform clock for timestamps and upload times (time.Now
	// if nil). Bans and FaultSlow use the wall clock, since clients wait
	// real seconds.
	Now func() time.Time
	// Logger receives one line per request (discarded if nil); secrets and
	// signatures are never logged.
	Logger *slog.Logger
	// World is the platform data (DefaultWorldAt(Now()) if nil).
	World *World
	// ProcessAfter is how many query.billstatus polls see an accepted bill
	// before it is final: 0 means the default of 1 (the first poll answers
	// result 1 上传成功, the next 3 or 4); ProcessAtOnce (or any negative
	// value) makes bills final at once.
	ProcessAfter int
	// RejectGS1 makes uploads reject GS1 codes with key "2" (format).
	// Whether the platform accepts GS1 codes is unconfirmed; by default the
	// sandbox accepts GS1 packs of GTINs registered in the World.
	RejectGS1 bool
	// MaxInOutCodes and MaxRetailCodes cap trace_codes per upload (3500
	// if zero; the 2025-12 SDK allows 10000 for uploadinoutbill, older
	// docs 3500).
	MaxInOutCodes, MaxRetailCodes int
	// Layout is where every method's answer puts its payload fields
	// (LayoutDeclared, the zero value, follows the public SDK per method;
	// see DeclaredLayout). Layouts overrides it per method name.
	Layout  Layout
	Layouts map[string]Layout
}

// Fault is a misbehaviour the sandbox injects into one request.
type Fault int

const (
	// FaultHTTP500 answers HTTP 500 (a JSON error_response code 10,
	// isp.unknown-error) without handling the request.
	FaultHTTP500 Fault = iota + 1
	// FaultHTTP502HTML answers HTTP 502 with a proxy's HTML page.
	FaultHTTP502HTML
	// FaultApplyThenTimeout handles the request fully (an upload is
	// applied) but holds the answer until the client gives up or the
	// server closes, like an answer lost on the way back.
	FaultApplyThenTimeout
	// FaultSlow waits SlowDelay, then handles the request normally; if the
	// client gives up first, nothing is applied.
	FaultSlow
	// FaultBan answers code 7 (accesscontrol.limited-by-app-api-access-count,
	// "This ban will last for 1 more seconds") and bans the app for
	// BanDuration: every call naming the app inside it gets the same error.
	FaultBan
	// FaultBusy answers the business failure msg_code FAIL, msg_info
	// 系统繁忙 in the method's shape, once the request passed the gateway
	// checks; nothing is applied.
	FaultBusy
	// FaultISP answers error_response code 15 sub_code
	// isp.top-remote-connection-timeout without handling the request.
	FaultISP
)

// String names the fault in logs and test output.
func (f Fault) String() string {
	switch f {
	case FaultHTTP500:
		return "http500"
	case FaultHTTP502HTML:
		return "http502_html"
	case FaultApplyThenTimeout:
		return "apply_then_timeout"
	case FaultSlow:
		return "slow"
	case FaultBan:
		return "ban"
	case FaultBusy:
		return "busy"
	case FaultISP:
		return "isp"
	}
	return "fault(" + strconv.Itoa(int(f)) + ")"
}

// Bill is one accepted upload in the ledger.
type Bill struct {
	// RefEntID is the uploading enterprise (ref_user_id).
	RefEntID string
	BillCode string
	// Method is the upload method
	// (alibaba.alihealth.drugtrace.top.lsyd.uploadinoutbill or …uploadretail).
	Method   string
	BillType int
	BillTime string
	// From and To are from_user_id and to_user_id as sent ("" if absent).
	From, To string
	// Codes are trace_codes as sent, in order.
	Codes []string
	// Applied counts how many times the bill changed the platform; anything
	// but 1 means idempotency failed.
	Applied int
	// Duplicates counts the "该单据号已存在" answers given for the bill.
	Duplicates int
	// QueueID is the upload-queue id answered as model.
	QueueID string
	// Result is the query.billstatus result_type: 1 (上传成功) until
	// processed, then 0 (处理中) while polled, and finally 3 (处理成功) or
	// 4 (处理失败, every code failed).
	Result int
	// CodeErrors maps each failed code (as sent) to its
	// code_check_error_info key.
	CodeErrors map[string]string
	// ProcessInfo is process_info once final.
	ProcessInfo string
	// UploadedAt and ProcessedAt are on the sandbox clock (ProcessedAt is
	// zero until final).
	UploadedAt, ProcessedAt time.Time
	// Polls counts the query.billstatus answers that listed the bill.
	Polls int
}

// Stats counts what the sandbox saw.
type Stats struct {
	// Requests is every HTTP request, whatever became of it.
	Requests int
	// Methods counts requests per known method name (unknown or missing
	// methods are not counted here).
	Methods map[string]int
	// Accepted is uploads applied.
	Accepted int
	// Duplicates is duplicate-bill answers.
	Duplicates int
	// SignatureFailures is requests with a missing or wrong sign.
	SignatureFailures int
	// Rejected counts gateway errors and business refusals by reason (see
	// the package documentation).
	Rejected map[string]int
	// Faults counts injected faults that were taken.
	Faults map[Fault]int
	// Bans counts code-7 answers (injected or during a ban).
	Bans int
}

// Server is the sandbox gateway, an http.Handler serving POST on any path.
// It is safe for concurrent use.
type Server struct {
	apps         map[string][]byte
	window       time.Duration
	now          func() time.Time
	log          *slog.Logger
	world        *World
	processAfter int
	rejectGS1    bool
	maxInOut     int
	maxRetail    int
	layout       Layout
	layouts      map[string]Layout

	reqSeq atomic.Uint64

	mu         sync.Mutex
	faults     []Fault
	bans       map[string]time.Time // app_key → end of ban (wall clock)
	ents       map[string]*entState // by ref_ent_id
	sold       map[string]string    // code key → "ref/bill_code" of the sale holding it
	inboundAny map[string]bool      // code keys that went through any inbound
	queueSeq   int
	stats      Stats

	comp complianceState // compliance.go
}

// entState is one enterprise's uploads and stock movements.
type entState struct {
	bills   map[string]*bill // by bill_code
	order   []*bill
	inbound map[string]bool     // code keys that went through an inbound here
	last    map[string]movement // code key → last movement here
}

type movement struct {
	inbound  bool
	billCode string
}

// bill is a ledger entry plus what processing needs.
type bill struct {
	Bill
	okCodes  []string  // accepted codes as sent
	failures []failure // in bill order
	final    bool
}

type failure struct {
	code, key, reason string
}

// New returns a sandbox with an empty ledger.
func New(o Options) *Server {
	s := &Server{
		window:       o.Window,
		now:          o.Now,
		log:          o.Logger,
		world:        o.World,
		processAfter: o.ProcessAfter,
		rejectGS1:    o.RejectGS1,
		maxInOut:     o.MaxInOutCodes,
		maxRetail:    o.MaxRetailCodes,
		layout:       o.Layout,
		layouts:      maps.Clone(o.Layouts),
		bans:         make(map[string]time.Time),
		ents:         make(map[string]*entState),
		sold:         make(map[string]string),
		inboundAny:   make(map[string]bool),
		stats: Stats{Methods: make(map[string]int), Rejected: make(map[string]int),
			Faults: make(map[Fault]int)},
	}
	apps := o.Apps
	if apps == nil {
		apps = DefaultApps()
	}
	s.apps = make(map[string][]byte, len(apps))
	for k, v := range apps {
		s.apps[k] = []byte(v)
	}
	if s.window <= 0 {
		s.window = DefaultWindow
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.world == nil {
		s.world = DefaultWorldAt(s.now())
	}
	switch {
	case s.processAfter == 0:
		s.processAfter = 1
	case s.processAfter < 0:
		s.processAfter = 0
	}
	if s.maxInOut <= 0 {
		s.maxInOut = defaultMaxCodes
	}
	if s.maxRetail <= 0 {
		s.maxRetail = defaultMaxCodes
	}
	return s
}

// World returns the world the sandbox serves.
func (s *Server) World() *World { return s.world }

// InjectFaults queues faults; each request takes the first queued fault
// once its body has been read and parsed, before any other check.
func (s *Server) InjectFaults(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f...)
}

// Bills returns the ledger of one enterprise (by ref_ent_id) in upload
// order, as copies.
func (s *Server) Bills(refEntID string) []Bill {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.ents[refEntID]
	if st == nil {
		return nil
	}
	out := make([]Bill, len(st.order))
	for i, b := range st.order {
		out[i] = b.copy()
	}
	return out
}

// Bill returns one ledger entry.
func (s *Server) Bill(refEntID, billCode string) (Bill, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.ents[refEntID]; st != nil {
		if b := st.bills[billCode]; b != nil {
			return b.copy(), true
		}
	}
	return Bill{}, false
}

func (b *bill) copy() Bill {
	c := b.Bill
	c.Codes = slices.Clone(b.Codes)
	c.CodeErrors = maps.Clone(b.CodeErrors)
	return c
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Methods = maps.Clone(s.stats.Methods)
	st.Rejected = maps.Clone(s.stats.Rejected)
	st.Faults = maps.Clone(s.stats.Faults)
	return st
}

// ServeHTTP answers one TOP call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The Date header tells the platform's time, by the sandbox's clock
	// (a device measures its clock's offset from it).
	w.Header().Set("Date", s.now().UTC().Format(http.TimeFormat))
	reqID := s.newRequestID()
	s.mu.Lock()
	s.stats.Requests++
	s.mu.Unlock()

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.fail(w, reqID, "", topErr(reasonHTTPMethod, 9, "Http Action Not Allowed", "only POST is served, not "+r.Method))
		return
	}
	// The body is read before any fault so that net/http watches the
	// connection and cancels the context when the client leaves; a hung
	// or slow handler needs that to end.
	body, e := readBody(w, r)
	if e == nil {
		e = checkContentType(r.Header.Get("Content-Type"))
	}
	var params map[string]string
	if e == nil {
		params, e = parseParams(r.URL.RawQuery, body)
	}
	if e != nil {
		s.fail(w, reqID, "", e)
		return
	}
	method := params[paramMethod]
	if _, known := lookupMethod(method); known {
		s.mu.Lock()
		s.stats.Methods[method]++
		s.mu.Unlock()
	}

	f := s.takeFault()
	if f != 0 {
		s.log.Info("sandbox: injecting fault", "fault", f.String(), "method", method, "request_id", reqID)
	}
	switch f {
	case FaultHTTP500:
		writeJSON(w, http.StatusInternalServerError, errorEnvelope(topError{
			Code: 10, Msg: "Service Currently Unavailable", SubCode: "isp.unknown-error",
			SubMsg: "injected fault: internal server error", RequestID: reqID}))
		return
	case FaultHTTP502HTML:
		page := "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>Tengine</center>\r\n</body>\r\n</html>\r\n"
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Length", strconv.Itoa(len(page)))
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte(page))
		return
	case FaultISP:
		writeJSON(w, http.StatusOK, errorEnvelope(topError{Code: 15, Msg: "Remote service error",
			SubCode: "isp.top-remote-connection-timeout", SubMsg: "injected fault: remote service connection timeout", RequestID: reqID}))
		return
	case FaultBan:
		app := params[paramAppKey]
		if _, ok := s.apps[app]; ok {
			s.mu.Lock()
			s.bans[app] = time.Now().Add(BanDuration)
			s.mu.Unlock()
		}
		s.ban(w, reqID, method, BanDuration)
		return
	case FaultSlow:
		t := time.NewTimer(SlowDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			s.log.Info("sandbox: slow request abandoned by client", "method", method, "request_id", reqID)
			return
		}
	case FaultApplyThenTimeout:
		s.handle(&lostAnswer{header: make(http.Header)}, reqID, params, false)
		// Hold the connection so the client cannot tell whether the bill
		// arrived; it ends when the client gives up or the server closes.
		<-r.Context().Done()
		return
	}
	s.handle(w, reqID, params, f == FaultBusy)
}

// takeFault pops the next queued fault (0 if none) and counts it.
func (s *Server) takeFault() Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.faults) == 0 {
		return 0
	}
	f := s.faults[0]
	s.faults = s.faults[1:]
	s.stats.Faults[f]++
	return f
}

// handle runs the gateway checks and the method.
func (s *Server) handle(w http.ResponseWriter, reqID string, params map[string]string, busy bool) {
	// A ban covers every call naming the app, checked or not, as the
	// gateway's flow control comes before its other checks.
	if left := s.banLeft(params[paramAppKey]); left > 0 {
		s.ban(w, reqID, params[paramMethod], left)
		return
	}
	c, e := s.verify(params)
	if e != nil {
		s.fail(w, reqID, params[paramMethod], e)
		return
	}
	c.reqID, c.busy = reqID, busy
	spec, _ := lookupMethod(c.method)
	if e := spec.checkParams(c); e != nil {
		s.fail(w, reqID, c.method, e)
		return
	}
	rep := spec.run(s, c)
	if rep.err != nil {
		s.fail(w, reqID, c.method, rep.err)
		return
	}
	if rep.reason != "" {
		s.mu.Lock()
		s.stats.Rejected[rep.reason]++
		s.mu.Unlock()
	}
	s.log.Info("sandbox: answered", "method", c.method, "app_key", c.appKey, "request_id", reqID,
		"outcome", cmpOr(rep.reason, "ok"))
	s.answer(w, c, rep.body)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// banLeft is how long the app is still banned (0 if not).
func (s *Server) banLeft(app string) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	end, ok := s.bans[app]
	if !ok {
		return 0
	}
	left := time.Until(end)
	if left <= 0 {
		delete(s.bans, app)
		return 0
	}
	return left
}

// ban answers code 7 with the seconds left, rounded up as the gateway does.
func (s *Server) ban(w http.ResponseWriter, reqID, method string, left time.Duration) {
	secs := int((left + time.Second - 1) / time.Second)
	s.mu.Lock()
	s.stats.Bans++
	s.mu.Unlock()
	s.fail(w, reqID, method, &gwErr{reason: reasonBanned, resp: topError{Code: 7, Msg: "App Call Limited",
		SubCode: "accesscontrol.limited-by-app-api-access-count",
		SubMsg:  banPattern + strconv.Itoa(secs) + " more seconds"}})
}

func (s *Server) newRequestID() string {
	return "sbx" + strconv.FormatUint(1_000_000_000+s.reqSeq.Add(1), 36)
}

// fail answers a gateway error and counts it.
func (s *Server) fail(w http.ResponseWriter, reqID, method string, e *gwErr) {
	s.mu.Lock()
	s.stats.Rejected[e.reason]++
	if e.reason == reasonMissingSign || e.reason == reasonBadSign {
		s.stats.SignatureFailures++
	}
	s.mu.Unlock()
	s.log.Info("sandbox: rejected", "method", method, "request_id", reqID, "reason", e.reason,
		"code", e.resp.Code, "sub_code", e.resp.SubCode, "sub_msg", e.resp.SubMsg)
	resp := e.resp
	resp.RequestID = reqID
	status := e.status
	if status == 0 {
		status = http.StatusOK // TOP answers errors with 200
	}
	writeJSON(w, status, errorEnvelope(resp))
}

// errorEnvelope is the TOP error answer; it keeps its wrapper even with
// simplify=true (golgys0621/topsdk util.HandleJsonResponse looks for it).
func errorEnvelope(e topError) map[string]topError {
	return map[string]topError{"error_response": e}
}

// lostAnswer is a ResponseWriter whose answer never reaches the client.
type lostAnswer struct{ header http.Header }

func (l *lostAnswer) Header() http.Header         { return l.header }
func (l *lostAnswer) Write(p []byte) (int, error) { return len(p), nil }
func (l *lostAnswer) WriteHeader(int)             {}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		// Only the sandbox's own types are encoded; this cannot happen.
		data = []byte(`{"error_response":{"code":10,"msg":"Service Currently Unavailable","sub_code":"isp.unknown-error","sub_msg":"encoding answer"}}`)
		status = http.StatusInternalServerError
	}
	data = append(data, '\n')
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(status)
	_, _ = w.Write(data)
}
