package nhsa

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/nhsa/fsi"
)

// progressVersion is the version of the Progress JSON written (see the
// package doc); version 1 (one message per bill) is still read.
const progressVersion = 2

// Progress states.
const (
	// stateSending: the request of the part in flight was written (or
	// may have been) and no trustworthy answer came back; the next
	// attempt resends Request as it is, under the same msgid. It is
	// checkpointed before the request leaves the device.
	stateSending = "sending"
	// stateAnswered: the platform answered the last msgid; the next
	// attempt, if any, builds the rows not yet in under a new msgid.
	stateAnswered = "answered"
	// stateUnsent: the last request never left this device.
	stateUnsent = "unsent"
	// stateHeld: the bill was held back for missing data; nothing sent.
	stateHeld = "held"
	// stateDoubt: the part's msgid may have been applied, and resending
	// it was refused as a msgid already used: its first fate is unknown.
	// The next attempt asks (Config.Query) where it can, else sends the
	// rows under a new msgid with the same fixmedins_bchno, so the
	// platform's duplicate-row guard decides; the doubt stands until an
	// answer settles it.
	stateDoubt = "doubt"
)

// span is a range of a bill's rows, first and last, counted from 1.
type span [2]int

// progress is carried between attempts in upload.Job.Progress.
type progress struct {
	V     int    `json:"v"`
	Infno string `json:"infno"`
	State string `json:"state"`
	// The part last sent (or in flight): its msgid, sends of that msgid,
	// rows and the last answer's infcode.
	Msgid   string `json:"msgid,omitempty"`
	Sends   int    `json:"sends,omitempty"`
	Rows    int    `json:"rows,omitempty"`
	Infcode *int   `json:"infcode,omitempty"`
	// Request is the FSI request JSON exactly as sent (sending only).
	Request json.RawMessage `json:"request,omitempty"`
	// From is the part's first row (version 2; 1 in version 1).
	From int `json:"from,omitempty"`
	// Bchnos and Codes are the part's rows' fixmedins_bchno and trace
	// codes (sending only), to name the codes of a row refused later.
	Bchnos []string   `json:"bchnos,omitempty"`
	Codes  [][]string `json:"codes,omitempty"`
	// Total is the bill's number of rows; Done the rows known to be on
	// the platform, never sent again; Refs the platform's references of
	// the parts in; Refused the codes of rows the platform refused inside
	// an accepted message (code → its words).
	Total   int               `json:"total,omitempty"`
	Done    []span            `json:"done,omitempty"`
	Refs    []string          `json:"refs,omitempty"`
	Refused map[string]string `json:"refused,omitempty"`
	// Legacy: rows of this bill may have gone out from an agent before
	// version 2, under the first release's stem, which they keep.
	Legacy bool `json:"legacy,omitempty"`
}

func parseProgress(s string) (*progress, error) {
	if s == "" {
		return nil, nil
	}
	var p progress
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return nil, fmt.Errorf("unreadable progress: %w", err)
	}
	switch p.V {
	case 1:
		// One message carried the whole bill, its rows keyed under the
		// first release's stem.
		p.V, p.From, p.Total, p.Legacy = progressVersion, 1, p.Rows, p.State == stateSending || p.State == stateAnswered
		if p.State != stateSending {
			p.Total = 0
		}
	case progressVersion:
		if p.State == stateSending && p.From < 1 {
			return nil, fmt.Errorf("progress: a part in flight without its first row")
		}
	default:
		return nil, fmt.Errorf("progress version %d, want 1 or %d", p.V, progressVersion)
	}
	return &p, nil
}

func (p *progress) encode() string {
	if p == nil {
		return ""
	}
	// Strings, ints and raw JSON that is valid: marshalling cannot fail.
	b, _ := json.Marshal(p)
	return string(b)
}

// part is one message of a bill: rows From..From+len(rows)-1.
type part struct {
	from    int
	rows    int
	msgid   string
	sends   int
	request []byte
	bchnos  []string
	codes   [][]string
	resend  bool
}

// tally is what an attempt knows of the bill across its parts.
type tally struct {
	infno   string
	total   int
	done    []span
	refs    []string
	refused map[string]string
	notes   []string
	details []string
	parts   int // parts sent in this attempt
	doubt   bool
	legacy  bool // rows keyed under the first release's stem
}

