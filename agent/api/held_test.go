package api

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/queue"
	nhsasb "github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

// A catalogue with the amoxicillin of codeA, as a store's products file.
const heldProducts = `key,name,med_list_codg,hilist_id,hilist_name,rx_flag,aprvno,maker,spec,units,key_variety
8101235,阿莫西林胶囊,XJ01CAA040A001010100395,A0001,阿莫西林胶囊,1,国药准字H13023964,沙箱药业,0.25g*24粒,24,否
`

// startNHSA runs an agent against the 医保 sandbox (no 码上放心), with
// hold_retry long enough that only a repair makes a held sale go.
func startNHSA(t *testing.T, extra ...string) (*testEnv, *nhsasb.Running) {
	t.Helper()
	o := nhsasb.TestOptions(nhsasb.SchemeNone, nhsasb.EnvelopePlain)
	o.Logger = quiet
	nh, err := nhsasb.Start("127.0.0.1:0", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nh.Close() })
	return startWithNHSA(t, nh, extra...), nh
}

// startWithNHSA runs an agent against a running 医保 sandbox (several
// agents may share one: the tills of one store).
func startWithNHSA(t *testing.T, nh *nhsasb.Running, extra ...string) *testEnv {
	t.Helper()
	dir := t.TempDir()
	products := filepath.Join(dir, "products.csv")
	if err := os.WriteFile(products, []byte(heldProducts), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append([]string{"PDA_NHSA_ENABLED=true", "PDA_NHSA_RATE=0", "PDA_NHSA_ENV=test", "PDA_NHSA_TEST_URL=" + nh.URL(),
		"PDA_NHSA_TEST_RECER_SYS_CODE=" + nhsasb.TestRecerSysCode, "PDA_NHSA_FIXMEDINS_CODE=" + nhsasb.TestFixmedinsCode,
		"PDA_NHSA_FIXMEDINS_NAME=" + nhsasb.TestFixmedinsName, "PDA_NHSA_MDTRTAREA_ADMVS=" + nhsasb.TestAdmdvs,
		"PDA_NHSA_OPTER=T1", "PDA_NHSA_OPTER_NAME=张药师", "PDA_NHSA_PHAR_NAME=李药师", "PDA_NHSA_PHAR_PRAC_CERT_NO=0000000001",
		"PDA_NHSA_HOLD_RETRY=1h", "PDA_CATALOGUE_PRODUCTS=" + products,
		"PDA_UPLOAD_INITIAL_BACKOFF=100ms", "PDA_UPLOAD_MAX_BACKOFF=1s"}, extra...)
	return start(t, envOpts{env: env})
}

// nhsaDelivery is the bill's 医保 delivery.
func (e *testEnv) nhsaDelivery(code string) queue.Delivery {
	e.t.Helper()
	var v agent.BillView
	e.ok("GET", "/v1/bills/"+code, nil, &v)
	for _, d := range v.Deliveries {
		if d.Dest == "nhsa" {
			return d
		}
	}
	e.t.Fatalf("bill %s has no nhsa delivery: %+v", code, v.Deliveries)
	return queue.Delivery{}
}

func fields(ms []queue.Missing) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Field)
	}
	slices.Sort(out)
	return out
}

