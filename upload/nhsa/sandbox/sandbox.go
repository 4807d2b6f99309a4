package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/tjfoc/gmsm/sm2"

	"github.com/pda-agent/pda-agent/gm"
)

const (
	// DefaultWindow is how far any timestamp (gateway headers, envelope,
	// inf_time, the time in msgid) may be from the sandbox clock when
	// Options.Window is zero.
	DefaultWindow = 10 * time.Minute
	// DefaultSlowDelay is how long FaultSlow holds a request when
	// Options.SlowDelay is zero.
	DefaultSlowDelay = 2 * time.Second
	// MaxBody is the largest request body read. An FSI input is at most
	// 40,000 characters; the hex envelope doubles it, UTF-8 triples
	// Chinese text, so 1 MiB is ample.
	MaxBody = 1 << 20
	// MaxInput is the longest input node, in characters, as in the FSI
	// envelope specification (nhsa.md §2.1, "input ≤40000"); the default
	// of Options.MaxInput.
	MaxInput = 40000
	// MaxErrMsg is the longest err_msg, in characters (FSI: ≤ 200).
	MaxErrMsg = 200
	// DefaultPath is the national FSI path; the sandbox serves any path.
	DefaultPath = "/fsi/api/rsfComIfsService/callService"
)

// Header schemes (Options.Scheme).
const (
	SchemeNone = "none"
	SchemeTif  = "x-tif"
	SchemeAPI  = "api"
)

// Envelope modes (Options.Envelope).
const (
	EnvelopePlain  = "plain"
	EnvelopeSM2SM4 = "sm2sm4"
)

// Channel is what the platform knows of one SM2/SM4 channel: its app id
// and secret (from which the SM4 data key is derived) and the public key
// the institution reported at 验收, which verifies its signData.
type Channel struct {
	AppID, AppSecret string
	ChannelPub       *sm2.PublicKey
	// UID is the SM2 user id for both directions (gm.DefaultUID if empty).
	UID string
}

// Institution is a 定点医药机构 the platform knows.
type Institution struct {
	// FixmedinsCode is the 12-character 定点医药机构编号 (e.g. P37020304446).
	FixmedinsCode string
	// FixmedinsName must match fixmedins_name exactly.
	FixmedinsName string
	// Admdvs is the institution's 6-digit 医保区划; mdtrtarea_admvs must
	// equal it, and it heads inf_refmsgid.
	Admdvs string
}

// Options configures a Server. Options.Validate tells what is wrong with
// a configuration; New serves a misconfigured sandbox by answering every
// request with HTTP 500 and the reason.
type Options struct {
	// Scheme is the gateway header scheme enforced: SchemeNone, SchemeTif
	// or SchemeAPI ("" means SchemeNone).
	Scheme string
	// PaasID and PaasToken are the x-tif credentials accepted.
	PaasID, PaasToken string
	// APIAccessKey and APISecretKey are the _api_ credentials accepted;
	// APIName and APIVersion, when set, must match _api_name and
	// _api_version.
	APIAccessKey, APISecretKey, APIName, APIVersion string
	// Envelope is EnvelopePlain or EnvelopeSM2SM4 ("" means plain).
	Envelope string
	// EnvelopeVersion is the envelope version accepted (DefaultEnvelopeVersion
	// if empty); answers echo the request's.
	EnvelopeVersion string
	// Channels are the SM2/SM4 channels known (sm2sm4 mode).
	Channels []Channel
	// PlatformKey signs answers in sm2sm4 mode (the 平台公钥 the client
	// verifies with is its public half).
	PlatformKey *sm2.PrivateKey
	// Institutions are the institutions known; at least one.
	Institutions []Institution
	// RecerSysCode, when set, must equal recer_sys_code.
	RecerSysCode string
	// Window bounds every timestamp either way (DefaultWindow if zero).
	Window time.Duration
	// SlowDelay is how long FaultSlow holds a request (DefaultSlowDelay if
	// zero).
	SlowDelay time.Duration
	// Now is the platform clock (time.Now if nil). FaultSlow uses the
	// wall clock, since clients wait real time.
	Now func() time.Time
	// Logger receives one line per request (discarded if nil). Secrets,
	// tokens, signatures and key material are never logged.
	Logger *slog.Logger

	// Province profile. The zero values are the published field tables'
	// reading (see the package documentation and contract.go).

	// InputStyle is how the input node may carry rows of 3503-3506:
	// InputAny ("" too) accepts one row object or a list of rows,
	// InputList only a list, InputObject only one row object per call.
	InputStyle string
	// MaxInput is the longest input accepted, in characters (the package
	// constant MaxInput if zero).
	MaxInput int
	// AllowDuplicateBchno turns off fixmedins_bchno uniqueness: a row
	// under a bchno already taken is recorded again (the platform that
	// does not enforce it), subject to the other rules.
	AllowDuplicateBchno bool
	// Require makes optional fields required, as "infno.field" (e.g.
	// "3506.psn_cert_type") or "request.field" for the FSI request
	// header (e.g. "request.signtype").
	Require []string
	// Relax makes fields the tables require optional, in the same form
	// (e.g. "3505.rtal_docno" for a client that does not send it yet).
	Relax []string
	// Answer is the answer shape of every request unless one is queued
	// with InjectAnswers (AnswerInfcode if zero).
	Answer Answer
	// ChangeTypes, when set, are the only 3502 inv_chg_type codes
	// accepted (the province's code set; no public one exists). Empty:
	// any code of 1-6 characters.
	ChangeTypes []string
}

