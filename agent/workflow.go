package agent

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/tracecode"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// The store workflows the local API and the clerk page drive: sessions
// opened by kind, receiving against the supplier's outbound bill with
// expected-versus-scanned, bulk confirmation where the rules allow it, ERP
// bills submitted whole, supplier-bill rejections, and the compliance view.

// Workflow errors the API maps to 4xx answers.
var (
	ErrBadRequest = errors.New("bad request")
	ErrOffline    = errors.New("码上放心 is not configured or not reachable")
)

// Kinds of session the API opens, with their bill types.
var kinds = map[string]int{
	"sale":            billtype.RetailSale,
	"receive":         billtype.Purchase,
	"transfer_in":     billtype.TransferIn,
	"return":          billtype.CustomerReturn,
	"supplier_return": billtype.SupplierReturn,
	// Stock bills (stock.go).
	"stocktake":    billtype.StockTake,
	"stock_gain":   billtype.StockGain,
	"stock_loss":   billtype.StockLoss,
	"destroy":      billtype.Destroyed,
	"damage":       billtype.Damaged,
	"transfer_out": billtype.TransferOut,
}

// OpenRequest opens a session's bill, by kind or by bill type.
type OpenRequest struct {
	Session string            `json:"session"`
	Kind    string            `json:"kind,omitempty"`
	Type    int               `json:"type,omitempty"`
	Partner string            `json:"partner,omitempty"`
	Attrs   map[string]string `json:"attrs,omitempty"`
	// Original names the sale a customer return undoes (see Original).
	Original *Original `json:"original,omitempty"`
	// Lines are what a sale should contain (lines.go); none: anything.
	Lines []LineRequest `json:"lines,omitempty"`
}

// Open opens the session's bill (or returns the open one of the same kind).
func (a *Agent) Open(ctx context.Context, r OpenRequest) (queue.Bill, bool, error) {
	t := r.Type
	if r.Kind != "" {
		kt, ok := kinds[r.Kind]
		if !ok {
			return queue.Bill{}, false, fmt.Errorf("%w: kind %q (sale, receive, transfer_in, return, supplier_return, stocktake, stock_gain, stock_loss, destroy, damage, transfer_out)", ErrBadRequest, r.Kind)
		}
		if t != 0 && t != kt {
			return queue.Bill{}, false, fmt.Errorf("%w: kind %s is type %d, not %d", ErrBadRequest, r.Kind, kt, t)
		}
		t = kt
	}
	if !billtype.Known(t) {
		return queue.Bill{}, false, fmt.Errorf("%w: unknown bill type %d", ErrBadRequest, t)
	}
	if err := validSession(r.Session); err != nil {
		return queue.Bill{}, false, err
	}
	if err := validPartner(r.Partner); err != nil {
		return queue.Bill{}, false, err
	}
	if err := validAttrs(r.Attrs); err != nil {
		return queue.Bill{}, false, err
	}
	if err := checkStockAttrs(t, r.Attrs); err != nil {
		return queue.Bill{}, false, err
	}
	attrs, err := a.originalAttrs(r.Original, t, r.Attrs)
	if err != nil {
		return queue.Bill{}, false, err
	}
	lines, err := a.linesFor(t, r.Lines)
	if err != nil {
		return queue.Bill{}, false, err
	}
	b, created, err := a.store.OpenSession(ctx, queue.SessionSpec{Session: r.Session, Type: t, Partner: r.Partner,
		Operator: a.config().Device.Operator, Device: a.config().Device.ID, Attrs: attrs, Lines: lines})
	if err == nil && created {
		a.publish(Event{Kind: "bill", Session: r.Session, Bill: b.Code, Status: "opened", Message: billtype.Name(t)})
	}
	return b, created, err
}

