package configs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestEmbeddedFilesAreValid(t *testing.T) {
	for name, data := range map[string][]byte{"example": Example(), "demo": Demo()} {
		if _, err := LoadBytes(name, data, nil); err != nil {
			t.Errorf("%s.yaml: %v", name, err)
		}
	}
	// The bare defaults need a device id, and say so.
	_, err := LoadBytes("defaults", nil, nil)
	var ce *Error
	if !errors.As(err, &ce) || len(ce.Fields) != 1 || ce.Fields[0].Key != "device.id" {
		t.Fatalf("defaults alone: %v", err)
	}
	c, err := LoadBytes("defaults", nil, []string{"PDA_DEVICE_ID=P1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Queue.MaxSize != 1<<30 || c.Upload.MaxBackoff != 5*time.Minute || c.QueuePath() != "/var/lib/pda-agent/queue.db" {
		t.Fatalf("defaults: %+v", c)
	}
}

// yamlKeys flattens a YAML document into dotted keys of its mappings.
func yamlKeys(t *testing.T, data []byte) map[string]bool {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
				walk(prefix+k+".", sub)
				continue
			}
			out[prefix+k] = true
		}
	}
	walk("", doc)
	return out
}

// Every key of the struct is in the defaults and documented in the example.
func TestEveryKeyDefaultedAndDocumented(t *testing.T) {
	want := leafKeys(reflect.TypeOf(Config{}), "")
	sort.Strings(want)
	for name, data := range map[string][]byte{"default.yaml": Default(), "example.yaml": Example()} {
		have := yamlKeys(t, data)
		// A map-valued key (nhsa.defaults) is one key with entries of
		// its own.
		for k := range have {
			for _, w := range want {
				if strings.HasPrefix(k, w+".") {
					delete(have, k)
					have[w] = true
				}
			}
		}
		for _, k := range want {
			if !have[k] {
				t.Errorf("%s lacks key %s", name, k)
			}
			delete(have, k)
		}
		for k := range have {
			t.Errorf("%s has key %s the config does not know", name, k)
		}
	}
}

func TestEveryProblemIsReported(t *testing.T) {
	bad := `
device: {id: "bad id!"}
log: {level: loud, format: xml}
queue:
  max_size: 12 parsecs
  retain_bills: 30
  max_batch: 0
  compaction: yes
codes:
  allowed_kinds: [msfx20, qr]
  gs_substitutes: ["GS"]
  other_rules: [{name: a, pattern: "(["}]
sessions: {command_prefix: "8", default_type: 999}
scanners:
  - {name: a, type: bluetooth}
  - {name: a, type: replay}
webhook: {enabled: true, url: "ftp://x", secret: short, concurrency: 0}
surprise: 1
`
	_, err := LoadBytes("bad.yaml", []byte(bad), []string{"PDA_NOPE=1", "PDA_CONFIG=/etc/x", "HOME=/root"})
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %v", err)
	}
	got := map[string]string{}
	for _, f := range ce.Fields {
		got[f.Key] = f.Msg
	}
	// Decoding problems are reported first; validation needs a decoded
	// config, so check those with a second, well-typed file.
	for _, k := range []string{"queue.max_size", "queue.retain_bills", "queue.compaction", "surprise", "$PDA_NOPE"} {
		if got[k] == "" {
			t.Errorf("no problem reported for %s; got %v", k, got)
		}
	}
	if !strings.Contains(got["queue.compaction"], "unknown key") || !strings.Contains(got["queue.retain_bills"], "duration") {
		t.Errorf("messages: %v", got)
	}
	// What did decode is validated in the same pass.
	if got["device.id"] == "" || got["webhook.url"] == "" {
		t.Errorf("validation skipped on a file with decoding problems: %v", got)
	}

	typed := strings.NewReplacer("12 parsecs", "64MiB", "retain_bills: 30", "retain_bills: 24h", "  compaction: yes\n", "", "surprise: 1\n", "").Replace(bad)
	_, err = LoadBytes("bad.yaml", []byte(typed), nil)
	if !errors.As(err, &ce) {
		t.Fatalf("got %v", err)
	}
	got = map[string]string{}
	for _, f := range ce.Fields {
		got[f.Key] = f.Msg
	}
	for _, k := range []string{"device.id", "log.level", "log.format", "queue.max_batch",
		"codes.allowed_kinds[1]", "codes.gs_substitutes[0]", "codes.other_rules[0].pattern",
		"sessions.command_prefix", "sessions.default_type", "scanners[0].type", "scanners[1].name",
		"scanners[1].path", "webhook.url", "webhook.key_id", "webhook.secret", "webhook.concurrency"} {
		if got[k] == "" {
			t.Errorf("no problem reported for %s", k)
		}
	}
	if len(got) != 16 {
		t.Errorf("%d problems, want 16: %v", len(got), ce)
	}
	// The secret's value never appears in the report.
	if strings.Contains(ce.Error(), "short") {
		t.Errorf("secret leaked: %s", ce)
	}
}