// The README's 医保 cashier example, followed literally: the finish names
// what the sale lacks, the sale is held (never sent), the documented
// PATCH repairs it, and the sale reaches the 医保 sandbox at once; after
// that its 医保 attrs cannot change.
func TestCashierExampleHeldThenRepaired(t *testing.T) {
	e, nh := startNHSA(t)
	e.ok("POST", "/v1/sessions", map[string]string{"session": "till1", "kind": "sale"}, nil)
	// The box's lot and dates, as its receiving would have recorded them.
	e.scan("till1", "PDA:LOT:L2501:2025-05-01:2027-04-30", "command")
	e.scan("till1", codeA, "accepted")

	var fin struct {
		queue.Bill
		Outlook []agent.DestOutlook `json:"outlook"`
	}
	e.ok("POST", "/v1/sessions/till1/finish", map[string]any{"attrs": map[string]string{"nhsa.mdtrt_sn": "MD1", "nhsa.setl_id": "SE1"}}, &fin)
	if fin.Code == "" || fin.State != queue.BillFinished || !slices.Equal(fin.Destinations, []string{"nhsa"}) {
		t.Fatalf("finish answer lost the bill's fields: %+v", fin.Bill)
	}
	if len(fin.Outlook) != 1 || fin.Outlook[0].Dest != "nhsa" || fin.Outlook[0].Will != agent.WillHold {
		t.Fatalf("outlook %+v", fin.Outlook)
	}
	want := []string{"hi_feesetl_type", "prsc_dr_name", "psn_cert_type", "rx_circ_flag"}
	if got := fields(fin.Outlook[0].Missing); !slices.Equal(got, want) {
		t.Fatalf("missing %v, want %v: %+v", got, want, fin.Outlook[0].Missing)
	}
	for _, m := range fin.Outlook[0].Missing {
		if m.Source != "attr nhsa."+m.Field || m.Detail == "" {
			t.Errorf("missing %+v: source should be its attr", m)
		}
	}

	// The worker holds it: counted as held, not failing; nothing sent.
	eventually(t, 10*time.Second, "the sale held", func() bool { return len(e.nhsaDelivery(fin.Code).Missing) > 0 })
	d := e.nhsaDelivery(fin.Code)
	if !d.Unsent || !slices.Equal(fields(d.Missing), want) {
		t.Fatalf("held delivery %+v", d)
	}
	var st agent.Status
	e.ok("GET", "/v1/status", nil, &st)
	if n := st.Destinations["nhsa"]; n.Held != 1 || n.Failing != 0 {
		t.Fatalf("status nhsa %+v", n)
	}
	if _, data := e.call("GET", "/metrics", nil); !strings.Contains(string(data), `pda_queue_held_deliveries{dest="nhsa"} 1`) {
		t.Errorf("metrics lack the held gauge")
	}
	if n := len(nh.Rows()); n != 0 {
		t.Fatalf("a held sale reached 医保: %d rows", n)
	}
	if _, data := e.call("GET", "/v1/diagnose?offline=true&code="+codeA, nil); !strings.Contains(string(data), "held on this device for 医保, never sent") {
		t.Errorf("diagnose does not say the sale is held: %s", data)
	}

	// The same through the scanner's cards: the PDA:FINISH answer says it.
	e.scan("till2", "PDA:SALE", "command")
	e.scan("till2", "PDA:SET:nhsa.mdtrt_sn=MD3", "command")
	e.scan("till2", "PDA:LOT:L2501:2025-05-01:2027-04-30", "command")
	e.scan("till2", codeC, "accepted")
	if ans := e.scan("till2", "PDA:FINISH", "command"); !strings.Contains(ans.Message, "HELD for nhsa, missing") ||
		!strings.Contains(ans.Message, "prsc_dr_name (attr nhsa.prsc_dr_name)") {
		t.Errorf("PDA:FINISH answered %q", ans.Message)
	}

	// The repair the README documents.
	var fixed agent.AttrsView
	e.ok("PATCH", "/v1/bills/"+fin.Code+"/attrs", map[string]any{"nhsa.prsc_dr_name": "王医生", "nhsa.hi_feesetl_type": "1",
		"nhsa.psn_cert_type": "01", "nhsa.rx_circ_flag": "0"}, &fixed)
	if len(fixed.Outlook) != 1 || fixed.Outlook[0].Will != agent.WillSend || len(fixed.Outlook[0].Missing) != 0 ||
		!slices.Equal(fixed.Requeued, []string{"nhsa"}) || fixed.Bill.Attrs["nhsa.prsc_dr_name"] != "王医生" {
		t.Fatalf("after the repair %+v", fixed)
	}
	// Looked at again at once, not after hold_retry (1h).
	eventually(t, 10*time.Second, "the repaired sale delivered", func() bool { return e.nhsaDelivery(fin.Code).State == queue.DeliveryDone })
	rows := nh.Rows()
	if len(rows) != 1 || rows[0].Infno != "3505" || !slices.Equal(rows[0].Codes, []string{codeA}) || rows[0].Applied != 1 {
		t.Fatalf("医保 rows %+v", rows)
	}

	// Sent: its 医保 attrs are fixed now; others may still change.
	eb := e.fails("PATCH", "/v1/bills/"+fin.Code+"/attrs", map[string]any{"nhsa.prsc_dr_name": "李医生"}, http.StatusConflict, queue.AttrsSent)
	if eb.Dest != "nhsa" || !slices.Equal(eb.Keys, []string{"nhsa.prsc_dr_name"}) {
		t.Errorf("refusal %+v", eb)
	}
	e.ok("PATCH", "/v1/bills/"+fin.Code+"/attrs", map[string]any{"pos.receipt": "R-0001"}, nil)
	e.fails("PATCH", "/v1/bills/"+fin.Code+"/attrs", map[string]any{}, http.StatusBadRequest, "bad_request")
	e.fails("PATCH", "/v1/bills/"+fin.Code+"/attrs", map[string]any{"nhsa.x": ""}, http.StatusBadRequest, "bad_request")
	e.fails("PATCH", "/v1/bills/NOPE-1/attrs", map[string]any{"nhsa.x": "1"}, http.StatusNotFound, "not_found")
}

