package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/tjfoc/gmsm/sm2"

	"github.com/pda-agent/pda-agent/catalogue"
	"github.com/pda-agent/pda-agent/durable"
	"github.com/pda-agent/pda-agent/fleet/bundle"
)

// catalogueDir holds the signed catalogue objects in StateDir, each named
// by its address: the one the applied bundle uses stays until another is
// applied, so the agent starts without the network.
const catalogueDir = "catalogues"

// errCatalogueMissing: the applied bundle's catalogue is not on disk.
var errCatalogueMissing = errors.New("the bundle's catalogue is not on this device")

func catalogueFile(stateDir, sha string) string {
	return filepath.Join(stateDir, catalogueDir, sha+".catalogue")
}

// fillCatalogue verifies the catalogue object the bundle refers to from
// the local copy and puts its files into o.Body, as a v1 bundle carries
// them, so the applier need not know the difference.
func fillCatalogue(stateDir string, o *bundle.Opened, hq *sm2.PublicKey) error {
	ref := o.Body.Catalogue
	if ref == nil {
		return nil
	}
	data, err := os.ReadFile(catalogueFile(stateDir, ref.SHA256))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w (catalogue %s version %d)", errCatalogueMissing, ref.SHA256, ref.Version)
	}
	if err != nil {
		return fmt.Errorf("fleet: read catalogue: %w", err)
	}
	body, err := catalogue.OpenSigned(data, hq, ref.SHA256)
	if err != nil {
		return fmt.Errorf("fleet: local catalogue %s: %w", ref.SHA256, err)
	}
	o.Body.Products, o.Body.Partners = body.Products, body.Partners
	return nil
}

// resolveCatalogue makes sure the catalogue of o is on disk, fetching it
// once per address (from HQ, or the mirror in static mode), and fills
// o.Body. A failure here is a failed poll, not a refused bundle: the
// bundle is taken again at the next poll, and until then the config and
// catalogue in force stay.
func (c *Client) resolveCatalogue(ctx context.Context, o *bundle.Opened) error {
	ref := o.Body.Catalogue
	if ref == nil {
		return nil
	}
	err := fillCatalogue(c.cfg.StateDir, o, c.cfg.HQKey)
	if err == nil || !errors.Is(err, errCatalogueMissing) && !errors.Is(err, catalogue.ErrSigned) {
		return err
	}
	data, err := c.fetchCatalogue(ctx, ref)
	if err != nil {
		return err
	}
	if _, err := catalogue.OpenSigned(data, c.cfg.HQKey, ref.SHA256); err != nil {
		return fmt.Errorf("fleet: catalogue from %s: %w", redacted(c.catalogueURL(ref.SHA256)), err)
	}
	dir := filepath.Join(c.cfg.StateDir, catalogueDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("fleet: catalogue: %w", err)
	}
	if err := durable.WriteFile(catalogueFile(c.cfg.StateDir, ref.SHA256), data, 0o600); err != nil {
		return fmt.Errorf("fleet: store the catalogue: %w", err)
	}
	c.log.Info("fleet: catalogue fetched", "sha256", ref.SHA256, "version", ref.Version, "scope", ref.Scope, "bytes", len(data))
	return fillCatalogue(c.cfg.StateDir, o, c.cfg.HQKey)
}

func (c *Client) catalogueURL(sha string) string {
	if c.cfg.Static {
		return c.base + "/catalogues/" + sha + ".catalogue"
	}
	return c.base + "/v1/catalogues/" + sha
}

func (c *Client) fetchCatalogue(ctx context.Context, ref *bundle.CatalogueRef) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	u := c.catalogueURL(ref.SHA256)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("fleet: GET %s: %w", redacted(u), err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fleet: GET catalogue: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, c.statusError("GET", redacted(u), resp)
	}
	limit := min(ref.Size, catalogue.MaxSignedSize)
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("fleet: GET %s: %w", redacted(u), err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("fleet: GET %s: more than the %d bytes the bundle announces", redacted(u), limit)
	}
	return data, nil
}

// pruneCatalogues removes cached objects other than keep (the applied
// bundle's and the one before it, for a revert).
func pruneCatalogues(stateDir string, keep ...string) error {
	dir := filepath.Join(stateDir, catalogueDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fleet: list catalogues: %w", err)
	}
	for _, e := range entries {
		sha, ok := strings.CutSuffix(e.Name(), ".catalogue")
		kept := false
		for _, k := range keep {
			kept = kept || (ok && k != "" && sha == k)
		}
		if kept {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("fleet: remove old catalogue: %w", err)
		}
	}
	return nil
}
