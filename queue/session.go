package queue

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SessionSpec describes the bill a session collects codes into.
type SessionSpec struct {
	// Session names who collects: one scanner or a group of them.
	Session  string
	Type     int
	Partner  string
	Operator string
	Device   string
	// Attrs start the bill's attributes (see Bill.Attrs).
	Attrs map[string]string
	// Lines are what a sale should contain (lines.go); none: anything.
	Lines []SaleLine
}

// Session errors.
var (
	ErrSessionBusy = errors.New("another bill is open in this session")
	ErrNoSession   = errors.New("no open bill in this session")
	ErrEmptyBill   = errors.New("the bill has no codes")
)

// Outcome is the verdict on one scan.
type Outcome string

const (
	Accepted  Outcome = "accepted"
	Duplicate Outcome = "duplicate"
	Rejected  Outcome = "rejected"
)

// ReasonNoSession: a code arrived while no bill was open and none may be
// opened automatically.
const ReasonNoSession = "no_session"

// ScanInput is one scan handed to the queue, already parsed by the caller.
type ScanInput struct {
	Session string
	Source  string
	// Raw is what the scanner sent, made printable by the caller; kept in
	// the journal for "why was this rejected".
	Raw string
	At  time.Time
	// The parsed code. Key identifies the pack in the ledger.
	Code, Key, Kind, Product string
	// Lot and dates (YYYY-MM-DD) read from the code, if any.
	Lot, Expiry, Produced string
	// Units sells that many units from the pack (拆零); 0 = the whole pack.
	// PackUnits is the product's units per pack (from the catalogue).
	Units, PackUnits int
	// Reject records a scan refused before it reached the queue (a code
	// that does not parse); the scan is only journaled.
	Reject, RejectMsg string
	// AutoOpen opens a bill of this spec when the session has none; nil
	// refuses such scans.
	AutoOpen *SessionSpec
}

// ScanResult is what the operator is told about a scan.
type ScanResult struct {
	Outcome Outcome
	Reason  string
	Message string
	// Bill is the session's bill after the scan (zero if there is none).
	Bill Bill
	// Item is the accepted item (zero otherwise).
	Item    Item
	Journal uint64
}

// ScanLog is one scan in the journal, whatever its outcome.
type ScanLog struct {
	Seq      uint64    `json:"seq"`
	At       time.Time `json:"at"`
	Source   string    `json:"source,omitempty"`
	Session  string    `json:"session,omitempty"`
	Raw      string    `json:"raw,omitempty"`
	Code     string    `json:"code,omitempty"`
	Outcome  Outcome   `json:"outcome"`
	Reason   string    `json:"reason,omitempty"`
	Message  string    `json:"message,omitempty"`
	BillCode string    `json:"bill_code,omitempty"`
}

const maxRaw = 256

// OpenSession opens a bill for spec.Session. If the session already has an
// open bill of the same type and partner it is returned with created=false;
// a different open bill is ErrSessionBusy.
func (s *Store) OpenSession(ctx context.Context, spec SessionSpec) (b Bill, created bool, err error) {
	if err := validSpec(spec); err != nil {
		return Bill{}, false, err
	}
	type res struct {
		b       Bill
		created bool
	}
	r, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		cur, ok, err := w.sessionBill(spec.Session)
		if err != nil {
			return nil, err
		}
		if ok {
			if cur.Type == spec.Type && cur.Partner == spec.Partner && sameOriginal(cur, spec) && sameLines(cur.Lines, spec.Lines) {
				return res{cur, false}, nil
			}
			what := ""
			if cur.Type == spec.Type && cur.Partner == spec.Partner {
				what = ", naming another original sale"
				if !sameLines(cur.Lines, spec.Lines) {
					what = ", with other lines"
				}
			}
			return nil, fmt.Errorf("%w: %s holds bill %s (type %d, %d codes%s): finish or cancel it first",
				ErrSessionBusy, spec.Session, cur.Code, cur.Type, cur.Items, what)
		}
		nb, err := w.newBill(spec, true)
		return res{nb, true}, err
	})
	if err != nil {
		return Bill{}, false, err
	}
	out := r.(res)
	s.openBill(&out.b)
	return out.b, out.created, nil
}

