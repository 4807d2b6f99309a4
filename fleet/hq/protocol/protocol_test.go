package protocol

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/gm"
)

func TestStringToSign(t *testing.T) {
	got := string(StringToSign("GET", "/v1/devices/P1/bundle", 1795766400, nil))
	want := "GET\n/v1/devices/P1/bundle\n1795766400\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if got != want {
		t.Fatalf("got %q", got)
	}
}

func TestSignVerify(t *testing.T) {
	k, err := gm.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1795766400, 0)
	body := []byte(`{"state":"APPLIED","version":3,"hash":"h"}`)
	req, _ := http.NewRequest("POST", "https://hq.example"+ReportPath("P1")+"?ignored=1", nil)
	if err := Sign(req, "P1", k, body, now); err != nil {
		t.Fatal(err)
	}
	if req.Header.Get(HeaderDevice) != "P1" || req.Header.Get(HeaderTime) != strconv.FormatInt(now.Unix(), 10) {
		t.Fatalf("headers %v", req.Header)
	}
	ts, code, err := ParseTime(req.Header.Get(HeaderTime), now.Add(MaxSkew), MaxSkew)
	if err != nil || code != "" {
		t.Fatalf("time at the edge of the window: %s %v", code, err)
	}
	if _, code, _ := ParseTime(req.Header.Get(HeaderTime), now.Add(MaxSkew+time.Second), MaxSkew); code != CodeAuthTime {
		t.Fatalf("outside the window: %q", code)
	}
	if code, err := VerifySignature(&k.PublicKey, "POST", ReportPath("P1"), ts.Unix(), body, req.Header.Get(HeaderSignature)); err != nil {
		t.Fatalf("%s %v", code, err)
	}
	for name, c := range map[string]struct {
		method, path string
		body         []byte
	}{
		"method": {"GET", ReportPath("P1"), body},
		"path":   {"POST", ReportPath("P2"), body},
		"body":   {"POST", ReportPath("P1"), append(body, ' ')},
	} {
		if code, err := VerifySignature(&k.PublicKey, c.method, c.path, ts.Unix(), c.body, req.Header.Get(HeaderSignature)); err == nil || code != CodeAuthSignature {
			t.Errorf("%s changed: %q %v", name, code, err)
		}
	}
}
