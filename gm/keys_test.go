package gm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"regexp"
	"strings"
	"testing"

	"github.com/tjfoc/gmsm/sm2"
	"github.com/tjfoc/gmsm/sm3"
)

// Throw-away test keys, never used anywhere else.

// OpenSSL 3.0.19: `openssl genpkey -algorithm SM2` and `openssl pkey -pubout`.
const (
	opensslPrivatePEM = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQglBYawVBD/PR+VZtc
B9MUqk875WYQi/86E9f81r6L/WahRANCAASBszmpuouuUwIMW6+tnZ1DUJMftLXE
84FfVqpo4hJeiNlUgturHaiffn4u6b1j8jlzn128sryaTfTXrqMwyqcF
-----END PRIVATE KEY-----
`
	opensslPublicPEM = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAEgbM5qbqLrlMCDFuvrZ2dQ1CTH7S1
xPOBX1aqaOISXojZVILbqx2on35+Lum9Y/I5c59dvLK8mk30166jMMqnBQ==
-----END PUBLIC KEY-----
`
	// From `openssl pkey -text`; D has its top bit set, so Java would write
	// it as 33 bytes.
	opensslD     = "94161ac15043fcf47e559b5c07d314aa4f3be566108bff3a13d7fcd6be8bfd66"
	opensslPoint = "0481b339a9ba8bae53020c5bafad9d9d4350931fb4b5c4f3815f56aa68e2125e88d95482dbab1da89f7e7e2ee9bd63f239739f5dbcb2bc9a4df4d7aea330caa705"
)

