package hq

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/tjfoc/gmsm/sm2"

	"github.com/pda-agent/pda-agent/catalogue"
	"github.com/pda-agent/pda-agent/fleet/bundle"
	"github.com/pda-agent/pda-agent/gm"
)

// catPlan is the catalogue side of one publish.
type catPlan struct {
	refs  []*bundle.CatalogueRef // per device, nil when it has no catalogue
	fresh []CatalogueObject      // objects sealed by this publish
}

// contentKey identifies a catalogue's content under one HQ key: the same
// files signed by the same key reuse the same object, so its address, and
// every device's cached copy, survive publishes that do not change them.
func contentKey(hqKey, scope, products, partners string) string {
	h := sha256.New()
	for _, s := range []string{hqKey, scope, products, partners} {
		fmt.Fprintf(h, "%d:%s", len(s), s)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// planCatalogues finds or seals the catalogue object of every device's
// rendered catalogue: one per distinct content (per chain, or per store
// with its own products), signed with the bundles' key.
func (s *Store) planCatalogues(ctx context.Context, rendered []*Rendered, key *sm2.PrivateKey, version uint64, now time.Time) (*catPlan, error) {
	fp := gm.Fingerprint(&key.PublicKey)
	plan := &catPlan{refs: make([]*bundle.CatalogueRef, len(rendered))}
	byContent := map[string]*bundle.CatalogueRef{}
	for _, r := range rendered {
		if r.Products == "" && r.Partners == "" {
			continue
		}
		byContent[contentKey(fp, r.CatalogueScope, r.Products, r.Partners)] = nil
	}
	if len(byContent) == 0 {
		return plan, nil
	}
	keys := make([]string, 0, len(byContent))
	for ck := range byContent {
		keys = append(keys, ck)
	}
	stored, err := s.b.Catalogues(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("catalogues: %w", err)
	}
	for ck, obj := range stored {
		body, err := catalogue.OpenSigned(obj.Data, &key.PublicKey, obj.Address)
		if err != nil {
			continue // re-sealed below
		}
		byContent[ck] = &bundle.CatalogueRef{SHA256: obj.Address, Version: body.Version, Scope: body.Scope, Size: int64(len(obj.Data))}
	}
	for i, r := range rendered {
		if r.Products == "" && r.Partners == "" {
			continue
		}
		ck := contentKey(fp, r.CatalogueScope, r.Products, r.Partners)
		ref := byContent[ck]
		if ref == nil {
			data, id, err := catalogue.Seal(catalogue.SignedBody{Scope: r.CatalogueScope, Version: version, CreatedAt: now,
				Products: r.Products, Partners: r.Partners}, key)
			if err != nil {
				return nil, fmt.Errorf("catalogue %s: %w", r.CatalogueScope, err)
			}
			ref = &bundle.CatalogueRef{SHA256: id, Version: version, Scope: r.CatalogueScope, Size: int64(len(data))}
			byContent[ck] = ref
			plan.fresh = append(plan.fresh, CatalogueObject{Address: id, ContentKey: ck, Data: data})
		}
		plan.refs[i] = ref
	}
	return plan, nil
}
