package api

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"image/png"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// lanClient is an HTTPS client of the LAN listener that trusts exactly the
// agent's certificate (read from its file, checked against the fingerprint
// the API reports) and keeps cookies.
func lanClient(t *testing.T, e *testEnv) *http.Client {
	t.Helper()
	data, err := os.ReadFile(e.agent.Config().LANCertFile())
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(data)
	if blk == nil {
		t.Fatal("the LAN certificate file holds no PEM block")
	}
	if got := certFingerprint(blk.Bytes); got != e.srv.LANFingerprint() {
		t.Fatalf("certificate file fingerprint %s, server says %s", got, e.srv.LANFingerprint())
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 30 * time.Second, Jar: jar,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func lanDo(t *testing.T, c *http.Client, method, url, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

// lanRoutes are every route of the API with sample path values.
var lanRoutes = [][2]string{
	{"GET", "/"}, {"GET", "/healthz"}, {"GET", "/login?token=x"}, {"GET", "/ui/app.js"}, {"GET", "/ui/index.html"},
	{"GET", "/metrics"}, {"GET", "/v1/status"}, {"GET", "/v1/diagnose"}, {"POST", "/v1/scans"},
	{"POST", "/v1/sessions"}, {"GET", "/v1/sessions/s"}, {"POST", "/v1/sessions/s/attrs"},
	{"POST", "/v1/sessions/s/finish"}, {"POST", "/v1/sessions/s/exceptions"}, {"POST", "/v1/sessions/s/cancel"},
	{"POST", "/v1/sessions/s/confirm-all"}, {"DELETE", "/v1/sessions/s/items/c"}, {"GET", "/v1/upstream?code=x"},
	{"POST", "/v1/receivings"}, {"POST", "/v1/upstream/b/reject"}, {"DELETE", "/v1/upstream/b/reject"},
	{"POST", "/v1/bills"}, {"GET", "/v1/bills"}, {"GET", "/v1/bills/b"}, {"GET", "/v1/bills/b/receipt"},
	{"PATCH", "/v1/bills/b/attrs"}, {"POST", "/v1/bills/b/deliveries/msfx/retry"}, {"POST", "/v1/bills/b/deliveries/msfx/drop"},
	{"GET", "/v1/deadletters"}, {"POST", "/v1/deadletters/b/msfx/retry"}, {"POST", "/v1/deadletters/b/msfx/drop"},
	{"GET", "/v1/compliance"}, {"GET", "/v1/partners"}, {"GET", "/v1/events"}, {"GET", "/v1/whoami"},
	{"POST", "/v1/pairing"}, {"GET", "/v1/devices"}, {"DELETE", "/v1/devices/pda1"}, {"GET", "/nosuch"},
}

// TestLANPairing: over the LAN listener an unpaired browser gets the
// pairing page and nothing else, not even with the admin token; a pairing
// link from the counter pairs a handheld once; its scans name it; a
// revoked handheld is back to the pairing page; the certificate and the
// pairing survive a restart.
func TestLANPairing(t *testing.T) {
	e := start(t, envOpts{lan: "127.0.0.1:0"})
	c := lanClient(t, e)

	for _, rt := range lanRoutes {
		resp, body := lanDo(t, c, rt[0], e.lanBase+rt[1], "", "Authorization", "Bearer "+e.token)
		if rt[1] == "/" {
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/pair" {
				t.Fatalf("GET / unpaired over the LAN: %d %s, want a redirect to /pair", resp.StatusCode, resp.Header.Get("Location"))
			}
			continue
		}
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"unauthorized"`) {
			t.Fatalf("%s %s unpaired over the LAN (admin token sent): %d %s, want 401", rt[0], rt[1], resp.StatusCode, body)
		}
	}
	resp, body := lanDo(t, c, "GET", e.lanBase+"/pair", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "配对手持终端") || !strings.Contains(body, e.srv.LANFingerprint()) {
		t.Fatalf("pairing page: %d %s", resp.StatusCode, body)
	}
	// Over loopback nothing changed: the token works, pairing is served.
	e.ok("GET", "/v1/status", nil, nil)
	var who struct {
		Device *PairedDevice `json:"device"`
		LAN    bool          `json:"lan_enabled"`
	}
	e.ok("GET", "/v1/whoami", nil, &who)
	if who.Device != nil || !who.LAN {
		t.Fatalf("whoami on loopback: %+v", who)
	}

	// A bad code pairs nothing.
	resp, body = lanDo(t, c, "GET", e.lanBase+"/pair?code=nosuch", "")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "配对码无效") {
		t.Fatalf("bad pairing code: %d %s", resp.StatusCode, body)
	}

	var p Pairing
	e.ok("POST", "/v1/pairing", map[string]string{"name": "收货1"}, &p)
	if !strings.HasPrefix(p.URL, e.lanBase+"/pair?code=") || p.Fingerprint != e.srv.LANFingerprint() ||
		!strings.HasPrefix(p.QRPNG, "data:image/png;base64,") || strings.Count(p.QRText, "\n") < 10 {
		t.Fatalf("pairing %+v (LAN %s)", p, e.lanBase)
	}
	// The QR image reads back as the link.
	pngData, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(p.QRPNG, "data:image/png;base64,"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(pngData))
	if err != nil {
		t.Fatal(err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := qrcode.NewQRCodeReader().Decode(bmp, nil); err != nil || res.GetText() != p.URL {
		t.Fatalf("the QR code reads %v (%v), want %s", res, err, p.URL)
	}
	resp, _ = lanDo(t, c, "GET", p.URL, "")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("pairing: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	var ck *http.Cookie
	for _, x := range resp.Cookies() {
		if x.Name == deviceCookie {
			ck = x
		}
	}
	if ck == nil || !ck.Secure || !ck.HttpOnly {
		t.Fatalf("device cookie %+v", ck)
	}
	// The code is spent: a second browser cannot use it.
	other := lanClient(t, e)
	if resp, _ := lanDo(t, other, "GET", p.URL, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a pairing code used twice: %d", resp.StatusCode)
	}

	// Paired: the page and the API answer.
	resp, body = lanDo(t, c, "GET", e.lanBase+"/", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "追溯码采集") {
		t.Fatalf("page over the LAN: %d", resp.StatusCode)
	}
	resp, body = lanDo(t, c, "GET", e.lanBase+"/v1/whoami", "")
	if err := json.Unmarshal([]byte(body), &who); err != nil || who.Device == nil || who.Device.ID != "pda1" || who.Device.Name != "收货1" {
		t.Fatalf("whoami over the LAN: %d %s", resp.StatusCode, body)
	}
	// Pairing is managed at the counter only.
	for _, rt := range [][2]string{{"POST", "/v1/pairing"}, {"GET", "/v1/devices"}, {"DELETE", "/v1/devices/pda1"}} {
		if resp, body := lanDo(t, c, rt[0], e.lanBase+rt[1], ""); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s %s from a handheld: %d %s", rt[0], rt[1], resp.StatusCode, body)
		}
	}
	// A state change from another origin is refused; from the page's own
	// (https) origin it goes through, and the scan names the handheld.
	if resp, _ := lanDo(t, c, "POST", e.lanBase+"/v1/sessions", `{"session":"pda1","kind":"sale"}`, "Origin", "https://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin POST over the LAN: %d", resp.StatusCode)
	}
	if resp, body := lanDo(t, c, "POST", e.lanBase+"/v1/sessions", `{"session":"pda1","kind":"sale"}`, "Origin", e.lanBase); resp.StatusCode != http.StatusOK {
		t.Fatalf("open over the LAN: %d %s", resp.StatusCode, body)
	}
	if resp, body := lanDo(t, c, "POST", e.lanBase+"/v1/scans", `{"session":"pda1","code":"`+codeA+`","source":"counter"}`, "Origin", e.lanBase); resp.StatusCode != http.StatusOK || !strings.Contains(body, "accepted") {
		t.Fatalf("scan over the LAN: %d %s", resp.StatusCode, body)
	}
	var sv struct {
		Items []struct {
			Code   string `json:"code"`
			Source string `json:"source"`
		} `json:"items"`
	}
	e.ok("GET", "/v1/sessions/pda1", nil, &sv)
	if len(sv.Items) != 1 || sv.Items[0].Source != "pda:pda1" {
		t.Fatalf("the handheld's scan: %+v", sv)
	}

	// The list (loopback) shows it, without any token material; the file
	// holds only a hash and is private.
	status, data := e.call("GET", "/v1/devices", nil)
	if status != http.StatusOK || !strings.Contains(string(data), `"pda1"`) || strings.Contains(string(data), "token") {
		t.Fatalf("devices: %d %s", status, data)
	}
	path := e.agent.Config().PairedDevicesFile()
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("paired devices file: %v %v", fi, err)
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), ck.Value) || !strings.Contains(string(raw), hashToken(ck.Value)) {
		t.Fatalf("the devices file must hold the token's hash only: %s", raw)
	}
	if fi, err := os.Stat(e.agent.Config().LANKeyFile()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("LAN key file: %v %v", fi, err)
	}

	// Revoked: back to the pairing page, and its open event stream ends.
	streamReq, err := http.NewRequest("GET", e.lanBase+"/v1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := c.Do(streamReq)
	if err != nil || stream.StatusCode != http.StatusOK {
		t.Fatalf("event stream over the LAN: %v %v", stream, err)
	}
	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, stream.Body)
		ended <- err
	}()
	e.ok("DELETE", "/v1/devices/pda1", nil, nil)
	select {
	case <-ended:
		stream.Body.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("a revoked handheld's event stream is still open")
	}
	e.fails("DELETE", "/v1/devices/pda1", nil, http.StatusNotFound, "not_found")
	if resp, _ := lanDo(t, c, "GET", e.lanBase+"/v1/status", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a revoked handheld: %d", resp.StatusCode)
	}
}

// TestLANRestart: the certificate and paired handhelds outlive a restart.
func TestLANRestart(t *testing.T) {
	e := start(t, envOpts{lan: "127.0.0.1:0"})
	fp := e.srv.LANFingerprint()
	var p Pairing
	e.ok("POST", "/v1/pairing", nil, &p)
	c := lanClient(t, e)
	if resp, _ := lanDo(t, c, "GET", p.URL, ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("pairing: %d", resp.StatusCode)
	}
	e.stop()

	cfg := e.agent.Config()
	srv, err := New(e.agent, Options{Listen: "127.0.0.1:0", TokenFile: cfg.APITokenFile(), Logger: quiet,
		LAN: &LANOptions{Listen: "127.0.0.1:0", CertFile: cfg.LANCertFile(), KeyFile: cfg.LANKeyFile(), DevicesFile: cfg.PairedDevicesFile()}})
	if err != nil {
		t.Fatal(err)
	}
	if srv.LANFingerprint() != fp {
		t.Fatalf("fingerprint changed over a restart: %s → %s", fp, srv.LANFingerprint())
	}
	if l := srv.lan.devices.list(); len(l) != 1 || l[0].ID != "pda1" {
		t.Fatalf("paired devices after a restart: %+v", l)
	}
	// A key readable by others is refused.
	if err := os.Chmod(cfg.LANKeyFile(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(e.agent, Options{Listen: "127.0.0.1:0", TokenFile: cfg.APITokenFile(), Logger: quiet,
		LAN: &LANOptions{Listen: "127.0.0.1:0", CertFile: cfg.LANCertFile(), KeyFile: cfg.LANKeyFile(), DevicesFile: cfg.PairedDevicesFile()}}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable LAN key: %v", err)
	}
}
