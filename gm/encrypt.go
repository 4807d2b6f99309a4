package gm

import (
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/tjfoc/gmsm/sm2"
)

// ciphertextOverhead is C1 (65 bytes, uncompressed) plus C3 (32 bytes, SM3).
const ciphertextOverhead = 1 + 2*scalarSize + 32

// Encrypt is SM2 public-key encryption in the GB/T 32918.4 C1‖C3‖C2 order.
// rand nil means crypto/rand.
func Encrypt(pub *sm2.PublicKey, plain []byte, rand io.Reader) ([]byte, error) {
	k, err := checkPublicKey(pub)
	if err != nil {
		return nil, err
	}
	ct, err := sm2.Encrypt(k, plain, randOrDefault(rand), sm2.C1C3C2)
	if err != nil {
		return nil, fmt.Errorf("sm2 encrypt: %w", err)
	}
	return ct, nil
}

// Decrypt reverses Encrypt. C1 is validated first: gmsm would otherwise
// multiply an attacker's point that is not on the curve by the private key.
func Decrypt(priv *sm2.PrivateKey, ct []byte) ([]byte, error) {
	if len(ct) <= ciphertextOverhead || ct[0] != 0x04 {
		return nil, errors.New("sm2 decrypt: not a C1C3C2 ciphertext")
	}
	x := new(big.Int).SetBytes(ct[1 : 1+scalarSize])
	y := new(big.Int).SetBytes(ct[1+scalarSize : 1+2*scalarSize])
	if err := validatePoint(x, y); err != nil {
		return nil, fmt.Errorf("sm2 decrypt: C1: %w", err)
	}
	plain, err := sm2.Decrypt(priv, ct, sm2.C1C3C2)
	if err != nil {
		return nil, fmt.Errorf("sm2 decrypt: %w", err)
	}
	return plain, nil
}
