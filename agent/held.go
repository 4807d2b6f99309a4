package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/msfx"
	"github.com/pda-agent/pda-agent/upload/nhsa"
	"github.com/pda-agent/pda-agent/upload/webhook"
)

// Bills that cannot be sent as they are: the finish answer says, per
// destination, whether the bill will be sent or held and what it lacks;
// a held bill is repaired by changing its attrs while nothing of it has
// left the device for a destination that uses them; an operator may also
// retry or drop a held delivery.

// nhsaDest is the 医保 client with the store-wide defaults of config
// nhsa.defaults under the bill's own attrs, and the missing data of a bill
// it holds back recorded on the delivery.
type nhsaDest struct {
	*nhsa.Client
	// defaults are attr → value (nhsa.<field>).
	defaults map[string]string
}

func newNHSADest(c *nhsa.Client, defaults map[string]string) *nhsaDest {
	d := &nhsaDest{Client: c, defaults: map[string]string{}}
	for f, v := range defaults {
		if v = strings.TrimSpace(v); v != "" {
			d.defaults["nhsa."+f] = v
		}
	}
	return d
}

// withDefaults is the bill with a default for each attr it lacks (a copy:
// the queue's bill is never changed).
func (d *nhsaDest) withDefaults(b queue.Bill) queue.Bill {
	if len(d.defaults) == 0 {
		return b
	}
	attrs := maps.Clone(b.Attrs)
	if attrs == nil {
		attrs = map[string]string{}
	}
	for k, v := range d.defaults {
		if strings.TrimSpace(attrs[k]) == "" {
			attrs[k] = v
		}
	}
	b.Attrs = attrs
	return b
}

// Deliver makes one attempt; a bill held back for missing data comes back
// with its Missing list, so the queue keeps the delivery held, not failing.
func (d *nhsaDest) Deliver(ctx context.Context, job upload.Job) upload.Outcome {
	job.Bill = d.withDefaults(job.Bill)
	out := d.Client.Deliver(ctx, job)
	if nhsa.HeldBack(out) {
		out.Missing = d.annotate(d.Client.Check(ctx, job.Bill, job.Items))
		if len(out.Missing) == 0 {
			// The data changed between the attempt and the check: still
			// held, with the attempt's own words.
			out.Missing = []upload.Missing{{Source: "bill", Detail: out.Message}}
		}
	}
	return out
}

// Check is the client's check with the defaults applied (upload.Checker).
func (d *nhsaDest) Check(ctx context.Context, b queue.Bill, items []queue.Item) []upload.Missing {
	return d.annotate(d.Client.Check(ctx, d.withDefaults(b), items))
}

// annotate says where a missing attr may also be set once for the store.
func (d *nhsaDest) annotate(ms []upload.Missing) []upload.Missing {
	for i, m := range ms {
		f, ok := strings.CutPrefix(m.Source, "attr nhsa.")
		if !ok {
			continue
		}
		if _, ok := configs.NHSADefaultField(f); ok {
			ms[i].Detail += "（或在配置 nhsa.defaults." + f + " 中为全店设置 / or store-wide in config nhsa.defaults." + f + "）"
		}
	}
	return ms
}

// Will says what becomes of a finished bill at one destination.
const (
	WillSend = "send" // the bill has what the destination needs
	WillHold = "hold" // held on this device until the missing data are given
)

// DestOutlook is what a destination will do with a finished bill.
type DestOutlook struct {
	Dest string `json:"dest"`
	Will string `json:"will"`
	// Missing lists what the bill lacks for this destination (empty when
	// it will be sent).
	Missing []queue.Missing `json:"missing"`
}