func TestEnvOverrides(t *testing.T) {
	env := []string{
		"PDA_DEVICE_ID=P7",
		"PDA_QUEUE_MAX_SIZE=2GiB",
		"PDA_CODES_ALLOWED_KINDS=[msfx20, gs1]",
		"PDA_WEBHOOK_ENABLED=true",
		"PDA_WEBHOOK_URL=http://127.0.0.1:9/x",
		"PDA_WEBHOOK_KEY_ID=k",
		"PDA_WEBHOOK_SECRET=0123456789abcdef-secret",
		"PDA_WEBHOOK_BILL_TYPES=[321, 116]",
		"PDA_UPLOAD_LEASE=30s",
	}
	c, err := LoadBytes("env", []byte("device: {id: FILE}\n"), env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Device.ID != "P7" || c.Queue.MaxSize != 2<<30 || len(c.Codes.AllowedKinds) != 2 ||
		!c.Webhook.Enabled || c.Webhook.Secret.Value() != "0123456789abcdef-secret" ||
		c.Upload.Lease != 30*time.Second || !reflect.DeepEqual(c.Webhook.BillTypes, []int{321, 116}) {
		t.Fatalf("overrides not applied: %+v", c)
	}
	if got := c.Destinations(321); !reflect.DeepEqual(got, []string{"webhook"}) {
		t.Fatalf("destinations for 321: %v", got)
	}
	if got := c.Destinations(102); len(got) != 0 {
		t.Fatalf("destinations for 102: %v", got)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	const secret = "0123456789abcdef-secret"
	c, err := LoadBytes("env", nil, []string{"PDA_DEVICE_ID=P7", "PDA_WEBHOOK_SECRET=" + secret})
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "cfg", c, "secret", c.Webhook.Secret)
	js, _ := json.Marshal(c)
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", *c), "%#v": fmt.Sprintf("%#v", *c),
		"%s": fmt.Sprintf("%s", c.Webhook.Secret), "json": string(js), "slog": logged.String(),
	} {
		if strings.Contains(out, secret) {
			t.Errorf("%s shows the secret: %s", name, out)
		}
	}
	if c.Webhook.Secret.Value() != secret {
		t.Fatal("Value lost the secret")
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing.yaml"), nil); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	p := filepath.Join(dir, "broken.yaml")
	os.WriteFile(p, []byte("device: [unclosed\n"), 0o600)
	var ce *Error
	if _, err := Load(p, nil); !errors.As(err, &ce) || ce.Fields[0].Key != "(file)" {
		t.Fatalf("broken YAML: %v", err)
	}
	os.WriteFile(p, []byte("- a list\n"), 0o600)
	if _, err := Load(p, nil); !errors.As(err, &ce) || !strings.Contains(ce.Error(), "mapping") {
		t.Fatalf("list document: %v", err)
	}
}

func TestByteSize(t *testing.T) {
	ok := map[string]ByteSize{"0": 0, "512": 512, "64KiB": 64 << 10, "1 GiB": 1 << 30, "5MB": 5e6, "7B": 7}
	for in, want := range ok {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5GiB", "ten", "1PiB", "99999999999999GiB"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) accepted", in)
		}
	}
	if s := ByteSize(8 << 20).String(); s != "8MiB" {
		t.Errorf("String: %s", s)
	}
}

