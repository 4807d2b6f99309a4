package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/reconcile"
	nhsasb "github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

// nhsaReconcileAgent runs an agent delivering to the 医保 sandbox only,
// with 3513 and 3510 configured for reconciliation and
// queue.personal_retention as given.
func nhsaReconcileAgent(t *testing.T, retention string, skew *atomic.Int64) (*Agent, *nhsasb.Server, context.Context) {
	t.Helper()
	o := nhsasb.TestOptions(nhsasb.SchemeNone, nhsasb.EnvelopePlain)
	o.Logger = slog.New(slog.DiscardHandler)
	nh := nhsasb.New(o)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: nh, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	dir := t.TempDir()
	products := "key,name,med_list_codg,hilist_id,hilist_name,rx_flag,aprvno,maker,spec,units,key_variety\n" +
		"8101235,阿莫西林胶囊,XJ01CAA040A001010100395,A0001,阿莫西林胶囊,1,国药准字H00000001,沙箱药业,0.25g*24粒,24,否\n"
	if err := os.WriteFile(filepath.Join(dir, "products.csv"), []byte(products), 0o600); err != nil {
		t.Fatal(err)
	}
	partners := "ent_id,name,license_no\n5069452c34b94a778abaa26c2b40b305,国药控股青岛有限公司,苏AA0250001\n"
	if err := os.WriteFile(filepath.Join(dir, "partners.csv"), []byte(partners), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`device: {id: RC1}
data_dir: %[1]s
upload: {lease: 5s, initial_backoff: 50ms, max_backoff: 500ms}
catalogue: {products: %[1]s/products.csv, partners: %[1]s/partners.csv}
queue: {personal_retention: %[3]s}
reconcile: {enabled: true, quiet_hours: "01:00-05:00", lookback: 48h, rate: 10}
nhsa:
  enabled: true
  rate: 0
  env: test
  test:
    url: %[2]s
    recer_sys_code: %[4]s
  fixmedins_code: %[5]s
  fixmedins_name: %[6]s
  mdtrtarea_admvs: "%[7]s"
  opter: RC1
  opter_name: 张药师
  phar_name: 李药师
  phar_prac_cert_no: "0000000001"
  query: {trace: "3513", purchase: "3510", sale: "3511", stock_take: "3508", stock_change: "3509"}
  bill_types: [102, 202, 321, 116, 901, 205]
  stock_change_types: {"205": "T205"}
`, dir, "http://"+ln.Addr().String()+nhsasb.DefaultPath, retention, nhsasb.TestRecerSysCode, nhsasb.TestFixmedinsCode,
		nhsasb.TestFixmedinsName, nhsasb.TestAdmdvs)
	cfg, err := configs.LoadBytes("test", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test",
		Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; a.Close() })
	return a, nh, ctx
}

// nhsaSale finishes a 医保 sale of the codes with the buyer's personal
// fields and waits until 医保 has it.
func nhsaSale(t *testing.T, a *Agent, ctx context.Context, codes ...string) queue.Bill {
	t.Helper()
	scan(t, a, "till", "PDA:SALE", device.StatusCommand)
	scan(t, a, "till", "PDA:LOT:B0001:2025-06-01:2027-05-31", device.StatusCommand)
	for _, c := range codes {
		scan(t, a, "till", c, device.StatusAccepted)
	}
	b, err := a.Finish(ctx, "till", map[string]string{"nhsa.mdtrt_sn": "MD-1", "nhsa.setl_id": "SE-1", "nhsa.psn_no": "PSN001",
		"nhsa.psn_cert_type": "01", "nhsa.psn_name": "张三", "nhsa.hi_feesetl_type": "1", "nhsa.mdtrt_setl_type": "1",
		"nhsa.prsc_dr_name": "王医生", "nhsa.rx_circ_flag": "0"})
	if err != nil {
		t.Fatal(err)
	}
	waitDelivery(t, a, b.Code, queue.DeliveryDone)
	return b
}

// reconcileFindings runs a reconciliation of every back end at once and
// returns the open findings of 医保.
func reconcileFindings(t *testing.T, a *Agent, ctx context.Context) []ReconcileFinding {
	t.Helper()
	if !a.reconcileAll(ctx, ReconcileRequest{}) {
		v, _ := a.Reconciliation(1)
		t.Fatalf("reconciliation failed: %+v", v.Failures)
	}
	v, err := a.Reconciliation(0)
	if err != nil {
		t.Fatal(err)
	}
	return v.Open
}