func validSpec(spec SessionSpec) error {
	if spec.Session == "" {
		return errors.New("queue: session name is empty")
	}
	if _, err := ActionFor(spec.Type); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if err := validLines(spec.Lines); err != nil {
		return err
	}
	return validOriginal(spec)
}

// Scan records one scan: it checks the code against the session's bill and
// the ledger and, if accepted, appends it. It returns only once the result
// is durable.
func (s *Store) Scan(ctx context.Context, in ScanInput) (ScanResult, error) {
	if in.Reject == "" && (in.Code == "" || in.Key == "") {
		return ScanResult{}, errors.New("queue: scan without code or key")
	}
	if in.AutoOpen != nil {
		spec := *in.AutoOpen
		spec.Session = in.Session
		if err := validSpec(spec); err != nil {
			return ScanResult{}, err
		}
	}
	if len(in.Raw) > maxRaw {
		in.Raw = in.Raw[:maxRaw]
	}
	r, err := s.submit(ctx, true, func(w *wtx) (any, error) { return w.scan(in) })
	if err != nil {
		return ScanResult{}, err
	}
	res := r.(ScanResult)
	s.openBill(&res.Bill)
	return res, nil
}

func (w *wtx) scan(in ScanInput) (ScanResult, error) {
	at := in.At
	if at.IsZero() {
		at = w.now
	}
	if in.Reject != "" {
		return w.journal(in, at, ScanResult{Outcome: Rejected, Reason: in.Reject, Message: in.RejectMsg})
	}
	bill, ok, err := w.sessionBill(in.Session)
	if err != nil {
		return ScanResult{}, err
	}
	if !ok {
		if in.AutoOpen == nil {
			return w.journal(in, at, ScanResult{Outcome: Rejected, Reason: ReasonNoSession,
				Message: fmt.Sprintf("no bill is open in session %q: open a sale or a receiving first", in.Session)})
		}
		spec := *in.AutoOpen
		spec.Session = in.Session
		if bill, err = w.newBill(spec, true); err != nil {
			return ScanResult{}, err
		}
	}
	action, err := ActionFor(bill.Type)
	if err != nil {
		return ScanResult{}, abort(fmt.Errorf("%w: bill %s: %v", errCorrupt, bill.Code, err))
	}
	ledger := w.tx.Bucket(bktLedger)
	var entry LedgerEntry
	if _, err := getJSON(ledger, []byte(in.Key), &entry); err != nil {
		return ScanResult{}, abort(err)
	}
	if last, ok := entry.Last(); ok && last.BillID == bill.ID {
		return w.journal(in, at, ScanResult{Outcome: Duplicate, Reason: "duplicate", Bill: bill,
			Message: fmt.Sprintf("already on bill %s: scanned twice, counted once", bill.Code)})
	}
	units := 0
	if action == ActionSold {
		units = in.Units
	}
	reason, msg := check(&entry, action, bill.Type, in.Code, units, in.PackUnits)
	var orig origin
	if reason == "" && action == ActionReturned {
		if orig, err = loadOrigin(w.tx, bill.Attrs); err != nil {
			return ScanResult{}, abort(err)
		}
		reason, msg = checkReturn(&entry, orig, bill.Attrs, in.Code, in.Key)
	}
	lineIdx, lineAmount := -1, 0
	if reason == "" && action == ActionSold && len(bill.Lines) > 0 {
		lineIdx, lineAmount, reason, msg = matchLine(bill.Lines, in.Product, units, in.PackUnits)
	}
	if reason != "" {
		return w.journal(in, at, ScanResult{Outcome: Rejected, Reason: reason, Message: msg, Bill: bill})
	}
	if lineIdx >= 0 {
		bill.Lines[lineIdx].Collected += lineAmount
	}

	// Accepted: from here on every error aborts the batch.
	bill.Items++
	seq := bill.Items
	if bill.LastSeq > 0 {
		// A pack was removed: number after the highest seq given.
		seq = bill.LastSeq + 1
		bill.LastSeq = seq
	}
	item := Item{Seq: seq, Code: in.Code, Key: in.Key, Kind: in.Kind, Product: in.Product, Source: in.Source, ScannedAt: at,
		Lot: firstOf(in.Lot, entry.Lot), Expiry: firstOf(in.Expiry, entry.Expiry), Produced: firstOf(in.Produced, entry.Produced), Units: units,
		Ref: refOf(&entry, action, orig)}
	if lineIdx >= 0 {
		item.Line = bill.Lines[lineIdx].Line
		if units == 0 && lineAmount != 1 {
			item.Counted = lineAmount
		}
	}
	if units > 0 {
		if !entry.opened() {
			item.Opened = true
			entry.PackUnits, entry.Remaining = in.PackUnits, in.PackUnits
		}
		entry.Remaining -= units
	}
	if err := w.putJSON(w.tx.Bucket(bktItems), itemKey(bill.ID, item.Seq), item); err != nil {
		return ScanResult{}, err
	}
	entry.Key, entry.Code = in.Key, in.Code
	entry.Lot, entry.Expiry, entry.Produced = item.Lot, item.Expiry, item.Produced
	countNote := ""
	if action == ActionCounted {
		countNote = countedNote(&entry)
	}
	entry.Events = append(entry.Events, LedgerEvent{BillID: bill.ID, BillCode: bill.Code, BillType: bill.Type, Action: action, At: at, Units: units})
	if err := w.putJSON(ledger, []byte(in.Key), entry); err != nil {
		return ScanResult{}, err
	}
	if err := w.putBill(bill); err != nil {
		return ScanResult{}, err
	}
	msg = fmt.Sprintf("added to %s (%d on the bill)", bill.Code, bill.Items)
	if units > 0 {
		msg = fmt.Sprintf("%d unit(s) of the pack added to %s (%d of %d left in the pack)", units, bill.Code, entry.Remaining, entry.PackUnits)
	}
	if lineIdx >= 0 {
		l := bill.Lines[lineIdx]
		msg += fmt.Sprintf("; line %s: %d of %d", l.Line, l.Collected, l.Needed())
	}
	if countNote != "" {
		msg += "; " + countNote
	}
	return w.journal(in, at, ScanResult{Outcome: Accepted, Bill: bill, Item: item, Message: msg})
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// journal appends the scan to the journal and counts its outcome.
func (w *wtx) journal(in ScanInput, at time.Time, r ScanResult) (ScanResult, error) {
	scans := w.tx.Bucket(bktScans)
	seq, err := scans.NextSequence()
	if err != nil {
		return ScanResult{}, abort(err)
	}
	rec := ScanLog{Seq: seq, At: at, Source: in.Source, Session: in.Session, Raw: in.Raw, Code: in.Code,
		Outcome: r.Outcome, Reason: r.Reason, Message: r.Message, BillCode: r.Bill.Code}
	if err := w.putJSON(scans, u64(seq), rec); err != nil {
		return ScanResult{}, err
	}
	key := "count:" + string(r.Outcome)
	if r.Outcome == Rejected {
		key += ":" + r.Reason
	}
	if err := w.incr(key); err != nil {
		return ScanResult{}, err
	}
	r.Journal = seq
	return r, nil
}

func (w *wtx) incr(key string) error {
	meta := w.tx.Bucket(bktMeta)
	var n uint64
	if v := meta.Get([]byte(key)); len(v) == 8 {
		n = btou(v)
	}
	return w.put(meta, []byte(key), u64(n+1))
}

func (w *wtx) sessionBill(session string) (Bill, bool, error) {
	v := w.tx.Bucket(bktSessions).Get([]byte(session))
	if v == nil {
		return Bill{}, false, nil
	}
	if len(v) != 8 {
		return Bill{}, false, abort(fmt.Errorf("%w: session %q points to %d bytes", errCorrupt, session, len(v)))
	}
	b, err := getBill(w.tx, btou(v))
	if err != nil {
		return Bill{}, false, abort(err)
	}
	return b, true, nil
}

// openBill is the session's open bill, or ErrNoSession.
func (w *wtx) openBill(session string) (Bill, error) {
	b, ok, err := w.sessionBill(session)
	if err != nil {
		return Bill{}, err
	}
	if !ok {
		return Bill{}, fmt.Errorf("%w %q", ErrNoSession, session)
	}
	return b, nil
}

var billPrefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,16}$`)

// newBill creates an open bill for spec with its bill_code, generated here
// once: <prefix>-<yyMMdd>-<n>, n counting per day. register makes it the
// session's open bill.
func (w *wtx) newBill(spec SessionSpec, register bool) (Bill, error) {
	prefix := w.s.opts.BillPrefix
	if !billPrefixRE.MatchString(prefix) {
		return Bill{}, fmt.Errorf("queue: bill prefix %q must be 1-16 of A-Z a-z 0-9 _ -", prefix)
	}
	bills := w.tx.Bucket(bktBills)
	id, err := bills.NextSequence()
	if err != nil {
		return Bill{}, abort(err)
	}
	day := w.now.In(w.s.opts.Location).Format("060102")
	seqKey := []byte("billseq:" + day)
	meta := w.tx.Bucket(bktMeta)
	var n uint64
	if v := meta.Get(seqKey); len(v) == 8 {
		n = btou(v)
	}
	codes := w.tx.Bucket(bktBillCodes)
	var code string
	for {
		n++
		code = fmt.Sprintf("%s-%s-%05d", prefix, day, n)
		if codes.Get([]byte(code)) == nil {
			break
		}
	}
	if err := w.put(meta, seqKey, u64(n)); err != nil {
		return Bill{}, err
	}
	b := Bill{ID: id, Code: code, Type: spec.Type, State: BillOpen, Session: spec.Session,
		Partner: spec.Partner, Operator: spec.Operator, Device: spec.Device, CreatedAt: w.now, Attrs: cloneAttrs(spec.Attrs), Lines: slices.Clone(spec.Lines),
		History: []Event{{At: w.now, What: "created", Detail: fmt.Sprintf("type %d in session %s", spec.Type, spec.Session)}}}
	if err := w.put(codes, []byte(code), u64(id)); err != nil {
		return Bill{}, err
	}
	if register {
		if err := w.put(w.tx.Bucket(bktSessions), []byte(spec.Session), u64(id)); err != nil {
			return Bill{}, err
		}
	}
	return b, w.putBill(b)
}

// putBill stores b with its personal attrs sealed (personal.go).
func (w *wtx) putBill(b Bill) error {
	sb, err := w.s.sealBill(b)
	if err != nil {
		return abort(err)
	}
	return w.putJSON(w.tx.Bucket(bktBills), u64(b.ID), sb)
}

func getBill(tx *bolt.Tx, id uint64) (Bill, error) {
	var b Bill
	ok, err := getJSON(tx.Bucket(bktBills), u64(id), &b)
	if err != nil {
		return Bill{}, err
	}
	if !ok {
		return Bill{}, fmt.Errorf("%w: bill %d", ErrNotFound, id)
	}
	return b, nil
}

// ErrNotFound: no such bill, delivery or code.
var ErrNotFound = errors.New("not found")

// Refusal is one code of a submitted bill that the ledger refused.
type Refusal struct {
	// Line is the code's place on the submitted bill, from 1 (0: unknown).
	Line    int    `json:"line,omitempty"`
	Code    string `json:"code"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// RefusedError lists the codes that kept a submitted bill out; nothing of
