package api

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The README, docs/handheld.md and the clerk page use one set of names:
// every button the README names is a button on the page with that label,
// 321 is 使用出库 everywhere, and names the page dropped are gone from the
// docs too.
func TestReadmeNamesThePageButtons(t *testing.T) {
	read := func(path string) string {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	readme, handheld := read("../../README.md"), read("../../docs/handheld.md")
	html, js := read("ui/index.html"), read("ui/app.js")

	// The page's button labels: static buttons, and those app.js makes
	// (every string literal on a line that creates a button).
	labels := map[string]bool{}
	for _, m := range regexp.MustCompile(`<button[^>]*>([^<]+)</button>`).FindAllStringSubmatch(html, -1) {
		labels[strings.TrimSpace(m[1])] = true
	}
	for _, line := range strings.Split(js, "\n") {
		if strings.Contains(line, "el('button'") {
			for _, m := range regexp.MustCompile(`'([^']+)'`).FindAllStringSubmatch(line, -1) {
				labels[m[1]] = true
			}
		}
	}
	for _, name := range []string{"开始销售", "开始收货", "顾客退货", "完成", "取消", "移除", "确认入库", "拒收", "撤销拒收",
		"按所选单据开始收货", "配对手持终端", "无码登记", "打印小票"} {
		if !strings.Contains(readme, name) {
			t.Errorf("the README does not name the button %s", name)
		}
		if !labels[name] {
			t.Errorf("the README names %s, but the page has no button labelled so (labels %v)", name, labels)
		}
	}
	if !regexp.MustCompile(`321:\s*'使用出库'`).MatchString(js) {
		t.Error("the page does not call 321 使用出库")
	}
	for _, old := range []string{"零售出库", "全部确认", "合并入库", "应扫"} {
		for what, text := range map[string]string{"README.md": readme, "docs/handheld.md": handheld, "index.html": html, "app.js": js} {
			if strings.Contains(text, old) {
				t.Errorf("%s still says %s", what, old)
			}
		}
	}
	// The handheld guide's switches are the page's.
	for _, name := range []string{"提示音", "振动", "配对手持终端"} {
		if !strings.Contains(handheld, name) || !strings.Contains(html, name) {
			t.Errorf("%s: not in both docs/handheld.md and the page", name)
		}
	}
}
