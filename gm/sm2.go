package gm

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/tjfoc/gmsm/sm2"
)

// PrivateKey is an SM2 private key (gmsm's type). Do not format or log it:
// its D field prints in clear.
type PrivateKey = sm2.PrivateKey

// PublicKey is an SM2 public key (gmsm's type).
type PublicKey = sm2.PublicKey

// DefaultUID is the SM2 user ID the channel uses in ZA: BouncyCastle's
// default, because the widely copied Java and C# clients never actually pass
// their userId (nhsa.md §4.4). Keep the uid configurable all the same.
const DefaultUID = "1234567812345678"

// SignatureSize is the size of a raw SM2 signature r‖s.
const SignatureSize = 64

// maxUIDLen is the largest uid ZA can encode: ENTL is a 16-bit bit count.
const maxUIDLen = 8191

// ErrVerify reports a well-formed SM2 signature that does not verify for the
// given key, message and uid. Test with errors.Is.
var ErrVerify = errors.New("SM2 signature does not verify")

// Sign computes SM3withSM2 over msg with ZA(uid) and returns the raw
// signature r‖s, exactly 64 bytes, r and s each left-padded to 32 bytes.
// An empty uid means DefaultUID (as in gmsm and BouncyCastle). rand nil means
// crypto/rand; anything else must be a CSPRNG too, since a repeated nonce k
// reveals D (tests feed fixed k only to check vectors). The key is checked
// first: D in [1, n−2] and the public point equal to D·G, because a
// mismatched public half would yield signatures the platform rejects as
// 签名不一致 with no further clue.
func Sign(priv *sm2.PrivateKey, msg, uid []byte, rand io.Reader) ([]byte, error) {
	k, err := checkPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("gm: SM2 sign: %w", err)
	}
	if len(uid) > maxUIDLen {
		return nil, fmt.Errorf("gm: SM2 sign: uid is %d bytes, at most %d allowed", len(uid), maxUIDLen)
	}
	r, s, err := sm2.Sm2Sign(k, msg, effectiveUID(uid), randOrDefault(rand))
	if err != nil {
		return nil, fmt.Errorf("gm: SM2 sign: %w", err)
	}
	sig := make([]byte, SignatureSize)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return sig, nil
}

// SignBase64 is Sign with the signature Base64-encoded (standard alphabet,
// padded): the signData field.
func SignBase64(priv *sm2.PrivateKey, msg, uid []byte, rand io.Reader) (string, error) {
	sig, err := Sign(priv, msg, uid, rand)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// Verify checks a raw r‖s SM3withSM2 signature over msg with ZA(uid); an
// empty uid means DefaultUID. sig must be exactly 64 bytes (DER is refused
// with an explicit error), the key must be a valid point of sm2p256v1. It
// returns nil on success and an error wrapping ErrVerify when the signature
// is well-formed but wrong.
func Verify(pub *sm2.PublicKey, msg, uid, sig []byte) error {
	k, err := checkPublicKey(pub)
	if err != nil {
		return fmt.Errorf("gm: SM2 verify: %w", err)
	}
	if len(sig) != SignatureSize {
		hint := ""
		if len(sig) > 0 && sig[0] == 0x30 {
			hint = " (looks like ASN.1 DER; the channel uses raw r‖s)"
		}
		return fmt.Errorf("gm: SM2 verify: signature is %d bytes, want %d-byte raw r‖s%s", len(sig), SignatureSize, hint)
	}
	if len(uid) > maxUIDLen {
		return fmt.Errorf("gm: SM2 verify: uid is %d bytes, at most %d allowed", len(uid), maxUIDLen)
	}
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	// Sm2Verify range-checks r and s (1..n-1) itself.
	if !sm2.Sm2Verify(k, msg, effectiveUID(uid), r, s) {
		return fmt.Errorf("gm: SM2 verify: %w", ErrVerify)
	}
	return nil
}

// VerifyBase64 is Verify for a Base64 (standard alphabet, padded) signature.
func VerifyBase64(pub *sm2.PublicKey, msg, uid []byte, sigB64 string) error {
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		return fmt.Errorf("gm: SM2 verify: signature is not Base64: %w", err)
	}
	return Verify(pub, msg, uid, sig)
}

// GenerateKey returns a new SM2 key pair with D uniform in [1, n−2]; rand nil
// means crypto/rand.
func GenerateKey(rand io.Reader) (*sm2.PrivateKey, error) {
	k, err := sm2.GenerateKey(randOrDefault(rand))
	if err != nil {
		return nil, fmt.Errorf("gm: generate SM2 key: %w", err)
	}
	return k, nil
}

func effectiveUID(uid []byte) []byte {
	if len(uid) == 0 {
		return []byte(DefaultUID)
	}
	return uid
}

func randOrDefault(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}
