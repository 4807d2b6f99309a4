package nhsa

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/nhsa/fsi"
)

// progressVersion is the version of the Progress JSON (see the package
// doc).
const progressVersion = 1

// Progress states.
const (
	// stateSending: the request was written (or may have been) and no
	// trustworthy answer came back; the next attempt resends Request as
	// it is, under the same msgid.
	stateSending = "sending"
	// stateAnswered: the platform answered this msgid; the next attempt,
	// if any, builds a new request under a new msgid.
	stateAnswered = "answered"
	// stateUnsent: the request never left this device.
	stateUnsent = "unsent"
	// stateHeld: the bill was held back for missing data; nothing sent.
	stateHeld = "held"
)

// progress is carried between attempts in upload.Job.Progress.
type progress struct {
	V     int    `json:"v"`
	Infno string `json:"infno"`
	State string `json:"state"`
	Msgid string `json:"msgid,omitempty"`
	// Sends counts the times this msgid was sent.
	Sends int `json:"sends,omitempty"`
	Rows  int `json:"rows,omitempty"`
	// Infcode is the last answer's infcode, when one arrived.
	Infcode *int `json:"infcode,omitempty"`
	// Request is the FSI request JSON exactly as sent (sending only).
	Request json.RawMessage `json:"request,omitempty"`
}