func (t *tally) in(row int) bool {
	for _, s := range t.done {
		if row >= s[0] && row <= s[1] {
			return true
		}
	}
	return false
}

// progress renders the tally with the state of the part last sent.
func (t *tally) progress(state string, pt *part, infcode *int) *progress {
	p := &progress{V: progressVersion, Infno: t.infno, State: state, Total: t.total, Done: t.done, Refs: t.refs, Refused: t.refused, Infcode: infcode,
		Legacy: t.legacy}
	if pt != nil {
		p.Msgid, p.Sends, p.Rows, p.From = pt.msgid, pt.sends, pt.rows, pt.from
		switch state {
		case stateSending:
			p.Request, p.Bchnos, p.Codes = pt.request, pt.bchnos, pt.codes
		case stateDoubt:
			p.Bchnos, p.Codes = pt.bchnos, pt.codes
		}
	}
	return p
}

func (t *tally) tail() string {
	s := ""
	if len(t.notes) > 0 {
		s += "; " + strings.Join(t.notes, "; ")
	}
	if len(t.details) > 0 {
		s += "; " + strings.Join(t.details, "; ")
	}
	return s
}

// Deliver makes one attempt to upload job's bill through its 进销存
// interface: it builds and checks the rows (holding the bill back when
// data is missing), or resends the very request of an attempt whose answer
// never came, and classifies the answer. A bill whose input would exceed
// the channel's size goes in several parts. It never retries by itself.
func (c *Client) Deliver(ctx context.Context, job upload.Job) upload.Outcome {
	out := c.deliver(ctx, job)
	// Defence in depth: no secret is ever put in a message, but platform
	// text could echo one.
	out.Message = c.redact(out.Message)
	return out
}

