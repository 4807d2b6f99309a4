package sandbox

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/tjfoc/gmsm/sm2"

	"github.com/pda-agent/pda-agent/gm"
)

// Test identities for tests, the demo and `pda-agent sandbox`. They are
// published in this source and worthless anywhere else; never configure
// them against a real gateway.
const (
	TestAppID         = "SANDBOXTESTAPPID0000000000000001" // 32 characters, as real app ids
	TestAppSecret     = "SANDBOXTESTAPPSECRET000000000001"
	TestPaasID        = "sandbox-test-paasid"
	TestPaasToken     = "sandbox-test-paastoken"
	TestAPIAccessKey  = "sandbox-test-access-key"
	TestAPISecretKey  = "sandbox-test-secret-key"
	TestAPIName       = "callService"
	TestAPIVersion    = "1.0.0"
	TestFixmedinsCode = "P99000000001"
	TestFixmedinsName = "医保沙箱测试药房"
	TestAdmdvs        = "990100"
	TestRecerSysCode  = "SANDBOX"
)

// Seeds of the test keys. Anyone can recompute the keys from them: that
// is the point, and why they must never guard anything.
const (
	platformSeed = "pda-agent nhsa sandbox: PUBLIC FAKE platform test key"
	channelSeed  = "pda-agent nhsa sandbox: PUBLIC FAKE channel test key"
)

// TestKeys returns the sandbox's fixed test key pairs: the platform key
// that signs sandbox answers and a channel key for the test channel. They
// are derived deterministically (gm.GenerateKey reading a SHA-256 counter
// stream of a fixed, public seed), so every build and machine gets the
// same keys; they are therefore public and fake. Each call returns new
// values the caller may keep.
func TestKeys() (platform *sm2.PrivateKey, channel *sm2.PrivateKey) {
	return seededKey(platformSeed), seededKey(channelSeed)
}

func seededKey(seed string) *sm2.PrivateKey {
	k, err := gm.GenerateKey(&seedStream{seed: []byte(seed)})
	if err != nil {
		// The stream never fails, and gmsm only fails on read errors.
		panic("sandbox: deriving a test key: " + err.Error())
	}
	return k
}

// seedStream is a deterministic byte stream: SHA-256(seed ‖ counter)
// blocks. It is not a CSPRNG for anything but these public test keys.
type seedStream struct {
	seed []byte
	ctr  uint64
	buf  []byte
}

func (s *seedStream) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(s.buf) == 0 {
			h := sha256.New()
			h.Write(s.seed)
			_ = binary.Write(h, binary.BigEndian, s.ctr)
			s.ctr++
			s.buf = h.Sum(nil)
		}
		c := copy(p[n:], s.buf)
		s.buf = s.buf[c:]
		n += c
	}
	return n, nil
}

// TestOptions returns Options for the test identities above: the given
// header scheme and envelope mode, the test channel (with the public half
// of TestKeys' channel key), the test platform key, one institution
// (TestFixmedinsCode, TestFixmedinsName, TestAdmdvs) and TestRecerSysCode.
// The clock, window and logger are left for the caller.
func TestOptions(scheme, envelope string) Options {
	platform, ch := TestKeys()
	return Options{
		Scheme: scheme, PaasID: TestPaasID, PaasToken: TestPaasToken,
		APIAccessKey: TestAPIAccessKey, APISecretKey: TestAPISecretKey, APIName: TestAPIName, APIVersion: TestAPIVersion,
		Envelope:     envelope,
		Channels:     []Channel{{AppID: TestAppID, AppSecret: TestAppSecret, ChannelPub: &ch.PublicKey}},
		PlatformKey:  platform,
		Institutions: []Institution{{FixmedinsCode: TestFixmedinsCode, FixmedinsName: TestFixmedinsName, Admdvs: TestAdmdvs}},
		RecerSysCode: TestRecerSysCode,
	}
}
