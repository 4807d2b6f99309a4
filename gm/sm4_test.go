package gm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/tjfoc/gmsm/sm4"
)

// A sample pair in the platform's shape (from the public yh-gm test file).
const (
	sampleAppID     = "0F0822652EB7CB91A644E638FBE9941E"
	sampleAppSecret = "30BFE2B0C715E516E5EDF21E289DA826"
)

// rawECB encrypts block-aligned data with the bare block cipher, no padding,
// so tests can craft arbitrary "decrypted plaintexts".
func rawECB(t *testing.T, key, plain []byte) []byte {
	t.Helper()
	if len(plain)%16 != 0 {
		t.Fatalf("rawECB needs whole blocks, got %d bytes", len(plain))
	}
	b, err := sm4.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, len(plain))
	for i := 0; i < len(plain); i += 16 {
		b.Encrypt(out[i:i+16], plain[i:i+16])
	}
	return out
}

func TestDeriveDataKeyByHand(t *testing.T) {
	got, err := DeriveDataKey(sampleAppID, sampleAppSecret)
	if err != nil {
		t.Fatal(err)
	}
	// The definition, composed independently: K0 = appId[0:16]; PKCS#7 pad
	// the 32-byte secret with a full block of 0x10; raw SM4 blocks; upper hex;
	// first 16 characters.
	k0 := []byte(sampleAppID[:16])
	padded := append([]byte(sampleAppSecret), bytes.Repeat([]byte{16}, 16)...)
	want := []byte(strings.ToUpper(hex.EncodeToString(rawECB(t, k0, padded)))[:16])
	if !bytes.Equal(got, want) {
		t.Fatalf("DeriveDataKey = %q, by hand %q", got, want)
	}
	// And a third implementation: OpenSSL 3 `enc -sm4-ecb` gave t =
	// 1819f24c758eb2eb… for this pair.
	if string(got) != "1819F24C758EB2EB" {
		t.Fatalf("DeriveDataKey = %q, OpenSSL-derived 1819F24C758EB2EB", got)
	}
}

func TestDeriveDataKeyErrors(t *testing.T) {
	cases := []struct{ appID, secret, want string }{
		{sampleAppID[:15], sampleAppSecret, "at least 16"},
		{"", sampleAppSecret, "at least 16"},
		{sampleAppID, "", "empty appSecret"},
		{"测试测试测试0123456789ABCDEF", sampleAppSecret, "ASCII"},
	}
	for _, c := range cases {
		_, err := DeriveDataKey(c.appID, c.secret)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("DeriveDataKey(%q, %q) error = %v, want it to mention %q", c.appID, c.secret, err, c.want)
		}
	}
}

