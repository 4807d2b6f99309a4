package hq

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

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
	res := &ExportResult{}
	cdir := filepath.Join(dir, "catalogues")
	catPath := func(addr string) string { return filepath.Join(cdir, addr+".catalogue") }
	// An object already exported is not read again: its address names
	// its bytes for ever.
	view, err := s.b.Served(context.Background(), func(string, *BundleRef) bool { return true }, func(addr string) bool {
		_, err := os.Stat(catPath(addr))
		return err != nil
	})
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	// Catalogues first: a device that fetches a new bundle finds its
	// catalogue already there.
	if len(view.Catalogues) > 0 {
		if err := os.MkdirAll(cdir, 0o755); err != nil {
			return nil, fmt.Errorf("hq: export: %w", err)
		}
		for _, c := range view.Catalogues {
			if c.Data == nil {
				continue
			}
			if err := durable.WriteFile(catPath(c.Address), c.Data, 0o644); err != nil {
				return res, fmt.Errorf("hq: export: %w", err)
			}
			res.Catalogues++
		}
		if err := durable.SyncDir(cdir); err != nil {
			return res, fmt.Errorf("hq: export: %w", err)
		}
	}
	for _, d := range view.Devices {
		if d.Released == nil {
			res.NoBundle = append(res.NoBundle, d.Device.ID)
		}
		items = append(items, item{id: d.Device.ID, data: d.Bundle})
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
