package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/fleet/bundle"
	"github.com/pda-agent/pda-agent/gm"
	"github.com/pda-agent/pda-agent/upload/msfx/sandbox"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// openBundle seals body as HQ would and opens it as the device does.
func openBundle(t *testing.T, body bundle.Body, secrets map[string]string) (*bundle.Opened, map[string]string) {
	t.Helper()
	hq, err := gm.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := gm.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	body.Device, body.DeviceKey = "FL1", gm.Fingerprint(&dev.PublicKey)
	body.Secrets = map[string]string{}
	for k, v := range secrets {
		if body.Secrets[k], err = bundle.EncryptSecret(&dev.PublicKey, v); err != nil {
			t.Fatal(err)
		}
	}
	data, _, err := bundle.Seal(body, hq)
	if err != nil {
		t.Fatal(err)
	}
	o, err := bundle.Open(data, &hq.PublicKey, "FL1", &dev.PublicKey, body.Version-1)
	if err != nil {
		t.Fatal(err)
	}
	opened, err := o.Secrets(dev)
	if err != nil {
		t.Fatal(err)
	}
	return o, opened
}

// TestFleetApplierAppliesAndReverts applies HQ bundles to a running agent
// while a till keeps scanning: a good bundle is applied with its secrets and
// catalogue, the local file's keys winning; a bundle whose scanner cannot
// come up is reverted; 码上放心 credentials are probed, and a secret the
// platform refuses is reverted. No scan is lost or refused meanwhile.
func TestFleetApplierAppliesAndReverts(t *testing.T) {
	dir := t.TempDir()
	local := LocalConfig{Name: "local.yaml", Data: []byte(fmt.Sprintf("device: {id: FL1}\ndata_dir: %s\nsessions: {default_type: 321}\n", dir))}
	cfg, err := configs.LoadLayers("local", []configs.Layer{{Name: local.Name, Data: local.Data}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	apply := a.FleetApplier(local, filepath.Join(dir, "fleet"), 2*time.Second)

	// The till scans throughout; every scan must be accepted.
	var scanned atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			code := fmt.Sprintf("8101235%09d%04d", 100000+i, i%10000)
			if fb := a.HandleScan(ctx, "till", device.Scan{Source: "test", Raw: []byte(code), At: time.Now()}); fb.Status != device.StatusAccepted {
				t.Errorf("scan %s during apply: %+v", code, fb)
				return
			}
			scanned.Add(1)
		}
	}()

	good, secrets := openBundle(t, bundle.Body{Version: 7,
		Config: "device: {id: SOMEONE-ELSE}\nsessions: {default_type: 102}\nwebhook: {enabled: true, url: \"http://127.0.0.1:1/hook\", key_id: k1}\n" +
			"scanners:\n  - {name: pos, type: tcp, session: till, tcp: {listen: \"127.0.0.1:0\"}}\n",
		Partners: "ent_id,name,license_no\n5e0a7c3b9d2f48a6b1c3e5f7a9b0d2e4,沙箱医药,苏AA0250001\n"},
		map[string]string{"webhook.secret": "fleet-webhook-secret-FAKE"})
	if err := apply(ctx, good, secrets); err != nil {
		t.Fatalf("good bundle: %v", err)
	}
	c := a.Config()
	if c.Device.ID != "FL1" || c.Sessions.DefaultType != 321 || !c.Webhook.Enabled || c.Webhook.Secret.Value() != "fleet-webhook-secret-FAKE" {
		t.Fatalf("config in force: device %s, default type %d, webhook %v", c.Device.ID, c.Sessions.DefaultType, c.Webhook.Enabled)
	}
	if _, ok := a.Catalogue().Partner("5e0a7c3b9d2f48a6b1c3e5f7a9b0d2e4"); !ok || !strings.HasPrefix(filepath.Base(c.Catalogue.Partners), "catalogue-v7-") {
		t.Fatalf("bundle catalogue not in force: %q", c.Catalogue.Partners)
	}
	if h := a.Scanners(); len(h) != 1 || h[0].Name != "pos" {
		t.Fatalf("scanners %+v", h)
	}

	bad, secrets := openBundle(t, bundle.Body{Version: 8, Config: good.Body.Config +
		"  - {name: gun, type: serial, session: counter, serial: {port: /dev/ttyPDA-NOPE, reconnect_min: 100ms}}\n"},
		map[string]string{"webhook.secret": "fleet-webhook-secret-FAKE"})
	err = apply(ctx, bad, secrets)
	if err == nil || !strings.Contains(err.Error(), "reverted") || !strings.Contains(err.Error(), "gun") {
		t.Fatalf("bad bundle: %v", err)
	}
	if a.Config() != c {
		t.Fatal("the previous config is not back in force")
	}
	if h := a.Scanners(); len(h) != 1 || h[0].Name != "pos" {
		t.Fatalf("scanners after revert %+v", h)
	}
	if _, err := os.Stat(filepath.Join(dir, "fleet", "catalogue-v7-partners.csv")); err != nil {
		t.Fatalf("the applied version's catalogue is gone: %v", err)
	}

	// 码上放心 credentials: the platform is asked once before they are
	// kept; a secret it refuses reverts the config.
	gw, err := sandbox.Start("127.0.0.1:0", sandbox.Options{World: sandbox.DefaultWorld(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	msfxYAML := good.Body.Config + fmt.Sprintf("msfx: {enabled: true, gateway: %q, app_key: %q, ref_ent_id: %q, ent_id: %s}\n",
		gw.URL(), sandbox.DefaultStoreAppKey, sandbox.DefaultStoreRefEntID, sandbox.DefaultStoreEntID)
	withMsfx, secrets := openBundle(t, bundle.Body{Version: 9, Config: msfxYAML},
		map[string]string{"webhook.secret": "fleet-webhook-secret-FAKE", "msfx.app_secret": sandbox.DefaultStoreSecret})
	if err := apply(ctx, withMsfx, secrets); err != nil || !a.Config().Msfx.Enabled {
		t.Fatalf("msfx bundle: %v", err)
	}
	if st := gw.Stats(); st.Methods[wire.MethodQueryBillStatus] != 1 || st.SignatureFailures != 0 {
		t.Fatalf("probe of the good credentials: %+v", st)
	}
	wrongSecret, secrets := openBundle(t, bundle.Body{Version: 10, Config: msfxYAML},
		map[string]string{"webhook.secret": "fleet-webhook-secret-FAKE", "msfx.app_secret": "not-the-store-secret-FAKE"})
	err = apply(ctx, wrongSecret, secrets)
	if err == nil || !strings.Contains(err.Error(), "reverted") || !strings.Contains(err.Error(), "码上放心 refuses") {
		t.Fatalf("wrong secret: %v", err)
	}
	if st := gw.Stats(); a.Config().Msfx.AppSecret.Value() != sandbox.DefaultStoreSecret || st.SignatureFailures != 1 {
		t.Fatalf("after the refused secret: secret restored %v, signature failures %d", a.Config().Msfx.AppSecret.Value() == sandbox.DefaultStoreSecret, st.SignatureFailures)
	}

	close(stop)
	wg.Wait()
	b, _, err := a.Store().OpenBill("till")
	if err != nil {
		t.Fatal(err)
	}
	items, err := a.Store().Items(b.ID)
	if err != nil || int64(len(items)) != scanned.Load() || scanned.Load() == 0 {
		t.Fatalf("%d scans accepted, %d on the bill (%v)", scanned.Load(), len(items), err)
	}
	t.Logf("%d scans accepted across four bundles, two of them reverted", scanned.Load())
}
