package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 27, 9, 30, 0, 0, chinaTime)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testOptions(c *clock) Options {
	return Options{BillPrefix: "T01", Now: c.Now, Logger: quietLogger(), CheckOnOpen: true}
}

func openTest(t *testing.T, path string, o Options) *Store {
	t.Helper()
	s, err := Open(path, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// msfx makes a distinct 20-digit 码上放心-style code.
func msfx(n int) string { return fmt.Sprintf("8101235%013d", n) }

func scanIn(session, code string) ScanInput {
	return ScanInput{Session: session, Source: "test", Raw: code, Code: code, Key: code, Kind: "msfx20", Product: code[:7]}
}

func mustScan(t *testing.T, s *Store, in ScanInput, want Outcome) ScanResult {
	t.Helper()
	r, err := s.Scan(context.Background(), in)
	if err != nil {
		t.Fatalf("Scan %s: %v", in.Code, err)
	}
	if r.Outcome != want {
		t.Fatalf("Scan %s: outcome %s (%s: %s), want %s", in.Code, r.Outcome, r.Reason, r.Message, want)
	}
	return r
}

func mustOpenSession(t *testing.T, s *Store, session string, typ int) Bill {
	t.Helper()
	b, _, err := s.OpenSession(context.Background(), SessionSpec{Session: session, Type: typ, Device: "T01"})
	if err != nil {
		t.Fatalf("OpenSession: %v", err)
	}
	return b
}

func TestScanLedgerRules(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"), testOptions(c))

	// No session and no auto-open: refused, but journaled.
	r := mustScan(t, s, scanIn("counter", msfx(1)), Rejected)
	if r.Reason != ReasonNoSession {
		t.Fatalf("reason %q, want %q", r.Reason, ReasonNoSession)
	}

	// Receive 3 packs; a second scan of one is a duplicate.
	recv := mustOpenSession(t, s, "counter", 102)
	for i := 1; i <= 3; i++ {
		mustScan(t, s, scanIn("counter", msfx(i)), Accepted)
	}
	mustScan(t, s, scanIn("counter", msfx(2)), Duplicate)
	if _, err := s.Finish(ctx, "counter", To("msfx")); err != nil {
		t.Fatal(err)
	}
	// Receiving again a pack in stock is refused.
	mustOpenSession(t, s, "counter", 102)
	if r := mustScan(t, s, scanIn("counter", msfx(1)), Rejected); r.Reason != ReasonAlreadyReceived {
		t.Fatalf("reason %q", r.Reason)
	}
	if _, err := s.Cancel(ctx, "counter", "test"); err != nil {
		t.Fatal(err)
	}

	// Sell pack 1, then try to sell it again in another sale.
	auto := &SessionSpec{Type: 321, Device: "T01"}
	in := scanIn("till", msfx(1))
	in.AutoOpen = auto
	sale := mustScan(t, s, in, Accepted).Bill
	if sale.State != BillOpen || sale.Type != 321 || sale.ID == recv.ID {
		t.Fatalf("auto-opened bill %+v", sale)
	}
	if _, err := s.Finish(ctx, "till", nil); err != nil {
		t.Fatal(err)
	}
	in.AutoOpen = auto
	r = mustScan(t, s, in, Rejected)
	if r.Reason != ReasonAlreadySold || !strings.Contains(r.Message, sale.Code) {
		t.Fatalf("resale: %s %q", r.Reason, r.Message)
	}
	// The second sale stays open with no codes; cancel it.
	if _, err := s.Cancel(ctx, "till", "empty"); err != nil {
		t.Fatal(err)
	}

	// A customer return of a pack never sold is refused; of pack 1 accepted.
	mustOpenSession(t, s, "till", 116)
	if r := mustScan(t, s, scanIn("till", msfx(2)), Rejected); r.Reason != ReasonNotSold {
		t.Fatalf("return of unsold: %s", r.Reason)
	}
	mustScan(t, s, scanIn("till", msfx(1)), Accepted)
	if _, err := s.Finish(ctx, "till", nil); err != nil {
		t.Fatal(err)
	}
	// After the return it may be sold again.
	in.AutoOpen = auto
	mustScan(t, s, in, Accepted)

	// Cancel releases the codes of the cancelled bill only.
	if _, err := s.Cancel(ctx, "till", "customer left"); err != nil {
		t.Fatal(err)
	}
	e, ok, err := s.Ledger(msfx(1))
	if err != nil || !ok {
		t.Fatalf("ledger: %v %v", ok, err)
	}
	var actions []string
	for _, ev := range e.Events {
		actions = append(actions, string(ev.Action))
	}
	if got := strings.Join(actions, ","); got != "received,sold,returned" {
		t.Fatalf("ledger history %s", got)
	}

	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"accepted": 6, "duplicate": 1, "rejected:no_session": 1, "rejected:already_received": 1, "rejected:already_sold": 1, "rejected:not_sold": 1}
	for k, v := range want {
		if st.Scans[k] != v {
			t.Errorf("scan count %s = %d, want %d (all %v)", k, st.Scans[k], v, st.Scans)
		}
	}
}

func TestSplitSales(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"), testOptions(c))
	code := msfx(7)
	split := func(session string, units, pack int, want Outcome) ScanResult {
		t.Helper()
		in := scanIn(session, code)
		in.Units, in.PackUnits = units, pack
		in.AutoOpen = &SessionSpec{Type: 321}
		return mustScan(t, s, in, want)
	}
	// A product without units per pack cannot be sold split.
	if r := split("a", 2, 0, Rejected); r.Reason != ReasonNotSplittable {
		t.Fatalf("%+v", r)
	}
	r := split("a", 2, 24, Accepted)
	if !r.Item.Opened || r.Item.Units != 2 || !strings.Contains(r.Message, "22 of 24") {
		t.Fatalf("opening sale %+v", r)
	}
	split("a", 2, 24, Duplicate) // the same pack twice on one sale
	if _, err := s.Finish(ctx, "a", nil); err != nil {
		t.Fatal(err)
	}
	r = split("b", 3, 24, Accepted)
	if r.Item.Opened || r.Item.Ref == "" {
		t.Fatalf("second split sale %+v", r)
	}
	if _, err := s.Finish(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	// Whole-pack sale of an opened pack, or more units than are left: no.
	if r := mustScan(t, s, ScanInput{Session: "c", Code: code, Key: code, AutoOpen: &SessionSpec{Type: 321}}, Rejected); r.Reason != ReasonOpenedPack {
		t.Fatalf("whole sale of an opened pack: %+v", r)
	}
	if r := split("c", 20, 24, Rejected); r.Reason != ReasonNotEnoughUnits || !strings.Contains(r.Message, "19") {
		t.Fatalf("too many units: %+v", r)
	}
	// A cancelled split sale gives its units back.
	split("c", 4, 24, Accepted)
	if _, err := s.Cancel(ctx, "c", "changed mind"); err != nil {
		t.Fatal(err)
	}
	e, _, _ := s.Ledger(code)
	if e.Remaining != 19 || e.PackUnits != 24 {
		t.Fatalf("after cancel: %+v", e)
	}
	split("d", 19, 24, Accepted)
	if e, _, _ := s.Ledger(code); e.Remaining != 0 {
		t.Fatalf("emptied pack: %+v", e)
	}
	if r := split("d2", 1, 24, Rejected); r.Reason != ReasonNotEnoughUnits {
		t.Fatalf("empty pack: %+v", r)
	}
}

func TestItemLotRefAttrsSequence(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	path := filepath.Join(t.TempDir(), "q.db")
	s, err := Open(path, testOptions(c))
	if err != nil {
		t.Fatal(err)
	}
	code := "0104012345000016" + "21SER1"
	in := ScanInput{Session: "r", Code: code, Key: code, Kind: "gs1", Lot: "L1", Expiry: "2028-12-31", Produced: "2026-01-01"}
	recv, _, err := s.OpenSession(ctx, SessionSpec{Session: "r", Type: 102, Attrs: map[string]string{"dynt_no": "SH-1"}})
	if err != nil || recv.Attrs["dynt_no"] != "SH-1" {
		t.Fatalf("open: %+v %v", recv, err)
	}
	mustScan(t, s, in, Accepted)
	if _, err := s.Finish(ctx, "r", nil); err != nil {
		t.Fatal(err)
	}
	// The sale scan carries no lot; the item gets it from the ledger.
	sale := ScanInput{Session: "t", Code: code, Key: code, Kind: "gs1", AutoOpen: &SessionSpec{Type: 321}}
	item := mustScan(t, s, sale, Accepted).Item
	if item.Lot != "L1" || item.Expiry != "2028-12-31" || item.Produced != "2026-01-01" || item.Ref != recv.Code {
		t.Fatalf("sale item %+v", item)
	}
	b, err := s.SetAttrs(ctx, "t", map[string]string{"nhsa.setl_id": "S1", "nhsa.psn_no": "P1"})
	if err != nil || b.Attrs["nhsa.setl_id"] != "S1" {
		t.Fatalf("attrs %+v %v", b, err)
	}
	if b, _ = s.SetAttrs(ctx, "t", map[string]string{"nhsa.psn_no": ""}); len(b.Attrs) != 1 {
		t.Fatalf("attr delete %+v", b.Attrs)
	}
	if _, err := s.SetAttrs(ctx, "nobody", map[string]string{"a": "b"}); !errors.Is(err, ErrNoSession) {
		t.Fatalf("attrs without a bill: %v", err)
	}
	saleBill, err := s.Finish(ctx, "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	ret := ScanInput{Session: "u", Code: code, Key: code, Kind: "gs1", AutoOpen: &SessionSpec{Type: 116}}
	if item := mustScan(t, s, ret, Accepted).Item; item.Ref != saleBill.Code {
		t.Fatalf("return item ref %q, want %q", item.Ref, saleBill.Code)
	}
	for want := uint64(1); want <= 3; want++ {
		if n, err := s.NextSequence(ctx, "msgid"); err != nil || n != want {
			t.Fatalf("sequence %d %v", n, err)
		}
	}
	s.Close()
	s = openTest(t, path, testOptions(c))
	if n, _ := s.NextSequence(ctx, "msgid"); n != 4 {
		t.Fatalf("sequence after restart %d", n)
	}
}

func TestSessionRules(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"), testOptions(c))

	b1 := mustOpenSession(t, s, "a", 321)
	b2, created, err := s.OpenSession(ctx, SessionSpec{Session: "a", Type: 321})
	if err != nil || created || b2.ID != b1.ID {
		t.Fatalf("reopen same type: %v %v %v", b2.ID, created, err)
	}
	if _, _, err := s.OpenSession(ctx, SessionSpec{Session: "a", Type: 102}); !errors.Is(err, ErrSessionBusy) {
		t.Fatalf("different type: %v", err)
	}
	if _, err := s.Finish(ctx, "a", To("x")); !errors.Is(err, ErrEmptyBill) {
		t.Fatalf("finish empty: %v", err)
	}
	if _, err := s.Finish(ctx, "nobody", nil); !errors.Is(err, ErrNoSession) {
		t.Fatalf("finish without session: %v", err)
	}
	if _, _, err := s.OpenSession(ctx, SessionSpec{Session: "b", Type: 999}); err == nil {
		t.Fatal("unknown bill type accepted")
	}
	if _, err := s.Scan(ctx, ScanInput{Session: "a"}); err == nil {
		t.Fatal("scan without code accepted")
	}
}

func TestBillCodes(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	path := filepath.Join(t.TempDir(), "q.db")
	s, err := Open(path, testOptions(c))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := 0; i < 3; i++ {
		b := mustOpenSession(t, s, "s", 321)
		mustScan(t, s, scanIn("s", msfx(100+i)), Accepted)
		if _, err := s.Finish(ctx, "s", nil); err != nil {
			t.Fatal(err)
		}
		seen[b.Code] = true
	}
	for _, want := range []string{"T01-261127-00001", "T01-261127-00002", "T01-261127-00003"} {
		if !seen[want] {
			t.Errorf("missing bill code %s in %v", want, seen)
		}
	}
	// The counter survives a restart and restarts the next (China) day.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, testOptions(c))
	if b := mustOpenSession(t, s, "s", 321); b.Code != "T01-261127-00004" {
		t.Fatalf("after restart: %s", b.Code)
	}
	if _, err := s.Cancel(ctx, "s", ""); err != nil {
		t.Fatal(err)
	}
	c.Add(15 * time.Hour) // 00:30 next day in UTC+8
	if b := mustOpenSession(t, s, "s", 321); b.Code != "T01-261128-00001" {
		t.Fatalf("next day: %s", b.Code)
	}
}

// finishedBill makes a finished bill with n codes delivered to dests.
func finishedBill(t *testing.T, s *Store, session string, first, n int, dests ...string) Bill {
	t.Helper()
	mustOpenSession(t, s, session, 102)
	for i := 0; i < n; i++ {
		mustScan(t, s, scanIn(session, msfx(first+i)), Accepted)
	}
	b, err := s.Finish(context.Background(), session, To(dests...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLeaseAckNackDead(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	var dueMu sync.Mutex
	dueSeen := map[string]int{}
	o := testOptions(c)
	o.OnDue = func(d string) { dueMu.Lock(); dueSeen[d]++; dueMu.Unlock() }
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"), o)

	b1 := finishedBill(t, s, "s", 1, 2, "msfx", "nhsa")
	c.Add(time.Second)
	b2 := finishedBill(t, s, "s", 10, 1, "msfx")
	dueMu.Lock()
	msfxDue, nhsaDue := dueSeen["msfx"], dueSeen["nhsa"]
	dueMu.Unlock()
	if msfxDue != 2 || nhsaDue != 1 {
		t.Fatalf("OnDue calls msfx %d nhsa %d", msfxDue, nhsaDue)
	}

	// Each destination leases its own deliveries, oldest first, with items.
	ls, err := s.Lease(ctx, "msfx", 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || ls[0].Bill.ID != b1.ID || ls[1].Bill.ID != b2.ID {
		t.Fatalf("leases %+v", ls)
	}
	if len(ls[0].Items) != 2 || ls[0].Items[0].Code != msfx(1) || ls[0].Unknown || ls[0].Delivery.Attempts != 1 {
		t.Fatalf("lease 0 %+v", ls[0])
	}
	if again, _ := s.Lease(ctx, "msfx", 10, time.Minute); len(again) != 0 {
		t.Fatalf("leased twice: %d", len(again))
	}

	// Nack b1 for 30 s; dead-letter b2.
	if err := s.Nack(ctx, b1.ID, "msfx", ls[0].Delivery.Lease, Retry{At: c.Now().Add(30 * time.Second), Error: "HTTP 503"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Dead(ctx, b2.ID, "msfx", ls[1].Delivery.Lease, "isv.invalid-parameter: 非法参数", ""); err != nil {
		t.Fatal(err)
	}
	// A second answer on the same lease is stale.
	if err := s.Nack(ctx, b1.ID, "msfx", ls[0].Delivery.Lease, Retry{At: c.Now(), Error: "late"}); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("stale nack: %v", err)
	}
	next, ok, err := s.NextDue("msfx")
	if err != nil || !ok || !next.Equal(c.Now().Add(30*time.Second)) {
		t.Fatalf("NextDue %v %v %v", next, ok, err)
	}
	if ls, _ := s.Lease(ctx, "msfx", 10, time.Minute); len(ls) != 0 {
		t.Fatal("leased before retry time")
	}
	c.Add(31 * time.Second)
	ls, err = s.Lease(ctx, "msfx", 10, time.Minute)
	if err != nil || len(ls) != 1 || ls[0].Delivery.Attempts != 2 || ls[0].Delivery.LastError != "HTTP 503" {
		t.Fatalf("retry lease %+v %v", ls, err)
	}
	if err := s.Ack(ctx, b1.ID, "msfx", AckInfo{Ref: "req-1"}); err != nil {
		t.Fatal(err)
	}
	// Ack is idempotent.
	if err := s.Ack(ctx, b1.ID, "msfx", AckInfo{Ref: "req-1"}); err != nil {
		t.Fatal(err)
	}

	dl, err := s.DeadLetters()
	if err != nil || len(dl) != 1 || dl[0].BillCode != b2.Code || !strings.Contains(dl[0].Reason, "非法参数") {
		t.Fatalf("dead letters %+v %v", dl, err)
	}
	st, _ := s.Stats()
	if m := st.Dests["msfx"]; m.Pending != 0 || m.Leased != 0 || m.Dead != 1 {
		t.Fatalf("msfx stats %+v", m)
	}
	if n := st.Dests["nhsa"]; n.Pending != 1 || !n.OldestPending.Equal(b1.FinishedAt) {
		t.Fatalf("nhsa stats %+v", n)
	}

	// Operator retry brings the dead letter back.
	if err := s.RetryDead(ctx, b2.ID, "msfx"); err != nil {
		t.Fatal(err)
	}
	ls, _ = s.Lease(ctx, "msfx", 10, time.Minute)
	if len(ls) != 1 || ls[0].Bill.ID != b2.ID {
		t.Fatalf("after RetryDead: %+v", ls)
	}
	if dl, _ := s.DeadLetters(); len(dl) != 0 {
		t.Fatalf("dead letter not removed: %+v", dl)
	}

	bill, _ := s.Bill(b1.ID)
	var whats []string
	for _, e := range bill.History {
		whats = append(whats, e.What)
	}
	if got := strings.Join(whats, ","); got != "created,finished,delivered" {
		t.Fatalf("history %s", got)
	}
}

func TestLeaseExpiryMarksUnknown(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"), testOptions(c))
	b := finishedBill(t, s, "s", 1, 1, "msfx")
	first, _ := s.Lease(ctx, "msfx", 1, 10*time.Second)
	c.Add(11 * time.Second)
	ls, err := s.Lease(ctx, "msfx", 1, 10*time.Second)
	if err != nil || len(ls) != 1 || !ls[0].Unknown || ls[0].Delivery.Attempts != 2 {
		t.Fatalf("expired lease: %+v %v", ls, err)
	}
	// The first lease's late nack cannot undo the second attempt.
	if err := s.Nack(ctx, b.ID, "msfx", first[0].Delivery.Lease, Retry{At: c.Now(), Error: "late"}); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("late nack: %v", err)
	}
	// A nack that may have reached the back end keeps Unknown for the next.
	if err := s.Nack(ctx, b.ID, "msfx", ls[0].Delivery.Lease, Retry{At: c.Now(), Error: "timeout after send", MaybeApplied: true}); err != nil {
		t.Fatal(err)
	}
	ls, _ = s.Lease(ctx, "msfx", 1, 10*time.Second)
	if len(ls) != 1 || !ls[0].Unknown {
		t.Fatalf("maybe-applied nack lost Unknown: %+v", ls)
	}
	if err := s.Nack(ctx, b.ID, "msfx", ls[0].Delivery.Lease, Retry{At: c.Now(), Error: "429"}); err != nil {
		t.Fatal(err)
	}
	ls, _ = s.Lease(ctx, "msfx", 1, 10*time.Second)
	if len(ls) != 1 || ls[0].Unknown {
		t.Fatalf("definite failure should clear Unknown: %+v", ls)
	}
}

// A destination's progress survives between attempts; a waiting retry is
// not a failure; partial success is recorded per code.
func TestProgressWaitAndCodeIssues(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"), testOptions(c))
	b := finishedBill(t, s, "s", 1, 3, "msfx")
	ls, _ := s.Lease(ctx, "msfx", 1, time.Minute)
	if err := s.Nack(ctx, b.ID, "msfx", ls[0].Delivery.Lease, Retry{At: c.Now().Add(time.Second), Error: "part 2: 503", Progress: `{"done":[1]}`}); err != nil {
		t.Fatal(err)
	}
	firstFailure := c.Now()
	c.Add(time.Second)
	// A second failure in a row: the streak still began at the first.
	ls, _ = s.Lease(ctx, "msfx", 1, time.Minute)
	if err := s.Nack(ctx, b.ID, "msfx", ls[0].Delivery.Lease, Retry{At: c.Now().Add(time.Second), Error: "part 2: 503 again", Progress: `{"done":[1]}`}); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Stats()
	if d := st.Dests["msfx"]; d.Failing != 1 || !d.FailingSince.Equal(firstFailure) {
		t.Fatalf("failing %+v, want failing since %v", d, firstFailure)
	}
	c.Add(time.Second)
	ls, _ = s.Lease(ctx, "msfx", 1, time.Minute)
	if len(ls) != 1 || ls[0].Delivery.Progress != `{"done":[1]}` || !ls[0].Delivery.FailingSince.Equal(firstFailure) {
		t.Fatalf("progress or failing-since lost: %+v", ls)
	}
	// Uploaded, the platform is still processing: wait, no failure.
	if err := s.Nack(ctx, b.ID, "msfx", ls[0].Delivery.Lease, Retry{At: c.Now().Add(30 * time.Second), Note: "polling processing status", Progress: `{"done":[1,2]}`}); err != nil {
		t.Fatal(err)
	}
	st, _ = s.Stats()
	if d := st.Dests["msfx"]; d.Failing != 0 || d.Pending != 1 || d.LastError != "" || !d.FailingSince.IsZero() {
		t.Fatalf("waiting counted as failing: %+v", d)
	}
	if ds, _ := s.Deliveries(b.ID); len(ds) != 1 || ds[0].Held || ds[0].Note != "polling processing status" {
		t.Fatalf("processing is not held: %+v", ds)
	}
	c.Add(30 * time.Second)
	// Held on the device for an earlier bill: said so, still no failure.
	ls, _ = s.Lease(ctx, "msfx", 1, time.Minute)
	if err := s.Nack(ctx, b.ID, "msfx", ls[0].Delivery.Lease, Retry{At: c.Now().Add(30 * time.Second), Note: "waiting for the earlier bill X", Held: true, Progress: `{"done":[1,2]}`}); err != nil {
		t.Fatal(err)
	}
	if ds, _ := s.Deliveries(b.ID); len(ds) != 1 || !ds[0].Held || ds[0].Failures != 0 || ds[0].LastError != "" {
		t.Fatalf("held: %+v", ds)
	}
	c.Add(30 * time.Second)
	if ls, _ = s.Lease(ctx, "msfx", 1, time.Minute); len(ls) != 1 || ls[0].Delivery.Failures != 0 {
		t.Fatalf("after waiting: %+v", ls)
	}
	if err := s.Ack(ctx, b.ID, "msfx", AckInfo{Ref: "Q1", Note: "处理成功", CodeErrors: map[string]string{msfx(2): "3: duplicate code", "8999": "unknown code"}}); err != nil {
		t.Fatal(err)
	}
	issues, err := s.CodeIssues(msfx(2))
	if err != nil || len(issues) != 1 || issues[0].BillCode != b.Code || issues[0].Reason != "3: duplicate code" {
		t.Fatalf("issues %+v %v", issues, err)
	}
	if other, _ := s.CodeIssues("8999"); len(other) != 1 {
		t.Fatalf("issue for a code not on the bill: %+v", other)
	}
	bill, _ := s.Bill(b.ID)
	if last := bill.History[len(bill.History)-1]; !strings.Contains(last.Detail, "2 code(s) not taken: "+msfx(2)+" 【3: duplicate code】, 8999 【unknown code】") || !strings.Contains(last.Detail, "处理成功") {
		t.Fatalf("history %+v", last)
	}
}

func TestRestartRecoversLeasesAndSessions(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	path := filepath.Join(t.TempDir(), "q.db")
	s, err := Open(path, testOptions(c))
	if err != nil {
		t.Fatal(err)
	}
	b := finishedBill(t, s, "s", 1, 2, "msfx")
	if ls, _ := s.Lease(ctx, "msfx", 5, time.Hour); len(ls) != 1 {
		t.Fatal("no lease")
	}
	open := mustOpenSession(t, s, "till", 321)
	mustScan(t, s, scanIn("till", msfx(50)), Accepted)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Scan(ctx, scanIn("till", msfx(51))); !errors.Is(err, ErrClosed) {
		t.Fatalf("scan after close: %v", err)
	}

	s = openTest(t, path, testOptions(c))
	// The leased delivery is due at once (not after the hour-long lease)
	// and flagged unknown.
	ls, err := s.Lease(ctx, "msfx", 5, time.Hour)
	if err != nil || len(ls) != 1 || ls[0].Bill.ID != b.ID || !ls[0].Unknown {
		t.Fatalf("after restart: %+v %v", ls, err)
	}
	// The open sale continues.
	got, ok, err := s.OpenBill("till")
	if err != nil || !ok || got.ID != open.ID || got.Items != 1 {
		t.Fatalf("open bill after restart: %+v %v %v", got, ok, err)
	}
	mustScan(t, s, scanIn("till", msfx(50)), Duplicate)
	mustScan(t, s, scanIn("till", msfx(51)), Accepted)
}

func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"), testOptions(c))
	const sessions, per = 16, 100
	for i := 0; i < sessions; i++ {
		mustOpenSession(t, s, fmt.Sprint("s", i), 102)
	}
	before := s.Commits()
	var wg sync.WaitGroup
	errs := make(chan error, sessions*per)
	for i := 0; i < sessions; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Each session sends its scans concurrently too.
			var inner sync.WaitGroup
			for j := 0; j < per; j++ {
				inner.Add(1)
				go func(j int) {
					defer inner.Done()
					r, err := s.Scan(ctx, scanIn(fmt.Sprint("s", i), msfx(i*per+j)))
					if err == nil && r.Outcome != Accepted {
						err = fmt.Errorf("%s: %s", r.Outcome, r.Message)
					}
					if err != nil {
						errs <- err
					}
				}(j)
			}
			inner.Wait()
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	commits := s.Commits() - before
	if commits >= sessions*per {
		t.Fatalf("%d scans took %d commits: no grouping", sessions*per, commits)
	}
	t.Logf("%d concurrent scans in %d commits", sessions*per, commits)
	for i := 0; i < sessions; i++ {
		b, _, _ := s.OpenBill(fmt.Sprint("s", i))
		items, err := s.Items(b.ID)
		if err != nil || len(items) != per || b.Items != per {
			t.Fatalf("session %d: %d items, header %d, %v", i, len(items), b.Items, err)
		}
		for k, it := range items {
			if it.Seq != k+1 {
				t.Fatalf("session %d: item %d has seq %d", i, k, it.Seq)
			}
		}
	}
}

// A request that fails after writing must not take its batch neighbours
// down with it.
func TestBatchIsolatesFailure(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"), testOptions(c))
	mustOpenSession(t, s, "s", 102)
	boom := errors.New("boom")
	var wg sync.WaitGroup
	results := make([]error, 50)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if i == 25 {
				_, results[i] = s.submit(ctx, false, func(w *wtx) (any, error) {
					if err := w.put(w.tx.Bucket(bktMeta), []byte("junk"), []byte("x")); err != nil {
						return nil, err
					}
					return nil, abort(boom)
				})
				return
			}
			_, results[i] = s.Scan(ctx, scanIn("s", msfx(i)))
		}(i)
	}
	wg.Wait()
	for i, err := range results {
		if i == 25 {
			if !errors.Is(err, boom) {
				t.Fatalf("aborting request got %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	b, _, _ := s.OpenBill("s")
	if b.Items != 49 {
		t.Fatalf("%d items, want 49", b.Items)
	}
	if err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bktMeta).Get([]byte("junk")) != nil {
			return errors.New("aborted write was committed")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestQuarantineCorruptFile(t *testing.T) {
	cases := map[string]func(t *testing.T, path string){
		"garbage": func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(strings.Repeat("not a bbolt file ", 2000)), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"truncated": func(t *testing.T, path string) {
			makeQueue(t, path)
			if err := os.Truncate(path, 1000); err != nil {
				t.Fatal(err)
			}
		},
		"damaged page": func(t *testing.T, path string) {
			makeQueue(t, path)
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			// Pages 0-1 are metas, 2 the freelist; scribble over the rest.
			junk := []byte(strings.Repeat("\xff\x13", 2048))
			for off := int64(3 * 4096); off < 12*4096; off += 4096 {
				if _, err := f.WriteAt(junk, off); err != nil {
					t.Fatal(err)
				}
			}
			f.Close()
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "q.db")
			damage(t, path)
			orig, _ := os.ReadFile(path)
			c := newClock()
			var alarms []Alarm
			o := testOptions(c)
			o.OnAlarm = func(a Alarm) { alarms = append(alarms, a) }
			s := openTest(t, path, o)
			if len(alarms) != 1 || alarms[0].Kind != "quarantine" {
				t.Fatalf("alarms %+v", alarms)
			}
			moved, _ := filepath.Glob(path + ".corrupt-*")
			if len(moved) != 1 {
				t.Fatalf("quarantined files: %v", moved)
			}
			if got, _ := os.ReadFile(moved[0]); string(got) != string(orig) {
				t.Fatal("quarantined file differs from the original")
			}
			// The fresh queue works and keeps the alarm across a restart.
			mustOpenSession(t, s, "s", 321)
			mustScan(t, s, scanIn("s", msfx(1)), Accepted)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2 := openTest(t, path, testOptions(c))
			if a := s2.Alarms(); len(a) != 1 || !strings.Contains(a[0].Message, moved[0]) {
				t.Fatalf("persisted alarms %+v", a)
			}
			if err := s2.ClearAlarms(context.Background()); err != nil || len(s2.Alarms()) != 0 {
				t.Fatalf("clear alarms: %v %v", err, s2.Alarms())
			}
		})
	}
}

func makeQueue(t *testing.T, path string) {
	t.Helper()
	s, err := Open(path, testOptions(newClock()))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		finishedBill(t, s, "s", i*50, 50, "msfx")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLockedIsNotCorruption(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	o := testOptions(newClock())
	openTest(t, path, o)
	o.LockTimeout = 100 * time.Millisecond
	if _, err := Open(path, o); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
	if m, _ := filepath.Glob(path + ".corrupt-*"); len(m) != 0 {
		t.Fatalf("a locked file was quarantined: %v", m)
	}
}

func TestCompact(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "q.db")
	c := newClock()
	s, err := Open(path, testOptions(c))
	if err != nil {
		t.Fatal(err)
	}
	// Rewriting bill headers on every scan leaves free pages behind.
	for i := 0; i < 40; i++ {
		finishedBill(t, s, "s", i*200, 200, "msfx")
	}
	st, _ := s.Stats()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before, after, err := Compact(path, testOptions(c))
	if err != nil {
		t.Fatal(err)
	}
	if after >= before {
		t.Fatalf("compaction did not shrink: %d → %d", before, after)
	}
	t.Logf("compacted %s → %s", human(before), human(after))
	if m, _ := filepath.Glob(filepath.Join(dir, "*"+compactSuffix)); len(m) != 0 {
		t.Fatalf("temp file left: %v", m)
	}
	s = openTest(t, path, testOptions(c))
	st2, _ := s.Stats()
	if st2.Bills[BillFinished] != st.Bills[BillFinished] || st2.Scans["accepted"] != 8000 || st2.Dests["msfx"].Pending != 40 {
		t.Fatalf("after compaction: %+v (before %+v)", st2, st)
	}
}

func TestCompactLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	o := testOptions(newClock())
	openTest(t, path, o)
	o.LockTimeout = 100 * time.Millisecond
	if _, _, err := Compact(path, o); !errors.Is(err, ErrLocked) {
		t.Fatalf("compact of a file in use: %v", err)
	}
}

func TestSubmitBillIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"), testOptions(c))
	finishedBill(t, s, "s", 0, 2, "msfx") // msfx(0), msfx(1) received
	// A sale of msfx(0) happens at the till.
	mustScan(t, s, ScanInput{Session: "till", Code: msfx(0), Key: msfx(0), AutoOpen: &SessionSpec{Type: 321}}, Accepted)

	// The ERP submits a sale with msfx(0) (already on an open sale), a code
	// twice and a good one: refused as a whole, nothing written.
	codes := []ScanInput{scanIn("", msfx(1)), scanIn("", msfx(0)), scanIn("", msfx(1))}
	_, err := s.SubmitBill(ctx, SessionSpec{Session: "erp", Type: 321}, codes, To("msfx"))
	var re *RefusedError
	if !errors.As(err, &re) || len(re.Refusals) != 2 || re.Refusals[0].Reason != ReasonAlreadySold || re.Refusals[1].Reason != "duplicate" {
		t.Fatalf("refusal: %v %+v", err, re)
	}
	if e, _, _ := s.Ledger(msfx(1)); len(e.Events) != 1 {
		t.Fatalf("a refused bill touched the ledger: %+v", e)
	}
	b, err := s.SubmitBill(ctx, SessionSpec{Session: "erp", Type: 321, Attrs: map[string]string{"pos": "P1"}}, codes[:1], To("msfx"))
	if err != nil || b.State != BillFinished || b.Items != 1 || b.Attrs["pos"] != "P1" || len(b.Destinations) != 1 {
		t.Fatalf("submitted %+v %v", b, err)
	}
	if items, _ := s.Items(b.ID); len(items) != 1 || items[0].Ref == "" || items[0].Source != "erp" {
		t.Fatalf("items %+v", items)
	}
	if ls, _ := s.Lease(ctx, "msfx", 10, time.Minute); len(ls) != 2 {
		t.Fatalf("deliveries: %d", len(ls))
	}
	if _, ok, _ := s.OpenBill("erp"); ok {
		t.Fatal("a submitted bill opened a session")
	}
}

func TestDropDead(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"), testOptions(c))
	b := finishedBill(t, s, "s", 0, 1, "msfx")
	ls, _ := s.Lease(ctx, "msfx", 1, time.Minute)
	if err := s.DropDead(ctx, b.ID, "msfx", "x"); err == nil {
		t.Fatal("dropped a delivery that is not dead")
	}
	if err := s.Dead(ctx, b.ID, "msfx", ls[0].Delivery.Lease, "FAIL_BIZ", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.DropDead(ctx, b.ID, "msfx", " "); err == nil {
		t.Fatal("dropped without a reason")
	}
	if err := s.DropDead(ctx, b.ID, "msfx", "uploaded by hand in the web console"); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Stats()
	if d := st.Dests["msfx"]; d.Dead != 0 || d.Dropped != 1 {
		t.Fatalf("stats %+v", d)
	}
	if dl, _ := s.DeadLetters(); len(dl) != 0 {
		t.Fatalf("dead letters %+v", dl)
	}
	c.Add(60 * 24 * time.Hour)
	if ps, _ := s.Prune(ctx, c.Now(), c.Now().Add(-time.Hour*24*365)); ps.Bills != 1 {
		t.Fatalf("a dropped bill is settled and prunable: %+v", ps)
	}
}

// TestRecentBillsPages: pages passed the last id they got neither skip nor
// repeat a bill, keep filters before the limit counts, and a before past
// the newest id starts at the newest.
func TestRecentBillsPages(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "q.db"), testOptions(newClock()))
	var want []uint64
	for i := 0; i < 7; i++ {
		b := finishedBill(t, s, fmt.Sprintf("s%d", i), i*10, 1, "msfx")
		want = append([]uint64{b.ID}, want...) // newest first
	}
	var got []uint64
	var before uint64
	for range 10 {
		page, err := s.RecentBills(before, 3, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, b := range page {
			got = append(got, b.ID)
		}
		before = page[len(page)-1].ID
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged ids %v, want %v", got, want)
	}
	odd, err := s.RecentBills(want[0]+100, 2, func(b Bill) bool { return b.ID%2 == 1 })
	if err != nil {
		t.Fatal(err)
	}
	if len(odd) != 2 || odd[0].ID%2 != 1 || odd[1].ID%2 != 1 || odd[0].ID <= odd[1].ID {
		t.Fatalf("filtered page from past the newest: %+v", odd)
	}
}

// A checkpoint written before sending survives a crash: after reopening,
// the expired lease's next attempt is Unknown and carries the checkpoint;
// a stale lease cannot checkpoint.
func TestCheckpointWriteAhead(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	path := filepath.Join(t.TempDir(), "q.db")
	s, err := Open(path, testOptions(c))
	if err != nil {
		t.Fatal(err)
	}
	b := finishedBill(t, s, "s", 1, 1, "nhsa")
	ls, err := s.Lease(ctx, "nhsa", 1, 10*time.Second)
	if err != nil || len(ls) != 1 || ls[0].Unknown {
		t.Fatalf("first lease: %+v %v", ls, err)
	}
	if err := s.Checkpoint(ctx, b.ID, "nhsa", ls[0].Delivery.Lease+1, `{"x":0}`, 0); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("checkpoint under a wrong lease: %v", err)
	}
	// An attempt that keeps checkpointing keeps its lease: 8 s later a
	// checkpoint renews it for 10 s, so at 12 s it is not leased again.
	c.Add(8 * time.Second)
	if err := s.Checkpoint(ctx, b.ID, "nhsa", ls[0].Delivery.Lease, `{"state":"sending","part":1}`, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	c.Add(4 * time.Second)
	if again, err := s.Lease(ctx, "nhsa", 1, 10*time.Second); err != nil || len(again) != 0 {
		t.Fatalf("a renewed lease was leased again: %+v %v", again, err)
	}
	if err := s.Checkpoint(ctx, b.ID, "nhsa", ls[0].Delivery.Lease, `{"state":"sending"}`, 0); err != nil {
		t.Fatal(err)
	}
	// Crash: no nack; the store is closed and opened again.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, testOptions(c))
	c.Add(7 * time.Second) // past the renewed lease (18 s)
	ls, err = s.Lease(ctx, "nhsa", 1, 10*time.Second)
	if err != nil || len(ls) != 1 || !ls[0].Unknown || ls[0].Delivery.Progress != `{"state":"sending"}` {
		t.Fatalf("after the crash: %+v %v", ls, err)
	}
	// The attempt's own outcome replaces the checkpoint.
	if err := s.Nack(ctx, b.ID, "nhsa", ls[0].Delivery.Lease, Retry{At: c.Now(), Error: "busy", Progress: `{"state":"answered"}`}); err != nil {
		t.Fatal(err)
	}
	ls, _ = s.Lease(ctx, "nhsa", 1, 10*time.Second)
	if len(ls) != 1 || ls[0].Unknown || ls[0].Delivery.Progress != `{"state":"answered"}` {
		t.Fatalf("after a definite nack: %+v", ls)
	}
}

func TestCodeErrorListIsBounded(t *testing.T) {
	errs := map[string]string{}
	for i := range 25 {
		errs[fmt.Sprintf("C%02d", i)] = strings.Repeat("因", 300)
	}
	got := codeErrorList(errs)
	if !strings.HasPrefix(got, "C00 【") || !strings.Contains(got, "C19 【") || strings.Contains(got, "C20") ||
		!strings.HasSuffix(got, "and 5 more (pda-agent diagnose CODE)") || strings.Contains(got, strings.Repeat("因", 201)) {
		t.Fatalf("list: %s", got)
	}
}
