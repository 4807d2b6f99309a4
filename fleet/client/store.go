package client

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tjfoc/gmsm/sm2"

	"github.com/pda-agent/pda-agent/durable"
	"github.com/pda-agent/pda-agent/fleet/bundle"
)

// Files in StateDir. next.bundle is the bundle being applied: written and
// fsynced before the applier runs, so that making it current afterwards is a
// rename, which a full disk cannot fail half-way.
const (
	currentFile = "current.bundle"
	nextFile    = "next.bundle"
	stateFile   = "state.json"
	tmpInfix    = durable.TempInfix // temp files are ".<name>.tmp-<random>"
)

// maxApplyTries: an apply that never returned (the agent crashed or lost
// power inside the applier) is tried once more, then failed, so that a
// bundle that crashes the agent cannot crash-loop it.
const maxApplyTries = 2

// persisted is state.json: the public State plus what the client needs to
// resume after a restart.
type persisted struct {
	State
	// FailedDigest is the SHA-256 of the exact bytes last refused or
	// failed. Keyed on the bytes, not the body hash, so that a forged copy
	// of a genuine body cannot get the genuine bundle skipped.
	FailedDigest string `json:"failed_digest,omitempty"`
	// ApplyingDigest/ApplyingTries mark an apply in progress.
	ApplyingDigest string `json:"applying_digest,omitempty"`
	ApplyingTries  int    `json:"applying_tries,omitempty"`
	// Pending is the last report not delivered, resent after the next poll
	// HQ answers.
	Pending *report `json:"pending_report,omitempty"`
}

// report is the body of POST …/report.
type report struct {
	State   string `json:"state"`
	Version uint64 `json:"version"`
	Hash    string `json:"hash"`
	Error   string `json:"error,omitempty"`
}

// Report states.
const (
	reportApplying = "APPLYING"
	reportApplied  = "APPLIED"
	reportFailed   = "FAILED"
)

// Current returns the last applied (known-good) bundle in stateDir, verified
// again against hq, device and deviceKey, with its secrets decrypted. It
// returns (nil, nil, nil) when no bundle was ever applied. The agent builds
// its config from it at start-up, before (and without) any network.
func Current(stateDir string, hq *sm2.PublicKey, device string, deviceKey *sm2.PrivateKey) (*bundle.Opened, map[string]string, error) {
	if deviceKey == nil || hq == nil {
		return nil, nil, errors.New("fleet: current bundle: the device key and HQ's public key are both required")
	}
	o, err := readCurrent(stateDir, hq, device, &deviceKey.PublicKey)
	if err != nil || o == nil {
		return nil, nil, err
	}
	if err := fillCatalogue(stateDir, o, hq); err != nil {
		return nil, nil, fmt.Errorf("fleet: current bundle version %d: %w", o.Body.Version, err)
	}
	sec, err := o.Secrets(deviceKey)
	if err != nil {
		return nil, nil, fmt.Errorf("fleet: current bundle version %d: %w", o.Body.Version, err)
	}
	return o, sec, nil
}

// readCurrent opens current.bundle; (nil, nil) when there is none.
func readCurrent(dir string, hq *sm2.PublicKey, device string, devicePub *sm2.PublicKey) (*bundle.Opened, error) {
	path := filepath.Join(dir, currentFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fleet: read %s: %w", path, err)
	}
	// Anti-rollback does not apply to what is already on disk.
	o, err := bundle.Open(data, hq, device, devicePub, 0)
	if err != nil {
		return nil, fmt.Errorf("fleet: %s: %w", path, err)
	}
	return o, nil
}

