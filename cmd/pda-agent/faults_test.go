package main

// The fault suite (issue #8) runs the real pda-agent binary against the
// strict sandboxes on loopback and breaks what a store breaks, one class at
// a time:
//
//	sigkill        SIGKILL at random moments across many cycles (crash_test.go)
//	backend        5xx, HTML 502, timeouts after applying, bans, 系统繁忙,
//	               isp.*, slow answers on 码上放心 and 医保, 医保's HTTP 500
//	               after applying and business busy (retRslt 0), at a
//	               steady rate; 码上放心 in the layouts its SDK does not
//	               declare, in both list shapes (simplify off, then on)
//	disk_full      the data_dir on a small tmpfs filled by another program
//	corrupt_queue  a stopped agent's queue.db truncated, scribbled, its metas zeroed
//	bad_input      scanner bytes, API bodies, config files and hostile
//	               back-end answers
//
// After each class the local queue and the sandboxes' ledgers are compared
// (compareLedgers): every acknowledged scan is on exactly one bill, every
// finished bill reached each of its back ends exactly once or is a dead
// letter with the platform's words, the back ends hold nothing the queue
// does not, and every refused scan carries a reason. The figures end in a
// table (go test -v).
//
// `make test` runs the short form; `make faults` the long one
// (PDA_FAULTS=long, PDA_CRASH_CYCLES=200).

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/pda-agent/pda-agent/queue"
	msfxsb "github.com/pda-agent/pda-agent/upload/msfx/sandbox"
	nhsasb "github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
	whsb "github.com/pda-agent/pda-agent/upload/webhook/sandbox"
)

// faultsLong is the long form of the suite (make faults).
func faultsLong() bool { return os.Getenv("PDA_FAULTS") == "long" }

// pick is the short or the long form's figure.
func pick(short, long int) int {
	if faultsLong() {
		return long
	}
	return short
}

// faultRow is one class's line in the summary.
type faultRow struct {
	class  string
	cycles int // agent runs, SIGKILLs, corruptions … (the class says)
	faults int // faults injected (and taken)
	tally
	took time.Duration
}

// tally is what compareLedgers (and the input checks) counted.
type tally struct {
	records    int // acknowledged scans, deliveries, journal records, answers checked
	lost       int // acknowledged or finished, and missing locally or at a back end
	duplicated int // on two bills, applied twice, or at a back end unasked
	rejections int // refused scans, dead letters, refused requests
	explained  int // of which carry a reason
}

func (a *tally) add(b tally) {
	a.records += b.records
	a.lost += b.lost
	a.duplicated += b.duplicated
	a.rejections += b.rejections
	a.explained += b.explained
}

func TestFaults(t *testing.T) {
	var mu sync.Mutex
	var rows []faultRow
	class := func(name string, run func(t *testing.T) faultRow) {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			var r faultRow
			// Deferred so that a skipped or failed class still has its line.
			defer func() {
				r.class, r.took = name, time.Since(start).Round(100*time.Millisecond)
				switch {
				case t.Skipped():
					r.class += " (skipped)"
				case t.Failed():
					r.class += " (FAILED)"
				}
				mu.Lock()
				rows = append(rows, r)
				mu.Unlock()
			}()
			r = run(t)
		})
	}
	cycles := pick(12, 200)
	if v, err := strconv.Atoi(os.Getenv("PDA_CRASH_CYCLES")); err == nil && v > 0 {
		cycles = v
	}
	class("sigkill", func(t *testing.T) faultRow { return crashCycles(t, cycles) })
	class("backend", backendFaults)
	class("disk_full", diskFull)
	class("corrupt_queue", corruptQueue)
	class("bad_input", badInput)

	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "class\tcycles\tfaults injected\trecords checked\tlost\tduplicated\trejections explained\ttook\t")
	var sum faultRow
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d/%d\t%s\t\n", r.class, r.cycles, r.faults, r.records, r.lost, r.duplicated, r.explained, r.rejections, r.took)
		sum.cycles += r.cycles
		sum.faults += r.faults
		sum.tally.add(r.tally)
		sum.took += r.took
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t%d\t%d\t%d/%d\t%s\t\n", sum.cycles, sum.faults, sum.records, sum.lost, sum.duplicated, sum.explained, sum.rejections, sum.took)
	tw.Flush()
	form := "short"
	if faultsLong() {
		form = "long"
	}
	t.Logf("fault suite (%s form):\n%s", form, b.String())
}

// ackKey is one acknowledged scan: a code on the n-th bill of a type that
// moved it (a box sold, returned and sold again has sales 0 and 1).
type ackKey struct {
	typ  int
	code string
	n    int
}

