// Package protocol is the wire contract between pda-hq and the agents: the
// two paths, the authentication headers and how they are signed, the report
// body and the error codes. It is small and free of server code so that an
// agent (or a test) can speak the protocol without linking the HQ.
//
// Every request carries
//
//	X-PDA-Device:    <device id>
//	X-PDA-Time:      <unix seconds>
//	X-PDA-Signature: <Base64 of the raw r‖s SM3withSM2 signature (uid
//	                  gm.DefaultUID) by the device's enrolled key over
//	                  StringToSign>
//
// where StringToSign is "<METHOD>\n<path>\n<time>\n<hex SHA-256 of the
// body>" (a GET has no body: the hash of nothing). The path is the request
// path exactly as HQ receives it, without the query, so a reverse proxy in
// front of HQ must not rewrite it.
//
// A GET of the bundle may also carry X-PDA-Poll-Token, the token HQ sent
// in its last answer to a verified GET: with it, and an If-None-Match
// naming the current bundle, HQ answers 304 without checking the
// signature (package hq documents what the token allows). Catalogue
// objects (GET /v1/catalogues/{sha256}) need no authentication.
package protocol

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tjfoc/gmsm/sm2"

	"github.com/pda-agent/pda-agent/gm"
)

// Authentication headers.
const (
	HeaderDevice    = "X-PDA-Device"
	HeaderTime      = "X-PDA-Time"
	HeaderSignature = "X-PDA-Signature"
)

// HeaderPollToken carries the poll token: HQ sends one in every answer to
// an SM2-verified GET of the bundle, and a device that sends it back with
// an If-None-Match naming its current bundle gets its 304 without a
// signature check (see package hq).
const HeaderPollToken = "X-PDA-Poll-Token"

// MaxSkew is how far X-PDA-Time may be from HQ's clock, either way.
const MaxSkew = 5 * time.Minute

// Report states, as OpAMP names them.
const (
	StateApplying = "APPLYING"
	StateApplied  = "APPLIED"
	StateFailed   = "FAILED"
)

// Error codes: the "error" member of every JSON error body.
const (
	CodeNoBundle      = "no_bundle"      // 404: nothing released to this device (yet)
	CodeUnknownDevice = "unknown_device" // 404: the device is not enrolled
	CodeNotFound      = "not_found"      // 404: no such path
	CodeAuthMissing   = "auth_missing"   // 401: a header is absent or malformed
	CodeAuthDevice    = "auth_device"    // 401: X-PDA-Device differs from the path
	CodeAuthTime      = "auth_time"      // 401: X-PDA-Time outside ±MaxSkew (check the clock)
	CodeAuthSignature = "auth_signature" // 401: the signature does not verify with the enrolled key
	CodeBadRequest    = "bad_request"    // 400: the report body is not a valid report
	CodeTooLarge      = "too_large"      // 413: the body is larger than MaxReportSize
	CodeMethod        = "method_not_allowed"
	CodeBusy          = "busy"        // 503 + Retry-After: too many requests in flight
	CodeUnavailable   = "unavailable" // 503 + Retry-After: the report could not be stored yet
	CodeInternal      = "internal"
)

// Limits on a report.
const (
	MaxReportSize     = 64 << 10 // bytes of a report body
	MaxReportErrorLen = 4000     // characters of Report.Error kept by HQ
)

// BundlePath is the path a device polls.
func BundlePath(device string) string { return "/v1/devices/" + device + "/bundle" }

// CataloguePath is where HQ serves a signed catalogue object by its
// address (hex SHA-256 of its bytes); no authentication, immutable.
func CataloguePath(sha256 string) string { return "/v1/catalogues/" + sha256 }

// ReportPath is the path a device reports to.
func ReportPath(device string) string { return "/v1/devices/" + device + "/report" }

// Report is the body of POST /v1/devices/{device}/report.
type Report struct {
	State   string `json:"state"`
	Version uint64 `json:"version"`
	// Hash is the bundle hash (its ETag) the report is about.
	Hash  string `json:"hash"`
	Error string `json:"error,omitempty"`
	// ConfigHash optionally identifies the effective config after local
	// layers, to spot devices whose own file overrides HQ.
	ConfigHash string `json:"config_hash,omitempty"`
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error   string `json:"error"`
	Message string `json:"message,omitempty"`
}

// StringToSign is the message a device signs.
func StringToSign(method, path string, unix int64, body []byte) []byte {
	sum := sha256.Sum256(body)
	return []byte(method + "\n" + path + "\n" + strconv.FormatInt(unix, 10) + "\n" + hex.EncodeToString(sum[:]))
}

// Sign sets the authentication headers of req for device, signing body
// (nil for a GET) at time now.
func Sign(req *http.Request, device string, key *sm2.PrivateKey, body []byte, now time.Time) error {
	unix := now.Unix()
	sig, err := gm.Sign(key, StringToSign(req.Method, req.URL.Path, unix, body), nil, nil)
	if err != nil {
		return fmt.Errorf("protocol: sign request: %w", err)
	}
	req.Header.Set(HeaderDevice, device)
	req.Header.Set(HeaderTime, strconv.FormatInt(unix, 10))
	req.Header.Set(HeaderSignature, base64.StdEncoding.EncodeToString(sig))
	return nil
}

// ParseTime reads X-PDA-Time and checks it lies within skew of now.
// It returns the time and the error code to answer with.
func ParseTime(v string, now time.Time, skew time.Duration) (time.Time, string, error) {
	if v == "" {
		return time.Time{}, CodeAuthMissing, errors.New("missing " + HeaderTime)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, CodeAuthMissing, fmt.Errorf("%s is not unix seconds: %q", HeaderTime, v)
	}
	t := time.Unix(n, 0)
	if d := now.Sub(t); d > skew || d < -skew {
		return t, CodeAuthTime, fmt.Errorf("%s is %s from HQ's clock (%s), more than %s: check the device clock", HeaderTime, d.Round(time.Second), now.UTC().Format(time.RFC3339), skew)
	}
	return t, "", nil
}

// VerifySignature checks X-PDA-Signature against the device's key.
func VerifySignature(pub *sm2.PublicKey, method, path string, unix int64, body []byte, sigB64 string) (string, error) {
	if sigB64 == "" {
		return CodeAuthMissing, errors.New("missing " + HeaderSignature)
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil || len(sig) != gm.SignatureSize {
		return CodeAuthMissing, fmt.Errorf("%s must be Base64 of the 64-byte raw r‖s signature", HeaderSignature)
	}
	if err := gm.Verify(pub, StringToSign(method, path, unix, body), nil, sig); err != nil {
		return CodeAuthSignature, fmt.Errorf("signature does not verify with the enrolled key %s (re-enrolled device? wrong key?)", gm.Fingerprint(pub))
	}
	return "", nil
}
