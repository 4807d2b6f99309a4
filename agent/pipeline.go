package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/tracecode"
)

// HandleScan is the pipeline for one scan from a source feeding session: a
// command barcode runs its command; anything else is parsed as a trace
// code, checked against the session's bill and the ledger, and recorded.
// It returns only once the outcome is durable.
//
// A patient's 医保电子凭证 or a payment code is recognised first and handed
// to the POS (noncode.go): it is never parsed, recorded or logged.
func (a *Agent) HandleScan(ctx context.Context, session string, s device.Scan) device.Feedback {
	if kind, value := a.nonDrugKind(s); kind != "" {
		return a.handOver(session, s, kind, value)
	}
	fb := a.handle(ctx, session, s)
	a.feedback(session, s, fb)
	return fb
}

func (a *Agent) feedback(session string, s device.Scan, fb device.Feedback) {
	code := tracecode.Printable(prefixSymbology(s))
	if kind, _ := a.nonDrugKind(s); kind != "" {
		// A credential that did not go through HandleScan (a double read
		// the debouncer dropped): its data goes nowhere.
		s, code = withoutData(s), ""
	}
	a.sinkFeedback(session, s, fb)
	a.publish(Event{Kind: "scan", Session: session, Source: s.Source, Code: code,
		Status: string(fb.Status), Reason: fb.Reason, Message: fb.Message})
}

func (a *Agent) sinkFeedback(session string, s device.Scan, fb device.Feedback) {
	for _, f := range a.sinks {
		f.Scan(session, s, fb)
	}
}

func (a *Agent) publish(e Event) {
	if e.At.IsZero() {
		e.At = a.now()
	}
	a.events.publish(e)
}

func (a *Agent) handle(ctx context.Context, session string, s device.Scan) device.Feedback {
	raw := prefixSymbology(s)
	trimmed := strings.TrimSpace(raw)
	if prefix := a.config().Sessions.CommandPrefix; strings.HasPrefix(trimmed, prefix) {
		return a.command(ctx, session, strings.TrimPrefix(trimmed, prefix))
	}
	a.touch(session)
	if a.takeRemove(session) {
		return a.removeScanned(ctx, session, trimmed)
	}
	in := queue.ScanInput{Session: session, Source: s.Source, Raw: tracecode.Printable(raw), At: s.At}
	rules := a.rules()
	if s.GSReliable {
		rules.GSReliable = true
	}
	code, err := tracecode.Parse(raw, rules)
	if err != nil {
		in.Reject, in.RejectMsg = string(tracecode.ReasonOf(err)), err.Error()
	} else {
		in.Code, in.Key, in.Kind, in.Product = code.Normalized, code.Key, string(code.Kind), code.Product
		// Lot and dates: the code's own (GS1), else the supplier's bill being
		// received, else the lot card scanned before (PDA:LOT).
		in.Lot, in.Expiry, in.Produced = code.Lot, code.Expiry, code.Production
		if reason, msg := a.checkAgainstExpected(session, &in); reason != "" {
			in.Reject, in.RejectMsg = reason, msg
		}
		st := a.takeScanState(session)
		if in.Lot == "" && st.lot != "" {
			in.Lot, in.Produced, in.Expiry = st.lot, st.produced, st.expiry
		}
		in.Units = st.units
		if p, ok := a.Catalogue().Product(code.Product); ok {
			in.PackUnits = p.Units
		}
		if t := a.config().Sessions.DefaultType; t != 0 {
			in.AutoOpen = &queue.SessionSpec{Type: t, Partner: a.config().Sessions.DefaultPartner,
				Operator: a.config().Device.Operator, Device: a.config().Device.ID}
		}
	}
	r, err := a.store.Scan(ctx, in)
	if err != nil {
		return errorFeedback(err)
	}
	fb := device.Feedback{Reason: r.Reason, Message: r.Message}
	switch r.Outcome {
	case queue.Accepted:
		fb.Status = device.StatusAccepted
		if r.Item.Line != "" {
			a.publishLine(session, r)
		}
		a.checkOnline(session, r.Bill, r.Item)
	case queue.Duplicate:
		fb.Status = device.StatusDuplicate
	default:
		fb.Status = device.StatusRejected
	}
	return fb
}

