package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/tracecode"
)

// SubmitRequest is a complete bill an ERP sends at once.
type SubmitRequest struct {
	Kind    string            `json:"kind,omitempty"`
	Type    int               `json:"type,omitempty"`
	Partner string            `json:"partner,omitempty"`
	Attrs   map[string]string `json:"attrs,omitempty"`
	Lines   []SubmitLine      `json:"lines"`
	// Original names the sale a customer return undoes (see Original).
	Original *Original `json:"original,omitempty"`
	// Source labels the bill's origin (default "erp").
	Source string `json:"source,omitempty"`
}

// SubmitLine is one pack of a submitted bill; Units > 0 sells that many
// units of it (拆零).
type SubmitLine struct {
	Code  string `json:"code"`
	Units int    `json:"units,omitempty"`
}

// SubmitBill records a whole bill: every code is parsed and checked as a
// scan would be, and either all of it is written and finished, or nothing
// is and every refusal comes back in a *queue.RefusedError.
func (a *Agent) SubmitBill(ctx context.Context, r SubmitRequest) (queue.Bill, error) {
	t := r.Type
	if r.Kind != "" {
		kt, ok := kinds[r.Kind]
		if !ok || (t != 0 && t != kt) {
			return queue.Bill{}, fmt.Errorf("%w: kind %q", ErrBadRequest, r.Kind)
		}
		t = kt
	}
	if !billtype.Known(t) {
		return queue.Bill{}, fmt.Errorf("%w: unknown bill type %d", ErrBadRequest, t)
	}
	if len(r.Lines) == 0 || len(r.Lines) > 20000 {
		return queue.Bill{}, fmt.Errorf("%w: a bill needs 1 to 20000 lines", ErrBadRequest)
	}
	if err := validAttrs(r.Attrs); err != nil {
		return queue.Bill{}, err
	}
	if err := checkStockAttrs(t, r.Attrs); err != nil {
		return queue.Bill{}, err
	}
	if err := validPartner(r.Partner); err != nil {
		return queue.Bill{}, err
	}
	attrs, err := a.originalAttrs(r.Original, t, r.Attrs)
	if err != nil {
		return queue.Bill{}, err
	}
	source := r.Source
	if source == "" {
		source = "erp"
	}
	if err := validSession(source); err != nil {
		return queue.Bill{}, err
	}
	var ins []queue.ScanInput
	var refused []queue.Refusal
	for _, l := range r.Lines {
		code, err := tracecode.Parse(l.Code, a.rules())
		if err != nil {
			refused = append(refused, queue.Refusal{Code: l.Code, Reason: string(tracecode.ReasonOf(err)), Message: err.Error()})
			continue
		}
		if l.Units < 0 {
			refused = append(refused, queue.Refusal{Code: l.Code, Reason: "bad_units", Message: "units must not be negative"})
			continue
		}
		in := queue.ScanInput{Code: code.Normalized, Key: code.Key, Kind: string(code.Kind), Product: code.Product,
			Lot: code.Lot, Expiry: code.Expiry, Produced: code.Production, Units: l.Units}
		if p, ok := a.Catalogue().Product(code.Product); ok {
			in.PackUnits = p.Units
		}
		ins = append(ins, in)
	}
	if len(refused) > 0 {
		return queue.Bill{}, &queue.RefusedError{Refusals: refused}
	}
	b, err := a.store.SubmitBill(ctx, queue.SessionSpec{Session: source, Type: t, Partner: r.Partner,
		Operator: a.config().Device.Operator, Device: a.config().Device.ID, Attrs: attrs}, ins, a.route)
	if err == nil {
		a.publish(Event{Kind: "bill", Bill: b.Code, Status: "finished", Message: fmt.Sprintf("submitted by %s: %d codes", source, b.Items)})
	}
	return b, err
}

// BillView is a bill with its codes and deliveries.
type BillView struct {
	Bill       queue.Bill       `json:"bill"`
	Items      []queue.Item     `json:"items"`
	Deliveries []queue.Delivery `json:"deliveries"`
}

// Masked is the view with its personal data masked (queue.MaskRecord),
// for readers that did not ask for personal data.
func (v BillView) Masked() BillView {
	r := queue.MaskRecord(queue.BillRecord{Bill: v.Bill, Items: v.Items, Deliveries: v.Deliveries})
	return BillView{Bill: r.Bill, Items: r.Items, Deliveries: r.Deliveries}
}

// Bill returns a bill by its bill_code.
func (a *Agent) Bill(code string) (BillView, error) {
	b, err := a.store.BillByCode(code)
	if err != nil {
		return BillView{}, err
	}
	v := BillView{Bill: b}
	if v.Items, err = a.store.Items(b.ID); err != nil {
		return v, err
	}
	v.Deliveries, err = a.store.Deliveries(b.ID)
	return v, err
}

// BillFilter narrows a bill listing.
type BillFilter struct {
	State string
	Type  int
	Limit int
	// Before pages: only bills with a lower id (0: from the newest).
	Before uint64
}

// Bills lists bills, newest first.
func (a *Agent) Bills(f BillFilter) ([]queue.Bill, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	return a.store.RecentBills(f.Before, f.Limit, func(b queue.Bill) bool {
		return (f.State == "" || string(b.State) == f.State) && (f.Type == 0 || b.Type == f.Type)
	})
}

// DeadLetters lists deliveries the back ends refused for good.
func (a *Agent) DeadLetters() ([]queue.DeadLetter, error) {
	dl, err := a.store.DeadLetters()
	if dl == nil {
		dl = []queue.DeadLetter{}
	}
	return dl, err
}

// RetryDead puts a dead letter back in the queue.
func (a *Agent) RetryDead(ctx context.Context, billCode, dest string) error {
	b, err := a.store.BillByCode(billCode)
	if err != nil {
		return err
	}
	return a.store.RetryDead(ctx, b.ID, dest)
}

// DropDead records that a dead letter will not be delivered, with why.
func (a *Agent) DropDead(ctx context.Context, billCode, dest, why string) error {
	b, err := a.store.BillByCode(billCode)
	if err != nil {
		return err
	}
	if err := a.store.DropDead(ctx, b.ID, dest, why); err != nil {
		if errors.Is(err, queue.ErrNotFound) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	return nil
}