func TestEncDataDecData(t *testing.T) {
	key, err := DeriveDataKey(sampleAppID, sampleAppSecret)
	if err != nil {
		t.Fatal(err)
	}
	// OpenSSL 3: printf a | openssl enc -sm4-ecb -K hex("1819F24C758EB2EB").
	enc, err := EncData(key, []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	if enc != "C212E76D030FD8B4790096B02EFA9EEC" {
		t.Fatalf("EncData(a) = %s", enc)
	}
	for _, plain := range []string{"", "a", `{"a":"测试"}`, strings.Repeat("x", 16), strings.Repeat("y", 1000)} {
		enc, err := EncData(key, []byte(plain))
		if err != nil {
			t.Fatal(err)
		}
		if enc != strings.ToUpper(enc) || len(enc)%32 != 0 {
			t.Fatalf("EncData not upper-case whole blocks: %s", enc)
		}
		for _, in := range []string{enc, strings.ToLower(enc)} {
			got, err := DecData(key, in)
			if err != nil || string(got) != plain {
				t.Fatalf("DecData(EncData(%q)) = %q, %v", plain, got, err)
			}
		}
	}
	// OpenSSL-computed ciphertext of a UTF-8 JSON body.
	got, err := DecData(key, "034e4a32da49c69cf0d2819b02985aeb")
	if err != nil || string(got) != `{"a":"测试"}` {
		t.Fatalf("DecData(OpenSSL ciphertext) = %q, %v", got, err)
	}
}

func TestDecDataRejects(t *testing.T) {
	key, _ := DeriveDataKey(sampleAppID, sampleAppSecret)
	good, _ := EncData(key, []byte("payload"))
	for _, in := range []string{"", "zz", good[:31], good + "0", " " + good, good[:len(good)-2] + "\n"} {
		noPanic(t, "DecData", func() {
			if _, err := DecData(key, in); err == nil {
				t.Errorf("DecData(%q) accepted", in)
			}
		})
	}
	if _, err := DecData(key[:15], good); err == nil {
		t.Error("DecData with a 15-byte key accepted")
	}
}

func TestDecryptECBRejects(t *testing.T) {
	key := []byte("0123456789ABCDEF")
	c, err := EncryptECB(key, []byte("seventeen bytes!!")) // 17 bytes → 32
	if err != nil {
		t.Fatal(err)
	}
	wrongKey := []byte("0123456789ABCDEG")
	cases := []struct {
		name    string
		key, in []byte
		padding bool // expect ErrDecrypt
	}{
		{"nil", key, nil, false},
		{"empty", key, []byte{}, false},
		{"15 bytes", key, c[:15], false},
		{"17 bytes", key, c[:17], false},
		{"31 bytes", key, c[:31], false},
		{"wrong key", wrongKey, c, true},
		{"key 15", key[:15], c, false},
		{"key 17", append(append([]byte{}, key...), 'x'), c, false},
		{"key empty", nil, c, false},
	}
	for _, tc := range cases {
		noPanic(t, tc.name, func() {
			p, err := DecryptECB(tc.key, tc.in)
			if err == nil {
				t.Errorf("%s: accepted, plaintext %q", tc.name, p)
				return
			}
			if errors.Is(err, ErrDecrypt) != tc.padding {
				t.Errorf("%s: errors.Is(err, ErrDecrypt) = %v: %v", tc.name, !tc.padding, err)
			}
		})
	}
	// gmsm's own Sm4Ecb, for contrast: wrong key gives "" and no error.
	if out, err := sm4.Sm4Ecb(wrongKey, append([]byte(nil), c...), false); err != nil || len(out) != 0 {
		t.Logf("gmsm Sm4Ecb behaviour changed: %q, %v", out, err)
	}
}

func TestDecryptECBPaddingEveryByte(t *testing.T) {
	key := []byte("0123456789ABCDEF")
	prefix := bytes.Repeat([]byte{'A'}, 16) // one full data block first
	for p := 1; p <= 16; p++ {
		last := make([]byte, 16)
		for i := range last {
			last[i] = 'B'
		}
		for i := 16 - p; i < 16; i++ {
			last[i] = byte(p)
		}
		c := rawECB(t, key, append(append([]byte{}, prefix...), last...))
		got, err := DecryptECB(key, c)
		if err != nil || len(got) != 32-p {
			t.Fatalf("pad %d: got %d bytes, %v", p, len(got), err)
		}
		// Corrupt each padding byte in turn; every one must be noticed.
		for j := 16 - p; j < 15; j++ {
			bad := append([]byte{}, last...)
			bad[j] ^= 0x40
			c := rawECB(t, key, append(append([]byte{}, prefix...), bad...))
			if _, err := DecryptECB(key, c); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("pad %d with byte %d corrupted: err = %v", p, j, err)
			}
		}
	}
	for _, last := range []byte{0, 17, 0x80, 0xff} {
		blk := bytes.Repeat([]byte{last}, 16)
		if _, err := DecryptECB(key, rawECB(t, key, blk)); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("pad byte %d accepted: %v", last, err)
		}
	}
}

func TestDecryptECBNoAliasing(t *testing.T) {
	key := []byte("0123456789ABCDEF")
	c, _ := EncryptECB(key, []byte("hello, world"))
	orig := append([]byte(nil), c...)
	p, err := DecryptECB(key, c)
	if err != nil {
		t.Fatal(err)
	}
	if cap(p) != len(p) {
		t.Errorf("plaintext capacity %d exposes padding beyond len %d", cap(p), len(p))
	}
	for i := range p {
		p[i] = 0
	}
	if !bytes.Equal(c, orig) {
		t.Fatal("writing to the plaintext changed the ciphertext")
	}
	p = append(p, 'x') // must reallocate, not write into our buffers
	_ = p
	if !bytes.Equal(c, orig) {
		t.Fatal("appending to the plaintext changed the ciphertext")
	}
}

func TestEncryptECBDoesNotWriteSpareCapacity(t *testing.T) {
	key := []byte("0123456789ABCDEF")
	backing := bytes.Repeat([]byte{0xAA}, 64)
	plain := backing[:5] // len 5, cap 64: padding would fit in place
	copy(plain, "hello")
	c, err := EncryptECB(key, plain)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(backing[5:], bytes.Repeat([]byte{0xAA}, 59)) || string(backing[:5]) != "hello" {
		t.Fatalf("EncryptECB wrote into the caller's backing array: %x", backing)
	}
	if p, err := DecryptECB(key, c); err != nil || string(p) != "hello" {
		t.Fatalf("round trip = %q, %v", p, err)
	}
	if _, err := EncryptECB(key[:8], plain); err == nil {
		t.Fatal("EncryptECB with an 8-byte key accepted")
	}
	// The pitfall this guards against: gmsm's Sm4Ecb appends its padding into
	// the same spare capacity.
	_, _ = sm4.Sm4Ecb(key, plain, true)
	if backing[5] == 0xAA {
		t.Log("gmsm Sm4Ecb no longer writes into spare capacity")
	}
}

func TestSM4Concurrent(t *testing.T) {
	key, _ := DeriveDataKey(sampleAppID, sampleAppSecret)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				msg := fmt.Sprintf(`{"g":%d,"i":%d}`, g, i)
				enc, err := EncData(key, []byte(msg))
				if err == nil {
					var p []byte
					p, err = DecData(key, enc)
					if err == nil && string(p) != msg {
						err = fmt.Errorf("round trip %q -> %q", msg, p)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