func errorFeedback(err error) device.Feedback {
	switch {
	case errors.Is(err, queue.ErrQueueFull):
		return device.Feedback{Status: device.StatusError, Reason: "queue_full", Message: "NOT RECORDED — " + err.Error()}
	case errors.Is(err, queue.ErrClosed), errors.Is(err, context.Canceled):
		return device.Feedback{Status: device.StatusError, Reason: "stopping", Message: "NOT RECORDED — the agent is stopping; scan again"}
	}
	return device.Feedback{Status: device.StatusError, Reason: "internal", Message: "NOT RECORDED — " + err.Error()}
}

// Commands (after the prefix):
//
//	SALE | RECEIVE[:<ent_id>] | RETURN[:<original sale's bill_code>] | OPEN:<type>[:<ent_id>] | FINISH | CANCEL
//	STOCKTAKE | CHANGE:<type>[:<reason>]  stock-take (盘存) and stock change bills (stock.go)
//	SPLIT:<units>                  the next code sells that many units of its pack (拆零)
//	REMOVE                         the next code is taken off the bill (移除)
//	LOT:<lot>[:<manu>[:<expiry>]]  the following codes are of this lot (dates YYYY-MM-DD); LOT: clears it
//	SET:<key>=<value>              sets an attribute of the open bill (e.g. nhsa.mdtrt_sn)
func (a *Agent) command(ctx context.Context, session, cmd string) device.Feedback {
	a.touch(session)
	verb, arg, _ := strings.Cut(strings.TrimSpace(cmd), ":")
	switch strings.ToUpper(verb) {
	case "REMOVE":
		a.setRemove(session)
		return device.Feedback{Status: device.StatusCommand, Message: "the next code is taken off the bill (移除)"}
	case "SPLIT":
		n, err := strconv.Atoi(arg)
		if err != nil || n < 1 || n > 10000 {
			return device.Feedback{Status: device.StatusRejected, Reason: "bad_command", Message: fmt.Sprintf("SPLIT needs a number of units, e.g. SPLIT:2; got %q", arg)}
		}
		a.setSplit(session, n)
		return device.Feedback{Status: device.StatusCommand, Message: fmt.Sprintf("the next code sells %d unit(s) of its pack (拆零)", n)}
	case "LOT":
		return a.setLot(session, arg)
	case "SET":
		key, value, ok := strings.Cut(arg, "=")
		if !ok || !attrKeyRE.MatchString(key) || len(value) > 200 {
			return device.Feedback{Status: device.StatusRejected, Reason: "bad_command", Message: fmt.Sprintf("SET needs key=value with a key like nhsa.mdtrt_sn; got %q", arg)}
		}
		b, err := a.store.SetAttrs(ctx, session, map[string]string{key: value})
		if err != nil {
			return commandError(err)
		}
		return device.Feedback{Status: device.StatusCommand, Message: fmt.Sprintf("%s: %s set", b.Code, key)}
	case "SALE":
		return a.open(ctx, session, billtype.RetailSale, arg)
	case "RECEIVE":
		return a.open(ctx, session, billtype.Purchase, arg)
	case "RETURN":
		if arg != "" { // RETURN:<bill_code> names the original sale
			return a.openReturn(ctx, session, arg)
		}
		return a.open(ctx, session, billtype.CustomerReturn, "")
	case "STOCKTAKE", "CHANGE":
		return a.stockCommand(ctx, session, strings.ToUpper(verb), arg)
	case "OPEN":
		typ, partner, _ := strings.Cut(arg, ":")
		t, err := strconv.Atoi(typ)
		if err != nil || !billtype.Known(t) {
			return device.Feedback{Status: device.StatusRejected, Reason: "bad_command", Message: fmt.Sprintf("OPEN needs a known bill type, e.g. OPEN:102 or OPEN:202:<ent_id>; got %q", arg)}
		}
		if needsReason(t) {
			return device.Feedback{Status: device.StatusRejected, Reason: "bad_command", Message: fmt.Sprintf("a %s bill needs its reason: CHANGE:%d:<reason>", billtype.Name(t), t)}
		}
		return a.open(ctx, session, t, partner)
	case "FINISH":
		if err := a.checkFinish(ctx, session); err != nil {
			return checkFinishFeedback(err)
		}
		b, err := a.store.Finish(ctx, session, a.route)
		if err != nil {
			return commandError(err)
		}
		a.clearScanState(session)
		a.forgetExpected(session)
		a.publish(Event{Kind: "bill", Session: session, Bill: b.Code, Status: "finished", Message: billtype.Name(b.Type)})
		to := "kept locally (no destination)"
		if len(b.Destinations) > 0 {
			to = "queued for " + strings.Join(b.Destinations, ", ")
		}
		return device.Feedback{Status: device.StatusCommand, Message: fmt.Sprintf("finished %s %s: %d codes, %s%s%s", b.Code, billtype.Name(b.Type), b.Items, to, a.heldWords(ctx, b), a.stockGainWords(b))}
	case "CANCEL":
		b, err := a.store.Cancel(ctx, session, "cancelled by operator")
		if err != nil {
			return commandError(err)
		}
		a.clearScanState(session)
		a.forgetExpected(session)
		a.publish(Event{Kind: "bill", Session: session, Bill: b.Code, Status: "cancelled"})
		return device.Feedback{Status: device.StatusCommand, Message: fmt.Sprintf("cancelled %s: %d codes released", b.Code, b.Items)}
	}
	return device.Feedback{Status: device.StatusRejected, Reason: "bad_command", Message: fmt.Sprintf("unknown command %q (SALE, RECEIVE, RETURN, OPEN, STOCKTAKE, CHANGE, FINISH, CANCEL, SPLIT, LOT, SET, REMOVE)", cmd)}
}

