package pgstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pda-agent/pda-agent/fleet/hq"
)

// Dump implements hq.Backend in one REPEATABLE READ snapshot.
func (b *Backend) Dump(ctx context.Context) (*hq.Chain, error) {
	var c *hq.Chain
	err := b.txOpts(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		c = &hq.Chain{Format: hq.ChainFormat}
		var raw []byte
		var version, last, active int64
		if err := tx.QueryRow(ctx, `SELECT settings, version, last_rollout, active FROM meta`).Scan(&raw, &version, &last, &active); err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &c.Settings); err != nil {
			return fmt.Errorf("settings: %w", err)
		}
		c.Version, c.LastRollout, c.Active = uint64(version), uint64(last), uint64(active)
		rows, err := tx.Query(ctx, `SELECT d.record, d.staged, d.released, r.report, r.out_version, r.out_state, s.at_ns
			FROM devices d LEFT JOIN reports r ON r.device = d.id LEFT JOIN seen s ON s.device = d.id ORDER BY d.id`)
		if err != nil {
			return err
		}
		var rec, staged, released, rep []byte
		var ov, at *int64
		var os *string
		if _, err := pgx.ForEachRow(rows, []any{&rec, &staged, &released, &rep, &ov, &os, &at}, func() error {
			var cd hq.ChainDevice
			if err := json.Unmarshal(rec, &cd.Device); err != nil {
				return fmt.Errorf("device record: %w", err)
			}
			for _, x := range []struct {
				raw []byte
				dst any
			}{{staged, &cd.Staged}, {released, &cd.Released}, {rep, &cd.Report}} {
				if x.raw != nil {
					if err := json.Unmarshal(x.raw, x.dst); err != nil {
						return fmt.Errorf("device %s: %w", cd.Device.ID, err)
					}
				}
			}
			if ov != nil && os != nil {
				cd.Outcome = &hq.Outcome{Version: uint64(*ov), State: *os}
			}
			if at != nil {
				cd.LastSeen = *at
			}
			c.Devices = append(c.Devices, cd)
			return nil
		}); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT device, version, data, coalesce(catalogue, '') FROM bundles ORDER BY device, version`)
		if err != nil {
			return err
		}
		var dev, cat string
		var v int64
		var data []byte
		if _, err := pgx.ForEachRow(rows, []any{&dev, &v, &data, &cat}, func() error {
			c.Bundles = append(c.Bundles, hq.ChainBundle{Device: dev, Version: uint64(v), Data: append([]byte(nil), data...), Catalogue: cat})
			return nil
		}); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT address, content_key, data FROM catalogues ORDER BY address`)
		if err != nil {
			return err
		}
		var o hq.CatalogueObject
		if _, err := pgx.ForEachRow(rows, []any{&o.Address, &o.ContentKey, &o.Data}, func() error {
			o.Data = append([]byte(nil), o.Data...)
			c.Catalogues = append(c.Catalogues, o)
			return nil
		}); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT body FROM rollouts ORDER BY id`)
		if err != nil {
			return err
		}
		bodies, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
		if err != nil {
			return err
		}
		for _, body := range bodies {
			var cr hq.ChainRollout
			if err := json.Unmarshal(body, &cr.Rollout); err != nil {
				return fmt.Errorf("rollout: %w", err)
			}
			for w := range cr.Rollout.Waves {
				rows, err := tx.Query(ctx, `SELECT device FROM wave_devices WHERE rollout = $1 AND wave = $2 ORDER BY device`, int64(cr.Rollout.ID), w)
				if err != nil {
					return err
				}
				ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err != nil {
					return err
				}
				cr.WaveDevices = append(cr.WaveDevices, ids)
			}
			c.Rollouts = append(c.Rollouts, cr)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: dump: %w", err)
	}
	return c, nil
}

// Load implements hq.Backend: one transaction into an empty database.
func (b *Backend) Load(ctx context.Context, c *hq.Chain) error {
	err := b.tx(ctx, func(tx pgx.Tx) error {
		if _, _, _, err := lockMeta(ctx, tx); err != nil {
			return err
		}
		var n, version int64
		if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM devices), version FROM meta`).Scan(&n, &version); err != nil {
			return err
		}
		if n != 0 || version != 0 {
			return hq.ErrNotEmpty
		}
		st, err := jsonText(c.Settings)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE meta SET settings = $1::jsonb, version = $2, last_rollout = $3, active = $4, gen = gen + 1`,
			st, int64(c.Version), int64(c.LastRollout), int64(c.Active)); err != nil {
			return err
		}
		for _, d := range c.Devices {
			rec, err := jsonText(d.Device)
			if err != nil {
				return err
			}
			var staged, released *string
			for _, x := range []struct {
				ref *hq.BundleRef
				dst **string
			}{{d.Staged, &staged}, {d.Released, &released}} {
				if x.ref != nil {
					s, err := jsonText(x.ref)
					if err != nil {
						return err
					}
					*x.dst = &s
				}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO devices (id, record, staged, released) VALUES ($1, $2::jsonb, $3::jsonb, $4::jsonb)`,
				d.Device.ID, rec, staged, released); err != nil {
				return fmt.Errorf("device %s: %w", d.Device.ID, err)
			}
			if d.Report != nil || d.Outcome != nil {
				var rep *string
				var signed, ov *int64
				var os *string
				if d.Report != nil {
					s, err := jsonText(d.Report)
					if err != nil {
						return err
					}
					ns := d.Report.SignedAt.UnixNano()
					rep, signed = &s, &ns
				}
				if d.Outcome != nil {
					v := int64(d.Outcome.Version)
					ov, os = &v, &d.Outcome.State
				}
				if _, err := tx.Exec(ctx, `INSERT INTO reports (device, report, signed_ns, out_version, out_state) VALUES ($1, $2::jsonb, $3, $4, $5)`,
					d.Device.ID, rep, signed, ov, os); err != nil {
					return fmt.Errorf("device %s: report: %w", d.Device.ID, err)
				}
			}
			if d.LastSeen != 0 {
				if _, err := tx.Exec(ctx, `INSERT INTO seen (device, at_ns) VALUES ($1, $2)`, d.Device.ID, d.LastSeen); err != nil {
					return fmt.Errorf("device %s: last seen: %w", d.Device.ID, err)
				}
			}
		}
		if err := putCatalogues(ctx, tx, c.Catalogues); err != nil {
			return err
		}
		for _, bd := range c.Bundles {
			if _, err := tx.Exec(ctx, `INSERT INTO bundles (device, version, data, catalogue) VALUES ($1, $2, $3, NULLIF($4, ''))`,
				bd.Device, int64(bd.Version), bd.Data, bd.Catalogue); err != nil {
				return fmt.Errorf("bundle %s v%d: %w", bd.Device, bd.Version, err)
			}
		}
		for _, cr := range c.Rollouts {
			body, err := jsonText(cr.Rollout)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO rollouts (id, body) VALUES ($1, $2::jsonb)`, int64(cr.Rollout.ID), body); err != nil {
				return fmt.Errorf("rollout %d: %w", cr.Rollout.ID, err)
			}
			for w, ids := range cr.WaveDevices {
				if _, err := tx.Exec(ctx, `INSERT INTO wave_devices (rollout, wave, device) SELECT $1, $2, unnest($3::text[])`, int64(cr.Rollout.ID), w, ids); err != nil {
					return fmt.Errorf("rollout %d wave %d: %w", cr.Rollout.ID, w+1, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgstore: load: %w", err)
	}
	return nil
}
