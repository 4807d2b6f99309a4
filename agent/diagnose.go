package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/tracecode"
	"github.com/pda-agent/pda-agent/upload/msfx"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// Diagnosis is everything this device knows about one code, and what
// 码上放心 says about it: the answer to "what happened to this box?".
type Diagnosis struct {
	Input string    `json:"input"`
	At    time.Time `json:"at"`
	// Source is where it was read: the running agent or the queue file.
	Source string `json:"source"`
	// Code is the parsed form under the configured rules.
	Code tracecode.Report `json:"code"`
	// Key identifies the pack in the ledger.
	Key string `json:"key,omitempty"`
	// Ledger is the pack's local history (received, sold, returned).
	Ledger *queue.LedgerEntry `json:"ledger,omitempty"`
	// Bills are the bills the code is on, oldest first, with their
	// deliveries.
	Bills []DiagBill `json:"bills"`
	// Scans are the journal's records of the code, newest first.
	Scans []queue.ScanLog `json:"scans"`
	// Issues are the back ends' refusals of this one code in bills they
	// otherwise took (partial success).
	Issues      []queue.CodeIssue  `json:"code_issues,omitempty"`
	DeadLetters []queue.DeadLetter `json:"dead_letters,omitempty"`
	// Reconcile are the latest reconciliations' findings that name the
	// code (reconcile.go).
	Reconcile []queue.ReconcileFinding `json:"reconcile,omitempty"`
	// Platform is what 码上放心 says about the code now.
	Platform PlatformAnswer `json:"platform"`
	// Verdict is one line for a person.
	Verdict string `json:"verdict"`
	// UpstreamChanged are supplier bills of these receipts changed after
	// receipt (compliance_msfx.go).
	UpstreamChanged []ChangedUpstream `json:"upstream_changed,omitempty"`
}

// DiagBill is one bill a code is on.
type DiagBill struct {
	Bill queue.Bill `json:"bill"`
	// Action is what the bill did to the pack.
	Action queue.Action `json:"action,omitempty"`
	// Item is the code's line on the bill.
	Item       *queue.Item      `json:"item,omitempty"`
	Deliveries []queue.Delivery `json:"deliveries"`
}

// PlatformAnswer is 码上放心's view of a code.
type PlatformAnswer struct {
	// Asked is true when the platform was queried; Skipped says why not.
	Asked   bool   `json:"asked"`
	Skipped string `json:"skipped,omitempty"`
	// Error is why the query failed.
	Error string `json:"error,omitempty"`
	// Found: the platform answered for this code.
	Found bool `json:"found,omitempty"`
	// Status is the code_status letter and its meaning.
	Status     string         `json:"status,omitempty"`
	StatusText string         `json:"status_text,omitempty"`
	Info       *wire.CodeInfo `json:"info,omitempty"`
}

// Limits of a diagnose.
const (
	// diagScans bounds the journal records shown.
	diagScans = 50
	// platformTimeout bounds the online query: a diagnose over the phone
	// must not hang on a slow platform.
	platformTimeout = 10 * time.Second
)

// diagSource is what a diagnose reads: a running agent's parts, or an
// Inspector's.
type diagSource struct {
	store  *queue.Store
	rules  tracecode.Rules
	msfx   func() (*msfx.Client, error) // nil when 码上放心 is off
	now    time.Time
	source string
}

// Diagnose walks everything known about one code: its parsed form, the
// ledger, the bills it is on with each destination's deliveries, dead
// letters, the scan journal, and — online — what 码上放心 says about it.
func (a *Agent) Diagnose(ctx context.Context, code string, online bool) (Diagnosis, error) {
	src := diagSource{store: a.store, rules: a.rules(), now: a.now(), source: FromAgent}
	if c := a.msfxClient(); c != nil {
		src.msfx = func() (*msfx.Client, error) { return c, nil }
	}
	d, err := diagnose(ctx, src, code, online)
	d.UpstreamChanged = a.changedFor(d.Bills)
	return d, err
}

