package gm

import (
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/tjfoc/gmsm/sm4"
)

// BlockSize is the SM4 block and key size in bytes.
const BlockSize = 16

// ErrDecrypt reports SM4 ciphertext that does not decrypt to a valid PKCS#7
// padded plaintext: wrong key, corrupt or truncated data. Test with errors.Is.
var ErrDecrypt = errors.New("SM4 decryption failed")

// DeriveDataKey derives the 16-byte SM4 data key of the mobile-pay channel
// (nhsa.md §4.2):
//
//	K0 = the first 16 characters of appID (must be ASCII, so 16 bytes)
//	t  = SM4-ECB-PKCS7-Encrypt(K0, UTF-8(appSecret))
//	K  = UTF-8( UPPER(hex(t))[0:16] )
//
// K is 16 ASCII hex characters used directly as key bytes, so only the first
// block of t matters.
func DeriveDataKey(appID, appSecret string) ([]byte, error) {
	if len(appID) < BlockSize {
		return nil, fmt.Errorf("gm: derive data key: appId has %d bytes, need at least %d", len(appID), BlockSize)
	}
	k0 := appID[:BlockSize]
	// Java takes 16 chars and then UTF-8 encodes them; with non-ASCII input
	// that is not 16 bytes, so refuse rather than guess.
	for i := 0; i < len(k0); i++ {
		if k0[i] >= utf8.RuneSelf {
			return nil, errors.New("gm: derive data key: the first 16 characters of appId must be ASCII")
		}
	}
	if appSecret == "" {
		return nil, errors.New("gm: derive data key: empty appSecret")
	}
	t, err := encryptECB([]byte(k0), []byte(appSecret))
	if err != nil {
		return nil, fmt.Errorf("gm: derive data key: %w", err)
	}
	h := strings.ToUpper(hex.EncodeToString(t))
	return []byte(h[:BlockSize]), nil
}

// EncryptECB encrypts plain with SM4 in ECB mode after PKCS#7 padding (1..16
// bytes, so an empty plaintext gives one block). The key must be 16 bytes.
// The result is a new slice; plain is never written to (gmsm's Sm4Ecb may
// append the padding into the caller's backing array).
func EncryptECB(key, plain []byte) ([]byte, error) {
	out, err := encryptECB(key, plain)
	if err != nil {
		return nil, fmt.Errorf("gm: SM4 encrypt: %w", err)
	}
	return out, nil
}

// DecryptECB decrypts SM4-ECB ciphertext and strips PKCS#7 padding. It is
// strict where gmsm's Sm4Ecb is lax: empty input, a length that is not a
// multiple of 16, a key that is not 16 bytes and malformed padding (pad
// length must be 1..16 and every padding byte is checked) are errors, and it
// never panics. Padding failures wrap ErrDecrypt. The result never aliases
// ciphertext.
func DecryptECB(key, ciphertext []byte) ([]byte, error) {
	out, err := decryptECB(key, ciphertext)
	if err != nil {
		return nil, fmt.Errorf("gm: SM4 decrypt: %w", err)
	}
	return out, nil
}

// EncData encrypts plain (normally the UTF-8 JSON of the business data) with
// the data key and returns UPPERCASE hex: the encData field of §4.2.
func EncData(key, plain []byte) (string, error) {
	c, err := encryptECB(key, plain)
	if err != nil {
		return "", fmt.Errorf("gm: encData: %w", err)
	}
	return strings.ToUpper(hex.EncodeToString(c)), nil
}

// DecData reverses EncData. Hex digits are accepted in either case (one C#
// client emits lowercase); anything else, whitespace included, is an error,
// as is every DecryptECB failure.
func DecData(key []byte, encData string) ([]byte, error) {
	if encData == "" {
		return nil, errors.New("gm: decData: empty encData")
	}
	c, err := hex.DecodeString(encData)
	if err != nil {
		return nil, fmt.Errorf("gm: decData: encData is not hex: %w", err)
	}
	p, err := decryptECB(key, c)
	if err != nil {
		return nil, fmt.Errorf("gm: decData: %w", err)
	}
	return p, nil
}

func encryptECB(key, plain []byte) ([]byte, error) {
	if len(key) != BlockSize {
		return nil, fmt.Errorf("key must be %d bytes, got %d", BlockSize, len(key))
	}
	// A fresh cipher per call: gmsm's block keeps scratch buffers in the
	// struct, so sharing one between goroutines would race.
	block, err := sm4.NewCipher(key)
	if err != nil {
		return nil, err
	}
	pad := BlockSize - len(plain)%BlockSize
	out := make([]byte, len(plain)+pad)
	copy(out, plain)
	for i := len(plain); i < len(out); i++ {
		out[i] = byte(pad)
	}
	for i := 0; i < len(out); i += BlockSize {
		block.Encrypt(out[i:i+BlockSize], out[i:i+BlockSize])
	}
	return out, nil
}

func decryptECB(key, ciphertext []byte) ([]byte, error) {
	if len(key) != BlockSize {
		return nil, fmt.Errorf("key must be %d bytes, got %d", BlockSize, len(key))
	}
	if len(ciphertext) == 0 {
		return nil, errors.New("empty ciphertext")
	}
	if len(ciphertext)%BlockSize != 0 {
		return nil, fmt.Errorf("ciphertext length %d is not a multiple of %d", len(ciphertext), BlockSize)
	}
	block, err := sm4.NewCipher(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(ciphertext))
	for i := 0; i < len(out); i += BlockSize {
		block.Decrypt(out[i:i+BlockSize], ciphertext[i:i+BlockSize])
	}
	n, ok := unpad(out)
	if !ok {
		return nil, fmt.Errorf("%w: bad PKCS#7 padding (wrong key or corrupt data)", ErrDecrypt)
	}
	// Cap the capacity so an append by the caller cannot expose the padding.
	return out[:n:n], nil
}

// unpad checks PKCS#7 padding on a non-empty, block-aligned buffer and returns
// the plaintext length. It looks at the whole last block without branching on
// its contents, so timing does not tell where the padding broke.
func unpad(b []byte) (int, bool) {
	last := b[len(b)-BlockSize:]
	p := int(last[BlockSize-1])
	good := subtle.ConstantTimeLessOrEq(1, p) & subtle.ConstantTimeLessOrEq(p, BlockSize)
	for i := 0; i < BlockSize; i++ {
		// Byte i is padding when i >= BlockSize-p, i.e. i+p >= BlockSize
		// (written this way to keep both operands non-negative).
		inPad := subtle.ConstantTimeLessOrEq(BlockSize, i+p)
		eq := subtle.ConstantTimeByteEq(last[i], byte(p))
		good &= subtle.ConstantTimeSelect(inPad, eq, 1)
	}
	if good != 1 {
		return 0, false
	}
	return len(b) - p, true
}
