// Package sandbox is a strict, in-process receiver for the webhook protocol
// (see package webhook). The agent's demo and tests deliver to it until the
// real platform clients exist, so it behaves like an unforgiving platform
// rather than a stub: it checks the signature, the clock, the shape of every
// field and the business rules (a pack sold once cannot be sold again until
// it comes back), keeps a ledger of what it applied, and can inject the
// faults real platforms have (5xx, throttling, slowness, an answer lost
// after the bill was applied, a network outage).
//
// Every rejection carries its own machine reason in {"error": ...}:
//
//	404 no_route                 unknown path
//	405 method_not_allowed       wrong method for the path
//	413 body_too_large           body over 1 MiB
//	400 unreadable_body          the body could not be read
//	415 unsupported_media_type   Content-Type is not application/json (POST)
//	401 unknown_key              X-PDA-Key missing or not known
//	401 bad_timestamp            X-PDA-Timestamp missing or not unix seconds
//	401 bad_signature            X-PDA-Signature missing or wrong
//	401 stale_timestamp          timestamp outside ±Window of the sandbox clock
//	400 invalid_json             not a single JSON object
//	400 unknown_field            a field the protocol does not define
//	400 invalid_field            a field of the wrong JSON type
//	400 invalid_bill_code        bill_code not 1–40 of [A-Za-z0-9_-]
//	400 missing_idempotency_key  no Idempotency-Key (POST)
//	400 idempotency_key_mismatch Idempotency-Key differs from bill_code
//	400 invalid_bill_type        bill_type not a known 单据 type
//	400 invalid_bill_time        bill_time missing or not "2006-01-02 15:04:05"
//	400 future_bill_time         bill_time more than a day ahead
//	400 no_codes                 codes missing or empty
//	400 invalid_code             a code empty or longer than 100 characters
//	400 duplicate_code           a code listed twice in one bill
//	409 conflict                 bill_code already accepted with other content
//	422 already_sold             a 321 sale of codes sold before and not returned (116)
//	404 not_found                GET of a bill the sandbox does not have
//
// Checks run in that order (an injected fault comes right after the body
// is read), so a request that breaks several rules is rejected for the
// first one.
package sandbox

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // bill_time is Shanghai time on any host
	"unicode/utf8"
)

const (
	// DefaultWindow is how far X-PDA-Timestamp may be from the sandbox clock
	// when Options.Window is zero.
	DefaultWindow = 5 * time.Minute
	// MaxBody is the largest request body the sandbox reads.
	MaxBody = 1 << 20
	// SlowDelay is how long FaultSlow holds a request before answering.
	SlowDelay = 2 * time.Second

	billTimeLayout = "2006-01-02 15:04:05"
	maxFuture      = 24 * time.Hour
	maxCodeLen     = 100
	maxBillCodeLen = 40

	typeSale   = 321 // 零售出库: a pack leaves the pharmacy
	typeReturn = 116 // 顾客退货: a sold pack comes back
)

// knownBillType reports whether t is a 单据 type the platform knows.
func knownBillType(t int) bool {
	switch t {
	case 102, 103, 104, 107, 110, 111, 113,
		201, 202, 203, 205, 206, 214, 215, 216, 217,
		typeSale, typeReturn:
		return true
	}
	return false
}

// Options configures a Server.
type Options struct {
	// KeyID is the one X-PDA-Key the sandbox knows.
	KeyID string
	// Secret is the HMAC key for KeyID.
	Secret string
	// Window is how far a request's timestamp may be from Now, either way
	// (DefaultWindow if zero).
	Window time.Duration
	// Now is the sandbox clock (time.Now if nil).
	Now func() time.Time
	// Logger receives one line per request (discarded if nil). Secrets and
	// signatures are never logged.
	Logger *slog.Logger
}

// Fault is a misbehaviour the sandbox injects into one request.
type Fault int