// Finish sets any last attributes (the POS's settlement) and finishes the
// session's bill.
func (a *Agent) Finish(ctx context.Context, session string, attrs map[string]string) (queue.Bill, error) {
	if err := validAttrs(attrs); err != nil {
		return queue.Bill{}, err
	}
	if err := a.checkFinish(ctx, session); err != nil {
		return queue.Bill{}, err
	}
	if len(attrs) > 0 {
		if _, err := a.store.SetAttrs(ctx, session, attrs); err != nil {
			return queue.Bill{}, err
		}
	}
	b, err := a.store.Finish(ctx, session, a.route)
	if err != nil {
		return queue.Bill{}, err
	}
	a.clearScanState(session)
	a.forgetExpected(session)
	a.publish(Event{Kind: "bill", Session: session, Bill: b.Code, Status: "finished",
		Message: fmt.Sprintf("%s: %d codes, to %s%s", billtype.Name(b.Type), b.Items, strings.Join(b.Destinations, ", "), a.stockGainWords(b))})
	return b, nil
}

// Cancel abandons the session's bill.
func (a *Agent) Cancel(ctx context.Context, session, why string) (queue.Bill, error) {
	b, err := a.store.Cancel(ctx, session, why)
	if err != nil {
		return queue.Bill{}, err
	}
	a.clearScanState(session)
	a.forgetExpected(session)
	a.publish(Event{Kind: "bill", Session: session, Bill: b.Code, Status: "cancelled", Message: why})
	return b, nil
}

// SetAttrs merges attributes into the session's open bill.
func (a *Agent) SetAttrs(ctx context.Context, session string, attrs map[string]string) (queue.Bill, error) {
	if err := validAttrs(attrs); err != nil {
		return queue.Bill{}, err
	}
	return a.store.SetAttrs(ctx, session, attrs)
}

// Scan hands a code to the pipeline as if a scanner of the session had
// read it (a POS injecting a scan).
func (a *Agent) Scan(ctx context.Context, session, raw, source string) device.Feedback {
	if source == "" {
		source = "api"
	}
	return a.HandleScan(ctx, session, device.Scan{Source: source, Raw: []byte(raw), At: a.now()})
}

func validSession(s string) error {
	// Control characters would reach logs and scanner echo lines.
	if s == "" || len(s) > 64 || strings.ContainsAny(s, "/\\") || strings.ContainsFunc(s, unicode.IsControl) {
		return fmt.Errorf("%w: session name must be 1-64 characters without /, \\ or control characters", ErrBadRequest)
	}
	return nil
}

var entIDRE = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)

// validPartner checks a bill's partner: none, or an ent_id. Anything else
// would be refused for good by 码上放心 once the bill is finished.
func validPartner(p string) error {
	if p != "" && !entIDRE.MatchString(p) {
		return fmt.Errorf("%w: partner %q is not an ent_id (32 hex digits)", ErrBadRequest, p)
	}
	return nil
}

func validAttrs(attrs map[string]string) error {
	for k, v := range attrs {
		if !attrKeyRE.MatchString(k) || len(v) > 200 {
			return fmt.Errorf("%w: attribute %q: keys like nhsa.mdtrt_sn, values up to 200 bytes", ErrBadRequest, k)
		}
		if strings.HasPrefix(k, "original.") {
			return fmt.Errorf("%w: attribute %q: the original sale of a return is named by \"original\" when the return is opened", ErrBadRequest, k)
		}
	}
	return nil
}

// SessionView is a session as the clerk sees it: the open bill, its codes,
// and for a receiving against a supplier's bill, expected versus scanned.
type SessionView struct {
	Session  string        `json:"session"`
	Bill     *queue.Bill   `json:"bill,omitempty"`
	Items    []queue.Item  `json:"items"`
	Expected *ExpectedView `json:"expected,omitempty"`
	// Lines: a sale opened with lines, needed versus collected (items
	// name their line).
	Lines []LineView `json:"lines,omitempty"`
	// Checks are the 验码 verdicts of the bill's packs (online.go).
	Checks []CheckVerdict `json:"checks,omitempty"`
	// StockGains: a stock-take's packs the ledger did not know (盘盈).
	StockGains []queue.Item `json:"stock_gains,omitempty"`
	// Shortfall: a stock-take's packs in stock not counted yet (盘亏 if
	// the count ends so; stocktake.go), at most 200 of them listed.
	Shortfall *Shortfall `json:"shortfall,omitempty"`
}

