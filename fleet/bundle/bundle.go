// Package bundle is the signed configuration bundle chain HQ publishes to
// each device: the rendered config, the catalogue, a monotonically rising
// version, and the secrets encrypted to the device's own SM2 key, all signed
// by HQ's SM2 key. A bundle verifies itself, so it may travel over any web
// server, object store or CDN: the transport need not be trusted.
//
// Wire form (JSON):
//
//	{"format": "pda-agent/bundle/v2", "key": "<HQ key fingerprint>",
//	 "body": "<base64 of the body JSON>", "signature": "<base64 raw r‖s>"}
//
// Formats: v2 (what pda-hq publishes by default) carries not_after and
// refers to the catalogue by the SHA-256 of a separately signed catalogue
// object (package catalogue, Signed); v1 carries the catalogue inline and
// never expires. Agents before v2 decode bodies strictly and know only v1,
// so a fleet that still runs them publishes v1 (pda-hq publish
// --bundle-format v1) until they are upgraded. Open accepts both.
//
// The signature is SM3withSM2 (user id gm.DefaultUID) over the body bytes
// exactly as they are carried: there is no re-serialisation, so there is no
// canonicalisation to get wrong. The body's hash (SHA-256, hex) is the
// bundle's identity: its ETag and what devices report back.
package bundle

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tjfoc/gmsm/sm2"

	"github.com/pda-agent/pda-agent/gm"
)

// Bundle formats. Format is the current one.
const (
	FormatV1 = "pda-agent/bundle/v1"
	FormatV2 = "pda-agent/bundle/v2"
	Format   = FormatV2
)

// MaxSize bounds a bundle (the catalogue of a big chain fits easily).
const MaxSize = 16 << 20