// load prepares the directory and reads the state at New.
func (c *Client) load() error {
	dir := c.cfg.StateDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("fleet client: create %s: %w", dir, err)
	}
	if err := removeLeftovers(dir); err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("fleet client: read state: %w", err)
	default:
		if err := json.Unmarshal(data, &c.st); err != nil {
			// Writes are atomic, so this is disk damage; the applied
			// bundle is reconciled below and nothing else is vital.
			c.log.Error("fleet state unreadable, starting afresh", "file", stateFile, "err", err)
			c.st = persisted{}
		}
	}
	before := c.st
	o, err := readCurrent(dir, c.cfg.HQKey, c.cfg.Device, c.devicePub)
	switch {
	case err != nil && !errors.Is(err, bundle.ErrFormat) && !errors.Is(err, bundle.ErrSignature) && !errors.Is(err, bundle.ErrDevice):
		return fmt.Errorf("fleet client: %w", err)
	case err != nil:
		// E.g. HQ's key or this device's key changed: the agent cannot start
		// from it (Current fails too), so let HQ send the latest again (and
		// forget the ETag, or a static server would answer 304).
		c.log.Error("fleet: the saved bundle no longer verifies; waiting for a new one from HQ", "err", err)
		c.st.AppliedVersion, c.st.AppliedHash, c.st.AppliedAt, c.st.ETag = 0, "", time.Time{}, ""
		c.st.AppliedNotAfter, c.st.AppliedCatalogue, c.st.AppliedCatalogueVersion = time.Time{}, "", 0
	case o == nil:
		if c.st.AppliedHash != "" {
			c.log.Warn("fleet: current.bundle is missing; waiting for a new one from HQ", "was_version", c.st.AppliedVersion)
		}
		c.st.AppliedVersion, c.st.AppliedHash, c.st.AppliedAt, c.st.ETag = 0, "", time.Time{}, ""
		c.st.AppliedNotAfter, c.st.AppliedCatalogue, c.st.AppliedCatalogueVersion = time.Time{}, "", 0
	default:
		c.appliedDigest = digest(o.Raw)
		c.st.AppliedNotAfter, c.st.AppliedCatalogue, c.st.AppliedCatalogueVersion = o.Body.NotAfter, "", 0
		if ref := o.Body.Catalogue; ref != nil {
			c.st.AppliedCatalogue, c.st.AppliedCatalogueVersion = ref.SHA256, ref.Version
		}
		if o.Hash != c.st.AppliedHash {
			// Interrupted between renaming current.bundle and saving the
			// state: the bundle on disk is what the agent runs.
			c.log.Info("fleet: state reconciled with current.bundle", "version", o.Body.Version, "hash", o.Hash)
			c.st.AppliedVersion, c.st.AppliedHash = o.Body.Version, o.Hash
			if fi, err := os.Stat(filepath.Join(dir, currentFile)); err == nil {
				c.st.AppliedAt = fi.ModTime()
			}
		}
	}
	if c.st.State != before.State {
		return c.save()
	}
	return nil
}

// removeLeftovers deletes temp files and next.bundle left by a crash: they
// were never the known-good config.
func removeLeftovers(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("fleet client: list %s: %w", dir, err)
	}
	if err := removeCatalogueLeftovers(dir); err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		ours := n == nextFile
		for _, f := range []string{currentFile, nextFile, stateFile} {
			ours = ours || strings.HasPrefix(n, "."+f+tmpInfix)
		}
		if ours {
			if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("fleet client: remove leftover %s: %w", n, err)
			}
		}
	}
	return nil
}

// removeCatalogueLeftovers deletes temp files a crash left in the
// catalogue directory.
func removeCatalogueLeftovers(stateDir string) error {
	dir := filepath.Join(stateDir, catalogueDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fleet client: list %s: %w", dir, err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), tmpInfix) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("fleet client: remove leftover %s: %w", e.Name(), err)
			}
		}
	}
	return nil
}

// ReadState reads the state a client keeps in stateDir, for a status
// command run beside (or instead of) the agent. A missing file is the
// zero State.
func ReadState(stateDir string) (State, error) {
	data, err := os.ReadFile(filepath.Join(stateDir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("fleet: read state: %w", err)
	}
	var p persisted
	if err := json.Unmarshal(data, &p); err != nil {
		return State{}, fmt.Errorf("fleet: state %s: %w", stateFile, err)
	}
	return p.State, nil
}

// save writes state.json atomically. Called with pollMu held (or from New).
func (c *Client) save() error {
	c.mu.Lock()
	data, err := json.MarshalIndent(&c.st, "", "  ")
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("fleet client: encode state: %w", err)
	}
	if err := durable.WriteFile(filepath.Join(c.cfg.StateDir, stateFile), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("fleet client: save state: %w", err)
	}
	return nil
}

// update changes the state under the lock.
func (c *Client) update(f func(*persisted)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(&c.st)
}

func (c *Client) snapshot() persisted {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
