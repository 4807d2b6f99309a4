// Package pgstore keeps pda-hq's state in PostgreSQL (hq.Backend), so that
// several `pda-hq serve` replicas can share one database.
//
// Concurrency: the single meta row is the rollout lock. Every publish
// (Stage), enrollment and rollout step takes it with SELECT … FOR UPDATE
// in a READ COMMITTED transaction, so they run one after another across
// replicas and each re-reads the rollout and the wave's counts after
// taking the lock: whichever replica commits the report that completes a
// wave, and however many replicas see it, the next wave is released once.
// Reports take row locks on their devices' rows only (in device order, so
// two replicas never deadlock) and a batch is one transaction: a report
// is acknowledged after that transaction committed. Last-seen times are
// one bulk upsert per cycle. Serialisation failures and deadlocks are
// retried.
package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pda-agent/pda-agent/fleet/hq"
)

// ErrNotMigrated: the database lacks this build's schema.
var ErrNotMigrated = errors.New("the database schema is not current: run `pda-hq migrate --db …` first")

// Backend is hq.Backend on PostgreSQL.
type Backend struct {
	pool *pgxpool.Pool
	log  *slog.Logger
}

var _ hq.Backend = (*Backend)(nil)

// Connect opens a pool on dsn (a postgres:// URL or key=value string).
func Connect(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: connect: %w", err)
	}
	return pool, nil
}

// Open connects to dsn and checks the schema is this build's (Migrate
// makes it so). log may be nil.
func Open(ctx context.Context, dsn string, log *slog.Logger) (*Backend, error) {
	pool, err := Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	v, err := schemaVersion(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: schema version: %w", err)
	}
	switch want := latest(); {
	case v > want:
		pool.Close()
		return nil, fmt.Errorf("pgstore: %w (database schema %d, this build %d)", hq.ErrNewerSchema, v, want)
	case v < want:
		pool.Close()
		return nil, fmt.Errorf("pgstore: %w (database schema %d, this build %d)", ErrNotMigrated, v, want)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Backend{pool: pool, log: log}, nil
}

// Close closes the pool.
func (b *Backend) Close() error {
	b.pool.Close()
	return nil
}

// tx runs fn in a READ COMMITTED transaction, again on a serialisation
// failure or deadlock. fn must reset whatever it fills on each run.
func (b *Backend) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return b.txOpts(ctx, pgx.TxOptions{}, fn)
}

func (b *Backend) txOpts(ctx context.Context, opts pgx.TxOptions, fn func(pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginTxFunc(ctx, b.pool, opts, fn)
		var pe *pgconn.PgError
		if err == nil || attempt == 10 || !errors.As(err, &pe) || (pe.Code != "40001" && pe.Code != "40P01") {
			return err
		}
		time.Sleep(time.Duration(attempt)*5*time.Millisecond + rand.N(10*time.Millisecond))
	}
}

// lockMeta takes the row lock that serialises publishes and rollout steps.
func lockMeta(ctx context.Context, tx pgx.Tx) (settings hq.Settings, lastRollout, active int64, err error) {
	var raw []byte
	err = tx.QueryRow(ctx, `SELECT settings, last_rollout, active FROM meta FOR UPDATE`).Scan(&raw, &lastRollout, &active)
	if err == nil {
		err = json.Unmarshal(raw, &settings)
	}
	return settings, lastRollout, active, err
}

func bumpGen(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `UPDATE meta SET gen = gen + 1`)
	return err
}

func jsonText(v any) (string, error) {
	raw, err := json.Marshal(v)
	return string(raw), err
}

// Settings implements hq.Backend.
func (b *Backend) Settings(ctx context.Context) (hq.Settings, error) {
	var raw []byte
	var st hq.Settings
	if err := b.pool.QueryRow(ctx, `SELECT settings FROM meta`).Scan(&raw); err != nil {
		return st, fmt.Errorf("pgstore: settings: %w", err)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, fmt.Errorf("pgstore: settings: %w", err)
	}
	return st, nil
}

