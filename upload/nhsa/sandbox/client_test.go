package sandbox_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tjfoc/gmsm/sm2"

	"github.com/pda-agent/pda-agent/gm"
	"github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

// The tests' own small FSI client: it builds requests from its own types
// (wire_test.go), signs gateway headers by hand, and builds and opens
// envelopes with gm but with its own sign-text builder (handSignString),
// so that the sandbox is checked against a second reading of the rules.

// cst is China time, built here rather than taken from the package.
var cst = time.FixedZone("UTC+8", 8*3600)

// clock is the sandbox's time in most tests: 2026-11-27 10:05:00 in China.
var clock = time.Date(2026, 11, 27, 2, 5, 0, 0, time.UTC)

func fixedNow() time.Time { return clock }

// testOptions are sandbox.TestOptions on the fixed clock.
func testOptions(scheme, envelope string) sandbox.Options {
	o := sandbox.TestOptions(scheme, envelope)
	o.Now = fixedNow
	return o
}

// tclient is one configured caller.
type tclient struct {
	h      http.Handler // in-process when set
	url    string       // else over HTTP
	hc     *http.Client
	scheme string
	env    string

	paasID, paasToken                      string
	apiKey, apiSecret, apiName, apiVersion string
	appID, appSecret, uid, envVersion      string
	chanKey                                *sm2.PrivateKey
	platPub                                *sm2.PublicKey
	code, name, admdvs                     string
	now                                    func() time.Time

	seq atomic.Int64

	// Hooks that break a request on purpose, applied after signing.
	editHeaders  func(http.Header)
	editEnvelope func(map[string]any)
	contentType  string // "" = application/json, "-" = none
}

func newClient(h http.Handler, scheme, envelope string) *tclient {
	platform, ch := sandbox.TestKeys()
	return &tclient{h: h, scheme: scheme, env: envelope,
		paasID: sandbox.TestPaasID, paasToken: sandbox.TestPaasToken,
		apiKey: sandbox.TestAPIAccessKey, apiSecret: sandbox.TestAPISecretKey,
		apiName: sandbox.TestAPIName, apiVersion: sandbox.TestAPIVersion,
		appID: sandbox.TestAppID, appSecret: sandbox.TestAppSecret, envVersion: EnvelopeVersion,
		chanKey: ch, platPub: &platform.PublicKey,
		code: sandbox.TestFixmedinsCode, name: sandbox.TestFixmedinsName, admdvs: sandbox.TestAdmdvs,
		now: fixedNow}
}

func (c *tclient) overHTTP(url string, hc *http.Client) *tclient {
	c.h, c.url, c.hc = nil, url, hc
	return c
}

// msgid returns a fresh msgid. With a fixed clock the time part steps
// back one second every 10,000 serials, so a million msgids stay inside
// the window.
func (c *tclient) msgid() string {
	n := c.seq.Add(1)
	t := c.now().Add(-time.Duration(n/10000) * time.Second)
	return c.code + t.In(cst).Format("20060102150405") + fmt.Sprintf("%04d", n%10000)
}

// request builds a valid FSI request around input.
func (c *tclient) request(infno string, input any) Request {
	in, err := json.Marshal(input)
	if err != nil {
		panic(err)
	}
	return Request{Infno: infno, Msgid: c.msgid(), MdtrtareaAdmvs: c.admdvs, RecerSysCode: sandbox.TestRecerSysCode,
		Infver: DefaultInfVer, OpterType: OpterMobile, Opter: "PDA-07", OpterName: "王药师",
		InfTime: c.now().In(cst).Format(TimeLayout), FixmedinsCode: c.code, FixmedinsName: c.name, Input: in}
}

// result is one answer as the client saw it.
type result struct {
	status int
	body   []byte // as received (the envelope in sm2sm4 mode)
	plain  []byte // the FSI response JSON
	proto  *struct {
		Code    json.Number `json:"code"`
		Message string      `json:"message"`
	} // gateway or envelope refusal
	resp   *Response
	envErr error // the answer envelope did not open or verify
}

func (r *result) String() string { return fmt.Sprintf("HTTP %d %s / %s", r.status, r.body, r.plain) }

// ok reports infcode 0.
func (r *result) ok() bool { return r.resp != nil && r.resp.Infcode == InfcodeOK }

