package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"html/template"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// deviceCookie carries a paired handheld's token over the LAN listener.
const deviceCookie = "pda_agent_device"

// pairingTTL is how long a pairing code can be used (once).
const pairingTTL = 10 * time.Minute

// PairedDevice is one handheld paired with the LAN listener. Its token is
// kept as a SHA-256 hash only: the file never holds a usable credential.
type PairedDevice struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	PairedAt time.Time `json:"paired_at"`
	// TokenHash is hex SHA-256 of the cookie's token; never served.
	TokenHash string `json:"token_sha256,omitempty"`
	// LastSeen is the last request of this device since the agent
	// started (memory only).
	LastSeen *time.Time `json:"last_seen,omitempty"`
}

// Session is the session a handheld's page uses: its own, so two clerks
// never scan into each other's bill.
func (d PairedDevice) Session() string { return d.ID }

// Source names the handheld in its scans' records.
func (d PairedDevice) Source() string { return "pda:" + d.ID }

// deviceStore is the paired handhelds, kept in a JSON file (mode 0600).
type deviceStore struct {
	path string

	mu       sync.Mutex
	devices  []PairedDevice
	lastSeen map[string]time.Time
	// watchers end the requests in flight of a device when it is revoked
	// (an event stream would otherwise outlive its pairing).
	watchers map[string]map[uint64]context.CancelFunc
	nextID   uint64
}

// watch ends cancel's request when the device is revoked; the returned
// func unregisters it.
func (st *deviceStore) watch(id string, cancel context.CancelFunc) func() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.nextID++
	n := st.nextID
	if st.watchers[id] == nil {
		st.watchers[id] = map[uint64]context.CancelFunc{}
	}
	st.watchers[id][n] = cancel
	return func() {
		st.mu.Lock()
		defer st.mu.Unlock()
		delete(st.watchers[id], n)
		if len(st.watchers[id]) == 0 {
			delete(st.watchers, id)
		}
	}
}

func openDeviceStore(path string) (*deviceStore, error) {
	st := &deviceStore{path: path, lastSeen: map[string]time.Time{}, watchers: map[string]map[uint64]context.CancelFunc{}}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("api.lan: paired devices: %w", err)
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("api.lan: paired devices file %s has mode %04o; run chmod 600 %s", path, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("api.lan: paired devices: %w", err)
	}
	if err := json.Unmarshal(data, &st.devices); err != nil {
		return nil, fmt.Errorf("api.lan: paired devices file %s: %w", path, err)
	}
	return st, nil
}

// save writes the list through a temp file and rename, so a crash leaves
// the old list or the new one.
func (st *deviceStore) save() error {
	data, err := json.MarshalIndent(st.devices, "", "  ")
	if err != nil {
		return fmt.Errorf("api.lan: paired devices: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(st.path), 0o700); err != nil {
		return fmt.Errorf("api.lan: paired devices: %w", err)
	}
	tmp := st.path + ".tmp"
	_ = os.Remove(tmp)
	if err := writeNew(tmp, append(data, '\n'), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, st.path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("api.lan: paired devices: %w", err)
	}
	return nil
}

func (st *deviceStore) count() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.devices)
}

func hashToken(tok string) string {
	sum := sha256.Sum256([]byte("pda-agent device\x00" + tok))
	return hex.EncodeToString(sum[:])
}

