package nhsa

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/catalogue"
	"github.com/pda-agent/pda-agent/gm"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/nhsa/fsi"
)

// Test credentials: distinctive, so that a leak into a message is found.
const (
	tPaasID    = "paas-0001"
	tPaasToken = "tif-Token-7f3c9a21"
	tAPIName   = "fsi.callService"
	tAPIVer    = "1.0.0"
	tAPIAK     = "AK-0001"
	tAPISK     = "api-Secret-5d8e1b60"
	tAppID     = "43AF047BBA47FC8A1AE8EFB2A1B2C3D4"
	tAppSecret = "Sm4AppSecret0123456789abcdefXYZW"
	tFixmedins = "P37020304446"
	tPartner   = "5069452c34b94a778abaa26c2b40b305"
	prodA      = "8123456"
	prodB      = "8654321"
	prodNoCodg = "8555555"
)

// tNow is 2026-01-27 10:15:30.123 in UTC+8, given in a zone far from
// China so that any use of the host or given zone shows.
var tNow = time.Date(2026, 1, 26, 21, 15, 30, 123e6, time.FixedZone("EST", -5*3600))

func testCatalogue(t testing.TB) *catalogue.Catalogue {
	t.Helper()
	cat, err := catalogue.New([]catalogue.Product{
		{Key: prodA, Name: "阿莫西林胶囊 0.25g*24粒", MedListCodg: "XJ01CAA040A001010101445", HilistID: "H-0001",
			HilistName: "阿莫西林胶囊", RxFlag: "1", Aprvno: "国药准字H20003263", Maker: "某某制药有限公司", Units: 24, Barcode69: "6901234567892"},
		{Key: prodB, Name: "布洛芬缓释胶囊 0.3g*20粒", MedListCodg: "XM01AEB017E001010104422", HilistID: "H-0002",
			HilistName: "布洛芬缓释胶囊", RxFlag: "0", Aprvno: "国药准字H10900089", Maker: "另一制药股份有限公司"},
		{Key: prodNoCodg, Name: "无编码药品", HilistID: "H-0003", HilistName: "无编码药品", RxFlag: "0", Aprvno: "国药准字Z1", Maker: "厂"},
	}, []catalogue.Partner{{EntID: tPartner, Name: "华东医药供应链有限公司", LicenseNo: "浙AA5710001"}})
	if err != nil {
		t.Fatalf("catalogue: %v", err)
	}
	return cat
}

// fixture holds what a test client reads: the sequence and earlier bills.
type fixture struct {
	seq       atomic.Uint64
	seqErr    error
	mu        sync.Mutex
	originals map[string][]queue.Item // code → items; absent = pruned
}

func (f *fixture) sequence(context.Context) (uint64, error) {
	if f.seqErr != nil {
		return 0, f.seqErr
	}
	return f.seq.Add(1), nil
}

func (f *fixture) items(_ context.Context, code string) ([]queue.Item, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	its, ok := f.originals[code]
	return its, ok, nil
}

func baseConfig(f *fixture, url string, cat *catalogue.Catalogue) Config {
	return Config{
		Env: EnvTest, Profile: Profile{URL: url, RecerSysCode: "YBXT"},
		FixmedinsCode: tFixmedins, FixmedinsName: "某某大药房（测试店）", MdtrtareaAdmvs: "370203",
		Opter: "PDA-07", OpterName: "收银终端7", MsgIDSlot: 7,
		Sequence: f.sequence, Items: f.items, Catalogue: cat,
		PharName: "李药师", PharPracCertNo: "ZY2019370200123", PharCertType: "01", PharCertno: "370203198001011234",
		HoldRetry: 7 * time.Minute, Timeout: 2 * time.Second,
		Now: func() time.Time { return tNow },
	}
}

func mustNew(t testing.TB, c Config) *Client {
	t.Helper()
	cl, err := New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return cl
}

// item makes a queue item; units > 0 makes it a split sale.
func item(seq int, code, product, lot string, units int) queue.Item {
	return queue.Item{Seq: seq, Code: code, Key: code, Kind: "msfx", Product: product, Lot: lot,
		Produced: "2025-07-01", Expiry: "2027-06-30", Units: units}
}

func code(product string, n int) string {
	s := strconv.Itoa(n)
	return product + strings.Repeat("0", 13-len(s)) + s
}

// saleAttrs are complete 医保 settlement attributes of a sale.
func saleAttrs() map[string]string {
	return map[string]string{
		"nhsa.setl_id": "SETL20260127000001", "nhsa.mdtrt_sn": "MDTRT20260127000001", "nhsa.psn_no": "37000019800101123",
		"nhsa.psn_cert_type": "02", "nhsa.certno": "370203198001011234", "nhsa.psn_name": "王五",
		"nhsa.hi_feesetl_type": "1", "nhsa.mdtrt_setl_type": "1", "nhsa.prsc_dr_name": "赵医生",
		"nhsa.rxno": "RX0001", "nhsa.rx_circ_flag": "0", "nhsa.insuplc_admdvs": "370100",
		"nhsa.finl_trns_pric." + prodA: "12.5",
	}
}