// ExpectedView compares a receiving with the supplier's outbound bill(s).
type ExpectedView struct {
	Upstream []string         `json:"upstream"`
	Expected int              `json:"expected"`
	Scanned  int              `json:"scanned"`
	Missing  []queue.Expected `json:"missing"`
	// Earlier counts expected packs another receiving of the same
	// supplier bill took (an earlier delivery, another handheld); they
	// are not missing.
	Earlier  int           `json:"earlier"`
	Extra    []queue.Item  `json:"extra"`
	WrongLot []LotMismatch `json:"wrong_lot"`
	// Complete: every expected pack is scanned and nothing else.
	Complete bool `json:"complete"`
}

// LotMismatch is a scanned pack whose own lot differs from the supplier's.
type LotMismatch struct {
	Code     string `json:"code"`
	Expected string `json:"expected_lot"`
	Scanned  string `json:"scanned_lot"`
}

// Session returns the session's view; an idle session has no bill.
func (a *Agent) Session(session string) (SessionView, error) {
	v := SessionView{Session: session, Items: []queue.Item{}}
	b, ok, err := a.store.OpenBill(session)
	if err != nil || !ok {
		return v, err
	}
	v.Bill = &b
	v.Lines = lineViews(b)
	if v.Items, err = a.store.Items(b.ID); err != nil {
		return v, err
	}
	v.Checks = a.sessionChecks(b.ID, v.Items)
	if v.StockGains, err = a.StockGains(b); err != nil {
		return v, err
	}
	if b.Type == billtype.StockTake {
		sf, err := a.StockShortfall(b)
		if err != nil {
			return v, err
		}
		sf = sf.capped(sessionShortfallCap)
		v.Shortfall = &sf
	}
	exp, err := a.store.ExpectedOf(b.ID)
	if err != nil || exp == nil {
		return v, err
	}
	v.Expected, err = a.compareReceiving(b, exp, v.Items)
	return v, err
}

// compare matches scanned items against the expected packs. A scanned
// case covers its boxes and a case counts when it or all its boxes are
// scanned.
func compare(upstream []string, exp []queue.Expected, items []queue.Item) *ExpectedView {
	v := &ExpectedView{Upstream: upstream, Missing: []queue.Expected{}, Extra: []queue.Item{}, WrongLot: []LotMismatch{}}
	scanned := map[string]queue.Item{}
	for _, it := range items {
		scanned[it.Key] = it
	}
	byKey := map[string]queue.Expected{}
	children := map[string][]string{}
	for _, e := range exp {
		byKey[e.Key] = e
		if e.Parent != "" {
			children[e.Parent] = append(children[e.Parent], e.Key)
		}
	}
	covered := func(e queue.Expected) bool {
		if _, ok := scanned[e.Key]; ok {
			return true
		}
		if e.Parent != "" {
			if _, ok := scanned[e.Parent]; ok {
				return true
			}
		}
		if kids := children[e.Key]; len(kids) > 0 {
			for _, k := range kids {
				if _, ok := scanned[k]; !ok {
					return false
				}
			}
			return true
		}
		return false
	}
	for _, e := range exp {
		// Count packs the platform counts: boxes, or cases listed without
		// their boxes.
		if len(children[e.Key]) > 0 {
			continue
		}
		v.Expected++
		if covered(e) {
			v.Scanned++
			if it, ok := scanned[e.Key]; ok && e.Lot != "" && it.Lot != "" && !strings.EqualFold(it.Lot, e.Lot) {
				v.WrongLot = append(v.WrongLot, LotMismatch{Code: it.Code, Expected: e.Lot, Scanned: it.Lot})
			}
			continue
		}
		v.Missing = append(v.Missing, e)
	}
	for _, it := range items {
		if _, ok := byKey[it.Key]; !ok {
			v.Extra = append(v.Extra, it)
		}
	}
	v.Complete = len(v.Missing) == 0 && len(v.Extra) == 0 && len(v.WrongLot) == 0
	return v
}