const (
	// FaultHTTP500 answers 500 without checking or applying the request.
	FaultHTTP500 Fault = iota + 1
	// FaultApplyThenTimeout handles the request fully (a valid bill is
	// applied) but never answers: it holds the request until the client
	// gives up or the server goes down, like an answer lost on the way back.
	FaultApplyThenTimeout
	// FaultSlow waits SlowDelay, then handles the request normally. If the
	// client gives up first, nothing is applied.
	FaultSlow
	// FaultThrottle answers 429 with Retry-After: 1 without applying.
	FaultThrottle
)

// String names the fault in logs and test output.
func (f Fault) String() string {
	switch f {
	case FaultHTTP500:
		return "http500"
	case FaultApplyThenTimeout:
		return "apply_then_timeout"
	case FaultSlow:
		return "slow"
	case FaultThrottle:
		return "throttle"
	}
	return "fault(" + strconv.Itoa(int(f)) + ")"
}

// Received is one accepted bill in the sandbox ledger.
type Received struct {
	BillCode string
	BillType int
	// Codes are the bill's codes in the order sent.
	Codes []string
	// Ref is the sandbox's reference, returned to the client.
	Ref string
	// Applied counts how many times the bill changed the ledger; anything
	// but 1 means idempotency failed somewhere.
	Applied int
	// Duplicates counts the duplicate answers given for the bill.
	Duplicates int
	// At is when the bill was accepted (sandbox clock).
	At time.Time
}

// Stats counts what the sandbox saw.
type Stats struct {
	// Requests is every HTTP request, whatever became of it.
	Requests int
	// Accepted is bills applied.
	Accepted int
	// Duplicates is duplicate answers (same bill_code, same content).
	Duplicates int
	// Queries is GET lookups answered (found or not found).
	Queries int
	// Rejected counts rejections by machine reason (conflict and
	// already_sold included).
	Rejected map[string]int
	// Faults counts injected faults that were used.
	Faults map[Fault]int
}

// Server is the sandbox receiver, an http.Handler. It is safe for
// concurrent use.
type Server struct {
	keyID  string
	secret []byte
	window time.Duration
	now    func() time.Time
	log    *slog.Logger
	loc    *time.Location

	mu     sync.Mutex
	faults []Fault
	bills  map[string]*record // by bill_code
	order  []*record          // acceptance order
	sold   map[string]string  // code → bill_code of the sale it is held by
	seq    int
	stats  Stats
}

// record is a ledger entry plus the content used to tell a duplicate from
// a conflict.
type record struct {
	Received
	bill wireBill
}

// wireBill is the POST body as the protocol defines it.
type wireBill struct {
	BillCode string     `json:"bill_code"`
	BillType int        `json:"bill_type"`
	BillTime string     `json:"bill_time"`
	Device   string     `json:"device"`
	Session  string     `json:"session"`
	Partner  string     `json:"partner"`
	Operator string     `json:"operator"`
	Codes    []wireCode `json:"codes"`
}

type wireCode struct {
	Code    string `json:"code"`
	Kind    string `json:"kind"`
	Product string `json:"product"`
}

// sameContent reports whether two bodies describe the same bill, ignoring
// JSON formatting.
func (b *wireBill) sameContent(o *wireBill) bool {
	return b.BillCode == o.BillCode && b.BillType == o.BillType && b.BillTime == o.BillTime &&
		b.Device == o.Device && b.Session == o.Session && b.Partner == o.Partner &&
		b.Operator == o.Operator && slices.Equal(b.Codes, o.Codes)
}

// New returns a sandbox with an empty ledger. Without an Options.Secret
// every request fails the signature check, which is what a misconfigured
// platform would do too.
func New(o Options) *Server {
	s := &Server{
		keyID:  o.KeyID,
		secret: []byte(o.Secret),
		window: o.Window,
		now:    o.Now,
		log:    o.Logger,
		bills:  make(map[string]*record),
		sold:   make(map[string]string),
		stats:  Stats{Rejected: make(map[string]int), Faults: make(map[Fault]int)},
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
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		// Cannot happen with time/tzdata linked in; fall back to the fixed
		// offset China has used since 1991.
		loc = time.FixedZone("CST", 8*60*60)
	}
	s.loc = loc
	return s
}