// gmsm v1.4.1 x509.WritePrivateKeyToPem(k, nil) / WritePublicKeyToPem for
// the GB/T 32918 example key (vecD).
const (
	gmsmVectorPrivatePEM = `-----BEGIN PRIVATE KEY-----
MIGTAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBHkwdwIBAQQgOUUgj3shRLE/NuOK
xtOflYiTk2koYLUaQvuB7033xbigCgYIKoEcz1UBgi2hRANCAAQJ+d8xHlQhoVDd
fRYeS8XGchefrRgz/AdrsI/zVvNQIMzqSQziZ3WlLcbqcYzBqmAK7QX7814ISmYy
9gctqa0T
-----END PRIVATE KEY-----
`
	gmsmVectorPublicPEM = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAECfnfMR5UIaFQ3X0WHkvFxnIXn60Y
M/wHa7CP81bzUCDM6kkM4md1pS3G6nGMwapgCu0F+/NeCEpmMvYHLamtEw==
-----END PUBLIC KEY-----
`
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func sameKey(t *testing.T, a, b *sm2.PrivateKey) {
	t.Helper()
	if a.D.Cmp(b.D) != 0 || a.X.Cmp(b.X) != 0 || a.Y.Cmp(b.Y) != 0 {
		t.Fatal("keys differ")
	}
}

func TestPrivateKeyBase64Forms(t *testing.T) {
	d := mustHex(t, opensslD)
	k32, err := ParsePrivateKeyBase64(b64(d))
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(marshalPoint(&k32.PublicKey)) != opensslPoint {
		t.Fatal("public point computed from D differs from OpenSSL's")
	}
	// Java BigInteger.toByteArray(): 33 bytes with a sign byte.
	k33, err := ParsePrivateKeyBase64(b64(append([]byte{0}, d...)))
	if err != nil {
		t.Fatal(err)
	}
	sameKey(t, k32, k33)
	if got := PrivateKeyBase64(k33); got != b64(d) {
		t.Fatalf("PrivateKeyBase64 = %s, want the 32-byte form", got)
	}
	// Whitespace around a pasted key is tolerated.
	if _, err := ParsePrivateKeyBase64(" " + b64(d) + "\n"); err != nil {
		t.Fatal(err)
	}

	// A small D: Java writes 31 bytes; the stored form is zero-padded.
	small := make([]byte, 32)
	small[1] = 0x12
	small[31] = 0x34
	k31, err := ParsePrivateKeyBase64(b64(small[1:]))
	if err != nil {
		t.Fatal(err)
	}
	kPadded, err := ParsePrivateKeyBase64(b64(small))
	if err != nil {
		t.Fatal(err)
	}
	sameKey(t, k31, kPadded)
	if raw, _ := base64.StdEncoding.DecodeString(PrivateKeyBase64(k31)); len(raw) != 32 {
		t.Fatalf("stored form is %d bytes", len(raw))
	}

	n := sm2.P256Sm2().Params().N
	nMinus := func(i int64) []byte { return new(big.Int).Sub(n, big.NewInt(i)).FillBytes(make([]byte, 32)) }
	if _, err := ParsePrivateKeyBase64(b64(nMinus(2))); err != nil {
		t.Fatalf("D = n−2 refused: %v", err)
	}
	bad := map[string]string{
		"zero":            b64(make([]byte, 32)),
		"n-1":             b64(nMinus(1)),
		"n":               b64(nMinus(0)),
		"all ones":        b64(mustHex(t, strings.Repeat("ff", 32))),
		"30 bytes":        b64(d[:30]),
		"34 bytes":        b64(append([]byte{0, 0}, d...)),
		"33 bytes, lead1": b64(append([]byte{1}, d...)),
		"64 bytes":        b64(append(d, d...)),
		"not base64":      "####",
		"empty":           "",
		"url alphabet":    strings.NewReplacer("+", "-", "/", "_").Replace(b64(append([]byte{0xfb, 0xff}, d[:30]...))),
	}
	for name, s := range bad {
		noPanic(t, name, func() {
			k, err := ParsePrivateKeyBase64(s)
			if err == nil {
				t.Errorf("%s: accepted", name)
				return
			}
			_ = k
			if s != "" && strings.Contains(err.Error(), s) {
				t.Errorf("%s: error echoes the key material: %v", name, err)
			}
		})
	}
	if PrivateKeyBase64(nil) != "" || PrivateKeyBase64(&sm2.PrivateKey{}) != "" {
		t.Error("PrivateKeyBase64 of an empty key is not empty")
	}
}

func TestPublicKeyBase64Forms(t *testing.T) {
	pt := mustHex(t, opensslPoint)
	k65, err := ParsePublicKeyBase64(b64(pt))
	if err != nil {
		t.Fatal(err)
	}
	k64, err := ParsePublicKeyBase64(b64(pt[1:]))
	if err != nil {
		t.Fatal(err)
	}
	if k65.X.Cmp(k64.X) != 0 || k65.Y.Cmp(k64.Y) != 0 {
		t.Fatal("64- and 65-byte forms differ")
	}
	if PublicKeyBase64(k64) != b64(pt) {
		t.Fatal("PublicKeyBase64 is not the 65-byte 04‖X‖Y form")
	}

	offCurve := append([]byte{}, pt...)
	offCurve[64] ^= 1
	wrongPrefix := append([]byte{}, pt...)
	wrongPrefix[0] = 0x05
	compressed := append([]byte{0x02 | (pt[64] & 1)}, pt[1:33]...)
	bad := map[string][]byte{
		"off curve":    offCurve,
		"off curve 64": offCurve[1:],
		"infinity 64":  make([]byte, 64),
		"infinity 65":  append([]byte{4}, make([]byte, 64)...),
		"prefix 05":    wrongPrefix,
		"compressed":   compressed,
		"63 bytes":     pt[2:],
		"66 bytes":     append(append([]byte{}, pt...), 0),
		"empty":        nil,
	}
	for name, b := range bad {
		noPanic(t, name, func() {
			if _, err := ParsePublicKeyBase64(b64(b)); err == nil {
				t.Errorf("%s: accepted", name)
			}
		})
	}
}

// gmsm's IsOnCurve reduces coordinates mod p before checking, so (x+p, y)
// passes it; the explicit range check must refuse such a point.
func TestPublicKeyCoordinateRange(t *testing.T) {
	params := sm2.P256Sm2().Params()
	p := params.P
	a := new(big.Int).Sub(p, big.NewInt(3))
	var x, y *big.Int
	for i := int64(0); i < 100 && y == nil; i++ { // a small x so x+p fits 32 bytes
		xi := big.NewInt(i)
		rhs := new(big.Int).Exp(xi, big.NewInt(3), p)
		rhs.Add(rhs, new(big.Int).Mul(a, xi))
		rhs.Add(rhs, params.B)
		rhs.Mod(rhs, p)
		if r := new(big.Int).ModSqrt(rhs, p); r != nil {
			x, y = xi, r
		}
	}
	if y == nil {
		t.Fatal("no small-x point found")
	}
	valid := append(append([]byte{4}, x.FillBytes(make([]byte, 32))...), y.FillBytes(make([]byte, 32))...)
	if _, err := ParsePublicKeyBase64(b64(valid)); err != nil {
		t.Fatalf("valid small-x point refused: %v", err)
	}
	xp := new(big.Int).Add(x, p)
	if xp.BitLen() > 256 {
		t.Fatal("x+p does not fit")
	}
	//lint:ignore SA1019 demonstrating gmsm's behaviour
	if !sm2.P256Sm2().IsOnCurve(xp, y) {
		t.Log("gmsm IsOnCurve now rejects x+p by itself")
	}
	alias := append(append([]byte{4}, xp.FillBytes(make([]byte, 32))...), y.FillBytes(make([]byte, 32))...)
	if _, err := ParsePublicKeyBase64(b64(alias)); err == nil {
		t.Fatal("point with x ≥ p accepted")
	}
}

func TestPEMOpenSSLFixture(t *testing.T) {
	k, err := ParsePrivateKeyPEM([]byte(opensslPrivatePEM))
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(k.D.FillBytes(make([]byte, 32))) != opensslD ||
		hex.EncodeToString(marshalPoint(&k.PublicKey)) != opensslPoint {
		t.Fatal("OpenSSL PKCS#8 key parsed to other values")
	}
	pub, err := ParsePublicKeyPEM([]byte(opensslPublicPEM))
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(marshalPoint(pub)) != opensslPoint {
		t.Fatal("OpenSSL public key parsed to another point")
	}
	// SubjectPublicKeyInfo has a single encoding: ours equals OpenSSL's.
	out, err := PublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != opensslPublicPEM {
		t.Fatalf("PublicKeyPEM =\n%s\nOpenSSL wrote\n%s", out, opensslPublicPEM)
	}
}

func TestPEMMatchesGmsm(t *testing.T) {
	k := vectorKey(t)
	priv, err := PrivateKeyPEM(k)
	if err != nil {
		t.Fatal(err)
	}
	if string(priv) != gmsmVectorPrivatePEM {
		t.Fatalf("PrivateKeyPEM =\n%s\ngmsm/x509 wrote\n%s", priv, gmsmVectorPrivatePEM)
	}
	pub, err := PublicKeyPEM(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if string(pub) != gmsmVectorPublicPEM {
		t.Fatalf("PublicKeyPEM =\n%s\ngmsm/x509 wrote\n%s", pub, gmsmVectorPublicPEM)
	}
	k2, err := ParsePrivateKeyPEM([]byte(gmsmVectorPrivatePEM))
	if err != nil {
		t.Fatal(err)
	}
	sameKey(t, k, k2)
}

func TestPEMRoundTripAndSEC1(t *testing.T) {
	k, err := GenerateKey(newDetReader("pem round trip"))
	if err != nil {
		t.Fatal(err)
	}
	privPEM, err := PrivateKeyPEM(k)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := ParsePrivateKeyPEM(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	sameKey(t, k, k2)
	pubPEM, _ := PublicKeyPEM(&k.PublicKey)
	if p, err := ParsePublicKeyPEM(pubPEM); err != nil || p.X.Cmp(k.X) != 0 || p.Y.Cmp(k.Y) != 0 {
		t.Fatalf("public PEM round trip: %v", err)
	}

	// SEC1 "EC PRIVATE KEY" (older OpenSSL / GmSSL), behind an "EC
	// PARAMETERS" block as `openssl ecparam -genkey` writes it.
	sec1 := func(curve asn1.ObjectIdentifier, pub []byte) []byte {
		der, err := asn1.Marshal(ecPrivateKey{
			Version:       1,
			PrivateKey:    k.D.FillBytes(make([]byte, 32)),
			NamedCurveOID: curve,
			PublicKey:     asn1.BitString{Bytes: pub, BitLength: 8 * len(pub)},
		})
		if err != nil {
			t.Fatal(err)
		}
		params, _ := asn1.Marshal(oidSM2P256V1())
		return append(pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: params}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})...)
	}
	k3, err := ParsePrivateKeyPEM(sec1(oidSM2P256V1(), marshalPoint(&k.PublicKey)))
	if err != nil {
		t.Fatal(err)
	}
	sameKey(t, k, k3)
	if _, err := ParsePrivateKeyPEM(sec1(nil, nil)); err == nil {
		t.Error("SEC1 key without a named curve accepted")
	}
	other, _ := GenerateKey(newDetReader("other key"))
	if _, err := ParsePrivateKeyPEM(sec1(oidSM2P256V1(), marshalPoint(&other.PublicKey))); err == nil ||
		!strings.Contains(err.Error(), "does not match") {
		t.Errorf("SEC1 key with a foreign public key: %v", err)
	}
	if _, err := ParsePrivateKeyPEM(sec1(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}, nil)); err == nil {
		t.Error("SEC1 key on P-256 accepted")
	}
}

func TestPEMRejects(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p8, _ := x509.MarshalPKCS8PrivateKey(ec)
	spki, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	p256Priv := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})
	p256Pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})
	if _, err := ParsePrivateKeyPEM(p256Priv); err == nil || !strings.Contains(err.Error(), "sm2p256v1") {
		t.Errorf("P-256 PKCS#8 key: %v", err)
	}
	if _, err := ParsePublicKeyPEM(p256Pub); err == nil || !strings.Contains(err.Error(), "sm2p256v1") {
		t.Errorf("P-256 public key: %v", err)
	}
	for name, in := range map[string]string{
		"empty":        "",
		"garbage":      "hello",
		"encrypted":    "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
		"certificate":  "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"bad DER":      "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
		"public block": opensslPublicPEM,
	} {
		noPanic(t, name, func() {
			if _, err := ParsePrivateKeyPEM([]byte(in)); err == nil {
				t.Errorf("private %s: accepted", name)
			}
		})
	}
	for name, in := range map[string]string{
		"empty":         "",
		"private block": opensslPrivatePEM,
		"bad DER":       "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
	} {
		noPanic(t, name, func() {
			if _, err := ParsePublicKeyPEM([]byte(in)); err == nil {
				t.Errorf("public %s: accepted", name)
			}
		})
	}
	// An off-curve point inside a well-formed SubjectPublicKeyInfo.
	block, _ := pem.Decode([]byte(opensslPublicPEM))
	der := append([]byte{}, block.Bytes...)
	der[len(der)-1] ^= 1
	if _, err := ParsePublicKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})); err == nil {
		t.Error("off-curve point in PEM accepted")
	}
	if _, err := PrivateKeyPEM(nil); err == nil {
		t.Error("PrivateKeyPEM(nil) succeeded")
	}
	if _, err := PublicKeyPEM(&sm2.PublicKey{}); err == nil {
		t.Error("PublicKeyPEM(empty) succeeded")
	}
}

func TestParseKeyDetectsForm(t *testing.T) {
	k := vectorKey(t)
	privPEM, _ := PrivateKeyPEM(k)
	pubPEM, _ := PublicKeyPEM(&k.PublicKey)
	for _, s := range []string{PrivateKeyBase64(k), string(privPEM), "\n" + string(privPEM)} {
		got, err := ParsePrivateKey(s)
		if err != nil {
			t.Fatal(err)
		}
		sameKey(t, k, got)
	}
	for _, s := range []string{PublicKeyBase64(&k.PublicKey), string(pubPEM)} {
		got, err := ParsePublicKey(s)
		if err != nil || got.X.Cmp(k.X) != 0 || got.Y.Cmp(k.Y) != 0 {
			t.Fatalf("ParsePublicKey: %v", err)
		}
	}
	if _, err := ParsePrivateKey("AAAA"); err == nil || !strings.Contains(err.Error(), "accepted forms") {
		t.Errorf("ParsePrivateKey error does not list the forms: %v", err)
	}
	if _, err := ParsePublicKey(string(privPEM)); err == nil || !strings.Contains(err.Error(), "accepted forms") {
		t.Errorf("ParsePublicKey error does not list the forms: %v", err)
	}
}

func TestFingerprint(t *testing.T) {
	k := vectorKey(t)
	fp := Fingerprint(&k.PublicKey)
	if !regexp.MustCompile(`^([0-9a-f]{4}:){7}[0-9a-f]{4}$`).MatchString(fp) {
		t.Fatalf("Fingerprint format: %q", fp)
	}
	want := hex.EncodeToString(sm3.Sm3Sum(mustHex(t, "04"+vecPx+vecPy))[:16])
	if strings.ReplaceAll(fp, ":", "") != want {
		t.Fatalf("Fingerprint = %s, want SM3(04‖X‖Y)[:16] = %s", fp, want)
	}
	other, _ := GenerateKey(newDetReader("fp"))
	if Fingerprint(&other.PublicKey) == fp {
		t.Fatal("two keys share a fingerprint")
	}
	if Fingerprint(nil) != "" {
		t.Fatal("Fingerprint(nil) not empty")
	}
}

func TestGenerateKey(t *testing.T) {
	a, err := GenerateKey(newDetReader("same"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := GenerateKey(newDetReader("same"))
	sameKey(t, a, b)
	c, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := checkPrivateKey(c); err != nil {
		t.Fatal(err)
	}
	back, err := ParsePrivateKeyBase64(PrivateKeyBase64(c))
	if err != nil {
		t.Fatal(err)
	}
	sameKey(t, c, back)
	if _, err := GenerateKey(strings.NewReader("short")); err == nil {
		t.Fatal("GenerateKey with a short reader succeeded")
	}
}