func diagnose(ctx context.Context, src diagSource, input string, online bool) (Diagnosis, error) {
	if strings.TrimSpace(input) == "" {
		return Diagnosis{}, fmt.Errorf("%w: no code to diagnose", ErrBadRequest)
	}
	if len(input) > 1024 {
		return Diagnosis{}, fmt.Errorf("%w: a code is at most 1024 bytes", ErrBadRequest)
	}
	d := Diagnosis{Input: input, At: src.now, Source: src.source, Code: tracecode.Check(input, src.rules),
		Bills: []DiagBill{}, Scans: []queue.ScanLog{}}
	parsed, perr := tracecode.Parse(input, src.rules)
	if perr == nil {
		d.Key = parsed.Key
	}
	if err := d.readScans(src, parsed, perr == nil); err != nil {
		return d, err
	}
	if perr == nil {
		e, ok, err := src.store.Ledger(parsed.Key)
		if err != nil {
			return d, fmt.Errorf("agent: diagnose: ledger: %w", err)
		}
		if ok {
			d.Ledger = &e
		}
		if d.Issues, err = src.store.CodeIssues(parsed.Key); err != nil {
			return d, fmt.Errorf("agent: diagnose: code issues: %w", err)
		}
	}
	if err := d.readBills(src, parsed); err != nil {
		return d, err
	}
	if err := d.readReconcile(src.store, input, d.Key); err != nil {
		return d, err
	}
	d.Platform = askPlatform(ctx, src, d.Code, online)
	d.Verdict = d.verdict(src.now)
	for _, f := range d.Reconcile {
		d.Verdict += "; " + f.Detail
	}
	return d, nil
}

// readScans finds the code in the scan journal: by its parsed form (any
// spelling of the same pack) or, for input that does not parse, by what
// the scanner sent.
func (d *Diagnosis) readScans(src diagSource, parsed tracecode.Code, valid bool) error {
	raw := strings.TrimSpace(tracecode.Printable(d.Input))
	needles := []string{raw}
	if valid {
		needles = append(needles, parsed.Normalized, parsed.Serial)
	}
	scans, err := src.store.FindScans(needles, diagScans, func(r queue.ScanLog) bool {
		if strings.TrimSpace(r.Raw) == raw {
			return true
		}
		if !valid || r.Code == "" {
			return false
		}
		if r.Code == parsed.Normalized {
			return true
		}
		c, err := tracecode.Parse(r.Code, src.rules)
		return err == nil && c.Key == parsed.Key
	})
	if err != nil {
		return fmt.Errorf("agent: diagnose: scan journal: %w", err)
	}
	if scans != nil {
		d.Scans = scans
	}
	return nil
}

// readBills collects the bills of the ledger's events and of the scans
// (a cancelled bill has left the ledger but not the journal).
func (d *Diagnosis) readBills(src diagSource, parsed tracecode.Code) error {
	actions := map[string]queue.Action{}
	var codes []string
	add := func(code string) {
		if _, seen := actions[code]; !seen && code != "" {
			actions[code] = ""
			codes = append(codes, code)
		}
	}
	if d.Ledger != nil {
		for _, ev := range d.Ledger.Events {
			add(ev.BillCode)
			actions[ev.BillCode] = ev.Action
		}
	}
	for _, s := range d.Scans {
		if s.Outcome == queue.Accepted || s.Outcome == queue.Duplicate {
			add(s.BillCode)
		}
	}
	inBills := map[string]bool{}
	for _, code := range codes {
		b, err := src.store.BillByCode(code)
		if errors.Is(err, queue.ErrNotFound) {
			continue // pruned after delivery; the ledger keeps the event
		}
		if err != nil {
			return fmt.Errorf("agent: diagnose: bill %s: %w", code, err)
		}
		db := DiagBill{Bill: b, Action: actions[code], Deliveries: []queue.Delivery{}}
		items, err := src.store.Items(b.ID)
		if err != nil {
			return fmt.Errorf("agent: diagnose: bill %s: %w", code, err)
		}
		for i := range items {
			if (parsed.Key != "" && items[i].Key == parsed.Key) || items[i].Code == parsed.Normalized {
				db.Item = &items[i]
				break
			}
		}
		if db.Item == nil && b.State != queue.BillCancelled {
			continue // the scan went to a bill that no longer holds it
		}
		dl, err := src.store.Deliveries(b.ID)
		if err != nil {
			return fmt.Errorf("agent: diagnose: bill %s: %w", code, err)
		}
		if dl != nil {
			db.Deliveries = dl
		}
		if db.Action == "" {
			db.Action, _ = queue.ActionFor(b.Type)
		}
		d.Bills = append(d.Bills, db)
		inBills[b.Code] = true
	}
	sort.SliceStable(d.Bills, func(i, j int) bool { return d.Bills[i].Bill.ID < d.Bills[j].Bill.ID })
	if len(inBills) > 0 {
		dead, err := src.store.DeadLetters()
		if err != nil {
			return fmt.Errorf("agent: diagnose: dead letters: %w", err)
		}
		for _, dl := range dead {
			if inBills[dl.BillCode] {
				d.DeadLetters = append(d.DeadLetters, dl)
			}
		}
	}
	return nil
}

