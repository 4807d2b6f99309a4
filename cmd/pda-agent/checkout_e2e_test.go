package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/pinhash"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/msfx"
	msfxsb "github.com/pda-agent/pda-agent/upload/msfx/sandbox"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

const checkoutConfig = `device: {id: CO1}
data_dir: %[1]s
log: {level: warn}
api: {listen: "127.0.0.1:%[2]s"}
upload: {lease: 5s, initial_backoff: 50ms, max_backoff: 500ms}
catalogue: {products: %[1]s/products.csv}
sessions: {supervisor_pin_hash: "%[4]s"}
checks: {online: {sale: %[5]s}, window: 0s}
msfx:
  enabled: true
  gateway: %[3]s
  app_key: "` + msfxsb.DefaultStoreAppKey + `"
  app_secret: ` + msfxsb.DefaultStoreSecret + `
  ref_ent_id: "` + msfxsb.DefaultStoreRefEntID + `"
  ent_id: ` + msfxsb.DefaultStoreEntID + `
  rate: 0
  poll_interval: 1s
`

// soldElsewhere has another enterprise of the sandbox (the chain's
// warehouse) sell codes, so 码上放心 reports them sold (O): the pack that
// then reaches this counter is 回流药.
func soldElsewhere(t *testing.T, gw *msfxsb.Running, codes ...string) {
	t.Helper()
	c, err := msfx.New(msfx.Config{Name: "other", Gateway: gw.URL(), AppKey: msfxsb.DefaultWarehouseAppKey,
		AppSecret: msfxsb.DefaultWarehouseSecret, RefEntID: msfxsb.DefaultWarehouseRefEntID,
		EntID: msfxsb.DefaultWarehouseEntID, Rate: -1, Simplify: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Call(context.Background(), wire.MethodUploadRetail, map[string]string{
		wire.PBillCode: "OTHER-" + codes[0], wire.PBillType: "321", wire.PRefUserID: msfxsb.DefaultWarehouseRefEntID,
		wire.PBillTime:   time.Now().In(time.FixedZone("CST", 8*3600)).Format(wire.DateLayout),
		wire.PTraceCodes: strings.Join(codes, ","), wire.PPhysicType: "3"})
	if err != nil {
		t.Fatalf("sale by another enterprise: %v", err)
	}
}

// fails sends a request that must be refused with status and reason, and
// returns the error body.
func (c *apiClient) fails(method, path string, body any, status int, reason string) map[string]any {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if resp.StatusCode != status || json.Unmarshal(data, &out) != nil || out["error"] != reason {
		c.t.Fatalf("%s %s: HTTP %d %s, want %d %s", method, path, resp.StatusCode, data, status, reason)
	}
	return out
}

// TestCheckoutNoCodeNoSettlement is issue 13's "done when" through the
// real daemon and the 码上放心 sandbox: a sale of three lines (one 拆零)
// short of a pack is refused (codes_missing) until an exception with the
// supervisor's PIN covers the key variety; its receipt holds every code;
// under checks.online refuse a pack sold elsewhere blocks the finish until
// it is removed; offline the check is made later and the alarm names the
// bill; under warn the pack is flagged and the sale finishes; the sale's
// personal data is never in the raw queue file.
func TestCheckoutNoCodeNoSettlement(t *testing.T) {
	const certno, name = "110101199003074514", "欧阳结算"
	gw, err := msfxsb.Start("127.0.0.1:0", msfxsb.Options{World: msfxsb.DefaultWorld(), Logger: slog.New(slog.DiscardHandler), ProcessAfter: msfxsb.ProcessAtOnce})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	hash, err := pinhash.Hash("2468", 1000)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, dir, "products.csv", storeProducts)
	port := freePort(t)
	var stderr lockedBuffer
	run := func(mode string) (*apiClient, func()) {
		config := writeFile(t, dir, "config.yaml", fmt.Sprintf(checkoutConfig, dir, port, gw.URL(), hash, mode))
		p := startAgent(t, config, &stderr)
		c := waitAPI(t, dir, port, &stderr)
		return c, func() {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			<-p.done
		}
	}
	c, stop := run("refuse")
	defer func() { stop() }()
	var (
		ibu   = msfxsb.MakeCode(msfxsb.ProductIbuprofen, 2001)
		amox  = msfxsb.MakeCode(msfxsb.ProductAmoxicillin, 1001)
		sold1 = msfxsb.MakeCode(msfxsb.ProductAmoxicillin, 1002)
		good  = msfxsb.MakeCode(msfxsb.ProductAmoxicillin, 1003)
		sold2 = msfxsb.MakeCode(msfxsb.ProductAmoxicillin, 1004)
		sold3 = msfxsb.MakeCode(msfxsb.ProductAmoxicillin, 1005)
	)
	soldElsewhere(t, gw, sold1, sold2, sold3)

	// 1. Three lines, one 拆零, the key variety's pack missing.
	var opened struct {
		Bill queue.Bill `json:"bill"`
	}
	c.ok("POST", "/v1/sessions", map[string]any{"session": "till", "kind": "sale", "lines": []map[string]any{
		{"line": "1", "product": msfxsb.ProductIbuprofen, "packs": 1},
		{"line": "2", "product": msfxsb.ProductAmoxicillin, "units": 6},
		{"line": "3", "product": msfxsb.ProductTramadol, "packs": 1},
	}}, &opened)
	c.scan("till", ibu, "accepted")
	c.scan("till", "PDA:SPLIT:6", "command")
	c.scan("till", amox, "accepted")
	eb := c.fails("POST", "/v1/sessions/till/finish", nil, 409, "codes_missing")
	if lines, _ := eb["lines"].([]any); len(lines) != 1 || lines[0].(map[string]any)["line"] != "3" {
		t.Fatalf("codes_missing lines: %v", eb["lines"])
	}
	exc := map[string]any{"line": "3", "packs": 1, "reason": "no_code_stock"}
	c.fails("POST", "/v1/sessions/till/exceptions", exc, 403, "supervisor_required")
	exc["supervisor_pin"] = "2468"
	c.ok("POST", "/v1/sessions/till/exceptions", exc, nil)
	var sale queue.Bill
	c.ok("POST", "/v1/sessions/till/finish", nil, &sale)
	if sale.State != queue.BillFinished || sale.Items != 2 || len(sale.Exceptions) != 1 || !sale.Exceptions[0].Supervisor {
		t.Fatalf("finished sale: %+v", sale)
	}
	req, _ := http.NewRequest("GET", c.base+"/v1/bills/"+sale.Code+"/receipt?format=text&width=32", nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	joined := strings.ReplaceAll(string(text), "\n", "")
	if resp.StatusCode != 200 || !strings.Contains(joined, ibu) || !strings.Contains(joined, amox) || !strings.Contains(string(text), "无码") {
		t.Fatalf("receipt (HTTP %d):\n%s", resp.StatusCode, text)
	}

	// 2. Refuse: a pack sold elsewhere blocks the finish until removed.
	c.ok("POST", "/v1/sessions", map[string]any{"session": "till", "kind": "sale",
		"attrs": map[string]string{"nhsa.certno": certno, "nhsa.psn_name": name}}, nil)
	c.scan("till", sold1, "accepted")
	c.scan("till", good, "accepted")
	eb = c.fails("POST", "/v1/sessions/till/finish", nil, 409, "check_failed")
	if packs, _ := eb["packs"].([]any); len(packs) != 1 || packs[0].(map[string]any)["code"] != sold1 {
		t.Fatalf("check_failed packs: %v", eb["packs"])
	}
	var v agent.SessionView
	c.ok("DELETE", "/v1/sessions/till/items/"+sold1, nil, &v)
	if v.Bill == nil || v.Bill.Items != 1 {
		t.Fatalf("after removing the sold pack: %+v", v.Bill)
	}
	c.ok("POST", "/v1/sessions/till/finish", nil, nil)

	// 3. Offline: the check waits, the sale finishes, the alarm names it.
	if err := gw.SetDown(true); err != nil {
		t.Fatal(err)
	}
	c.ok("POST", "/v1/sessions", map[string]any{"session": "till", "kind": "sale"}, nil)
	c.scan("till", sold2, "accepted")
	var offline queue.Bill
	c.ok("POST", "/v1/sessions/till/finish", nil, &offline)
	if err := gw.SetDown(false); err != nil {
		t.Fatal(err)
	}
	var st struct {
		Alarms []struct{ Kind, Message string } `json:"alarms"`
	}
	deadline := time.Now().Add(45 * time.Second)
	for found := false; !found; {
		c.ok("GET", "/v1/status", nil, &st)
		for _, al := range st.Alarms {
			found = found || al.Kind == "check" && strings.Contains(al.Message, offline.Code) && strings.Contains(al.Message, sold2)
		}
		if !found && time.Now().After(deadline) {
			t.Fatalf("no alarm naming %s: %+v", offline.Code, st.Alarms)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()

	// The sale's personal data is not in the raw queue file.
	raw := mustRead(t, filepath.Join(dir, "queue.db"))
	if !strings.Contains(string(raw), good) {
		t.Fatal("the sale's code is not in the raw queue file: the search proves nothing")
	}
	if strings.Contains(string(raw), certno) || strings.Contains(string(raw), name) {
		t.Fatal("the raw queue file holds the sale's certno or name")
	}

	// 4. Warn: the pack is flagged, the sale finishes.
	c, stop = run("warn")
	c.ok("POST", "/v1/sessions", map[string]any{"session": "till", "kind": "sale"}, nil)
	c.scan("till", sold3, "accepted")
	deadline = time.Now().Add(30 * time.Second)
	for {
		c.ok("GET", "/v1/sessions/till", nil, &v)
		if len(v.Checks) == 1 && v.Checks[0].State == agent.CheckBad {
			if v.Checks[0].Problems[0] != agent.ProblemSold || v.Checks[0].Mode != "warn" {
				t.Fatalf("warn verdict: %+v", v.Checks[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no verdict: %+v", v.Checks)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.ok("POST", "/v1/sessions/till/finish", nil, nil)
}
