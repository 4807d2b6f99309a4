package agent

import (
	"context"
	"testing"

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