// send marshals req and calls.
func (c *tclient) send(t testing.TB, req Request) *result {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return c.sendPlain(t, body)
}

// sendPlain calls with an FSI request body given as bytes.
func (c *tclient) sendPlain(t testing.TB, plain []byte) *result {
	t.Helper()
	r, err := c.try(plain)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// try is sendPlain without the test: transport errors are returned.
func (c *tclient) try(plain []byte) (*result, error) {
	body := plain
	if c.env == sandbox.EnvelopeSM2SM4 {
		var err error
		if body, err = c.seal(plain); err != nil {
			return nil, err
		}
	}
	h := c.headers()
	var status int
	var got []byte
	if c.h != nil {
		req := httptest.NewRequest(http.MethodPost, sandbox.DefaultPath, bytes.NewReader(body))
		req.Header = h
		rec := httptest.NewRecorder()
		c.h.ServeHTTP(rec, req)
		status, got = rec.Code, rec.Body.Bytes()
	} else {
		req, err := http.NewRequest(http.MethodPost, c.url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header = h
		resp, err := c.hc.Do(req)
		if err != nil {
			return nil, err
		}
		got, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		status = resp.StatusCode
	}
	return c.open(status, got)
}

// headers signs the gateway headers by hand.
func (c *tclient) headers() http.Header {
	h := http.Header{}
	switch c.contentType {
	case "":
		h.Set("Content-Type", "application/json;charset=UTF-8")
	case "-":
	default:
		h.Set("Content-Type", c.contentType)
	}
	now := c.now()
	switch c.scheme {
	case sandbox.SchemeTif:
		ts := strconv.FormatInt(now.Unix(), 10)
		nonce := fmt.Sprintf("%x-%06x", now.UnixMilli(), c.seq.Add(1))
		sum := sha256.Sum256([]byte(ts + c.paasToken + nonce + ts))
		h.Set("x-tif-paasid", c.paasID)
		h.Set("x-tif-timestamp", ts)
		h.Set("x-tif-nonce", nonce)
		h.Set("x-tif-signature", hex.EncodeToString(sum[:]))
	case sandbox.SchemeAPI:
		ts := strconv.FormatInt(now.UnixMilli(), 10)
		m := hmac.New(sha1.New, []byte(c.apiSecret))
		m.Write([]byte("_api_access_key=" + c.apiKey + "&_api_name=" + c.apiName + "&_api_timestamp=" + ts +
			"&_api_version=" + c.apiVersion))
		h.Set("_api_name", c.apiName)
		h.Set("_api_version", c.apiVersion)
		h.Set("_api_timestamp", ts)
		h.Set("_api_access_key", c.apiKey)
		h.Set("_api_signature", base64.StdEncoding.EncodeToString(m.Sum(nil)))
	}
	if c.editHeaders != nil {
		c.editHeaders(h)
	}
	return h
}

// seal wraps an FSI request in the channel envelope.
func (c *tclient) seal(plain []byte) ([]byte, error) {
	key, err := gm.DeriveDataKey(c.appID, c.appSecret)
	if err != nil {
		return nil, err
	}
	enc, err := gm.EncData(key, plain)
	if err != nil {
		return nil, err
	}
	env := map[string]any{"appId": c.appID, "encType": "SM4", "signType": "SM2",
		"timestamp": strconv.FormatInt(c.now().UnixMilli(), 10), "version": c.envVersion}
	data, err := decodeNumbers(plain)
	if err != nil {
		return nil, err
	}
	text := handSignString(env, data, c.appSecret)
	sig, err := gm.SignBase64(c.chanKey, []byte(text), []byte(c.uid), nil)
	if err != nil {
		return nil, err
	}
	env["encData"], env["signData"] = enc, sig
	if c.editEnvelope != nil {
		c.editEnvelope(env)
	}
	return json.Marshal(env)
}

// open reads an answer: a refusal {code, message}, or an FSI response,
// in sm2sm4 mode after decrypting it and verifying the platform's
// signature.
func (c *tclient) open(status int, body []byte) (*result, error) {
	r := &result{status: status, body: body}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, fmt.Errorf("answer is not a JSON object: %q", body)
	}
	_, isProto := top["code"]
	if status != http.StatusOK || (isProto && c.env == sandbox.EnvelopeSM2SM4 && string(top["code"]) != "0") {
		if err := json.Unmarshal(body, &r.proto); err != nil {
			return nil, fmt.Errorf("refusal %q: %v", body, err)
		}
		return r, nil
	}
	r.plain = body
	if c.env == sandbox.EnvelopeSM2SM4 {
		r.plain, r.envErr = c.unseal(body)
		if r.envErr != nil {
			return r, nil
		}
	}
	dec := json.NewDecoder(bytes.NewReader(r.plain))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r.resp); err != nil {
		return nil, fmt.Errorf("FSI answer %q: %v", r.plain, err)
	}
	return r, nil
}

