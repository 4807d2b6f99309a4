package api

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/pda-agent/pda-agent/pinhash"
)

// TestCashierPage drives the cashier view (收银) in headless Chromium at a
// PDA's 360×640: a sale the POS opens with three lines (one 拆零), packs
// typed by a keyboard-wedge gun while no field has the focus, a finish
// refused for a short line, a 无码登记 with the supervisor's PIN for the
// key variety, and the receipt preview after the finish.
func TestCashierPage(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("%s not found: run scripts/install-chromium.sh (as root) for the browser test", chromiumPath)
	}
	products := filepath.Join(t.TempDir(), "products.csv")
	if err := os.WriteFile(products, []byte(linesProducts), 0o600); err != nil {
		t.Fatal(err)
	}
	hash, err := pinhash.Hash("2468", 1000)
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, envOpts{msfx: true, env: []string{"PDA_CATALOGUE_PRODUCTS=" + products,
		"PDA_SESSIONS_SUPERVISOR_PIN_HASH=" + hash, "PDA_CHECKS_ONLINE_SALE=warn"}})
	// codeA was sold by another store: 码上放心 reports it 已核销 (回流药).
	sellElsewhere(t, e, codeA)

	ph := newPhone(t)
	ctx := ph.ctx
	do, waitFor, text, noOverflow, gun := ph.do, ph.waitFor, ph.text, ph.noOverflow, ph.gun
	lineText := func(line string) string {
		t.Helper()
		return text(`(document.querySelector('#lines li[data-line="` + line + `"]') || {}).textContent || ''`)
	}

	ph.login(e)

	// The POS opens the sale with its lines; the page shows them.
	e.ok("POST", "/v1/sessions", map[string]any{"session": "counter", "kind": "sale", "lines": []map[string]any{
		{"line": "1", "product": "XJ01CAA040A001010100395", "packs": 2},
		{"line": "2", "product": "8393331", "packs": 2},
		{"line": "3", "product": "8111111", "units": 6},
	}}, nil)
	do("reload", chromedp.Reload())
	waitFor("three lines", `() => !document.getElementById('cashier').hidden && document.querySelectorAll('#lines > li').length === 3`)
	if l := lineText("3"); !strings.Contains(l, "阿奇霉素片") || !strings.Contains(l, "应 6 拆零单位") || !strings.Contains(l, "缺 6") {
		t.Fatalf("line 3 before any scan: %q", l)
	}

	for _, c := range []string{codeA, codeC, codeB, "PDA:SPLIT:6", codeAzi} {
		gun(c)
	}
	waitFor("collected counts", `() => {
		const t = (n) => document.querySelector('#lines li[data-line="' + n + '"]').textContent;
		return t('1').includes('已扫 2') && t('2').includes('已扫 1') && t('3').includes('已扫 6');
	}`)
	// Which line each pack went to, and codeA's 验码 verdict.
	if l := lineText("1"); !strings.Contains(l, codeA) || !strings.Contains(l, codeC) || !strings.Contains(l, "已齐") {
		t.Fatalf("line 1: %q", l)
	}
	if l := lineText("2"); !strings.Contains(l, codeB) || !strings.Contains(l, "缺 1") || !strings.Contains(l, "重点品种") {
		t.Fatalf("line 2: %q", l)
	}
	if l := lineText("3"); !strings.Contains(l, codeAzi) || !strings.Contains(l, "拆零 6") {
		t.Fatalf("line 3: %q", l)
	}
	waitFor("the sold verdict on codeA", `(code) => [...document.querySelectorAll('#lines li[data-line="1"] li')].some(
		(li) => li.textContent.includes(code) && li.textContent.includes('已核销') && li.classList.contains('must'))`, codeA)
	noOverflow("with the lines")

	// 完成 with a pack missing: the short line, in Chinese.
	do("完成", chromedp.Click(chromedp.ID("btn-finish")))
	waitFor("the refused finish", `() => document.getElementById('fb-verdict').textContent.startsWith('无码不结算')`)
	if m := text(`document.getElementById('fb-message').textContent`); !strings.Contains(m, "第 2 行 布洛芬缓释胶囊：应 2 盒，已扫 1，缺 1") ||
		strings.Contains(m, "第 1 行") || strings.ContainsAny(m, "{}\"") {
		t.Fatalf("codes_missing shown as %q", m)
	}

	phoneShot(t, ctx, "#feedback", "lines")

	// 无码登记 on line 2, a key variety: a wrong PIN is refused in Chinese.
	do("无码登记", chromedp.Click(`#lines li[data-line="2"] button.exc-open`))
	waitFor("the dialog with the PIN field", `() => document.getElementById('exc-dialog').open && !document.getElementById('exc-pin-row').hidden`)
	if got := text(`document.getElementById('exc-packs').value`); got != "1" {
		t.Fatalf("packs preset to %q, want the short 1", got)
	}
	noOverflow("with the dialog")
	if w := text(`(() => { const f = document.getElementById('exc-form'); return f.scrollWidth + ' ' + f.clientWidth; })()`); func() bool {
		var sw, cw int
		_, err := fmt.Sscan(w, &sw, &cw)
		return err != nil || sw > cw
	}() {
		t.Fatalf("the dialog's form overflows sideways (scrollWidth clientWidth: %s)", w)
	}
	do("reason and wrong PIN", chromedp.SetValue(chromedp.ID("exc-reason"), "unreadable"),
		chromedp.SendKeys(chromedp.ID("exc-note"), "盒子受潮"), chromedp.SendKeys(chromedp.ID("exc-pin"), "1357"),
		chromedp.Click(chromedp.ID("exc-ok")))
	waitFor("the wrong PIN", `() => document.getElementById('exc-error').textContent === '店长授权码错误'`)
	phoneShot(t, ctx, "#exc-form", "dialog")
	do("right PIN", chromedp.SendKeys(chromedp.ID("exc-pin"), "2468"), chromedp.Click(chromedp.ID("exc-ok")))
	waitFor("the exception recorded", `() => !document.getElementById('exc-dialog').open &&
		document.querySelector('#lines li[data-line="2"]').textContent.includes('无码 1') &&
		document.querySelector('#lines li[data-line="2"]').classList.contains('done')`)
	if l := lineText("2"); !strings.Contains(l, "码无法识读") || !strings.Contains(l, "盒子受潮") || !strings.Contains(l, "店长已授权") {
		t.Fatalf("line 2 after the exception: %q", l)
	}

	// 完成: the receipt preview holds every code and the exception.
	do("完成 again", chromedp.Click(chromedp.ID("btn-finish")))
	waitFor("the receipt preview", `() => !document.getElementById('receipt').hidden`)
	rc := text(`document.getElementById('receipt-text').textContent`)
	for _, c := range []string{codeA, codeC, codeB, codeAzi, "无码x1", "盒子受潮"} {
		if !strings.Contains(rc, c) {
			t.Fatalf("receipt preview lacks %s:\n%s", c, rc)
		}
	}
	if font := text(`getComputedStyle(document.getElementById('receipt-text')).fontFamily`); !strings.Contains(font, "monospace") {
		t.Fatalf("receipt font %q", font)
	}
	noOverflow("with the receipt")

	phoneShot(t, ctx, "#receipt", "receipt")
}