// UpstreamRef names a supplier's outbound bill as 码上放心 knows it.
type UpstreamRef struct {
	BillCode  string `json:"bill_code"`
	BillType  int    `json:"bill_type"`
	BillTime  string `json:"bill_time,omitempty"`
	FromRef   string `json:"from_ref_user_id"`
	FromEntID string `json:"from_user_id"`
	FromName  string `json:"from_user_name,omitempty"`
	// Rejected is this store's own decision (拒收).
	Rejected bool `json:"rejected,omitempty"`
}

// Upstream finds the supplier bills a scanned code arrived on.
func (a *Agent) Upstream(ctx context.Context, raw string) ([]UpstreamRef, error) {
	if a.msfxClient() == nil {
		return nil, ErrOffline
	}
	code, err := tracecode.Parse(raw, a.rules())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	rows, err := a.msfxClient().QueryUpBillCode(ctx, code.Normalized)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOffline, err)
	}
	states, err := a.store.UpstreamStates()
	if err != nil {
		return nil, err
	}
	out := []UpstreamRef{}
	for _, r := range rows {
		code := string(r.BillCode)
		out = append(out, UpstreamRef{BillCode: code, BillType: int(r.BillType), BillTime: string(r.BillTime),
			FromRef: string(r.FromRefUserID), FromEntID: string(r.FromUserID), FromName: string(r.FromUserName), Rejected: states[code].Rejected})
	}
	return out, nil
}

// ReceiveRequest starts a receiving against one or more outbound bills of
// one supplier.
type ReceiveRequest struct {
	Session  string        `json:"session"`
	Upstream []UpstreamRef `json:"upstream"`
}

// StartReceiving opens the session's receiving bill against the supplier's
// outbound bill(s) and loads what they list: their packs at the smallest
// level (a case the platform expanded is expected as the case with its
// boxes), lots and dates. Bills of several suppliers cannot be merged. A
// transfer from the chain's own warehouse (203) is received as 104.
func (a *Agent) StartReceiving(ctx context.Context, r ReceiveRequest) (SessionView, error) {
	if a.msfxClient() == nil {
		return SessionView{}, ErrOffline
	}
	if err := validSession(r.Session); err != nil {
		return SessionView{}, err
	}
	if len(r.Upstream) == 0 {
		return SessionView{}, fmt.Errorf("%w: no upstream bill", ErrBadRequest)
	}
	supplier, typ := r.Upstream[0].FromEntID, billtype.Purchase
	var codes []string
	info := map[string]queue.Expected{}
	for _, u := range r.Upstream {
		if u.FromEntID != supplier {
			return SessionView{}, fmt.Errorf("%w: bills of different suppliers (%s, %s) cannot be received together", ErrBadRequest, supplier, u.FromEntID)
		}
		if u.BillType == 203 {
			typ = billtype.TransferIn
		}
		d, ok, err := a.msfxClient().ListUpOutDetail(ctx, u.BillCode, u.FromRef, a.config().Msfx.RefEntID)
		if err != nil {
			return SessionView{}, fmt.Errorf("%w: %v", ErrOffline, err)
		}
		if !ok {
			return SessionView{}, fmt.Errorf("%w: 码上放心 does not know bill %s for this store", ErrBadRequest, u.BillCode)
		}
		for _, line := range d.Lines {
			dr := line.Drug
			base := queue.Expected{Name: firstOf(string(dr.PhysicName), string(dr.ProdName)), Lot: strings.TrimSpace(string(dr.ProduceBatchNo)),
				Produced: dateOnly(string(dr.ProduceDate)), Expiry: dateOnly(string(dr.ValidEndDate)), Upstream: u.BillCode}
			for _, p := range line.Packs {
				if p.Case != "" {
					if _, ok := info[p.Case]; !ok {
						e := base
						e.Code, e.Key = p.Case, p.Case
						info[p.Case] = e
						codes = append(codes, p.Case)
					}
				}
				e := base
				e.Code, e.Key, e.Parent = p.Code, p.Code, p.Case
				if _, ok := info[p.Code]; !ok {
					codes = append(codes, p.Code)
				}
				info[p.Code] = e
			}
		}
	}
	exp, err := a.expand(ctx, codes, info)
	if err != nil {
		return SessionView{}, err
	}
	names := make([]string, len(r.Upstream))
	for i, u := range r.Upstream {
		names[i] = u.BillCode
	}
	if _, _, err := a.Open(ctx, OpenRequest{Session: r.Session, Type: typ, Partner: supplier}); err != nil {
		return SessionView{}, err
	}
	if _, err := a.store.SetExpected(ctx, r.Session, names, exp); err != nil {
		return SessionView{}, err
	}
	a.rememberExpected(r.Session, exp)
	return a.Session(r.Session)
}