// unseal decrypts an answer envelope and verifies it with the platform
// public key, rebuilding the sign text from the answer as received.
func (c *tclient) unseal(body []byte) ([]byte, error) {
	fields, err := decodeNumbers(body)
	if err != nil {
		return nil, err
	}
	if fmt.Sprint(fields["code"]) != "0" || fields["appId"] != c.appID || fields["encType"] != "SM4" ||
		fields["signType"] != "SM2" || fields["version"] != c.envVersion {
		return nil, fmt.Errorf("answer envelope fields: %s", body)
	}
	enc, _ := fields["encData"].(string)
	sig, _ := fields["signData"].(string)
	key, err := gm.DeriveDataKey(c.appID, c.appSecret)
	if err != nil {
		return nil, err
	}
	plain, err := gm.DecData(key, enc)
	if err != nil {
		return nil, err
	}
	data, err := decodeNumbers(plain)
	if err != nil {
		return nil, err
	}
	delete(fields, "encData")
	delete(fields, "signData")
	text := handSignString(fields, data, c.appSecret)
	if err := gm.VerifyBase64(c.platPub, []byte(text), []byte(c.uid), sig); err != nil {
		return nil, fmt.Errorf("answer signature: %w", err)
	}
	return plain, nil
}

func decodeNumbers(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, fmt.Errorf("not a JSON object: %q", b)
	}
	return m, nil
}

// handSignString is the test's own reading of the channel's sign text
// (nhsa.md §4.3): top-level fields but signData/encData/extra, empties
// dropped, sorted, k=v joined by &, data as compact JSON with sorted keys
// and string leaves, then &key=secret.
func handSignString(fields map[string]any, data map[string]any, secret string) string {
	all := maps.Clone(fields)
	all["data"] = data
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(all)) {
		if k == "signData" || k == "encData" || k == "extra" {
			continue
		}
		v, keep := handValue(all[k])
		if !keep {
			continue
		}
		if s, isLeaf := v.(string); isLeaf {
			parts = append(parts, k+"="+s)
			continue
		}
		parts = append(parts, k+"="+handJSON(v))
	}
	parts = append(parts, "key="+secret)
	return strings.Join(parts, "&")
}

// handValue drops empties and turns leaves into strings.
func handValue(v any) (any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, false
	case string:
		return x, x != ""
	case json.Number:
		return string(x), true
	case bool:
		return strconv.FormatBool(x), true
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if n, keep := handValue(e); keep {
				out[k] = n
			}
		}
		return out, true
	case []any:
		var out []any
		for _, e := range x {
			if n, keep := handValue(e); keep {
				out = append(out, n)
			}
		}
		return out, len(out) > 0
	}
	panic(fmt.Sprintf("handValue: %T", v))
}

// handJSON writes sorted compact JSON without HTML escaping.
func handJSON(v any) string {
	switch x := v.(type) {
	case string:
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(x)
		return strings.TrimSuffix(b.String(), "\n")
	case map[string]any:
		keys := slices.Collect(maps.Keys(x))
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, handJSON(k)+":"+handJSON(x[k]))
		}
		return "{" + strings.Join(parts, ",") + "}"
	case []any:
		var parts []string
		for _, e := range x {
			parts = append(parts, handJSON(e))
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	panic(fmt.Sprintf("handJSON: %T", v))
}

// Row builders: complete, valid rows.

