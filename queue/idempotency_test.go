package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestIdempotencyRecords(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	path := filepath.Join(t.TempDir(), "q.db")
	s := openTest(t, path, testOptions(c))
	if _, ok, err := s.Idempotent("k1"); ok || err != nil {
		t.Fatalf("unknown key: %v %v", ok, err)
	}
	rec := IdemRecord{Scope: "POST /v1/bills", Digest: "d1", Status: 201, Body: []byte(`{"bill_code":"T01-1"}`)}
	if err := s.RememberIdempotent(ctx, "k1", rec); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Idempotent("k1")
	if err != nil || !ok || got.Scope != rec.Scope || got.Digest != "d1" || got.Status != 201 || string(got.Body) != string(rec.Body) || !got.At.Equal(c.Now()) {
		t.Fatalf("k1: %+v %v %v", got, ok, err)
	}
	// Durable: a reopened queue still answers it.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, testOptions(c))
	if _, ok, _ := s.Idempotent("k1"); !ok {
		t.Fatal("k1 lost by a restart")
	}
	// Expired records are not answered, and the next prune deletes them.
	c.Add(IdemRetention + time.Minute)
	if _, ok, _ := s.Idempotent("k1"); ok {
		t.Fatal("k1 answered after its retention")
	}
	if err := s.RememberIdempotent(ctx, "k2", rec); err != nil {
		t.Fatal(err)
	}
	count := func() (n int) {
		s.db.View(func(tx *bolt.Tx) error { n = tx.Bucket(bktIdem).Stats().KeyN; return nil })
		return n
	}
	if n := count(); n != 1 {
		t.Fatalf("%d records after pruning, want 1 (k2)", n)
	}
	// Over the cap the oldest go first.
	for i, k := range []string{"k3", "k4"} {
		c.Add(time.Second)
		if err := s.RememberIdempotent(ctx, k, rec); err != nil {
			t.Fatal(i, err)
		}
	}
	if _, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		return nil, pruneIdem(w, w.tx.Bucket(bktIdem), c.Now(), 2)
	}); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]bool{"k2": false, "k3": true, "k4": true} {
		if _, ok, _ := s.Idempotent(k); ok != want {
			t.Errorf("%s kept=%v, want %v", k, ok, want)
		}
	}
}
