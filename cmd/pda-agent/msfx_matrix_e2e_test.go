package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/queue"
	msfxsb "github.com/pda-agent/pda-agent/upload/msfx/sandbox"
)

const matrixConfig = `device: {id: MX1}
data_dir: %[1]s
log: {level: warn}
api: {listen: "127.0.0.1:%[2]s"}
upload: {lease: 5s, initial_backoff: 50ms, max_backoff: 500ms}
catalogue: {products: %[1]s/products.csv, partners: %[1]s/partners.csv}
msfx:
  enabled: true
  gateway: %[3]s
  app_key: "` + msfxsb.DefaultStoreAppKey + `"
  app_secret: ` + msfxsb.DefaultStoreSecret + `
  ref_ent_id: "` + msfxsb.DefaultStoreRefEntID + `"
  ent_id: ` + msfxsb.DefaultStoreEntID + `
  rate: 0
  poll_interval: 1s
  simplify: %[4]v
`

// simplifyWatch passes every call on to the sandbox and counts how many
// asked for simplify=true and how many did not, so a test can tell which
// list shape the agent really asked for.
type simplifyWatch struct {
	next     http.Handler
	on, off  atomic.Int64
	unparsed atomic.Int64
}

func (s *simplifyWatch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		s.unparsed.Add(1)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, err := url.ParseQuery(string(body))
	switch {
	case err != nil:
		s.unparsed.Add(1)
	case form.Get("simplify") == "true":
		s.on.Add(1)
	default:
		s.off.Add(1)
	}
	s.next.ServeHTTP(w, r)
}

// TestMSFXLayoutsAndListShapes runs a compact store day through the real
// agent against the 码上放心 sandbox answering in every layout (the SDK's
// declared one per method, everything under "result", everything at the
// top level) while the agent asks for either list shape (msfx.simplify
// true: plain arrays; false: the classic wrapped lists). In each
// combination: the compliance view lists the unreceived supplier bills; a
// receiving against the supplier's bill expects exactly its 18 packs and is
// confirmed with confirm-all; two sales, one of them with a pack the
// platform has since cancelled; a customer return and the re-sale of the
// returned box. Every bill must reach 处理成功 through status polls, be on
// the platform once with exactly its codes, and the cancelled pack's
// failure must show with the platform's words in the API, `queue show`
// and `diagnose`; listbillprocesspartsuccess is asked for that bill only.
func TestMSFXLayoutsAndListShapes(t *testing.T) {
	for _, layout := range []msfxsb.Layout{msfxsb.LayoutDeclared, msfxsb.LayoutResult, msfxsb.LayoutTopLevel} {
		for _, simplify := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/simplify=%v", layout, simplify), func(t *testing.T) {
				t.Parallel()
				runMSFXMatrixDay(t, layout, simplify)
			})
		}
	}
}

