package agent

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/queue"
)

// stockCode is a 20-digit 码上放心 code of product 8101235.
func stockCode(n string) string { return "8101235000000015" + n }

func TestStockTakeChangeAndLedger(t *testing.T) {
	a := newTestAgent(t)
	a1, a2, a3, a9 := stockCode("7401"), stockCode("7402"), stockCode("7403"), stockCode("7409")
	scan(t, a, "c", "PDA:RECEIVE:5069452c34b94a778abaa26c2b40b305", device.StatusCommand)
	for _, c := range []string{a1, a2, a3} {
		scan(t, a, "c", c, device.StatusAccepted)
	}
	scan(t, a, "c", "PDA:FINISH", device.StatusCommand)

	// Stock-take: a known pack, and one the ledger never saw (盘盈).
	if fb := scan(t, a, "c", "PDA:STOCKTAKE", device.StatusCommand); !strings.Contains(fb.Message, "盘存") {
		t.Fatalf("open stock-take: %s", fb.Message)
	}
	if fb := scan(t, a, "c", a1, device.StatusAccepted); strings.Contains(fb.Message, queue.NoteStockGain) {
		t.Errorf("known pack reported as 盘盈: %s", fb.Message)
	}
	if fb := scan(t, a, "c", a9, device.StatusAccepted); !strings.Contains(fb.Message, queue.NoteStockGain) {
		t.Errorf("unknown pack not reported as 盘盈: %s", fb.Message)
	}
	v, err := a.Session("c")
	if err != nil || len(v.StockGains) != 1 || v.StockGains[0].Code != a9 {
		t.Fatalf("session view gains %+v %v", v.StockGains, err)
	}
	if fb := scan(t, a, "c", "PDA:FINISH", device.StatusCommand); !strings.Contains(fb.Message, "盘盈: 1 pack(s)") || !strings.Contains(fb.Message, a9) {
		t.Errorf("finish stock-take: %s", fb.Message)
	}

	// The 盘盈 is booked with a 111 盘盈入库: the pack the count found
	// unknown goes on it, once; a pack the ledger had in stock does not.
	scan(t, a, "c", "PDA:CHANGE:111:盘点发现", device.StatusCommand)
	scan(t, a, "c", a9, device.StatusAccepted)
	if fb := scan(t, a, "c", a1, device.StatusRejected); fb.Reason != queue.ReasonAlreadyReceived {
		t.Errorf("盘盈入库 of a pack in stock before the count: %+v", fb)
	}
	scan(t, a, "c", "PDA:FINISH", device.StatusCommand)
	scan(t, a, "c", "PDA:CHANGE:111:再次登记", device.StatusCommand)
	if fb := scan(t, a, "c", a9, device.StatusRejected); fb.Reason != queue.ReasonAlreadyReceived {
		t.Errorf("second 盘盈入库 of the same pack: %+v", fb)
	}
	scan(t, a, "c", "PDA:CANCEL", device.StatusCommand)

	// A destruction needs its reason, on the scanner as through the API.
	for _, cmd := range []string{"PDA:OPEN:205", "PDA:CHANGE:205", "PDA:CHANGE:321:x", "PDA:CHANGE:abc"} {
		if fb := scan(t, a, "c", cmd, device.StatusRejected); fb.Reason != "bad_command" {
			t.Errorf("%s: %+v", cmd, fb)
		}
	}
	if fb := scan(t, a, "c", "PDA:CHANGE:205:过期销毁", device.StatusCommand); !strings.Contains(fb.Message, "销毁出库 (过期销毁)") {
		t.Fatalf("open destruction: %s", fb.Message)
	}
	scan(t, a, "c", a2, device.StatusAccepted)
	scan(t, a, "c", "PDA:FINISH", device.StatusCommand)

	// The destroyed pack cannot be sold; the others can, the 盘盈 one too.
	scan(t, a, "c", "PDA:SALE", device.StatusCommand)
	fb := scan(t, a, "c", a2, device.StatusRejected)
	if fb.Reason != queue.ReasonLeftStore || !strings.Contains(fb.Message, "销毁出库") {
		t.Errorf("sale of a destroyed pack: %+v", fb)
	}
	scan(t, a, "c", a3, device.StatusAccepted)
	scan(t, a, "c", a9, device.StatusAccepted)
	scan(t, a, "c", "PDA:FINISH", device.StatusCommand)

	// A counted pack is in stock: receiving it again is refused.
	scan(t, a, "c", "PDA:RECEIVE:5069452c34b94a778abaa26c2b40b305", device.StatusCommand)
	if fb := scan(t, a, "c", a1, device.StatusRejected); fb.Reason != queue.ReasonAlreadyReceived {
		t.Errorf("receive of a counted pack: %+v", fb)
	}
	scan(t, a, "c", "PDA:CANCEL", device.StatusCommand)

	// The finished bills carry their types and the reason.
	types := map[int]queue.Bill{}
	a.Store().ForEachBill(func(b queue.Bill) bool {
		if b.State == queue.BillFinished {
			types[b.Type] = b
		}
		return true
	})
	if _, ok := types[billtype.StockTake]; !ok || types[billtype.Destroyed].Attrs[AttrStockReason] != "过期销毁" {
		t.Errorf("finished bills %+v", types)
	}
}

func TestStockKindsThroughAPI(t *testing.T) {
	a := newTestAgent(t)
	ctx := context.Background()
	if _, _, err := a.Open(ctx, OpenRequest{Session: "s1", Kind: "destroy"}); !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), AttrStockReason) {
		t.Fatalf("destroy without reason: %v", err)
	}
	if _, _, err := a.Open(ctx, OpenRequest{Session: "s1", Type: billtype.Damaged}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("215 without reason: %v", err)
	}
	b, _, err := a.Open(ctx, OpenRequest{Session: "s1", Kind: "destroy", Attrs: map[string]string{AttrStockReason: "过期"}})
	if err != nil || b.Type != billtype.Destroyed {
		t.Fatalf("destroy: %+v %v", b, err)
	}
	b, _, err = a.Open(ctx, OpenRequest{Session: "s2", Kind: "stocktake"})
	if err != nil || b.Type != billtype.StockTake {
		t.Fatalf("stocktake: %+v %v", b, err)
	}
	// Transfers name their partner, not a reason.
	if b, _, err = a.Open(ctx, OpenRequest{Session: "s3", Kind: "transfer_out"}); err != nil || b.Type != billtype.TransferOut {
		t.Fatalf("transfer_out: %+v %v", b, err)
	}
	if _, err := a.SubmitBill(ctx, SubmitRequest{Kind: "stock_loss", Lines: []SubmitLine{{Code: stockCode("7501")}}}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("submitted 盘亏 without reason: %v", err)
	}
}
