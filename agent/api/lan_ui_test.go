package api

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/pda-agent/pda-agent/upload/msfx/sandbox"
)

// lanHost is a loopback address other than the counter's 127.0.0.1 when
// this system routes one (Linux routes all of 127/8), as a handheld on
// the Wi-Fi would reach a second address of the PC.
func lanHost(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		return "127.0.0.1"
	}
	ln.Close()
	return "127.0.0.2"
}

// artifactDir is where the browser tests keep their screenshots: under
// $ARTIFACTS when set, else the system temp dir (not the test's, which is
// removed).
func artifactDir(t *testing.T) string {
	t.Helper()
	root := os.Getenv("ARTIFACTS")
	if root == "" {
		root = filepath.Join(os.TempDir(), "pda-agent-ui-artifacts")
	}
	dir := filepath.Join(root, t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// englishRE finds English words in a row (a sentence, not a code such as
// queue_full or a bill code).
var englishRE = regexp.MustCompile(`[A-Za-z]{3,}[ ,.:;'()]+[A-Za-z]{3,}`)

// englishWordRE finds a word of letters only (codes carry digits, _ or -).
var englishWordRE = regexp.MustCompile(`(?:^|[^A-Za-z0-9_-])([A-Za-z]{4,})(?:$|[^A-Za-z0-9_-])`)

// TestHandheldPageOverLAN is the clerk with a handheld: a Chromium that
// trusts exactly the agent's certificate (its SPKI pinned, checked against
// the fingerprint the agent reports) opens the LAN listener, gets only the
// pairing page, pairs with the one-time link, and then — at 360×640 and
// 480×800 — sells with a scanner gun typing wherever the focus is, sees
// every verdict and queue message in Chinese, rejects and un-rejects a
// supplier bill and is asked before finishing an incomplete receiving.
func TestHandheldPageOverLAN(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("%s not found: run scripts/install-chromium.sh (as root) for the browser test", chromiumPath)
	}
	partners := filepath.Join(t.TempDir(), "partners.csv")
	if err := os.WriteFile(partners, []byte("ent_id,name,license_no\n"+sandbox.DefaultSupplierEntID+","+sandbox.DefaultSupplierName+",苏AA0250001\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := start(t, envOpts{msfx: true, lan: lanHost(t) + ":0", env: []string{"PDA_CATALOGUE_PARTNERS=" + partners}})
	cert, err := x509.ParseCertificate(e.srv.LANCertificate())
	if err != nil {
		t.Fatal(err)
	}
	if certFingerprint(cert.Raw) != e.srv.LANFingerprint() {
		t.Fatal("certificate and fingerprint differ")
	}
	spki := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	arts := artifactDir(t)
	t.Logf("screenshots go to %s", arts)

	for i, size := range [][2]int{{360, 640}, {480, 800}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			w, h := size[0], size[1]
			// Fresh boxes of registered products for each size (the sandbox
			// takes any serial of a registered prefix as an activated box).
			codeA := fmt.Sprintf("81012350%06d%06d", 900+i, 1)
			codeB := fmt.Sprintf("83933310%06d%06d", 900+i, 2)
			codeC := fmt.Sprintf("81012350%06d%06d", 900+i, 3)
			ctx := startBrowser(t, w, h, chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:])))
			do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
				t.Helper()
				sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				if err := chromedp.Do(sctx, steps...); err != nil {
					t.Fatalf("%s: %v", what, err)
				}
			}
			waitFor := func(what, fn string, args ...any) {
				t.Helper()
				sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				err := chromedp.Do(sctx, chromedp.PollFunction[chromedp.Void](fn, chromedp.WithPollingArgs(args...),
					chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second)))
				if err != nil {
					state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`['verdict: ' + document.getElementById('fb-verdict').textContent,
						'message: ' + document.getElementById('fb-message').textContent, 'bill: ' + document.getElementById('bill').textContent,
						'dialog: ' + [...document.querySelectorAll('dialog[open]')].map(d => d.id)].join('\n')`))
					t.Fatalf("%s: %v; the page shows\n%s", what, err, state)
				}
			}
			text := func(js string) string {
				t.Helper()
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				s, err := chromedp.Run(sctx, chromedp.Evaluate[string](js))
				if err != nil {
					t.Fatalf("evaluating %s: %v", js, err)
				}
				return s
			}
			snap := func(name string) {
				t.Helper()
				sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
				if err != nil {
					t.Fatalf("screenshot: %v", err)
				}
				path := filepath.Join(arts, fmt.Sprintf("%dx%d-%s.png", w, h, name))
				if err := os.WriteFile(path, png, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("screenshot: %s", path)
			}
			noOverflow := func(when string) {
				t.Helper()
				got := text(`[document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth].join(' ')`)
				var sw, bw, iw int
				if _, err := fmt.Sscan(got, &sw, &bw, &iw); err != nil || iw != w || sw > iw || bw > iw {
					wide := text(`[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5).slice(0, 8).map(e => e.tagName + '#' + e.id + '.' + e.className + ':' + Math.round(e.getBoundingClientRect().right)).join(' ')`)
					t.Fatalf("%s: scrollWidth %s (document, body, viewport): sideways overflow (too wide: %s)", when, got, wide)
				}
			}
			// chinese: the verdict, the scan log, the queue and the alarms
			// speak Chinese; codes may stay as they are.
			chinese := func(when string) {
				t.Helper()
				for _, id := range []string{"fb-verdict", "fb-message", "log", "queue", "alarms", "bill", "confirm-result", "up-list"} {
					s := text(`document.getElementById('` + id + `').innerText`)
					if m := englishRE.FindString(s); m != "" {
						t.Fatalf("%s: #%s shows English %q in %q", when, id, m, s)
					}
					for _, m := range englishWordRE.FindAllStringSubmatch(s, -1) {
						if m[1] != "Webhook" { // a destination's own name
							t.Fatalf("%s: #%s shows the English word %q in %q", when, id, m[1], s)
						}
					}
				}
				if v := text(`document.getElementById('fb-verdict').textContent`); !regexp.MustCompile(`\p{Han}`).MatchString(v) {
					t.Fatalf("%s: verdict %q is not Chinese", when, v)
				}
			}
			verdict := func(status, code, title string) {
				t.Helper()
				waitFor("verdict "+status+" for "+code, `(cls, code) => document.getElementById('feedback').classList.contains(cls) &&
					document.getElementById('fb-code').textContent === code`, "st-"+status, code)
				if v := text(`document.getElementById('fb-verdict').textContent`); v != title {
					t.Fatalf("verdict %q, want %q", v, title)
				}
			}

			// Unpaired: only the pairing page, with the fingerprint.
			do("unpaired", chromedp.EmulateViewport(int64(w), int64(h)), chromedp.Navigate(e.lanBase+"/"))
			waitFor("the pairing page", `() => location.pathname === '/pair' && document.body.textContent.includes('配对手持终端')`)
			if fp := text(`document.getElementById('fingerprint').textContent`); fp != e.srv.LANFingerprint() {
				t.Fatalf("pairing page fingerprint %q, want %q", fp, e.srv.LANFingerprint())
			}
			// Paired through the one-time link the counter shows.
			var p Pairing
			e.ok("POST", "/v1/pairing", map[string]string{"name": "收货枪"}, &p)
			do("pairing", chromedp.Navigate(p.URL))
			waitFor("the page, live", `() => location.pathname === '/' && document.getElementById('live').classList.contains('on')`)
			dev := fmt.Sprintf("pda%d", i+1)
			waitFor("the handheld's own session", `(dev) => document.getElementById('session').value === dev &&
				document.getElementById('who').textContent === '收货枪'`, dev)
			noOverflow("the empty page")
			snap("empty")

			// A sale, scanned with the gun wherever the focus is.
			do("开始销售", chromedp.Click(chromedp.ID("btn-sale")))
			waitFor("the open sale", `() => document.getElementById('bill').textContent.includes('使用出库')`)
			do("focus on the body", chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`))
			if got := text(`document.activeElement.tagName`); got != "BODY" {
				t.Fatalf("focus on %s, want the body", got)
			}
			do("gun on the body", chromedp.KeyEvent(codeA+kb.Enter))
			verdict("accepted", codeA, "已接收")
			do("tap a heading", chromedp.Click(`section:has(#log) > h2`))
			do("gun after the heading", chromedp.KeyEvent(codeB+kb.Enter))
			verdict("accepted", codeB, "已接收")
			do("focus on the session field", chromedp.Focus(chromedp.ID("session")))
			do("gun in the session field", chromedp.KeyEvent(codeC+kb.Enter))
			verdict("accepted", codeC, "已接收")
			if s := text(`document.getElementById('session').value + ' ' + localStorage.getItem('pda.session')`); s != dev+" "+dev {
				t.Fatalf("the session field after a scan in it: %q", s)
			}
			do("focus on a button", chromedp.Focus(chromedp.ID("btn-sale")))
			do("a duplicate", chromedp.KeyEvent(codeA+kb.Enter))
			verdict("duplicate", codeA, "重复")
			do("a product barcode", chromedp.KeyEvent(barcode+kb.Enter))
			verdict("rejected", barcode, "拒绝")
			if m := text(`document.getElementById('fb-message').textContent`); !strings.Contains(m, "商品条码") {
				t.Fatalf("the barcode's message %q", m)
			}
			chinese("after the scans")
			var sv struct {
				Items []struct {
					Code   string `json:"code"`
					Source string `json:"source"`
				} `json:"items"`
			}
			e.ok("GET", "/v1/sessions/"+dev, nil, &sv)
			if len(sv.Items) != 3 {
				t.Fatalf("the handheld's sale holds %+v, want its three scans", sv.Items)
			}
			for _, it := range sv.Items {
				if it.Source != "pda:"+dev {
					t.Fatalf("pack %s from source %q, want the handheld pda:%s", it.Code, it.Source, dev)
				}
			}
			// A person typing a session name by hand still can.
			do("focus the session field", chromedp.Focus(chromedp.ID("session")), chromedp.Evaluate[chromedp.Void](`document.getElementById('session').select()`))
			for _, k := range "front" {
				do("typing by hand", chromedp.KeyEvent(string(k)))
				time.Sleep(120 * time.Millisecond)
			}
			do("Enter", chromedp.KeyEvent(kb.Enter))
			waitFor("the session typed by hand", `() => localStorage.getItem('pda.session') === 'front' && document.getElementById('bill').textContent === '无打开的单据'`)
			do("back to the handheld's session", chromedp.SetValue(chromedp.ID("session"), dev),
				chromedp.Evaluate[chromedp.Void](`document.getElementById('session').dispatchEvent(new Event('change'))`))
			waitFor("the sale again", `() => document.getElementById('bill').textContent.includes('使用出库')`)
			waitFor("移除 buttons", `() => document.querySelectorAll('#items button.remove').length === 3`)
			noOverflow("the sale")
			snap("sale")

			// 移除 takes a pack off the open sale
			// (DELETE /v1/sessions/{session}/items/{code}).
			do("移除", chromedp.Click(`#items li:has(button.remove) button.remove`))
			waitFor("the pack removed", `() => document.querySelectorAll('#items button.remove').length === 2 &&
				document.getElementById('fb-verdict').textContent.startsWith('已移除')`)
			chinese("after 移除")

			do("完成", chromedp.Click(chromedp.ID("btn-finish")))
			waitFor("the finished sale", `() => document.getElementById('fb-verdict').textContent.startsWith('已完成')`)
			waitFor("the receipt", `() => !document.getElementById('receipt').hidden`)
			noOverflow("the receipt")
			chinese("after 完成")

			// Receiving against the supplier's bill: 拒收 and its undo, then
			// an incomplete receiving asks before it finishes.
			do("looking up the box", chromedp.SendKeys(chromedp.ID("up-code"), sandbox.DefaultBoxCode+kb.Enter))
			waitFor("the supplier's bill", `(code, name) => document.getElementById('up-list').textContent.includes(code) &&
				document.getElementById('up-list').textContent.includes(name)`, sandbox.DefaultUpBill1, sandbox.DefaultSupplierName)
			do("拒收", chromedp.Click(`#up-list button[data-bill="`+sandbox.DefaultUpBill1+`"]`))
			waitFor("the reason dialog", `() => document.getElementById('reject-dialog').open`)
			noOverflow("the reason dialog")
			do("拒收 confirmed", chromedp.Click(chromedp.ID("reject-ok")))
			waitFor("已拒收", `() => document.getElementById('up-list').textContent.includes('已拒收') &&
				document.getElementById('fb-verdict').textContent.startsWith('已拒收')`)
			var ups []UpstreamRefJSON
			e.ok("GET", "/v1/upstream?code="+sandbox.DefaultBoxCode, nil, &ups)
			if !rejected(ups, sandbox.DefaultUpBill1) {
				t.Fatalf("拒收 on the page did not reach the agent: %+v", ups)
			}
			do("撤销拒收", chromedp.Click(`#up-list button[data-bill="`+sandbox.DefaultUpBill1+`"]`))
			waitFor("undone", `() => !document.getElementById('up-list').textContent.includes('已拒收') &&
				document.getElementById('fb-verdict').textContent.startsWith('已撤销拒收')`)
			ups = nil // rejected is omitted when false: decode into a fresh slice
			e.ok("GET", "/v1/upstream?code="+sandbox.DefaultBoxCode, nil, &ups)
			if rejected(ups, sandbox.DefaultUpBill1) {
				t.Fatalf("撤销拒收 on the page did not reach the agent: %+v", ups)
			}
			do("开始收货", chromedp.Click(chromedp.ID("btn-recv-start")))
			waitFor("expected packs", `() => !document.getElementById('expected').hidden && +document.getElementById('exp-expected').textContent > 1`)
			var rv struct {
				Expected struct {
					Earlier int `json:"earlier"`
					Missing []struct {
						Code string `json:"code"`
					} `json:"missing"`
				} `json:"expected"`
			}
			e.ok("GET", "/v1/sessions/"+dev, nil, &rv)
			if len(rv.Expected.Missing) == 0 || (i == 1) != (rv.Expected.Earlier > 0) {
				t.Fatalf("the receiving's expected view %+v (the second size receives the bill the first received part of)", rv.Expected)
			}
			if i == 1 {
				waitFor("the earlier receiving shown", `() => !document.getElementById('exp-earlier').hidden &&
					document.getElementById('exp-earlier').textContent.includes('已在此前')`)
			}
			do("a pack with the gun", chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`),
				chromedp.KeyEvent(rv.Expected.Missing[0].Code+kb.Enter))
			waitFor("one scanned", `() => document.getElementById('exp-scanned').textContent === '1'`)
			noOverflow("the receiving")
			snap("receiving")
			do("完成 (incomplete)", chromedp.Click(chromedp.ID("btn-finish")))
			waitFor("the question", `() => document.getElementById('ask-dialog').open && document.getElementById('ask-title').textContent.includes('收货未齐')`)
			noOverflow("the question")
			snap("ask")
			do("返回", chromedp.Click(chromedp.ID("ask-no")))
			waitFor("still open", `() => !document.getElementById('ask-dialog').open && document.getElementById('bill').textContent.includes('采购入库')`)
			var open struct {
				Bill *struct {
					State string `json:"state"`
				} `json:"bill"`
			}
			e.ok("GET", "/v1/sessions/"+dev, nil, &open)
			if open.Bill == nil || open.Bill.State != "open" {
				t.Fatalf("the receiving finished though the clerk said 返回: %+v", open.Bill)
			}
			do("完成 again", chromedp.Click(chromedp.ID("btn-finish")))
			waitFor("the question again", `() => document.getElementById('ask-dialog').open`)
			do("仍要完成", chromedp.Click(chromedp.ID("ask-ok")))
			waitFor("the finished receiving", `() => document.getElementById('fb-verdict').textContent.startsWith('已完成') &&
				document.getElementById('bill').textContent === '无打开的单据'`)
			chinese("after the receiving")

			// Vibration per verdict, switched off on the page and
			// remembered over a reload.
			if i == 0 {
				buzzes := func() string {
					return text(`JSON.stringify(window.__buzz || [])`)
				}
				do("recording vibrations", chromedp.Evaluate[chromedp.Void](`navigator.vibrate = (p) => { (window.__buzz = window.__buzz || []).push(p); return true; }`))
				do("开始销售", chromedp.Click(chromedp.ID("btn-sale")))
				waitFor("the sale", `() => document.getElementById('bill').textContent.includes('使用出库')`)
				box := fmt.Sprintf("81012350%06d%06d", 900+i, 50)
				do("a scan", chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`), chromedp.KeyEvent(box+kb.Enter))
				verdict("accepted", box, "已接收")
				do("a duplicate", chromedp.KeyEvent(box+kb.Enter))
				verdict("duplicate", box, "重复")
				if b := buzzes(); b != "[[60],[80,60,80]]" {
					t.Fatalf("vibrations %s, want one short for 已接收 and three for 重复", b)
				}
				do("振动 off", chromedp.Click(chromedp.ID("pref-vibrate")))
				do("reload", chromedp.Reload())
				waitFor("the page, live", `() => document.getElementById('live').classList.contains('on')`)
				if v := text(`String(document.getElementById('pref-vibrate').checked) + ' ' + document.getElementById('pref-sound').checked`); v != "false true" {
					t.Fatalf("振动/提示音 after a reload: %s, want off and on", v)
				}
				do("recording vibrations", chromedp.Evaluate[chromedp.Void](`navigator.vibrate = (p) => { (window.__buzz = window.__buzz || []).push(p); return true; }`))
				do("a barcode", chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`), chromedp.KeyEvent(barcode+kb.Enter))
				verdict("rejected", barcode, "拒绝")
				if b := buzzes(); b != "[]" {
					t.Fatalf("vibrations %s with 振动 off", b)
				}
				do("取消", chromedp.Click(chromedp.ID("btn-cancel")))
				waitFor("the question", `() => document.getElementById('ask-dialog').open`)
				do("取消单据", chromedp.Click(chromedp.ID("ask-ok")))
				waitFor("cancelled", `() => document.getElementById('bill').textContent === '无打开的单据'`)

				// 顾客退货 opens a customer return (116).
				do("顾客退货", chromedp.Click(chromedp.ID("btn-return")))
				waitFor("the return dialog", `() => document.getElementById('return-dialog').open`)
				noOverflow("the return dialog")
				do("开始退货", chromedp.Click(chromedp.ID("return-ok")))
				waitFor("the return", `() => document.getElementById('bill').textContent.includes('消费者退货入库')`)
				do("取消 the return", chromedp.Click(chromedp.ID("btn-cancel")))
				waitFor("the question", `() => document.getElementById('ask-dialog').open`)
				do("取消单据", chromedp.Click(chromedp.ID("ask-ok")))
				waitFor("cancelled", `() => document.getElementById('bill').textContent === '无打开的单据'`)
			}

			// The 码上放心 gateway goes away: the queue says so in Chinese.
			if i == 1 {
				e.gw.Close()
				do("a sale while offline", chromedp.Click(chromedp.ID("btn-sale")))
				waitFor("the sale", `() => document.getElementById('bill').textContent.includes('使用出库')`)
				do("gun", chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`),
					chromedp.KeyEvent(fmt.Sprintf("81012350%06d%06d", 900+i, 99)+kb.Enter))
				waitFor("the scan", `() => document.getElementById('feedback').classList.contains('st-accepted')`)
				do("完成", chromedp.Click(chromedp.ID("btn-finish")))
				waitFor("the failing upload", `() => { const t = document.getElementById('dests').textContent;
					return t.includes('上传失败'); }`)
				chinese("with the upload failing")
				noOverflow("with the upload failing")
				snap("failing")

				// The counter PC's own page (loopback, login link) shows the
				// pairing QR code and the paired handhelds.
				do("the counter page", chromedp.Navigate(e.srv.LoginURL()))
				waitFor("配对手持终端", `() => !document.getElementById('btn-pair').hidden`)
				do("配对手持终端", chromedp.Click(chromedp.ID("btn-pair")))
				waitFor("the QR code", `() => document.getElementById('pair-dialog').open &&
					document.getElementById('pair-qr').naturalWidth > 100 &&
					document.getElementById('pair-url').textContent.startsWith('https://') &&
					document.getElementById('pair-devices').textContent.includes('收货枪')`)
				if fp := text(`document.getElementById('pair-fp').textContent`); fp != e.srv.LANFingerprint() {
					t.Fatalf("the counter page's fingerprint %q", fp)
				}
				noOverflow("the pairing dialog")
				snap("counter-pairing")
			}
		})
	}
}

// UpstreamRefJSON is what GET /v1/upstream lists (agent.UpstreamRef).
type UpstreamRefJSON struct {
	BillCode string `json:"bill_code"`
	Rejected bool   `json:"rejected"`
}

func rejected(ups []UpstreamRefJSON, bill string) bool {
	for _, u := range ups {
		if u.BillCode == bill {
			return u.Rejected
		}
	}
	return false
}
