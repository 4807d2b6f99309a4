package gm

import (
	"bytes"
	"crypto/elliptic"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/tjfoc/gmsm/sm2"
)

// A signature whose r or s is below 2^248 has a leading zero byte that
// big.Int.Bytes() drops (~2 signatures in 256). Search a deterministic k
// stream until both cases are seen and check Sign still emits 64 bytes.
func TestSignLeadingZeroPadded(t *testing.T) {
	priv := vectorKey(t)
	msg := []byte("leading zeros")
	rnd := newDetReader("pda-agent leading-zero search")
	var sawR, sawS bool
	tries := 0
	for ; tries < 20000 && !(sawR && sawS); tries++ {
		sig, err := Sign(priv, msg, nil, rnd)
		if err != nil {
			t.Fatal(err)
		}
		if len(sig) != SignatureSize {
			t.Fatalf("signature of %d bytes", len(sig))
		}
		zr, zs := sig[0] == 0, sig[32] == 0
		if !zr && !zs {
			continue
		}
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		if zr {
			sawR = true
			if len(r.Bytes()) == 32 {
				t.Fatal("r has a zero first byte but 32 significant bytes")
			}
		}
		if zs {
			sawS = true
		}
		if err := Verify(&priv.PublicKey, msg, nil, sig); err != nil {
			t.Fatalf("padded signature does not verify: %v", err)
		}
		if !sm2.Sm2Verify(&priv.PublicKey, msg, nil, r, s) {
			t.Fatal("gmsm rejects the padded signature")
		}
		// The naive encoding is short, and Verify must refuse it.
		naive := append(r.Bytes(), s.Bytes()...)
		if len(naive) >= SignatureSize {
			t.Fatalf("naive encoding unexpectedly %d bytes", len(naive))
		}
		if err := Verify(&priv.PublicKey, msg, nil, naive); err == nil {
			t.Fatal("Verify accepted a short signature")
		}
	}
	if !sawR || !sawS {
		t.Fatalf("no leading-zero r (%v) / s (%v) in %d signatures", sawR, sawS, tries)
	}
	t.Logf("found leading-zero r and s within %d signatures", tries)
}

func TestVerifyRejects(t *testing.T) {
	priv := vectorKey(t)
	pub := &priv.PublicKey
	msg := []byte("appId=x&key=y")
	sig, err := Sign(priv, msg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(pub, msg, nil, sig); err != nil {
		t.Fatal(err)
	}
	der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{nil, sig[:63], append(append([]byte{}, sig...), 0), append([]byte{0}, sig...), der} {
		err := Verify(pub, msg, nil, bad)
		if err == nil || errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), "want 64-byte") {
			t.Errorf("%d-byte signature: err = %v", len(bad), err)
		}
	}
	if err := Verify(pub, msg, nil, der); !strings.Contains(err.Error(), "DER") {
		t.Errorf("DER signature error lacks a hint: %v", err)
	}
	// Every bit of the signature matters.
	for bit := 0; bit < 8*SignatureSize; bit += 7 {
		bad := append([]byte{}, sig...)
		bad[bit/8] ^= 1 << (bit % 8)
		if err := Verify(pub, msg, nil, bad); !errors.Is(err, ErrVerify) {
			t.Fatalf("bit %d flipped: err = %v", bit, err)
		}
	}
	n := sm2.P256Sm2().Params().N
	zero := make([]byte, 32)
	for name, bad := range map[string][]byte{
		"r=0": append(append([]byte{}, zero...), sig[32:]...),
		"s=0": append(append([]byte{}, sig[:32]...), zero...),
		"r=n": append(n.FillBytes(make([]byte, 32)), sig[32:]...),
		"s=n": append(append([]byte{}, sig[:32]...), n.FillBytes(make([]byte, 32))...),
	} {
		if err := Verify(pub, msg, nil, bad); !errors.Is(err, ErrVerify) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if err := Verify(pub, []byte("appId=x&key=z"), nil, sig); !errors.Is(err, ErrVerify) {
		t.Errorf("other message: err = %v", err)
	}
	other, _ := GenerateKey(newDetReader("other"))
	if err := Verify(&other.PublicKey, msg, nil, sig); !errors.Is(err, ErrVerify) {
		t.Errorf("other key: err = %v", err)
	}
	// Keys that must be refused before any arithmetic.
	offCurve := &sm2.PublicKey{Curve: sm2.P256Sm2(), X: pub.X, Y: new(big.Int).Add(pub.Y, big.NewInt(1))}
	p256 := &sm2.PublicKey{Curve: elliptic.P256(), X: pub.X, Y: pub.Y}
	for name, k := range map[string]*sm2.PublicKey{"nil": nil, "empty": {}, "off curve": offCurve, "P-256": p256} {
		noPanic(t, name, func() {
			if err := Verify(k, msg, nil, sig); err == nil || errors.Is(err, ErrVerify) {
				t.Errorf("%s key: err = %v", name, err)
			}
		})
	}
	if err := VerifyBase64(pub, msg, nil, "not base64!"); err == nil {
		t.Error("VerifyBase64 accepted non-Base64")
	}
}