func bill(code string, typ int, attrs map[string]string) queue.Bill {
	return queue.Bill{ID: 1, Code: code, Type: typ, State: queue.BillFinished, Operator: "张三", Partner: tPartner,
		FinishedAt: time.Date(2026, 1, 27, 2, 15, 30, 0, time.UTC), Attrs: attrs}
}

// ---- fake gateway ----

// gwRequest is one request as the fake gateway saw it.
type gwRequest struct {
	Header http.Header
	Body   []byte // the HTTP body
	Plain  []byte // the FSI request JSON (decrypted for sm2sm4)
	FSI    fsi.Request
	AuthOK bool // headers verified for the gateway's scheme
	EnvOK  bool // envelope decrypted and verified (sm2sm4)
}

// reply is a scripted answer.
type reply struct {
	Status int
	Raw    string        // sent as is (no envelope) when set
	Resp   *fsi.Response // wrapped per the envelope
	Hang   bool          // never answer (until the client gives up)
}

// gwConfig is what the fake gateway knows and how it answers.
type gwConfig struct {
	auth     string
	envelope string
	// Credentials the gateway holds.
	paasToken, apiSK, appSecret string
	channelPub                  *gm.PublicKey
	platformKey                 *gm.PrivateKey
	uid                         string
	// tamper edits a signed answer envelope before it is sent.
	tamper func(env map[string]any)
	script func(n int, r fsi.Request) reply
}

// fakeGW is an FSI gateway that checks the header scheme and the SM2/SM4
// envelope on its own, with package gm and the standard library, and
// answers from a script.
type fakeGW struct {
	t   *testing.T
	srv *httptest.Server

	mu   sync.Mutex
	cfg  gwConfig
	reqs []gwRequest
}

func newGW(t *testing.T, auth, envelope string) *fakeGW {
	g := &fakeGW{t: t, cfg: gwConfig{auth: auth, envelope: envelope, paasToken: tPaasToken, apiSK: tAPISK,
		appSecret: tAppSecret, uid: gm.DefaultUID}}
	g.cfg.script = func(int, fsi.Request) reply {
		return reply{Resp: &fsi.Response{Infcode: 0, InfRefmsgid: "370200202601271015301234567890"}}
	}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	return g
}

// configure changes the gateway under its lock.
func (g *fakeGW) configure(f func(c *gwConfig)) {
	g.mu.Lock()
	f(&g.cfg)
	g.mu.Unlock()
}

func (g *fakeGW) setScript(f func(n int, r fsi.Request) reply) {
	g.configure(func(c *gwConfig) { c.script = f })
}

func (g *fakeGW) requests() []gwRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]gwRequest(nil), g.reqs...)
}

