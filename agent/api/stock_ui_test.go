package api

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/msfx/sandbox"
)

// codeNew is an amoxicillin box this store never received (盘盈 when counted).
const codeNew = "81012350000000999991"

// stockShot writes the whole page at 360 px wide, scrolled to sel, to
// $PDA_UI_STOCK_SCREENSHOT (with -name before the extension) or into the
// test's temp dir, and logs the path.
func stockShot(t *testing.T, ctx context.Context, sel, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(sctx, chromedp.Evaluate[chromedp.Void](`document.querySelector('`+sel+`').scrollIntoView({block: 'start'})`)); err != nil {
		t.Fatalf("scrolling to %s: %v", sel, err)
	}
	shot, err := chromedp.Run(sctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := os.Getenv("PDA_UI_STOCK_SCREENSHOT")
	if path == "" {
		path = filepath.Join(t.TempDir(), "stock-360.png")
	}
	ext := filepath.Ext(path)
	path = strings.TrimSuffix(path, ext) + "-" + name + ext
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot at 360×640: %s", path)
}

// TestStockTakePage drives 盘点 and 库存变更 on the clerk page in headless
// Chromium at 360×640: a count with the packs typed by a keyboard-wedge
// gun shows its 盘盈 and what is not found yet, 完成 shows the 盘亏, one
// tap books it as a 盘亏出库 bill with the picked reason, and a 销毁出库
// opened from the change dialog takes its reason and a scanned pack.
func TestStockTakePage(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("%s not found: run scripts/install-chromium.sh (as root) for the browser test", chromiumPath)
	}
	e := start(t, envOpts{})
	e.ok("POST", "/v1/sessions", map[string]string{"session": "in", "kind": "receive"}, nil)
	for _, c := range []string{codeA, codeC, codeB} {
		e.scan("in", c, "accepted")
	}
	e.ok("POST", "/v1/sessions/in/finish", nil, nil)

	ph := newPhone(t)
	ph.login(e)
	if ph.text(`String(document.getElementById('stk').hidden)`) != "true" {
		t.Fatal("the stock-take view shows without a count")
	}
	if h := ph.text(`document.getElementById('to-compliance').getAttribute('href')`); h != "/ui/compliance.html" {
		t.Errorf("compliance link %q", h)
	}
	ph.do("开始盘点", chromedp.Click(chromedp.ID("btn-stocktake")))
	ph.waitFor("the open count", `() => document.getElementById('stk-head').textContent.startsWith('盘点中')`)
	ph.gun(codeA)
	ph.gun(codeNew)
	ph.waitFor("the count's figures", `() => document.getElementById('stk-head').textContent.includes('已盘 2 盒 · 盘盈 1 · 未找到 1')`)
	if g := ph.text(`document.getElementById('stk-gains').textContent`); !strings.Contains(g, codeNew) || strings.Contains(g, codeA) {
		t.Fatalf("盘盈 list %q", g)
	}
	// codeB is another product: outside the count's scope.
	if s := ph.text(`document.getElementById('stk-short').textContent`); !strings.Contains(s, codeC) || strings.Contains(s, codeB) || !strings.Contains(s, "采购入库") {
		t.Fatalf("not-found list %q", s)
	}
	ph.noOverflow("counting")

	ph.do("完成", chromedp.Click(chromedp.ID("btn-finish")))
	ph.waitFor("the finished count", `() => document.getElementById('stk-head').textContent.startsWith('盘点完成') && !document.getElementById('stk-book').hidden`)
	if h := ph.text(`document.getElementById('stk-head').textContent`); !strings.Contains(h, "盘盈 1 · 盘亏 1") {
		t.Fatalf("finished head %q", h)
	}
	if v := ph.text(`document.getElementById('fb-verdict').textContent`); !strings.Contains(v, "盘亏 1 盒") {
		t.Errorf("finish verdict %q", v)
	}
	if s := ph.text(`document.getElementById('stk-short').textContent`); !strings.Contains(s, codeC) {
		t.Fatalf("盘亏 list %q", s)
	}
	ph.noOverflow("with the 盘亏 list")
	stockShot(t, ph.ctx, "#stk", "stocktake")

	ph.do("登记盘亏", chromedp.SetValue(chromedp.ID("stk-reason"), "not_found"), chromedp.Click(chromedp.ID("btn-book")))
	ph.waitFor("the booking", `() => document.getElementById('stk-booked').textContent.startsWith('已登记盘亏') && document.getElementById('stk-book').hidden`)
	var bills []queue.Bill
	var st queue.Bill
	var sf agent.Shortfall
	e.ok("GET", "/v1/bills?limit=10", nil, &bills)
	for _, b := range bills {
		if b.Type == 901 {
			st = b
		}
	}
	e.ok("GET", "/v1/stocktakes/"+st.Code+"/shortfall", nil, &sf)
	if len(sf.Packs) != 0 || len(sf.Booked) != 1 {
		t.Fatalf("shortfall after booking on the page: %+v", sf)
	}
	var loss agent.BillView
	e.ok("GET", "/v1/bills/"+sf.Booked[0], nil, &loss)
	if loss.Bill.Type != 214 || loss.Bill.Attrs["stock.reason"] != "盘点未找到" || len(loss.Items) != 1 || loss.Items[0].Code != codeC {
		t.Fatalf("盘亏 bill %+v", loss)
	}
	if b := ph.text(`document.getElementById('stk-booked').textContent`); !strings.Contains(b, loss.Bill.Code) {
		t.Errorf("booked shown as %q", b)
	}

	// 库存变更: 销毁出库 with its reason, a pack scanned, 完成.
	ph.do("库存变更", chromedp.Click(chromedp.ID("btn-change")))
	ph.waitFor("the change dialog", `() => document.getElementById('change-dialog').open`)
	ph.noOverflow("with the change dialog")
	ph.do("销毁", chromedp.SetValue(chromedp.ID("change-kind"), "destroy"), chromedp.SetValue(chromedp.ID("change-reason"), "expired"),
		chromedp.Click(chromedp.ID("change-ok")))
	ph.waitFor("the destruction open", `() => document.getElementById('bill').textContent.includes('销毁出库')`)
	ph.gun(codeB)
	ph.do("完成", chromedp.Click(chromedp.ID("btn-finish")))
	ph.waitFor("the destruction finished", `() => document.getElementById('bill').textContent === '无打开的单据'`)
	e.ok("GET", "/v1/bills?limit=10", nil, &bills)
	i := slices.IndexFunc(bills, func(b queue.Bill) bool { return b.Type == 205 })
	if i < 0 || bills[i].Attrs["stock.reason"] != "过期销毁" || bills[i].Items != 1 {
		t.Fatalf("destruction bill: %+v", bills)
	}
	ph.noOverflow("after the change")
}

