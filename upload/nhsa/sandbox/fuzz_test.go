package sandbox_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

// FuzzHandler: random bodies and headers never panic and always get one
// JSON object: {code, message} or an Response, or in sm2sm4 mode an
// answer envelope. mode picks the header scheme and envelope; with
// reseal, the body is taken as an FSI request and wrapped and signed
// validly, so that the FSI and business layers get fuzzed behind the
// envelope too.
func FuzzHandler(f *testing.F) {
	seedClient := newClient(nil, sandbox.SchemeNone, sandbox.EnvelopePlain)
	valid := mustJSON(f, seedClient.request(InfSale, sel(sale("FZ-1", code(1), code(2)))))
	ret := mustJSON(f, seedClient.request(InfSaleReturn, sel(saleReturn("FZ-2", "SEL-FZ-1", code(1)))))
	delBody := mustJSON(f, seedClient.request(InfDelete, del("FZ-1", "4")))
	pur := mustJSON(f, seedClient.request(InfPurchase, purc(purchase("FZ-3"), purchase("FZ-4"))))
	for _, b := range [][]byte{valid, ret, delBody, pur} {
		for mode := range uint8(6) {
			f.Add(mode, b, "", "", true)
		}
	}
	f.Add(uint8(0), valid, "application/json", "", false)
	f.Add(uint8(1), []byte(`{"appId":"x","encData":"00","signData":"","timestamp":"1","version":"2.0.1","encType":"SM4","signType":"SM2"}`), "text/plain", "", false)
	f.Add(uint8(2), []byte(`{"infno":"3505","input":{"selinfo":[{"drugtracinfo":[{"drug_trac_codg":1}]}]}}`), "", "x-tif-nonce", true)
	f.Add(uint8(3), []byte("\xff\xfe"), "application/json; charset=gbk", "_api_signature", false)
	f.Add(uint8(4), []byte(`[`), "", "", true)
	f.Add(uint8(5), []byte(`{"input":{"selinfo":{"sel_retn_cnt":1e999}}}`), "", "", true)

	servers := make([]*sandbox.Server, 6)
	clients := make([]*tclient, 6)
	for i, m := range []struct{ scheme, envelope string }{
		{sandbox.SchemeNone, sandbox.EnvelopePlain}, {sandbox.SchemeNone, sandbox.EnvelopeSM2SM4},
		{sandbox.SchemeTif, sandbox.EnvelopePlain}, {sandbox.SchemeTif, sandbox.EnvelopeSM2SM4},
		{sandbox.SchemeAPI, sandbox.EnvelopePlain}, {sandbox.SchemeAPI, sandbox.EnvelopeSM2SM4},
	} {
		servers[i] = sandbox.New(testOptions(m.scheme, m.envelope))
		clients[i] = newClient(servers[i], m.scheme, m.envelope)
	}
	f.Fuzz(func(t *testing.T, mode uint8, body []byte, contentType, dropHeader string, reseal bool) {
		i := int(mode) % len(servers)
		s, c := servers[i], clients[i]
		var h http.Header
		if reseal {
			// A signed, sealed call with the fuzzed body as its FSI request.
			if c.env == sandbox.EnvelopeSM2SM4 {
				if _, err := decodeNumbers(body); err != nil {
					return // the sealer needs an object; the raw case covers the rest
				}
				sealed, err := c.seal(body)
				if err != nil {
					return
				}
				body = sealed
			}
			h = c.headers()
		} else {
			h = http.Header{}
		}
		if contentType != "" {
			h.Set("Content-Type", contentType)
		}
		if dropHeader != "" {
			h.Del(dropHeader)
		}
		req := httptest.NewRequest(http.MethodPost, "/fsi", bytes.NewReader(body))
		req.Header = h
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		var top map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &top); err != nil || len(top) == 0 {
			t.Fatalf("answer %d is not a JSON object: %q", rec.Code, rec.Body.Bytes())
		}
		_, hasCode := top["code"]
		_, hasInfcode := top["infcode"]
		switch {
		case rec.Code != http.StatusOK && !hasCode:
			t.Fatalf("HTTP %d without code: %s", rec.Code, rec.Body.Bytes())
		case rec.Code == http.StatusOK && !hasCode && !hasInfcode:
			t.Fatalf("answer without code or infcode: %s", rec.Body.Bytes())
		case rec.Code == http.StatusOK && hasCode && string(top["code"]) == "0":
			if _, err := c.unseal(rec.Body.Bytes()); err != nil {
				t.Fatalf("answer envelope does not open: %v", err)
			}
		}
		for _, row := range s.Rows() {
			if row.Applied != 1 {
				t.Fatalf("row applied %d times", row.Applied)
			}
		}
	})
}
