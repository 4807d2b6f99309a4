package agent

import (
	"context"
	"io"
	"log/slog"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/msfx/sandbox"
)

// TestMsfxComplianceScriptedMonth runs a month of a store against the
// 码上放心 sandbox: five supplier bills in the 30-day window (one older is
// outside), two received, one receiving refused by the platform. The
// 验证率 must be the hand-computed 5/9; the official key-variety list
// fetched between the two receivings makes the second one's unscanned
// ibuprofen a key-variety gap but not the first's; the service end date
// 20 days away raises the alarm; a supplier bill changed after receipt is
// a compliance item and shows in diagnose.
func TestMsfxComplianceScriptedMonth(t *testing.T) {
	now := time.Now()
	world := sandbox.DefaultWorldAt(now)
	ago := func(days int) time.Time { return now.AddDate(0, 0, -days) }
	ibu := func(n int) string { return sandbox.MakeCode(sandbox.ProductIbuprofen, n) }
	lic := func(n int) string { return sandbox.MakeCode(sandbox.ProductLicorice, n) }
	for _, b := range []sandbox.UpstreamBill{
		{BillCode: "M1", BillType: 201, BillTime: ago(20), Codes: []string{ibu(2101), ibu(2102), lic(4101)}},
		{BillCode: "M2", BillType: 201, BillTime: ago(25), Codes: []string{lic(4201), lic(4202)}},
		{BillCode: "OLD", BillType: 201, BillTime: ago(40), Codes: []string{lic(4301)}},
	} {
		b.FromRefEntID, b.ToRefEntID = sandbox.DefaultSupplierRefEntID, sandbox.DefaultStoreRefEntID
		if err := world.AddUpstreamBill(b); err != nil {
			t.Fatal(err)
		}
	}
	gw, err := sandbox.Start("127.0.0.1:0", sandbox.Options{World: world, ProcessAfter: sandbox.ProcessAtOnce,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	files, err := gw.ServeFiles("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { files.Close() })
	gw.SetServiceEnd(sandbox.DefaultStoreRefEntID, now.AddDate(0, 0, 20).In(chinaTime).Format(time.DateOnly)+" 23:59:59")
	gw.SetWESLicense(sandbox.DefaultStoreRefEntID, "LIC-1")

	cfg, err := configs.LoadBytes("test", nil, []string{"PDA_DEVICE_ID=CM1", "PDA_DATA_DIR=" + t.TempDir(),
		"PDA_FEEDBACK_LOG=false", "PDA_MSFX_ENABLED=true", "PDA_MSFX_GATEWAY=" + gw.URL(),
		"PDA_MSFX_APP_KEY=" + sandbox.DefaultStoreAppKey, "PDA_MSFX_APP_SECRET=" + sandbox.DefaultStoreSecret,
		"PDA_MSFX_REF_ENT_ID=" + sandbox.DefaultStoreRefEntID, "PDA_MSFX_ENT_ID=" + sandbox.DefaultStoreEntID,
		"PDA_MSFX_RATE=0", "PDA_MSFX_POLL_INTERVAL=1s", "PDA_UPLOAD_INITIAL_BACKOFF=100ms", "PDA_UPLOAD_MAX_BACKOFF=1s",
		// Refreshed by hand below, so that the script decides when.
		"PDA_MSFX_COMPLIANCE_REFRESH=0s", "PDA_MSFX_COMPLIANCE_WES_LICENSE=LIC-1"})
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
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
			a.Close()
		}
	}
	t.Cleanup(stop)

	supplier := UpstreamRef{BillType: 201, FromRef: sandbox.DefaultSupplierRefEntID, FromEntID: sandbox.DefaultSupplierEntID}
	receive := func(bill string, codes ...string) string {
		t.Helper()
		u := supplier
		u.BillCode = bill
		if _, err := a.StartReceiving(ctx, ReceiveRequest{Session: "dock", Upstream: []UpstreamRef{u}}); err != nil {
			t.Fatalf("receiving %s: %v", bill, err)
		}
		for _, c := range codes {
			scan(t, a, "dock", c, device.StatusAccepted)
		}
		code := finish(t, a, "dock")
		waitDelivery(t, a, code, queue.DeliveryDone)
		return code
	}
	gapOf := func(c Compliance, bill string) []string {
		for _, g := range c.KeyVarietyGaps {
			if g.Bill == bill {
				return g.Missing
			}
		}
		return nil
	}

	// Before the official list: ibuprofen is no key variety here.
	recvM1 := receive("M1", lic(4101))
	gw.SetKeyVarieties([]sandbox.KeyVariety{{Key: sandbox.ProductIbuprofen, Name: "布洛芬缓释胶囊"}})
	if err := a.RefreshMsfxCompliance(ctx); err != nil {
		t.Fatal(err)
	}
	recvB1 := receive(sandbox.DefaultUpBill1, sandbox.MakeCode(sandbox.ProductAmoxicillin, 1001), sandbox.MakeCode(sandbox.ProductAmoxicillin, 1002),
		sandbox.MakeCode(sandbox.ProductAmoxicillin, 1003), sandbox.MakeCode(sandbox.ProductAmoxicillin, 1004),
		sandbox.MakeCode(sandbox.ProductAmoxicillin, 1005), sandbox.DefaultCaseCode)
	c, err := a.Compliance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := gapOf(c, recvB1); !slices.Equal(got, []string{ibu(2001), ibu(2002), ibu(2003)}) {
		t.Errorf("after the official list, receiving %s misses key varieties %v, want the 3 ibuprofen boxes", recvB1, got)
	}
	if got := gapOf(c, recvM1); got != nil {
		t.Errorf("receiving %s, made before the list, has key-variety gaps %v", recvM1, got)
	}
	if c.KeyVarietyList == nil || c.KeyVarietyList.Products != 1 || c.KeyVarietyList.Version == "" {
		t.Errorf("key-variety list %+v", c.KeyVarietyList)
	}

	// The rest of the month: a sale delivered, a receiving refused.
	scan(t, a, "till", "PDA:SALE", device.StatusCommand)
	scan(t, a, "till", sandbox.MakeCode(sandbox.ProductAmoxicillin, 1001), device.StatusAccepted)
	waitDelivery(t, a, finish(t, a, "till"), queue.DeliveryDone)
	scan(t, a, "dock", "PDA:RECEIVE:"+unknownEnt, device.StatusCommand)
	scan(t, a, "dock", deadCode, device.StatusAccepted)
	dead := finish(t, a, "dock")
	waitDelivery(t, a, dead, queue.DeliveryDead)
	// The supplier changes M1 after the store received it.
	if err := gw.ChangeUpstreamBill(sandbox.DefaultSupplierRefEntID, "M1", []string{ibu(2101), lic(4101), lic(4102)}, now); err != nil {
		t.Fatal(err)
	}
	if err := a.RefreshMsfxCompliance(ctx); err != nil {
		t.Fatal(err)
	}
	c, err = a.Compliance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ComplianceErrors) != 0 {
		t.Errorf("compliance errors %v", c.ComplianceErrors)
	}
	// By hand: upstream in the window XSCK0000001, XSCK0000002,
	// DBCK0000001, M1, M2 = 5, received XSCK0000001 and M1 = 2; own bills
	// two receivings, the sale and the refused receiving = 4, delivered 3.
	// Pooled: (2+3)/(5+4) = 5/9. The platform counts 5 upstream and the 3
	// accepted uploads, so its rate is (2+3)/(5+4) as well.
	r := c.VerificationRate
	if r == nil {
		t.Fatal("no verification_rate")
	}
	if r.UpstreamBills != 5 || r.UpstreamReceived != 2 || r.OwnBills != 4 || r.OwnDelivered != 3 || math.Abs(r.Rate-5.0/9) > 1e-9 {
		t.Errorf("验证率 %+v, want 2/5 upstream, 3/4 own, rate 5/9", *r)
	}
	if r.PlatformUpstream == nil || *r.PlatformUpstream != 5 || r.PlatformOwn == nil || *r.PlatformOwn != 3 ||
		r.PlatformRate == nil || math.Abs(*r.PlatformRate-5.0/9) > 1e-9 {
		t.Errorf("platform counts %v %v rate %v", r.PlatformUpstream, r.PlatformOwn, r.PlatformRate)
	}
	var down []string
	for _, b := range r.PullingDown {
		down = append(down, b.Kind+":"+b.BillCode)
	}
	slices.Sort(down)
	want := []string{"own_not_delivered:" + dead, "upstream_not_received:" + sandbox.DefaultUpBill3,
		"upstream_not_received:" + sandbox.DefaultUpBill2, "upstream_not_received:M2"}
	slices.Sort(want)
	if !slices.Equal(down, want) {
		t.Errorf("pulling down %v, want %v", down, want)
	}
	if c.Service == nil || c.Service.DaysLeft != 20 || !c.Service.Alarm {
		t.Errorf("service %+v, want 20 days left and the alarm", c.Service)
	}
	if len(c.ChangedUpstream) != 1 {
		t.Fatalf("changed upstream %+v", c.ChangedUpstream)
	}
	ch := c.ChangedUpstream[0]
	if ch.BillCode != "M1" || ch.ReceivedIn != recvM1 || !slices.Equal(ch.Added, []string{lic(4102)}) || !slices.Equal(ch.Removed, []string{ibu(2102)}) {
		t.Errorf("changed upstream %+v", ch)
	}
	st, err := a.Status()
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, al := range st.Alarms {
		kinds = append(kinds, al.Kind)
	}
	if !slices.Contains(kinds, "msfx_service") || !slices.Contains(kinds, "msfx_upstream_changed") || st.Msfx == nil || st.Msfx.VerificationRate == nil {
		t.Errorf("status alarms %v, msfx %+v", kinds, st.Msfx)
	}
	d, err := a.Diagnose(ctx, lic(4101), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.UpstreamChanged) != 1 || d.UpstreamChanged[0].BillCode != "M1" {
		t.Errorf("diagnose of a pack of M1: upstream_changed %+v", d.UpstreamChanged)
	}
	// The figures outlive the agent: a stopped agent's status and diagnose
	// read them from the queue file, and a restarted one — never refreshed
	// (msfx.compliance.refresh 0) — still merges the official list into
	// receiving.
	stop()
	in, err := OpenInspector(cfg, InspectOptions{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ist, err := in.Status()
	if err != nil {
		t.Fatal(err)
	}
	kinds = nil
	for _, al := range ist.Alarms {
		kinds = append(kinds, al.Kind)
	}
	if ist.Msfx == nil || ist.Msfx.VerificationRate == nil || math.Abs(ist.Msfx.VerificationRate.Rate-5.0/9) > 1e-9 ||
		ist.Msfx.Service == nil || ist.Msfx.Service.DaysLeft != 20 || !slices.Contains(kinds, "msfx_upstream_changed") {
		t.Errorf("stopped agent's status: msfx %+v alarms %v", ist.Msfx, kinds)
	}
	idg, err := in.Diagnose(ctx, lic(4101), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(idg.UpstreamChanged) != 1 || idg.UpstreamChanged[0].BillCode != "M1" {
		t.Errorf("stopped agent's diagnose: upstream_changed %+v", idg.UpstreamChanged)
	}
	in.Close()
	b, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c2, err := b.Compliance(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := gapOf(c2, recvB1); !slices.Equal(got, []string{ibu(2001), ibu(2002), ibu(2003)}) {
		t.Errorf("after a restart, receiving %s misses key varieties %v, want the 3 ibuprofen boxes", recvB1, got)
	}
	if c2.KeyVarietyList == nil || c2.KeyVarietyList.Version != c.KeyVarietyList.Version || len(c2.ChangedUpstream) != 1 ||
		c2.VerificationRate == nil || c2.VerificationRate.UpstreamBills != 5 {
		t.Errorf("after a restart: list %+v changed %+v rate %+v", c2.KeyVarietyList, c2.ChangedUpstream, c2.VerificationRate)
	}
	if !b.comp.isKeyVariety(sandbox.ProductIbuprofen) {
		t.Error("after a restart the official key variety is gone from receiving")
	}

}

func TestRateOf(t *testing.T) {
	for _, tc := range []struct {
		formula                      string
		inGot, inAll, outGot, outAll int
		want                         float64
	}{
		{"pooled", 2, 5, 3, 4, 5.0 / 9},
		{"mean", 2, 5, 3, 4, (0.4 + 0.75) / 2},
		{"mean", 0, 0, 1, 2, 0.5},
		{"pooled", 0, 0, 0, 0, 1},
	} {
		if got := rateOf(tc.formula, tc.inGot, tc.inAll, tc.outGot, tc.outAll); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%+v: %v", tc, got)
		}
	}

}
