package gm

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/tjfoc/gmsm/sm2"
	"github.com/tjfoc/gmsm/sm3"
	"github.com/tjfoc/gmsm/sm4"
)

// Standard vectors, nhsa.md §6 (GB/T 32905, 32907, 32918).

func TestSM3Vectors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"},
		{strings.Repeat("abcd", 16), "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"},
	}
	for _, c := range cases {
		if got := sm3.Sm3Sum([]byte(c.in)); !bytes.Equal(got, mustHex(t, c.want)) {
			t.Errorf("SM3(%q) = %x, want %s", c.in, got, c.want)
		}
		// The streaming interface too, fed in uneven pieces.
		h := sm3.New()
		h.Write([]byte(c.in[:1]))
		h.Write([]byte(c.in[1:]))
		if got := h.Sum(nil); !bytes.Equal(got, mustHex(t, c.want)) {
			t.Errorf("SM3 streaming(%q) = %x, want %s", c.in, got, c.want)
		}
	}
}

func TestSM4Vectors(t *testing.T) {
	key := mustHex(t, "0123456789abcdeffedcba9876543210")
	want1 := mustHex(t, "681edf34d206965e86b3e94f536e4246")
	block, err := sm4.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	buf := append([]byte(nil), key...) // plaintext = key
	block.Encrypt(buf, buf)
	if !bytes.Equal(buf, want1) {
		t.Fatalf("SM4 one block = %x, want %x", buf, want1)
	}
	block.Decrypt(buf, buf)
	if !bytes.Equal(buf, key) {
		t.Fatalf("SM4 decrypt of the vector = %x, want %x", buf, key)
	}

	// EncryptECB pads a full block with a whole block of 0x10, so its first
	// block is the raw vector.
	c, err := EncryptECB(key, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(c) != 32 || !bytes.Equal(c[:16], want1) {
		t.Fatalf("EncryptECB(vector) = %x", c)
	}
	p, err := DecryptECB(key, c)
	if err != nil || !bytes.Equal(p, key) {
		t.Fatalf("DecryptECB(EncryptECB(vector)) = %x, %v", p, err)
	}
}

func TestSM4MillionIterations(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000,000 SM4 block encryptions; skipped with -short")
	}
	key := mustHex(t, "0123456789abcdeffedcba9876543210")
	block, err := sm4.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	buf := append([]byte(nil), key...)
	for i := 0; i < 1000000; i++ {
		block.Encrypt(buf, buf)
	}
	if want := mustHex(t, "595298c7c6fd271f0402f804c33d3f66"); !bytes.Equal(buf, want) {
		t.Fatalf("SM4 x1e6 = %x, want %x", buf, want)
	}
	t.Logf("1e6 SM4 blocks in %v", time.Since(start))
}

// The GB/T 32918 example on the recommended curve sm2p256v1.
const (
	vecD  = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8"
	vecPx = "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
	vecPy = "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
	vecK  = "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21"
	vecZA = "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3"
	vecR  = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
	vecS  = "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
)

func vectorKey(t testing.TB) *sm2.PrivateKey {
	t.Helper()
	k, err := ParsePrivateKeyBase64(base64.StdEncoding.EncodeToString(mustHex(t, vecD)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSM2SignatureVector(t *testing.T) {
	priv := vectorKey(t)
	if priv.X.Cmp(mustInt(t, vecPx)) != 0 || priv.Y.Cmp(mustInt(t, vecPy)) != 0 {
		t.Fatalf("public point from d = (%X, %X)", priv.X, priv.Y)
	}
	uid := []byte("1234567812345678")
	za, err := sm2.ZA(&priv.PublicKey, uid)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(za, mustHex(t, vecZA)) {
		t.Fatalf("ZA = %X, want %s", za, vecZA)
	}
	msg := []byte("message digest")

	sig, err := Sign(priv, msg, uid, fixedK(t, vecK))
	if err != nil {
		t.Fatal(err)
	}
	want := mustHex(t, vecR+vecS)
	if !bytes.Equal(sig, want) {
		t.Fatalf("Sign = %X\nwant   %X", sig, want)
	}
	// gmsm directly, to show the wiring underneath is the standard one.
	r, s, err := sm2.Sm2Sign(priv, msg, uid, fixedK(t, vecK))
	if err != nil {
		t.Fatal(err)
	}
	if r.Cmp(mustInt(t, vecR)) != 0 || s.Cmp(mustInt(t, vecS)) != 0 {
		t.Fatalf("Sm2Sign r=%X s=%X", r, s)
	}
	if err := Verify(&priv.PublicKey, msg, uid, want); err != nil {
		t.Fatalf("Verify(vector) = %v", err)
	}
	// The vector's ID is the channel default, so a nil uid gives the same.
	if err := Verify(&priv.PublicKey, msg, nil, want); err != nil {
		t.Fatalf("Verify(vector, default uid) = %v", err)
	}
	if DefaultUID != string(uid) {
		t.Fatalf("DefaultUID = %q", DefaultUID)
	}
}

func TestSM2EncryptionVector(t *testing.T) {
	priv := vectorKey(t)
	msg := []byte("encryption standard")
	c, err := sm2.Encrypt(&priv.PublicKey, msg, fixedK(t, vecK), sm2.C1C3C2)
	if err != nil {
		t.Fatal(err)
	}
	want := mustHex(t, "04"+
		"04EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73"+ // C1.x
		"E858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0"+ // C1.y
		"59983C18F809E262923C53AEC295D30383B54E39D609D160AFCB1908D0BD8766"+ // C3
		"21886CA989CA9C7D58087307CA93092D651EFA") // C2
	if !bytes.Equal(c, want) {
		t.Fatalf("SM2 encrypt = %X\nwant          %X", c, want)
	}
	p, err := sm2.Decrypt(priv, c, sm2.C1C3C2)
	if err != nil || !bytes.Equal(p, msg) {
		t.Fatalf("SM2 decrypt = %q, %v", p, err)
	}
}