func purchase(bchno string) Purchase {
	p := 12.5
	return Purchase{MedListCodg: "XJ01CAA040A001010100101", FixmedinsHilistID: "H-AMOX-0250", FixmedinsHilistName: "阿莫西林胶囊",
		DyntNo: "SH-2026-001", FixmedinsBchno: bchno, SplerName: "国药控股青岛有限公司", ManuLotnum: "L20260301",
		ProdentpName: "某某制药有限公司", Aprvno: "国药准字H20000000", ManuDate: "2026-03-01", ExpyEnd: "2028-02-28",
		FinlTrnsPric: &p, PurcRetnCnt: 10, PurcInvoNo: "INV-001", RxFlag: "1",
		PurcRetnStoinTime: "2026-11-27 09:00:00", PurcRetnOpterName: "王药师", ProdGeayFlag: "0"}
}

func purchaseReturn(bchno, purcNo string, count float64) Purchase {
	p := purchase(bchno)
	p.MedinsProdPurcNo, p.PurcRetnCnt = purcNo, count
	return p
}

// code returns a 20-digit 码上放心-style trace code.
func code(i int) string { return fmt.Sprintf("8%07d%012d", 1234567, i) }

func sale(bchno string, codes ...string) Sale {
	s := Sale{MedListCodg: "XJ01CAA040A001010100101", FixmedinsHilistID: "H-AMOX-0250", FixmedinsHilistName: "阿莫西林胶囊",
		FixmedinsBchno: bchno, PrscDrName: "李医生", PharName: "王药师", PharPracCertNo: "YS-0001",
		HiFeesetlType: "1", SetlID: "S0001", MdtrtSn: "M0001", PsnCertType: "01", ManuLotnum: "L20260301",
		ManuDate: "2026-03-01", ExpyEnd: "2028-02-28", RxFlag: "1", TrdnFlag: "0", RxCircFlag: "0",
		RtalDocno: "R-" + bchno, SelRetnCnt: float64(len(codes)), SelRetnTime: "2026-11-27 10:00:00",
		SelRetnOpterName: "王药师", MedinsProdSelNo: "SEL-" + bchno}
	for _, c := range codes {
		s.DrugTracInfo = append(s.DrugTracInfo, TracInfo{DrugTracCodg: c})
	}
	return s
}

func splitSale(bchno string, count float64, codes ...string) Sale {
	s := sale(bchno, codes...)
	s.TrdnFlag, s.SelRetnCnt = "1", count
	return s
}

// saleReturn returns codes of the sale whose medins_prod_sel_no is selNo.
func saleReturn(bchno, selNo string, codes ...string) Sale {
	s := sale(bchno, codes...)
	s.MedinsProdSelNo = selNo
	return s
}

func sel(rows ...Sale) map[string]any {
	if len(rows) == 1 {
		return map[string]any{NodeSale: rows[0]}
	}
	return map[string]any{NodeSale: rows}
}

func purc(rows ...Purchase) map[string]any {
	if len(rows) == 1 {
		return map[string]any{NodePurchase: rows[0]}
	}
	return map[string]any{NodePurchase: rows}
}

func del(bchno, typ string) map[string]any {
	return map[string]any{NodeDelete: Delete{FixmedinsBchno: bchno, InvDataType: typ}}
}

// wantOK fails unless the answer is infcode 0.
func wantOK(t testing.TB, r *result) {
	t.Helper()
	if !r.ok() || r.envErr != nil {
		t.Fatalf("want infcode 0, got %s (env err %v)", r, r.envErr)
	}
}

// wantRefused fails unless the answer is infcode -1 with err_msg
// containing every text.
func wantRefused(t testing.TB, r *result, texts ...string) {
	t.Helper()
	if r.envErr != nil || r.resp == nil || r.resp.Infcode != InfcodeError {
		t.Fatalf("want infcode -1, got %s (env err %v)", r, r.envErr)
	}
	for _, x := range texts {
		if !strings.Contains(r.resp.ErrMsg, x) {
			t.Fatalf("err_msg %q lacks %q", r.resp.ErrMsg, x)
		}
	}
}

// wantProto fails unless the answer is a {code, message} refusal with
// the HTTP status and code given and a message containing text.
func wantProto(t testing.TB, r *result, status int, code int, text string) {
	t.Helper()
	if r.proto == nil || r.status != status || r.proto.Code.String() != strconv.Itoa(code) ||
		!strings.Contains(r.proto.Message, text) {
		t.Fatalf("want HTTP %d code %d %q, got %s", status, code, text, r)
	}
}
