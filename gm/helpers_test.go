package gm

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"

	"github.com/tjfoc/gmsm/sm3"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

func mustInt(t testing.TB, s string) *big.Int {
	t.Helper()
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		t.Fatalf("bad hex integer in test: %q", s)
	}
	return n
}

// fixedK returns a reader that makes gmsm's randFieldElement yield exactly k:
// it reads 40 bytes b and uses k = b mod (n−1) + 1, so b = k−1 padded to 40
// bytes (nhsa.md §6). It has nothing more to give, so a second draw (which
// would mean k was rejected) fails loudly instead of silently using other k.
func fixedK(t testing.TB, kHex string) *bytes.Reader {
	t.Helper()
	k := mustInt(t, kHex)
	b := new(big.Int).Sub(k, big.NewInt(1)).FillBytes(make([]byte, 40))
	return bytes.NewReader(b)
}

// detReader is a deterministic byte stream, SM3(seed ‖ counter) blocks, so
// searches over many signatures are reproducible.
type detReader struct {
	seed []byte
	ctr  uint64
	buf  []byte
}

func newDetReader(seed string) *detReader { return &detReader{seed: []byte(seed)} }

func (r *detReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(r.buf) == 0 {
			var c [8]byte
			binary.BigEndian.PutUint64(c[:], r.ctr)
			r.ctr++
			r.buf = sm3.Sm3Sum(append(append([]byte{}, r.seed...), c[:]...))
		}
		m := copy(p[n:], r.buf)
		r.buf = r.buf[m:]
		n += m
	}
	return n, nil
}

// noPanic runs f and fails the test if it panics.
func noPanic(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("%s panicked: %v", name, r)
		}
	}()
	f()
}