// backends are the sandboxes a class delivered to (nil: not used).
type backends struct {
	msfx    *msfxsb.Server
	nhsa    *nhsasb.Server
	webhook *whsb.Server
	// dead says which deliveries must end as dead letters (none if nil).
	dead func(b queue.Bill, dest string) bool
	// elsewhere are bill codes the back ends hold that another queue file
	// accounts for (a quarantined one, checked before the damage).
	elsewhere map[string]bool
}

// nhsaInfno is the 医保 interface each bill type goes as.
var nhsaInfno = map[int]string{102: "3503", 202: "3504", 321: "3505", 116: "3506"}

// compareLedgers compares the stopped agent's queue with the sandboxes'
// ledgers: every scan acknowledged ACCEPTED or DUPLICATE is on a bill of
// its type (the n-th one for the code), no code is on two bills of one
// type without a bill of another type between them, every finished
// bill reached each destination it was queued for exactly once with its
// codes (or is a dead letter with a reason, when be.dead says so), no back
// end holds a bill the queue does not know as finished, and every refused
// scan in the journal carries a reason.
func compareLedgers(t *testing.T, s *queue.Store, acks map[ackKey]string, be backends) tally {
	t.Helper()
	var tl tally
	type billItems struct {
		b     queue.Bill
		items []queue.Item
	}
	onBills := map[ackKey]int{} // n is 0: how many bills of the type
	moves := map[string][]int{} // code → the types of its bills, in order
	var finished []billItems
	if err := s.ForEachBill(func(b queue.Bill) bool {
		if b.State == queue.BillCancelled {
			return true
		}
		items, err := s.Items(b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != b.Items {
			t.Errorf("bill %s header says %d codes, has %d", b.Code, b.Items, len(items))
		}
		for _, it := range items {
			onBills[ackKey{typ: b.Type, code: it.Code}]++
			moves[it.Code] = append(moves[it.Code], b.Type)
		}
		if b.State == queue.BillFinished {
			finished = append(finished, billItems{b, items})
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	for k, status := range acks {
		if status != "ACCEPTED" && status != "DUPLICATE" {
			continue
		}
		tl.records++
		if onBills[ackKey{typ: k.typ, code: k.code}] <= k.n {
			tl.lost++
			t.Errorf("acknowledged scan %s (type %d, bill #%d of that type) is on no bill", k.code, k.typ, k.n+1)
		}
	}
	for code, types := range moves {
		for i := 1; i < len(types); i++ {
			if types[i] == types[i-1] {
				tl.duplicated++
				t.Errorf("code %s is on two bills of type %d in a row (its bills' types: %v)", code, types[i], types)
			}
		}
	}

	msfxAt := map[string]msfxsb.Bill{}
	if be.msfx != nil {
		for _, r := range be.msfx.Bills(msfxsb.DefaultStoreRefEntID) {
			msfxAt[r.BillCode] = r
		}
	}
	hookAt := map[string]whsb.Received{}
	if be.webhook != nil {
		for _, r := range be.webhook.Bills() {
			hookAt[r.BillCode] = r
		}
	}
	// 医保 rows are keyed fixmedins_bchno = bill code without '-' + 2 digits.
	nhsaAt := map[string][]nhsasb.Row{}
	if be.nhsa != nil {
		for _, r := range be.nhsa.Rows() {
			if r.Infno == "3507" || len(r.Bchno) < 3 {
				continue
			}
			nhsaAt[r.Bchno[:len(r.Bchno)-2]] = append(nhsaAt[r.Bchno[:len(r.Bchno)-2]], r)
		}
	}
	dead := 0
	for _, f := range finished {
		b := f.b
		var codes []string
		for _, it := range f.items {
			codes = append(codes, it.Code)
		}
		ds, err := s.Deliveries(b.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			tl.records++
			wantDead := be.dead != nil && be.dead(b, d.Dest)
			switch {
			case d.State == queue.DeliveryDead:
				dead++
				tl.rejections++
				if d.LastError != "" {
					tl.explained++
				} else {
					t.Errorf("bill %s → %s: dead letter without a reason", b.Code, d.Dest)
				}
				if !wantDead {
					t.Errorf("bill %s → %s: dead letter: %s", b.Code, d.Dest, d.LastError)
				}
			case wantDead:
				t.Errorf("bill %s → %s: %s, want a dead letter", b.Code, d.Dest, d.State)
			case d.State != queue.DeliveryDone:
				tl.lost++
				t.Errorf("bill %s → %s: still %s (%s)", b.Code, d.Dest, d.State, d.LastError)
			}
			done := d.State == queue.DeliveryDone
			switch d.Dest {
			case "msfx":
				r, ok := msfxAt[b.Code]
				delete(msfxAt, b.Code)
				switch {
				case ok && !done:
					tl.duplicated++
					t.Errorf("bill %s is at 码上放心 but its delivery is %s", b.Code, d.State)
				case !ok && done:
					tl.lost++
					t.Errorf("bill %s delivered but not at 码上放心", b.Code)
				case ok && (r.Applied != 1 || !slices.Equal(r.Codes, codes) || r.Result != 3):
					tally1(&tl, r.Applied, slices.Equal(r.Codes, codes))
					t.Errorf("bill %s at 码上放心: applied %d, result %d, codes equal %v", b.Code, r.Applied, r.Result, slices.Equal(r.Codes, codes))
				}
			case "webhook":
				r, ok := hookAt[b.Code]
				delete(hookAt, b.Code)
				switch {
				case ok && !done:
					tl.duplicated++
					t.Errorf("bill %s is at the webhook but its delivery is %s", b.Code, d.State)
				case !ok && done:
					tl.lost++
					t.Errorf("bill %s delivered but not at the webhook", b.Code)
				case ok && (r.Applied != 1 || !slices.Equal(r.Codes, codes)):
					tally1(&tl, r.Applied, slices.Equal(r.Codes, codes))
					t.Errorf("bill %s at the webhook: applied %d, codes equal %v", b.Code, r.Applied, slices.Equal(r.Codes, codes))
				}
			case "nhsa":
				key := strings.ReplaceAll(b.Code, "-", "")
				rows := nhsaAt[key]
				delete(nhsaAt, key)
				switch {
				case len(rows) > 0 && !done:
					tl.duplicated++
					t.Errorf("bill %s is at 医保 but its delivery is %s", b.Code, d.State)
				case len(rows) == 0 && done:
					tl.lost++
					t.Errorf("bill %s delivered but not at 医保", b.Code)
				case done:
					if !nhsaRowsMatch(t, b, f.items, rows) {
						tl.duplicated++
					}
				}
			}
		}
	}
	for code := range msfxAt {
		if be.elsewhere[code] {
			continue
		}
		tl.duplicated++
		t.Errorf("码上放心 has bill %s the queue does not know as finished", code)
	}
	for code := range hookAt {
		if be.elsewhere[code] {
			continue
		}
		tl.duplicated++
		t.Errorf("the webhook has bill %s the queue does not know as finished", code)
	}
	elsewhere := map[string]bool{}
	for code := range be.elsewhere {
		elsewhere[strings.ReplaceAll(code, "-", "")] = true
	}
	for key := range nhsaAt {
		if elsewhere[key] {
			continue
		}
		tl.duplicated++
		t.Errorf("医保 has rows %s of no finished bill", key)
	}
	dls, err := s.DeadLetters()
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != dead {
		t.Errorf("%d dead letters on file, %d dead deliveries", len(dls), dead)
	}
	for _, dl := range dls {
		if dl.Reason == "" {
			t.Errorf("dead letter %s → %s has no reason", dl.BillCode, dl.Dest)
		}
	}
	// Every refused scan in the journal says why.
	for after := uint64(0); ; {
		logs, err := s.Scans(after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(logs) == 0 {
			break
		}
		for _, l := range logs {
			after = l.Seq
			tl.records++
			if l.Outcome != queue.Rejected {
				continue
			}
			tl.rejections++
			if l.Reason != "" && l.Message != "" {
				tl.explained++
			} else {
				t.Errorf("refused scan %q has no reason: %+v", l.Raw, l)
			}
		}
	}
	return tl
}

// tally1 counts a back end's copy of a bill that is not the bill once:
// applied twice is a duplicate; other codes mean the bill itself never
// arrived (another bill was taken for it).
func tally1(tl *tally, applied int, sameCodes bool) {
	switch {
	case applied > 1:
		tl.duplicated++
	case !sameCodes:
		tl.lost++
	}
}

// nhsaRowsMatch checks one delivered bill's 医保 rows: each applied once,
// under the interface of the bill's type, with the bill's trace codes (3503
// purchases carry counts only) and one pack per whole pack.
func nhsaRowsMatch(t *testing.T, b queue.Bill, items []queue.Item, rows []nhsasb.Row) bool {
	t.Helper()
	ok := true
	want := map[string]bool{}
	wholePacks := 0
	for _, it := range items {
		want[it.Code] = true
		if it.Units == 0 {
			wholePacks++
		}
	}
	have, packs := 0, 0.0
	for _, r := range rows {
		if r.Applied != 1 || r.Deleted {
			t.Errorf("bill %s: 医保 row %s applied %d deleted %v", b.Code, r.Bchno, r.Applied, r.Deleted)
			ok = false
		}
		if r.Infno != nhsaInfno[b.Type] {
			t.Errorf("bill %s (type %d) went to 医保 as %s", b.Code, b.Type, r.Infno)
			ok = false
		}
		for _, c := range r.Codes {
			if !want[c] {
				t.Errorf("bill %s: 医保 row %s has code %s not on the bill", b.Code, r.Bchno, c)
				ok = false
			}
			have++
		}
		if r.TrdnFlag != "1" {
			packs += r.Count
		}
	}
	switch {
	case b.Type == 102:
		if int(packs) != len(items) || have != 0 {
			t.Errorf("bill %s: %v packs and %d codes at 医保, %d on the bill", b.Code, packs, have, len(items))
			ok = false
		}
	case have != len(items) || int(packs) != wholePacks:
		t.Errorf("bill %s: %d codes (%v whole packs) at 医保, %d codes (%d whole) on the bill", b.Code, have, packs, len(items), wholePacks)
		ok = false
	}
	return ok
}

// serveLoopback serves h on 127.0.0.1 until the test ends and returns its
// base URL. Close drops held connections, so a hung handler ends too.
func serveLoopback(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// atRate queues a fault before a share of the requests to next, so faults
// hit uploads, queries and status polls alike at a steady rate; inject
// gets the number of faults queued before (to take the kinds in turn).
func atRate(next http.Handler, rate float64, seed uint64, inject func(n int)) http.Handler {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	n := 0
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if rng.Float64() < rate {
			inject(n)
			n++
		}
		mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// sendLine writes one scanner line to the agent and returns its answer.
func sendLine(t *testing.T, p *agentProc, line string) string {
	t.Helper()
	if _, err := p.stdin.Write([]byte(line + "\n")); err != nil {
		t.Fatalf("write %q: %v", line, err)
	}
	select {
	case ack, ok := <-p.acks:
		if !ok {
			t.Fatalf("the agent exited before answering %q", line)
		}
		return ack
	case <-time.After(10 * time.Second):
		t.Fatalf("no answer to %q", line)
	}
	return ""
}

// sendExpect sends one scanner line and fails unless the answer starts
// with want; it returns the answer.
func sendExpect(t *testing.T, p *agentProc, stderr *lockedBuffer, line, want string) string {
	t.Helper()
	ack := sendLine(t, p, line)
	if !strings.HasPrefix(ack, want) {
		t.Fatalf("%q: %s, want %s\n%s", line, ack, want, stderr.String())
	}
	return ack
}

// playUnits sends units of scanner lines (one bill each, see nhsaUnits),
// recording what each code was told under its bill's type (a code's
// second bill of a type, e.g. a re-sale, under n = 1).
func playUnits(t *testing.T, p *agentProc, units [][]string, acks map[ackKey]string) {
	t.Helper()
	for _, u := range units {
		inUnit := map[string]ackKey{}
		typ := 102
		for _, line := range u {
			switch {
			case line == "PDA:SALE":
				typ = 321
			case line == "PDA:RETURN":
				typ = 116
			case strings.HasPrefix(line, "PDA:RECEIVE"):
				typ = 102
			}
			ack := sendLine(t, p, line)
			status, _, _ := strings.Cut(ack, " ")
			isCode := !strings.HasPrefix(line, "PDA:")
			// A CANCEL with nothing open is refused; codes must go in.
			if status == "ERROR" || (isCode && status == "REJECTED") {
				t.Fatalf("%q: %s", line, ack)
			}
			if isCode {
				k, seen := inUnit[line]
				if !seen {
					k = ackKey{typ: typ, code: line}
					for _, ok := acks[k]; ok; _, ok = acks[k] {
						k.n++
					}
					inUnit[line] = k
				}
				acks[k] = status
			}
		}
	}
}

// statusView is the part of GET /v1/status the suite reads.
type statusView struct {
	Health       string
	Problems     []string
	Destinations map[string]struct{ Pending, Failing, Dead int }
	Alarms       []queue.Alarm
}

func agentStatus(c *apiClient) statusView {
	c.t.Helper()
	var st statusView
	c.ok("GET", "/v1/status", nil, &st)
	return st
}

func hasAlarm(alarms []queue.Alarm, kind string) bool {
	return slices.ContainsFunc(alarms, func(a queue.Alarm) bool { return a.Kind == kind })
}