// Input styles (Options.InputStyle).
const (
	InputAny    = "any"
	InputList   = "list"
	InputObject = "object"
)

// Answer is how the sandbox words its verdict on a request whose FSI
// header was accepted. Refusals of the header itself (and of the input
// node as a whole) are always infcode -1.
type Answer int

const (
	// AnswerInfcode: infcode 0 with no output when every row is
	// accepted, infcode -1 with the reason in err_msg otherwise; a call
	// applies whole or not at all.
	AnswerInfcode Answer = iota
	// AnswerRetRslt: infcode 0 and output.result {retRslt, msgRslt}:
	// "1" and 成功 when every row is accepted, "0" and the reason when a
	// row is refused (nothing applied).
	AnswerRetRslt
	// AnswerPerRow: infcode 0 and output.invinfoErrDetail, one entry
	// per row with fixmedins_bchno, retRslt "1"/"0" and msgRslt; each
	// row is checked and applied on its own, so some may be refused
	// while the others are in.
	AnswerPerRow
)

// String names the answer shape in logs and test output.
func (a Answer) String() string {
	switch a {
	case AnswerInfcode:
		return "infcode"
	case AnswerRetRslt:
		return "retRslt"
	case AnswerPerRow:
		return "per_row"
	}
	return "answer(" + strconv.Itoa(int(a)) + ")"
}

// Fault is a misbehaviour the sandbox injects into one request.
type Fault int

const (
	// FaultHTTP500 answers HTTP 500 without looking at the request.
	FaultHTTP500 Fault = iota + 1
	// FaultApplyThenTimeout handles the request fully (a valid row is
	// applied and its answer stored under the msgid) but never answers:
	// the connection is held until the client gives up or the server goes
	// down, like an answer lost on the way back.
	FaultApplyThenTimeout
	// FaultSlow waits SlowDelay, then handles the request normally; if the
	// client gives up first, nothing is applied.
	FaultSlow
	// FaultBusy answers infcode -1 with err_msg TextBusy once the
	// request passed the gateway, envelope and FSI header checks; nothing
	// is applied and the answer is not stored under the msgid, so a retry
	// with the same msgid is handled afresh.
	FaultBusy
	// FaultApplyThen500 handles the request fully (a valid row is applied
	// and its answer stored under the msgid), then answers HTTP 500 with
	// the JSON body {"code":500,"message":"Internal Server Error"}, as a
	// gateway whose back end failed after committing does.
	FaultApplyThen500
	// FaultBusyResult is the business form of busy: infcode 0 with
	// output.result {retRslt "0", msgRslt TextBusy…}, whatever the
	// answer shape; like FaultBusy nothing is applied or stored.
	FaultBusyResult
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
	case FaultBusy:
		return "busy"
	case FaultApplyThen500:
		return "apply_then_500"
	case FaultBusyResult:
		return "busy_result"
	}
	return "fault(" + strconv.Itoa(int(f)) + ")"
}

