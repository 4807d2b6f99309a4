package agent

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/queue"
)

// otherCode is a 20-digit code of another product (8101299).
func otherCode(n string) string { return "8101299000000015" + n }

func shortfallCodes(sf Shortfall) []string {
	var out []string
	for _, p := range sf.Packs {
		out = append(out, p.Code)
	}
	slices.Sort(out)
	return out
}

func TestStockTakeShortfallAndBooking(t *testing.T) {
	ctx := context.Background()
	a := newTestAgent(t)
	a1, a2, a3, b1, b2 := stockCode("7601"), stockCode("7602"), stockCode("7603"), otherCode("7601"), otherCode("7602")
	scan(t, a, "c", "PDA:RECEIVE:5069452c34b94a778abaa26c2b40b305", device.StatusCommand)
	for _, c := range []string{a1, a2, a3, b1} {
		scan(t, a, "c", c, device.StatusAccepted)
	}
	scan(t, a, "c", "PDA:FINISH", device.StatusCommand)
	// a3 is sold: gone, not a shortfall.
	scan(t, a, "c", "PDA:SALE", device.StatusCommand)
	scan(t, a, "c", a3, device.StatusAccepted)
	scan(t, a, "c", "PDA:FINISH", device.StatusCommand)

	// A count of product 8101235 finds a1 only: a2 is 盘亏; b1, another
	// product, is out of the count's scope.
	if _, _, err := a.Open(ctx, OpenRequest{Session: "shelf", Kind: "stocktake"}); err != nil {
		t.Fatal(err)
	}
	v, err := a.Session("shelf")
	if err != nil || v.Shortfall == nil || len(v.Shortfall.Packs) != 0 {
		t.Fatalf("empty count: shortfall %+v %v", v.Shortfall, err)
	}
	scan(t, a, "shelf", a1, device.StatusAccepted)
	v, err = a.Session("shelf")
	if err != nil || v.Shortfall == nil || !slices.Equal(shortfallCodes(*v.Shortfall), []string{a2}) || v.Shortfall.Total != 1 {
		t.Fatalf("open count: shortfall %+v %v", v.Shortfall, err)
	}
	if p := v.Shortfall.Packs[0]; p.Product != "8101235" || p.LastType != billtype.Purchase || p.LastBill == "" {
		t.Errorf("shortfall pack %+v", p)
	}
	if _, err := a.BookShortfall(ctx, v.Bill.Code, BookShortfallRequest{Reason: "盘点未找到"}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("booking an open count: %v", err)
	}
	st, err := a.Finish(ctx, "shelf", nil)
	if err != nil {
		t.Fatal(err)
	}
	sf, err := a.ShortfallOf(st.Code)
	if err != nil || sf.Scope != ScopeProducts || !slices.Equal(sf.Products, []string{"8101235"}) || !slices.Equal(shortfallCodes(sf), []string{a2}) {
		t.Fatalf("finished count: %+v %v", sf, err)
	}

	// Booking needs a reason; then it makes one 214 bill of the 盘亏 packs.
	if _, err := a.BookShortfall(ctx, st.Code, BookShortfallRequest{Reason: " "}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("no reason: %v", err)
	}
	if _, err := a.BookShortfall(ctx, st.Code, BookShortfallRequest{Reason: "x", Attrs: map[string]string{AttrStockReason: "y"}}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("reason as attr: %v", err)
	}
	loss, err := a.BookShortfall(ctx, st.Code, BookShortfallRequest{Reason: "盘点未找到", Attrs: map[string]string{"nhsa.pric.8101235": "12.5"}})
	if err != nil {
		t.Fatal(err)
	}
	if loss.Type != billtype.StockLoss || loss.Items != 1 || loss.State != queue.BillFinished ||
		loss.Attrs[AttrStockReason] != "盘点未找到" || loss.Attrs[AttrStockTakeOf] != st.Code || loss.Attrs["nhsa.pric.8101235"] != "12.5" {
		t.Fatalf("盘亏 bill %+v", loss)
	}
	items, err := a.Store().Items(loss.ID)
	if err != nil || len(items) != 1 || items[0].Code != a2 {
		t.Fatalf("盘亏 items %+v %v", items, err)
	}
	sf, err = a.ShortfallOf(st.Code)
	if err != nil || len(sf.Packs) != 0 || !slices.Equal(sf.Booked, []string{loss.Code}) {
		t.Fatalf("after booking: %+v %v", sf, err)
	}
	if _, err := a.BookShortfall(ctx, st.Code, BookShortfallRequest{Reason: "again"}); !errors.Is(err, ErrNothingToBook) {
		t.Errorf("booking twice: %v", err)
	}
	// The booked pack left the store.
	scan(t, a, "c", "PDA:SALE", device.StatusCommand)
	if fb := scan(t, a, "c", a2, device.StatusRejected); fb.Reason != queue.ReasonLeftStore {
		t.Errorf("sale of a 盘亏 pack: %+v", fb)
	}
	scan(t, a, "c", "PDA:CANCEL", device.StatusCommand)

	// A whole-store count (stock.scope all) finding a1 misses b1 of the
	// other product; a pack received after it ends is not its 盘亏.
	if _, _, err := a.Open(ctx, OpenRequest{Session: "all", Kind: "stocktake", Attrs: map[string]string{AttrStockScope: ScopeAll}}); err != nil {
		t.Fatal(err)
	}
	scan(t, a, "all", a1, device.StatusAccepted)
	all, err := a.Finish(ctx, "all", nil)
	if err != nil {
		t.Fatal(err)
	}
	scan(t, a, "c", "PDA:RECEIVE:5069452c34b94a778abaa26c2b40b305", device.StatusCommand)
	scan(t, a, "c", b2, device.StatusAccepted)
	scan(t, a, "c", "PDA:FINISH", device.StatusCommand)
	sf, err = a.ShortfallOf(all.Code)
	if err != nil || sf.Scope != ScopeAll || !slices.Equal(shortfallCodes(sf), []string{b1}) {
		t.Fatalf("whole-store count: %+v %v", sf, err)
	}
	// The first count's scope did not widen with the new product.
	if sf, err = a.ShortfallOf(st.Code); err != nil || len(sf.Packs) != 0 {
		t.Fatalf("first count later: %+v %v", sf, err)
	}

	// Scope is checked; a sale has no shortfall.
	for _, r := range []OpenRequest{
		{Session: "x", Kind: "stocktake", Attrs: map[string]string{AttrStockScope: "shelf"}},
		{Session: "x", Kind: "sale", Attrs: map[string]string{AttrStockScope: ScopeAll}},
	} {
		if _, _, err := a.Open(ctx, r); !errors.Is(err, ErrBadRequest) {
			t.Errorf("open %+v: %v", r, err)
		}
	}
	if _, err := a.ShortfallOf(loss.Code); !errors.Is(err, ErrBadRequest) {
		t.Errorf("shortfall of a 214 bill: %v", err)
	}
	if _, err := a.ShortfallOf("AG1-000000-99999"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("shortfall of no bill: %v", err)
	}
}

