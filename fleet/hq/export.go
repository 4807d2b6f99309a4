package hq

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/pda-agent/pda-agent/durable"
)

// ExportResult says what Export did.
type ExportResult struct {
	Written   int
	Unchanged int
	Removed   int
	// Catalogues is how many catalogue objects were written (those already
	// there are left alone: an address names one content for ever).
	Catalogues int
	// NoBundle lists devices with nothing released (no file for them).
	NoBundle []string
}

// Export writes, for static hosting, dir/catalogues/<sha256>.catalogue,
// every signed catalogue object the stored bundles use (immutable: serve
// them with a long Cache-Control), and dir/devices/<id>.bundle: the bundle
// each device is served now — the same bytes Serve would answer, so a
// staged wave not yet started is not exported either. A file whose bytes
// did not change is left alone (its mtime, and so a web server's
// ETag/Last-Modified, stay the same); a changed one is replaced
// atomically. A device with nothing released loses its stale file.
//
// With static hosting nobody authenticates the fetch: the non-secret
// config and the catalogue are readable by whoever can fetch the URL (keep
// the bucket private or the URLs unguessable); secrets stay encrypted to
// each device and the HQ signature still protects every byte. Agents
// cannot report unless a report URL points at `pda-hq serve`, and without
// reports a staged rollout only moves on by wave timeouts while serve runs.
func (s *Store) Export(dir string) (*ExportResult, error) {
	type item struct {
		id   string
		data []byte
	}
	var items []item
	var cats map[string][]byte
	res := &ExportResult{}
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		if cats, err = allCatalogues(tx, nil); err != nil {
			return err
		}
		devices, err := allDevices(tx)
		if err != nil {
			return err
		}
		for _, d := range devices {
			sl, err := getSlot(tx, d.ID)
			if err != nil {
				return err
			}
			if sl.Released == nil {
				res.NoBundle = append(res.NoBundle, d.ID)
				items = append(items, item{id: d.ID})
				continue
			}
			raw := tx.Bucket(bktBundles).Get(bundleKey(d.ID, sl.Released.Version))
			if raw == nil {
				return fmt.Errorf("device %s: released bundle version %d is missing from the file", d.ID, sl.Released.Version)
			}
			items = append(items, item{id: d.ID, data: bytes.Clone(raw)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	// Catalogues first: a device that fetches a new bundle finds its
	// catalogue already there.
	if len(cats) > 0 {
		cdir := filepath.Join(dir, "catalogues")
		if err := os.MkdirAll(cdir, 0o755); err != nil {
			return nil, fmt.Errorf("hq: export: %w", err)
		}
		for id, data := range cats {
			path := filepath.Join(cdir, id+".catalogue")
			if _, err := os.Stat(path); err == nil {
				continue
			}
			if err := durable.WriteFile(path, data, 0o644); err != nil {
				return res, fmt.Errorf("hq: export: %w", err)
			}
			res.Catalogues++
		}
		if err := durable.SyncDir(cdir); err != nil {
			return res, fmt.Errorf("hq: export: %w", err)
		}
	}
	out := filepath.Join(dir, "devices")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("hq: export: %w", err)
	}
	for _, it := range items {
		path := filepath.Join(out, it.id+".bundle")
		old, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			old = nil
		case err != nil:
			return res, fmt.Errorf("hq: export: %w", err)
		}
		switch {
		case it.data == nil && old != nil:
			if err := os.Remove(path); err != nil {
				return res, fmt.Errorf("hq: export: remove stale %s: %w", path, err)
			}
			res.Removed++
		case it.data == nil:
		case old != nil && bytes.Equal(old, it.data):
			res.Unchanged++
		default:
			// 0644: the web server's user reads it; a bundle holds no clear secret.
			if err := durable.WriteFile(filepath.Join(out, it.id+".bundle"), it.data, 0o644); err != nil {
				return res, fmt.Errorf("hq: export: %w", err)
			}
			res.Written++
		}
	}
	if err := durable.SyncDir(out); err != nil {
		return res, fmt.Errorf("hq: export: %w", err)
	}
	return res, nil
}