// Row is one entry of the ledger: an accepted purcinfo or selinfo row, or
// an accepted 3507 deletion (Bchno then names the deleted row).
type Row struct {
	Infno         string
	Msgid         string
	FixmedinsCode string
	Bchno         string
	// RefNo is medins_prod_sel_no (3505, 3506) or medins_prod_purc_no
	// (3503, 3504) as sent; for 3506 and 3504 it names the original row.
	RefNo string
	// Codes are the drug_trac_codg values in the order sent.
	Codes []string
	// Count is sel_retn_cnt or purc_retn_cnt.
	Count float64
	// TrdnFlag is trdn_flag (3505, 3506; "" otherwise).
	TrdnFlag string
	// ChangeType is inv_chg_type (3502; "" otherwise).
	ChangeType string
	// InfRefmsgid is the inf_refmsgid of the answer that accepted the row.
	InfRefmsgid string
	// Applied counts how many times the row changed the platform; anything
	// but 1 means idempotency failed.
	Applied int
	// Deleted is set once a 3507 deleted the row.
	Deleted bool
	// At is when the row was accepted (sandbox clock).
	At time.Time
}

// Stats counts what the sandbox saw.
type Stats struct {
	// Requests is every HTTP request, whatever became of it.
	Requests int
	// ByInfno counts requests per known infno, once the FSI request was
	// read (so not those refused by the gateway or the envelope).
	ByInfno map[string]int
	// AcceptedRows is rows added to the ledger (3507 deletions included).
	AcceptedRows int
	// DuplicateMsgids is answers replayed for a msgid seen before.
	DuplicateMsgids int
	// Rejected counts refusals by reason (see the package documentation).
	Rejected map[string]int
	// SignatureFailures counts wrong gateway signatures and envelope
	// signData that did not verify.
	SignatureFailures int
	// Faults counts injected faults that were taken.
	Faults map[Fault]int
	// UnknownFields counts fields outside the contract that were accepted
	// and logged, by name ("input.x", "selinfo.x", "drugtracinfo.x" or the
	// top-level name).
	UnknownFields map[string]int
}

// Server is the sandbox gateway, an http.Handler answering POST on any
// path. It is safe for concurrent use.
type Server struct {
	cfgErr      error
	scheme      string
	paasID      string
	paasToken   string
	apiKey      string
	apiSecret   []byte
	apiName     string
	apiVersion  string
	envelope    string
	envVersion  string
	channels    map[string]*channel // by appId
	platformKey *sm2.PrivateKey
	recerSys    string
	window      time.Duration
	slowDelay   time.Duration
	now         func() time.Time
	log         *slog.Logger
	cst         *time.Location
	header      map[string]kind   // FSI request fields
	headerLens  map[string]int    // their lengths
	headerReq   []string          // the required ones
	schemas     map[string]schema // input nodes by infno
	inputStyle  string
	maxInput    int
	uniqueBchno bool
	answer      Answer
	changeTypes []string // 3502 inv_chg_type codes accepted; empty: any

	mu      sync.Mutex
	faults  []Fault
	answers []Answer                // queued answer shapes
	refuse  map[string]string       // bchno → msgRslt of RefuseRows
	insts   map[string]*institution // by fixmedins_code
	msgids  map[string]*msgRecord
	// msgidPrune is the size of msgids that triggers the next pruning.
	msgidPrune int
	nonces     nonceStore
	rows       []Row
	sales      map[string][]*entry // trace code → active 3505 rows holding it
	refSeq     uint64
	stats      Stats
	admdvsOf   string // for answers to requests naming no known institution
}

// channel is a Channel with its derived data key.
type channel struct {
	Channel
	key []byte
	uid []byte
}

// msgRecord is the stored answer of a msgid and what it answered.
type msgRecord struct {
	content string    // digest of infno + canonical input
	at      time.Time // the time in the msgid
	answer  []byte
}

