package api

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// minTokenLen bounds a token someone wrote into the file by hand; the
// agent's own tokens are 64 hex digits (32 random bytes).
const minTokenLen = 32

// loadToken reads the token file, creating it with a new random token when
// it is missing (or empty: a crash between creating and writing it).
func loadToken(path string) (string, error) {
	if path == "" {
		return "", errors.New("api: no token file configured")
	}
	for range 2 {
		tok, err := readToken(path)
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			return tok, err
		}
		tok, err = createToken(path)
		if errors.Is(err, fs.ErrExist) {
			continue // another process created it first: read theirs
		}
		return tok, err
	}
	return "", fmt.Errorf("api: token file %s keeps changing", path)
}

func readToken(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("api: token file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("api: token file %s is not a regular file", path)
	}
	// Windows reports no meaningful permission bits; the data dir's ACL
	// protects the file there.
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o027 != 0 {
		return "", fmt.Errorf("api: token file %s has mode %04o: other users could read or replace the API token; run chmod 600 %s",
			path, perm, path)
	}
	if fi.Size() == 0 {
		if err := os.Remove(path); err != nil {
			return "", fmt.Errorf("api: empty token file: %w", err)
		}
		return "", fmt.Errorf("api: token file %s was empty: %w", path, fs.ErrNotExist)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("api: token file: %w", err)
	}
	tok := strings.TrimSpace(string(data))
	if len(tok) < minTokenLen || strings.IndexFunc(tok, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
		return "", fmt.Errorf("api: token file %s must hold one token of at least %d printable characters; delete it to have a new one made",
			path, minTokenLen)
	}
	return tok, nil
}

func createToken(path string) (string, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("api: token file directory: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("api: token: %w", err)
	}
	tok := hex.EncodeToString(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("api: create token file: %w", err)
	}
	_, err = f.WriteString(tok + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("api: write token file %s: %w", path, err)
	}
	return tok, nil
}

// cookieName is the login cookie of the clerk page.
const cookieName = "pda_agent_session"

// cookieLifetime is how long a login lasts; a restart of the agent ends
// every login sooner (the signing key lives in memory only).
const cookieLifetime = 7 * 24 * time.Hour

// cookieSigner makes and checks login cookies: the time of login with an
// HMAC under a key made at start, so the cookie never carries the token and
// dies with the process.
type cookieSigner struct{ key []byte }

func (c cookieSigner) mac(issued string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("pda-agent login\x00" + issued))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (c cookieSigner) make(now time.Time) string {
	issued := strconv.FormatInt(now.Unix(), 10)
	return issued + "." + c.mac(issued)
}

func (c cookieSigner) valid(v string, now time.Time) bool {
	issued, sig, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	if !hmac.Equal([]byte(sig), []byte(c.mac(issued))) {
		return false
	}
	n, err := strconv.ParseInt(issued, 10, 64)
	if err != nil {
		return false
	}
	at := time.Unix(n, 0)
	return !at.After(now.Add(time.Minute)) && now.Sub(at) < cookieLifetime
}
