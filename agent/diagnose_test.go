package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/msfx/sandbox"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// Codes of the sandbox's default world: any serial of a registered prefix
// is an activated box.
const (
	soldCode    = "81012350000000157474"
	deadCode    = "81012350000000266663"
	rejectCode  = "83933310000006711939"
	unseenCode  = "81012350000000999990"
	unknownEnt  = "0123456789abcdef0123456789abcdef" // no such enterprise on the platform
	waitForever = 20 * time.Second
)

// storeDay is a running agent against the 码上放心 sandbox on loopback,
// after a short day: a sale delivered, a second sale of the same box
// refused, a receiving from an unknown supplier refused by the platform
// (a dead letter), a box scanned with no bill open.
type storeDay struct {
	a    *Agent
	cfg  *configs.Config
	gw   *sandbox.Running
	sale string // bill_code of the delivered sale
	recv string // bill_code of the dead-lettered receiving
	stop func()
}

func runStoreDay(t *testing.T) *storeDay {
	t.Helper()
	gw, err := sandbox.Start("127.0.0.1:0", sandbox.Options{World: sandbox.DefaultWorld(), ProcessAfter: sandbox.ProcessAtOnce,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	cfg, err := configs.LoadBytes("test", nil, []string{"PDA_DEVICE_ID=DG1", "PDA_DATA_DIR=" + t.TempDir(),
		"PDA_FEEDBACK_LOG=false", "PDA_MSFX_ENABLED=true", "PDA_MSFX_GATEWAY=" + gw.URL(),
		"PDA_MSFX_APP_KEY=" + sandbox.DefaultStoreAppKey, "PDA_MSFX_APP_SECRET=" + sandbox.DefaultStoreSecret,
		"PDA_MSFX_REF_ENT_ID=" + sandbox.DefaultStoreRefEntID, "PDA_MSFX_ENT_ID=" + sandbox.DefaultStoreEntID,
		"PDA_MSFX_RATE=0", "PDA_MSFX_POLL_INTERVAL=1s", "PDA_UPLOAD_INITIAL_BACKOFF=100ms", "PDA_UPLOAD_MAX_BACKOFF=1s"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	d := &storeDay{a: a, cfg: cfg, gw: gw}
	var stopped bool
	d.stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
			a.Close()
		}
	}
	t.Cleanup(d.stop)

	scan(t, a, "till", "PDA:SALE", device.StatusCommand)
	scan(t, a, "till", soldCode, device.StatusAccepted)
	d.sale = finish(t, a, "till")
	waitDelivery(t, a, d.sale, queue.DeliveryDone)
	scan(t, a, "till", "PDA:SALE", device.StatusCommand)
	scan(t, a, "till", soldCode, device.StatusRejected)
	scan(t, a, "till", "PDA:CANCEL", device.StatusCommand)

	scan(t, a, "dock", "PDA:RECEIVE:"+unknownEnt, device.StatusCommand)
	scan(t, a, "dock", deadCode, device.StatusAccepted)
	d.recv = finish(t, a, "dock")
	waitDelivery(t, a, d.recv, queue.DeliveryDead)

	scan(t, a, "nobill", rejectCode, device.StatusRejected)
	return d
}

// finish finishes the session's bill and returns its bill_code.
func finish(t *testing.T, a *Agent, session string) string {
	t.Helper()
	b, ok, err := a.Store().OpenBill(session)
	if err != nil || !ok {
		t.Fatalf("no open bill in %s: %v", session, err)
	}
	scan(t, a, session, "PDA:FINISH", device.StatusCommand)
	return b.Code
}

// waitDelivery waits until the bill's 码上放心 delivery is in state.
func waitDelivery(t *testing.T, a *Agent, bill string, state queue.DeliveryState) {
	t.Helper()
	deadline := time.Now().Add(waitForever)
	for {
		v, err := a.Bill(bill)
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Deliveries) == 1 && v.Deliveries[0].State == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("bill %s: deliveries %+v, want %s", bill, v.Deliveries, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func contains(t *testing.T, what, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("%s %q lacks %q", what, s, p)
		}
	}
}

// TestDiagnose walks the day's codes through the running agent (online:
// 码上放心 is asked) and then through the queue file of the stopped agent.
func TestDiagnose(t *testing.T) {
	d := runStoreDay(t)
	ctx := context.Background()

	sold, err := d.a.Diagnose(ctx, soldCode, true)
	if err != nil {
		t.Fatal(err)
	}
	if sold.Source != FromAgent || !sold.Code.Valid || sold.Key != soldCode || sold.Ledger == nil || len(sold.Ledger.Events) != 1 {
		t.Fatalf("sold code: %+v", sold)
	}
	if len(sold.Bills) != 1 || sold.Bills[0].Bill.Code != d.sale || sold.Bills[0].Item == nil || sold.Bills[0].Action != queue.ActionSold ||
		len(sold.Bills[0].Deliveries) != 1 || sold.Bills[0].Deliveries[0].State != queue.DeliveryDone {
		t.Fatalf("sold code's bills: %+v", sold.Bills)
	}
	// The journal: the sale's scan, then the refused second sale.
	if len(sold.Scans) != 2 || sold.Scans[0].Outcome != queue.Rejected || sold.Scans[0].Reason != queue.ReasonAlreadySold ||
		sold.Scans[1].Outcome != queue.Accepted || sold.Scans[1].BillCode != d.sale {
		t.Fatalf("sold code's scans: %+v", sold.Scans)
	}
	if p := sold.Platform; !p.Asked || !p.Found || p.Status != wire.CodeSold {
		t.Fatalf("platform on the sold code: %+v", p)
	}
	contains(t, "verdict", sold.Verdict, "sold in bill "+d.sale+" (321", "uploaded to 码上放心 at ",
		"last scan rejected at ", "already_sold", "码上放心 says 核销 (sold)")

	dead, err := d.a.Diagnose(ctx, deadCode, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead.Bills) != 1 || dead.Bills[0].Bill.Code != d.recv || len(dead.DeadLetters) != 1 || dead.DeadLetters[0].Dest != "msfx" {
		t.Fatalf("dead-lettered code: %+v", dead)
	}
	if p := dead.Platform; p.Asked || !strings.Contains(p.Skipped, "offline") {
		t.Fatalf("platform asked although offline: %+v", p)
	}
	contains(t, "verdict", dead.Verdict, "received in bill "+d.recv, "refused by 码上放心 for good at ", "往来企业不存在", "dead letter")

	rejected, err := d.a.Diagnose(ctx, rejectCode, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rejected.Bills) != 0 || rejected.Ledger != nil || len(rejected.Scans) != 1 {
		t.Fatalf("rejected code: %+v", rejected)
	}
	contains(t, "verdict", rejected.Verdict, "rejected at ", queue.ReasonNoSession)

	unseen, err := d.a.Diagnose(ctx, unseenCode, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(unseen.Bills)+len(unseen.Scans) != 0 || !unseen.Platform.Found || unseen.Platform.Status != wire.CodeActive {
		t.Fatalf("unseen code: %+v", unseen)
	}
	contains(t, "verdict", unseen.Verdict, "never scanned on this device", "码上放心 says 激活")

	// A code whose bill was cancelled: released, on no bill that counts.
	const released = "81012350000000300001"
	scan(t, d.a, "till2", "PDA:SALE", device.StatusCommand)
	scan(t, d.a, "till2", released, device.StatusAccepted)
	scan(t, d.a, "till2", "PDA:CANCEL", device.StatusCommand)
	cancelled, err := d.a.Diagnose(ctx, released, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(cancelled.Bills) != 1 || cancelled.Bills[0].Bill.State != queue.BillCancelled {
		t.Fatalf("code of a cancelled bill: %+v", cancelled.Bills)
	}
	contains(t, "verdict", cancelled.Verdict, "scanned onto bill "+cancelled.Bills[0].Bill.Code, "which was cancelled at ", "the code was released")

	bad, err := d.a.Diagnose(ctx, "6901234567892", true)
	if err != nil {
		t.Fatal(err)
	}
	if bad.Code.Valid || bad.Platform.Asked {
		t.Fatalf("product barcode: %+v", bad)
	}
	contains(t, "verdict", bad.Verdict, "not a trace code (product_barcode)", "never scanned")
	if _, err := d.a.Diagnose(ctx, " ", false); err == nil {
		t.Fatal("an empty code was diagnosed")
	}

	// The same from the queue file once the agent has stopped.
	d.stop()
	in, err := OpenInspector(d.cfg, InspectOptions{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	off, err := in.Diagnose(ctx, soldCode, false)
	if err != nil {
		t.Fatal(err)
	}
	if off.Source != FromQueueFile || len(off.Bills) != 1 || len(off.Scans) != 2 {
		t.Fatalf("from the file: %+v", off)
	}
	contains(t, "verdict from the file", off.Verdict, "sold in bill "+d.sale, "uploaded to 码上放心 at ", "already_sold")
	// Online from the file: the config's credentials reach 码上放心.
	off, err = in.Diagnose(ctx, deadCode, true)
	if err != nil {
		t.Fatal(err)
	}
	if off.Platform.Status != wire.CodeActive {
		t.Fatalf("platform from the file: %+v", off.Platform)
	}
	contains(t, "verdict from the file", off.Verdict, "refused by 码上放心 for good")
}

// TestStatusFromAgentAndFile checks the figures the running agent and its
// queue file report after the same day.
func TestStatusFromAgentAndFile(t *testing.T) {
	d := runStoreDay(t)
	st, err := d.a.Status()
	if err != nil {
		t.Fatal(err)
	}
	m := st.Destinations["msfx"]
	if st.Source != FromAgent || st.Health != Degraded || st.Version != "test" || st.Config.Source != ConfigLocal ||
		len(st.Config.Hash) != 64 || st.DiskFree == nil || st.QueueSize <= 0 || st.QueueMax != 1<<30 {
		t.Fatalf("status %+v", st)
	}
	if m.Pending != 0 || m.Dead != 1 || m.Failing != 0 || m.LastSuccess.IsZero() || !strings.Contains(m.LastError, "往来企业不存在") {
		t.Fatalf("msfx %+v", m)
	}
	if st.Bills["finished"] != 2 || st.Bills["cancelled"] != 1 || st.Scans["accepted"] != 2 ||
		st.Scans["rejected:"+queue.ReasonAlreadySold] != 1 || st.Scans["rejected:"+queue.ReasonNoSession] != 1 {
		t.Fatalf("counts: bills %v scans %v", st.Bills, st.Scans)
	}
	if len(st.Problems) != 1 || st.Problems[0] != "msfx: dead letters need an operator" {
		t.Fatalf("problems %q", st.Problems)
	}

	d.stop()
	in, err := OpenInspector(d.cfg, InspectOptions{Version: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	off, err := in.Status()
	if err != nil {
		t.Fatal(err)
	}
	om := off.Destinations["msfx"]
	if off.Source != FromQueueFile || off.Health != Stopped || off.Version != "cli" || off.Config.Hash != st.Config.Hash ||
		om.Dead != 1 || om.Pending != 0 || om.LastSuccess.IsZero() || m.LastSuccess.Sub(om.LastSuccess) > time.Second || !strings.Contains(om.LastError, "往来企业不存在") {
		t.Fatalf("from the file: %+v msfx %+v", off, om)
	}
	if len(off.Problems) != 2 || !strings.Contains(off.Problems[0], "agent not running") {
		t.Fatalf("problems from the file %q", off.Problems)
	}
}

// TestInspectorNeverCreatesTheQueue: inspecting a device that never ran
// leaves no file behind (it would belong to the operator, not the agent).
func TestInspectorNeverCreatesTheQueue(t *testing.T) {
	cfg, err := configs.LoadBytes("test", nil, []string{"PDA_DEVICE_ID=IN1", "PDA_DATA_DIR=" + t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenInspector(cfg, InspectOptions{}); err == nil || !strings.Contains(err.Error(), "has the agent run") {
		t.Fatalf("got %v", err)
	}
	if _, err := OpenInspector(cfg, InspectOptions{}); err == nil {
		t.Fatal("the first inspection created the queue file")
	}
}

// TestDiagnoseFailingUpload: while 码上放心 is unreachable a sale's
// delivery fails and is retried; diagnose and status say so, with the
// error, and both clear once the platform is back.
func TestDiagnoseFailingUpload(t *testing.T) {
	d := runStoreDay(t)
	if err := d.gw.SetDown(true); err != nil {
		t.Fatal(err)
	}
	const code = "81012350000000400004"
	scan(t, d.a, "till", "PDA:SALE", device.StatusCommand)
	scan(t, d.a, "till", code, device.StatusAccepted)
	sale := finish(t, d.a, "till")
	deadline := time.Now().Add(waitForever)
	for {
		v, err := d.a.Bill(sale)
		if err != nil {
			t.Fatal(err)
		}
		if dl := v.Deliveries; len(dl) == 1 && dl[0].State == queue.DeliveryPending && dl[0].LastError != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed attempt: %+v", v.Deliveries)
		}
		time.Sleep(20 * time.Millisecond)
	}
	diag, err := d.a.Diagnose(context.Background(), code, true)
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "verdict", diag.Verdict, "sold in bill "+sale, "码上放心 upload failing since ", "attempt(s), last at ", "because 【")
	if !diag.Platform.Asked || diag.Platform.Error == "" {
		t.Errorf("platform while unreachable: %+v", diag.Platform)
	}
	contains(t, "verdict", diag.Verdict, "码上放心 could not be asked: ")
	st, err := d.a.Status()
	if err != nil {
		t.Fatal(err)
	}
	m := st.Destinations["msfx"]
	if m.Pending != 1 || m.Failing != 1 || m.OldestPendingAge == "" || m.LastErrorAt.IsZero() || m.FailingSince.IsZero() || m.FailingSince.After(m.LastErrorAt) {
		t.Fatalf("msfx while unreachable: %+v", m)
	}
	contains(t, "problems", fmt.Sprint(st.Problems), "msfx: 1 deliveries failing since ")

	if err := d.gw.SetDown(false); err != nil {
		t.Fatal(err)
	}
	waitDelivery(t, d.a, sale, queue.DeliveryDone)
	diag, err = d.a.Diagnose(context.Background(), code, false)
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "verdict", diag.Verdict, "uploaded to 码上放心 at ")
}
