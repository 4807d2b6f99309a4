package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

func TestReconcileRunsKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s := openTest(t, path, Options{})
	ctx := context.Background()
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i, dest := range []string{"nhsa", "nhsa", "msfx"} {
		run, err := s.SaveReconcile(ctx, ReconcileRun{Dest: dest, From: from, To: from.AddDate(0, 0, i), Bills: i,
			Findings: []ReconcileFinding{{Kind: "missing_on_platform", Bill: "B", Row: "R", Local: []string{"c"}, Detail: "d"}}})
		if err != nil || run.Seq != uint64(i+1) || run.At.IsZero() {
			t.Fatalf("save %d: %+v %v", i, run, err)
		}
	}
	s.Close()
	s = openTest(t, path, Options{})
	defer s.Close()
	runs, err := s.ReconcileRuns(2)
	if err != nil || len(runs) != 2 || runs[0].Dest != "msfx" || runs[1].Seq != 2 || runs[1].Findings[0].Local[0] != "c" {
		t.Fatalf("runs %+v %v", runs, err)
	}
	if all, _ := s.ReconcileRuns(0); len(all) != 3 {
		t.Errorf("all runs: %d", len(all))
	}
}
