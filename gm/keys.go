package gm

import (
	"crypto/elliptic"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/tjfoc/gmsm/sm2"
	"github.com/tjfoc/gmsm/sm3"
)

// Object identifiers of an SM2 key in PKCS#8 / SubjectPublicKeyInfo, as
// written by gmsm/x509, OpenSSL and BouncyCastle: the algorithm is
// id-ecPublicKey and its parameter the named curve sm2p256v1.
func oidECPublicKey() asn1.ObjectIdentifier { return asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1} }
func oidSM2P256V1() asn1.ObjectIdentifier   { return asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 301} }

const (
	scalarSize      = 32
	pointSize       = 1 + 2*scalarSize // 04‖X‖Y
	privateKeyForms = "Base64 of the big-endian scalar D (32 bytes; the 31- and 33-byte Java BigInteger forms also accepted) or PEM \"PRIVATE KEY\" (PKCS#8, unencrypted) / \"EC PRIVATE KEY\" (SEC1)"
	publicKeyForms  = "Base64 of the uncompressed point 04‖X‖Y (65 bytes, or 64 bytes X‖Y) or PEM \"PUBLIC KEY\" (SubjectPublicKeyInfo)"
)

// ParsePrivateKeyBase64 parses the platform's private-key form: Base64 of the
// big-endian scalar D. It accepts 32 bytes, 33 bytes with a leading 0x00 and
// 31 bytes, the last two being what Java's BigInteger.toByteArray() yields
// when D's top bit is set, or D < 2^247 (about 1 key in 512). Shorter input
// is refused as probably truncated. D must lie in [1, n−2]; the public point
// is computed. Surrounding whitespace is ignored.
func ParsePrivateKeyBase64(s string) (*sm2.PrivateKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("gm: private key: not Base64: %w", err)
	}
	switch {
	case len(b) == scalarSize+1 && b[0] == 0:
		b = b[1:]
	case len(b) == scalarSize, len(b) == scalarSize-1:
	default:
		return nil, fmt.Errorf("gm: private key: decoded to %d bytes, want 32 (or 31, or 33 with a leading 0x00)", len(b))
	}
	k, err := privateKeyFromScalar(new(big.Int).SetBytes(b))
	if err != nil {
		return nil, fmt.Errorf("gm: private key: %w", err)
	}
	return k, nil
}

// PrivateKeyBase64 returns Base64 of D as exactly 32 big-endian bytes, the
// form to store. It returns "" for a nil key or one whose D does not fit.
func PrivateKeyBase64(k *sm2.PrivateKey) string {
	if k == nil || k.D == nil || k.D.Sign() < 0 || k.D.BitLen() > 8*scalarSize {
		return ""
	}
	return base64.StdEncoding.EncodeToString(k.D.FillBytes(make([]byte, scalarSize)))
}

// ParsePublicKeyBase64 parses Base64 of the uncompressed point 04‖X‖Y (65
// bytes; 64 bytes X‖Y is accepted too). The point must have coordinates below
// p and lie on sm2p256v1, a check gmsm's ReadPublicKeyFromHex skips.
// Surrounding whitespace is ignored.
func ParsePublicKeyBase64(s string) (*sm2.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("gm: public key: not Base64: %w", err)
	}
	k, err := publicKeyFromBytes(b)
	if err != nil {
		return nil, fmt.Errorf("gm: public key: %w", err)
	}
	return k, nil
}

// PublicKeyBase64 returns Base64 of the 65-byte point 04‖X‖Y, or "" for a nil
// key or one whose coordinates do not fit 32 bytes.
func PublicKeyBase64(k *sm2.PublicKey) string {
	p := marshalPoint(k)
	if p == nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(p)
}

// ParsePrivateKey accepts either form of private key: PEM text (detected by
// "-----BEGIN") or the Base64 scalar. The error names the accepted forms.
func ParsePrivateKey(s string) (*sm2.PrivateKey, error) {
	var (
		k   *sm2.PrivateKey
		err error
	)
	if strings.Contains(s, "-----BEGIN") {
		k, err = ParsePrivateKeyPEM([]byte(s))
	} else {
		k, err = ParsePrivateKeyBase64(s)
	}
	if err != nil {
		return nil, fmt.Errorf("%w; accepted forms: %s", err, privateKeyForms)
	}
	return k, nil
}