// the bill was written.
type RefusedError struct{ Refusals []Refusal }

func (e *RefusedError) Error() string {
	return fmt.Sprintf("bill refused: %d code(s) cannot go on it (first: %s)", len(e.Refusals), e.Refusals[0].Message)
}

// SubmitBill records a complete bill at once (an ERP sending a finished
// receiving or sale): every code is checked as a scan would be, and either
// the whole bill is written and finished (deliveries per route) or nothing
// is and the refusals are returned in a *RefusedError. spec.Session labels
// the bill's origin; it does not open a session.
func (s *Store) SubmitBill(ctx context.Context, spec SessionSpec, codes []ScanInput, route Route) (Bill, error) {
	if err := validSpec(spec); err != nil {
		return Bill{}, err
	}
	if len(codes) == 0 {
		return Bill{}, fmt.Errorf("%w: nothing submitted", ErrEmptyBill)
	}
	if route == nil {
		route = To()
	}
	action, _ := ActionFor(spec.Type)
	r, err := s.submit(ctx, true, func(w *wtx) (any, error) {
		ledger := w.tx.Bucket(bktLedger)
		entries, refused, orig, err := submitChecks(w.tx, spec, codes, action)
		if err != nil {
			return nil, abort(err)
		}
		if len(refused) > 0 {
			return nil, &RefusedError{Refusals: refused}
		}
		b, err := w.newBill(spec, false)
		if err != nil {
			return nil, err
		}
		for i, in := range codes {
			e := &entries[i]
			units := 0
			if action == ActionSold {
				units = in.Units
			}
			item := Item{Seq: i + 1, Code: in.Code, Key: in.Key, Kind: in.Kind, Product: in.Product, Source: spec.Session,
				ScannedAt: w.now, Lot: firstOf(in.Lot, e.Lot), Expiry: firstOf(in.Expiry, e.Expiry),
				Produced: firstOf(in.Produced, e.Produced), Units: units, Ref: refOf(e, action, orig)}
			if units > 0 {
				if !e.opened() {
					item.Opened = true
					e.PackUnits, e.Remaining = in.PackUnits, in.PackUnits
				}
				e.Remaining -= units
			}
			if err := w.putJSON(w.tx.Bucket(bktItems), itemKey(b.ID, item.Seq), item); err != nil {
				return nil, err
			}
			e.Key, e.Code = in.Key, in.Code
			e.Lot, e.Expiry, e.Produced = item.Lot, item.Expiry, item.Produced
			e.Events = append(e.Events, LedgerEvent{BillID: b.ID, BillCode: b.Code, BillType: b.Type, Action: action, At: w.now, Units: units})
			if err := w.putJSON(ledger, []byte(in.Key), *e); err != nil {
				return nil, err
			}
		}
		b.Items = len(codes)
		return w.finish(b, route)
	})
	if err != nil {
		return Bill{}, err
	}
	b := r.(Bill)
	s.openBill(&b)
	return b, nil
}

