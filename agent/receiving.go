package agent

import (
	"fmt"

	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/msfx"
)

// msfxUnconfirmed lists supplier bills 码上放心 still shows as 未确认.
var msfxUnconfirmed = msfx.ListUpOutOptions{Status: 1, PageSize: 100}

// expectedSet is a receiving's expected packs by key, with the case
// relations among them.
type expectedSet struct {
	byKey    map[string]queue.Expected
	children map[string][]string
}

func newExpectedSet(exp []queue.Expected) *expectedSet {
	s := &expectedSet{byKey: map[string]queue.Expected{}, children: map[string][]string{}}
	for _, e := range exp {
		s.byKey[e.Key] = e
		if e.Parent != "" {
			s.children[e.Parent] = append(s.children[e.Parent], e.Key)
		}
	}
	return s
}

func (a *Agent) rememberExpected(session string, exp []queue.Expected) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expected[session] = newExpectedSet(exp)
}

func (a *Agent) forgetExpected(session string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.expected, session)
}

// expectedFor returns the session's expected packs, reloading them from
// the queue after a restart; nil when the session expects nothing.
func (a *Agent) expectedFor(session string) *expectedSet {
	a.mu.Lock()
	s, ok := a.expected[session]
	a.mu.Unlock()
	if ok {
		return s
	}
	b, open, err := a.store.OpenBill(session)
	if err != nil || !open {
		return nil
	}
	exp, err := a.store.ExpectedOf(b.ID)
	if err != nil || exp == nil {
		return nil
	}
	s = newExpectedSet(exp)
	a.mu.Lock()
	a.expected[session] = s
	a.mu.Unlock()
	return s
}

// checkAgainstExpected fills a scan's lot and dates from the supplier's bill
// and refuses a pack whose case is already on the bill, or a case whose
// boxes are: the platform refuses a parent and its child in one bill.
func (a *Agent) checkAgainstExpected(session string, in *queue.ScanInput) (reason, msg string) {
	s := a.expectedFor(session)
	if s == nil {
		return "", ""
	}
	e, ok := s.byKey[in.Key]
	if ok && in.Lot == "" {
		in.Lot, in.Produced, in.Expiry = e.Lot, e.Produced, e.Expiry
	}
	related := s.children[in.Key]
	if ok && e.Parent != "" {
		related = append(related, e.Parent)
	}
	if len(related) == 0 {
		return "", ""
	}
	b, open, err := a.store.OpenBill(session)
	if err != nil || !open {
		return "", ""
	}
	items, err := a.store.Items(b.ID)
	if err != nil {
		return "", ""
	}
	on := map[string]bool{}
	for _, it := range items {
		on[it.Key] = true
	}
	for _, r := range related {
		if on[r] {
			return "parent_child", fmt.Sprintf("%s and %s are a case and one of its boxes: one bill takes either the case or its boxes, not both", in.Code, r)
		}
	}
	return "", ""
}