// add pairs a new device and returns it with its token.
func (st *deviceStore) add(name string, now time.Time) (PairedDevice, string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return PairedDevice{}, "", fmt.Errorf("api.lan: device token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(raw)
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for _, d := range st.devices {
		if k, err := strconv.Atoi(strings.TrimPrefix(d.ID, "pda")); err == nil && k > n {
			n = k
		}
	}
	d := PairedDevice{ID: "pda" + strconv.Itoa(n+1), PairedAt: now.UTC(), TokenHash: hashToken(tok)}
	d.Name = name
	if d.Name == "" {
		d.Name = d.ID
	}
	st.devices = append(st.devices, d)
	if err := st.save(); err != nil {
		st.devices = st.devices[:len(st.devices)-1]
		return PairedDevice{}, "", err
	}
	return d, tok, nil
}

// byToken finds the device of a cookie's token and notes it was seen.
func (st *deviceStore) byToken(tok string, now time.Time) (PairedDevice, bool) {
	if tok == "" {
		return PairedDevice{}, false
	}
	h := []byte(hashToken(tok))
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, d := range st.devices {
		if subtle.ConstantTimeCompare(h, []byte(d.TokenHash)) == 1 {
			st.lastSeen[d.ID] = now
			return d, true
		}
	}
	return PairedDevice{}, false
}

// list is the devices without their token hashes.
func (st *deviceStore) list() []PairedDevice {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]PairedDevice, 0, len(st.devices))
	for _, d := range st.devices {
		d.TokenHash = ""
		if t, ok := st.lastSeen[d.ID]; ok {
			d.LastSeen = &t
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PairedAt.Before(out[j].PairedAt) })
	return out
}

// revoke unpairs a device; its cookie stops working at once.
func (st *deviceStore) revoke(id string) (bool, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for i, d := range st.devices {
		if d.ID != id {
			continue
		}
		old := st.devices
		st.devices = append(append([]PairedDevice(nil), old[:i]...), old[i+1:]...)
		if err := st.save(); err != nil {
			st.devices = old
			return false, err
		}
		delete(st.lastSeen, id)
		for _, cancel := range st.watchers[id] {
			cancel()
		}
		return true, nil
	}
	return false, nil
}

type pendingPairing struct {
	name    string
	expires time.Time
}

// Pairing is the answer of POST /v1/pairing: a one-time link for a
// handheld's browser, as text, a QR code for the terminal and a PNG.
type Pairing struct {
	URL         string    `json:"url"`
	Expires     time.Time `json:"expires"`
	Name        string    `json:"name,omitempty"`
	Fingerprint string    `json:"fingerprint_sha256"`
	QRText      string    `json:"qr_text"`
	QRPNG       string    `json:"qr_png"` // a data: URL
}

type deviceCtxKey struct{}

// deviceOf is the paired handheld a LAN request came from.
func deviceOf(r *http.Request) (PairedDevice, bool) {
	d, ok := r.Context().Value(deviceCtxKey{}).(PairedDevice)
	return d, ok
}

func withDevice(r *http.Request, d PairedDevice) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), deviceCtxKey{}, d))
}

// lanDevice authenticates a LAN request by its device cookie.
func (s *Server) lanDevice(r *http.Request) (PairedDevice, bool) {
	c, err := r.Cookie(deviceCookie)
	if err != nil {
		return PairedDevice{}, false
	}
	return s.lan.devices.byToken(c.Value, s.now())
}

func (s *Server) lanOff(w http.ResponseWriter, r *http.Request) bool {
	if s.lan == nil {
		s.fail(w, r, &apiError{http.StatusNotFound, "lan_off", "the LAN listener is off: set api.lan.enabled"})
		return true
	}
	return false
}

