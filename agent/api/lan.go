package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// LANOptions configure the opt-in listener for paired handhelds on the
// store's Wi-Fi (api.lan): TLS only, with a certificate the agent makes
// once and keeps.
type LANOptions struct {
	// Listen is host:port; 0.0.0.0 answers on every interface.
	Listen string
	// CertFile and KeyFile hold the self-signed certificate (PEM); both
	// are created when both are missing.
	CertFile, KeyFile string
	// DevicesFile lists the paired handhelds (tokens hashed, mode 0600).
	DevicesFile string
}

// lanState is the LAN listener of a Server.
type lanState struct {
	listen      string
	cert        tls.Certificate
	fingerprint string // SHA-256 of the certificate, AA:BB:… as browsers show it
	devices     *deviceStore

	mu       sync.Mutex
	ln       net.Listener
	pairings map[string]pendingPairing // one-time pairing codes
}

// lanKey marks a request's context as arrived through the LAN listener.
type lanKey struct{}

// viaLAN tells whether r came through the LAN listener.
func viaLAN(r *http.Request) bool {
	v, _ := r.Context().Value(lanKey{}).(bool)
	return v
}

func newLAN(o LANOptions) (*lanState, error) {
	host, _, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("api.lan.listen %q: %w", o.Listen, err)
	}
	if o.CertFile == "" || o.KeyFile == "" || o.DevicesFile == "" {
		return nil, errors.New("api.lan: certificate, key and paired-devices files must be set")
	}
	cert, err := loadOrCreateCert(o.CertFile, o.KeyFile, host)
	if err != nil {
		return nil, err
	}
	devs, err := openDeviceStore(o.DevicesFile)
	if err != nil {
		return nil, err
	}
	return &lanState{listen: o.Listen, cert: cert, fingerprint: certFingerprint(cert.Certificate[0]),
		devices: devs, pairings: map[string]pendingPairing{}}, nil
}

// certFingerprint is the SHA-256 of a DER certificate in the colon-hex
// form browsers and Android's certificate viewer show.
func certFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// loadOrCreateCert reads the LAN certificate, making a self-signed one at
// first start. Keeping it matters: a handheld that trusted it (installed
// it, or checked its fingerprint) must not meet a new one after a restart.
func loadOrCreateCert(certFile, keyFile, listenHost string) (tls.Certificate, error) {
	_, cerr := os.Stat(certFile)
	_, kerr := os.Stat(keyFile)
	switch {
	case cerr == nil && kerr == nil:
		return readCert(certFile, keyFile)
	case errors.Is(cerr, fs.ErrNotExist) && errors.Is(kerr, fs.ErrNotExist):
		if err := createCert(certFile, keyFile, listenHost); err != nil {
			return tls.Certificate{}, err
		}
		return readCert(certFile, keyFile)
	case cerr != nil && !errors.Is(cerr, fs.ErrNotExist):
		return tls.Certificate{}, fmt.Errorf("api.lan: certificate: %w", cerr)
	case kerr != nil && !errors.Is(kerr, fs.ErrNotExist):
		return tls.Certificate{}, fmt.Errorf("api.lan: certificate key: %w", kerr)
	}
	return tls.Certificate{}, fmt.Errorf("api.lan: only one of %s and %s exists: delete the other to have a new certificate made (paired handhelds then see a new fingerprint)", certFile, keyFile)
}