func parseProgress(s string) (*progress, error) {
	if s == "" {
		return nil, nil
	}
	var p progress
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return nil, fmt.Errorf("unreadable progress: %w", err)
	}
	if p.V != progressVersion {
		return nil, fmt.Errorf("progress version %d, want %d", p.V, progressVersion)
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

// Deliver makes one attempt to upload job's bill through its 进销存
// interface: it builds and checks the rows (holding the bill back when
// data is missing), or resends the very request of an attempt whose answer
// never came, and classifies the answer. It never retries by itself.
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
			Message: fmt.Sprintf("nhsa[%s]: bill %s: type %d %s is not a 医保 进销存 bill type (102 → 3503, 202 → 3504, 321 → 3505, 116 → 3506)",
				c.cfg.Env, b.Code, b.Type, billtype.Name(b.Type))}
	}
	head := fmt.Sprintf("nhsa[%s]: %s bill %s: ", c.cfg.Env, infno, b.Code)
	prev, perr := parseProgress(job.Progress)

	var (
		req     []byte
		msgid   string
		rows    int
		sends   int
		resend  bool
		notes   []string
		details []string
	)
	if perr == nil && prev != nil && prev.State == stateSending && prev.Infno == infno && prev.Msgid != "" && json.Valid(prev.Request) {
		// An earlier request may have been applied: send exactly it again.
		// The platform answers a repeated msgid with its first answer, and
		// the rows' fixmedins_bchno guard the rest.
		req, msgid, rows, sends, resend = prev.Request, prev.Msgid, prev.Rows, prev.Sends, true
		notes = append(notes, fmt.Sprintf("resent msgid %s unchanged after an unknown outcome", msgid))
	} else {
		// Nothing of this bill can be at 医保 yet: its packs go in the
		// order they moved (a re-sale after the return that freed it).
		if out := c.cfg.Earlier.Hold(ctx, job, "医保", job.Progress); out != nil {
			out.Message = fmt.Sprintf("nhsa[%s]: %s ", c.cfg.Env, infno) + out.Message
			return *out
		}
		items := job.Items
		if infno == fsi.InfSaleReturn || infno == fsi.InfPurchaseReturn {
			var out *upload.Outcome
			if items, out = c.awaitOriginals(ctx, head, job); out != nil {
				return *out
			}
		}
		p, held, refuse, err := c.plan(ctx, infno, b, items)
		switch {
		case err != nil:
			return upload.Outcome{Class: upload.Retry, MaybeApplied: job.Unknown, Progress: job.Progress,
				Message: head + "not sent: " + err.Error()}
		case refuse != "":
			return upload.Outcome{Class: upload.Permanent, Progress: job.Progress, Message: head + string(refuse)}
		case held != nil:
			return upload.Outcome{Class: upload.Retry, RetryAfter: c.cfg.HoldRetry, MaybeApplied: job.Unknown,
				Progress: (&progress{V: progressVersion, Infno: infno, State: stateHeld}).encode(),
				Message: fmt.Sprintf("held back: nhsa[%s] %s bill %s lacks data (fix the catalogue, the POS data or the config; next look in %v): %s",
					c.cfg.Env, infno, b.Code, c.cfg.HoldRetry, strings.Join(held, "; "))}
		}
		now := c.cfg.Now()
		if msgid, err = c.newMsgID(ctx, now); err != nil {
			return upload.Outcome{Class: upload.Retry, MaybeApplied: job.Unknown, Progress: job.Progress, Message: head + "not sent: " + err.Error()}
		}
		if req, err = c.request(infno, msgid, now, p.insuplc, p.input); err != nil {
			return upload.Outcome{Class: upload.Permanent, Progress: job.Progress, Message: head + err.Error()}
		}
		rows, details = p.rows, p.notes
		if job.Unknown || perr != nil {
			// The msgid of the attempt in doubt was never recorded (crash
			// mid-attempt, or unreadable progress): the rows keep their
			// fixmedins_bchno, so a second upload is answered as duplicate.
			notes = append(notes, "an earlier attempt's outcome is unknown and its msgid unrecorded; sent under a new msgid with the same fixmedins_bchno")
		}
	}

	prog := &progress{V: progressVersion, Infno: infno, State: stateSending, Msgid: msgid, Sends: sends + 1, Rows: rows, Request: req}
	resp, e := c.send(ctx, infno, msgid, req)
	rowsWord := plural(rows, "row")
	tail := func() string {
		s := ""
		if len(notes) > 0 {
			s += "; " + strings.Join(notes, "; ")
		}
		if len(details) > 0 {
			s += "; " + strings.Join(details, "; ")
		}
		return s
	}
	if e == nil {
		code := int(resp.Infcode)
		prog.State, prog.Request, prog.Infcode = stateAnswered, nil, &code
		ref := resp.InfRefmsgid
		if ref == "" {
			ref = msgid
		}
		msg := fmt.Sprintf("%s%s accepted (msgid %s, inf_refmsgid %s)", head, rowsWord, msgid, orNone(clip(resp.InfRefmsgid)))
		if w := clip(resp.WarnMsg); w != "" {
			msg += "; warn_msg: " + w
		}
		return upload.Outcome{Class: upload.Done, Ref: ref, Message: msg + tail(), Progress: prog.encode()}
	}
	if e.HasInfcode {
		code := e.Infcode
		prog.Infcode = &code
	}
	switch {
	case e.Class == upload.Done:
		prog.State, prog.Request = stateAnswered, nil
		return upload.Outcome{Class: upload.Done, Ref: msgid, Progress: prog.encode(),
			Message: fmt.Sprintf("%s%s already on the platform (msgid %s): %v%s", head, rowsWord, msgid, e, tail())}
	case e.Class == upload.Permanent:
		prog.State, prog.Request = stateAnswered, nil
		return upload.Outcome{Class: upload.Permanent, Progress: prog.encode(),
			Message: fmt.Sprintf("%srefused (msgid %s): %v%s", head, msgid, e, tail())}
	}
	// Retry. Keep the request while this one or an earlier send of it may
	// have been applied; otherwise the next attempt starts afresh.
	if !e.MaybeApplied && !e.answered {
		prog.Sends = sends // never left this device
	}
	maybe := e.MaybeApplied || (resend && !e.answered)
	switch {
	case maybe:
		prog.State = stateSending
	case e.answered:
		prog.State, prog.Request = stateAnswered, nil
	default:
		prog.State, prog.Request = stateUnsent, nil
	}
	return upload.Outcome{Class: upload.Retry, MaybeApplied: maybe || (job.Unknown && !e.answered), Progress: prog.encode(),
		Message: fmt.Sprintf("%s%v (msgid %s)%s", head, e, msgid, tail())}
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
