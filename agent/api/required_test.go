package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/queue"
	nhsasb "github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

// The supplier of the 3503/3504 tests, as a store's partners file names it.
const (
	supplierID       = "5e0a7c3b9d2f48a6b1c3e5f7a9b0d2e4"
	requiredPartners = "ent_id,name,license_no\n" + supplierID + ",沙箱医药批发有限公司,苏AA0250001\n"
)

// fsiTap sits between the agent and the 医保 sandbox on loopback and keeps
// every request body, so a test can read the rows exactly as sent.
type fsiTap struct {
	mu     sync.Mutex
	bodies [][]byte
}

// rows returns the input rows of every request of infno, as sent (the
// node a list of rows, or one object per call).
func (f *fsiTap) rows(t *testing.T, infno string) []map[string]any {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []map[string]any
	for _, b := range f.bodies {
		var req struct {
			Infno string                     `json:"infno"`
			Input map[string]json.RawMessage `json:"input"`
		}
		if err := json.Unmarshal(b, &req); err != nil {
			t.Fatalf("a request the tap saw is not a plain FSI request: %v: %s", err, b)
		}
		if req.Infno != infno {
			continue
		}
		for _, node := range req.Input {
			var list []map[string]any
			if err := json.Unmarshal(node, &list); err != nil {
				var one map[string]any
				if err := json.Unmarshal(node, &one); err != nil {
					t.Fatalf("input node of %s: %v", infno, err)
				}
				list = []map[string]any{one}
			}
			out = append(out, list...)
		}
	}
	return out
}

// startTapped runs an agent against the 医保 sandbox through an fsiTap,
// with the partners file of the supplier.
func startTapped(t *testing.T) (*testEnv, *nhsasb.Running, *fsiTap) {
	t.Helper()
	o := nhsasb.TestOptions(nhsasb.SchemeNone, nhsasb.EnvelopePlain)
	o.Logger = quiet
	nh, err := nhsasb.Start("127.0.0.1:0", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nh.Close() })
	target, err := url.Parse("http://" + nh.Addr())
	if err != nil {
		t.Fatal(err)
	}
	tap := &fsiTap{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		tap.mu.Lock()
		tap.bodies = append(tap.bodies, body)
		tap.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		proxy.ServeHTTP(w, r)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })

	partners := filepath.Join(t.TempDir(), "partners.csv")
	if err := os.WriteFile(partners, []byte(requiredPartners), 0o600); err != nil {
		t.Fatal(err)
	}
	// Later variables win: the agent talks to the tap, not the sandbox.
	e, _ := startNHSA(t, "PDA_NHSA_TEST_URL=http://"+ln.Addr().String()+nhsasb.DefaultPath, "PDA_CATALOGUE_PARTNERS="+partners)
	return e, nh, tap
}

type finishAnswer struct {
	queue.Bill
	Outlook []agent.DestOutlook `json:"outlook"`
}

// Issue 19: a 3505 without a receipt number (nhsa.rtal_docno) takes the
// bill code, and the sandbox, which requires rtal_docno, takes the sale.
func TestSaleWithoutReceiptNumberSendsBillCode(t *testing.T) {
	e, nh, tap := startTapped(t)
	e.ok("POST", "/v1/sessions", map[string]string{"session": "till1", "kind": "sale"}, nil)
	e.scan("till1", "PDA:LOT:L2501:2025-05-01:2027-04-30", "command")
	e.scan("till1", codeA, "accepted")
	var fin finishAnswer
	e.ok("POST", "/v1/sessions/till1/finish", map[string]any{"attrs": map[string]string{
		"nhsa.mdtrt_sn": "MD1", "nhsa.setl_id": "SE1", "nhsa.prsc_dr_name": "王医生", "nhsa.hi_feesetl_type": "1",
		"nhsa.psn_cert_type": "01", "nhsa.rx_circ_flag": "0"}}, &fin)
	if len(fin.Outlook) != 1 || fin.Outlook[0].Will != agent.WillSend {
		t.Fatalf("outlook %+v", fin.Outlook)
	}
	eventually(t, 10*time.Second, "the sale delivered", func() bool { return e.nhsaDelivery(fin.Code).State == queue.DeliveryDone })
	rows := tap.rows(t, "3505")
	if len(rows) != 1 {
		t.Fatalf("%d 3505 rows sent", len(rows))
	}
	if got := rows[0]["rtal_docno"]; got != fin.Code {
		t.Errorf("rtal_docno %v, want the bill code %s", got, fin.Code)
	}
	if got := nh.Rows(); len(got) != 1 || got[0].Infno != "3505" || got[0].Applied != 1 {
		t.Fatalf("ledger %+v", got)
	}
}