// expand asks 码上放心 about every expected code (query.codedetail): codes
// get their lot and dates (produce_info_list) and name when the bill line
// lacked them, so that they reach the 医保 purchase (3503) when scanned.
func (a *Agent) expand(ctx context.Context, codes []string, info map[string]queue.Expected) ([]queue.Expected, error) {
	details, err := a.msfxClient().QueryCodeDetail(ctx, codes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOffline, err)
	}
	byCode := map[string]wire.CodeInfo{}
	for _, d := range details {
		byCode[strings.TrimSpace(string(d.Code))] = d
	}
	out := make([]queue.Expected, 0, len(codes))
	for _, c := range codes {
		e := info[c]
		if d, ok := byCode[c]; ok {
			fillExpected(&e, d)
		}
		if e.Product == "" {
			e.Product = productOf(c)
		}
		e.Special = a.special(e.Product, c)
		out = append(out, e)
	}
	return out, nil
}

// fillExpected completes e from the platform's code detail: the first
// production record's batch_no, produce_date_str and expire_date.
func fillExpected(e *queue.Expected, d wire.CodeInfo) {
	if p, ok := d.Lot(); ok {
		if e.Lot == "" {
			e.Lot = strings.TrimSpace(string(p.BatchNo))
		}
		if e.Produced == "" {
			e.Produced = dateOnly(firstOf(string(p.ProduceDateStr), string(p.OriginalProduceDate)))
		}
		if e.Expiry == "" {
			e.Expiry = dateOnly(firstOf(string(p.ExpireDate), string(p.OriginalExpireDate)))
		}
	}
	if d.Drug != nil && e.Name == "" {
		e.Name = string(d.Drug.PhysicName)
	}
}

// productOf is the product key of a code (7-digit prefix or GTIN).
func productOf(code string) string {
	if len(code) == 20 && code[0] == '8' {
		return code[:7]
	}
	if strings.HasPrefix(code, "01") && len(code) >= 16 {
		return code[2:16]
	}
	return ""
}

// special tells whether a pack must be scanned one by one: 特药 (89…) and
// the catalogue's key varieties.
func (a *Agent) special(product, code string) bool {
	if strings.HasPrefix(code, "89") {
		return true
	}
	p, ok := a.Catalogue().Product(product)
	// The official list wins; the catalogue can only add (compliance_msfx.go).
	return ok && p.KeyVariety || a.comp.isKeyVariety(product)
}

// dateOnly reads the day of a platform date as yyyy-MM-dd: "2028-01-31",
// "2028-01-31 00:00:00", "2028/01/31" or "20280131" (the SDKs declare
// these dates as strings without a format); anything else is "".
func dateOnly(s string) string {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.DateOnly, "2006/01/02", "20060102"} {
		if len(s) >= len(layout) {
			if t, err := time.Parse(layout, s[:len(layout)]); err == nil {
				return t.Format(time.DateOnly)
			}
		}
	}
	return ""
}

// ConfirmResult reports a bulk confirmation.
type ConfirmResult struct {
	Added       int              `json:"added"`
	MustScan    []queue.Expected `json:"must_scan"`
	Refused     []ScanRefusal    `json:"refused"`
	SessionView SessionView      `json:"session"`
}