func (c *Client) deliver(ctx context.Context, job upload.Job) upload.Outcome {
	b := job.Bill
	infno, ok := infnoOf(b.Type)
	if !ok {
		return upload.Outcome{Class: upload.Permanent, Progress: job.Progress,
			Message: fmt.Sprintf("nhsa[%s]: bill %s: type %d %s is not a 医保 进销存 bill type (102 → 3503, 202 → 3504, 321 → 3505, 116 → 3506, 901 盘存 → 3501, stock changes → 3502)",
				c.cfg.Env, b.Code, b.Type, billtype.Name(b.Type))}
	}
	head := fmt.Sprintf("nhsa[%s]: %s bill %s: ", c.cfg.Env, infno, b.Code)
	prev, perr := parseProgress(job.Progress)
	// An outcome in doubt without any progress was an agent before
	// write-ahead (this one records a part before it leaves): its rows
	// carried the first release's stem.
	t := &tally{infno: infno, doubt: job.Unknown, legacy: job.Unknown && strings.TrimSpace(job.Progress) == ""}
	if perr == nil && prev != nil && prev.Infno == infno {
		t.total, t.done, t.refs, t.refused = prev.Total, prev.Done, prev.Refs, prev.Refused
	}
	if perr == nil && prev != nil && prev.Legacy {
		t.legacy = true
	}

	if perr == nil && prev != nil && prev.State == stateSending && prev.Infno == infno && prev.Msgid != "" && json.Valid(prev.Request) {
		// An earlier request may have been applied: send exactly it again.
		// The platform answers a repeated msgid with its first answer, and
		// the rows' fixmedins_bchno guard the rest.
		pt := &part{from: prev.From, rows: prev.Rows, msgid: prev.Msgid, sends: prev.Sends, request: prev.Request,
			bchnos: prev.Bchnos, codes: prev.Codes, resend: true}
		if !c.settleInto(ctx, t, pt) {
			t.notes = append(t.notes, fmt.Sprintf("resent msgid %s unchanged after an unknown outcome", pt.msgid))
			if out := c.sendPart(ctx, job, head, t, pt); out != nil {
				return *out
			}
		}
		if t.total > 0 && t.covered() {
			return c.delivered(head, t)
		}
	}
	if perr == nil && prev != nil && prev.State == stateDoubt && prev.Infno == infno && len(prev.Bchnos) > 0 {
		pt := &part{from: prev.From, rows: prev.Rows, msgid: prev.Msgid, bchnos: prev.Bchnos, codes: prev.Codes}
		if c.settleInto(ctx, t, pt) {
			if t.total > 0 && t.covered() {
				return c.delivered(head, t)
			}
		} else {
			t.doubt = true
			t.notes = append(t.notes, fmt.Sprintf("msgid %s may have been applied and cannot be sent again: its rows go under a new msgid with the same fixmedins_bchno", pt.msgid))
		}
	}

	// Nothing of this bill can be at 医保 yet: its packs go in the order
	// they moved (a re-sale after the return that freed it).
	if len(t.done) == 0 {
		if out := c.cfg.Earlier.Hold(ctx, job, "医保", job.Progress); out != nil {
			out.Message = fmt.Sprintf("nhsa[%s]: %s ", c.cfg.Env, infno) + out.Message
			return *out
		}
	}
	items := job.Items
	if infno == fsi.InfSaleReturn || infno == fsi.InfPurchaseReturn {
		var out *upload.Outcome
		if items, out = c.awaitOriginals(ctx, head, job); out != nil {
			return *out
		}
	}
	keep := t.progress(stateUnsent, nil, nil).encode()
	if len(t.done) == 0 && t.parts == 0 {
		keep = job.Progress
	}
	p, held, refuse, err := c.planStem(ctx, infno, b, items, t.legacy)
	switch {
	case err != nil:
		return upload.Outcome{Class: upload.Retry, MaybeApplied: t.doubt, Progress: keep,
			Message: head + "not sent: " + err.Error() + t.tail()}
	case refuse != "":
		return upload.Outcome{Class: upload.Permanent, Progress: keep, Message: head + string(refuse) + t.tail()}
	case held != nil:
		return upload.Outcome{Class: upload.Retry, RetryAfter: c.cfg.HoldRetry, MaybeApplied: t.doubt,
			Progress: t.progress(stateHeld, nil, nil).encode(),
			Message: fmt.Sprintf("held back: nhsa[%s] %s bill %s lacks data (fix the catalogue, the POS data or the config; next look in %v): %s%s",
				c.cfg.Env, infno, b.Code, c.cfg.HoldRetry, strings.Join(held, "; "), t.tail())}
	}
	t.total, t.details = len(p.rows), p.notes
	spans, refuseSize := c.split(p, t)
	if refuseSize != "" {
		return upload.Outcome{Class: upload.Permanent, Progress: keep, Message: head + refuseSize + t.tail()}
	}
	if (t.doubt || perr != nil) && len(t.done) == 0 && t.parts == 0 {
		// The msgid of the attempt in doubt was never recorded (unreadable
		// progress, or a destination run without write-ahead): the rows
		// keep their fixmedins_bchno, so a second upload is answered as
		// duplicate.
		t.notes = append(t.notes, "an earlier attempt's outcome is unknown and its msgid unrecorded; sent under a new msgid with the same fixmedins_bchno")
	}
	for _, sp := range spans {
		now := c.cfg.Now()
		msgid, err := c.newMsgID(ctx, now)
		if err != nil {
			return upload.Outcome{Class: upload.Retry, MaybeApplied: t.doubt, Progress: t.progress(stateUnsent, nil, nil).encode(),
				Message: head + "not sent: " + err.Error() + t.tail()}
		}
		req, err := c.request(infno, msgid, now, p.insuplc, p.input(sp, c.cfg.InputShape))
		if err != nil {
			return upload.Outcome{Class: upload.Permanent, Progress: t.progress(stateUnsent, nil, nil).encode(), Message: head + err.Error() + t.tail()}
		}
		pt := &part{from: sp[0], rows: sp[1] - sp[0] + 1, msgid: msgid, request: req,
			bchnos: p.bchnos[sp[0]-1 : sp[1]], codes: p.codes[sp[0]-1 : sp[1]]}
		if out := c.sendPart(ctx, job, head, t, pt); out != nil {
			return *out
		}
	}
	return c.delivered(head, t)
}

// settleInto asks the platform (Config.Query) whether a part in doubt is
// in, notes what it learnt, and counts the part in when it is.
func (c *Client) settleInto(ctx context.Context, t *tally, pt *part) bool {
	in, note, err := c.settle(ctx, t.infno, pt)
	switch {
	case err != nil:
		t.notes = append(t.notes, "could not settle the doubt by asking ("+clip(err.Error())+")")
	case note != "":
		t.notes = append(t.notes, note)
	}
	if in {
		t.doubt = false
		t.done = append(t.done, span{pt.from, pt.from + pt.rows - 1})
		t.refs = append(t.refs, pt.msgid)
	}
	return in
}

