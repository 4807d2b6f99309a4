package agent

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/msfx"
	"github.com/pda-agent/pda-agent/upload/webhook"
)

// A bill's own attrs win over the store-wide defaults, and the queue's
// bill is never changed.
func TestNHSADefaultsUnderBillAttrs(t *testing.T) {
	d := newNHSADest(nil, map[string]string{"psn_cert_type": "01", "rx_circ_flag": "0", "prsc_dr_name": " "})
	b := queue.Bill{Attrs: map[string]string{"nhsa.psn_cert_type": "02", "nhsa.mdtrt_sn": "MD1"}}
	got := d.withDefaults(b).Attrs
	if got["nhsa.psn_cert_type"] != "02" || got["nhsa.rx_circ_flag"] != "0" || got["nhsa.mdtrt_sn"] != "MD1" {
		t.Fatalf("attrs %v", got)
	}
	if _, ok := got["nhsa.prsc_dr_name"]; ok {
		t.Fatal("a blank default was applied")
	}
	if _, ok := b.Attrs["nhsa.rx_circ_flag"]; ok {
		t.Fatal("the bill's own attrs were changed")
	}
	if got := d.withDefaults(queue.Bill{}).Attrs; got["nhsa.psn_cert_type"] != "01" {
		t.Fatalf("a bill without attrs: %v", got)
	}
	ms := d.annotate([]upload.Missing{{Field: "prsc_dr_name", Source: "attr nhsa.prsc_dr_name"}, {Field: "mdtrt_sn", Source: "attr nhsa.mdtrt_sn"}})
	if ms[0].Detail == "" || ms[1].Detail != "" {
		t.Fatalf("only fields that take a default say so: %+v", ms)
	}
}

type plainDest struct{ name string }

func (p plainDest) Name() string                                       { return p.name }
func (p plainDest) Deliver(context.Context, upload.Job) upload.Outcome { return upload.Outcome{} }

type prefixDest struct{ plainDest }

func (p prefixDest) UsesAttr(k string) bool { return len(k) > 4 && k[:4] == "pos." }

func TestUsesAttr(t *testing.T) {
	a := &Agent{}
	a.dset.Store(&destSet{byName: map[string]upload.Destination{
		"msfx": &msfx.Client{}, "webhook": &webhook.Client{}, "other": plainDest{"other"}, "mine": prefixDest{plainDest{"mine"}},
	}})
	for _, tc := range []struct {
		dest, key string
		want      bool
	}{
		{"msfx", "nhsa.mdtrt_sn", false}, {"webhook", "x", false},
		{"other", "anything", true}, // says nothing: uses every attr
		{"mine", "pos.receipt", true}, {"mine", "nhsa.mdtrt_sn", false},
		{"nhsa", "nhsa.mdtrt_sn", true}, {"nhsa", "pos.receipt", false}, // not running: by name
		{"gone", "x", true},
	} {
		if got := a.usesAttr(tc.dest, tc.key); got != tc.want {
			t.Errorf("usesAttr(%s, %s) = %v", tc.dest, tc.key, got)
		}
	}
}

// A change of attrs made while the bill's attempt is under way waits for
// it: when the attempt is held back, the change goes through.
func TestChangeAttrsWaitsForAnAttemptUnderWay(t *testing.T) {
	a := newTestAgent(t)
	ctx := context.Background()
	b, err := a.store.SubmitBill(ctx, queue.SessionSpec{Session: "erp", Type: 321, Attrs: map[string]string{"nhsa.mdtrt_sn": "MD1"}},
		[]queue.ScanInput{{Code: "81012350000000157474", Key: "81012350000000157474", Kind: "msfx20", Product: "8101235"}}, queue.To("nhsa"))
	if err != nil {
		t.Fatal(err)
	}
	ls, err := a.store.Lease(ctx, "nhsa", 1, time.Minute)
	if err != nil || len(ls) != 1 {
		t.Fatalf("lease %v %d", err, len(ls))
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = a.store.Nack(ctx, b.ID, "nhsa", ls[0].Delivery.Lease, queue.Retry{At: time.Now().Add(time.Hour), Error: "held back",
			Missing: []queue.Missing{{Field: "prsc_dr_name", Source: "attr nhsa.prsc_dr_name"}}})
	}()
	v, err := a.ChangeAttrs(ctx, b.Code, map[string]*string{"nhsa.prsc_dr_name": ptrTo("王医生")})
	if err != nil {
		t.Fatal(err)
	}
	if v.Bill.Attrs["nhsa.prsc_dr_name"] != "王医生" || len(v.Requeued) != 1 {
		t.Fatalf("%+v", v)
	}
	// An attempt that sent the bill ends the wait with a refusal.
	ls, _ = a.store.Lease(ctx, "nhsa", 1, time.Minute)
	go func() {
		time.Sleep(200 * time.Millisecond)
		_ = a.store.Nack(ctx, b.ID, "nhsa", ls[0].Delivery.Lease, queue.Retry{At: time.Now().Add(time.Hour), Error: "HTTP 503"})
	}()
	var ae *queue.AttrsError
	if _, err := a.ChangeAttrs(ctx, b.Code, map[string]*string{"nhsa.prsc_dr_name": ptrTo("李医生")}); !errors.As(err, &ae) || ae.Reason != queue.AttrsSent {
		t.Fatalf("after a send: %v", err)
	}
}

func ptrTo(s string) *string { return &s }
