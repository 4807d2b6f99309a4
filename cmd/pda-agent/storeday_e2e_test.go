package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/queue"
	msfxsb "github.com/pda-agent/pda-agent/upload/msfx/sandbox"
	nhsasb "github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

// storeProducts is the store's catalogue; its 批准文号 are the 码上放心
// sandbox's, as the online check (验码) compares them.
const storeProducts = `key,name,med_list_codg,hilist_id,hilist_name,rx_flag,aprvno,maker,spec,units,key_variety
8101235,阿莫西林胶囊,XJ01CAA040A001010100395,A0001,阿莫西林胶囊,1,国药准字H00000001,沙箱药业,0.25g*24粒,24,否
8393331,布洛芬缓释胶囊,XM01AEB080E001010100927,A0002,布洛芬缓释胶囊,0,国药准字H00000002,沙箱药业,0.3g*20粒,0,否
8829842,复方甘草片,XR05DAF049A001010101254,A0003,复方甘草片,0,国药准字H00000003,沙箱药业,100片,0,否
8912345,盐酸曲马多缓释片,XN02AXQ075A012010100211,A0004,盐酸曲马多缓释片,1,国药准字H00000004,沙箱药业,0.1g*10片,0,是
04012345000016,阿托伐他汀钙片,XC10AAA081A001010101517,A0005,阿托伐他汀钙片,1,国药准字HJ00000005,Sandbox Pharma,20mg*7,0,否
`

const storeConfig = `device: {id: DAY1}
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
nhsa:
  enabled: true
  rate: 0
  env: test
  test:
    url: %[4]s
    recer_sys_code: ` + nhsasb.TestRecerSysCode + `
  fixmedins_code: ` + nhsasb.TestFixmedinsCode + `
  fixmedins_name: ` + nhsasb.TestFixmedinsName + `
  mdtrtarea_admvs: "` + nhsasb.TestAdmdvs + `"
  opter: DAY1
  opter_name: 张药师
  phar_name: 李药师
  phar_prac_cert_no: "0000000001"
`

// apiClient talks to a running agent's local API.
type apiClient struct {
	t     *testing.T
	base  string
	token string
}

func (c *apiClient) do(method, path string, body any, out any) int {
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
	if out != nil && resp.StatusCode < 300 && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	if resp.StatusCode >= 300 && out == nil {
		c.t.Logf("%s %s → %d %s", method, path, resp.StatusCode, data)
	}
	return resp.StatusCode
}

func (c *apiClient) ok(method, path string, body, out any) {
	c.t.Helper()
	if code := c.do(method, path, body, out); code >= 300 {
		c.t.Fatalf("%s %s: status %d", method, path, code)
	}
}

type scanAnswer struct{ Status, Reason, Message string }

func (c *apiClient) scan(session, code, want string) scanAnswer {
	c.t.Helper()
	var a scanAnswer
	c.ok("POST", "/v1/scans", map[string]string{"session": session, "code": code}, &a)
	if a.Status != want {
		c.t.Fatalf("scan %s in %s: %s (%s: %s), want %s", code, session, a.Status, a.Reason, a.Message, want)
	}
	return a
}

