package gm

import (
	"bytes"
	"encoding/base64"
	"testing"
)

// FuzzDecryptECB: never panics, never returns both data and an error, and
// anything it accepts re-encrypts to the same ciphertext (PKCS#7 padding has
// one valid form, so acceptance means the input was a real encryption).
func FuzzDecryptECB(f *testing.F) {
	key := []byte("0123456789ABCDEF")
	for _, p := range []string{"", "a", "sixteen bytes!!!", `{"appId":"x","data":{}}`} {
		c, _ := EncryptECB(key, []byte(p))
		f.Add(key, c)
	}
	f.Add(key, []byte{})
	f.Add(key, make([]byte, 15))
	f.Add(key, make([]byte, 17))
	f.Add([]byte("short"), make([]byte, 16))
	f.Fuzz(func(t *testing.T, key, c []byte) {
		orig := append([]byte(nil), c...)
		p, err := DecryptECB(key, c)
		if !bytes.Equal(c, orig) {
			t.Fatal("DecryptECB modified its input")
		}
		if err != nil {
			if p != nil {
				t.Fatal("plaintext returned with an error")
			}
			return
		}
		again, err := EncryptECB(key, p)
		if err != nil || !bytes.Equal(again, c) {
			t.Fatalf("accepted ciphertext does not round-trip: %x vs %x (%v)", again, c, err)
		}
	})
}

// FuzzParsePublicKeyBase64: never panics; any key it accepts is a valid curve
// point whose canonical encoding parses back to the same point.
func FuzzParsePublicKeyBase64(f *testing.F) {
	f.Add(base64.StdEncoding.EncodeToString(mustHex(f, opensslPoint)))
	f.Add(base64.StdEncoding.EncodeToString(mustHex(f, opensslPoint)[1:]))
	f.Add(base64.StdEncoding.EncodeToString(make([]byte, 65)))
	f.Add("BNHK")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParsePublicKeyBase64(s)
		if err != nil {
			return
		}
		if _, err := checkPublicKey(k); err != nil {
			t.Fatalf("accepted an invalid key: %v", err)
		}
		k2, err := ParsePublicKeyBase64(PublicKeyBase64(k))
		if err != nil || k2.X.Cmp(k.X) != 0 || k2.Y.Cmp(k.Y) != 0 {
			t.Fatalf("canonical form does not round-trip: %v", err)
		}
	})
}

// FuzzParsePrivateKey covers both the Base64 and the PEM/ASN.1 paths.
func FuzzParsePrivateKey(f *testing.F) {
	f.Add(opensslPrivatePEM)
	f.Add(gmsmVectorPrivatePEM)
	f.Add(base64.StdEncoding.EncodeToString(mustHex(f, opensslD)))
	f.Add("-----BEGIN EC PRIVATE KEY-----\nMAA=\n-----END EC PRIVATE KEY-----\n")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParsePrivateKey(s)
		if err != nil {
			return
		}
		if _, err := checkPrivateKey(k); err != nil {
			t.Fatalf("accepted an invalid key: %v", err)
		}
	})
}
