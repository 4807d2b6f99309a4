package gm

import (
	"bytes"
	"testing"
)

func TestEncryptRoundTripAndTampering(t *testing.T) {
	priv, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("sandbox-store-secret-FAKE")
	ct, err := Encrypt(&priv.PublicKey, plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ct) != ciphertextOverhead+len(plain) || ct[0] != 0x04 {
		t.Fatalf("ciphertext of %d bytes starting %#x", len(ct), ct[0])
	}
	got, err := Decrypt(priv, ct)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Decrypt = %q, %v", got, err)
	}

	other, _ := GenerateKey(nil)
	if _, err := Decrypt(other, ct); err == nil {
		t.Error("another key decrypted the ciphertext")
	}
	flipped := bytes.Clone(ct)
	flipped[len(flipped)-1] ^= 1 // C2: C3 no longer matches
	if _, err := Decrypt(priv, flipped); err == nil {
		t.Error("a changed C2 decrypted")
	}
	offCurve := bytes.Clone(ct)
	offCurve[64] ^= 1 // C1's y: no longer on the curve
	if _, err := Decrypt(priv, offCurve); err == nil {
		t.Error("an off-curve C1 was accepted")
	}
	for _, short := range [][]byte{nil, ct[:ciphertextOverhead], append([]byte{0x02}, ct[1:]...)} {
		if _, err := Decrypt(priv, short); err == nil {
			t.Errorf("%d-byte input starting %x decrypted", len(short), short[:min(1, len(short))])
		}
	}
}