// Issue 19: a 3504 without the supplier's invoice number (nhsa.purc_invo_no,
// required in 3504's table) is held with the reason, the finish answer
// says so, and giving it delivers the return against its purchase.
func TestSupplierReturnWithoutInvoiceHeld(t *testing.T) {
	e, nh, tap := startTapped(t)

	// The purchase the return refers to (3503: purc_invo_no optional).
	e.ok("POST", "/v1/sessions", map[string]string{"session": "dock", "kind": "receive", "partner": supplierID}, nil)
	e.scan("dock", "PDA:LOT:L2501:2025-05-01:2027-04-30", "command")
	e.scan("dock", codeA, "accepted")
	var in finishAnswer
	e.ok("POST", "/v1/sessions/dock/finish", map[string]any{}, &in)
	if len(in.Outlook) != 1 || in.Outlook[0].Will != agent.WillSend {
		t.Fatalf("purchase outlook %+v", in.Outlook)
	}
	eventually(t, 10*time.Second, "the purchase delivered", func() bool { return e.nhsaDelivery(in.Code).State == queue.DeliveryDone })

	e.ok("POST", "/v1/sessions", map[string]string{"session": "back", "kind": "supplier_return", "partner": supplierID}, nil)
	e.scan("back", codeA, "accepted")
	var out finishAnswer
	e.ok("POST", "/v1/sessions/back/finish", map[string]any{}, &out)
	if out.Type != 202 || len(out.Outlook) != 1 || out.Outlook[0].Dest != "nhsa" || out.Outlook[0].Will != agent.WillHold {
		t.Fatalf("return outlook %+v (type %d)", out.Outlook, out.Type)
	}
	if got := fields(out.Outlook[0].Missing); !slices.Equal(got, []string{"purc_invo_no"}) {
		t.Fatalf("missing %v, want [purc_invo_no]: %+v", got, out.Outlook[0].Missing)
	}
	if m := out.Outlook[0].Missing[0]; m.Source != "attr nhsa.purc_invo_no" || m.Detail == "" {
		t.Errorf("missing %+v", m)
	}
	eventually(t, 10*time.Second, "the return held", func() bool { return len(e.nhsaDelivery(out.Code).Missing) > 0 })
	if d := e.nhsaDelivery(out.Code); !d.Unsent || !slices.Equal(fields(d.Missing), []string{"purc_invo_no"}) {
		t.Fatalf("held delivery %+v", d)
	}
	if n := len(tap.rows(t, "3504")); n != 0 {
		t.Fatalf("a held return was sent: %d rows", n)
	}

	var fixed agent.AttrsView
	e.ok("PATCH", "/v1/bills/"+out.Code+"/attrs", map[string]any{"nhsa.purc_invo_no": "INV-0091"}, &fixed)
	if len(fixed.Outlook) != 1 || fixed.Outlook[0].Will != agent.WillSend {
		t.Fatalf("after the repair %+v", fixed.Outlook)
	}
	eventually(t, 10*time.Second, "the return delivered", func() bool { return e.nhsaDelivery(out.Code).State == queue.DeliveryDone })
	rows := tap.rows(t, "3504")
	if len(rows) != 1 || rows[0]["purc_invo_no"] != "INV-0091" {
		t.Fatalf("3504 rows %v", rows)
	}
	var purchase, ret *nhsasb.Row
	for _, r := range nh.Rows() {
		switch r.Infno {
		case "3503":
			purchase = &r
		case "3504":
			ret = &r
		}
	}
	if purchase == nil || ret == nil || ret.RefNo != purchase.Bchno || ret.Count != 1 {
		t.Fatalf("ledger: purchase %+v, return %+v", purchase, ret)
	}
}
