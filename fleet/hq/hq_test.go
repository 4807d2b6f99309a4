package hq

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tjfoc/gmsm/sm2"
	"go.yaml.in/yaml/v3"

	"github.com/pda-agent/pda-agent/catalogue"
	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/fleet/bundle"
	"github.com/pda-agent/pda-agent/fleet/hq/protocol"
	"github.com/pda-agent/pda-agent/gm"
)

func TestRenderMergeOrder(t *testing.T) {
	tree := writeTree(t, map[string]string{
		"chain.yaml": `log: {level: info, format: text}
queue: {max_batch: 100}
codes: {allowed_kinds: [msfx20, gs1, other]}
sessions: {default_partner: c0000000000000000000000000000000, idle_finish: 10m}
feedback: {bell: true}
`,
		"regions/east.yaml":        "log: {level: warn}\nqueue: {max_batch: 200}\nsessions: {default_partner: e0000000000000000000000000000000}\n",
		"stores/S1.yaml":           "queue: {max_batch: 300}\ncodes: {allowed_kinds: [msfx20]}\n",
		"groups/counter.yaml":      "queue: {max_batch: 400}\nLog: {Format: json}\n",
		"devices/PDA1.yaml":        "queue: {max_batch: 500}\nfeedback: {bell: null}\ndevice: {id: SPOOFED, operator: 张药师}\n",
		"catalogue/products.csv":   "chain products\n",
		"catalogue/partners.csv":   "partners\n",
		"stores/S1.products.csv":   "S1 products\n",
		"devices/typo.yaml":        "log: {level: debug}\n",
		"stores/S1.yml":            "x: 1\n",
		"regions/east/README.md":   "ignored\n",
		"groups/counter.yaml.orig": "ignored\n",
	})
	tr, err := LoadTree(tree)
	if err != nil {
		t.Fatal(err)
	}
	type view struct {
		Device struct{ ID, Store, Operator string }
		Log    struct{ Level, Format string }
		Queue  struct {
			MaxBatch int `yaml:"max_batch"`
		}
		Codes struct {
			AllowedKinds []string `yaml:"allowed_kinds"`
		}
		Sessions struct {
			DefaultPartner string `yaml:"default_partner"`
			IdleFinish     string `yaml:"idle_finish"`
		}
		Feedback map[string]any
	}
	render := func(d Device) (*Rendered, view) {
		t.Helper()
		r, err := tr.Render(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("%s: %v\n%s", d.ID, err, r.Config)
		}
		var v view
		if err := yaml.Unmarshal([]byte(r.Config), &v); err != nil {
			t.Fatal(err)
		}
		return r, v
	}

	r1, v1 := render(Device{ID: "PDA1", Store: "S1", Region: "east", Group: "counter"})
	if v1.Device.ID != "PDA1" || v1.Device.Operator != "张药师" || v1.Device.Store != "S1" {
		t.Errorf("device section %+v: HQ owns device.id, the tree the rest", v1.Device)
	}
	if v1.Queue.MaxBatch != 500 || v1.Log.Level != "warn" || v1.Log.Format != "json" {
		t.Errorf("merge order: %+v %+v", v1.Queue, v1.Log)
	}
	if !reflect.DeepEqual(v1.Codes.AllowedKinds, []string{"msfx20"}) {
		t.Errorf("a list must replace, got %v", v1.Codes.AllowedKinds)
	}
	if v1.Sessions.DefaultPartner != "e0000000000000000000000000000000" || v1.Sessions.IdleFinish != "10m" {
		t.Errorf("deep merge lost a key: %+v", v1.Sessions)
	}
	if _, ok := v1.Feedback["bell"]; ok {
		t.Errorf("null must delete the key: %v", v1.Feedback)
	}
	if r1.Products != "S1 products\n" || r1.Partners != "partners\n" {
		t.Errorf("catalogue %q %q", r1.Products, r1.Partners)
	}
	want := []string{"chain.yaml", "regions/east.yaml", "stores/S1.yaml", "groups/counter.yaml", "devices/PDA1.yaml", "stores/S1.products.csv"}
	if !reflect.DeepEqual(r1.Sources, want) {
		t.Errorf("sources %v", r1.Sources)
	}

	r2, v2 := render(Device{ID: "PDA2", Store: "S2"})
	if v2.Queue.MaxBatch != 100 || v2.Log.Level != "info" || v2.Log.Format != "text" || v2.Feedback["bell"] != true || len(v2.Codes.AllowedKinds) != 3 {
		t.Errorf("chain only: %+v", v2)
	}
	if r2.Products != "chain products\n" {
		t.Errorf("products %q", r2.Products)
	}

	warn := strings.Join(tr.Unused([]Device{{ID: "PDA1", Store: "S1", Region: "east", Group: "counter"}}), "\n")
	for _, w := range []string{"devices/typo.yaml: matches no enrolled device", "stores/S1.yml: ignored", "regions/east: ignored", "groups/counter.yaml.orig: ignored"} {
		if !strings.Contains(warn, w) {
			t.Errorf("warnings lack %q:\n%s", w, warn)
		}
	}
}