// CheckSubmit answers what SubmitBill would refuse of codes, without
// writing: a caller that refuses other lines itself (unparsable codes)
// reports every refusal of a bill at once rather than one round at a time.
func (s *Store) CheckSubmit(spec SessionSpec, codes []ScanInput) ([]Refusal, error) {
	action, _ := ActionFor(spec.Type)
	var refused []Refusal
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		_, refused, _, err = submitChecks(tx, spec, codes, action)
		return err
	})
	return refused, err
}

// submitChecks checks every code of a submitted bill as a scan would be:
// the ledger entries it read (by code), the refusals (Line is the code's
// index in codes, from 1), and a return's original sale.
func submitChecks(tx *bolt.Tx, spec SessionSpec, codes []ScanInput, action Action) ([]LedgerEntry, []Refusal, origin, error) {
	ledger := tx.Bucket(bktLedger)
	var orig origin
	if action == ActionReturned {
		var err error
		if orig, err = loadOrigin(tx, spec.Attrs); err != nil {
			return nil, nil, orig, err
		}
	}
	entries := make([]LedgerEntry, len(codes))
	seen := map[string]bool{}
	var refused []Refusal
	for i, in := range codes {
		if in.Code == "" || in.Key == "" {
			refused = append(refused, Refusal{Line: i + 1, Code: in.Code, Reason: "empty", Message: "empty code"})
			continue
		}
		if seen[in.Key] {
			refused = append(refused, Refusal{Line: i + 1, Code: in.Code, Reason: "duplicate", Message: in.Code + " is twice on the bill"})
			continue
		}
		seen[in.Key] = true
		if _, err := getJSON(ledger, []byte(in.Key), &entries[i]); err != nil {
			return nil, nil, orig, err
		}
		units := 0
		if action == ActionSold {
			units = in.Units
		}
		reason, msg := check(&entries[i], action, spec.Type, in.Code, units, in.PackUnits)
		if reason == "" && action == ActionReturned {
			reason, msg = checkReturn(&entries[i], orig, spec.Attrs, in.Code, in.Key)
		}
		if reason != "" {
			refused = append(refused, Refusal{Line: i + 1, Code: in.Code, Reason: reason, Message: msg})
		}
	}
	return entries, refused, orig, nil
}

