package bundle

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tjfoc/gmsm/sm2"

	"github.com/pda-agent/pda-agent/gm"
)

func keys(t testing.TB) (hq, dev *sm2.PrivateKey) {
	t.Helper()
	var err error
	if hq, err = gm.GenerateKey(nil); err != nil {
		t.Fatal(err)
	}
	if dev, err = gm.GenerateKey(nil); err != nil {
		t.Fatal(err)
	}
	return hq, dev
}

func sealed(t testing.TB, hq, dev *sm2.PrivateKey, version uint64) ([]byte, string) {
	t.Helper()
	secret, err := EncryptSecret(&dev.PublicKey, "app-secret-value")
	if err != nil {
		t.Fatal(err)
	}
	body := Body{Device: "PDA1", Store: "S1", Version: version, CreatedAt: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC),
		Config: "queue: {max_batch: 100}\n", Secrets: map[string]string{"msfx.app_secret": secret},
		Products: "key,name\n8101235,x\n", DeviceKey: gm.Fingerprint(&dev.PublicKey)}
	data, hash, err := Seal(body, hq)
	if err != nil {
		t.Fatal(err)
	}
	return data, hash
}

func TestSealOpen(t *testing.T) {
	hq, dev := keys(t)
	data, hash := sealed(t, hq, dev, 5)
	o, err := Open(data, &hq.PublicKey, "PDA1", &dev.PublicKey, 4)
	if err != nil {
		t.Fatal(err)
	}
	if o.Hash != hash || o.Body.Version != 5 || o.Body.Config != "queue: {max_batch: 100}\n" || string(o.Raw) != string(data) {
		t.Fatalf("opened %+v", o)
	}
	sec, err := o.Secrets(dev)
	if err != nil || sec["msfx.app_secret"] != "app-secret-value" {
		t.Fatalf("secrets %v %v", sec, err)
	}
	if strings.Contains(string(data), "app-secret-value") {
		t.Fatal("the secret is readable in the bundle")
	}
	// A copied bundle reveals nothing to another device's key.
	_, other := keys(t)
	if _, err := o.Secrets(other); err == nil {
		t.Fatal("another key decrypted the secret")
	}
}