func TestTreeProblems(t *testing.T) {
	_, err := LoadTree(writeTree(t, map[string]string{"stores/S1.yaml": "queue: [\n", "groups/g.yaml": "- a\n"}))
	var re *RenderError
	if !errors.As(err, &re) {
		t.Fatalf("want *RenderError, got %v", err)
	}
	for _, w := range []string{"chain.yaml: missing", "stores/S1.yaml: not valid YAML", "groups/g.yaml: the top level must be a mapping"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	_, err = LoadTree(writeTree(t, map[string]string{"chain.yaml": "log: {level: info}\nLOG: {format: json}\n"}))
	if err == nil || !strings.Contains(err.Error(), "log appears twice") {
		t.Errorf("case-insensitive duplicate: %v", err)
	}
}

func TestSecretsEncrypted(t *testing.T) {
	f := newFleet(t, map[string]string{"PDA1": "S1", "PDA2": "S2"})
	tree := writeTree(t, map[string]string{
		"chain.yaml": chainYAML + `webhook:
  enabled: true
  url: https://erp.example.com/hook
  key_id: chain
  secret: chain-webhook-secret-0123456789
msfx:
  session: ""
`,
		"stores/S1.yaml": "msfx: {app_secret: s1-msfx-app-secret}\n",
	})
	res := f.publish(t, tree, PublishOptions{})
	if res.Version != 1 || res.Devices != 2 {
		t.Fatalf("result %+v", res)
	}
	for id, want := range map[string]map[string]string{
		"PDA1": {"webhook.secret": "chain-webhook-secret-0123456789", "msfx.app_secret": "s1-msfx-app-secret"},
		"PDA2": {"webhook.secret": "chain-webhook-secret-0123456789"},
	} {
		data := served(t, f.st, id)
		var b bundle.Bundle
		if err := json.Unmarshal(data, &b); err != nil {
			t.Fatal(err)
		}
		body, _ := base64.StdEncoding.DecodeString(b.Body)
		for _, secret := range want {
			if strings.Contains(string(data), secret) || strings.Contains(string(body), secret) {
				t.Fatalf("%s: a secret is readable in the bundle", id)
			}
		}
		o := f.open(t, id, data, 0)
		if strings.Contains(o.Body.Config, "secret:") || strings.Contains(o.Body.Config, "session") {
			t.Errorf("%s: secret keys left in the config text:\n%s", id, o.Body.Config)
		}
		got, err := o.Secrets(f.keys[id])
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: secrets %v, want %v", id, got, want)
		}
		// The device's own view: the bundle config with its secrets loads.
		c, err := configs.LoadLayers("device", []configs.Layer{{Name: "bundle", Data: []byte(o.Body.Config)}}, got, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.Device.ID != id || c.Webhook.Secret.Value() != want["webhook.secret"] {
			t.Errorf("%s: loaded %s / webhook secret mismatch", id, c.Device.ID)
		}
		// Another device's key cannot read them.
		other := "PDA2"
		if id == "PDA2" {
			other = "PDA1"
		}
		if _, err := o.Secrets(f.keys[other]); err == nil {
			t.Errorf("%s: another device decrypted the secrets", id)
		}
	}

	// A secret that is not a string is refused rather than mangled.
	_, err := f.st.Publish(context.Background(), writeTree(t, map[string]string{"chain.yaml": "msfx: {app_secret: 0x1F}\n"}), PublishOptions{Key: f.hq})
	if err == nil || !strings.Contains(err.Error(), "msfx.app_secret: a secret must be a string") {
		t.Errorf("numeric secret: %v", err)
	}
}

func TestInvalidConfigRefused(t *testing.T) {
	f := newFleet(t, map[string]string{"PDA1": "S1", "PDA2": "S2", "PDA3": "S2"})
	tree := writeTree(t, map[string]string{
		"chain.yaml":     chainYAML,
		"stores/S2.yaml": "queue: {max_batch: 0}\nlog: {level: loud}\nnot_a_key: 1\n",
	})
	_, err := f.st.Publish(context.Background(), tree, PublishOptions{Key: f.hq})
	var re *RenderError
	if !errors.As(err, &re) {
		t.Fatalf("want *RenderError, got %v", err)
	}
	msg := err.Error()
	for _, w := range []string{"devices PDA2, PDA3", "queue.max_batch", "log.level", "not_a_key"} {
		if !strings.Contains(msg, w) {
			t.Errorf("error lacks %q:\n%s", w, msg)
		}
	}
	if strings.Contains(msg, "PDA1") || len(re.Problems) != 1 {
		t.Errorf("PDA1 is fine and the two devices share one problem:\n%s", msg)
	}
	var ce *configs.Error
	if !errors.As(re.Problems[0].Err, &ce) || len(ce.Fields) != 3 {
		t.Errorf("problem %v", re.Problems[0].Err)
	}
	// Nothing staged, no version used.
	st := mustStatus(t, f.st)
	if st.Version != 0 || len(st.Rollouts) != 0 {
		t.Errorf("a refused publish left version %d, %d rollouts", st.Version, len(st.Rollouts))
	}
	for _, d := range st.Devices {
		if d.Staged != nil || d.Served != nil {
			t.Errorf("%s has a bundle", d.ID)
		}
	}
}

func TestVersionMonotonic(t *testing.T) {
	f := newFleet(t, map[string]string{"PDA1": "S1"})
	tree := writeTree(t, map[string]string{"chain.yaml": chainYAML})
	var applied uint64
	for i := 1; i <= 3; i++ {
		if i == 2 {
			// A refused publish in between uses no version.
			bad := writeTree(t, map[string]string{"chain.yaml": "queue: {max_batch: -1}\n"})
			if _, err := f.st.Publish(context.Background(), bad, PublishOptions{Key: f.hq}); err == nil {
				t.Fatal("bad tree published")
			}
		}
		res := f.publish(t, tree, PublishOptions{})
		if res.Version != uint64(i) || res.Rollout != uint64(i) {
			t.Fatalf("publish %d: version %d rollout %d", i, res.Version, res.Rollout)
		}
		o := f.open(t, "PDA1", served(t, f.st, "PDA1"), applied)
		if o.Body.Version != res.Version {
			t.Fatalf("served version %d", o.Body.Version)
		}
		applied = o.Body.Version
	}
	// The previous rollout was superseded.
	st := mustStatus(t, f.st)
	if st.Rollouts[1].State != RolloutHalted || !strings.Contains(st.Rollouts[1].Reason, "superseded by rollout 3") {
		t.Errorf("rollout 2: %s %s", st.Rollouts[1].State, st.Rollouts[1].Reason)
	}

	// Reopening the file keeps the counter; another key is refused.
	st2, err := Open(f.st.Path(), Options{Now: f.clk.Now, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st2.Publish(context.Background(), tree, PublishOptions{Key: genKey(t)})
	if !errors.Is(err, ErrHQKeyChanged) {
		t.Fatalf("another HQ key: %v", err)
	}
	res, err := st2.Publish(context.Background(), tree, PublishOptions{Key: f.hq})
	if err != nil || res.Version != 4 {
		t.Fatalf("after reopen: %v %+v", err, res)
	}
}

func TestETag(t *testing.T) {
	f := newFleet(t, map[string]string{"PDA1": "S1"})
	_, base := startServer(t, f.st, ServeOptions{Now: f.clk.Now}, true)
	if r := f.get(t, base, "PDA1", ""); r.status != http.StatusNotFound || r.code != protocol.CodeNoBundle {
		t.Fatalf("before any publish: %d %s", r.status, r.body)
	}
	f.publish(t, writeTree(t, map[string]string{"chain.yaml": chainYAML}), PublishOptions{})
	var r response
	eventually(t, "the publish to reach serve", func() bool { r = f.get(t, base, "PDA1", ""); return r.status == http.StatusOK })
	o := f.open(t, "PDA1", r.body, 0)
	etag := `"` + o.Hash + `"`
	if r.header.Get("ETag") != etag || r.header.Get("Cache-Control") != "no-cache" || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", r.header)
	}
	if o.Hash != bundle.Hash(mustBody(t, r.body)) {
		t.Fatal("ETag is not bundle.Hash of the body")
	}
	for _, inm := range []string{etag, `"other", ` + etag, "W/" + etag, "*"} {
		if r := f.get(t, base, "PDA1", inm); r.status != http.StatusNotModified || r.header.Get("ETag") != etag || len(r.body) != 0 {
			t.Errorf("If-None-Match %s: %d", inm, r.status)
		}
	}
	if r := f.get(t, base, "PDA1", `"stale"`); r.status != http.StatusOK {
		t.Errorf("stale ETag: %d", r.status)
	}
}

func mustBody(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bundle.Bundle
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(b.Body)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestDeviceAuth(t *testing.T) {
	f := newFleet(t, map[string]string{"PDA1": "S1", "PDA2": "S1"})
	f.publish(t, writeTree(t, map[string]string{"chain.yaml": chainYAML}), PublishOptions{})
	_, base := startServer(t, f.st, ServeOptions{Now: f.clk.Now}, true)
	now := f.clk.Now()
	url := base + protocol.BundlePath("PDA1")
	stranger := genKey(t)
	report := []byte(`{"state":"APPLIED","version":1,"hash":"x"}`)
	cases := []struct {
		name   string
		method string
		url    string
		device string
		key    *sm2.PrivateKey
		at     time.Time
		body   []byte
		edit   func(*http.Request)
		status int
		code   string
	}{
		{"no headers", "GET", url, "PDA1", nil, now, nil, nil, 401, protocol.CodeAuthMissing},
		{"wrong key", "GET", url, "PDA1", stranger, now, nil, nil, 401, protocol.CodeAuthSignature},
		{"another device's key", "GET", url, "PDA1", f.keys["PDA2"], now, nil, nil, 401, protocol.CodeAuthSignature},
		{"wrong device header", "GET", url, "PDA2", f.keys["PDA2"], now, nil, nil, 401, protocol.CodeAuthDevice},
		{"stale time", "GET", url, "PDA1", f.keys["PDA1"], now.Add(-6 * time.Minute), nil, nil, 401, protocol.CodeAuthTime},
		{"future time", "GET", url, "PDA1", f.keys["PDA1"], now.Add(6 * time.Minute), nil, nil, 401, protocol.CodeAuthTime},
		{"time not signed", "GET", url, "PDA1", f.keys["PDA1"], now, nil, func(r *http.Request) {
			r.Header.Set(protocol.HeaderTime, strconv.FormatInt(now.Unix()+1, 10))
		}, 401, protocol.CodeAuthSignature},
		{"garbled signature", "GET", url, "PDA1", f.keys["PDA1"], now, nil, func(r *http.Request) {
			r.Header.Set(protocol.HeaderSignature, "not base64!")
		}, 401, protocol.CodeAuthMissing},
		{"signed for another path", "GET", base + protocol.BundlePath("PDA2"), "PDA2", f.keys["PDA2"], now, nil, func(r *http.Request) {
			r.URL.Path = protocol.BundlePath("PDA1") // path/device mismatch
		}, 401, protocol.CodeAuthDevice},
		{"report body altered", "POST", base + protocol.ReportPath("PDA1"), "PDA1", f.keys["PDA1"], now, report, func(r *http.Request) {
			r.Body = http.NoBody
			r.ContentLength = 0
		}, 401, protocol.CodeAuthSignature},
		{"unknown device", "GET", base + protocol.BundlePath("PDA9"), "PDA9", stranger, now, nil, nil, 404, protocol.CodeUnknownDevice},
		{"wrong method", "POST", url, "PDA1", f.keys["PDA1"], now, nil, nil, 405, protocol.CodeMethod},
		{"no such path", "GET", base + "/v1/devices/PDA1/secrets", "PDA1", f.keys["PDA1"], now, nil, nil, 404, protocol.CodeNotFound},
		{"ok", "GET", url, "PDA1", f.keys["PDA1"], now.Add(-4 * time.Minute), nil, nil, 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, c.method, c.url, c.device, c.key, c.at, c.body, c.edit)
			if r.status != c.status || r.code != c.code {
				t.Fatalf("got %d %q (%s), want %d %q", r.status, r.code, r.body, c.status, c.code)
			}
			if c.status == 401 && r.header.Get("Content-Type") != "application/json" {
				t.Errorf("401 without a JSON body")
			}
		})
	}
	if d := deviceStatus(t, f.st, "PDA2"); d.Report != nil {
		t.Errorf("a refused request recorded something: %+v", d.Report)
	}
}

func TestReportsRecorded(t *testing.T) {
	f := newFleet(t, map[string]string{"PDA1": "S1"})
	f.publish(t, writeTree(t, map[string]string{"chain.yaml": chainYAML}), PublishOptions{})
	_, base := startServer(t, f.st, ServeOptions{Now: f.clk.Now}, true)
	o := f.open(t, "PDA1", f.get(t, base, "PDA1", "").body, 0)

	applying, _ := json.Marshal(protocol.Report{State: protocol.StateApplying, Version: 1, Hash: o.Hash})
	t0 := f.clk.Now()
	replayable := func() response {
		return do(t, "POST", base+protocol.ReportPath("PDA1"), "PDA1", f.keys["PDA1"], t0, applying, nil)
	}
	if r := replayable(); r.status != http.StatusNoContent {
		t.Fatalf("report: %d %s", r.status, r.body)
	}
	if d := deviceStatus(t, f.st, "PDA1"); d.Report == nil || d.Report.State != protocol.StateApplying {
		t.Fatalf("204 before the report was stored: %+v", d.Report)
	}
	f.clk.Advance(2 * time.Second)
	if r := f.report(t, base, "PDA1", protocol.Report{State: protocol.StateApplied, Version: 1, Hash: o.Hash, ConfigHash: "abc"}); r.status != http.StatusNoContent {
		t.Fatalf("report: %d %s", r.status, r.body)
	}
	// A replay of the earlier APPLYING is accepted and changes nothing.
	if r := replayable(); r.status != http.StatusNoContent {
		t.Fatalf("replay: %d", r.status)
	}
	d := deviceStatus(t, f.st, "PDA1")
	if d.Report == nil || d.Report.State != protocol.StateApplied || d.Report.Version != 1 || d.Report.Hash != o.Hash || d.Report.ConfigHash != "abc" {
		t.Fatalf("report %+v", d.Report)
	}
	// FAILED with an error, then the device reports the truth about an
	// older version it fell back to: the last report shows it.
	f.clk.Advance(time.Second)
	long := strings.Repeat("é", protocol.MaxReportErrorLen+10)
	if r := f.report(t, base, "PDA1", protocol.Report{State: protocol.StateFailed, Version: 1, Hash: o.Hash, Error: long}); r.status != http.StatusNoContent {
		t.Fatal(r.status)
	}
	d = deviceStatus(t, f.st, "PDA1")
	if d.Report.State != protocol.StateFailed || len([]rune(d.Report.Error)) != protocol.MaxReportErrorLen+1 {
		t.Errorf("failed report %q… (%d runes)", d.Report.State, len([]rune(d.Report.Error)))
	}
	// Bad reports.
	for _, body := range []string{`{"state":"DONE","version":1}`, `not json`} {
		r := do(t, "POST", base+protocol.ReportPath("PDA1"), "PDA1", f.keys["PDA1"], f.clk.Now(), []byte(body), nil)
		if r.status != http.StatusBadRequest || r.code != protocol.CodeBadRequest {
			t.Errorf("%s: %d %s", body, r.status, r.body)
		}
	}
	big := []byte(`{"state":"APPLIED","error":"` + strings.Repeat("x", protocol.MaxReportSize) + `"}`)
	if r := do(t, "POST", base+protocol.ReportPath("PDA1"), "PDA1", f.keys["PDA1"], f.clk.Now(), big, nil); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("huge report: %d", r.status)
	}
	eventually(t, "last_seen", func() bool { return !deviceStatus(t, f.st, "PDA1").LastSeen.IsZero() })
}