// SetSettings implements hq.Backend.
func (b *Backend) SetSettings(ctx context.Context, pollInterval, silentAfter time.Duration) (hq.Settings, error) {
	var st hq.Settings
	err := b.tx(ctx, func(tx pgx.Tx) error {
		var err error
		if st, _, _, err = lockMeta(ctx, tx); err != nil {
			return err
		}
		st.PollInterval, st.SilentAfter = pollInterval, silentAfter
		s, err := jsonText(st)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE meta SET settings = $1::jsonb`, s)
		return err
	})
	if err != nil {
		return st, fmt.Errorf("pgstore: settings: %w", err)
	}
	return st, nil
}

// Enroll implements hq.Backend.
func (b *Backend) Enroll(ctx context.Context, now time.Time, devices []hq.Device) ([]hq.EnrollResult, error) {
	var out []hq.EnrollResult
	ids := make([]string, len(devices))
	for i, d := range devices {
		ids[i] = d.ID
	}
	err := b.tx(ctx, func(tx pgx.Tx) error {
		out = make([]hq.EnrollResult, 0, len(devices))
		if _, _, _, err := lockMeta(ctx, tx); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT record FROM devices WHERE id = ANY($1) FOR UPDATE`, ids)
		if err != nil {
			return err
		}
		old := map[string]hq.Device{}
		raws, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
		if err != nil {
			return err
		}
		for _, raw := range raws {
			var d hq.Device
			if err := json.Unmarshal(raw, &d); err != nil {
				return fmt.Errorf("device record: %w", err)
			}
			old[d.ID] = d
		}
		recs := make([]string, 0, len(devices))
		var rekeyed []string
		for _, d := range devices {
			r := hq.EnrollResult{}
			prev, found := old[d.ID]
			switch {
			case !found:
				r.New = true
				d.EnrolledAt = now
			default:
				d.EnrolledAt = prev.EnrolledAt
				if prev.PublicKey != d.PublicKey {
					r.KeyChanged = true
					d.EnrolledAt = now
					rekeyed = append(rekeyed, d.ID)
				}
			}
			r.Device = d
			s, err := jsonText(d)
			if err != nil {
				return err
			}
			recs = append(recs, s)
			out = append(out, r)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO devices (id, record)
			SELECT i, r::jsonb FROM unnest($1::text[], $2::text[]) AS t(i, r)
			ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record`, ids, recs); err != nil {
			return err
		}
		if len(rekeyed) > 0 {
			// Bundles whose secrets only the old key can read go, and so
			// does the outcome rollouts count (the report stays).
			for _, q := range []string{
				`UPDATE devices SET staged = NULL, released = NULL WHERE id = ANY($1)`,
				`DELETE FROM bundles WHERE device = ANY($1)`,
				`UPDATE reports SET out_version = NULL, out_state = NULL WHERE device = ANY($1)`,
			} {
				if _, err := tx.Exec(ctx, q, rekeyed); err != nil {
					return err
				}
			}
		}
		return bumpGen(ctx, tx)
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: enroll: %w", err)
	}
	return out, nil
}

// Devices implements hq.Backend.
func (b *Backend) Devices(ctx context.Context) ([]hq.Device, error) {
	rows, err := b.pool.Query(ctx, `SELECT record FROM devices ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("pgstore: devices: %w", err)
	}
	raws, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("pgstore: devices: %w", err)
	}
	out := make([]hq.Device, 0, len(raws))
	for _, raw := range raws {
		var d hq.Device
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, fmt.Errorf("pgstore: device record: %w", err)
		}
		out = append(out, d)
	}
	return out, nil
}