// ScanRefusal is a code the ledger refused during a bulk confirmation.
type ScanRefusal struct {
	Code    string `json:"code"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// ConfirmAll adds every expected pack not yet scanned (确认入库), except 特药
// and key varieties, which must be scanned one by one.
func (a *Agent) ConfirmAll(ctx context.Context, session string) (ConfirmResult, error) {
	v, err := a.Session(session)
	if err != nil {
		return ConfirmResult{}, err
	}
	if v.Expected == nil {
		return ConfirmResult{}, fmt.Errorf("%w: session %q is not a receiving against a supplier's bill", ErrBadRequest, session)
	}
	res := ConfirmResult{MustScan: []queue.Expected{}, Refused: []ScanRefusal{}}
	cases := map[string]bool{}
	for _, e := range v.Expected.Missing {
		if e.Parent != "" {
			cases[e.Parent] = true
		}
	}
	for _, e := range v.Expected.Missing {
		if e.Special {
			res.MustScan = append(res.MustScan, e)
			continue
		}
		fb := a.HandleScan(ctx, session, device.Scan{Source: "confirm-all", Raw: []byte(e.Code), At: a.now()})
		switch fb.Status {
		case device.StatusAccepted:
			res.Added++
		case device.StatusDuplicate:
		default:
			res.Refused = append(res.Refused, ScanRefusal{Code: e.Code, Reason: fb.Reason, Message: fb.Message})
		}
	}
	res.SessionView, err = a.Session(session)
	return res, err
}

// RejectUpstream records this store's rejection (拒收) of a supplier's bill,
// or undoes it. The platform's rejection call (kyt.wes.billpartialreject)
// is not made: whether a retail (lsyd) AppKey may call it is unconfirmed.
func (a *Agent) RejectUpstream(ctx context.Context, billCode, reason string, undo bool) (queue.UpstreamState, error) {
	if billCode == "" || (!undo && strings.TrimSpace(reason) == "") {
		return queue.UpstreamState{}, fmt.Errorf("%w: a rejection needs the bill code and a reason", ErrBadRequest)
	}
	st, err := a.store.SetUpstreamRejected(ctx, billCode, !undo, reason)
	if err == nil {
		status := "rejected"
		if undo {
			status = "rejection undone"
		}
		a.publish(Event{Kind: "bill", Bill: billCode, Status: status, Message: reason})
	}
	return st, err
}

// Compliance is what regulators see of the store, from the local ledger
// and the platform: supplier bills not received, deliveries not done, key
// varieties received without their codes.
type Compliance struct {
	// UnreceivedUpstream are supplier outbound bills of the last 30 days
	// 码上放心 still lists as 未确认 and the store neither received nor
	// rejected. Nil when 码上放心 is off or unreachable (see UpstreamError).
	UnreceivedUpstream []UpstreamRow `json:"unreceived_upstream"`
	UpstreamError      string        `json:"upstream_error,omitempty"`
	// Pending counts bills not yet at each back end, with the oldest.
	Pending map[string]PendingSummary `json:"pending"`
	// KeyVarietyGaps are receivings finished with expected key-variety
	// packs not scanned.
	KeyVarietyGaps []KeyVarietyGap `json:"key_variety_gaps"`
	// Exceptions counts the packs sold without a code (recent bills).
	Exceptions ExceptionCount `json:"exceptions"`
	// MsfxFigures are 验证率, service period, key-variety list and changed
	// upstream bills from the last refresh (compliance_msfx.go).
	MsfxFigures
	// Reconcile is what the latest reconciliations found (reconcile.go).
	Reconcile ReconcileSummary `json:"reconcile"`
}

// UpstreamRow is one unreceived supplier bill.
type UpstreamRow struct {
	BillCode string `json:"bill_code"`
	BillType int    `json:"bill_type"`
	BillTime string `json:"bill_time"`
	From     string `json:"from"`
	Packs    int    `json:"packs"`
}

// PendingSummary is one back end's backlog.
type PendingSummary struct {
	Pending       int       `json:"pending"`
	Failing       int       `json:"failing"`
	Dead          int       `json:"dead"`
	OldestPending time.Time `json:"oldest_pending,omitzero"`
}

// KeyVarietyGap is a finished receiving that left key-variety packs
// unscanned.
type KeyVarietyGap struct {
	Bill     string   `json:"bill"`
	Upstream string   `json:"upstream"`
	Missing  []string `json:"missing"`
}

// maxUpstreamPages bounds the supplier-bill listing (100 rows a page).
const maxUpstreamPages = 20

// Compliance builds the compliance view.
func (a *Agent) Compliance(ctx context.Context) (Compliance, error) {
	c := Compliance{Pending: map[string]PendingSummary{}, KeyVarietyGaps: []KeyVarietyGap{}, MsfxFigures: a.comp.snapshot()}
	st, err := a.store.Stats()
	if err != nil {
		return c, err
	}
	for name, d := range st.Dests {
		c.Pending[name] = PendingSummary{Pending: d.Pending + d.Leased, Failing: d.Failing, Dead: d.Dead, OldestPending: d.OldestPending}
	}
	if c.Exceptions, err = a.exceptionCount(); err != nil {
		return c, err
	}
	if c.Reconcile, err = a.reconcileSummary(); err != nil {
		return c, err
	}
	received := map[string]bool{}
	bills, err := a.store.RecentBills(0, 5000, func(b queue.Bill) bool {
		return b.State == queue.BillFinished && b.Attrs["upstream"] != ""
	})
	if err != nil {
		return c, err
	}
	for _, b := range bills {
		for _, u := range strings.Split(b.Attrs["upstream"], ",") {
			received[u] = true
		}
		exp, err := a.store.ExpectedOf(b.ID)
		if err != nil {
			return c, err
		}
		items, err := a.store.Items(b.ID)
		if err != nil {
			return c, err
		}
		v, err := a.compareReceiving(b, exp, items)
		if err != nil {
			return c, err
		}
		var missing []string
		for _, e := range v.Missing {
			if e.Special {
				missing = append(missing, e.Code)
			}
		}
		if len(missing) > 0 {
			c.KeyVarietyGaps = append(c.KeyVarietyGaps, KeyVarietyGap{Bill: b.Code, Upstream: b.Attrs["upstream"], Missing: missing})
		}
	}
	if a.msfxClient() == nil {
		c.UpstreamError = "码上放心 is not enabled"
		return c, nil
	}
	states, err := a.store.UpstreamStates()
	if err != nil {
		return c, err
	}
	now := a.now()
	var rows []wire.UpOutRow
	opts := msfxUnconfirmed
	for opts.Page = 1; opts.Page <= maxUpstreamPages; opts.Page++ {
		page, err := a.msfxClient().ListUpOut(ctx, now.AddDate(0, 0, -30), now, opts)
		if err != nil {
			c.UpstreamError = err.Error()
			return c, nil
		}
		rows = append(rows, page.ResultList...)
		if len(page.ResultList) < opts.PageSize || len(rows) >= int(page.TotalNum) {
			break
		}
	}
	byBill := map[string]*UpstreamRow{}
	for _, r := range rows {
		code := string(r.BillCode)
		if received[code] || states[code].Rejected {
			continue
		}
		row := byBill[code]
		if row == nil {
			row = &UpstreamRow{BillCode: code, BillType: int(r.BillType), BillTime: firstOf(string(r.BillTime), string(r.BillTimeFormat)),
				From: firstOf(string(r.FromUserName), firstOf(string(r.FromEntName), string(r.FromUserID)))}
			byBill[code] = row
		}
		row.Packs += int(r.CodeCount)
	}
	c.UnreceivedUpstream = []UpstreamRow{}
	for _, r := range byBill {
		c.UnreceivedUpstream = append(c.UnreceivedUpstream, *r)
	}
	sort.Slice(c.UnreceivedUpstream, func(i, j int) bool { return c.UnreceivedUpstream[i].BillTime < c.UnreceivedUpstream[j].BillTime })
	return c, nil
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
