package reconcile

import (
	"bytes"
	"context"
	"encoding/csv"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/queue"
)

func TestCompareRows(t *testing.T) {
	sent := map[string]sentRow{
		"R1": {bill: "B1", codes: []string{"c1", "c2"}},
		"R2": {bill: "B1", codes: []string{"c3"}},
		"R3": {bill: "B2", codes: []string{"c4", "c5"}},
	}
	platform := map[string][]string{
		"R1": {"c2", "c1"}, // same codes, other order: no finding
		"R3": {"c4", "c9"},
		"X1": {"c7"},
	}
	got := compareRows(sent, platform)
	want := []queue.ReconcileFinding{
		{Kind: Missing, Bill: "B1", Row: "R2", Local: []string{"c3"}},
		{Kind: CodesDiffer, Bill: "B2", Row: "R3", Local: []string{"c4", "c5"}, Platform: []string{"c4", "c9"}},
		{Kind: UnknownHere, Row: "X1", Platform: []string{"c7"}},
	}
	if len(got) != len(want) {
		t.Fatalf("findings %+v", got)
	}
	for i := range want {
		g := got[i]
		if g.Detail == "" {
			t.Errorf("finding %d has no detail", i)
		}
		g.Detail = ""
		if !reflect.DeepEqual(g, want[i]) {
			t.Errorf("finding %d: %+v, want %+v", i, g, want[i])
		}
	}
	if !strings.Contains(got[1].Detail, "holds c9") || !strings.Contains(got[1].Detail, "sent c5") {
		t.Errorf("codes_differ detail: %s", got[1].Detail)
	}
	if f := compareRows(map[string]sentRow{"R1": {bill: "B", codes: []string{"a"}}}, map[string][]string{"R1": {"a"}}); len(f) != 0 {
		t.Errorf("identical: %+v", f)
	}
}

// fakeBackend records the bills it was given and finds nothing.
type fakeBackend struct {
	got     []string
	refused []map[string]bool
}

func (f *fakeBackend) Name() string { return "nhsa" }
func (f *fakeBackend) Reconcile(_ context.Context, _, _ time.Time, bills []Bill) (queue.ReconcileRun, error) {
	for _, b := range bills {
		f.got = append(f.got, b.Bill.Code)
		f.refused = append(f.refused, b.Refused)
	}
	return queue.ReconcileRun{Bills: len(bills), Findings: []queue.ReconcileFinding{{Kind: Missing, Bill: "x", Row: "r", Local: []string{"c"}, Detail: "d,\"q\""}}}, nil
}

func TestRunSelectsDeliveredBillsOfThePeriod(t *testing.T) {
	now := time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC) // 10:00 UTC+8
	clock := now
	s, err := queue.Open(filepath.Join(t.TempDir(), "q.db"), queue.Options{BillPrefix: "R1", Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	route := func(queue.Bill) []string { return []string{"nhsa"} }
	finish := func(session, code string) queue.Bill {
		if _, _, err := s.OpenSession(ctx, queue.SessionSpec{Session: session, Type: 102}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Scan(ctx, queue.ScanInput{Session: session, Code: code, Key: code, Kind: "msfx20", Product: code[:7]}); err != nil {
			t.Fatal(err)
		}
		b, err := s.Finish(ctx, session, route)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	clock = now.AddDate(0, 0, -3)
	finish("a", "81012350000000000001") // before the period
	clock = now
	delivered := finish("b", "81012350000000000002")
	pending := finish("c", "81012350000000000003")
	ls, err := s.Lease(ctx, "nhsa", 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.Bill.ID == delivered.ID {
			if err := s.Ack(ctx, l.Bill.ID, "nhsa", queue.AckInfo{Ref: "ok", CodeErrors: map[string]string{"81012350000000000002": "不合格"}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	f := &fakeBackend{}
	run, err := Run(ctx, s, f, now.AddDate(0, 0, -1), now)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.got, []string{delivered.Code}) || len(run.Skipped) != 1 || !strings.Contains(run.Skipped[0], pending.Code) {
		t.Fatalf("compared %v, skipped %v", f.got, run.Skipped)
	}
	if len(f.refused) != 1 || !f.refused[0]["81012350000000000002"] || len(f.refused[0]) != 1 {
		t.Errorf("refused codes %v", f.refused)
	}
	if run.Seq != 1 || run.Dest != "nhsa" || run.From.Format("2006-01-02") != "2026-12-06" {
		t.Errorf("run %+v", run)
	}
	if kept, _ := s.ReconcileRuns(0); len(kept) != 1 || kept[0].Findings[0].Kind != Missing {
		t.Errorf("kept %+v", kept)
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, run); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 2 || rows[1][1] != Missing || rows[1][6] != `d,"q"` {
		t.Errorf("csv %q %v", rows, err)
	}
	buf.Reset()
	_ = WriteReport(&buf, run)
	if !strings.Contains(buf.String(), "1 difference(s)") || !strings.Contains(buf.String(), "skipped: "+pending.Code) {
		t.Errorf("report:\n%s", buf.String())
	}
}

// TestRefusedCodesAreNoFinding: codes the back end refused when it took
// the bill are not expected on the platform; anything else still is.
func TestRefusedCodesAreNoFinding(t *testing.T) {
	refused := map[string]bool{"c2": true, "c5": true}
	sent := map[string]sentRow{
		"R1": {bill: "B1", codes: []string{"c1", "c2"}, refused: refused}, // the platform holds c1: as expected
		"R2": {bill: "B1", codes: []string{"c5"}, refused: refused},       // wholly refused, not there: known
		"R3": {bill: "B2", codes: []string{"c3"}, refused: refused},       // not refused, not there: missing
		"R4": {bill: "B2", codes: []string{"c4", "c2"}, refused: refused}, // holds c9 instead of c4: differs
	}
	platform := map[string][]string{"R1": {"c1"}, "R4": {"c9"}}
	got := compareRows(sent, platform)
	if len(got) != 2 || got[0].Kind != Missing || got[0].Row != "R3" || got[1].Kind != CodesDiffer || got[1].Row != "R4" ||
		strings.Join(got[1].Local, ",") != "c4" {
		t.Errorf("findings %+v", got)
	}
}