// ReserveVersion implements hq.Backend.
func (b *Backend) ReserveVersion(ctx context.Context) (uint64, error) {
	var v int64
	if err := b.pool.QueryRow(ctx, `UPDATE meta SET version = version + 1 RETURNING version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("pgstore: reserve a version: %w", err)
	}
	return uint64(v), nil
}

// Bounds of one bulk statement: bundles carry the catalogue and may be
// megabytes each.
const (
	chunkRows  = 1000
	chunkBytes = 32 << 20
)

// chunks splits bundles into runs of at most chunkRows rows and about
// chunkBytes bytes (at least one bundle each).
func chunks(bs []hq.SealedBundle) [][]hq.SealedBundle {
	var out [][]hq.SealedBundle
	start, size := 0, 0
	for i, b := range bs {
		if i > start && (i-start >= chunkRows || size+len(b.Data) > chunkBytes) {
			out = append(out, bs[start:i])
			start, size = i, 0
		}
		size += len(b.Data)
	}
	if start < len(bs) {
		out = append(out, bs[start:])
	}
	return out
}

// Stage implements hq.Backend.
func (b *Backend) Stage(ctx context.Context, stg *hq.Staging) (*hq.Rollout, error) {
	var r *hq.Rollout
	err := b.tx(ctx, func(tx pgx.Tx) error {
		st, last, active, err := lockMeta(ctx, tx)
		if err != nil {
			return err
		}
		if err := hq.CheckHQKey(st, stg.HQKey, stg.ReplaceHQKey); err != nil {
			return err
		}
		rid := uint64(last) + 1
		if active != 0 {
			pr, err := getRollout(ctx, tx, active)
			if err != nil {
				return err
			}
			if hq.Supersede(pr, rid, stg.Version, stg.Now) {
				if err := putRollout(ctx, tx, pr); err != nil {
					return err
				}
			}
		}
		ids := make([]string, len(stg.Bundles))
		for i, sb := range stg.Bundles {
			ids[i] = sb.Device.ID
		}
		rows, err := tx.Query(ctx, `SELECT id, record->>'public_key' FROM devices WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
		if err != nil {
			return err
		}
		keys := map[string]string{}
		var id, key string
		if _, err := pgx.ForEachRow(rows, []any{&id, &key}, func() error { keys[id] = key; return nil }); err != nil {
			return err
		}
		if err := putCatalogues(ctx, tx, stg.Catalogues); err != nil {
			return err
		}
		for _, part := range chunks(stg.Bundles) {
			var (
				pids    []string
				data    [][]byte
				cats    []string
				refs    []string
				release []bool
			)
			for _, sb := range part {
				d := sb.Device
				if k, ok := keys[d.ID]; !ok || k != d.PublicKey {
					return fmt.Errorf("device %s was removed or re-enrolled with another key during the publish; publish again", d.ID)
				}
				ref, err := jsonText(hq.BundleRef{Version: stg.Version, Hash: sb.Hash, Size: len(sb.Data), StagedAt: stg.Now, Rollout: rid, Wave: sb.Wave})
				if err != nil {
					return err
				}
				pids, data, refs, release = append(pids, d.ID), append(data, sb.Data), append(refs, ref), append(release, sb.Wave == 0)
				cats = append(cats, sb.Catalogue)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO bundles (device, version, data, catalogue)
				SELECT d, $2, x, NULLIF(c, '') FROM unnest($1::text[], $3::bytea[], $4::text[]) AS t(d, x, c)
				ON CONFLICT (device, version) DO UPDATE SET data = EXCLUDED.data, catalogue = EXCLUDED.catalogue`,
				pids, int64(stg.Version), data, cats); err != nil {
				return fmt.Errorf("store bundles: %w", err)
			}
			if _, err := tx.Exec(ctx, `UPDATE devices d SET staged = u.ref::jsonb,
				released = CASE WHEN u.rel THEN u.ref::jsonb ELSE d.released END
				FROM unnest($1::text[], $2::text[], $3::bool[]) AS u(id, ref, rel) WHERE d.id = u.id`, pids, refs, release); err != nil {
				return fmt.Errorf("stage: %w", err)
			}
			if err := gcBundles(ctx, tx, pids); err != nil {
				return err
			}
		}
		if err := gcCatalogues(ctx, tx); err != nil {
			return err
		}
		r = hq.NewRollout(rid, stg)
		if _, err := tx.Exec(ctx, `INSERT INTO rollouts (id, body) VALUES ($1, '{}')`, int64(rid)); err != nil {
			return err
		}
		if err := putRollout(ctx, tx, r); err != nil {
			return err
		}
		for w, wids := range stg.WaveDevices {
			if _, err := tx.Exec(ctx, `INSERT INTO wave_devices (rollout, wave, device) SELECT $1, $2, unnest($3::text[])`, int64(rid), w, wids); err != nil {
				return err
			}
		}
		st.HQKey = stg.HQKey
		s, err := jsonText(st)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE meta SET settings = $1::jsonb, last_rollout = $2, active = $2, gen = gen + 1`, s, int64(rid))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: stage: %w", err)
	}
	return r, nil
}

// gcBundles deletes the devices' bundles neither staged nor released.
func gcBundles(ctx context.Context, tx pgx.Tx, ids []string) error {
	_, err := tx.Exec(ctx, `DELETE FROM bundles b USING devices d
		WHERE b.device = d.id AND d.id = ANY($1)
		AND b.version IS DISTINCT FROM (d.staged->>'version')::bigint
		AND b.version IS DISTINCT FROM (d.released->>'version')::bigint`, ids)
	if err != nil {
		return fmt.Errorf("drop old bundles: %w", err)
	}
	return nil
}

// putCatalogues stores catalogue objects (one already there is kept: its
// address names its bytes).
func putCatalogues(ctx context.Context, tx pgx.Tx, objs []hq.CatalogueObject) error {
	if len(objs) == 0 {
		return nil
	}
	addrs, keys, data := make([]string, len(objs)), make([]string, len(objs)), make([][]byte, len(objs))
	for i, o := range objs {
		addrs[i], keys[i], data[i] = o.Address, o.ContentKey, o.Data
	}
	if _, err := tx.Exec(ctx, `INSERT INTO catalogues (address, content_key, data)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[]) ON CONFLICT (address) DO NOTHING`, addrs, keys, data); err != nil {
		return fmt.Errorf("store catalogues: %w", err)
	}
	return nil
}

// gcCatalogues drops the catalogue objects no stored bundle refers to.
func gcCatalogues(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `DELETE FROM catalogues c WHERE NOT EXISTS (SELECT 1 FROM bundles b WHERE b.catalogue = c.address)`); err != nil {
		return fmt.Errorf("drop unused catalogues: %w", err)
	}
	return nil
}

