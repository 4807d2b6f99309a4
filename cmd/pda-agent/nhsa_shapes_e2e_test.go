package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/queue"
	nhsasb "github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

const shapesConfig = `device: {id: NS1}
data_dir: %[1]s
log: {level: warn}
api: {enabled: false}
scanners:
  - {name: gun, type: stdin, echo: true}
upload: {lease: 5s, initial_backoff: 20ms, max_backoff: 300ms}
catalogue: {products: %[1]s/products.csv, partners: %[1]s/partners.csv}
nhsa:
  enabled: true
  concurrency: 1
  rate: 0
  env: test
  test:
    url: %[2]s
    recer_sys_code: ` + nhsasb.TestRecerSysCode + `
    max_input_chars: %[3]d
  input_shape: %[4]s
  fixmedins_code: ` + nhsasb.TestFixmedinsCode + `
  fixmedins_name: ` + nhsasb.TestFixmedinsName + `
  mdtrtarea_admvs: "` + nhsasb.TestAdmdvs + `"
  opter: NS1
  opter_name: 张药师
  phar_name: 李药师
  phar_prac_cert_no: "0000000001"
  timeout: 2s
`

// fsiCall is one FSI request as the sandbox received it (plain envelope).
type fsiCall struct {
	Infno string          `json:"infno"`
	Msgid string          `json:"msgid"`
	Input json.RawMessage `json:"input"`
}

// rows are the rows of a 3503-3506 input node, as a list whether the
// node was one object or a list; bchnos their fixmedins_bchno.
func (c fsiCall) rows() (rows []json.RawMessage, bchnos []string, isList bool) {
	var in map[string]json.RawMessage
	if json.Unmarshal(c.Input, &in) != nil {
		return nil, nil, false
	}
	for _, node := range []string{"purcinfo", "selinfo"} {
		raw, ok := in[node]
		if !ok {
			continue
		}
		if json.Unmarshal(raw, &rows) == nil {
			isList = true
		} else {
			rows = []json.RawMessage{raw}
		}
	}
	for _, r := range rows {
		var f struct {
			Bchno string `json:"fixmedins_bchno"`
		}
		_ = json.Unmarshal(r, &f)
		bchnos = append(bchnos, f.Bchno)
	}
	return rows, bchnos, isList
}

// fsiLog records every request before the sandbox sees it, and lets a test
// act on a request first (e.g. make the platform refuse one of its rows).
type fsiLog struct {
	next   http.Handler
	mu     sync.Mutex
	calls  []fsiCall
	before func(c fsiCall)
}

func (l *fsiLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	var c fsiCall
	if json.Unmarshal(body, &c) == nil && c.Infno != "" {
		l.mu.Lock()
		l.calls = append(l.calls, c)
		before := l.before
		l.mu.Unlock()
		if before != nil {
			before(c)
		}
	}
	l.next.ServeHTTP(w, r)
}

func (l *fsiLog) byInfno(infno string) []fsiCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []fsiCall
	for _, c := range l.calls {
		if c.Infno == infno {
			out = append(out, c)
		}
	}
	return out
}

// shapeRun is a real agent delivering to a 医保 sandbox of one profile.
type shapeRun struct {
	t      *testing.T
	sb     *nhsasb.Server
	log    *fsiLog
	dir    string
	config string
	p      *agentProc
	stderr lockedBuffer
	packs  int
}

