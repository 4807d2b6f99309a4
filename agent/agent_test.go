package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/queue"
)

func newTestAgent(t *testing.T, extraEnv ...string) *Agent {
	t.Helper()
	env := append([]string{"PDA_DEVICE_ID=AG1", "PDA_DATA_DIR=" + t.TempDir()}, extraEnv...)
	cfg, err := configs.LoadBytes("test", nil, env)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func scan(t *testing.T, a *Agent, session, raw string, want device.Status) device.Feedback {
	t.Helper()
	fb := a.HandleScan(context.Background(), session, device.Scan{Source: "t", Raw: []byte(raw), At: time.Now()})
	if fb.Status != want {
		t.Fatalf("%q: %s (%s: %s), want %s", raw, fb.Status, fb.Reason, fb.Message, want)
	}
	return fb
}

func TestCommandsAndScans(t *testing.T) {
	a := newTestAgent(t)
	// Without default_type a code outside a bill is refused (and journaled).
	if fb := scan(t, a, "c", "81012350000000157474", device.StatusRejected); fb.Reason != queue.ReasonNoSession {
		t.Fatalf("reason %s", fb.Reason)
	}
	fb := scan(t, a, "c", "PDA:RECEIVE:5069452c34b94a778abaa26c2b40b305", device.StatusCommand)
	if !strings.Contains(fb.Message, "采购入库") {
		t.Fatalf("open: %s", fb.Message)
	}
	scan(t, a, "c", "pda:receive:5069452c34b94a778abaa26c2b40b305", device.StatusRejected) // prefix is case-sensitive: a bad code
	scan(t, a, "c", "PDA:RECEIVE:5069452c34b94a778abaa26c2b40b305", device.StatusCommand)  // same bill again: continuing
	if fb := scan(t, a, "c", "PDA:SALE", device.StatusRejected); fb.Reason != "session_busy" {
		t.Fatalf("sale over an open receiving: %+v", fb)
	}
	scan(t, a, "c", "81012350000000157474", device.StatusAccepted)
	scan(t, a, "c", "81012350000000157474\r", device.StatusDuplicate)
	// The AIM id reported by the transport is honoured; GS written as <GS>.
	fb = a.HandleScan(context.Background(), "c", device.Scan{Raw: []byte("01069012345678921728123110L1<GS>21S1"), Symbology: "]d2"})
	if fb.Status != device.StatusAccepted {
		t.Fatalf("GS1: %+v", fb)
	}
	if fb := scan(t, a, "c", "6901234567892", device.StatusRejected); fb.Reason != "product_barcode" {
		t.Fatalf("EAN: %+v", fb)
	}
	scan(t, a, "c", "PDA:FINISH", device.StatusCommand)
	if fb := scan(t, a, "c", "PDA:FINISH", device.StatusRejected); fb.Reason != "no_session" {
		t.Fatalf("finish twice: %+v", fb)
	}
	for _, bad := range []string{"PDA:OPEN:999", "PDA:OPEN:x", "PDA:DANCE"} {
		if fb := scan(t, a, "c", bad, device.StatusRejected); fb.Reason != "bad_command" {
			t.Fatalf("%s: %+v", bad, fb)
		}
	}
	scan(t, a, "c", "PDA:OPEN:202:5069452c34b94a778abaa26c2b40b305", device.StatusCommand)
	if fb := scan(t, a, "c", "PDA:FINISH", device.StatusRejected); fb.Reason != "empty_bill" {
		t.Fatalf("finish empty: %+v", fb)
	}
	fb = scan(t, a, "c", "PDA:CANCEL", device.StatusCommand)
	if !strings.Contains(fb.Message, "cancelled") {
		t.Fatal(fb.Message)
	}

	st, err := a.Store().Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Bills[queue.BillFinished] != 1 || st.Bills[queue.BillCancelled] != 1 || st.Scans["accepted"] != 2 ||
		st.Scans["duplicate"] != 1 || st.Scans["rejected:product_barcode"] != 1 || st.Scans["rejected:no_session"] != 1 {
		t.Fatalf("stats %+v", st)
	}
	// No destination is enabled: the finished bill is kept locally only.
	var b queue.Bill
	a.Store().ForEachBill(func(x queue.Bill) bool {
		if x.State == queue.BillFinished {
			b = x
		}
		return true
	})
	if len(b.Destinations) != 0 || b.Partner != "5069452c34b94a778abaa26c2b40b305" || b.Device != "AG1" || !strings.HasPrefix(b.Code, "AG1-") {
		t.Fatalf("finished bill %+v", b)
	}
}

func TestDefaultTypeAutoOpens(t *testing.T) {
	a := newTestAgent(t, "PDA_SESSIONS_DEFAULT_TYPE=321")
	scan(t, a, "till", "81012350000000157474", device.StatusAccepted)
	b, ok, err := a.Store().OpenBill("till")
	if err != nil || !ok || b.Type != 321 {
		t.Fatalf("auto-opened %+v %v %v", b, ok, err)
	}
	scan(t, a, "till", "PDA:FINISH", device.StatusCommand)
	// Sold once: a second sale is refused.
	if fb := scan(t, a, "till", "81012350000000157474", device.StatusRejected); fb.Reason != queue.ReasonAlreadySold {
		t.Fatalf("resale: %+v", fb)
	}
}

func TestIdleFinish(t *testing.T) {
	a := newTestAgent(t, "PDA_SESSIONS_DEFAULT_TYPE=321", "PDA_SESSIONS_IDLE_FINISH=1s")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	scan(t, a, "till", "81012350000000157474", device.StatusAccepted)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok, _ := a.Store().OpenBill("till"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("idle bill was not finished")
		}
		time.Sleep(50 * time.Millisecond)
	}
	st, _ := a.Store().Stats()
	if st.Bills[queue.BillFinished] != 1 {
		t.Fatalf("stats %+v", st.Bills)
	}
}