func readCert(certFile, keyFile string) (tls.Certificate, error) {
	fi, err := os.Stat(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("api.lan: certificate key: %w", err)
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return tls.Certificate{}, fmt.Errorf("api.lan: key file %s has mode %04o: other users could read it; run chmod 600 %s", keyFile, perm, keyFile)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("api.lan: certificate %s / key %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}

// createCert makes an ECDSA P-256 certificate for this device's names and
// addresses. It is its own CA, so Android can install it as a user
// certificate and then trust the page without a warning.
func createCert(certFile, keyFile, listenHost string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("api.lan: certificate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return fmt.Errorf("api.lan: certificate serial: %w", err)
	}
	hostname, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "pda-agent " + hostname, Organization: []string{"pda-agent"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
	}
	if hostname != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, hostname)
	}
	seen := map[string]bool{}
	addIP := func(ip net.IP) {
		if ip != nil && !ip.IsUnspecified() && !seen[ip.String()] {
			seen[ip.String()] = true
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		}
	}
	addIP(net.ParseIP(listenHost))
	for _, ip := range interfaceIPs() {
		addIP(ip)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("api.lan: certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("api.lan: certificate key: %w", err)
	}
	if err := writeNew(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	if err := writeNew(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		_ = os.Remove(keyFile)
		return err
	}
	return nil
}

// writeNew creates path with data; it never replaces an existing file.
func writeNew(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("api.lan: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("api.lan: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("api.lan: write %s: %w", path, err)
	}
	return nil
}

// interfaceIPs are this device's unicast addresses, loopback included.
func interfaceIPs() []net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLinkLocalUnicast() {
			out = append(out, n.IP)
		}
	}
	return out
}

// advertisedHost is the address a handheld reaches the LAN listener at:
// its listen host, or for the unspecified address this device's first
// private IPv4 address (the store's Wi-Fi).
func advertisedHost(listenHost string) (string, error) {
	if ip := net.ParseIP(listenHost); listenHost != "" && (ip == nil || !ip.IsUnspecified()) {
		return listenHost, nil
	}
	var fallback string
	for _, ip := range interfaceIPs() {
		v4 := ip.To4()
		if v4 == nil || ip.IsLoopback() {
			continue
		}
		if ip.IsPrivate() {
			return v4.String(), nil
		}
		if fallback == "" {
			fallback = v4.String()
		}
	}
	if fallback == "" {
		return "", errors.New("api.lan: this device has no network address a handheld could reach; set api.lan.listen to its Wi-Fi address")
	}
	return fallback, nil
}

// LANAddr is the address the LAN listener listens on; nil when it is off
// or not listening yet.
func (s *Server) LANAddr() net.Addr {
	if s.lan == nil {
		return nil
	}
	s.lan.mu.Lock()
	defer s.lan.mu.Unlock()
	if s.lan.ln == nil {
		return nil
	}
	return s.lan.ln.Addr()
}

// LANFingerprint is the SHA-256 fingerprint of the LAN certificate, ""
// when the LAN listener is off.
func (s *Server) LANFingerprint() string {
	if s.lan == nil {
		return ""
	}
	return s.lan.fingerprint
}

// LANCertificate is the LAN listener's certificate (DER), nil when off.
func (s *Server) LANCertificate() []byte {
	if s.lan == nil {
		return nil
	}
	return s.lan.cert.Certificate[0]
}

// listenLAN opens the LAN listener; serve runs it on an http.Server like
// the loopback one whose requests are marked as coming over the LAN.
func (s *Server) listenLAN() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.lan.listen)
	if err != nil {
		return nil, fmt.Errorf("api: LAN listen on %s: %w", s.lan.listen, err)
	}
	s.lan.mu.Lock()
	s.lan.ln = ln
	s.lan.mu.Unlock()
	cfg := &tls.Config{Certificates: []tls.Certificate{s.lan.cert}, MinVersion: tls.VersionTLS12}
	s.log.Info("LAN listener for paired handhelds (TLS)", "addr", ln.Addr().String(), "fingerprint_sha256", s.lan.fingerprint,
		"paired", s.lan.devices.count())
	return tls.NewListener(ln, cfg), nil
}

// lanConnContext marks every request of a LAN connection.
func lanConnContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, lanKey{}, true)
}

// lanGuard is the guard of the LAN listener: a paired handheld's cookie
// or nothing but the pairing page. The admin token and login cookie do
// not work here, and pairing is managed at the counter only. The Host is
// not checked: a rebinding site could not send the device cookie, which
// is set for this address alone.
func (s *Server) lanGuard(a access, h http.HandlerFunc, w http.ResponseWriter, r *http.Request) {
	if a == pairing {
		h(w, r)
		return
	}
	d, ok := s.lanDevice(r)
	if !ok {
		if r.Method == http.MethodGet && r.URL.Path == "/" {
			http.Redirect(w, r, "/pair", http.StatusSeeOther)
			return
		}
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: "unauthorized",
			Message: "this handheld is not paired: open the pairing link of `pda-agent ui --pair`"})
		return
	}
	if a == counter {
		writeJSON(w, http.StatusForbidden, errorBody{Error: "forbidden", Message: "handhelds are paired and unpaired at the counter PC"})
		return
	}
	if msg := crossOrigin(r, "https"); msg != "" {
		writeJSON(w, http.StatusForbidden, errorBody{Error: "forbidden", Message: msg})
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer s.lan.devices.watch(d.ID, cancel)()
	h(w, withDevice(r.WithContext(ctx), d))
}
