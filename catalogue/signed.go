package catalogue

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

// SignedFormat names the wire form of a signed catalogue.
const SignedFormat = "pda-agent/catalogue/v1"

// MaxSignedSize bounds a signed catalogue (a big chain's ERP export with
// base64 overhead).
const MaxSignedSize = 64 << 20

// SignedBody is what HQ signs: the two CSV files of one scope.
type SignedBody struct {
	// Scope is what the catalogue covers: "chain", or "store:<id>" for a
	// store with its own products file.
	Scope string `json:"scope"`
	// Version rises when the content changes; an unchanged catalogue keeps
	// its version (and its bytes, and so its address) across publishes.
	Version   uint64    `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	Products  string    `json:"products,omitempty"`
	Partners  string    `json:"partners,omitempty"`
}

// Signed is the wire form: the same envelope as a bundle, another format.
// Its address is the SHA-256 of these bytes (ID), which the bundle that
// uses it carries, signed.
type Signed struct {
	Format    string `json:"format"`
	Key       string `json:"key"`
	Body      string `json:"body"`
	Signature string `json:"signature"`
}

// ErrSigned marks a catalogue object refused by OpenSigned.
var ErrSigned = errors.New("catalogue object refused")

// Seal signs body with HQ's key (SM3withSM2, the bundles' key) and returns
// the object's bytes and its address (hex SHA-256 of the bytes).
func Seal(body SignedBody, hq *sm2.PrivateKey) ([]byte, string, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, "", fmt.Errorf("catalogue: encode: %w", err)
	}
	sig, err := gm.Sign(hq, raw, nil, rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("catalogue: sign: %w", err)
	}
	out, err := json.Marshal(Signed{Format: SignedFormat, Key: gm.Fingerprint(&hq.PublicKey),
		Body: base64.StdEncoding.EncodeToString(raw), Signature: base64.StdEncoding.EncodeToString(sig)})
	if err != nil {
		return nil, "", fmt.Errorf("catalogue: encode: %w", err)
	}
	if len(out) > MaxSignedSize {
		return nil, "", fmt.Errorf("catalogue: %d bytes signed, more than the %d a device accepts", len(out), MaxSignedSize)
	}
	return out, ID(out), nil
}

// ID is an object's address: lower-case hex SHA-256 of its bytes.
func ID(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// OpenSigned verifies data: its address must be wantID (when not empty),
// its format known and its signature HQ's.
func OpenSigned(data []byte, hq *sm2.PublicKey, wantID string) (*SignedBody, error) {
	if len(data) > MaxSignedSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrSigned, len(data), MaxSignedSize)
	}
	if wantID != "" && ID(data) != wantID {
		return nil, fmt.Errorf("%w: its SHA-256 is %s, the bundle names %s", ErrSigned, ID(data), wantID)
	}
	var s Signed
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: not a catalogue object: %v", ErrSigned, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the object", ErrSigned)
	}
	if s.Format != SignedFormat {
		return nil, fmt.Errorf("%w: format %q, want %q", ErrSigned, s.Format, SignedFormat)
	}
	raw, err := base64.StdEncoding.DecodeString(s.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: body: %v", ErrSigned, err)
	}
	sig, err := base64.StdEncoding.DecodeString(s.Signature)
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrSigned, err)
	}
	if err := gm.Verify(hq, raw, nil, sig); err != nil {
		return nil, fmt.Errorf("%w: signature does not verify with the HQ key %s (object key %s): %v", ErrSigned, gm.Fingerprint(hq), s.Key, err)
	}
	var body SignedBody
	bd := json.NewDecoder(bytes.NewReader(raw))
	bd.DisallowUnknownFields()
	if err := bd.Decode(&body); err != nil {
		return nil, fmt.Errorf("%w: body: %v", ErrSigned, err)
	}
	return &body, nil
}