// TestNHSAResendAfterRetention: 医保 loses a sale behind the agent's
// back; reconciliation finds it; with queue.personal_retention the sale
// still has its (sealed) personal fields, the one-click resend repairs it,
// the next reconciliation finds it present and the personal data then goes
// once the lookback passed. With retention 0 the resend is refused
// (ErrPersonalErased), as before.
func TestNHSAResendAfterRetention(t *testing.T) {
	code := func(n int) string { return fmt.Sprintf("8101235%013d", 770000+n) }
	t.Run("kept", func(t *testing.T) {
		var skew atomic.Int64
		a, nh, ctx := nhsaReconcileAgent(t, "720h", &skew)
		sale := nhsaSale(t, a, ctx, code(1))
		kept, err := a.Store().BillByCode(sale.Code)
		if err != nil || kept.Attrs["nhsa.psn_name"] != "张三" || !kept.PersonalErased.IsZero() {
			t.Fatalf("delivered sale under retention: %+v %v", kept.Attrs, err)
		}
		rows := nh.Rows()
		if len(rows) != 1 || !nh.LoseRow(rows[0].Bchno) {
			t.Fatalf("sandbox rows %+v", rows)
		}
		open := reconcileFindings(t, a, ctx)
		if len(open) != 1 || open[0].Kind != reconcile.Missing || open[0].Bill != sale.Code || !open[0].Resendable {
			t.Fatalf("findings %+v", open)
		}
		if _, err := a.ResendFinding(ctx, open[0].ID); err != nil {
			t.Fatalf("resend: %v", err)
		}
		waitDelivery(t, a, sale.Code, queue.DeliveryDone)
		if open := reconcileFindings(t, a, ctx); len(open) != 0 {
			t.Fatalf("after the resend: %+v", open)
		}
		b, _ := a.Store().BillByCode(sale.Code)
		if b.Reconciled["nhsa"].IsZero() || b.Attrs["nhsa.psn_name"] == "" {
			t.Fatalf("after a clean reconciliation: reconciled %v, attrs %v", b.Reconciled, b.Attrs)
		}
		// Once the lookback has passed since the sale, the data goes.
		skew.Store(int64(49 * time.Hour))
		a.reconcileHousekeeping(ctx)
		if b, _ = a.Store().BillByCode(sale.Code); b.PersonalErased.IsZero() || b.Attrs["nhsa.psn_name"] != "" {
			t.Fatalf("personal data still kept after the lookback: %v", b.Attrs)
		}
	})
	t.Run("erased", func(t *testing.T) {
		a, nh, ctx := nhsaReconcileAgent(t, "0s", new(atomic.Int64))
		sale := nhsaSale(t, a, ctx, code(2))
		rows := nh.Rows()
		if len(rows) != 1 || !nh.LoseRow(rows[0].Bchno) {
			t.Fatalf("sandbox rows %+v", rows)
		}
		open := reconcileFindings(t, a, ctx)
		if len(open) != 1 || open[0].Bill != sale.Code || open[0].Resendable {
			t.Fatalf("findings %+v", open)
		}
		if _, err := a.ResendFinding(ctx, open[0].ID); !errors.Is(err, ErrPersonalErased) {
			t.Fatalf("resend of an erased sale: %v", err)
		}
	})
}

// TestNHSAReconcileReceiving: a receiving reaches 医保 (3503); 3510 finds
// its row; once the sandbox loses it, the reconciliation reports it
// missing and the resend puts it back.
func TestNHSAReconcileReceiving(t *testing.T) {
	var skew atomic.Int64
	a, nh, ctx := nhsaReconcileAgent(t, "0s", &skew)
	scan(t, a, "dock", "PDA:RECEIVE:5069452c34b94a778abaa26c2b40b305", device.StatusCommand)
	scan(t, a, "dock", "PDA:LOT:B0001:2025-06-01:2027-05-31", device.StatusCommand)
	scan(t, a, "dock", fmt.Sprintf("8101235%013d", 660001), device.StatusAccepted)
	b, err := a.Finish(ctx, "dock", map[string]string{"nhsa.dynt_no": "SH-1", "nhsa.purc_invo_no": "INV-1"})
	if err != nil {
		t.Fatal(err)
	}
	waitDelivery(t, a, b.Code, queue.DeliveryDone)
	if open := reconcileFindings(t, a, ctx); len(open) != 0 {
		t.Fatalf("findings for a receiving 医保 holds: %+v", open)
	}
	v, _ := a.Reconciliation(1)
	if len(v.Runs) != 1 || v.Runs[0].Bills != 1 || v.Runs[0].Records != 1 {
		t.Fatalf("run %+v", v.Runs)
	}
	rows := nh.Rows()
	if len(rows) != 1 || rows[0].Infno != "3503" || !nh.LoseRow(rows[0].Bchno) {
		t.Fatalf("sandbox rows %+v", rows)
	}
	open := reconcileFindings(t, a, ctx)
	if len(open) != 1 || open[0].Kind != reconcile.Missing || open[0].Bill != b.Code || !open[0].Resendable {
		t.Fatalf("findings %+v", open)
	}
	if _, err := a.ResendFinding(ctx, open[0].ID); err != nil {
		t.Fatalf("resend: %v", err)
	}
	waitDelivery(t, a, b.Code, queue.DeliveryDone)
	if open := reconcileFindings(t, a, ctx); len(open) != 0 {
		t.Fatalf("after the resend: %+v", open)
	}

	// status has a line of it; reconcile.keep drops the older runs, never
	// a back end's latest.
	st, err := a.Status()
	if err != nil {
		t.Fatal(err)
	}
	if l := st.Reconcile["nhsa"]; l.Run != 3 || l.Bills != 1 || l.Findings != 0 {
		t.Errorf("status reconcile %+v", st.Reconcile)
	}
	if line := ReconcileStatusLine(st.Reconcile, time.Now()); !strings.Contains(line, "#3") || !strings.Contains(line, "as sent") {
		t.Errorf("status line %q", line)
	}
	skew.Store(int64(a.config().Reconcile.Keep + time.Hour))
	a.reconcileHousekeeping(ctx)
	if runs, _ := a.Store().ReconcileRuns(0); len(runs) != 1 || runs[0].Seq != 3 {
		t.Errorf("after reconcile.keep: %+v", runs)
	}
}

