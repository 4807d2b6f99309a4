package agent

import (
	"fmt"
	"strings"

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

// compareReceiving is compare for receiving bill b, counting the packs
// other receivings of the same supplier bill(s) took (finished, or open in
// another session) as received: a delivery received in two goes is not
// short the first go's packs in the second, nor in key_variety_gaps.
func (a *Agent) compareReceiving(b queue.Bill, exp []queue.Expected, items []queue.Item) (*ExpectedView, error) {
	upstream := strings.Split(b.Attrs["upstream"], ",")
	v := compare(upstream, exp, items)
	if len(v.Missing) == 0 {
		return v, nil
	}
	prior, err := a.receivedElsewhere(b.ID, upstream)
	if err != nil {
		return nil, err
	}
	if len(prior) == 0 {
		return v, nil
	}
	children := map[string][]string{}
	for _, e := range exp {
		if e.Parent != "" {
			children[e.Parent] = append(children[e.Parent], e.Key)
		}
	}
	took := func(e queue.Expected) bool {
		if prior[e.Key] || (e.Parent != "" && prior[e.Parent]) {
			return true
		}
		kids := children[e.Key]
		for _, k := range kids {
			if !prior[k] {
				return false
			}
		}
		return len(kids) > 0
	}
	missing := v.Missing[:0:0]
	for _, e := range v.Missing {
		if took(e) {
			v.Earlier++
			continue
		}
		missing = append(missing, e)
	}
	v.Missing = missing
	v.Complete = len(v.Missing) == 0 && len(v.Extra) == 0 && len(v.WrongLot) == 0
	return v, nil
}

// receivedElsewhere is the item keys of the other receivings (not
// cancelled) against any of the supplier bills upstream.
func (a *Agent) receivedElsewhere(self uint64, upstream []string) (map[string]bool, error) {
	want := map[string]bool{}
	for _, u := range upstream {
		if u != "" {
			want[u] = true
		}
	}
	bills, err := a.store.RecentBills(0, 5000, func(o queue.Bill) bool {
		if o.ID == self || o.State == queue.BillCancelled || o.Attrs["upstream"] == "" {
			return false
		}
		for _, u := range strings.Split(o.Attrs["upstream"], ",") {
			if want[u] {
				return true
			}
		}
		return false
	})
	if err != nil {
		return nil, fmt.Errorf("receivings of the same supplier bill: %w", err)
	}
	keys := map[string]bool{}
	for _, o := range bills {
		items, err := a.store.Items(o.ID)
		if err != nil {
			return nil, fmt.Errorf("receiving %s: %w", o.Code, err)
		}
		for _, it := range items {
			keys[it.Key] = true
		}
	}
	return keys, nil
}
