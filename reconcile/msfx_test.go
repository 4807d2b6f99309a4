package reconcile

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/msfx"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// fakeMSFX holds bills by bill_code, as the platform would.
type fakeMSFX struct {
	held   map[string][]string // bill_code → codes (nil: present, codes not returned)
	listed []string
	asked  []string
}

func (f *fakeMSFX) SentParts(b queue.Bill, items []queue.Item, _ string) ([]msfx.SentPart, error) {
	if b.Code == "BAD" {
		return nil, errors.New("bill BAD: no method")
	}
	var codes []string
	for _, it := range items {
		codes = append(codes, it.Code)
	}
	return []msfx.SentPart{{BillCode: b.Code, Codes: codes}}, nil
}

func (f *fakeMSFX) QueryUpBillDetail(_ context.Context, code string) (*wire.BillDetail, bool, error) {
	f.asked = append(f.asked, code)
	codes, ok := f.held[code]
	if !ok {
		return nil, false, nil
	}
	line := wire.BillDetailLine{PhysicName: "x"}
	for _, c := range codes {
		line.Codes = append(line.Codes, wire.CodeAndParent{Code: wire.Str(c)})
	}
	return &wire.BillDetail{BillCode: wire.Str(code), Lines: wire.List[wire.BillDetailLine]{line}}, true, nil
}

func (f *fakeMSFX) SearchBills(context.Context, time.Time, time.Time) ([]msfx.SearchBillRow, error) {
	var out []msfx.SearchBillRow
	for _, c := range f.listed {
		out = append(out, msfx.SearchBillRow{BillCode: wire.Str(c)})
	}
	return out, nil
}

func bill(code string, codes ...string) Bill {
	b := Bill{Bill: queue.Bill{Code: code}}
	for _, c := range codes {
		b.Items = append(b.Items, queue.Item{Code: c})
	}
	return b
}

func TestMSFXFindsLostChangedAndForeignBills(t *testing.T) {
	f := &fakeMSFX{
		held: map[string][]string{
			"OK": {"c1"}, "CHG": {"c2", "c9"}, "NOCODES": nil, "TILL2": {"c7"}, "OLD_2": {"c8"},
		},
		listed: []string{"OK", "CHG", "NOCODES", "TILL2", "OLD_2"},
	}
	pauses := 0
	m := MSFX{Platform: f, Known: func(code string) bool { return code == "OLD" },
		Pause: func(context.Context) error { pauses++; return nil }}
	run, err := m.Reconcile(context.Background(), time.Now(), time.Now(),
		[]Bill{bill("OK", "c1"), bill("LOST", "c4"), bill("CHG", "c2", "c3"), bill("NOCODES", "c5"), bill("BAD", "c6")})
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ kind, row string }
	var got []key
	for _, fd := range run.Findings {
		got = append(got, key{fd.Kind, fd.Row})
	}
	want := []key{{CodesDiffer, "CHG"}, {Missing, "LOST"}, {UnknownHere, "TILL2"}}
	if !slices.Equal(got, want) {
		t.Errorf("findings %v, want %v", got, want)
	}
	if run.Bills != 4 || len(run.Skipped) != 2 || run.Records != 4 {
		t.Errorf("bills %d records %d skipped %q", run.Bills, run.Records, run.Skipped)
	}
	// Every request waited for the agent first: 5 lookups, 1 listing.
	if pauses != len(f.asked)+1 || slices.Contains(f.asked, "OLD_2") {
		t.Errorf("pauses %d, asked %v", pauses, f.asked)
	}
	stop := errors.New("stop")
	m.Pause = func(context.Context) error { return stop }
	if _, err := m.Reconcile(context.Background(), time.Now(), time.Now(), []Bill{bill("OK", "c1")}); !errors.Is(err, stop) {
		t.Errorf("a pause that gives up: %v", err)
	}
}