// Store-wide defaults fill what a sale lacks; POST /v1/bills answers the
// outlook; a held delivery can be dropped, with a reason.
func TestDefaultsOutlookAndDropHeld(t *testing.T) {
	e, nh := startNHSA(t, "PDA_NHSA_DEFAULTS_PSN_CERT_TYPE=01", "PDA_NHSA_DEFAULTS_RX_CIRC_FLAG=0")
	if cfg := e.agent.Config(); cfg.NHSA.Defaults["psn_cert_type"] != "01" {
		t.Fatalf("nhsa.defaults from the environment: %v", cfg.NHSA.Defaults)
	}
	var sub struct {
		queue.Bill
		Outlook []agent.DestOutlook `json:"outlook"`
	}
	status, data := e.call("POST", "/v1/bills", map[string]any{"kind": "sale", "attrs": map[string]string{"nhsa.mdtrt_sn": "MD2", "nhsa.setl_id": "SE2"},
		"lines": []map[string]any{{"code": codeB}}})
	if status != http.StatusCreated {
		t.Fatalf("submit: %d %s", status, data)
	}
	if err := json.Unmarshal(data, &sub); err != nil {
		t.Fatal(err)
	}
	// The defaults took psn_cert_type and rx_circ_flag; codeB's product is
	// not in the catalogue, and it has no lot.
	if len(sub.Outlook) != 1 || sub.Outlook[0].Will != agent.WillHold {
		t.Fatalf("outlook %+v", sub.Outlook)
	}
	got := fields(sub.Outlook[0].Missing)
	for _, f := range []string{"psn_cert_type", "rx_circ_flag"} {
		if slices.Contains(got, f) {
			t.Errorf("%s is missing despite its default: %v", f, got)
		}
	}
	var sawCatalogue, sawHint bool
	for _, m := range sub.Outlook[0].Missing {
		sawCatalogue = sawCatalogue || (m.Field == "product" && m.Source == "catalogue")
		sawHint = sawHint || (m.Field == "prsc_dr_name" && strings.Contains(m.Detail, "nhsa.defaults.prsc_dr_name"))
	}
	if !sawCatalogue || !sawHint {
		t.Errorf("missing list %+v", sub.Outlook[0].Missing)
	}
	eventually(t, 10*time.Second, "the sale held", func() bool { return len(e.nhsaDelivery(sub.Code).Missing) > 0 })
	path := "/v1/bills/" + sub.Code + "/deliveries/nhsa/drop"
	e.fails("POST", path, map[string]any{"reason": "cash sale"}, http.StatusBadRequest, "bad_request")
	e.ok("POST", "/v1/bills/"+sub.Code+"/deliveries/nhsa/retry", nil, nil)
	eventually(t, 10*time.Second, "the retried sale held again", func() bool {
		d := e.nhsaDelivery(sub.Code)
		return d.State == queue.DeliveryPending && len(d.Missing) > 0 && d.Attempts >= 2
	})
	e.ok("POST", path, map[string]any{"reason": "a cash sale after all", "confirm": true}, nil)
	if d := e.nhsaDelivery(sub.Code); d.State != queue.DeliveryDropped {
		t.Fatalf("dropped %+v", d)
	}
	e.fails("POST", path, map[string]any{"reason": "again", "confirm": true}, http.StatusConflict, "not_held")
	if n := len(nh.Rows()); n != 0 {
		t.Fatalf("%d rows reached 医保", n)
	}
}