func runMSFXMatrixDay(t *testing.T, layout msfxsb.Layout, simplify bool) {
	gw := msfxsb.New(msfxsb.Options{Apps: msfxsb.DefaultApps(), Logger: slog.New(slog.DiscardHandler), Layout: layout})
	watch := &simplifyWatch{next: gw}
	gateway := serveLoopback(t, watch) + "/router/rest"

	dir := t.TempDir()
	writeFile(t, dir, "products.csv", storeProducts)
	writeFile(t, dir, "partners.csv", "ent_id,name,license_no\n"+msfxsb.DefaultSupplierEntID+","+msfxsb.DefaultSupplierName+",苏AA0250001\n")
	port := freePort(t)
	config := writeFile(t, dir, "config.yaml", fmt.Sprintf(matrixConfig, dir, port, gateway, simplify))
	var stderr lockedBuffer
	p := startAgent(t, config, &stderr)
	defer func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
	}()
	c := waitAPI(t, dir, port, &stderr)

	// The compliance view lists the supplier bills not yet received.
	var comp agent.Compliance
	c.ok("GET", "/v1/compliance", nil, &comp)
	if comp.UpstreamError != "" || !slices.ContainsFunc(comp.UnreceivedUpstream, func(r agent.UpstreamRow) bool {
		return r.BillCode == msfxsb.DefaultUpBill1 && r.Packs > 0
	}) {
		t.Fatalf("compliance before receiving: %+v", comp)
	}

	// Receiving against the supplier's bill: exactly its 18 smallest packs
	// (5 boxes, a case of 10, 3 boxes), confirmed all at once.
	var ups []agent.UpstreamRef
	c.ok("GET", "/v1/upstream?code="+msfxsb.DefaultBoxCode, nil, &ups)
	if len(ups) != 1 || ups[0].BillCode != msfxsb.DefaultUpBill1 {
		t.Fatalf("upstream %+v", ups)
	}
	var v agent.SessionView
	c.ok("POST", "/v1/receivings", map[string]any{"session": "dock", "upstream": ups}, &v)
	if v.Expected == nil || v.Expected.Expected != 18 || len(v.Expected.Missing) != 18 {
		t.Fatalf("expected %+v", v.Expected)
	}
	var conf agent.ConfirmResult
	c.ok("POST", "/v1/sessions/dock/confirm-all", nil, &conf)
	if len(conf.MustScan) != 0 || len(conf.Refused) != 0 {
		t.Fatalf("confirm-all: %+v", conf)
	}
	c.ok("GET", "/v1/sessions/dock", nil, &v)
	if !v.Expected.Complete {
		t.Fatalf("receiving not complete after confirm-all: %+v", v.Expected)
	}
	var recv queue.Bill
	c.ok("POST", "/v1/sessions/dock/finish", map[string]any{}, &recv)
	waitDelivered(t, c, &stderr, recv.Code)

	var stock []string
	var bv agent.BillView
	c.ok("GET", "/v1/bills/"+recv.Code, nil, &bv)
	for _, it := range bv.Items {
		if !strings.HasPrefix(it.Code, msfxsb.CaseAmoxicillin) {
			stock = append(stock, it.Code)
		}
	}
	if len(stock) != 18 {
		t.Fatalf("the receiving holds %d boxes, want 18", len(stock))
	}
	c.ok("GET", "/v1/compliance", nil, &comp)
	if slices.ContainsFunc(comp.UnreceivedUpstream, func(r agent.UpstreamRow) bool { return r.BillCode == msfxsb.DefaultUpBill1 }) {
		t.Errorf("compliance still lists the received bill: %+v", comp.UnreceivedUpstream)
	}

	// The platform cancels one received box (注销) before it is sold.
	cancelled := stock[3]
	if err := gw.World().CancelCodes(cancelled); err != nil {
		t.Fatal(err)
	}
	sell := func(kind string, codes ...string) queue.Bill {
		t.Helper()
		c.ok("POST", "/v1/sessions", map[string]any{"session": "till", "kind": kind}, nil)
		for _, code := range codes {
			c.scan("till", code, "accepted")
		}
		var b queue.Bill
		c.ok("POST", "/v1/sessions/till/finish", map[string]any{}, &b)
		return b
	}
	sale1 := sell("sale", stock[0], stock[1])
	sale2 := sell("sale", stock[2], cancelled)
	ret := sell("return", stock[1])
	resale := sell("sale", stock[1])
	all := []queue.Bill{recv, sale1, sale2, ret, resale}
	waitDelivered(t, c, &stderr, sale1.Code, sale2.Code, ret.Code, resale.Code)

	// The ledger, bill by bill: once, exactly its codes, 处理成功 after
	// more than one status poll; only the cancelled box failed.
	remote := map[string]msfxsb.Bill{}
	for _, b := range gw.Bills(msfxsb.DefaultStoreRefEntID) {
		remote[b.BillCode] = b
	}
	for _, b := range all {
		c.ok("GET", "/v1/bills/"+b.Code, nil, &bv)
		var codes []string
		for _, it := range bv.Items {
			codes = append(codes, it.Code)
		}
		r, ok := remote[b.Code]
		delete(remote, b.Code)
		if !ok || r.Applied != 1 || r.Result != 3 || r.Polls < 2 || !slices.Equal(r.Codes, codes) {
			t.Errorf("码上放心 has bill %s: %v, applied %d, result %d, polls %d, codes equal %v", b.Code, ok, r.Applied, r.Result, r.Polls, slices.Equal(r.Codes, codes))
		}
		wantErrs := map[string]string{}
		if b.Code == sale2.Code {
			wantErrs[cancelled] = "4"
		}
		if len(r.CodeErrors) != len(wantErrs) || r.CodeErrors[cancelled] != wantErrs[cancelled] {
			t.Errorf("bill %s: code errors at the platform %v, want %v", b.Code, r.CodeErrors, wantErrs)
		}
	}
	if len(remote) != 0 {
		t.Errorf("码上放心 has bills the store did not make: %v", remote)
	}
	st := gw.Stats()
	if n := st.Methods["alibaba.alihealth.drugtrace.top.lsyd.listbillprocesspartsuccess"]; n != 1 {
		t.Errorf("listbillprocesspartsuccess asked %d times, want once (for %s only): %v", n, sale2.Code, st.Methods)
	}
	on, off := watch.on.Load(), watch.off.Load()
	if watch.unparsed.Load() != 0 || (simplify && (on == 0 || off != 0)) || (!simplify && (off == 0 || on != 0)) {
		t.Errorf("simplify=%v configured, calls with simplify=true %d, without %d, unreadable %d", simplify, on, off, watch.unparsed.Load())
	}

	// The cancelled box's failure, in the platform's words (the
	// listbillprocesspartsuccess row: error_code_desc and
	// process_status_reason_desc), everywhere a clerk or an ERP looks.
	const words = "追溯码已注销"
	c.ok("GET", "/v1/bills/"+sale2.Code, nil, &bv)
	if !slices.ContainsFunc(bv.Bill.History, func(e queue.Event) bool {
		return strings.Contains(e.Detail, cancelled) && strings.Contains(e.Detail, words)
	}) {
		t.Errorf("the API's bill %s does not name the failed code with the platform's words: %+v", sale2.Code, bv.Bill.History)
	}
	out, errOut, code := runBinary(t, nil, "", "queue", "show", "--config", config, sale2.Code)
	if code != 0 || !strings.Contains(out, cancelled) || !strings.Contains(out, words) {
		t.Errorf("queue show %s (exit %d) does not show the failed code with the platform's words:\n%s%s", sale2.Code, code, out, errOut)
	}
	out, errOut, code = runBinary(t, nil, "", "diagnose", "--config", config, "--offline", cancelled)
	if code != 0 || !strings.Contains(out, "not taken by 码上放心 in bill "+sale2.Code) || !strings.Contains(out, words) {
		t.Errorf("diagnose %s (exit %d):\n%s%s", cancelled, code, out, errOut)
	}
	t.Logf("layout %s, simplify %v: %d bills, %d requests (%d with simplify=true) %v", layout, simplify, len(all), st.Requests, on, st.Methods)
}

// waitDelivered waits until every delivery of the bills is done; a dead
// letter or a minute without it fails the test.
func waitDelivered(t *testing.T, c *apiClient, stderr *lockedBuffer, codes ...string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for _, code := range codes {
		for {
			var bv agent.BillView
			c.ok("GET", "/v1/bills/"+code, nil, &bv)
			done := len(bv.Deliveries) > 0
			for _, d := range bv.Deliveries {
				if d.State == queue.DeliveryDead {
					t.Fatalf("bill %s → %s: dead letter: %s", code, d.Dest, d.LastError)
				}
				done = done && d.State == queue.DeliveryDone
			}
			if done {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("bill %s not delivered: %+v\n%s", code, bv.Deliveries, stderr.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