func TestOpenRefuses(t *testing.T) {
	hq, dev := keys(t)
	data, _ := sealed(t, hq, dev, 5)
	otherHQ, otherDev := keys(t)
	tamper := func(edit func(*Bundle)) []byte {
		var b Bundle
		json.Unmarshal(data, &b)
		edit(&b)
		out, _ := json.Marshal(b)
		return out
	}
	body, _ := base64.StdEncoding.DecodeString(func() string { var b Bundle; json.Unmarshal(data, &b); return b.Body }())
	cases := []struct {
		name    string
		data    []byte
		hq      *sm2.PublicKey
		device  string
		devKey  *sm2.PublicKey
		applied uint64
		want    error
	}{
		{"wrong HQ key", data, &otherHQ.PublicKey, "PDA1", &dev.PublicKey, 0, ErrSignature},
		{"tampered body", tamper(func(b *Bundle) {
			tb := strings.Replace(string(body), "max_batch: 100", "max_batch: 999", 1)
			b.Body = base64.StdEncoding.EncodeToString([]byte(tb))
		}), &hq.PublicKey, "PDA1", &dev.PublicKey, 0, ErrSignature},
		{"flipped signature", tamper(func(b *Bundle) {
			s, _ := base64.StdEncoding.DecodeString(b.Signature)
			s[10] ^= 1
			b.Signature = base64.StdEncoding.EncodeToString(s)
		}), &hq.PublicKey, "PDA1", &dev.PublicKey, 0, ErrSignature},
		{"other device", data, &hq.PublicKey, "PDA2", &dev.PublicKey, 0, ErrDevice},
		{"other device key", data, &hq.PublicKey, "PDA1", &otherDev.PublicKey, 0, ErrDevice},
		{"replayed old version", data, &hq.PublicKey, "PDA1", &dev.PublicKey, 5, ErrRollback},
		{"not json", []byte("hello"), &hq.PublicKey, "PDA1", &dev.PublicKey, 0, ErrFormat},
		{"wrong format", tamper(func(b *Bundle) { b.Format = "other/v9" }), &hq.PublicKey, "PDA1", &dev.PublicKey, 0, ErrFormat},
		{"trailing data", append(append([]byte{}, data...), []byte(`{"x":1}`)...), &hq.PublicKey, "PDA1", &dev.PublicKey, 0, ErrFormat},
		{"too big", make([]byte, MaxSize+1), &hq.PublicKey, "PDA1", &dev.PublicKey, 0, ErrFormat},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Open(tc.data, tc.hq, tc.device, tc.devKey, tc.applied); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := EncryptSecret(&dev.PublicKey, ""); err == nil {
		t.Fatal("empty secret encrypted")
	}
}

func FuzzOpen(f *testing.F) {
	hq, dev := keys(f)
	data, _ := sealed(f, hq, dev, 1)
	f.Add(data)
	f.Add([]byte(`{"format":"pda-agent/bundle/v1","key":"","body":"e30=","signature":"AAAA"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		o, err := Open(in, &hq.PublicKey, "PDA1", nil, 0)
		if err == nil {
			if _, err := o.Secrets(dev); err != nil && o.Body.Secrets == nil {
				t.Fatal(err)
			}
		}
	})
}

func TestFormatsAndExpiry(t *testing.T) {
	hq, dev := keys(t)
	at := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	base := Body{Device: "PDA1", Version: 1, CreatedAt: at, Config: "queue: {max_batch: 100}\n", DeviceKey: gm.Fingerprint(&dev.PublicKey)}
	ref := &CatalogueRef{SHA256: strings.Repeat("ab", 32), Version: 1, Scope: "chain", Size: 10}

	v2 := base
	v2.NotAfter, v2.Catalogue = at.Add(time.Hour), ref
	data, _, err := Seal(v2, hq)
	if err != nil {
		t.Fatal(err)
	}
	o, err := Open(data, &hq.PublicKey, "PDA1", &dev.PublicKey, 0)
	if err != nil || *o.Body.Catalogue != *ref || !o.Body.NotAfter.Equal(at.Add(time.Hour)) {
		t.Fatalf("v2: %+v %v", o, err)
	}
	if err := o.CheckExpiry(at.Add(time.Hour)); err != nil {
		t.Errorf("at not_after: %v", err)
	}
	if err := o.CheckExpiry(at.Add(time.Hour + time.Second)); !errors.Is(err, ErrExpired) {
		t.Errorf("after not_after: %v", err)
	}

	// v1 carries the catalogue inline and never expires.
	v1 := base
	v1.Products = "key,name\n8101235,x\n"
	data, _, err = SealFormat(FormatV1, v1, hq)
	if err != nil {
		t.Fatal(err)
	}
	if o, err := Open(data, &hq.PublicKey, "PDA1", &dev.PublicKey, 0); err != nil || o.Body.Products != v1.Products || o.CheckExpiry(at.AddDate(10, 0, 0)) != nil {
		t.Fatalf("v1: %+v %v", o, err)
	}
	if _, _, err := SealFormat(FormatV1, v2, hq); err == nil {
		t.Error("v1 sealed with not_after and a catalogue reference")
	}
	both := v2
	both.Products = "x"
	if _, _, err := Seal(both, hq); err == nil {
		t.Error("a bundle with an inline catalogue and a reference was sealed")
	}

	// Open checks what the signer may not have: a v1 envelope around a
	// v2 body, a malformed address.
	forge := func(format string, body Body) []byte {
		raw, _ := json.Marshal(body)
		sig, err := gm.Sign(hq, raw, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := json.Marshal(Bundle{Format: format, Body: base64.StdEncoding.EncodeToString(raw), Signature: base64.StdEncoding.EncodeToString(sig)})
		return out
	}
	if _, err := Open(forge(FormatV1, v2), &hq.PublicKey, "PDA1", &dev.PublicKey, 0); !errors.Is(err, ErrFormat) {
		t.Errorf("v1 envelope with v2 members: %v", err)
	}
	bad := v2
	bad.Catalogue = &CatalogueRef{SHA256: "../../etc/passwd"}
	if _, err := Open(forge(FormatV2, bad), &hq.PublicKey, "PDA1", &dev.PublicKey, 0); !errors.Is(err, ErrFormat) {
		t.Errorf("catalogue address that is not a hash: %v", err)
	}
}
