// Package pinhash hashes a store's supervisor PIN for the configuration
// (sessions.supervisor_pin_hash) with PBKDF2-HMAC-SHA256 and a random
// salt, so that a copied config does not give the PIN away at once.
package pinhash

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DefaultIterations is the PBKDF2 work factor of new hashes.
const DefaultIterations = 210000

const scheme = "pbkdf2-sha256"

var b64 = base64.RawStdEncoding

// Hash makes "pbkdf2-sha256$<iterations>$<salt>$<key>" of pin.
func Hash(pin string, iterations int) (string, error) {
	if pin == "" {
		return "", errors.New("pinhash: the PIN is empty")
	}
	if iterations < 1 {
		iterations = DefaultIterations
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("pinhash: salt: %w", err)
	}
	key, err := pbkdf2.Key(sha256.New, pin, salt, iterations, 32)
	if err != nil {
		return "", fmt.Errorf("pinhash: %w", err)
	}
	return fmt.Sprintf("%s$%d$%s$%s", scheme, iterations, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

type parsed struct {
	iter      int
	salt, key []byte
}

func parse(h string) (parsed, error) {
	parts := strings.Split(h, "$")
	if len(parts) != 4 || parts[0] != scheme {
		return parsed{}, fmt.Errorf("pinhash: not %s$<iterations>$<salt>$<key> (make one with: pda-agent pin-hash)", scheme)
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 || iter > 10_000_000 {
		return parsed{}, fmt.Errorf("pinhash: bad iteration count %q", parts[1])
	}
	salt, err := b64.DecodeString(parts[2])
	if err != nil || len(salt) < 8 {
		return parsed{}, errors.New("pinhash: bad salt")
	}
	key, err := b64.DecodeString(parts[3])
	if err != nil || len(key) != 32 {
		return parsed{}, errors.New("pinhash: bad key")
	}
	return parsed{iter, salt, key}, nil
}

// Valid checks that h is a hash this package can verify against.
func Valid(h string) error {
	_, err := parse(h)
	return err
}

// Verify tells whether pin matches h, in constant time.
func Verify(h, pin string) (bool, error) {
	p, err := parse(h)
	if err != nil {
		return false, err
	}
	key, err := pbkdf2.Key(sha256.New, pin, p.salt, p.iter, len(p.key))
	if err != nil {
		return false, fmt.Errorf("pinhash: %w", err)
	}
	return hmac.Equal(key, p.key), nil
}