// startShapeRun starts a sandbox with opts changed by profile and an agent
// with the given max_input_chars and input_shape, and receives packs packs
// of amoxicillin, each its own lot (so each pack is a row of its own).
func startShapeRun(t *testing.T, profile func(*nhsasb.Options), maxInput int, inputShape string, packs int) *shapeRun {
	t.Helper()
	o := nhsasb.TestOptions(nhsasb.SchemeNone, nhsasb.EnvelopePlain)
	o.Logger = slog.New(slog.DiscardHandler)
	if profile != nil {
		profile(&o)
	}
	r := &shapeRun{t: t, sb: nhsasb.New(o), dir: t.TempDir(), packs: packs}
	r.log = &fsiLog{next: r.sb}
	url := serveLoopback(t, r.log) + nhsasb.DefaultPath
	writeFile(t, r.dir, "products.csv", nhsaProducts)
	writeFile(t, r.dir, "partners.csv", nhsaPartners)
	r.config = writeFile(t, r.dir, "config.yaml", fmt.Sprintf(shapesConfig, r.dir, url, maxInput, inputShape))
	r.p = startAgent(t, r.config, &r.stderr)
	lines := []string{"PDA:CANCEL", "PDA:RECEIVE:5e0a7c3b9d2f48a6b1c3e5f7a9b0d2e4"}
	for i := 1; i <= packs; i++ {
		lines = append(lines, fmt.Sprintf("PDA:LOT:B%04d:2025-06-01:2027-05-31", i), shapeCode(i))
	}
	r.play(append(lines, "PDA:FINISH"))
	waitStable(t, func() int { return len(r.sb.Rows()) }, 700*time.Millisecond, 20*time.Second)
	if n := len(r.sb.Rows()); n != packs {
		t.Fatalf("the purchase made %d rows, want %d\n%s", n, packs, r.stderr.String())
	}
	return r
}

func shapeCode(n int) string { return fmt.Sprintf("8101235%09d%04d", n, n) }

func (r *shapeRun) play(lines []string) {
	r.t.Helper()
	for _, line := range lines {
		// A CANCEL with nothing open is refused; nothing else may be.
		if ack := sendLine(r.t, r.p, line); strings.HasPrefix(ack, "ERROR") || (line != "PDA:CANCEL" && strings.HasPrefix(ack, "REJECTED")) {
			r.t.Fatalf("%q: %s\n%s", line, ack, r.stderr.String())
		}
	}
}

// sell sells the first n received packs as one 医保 sale.
func (r *shapeRun) sell(n int) {
	r.t.Helper()
	lines := []string{"PDA:CANCEL", "PDA:SALE", "PDA:SET:nhsa.mdtrt_sn=MD000001", "PDA:SET:nhsa.setl_id=SE000001",
		"PDA:SET:nhsa.psn_no=PSN0001", "PDA:SET:nhsa.psn_cert_type=01", "PDA:SET:nhsa.psn_name=张三",
		"PDA:SET:nhsa.hi_feesetl_type=1", "PDA:SET:nhsa.mdtrt_setl_type=1", "PDA:SET:nhsa.prsc_dr_name=王医生",
		"PDA:SET:nhsa.rx_circ_flag=0"}
	for i := 1; i <= n; i++ {
		lines = append(lines, shapeCode(i))
	}
	r.play(append(lines, "PDA:FINISH"))
}

// drain lets the uploads finish, stops the agent and opens its queue.
func (r *shapeRun) drain() *queue.Store {
	r.t.Helper()
	s := drainAndOpen(r.t, r.p, r.config, r.dir, &r.stderr, func() int { return len(r.sb.Rows()) + r.sb.Stats().Requests })
	r.t.Cleanup(func() { s.Close() })
	return s
}

// saleDelivery is the sale's bill and its one delivery.
func saleDelivery(t *testing.T, s *queue.Store) (queue.Bill, queue.Delivery) {
	t.Helper()
	var bill queue.Bill
	_ = s.ForEachBill(func(b queue.Bill) bool {
		if b.Type == 321 {
			bill = b
		}
		return true
	})
	ds, err := s.Deliveries(bill.ID)
	if err != nil || len(ds) != 1 {
		t.Fatalf("the sale's deliveries: %+v %v", ds, err)
	}
	return bill, ds[0]
}