// Catalogues implements hq.Backend.
func (b *Backend) Catalogues(ctx context.Context, contentKeys []string) (map[string]hq.CatalogueObject, error) {
	rows, err := b.pool.Query(ctx, `SELECT DISTINCT ON (content_key) content_key, address, data FROM catalogues
		WHERE content_key = ANY($1) ORDER BY content_key, address`, contentKeys)
	if err != nil {
		return nil, fmt.Errorf("pgstore: catalogues: %w", err)
	}
	out := map[string]hq.CatalogueObject{}
	var o hq.CatalogueObject
	if _, err := pgx.ForEachRow(rows, []any{&o.ContentKey, &o.Address, &o.Data}, func() error {
		o.Data = slices.Clone(o.Data)
		out[o.ContentKey] = o
		return nil
	}); err != nil {
		return nil, fmt.Errorf("pgstore: catalogues: %w", err)
	}
	return out, nil
}

func getRollout(ctx context.Context, tx pgx.Tx, id int64) (*hq.Rollout, error) {
	var raw []byte
	if err := tx.QueryRow(ctx, `SELECT body FROM rollouts WHERE id = $1`, id).Scan(&raw); err != nil {
		return nil, fmt.Errorf("rollout %d: %w", id, err)
	}
	var r hq.Rollout
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("rollout %d: %w", id, err)
	}
	return &r, nil
}