// InjectFaults queues faults; each request to a known endpoint (POST
// /v1/bills or GET /v1/bills/{bill_code}) takes the first queued fault once
// its body has been read, before any other check.
func (s *Server) InjectFaults(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f...)
}

// Bills returns every accepted bill in acceptance order.
func (s *Server) Bills() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Received, len(s.order))
	for i, r := range s.order {
		out[i] = r.Received
		out[i].Codes = slices.Clone(r.Codes)
	}
	return out
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Rejected = maps.Clone(s.stats.Rejected)
	st.Faults = maps.Clone(s.stats.Faults)
	return st
}

// ServeHTTP routes POST /v1/bills and GET /v1/bills/{bill_code}.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.Requests++
	s.mu.Unlock()

	const base = "/v1/bills"
	path := r.URL.Path
	switch {
	case path == base:
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			s.reject(w, r, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" "+path+": use POST", nil)
			return
		}
		// The body is read before any fault so that net/http watches the
		// connection and cancels the request context when the client
		// leaves; a hung or slow handler needs that to end.
		body, ok := s.readBody(w, r)
		if !ok {
			return
		}
		s.withFault(w, r, func(w http.ResponseWriter) { s.receive(w, r, body) })
	case strings.HasPrefix(path, base+"/") && len(path) > len(base)+1 && !strings.Contains(path[len(base)+1:], "/"):
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			s.reject(w, r, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" "+path+": use GET", nil)
			return
		}
		body, ok := s.readBody(w, r)
		if !ok {
			return
		}
		s.withFault(w, r, func(w http.ResponseWriter) { s.lookup(w, r, path[len(base)+1:], body) })
	default:
		s.reject(w, r, http.StatusNotFound, "no_route", "no such endpoint: "+r.Method+" "+path, nil)
	}
}

// withFault runs h under the next queued fault, if any.
func (s *Server) withFault(w http.ResponseWriter, r *http.Request, h func(http.ResponseWriter)) {
	s.mu.Lock()
	var f Fault
	if len(s.faults) > 0 {
		f = s.faults[0]
		s.faults = s.faults[1:]
		s.stats.Faults[f]++
	}
	s.mu.Unlock()
	if f != 0 {
		s.log.Info("sandbox: injecting fault", "fault", f.String(), "method", r.Method, "path", r.URL.Path)
	}

	switch f {
	case 0:
		h(w)
	case FaultHTTP500:
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: "internal", Message: "injected fault: internal server error"})
	case FaultThrottle:
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusTooManyRequests, errorBody{Error: "throttled", Message: "injected fault: too many requests, retry after 1s"})
	case FaultSlow:
		t := time.NewTimer(SlowDelay)
		defer t.Stop()
		select {
		case <-t.C:
			h(w)
		case <-r.Context().Done():
			s.log.Info("sandbox: slow request abandoned by client", "path", r.URL.Path)
		}
	case FaultApplyThenTimeout:
		h(&lostAnswer{header: make(http.Header)})
		// Hold the connection so the client cannot tell whether the bill
		// arrived; it ends when the client gives up or the server closes.
		<-r.Context().Done()
	default:
		h(w)
	}
}

// lostAnswer is a ResponseWriter whose answer never reaches the client.
type lostAnswer struct{ header http.Header }

func (l *lostAnswer) Header() http.Header         { return l.header }
func (l *lostAnswer) Write(p []byte) (int, error) { return len(p), nil }
func (l *lostAnswer) WriteHeader(int)             {}

// errorBody is every error answer.
type errorBody struct {
	Error   string   `json:"error"`
	Message string   `json:"message"`
	Codes   []string `json:"codes,omitempty"`
}

// okBody answers an accepted or duplicate bill.
type okBody struct {
	Status string `json:"status"`
	Ref    string `json:"ref"`
}

// lookupBody answers a GET for a bill the sandbox has.
type lookupBody struct {
	BillCode   string   `json:"bill_code"`
	Ref        string   `json:"ref"`
	BillType   int      `json:"bill_type"`
	BillTime   string   `json:"bill_time"`
	Codes      []string `json:"codes"`
	AcceptedAt string   `json:"accepted_at"`
}