func TestRolloutWaves(t *testing.T) {
	f := newFleet(t, map[string]string{"P1": "S1", "P2": "S2", "P3": "S3", "P4": "S4", "P5": "S4"})
	_, base := startServer(t, f.st, ServeOptions{Now: f.clk.Now}, true)
	res := f.publish(t, writeTree(t, map[string]string{"chain.yaml": chainYAML}), PublishOptions{Percent: 50, Threshold: DefaultThreshold})
	if len(res.Waves) != 2 || len(res.Waves[0].Stores) != 2 || len(res.Waves[1].Stores) != 2 {
		t.Fatalf("waves %+v", res.Waves)
	}
	inWave1 := map[string]bool{}
	for _, s := range res.Waves[0].Stores {
		inWave1[s] = true
	}
	var wave1, wave2 []string
	for id, store := range map[string]string{"P1": "S1", "P2": "S2", "P3": "S3", "P4": "S4", "P5": "S4"} {
		if inWave1[store] {
			wave1 = append(wave1, id)
		} else {
			wave2 = append(wave2, id)
		}
	}
	eventually(t, "wave 1 served", func() bool { return f.get(t, base, wave1[0], "").status == http.StatusOK })
	for _, id := range wave2 {
		if r := f.get(t, base, id, ""); r.status != http.StatusNotFound || r.code != protocol.CodeNoBundle {
			t.Fatalf("wave-2 device %s before its wave: %d %s", id, r.status, r.body)
		}
	}
	f.applyAll(t, base, protocol.StateApplied, wave1...)
	eventually(t, "wave 2 released", func() bool { return f.get(t, base, wave2[0], "").status == http.StatusOK })
	st := mustStatus(t, f.st)
	if r := st.Rollouts[0]; r.State != RolloutRunning || r.Current != 1 || r.Waves[0].Counts == nil || r.Waves[0].Counts.Applied != len(wave1) {
		t.Fatalf("rollout after wave 1: %+v", r)
	}
	f.applyAll(t, base, protocol.StateApplied, wave2...)
	eventually(t, "rollout completed", func() bool { return mustStatus(t, f.st).Rollouts[0].State == RolloutCompleted })
	r := mustStatus(t, f.st).Rollouts[0]
	if r.Live.Applied != len(wave2) || r.Live.FailedRatio != 0 || r.Reason != "" {
		t.Errorf("completed rollout %+v", r)
	}

	// The same percentage picks the same canary stores next time.
	res2 := f.publish(t, writeTree(t, map[string]string{"chain.yaml": chainYAML}), PublishOptions{Percent: 50})
	if !reflect.DeepEqual(res2.Waves[0].Stores, res.Waves[0].Stores) {
		t.Errorf("canaries moved: %v then %v", res.Waves[0].Stores, res2.Waves[0].Stores)
	}
}