func TestKeyPrefix(t *testing.T) {
	for key, want := range map[string]string{
		"81012350000000157474":              "8101235",
		"0106901234567892" + "21" + "ABC12": "0106901234567892",
		"0106901234567892":                  "",
		"123":                               "",
		"01069012345678921":                 "",
	} {
		if got := keyPrefix(key); got != want {
			t.Errorf("keyPrefix(%q) = %q, want %q", key, got, want)
		}
	}
}

// On the scanner: STOCKTAKE:ALL counts the whole store, and the finish
// says how many packs were not found.
func TestStockTakeScannerScopeAndWords(t *testing.T) {
	a := newTestAgent(t)
	a1, b1 := stockCode("7701"), otherCode("7701")
	scan(t, a, "c", "PDA:RECEIVE:5069452c34b94a778abaa26c2b40b305", device.StatusCommand)
	scan(t, a, "c", a1, device.StatusAccepted)
	scan(t, a, "c", b1, device.StatusAccepted)
	scan(t, a, "c", "PDA:FINISH", device.StatusCommand)

	if fb := scan(t, a, "c", "PDA:STOCKTAKE:SHELF", device.StatusRejected); fb.Reason != "bad_command" {
		t.Errorf("STOCKTAKE:SHELF: %+v", fb)
	}
	if fb := scan(t, a, "c", "PDA:STOCKTAKE:ALL", device.StatusCommand); !strings.Contains(fb.Message, "whole store") {
		t.Errorf("STOCKTAKE:ALL: %s", fb.Message)
	}
	scan(t, a, "c", a1, device.StatusAccepted)
	fb := scan(t, a, "c", "PDA:FINISH", device.StatusCommand)
	if !strings.Contains(fb.Message, "盘亏: 1 pack(s)") {
		t.Errorf("finish of a whole-store count: %s", fb.Message)
	}

	// A count of the products seen finds everything: no 盘亏 words.
	scan(t, a, "c", "PDA:STOCKTAKE", device.StatusCommand)
	scan(t, a, "c", a1, device.StatusAccepted)
	if fb := scan(t, a, "c", "PDA:FINISH", device.StatusCommand); strings.Contains(fb.Message, "盘亏") {
		t.Errorf("finish of a complete count: %s", fb.Message)
	}
}