// receive handles POST /v1/bills.
func (s *Server) receive(w http.ResponseWriter, r *http.Request, body []byte) {
	if status, reason, msg := checkContentType(r.Header.Get("Content-Type")); status != 0 {
		s.reject(w, r, status, reason, msg, nil)
		return
	}
	if !s.authenticate(w, r, body) {
		return
	}
	b, status, reason, msg := decodeBill(body)
	if status != 0 {
		s.reject(w, r, status, reason, msg, nil)
		return
	}
	if !validBillCode(b.BillCode) {
		s.reject(w, r, http.StatusBadRequest, "invalid_bill_code",
			fmt.Sprintf("bill_code %q must be 1-%d characters of A-Z a-z 0-9 _ -", b.BillCode, maxBillCodeLen), nil)
		return
	}
	switch key := r.Header.Get("Idempotency-Key"); {
	case key == "":
		s.reject(w, r, http.StatusBadRequest, "missing_idempotency_key", "Idempotency-Key header is required", nil)
		return
	case key != b.BillCode:
		s.reject(w, r, http.StatusBadRequest, "idempotency_key_mismatch",
			fmt.Sprintf("Idempotency-Key %q differs from bill_code %q", key, b.BillCode), nil)
		return
	}
	if reason, msg, codes := s.validate(b); reason != "" {
		s.reject(w, r, http.StatusBadRequest, reason, msg, codes)
		return
	}
	s.apply(w, r, b)
}

// apply is the one place the ledger changes; holding the lock across the
// duplicate check, the sale check and the write is what makes concurrent
// duplicates apply exactly once.
func (s *Server) apply(w http.ResponseWriter, r *http.Request, b *wireBill) {
	s.mu.Lock()
	if prev, ok := s.bills[b.BillCode]; ok {
		if !prev.bill.sameContent(b) {
			s.mu.Unlock()
			s.reject(w, r, http.StatusConflict, "conflict",
				fmt.Sprintf("bill_code %s was accepted as %s with different content", b.BillCode, prev.Ref), nil)
			return
		}
		prev.Duplicates++
		s.stats.Duplicates++
		ref := prev.Ref
		s.mu.Unlock()
		s.log.Info("sandbox: duplicate", "bill_code", b.BillCode, "ref", ref)
		writeJSON(w, http.StatusOK, okBody{Status: "duplicate", Ref: ref})
		return
	}
	if b.BillType == typeSale {
		var held []string
		var detail []string
		for _, c := range b.Codes {
			if by, ok := s.sold[c.Code]; ok {
				held = append(held, c.Code)
				if len(detail) < 3 {
					detail = append(detail, c.Code+" in "+by)
				}
			}
		}
		if len(held) > 0 {
			s.mu.Unlock()
			s.reject(w, r, http.StatusUnprocessableEntity, "already_sold",
				fmt.Sprintf("%d code(s) already sold and not returned (%s)", len(held), strings.Join(detail, ", ")), held)
			return
		}
	}
	s.seq++
	rec := &record{
		Received: Received{
			BillCode: b.BillCode,
			BillType: b.BillType,
			Codes:    make([]string, len(b.Codes)),
			Ref:      fmt.Sprintf("SBX%08d", s.seq),
			Applied:  1,
			At:       s.now(),
		},
		bill: *b,
	}
	for i, c := range b.Codes {
		rec.Codes[i] = c.Code
		switch b.BillType {
		case typeSale:
			s.sold[c.Code] = b.BillCode
		case typeReturn:
			delete(s.sold, c.Code)
		}
	}
	s.bills[b.BillCode] = rec
	s.order = append(s.order, rec)
	s.stats.Accepted++
	ref := rec.Ref
	s.mu.Unlock()

	s.log.Info("sandbox: accepted", "bill_code", b.BillCode, "bill_type", b.BillType, "codes", len(b.Codes), "ref", ref)
	writeJSON(w, http.StatusOK, okBody{Status: "accepted", Ref: ref})
}