// phoneShot writes what the 360×640 screen shows, scrolled to the element
// sel, to $PDA_UI_CASHIER_SCREENSHOT (with -name before the extension) or
// into the test's temp dir, and logs the path.
func phoneShot(t *testing.T, ctx context.Context, sel, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_, err := chromedp.Run(sctx, chromedp.Evaluate[chromedp.Void](`document.querySelector('`+sel+`').scrollIntoView({block: 'start'})`))
	if err != nil {
		t.Fatalf("scrolling to %s: %v", sel, err)
	}
	shot, err := chromedp.Run(sctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := os.Getenv("PDA_UI_CASHIER_SCREENSHOT")
	if path == "" {
		path = filepath.Join(t.TempDir(), "cashier-360.png")
	}
	ext := filepath.Ext(path)
	path = strings.TrimSuffix(path, ext) + "-" + name + ext
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the cashier view at 360×640: %s", path)
}

// phone is headless Chromium with a PDA's 360×640 screen.
type phone struct {
	t   *testing.T
	ctx context.Context
}

// newPhone starts the browser; it stops with the test.
func newPhone(t *testing.T) *phone {
	t.Helper()
	return &phone{t, startBrowser(t, 360, 640)}
}

// startBrowser starts headless Chromium with a window of w×h, bounded by 3
// minutes; it stops with the test.
func startBrowser(t *testing.T, w, h int, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	root, cancelRoot := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancelRoot)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(root, append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", "new"),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(w, h),
	}, extra...)...,
	)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	return ctx
}

