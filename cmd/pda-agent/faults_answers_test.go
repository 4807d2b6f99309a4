package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/pda-agent/pda-agent/gm"
	msfxsb "github.com/pda-agent/pda-agent/upload/msfx/sandbox"
	nhsasb "github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

// hostileMode is one way a back end's answer comes back wrong.
type hostileMode struct {
	name string
	// forward: the sandbox handles the request first (the bill is
	// applied), then its answer is garbled; otherwise it never arrives.
	forward bool
	// odd marks an answer that is sound apart from its form (a wrong
	// content type): the agent may take it.
	odd   bool
	write func(w http.ResponseWriter, rec *httptest.ResponseRecorder)
}

// answer writes rec's status and headers with body.
func answer(w http.ResponseWriter, rec *httptest.ResponseRecorder, body []byte) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(rec.Code)
	w.Write(body)
}

func fixed(status int, ctype, body string) func(http.ResponseWriter, *httptest.ResponseRecorder) {
	return func(w http.ResponseWriter, _ *httptest.ResponseRecorder) {
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// commonModes garble any back end's answer.
var commonModes = []hostileMode{
	{name: "truncated", forward: true, write: func(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
		answer(w, rec, rec.Body.Bytes()[:rec.Body.Len()/2])
	}},
	{name: "html_200", forward: true, write: fixed(200, "text/html", "<html><body><h1>系统维护中</h1></body></html>")},
	{name: "html_502", forward: true, write: fixed(502, "text/html", "<html><head><title>502 Bad Gateway</title></head></html>")},
	{name: "empty", forward: true, write: fixed(200, "application/json", "")},
	{name: "not_json", forward: true, write: fixed(200, "application/json", "OK")},
	{name: "wrong_shape", forward: true, write: fixed(200, "application/json", `{"result":{"success":true},"data":[1,2,3]}`)},
	{name: "huge", forward: true, write: func(w http.ResponseWriter, _ *httptest.ResponseRecorder) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"x":"`)
		chunk := bytes.Repeat([]byte("a"), 64<<10)
		for i := 0; i < 128; i++ { // 8 MiB, twice what a client reads
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}},
	{name: "reset", forward: true, write: func(w http.ResponseWriter, _ *httptest.ResponseRecorder) {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
	}},
	{name: "wrong_content_type", forward: true, odd: true, write: func(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
		rec.Header().Set("Content-Type", "text/plain; charset=gbk")
		answer(w, rec, rec.Body.Bytes())
	}},
}

// envelopeModes tamper with the 医保 SM2/SM4 envelope of a real answer.
func envelopeModes() []hostileMode {
	other, err := gm.GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	edit := func(change func(env map[string]any)) func(http.ResponseWriter, *httptest.ResponseRecorder) {
		return func(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
			var env map[string]any
			if json.Unmarshal(rec.Body.Bytes(), &env) != nil {
				answer(w, rec, rec.Body.Bytes()[:rec.Body.Len()/2])
				return
			}
			change(env)
			data, _ := json.Marshal(env)
			answer(w, rec, data)
		}
	}
	return []hostileMode{
		{name: "signed_by_another_key", forward: true, write: edit(func(env map[string]any) {
			if s, ok := env["signData"].(string); ok {
				sig, _ := gm.Sign(other, []byte(s), nil, nil)
				env["signData"] = base64.StdEncoding.EncodeToString(sig)
			}
		})},
		{name: "encdata_tampered", forward: true, write: edit(func(env map[string]any) {
			if s, ok := env["encData"].(string); ok && len(s) > 40 {
				b := []byte(s)
				b[32] = "0123456789ABCDEF"[(strings.IndexByte("0123456789ABCDEF", b[32])+7)%16]
				env["encData"] = string(b)
			}
		})},
		{name: "signature_removed", forward: true, write: edit(func(env map[string]any) { delete(env, "signData") })},
		// Not sent on: a plain success where an envelope is due must not be
		// believed, or the row is lost.
		{name: "plain_success", write: fixed(200, "application/json",
			`{"infcode":0,"inf_refmsgid":"370200202611270000000001","refmsg_time":"20261127093000","respond_time":"20261127093000","output":{}}`)},
	}
}

// hostile sits between the agent and a sandbox and garbles answers, the
// modes in turn, until each was used reps times.
type hostile struct {
	next  http.Handler
	modes []hostileMode
	limit int
	key   func(body []byte) string // what a request is about ("" unknown)

	mu      sync.Mutex
	seen    []string // key of every request, in order
	garbled []garbledAt
}

type garbledAt struct {
	mode hostileMode
	key  string
	at   int // index in seen
}

func (h *hostile) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	key := h.key(body)
	h.mu.Lock()
	h.seen = append(h.seen, key)
	var mode *hostileMode
	if len(h.garbled) < h.limit {
		m := h.modes[len(h.garbled)%len(h.modes)]
		mode = &m
		h.garbled = append(h.garbled, garbledAt{m, key, len(h.seen) - 1})
	}
	h.mu.Unlock()
	r2 := r.Clone(r.Context())
	r2.Body, r2.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	if mode == nil {
		h.next.ServeHTTP(w, r2)
		return
	}
	rec := httptest.NewRecorder()
	if mode.forward {
		h.next.ServeHTTP(rec, r2)
	}
	mode.write(w, rec)
}

// unanswered lists garbled answers about a known subject that no later
// request took up again: the agent believed them.
func (h *hostile) unanswered() []garbledAt {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []garbledAt
	for _, g := range h.garbled {
		if g.mode.odd || g.key == "" {
			continue
		}
		followed := false
		for _, k := range h.seen[g.at+1:] {
			if k == g.key {
				followed = true
				break
			}
		}
		if !followed {
			out = append(out, g)
		}
	}
	return out
}

// hostileAnswers puts a hostile gateway in front of both sandboxes: the
// answers come back truncated, as HTML, empty, not JSON, in the wrong
// shape, 8 MiB long, cut off, under a wrong content type, and for 医保
// signed by another key, with encData tampered, without a signature, or
// as a plain success where an SM2/SM4 envelope is due. The agent must
// never take a garbled answer for a result — after each, it asks again
// about the same bill (码上放心) or resends under the same msgid (医保) —
// never crash, and in the end every bill is at both exactly once.
func hostileAnswers(t *testing.T) faultRow {
	quiet := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	writeFile(t, dir, "products.csv", nhsaProducts)
	writeFile(t, dir, "partners.csv", nhsaPartners)
	reps := pick(1, 3)

	gw := msfxsb.New(msfxsb.Options{Apps: msfxsb.DefaultApps(), Logger: quiet})
	mh := &hostile{next: gw, modes: commonModes, limit: reps * len(commonModes), key: func(body []byte) string {
		v, _ := url.ParseQuery(string(body))
		return v.Get("bill_code")
	}}
	msfxURL := serveLoopback(t, mh) + "/router/rest"

	opts := nhsasb.TestOptions(nhsasb.SchemeAPI, nhsasb.EnvelopeSM2SM4)
	opts.Logger = quiet
	keyFile := nhsaChannelKey(t, dir, "prod", &opts)
	nh := nhsasb.New(opts)
	nmodes := append(envelopeModes(), commonModes...)
	nhh := &hostile{next: nh, modes: nmodes, limit: reps * len(nmodes), key: func([]byte) string { return "" }}
	nhsaURL := serveLoopback(t, nhh) + nhsasb.DefaultPath

	conf := fmt.Sprintf(nhsaConfigTmpl, dir, "prod", nhsaURL, keyFile, gm.PublicKeyBase64(&opts.PlatformKey.PublicKey), nhsasb.SchemeAPI, nhsasb.EnvelopeSM2SM4)
	// The compliance refresh (验证率, service end …) would meet the garbled
	// answers too, without an upload retry to explain them: off here.
	conf = strings.Replace(conf, "log: {level: warn}", "log: {level: info, format: json}", 1) + msfxYAML(msfxURL) + "  compliance: {refresh: 0s}\n"
	config := writeFile(t, dir, "config.yaml", conf)
	var stderr lockedBuffer
	p := startAgent(t, config, &stderr)
	acks := map[ackKey]string{}
	playUnits(t, p, nhsaUnits(pick(3, 8)), acks)
	s := drainAndOpen(t, p, config, dir, &stderr, func() int { return len(gw.Bills(msfxsb.DefaultStoreRefEntID)) + len(nh.Rows()) })
	defer s.Close()
	tl := compareLedgers(t, s, acks, backends{msfx: gw, nhsa: nh})

	for _, g := range mh.unanswered() {
		tl.lost++
		t.Errorf("码上放心 answer %s about %s was taken: the agent never asked about it again", g.mode.name, g.key)
	}
	forwarded := 0
	for _, g := range nhh.garbled {
		if g.mode.forward && !g.mode.odd {
			forwarded++
		}
	}
	nst := nh.Stats()
	if nst.DuplicateMsgids < forwarded {
		t.Errorf("%d garbled 医保 answers to requests that reached it, but only %d resends under the same msgid", forwarded, nst.DuplicateMsgids)
	}
	if nst.SignatureFailures != 0 {
		t.Errorf("the agent's own requests failed the signature check %d times", nst.SignatureFailures)
	}
	// Each refused answer is a retry the log explains.
	retries := map[string]int{}
	reasons := map[string]bool{}
	for _, line := range strings.Split(stderr.String(), "\n") {
		var e struct{ Msg, Dest, Reason string }
		if json.Unmarshal([]byte(line), &e) != nil || e.Msg != "upload: will retry" {
			continue
		}
		if e.Reason == "" {
			t.Errorf("a retry without a reason: %s", line)
			continue
		}
		retries[e.Dest]++
		reasons[e.Dest+": "+e.Reason] = true
	}
	garbled := map[string]int{}
	for dest, h := range map[string]*hostile{"msfx": mh, "nhsa": nhh} {
		for _, g := range h.garbled {
			if !g.mode.odd {
				garbled[dest]++
			}
		}
		tl.rejections += garbled[dest]
		tl.explained += min(garbled[dest], retries[dest])
	}
	for dest, name := range map[string]string{"msfx": "码上放心", "nhsa": "医保"} {
		if retries[dest] < garbled[dest] {
			t.Errorf("%d garbled %s answers, %d retries logged", garbled[dest], name, retries[dest])
		}
	}
	t.Logf("garbled answers: 码上放心 %d, 医保 %d; retries logged: %v; 医保 resends answered from the msgid: %d",
		garbled["msfx"], garbled["nhsa"], retries, nst.DuplicateMsgids)
	if testing.Verbose() {
		var rs []string
		for r := range reasons {
			rs = append(rs, r)
		}
		t.Logf("retry reasons (%d distinct), e.g.:\n  %s", len(rs), strings.Join(rs[:min(len(rs), 12)], "\n  "))
	}
	return faultRow{cycles: 1, faults: len(mh.garbled) + len(nhh.garbled), tally: tl}
}