func putRollout(ctx context.Context, tx pgx.Tx, r *hq.Rollout) error {
	s, err := jsonText(r)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE rollouts SET body = $2::jsonb WHERE id = $1`, int64(r.ID), s)
	return err
}

// Served implements hq.Backend in one REPEATABLE READ snapshot.
func (b *Backend) Served(ctx context.Context, want func(id string, ref *hq.BundleRef) bool, wantCat func(addr string) bool) (*hq.ServedView, error) {
	var v *hq.ServedView
	err := b.txOpts(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		v = &hq.ServedView{}
		var gen int64
		if err := tx.QueryRow(ctx, `SELECT gen FROM meta`).Scan(&gen); err != nil {
			return err
		}
		v.Gen = uint64(gen)
		if err := servedCatalogues(ctx, tx, v, wantCat); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT record, released FROM devices ORDER BY id`)
		if err != nil {
			return err
		}
		var rec, rel []byte
		var wantIDs []string
		var wantVersions []int64
		index := map[string]int{}
		if _, err := pgx.ForEachRow(rows, []any{&rec, &rel}, func() error {
			var sd hq.ServedDevice
			if err := json.Unmarshal(rec, &sd.Device); err != nil {
				return fmt.Errorf("device record: %w", err)
			}
			if rel != nil {
				sd.Released = new(hq.BundleRef)
				if err := json.Unmarshal(rel, sd.Released); err != nil {
					return fmt.Errorf("device %s: released: %w", sd.Device.ID, err)
				}
				if want(sd.Device.ID, sd.Released) {
					wantIDs, wantVersions = append(wantIDs, sd.Device.ID), append(wantVersions, int64(sd.Released.Version))
				}
			}
			index[sd.Device.ID] = len(v.Devices)
			v.Devices = append(v.Devices, sd)
			return nil
		}); err != nil {
			return err
		}
		if len(wantIDs) == 0 {
			return nil
		}
		rows, err = tx.Query(ctx, `SELECT b.device, b.data FROM bundles b
			JOIN unnest($1::text[], $2::bigint[]) AS w(d, v) ON b.device = w.d AND b.version = w.v`, wantIDs, wantVersions)
		if err != nil {
			return err
		}
		var id string
		var data []byte
		if _, err := pgx.ForEachRow(rows, []any{&id, &data}, func() error {
			v.Devices[index[id]].Bundle = slices.Clone(data)
			return nil
		}); err != nil {
			return err
		}
		for _, id := range wantIDs {
			if sd := v.Devices[index[id]]; sd.Bundle == nil {
				return fmt.Errorf("device %s: released bundle version %d is missing", id, sd.Released.Version)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: served: %w", err)
	}
	return v, nil
}

// servedCatalogues lists the stored objects, reading the bytes of those
// wanted.
func servedCatalogues(ctx context.Context, tx pgx.Tx, v *hq.ServedView, wantCat func(addr string) bool) error {
	rows, err := tx.Query(ctx, `SELECT address FROM catalogues ORDER BY address`)
	if err != nil {
		return err
	}
	addrs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	var want []string
	index := map[string]int{}
	for i, a := range addrs {
		v.Catalogues = append(v.Catalogues, hq.ServedCatalogue{Address: a})
		if wantCat(a) {
			want = append(want, a)
			index[a] = i
		}
	}
	if len(want) == 0 {
		return nil
	}
	rows, err = tx.Query(ctx, `SELECT address, data FROM catalogues WHERE address = ANY($1)`, want)
	if err != nil {
		return err
	}
	var a string
	var data []byte
	_, err = pgx.ForEachRow(rows, []any{&a, &data}, func() error {
		v.Catalogues[index[a]].Data = slices.Clone(data)
		return nil
	})
	return err
}