func TestRolloutHalts(t *testing.T) {
	f := newFleet(t, map[string]string{"P1": "S1", "P2": "S2", "P3": "S3", "P4": "S4"})
	_, base := startServer(t, f.st, ServeOptions{Now: f.clk.Now}, true)
	tree := writeTree(t, map[string]string{"chain.yaml": chainYAML})
	all := []string{"P1", "P2", "P3", "P4"}
	f.publish(t, tree, PublishOptions{Threshold: DefaultThreshold})
	eventually(t, "version 1 served", func() bool { return f.get(t, base, "P1", "").status == http.StatusOK })
	f.applyAll(t, base, protocol.StateApplied, all...)
	eventually(t, "rollout 1 completed", func() bool { return mustStatus(t, f.st).Rollouts[0].State == RolloutCompleted })
	v1 := map[string]string{}
	for _, id := range all {
		v1[id] = f.get(t, base, id, "").header.Get("ETag")
	}

	res := f.publish(t, tree, PublishOptions{Stores: []string{"S1", "S2"}, Threshold: DefaultThreshold})
	if res.Version != 2 || !reflect.DeepEqual(res.Waves[0].Stores, []string{"S1", "S2"}) {
		t.Fatalf("publish 2: %+v", res)
	}
	eventually(t, "version 2 served to wave 1", func() bool { return f.get(t, base, "P1", "").header.Get("ETag") != v1["P1"] })
	f.applyAll(t, base, protocol.StateFailed, "P1")
	f.applyAll(t, base, protocol.StateApplied, "P2")
	eventually(t, "rollout 2 halted", func() bool { return mustStatus(t, f.st).Rollouts[0].State == RolloutHalted })
	r := mustStatus(t, f.st).Rollouts[0]
	if r.Waves[0].Counts.Failed != 1 || r.Waves[0].Counts.FailedRatio != 0.5 || !strings.Contains(r.Reason, "above the threshold 20%") {
		t.Fatalf("halted rollout %+v", r)
	}
	// Wave-2 devices keep getting the previous bundle.
	for range 3 {
		for _, id := range []string{"P3", "P4"} {
			g := f.get(t, base, id, "")
			if g.status != http.StatusOK || g.header.Get("ETag") != v1[id] || f.open(t, id, g.body, 0).Body.Version != 1 {
				t.Fatalf("%s after the halt: %d %s", id, g.status, g.header.Get("ETag"))
			}
			if g := f.get(t, base, id, v1[id]); g.status != http.StatusNotModified {
				t.Fatalf("%s: %d", id, g.status)
			}
		}
		time.Sleep(20 * time.Millisecond) // a few writer ticks
	}
	d := deviceStatus(t, f.st, "P3")
	if d.Staged.Version != 2 || d.Served.Version != 1 {
		t.Errorf("P3 staged %d served %d", d.Staged.Version, d.Served.Version)
	}
}