// Validate reports the first problem of a configuration, or nil.
func (o *Options) Validate() error {
	switch o.Scheme {
	case "", SchemeNone:
	case SchemeTif:
		if o.PaasID == "" || o.PaasToken == "" {
			return errors.New("sandbox: scheme x-tif needs PaasID and PaasToken")
		}
	case SchemeAPI:
		if o.APIAccessKey == "" || o.APISecretKey == "" {
			return errors.New("sandbox: scheme api needs APIAccessKey and APISecretKey")
		}
	default:
		return fmt.Errorf("sandbox: unknown scheme %q (want none, x-tif or api)", o.Scheme)
	}
	switch o.Envelope {
	case "", EnvelopePlain:
	case EnvelopeSM2SM4:
		if len(o.Channels) == 0 {
			return errors.New("sandbox: envelope sm2sm4 needs at least one channel")
		}
		if o.PlatformKey == nil {
			return errors.New("sandbox: envelope sm2sm4 needs PlatformKey")
		}
		// A trial signature checks the key (D in range, public half
		// matching) the way every answer will use it.
		if _, err := gm.Sign(o.PlatformKey, []byte("probe"), nil, nil); err != nil {
			return fmt.Errorf("sandbox: PlatformKey: %w", err)
		}
	default:
		return fmt.Errorf("sandbox: unknown envelope %q (want plain or sm2sm4)", o.Envelope)
	}
	seen := map[string]bool{}
	for i, c := range o.Channels {
		if _, err := gm.DeriveDataKey(c.AppID, c.AppSecret); err != nil {
			return fmt.Errorf("sandbox: channel %d: %w", i, err)
		}
		// A round trip through the Base64 form checks the point is on
		// the curve, which gm.Verify would otherwise refuse per request.
		if _, err := gm.ParsePublicKeyBase64(gm.PublicKeyBase64(c.ChannelPub)); err != nil {
			return fmt.Errorf("sandbox: channel %s: ChannelPub: %w", c.AppID, err)
		}
		if seen[c.AppID] {
			return fmt.Errorf("sandbox: channel %s listed twice", c.AppID)
		}
		seen[c.AppID] = true
	}
	if len(o.Institutions) == 0 {
		return errors.New("sandbox: no institutions")
	}
	seen = map[string]bool{}
	for _, in := range o.Institutions {
		if len(in.FixmedinsCode) != fixmedinsCodeLen || !printableASCII(in.FixmedinsCode) {
			return fmt.Errorf("sandbox: institution code %q must be %d printable ASCII characters", in.FixmedinsCode, fixmedinsCodeLen)
		}
		if in.FixmedinsName == "" {
			return fmt.Errorf("sandbox: institution %s has no name", in.FixmedinsCode)
		}
		if !isDigits(in.Admdvs, 6) {
			return fmt.Errorf("sandbox: institution %s: admdvs %q must be 6 digits", in.FixmedinsCode, in.Admdvs)
		}
		if seen[in.FixmedinsCode] {
			return fmt.Errorf("sandbox: institution %s listed twice", in.FixmedinsCode)
		}
		seen[in.FixmedinsCode] = true
	}
	if o.Window < 0 || o.SlowDelay < 0 {
		return errors.New("sandbox: negative Window or SlowDelay")
	}
	switch o.InputStyle {
	case "", InputAny, InputList, InputObject:
	default:
		return fmt.Errorf("sandbox: unknown input style %q (want any, list or object)", o.InputStyle)
	}
	if o.MaxInput < 0 {
		return errors.New("sandbox: negative MaxInput")
	}
	if o.Answer < AnswerInfcode || o.Answer > AnswerPerRow {
		return fmt.Errorf("sandbox: unknown answer shape %d", o.Answer)
	}
	if _, err := buildSchemas(o.Require, o.Relax); err != nil {
		return err
	}
	if _, _, _, err := buildHeader(o.Require, o.Relax, o.RecerSysCode != ""); err != nil {
		return err
	}
	return nil
}