// covered tells whether every row of the bill is in.
func (t *tally) covered() bool {
	for r := 1; r <= t.total; r++ {
		if !t.in(r) {
			return false
		}
	}
	return true
}

// delivered is the outcome of a bill all of whose rows are in.
func (c *Client) delivered(head string, t *tally) upload.Outcome {
	ref := strings.Join(t.refs, ",")
	msg := fmt.Sprintf("%s%s on the platform", head, plural(t.total, "row"))
	if len(t.refs) > 1 {
		msg += fmt.Sprintf(" in %d parts", len(t.refs))
	}
	if len(t.refused) > 0 {
		msg += fmt.Sprintf("; %s refused by the platform (see the code issues)", plural(len(t.refused), "code"))
	}
	return upload.Outcome{Class: upload.Done, Ref: ref, CodeErrors: t.refused, Progress: t.progress(stateAnswered, nil, nil).encode(),
		Message: msg + t.tail()}
}

// split cuts the rows not yet in into parts whose input stays within the
// configured size: consecutive rows in bill order, as many as fit, so the
// same rows always make the same parts.
func (c *Client) split(p *plan, t *tally) ([]span, string) {
	limit := c.cfg.MaxInputChars
	overhead := utf8.RuneCountInString(`{"` + p.node + `":[]}`)
	var out []span
	cur, size := span{}, 0
	flush := func() {
		if cur[0] != 0 {
			out = append(out, cur)
		}
		cur, size = span{}, 0
	}
	for i, raw := range p.rows {
		row := i + 1
		if t.in(row) {
			flush()
			continue
		}
		n := utf8.RuneCount(raw)
		if overhead+n > limit {
			return nil, fmt.Sprintf("row %s alone is %d characters of input, more than the %d allowed (max_input_chars)", p.bchnos[i], overhead+n, limit)
		}
		fits := cur[0] != 0 && overhead+size+1+n <= limit && c.cfg.InputShape == InputList
		if !fits {
			flush()
			cur, size = span{row, row}, n
			continue
		}
		cur[1], size = row, size+1+n
	}
	flush()
	return out, ""
}

// input is the input object of the rows in sp.
func (p *plan) input(sp span, shape string) json.RawMessage {
	var b strings.Builder
	b.WriteString(`{"` + p.node + `":`)
	if shape == InputObject && sp[0] == sp[1] {
		b.Write(p.rows[sp[0]-1])
	} else {
		b.WriteByte('[')
		for r := sp[0]; r <= sp[1]; r++ {
			if r > sp[0] {
				b.WriteByte(',')
			}
			b.Write(p.rows[r-1])
		}
		b.WriteByte(']')
	}
	b.WriteByte('}')
	return json.RawMessage(b.String())
}

