package sandbox_test

import (
	"testing"

	"github.com/pda-agent/pda-agent/gm"
	"github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

// TestTestKeys pins the test keys: they must be the same on every build
// and machine, or a demo configured with them would stop verifying.
func TestTestKeys(t *testing.T) {
	p1, c1 := sandbox.TestKeys()
	p2, c2 := sandbox.TestKeys()
	if p1 == p2 || c1 == c2 {
		t.Error("TestKeys shares values between calls")
	}
	for _, tc := range []struct {
		name     string
		got      string
		want     string
		again    string
		priv     string
		wantPriv string
	}{
		{"platform", gm.PublicKeyBase64(&p1.PublicKey), "BOw5S6RmsEAXylZYXuvpuR4FjlL43mV5PyBmbFGMrvbRNvgEY+gm8Vuzza4wGMmncBGp/W6KR6i9vzlx2+YEvAo=",
			gm.PublicKeyBase64(&p2.PublicKey), gm.PrivateKeyBase64(p1), "ooPp+Ag2EpLXYszQ0lrHt1aSIIYQM1lhpcXvuK0ukKA="},
		{"channel", gm.PublicKeyBase64(&c1.PublicKey), "BKtePcdcbtjfDZmNOZZDR9tWSRb7X6NH3casaKP+1aQOXksjnE5I2/aMiov9o9ZY31W+JfY3ECySEpo7uWZcW0U=",
			gm.PublicKeyBase64(&c2.PublicKey), gm.PrivateKeyBase64(c1), "wIzBbIvnGX9wRcvHtKhZibCDivXFYjfIT6yeEnHnAWs="},
	} {
		if tc.got != tc.want || tc.again != tc.want || tc.priv != tc.wantPriv {
			t.Errorf("%s key %s / %s, want %s / %s", tc.name, tc.got, tc.priv, tc.want, tc.wantPriv)
		}
	}
	// Both keys sign, and verify only with their own public half.
	msg := []byte("sandbox")
	for _, k := range []*gm.PrivateKey{p1, c1} {
		sig, err := gm.Sign(k, msg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := gm.Verify(&k.PublicKey, msg, nil, sig); err != nil {
			t.Error(err)
		}
	}
	sig, _ := gm.Sign(p1, msg, nil, nil)
	if gm.Verify(&c1.PublicKey, msg, nil, sig) == nil {
		t.Error("platform signature verifies with the channel key")
	}
	o := sandbox.TestOptions(sandbox.SchemeAPI, sandbox.EnvelopeSM2SM4)
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if gm.Fingerprint(o.Channels[0].ChannelPub) != gm.Fingerprint(&c1.PublicKey) || o.PlatformKey.D.Cmp(p1.D) != 0 {
		t.Error("TestOptions does not use TestKeys")
	}
}
