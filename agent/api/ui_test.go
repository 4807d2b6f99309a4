package api

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/pda-agent/pda-agent/upload/msfx/sandbox"
)

const chromiumPath = "/usr/bin/chromium"

// pageFeedback is what the page's feedback box shows.
type pageFeedback struct {
	Class   string `json:"class"`
	Verdict string `json:"verdict"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

const readFeedback = `({class: document.getElementById('feedback').className,
	verdict: document.getElementById('fb-verdict').textContent,
	code: document.getElementById('fb-code').textContent,
	message: document.getElementById('fb-message').textContent})`

// TestClerkPage drives the embedded page in headless Chromium: it logs in,
// opens a sale with the page's button, watches scans injected through the
// API arrive over the event stream, scans through the page's own box, and
// runs a receiving against the sandbox's supplier bill.
func TestClerkPage(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("%s not found: run scripts/install-chromium.sh (as root) for the browser test", chromiumPath)
	}
	partners := filepath.Join(t.TempDir(), "partners.csv")
	if err := os.WriteFile(partners, []byte("ent_id,name,license_no\n"+sandbox.DefaultSupplierEntID+","+sandbox.DefaultSupplierName+",苏AA0250001\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := start(t, envOpts{msfx: true, env: []string{"PDA_CATALOGUE_PARTNERS=" + partners}})

	// Everything the browser does is bounded (3 minutes); a PDA's narrow
	// screen.
	ctx := startBrowser(t, 480, 900)

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// waitFor polls a JavaScript predicate (a function of args).
	waitFor := func(what, fn string, args ...any) {
		t.Helper()
		do(what, chromedp.PollFunction[chromedp.Void](fn, chromedp.WithPollingArgs(args...),
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second)))
	}
	feedback := func() pageFeedback {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		fb, err := chromedp.Run(sctx, chromedp.Evaluate[pageFeedback](readFeedback))
		if err != nil {
			t.Fatalf("reading the feedback box: %v", err)
		}
		return fb
	}
	// expectScan waits for the feedback box to show a scan's result.
	expectScan := func(status, code, verdict, message string) {
		t.Helper()
		waitFor("feedback "+status+" for "+code, `(cls, code) => {
			const f = document.getElementById('feedback');
			return f.classList.contains(cls) && document.getElementById('fb-code').textContent === code;
		}`, "st-"+status, code)
		fb := feedback()
		if fb.Class != "feedback st-"+status || !strings.HasPrefix(fb.Verdict, verdict) || fb.Code != code || !strings.Contains(fb.Message, message) {
			t.Fatalf("feedback %+v, want %s %q %q", fb, status, verdict, message)
		}
	}

	// Log in through the link `pda-agent ui` prints; the event stream
	// connects with the cookie.
	do("login", chromedp.Navigate(e.srv.LoginURL()))
	waitFor("the live badge", `() => document.getElementById('live').classList.contains('on')`)
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || loc != e.base+"/" {
		t.Fatalf("after login the page is at %q (%v)", loc, err)
	}

	// 开始销售 from the page: a cookie POST from the page's own origin.
	do("开始销售", chromedp.Click(chromedp.ID("btn-sale")))
	waitFor("the open sale", `() => document.getElementById('bill').textContent.includes('使用出库')`)

	// Scans injected by the POS show up through the event stream.
	e.scan("counter", codeA, "accepted")
	expectScan("accepted", codeA, "已接收", "")
	e.scan("counter", codeA, "duplicate")
	expectScan("duplicate", codeA, "重复", "")
	e.scan("counter", barcode, "rejected")
	expectScan("rejected", barcode, "拒绝", "商品条码")

	// A keyboard-wedge scanner types into the scan box and ends with Enter.
	do("typing a scan", chromedp.SendKeys(chromedp.ID("scan"), codeB+kb.Enter))
	expectScan("accepted", codeB, "已接收", "")
	waitFor("the bill's codes", `() => document.querySelectorAll('#items li').length === 2`)
	waitFor("the scan log", `() => document.querySelectorAll('#log li').length === 4`)
	classes, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#log li')].map(li => li.className)`))
	if err != nil || strings.Join(classes, " ") != "st-accepted st-rejected st-duplicate st-accepted" {
		t.Fatalf("scan log classes %v (%v)", classes, err)
	}
	waitFor("the queue panel", `() => document.getElementById('dests').textContent.includes('码上放心')`)
	shot(t, ctx, "")

	// 完成 from the page.
	do("完成", chromedp.Click(chromedp.ID("btn-finish")))
	waitFor("the finished sale", `() => document.getElementById('fb-verdict').textContent.startsWith('已完成')`)
	if fb := feedback(); fb.Class != "feedback st-command" {
		t.Fatalf("after 完成: %+v", fb)
	}
	waitFor("no open bill", `() => document.getElementById('bill').textContent === '无打开的单据'`)

	// Receiving against the supplier's bill, on a counter PC's screen.
	do("a wide screen", chromedp.EmulateViewport(1280, 900))
	do("session dock", chromedp.SetValue(chromedp.ID("session"), "dock"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('session').dispatchEvent(new Event('change'))`))
	do("looking up the box", chromedp.SendKeys(chromedp.ID("up-code"), sandbox.DefaultBoxCode+kb.Enter))
	waitFor("the supplier's bill", `(code) => document.getElementById('up-list').textContent.includes(code)`, sandbox.DefaultUpBill1)
	do("开始收货", chromedp.Click(chromedp.ID("btn-recv-start")))
	waitFor("expected packs", `() => !document.getElementById('expected').hidden && document.getElementById('exp-expected').textContent === '18'`)
	e.scan("dock", sandbox.DefaultCaseChild, "accepted")
	e.scan("dock", codeC, "accepted")
	waitFor("scanned, missing and extra", `(code) => document.getElementById('exp-scanned').textContent === '1' &&
		document.querySelectorAll('#exp-missing li').length === 17 && document.getElementById('exp-extra').textContent.includes(code)`, codeC)
	do("确认入库", chromedp.Click(chromedp.ID("btn-confirm-all")))
	waitFor("the confirmation", `() => document.getElementById('confirm-result').textContent.includes('已确认 17 盒') &&
		document.getElementById('exp-scanned').textContent === '18'`)
	shot(t, ctx, "-receiving")

	// Manual receiving from another session: the supplier is picked from
	// the partner list the agent holds.
	do("session back", chromedp.SetValue(chromedp.ID("session"), "back"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('session').dispatchEvent(new Event('change'))`))
	do("开始收货 (manual)", chromedp.Click(chromedp.ID("btn-receive")))
	waitFor("the partner list", `(ent) => document.getElementById('partner-dialog').open &&
		[...document.getElementById('partner-select').options].some(o => o.value === ent)`, sandbox.DefaultSupplierEntID)
	do("picking the supplier", chromedp.SetValue(chromedp.ID("partner-select"), sandbox.DefaultSupplierEntID),
		chromedp.Click(`#partner-dialog button[value=ok]`))
	waitFor("the manual receiving", `(name) => document.getElementById('bill').textContent.includes('采购入库') &&
		document.getElementById('bill').textContent.includes(name)`, sandbox.DefaultSupplierName)
}

// shot writes a full-page screenshot to $PDA_UI_SCREENSHOT (with suffix
// before the extension) or into the test's temp dir, and logs the path.
func shot(t *testing.T, ctx context.Context, suffix string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := os.Getenv("PDA_UI_SCREENSHOT")
	if path == "" {
		path = filepath.Join(t.TempDir(), "clerk-page.png")
	}
	ext := filepath.Ext(path)
	path = strings.TrimSuffix(path, ext) + suffix + ext
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	t.Logf("screenshot of the clerk page: %s", path)
}