// newPairing makes a one-time pairing code (POST /v1/pairing, from the
// counter PC only).
func (s *Server) newPairing(w http.ResponseWriter, r *http.Request) {
	if s.lanOff(w, r) {
		return
	}
	var req struct {
		Name string `json:"name"`
	}
	if err := decode(w, r, &req, true); err != nil {
		s.fail(w, r, err)
		return
	}
	if len(req.Name) > 32 || strings.ContainsFunc(req.Name, unicode.IsControl) {
		s.fail(w, r, badRequest("name must be up to 32 bytes without control characters"))
		return
	}
	p, err := s.Pair(req.Name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// Pair makes a one-time pairing link for a handheld named name.
func (s *Server) Pair(name string) (Pairing, error) {
	if s.lan == nil {
		return Pairing{}, errors.New("api: the LAN listener is off")
	}
	lhost, lport, _ := net.SplitHostPort(s.lan.listen)
	if a := s.LANAddr(); a != nil {
		_, lport, _ = net.SplitHostPort(a.String())
	}
	host, err := advertisedHost(lhost)
	if err != nil {
		return Pairing{}, err
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return Pairing{}, fmt.Errorf("api: pairing code: %w", err)
	}
	code := base64.RawURLEncoding.EncodeToString(raw)
	now := s.now()
	s.lan.mu.Lock()
	for c, p := range s.lan.pairings {
		if now.After(p.expires) {
			delete(s.lan.pairings, c)
		}
	}
	s.lan.pairings[code] = pendingPairing{name: name, expires: now.Add(pairingTTL)}
	s.lan.mu.Unlock()
	u := url.URL{Scheme: "https", Host: net.JoinHostPort(host, lport), Path: "/pair", RawQuery: "code=" + code}
	p := Pairing{URL: u.String(), Expires: now.Add(pairingTTL), Name: name, Fingerprint: s.lan.fingerprint}
	m, err := qrMatrix(p.URL)
	if err != nil {
		return Pairing{}, err
	}
	p.QRText = qrText(m)
	if p.QRPNG, err = qrPNG(m); err != nil {
		return Pairing{}, err
	}
	return p, nil
}

// takePairing uses up a pairing code.
func (s *Server) takePairing(code string) (pendingPairing, bool) {
	s.lan.mu.Lock()
	defer s.lan.mu.Unlock()
	p, ok := s.lan.pairings[code]
	if !ok {
		return pendingPairing{}, false
	}
	delete(s.lan.pairings, code)
	return p, !s.now().After(p.expires)
}

// pair is GET /pair on the LAN listener: with a valid one-time code it
// pairs the handheld (cookie) and opens the page; otherwise it is the
// pairing page, the only thing an unpaired handheld gets.
func (s *Server) pair(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	code := r.URL.Query().Get("code")
	if code == "" || s.lan == nil {
		s.pairingPage(w, http.StatusOK, "")
		return
	}
	p, ok := s.takePairing(code)
	if !ok {
		s.pairingPage(w, http.StatusUnauthorized, "配对码无效、已用过或已过期：请在收银电脑上重新生成配对二维码。")
		return
	}
	d, tok, err := s.lan.devices.add(p.name, s.now())
	if err != nil {
		s.log.Error("pairing a handheld failed", "err", err)
		s.pairingPage(w, http.StatusInternalServerError, "配对失败：收银电脑上的程序无法保存配对信息（见日志）。")
		return
	}
	s.log.Info("handheld paired", "device", d.ID, "name", d.Name, "remote", r.RemoteAddr)
	// Lax, not Strict: the pairing link arrives from a QR scanner app, and
	// the redirect to / must already carry the cookie. State-changing
	// requests are checked for their origin anyway.
	http.SetCookie(w, &http.Cookie{Name: deviceCookie, Value: tok, Path: "/", MaxAge: 10 * 365 * 24 * 3600,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// lanCert serves the LAN certificate so a handheld can install it.
func (s *Server) lanCert(w http.ResponseWriter, r *http.Request) {
	if s.lanOff(w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/x-x509-ca-cert")
	w.Header().Set("Content-Disposition", `attachment; filename="pda-agent.crt"`)
	_, _ = w.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.lan.cert.Certificate[0]}))
}

var pairingTmpl = template.Must(template.New("pair").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>配对手持终端 · pda-agent</title>
<style>body{font:18px/1.5 system-ui,sans-serif;margin:0;padding:1rem;max-width:40rem;word-break:break-all}
h1{font-size:1.3rem}.err{background:#c62828;color:#fff;padding:.6rem;border-radius:6px}code{font-size:.85rem}</style>
</head><body>
<h1>配对手持终端</h1>
{{if .Error}}<p class="err" role="alert">{{.Error}}</p>{{end}}
<p>这台手持终端还没有配对，不能使用追溯码采集页面。</p>
<ol>
<li>在收银电脑上运行 <code>pda-agent ui --pair</code>，或在收银电脑的采集页面点“配对手持终端”。</li>
<li>用本机扫码（或相机）扫描显示的二维码，在浏览器中打开链接。二维码 10 分钟内有效，只能用一次。</li>
</ol>
<p>核对证书指纹（SHA-256），须与收银电脑上显示的一致：</p>
<p><code id="fingerprint">{{.Fingerprint}}</code></p>
<p>如需免除浏览器的证书警告，可 <a href="/pair/cert.pem">下载本机证书</a> 并在“设置 → 安全 → 加密与凭据 → 安装证书 → CA 证书”中安装。</p>
</body></html>
`))

// pairingPage is the page an unpaired handheld gets.
func (s *Server) pairingPage(w http.ResponseWriter, status int, msg string) {
	var fp string
	if s.lan != nil {
		fp = s.lan.fingerprint
	}
	var buf bytes.Buffer
	if err := pairingTmpl.Execute(&buf, struct{ Error, Fingerprint string }{msg, fp}); err != nil {
		s.log.Error("pairing page", "err", err)
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// devices is GET /v1/devices: the paired handhelds.
func (s *Server) devices(w http.ResponseWriter, r *http.Request) {
	if s.lanOff(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Fingerprint string         `json:"fingerprint_sha256"`
		Devices     []PairedDevice `json:"devices"`
	}{s.lan.fingerprint, s.lan.devices.list()})
}

// revokeDevice is DELETE /v1/devices/{id}.
func (s *Server) revokeDevice(w http.ResponseWriter, r *http.Request) {
	if s.lanOff(w, r) {
		return
	}
	id := r.PathValue("id")
	ok, err := s.lan.devices.revoke(id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ok {
		s.fail(w, r, &apiError{http.StatusNotFound, "not_found", "no paired device " + id})
		return
	}
	s.log.Info("handheld unpaired", "device", id)
	writeJSON(w, http.StatusOK, map[string]string{"revoked": id})
}

// whoami is GET /v1/whoami: which handheld the page runs on (none on the
// counter PC) and the session it uses.
func (s *Server) whoami(w http.ResponseWriter, r *http.Request) {
	type answer struct {
		Device      *PairedDevice `json:"device"`
		Session     string        `json:"session,omitempty"`
		LAN         bool          `json:"lan_enabled"`
		Fingerprint string        `json:"fingerprint_sha256,omitempty"`
	}
	a := answer{LAN: s.lan != nil}
	if s.lan != nil {
		a.Fingerprint = s.lan.fingerprint
	}
	if d, ok := deviceOf(r); ok {
		d.TokenHash = ""
		a.Device, a.Session = &d, d.Session()
	}
	writeJSON(w, http.StatusOK, a)
}

// qrMatrix encodes text as a QR code (error correction M, 4-module quiet
// zone) with gozxing's writer.
func qrMatrix(text string) (*gozxing.BitMatrix, error) {
	hints := map[gozxing.EncodeHintType]any{
		gozxing.EncodeHintType_ERROR_CORRECTION: "M",
		gozxing.EncodeHintType_MARGIN:           4,
	}
	m, err := qrcode.NewQRCodeWriter().Encode(text, gozxing.BarcodeFormat_QR_CODE, 0, 0, hints)
	if err != nil {
		return nil, fmt.Errorf("api: QR code: %w", err)
	}
	return m, nil
}

// qrText draws a QR code for a terminal with half blocks, two rows a
// line: light modules are drawn, dark ones left to the background, for a
// terminal with light text on a dark ground (as qrencode -t UTF8 does).
func qrText(m *gozxing.BitMatrix) string {
	w, h := m.GetWidth(), m.GetHeight()
	var b strings.Builder
	for y := 0; y < h; y += 2 {
		for x := 0; x < w; x++ {
			top := m.Get(x, y)
			bottom := y+1 < h && m.Get(x, y+1)
			switch {
			case !top && !bottom:
				b.WriteRune('█')
			case !top:
				b.WriteRune('▀')
			case !bottom:
				b.WriteRune('▄')
			default:
				b.WriteRune(' ')
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// qrPNG draws a QR code as a PNG data URL (6 pixels a module).
func qrPNG(m *gozxing.BitMatrix) (string, error) {
	const scale = 6
	w, h := m.GetWidth(), m.GetHeight()
	img := image.NewGray(image.Rect(0, 0, w*scale, h*scale))
	for y := 0; y < h*scale; y++ {
		for x := 0; x < w*scale; x++ {
			c := color.Gray{Y: 255}
			if m.Get(x/scale, y/scale) {
				c.Y = 0
			}
			img.SetGray(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", fmt.Errorf("api: QR image: %w", err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}
