package sandbox_test

import (
	"bytes"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

func newServer(t testing.TB, scheme, envelope string) *sandbox.Server {
	t.Helper()
	return sandbox.New(testOptions(scheme, envelope))
}

func TestGatewayTif(t *testing.T) {
	stale := clock.Add(-sandbox.DefaultWindow - time.Second)
	future := clock.Add(sandbox.DefaultWindow + time.Second)
	for _, tc := range []struct {
		name   string
		edit   func(c *tclient)
		reason string
		text   string
	}{
		{"valid", func(c *tclient) {}, "", ""},
		{"edge of window", func(c *tclient) { c.now = func() time.Time { return clock.Add(-sandbox.DefaultWindow) } }, "", ""},
		{"missing paasid", func(c *tclient) { c.editHeaders = func(h http.Header) { h.Del("x-tif-paasid") } }, "missing_header", "缺少服务网关的请求头: x-tif-paasid"},
		{"missing nonce and signature", func(c *tclient) {
			c.editHeaders = func(h http.Header) { h.Del("x-tif-nonce"); h.Del("x-tif-signature") }
		}, "missing_header", "x-tif-nonce,x-tif-signature"},
		{"empty timestamp", func(c *tclient) { c.editHeaders = func(h http.Header) { h.Set("x-tif-timestamp", "") } }, "missing_header", "x-tif-timestamp"},
		{"unknown paasid", func(c *tclient) { c.paasID = "someone-else" }, "unknown_user", "非法用户"},
		{"wrong token", func(c *tclient) { c.paasToken = "guess" }, "bad_signature", "签名不一致"},
		{"uppercase signature", func(c *tclient) {
			c.editHeaders = func(h http.Header) { h.Set("x-tif-signature", strings.ToUpper(h.Get("x-tif-signature"))) }
		}, "bad_signature", "签名不一致"},
		{"signature of another nonce", func(c *tclient) {
			c.editHeaders = func(h http.Header) { h.Set("x-tif-nonce", h.Get("x-tif-nonce")+"x") }
		}, "bad_signature", "签名不一致"},
		{"milliseconds", func(c *tclient) {
			c.editHeaders = func(h http.Header) { h.Set("x-tif-timestamp", strconv.FormatInt(clock.UnixMilli(), 10)) }
		}, "bad_timestamp", "签名时间戳格式错误"},
		{"signed timestamp", func(c *tclient) { c.editHeaders = func(h http.Header) { h.Set("x-tif-timestamp", "+1") } }, "bad_timestamp", "签名时间戳格式错误"},
		{"stale", func(c *tclient) { c.now = func() time.Time { return stale } }, "stale_timestamp", "签名时间戳超时"},
		{"future", func(c *tclient) { c.now = func() time.Time { return future } }, "stale_timestamp", "签名时间戳超时"},
		{"form content type", func(c *tclient) { c.contentType = "application/x-www-form-urlencoded" }, "content_type", "Content-Type"},
		{"no content type", func(c *tclient) { c.contentType = "-" }, "content_type", "Content-Type"},
		{"gbk", func(c *tclient) { c.contentType = "application/json; charset=GBK" }, "content_type", "utf-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, sandbox.SchemeTif, sandbox.EnvelopePlain)
			c := newClient(s, sandbox.SchemeTif, sandbox.EnvelopePlain)
			tc.edit(c)
			// The FSI layer keeps the sandbox clock, whatever the headers say.
			req := c.request(InfSale, sel(sale("T-1", code(1))))
			req.InfTime = clock.In(cst).Format(TimeLayout)
			req.Msgid = c.code + clock.In(cst).Format("20060102150405") + "0001"
			r := c.send(t, req)
			st := s.Stats()
			if tc.reason == "" {
				wantOK(t, r)
				return
			}
			status := http.StatusUnauthorized
			if tc.reason == "content_type" {
				status = http.StatusUnsupportedMediaType
			}
			wantProto(t, r, status, status, tc.text)
			if st.Rejected[tc.reason] != 1 || len(s.Rows()) != 0 {
				t.Errorf("stats %+v", st)
			}
			if wantSig := tc.reason == "bad_signature"; (st.SignatureFailures == 1) != wantSig {
				t.Errorf("signature failures = %d", st.SignatureFailures)
			}
		})
	}
}