// Outlook asks each of a finished bill's destinations whether it will send
// the bill as it is (upload.Checker); one that cannot tell will send it.
// Nothing is sent.
func (a *Agent) Outlook(ctx context.Context, b queue.Bill) ([]DestOutlook, error) {
	out := []DestOutlook{}
	if len(b.Destinations) == 0 {
		return out, nil
	}
	items, err := a.store.Items(b.ID)
	if err != nil {
		return nil, fmt.Errorf("agent: outlook of %s: %w", b.Code, err)
	}
	dests := a.destinations()
	for _, name := range b.Destinations {
		o := DestOutlook{Dest: name, Will: WillSend, Missing: []queue.Missing{}}
		if c, ok := dests[name].(upload.Checker); ok {
			if ms := c.Check(ctx, b, items); len(ms) > 0 {
				o.Will, o.Missing = WillHold, ms
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// destinations are the running destinations by name.
func (a *Agent) destinations() map[string]upload.Destination {
	if d := a.dset.Load(); d != nil {
		return d.byName
	}
	return nil
}

// usesAttr tells whether changing the bill attr key can change what dest
// sends. A destination that does not say (upload.AttrUser) is taken to use
// every attr, except the built-in 码上放心 and webhook clients, whose
// messages carry no bill attr (upload/msfx/wire, webhook's wireBill); a
// destination no longer running is judged by its name (BuiltinUsesAttr).
func (a *Agent) usesAttr(dest, key string) bool {
	switch d := a.destinations()[dest].(type) {
	case nil:
		return BuiltinUsesAttr(dest, key)
	case upload.AttrUser:
		return d.UsesAttr(key)
	case *msfx.Client, *webhook.Client:
		return false
	}
	return true
}

// AttrsView is a bill after a change of its attrs, with what each
// destination will now do.
type AttrsView struct {
	Bill    queue.Bill    `json:"bill"`
	Outlook []DestOutlook `json:"outlook"`
	// Requeued are the destinations whose pending deliveries are looked at
	// again at once.
	Requeued []string `json:"requeued"`
}

// inFlightWait bounds how long a change of attrs waits for an attempt
// under way to end.
const inFlightWait = 3 * time.Second

// ChangeAttrs changes the attrs of a bill by its code (a nil value deletes
// one), also after it was finished, as long as no destination that uses a
// changed attr may already have been sent the bill (*queue.AttrsError
// otherwise). The deliveries it concerns are looked at again at once.
func (a *Agent) ChangeAttrs(ctx context.Context, billCode string, changes map[string]*string) (AttrsView, error) {
	if err := CheckAttrChanges(changes); err != nil {
		return AttrsView{}, err
	}
	// Right after a finish the bill's first attempt is usually under way
	// (and over in milliseconds when it is held back): wait for it a
	// little rather than send the POS away.
	var (
		b        queue.Bill
		requeued []string
		err      error
	)
	deadline := time.Now().Add(inFlightWait)
	for {
		b, requeued, err = a.store.ChangeAttrs(ctx, billCode, changes, a.usesAttr)
		var ae *queue.AttrsError
		if !errors.As(err, &ae) || ae.Reason != queue.AttrsInFlight || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return AttrsView{}, err
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err != nil {
		return AttrsView{}, err
	}
	if requeued == nil {
		requeued = []string{}
	}
	v := AttrsView{Bill: b, Requeued: requeued, Outlook: []DestOutlook{}}
	if b.State == queue.BillFinished {
		if v.Outlook, err = a.Outlook(ctx, b); err != nil {
			return v, err
		}
	}
	a.publish(Event{Kind: "bill", Bill: b.Code, Status: "attrs", Message: "attrs changed"})
	return v, nil
}

// RetryDelivery has a dead letter or a held delivery tried again now
// (operator action).
func (a *Agent) RetryDelivery(ctx context.Context, billCode, dest string) error {
	return a.operate(billCode, func(id uint64) error { return a.store.Retry(ctx, id, dest) })
}

// DropDelivery records that a dead letter or a held delivery will not be
// delivered, with why.
func (a *Agent) DropDelivery(ctx context.Context, billCode, dest, why string) error {
	return a.operate(billCode, func(id uint64) error { return a.store.Drop(ctx, id, dest, why) })
}

func (a *Agent) operate(billCode string, fn func(billID uint64) error) error {
	b, err := a.store.BillByCode(billCode)
	if err != nil {
		return err
	}
	if err := fn(b.ID); err != nil {
		if errors.Is(err, queue.ErrNotFound) || errors.Is(err, queue.ErrNotHeld) || errors.Is(err, queue.ErrSentHeld) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	return nil
}

// heldWords tells a scanner's operator which destinations will hold a
// just finished bill and for what ("" when every one will send it).
func (a *Agent) heldWords(ctx context.Context, b queue.Bill) string {
	out, err := a.Outlook(ctx, b)
	if err != nil {
		return "; could not check what the back ends need: " + err.Error()
	}
	var s string
	for _, o := range out {
		if o.Will != WillHold {
			continue
		}
		s += fmt.Sprintf("; HELD for %s, missing %s: fix with `pda-agent queue set %s key=value` or PATCH /v1/bills/%s/attrs",
			o.Dest, missingFields(o.Missing), b.Code, b.Code)
	}
	return s
}

// BuiltinUsesAttr is usesAttr for a built-in destination known by name
// only (a tool working on the queue file while no agent runs): 医保 uses
// the nhsa. attrs, 码上放心 and the webhook send none; any other name is
// taken to use every attr.
func BuiltinUsesAttr(dest, key string) bool {
	switch dest {
	case "msfx", "webhook":
		return false
	case "nhsa":
		return strings.HasPrefix(key, "nhsa.")
	}
	return true
}

// CheckAttrChanges checks a change of attrs as a bill's own attrs are
// checked (keys like nhsa.mdtrt_sn, values up to 200 bytes); a value is
// given or nil (delete), never empty.
func CheckAttrChanges(changes map[string]*string) error {
	if len(changes) == 0 {
		return fmt.Errorf("%w: no attr to change", ErrBadRequest)
	}
	check := map[string]string{}
	for k, v := range changes {
		check[k] = ""
		if v != nil {
			if strings.TrimSpace(*v) == "" {
				return fmt.Errorf("%w: attribute %q: an empty value; delete it instead (null)", ErrBadRequest, k)
			}
			check[k] = *v
		}
	}
	return validAttrs(check)
}

// missingFields lists what a held bill lacks: "field (source), …".
func missingFields(ms []queue.Missing) string {
	parts := make([]string, 0, len(ms))
	for _, m := range ms {
		parts = append(parts, cmp.Or(m.Field, m.Detail)+" ("+m.Source+")")
	}
	return strings.Join(parts, ", ")
}