// TestNHSAReconcileSaleReturn: a sale return (3506) is asked for by 3511
// row by row; one the sandbox lost is reported missing.
func TestNHSAReconcileSaleReturn(t *testing.T) {
	a, nh, ctx := nhsaReconcileAgent(t, "0s", new(atomic.Int64))
	c := fmt.Sprintf("8101235%013d", 550001)
	sale := nhsaSale(t, a, ctx, c)
	scan(t, a, "till", "PDA:RETURN:"+sale.Code, device.StatusCommand)
	scan(t, a, "till", c, device.StatusAccepted)
	ret, err := a.Finish(ctx, "till", map[string]string{"nhsa.mdtrt_sn": "MD-1", "nhsa.setl_id": "SE-1", "nhsa.psn_no": "PSN001",
		"nhsa.psn_cert_type": "01", "nhsa.psn_name": "张三"})
	if err != nil {
		t.Fatal(err)
	}
	waitDelivery(t, a, ret.Code, queue.DeliveryDone)
	if open := reconcileFindings(t, a, ctx); len(open) != 0 {
		t.Fatalf("findings while 医保 holds both: %+v", open)
	}
	var retRow string
	for _, r := range nh.Rows() {
		if r.Infno == "3506" {
			retRow = r.Bchno
		}
	}
	if retRow == "" || !nh.LoseRow(retRow) {
		t.Fatalf("sandbox rows %+v", nh.Rows())
	}
	open := reconcileFindings(t, a, ctx)
	if len(open) != 1 || open[0].Kind != reconcile.Missing || open[0].Bill != ret.Code || open[0].Row != retRow {
		t.Fatalf("findings %+v", open)
	}
}

// TestNHSAReconcileStockChange: a stock-change bill (205 销毁出库, 3502)
// is asked for by 3509 row by row; the row the sandbox lost is reported
// missing, and the one-click resend repairs it.
func TestNHSAReconcileStockChange(t *testing.T) {
	a, nh, ctx := nhsaReconcileAgent(t, "0s", new(atomic.Int64))
	c := fmt.Sprintf("8101235%013d", 770001)
	scan(t, a, "dock", "PDA:RECEIVE:5069452c34b94a778abaa26c2b40b305", device.StatusCommand)
	scan(t, a, "dock", "PDA:LOT:B0001:2025-06-01:2027-05-31", device.StatusCommand)
	scan(t, a, "dock", c, device.StatusAccepted)
	recv, err := a.Finish(ctx, "dock", map[string]string{"nhsa.dynt_no": "SH-1", "nhsa.purc_invo_no": "INV-1"})
	if err != nil {
		t.Fatal(err)
	}
	waitDelivery(t, a, recv.Code, queue.DeliveryDone)
	scan(t, a, "dock", "PDA:CHANGE:205:过期销毁", device.StatusCommand)
	scan(t, a, "dock", "PDA:LOT:B0001:2025-06-01:2027-05-31", device.StatusCommand)
	scan(t, a, "dock", c, device.StatusAccepted)
	chg, err := a.Finish(ctx, "dock", map[string]string{"nhsa.pric.8101235": "12.5"})
	if err != nil {
		t.Fatal(err)
	}
	waitDelivery(t, a, chg.Code, queue.DeliveryDone)
	if open := reconcileFindings(t, a, ctx); len(open) != 0 {
		t.Fatalf("findings while 医保 holds both: %+v", open)
	}
	if v, _ := a.Reconciliation(1); len(v.Runs) != 1 || v.Runs[0].Bills != 2 || v.Runs[0].Records != 2 {
		t.Fatalf("run %+v", v.Runs)
	}
	var chgRow string
	for _, r := range nh.Rows() {
		if r.Infno == "3502" {
			chgRow = r.Bchno
		}
	}
	if chgRow == "" || !nh.LoseRow(chgRow) {
		t.Fatalf("sandbox rows %+v", nh.Rows())
	}
	open := reconcileFindings(t, a, ctx)
	if len(open) != 1 || open[0].Kind != reconcile.Missing || open[0].Bill != chg.Code || open[0].Row != chgRow || !open[0].Resendable {
		t.Fatalf("findings %+v", open)
	}
	if _, err := a.ResendFinding(ctx, open[0].ID); err != nil {
		t.Fatalf("resend: %v", err)
	}
	waitDelivery(t, a, chg.Code, queue.DeliveryDone)
	if open := reconcileFindings(t, a, ctx); len(open) != 0 {
		t.Fatalf("after the resend: %+v", open)
	}
}