func (g *fakeGW) serve(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	cfg := g.cfg
	g.mu.Unlock()
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		g.t.Errorf("gateway: Content-Type %q", ct)
	}
	rec := gwRequest{Header: r.Header.Clone(), Body: body, AuthOK: cfg.checkAuth(r.Header)}
	plain := body
	if cfg.envelope == EnvelopeSM2SM4 {
		p, err := cfg.openRequest(body)
		if err != nil {
			g.t.Logf("gateway: envelope refused: %v", err)
			g.record(rec)
			writeJSON(w, http.StatusOK, map[string]any{"code": -1, "message": "验签失败: " + err.Error()})
			return
		}
		plain, rec.EnvOK = p, true
	}
	rec.Plain = plain
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec.FSI); err != nil {
		g.t.Errorf("gateway: request is not an FSI request: %v", err)
	}
	n := g.record(rec)
	if !rec.AuthOK {
		writeJSON(w, http.StatusOK, map[string]any{"code": 401, "msg": "签名不一致"})
		return
	}
	rp := cfg.script(n, rec.FSI)
	if rp.Hang {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return
	}
	status := rp.Status
	if status == 0 {
		status = http.StatusOK
	}
	if rp.Raw != "" || rp.Resp == nil {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, rp.Raw)
		return
	}
	out, err := json.Marshal(rp.Resp)
	if err != nil {
		g.t.Errorf("gateway: %v", err)
		return
	}
	if cfg.envelope == EnvelopeSM2SM4 {
		if out, err = cfg.sealAnswer(out); err != nil {
			g.t.Errorf("gateway: %v", err)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

func (g *fakeGW) record(rec gwRequest) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reqs = append(g.reqs, rec)
	return len(g.reqs)
}

// checkAuth recomputes the gateway signature from the headers.
func (g *gwConfig) checkAuth(h http.Header) bool {
	switch g.auth {
	case AuthXTif:
		ts, nonce := h.Get("x-tif-timestamp"), h.Get("x-tif-nonce")
		sum := sha256.Sum256([]byte(ts + g.paasToken + nonce + ts))
		return h.Get("x-tif-paasid") == tPaasID && ts != "" && nonce != "" && h.Get("x-tif-signature") == hex.EncodeToString(sum[:])
	case AuthAPI:
		ts := h.Get("_api_timestamp")
		m := hmac.New(sha1.New, []byte(g.apiSK))
		m.Write([]byte("_api_access_key=" + h.Get("_api_access_key") + "&_api_name=" + h.Get("_api_name") +
			"&_api_timestamp=" + ts + "&_api_version=" + h.Get("_api_version")))
		return len(ts) == 13 && h.Get("_api_access_key") == tAPIAK &&
			h.Get("_api_signature") == base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	return true
}

// openRequest decrypts and verifies a request envelope.
func (g *gwConfig) openRequest(body []byte) ([]byte, error) {
	var env map[string]any
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, err
	}
	for k, want := range map[string]string{"appId": tAppID, "encType": "SM4", "signType": "SM2", "version": "2.0.1"} {
		if env[k] != want {
			return nil, errors.New(k + " is wrong")
		}
	}
	ts, _ := env["timestamp"].(string)
	if len(ts) != 13 {
		return nil, errors.New("timestamp is not in ms")
	}
	key, err := gm.DeriveDataKey(tAppID, g.appSecret)
	if err != nil {
		return nil, err
	}
	encData, _ := env["encData"].(string)
	plain, err := gm.DecData(key, encData)
	if err != nil {
		return nil, err
	}
	data, err := gm.DecodeJSONObject(plain)
	if err != nil {
		return nil, err
	}
	s, err := gm.SignString(map[string]any{"appId": env["appId"], "encType": env["encType"], "signType": env["signType"],
		"timestamp": ts, "version": env["version"], "data": data}, g.appSecret)
	if err != nil {
		return nil, err
	}
	sig, _ := env["signData"].(string)
	if err := gm.VerifyBase64(g.channelPub, []byte(s), []byte(g.uid), sig); err != nil {
		return nil, err
	}
	return plain, nil
}

// sealAnswer wraps an FSI answer in a signed answer envelope.
func (g *gwConfig) sealAnswer(plain []byte) ([]byte, error) {
	key, err := gm.DeriveDataKey(tAppID, g.appSecret)
	if err != nil {
		return nil, err
	}
	enc, err := gm.EncData(key, plain)
	if err != nil {
		return nil, err
	}
	data, err := gm.DecodeJSONObject(plain)
	if err != nil {
		return nil, err
	}
	env := map[string]any{"code": 0, "message": "成功", "appId": tAppID, "encType": "SM4", "signType": "SM2",
		"timestamp": "1769480131000", "version": "2.0.1"}
	fields := map[string]any{"data": data}
	for k, v := range env {
		fields[k] = v
	}
	s, err := gm.SignString(fields, g.appSecret)
	if err != nil {
		return nil, err
	}
	sig, err := gm.SignBase64(g.platformKey, []byte(s), []byte(g.uid), nil)
	if err != nil {
		return nil, err
	}
	env["encData"], env["signData"] = enc, sig
	if g.tamper != nil {
		g.tamper(env)
	}
	return json.Marshal(env)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// smKeys are a channel and a platform key pair for one test.
type smKeys struct{ channel, platform *gm.PrivateKey }

func newSMKeys(t testing.TB) smKeys {
	t.Helper()
	ch, err := gm.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := gm.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return smKeys{ch, pl}
}

// smSetup configures the gateway and the client config for sm2sm4.
func smSetup(g *fakeGW, c *Config, k smKeys) {
	g.configure(func(gc *gwConfig) { gc.channelPub, gc.platformKey = &k.channel.PublicKey, k.platform })
	c.Envelope = EnvelopeSM2SM4
	c.Profile.AppID, c.Profile.AppSecret = tAppID, tAppSecret
	c.Profile.ChannelKey, c.Profile.PlatformKey = k.channel, &k.platform.PublicKey
}

// sentInput decodes the input node of a recorded request.
func sentSales(t *testing.T, r gwRequest) []fsi.Sale {
	t.Helper()
	var in struct {
		Selinfo []fsi.Sale `json:"selinfo"`
	}
	strictDecode(t, r.FSI.Input, &in)
	return in.Selinfo
}

func sentPurchases(t *testing.T, r gwRequest) []fsi.Purchase {
	t.Helper()
	var in struct {
		Purcinfo []fsi.Purchase `json:"purcinfo"`
	}
	strictDecode(t, r.FSI.Input, &in)
	return in.Purcinfo
}

func strictDecode(t *testing.T, raw []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
}

// deliver runs one attempt of a fresh job.
func deliver(t *testing.T, c *Client, b queue.Bill, items []queue.Item) upload.Outcome {
	t.Helper()
	return c.Deliver(context.Background(), upload.Job{Bill: b, Items: items, Attempt: 1})
}

// secretsIn lists the test secrets found in s.
func secretsIn(s string, extra ...string) []string {
	var found []string
	for _, sec := range append([]string{tPaasToken, tAPISK, tAppSecret}, extra...) {
		if sec != "" && strings.Contains(s, sec) {
			found = append(found, sec)
		}
	}
	return found
}
