package api

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pda-agent/pda-agent/upload/msfx/sandbox"
)

// TestCompliancePage loads the 码上放心 compliance page (ui/compliance.html)
// in headless Chromium at 360×640 after a compliance refresh against the
// sandbox: the 验证率 with the supplier bills pulling it down, the service
// end date with its alarm and the key-variety list's version are shown,
// nothing overflows sideways, and a screenshot is kept
// ($PDA_UI_COMPLIANCE_SCREENSHOT, else the test's temp dir).
func TestCompliancePage(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("%s not found: run scripts/install-chromium.sh (as root) for the browser test", chromiumPath)
	}
	e := start(t, envOpts{msfx: true, env: []string{"PDA_MSFX_COMPLIANCE_REFRESH=0s"}})
	files, err := e.gw.ServeFiles("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { files.Close() })
	e.gw.SetKeyVarieties([]sandbox.KeyVariety{{Key: sandbox.ProductIbuprofen, Name: "布洛芬缓释胶囊"}, {Key: sandbox.ProductLicorice, Name: "复方甘草片"}})
	// The platform counts China days.
	end := time.Now().In(time.FixedZone("CST", 8*3600)).AddDate(0, 0, 12).Format(time.DateOnly) + " 23:59:59"
	e.gw.SetServiceEnd(sandbox.DefaultStoreRefEntID, end)
	if err := e.agent.RefreshMsfxCompliance(context.Background()); err != nil {
		t.Fatal(err)
	}
	var c struct {
		VerificationRate struct {
			PullingDown []struct {
				BillCode string `json:"bill_code"`
			} `json:"pulling_down"`
		} `json:"verification_rate"`
		KeyVarietyList struct {
			Version string `json:"version"`
		} `json:"key_variety_list"`
	}
	e.ok("GET", "/v1/compliance", nil, &c)
	if len(c.VerificationRate.PullingDown) == 0 || c.KeyVarietyList.Version == "" {
		t.Fatalf("compliance view %+v", c)
	}

	ph := newPhone(t)
	ph.do("login", chromedp.Navigate(e.srv.LoginURL()), chromedp.EmulateViewport(360, 640))
	ph.do("the compliance page", chromedp.Navigate(e.base+"/ui/compliance.html"))
	ph.waitFor("the figures", `() => !document.getElementById('view').hidden`)
	rate := ph.text(`document.getElementById('rate').textContent`)
	if !strings.HasSuffix(rate, "%") {
		t.Errorf("rate shown as %q", rate)
	}
	down := ph.text(`document.getElementById('down').textContent`)
	for _, b := range c.VerificationRate.PullingDown {
		if !strings.Contains(down, b.BillCode) {
			t.Errorf("bill %s pulling the rate down is not shown: %q", b.BillCode, down)
		}
	}
	if s := ph.text(`document.getElementById('service').textContent`); !strings.Contains(s, end) || !strings.Contains(s, "剩 12 天") || !strings.Contains(s, "续费") {
		t.Errorf("service shown as %q", s)
	}
	if k := ph.text(`document.getElementById('keylist').textContent`); !strings.Contains(k, c.KeyVarietyList.Version) || !strings.Contains(k, "2 个品种") {
		t.Errorf("key-variety list shown as %q", k)
	}
	ph.noOverflow("the compliance page")

	sctx, cancel := context.WithTimeout(ph.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := os.Getenv("PDA_UI_COMPLIANCE_SCREENSHOT")
	if path == "" {
		path = filepath.Join(t.TempDir(), "compliance-360.png")
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the compliance page at 360 px: %s", path)
}