func TestWaveTimeout(t *testing.T) {
	f := newFleet(t, map[string]string{"P1": "S1", "P2": "S2", "P3": "S3"})
	_, base := startServer(t, f.st, ServeOptions{Now: f.clk.Now}, true)
	tree := writeTree(t, map[string]string{"chain.yaml": chainYAML})

	// Nobody of wave 1 reports: halted at the timeout.
	f.publish(t, tree, PublishOptions{Stores: []string{"S1"}, WaveTimeout: time.Minute})
	time.Sleep(30 * time.Millisecond)
	if s := mustStatus(t, f.st).Rollouts[0]; s.State != RolloutRunning {
		t.Fatalf("halted before the timeout: %+v", s)
	}
	f.clk.Advance(61 * time.Second)
	eventually(t, "halt at the timeout", func() bool { return mustStatus(t, f.st).Rollouts[0].State == RolloutHalted })
	if s := mustStatus(t, f.st).Rollouts[0]; !strings.Contains(s.Reason, "no device of wave 1 reported") {
		t.Errorf("reason %q", s.Reason)
	}

	// One of two reports APPLIED, the other stays silent: the timeout moves on.
	f.publish(t, tree, PublishOptions{Stores: []string{"S1", "S2"}, WaveTimeout: time.Minute})
	eventually(t, "wave 1 served", func() bool {
		r := f.get(t, base, "P1", "")
		return r.status == http.StatusOK && f.open(t, "P1", r.body, 0).Body.Version == 2
	})
	f.applyAll(t, base, protocol.StateApplied, "P1")
	f.clk.Advance(61 * time.Second)
	eventually(t, "wave 2 released", func() bool { return f.get(t, base, "P3", "").status == http.StatusOK })
	if s := mustStatus(t, f.st).Rollouts[0]; s.Waves[0].Counts.Pending != 1 || s.Current != 1 {
		t.Errorf("wave 1 counts %+v", s.Waves[0].Counts)
	}
}

