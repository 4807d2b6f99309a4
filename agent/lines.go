package agent

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/pinhash"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/tracecode"
)

// A sale opened with its lines (无码不结算): the POS says what the sale
// contains, the queue matches each scanned pack to a line and refuses to
// finish while packs are missing, and packs sold without a code are
// recorded as exceptions, on key varieties with a supervisor's PIN.

// LineRequest is one line of a sale as the POS opens it.
type LineRequest struct {
	Line string `json:"line"`
	// Product is a 7-digit 药品标识码, a GTIN-14 or a 医保目录编码.
	Product string `json:"product"`
	Packs   int    `json:"packs,omitempty"`
	// Units sells that many units from packs (拆零).
	Units int `json:"units,omitempty"`
}

// maxLines bounds a sale's lines.
const maxLines = 200

var (
	lineNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,20}$`)
	msfxKeyRE  = regexp.MustCompile(`^[0-9]{7}$`)
	gtinRE     = regexp.MustCompile(`^[0-9]{14}$`)
	// 医保目录编码: a letter and digits (e.g. XJ01CAA040A001010101445).
	medListRE = regexp.MustCompile(`^[A-Z][A-Z0-9]{8,49}$`)
)

// resolveLines turns the POS's lines into the queue's: each product becomes
// the product keys its packs carry (a 医保目录编码 through the catalogue).
func (a *Agent) resolveLines(reqs []LineRequest) ([]queue.SaleLine, error) {
	if len(reqs) > maxLines {
		return nil, fmt.Errorf("%w: %d lines; at most %d", ErrBadRequest, len(reqs), maxLines)
	}
	cat := a.Catalogue()
	seen := map[string]bool{}
	out := make([]queue.SaleLine, 0, len(reqs))
	for _, r := range reqs {
		if !lineNameRE.MatchString(r.Line) || seen[r.Line] {
			return nil, fmt.Errorf("%w: line %q: each line needs its own name of 1-20 letters, digits, _ . -", ErrBadRequest, r.Line)
		}
		seen[r.Line] = true
		if (r.Packs > 0) == (r.Units > 0) || r.Packs < 0 || r.Units < 0 || r.Packs > 10000 || r.Units > 100000 {
			return nil, fmt.Errorf("%w: line %s: give packs or units (拆零), one of them, positive", ErrBadRequest, r.Line)
		}
		l := queue.SaleLine{Line: r.Line, Product: r.Product, Packs: r.Packs, Units: r.Units}
		switch {
		case msfxKeyRE.MatchString(r.Product), gtinRE.MatchString(r.Product):
			l.Keys = []string{r.Product}
			if p, ok := cat.Product(r.Product); ok {
				l.Name, l.KeyVariety = p.Name, p.KeyVariety
			}
		case medListRE.MatchString(r.Product):
			for _, p := range cat.ByMedList(r.Product) {
				l.Keys = append(l.Keys, p.Key)
				l.Name = firstOf(l.Name, p.Name)
				l.KeyVariety = l.KeyVariety || p.KeyVariety
			}
			if len(l.Keys) == 0 {
				return nil, fmt.Errorf("%w: line %s: no product of the catalogue has 医保目录编码 %s", ErrBadRequest, r.Line, r.Product)
			}
		default:
			return nil, fmt.Errorf("%w: line %s: product %q is not a 7-digit 药品标识码, a GTIN-14 or a 医保目录编码", ErrBadRequest, r.Line, r.Product)
		}
		out = append(out, l)
	}
	return out, nil
}

// LineView is a sale line as the clerk sees it.
type LineView struct {
	queue.SaleLine
	Needed int `json:"needed"`
	Short  int `json:"short"`
}

func lineViews(b queue.Bill) []LineView {
	if len(b.Lines) == 0 {
		return nil
	}
	out := make([]LineView, len(b.Lines))
	for i, l := range b.Lines {
		out[i] = LineView{SaleLine: l, Needed: l.Needed(), Short: l.Short()}
	}
	return out
}

// Exception reasons: the fixed list of why packs were sold without a code.
var exceptionReasons = []string{
	"no_code_stock",   // 无码库存: bought before the code rule, without codes
	"unreadable",      // the code is damaged or will not scan
	"split_open_pack", // 拆零 from a pack opened (and scanned) earlier
	"other",           // anything else, said in the note
}

// packReasons are why a pack 码上放心 reported as bad (验码) is sold
// anyway: an exception naming the pack (ExceptionRequest.Code).
var packReasons = []string{
	"verified", // the clerk checked the pack and its papers: the platform's status is wrong or late
	"other",    // anything else, said in the note
}

// ExceptionRequest records packs of a line sold without a code, or (Code)
// why one scanned pack 码上放心 reported as bad is sold anyway.
type ExceptionRequest struct {
	// Code names a pack on the bill (as scanned); then Line and Packs are
	// not given, and the reason is one of packReasons.
	Code string `json:"code,omitempty"`
	Line string `json:"line,omitempty"`
	// Packs counts packs, or units on a 拆零 line; Units is an alias there.
	Packs         int    `json:"packs,omitempty"`
	Units         int    `json:"units,omitempty"`
	Reason        string `json:"reason"`
	Note          string `json:"note,omitempty"`
	SupervisorPIN string `json:"supervisor_pin,omitempty"`
}

// SupervisorError refuses an exception that needs a supervisor.
type SupervisorError struct {
	// Reason: supervisor_required, supervisor_not_configured,
	// supervisor_pin_wrong, too_many_attempts.
	Reason string
	Msg    string
}

func (e *SupervisorError) Error() string { return e.Msg }

// PIN attempts: at most pinTries failures a session in pinWindow.
const (
	pinTries  = 5
	pinWindow = time.Minute
)

// AddException records an exception on the session's open sale.
func (a *Agent) AddException(ctx context.Context, session string, r ExceptionRequest) (queue.Bill, error) {
	if r.Code != "" {
		return a.excusePack(ctx, session, r)
	}
	if r.Packs == 0 {
		r.Packs = r.Units
	}
	r.Note = strings.TrimSpace(r.Note)
	switch {
	case r.Packs < 1 || r.Units != 0 && r.Units != r.Packs:
		return queue.Bill{}, fmt.Errorf("%w: packs (or units on a 拆零 line) must be a positive number", ErrBadRequest)
	case !slices.Contains(exceptionReasons, r.Reason):
		return queue.Bill{}, fmt.Errorf("%w: reason %q: one of %s", ErrBadRequest, r.Reason, strings.Join(exceptionReasons, ", "))
	}
	if err := checkNote(r.Reason, r.Note); err != nil {
		return queue.Bill{}, err
	}
	b, ok, err := a.store.OpenBill(session)
	if err != nil {
		return queue.Bill{}, err
	}
	if !ok {
		return queue.Bill{}, fmt.Errorf("%w %q", queue.ErrNoSession, session)
	}
	i := slices.IndexFunc(b.Lines, func(l queue.SaleLine) bool { return l.Line == r.Line })
	if i < 0 {
		return queue.Bill{}, fmt.Errorf("%w: bill %s has no line %q", ErrBadRequest, b.Code, r.Line)
	}
	e := queue.Exception{Line: r.Line, Packs: r.Packs, Reason: r.Reason, Note: r.Note}
	if b.Lines[i].KeyVariety {
		if err := a.checkSupervisor(session, r.SupervisorPIN); err != nil {
			return queue.Bill{}, err
		}
		e.Supervisor = true
	}
	nb, err := a.store.AddException(ctx, session, e)
	if errors.Is(err, queue.ErrNoLine) || errors.Is(err, queue.ErrTooManyExcepted) {
		return queue.Bill{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if err != nil {
		return queue.Bill{}, err
	}
	a.publish(Event{Kind: "line", Session: session, Bill: nb.Code, Line: r.Line, Status: "exception",
		Reason: r.Reason, Message: fmt.Sprintf("line %s: %d without code (%s)", r.Line, r.Packs, r.Reason)})
	return nb, nil
}

// checkSupervisor checks a supervisor's PIN against the configured hash,
// allowing pinTries failures a session in pinWindow.
func (a *Agent) checkSupervisor(session, pin string) error {
	h := a.config().Sessions.SupervisorPINHash
	if h == "" {
		return &SupervisorError{"supervisor_not_configured", "a key variety needs a supervisor's approval, and no supervisor PIN is configured (sessions.supervisor_pin_hash)"}
	}
	if pin == "" {
		return &SupervisorError{"supervisor_required", "a key variety (集采/麻精/血液/生物): a supervisor's PIN is needed (supervisor_pin)"}
	}
	now := a.now()
	a.mu.Lock()
	var recent []time.Time
	for _, t := range a.pinTries[session] {
		if now.Sub(t) < pinWindow {
			recent = append(recent, t)
		}
	}
	if a.pinTries == nil {
		a.pinTries = map[string][]time.Time{}
	}
	a.pinTries[session] = recent
	a.mu.Unlock()
	if len(recent) >= pinTries {
		return &SupervisorError{"too_many_attempts", fmt.Sprintf("%d wrong supervisor PINs within a minute in session %s: wait and try again", len(recent), session)}
	}
	ok, err := pinhash.Verify(h, pin)
	if err != nil {
		return fmt.Errorf("supervisor PIN: %w", err)
	}
	if !ok {
		a.mu.Lock()
		a.pinTries[session] = append(a.pinTries[session], now)
		a.mu.Unlock()
		a.log.Warn("wrong supervisor PIN", "session", session)
		return &SupervisorError{"supervisor_pin_wrong", "the supervisor PIN is wrong"}
	}
	return nil
}

// linesFor checks a sale's lines at open: only retail sales have lines.
func (a *Agent) linesFor(t int, reqs []LineRequest) ([]queue.SaleLine, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	if t != billtype.RetailSale {
		return nil, fmt.Errorf("%w: lines are for retail sales (kind sale) only", ErrBadRequest)
	}
	return a.resolveLines(reqs)
}

// finishBlocked says why the session's open bill may not finish yet (nil:
// it may). Every finish path (API, PDA:FINISH, idle finish) asks it first;
// the queue refuses an incomplete sale again, atomically, at the finish.
func (a *Agent) finishBlocked(b queue.Bill) error {
	return queue.CheckComplete(b)
}

// checkFinish says why the session's open bill may not finish yet, for
// every finish path (API, PDA:FINISH, idle finish): its sale lines first
// (codes_missing), then the online checks' verdicts (check_failed,
// online.go). nil when it may, or when no bill is open (the finish then
// says so itself).
func (a *Agent) checkFinish(ctx context.Context, session string) error {
	b, ok, err := a.store.OpenBill(session)
	if err != nil || !ok {
		return err
	}
	if err := a.finishBlocked(b); err != nil {
		return err
	}
	return a.checkOnlineFinish(ctx, session)
}

// publishLine tells watchers which line an accepted pack went to.
func (a *Agent) publishLine(session string, r queue.ScanResult) {
	i := slices.IndexFunc(r.Bill.Lines, func(l queue.SaleLine) bool { return l.Line == r.Item.Line })
	if i < 0 {
		return
	}
	l := r.Bill.Lines[i]
	a.publish(Event{Kind: "line", Session: session, Bill: r.Bill.Code, Code: r.Item.Code, Line: l.Line, Status: "collected",
		Message: fmt.Sprintf("line %s: %d of %d", l.Line, l.Collected, l.Needed())})
}

// missingWords says on the scanner which lines lack what.
func missingWords(err error) string {
	var me *queue.MissingError
	if !errors.As(err, &me) {
		return err.Error()
	}
	parts := make([]string, len(me.Lines))
	for i, l := range me.Lines {
		parts[i] = fmt.Sprintf("line %s: %d of %d", l.Line, l.Collected+l.Excepted, l.Needed)
	}
	return "NOT FINISHED — codes missing: " + strings.Join(parts, "; ") + " (scan them or record an exception)"
}

// ExceptionCount sums the exceptions of the finished sales the queue still
// holds (the compliance view).
type ExceptionCount struct {
	// Bills with at least one exception; Packs without a code in all
	// (units on 拆零 lines); ByReason the packs by reason code.
	Bills      int            `json:"bills"`
	Packs      int            `json:"packs"`
	ByReason   map[string]int `json:"by_reason"`
	Supervisor int            `json:"supervisor_approved"`
	// Excused counts packs sold although 码上放心 reported them as bad,
	// each with an exception naming it (Bill.Excused).
	Excused int `json:"excused_packs"`
}

func (a *Agent) exceptionCount() (ExceptionCount, error) {
	c := ExceptionCount{ByReason: map[string]int{}}
	bills, err := a.store.RecentBills(0, 1<<30, func(b queue.Bill) bool {
		return b.State == queue.BillFinished && len(b.Exceptions)+len(b.Excused) > 0
	})
	if err != nil {
		return c, fmt.Errorf("exceptions: %w", err)
	}
	for _, b := range bills {
		c.Bills++
		for _, e := range b.Exceptions {
			c.Packs += e.Packs
			c.ByReason[e.Reason] += e.Packs
			if e.Supervisor {
				c.Supervisor += e.Packs
			}
		}
		c.Excused += len(b.Excused)
	}
	return c, nil
}

// excusePack records why a pack 码上放心 reported as bad is sold anyway,
// so it no longer blocks the finish under checks.online refuse.
func (a *Agent) excusePack(ctx context.Context, session string, r ExceptionRequest) (queue.Bill, error) {
	r.Note = strings.TrimSpace(r.Note)
	switch {
	case r.Line != "" || r.Packs != 0 || r.Units != 0:
		return queue.Bill{}, fmt.Errorf("%w: an exception naming a pack (code) takes no line, packs or units", ErrBadRequest)
	case !slices.Contains(packReasons, r.Reason):
		return queue.Bill{}, fmt.Errorf("%w: reason %q for a pack: one of %s", ErrBadRequest, r.Reason, strings.Join(packReasons, ", "))
	}
	if err := checkNote(r.Reason, r.Note); err != nil {
		return queue.Bill{}, err
	}
	b, ok, err := a.store.OpenBill(session)
	if err != nil {
		return queue.Bill{}, err
	}
	if !ok {
		return queue.Bill{}, fmt.Errorf("%w %q", queue.ErrNoSession, session)
	}
	items, err := a.store.Items(b.ID)
	if err != nil {
		return queue.Bill{}, err
	}
	names := []string{strings.TrimSpace(r.Code)}
	if c, err := tracecode.Parse(names[0], a.rules()); err == nil {
		names = append(names, c.Normalized, c.Key)
	}
	i := slices.IndexFunc(items, func(it queue.Item) bool { return slices.Contains(names, it.Code) || slices.Contains(names, it.Key) })
	if i < 0 {
		return queue.Bill{}, fmt.Errorf("%w: %s is not on bill %s", ErrNotInSession, names[0], b.Code)
	}
	it := items[i]
	e := queue.Exception{Code: it.Code, Reason: r.Reason, Note: r.Note}
	key := false
	if l := slices.IndexFunc(b.Lines, func(l queue.SaleLine) bool { return l.Line == it.Line }); l >= 0 {
		key = b.Lines[l].KeyVariety
	} else if p, ok := a.Catalogue().Product(it.Product); ok {
		key = p.KeyVariety
	}
	if key {
		if err := a.checkSupervisor(session, r.SupervisorPIN); err != nil {
			return queue.Bill{}, err
		}
		e.Supervisor = true
	}
	nb, err := a.store.ExcusePack(ctx, session, e)
	if errors.Is(err, queue.ErrNotOnBill) {
		return queue.Bill{}, fmt.Errorf("%w: %v", ErrNotInSession, err)
	}
	if err != nil {
		return queue.Bill{}, err
	}
	a.publish(Event{Kind: "check", Session: session, Bill: nb.Code, Code: it.Code, Line: it.Line, Status: "excused",
		Reason: r.Reason, Message: fmt.Sprintf("%s: sold with an exception (%s)", it.Code, r.Reason)})
	return nb, nil
}

// checkNote checks an exception's note: required for reason other, at
// most 200 bytes, no control characters.
func checkNote(reason, note string) error {
	switch {
	case reason == "other" && note == "":
		return fmt.Errorf("%w: reason other needs a note", ErrBadRequest)
	case len(note) > 200 || strings.ContainsFunc(note, unicode.IsControl):
		return fmt.Errorf("%w: the note is up to 200 bytes without control characters", ErrBadRequest)
	}
	return nil
}
