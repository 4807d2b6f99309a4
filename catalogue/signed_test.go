package catalogue

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/gm"
)

func TestSealOpenSigned(t *testing.T) {
	hq, err := gm.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := gm.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	body := SignedBody{Scope: "chain", Version: 7, CreatedAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		Products: "key,name\n8101235,阿莫西林胶囊\n", Partners: "ent_id,name\n"}
	data, id, err := Seal(body, hq)
	if err != nil {
		t.Fatal(err)
	}
	if id != ID(data) || len(id) != 64 {
		t.Fatalf("address %q", id)
	}
	got, err := OpenSigned(data, &hq.PublicKey, id)
	if err != nil || got.Products != body.Products || got.Version != 7 || got.Scope != "chain" {
		t.Fatalf("open: %+v %v", got, err)
	}

	var env Signed
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(env.Body)
	tampered := env
	tampered.Body = base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(raw), "阿莫西林", "青霉素钠", 1)))
	tamperedData, _ := json.Marshal(tampered)
	for name, tc := range map[string]struct {
		data []byte
		id   string
		key  *gm.PrivateKey
	}{
		"other HQ key":          {data, id, other},
		"bytes not the address": {append([]byte(" "), data...), id, hq},
		"tampered, no address":  {tamperedData, "", hq},
		"not an object":         {[]byte("key,name\n"), "", hq},
	} {
		if _, err := OpenSigned(tc.data, &tc.key.PublicKey, tc.id); !errors.Is(err, ErrSigned) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