// Route picks the destinations of a bill when it is finished. It runs
// inside the finishing transaction, so it must be quick and pure.
type Route func(Bill) []string

// To routes every bill to the same destinations.
func To(dests ...string) Route { return func(Bill) []string { return dests } }

// Finish closes the session's bill and creates one due delivery per
// destination route picks for it. A bill without codes cannot be finished
// (cancel it).
func (s *Store) Finish(ctx context.Context, session string, route Route) (Bill, error) {
	if route == nil {
		route = To()
	}
	r, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		b, err := w.openBill(session)
		if err != nil {
			return nil, err
		}
		if b.Items == 0 {
			return nil, fmt.Errorf("%w: %s; cancel it instead", ErrEmptyBill, b.Code)
		}
		if err := CheckComplete(b); err != nil {
			return nil, err
		}
		if err := w.del(w.tx.Bucket(bktSessions), []byte(session)); err != nil {
			return nil, err
		}
		return w.finish(b, route)
	})
	if err != nil {
		return Bill{}, err
	}
	b := r.(Bill)
	s.openBill(&b)
	return b, nil
}

// finish closes b and creates its deliveries. It runs after other writes
// of its request, so its errors abort the batch.
func (w *wtx) finish(b Bill, route Route) (Bill, error) {
	dests := route(b)
	for _, d := range dests {
		if d == "" {
			return Bill{}, abort(errors.New("queue: route gave an empty destination name"))
		}
	}
	b.State = BillFinished
	b.FinishedAt = w.now
	b.Destinations = append([]string(nil), dests...)
	detail := fmt.Sprintf("%d codes", b.Items)
	if len(dests) == 0 {
		detail += "; no destination: kept locally only"
	}
	b.History = append(b.History, Event{At: w.now, What: "finished", Detail: detail})
	if len(dests) == 0 {
		stripPersonal(&b, w.now)
	}
	for _, d := range dests {
		del := Delivery{BillID: b.ID, BillCode: b.Code, Dest: d, State: DeliveryPending, NextAt: w.now, CreatedAt: w.now, Unsent: true}
		if err := w.putDelivery(del); err != nil {
			return Bill{}, err
		}
		if err := w.put(w.tx.Bucket(bktDue), dueKey(d, del.NextAt, b.ID), nil); err != nil {
			return Bill{}, err
		}
		w.due[d] = true
	}
	return b, w.putBill(b)
}