// ParsePublicKey accepts either form of public key: PEM text (detected by
// "-----BEGIN") or the Base64 point. The error names the accepted forms.
func ParsePublicKey(s string) (*sm2.PublicKey, error) {
	var (
		k   *sm2.PublicKey
		err error
	)
	if strings.Contains(s, "-----BEGIN") {
		k, err = ParsePublicKeyPEM([]byte(s))
	} else {
		k, err = ParsePublicKeyBase64(s)
	}
	if err != nil {
		return nil, fmt.Errorf("%w; accepted forms: %s", err, publicKeyForms)
	}
	return k, nil
}

// Fingerprint identifies a public key for logs and configuration checks
// without revealing anything secret: SM3 of the 65-byte point 04‖X‖Y, first
// 16 bytes, as lowercase hex in eight colon-separated groups of four digits
// ("ab12:cd34:…"). It returns "" for a nil or malformed key.
func Fingerprint(pub *sm2.PublicKey) string {
	p := marshalPoint(pub)
	if p == nil {
		return ""
	}
	h := hex.EncodeToString(sm3.Sm3Sum(p)[:16])
	var b strings.Builder
	for i := 0; i < len(h); i += 4 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+4])
	}
	return b.String()
}

// ecPrivateKey is RFC 5915 ECPrivateKey (SEC1), as nested in PKCS#8.
type ecPrivateKey struct {
	Version       int
	PrivateKey    []byte
	NamedCurveOID asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
	PublicKey     asn1.BitString        `asn1:"optional,explicit,tag:1"`
}

// pkcs8 is RFC 5208 PrivateKeyInfo; attributes are not used by SM2 keys and
// encoding/asn1 ignores trailing elements.
type pkcs8 struct {
	Version    int
	Algo       pkix.AlgorithmIdentifier
	PrivateKey []byte
}

// subjectPublicKeyInfo is RFC 5280 SubjectPublicKeyInfo.
type subjectPublicKeyInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	PublicKey asn1.BitString
}