// Commit implements hq.Backend: the batch in one transaction, then the
// rollout step in another under the meta lock (only when the wave looks
// due, so an idle replica only reads).
func (b *Backend) Commit(ctx context.Context, batch hq.Batch) (hq.CommitResult, error) {
	var res hq.CommitResult
	if len(batch.Reports) > 0 || len(batch.Seen) > 0 {
		if err := b.tx(ctx, func(tx pgx.Tx) error {
			if err := applyReports(ctx, tx, batch.Reports); err != nil {
				return err
			}
			return writeSeen(ctx, tx, batch.Seen)
		}); err != nil {
			return res, fmt.Errorf("pgstore: commit %d report(s): %w", len(batch.Reports), err)
		}
	}
	ev, err := b.step(ctx, batch.Now)
	if err != nil {
		// The batch is stored: the step runs again on the next cycle.
		b.log.Error("pgstore: rollout step failed; retried on the next cycle", "err", err)
	}
	if ev != "" {
		res.Events = append(res.Events, ev)
	}
	var gen int64
	if err := b.pool.QueryRow(ctx, `SELECT gen FROM meta`).Scan(&gen); err != nil {
		return res, fmt.Errorf("pgstore: read gen: %w", err)
	}
	res.Gen = uint64(gen)
	return res, nil
}

type reportState struct {
	rep   *hq.Report
	out   *hq.Outcome
	dirty bool
}