// sendPart checkpoints, sends and judges one part. nil means the part is
// in (t updated); otherwise the attempt ends with the outcome returned.
func (c *Client) sendPart(ctx context.Context, job upload.Job, head string, t *tally, pt *part) *upload.Outcome {
	label := ""
	if t.total > 0 && (pt.from != 1 || pt.rows != t.total) {
		label = fmt.Sprintf("part rows %d-%d: ", pt.from, pt.from+pt.rows-1)
	}
	pt.sends++
	if job.Checkpoint != nil {
		// Write-ahead: the request is on record as possibly applied before
		// it leaves, so a crash from here on resends this very msgid.
		if err := job.Checkpoint(t.progress(stateSending, pt, nil).encode()); err != nil {
			pt.sends--
			state := stateUnsent
			if pt.resend {
				state = stateSending
			}
			return &upload.Outcome{Class: upload.Retry, MaybeApplied: t.doubt || pt.resend, Progress: t.progress(state, pt, nil).encode(),
				Message: fmt.Sprintf("%s%snot sent: recording the attempt before sending: %v%s", head, label, err, t.tail())}
		}
	}
	t.parts++
	resp, e := c.send(ctx, t.infno, pt.msgid, pt.request)
	rowsWord := plural(pt.rows, "row")
	if e == nil {
		code := int(resp.Infcode)
		ref := resp.InfRefmsgid
		if ref == "" {
			ref = pt.msgid
		}
		biz := c.business(resp.Output)
		if out := c.judgeBusiness(head+label, t, pt, biz, ref, &code); out != nil {
			return out
		}
		t.doubt = false
		msg := fmt.Sprintf("%s%s accepted (msgid %s, inf_refmsgid %s)", label, rowsWord, pt.msgid, orNone(clip(resp.InfRefmsgid)))
		if w := clip(resp.WarnMsg); w != "" {
			msg += "; warn_msg: " + w
		}
		t.notes = append([]string{msg}, t.notes...)
		t.done = append(t.done, span{pt.from, pt.from + pt.rows - 1})
		t.refs = append(t.refs, ref)
		return nil
	}
	var infcode *int
	if e.HasInfcode {
		code := e.Infcode
		infcode = &code
	}
	switch e.Class {
	case upload.Done:
		t.doubt = false
		t.notes = append([]string{fmt.Sprintf("%s%s already on the platform (msgid %s): %v", label, rowsWord, pt.msgid, e)}, t.notes...)
		t.done = append(t.done, span{pt.from, pt.from + pt.rows - 1})
		t.refs = append(t.refs, pt.msgid)
		return nil
	case upload.Permanent:
		return &upload.Outcome{Class: upload.Permanent, Progress: t.progress(stateAnswered, pt, infcode).encode(),
			Message: fmt.Sprintf("%s%srefused (msgid %s): %v%s", head, label, pt.msgid, e, t.tail())}
	}
	// Retry. Keep the request while this one or an earlier send of it may
	// have been applied; only an answer that refused it (or its msgid)
	// lets the next attempt start afresh.
	if !e.MaybeApplied && !e.answered {
		pt.sends-- // never left this device
	}
	maybe := e.MaybeApplied || (pt.resend && !e.answered)
	state := stateUnsent
	switch {
	case maybe:
		state = stateSending
	case e.answered && e.msgidRefused && pt.sends > 1:
		// A msgid sent before, possibly applied, now refused as used:
		// that says nothing of its first fate.
		maybe, state = true, stateDoubt
	case e.answered:
		state = stateAnswered
	}
	return &upload.Outcome{Class: upload.Retry, MaybeApplied: maybe || (t.doubt && !e.answered), Progress: t.progress(state, pt, infcode).encode(),
		Message: fmt.Sprintf("%s%s%v (msgid %s)%s", head, label, e, pt.msgid, t.tail())}
}

// dependencyWait is how long a return waits before it looks again at its
// original bill; looking is local (the queue), so it can be short.
const dependencyWait = 2 * time.Second

// awaitOriginals holds a return back until the bills it undoes are on the
// platform, and leaves out packs whose original never went to 医保. It
// returns the items to report, or the outcome to give instead.
func (c *Client) awaitOriginals(ctx context.Context, head string, job upload.Job) ([]queue.Item, *upload.Outcome) {
	if c.cfg.RefState == nil {
		return job.Items, nil
	}
	states := map[string]RefState{}
	var keep []queue.Item
	var notSent []string
	for _, it := range job.Items {
		st, seen := states[it.Ref]
		if !seen && it.Ref != "" {
			var err error
			if st, err = c.cfg.RefState(ctx, it.Ref); err != nil {
				return nil, &upload.Outcome{Class: upload.Retry, MaybeApplied: job.Unknown, Progress: job.Progress,
					Message: head + "not sent: looking up the original bill " + it.Ref + ": " + err.Error()}
			}
			states[it.Ref] = st
			if st == RefNotSent {
				notSent = append(notSent, it.Ref)
			}
		}
		switch st {
		case RefPending:
			return nil, &upload.Outcome{Class: upload.Wait, RetryAfter: min(dependencyWait, c.cfg.HoldRetry), Progress: job.Progress, Local: true,
				Message: head + "waiting for the original bill " + it.Ref + " to reach 医保 first"}
		case RefFailed:
			return nil, &upload.Outcome{Class: upload.Retry, RetryAfter: c.cfg.HoldRetry, MaybeApplied: job.Unknown, Progress: job.Progress,
				Message: fmt.Sprintf("held back: the original bill %s was refused by 医保 for good (dead letter): resolve it first; next look in %v", it.Ref, c.cfg.HoldRetry)}
		case RefNotSent:
			continue
		}
		keep = append(keep, it)
	}
	if len(keep) == 0 {
		return nil, &upload.Outcome{Class: upload.Done, Progress: job.Progress,
			Message: head + "nothing to report: the original bill(s) " + strings.Join(notSent, ", ") + " never went to 医保 (not 医保 sales)"}
	}
	return keep, nil
}

// plural renders "1 row", "2 rows".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