// TestReconcilePage: 立即对账 on the clerk page finds the sale the
// 码上放心 sandbox lost, shows it in Chinese as 平台缺失 with 一键重发, and
// the button queues the bill again, which reaches the sandbox.
func TestReconcilePage(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("%s not found: run scripts/install-chromium.sh (as root) for the browser test", chromiumPath)
	}
	e := start(t, envOpts{msfx: true, env: []string{"PDA_RECONCILE_RATE=10"}})
	e.ok("POST", "/v1/sessions", map[string]any{"session": "till1", "kind": "sale"}, nil)
	e.scan("till1", codeA, "accepted")
	var sale queue.Bill
	e.ok("POST", "/v1/sessions/till1/finish", map[string]any{}, &sale)
	delivered := func() bool {
		var bv agent.BillView
		e.ok("GET", "/v1/bills/"+sale.Code, nil, &bv)
		return len(bv.Deliveries) == 1 && bv.Deliveries[0].State == queue.DeliveryDone
	}
	eventually(t, 20*time.Second, "the sale delivered", delivered)
	if !e.gw.LoseBill(sandbox.DefaultStoreRefEntID, sale.Code) {
		t.Fatal("LoseBill")
	}

	ph := newPhone(t)
	ph.login(e)
	ph.waitFor("no runs yet", `() => document.getElementById('recon-runs').textContent === '还没有对账记录'`)
	ph.do("立即对账", chromedp.Click(chromedp.ID("btn-reconcile")))
	ph.waitFor("the finding", `(bill) => [...document.querySelectorAll('#recon-findings li')].some((li) =>
		li.textContent.includes(bill) && li.textContent.includes('平台缺失') && li.textContent.includes('码上放心') && li.querySelector('button'))`, sale.Code)
	if r := ph.text(`document.getElementById('recon-runs').textContent`); !strings.Contains(r, "码上放心") || !strings.Contains(r, "差异 1") {
		t.Errorf("runs shown as %q", r)
	}
	if f := ph.text(`document.getElementById('recon-findings').textContent`); strings.Contains(f, "missing_on_platform") || !strings.Contains(f, "平台上没有这张单") {
		t.Errorf("finding shown as %q", f)
	}
	ph.noOverflow("with a finding")
	stockShot(t, ph.ctx, "#recon", "reconcile")

	ph.do("一键重发", chromedp.Click(`#recon-findings li button`))
	ph.waitFor("the resend", `(bill) => document.getElementById('fb-verdict').textContent.includes('已重新排队上传 ' + bill)`, sale.Code)
	eventually(t, 20*time.Second, "the resent sale on 码上放心", func() bool {
		_, ok := e.gw.Bill(sandbox.DefaultStoreRefEntID, sale.Code)
		return ok
	})
}