func TestLayersValuesAndSecretKeys(t *testing.T) {
	hq := []byte("device: {id: HQ1}\nqueue: {max_batch: 100}\nmsfx: {rate: 5}\n")
	local := []byte("device: {id: LOCAL1}\n")
	c, err := LoadLayers("fleet", []Layer{{Name: "bundle", Data: hq}, {Name: "local", Data: local}},
		map[string]string{"webhook.secret": "from-the-bundle-0123456789"}, []string{"PDA_QUEUE_MAX_BATCH=7"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Device.ID != "LOCAL1" || c.Queue.MaxBatch != 7 || c.Msfx.Rate != 5 || c.Webhook.Secret.Value() != "from-the-bundle-0123456789" {
		t.Fatalf("layers: %+v", c)
	}
	if _, err := LoadLayers("fleet", nil, map[string]string{"no.such": "x"}, []string{"PDA_DEVICE_ID=A"}); err == nil {
		t.Fatal("unknown value key accepted")
	}
	keys := SecretKeys()
	for _, want := range []string{"msfx.app_secret", "msfx.session", "nhsa.prod.app_secret", "nhsa.test.channel_key", "nhsa.test.paas_token", "webhook.secret"} {
		found := false
		for _, k := range keys {
			found = found || k == want
		}
		if !found {
			t.Errorf("SecretKeys lacks %s: %v", want, keys)
		}
	}
}

// TestNHSARecerSysCode: recer_sys_code is required in every 医保 request
// header, so validate (the unit's ExecStartPre) names the key rather than
// the agent failing at start.
func TestNHSARecerSysCode(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{"", "nhsa.test.recer_sys_code"},
		{"ELEVENCHARS", "nhsa.test.recer_sys_code"},
		{"MBS_LOCAL", ""},
	} {
		demo := strings.Replace(string(Demo()), "recer_sys_code: SANDBOX", "recer_sys_code: \""+tc.value+"\"", 1)
		_, err := LoadBytes("demo.yaml", []byte(demo), nil)
		var ce *Error
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.value, err)
		case tc.want != "" && (!errors.As(err, &ce) || len(ce.Fields) != 1 || ce.Fields[0].Key != tc.want):
			t.Errorf("%q: got %v, want one problem at %s", tc.value, err, tc.want)
		}
	}
}

// TestNHSAProvinceKeys: the per-province keys and the verdict table are
// checked by validate, each problem at its key.
func TestNHSAProvinceKeys(t *testing.T) {
	for _, tc := range []struct{ extra, want string }{
		{"  input_shape: object\n  signtype: SM3\n  verdicts:\n    - {all: [\"核心服务\", \"不可用\"], kind: transient}\n", ""},
		{"  input_shape: array\n", "nhsa.input_shape"},
		{"  query: {sale: \"3511\", purchase: \"3510\"}\n", ""},
		{"  query: {sale: \"sale\"}\n", "nhsa.query.sale"},
		{"  signtype: SM2WITHSM3XX\n", "nhsa.signtype"},
		{"  verdicts:\n    - {all: [\"x\"], kind: sometimes}\n", "nhsa.verdicts[0].kind"},
		{"  verdicts:\n    - {kind: transient}\n", "nhsa.verdicts[0].all"},
		{"  verdicts:\n    - {all: [\" \"], kind: transient}\n", "nhsa.verdicts[0]"},
	} {
		demo := strings.Replace(string(Demo()), "\nnhsa:\n", "\nnhsa:\n"+tc.extra, 1)
		_, err := LoadBytes("demo.yaml", []byte(demo), nil)
		var ce *Error
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.extra, err)
		case tc.want != "" && (!errors.As(err, &ce) || len(ce.Fields) != 1 || ce.Fields[0].Key != tc.want):
			t.Errorf("%q: got %v, want one problem at %s", tc.extra, err, tc.want)
		}
	}
}