// ParsePrivateKeyPEM parses an unencrypted SM2 private key in PEM: "PRIVATE
// KEY" (PKCS#8, as gmsm/x509, OpenSSL and Java write it) or "EC PRIVATE KEY"
// (SEC1). A leading "EC PARAMETERS" block is skipped. The curve must be
// sm2p256v1; an embedded public key must match D. Encrypted keys are refused.
func ParsePrivateKeyPEM(b []byte) (*sm2.PrivateKey, error) {
	block, err := firstKeyBlock(b)
	if err != nil {
		return nil, fmt.Errorf("gm: private key PEM: %w", err)
	}
	var k *sm2.PrivateKey
	switch block.Type {
	case "PRIVATE KEY":
		k, err = parsePKCS8(block.Bytes)
	case "EC PRIVATE KEY":
		if block.Headers["Proc-Type"] != "" {
			return nil, errors.New("gm: private key PEM: encrypted (Proc-Type header); decrypt it first")
		}
		k, err = parseECPrivateKey(block.Bytes, false)
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("gm: private key PEM: encrypted PKCS#8 is not supported; decrypt it first (openssl pkcs8 -topk8 -nocrypt)")
	default:
		return nil, fmt.Errorf("gm: private key PEM: unexpected block type %q", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("gm: private key PEM: %w", err)
	}
	return k, nil
}

// PrivateKeyPEM encodes k as an unencrypted PKCS#8 "PRIVATE KEY" PEM block,
// the same bytes gmsm/x509.WritePrivateKeyToPem(k, nil) produces (except that
// D is always 32 bytes, as RFC 5915 requires). The key is validated first.
func PrivateKeyPEM(k *sm2.PrivateKey) ([]byte, error) {
	k, err := checkPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("gm: private key PEM: %w", err)
	}
	inner, err := asn1.Marshal(ecPrivateKey{
		Version:       1,
		PrivateKey:    k.D.FillBytes(make([]byte, scalarSize)),
		NamedCurveOID: oidSM2P256V1(),
		PublicKey:     asn1.BitString{Bytes: marshalPoint(&k.PublicKey), BitLength: 8 * pointSize},
	})
	if err != nil {
		return nil, fmt.Errorf("gm: private key PEM: %w", err)
	}
	params, err := asn1.Marshal(oidSM2P256V1())
	if err != nil {
		return nil, fmt.Errorf("gm: private key PEM: %w", err)
	}
	der, err := asn1.Marshal(pkcs8{
		Version:    0,
		Algo:       pkix.AlgorithmIdentifier{Algorithm: oidECPublicKey(), Parameters: asn1.RawValue{FullBytes: params}},
		PrivateKey: inner,
	})
	if err != nil {
		return nil, fmt.Errorf("gm: private key PEM: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePublicKeyPEM parses a "PUBLIC KEY" (SubjectPublicKeyInfo) PEM block
// holding an uncompressed point of sm2p256v1; the point is validated.
func ParsePublicKeyPEM(b []byte) (*sm2.PublicKey, error) {
	block, err := firstKeyBlock(b)
	if err != nil {
		return nil, fmt.Errorf("gm: public key PEM: %w", err)
	}
	if block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("gm: public key PEM: unexpected block type %q, want \"PUBLIC KEY\"", block.Type)
	}
	var spki subjectPublicKeyInfo
	rest, err := asn1.Unmarshal(block.Bytes, &spki)
	if err != nil {
		return nil, fmt.Errorf("gm: public key PEM: %w", err)
	}
	if len(rest) != 0 {
		return nil, errors.New("gm: public key PEM: trailing data after SubjectPublicKeyInfo")
	}
	if err := checkAlgorithm(spki.Algorithm, true); err != nil {
		return nil, fmt.Errorf("gm: public key PEM: %w", err)
	}
	if spki.PublicKey.BitLength != 8*len(spki.PublicKey.Bytes) {
		return nil, errors.New("gm: public key PEM: public key bit string is not whole bytes")
	}
	if len(spki.PublicKey.Bytes) != pointSize {
		return nil, fmt.Errorf("gm: public key PEM: point is %d bytes, want %d-byte uncompressed 04‖X‖Y", len(spki.PublicKey.Bytes), pointSize)
	}
	k, err := publicKeyFromBytes(spki.PublicKey.Bytes)
	if err != nil {
		return nil, fmt.Errorf("gm: public key PEM: %w", err)
	}
	return k, nil
}

// PublicKeyPEM encodes k as a "PUBLIC KEY" (SubjectPublicKeyInfo) PEM block,
// the same bytes gmsm/x509.WritePublicKeyToPem produces.
func PublicKeyPEM(k *sm2.PublicKey) ([]byte, error) {
	k, err := checkPublicKey(k)
	if err != nil {
		return nil, fmt.Errorf("gm: public key PEM: %w", err)
	}
	params, err := asn1.Marshal(oidSM2P256V1())
	if err != nil {
		return nil, fmt.Errorf("gm: public key PEM: %w", err)
	}
	der, err := asn1.Marshal(subjectPublicKeyInfo{
		Algorithm: pkix.AlgorithmIdentifier{Algorithm: oidECPublicKey(), Parameters: asn1.RawValue{FullBytes: params}},
		PublicKey: asn1.BitString{Bytes: marshalPoint(k), BitLength: 8 * pointSize},
	})
	if err != nil {
		return nil, fmt.Errorf("gm: public key PEM: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// firstKeyBlock returns the first PEM block that is not "EC PARAMETERS"
// (which `openssl ecparam -genkey` writes in front of the key).
func firstKeyBlock(b []byte) (*pem.Block, error) {
	for {
		block, rest := pem.Decode(b)
		if block == nil {
			return nil, errors.New("no PEM block found")
		}
		if block.Type != "EC PARAMETERS" {
			return block, nil
		}
		b = rest
	}
}

func parsePKCS8(der []byte) (*sm2.PrivateKey, error) {
	var p pkcs8
	rest, err := asn1.Unmarshal(der, &p)
	if err != nil {
		return nil, fmt.Errorf("PKCS#8: %w", err)
	}
	if len(rest) != 0 {
		return nil, errors.New("PKCS#8: trailing data")
	}
	if p.Version != 0 && p.Version != 1 {
		return nil, fmt.Errorf("PKCS#8: unsupported version %d", p.Version)
	}
	if err := checkAlgorithm(p.Algo, false); err != nil {
		return nil, fmt.Errorf("PKCS#8: %w", err)
	}
	// The curve may be named in the algorithm parameters, in the inner
	// ECPrivateKey, or both; at least one is required.
	curveNamed := len(p.Algo.Parameters.FullBytes) > 0 && p.Algo.Parameters.Tag == asn1.TagOID
	return parseECPrivateKey(p.PrivateKey, curveNamed)
}

// checkAlgorithm requires id-ecPublicKey with, when present (or required),
// the named curve sm2p256v1. A P-256 key must not slip through: gmsm would
// treat its scalar as an SM2 key without complaint.
func checkAlgorithm(a pkix.AlgorithmIdentifier, curveRequired bool) error {
	if !a.Algorithm.Equal(oidECPublicKey()) {
		return fmt.Errorf("algorithm %v is not id-ecPublicKey", a.Algorithm)
	}
	raw := a.Parameters.FullBytes
	if len(raw) == 0 || a.Parameters.Tag == asn1.TagNull {
		if curveRequired {
			return errors.New("no named curve in the algorithm parameters")
		}
		return nil
	}
	var curve asn1.ObjectIdentifier
	rest, err := asn1.Unmarshal(raw, &curve)
	if err != nil || len(rest) != 0 {
		return errors.New("algorithm parameters are not a named-curve OID")
	}
	if !curve.Equal(oidSM2P256V1()) {
		return fmt.Errorf("curve %v is not sm2p256v1 (%v)", curve, oidSM2P256V1())
	}
	return nil
}

func parseECPrivateKey(der []byte, curveNamed bool) (*sm2.PrivateKey, error) {
	var e ecPrivateKey
	rest, err := asn1.Unmarshal(der, &e)
	if err != nil {
		return nil, fmt.Errorf("ECPrivateKey: %w", err)
	}
	if len(rest) != 0 {
		return nil, errors.New("ECPrivateKey: trailing data")
	}
	if e.Version != 1 {
		return nil, fmt.Errorf("ECPrivateKey: unsupported version %d", e.Version)
	}
	if len(e.NamedCurveOID) > 0 {
		if !e.NamedCurveOID.Equal(oidSM2P256V1()) {
			return nil, fmt.Errorf("ECPrivateKey: curve %v is not sm2p256v1", e.NamedCurveOID)
		}
	} else if !curveNamed {
		return nil, errors.New("ECPrivateKey: curve not named")
	}
	d := e.PrivateKey
	for len(d) > scalarSize && d[0] == 0 {
		d = d[1:]
	}
	if len(d) > scalarSize {
		return nil, fmt.Errorf("ECPrivateKey: scalar is %d bytes", len(e.PrivateKey))
	}
	k, err := privateKeyFromScalar(new(big.Int).SetBytes(d))
	if err != nil {
		return nil, fmt.Errorf("ECPrivateKey: %w", err)
	}
	if e.PublicKey.BitLength > 0 {
		pub := e.PublicKey.RightAlign()
		want := marshalPoint(&k.PublicKey)
		if len(pub) != pointSize || string(pub) != string(want) {
			return nil, errors.New("ECPrivateKey: embedded public key does not match the private scalar")
		}
	}
	return k, nil
}

// privateKeyFromScalar range-checks D and computes the public point.
// The valid range is [1, n−2]: SM2 signing inverts 1+D mod n, so n−1 is
// excluded too (gmsm's ReadPrivateKeyFromHex rejects it as well).
func privateKeyFromScalar(d *big.Int) (*sm2.PrivateKey, error) {
	c := sm2.P256Sm2()
	if d.Sign() <= 0 {
		return nil, errors.New("scalar D is zero")
	}
	if d.Cmp(new(big.Int).Sub(c.Params().N, big.NewInt(1))) >= 0 {
		return nil, errors.New("scalar D is not below n−1")
	}
	k := &sm2.PrivateKey{D: new(big.Int).Set(d)}
	k.Curve = c
	// Always 32 bytes: gmsm's ScalarBaseMult indexes out of range on longer
	// input.
	//lint:ignore SA1019 gmsm exposes SM2 only as an elliptic.Curve; crypto/ecdh has no SM2.
	k.X, k.Y = c.ScalarBaseMult(d.FillBytes(make([]byte, scalarSize)))
	return k, nil
}

// publicKeyFromBytes parses 04‖X‖Y (65 bytes) or X‖Y (64 bytes).
func publicKeyFromBytes(b []byte) (*sm2.PublicKey, error) {
	switch {
	case len(b) == pointSize && b[0] == 0x04:
		b = b[1:]
	case len(b) == pointSize:
		return nil, fmt.Errorf("65-byte point starts with 0x%02x, want 0x04 (uncompressed)", b[0])
	case len(b) == pointSize-1:
	case len(b) == 1+scalarSize && (b[0] == 0x02 || b[0] == 0x03):
		return nil, errors.New("compressed points are not supported; want 04‖X‖Y")
	default:
		return nil, fmt.Errorf("point is %d bytes, want 65 (04‖X‖Y) or 64 (X‖Y)", len(b))
	}
	x := new(big.Int).SetBytes(b[:scalarSize])
	y := new(big.Int).SetBytes(b[scalarSize:])
	if err := validatePoint(x, y); err != nil {
		return nil, err
	}
	k := &sm2.PublicKey{X: x, Y: y}
	k.Curve = sm2.P256Sm2()
	return k, nil
}

// validatePoint requires affine coordinates in [0, p) on sm2p256v1. The range
// check matters: gmsm's IsOnCurve reduces mod p first, so X+p would pass.
func validatePoint(x, y *big.Int) error {
	p := sm2.P256Sm2().Params().P
	if x.Sign() < 0 || y.Sign() < 0 || x.Cmp(p) >= 0 || y.Cmp(p) >= 0 {
		return errors.New("point coordinates out of range")
	}
	if x.Sign() == 0 && y.Sign() == 0 {
		return errors.New("point at infinity")
	}
	//lint:ignore SA1019 gmsm exposes SM2 only as an elliptic.Curve; crypto/ecdh has no SM2.
	if !sm2.P256Sm2().IsOnCurve(x, y) {
		return errors.New("point is not on the sm2p256v1 curve")
	}
	return nil
}

func isSM2Curve(c elliptic.Curve) bool {
	return c != nil && c.Params() == sm2.P256Sm2().Params()
}

// checkPublicKey validates pub and returns a copy bound to the SM2 curve.
func checkPublicKey(pub *sm2.PublicKey) (*sm2.PublicKey, error) {
	if pub == nil || pub.X == nil || pub.Y == nil {
		return nil, errors.New("nil public key")
	}
	if !isSM2Curve(pub.Curve) {
		return nil, errors.New("public key is not on the SM2 curve")
	}
	if err := validatePoint(pub.X, pub.Y); err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	k := &sm2.PublicKey{X: new(big.Int).Set(pub.X), Y: new(big.Int).Set(pub.Y)}
	k.Curve = sm2.P256Sm2()
	return k, nil
}

// checkPrivateKey validates priv (D in range, public half equal to D·G) and
// returns a copy bound to the SM2 curve.
func checkPrivateKey(priv *sm2.PrivateKey) (*sm2.PrivateKey, error) {
	if priv == nil || priv.D == nil {
		return nil, errors.New("nil private key")
	}
	if !isSM2Curve(priv.Curve) {
		return nil, errors.New("private key is not on the SM2 curve")
	}
	k, err := privateKeyFromScalar(priv.D)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	if priv.X == nil || priv.Y == nil || priv.X.Cmp(k.X) != 0 || priv.Y.Cmp(k.Y) != 0 {
		return nil, errors.New("private key: public point does not match D")
	}
	return k, nil
}

// marshalPoint returns 04‖X‖Y, or nil when k is nil or a coordinate does not
// fit 32 bytes.
func marshalPoint(k *sm2.PublicKey) []byte {
	if k == nil || k.X == nil || k.Y == nil ||
		k.X.Sign() < 0 || k.Y.Sign() < 0 || k.X.BitLen() > 8*scalarSize || k.Y.BitLen() > 8*scalarSize {
		return nil
	}
	b := make([]byte, pointSize)
	b[0] = 0x04
	k.X.FillBytes(b[1 : 1+scalarSize])
	k.Y.FillBytes(b[1+scalarSize:])
	return b
}