func (a *Agent) open(ctx context.Context, session string, t int, partner string) device.Feedback {
	if partner == "" && t == a.config().Sessions.DefaultType {
		partner = a.config().Sessions.DefaultPartner
	}
	if err := validPartner(partner); err != nil {
		return device.Feedback{Status: device.StatusRejected, Reason: "bad_command", Message: err.Error()}
	}
	b, created, err := a.store.OpenSession(ctx, queue.SessionSpec{Session: session, Type: t, Partner: partner,
		Operator: a.config().Device.Operator, Device: a.config().Device.ID})
	if err != nil {
		return commandError(err)
	}
	verb := "opened"
	if !created {
		verb = "continuing"
	}
	msg := fmt.Sprintf("%s %s %s", verb, b.Code, billtype.Name(t))
	if partner != "" {
		msg += " from/to " + partner
	}
	return device.Feedback{Status: device.StatusCommand, Message: msg}
}

func commandError(err error) device.Feedback {
	switch {
	case errors.Is(err, queue.ErrSessionBusy):
		return device.Feedback{Status: device.StatusRejected, Reason: "session_busy", Message: err.Error()}
	case errors.Is(err, queue.ErrNoSession):
		return device.Feedback{Status: device.StatusRejected, Reason: "no_session", Message: "no bill is open"}
	case errors.Is(err, queue.ErrEmptyBill):
		return device.Feedback{Status: device.StatusRejected, Reason: "empty_bill", Message: err.Error()}
	case errors.Is(err, queue.ErrOriginalFixed):
		return device.Feedback{Status: device.StatusRejected, Reason: "bad_command", Message: err.Error()}
	case errors.Is(err, queue.ErrCodesMissing):
		return device.Feedback{Status: device.StatusRejected, Reason: "codes_missing", Message: missingWords(err)}
	}
	return errorFeedback(err)
}

// replayFile is a replay scanner: a file of one code per line, read once.
type replayFile struct {
	name, path string
	now        func() time.Time
}

func (r *replayFile) Name() string { return r.name }

func (r *replayFile) Run(ctx context.Context, h device.Handler) error {
	f, err := os.Open(r.path)
	if err != nil {
		return fmt.Errorf("replay %s: %w", r.name, err)
	}
	defer f.Close()
	return (&device.Lines{SourceName: r.name, Reader: f, Now: r.now}).Run(ctx, h)
}