// login opens the page through the link `pda-agent ui` prints and waits
// for its event stream.
func (p *phone) login(e *testEnv) {
	p.t.Helper()
	p.do("login", chromedp.Navigate(e.srv.LoginURL()), chromedp.EmulateViewport(360, 640))
	p.waitFor("the live badge", `() => document.getElementById('live').classList.contains('on')`)
}

func (p *phone) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	sctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// waitFor polls a JavaScript predicate (a function of args).
func (p *phone) waitFor(what, fn string, args ...any) {
	p.t.Helper()
	p.do(what, chromedp.PollFunction[chromedp.Void](fn, chromedp.WithPollingArgs(args...),
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second)))
}

// text evaluates a JavaScript expression that gives a string.
func (p *phone) text(js string) string {
	p.t.Helper()
	sctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Evaluate[string](js))
	if err != nil {
		p.t.Fatalf("evaluating %s: %v", js, err)
	}
	return s
}

// noOverflow: nothing sideways at the phone's width.
func (p *phone) noOverflow(when string) {
	p.t.Helper()
	sctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	w, err := chromedp.Run(sctx, chromedp.Evaluate[[]int](`[document.body.scrollWidth, document.documentElement.scrollWidth, window.innerWidth]`))
	if err != nil {
		p.t.Fatal(err)
	}
	if w[2] != 360 || w[0] > 360 || w[1] > 360 {
		wide, _ := chromedp.Run(sctx, chromedp.Evaluate[string](`[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 361).slice(0, 8).map(e => e.tagName + '#' + e.id + '.' + e.className + ':' + Math.round(e.getBoundingClientRect().right)).join(' ')`))
		p.t.Fatalf("%s: body scrollWidth %d, document %d, viewport %d: sideways overflow at 360 px (too wide: %s)", when, w[0], w[1], w[2], wide)
	}
}

// gun types keys as a keyboard-wedge scanner does, into whatever has the
// focus (here the page body: no field has it), and waits for the scan in
// the page's log.
func (p *phone) gun(code string) {
	p.t.Helper()
	p.do("blurring", chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`))
	if got := p.text(`document.activeElement.tagName`); got != "BODY" {
		p.t.Fatalf("focus on %s before the gun types", got)
	}
	p.do("gun "+code, chromedp.KeyEvent(code+kb.Enter))
	p.waitFor("the scan of "+code, `(code) => [...document.querySelectorAll('#log li')].some((li) => li.textContent.includes(code))`, code)
}

// TestCashierPageCheckFailed: under checks.online refuse, 完成 on a sale
// holding a pack 码上放心 reports as sold is refused, and the page says
// which pack and why, in Chinese.
func TestCashierPageCheckFailed(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("%s not found: run scripts/install-chromium.sh (as root) for the browser test", chromiumPath)
	}
	e := start(t, envOpts{msfx: true, env: []string{"PDA_CHECKS_ONLINE_SALE=refuse"}})
	sellElsewhere(t, e, codeA)
	ph := newPhone(t)
	ph.login(e)
	e.ok("POST", "/v1/sessions", map[string]any{"session": "counter", "kind": "sale"}, nil)
	ph.gun(codeA)
	ph.gun(codeC)
	ph.waitFor("the sold verdict", `(code) => [...document.querySelectorAll('#items li')].some(
		(li) => li.textContent.includes(code) && li.textContent.includes('已核销'))`, codeA)
	ph.do("完成", chromedp.Click(chromedp.ID("btn-finish")))
	ph.waitFor("the refused finish", `() => document.getElementById('fb-verdict').textContent.startsWith('验码未通过')`)
	m := ph.text(`document.getElementById('fb-message').textContent`)
	if !strings.Contains(m, codeA+"：验码异常：已核销") || strings.Contains(m, codeC) || strings.ContainsAny(m, "{}\"") {
		t.Fatalf("check_failed shown as %q", m)
	}
	if ph.text(`String(document.getElementById("receipt").hidden)`) != "true" {
		t.Fatal("a receipt preview for a sale that did not finish")
	}
	ph.noOverflow("with the refused finish")
}