// New returns a sandbox with an empty ledger.
func New(o Options) *Server {
	s := &Server{
		cfgErr:      o.Validate(),
		scheme:      o.Scheme,
		paasID:      o.PaasID,
		paasToken:   o.PaasToken,
		apiKey:      o.APIAccessKey,
		apiSecret:   []byte(o.APISecretKey),
		apiName:     o.APIName,
		apiVersion:  o.APIVersion,
		envelope:    o.Envelope,
		envVersion:  o.EnvelopeVersion,
		channels:    make(map[string]*channel),
		platformKey: o.PlatformKey,
		recerSys:    o.RecerSysCode,
		window:      o.Window,
		slowDelay:   o.SlowDelay,
		now:         o.Now,
		log:         o.Logger,
		// China has kept UTC+8 without DST since 1991; a fixed zone needs
		// no tzdata on the host.
		cst:         time.FixedZone("CST", 8*60*60),
		inputStyle:  o.InputStyle,
		maxInput:    o.MaxInput,
		uniqueBchno: !o.AllowDuplicateBchno,
		answer:      o.Answer,
		changeTypes: slices.Clone(o.ChangeTypes),
		refuse:      make(map[string]string),
		insts:       make(map[string]*institution),
		msgids:      make(map[string]*msgRecord),
		nonces:      nonceStore{seen: make(map[string]time.Time)},
		sales:       make(map[string][]*entry),
		admdvsOf:    "000000",
		stats: Stats{ByInfno: make(map[string]int), Rejected: make(map[string]int),
			Faults: make(map[Fault]int), UnknownFields: make(map[string]int)},
	}
	if s.scheme == "" {
		s.scheme = SchemeNone
	}
	if s.envelope == "" {
		s.envelope = EnvelopePlain
	}
	if s.envVersion == "" {
		s.envVersion = DefaultEnvelopeVersion
	}
	if s.window <= 0 {
		s.window = DefaultWindow
	}
	if s.slowDelay <= 0 {
		s.slowDelay = DefaultSlowDelay
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.inputStyle == "" {
		s.inputStyle = InputAny
	}
	if s.maxInput == 0 {
		s.maxInput = MaxInput
	}
	// On a misconfiguration (cfgErr) the tables may be nil: every request
	// is answered 500 before they are used.
	s.schemas, _ = buildSchemas(o.Require, o.Relax)
	s.header, s.headerLens, s.headerReq, _ = buildHeader(o.Require, o.Relax, o.RecerSysCode != "")
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, c := range o.Channels {
		key, err := gm.DeriveDataKey(c.AppID, c.AppSecret)
		if err != nil {
			continue // Validate reported it; cfgErr answers every request
		}
		uid := c.UID
		if uid == "" {
			uid = gm.DefaultUID
		}
		s.channels[c.AppID] = &channel{Channel: c, key: key, uid: []byte(uid)}
	}
	for i, in := range o.Institutions {
		if i == 0 && isDigits(in.Admdvs, 6) {
			s.admdvsOf = in.Admdvs
		}
		s.insts[in.FixmedinsCode] = &institution{Institution: in, active: make(map[string]*entry),
			byRef: make(map[string][]*entry), deleted: make(map[string]bool)}
	}
	return s
}

// InjectFaults queues faults; each request takes the first queued fault
// once its body has been read, before any check.
func (s *Server) InjectFaults(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f...)
}

// InjectAnswers queues answer shapes; each request takes the first queued
// one together with its fault (Options.Answer when none is queued).
func (s *Server) InjectAnswers(a ...Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers = append(s.answers, a...)
}

// RefuseRows makes the business rules refuse every row with one of these
// fixmedins_bchno values, with msgRslt (or err_msg) msg, until called
// again with an empty msg for them: a permanent refusal the platform
// gives for reasons of its own (a catalogue mismatch, say). Refused rows
// are counted as Rejected["row_refused"].
func (s *Server) RefuseRows(msg string, bchnos ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range bchnos {
		if msg == "" {
			delete(s.refuse, b)
			continue
		}
		s.refuse[b] = msg
	}
}

// Rows returns the ledger in acceptance order, as copies.
func (s *Server) Rows() []Row {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Row, len(s.rows))
	for i, r := range s.rows {
		out[i] = r
		out[i].Codes = slices.Clone(r.Codes)
	}
	return out
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ByInfno = maps.Clone(s.stats.ByInfno)
	st.Rejected = maps.Clone(s.stats.Rejected)
	st.Faults = maps.Clone(s.stats.Faults)
	st.UnknownFields = maps.Clone(s.stats.UnknownFields)
	return st
}