// TestStoreDayThroughTheAPI drives a store day through the real agent's
// local API against the 码上放心 and 医保 sandboxes: a delivery received
// against its supplier bill with one box missing and one extra, a special
// drug received by scanning, ten sales with a duplicate scan and a re-sale
// attempt, a customer return; then both sandboxes' ledgers must match
// exactly what the store did.
func TestStoreDayThroughTheAPI(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	gw, err := msfxsb.Start("127.0.0.1:0", msfxsb.Options{Apps: msfxsb.DefaultApps(), Logger: quiet, ProcessAfter: msfxsb.ProcessAtOnce})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	no := nhsasb.TestOptions(nhsasb.SchemeNone, nhsasb.EnvelopePlain)
	no.Logger = quiet
	nh := nhsasb.New(no)
	fsi := &fsiLog{next: nh}
	nhURL := serveLoopback(t, fsi) + nhsasb.DefaultPath

	dir := t.TempDir()
	writeFile(t, dir, "products.csv", storeProducts)
	writeFile(t, dir, "partners.csv", "ent_id,name,license_no\n"+msfxsb.DefaultSupplierEntID+","+msfxsb.DefaultSupplierName+",苏AA0250001\n")
	port := freePort(t)
	config := writeFile(t, dir, "config.yaml", fmt.Sprintf(storeConfig, dir, port, gw.URL(), nhURL))
	var stderr lockedBuffer
	p := startAgent(t, config, &stderr)
	defer func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
	}()
	c := waitAPI(t, dir, port, &stderr)

	// 1. The wholesaler's delivery: find its bill from one box, receive it
	// with one box missing and one box that is not on the bill.
	var ups []agent.UpstreamRef
	c.ok("GET", "/v1/upstream?code="+msfxsb.DefaultBoxCode, nil, &ups)
	if len(ups) != 1 || ups[0].BillCode != msfxsb.DefaultUpBill1 {
		t.Fatalf("upstream %+v", ups)
	}
	var v agent.SessionView
	c.ok("POST", "/v1/receivings", map[string]any{"session": "dock", "upstream": ups}, &v)
	if v.Expected == nil || v.Expected.Expected != 18 {
		t.Fatalf("expected %+v", v.Expected)
	}
	missing := v.Expected.Missing
	left := missing[len(missing)-1]
	for _, e := range missing[:len(missing)-1] {
		c.scan("dock", e.Code, "accepted")
	}
	extra := msfxsb.MakeCode(msfxsb.ProductAmoxicillin, 777777)
	c.scan("dock", "PDA:LOT:X1:2025-05-01:2027-04-30", "command")
	c.scan("dock", extra, "accepted")
	c.ok("GET", "/v1/sessions/dock", nil, &v)
	if len(v.Expected.Missing) != 1 || v.Expected.Missing[0].Code != left.Code || len(v.Expected.Extra) != 1 || v.Expected.Extra[0].Code != extra {
		t.Fatalf("expected vs scanned: missing %+v extra %+v", v.Expected.Missing, v.Expected.Extra)
	}
	var recv1 queue.Bill
	c.ok("POST", "/v1/sessions/dock/finish", map[string]any{}, &recv1)

	// 2. The special drug comes in the second delivery: bulk confirmation
	// leaves the 特药 packs, which the clerk scans one by one.
	c.ok("GET", "/v1/upstream?code="+msfxsb.MakeCode(msfxsb.ProductTramadol, 3001), nil, &ups)
	c.ok("POST", "/v1/receivings", map[string]any{"session": "dock", "upstream": ups}, &v)
	var conf agent.ConfirmResult
	c.ok("POST", "/v1/sessions/dock/confirm-all", nil, &conf)
	if len(conf.MustScan) == 0 {
		t.Fatalf("no special drug left to scan: %+v", conf)
	}
	for _, e := range conf.MustScan {
		if !strings.HasPrefix(e.Code, "89") {
			t.Fatalf("must-scan %s is not a special drug", e.Code)
		}
		c.scan("dock", e.Code, "accepted")
	}
	c.ok("GET", "/v1/sessions/dock", nil, &v)
	if !v.Expected.Complete {
		t.Fatalf("second delivery not complete: %+v", v.Expected)
	}
	var recv2 queue.Bill
	c.ok("POST", "/v1/sessions/dock/finish", map[string]any{}, &recv2)

	// 3. Ten sales at the till, half of them 医保 sales; one box scanned
	// twice; one box already sold turns up again.
	var stock []string
	for _, b := range []queue.Bill{recv1, recv2} {
		var bv agent.BillView
		c.ok("GET", "/v1/bills/"+b.Code, nil, &bv)
		for _, it := range bv.Items {
			if !strings.HasPrefix(it.Code, "8101236") && !strings.HasPrefix(it.Code, "8393332") { // not cases
				stock = append(stock, it.Code)
			}
		}
	}
	insured := map[string]string{"nhsa.mdtrt_sn": "MD-%d", "nhsa.setl_id": "SE-%d", "nhsa.psn_no": "PSN001",
		"nhsa.psn_cert_type": "01", "nhsa.psn_name": "张三", "nhsa.hi_feesetl_type": "1", "nhsa.mdtrt_setl_type": "1",
		"nhsa.prsc_dr_name": "王医生", "nhsa.rx_circ_flag": "0"}
	var sales []queue.Bill
	for i := 0; i < 10; i++ {
		c.ok("POST", "/v1/sessions", map[string]any{"session": "till", "kind": "sale"}, nil)
		a, b := stock[2*i], stock[2*i+1]
		c.scan("till", a, "accepted")
		c.scan("till", b, "accepted")
		if i == 3 {
			c.scan("till", b, "duplicate")
		}
		if i == 6 {
			if ans := c.scan("till", stock[0], "rejected"); ans.Reason != "already_sold" {
				t.Fatalf("re-sale: %+v", ans)
			}
		}
		attrs := map[string]string{}
		if i%2 == 0 {
			for k, v := range insured {
				if strings.Contains(v, "%d") {
					v = fmt.Sprintf(v, i)
				}
				attrs[k] = v
			}
		}
		var sale queue.Bill
		c.ok("POST", "/v1/sessions/till/finish", map[string]any{"attrs": attrs}, &sale)
		sales = append(sales, sale)
	}

	// 4. A customer brings back a box from the first (医保) sale.
	c.ok("POST", "/v1/sessions", map[string]any{"session": "till", "kind": "return", "attrs": map[string]string{"nhsa.mdtrt_sn": "MD-0"}}, nil)
	c.scan("till", stock[1], "accepted")
	var ret queue.Bill
	c.ok("POST", "/v1/sessions/till/finish", map[string]any{}, &ret)

	// Everything reaches both platforms.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var st agent.Status
		c.ok("GET", "/v1/status", nil, &st)
		busy, dead := 0, 0
		for _, d := range st.Destinations {
			busy += d.Pending
			dead += d.Dead
		}
		if dead > 0 {
			var dl []queue.DeadLetter
			c.ok("GET", "/v1/deadletters", nil, &dl)
			t.Fatalf("dead letters: %+v", dl)
		}
		if busy == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still pending: %+v\n%s", st.Destinations, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The 码上放心 ledger holds exactly the store's bills, each once, with
	// exactly their codes.
	remote := map[string]msfxsb.Bill{}
	for _, b := range gw.Bills(msfxsb.DefaultStoreRefEntID) {
		remote[b.BillCode] = b
	}
	all := append([]queue.Bill{recv1, recv2, ret}, sales...)
	for _, b := range all {
		var bv agent.BillView
		c.ok("GET", "/v1/bills/"+b.Code, nil, &bv)
		var codes []string
		for _, it := range bv.Items {
			codes = append(codes, it.Code)
		}
		r, ok := remote[b.Code]
		if !ok || r.Applied != 1 || r.Result != 3 || !slices.Equal(r.Codes, codes) {
			t.Errorf("码上放心 has bill %s: %v applied %d result %d codes equal %v", b.Code, ok, r.Applied, r.Result, slices.Equal(r.Codes, codes))
		}
		delete(remote, b.Code)
	}
	if len(remote) != 0 {
		t.Errorf("码上放心 has bills the store did not make: %v", remote)
	}
	// The 医保 ledger: the two purchases (3503), the five 医保 sales (3505)
	// and the return (3506), each row once.
	byInf := map[string]int{}
	for _, r := range nh.Rows() {
		if r.Applied != 1 {
			t.Errorf("医保 row %s applied %d", r.Bchno, r.Applied)
		}
		byInf[r.Infno]++
	}
	keys := map[string]map[string]bool{}
	for _, r := range nh.Rows() {
		k := r.Bchno[:len(r.Bchno)-2]
		if keys[r.Infno] == nil {
			keys[r.Infno] = map[string]bool{}
		}
		keys[r.Infno][k] = true
	}
	bills3503, bills3505 := len(keys["3503"]), len(keys["3505"])
	if bills3503 != 2 || bills3505 != 5 || len(keys["3506"]) != 1 {
		t.Errorf("医保 bills by interface: 3503 %d, 3505 %d, 3506 %d (rows %v)", bills3503, bills3505, len(keys["3506"]), byInf)
	}
	for i, s := range sales {
		_, sent := keys["3505"][strings.ReplaceAll(s.Code, "-", "")]
		if sent != (i%2 == 0) {
			t.Errorf("sale %d (%s): at 医保 %v, 医保 sale %v", i, s.Code, sent, i%2 == 0)
		}
	}
	// The packs' lots and dates reach the 3503 rows: the supplier's, as
	// 码上放心 lists them on its bills (the World's products), and the lot
	// card scanned for the box that was not on the bill.
	lots := map[[3]string]bool{
		{"B26090101", "2026-09-01", "2028-08-31"}: false, // amoxicillin
		{"B26081502", "2026-08-15", "2028-08-14"}: false, // ibuprofen
		{"T26100104", "2026-10-01", "2028-09-30"}: false, // tramadol
		{"X2605", "2026-05-10", "2029-05-09"}:     false, // atorvastatin
		{"X1", "2025-05-01", "2027-04-30"}:        false, // the lot card
	}
	for _, call := range fsi.byInfno("3503") {
		rows, _, _ := call.rows()
		for _, raw := range rows {
			var r struct {
				Lot     string `json:"manu_lotnum"`
				Made    string `json:"manu_date"`
				Expires string `json:"expy_end"`
			}
			_ = json.Unmarshal(raw, &r)
			k := [3]string{r.Lot, r.Made, r.Expires}
			if _, ok := lots[k]; !ok {
				t.Errorf("3503 row with lot %q made %q expiring %q: not the supplier's", r.Lot, r.Made, r.Expires)
			}
			lots[k] = true
		}
	}
	for k, seen := range lots {
		if !seen {
			t.Errorf("no 3503 row with lot %s (%s, %s)", k[0], k[1], k[2])
		}
	}
	t.Logf("store day: %d bills; 码上放心 %d uploads; 医保 rows %v", len(all), gw.Stats().Accepted, byInf)
}

// waitAPI waits for the agent's local API on port (its token in
// dir/api.token) and returns a client for it.
func waitAPI(t *testing.T, dir, port string, stderr *lockedBuffer) *apiClient {
	t.Helper()
	c := &apiClient{t: t, base: "http://127.0.0.1:" + port}
	deadline := time.Now().Add(10 * time.Second)
	for {
		tok, err := os.ReadFile(filepath.Join(dir, "api.token"))
		if err == nil && len(tok) > 0 {
			c.token = strings.TrimSpace(string(tok))
			if resp, err := http.Get(c.base + "/healthz"); err == nil {
				resp.Body.Close()
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API never came up:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}
