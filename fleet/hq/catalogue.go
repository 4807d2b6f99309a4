package hq

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/tjfoc/gmsm/sm2"
	bolt "go.etcd.io/bbolt"

	"github.com/pda-agent/pda-agent/catalogue"
	"github.com/pda-agent/pda-agent/fleet/bundle"
	"github.com/pda-agent/pda-agent/gm"
)

// Catalogue objects live in their own buckets, created on first use so
// that files made before them need no migration.
var (
	bktCatalogues = []byte("catalogues")        // sha256 of the object → signed object bytes
	bktCatContent = []byte("catalogue-content") // content key → sha256 of the object
	bktCatRefs    = []byte("catalogue-refs")    // bundleKey(device, version) → sha256 of the object
)

// catPlan is the catalogue side of one publish.
type catPlan struct {
	refs    []*bundle.CatalogueRef // per device, nil when it has no catalogue
	fresh   map[string][]byte      // new objects by address
	content map[string]string      // content key → address, for the new ones
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
func (s *Store) planCatalogues(rendered []*Rendered, key *sm2.PrivateKey, version uint64, now time.Time) (*catPlan, error) {
	fp := gm.Fingerprint(&key.PublicKey)
	plan := &catPlan{refs: make([]*bundle.CatalogueRef, len(rendered)), fresh: map[string][]byte{}, content: map[string]string{}}
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
	err := s.view(func(tx *bolt.Tx) error {
		cb, cc := tx.Bucket(bktCatalogues), tx.Bucket(bktCatContent)
		if cb == nil || cc == nil {
			return nil
		}
		for ck := range byContent {
			id := cc.Get([]byte(ck))
			if id == nil {
				continue
			}
			obj := cb.Get(id)
			if obj == nil {
				continue
			}
			body, err := catalogue.OpenSigned(obj, &key.PublicKey, string(id))
			if err != nil {
				continue // re-sealed below
			}
			byContent[ck] = &bundle.CatalogueRef{SHA256: string(id), Version: body.Version, Scope: body.Scope, Size: int64(len(obj))}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("catalogues: %w", err)
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
			plan.fresh[id] = data
			plan.content[ck] = id
		}
		plan.refs[i] = ref
	}
	return plan, nil
}

// storeCatalogues writes the plan inside the publish transaction, records
// which bundle uses which object, and drops objects no stored bundle uses.
func storeCatalogues(tx *bolt.Tx, plan *catPlan, devices []Device, version uint64) error {
	cb, err := tx.CreateBucketIfNotExists(bktCatalogues)
	if err != nil {
		return err
	}
	cc, err := tx.CreateBucketIfNotExists(bktCatContent)
	if err != nil {
		return err
	}
	cr, err := tx.CreateBucketIfNotExists(bktCatRefs)
	if err != nil {
		return err
	}
	for id, data := range plan.fresh {
		if err := cb.Put([]byte(id), data); err != nil {
			return err
		}
	}
	for ck, id := range plan.content {
		if err := cc.Put([]byte(ck), []byte(id)); err != nil {
			return err
		}
	}
	if plan.refs != nil {
		for i, d := range devices {
			if ref := plan.refs[i]; ref != nil {
				if err := cr.Put(bundleKey(d.ID, version), []byte(ref.SHA256)); err != nil {
					return err
				}
			}
		}
	}
	// Collect first: bbolt cursors must not see deletes under them.
	live := map[string]bool{}
	var deadRefs, deadObjs, deadContent [][]byte
	bb := tx.Bucket(bktBundles)
	if err := cr.ForEach(func(k, v []byte) error {
		if bb.Get(k) == nil {
			deadRefs = append(deadRefs, bytes.Clone(k))
		} else {
			live[string(v)] = true
		}
		return nil
	}); err != nil {
		return err
	}
	if err := cb.ForEach(func(k, _ []byte) error {
		if !live[string(k)] {
			deadObjs = append(deadObjs, bytes.Clone(k))
		}
		return nil
	}); err != nil {
		return err
	}
	if err := cc.ForEach(func(k, v []byte) error {
		if !live[string(v)] {
			deadContent = append(deadContent, bytes.Clone(k))
		}
		return nil
	}); err != nil {
		return err
	}
	for _, del := range []struct {
		b    *bolt.Bucket
		keys [][]byte
	}{{cr, deadRefs}, {cb, deadObjs}, {cc, deadContent}} {
		for _, k := range del.keys {
			if err := del.b.Delete(k); err != nil {
				return err
			}
		}
	}
	return nil
}

// allCatalogues returns every stored catalogue object by address, reusing
// the bytes of old where present.
func allCatalogues(tx *bolt.Tx, old map[string][]byte) (map[string][]byte, error) {
	out := map[string][]byte{}
	cb := tx.Bucket(bktCatalogues)
	if cb == nil {
		return out, nil
	}
	err := cb.ForEach(func(k, v []byte) error {
		if prev, ok := old[string(k)]; ok {
			out[string(k)] = prev
		} else {
			out[string(k)] = bytes.Clone(v)
		}
		return nil
	})
	return out, err
}
