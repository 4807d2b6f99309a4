package pgstore_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/fleet/hq"
	"github.com/pda-agent/pda-agent/fleet/hq/pgstore"
	"github.com/pda-agent/pda-agent/fleet/hq/pgstore/pgtest"
	"github.com/pda-agent/pda-agent/fleet/hq/protocol"
	"github.com/pda-agent/pda-agent/fleet/hq/storetest"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// migrated creates a database, migrates it and returns its DSN.
func migrated(t *testing.T, c *pgtest.Cluster) string {
	t.Helper()
	dsn := c.NewDB(t)
	pool, err := pgstore.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pgstore.Migrate(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	return dsn
}

func openPG(t *testing.T, dsn string, now func() time.Time) *hq.Store {
	t.Helper()
	b, err := pgstore.Open(context.Background(), dsn, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return hq.New(b, hq.Options{Now: now, Logger: quiet()})
}

// TestPostgres runs everything against one throw-away cluster (initdb
// costs seconds), a fresh database per test.
func TestPostgres(t *testing.T) {
	c := pgtest.Start(t)

	t.Run("Migrate", func(t *testing.T) {
		dsn := c.NewDB(t)
		if _, err := pgstore.Open(context.Background(), dsn, quiet()); err == nil {
			t.Fatal("Open on an unmigrated database succeeded")
		}
		pool, err := pgstore.Connect(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		// Two replicas migrating at once: each version applied once.
		var wg sync.WaitGroup
		results := make([][]string, 4)
		errs := make([]error, 4)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = pgstore.Migrate(context.Background(), pool)
			}()
		}
		wg.Wait()
		applied := 0
		for i, err := range errs {
			if err != nil {
				t.Fatalf("migrate %d: %v", i, err)
			}
			applied += len(results[i])
		}
		var n int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if applied != n || n == 0 {
			t.Fatalf("%d migrations applied by concurrent runs, %d recorded", applied, n)
		}
		if again, err := pgstore.Migrate(context.Background(), pool); err != nil || len(again) != 0 {
			t.Fatalf("migrate on a current database: %v %v", again, err)
		}
		if _, err := pgstore.Open(context.Background(), dsn, quiet()); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Conformance", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T, now func() time.Time) *hq.Store {
			return openPG(t, migrated(t, c), now)
		})
	})

	t.Run("FromBolt", func(t *testing.T) {
		devices := map[string]string{"P1": "S1", "P2": "S2", "P3": "S3"}
		f := storetest.NewFleet(t, func(t *testing.T, now func() time.Time) *hq.Store {
			st, err := hq.Open(filepath.Join(t.TempDir(), "hq.db"), hq.Options{Create: true, Now: now, Logger: quiet()})
			if err != nil {
				t.Fatal(err)
			}
			return st
		}, devices)
		// A catalogue object moves with the chain.
		if err := os.MkdirAll(filepath.Join(f.Tree, "catalogue"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(f.Tree, "catalogue", "products.csv"), []byte("code,name\n1,x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		res := f.Publish(t, hq.PublishOptions{Stores: []string{"S1"}})
		f.Report(t, protocol.StateApplying, res.Version, "P1")
		want := storetest.ChainJSON(t, f.St)
		chain, err := f.St.Dump(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(chain.Catalogues) != 1 {
			t.Fatalf("bbolt dump has %d catalogue objects, want 1", len(chain.Catalogues))
		}
		pg := openPG(t, migrated(t, c), f.Clk.Now)
		if err := pg.Load(context.Background(), chain); err != nil {
			t.Fatal(err)
		}
		if got := storetest.ChainJSON(t, pg); !bytes.Equal(got, want) {
			t.Fatalf("bbolt → PostgreSQL differs:\n%s\nwant\n%s", got, want)
		}
		// And back: PostgreSQL → a new bbolt file is the same chain.
		back, err := hq.Open(filepath.Join(t.TempDir(), "back.db"), hq.Options{Create: true, Now: f.Clk.Now, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		c2, err := pg.Dump(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := back.Load(context.Background(), c2); err != nil {
			t.Fatal(err)
		}
		if got := storetest.ChainJSON(t, back); !bytes.Equal(got, want) {
			t.Fatalf("PostgreSQL → bbolt differs:\n%s\nwant\n%s", got, want)
		}
	})

	t.Run("Replicas", func(t *testing.T) { testReplicas(t, c) })
	t.Run("Batching", func(t *testing.T) { testBatching(t, c) })
}