func TestSilentDevices(t *testing.T) {
	f := newFleet(t, map[string]string{"P1": "S1", "P2": "S1", "P3": "S1"})
	if _, err := f.st.SetSettings(time.Minute, 0); err != nil {
		t.Fatal(err)
	}
	_, base := startServer(t, f.st, ServeOptions{Now: f.clk.Now}, true)
	f.get(t, base, "P1", "")
	f.clk.Advance(2 * time.Minute)
	f.get(t, base, "P2", "")
	f.clk.Advance(2 * time.Minute) // P1 last seen 4m ago (> 3 × 1m), P2 2m ago, P3 never
	eventually(t, "last_seen flushed", func() bool { return !deviceStatus(t, f.st, "P2").LastSeen.IsZero() })
	st := mustStatus(t, f.st)
	got := map[string]bool{}
	for _, d := range st.Devices {
		got[d.ID] = d.Silent
	}
	if !got["P1"] || got["P2"] || !got["P3"] || st.Silent != 2 {
		t.Errorf("silent %v (%d)", got, st.Silent)
	}
	// The threshold can be overridden per call.
	s2, err := f.st.Status(StatusOptions{SilentAfter: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if s2.Silent != 1 {
		t.Errorf("with 5m: %d silent", s2.Silent)
	}
}

func TestExport(t *testing.T) {
	f := newFleet(t, map[string]string{"P1": "S1", "P2": "S2"})
	f.publish(t, writeTree(t, map[string]string{"chain.yaml": chainYAML, "catalogue/products.csv": "code,name\n1,x\n"}), PublishOptions{Stores: []string{"S1"}})
	dir := t.TempDir()
	res, err := f.st.Export(dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.Written != 1 || !reflect.DeepEqual(res.NoBundle, []string{"P2"}) {
		t.Fatalf("export %+v", res)
	}
	data, err := os.ReadFile(filepath.Join(dir, "devices", "P1.bundle"))
	if err != nil {
		t.Fatal(err)
	}
	o := f.open(t, "P1", data, 0)
	if o.Body.Version != 1 || o.Body.Products != "" || o.Body.Catalogue == nil {
		t.Fatalf("exported bundle %+v", o.Body)
	}
	// Its catalogue is exported beside it, under its address.
	cat, err := os.ReadFile(filepath.Join(dir, "catalogues", o.Body.Catalogue.SHA256+".catalogue"))
	if err != nil {
		t.Fatal(err)
	}
	if body, err := catalogue.OpenSigned(cat, &f.hq.PublicKey, o.Body.Catalogue.SHA256); err != nil || body.Products != "code,name\n1,x\n" {
		t.Errorf("exported catalogue %+v %v", body, err)
	}
	if res.Catalogues != 1 {
		t.Errorf("export %+v: want 1 catalogue", res)
	}
	if _, err := os.Stat(filepath.Join(dir, "devices", "P2.bundle")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("wave-2 device exported before its wave: %v", err)
	}
	fi1, _ := os.Stat(filepath.Join(dir, "devices", "P1.bundle"))
	res, err = f.st.Export(dir)
	if err != nil || res.Unchanged != 1 || res.Written != 0 {
		t.Fatalf("second export %+v %v", res, err)
	}
	fi2, _ := os.Stat(filepath.Join(dir, "devices", "P1.bundle"))
	if !fi1.ModTime().Equal(fi2.ModTime()) {
		t.Error("an unchanged bundle was rewritten")
	}
	// Re-enrolling P1 with a new key drops its bundles and its file.
	k := genKey(t)
	rs, err := f.st.Enroll(Device{ID: "P1", Store: "S1", PublicKey: gm.PublicKeyBase64(&k.PublicKey)})
	if err != nil || !rs[0].KeyChanged {
		t.Fatalf("re-enroll %+v %v", rs, err)
	}
	if res, err = f.st.Export(dir); err != nil || res.Removed != 1 {
		t.Fatalf("export after re-enroll %+v %v", res, err)
	}
}

func TestBusy(t *testing.T) {
	f := newFleet(t, map[string]string{"P1": "S1"})
	f.publish(t, writeTree(t, map[string]string{"chain.yaml": chainYAML}), PublishOptions{})
	// No writer runs, so a report waits ReportWait and holds its slot.
	srv, base := startServer(t, f.st, ServeOptions{Now: f.clk.Now, MaxInFlight: 1, RetryAfter: 2 * time.Second, ReportWait: 2 * time.Second}, false)
	done := make(chan response, 1)
	go func() {
		body := []byte(`{"state":"APPLIED","version":1,"hash":"h"}`)
		req, _ := http.NewRequest("POST", base+protocol.ReportPath("P1"), strings.NewReader(string(body)))
		if err := protocol.Sign(req, "P1", f.keys["P1"], body, f.clk.Now()); err != nil {
			done <- response{}
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- response{}
			return
		}
		resp.Body.Close()
		done <- response{status: resp.StatusCode, header: resp.Header}
	}()
	eventually(t, "the report in flight", func() bool { return srv.inflight.Load() == 1 })
	r := f.get(t, base, "P1", "")
	if r.status != http.StatusServiceUnavailable || r.code != protocol.CodeBusy {
		t.Fatalf("over the limit: %d %s", r.status, r.body)
	}
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 2 || ra > 5 {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	rep := <-done
	if rep.status != http.StatusServiceUnavailable || rep.header.Get("Retry-After") == "" {
		t.Errorf("an uncommitted report: %d", rep.status)
	}
	if r := f.get(t, base, "P1", ""); r.status != http.StatusOK {
		t.Errorf("after the limit cleared: %d", r.status)
	}
}

func TestEnrollChecks(t *testing.T) {
	st := newStore(t, newClock())
	k := genKey(t)
	pem, err := gm.PublicKeyPEM(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := st.Enroll(Device{ID: "PDA-1", Store: "S1", Region: "east", Group: "pda", PublicKey: string(pem)})
	if err != nil || !rs[0].New || rs[0].Device.PublicKey != gm.PublicKeyBase64(&k.PublicKey) || rs[0].Device.Fingerprint != gm.Fingerprint(&k.PublicKey) {
		t.Fatalf("enroll with PEM: %+v %v", rs, err)
	}
	rs, err = st.Enroll(Device{ID: "PDA-1", Store: "S2", PublicKey: gm.PublicKeyBase64(&k.PublicKey)})
	if err != nil || rs[0].New || rs[0].KeyChanged {
		t.Fatalf("update: %+v %v", rs, err)
	}
	for _, d := range []Device{
		{ID: "this-id-is-far-too-long", Store: "S1", PublicKey: gm.PublicKeyBase64(&k.PublicKey)},
		{ID: "P1", Store: "../etc", PublicKey: gm.PublicKeyBase64(&k.PublicKey)},
		{ID: "P1", Store: "", PublicKey: gm.PublicKeyBase64(&k.PublicKey)},
		{ID: "P1", Store: "S1", PublicKey: "not a key"},
	} {
		if _, err := st.Enroll(d); err == nil {
			t.Errorf("enrolled %+v", d)
		}
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.db"), Options{}); !errors.Is(err, ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}

// TestNHSATablesInBundles: the chain sets 医保 verdict rules and store-wide
// row defaults once in chain.yaml (provinces word their answers
// differently); they reach every device's config, and a bad rule or
// default is refused at publish, not on the device.
func TestNHSATablesInBundles(t *testing.T) {
	const nhsaYAML = `nhsa:
  verdicts:
    - {all: ["交易正在处理"], kind: transient, hint: "province busy text"}
  defaults: {hi_feesetl_type: "1", rx_circ_flag: "0"}
`
	tr, err := LoadTree(writeTree(t, map[string]string{"chain.yaml": nhsaYAML}))
	if err != nil {
		t.Fatal(err)
	}
	r, err := tr.Render(Device{ID: "PDA1", Store: "S1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(); err != nil {
		t.Fatalf("valid tables refused: %v", err)
	}
	cfg, err := configs.LoadBytes("bundle", []byte(r.Config), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.NHSA.Verdicts) != 1 || cfg.NHSA.Verdicts[0].Kind != "transient" || cfg.NHSA.Verdicts[0].All[0] != "交易正在处理" ||
		cfg.NHSA.Defaults["hi_feesetl_type"] != "1" || cfg.NHSA.Defaults["rx_circ_flag"] != "0" {
		t.Fatalf("tables not carried: %+v %+v", cfg.NHSA.Verdicts, cfg.NHSA.Defaults)
	}

	for _, bad := range []string{
		"nhsa:\n  verdicts:\n    - {all: [\"x\"], kind: maybe}\n",
		"nhsa:\n  defaults: {psn_no: \"P1\"}\n",
	} {
		tr, err := LoadTree(writeTree(t, map[string]string{"chain.yaml": bad}))
		if err != nil {
			t.Fatal(err)
		}
		r, err := tr.Render(Device{ID: "PDA1", Store: "S1"})
		if err == nil {
			err = r.Validate()
		}
		if err == nil {
			t.Errorf("published without complaint:\n%s", bad)
		}
	}
}