func TestSignVerifyUID(t *testing.T) {
	priv, err := GenerateKey(newDetReader("uid test"))
	if err != nil {
		t.Fatal(err)
	}
	pub := &priv.PublicKey
	msg := []byte("appId=43AF&data={}&key=secret")
	custom := []byte("30BFE2B0C715E516E5EDF21E289DA826") // an appSecret used as uid

	def, err := SignBase64(priv, msg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyBase64(pub, msg, nil, def); err != nil {
		t.Fatalf("default uid (nil): %v", err)
	}
	if err := VerifyBase64(pub, msg, []byte(DefaultUID), def); err != nil {
		t.Fatalf("nil uid must mean DefaultUID: %v", err)
	}
	if err := VerifyBase64(pub, msg, custom, def); !errors.Is(err, ErrVerify) {
		t.Fatalf("default-uid signature verified with another uid: %v", err)
	}

	cs, err := SignBase64(priv, msg, custom, nil)
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := base64.StdEncoding.DecodeString(cs); len(raw) != SignatureSize {
		t.Fatalf("SignBase64 decodes to %d bytes", len(raw))
	}
	if err := VerifyBase64(pub, msg, custom, cs); err != nil {
		t.Fatalf("custom uid: %v", err)
	}
	if err := VerifyBase64(pub, msg, nil, cs); !errors.Is(err, ErrVerify) {
		t.Fatalf("custom-uid signature verified with the default uid: %v", err)
	}
	long := bytes.Repeat([]byte{'u'}, 8192)
	if _, err := Sign(priv, msg, long, nil); err == nil {
		t.Fatal("Sign accepted an 8192-byte uid")
	}
}

// gmsm's crypto.Signer path (DER, default uid) and ours agree once the DER is
// unwrapped: both are SM3withSM2 with ZA(1234567812345678).
func TestDERSignerInterop(t *testing.T) {
	priv := vectorKey(t)
	msg := []byte("interop")
	der, err := priv.Sign(nil, msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &rs); err != nil {
		t.Fatal(err)
	}
	raw := append(rs.R.FillBytes(make([]byte, 32)), rs.S.FillBytes(make([]byte, 32))...)
	if err := Verify(&priv.PublicKey, msg, nil, raw); err != nil {
		t.Fatal(err)
	}
	ours, _ := Sign(priv, msg, nil, nil)
	if !priv.PublicKey.Verify(msg, mustDER(t, ours)) {
		t.Fatal("gmsm's DER verifier rejects our signature")
	}
}

func mustDER(t *testing.T, sig []byte) []byte {
	t.Helper()
	der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// A signature made by OpenSSL 3.0 (`openssl dgst -sm3 -sign k.pem -sigopt
// distid:1234567812345678`) verifies here: an independent SM2 implementation.
func TestVerifyOpenSSLSignature(t *testing.T) {
	pub, err := ParsePublicKeyPEM([]byte(opensslPublicPEM))
	if err != nil {
		t.Fatal(err)
	}
	der, _ := base64.StdEncoding.DecodeString("MEYCIQDwrUP4hPG3Zz65H0TR7BrNbqSej1xEXUmOBW6B03ANsQIhALRvnEOcxJGI7nz5+Bsc+b76tcWa+j6VTrzWwEuoCa05")
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &rs); err != nil {
		t.Fatal(err)
	}
	raw := append(rs.R.FillBytes(make([]byte, 32)), rs.S.FillBytes(make([]byte, 32))...)
	msg := []byte("pda-agent interop message 中文")
	if err := Verify(pub, msg, []byte(DefaultUID), raw); err != nil {
		t.Fatalf("OpenSSL signature: %v", err)
	}
	if err := Verify(pub, msg, []byte("another uid"), raw); !errors.Is(err, ErrVerify) {
		t.Fatalf("OpenSSL signature with another uid: %v", err)
	}
}

func TestSignRejectsBadKeys(t *testing.T) {
	good := vectorKey(t)
	n := sm2.P256Sm2().Params().N
	withD := func(d *big.Int) *sm2.PrivateKey {
		k := *good
		k.D = d
		return &k
	}
	mismatched := *good
	mismatched.PublicKey.X = new(big.Int).Set(good.PublicKey.Y)
	p256 := *good
	p256.Curve = elliptic.P256()
	cases := map[string]*sm2.PrivateKey{
		"nil":        nil,
		"empty":      {},
		"D=0":        withD(big.NewInt(0)),
		"D=n-1":      withD(new(big.Int).Sub(n, big.NewInt(1))),
		"D=n":        withD(new(big.Int).Set(n)),
		"D<0":        withD(big.NewInt(-5)),
		"mismatched": &mismatched,
		"P-256":      &p256,
	}
	for name, k := range cases {
		noPanic(t, name, func() {
			if _, err := Sign(k, []byte("m"), nil, nil); err == nil {
				t.Errorf("Sign with %s key accepted", name)
			}
		})
	}
}