// Cancel abandons the session's bill: its codes are released in the ledger
// (they may be scanned again elsewhere); the bill and its items stay as
// history.
func (s *Store) Cancel(ctx context.Context, session, why string) (Bill, error) {
	r, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		b, err := w.openBill(session)
		if err != nil {
			return nil, err
		}
		items, err := readItems(w.tx, b.ID)
		if err != nil {
			return nil, abort(err)
		}
		for _, it := range items {
			if err := w.unledger(b.ID, it.Key); err != nil {
				return nil, err
			}
		}
		b.State = BillCancelled
		b.History = append(b.History, Event{At: w.now, What: "cancelled", Detail: why})
		if err := w.del(w.tx.Bucket(bktSessions), []byte(session)); err != nil {
			return nil, err
		}
		return b, w.putBill(b)
	})
	if err != nil {
		return Bill{}, err
	}
	b := r.(Bill)
	s.openBill(&b)
	return b, nil
}

func cloneAttrs(a map[string]string) map[string]string {
	if len(a) == 0 {
		return nil
	}
	out := make(map[string]string, len(a))
	for k, v := range a {
		out[k] = v
	}
	return out
}

// SetAttrs merges attributes into the session's open bill (an empty value
// deletes the key), e.g. the 医保 settlement the POS sends with a sale.
func (s *Store) SetAttrs(ctx context.Context, session string, attrs map[string]string) (Bill, error) {
	if err := checkOriginalKeys(attrs); err != nil {
		return Bill{}, err
	}
	attrs = cloneAttrs(attrs)
	r, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		b, err := w.openBill(session)
		if err != nil {
			return nil, err
		}
		w.s.openBill(&b)
		if b.Attrs == nil {
			b.Attrs = map[string]string{}
		}
		for k, v := range attrs {
			delete(b.Sealed, k) // a new value, or none, replaces one the key cannot open
			if v == "" {
				delete(b.Attrs, k)
			} else {
				b.Attrs[k] = v
			}
		}
		return b, w.putBill(b)
	})
	if err != nil {
		return Bill{}, err
	}
	b := r.(Bill)
	s.openBill(&b)
	return b, nil
}

// NextSequence returns the next value of a named persistent counter
// (starting at 1), durable before it is returned: ids made from it stay
// unique across restarts.
func (s *Store) NextSequence(ctx context.Context, name string) (uint64, error) {
	r, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		key := []byte("seq:" + name)
		meta := w.tx.Bucket(bktMeta)
		var n uint64
		if v := meta.Get(key); len(v) == 8 {
			n = btou(v)
		}
		n++
		return n, w.put(meta, key, u64(n))
	})
	if err != nil {
		return 0, err
	}
	return r.(uint64), nil
}