func TestQueueFullIsAnError(t *testing.T) {
	a := newTestAgent(t, "PDA_QUEUE_MAX_SIZE=1MiB", "PDA_QUEUE_HEADROOM=256KiB", "PDA_SESSIONS_DEFAULT_TYPE=102")
	for i := 0; i < 20000; i++ {
		fb := a.HandleScan(context.Background(), "c", device.Scan{Raw: []byte(fmt.Sprintf("8101235%09d0000", i))})
		if fb.Status == device.StatusError {
			if fb.Reason != "queue_full" || !strings.HasPrefix(fb.Message, "NOT RECORDED") {
				t.Fatalf("full: %+v", fb)
			}
			return
		}
		if fb.Status != device.StatusAccepted {
			t.Fatalf("scan %d: %+v", i, fb)
		}
	}
	t.Fatal("queue never filled")
}

func TestSplitLotAndSetCommands(t *testing.T) {
	dir := t.TempDir()
	products := filepath.Join(dir, "products.csv")
	if err := os.WriteFile(products, []byte("key,name,units\n8101235,阿莫西林胶囊,24\n8393331,布洛芬缓释胶囊,0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := newTestAgent(t, "PDA_CATALOGUE_PRODUCTS="+products)
	// Receiving with a lot card scanned first: the codes carry the lot.
	scan(t, a, "c", "PDA:RECEIVE:5e0a7c3b9d2f48a6b1c3e5f7a9b0d2e4", device.StatusCommand)
	scan(t, a, "c", "PDA:LOT:B2311:2025-06-01:2027-05-31", device.StatusCommand)
	scan(t, a, "c", "81012350000000157474", device.StatusAccepted)
	scan(t, a, "c", "PDA:LOT:", device.StatusCommand)
	scan(t, a, "c", "83933310000006711939", device.StatusAccepted)
	if fb := scan(t, a, "c", "PDA:LOT:B1:2025-13-01", device.StatusRejected); fb.Reason != "bad_command" {
		t.Fatalf("bad lot date: %+v", fb)
	}
	scan(t, a, "c", "PDA:FINISH", device.StatusCommand)
	e, _, _ := a.Store().Ledger("81012350000000157474")
	if e.Lot != "B2311" || e.Produced != "2025-06-01" || e.Expiry != "2027-05-31" {
		t.Fatalf("ledger lot %+v", e)
	}
	if e, _, _ := a.Store().Ledger("83933310000006711939"); e.Lot != "" {
		t.Fatalf("lot not cleared: %+v", e)
	}

	// A split sale: 2 units of a 24-unit pack; the attribute marks a 医保 sale.
	scan(t, a, "t", "PDA:SALE", device.StatusCommand)
	scan(t, a, "t", "PDA:SET:nhsa.mdtrt_sn=MD0001", device.StatusCommand)
	scan(t, a, "t", "PDA:SPLIT:2", device.StatusCommand)
	fb := scan(t, a, "t", "81012350000000157474", device.StatusAccepted)
	if !strings.Contains(fb.Message, "22 of 24") {
		t.Fatalf("split sale: %s", fb.Message)
	}
	// SPLIT is for the next code only; a product without units cannot split.
	scan(t, a, "t", "PDA:SPLIT:1", device.StatusCommand)
	if fb := scan(t, a, "t", "83933310000006711939", device.StatusRejected); fb.Reason != queue.ReasonNotSplittable {
		t.Fatalf("unsplittable: %+v", fb)
	}
	scan(t, a, "t", "83933310000006711939", device.StatusAccepted)
	for _, bad := range []string{"PDA:SPLIT:0", "PDA:SPLIT:x", "PDA:SET:Bad Key=1", "PDA:SET:novalue"} {
		if fb := scan(t, a, "t", bad, device.StatusRejected); fb.Reason != "bad_command" {
			t.Fatalf("%s: %+v", bad, fb)
		}
	}
	b, _, _ := a.Store().OpenBill("t")
	if b.Attrs["nhsa.mdtrt_sn"] != "MD0001" {
		t.Fatalf("attrs %+v", b.Attrs)
	}
	items, _ := a.Store().Items(b.ID)
	if len(items) != 2 || items[0].Units != 2 || !items[0].Opened || items[0].Lot != "B2311" || items[1].Units != 0 {
		t.Fatalf("items %+v", items)
	}
}

func TestApplyRestartsOnlyWhatChanged(t *testing.T) {
	dir := t.TempDir()
	base := []string{"PDA_DEVICE_ID=AP1", "PDA_DATA_DIR=" + dir}
	yaml := func(port string, batch int) []byte {
		return []byte(fmt.Sprintf("scanners:\n  - {name: pos, type: tcp, tcp: {listen: \"127.0.0.1:%s\", reply: true}}\n  - {name: pos2, type: tcp, tcp: {listen: \"127.0.0.1:0\"}}\nqueue: {max_batch: %d}\nsessions: {default_type: 321}\n", port, batch))
	}
	cfg, err := configs.LoadBytes("t", yaml("0", 100), base)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if err := a.CheckHealth(ctx, []string{"pos", "pos2"}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// Same scanners, new code rule and a queue change: nothing restarts,
	// the queue change waits for the next start.
	next, _ := configs.LoadBytes("t", append(yaml("0", 200), []byte("codes: {allowed_kinds: [msfx20]}\n")...), base)
	restarted, err := a.Apply(next)
	if err != nil || len(restarted) != 0 {
		t.Fatalf("apply: %v %v", restarted, err)
	}
	if p := a.Pending(); len(p) != 1 || p[0] != "queue" {
		t.Fatalf("pending %v", p)
	}
	if fb := scan(t, a, "s", "]d201069012345678921728123110L1<GS>21S1", device.StatusRejected); fb.Reason != "kind_not_allowed" {
		t.Fatalf("the new code rule is not in force: %+v", fb)
	}
	// A changed scanner restarts, alone, and comes up healthy.
	port := freePort(t)
	next2, _ := configs.LoadBytes("t", yaml(port, 200), base)
	restarted, err = a.Apply(next2)
	if err != nil || len(restarted) != 1 || restarted[0] != "pos" {
		t.Fatalf("apply 2: %v %v", restarted, err)
	}
	if err := a.CheckHealth(ctx, restarted, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	var seen bool
	for _, h := range a.Scanners() {
		seen = seen || strings.Contains(h.Detail, port)
	}
	if !seen {
		t.Fatalf("scanner pos not on the new port: %+v", a.Scanners())
	}
	// A config that cannot be built changes nothing.
	bad, _ := configs.LoadBytes("t", yaml(port, 200), append(base, "PDA_WEBHOOK_ENABLED=true", "PDA_WEBHOOK_URL=http://127.0.0.1:1/x", "PDA_WEBHOOK_KEY_ID=k", "PDA_WEBHOOK_SECRET=0123456789abcdefXYZ"))
	if bad == nil {
		t.Fatal("config did not load")
	}
	if _, err := a.Apply(bad); err != nil {
		t.Fatalf("webhook apply: %v", err)
	}
	if w := a.workers(); len(w) != 1 || w["webhook"] == nil {
		t.Fatalf("workers after apply: %v", names(w))
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}