func applyReports(ctx context.Context, tx pgx.Tx, reps []hq.DeviceReport) error {
	if len(reps) == 0 {
		return nil
	}
	ids := make([]string, 0, len(reps))
	for _, r := range reps {
		ids = append(ids, r.Device)
	}
	sort.Strings(ids)
	ids = slices.Compact(ids)
	// Rows first (in device order), then lock them: a device's first
	// reports arriving at two replicas at once are still merged in order.
	if _, err := tx.Exec(ctx, `INSERT INTO reports (device) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING`, ids); err != nil {
		return fmt.Errorf("report rows: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT device, report, out_version, out_state FROM reports WHERE device = ANY($1) ORDER BY device FOR UPDATE`, ids)
	if err != nil {
		return err
	}
	state := make(map[string]*reportState, len(ids))
	var id string
	var raw []byte
	var ov *int64
	var os *string
	if _, err := pgx.ForEachRow(rows, []any{&id, &raw, &ov, &os}, func() error {
		s := &reportState{}
		if raw != nil {
			var r hq.Report
			// An unreadable old record is replaced rather than failing
			// the whole batch.
			if json.Unmarshal(raw, &r) == nil {
				s.rep = &r
			}
		}
		if ov != nil && os != nil {
			s.out = &hq.Outcome{Version: uint64(*ov), State: *os}
		}
		state[id] = s
		return nil
	}); err != nil {
		return err
	}
	for _, r := range reps {
		s := state[r.Device]
		if s == nil {
			return fmt.Errorf("device %s is not enrolled", r.Device)
		}
		keep, setOut := hq.MergeReport(s.rep, s.out, r.Report)
		if !keep {
			continue
		}
		rep := r.Report
		s.rep, s.dirty = &rep, true
		if setOut {
			s.out = &hq.Outcome{Version: rep.Version, State: rep.State}
		}
	}
	var (
		uids, ureps, ustates []string
		usigned, uversions   []int64
	)
	for _, id := range ids {
		s := state[id]
		if !s.dirty {
			continue
		}
		j, err := jsonText(s.rep)
		if err != nil {
			return err
		}
		uids, ureps, usigned = append(uids, id), append(ureps, j), append(usigned, s.rep.SignedAt.UnixNano())
		uversions, ustates = append(uversions, int64(s.out.Version)), append(ustates, s.out.State)
	}
	if len(uids) == 0 {
		return nil
	}
	_, err = tx.Exec(ctx, `UPDATE reports r SET report = u.rep::jsonb, signed_ns = u.sn, out_version = u.ov, out_state = u.os
		FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[]) AS u(d, rep, sn, ov, os)
		WHERE r.device = u.d`, uids, ureps, usigned, uversions, ustates)
	if err != nil {
		return fmt.Errorf("store reports: %w", err)
	}
	return nil
}

// writeSeen stores last-seen times in one statement, never moving one back.
func writeSeen(ctx context.Context, tx pgx.Tx, seen []hq.LastSeen) error {
	if len(seen) == 0 {
		return nil
	}
	s := slices.Clone(seen)
	sort.Slice(s, func(i, j int) bool { return s[i].Device < s[j].Device })
	ids := make([]string, len(s))
	at := make([]int64, len(s))
	for i, x := range s {
		ids[i], at[i] = x.Device, x.At
	}
	_, err := tx.Exec(ctx, `INSERT INTO seen (device, at_ns) SELECT * FROM unnest($1::text[], $2::bigint[])
		ON CONFLICT (device) DO UPDATE SET at_ns = GREATEST(seen.at_ns, EXCLUDED.at_ns)`, ids, at)
	if err != nil {
		return fmt.Errorf("last seen: %w", err)
	}
	return nil
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// countWave tallies what a wave's devices reported for version.
func countWave(ctx context.Context, q querier, rollout uint64, wave int, version uint64) (hq.WaveCounts, error) {
	var targets, applying, applied, failed int
	err := q.QueryRow(ctx, `SELECT count(*),
		count(*) FILTER (WHERE r.out_state = 'APPLYING'),
		count(*) FILTER (WHERE r.out_state = 'APPLIED'),
		count(*) FILTER (WHERE r.out_state = 'FAILED')
		FROM wave_devices w LEFT JOIN reports r ON r.device = w.device AND r.out_version = $3
		WHERE w.rollout = $1 AND w.wave = $2`, int64(rollout), wave, int64(version)).Scan(&targets, &applying, &applied, &failed)
	if err != nil {
		return hq.WaveCounts{}, fmt.Errorf("count wave %d of rollout %d: %w", wave+1, rollout, err)
	}
	return hq.Tally(targets, applying, applied, failed), nil
}

// due reads, without locks, whether the running rollout's wave looks due.
func (b *Backend) due(ctx context.Context, now time.Time) (bool, error) {
	var active int64
	var raw []byte
	err := b.pool.QueryRow(ctx, `SELECT m.active, r.body FROM meta m LEFT JOIN rollouts r ON r.id = m.active`).Scan(&active, &raw)
	if err != nil || active == 0 {
		return false, err
	}
	var r hq.Rollout
	if err := json.Unmarshal(raw, &r); err != nil {
		return false, fmt.Errorf("rollout %d: %w", active, err)
	}
	if r.State != hq.RolloutRunning {
		return true, nil
	}
	c, err := countWave(ctx, b.pool, r.ID, r.Current, r.Version)
	if err != nil {
		return false, err
	}
	return hq.WaveIsDue(&r, c, now), nil
}

// step ends the running rollout's wave if it is due: under the meta lock it
// re-reads the rollout and recounts, so of several replicas seeing the same
// wave end, the first releases the next wave and the others find the new
// wave not due.
func (b *Backend) step(ctx context.Context, now time.Time) (string, error) {
	due, err := b.due(ctx, now)
	if err != nil || !due {
		return "", err
	}
	var event string
	err = b.tx(ctx, func(tx pgx.Tx) error {
		event = ""
		_, _, active, err := lockMeta(ctx, tx)
		if err != nil || active == 0 {
			return err
		}
		r, err := getRollout(ctx, tx, active)
		if err != nil {
			return err
		}
		if r.State != hq.RolloutRunning {
			_, err := tx.Exec(ctx, `UPDATE meta SET active = 0`)
			return err
		}
		c, err := countWave(ctx, tx, r.ID, r.Current, r.Version)
		if err != nil {
			return err
		}
		if !hq.WaveIsDue(r, c, now) {
			return nil
		}
		n := 0
		if hq.EndWave(r, c, now) {
			rows, err := tx.Query(ctx, `UPDATE devices d SET released = d.staged
				FROM wave_devices w
				WHERE w.rollout = $1 AND w.wave = $2 AND w.device = d.id AND (d.staged->>'rollout')::bigint = $1
				RETURNING d.id`, int64(r.ID), r.Current)
			if err != nil {
				return fmt.Errorf("release wave %d: %w", r.Current+1, err)
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return fmt.Errorf("release wave %d: %w", r.Current+1, err)
			}
			n = len(ids)
			if err := gcBundles(ctx, tx, ids); err != nil {
				return err
			}
			if err := bumpGen(ctx, tx); err != nil {
				return err
			}
		} else if _, err := tx.Exec(ctx, `UPDATE meta SET active = 0`); err != nil {
			return err
		}
		event = hq.WaveEvent(r, c, n)
		return putRollout(ctx, tx, r)
	})
	if err != nil {
		return "", fmt.Errorf("rollout step: %w", err)
	}
	return event, nil
}

// Status implements hq.Backend.
func (b *Backend) Status(ctx context.Context, rollouts int) (*hq.Status, error) {
	st := &hq.Status{}
	err := b.txOpts(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		*st = hq.Status{}
		var raw []byte
		var version int64
		if err := tx.QueryRow(ctx, `SELECT settings, version FROM meta`).Scan(&raw, &version); err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &st.Settings); err != nil {
			return fmt.Errorf("settings: %w", err)
		}
		st.Version = uint64(version)
		rows, err := tx.Query(ctx, `SELECT d.record, d.staged, d.released, r.report, s.at_ns
			FROM devices d LEFT JOIN reports r ON r.device = d.id LEFT JOIN seen s ON s.device = d.id ORDER BY d.id`)
		if err != nil {
			return err
		}
		var rec, staged, released, rep []byte
		var at *int64
		if _, err := pgx.ForEachRow(rows, []any{&rec, &staged, &released, &rep, &at}, func() error {
			var d hq.Device
			if err := json.Unmarshal(rec, &d); err != nil {
				return fmt.Errorf("device record: %w", err)
			}
			ds := hq.DeviceStatus{ID: d.ID, Store: d.Store, Region: d.Region, Group: d.Group, Fingerprint: d.Fingerprint}
			for _, x := range []struct {
				raw []byte
				dst **hq.BundleRef
			}{{staged, &ds.Staged}, {released, &ds.Served}} {
				if x.raw != nil {
					*x.dst = new(hq.BundleRef)
					if err := json.Unmarshal(x.raw, *x.dst); err != nil {
						return fmt.Errorf("device %s: %w", d.ID, err)
					}
				}
			}
			if rep != nil {
				ds.Report = new(hq.Report)
				if err := json.Unmarshal(rep, ds.Report); err != nil {
					return fmt.Errorf("device %s: report: %w", d.ID, err)
				}
			}
			if at != nil {
				ds.LastSeen = time.Unix(0, *at).UTC()
			}
			st.Devices = append(st.Devices, ds)
			return nil
		}); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT body FROM rollouts ORDER BY id DESC LIMIT $1`, rollouts)
		if err != nil {
			return err
		}
		bodies, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
		if err != nil {
			return err
		}
		for _, body := range bodies {
			var rs hq.RolloutStatus
			if err := json.Unmarshal(body, &rs.Rollout); err != nil {
				return fmt.Errorf("rollout: %w", err)
			}
			if w := rs.Waves[rs.Current]; w.Counts != nil {
				rs.Live = *w.Counts
			} else if rs.Live, err = countWave(ctx, tx, rs.ID, rs.Current, rs.Version); err != nil {
				return err
			}
			st.Rollouts = append(st.Rollouts, rs)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: status: %w", err)
	}
	return st, nil
}