// lookup handles GET /v1/bills/{bill_code}.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request, code string, body []byte) {
	if !s.authenticate(w, r, body) {
		return
	}
	if !validBillCode(code) {
		s.reject(w, r, http.StatusBadRequest, "invalid_bill_code", fmt.Sprintf("bill_code %q is not a valid bill code", code), nil)
		return
	}
	s.mu.Lock()
	s.stats.Queries++
	rec, found := s.bills[code]
	var ans lookupBody
	if found {
		ans = lookupBody{
			BillCode:   rec.BillCode,
			Ref:        rec.Ref,
			BillType:   rec.BillType,
			BillTime:   rec.bill.BillTime,
			Codes:      slices.Clone(rec.Codes),
			AcceptedAt: rec.At.In(s.loc).Format(billTimeLayout),
		}
	}
	s.mu.Unlock()
	if !found {
		// Not counted as a rejection: "not here" is a normal answer.
		s.log.Info("sandbox: lookup", "bill_code", code, "found", false)
		writeJSON(w, http.StatusNotFound, errorBody{Error: "not_found", Message: "no bill " + code})
		return
	}
	s.log.Info("sandbox: lookup", "bill_code", code, "found", true, "ref", ans.Ref)
	writeJSON(w, http.StatusOK, ans)
}

func checkContentType(v string) (status int, reason, msg string) {
	bad := func(m string) (int, string, string) {
		return http.StatusUnsupportedMediaType, "unsupported_media_type", m
	}
	if v == "" {
		return bad("Content-Type is required and must be application/json")
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		return bad(fmt.Sprintf("Content-Type %q: %v", v, err))
	}
	if mt != "application/json" {
		return bad(fmt.Sprintf("Content-Type %q: must be application/json", v))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return bad(fmt.Sprintf("Content-Type %q: charset must be utf-8", v))
	}
	return 0, "", ""
}

// readBody reads at most MaxBody bytes; it has answered when ok is false.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (body []byte, ok bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			s.reject(w, r, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("body exceeds %d bytes", MaxBody), nil)
			return nil, false
		}
		s.reject(w, r, http.StatusBadRequest, "unreadable_body", "reading body: "+err.Error(), nil)
		return nil, false
	}
	return body, true
}

// authenticate checks key, timestamp format, signature and clock, in that
// order: the signature is checked before the window so that a caller
// without the secret learns nothing about the sandbox clock.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, body []byte) bool {
	fail := func(reason, msg string) bool {
		s.reject(w, r, http.StatusUnauthorized, reason, msg, nil)
		return false
	}
	key := r.Header.Get("X-PDA-Key")
	if key == "" {
		return fail("unknown_key", "X-PDA-Key header is required")
	}
	if key != s.keyID {
		return fail("unknown_key", fmt.Sprintf("key %q is not known", key))
	}
	ts := r.Header.Get("X-PDA-Timestamp")
	unix, ok := parseUnix(ts)
	if !ok {
		return fail("bad_timestamp", fmt.Sprintf("X-PDA-Timestamp %q must be unix seconds", ts))
	}
	got := r.Header.Get("X-PDA-Signature")
	if got == "" {
		return fail("bad_signature", "X-PDA-Signature header is required")
	}
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(ts))
	m.Write([]byte{'\n'})
	m.Write(body)
	want := hex.EncodeToString(m.Sum(nil))
	// Compare the lowercase hex text itself: the protocol fixes the
	// encoding, and hmac.Equal keeps the comparison constant-time.
	if !hmac.Equal([]byte(got), []byte(want)) {
		return fail("bad_signature", "signature does not match timestamp and body")
	}
	skew := s.now().Sub(time.Unix(unix, 0))
	if skew > s.window || skew < -s.window {
		return fail("stale_timestamp", fmt.Sprintf("timestamp is %v away from server time (allowed ±%v)", skew.Round(time.Second), s.window))
	}
	return true
}

