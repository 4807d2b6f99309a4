package queue

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"
)

func TestComplianceKeptAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s := openTest(t, path, Options{})
	ctx := context.Background()
	if _, ok, err := s.Compliance("msfx"); ok || err != nil {
		t.Fatalf("fresh file: ok=%v err=%v", ok, err)
	}
	at := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	rec := ComplianceRecord{Dest: "msfx", At: at, Figs: json.RawMessage(`{"service":{"end_date":"2027-01-01"}}`),
		KeyVarieties: []string{"P1", "P2"}, KeyVersion: "v7"}
	if err := s.SaveCompliance(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveCompliance(ctx, ComplianceRecord{}); err == nil {
		t.Error("a record without a destination was kept")
	}
	s.Close()
	s = openTest(t, path, Options{})
	defer s.Close()
	got, ok, err := s.Compliance("msfx")
	if err != nil || !ok || !got.At.Equal(at) || got.KeyVersion != "v7" || len(got.KeyVarieties) != 2 ||
		string(got.Figs) != string(rec.Figs) {
		t.Fatalf("after reopen: %+v ok=%v err=%v", got, ok, err)
	}
	if _, ok, _ := s.Compliance("nhsa"); ok {
		t.Error("nhsa has no record")
	}
}

func TestPruneReconcileKeepsNewestPerDest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s := openTest(t, path, Options{})
	defer s.Close()
	ctx := context.Background()
	day := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	// nhsa: three old runs; msfx: one old run (its newest, kept).
	for i, r := range []ReconcileRun{{Dest: "nhsa", At: day}, {Dest: "msfx", At: day}, {Dest: "nhsa", At: day.AddDate(0, 0, 1)},
		{Dest: "nhsa", At: day.AddDate(0, 0, 100)}} {
		if _, err := s.SaveReconcile(ctx, r); err != nil {
			t.Fatalf("save %d: %v", i, err)
		}
	}
	n, err := s.PruneReconcile(ctx, day.AddDate(0, 0, 50))
	if err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want 2", n, err)
	}
	runs, _ := s.ReconcileRuns(0)
	if len(runs) != 2 || runs[0].Seq != 4 || runs[1].Seq != 2 {
		t.Fatalf("left %+v", runs)
	}
	if n, _ := s.PruneReconcile(ctx, day.AddDate(1, 0, 0)); n != 0 {
		t.Errorf("the newest run of each back end went: %d", n)
	}
}