// askPlatform asks 码上放心 about a 20-digit code, within platformTimeout.
func askPlatform(ctx context.Context, src diagSource, rep tracecode.Report, online bool) PlatformAnswer {
	switch {
	case !online:
		return PlatformAnswer{Skipped: "--offline"}
	case src.msfx == nil:
		return PlatformAnswer{Skipped: "码上放心 is not configured"}
	case !rep.Valid:
		return PlatformAnswer{Skipped: "not a trace code"}
	case rep.Kind != string(tracecode.KindMSFX):
		return PlatformAnswer{Skipped: "not a 码上放心 (20-digit) code"}
	}
	c, err := src.msfx()
	if err != nil {
		return PlatformAnswer{Skipped: "码上放心 client: " + err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, platformTimeout)
	defer cancel()
	ans := PlatformAnswer{Asked: true}
	rows, err := c.QueryCodeDetail(ctx, []string{rep.Normalized})
	if err != nil {
		ans.Error = err.Error()
		return ans
	}
	for i := range rows {
		if strings.TrimSpace(string(rows[i].Code)) != rep.Normalized {
			continue
		}
		ans.Found, ans.Info = true, &rows[i]
		if st := rows[i].Status; st != nil {
			s := strings.TrimSpace(string(st.CodeStatus))
			ans.Status, ans.StatusText = s, codeStatusText(s)
		}
	}
	return ans
}

// codeStatusText names a code_status letter.
func codeStatusText(s string) string {
	switch s {
	case wire.CodeActive:
		return "激活 (active: not yet received anywhere)"
	case wire.CodeVerified:
		return "核注 (received by an enterprise)"
	case wire.CodeSold:
		return "核销 (sold)"
	case wire.CodeCancelled:
		return "注销 (cancelled by the maker)"
	case wire.CodeNotExist:
		return "码不存在 (the platform does not know this code)"
	}
	return "unknown status " + s
}

// DestLabel is how people name a destination.
func DestLabel(dest string) string {
	switch dest {
	case "msfx":
		return "码上放心"
	case "nhsa":
		return "医保"
	}
	return dest
}

// verdict sums the diagnosis up in one line.
func (d *Diagnosis) verdict(now time.Time) string {
	var parts []string
	switch {
	case !d.Code.Valid && len(d.Scans) == 0:
		return fmt.Sprintf("not a trace code (%s): %s; never scanned on this device", d.Code.Reason, d.Code.Error)
	case len(d.Bills) == 0 && d.Ledger != nil && len(d.Ledger.Events) > 0:
		// Bills are pruned once every destination has them; the ledger
		// stays longer.
		ev := d.Ledger.Events[len(d.Ledger.Events)-1]
		parts = append(parts, fmt.Sprintf("%s in bill %s (%d %s) at %s; the bill was delivered everywhere and has since been pruned from this device",
			ev.Action, ev.BillCode, ev.BillType, billtype.Name(ev.BillType), Clock(ev.At, now)))
	case len(d.Bills) == 0 && len(d.Scans) == 0:
		parts = append(parts, "never scanned on this device")
	case len(d.Bills) == 0:
		parts = append(parts, scanLine(d.Scans[0], now, ""))
	default:
		// The pack's story: earlier bills briefly, the latest in full.
		first := max(0, len(d.Bills)-3)
		for _, b := range d.Bills[first : len(d.Bills)-1] {
			parts = append(parts, b.headline(now))
		}
		last := d.Bills[len(d.Bills)-1]
		parts = append(parts, last.describe(d.Issues, now))
		// A refusal after the pack's latest bill is news (a re-sale).
		if len(d.Scans) > 0 && d.Scans[0].Outcome == queue.Rejected && d.Scans[0].At.After(last.scannedAt()) {
			parts = append(parts, scanLine(d.Scans[0], now, "last scan "))
		}
	}
	if p := d.Platform; p.Asked {
		switch {
		case p.Error != "":
			parts = append(parts, "码上放心 could not be asked: "+clip(p.Error))
		case !p.Found:
			parts = append(parts, "码上放心 has no record of the code")
		default:
			parts = append(parts, "码上放心 says "+p.StatusText)
		}
	}
	return strings.Join(parts, "; ")
}

// scanLine tells what became of one scan.
func scanLine(s queue.ScanLog, now time.Time, prefix string) string {
	switch s.Outcome {
	case queue.Rejected:
		return fmt.Sprintf("%srejected at %s: %s (%s)", prefix, Clock(s.At, now), s.Reason, clip(s.Message))
	case queue.Duplicate:
		return fmt.Sprintf("%sscanned again at %s on bill %s (duplicate, counted once)", prefix, Clock(s.At, now), s.BillCode)
	}
	return fmt.Sprintf("%sscanned at %s onto bill %s", prefix, Clock(s.At, now), s.BillCode)
}

// scannedAt is when the code went on the bill (the bill's creation when
// the line is gone: a cancelled bill).
func (b DiagBill) scannedAt() time.Time {
	if b.Item != nil {
		return b.Item.ScannedAt
	}
	return b.Bill.CreatedAt
}

// headline is what the bill did to the pack, and when.
func (b DiagBill) headline(now time.Time) string {
	var verb string
	switch b.Action {
	case queue.ActionReceived:
		verb = "received"
	case queue.ActionSold:
		verb = "sold"
	case queue.ActionReturned:
		verb = "returned by a customer"
	case queue.ActionOut:
		verb = "sent out"
	default:
		verb = "scanned"
	}
	if b.Item != nil && b.Item.Units > 0 {
		verb = fmt.Sprintf("%s %d unit(s) split (拆零)", verb, b.Item.Units)
	}
	return fmt.Sprintf("%s in bill %s (%d %s) at %s", verb, b.Bill.Code, b.Bill.Type, billtype.Name(b.Bill.Type), Clock(b.scannedAt(), now))
}

// describe is the headline and where the bill stands with each back end.
func (b DiagBill) describe(issues []queue.CodeIssue, now time.Time) string {
	parts := []string{b.headline(now)}
	switch b.Bill.State {
	case queue.BillOpen:
		return parts[0] + "; the bill is still open: it is uploaded once finished"
	case queue.BillCancelled:
		return fmt.Sprintf("scanned onto bill %s (%d %s), which was cancelled at %s: the code was released", b.Bill.Code,
			b.Bill.Type, billtype.Name(b.Bill.Type), Clock(b.cancelledAt(), now))
	}
	if len(b.Deliveries) == 0 {
		return parts[0] + ", kept on this device only (no destination takes this bill)"
	}
	for _, dl := range b.Deliveries {
		parts = append(parts, deliveryLine(dl, now))
		for _, is := range issues {
			if is.BillCode == b.Bill.Code && is.Dest == dl.Dest {
				parts = append(parts, fmt.Sprintf("but %s did not take this code: 【%s】", DestLabel(dl.Dest), clip(is.Reason)))
			}
		}
	}
	return strings.Join(parts, ", ")
}

// cancelledAt is when the bill was cancelled, from its history.
func (b DiagBill) cancelledAt() time.Time {
	for i := len(b.Bill.History) - 1; i >= 0; i-- {
		if strings.HasPrefix(b.Bill.History[i].What, "cancel") {
			return b.Bill.History[i].At
		}
	}
	return time.Time{}
}

// deliveryLine tells where one delivery stands.
func deliveryLine(dl queue.Delivery, now time.Time) string {
	name := DestLabel(dl.Dest)
	switch dl.State {
	case queue.DeliveryDone:
		return fmt.Sprintf("uploaded to %s at %s", name, Clock(dl.DoneAt, now))
	case queue.DeliveryDead:
		return fmt.Sprintf("refused by %s for good at %s: 【%s】 (dead letter: an operator must retry or drop it)", name, Clock(dl.LastAt, now), clip(dl.LastError))
	case queue.DeliveryDropped:
		return fmt.Sprintf("not delivered to %s: %s", name, clip(dl.Note))
	case queue.DeliveryLeased:
		return fmt.Sprintf("being uploaded to %s now (attempt %d)", name, dl.Attempts)
	}
	switch {
	case len(dl.Missing) > 0:
		return fmt.Sprintf("held on this device for %s, never sent: the bill lacks %s (repair: pda-agent queue set %s key=value…; next look at %s)",
			name, clip(missingFields(dl.Missing)), dl.BillCode, Clock(dl.NextAt, now))
	case dl.LastError != "" && !dl.FailingSince.IsZero():
		return fmt.Sprintf("%s upload failing since %s (%d attempt(s), last at %s, next at %s) because 【%s】", name,
			Clock(dl.FailingSince, now), dl.Attempts, Clock(dl.LastAt, now), Clock(dl.NextAt, now), clip(dl.LastError))
	case dl.LastError != "":
		return fmt.Sprintf("%s upload failing (%d attempt(s), last at %s, next at %s) because 【%s】", name, dl.Attempts,
			Clock(dl.LastAt, now), Clock(dl.NextAt, now), clip(dl.LastError))
	case dl.Note != "" && dl.Held:
		return fmt.Sprintf("held on this device for %s: %s", name, clip(dl.Note))
	case dl.Note != "":
		return fmt.Sprintf("sent to %s, waiting: %s", name, clip(dl.Note))
	}
	return fmt.Sprintf("waiting to be uploaded to %s (queued at %s)", name, Clock(dl.CreatedAt, now))
}

// Times for people follow one convention, the zone of bills: China time
// (UTC+8), always printed with its offset. Clock and StoreTime for the
// command line, StoreZone for the log (see cmd/pda-agent newLogger); the
// machine's own zone (often UTC on a server) is never used.

// Clock shows a time in China time with its offset: the time of day for
// today ("09:30:05 +08:00"), the date too otherwise.
func Clock(t, now time.Time) string {
	if t.IsZero() {
		return "?"
	}
	t, now = t.In(chinaTime), now.In(chinaTime)
	if t.YearDay() == now.YearDay() && t.Year() == now.Year() {
		return t.Format("15:04:05 -07:00")
	}
	return t.Format("2006-01-02 15:04 -07:00")
}

// StoreTime shows a full date and time in China time with its offset
// ("2026-11-27 09:30 +08:00").
func StoreTime(t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return t.In(chinaTime).Format("2006-01-02 15:04 -07:00")
}

// StoreZone is the zone of the times the agent shows and logs (UTC+8).
func StoreZone() *time.Location { return chinaTime }

// chinaTime is UTC+8, the zone of bill times.
var chinaTime = time.FixedZone("CST", 8*3600)

// clip shortens platform words for the one-line verdict (the full text
// stays in the diagnosis).
func clip(s string) string {
	const n = 200
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
