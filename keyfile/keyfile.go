// Package keyfile writes the secrets the commands make — SM2 private keys,
// environment files with credentials — as secrets must be written: mode
// 0600, fsynced, and never over an existing file unless asked to.
package keyfile

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tjfoc/gmsm/sm2"

	"github.com/pda-agent/pda-agent/gm"
)

// WriteSecret creates path (and its directory, 0700) with mode 0600,
// fsynced; it refuses to replace a file unless force.
func WriteSecret(path string, data []byte, force bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists: not overwritten (use --force)", path)
		}
		return err
	}
	// An existing file opened with force keeps its mode otherwise.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// NewSM2 generates an SM2 key pair and writes the private key to path as
// PEM (WriteSecret).
func NewSM2(path string, force bool) (*sm2.PrivateKey, error) {
	k, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	pem, err := gm.PrivateKeyPEM(k)
	if err != nil {
		return nil, err
	}
	if err := WriteSecret(path, pem, force); err != nil {
		return nil, err
	}
	return k, nil
}