// ServeHTTP answers one call. It never panics on any input: every path
// ends in exactly one answer (or, under FaultApplyThenTimeout, in none by
// design).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := s.now()
	// The Date header tells the platform's time, by the sandbox's clock
	// (a device measures its clock's offset from it).
	w.Header().Set("Date", received.UTC().Format(http.TimeFormat))
	s.mu.Lock()
	s.stats.Requests++
	s.mu.Unlock()

	if s.cfgErr != nil {
		s.httpFail(w, r, &failure{reason: reasonMisconfigured, status: http.StatusInternalServerError,
			code: http.StatusInternalServerError, msg: "sandbox misconfigured: " + s.cfgErr.Error()})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.httpFail(w, r, &failure{reason: reasonMethod, status: http.StatusMethodNotAllowed,
			code: http.StatusMethodNotAllowed, msg: "只支持POST, 不支持" + r.Method})
		return
	}
	// The body is read before any fault so that net/http watches the
	// connection and cancels the request context when the client leaves;
	// hung and slow requests need that to end.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			s.httpFail(w, r, &failure{reason: reasonBodyTooLarge, status: http.StatusRequestEntityTooLarge,
				code: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("请求体超过%d字节", MaxBody)})
			return
		}
		s.httpFail(w, r, &failure{reason: reasonUnreadable, status: http.StatusBadRequest,
			code: http.StatusBadRequest, msg: "读取请求体失败"})
		return
	}

	f, shape := s.takeFault()
	if f != 0 {
		s.log.Info("sandbox: injecting fault", "fault", f.String(), "path", r.URL.Path)
	}
	switch f {
	case FaultHTTP500:
		writeJSON(w, http.StatusInternalServerError, protoAnswer{Code: http.StatusInternalServerError,
			Message: "服务器内部错误(注入故障)"})
		return
	case FaultSlow:
		t := time.NewTimer(s.slowDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			s.log.Info("sandbox: slow request abandoned by the client", "path", r.URL.Path)
			return
		}
	case FaultApplyThenTimeout:
		s.handle(&lostAnswer{header: make(http.Header)}, r, body, received, 0, shape)
		// Hold the connection so the client cannot tell whether the row
		// arrived; it ends when the client gives up or the server closes.
		<-r.Context().Done()
		return
	case FaultApplyThen500:
		s.handle(&lostAnswer{header: make(http.Header)}, r, body, received, 0, shape)
		writeJSON(w, http.StatusInternalServerError, protoAnswer{Code: http.StatusInternalServerError,
			Message: "Internal Server Error"})
		return
	}
	s.handle(w, r, body, received, f, shape)
}

// takeFault pops the next queued fault (0 if none) and answer shape
// (Options.Answer if none), and counts the fault.
func (s *Server) takeFault() (Fault, Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	shape := s.answer
	if len(s.answers) > 0 {
		shape = s.answers[0]
		s.answers = s.answers[1:]
	}
	if len(s.faults) == 0 {
		return 0, shape
	}
	f := s.faults[0]
	s.faults = s.faults[1:]
	s.stats.Faults[f]++
	return f, shape
}

// handle runs the gateway, the envelope and the FSI layers in turn.
func (s *Server) handle(w http.ResponseWriter, r *http.Request, body []byte, received time.Time, f Fault, shape Answer) {
	if e := s.checkGateway(r); e != nil {
		s.httpFail(w, r, e)
		return
	}
	if e := checkContentType(r.Header.Get("Content-Type")); e != nil {
		s.httpFail(w, r, e)
		return
	}
	if s.envelope == EnvelopePlain {
		ans := s.serveFSI(body, received, f, shape)
		writeRaw(w, http.StatusOK, ans)
		return
	}
	o, e := s.openEnvelope(body)
	if e != nil {
		s.count(e)
		s.log.Info("sandbox: envelope refused", "path", r.URL.Path, "reason", e.reason, "message", e.msg)
		writeJSON(w, http.StatusOK, protoAnswer{Code: e.code, Message: e.msg})
		return
	}
	ans := s.serveFSI(o.plain, received, f, shape)
	sealed, err := s.seal(o, ans)
	if err != nil {
		// Only a broken PlatformKey gets here, and Validate checks it.
		s.log.Error("sandbox: sealing the answer failed", "err", err)
		writeJSON(w, http.StatusInternalServerError, protoAnswer{Code: http.StatusInternalServerError,
			Message: "sandbox: sealing the answer failed"})
		return
	}
	writeRaw(w, http.StatusOK, sealed)
}

// failure is a refusal before or outside the FSI layer.
type failure struct {
	reason string
	status int // HTTP status
	code   int // "code" of the answer body
	msg    string
}

// protoAnswer is every gateway or envelope refusal: {"code", "message"}.
type protoAnswer struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// count records a refusal in the stats.
func (s *Server) count(e *failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Rejected[e.reason]++
	if e.reason == reasonBadSignature || e.reason == reasonEnvSignature {
		s.stats.SignatureFailures++
	}
}

// httpFail answers a gateway-level refusal.
func (s *Server) httpFail(w http.ResponseWriter, r *http.Request, e *failure) {
	s.count(e)
	s.log.Info("sandbox: refused", "path", r.URL.Path, "status", e.status, "reason", e.reason, "message", e.msg)
	writeJSON(w, e.status, protoAnswer{Code: e.code, Message: e.msg})
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
		data, status = []byte(`{"code":500,"message":"encoding the answer failed"}`), http.StatusInternalServerError
	}
	writeRaw(w, status, data)
}

func writeRaw(w http.ResponseWriter, status int, data []byte) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(status)
	_, _ = w.Write(data)
}
