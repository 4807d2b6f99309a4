package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/tracecode"
)

// Taking one scanned pack off an open bill (移除): a pack 验码 reported as
// bad, one put aside by the customer, one scanned on the wrong sale. The
// pack is as if never scanned: back in stock in the ledger, its line lacks
// it again, its pending check is dropped.

// ErrNotInSession: the pack named for removal is not on the session's
// open bill (the API's 404 not_in_session).
var ErrNotInSession = errors.New("not_in_session")

// ErrNoOpenBill: the session has no open bill to remove a pack from (it
// was finished or cancelled; the API's 409).
var ErrNoOpenBill = errors.New("no_open_bill")

// RemoveItem takes the pack raw (the trace code as scanned) off the
// session's open bill.
func (a *Agent) RemoveItem(ctx context.Context, session, raw string) (queue.Bill, queue.Item, error) {
	if err := validSession(session); err != nil {
		return queue.Bill{}, queue.Item{}, err
	}
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > 256 {
		return queue.Bill{}, queue.Item{}, fmt.Errorf("%w: the code to remove is empty or over 256 bytes", ErrBadRequest)
	}
	// The pack as scanned, and as the queue keeps it (normalized, key).
	names := []string{raw}
	if c, err := tracecode.Parse(raw, a.rules()); err == nil {
		names = append(names, c.Normalized, c.Key)
	}
	b, it, err := a.store.RemoveItem(ctx, session, names...)
	switch {
	case errors.Is(err, queue.ErrNoSession):
		return queue.Bill{}, queue.Item{}, fmt.Errorf("%w: session %s has no open bill (finished or cancelled): nothing can be removed", ErrNoOpenBill, session)
	case errors.Is(err, queue.ErrNotOnBill):
		return queue.Bill{}, queue.Item{}, fmt.Errorf("%w: %v", ErrNotInSession, err)
	case err != nil:
		return queue.Bill{}, queue.Item{}, fmt.Errorf("agent: removing a pack from session %s: %w", session, err)
	}
	a.dropCheck(b.ID, it.Code)
	msg := fmt.Sprintf("%s removed from %s (%d on the bill)", it.Code, b.Code, b.Items)
	if i := slices.IndexFunc(b.Lines, func(l queue.SaleLine) bool { return l.Line == it.Line }); i >= 0 {
		l := b.Lines[i]
		msg += fmt.Sprintf("; line %s: %d of %d", l.Line, l.Collected, l.Needed())
	}
	a.publish(Event{Kind: "item_removed", Session: session, Bill: b.Code, Code: it.Code, Line: it.Line, Status: "removed", Message: msg})
	return b, it, nil
}

// removeScanned answers the code scanned after a REMOVE command.
func (a *Agent) removeScanned(ctx context.Context, session, raw string) device.Feedback {
	b, it, err := a.RemoveItem(ctx, session, raw)
	switch {
	case errors.Is(err, ErrNotInSession):
		return device.Feedback{Status: device.StatusRejected, Reason: "not_in_session", Message: "NOT REMOVED — " + err.Error()}
	case errors.Is(err, ErrNoOpenBill):
		return device.Feedback{Status: device.StatusRejected, Reason: "no_session", Message: "NOT REMOVED — " + err.Error()}
	case errors.Is(err, ErrBadRequest):
		return device.Feedback{Status: device.StatusRejected, Reason: "bad_command", Message: "NOT REMOVED — " + err.Error()}
	case err != nil:
		return errorFeedback(err)
	}
	return device.Feedback{Status: device.StatusCommand, Message: fmt.Sprintf("removed %s from %s (%d on the bill)", it.Code, b.Code, b.Items)}
}

// setRemove makes the session's next code a removal.
func (a *Agent) setRemove(session string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.state[session]
	s.remove = true
	a.state[session] = s
}

// takeRemove tells whether the session's next code is a removal,
// consuming the one-shot command.
func (a *Agent) takeRemove(session string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.state[session]
	if !ok || !s.remove {
		return false
	}
	s.remove = false
	a.state[session] = s
	return true
}

// excusedByException is the online checks' Excused hook: the pack has an
// exception of its own on the session's open bill (Bill.Excused).
func (a *Agent) excusedByException(session, code string) bool {
	b, ok, err := a.store.OpenBill(session)
	if err != nil || !ok {
		return false
	}
	return slices.ContainsFunc(b.Excused, func(e queue.Exception) bool { return e.Code == code })
}