// TestNHSAAnswerShapesEndToEnd runs the real agent against the 医保
// sandbox answering in each shape and fault the references and public
// clients show (upload/nhsa/sandbox doc: Answers, Faults, Province
// profile), and checks the platform's ledger row by row.
func TestNHSAAnswerShapesEndToEnd(t *testing.T) {
	t.Run("apply_then_500", func(t *testing.T) {
		t.Parallel()
		// The platform applies the sale, then answers HTTP 500 with a JSON
		// body: the agent must resend the same msgid (answered from the
		// platform's memory), never the rows under a new one.
		r := startShapeRun(t, nil, 40000, "list", 2)
		r.sb.InjectFaults(nhsasb.FaultApplyThen500)
		r.sell(2)
		s := r.drain()
		compareLedgers(t, s, nil, backends{nhsa: r.sb})
		sales := r.log.byInfno("3505")
		st := r.sb.Stats()
		if len(sales) < 2 || sales[0].Msgid != sales[1].Msgid || st.Faults[nhsasb.FaultApplyThen500] != 1 || st.DuplicateMsgids != 1 || st.Rejected["duplicate_bchno"] != 0 {
			t.Fatalf("3505 requests %d (msgids %s), faults %v, repeated msgids answered %d, rejected %v", len(sales), msgids(sales), st.Faults, st.DuplicateMsgids, st.Rejected)
		}
		if _, d := saleDelivery(t, s); d.State != queue.DeliveryDone || d.Attempts < 2 {
			t.Fatalf("the sale's delivery: %+v", d)
		}
	})
	t.Run("busy_result", func(t *testing.T) {
		t.Parallel()
		// infcode 0 with output.result retRslt 0 系统繁忙: not delivered,
		// retried until the platform takes it.
		r := startShapeRun(t, nil, 40000, "list", 2)
		r.sb.InjectFaults(nhsasb.FaultBusyResult)
		r.sell(2)
		s := r.drain()
		compareLedgers(t, s, nil, backends{nhsa: r.sb})
		st := r.sb.Stats()
		if st.Faults[nhsasb.FaultBusyResult] != 1 || len(r.log.byInfno("3505")) < 2 {
			t.Fatalf("faults %v, 3505 requests %d", st.Faults, len(r.log.byInfno("3505")))
		}
		if _, d := saleDelivery(t, s); d.State != queue.DeliveryDone || d.Attempts < 2 {
			t.Fatalf("the sale's delivery: %+v", d)
		}
	})
	for _, a := range []nhsasb.Answer{nhsasb.AnswerRetRslt, nhsasb.AnswerPerRow} {
		t.Run(a.String(), func(t *testing.T) {
			t.Parallel()
			r := startShapeRun(t, func(o *nhsasb.Options) { o.Answer = a }, 40000, "list", 3)
			r.sell(3)
			s := r.drain()
			compareLedgers(t, s, nil, backends{nhsa: r.sb})
			if _, d := saleDelivery(t, s); d.State != queue.DeliveryDone {
				t.Fatalf("the sale's delivery: %+v", d)
			}
		})
	}
	t.Run("per_row_refused", func(t *testing.T) {
		t.Parallel()
		// A three-row sale of which the platform refuses the second row
		// (output.invinfoErrDetail[] retRslt 0): the other rows are in,
		// the refused row's code is a failure in the platform's words on
		// the bill, in queue show and in diagnose — never delivered
		// silently.
		const words = "药品目录对照信息不符"
		r := startShapeRun(t, func(o *nhsasb.Options) { o.Answer = nhsasb.AnswerPerRow }, 40000, "list", 3)
		refused := ""
		r.log.before = func(c fsiCall) {
			if c.Infno != "3505" {
				return
			}
			if _, bchnos, _ := c.rows(); len(bchnos) == 3 {
				refused = bchnos[1]
				r.sb.RefuseRows(words, refused)
			}
		}
		r.sell(3)
		s := r.drain()
		sale, d := saleDelivery(t, s)
		var saleRows []nhsasb.Row
		for _, row := range r.sb.Rows() {
			if row.Infno == "3505" {
				saleRows = append(saleRows, row)
			}
		}
		if refused == "" || len(saleRows) != 2 || r.sb.Stats().Rejected["row_refused"] != 1 {
			t.Fatalf("refused row %q; sale rows at the platform %+v; rejected %v", refused, saleRows, r.sb.Stats().Rejected)
		}
		notTaken := shapeCode(2)
		for _, row := range saleRows {
			if row.Bchno == refused || row.Applied != 1 || len(row.Codes) != 1 || row.Codes[0] == notTaken {
				t.Errorf("sale row %+v", row)
			}
		}
		// Done for the rows that are in, with the refused code named.
		if d.State != queue.DeliveryDone {
			t.Fatalf("the sale's delivery: %+v", d)
		}
		issues, err := s.CodeIssues(notTaken)
		if err != nil || len(issues) != 1 || issues[0].Dest != "nhsa" || issues[0].BillCode != sale.Code || !strings.Contains(issues[0].Reason, words) {
			t.Fatalf("code issues of %s: %+v %v", notTaken, issues, err)
		}
		s.Close()
		out, errOut, code := runBinary(t, nil, "", "queue", "show", "--config", r.config, sale.Code)
		if code != 0 || !strings.Contains(out, notTaken) || !strings.Contains(out, words) {
			t.Errorf("queue show %s (exit %d):\n%s%s", sale.Code, code, out, errOut)
		}
		out, errOut, code = runBinary(t, nil, "", "diagnose", "--config", r.config, "--offline", notTaken)
		if code != 0 || !strings.Contains(out, "in bill "+sale.Code) || !strings.Contains(out, words) {
			t.Errorf("diagnose %s (exit %d):\n%s%s", notTaken, code, out, errOut)
		}
	})
	t.Run("input_object", func(t *testing.T) {
		t.Parallel()
		// A province whose platform takes one row object per call, and
		// the agent's nhsa.input_shape object: one request per row.
		r := startShapeRun(t, func(o *nhsasb.Options) { o.InputStyle = nhsasb.InputObject }, 40000, "object", 3)
		r.sell(3)
		s := r.drain()
		compareLedgers(t, s, nil, backends{nhsa: r.sb})
		for _, infno := range []string{"3503", "3505"} {
			calls := r.log.byInfno(infno)
			if len(calls) != 3 {
				t.Errorf("%s: %d requests, want one per row (3)", infno, len(calls))
			}
			for _, c := range calls {
				if rows, _, isList := c.rows(); len(rows) != 1 || isList {
					t.Errorf("%s %s: %d rows, as a list %v", infno, c.Msgid, len(rows), isList)
				}
			}
		}
		if n := r.sb.Stats().Rejected["input_style"]; n != 0 {
			t.Errorf("%d requests refused for their input style", n)
		}
	})
	t.Run("max_input", func(t *testing.T) {
		t.Parallel()
		// A channel that refuses an input over 2,000 characters, and the
		// agent's nhsa.test.max_input_chars 2000: a seven-row sale goes in
		// parts, each within the limit, each row once.
		const limit = 2000
		r := startShapeRun(t, func(o *nhsasb.Options) { o.MaxInput = limit }, limit, "list", 7)
		r.sell(7)
		s := r.drain()
		compareLedgers(t, s, nil, backends{nhsa: r.sb})
		sales := r.log.byInfno("3505")
		parts := map[string]bool{}
		for _, c := range sales {
			parts[c.Msgid] = true
			if n := len([]rune(string(c.Input))); n > limit {
				t.Errorf("3505 %s: input of %d characters", c.Msgid, n)
			}
		}
		if len(parts) < 2 || r.sb.Stats().Rejected["input_too_long"] != 0 {
			t.Fatalf("the sale went in %d message(s); refused as too long: %d", len(parts), r.sb.Stats().Rejected["input_too_long"])
		}
		if _, d := saleDelivery(t, s); d.State != queue.DeliveryDone {
			t.Fatalf("the sale's delivery: %+v", d)
		}
	})
}

func msgids(calls []fsiCall) string {
	var ids []string
	for _, c := range calls {
		ids = append(ids, c.Msgid)
	}
	return strings.Join(ids, ",")
}