// parseUnix accepts only plain decimal digits (no sign, no spaces).
func parseUnix(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// decodeBill parses a body strictly: one JSON object, only protocol
// fields (exact names), right JSON types.
func decodeBill(body []byte) (b *wireBill, status int, reason, msg string) {
	bad := func(reason, msg string) (*wireBill, int, string, string) {
		return nil, http.StatusBadRequest, reason, msg
	}
	if !json.Valid(body) {
		return bad("invalid_json", "body is not valid JSON")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return bad("invalid_json", "body must be a JSON object")
	}
	// Field names are checked exactly because encoding/json alone would
	// match them case-insensitively and drop unknown ones.
	if f := unknownField(top, "bill_code", "bill_type", "bill_time", "device", "session", "partner", "operator", "codes"); f != "" {
		return bad("unknown_field", fmt.Sprintf("unknown field %q", f))
	}
	if raw, ok := top["codes"]; ok && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		var codes []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &codes); err != nil {
			return bad("invalid_field", "codes must be an array of objects")
		}
		for i, c := range codes {
			if f := unknownField(c, "code", "kind", "product"); f != "" {
				return bad("unknown_field", fmt.Sprintf("unknown field %q in codes[%d]", f, i))
			}
		}
	}
	b = new(wireBill)
	if err := json.Unmarshal(body, b); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return bad("invalid_field", fmt.Sprintf("field %s: JSON %s is the wrong type", te.Field, te.Value))
		}
		return bad("invalid_field", err.Error())
	}
	return b, 0, "", ""
}

// unknownField returns the first (sorted) key of obj not in allowed.
func unknownField(obj map[string]json.RawMessage, allowed ...string) string {
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		if !slices.Contains(allowed, k) {
			return k
		}
	}
	return ""
}

// validate applies the field rules after the bill_code and the
// idempotency key have been checked.
func (s *Server) validate(b *wireBill) (reason, msg string, codes []string) {
	if !knownBillType(b.BillType) {
		return "invalid_bill_type", fmt.Sprintf("bill_type %d is not a known bill type", b.BillType), nil
	}
	if b.BillTime == "" {
		return "invalid_bill_time", "bill_time is required", nil
	}
	t, err := time.ParseInLocation(billTimeLayout, b.BillTime, s.loc)
	if err != nil {
		return "invalid_bill_time", fmt.Sprintf("bill_time %q must be %q (Asia/Shanghai)", b.BillTime, billTimeLayout), nil
	}
	if t.After(s.now().Add(maxFuture)) {
		return "future_bill_time", fmt.Sprintf("bill_time %s is more than %v ahead of server time", b.BillTime, maxFuture), nil
	}
	if len(b.Codes) == 0 {
		return "no_codes", "codes must list at least one code", nil
	}
	seen := make(map[string]bool, len(b.Codes))
	var dups []string
	for i, c := range b.Codes {
		switch n := utf8.RuneCountInString(c.Code); {
		case n == 0:
			return "invalid_code", fmt.Sprintf("codes[%d].code is empty", i), nil
		case n > maxCodeLen:
			return "invalid_code", fmt.Sprintf("codes[%d].code has %d characters (max %d)", i, n, maxCodeLen), []string{c.Code}
		}
		if seen[c.Code] && !slices.Contains(dups, c.Code) {
			dups = append(dups, c.Code)
		}
		seen[c.Code] = true
	}
	if len(dups) > 0 {
		return "duplicate_code", fmt.Sprintf("%d code(s) listed more than once", len(dups)), dups
	}
	return "", "", nil
}

func validBillCode(c string) bool {
	if c == "" || len(c) > maxBillCodeLen {
		return false
	}
	for i := 0; i < len(c); i++ {
		switch ch := c[i]; {
		case ch >= 'A' && ch <= 'Z', ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9', ch == '_', ch == '-':
		default:
			return false
		}
	}
	return true
}

// reject answers an error and counts it by reason.
func (s *Server) reject(w http.ResponseWriter, r *http.Request, status int, reason, msg string, codes []string) {
	s.mu.Lock()
	s.stats.Rejected[reason]++
	s.mu.Unlock()
	s.log.Info("sandbox: rejected", "method", r.Method, "path", r.URL.Path, "status", status, "reason", reason, "message", msg)
	writeJSON(w, status, errorBody{Error: reason, Message: msg, Codes: codes})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		// Only our own fixed types are encoded; this cannot fail.
		http.Error(w, `{"error":"internal","message":"encoding answer"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}
