// Package gm implements the GM/T (国密) cryptography used by the NHSA (医保)
// mobile-pay channel: the SM4-ECB data key and encData envelope, the string
// to sign, SM3withSM2 signatures in the raw r‖s form, and the key formats the
// platform issues.
//
// It wraps github.com/tjfoc/gmsm v1.4.1 and fixes that library's sharp edges
// (NHSA developer reference nhsa.md §7.2):
//
//   - Signatures are always 64 bytes, r and s each left-padded to 32 bytes;
//     gmsm's big.Int.Bytes() would drop leading zeros and its
//     PrivateKey.Sign returns DER instead.
//   - SM4 uses sm4.NewCipher with our own ECB loop and PKCS#7 handling:
//     sm4.Sm4Ecb swallows padding errors, panics on empty input, appends into
//     the caller's backing array, and the package's CBC IV is a global.
//   - Public keys are checked to lie on the curve (gmsm does not), private
//     scalars are range-checked, and the curve of every key is verified to be
//     sm2p256v1 before use.
//   - PEM (PKCS#8 / SubjectPublicKeyInfo) is encoded here with encoding/asn1
//     rather than gmsm/x509, which would pull golang.org/x/crypto into the
//     build; the output is byte-compatible with gmsm/x509 and OpenSSL.
//
// Private keys are *sm2.PrivateKey values (aliased as PrivateKey). Never pass
// one to fmt or a logger: the gmsm struct prints D in clear. This package
// never formats private keys itself and its errors never contain key bytes.
//
// Everything here is safe for concurrent use; the package has no mutable
// global state.
package gm