// Body is what HQ signs.
type Body struct {
	Device string `json:"device"`
	Store  string `json:"store,omitempty"`
	// Version rises with every publish for the device; a device refuses
	// any version not above the one it applied (no rollback).
	Version   uint64    `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	// Config is the rendered YAML (chain → region → store → group →
	// device), with every secret taken out into Secrets.
	Config string `json:"config"`
	// Secrets maps config keys (e.g. "msfx.app_secret") to their values
	// SM2-encrypted (C1C3C2) to the device's public key, base64.
	Secrets map[string]string `json:"secrets,omitempty"`
	// Products and Partners are the catalogue files (CSV), empty when the
	// bundle does not carry them.
	Products string `json:"products,omitempty"`
	Partners string `json:"partners,omitempty"`
	// DeviceKey is the fingerprint of the device key the secrets are for:
	// a bundle for another device (or an old key) is refused.
	DeviceKey string `json:"device_key"`
	// NotAfter (v2) is when the bundle stops being acceptable: a device
	// refuses to apply it afterwards, so a stale mirror cannot hand out an
	// old config for ever. Zero: no expiry (v1).
	NotAfter time.Time `json:"not_after,omitzero"`
	// Catalogue (v2) names the signed catalogue object this config goes
	// with; Products and Partners are then empty.
	Catalogue *CatalogueRef `json:"catalogue,omitempty"`
}

// CatalogueRef points at a signed catalogue object (catalogue.Signed).
type CatalogueRef struct {
	// SHA256 is the lower-case hex SHA-256 of the object's bytes: its
	// address (GET /v1/catalogues/{sha256}) and, being signed into the
	// bundle, enough to trust the bytes fetched from anywhere.
	SHA256 string `json:"sha256"`
	// Version is the catalogue's own version (it changes only when the
	// content does); Scope what it covers ("chain", "store:<id>").
	Version uint64 `json:"version"`
	Scope   string `json:"scope"`
	// Size is the object's size in bytes, to bound the download.
	Size int64 `json:"size"`
}

// Bundle is the signed wire form.
type Bundle struct {
	Format    string `json:"format"`
	Key       string `json:"key"`
	Body      string `json:"body"`
	Signature string `json:"signature"`
}

// Seal signs body with HQ's key in the current format and returns the
// bundle's bytes and hash.
func Seal(body Body, hq *sm2.PrivateKey) ([]byte, string, error) {
	return SealFormat(Format, body, hq)
}

// SealFormat is Seal in a chosen format; v1 refuses the v2 members.
func SealFormat(format string, body Body, hq *sm2.PrivateKey) ([]byte, string, error) {
	if err := checkMembers(format, body); err != nil {
		return nil, "", fmt.Errorf("bundle: %w", err)
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, "", fmt.Errorf("bundle: encode body: %w", err)
	}
	sig, err := gm.Sign(hq, raw, nil, rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("bundle: sign: %w", err)
	}
	b := Bundle{Format: format, Key: gm.Fingerprint(&hq.PublicKey), Body: base64.StdEncoding.EncodeToString(raw),
		Signature: base64.StdEncoding.EncodeToString(sig)}
	out, err := json.Marshal(b)
	if err != nil {
		return nil, "", err
	}
	if len(out) > MaxSize { // Open would refuse it on the device
		return nil, "", fmt.Errorf("bundle: %d bytes, more than the %d a device accepts", len(out), MaxSize)
	}
	return out, Hash(raw), nil
}

// Hash is a body's identity: lower-case hex SHA-256.
func Hash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// Errors of Open, each a reason to refuse a bundle.
var (
	ErrFormat    = errors.New("not a pda-agent bundle")
	ErrSignature = errors.New("bundle signature does not verify with the HQ key")
	ErrDevice    = errors.New("bundle is for another device")
	ErrRollback  = errors.New("bundle version is not newer than the applied one")
	ErrExpired   = errors.New("bundle has expired (its not_after is past)")
)

// checkMembers refuses a body that its format cannot carry.
func checkMembers(format string, body Body) error {
	switch format {
	case FormatV2:
		if body.Catalogue != nil && (body.Products != "" || body.Partners != "") {
			return errors.New("a bundle refers to a catalogue or carries one, not both")
		}
		return nil
	case FormatV1:
		if !body.NotAfter.IsZero() || body.Catalogue != nil {
			return errors.New("format v1 has neither not_after nor a catalogue reference")
		}
		return nil
	}
	return fmt.Errorf("unknown format %q", format)
}

// CheckExpiry returns ErrExpired (wrapped, with the date) when the bundle's
// not_after is before now. Open does not check it: an applied bundle stays
// in force after it expires; only taking a new one is refused.
func (o *Opened) CheckExpiry(now time.Time) error {
	if na := o.Body.NotAfter; !na.IsZero() && now.After(na) {
		return fmt.Errorf("%w: not_after %s, now %s (HQ must publish again; a mirror may be stale)",
			ErrExpired, na.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// Opened is a verified bundle.
type Opened struct {
	Body Body
	// Hash identifies the bundle (SHA-256 of the signed body).
	Hash string
	// Raw is the bundle as received, to store as is.
	Raw []byte
}

// Open parses data and verifies it: format, HQ signature, device binding
// (device id and the fingerprint of its key), and that the version is
// above applied. It does not decrypt secrets (see Secrets).
func Open(data []byte, hq *sm2.PublicKey, device string, deviceKey *sm2.PublicKey, applied uint64) (*Opened, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrFormat, len(data), MaxSize)
	}
	var b Bundle
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the bundle", ErrFormat)
	}
	if b.Format != FormatV1 && b.Format != FormatV2 {
		return nil, fmt.Errorf("%w: format %q, want %q or %q", ErrFormat, b.Format, FormatV2, FormatV1)
	}
	raw, err := base64.StdEncoding.DecodeString(b.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: body: %v", ErrFormat, err)
	}
	sig, err := base64.StdEncoding.DecodeString(b.Signature)
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrFormat, err)
	}
	if err := gm.Verify(hq, raw, nil, sig); err != nil {
		return nil, fmt.Errorf("%w (bundle key %s, configured %s): %v", ErrSignature, b.Key, gm.Fingerprint(hq), err)
	}
	var body Body
	bd := json.NewDecoder(bytes.NewReader(raw))
	bd.DisallowUnknownFields()
	if err := bd.Decode(&body); err != nil {
		return nil, fmt.Errorf("%w: body: %v", ErrFormat, err)
	}
	if err := checkMembers(b.Format, body); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if body.Catalogue != nil && !isHexSHA256(body.Catalogue.SHA256) {
		return nil, fmt.Errorf("%w: catalogue sha256 %q is not 64 lower-case hex digits", ErrFormat, body.Catalogue.SHA256)
	}
	if body.Device != device {
		return nil, fmt.Errorf("%w: it names device %q, this is %q", ErrDevice, body.Device, device)
	}
	if deviceKey != nil && body.DeviceKey != gm.Fingerprint(deviceKey) {
		return nil, fmt.Errorf("%w: its secrets are for key %s, this device's key is %s (re-enrol?)", ErrDevice, body.DeviceKey, gm.Fingerprint(deviceKey))
	}
	if body.Version <= applied {
		return nil, fmt.Errorf("%w: version %d, applied %d", ErrRollback, body.Version, applied)
	}
	return &Opened{Body: body, Hash: Hash(raw), Raw: data}, nil
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// EncryptSecret encrypts one secret value to a device's public key.
func EncryptSecret(device *sm2.PublicKey, value string) (string, error) {
	if value == "" {
		return "", errors.New("bundle: an empty secret is not sent (leave the key out)")
	}
	ct, err := gm.Encrypt(device, []byte(value), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("bundle: encrypt secret: %w", err)
	}
	return base64.StdEncoding.EncodeToString(ct), nil
}

// Secrets decrypts the bundle's secrets with the device's private key.
func (o *Opened) Secrets(device *sm2.PrivateKey) (map[string]string, error) {
	out := make(map[string]string, len(o.Body.Secrets))
	for key, v := range o.Body.Secrets {
		ct, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("bundle: secret %s: %w", key, err)
		}
		pt, err := gm.Decrypt(device, ct)
		if err != nil {
			return nil, fmt.Errorf("bundle: secret %s: cannot decrypt with this device's key: %w", key, err)
		}
		out[key] = string(pt)
	}
	return out, nil
}