func TestGatewayTifReplay(t *testing.T) {
	s := newServer(t, sandbox.SchemeTif, sandbox.EnvelopePlain)
	c := newClient(s, sandbox.SchemeTif, sandbox.EnvelopePlain)
	var fixed http.Header
	c.editHeaders = func(h http.Header) {
		if fixed == nil {
			fixed = h.Clone()
			return
		}
		for k, v := range fixed {
			h[k] = v
		}
	}
	wantOK(t, c.send(t, c.request(InfSale, sel(sale("R-1", code(1))))))
	// The same headers on another request: a replayed nonce.
	r := c.send(t, c.request(InfSale, sel(sale("R-2", code(2)))))
	wantProto(t, r, 401, 401, "nonce")
	if st := s.Stats(); st.Rejected["replayed_nonce"] != 1 || len(s.Rows()) != 1 {
		t.Errorf("stats %+v", st)
	}
	// A fresh nonce passes.
	c.editHeaders = nil
	wantOK(t, c.send(t, c.request(InfSale, sel(sale("R-2", code(2))))))
}

func TestGatewayAPI(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(c *tclient)
		reason string
		text   string
	}{
		{"valid", func(c *tclient) {}, "", ""},
		{"text/plain", func(c *tclient) { c.contentType = "text/plain; charset=utf-8" }, "", ""},
		{"missing signature", func(c *tclient) { c.editHeaders = func(h http.Header) { h.Del("_api_signature") } }, "missing_header", "缺少服务网关的请求头: _api_signature"},
		{"missing all", func(c *tclient) { c.scheme = sandbox.SchemeNone }, "missing_header", "_api_name,_api_version,_api_timestamp,_api_access_key,_api_signature"},
		{"unknown access key", func(c *tclient) { c.apiKey = "other" }, "unknown_user", "非法用户"},
		{"other service", func(c *tclient) { c.apiName = "other" }, "unknown_service", "非法用户"},
		{"other version", func(c *tclient) { c.apiVersion = "2.0.0" }, "unknown_service", "非法用户"},
		{"seconds", func(c *tclient) {
			c.editHeaders = func(h http.Header) { h.Set("_api_timestamp", strconv.FormatInt(clock.Unix(), 10)) }
		}, "bad_timestamp", "签名时间戳格式错误"},
		{"wrong secret", func(c *tclient) { c.apiSecret = "guess" }, "bad_signature", "签名不一致"},
		{"unpadded signature", func(c *tclient) {
			c.editHeaders = func(h http.Header) { h.Set("_api_signature", strings.TrimRight(h.Get("_api_signature"), "=")) }
		}, "bad_signature", "签名不一致"},
		{"stale", func(c *tclient) {
			c.now = func() time.Time { return clock.Add(-sandbox.DefaultWindow - time.Millisecond) }
		}, "stale_timestamp", "签名时间戳超时"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, sandbox.SchemeAPI, sandbox.EnvelopePlain)
			c := newClient(s, sandbox.SchemeAPI, sandbox.EnvelopePlain)
			tc.edit(c)
			req := c.request(InfSale, sel(sale("A-1", code(1))))
			req.InfTime = clock.In(cst).Format(TimeLayout)
			req.Msgid = c.code + clock.In(cst).Format("20060102150405") + "0001"
			r := c.send(t, req)
			if tc.reason == "" {
				wantOK(t, r)
				return
			}
			wantProto(t, r, 401, 401, tc.text)
			if st := s.Stats(); st.Rejected[tc.reason] != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestGatewayNone(t *testing.T) {
	s := newServer(t, sandbox.SchemeNone, sandbox.EnvelopePlain)
	c := newClient(s, sandbox.SchemeNone, sandbox.EnvelopePlain)
	// Gateway headers of any kind are ignored.
	c.editHeaders = func(h http.Header) { h.Set("x-tif-paasid", "whatever") }
	wantOK(t, c.send(t, c.request(InfSale, sel(sale("N-1", code(1))))))
}

func TestHTTPLayer(t *testing.T) {
	s := newServer(t, sandbox.SchemeNone, sandbox.EnvelopePlain)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != http.MethodPost {
		t.Errorf("GET: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	big := bytes.Repeat([]byte("x"), sandbox.MaxBody+1)
	req := httptest.NewRequest(http.MethodPost, "/x", bytes.NewReader(big))
	req.Header.Set("Content-Type", "application/json")
	s.ServeHTTP(rec, req)
	var ans struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if rec.Code != http.StatusRequestEntityTooLarge || json.Unmarshal(rec.Body.Bytes(), &ans) != nil || ans.Code != 413 {
		t.Errorf("big body: %d %s", rec.Code, rec.Body)
	}
	st := s.Stats()
	if st.Requests != 2 || st.Rejected["method_not_allowed"] != 1 || st.Rejected["body_too_large"] != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestOptionsValidate(t *testing.T) {
	good := testOptions(sandbox.SchemeTif, sandbox.EnvelopeSM2SM4)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	platform, _ := sandbox.TestKeys()
	for _, tc := range []struct {
		name string
		edit func(o *sandbox.Options)
	}{
		{"scheme", func(o *sandbox.Options) { o.Scheme = "basic" }},
		{"x-tif without token", func(o *sandbox.Options) { o.PaasToken = "" }},
		{"api without secret", func(o *sandbox.Options) { o.Scheme, o.APISecretKey = sandbox.SchemeAPI, "" }},
		{"envelope", func(o *sandbox.Options) { o.Envelope = "sm4" }},
		{"no channels", func(o *sandbox.Options) { o.Channels = nil }},
		{"no platform key", func(o *sandbox.Options) { o.PlatformKey = nil }},
		{"broken platform key", func(o *sandbox.Options) {
			k := *platform
			k.PublicKey.X = k.PublicKey.Y
			o.PlatformKey = &k
		}},
		{"short app id", func(o *sandbox.Options) { o.Channels[0].AppID = "short" }},
		{"no channel key", func(o *sandbox.Options) { o.Channels[0].ChannelPub = nil }},
		{"channel key off the curve", func(o *sandbox.Options) {
			k := *o.Channels[0].ChannelPub
			k.X = new(big.Int).Add(k.X, big.NewInt(1))
			o.Channels[0].ChannelPub = &k
		}},
		{"channel twice", func(o *sandbox.Options) { o.Channels = append(o.Channels, o.Channels[0]) }},
		{"no institutions", func(o *sandbox.Options) { o.Institutions = nil }},
		{"short institution code", func(o *sandbox.Options) { o.Institutions[0].FixmedinsCode = "P1" }},
		{"admdvs", func(o *sandbox.Options) { o.Institutions[0].Admdvs = "99010" }},
		{"institution name", func(o *sandbox.Options) { o.Institutions[0].FixmedinsName = "" }},
		{"institution twice", func(o *sandbox.Options) { o.Institutions = append(o.Institutions, o.Institutions[0]) }},
		{"negative window", func(o *sandbox.Options) { o.Window = -time.Second }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions(sandbox.SchemeTif, sandbox.EnvelopeSM2SM4)
			tc.edit(&o)
			if err := o.Validate(); err == nil {
				t.Fatal("Validate accepted it")
			}
			if _, err := sandbox.Start("127.0.0.1:0", o); err == nil {
				t.Fatal("Start accepted it")
			}
			// New serves it, refusing everything.
			rec := httptest.NewRecorder()
			sandbox.New(o).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}")))
			if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "misconfigured") {
				t.Errorf("misconfigured answer: %d %s", rec.Code, rec.Body)
			}
		})
	}
}
