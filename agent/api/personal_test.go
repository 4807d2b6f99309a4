package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/queue"
)

// bodyRecorder forwards to the 医保 sandbox (target, set once it runs) and
// keeps every request body: what left the device.
type bodyRecorder struct {
	mu     sync.Mutex
	target *url.URL
	bodies [][]byte
}

func (r *bodyRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.bodies = append(r.bodies, body)
	target := r.target
	r.mu.Unlock()
	req.Body = io.NopCloser(bytes.NewReader(body))
	httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, req)
}

func (r *bodyRecorder) sent(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.bodies {
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

func queueHolds(t *testing.T, path string, values ...string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, v := range values {
		if bytes.Contains(data, []byte(v)) {
			found = append(found, v)
		}
	}
	return found
}

// A 医保 sale whose patient data came from the POS (session attrs) and
// the scanner (PDA:SET:) reaches the 医保 sandbox with it, yet the queue
// file never holds it in plain text; once delivered it is erased. The bill
// views mask it unless asked. With the key file replaced, a sale still
// carrying personal data is held with the reason, and status says so.
func TestPersonalDataEncryptedDeliveredErased(t *testing.T) {
	const certno, name, psnNo = "110101199003074514", "欧阳测试", "PSN35000000000777"
	rec := &bodyRecorder{}
	proxy := httptest.NewServer(rec)
	defer proxy.Close()
	e, nh := startNHSA(t, "PDA_NHSA_TEST_URL="+proxy.URL)
	u, err := url.Parse(nh.URL())
	if err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	rec.target = u
	rec.mu.Unlock()
	queueFile := filepath.Join(e.dataDir, "queue.db")
	keyFile := filepath.Join(e.dataDir, "personal.key")
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("personal key file: %v %v", fi, err)
	}

	e.ok("POST", "/v1/sessions", map[string]string{"session": "till1", "kind": "sale"}, nil)
	e.ok("POST", "/v1/sessions/till1/attrs", map[string]any{"attrs": map[string]string{"nhsa.certno": certno, "nhsa.psn_name": name}}, nil)
	e.scan("till1", "PDA:SET:nhsa.psn_no="+psnNo, "command")
	e.scan("till1", "PDA:LOT:L2501:2025-05-01:2027-04-30", "command")
	e.scan("till1", codeA, "accepted")
	if found := queueHolds(t, queueFile, certno, name, psnNo); len(found) > 0 {
		t.Fatalf("open sale: the queue file holds %v", found)
	}
	var fin queue.Bill
	e.ok("POST", "/v1/sessions/till1/finish", map[string]any{"attrs": map[string]string{"nhsa.mdtrt_sn": "MD1", "nhsa.setl_id": "SE1",
		"nhsa.prsc_dr_name": "王医生", "nhsa.hi_feesetl_type": "1", "nhsa.psn_cert_type": "01", "nhsa.rx_circ_flag": "0"}}, &fin)
	eventually(t, 10*time.Second, "the sale delivered", func() bool { return e.nhsaDelivery(fin.Code).State == queue.DeliveryDone })
	for _, v := range []string{`"certno":"` + certno + `"`, `"psn_name":"` + name + `"`, `"psn_no":"` + psnNo + `"`} {
		if !rec.sent(v) {
			t.Errorf("医保 was not sent %s", v)
		}
	}
	if rows := nh.Rows(); len(rows) != 1 || rows[0].Infno != "3505" {
		t.Fatalf("医保 rows %+v", rows)
	}
	var v agent.BillView
	e.ok("GET", "/v1/bills/"+fin.Code+"?personal_data=1", nil, &v)
	if _, ok := v.Bill.Attrs["nhsa.certno"]; ok || v.Bill.PersonalErased.IsZero() || v.Bill.Attrs["nhsa.mdtrt_sn"] != "MD1" {
		t.Fatalf("delivered bill: attrs %v, erased %v", v.Bill.Attrs, v.Bill.PersonalErased)
	}
	if found := queueHolds(t, queueFile, certno, name, psnNo); len(found) > 0 {
		t.Fatalf("after delivery: the queue file holds %v", found)
	}

	// A sale held for data it lacks keeps its personal data, masked in the
	// views unless asked for.
	e.ok("POST", "/v1/sessions", map[string]string{"session": "till2", "kind": "sale"}, nil)
	e.scan("till2", "PDA:LOT:L2501:2025-05-01:2027-04-30", "command")
	e.scan("till2", codeC, "accepted")
	var held queue.Bill
	e.ok("POST", "/v1/sessions/till2/finish", map[string]any{"attrs": map[string]string{"nhsa.mdtrt_sn": "MD2", "nhsa.certno": certno}}, &held)
	eventually(t, 10*time.Second, "the sale held", func() bool { return len(e.nhsaDelivery(held.Code).Missing) > 0 })
	e.ok("GET", "/v1/bills/"+held.Code, nil, &v)
	if got := v.Bill.Attrs["nhsa.certno"]; got != queue.MaskValue(certno) {
		t.Fatalf("bill view shows certno as %q", got)
	}
	var list []queue.Bill
	e.ok("GET", "/v1/bills", nil, &list)
	for _, b := range list {
		if b.Attrs["nhsa.certno"] == certno {
			t.Fatalf("bill list shows certno of %s", b.Code)
		}
	}
	e.ok("GET", "/v1/bills/"+held.Code+"?personal_data=1", nil, &v)
	if got := v.Bill.Attrs["nhsa.certno"]; got != certno {
		t.Fatalf("bill view asked for personal data shows %q", got)
	}
	if found := queueHolds(t, queueFile, certno); len(found) > 0 {
		t.Fatal("held sale: the queue file holds its certno")
	}

	// The key file replaced while the agent was stopped: the sale, once
	// repaired, is held for the key with the file named, and status says so.
	e.stop()
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.LoadBytes("test", nil, []string{"PDA_DEVICE_ID=T1", "PDA_DATA_DIR=" + e.dataDir})
	if err != nil {
		t.Fatal(err)
	}
	k, err := agent.PersonalKey(cfg, true, nil)
	if err != nil || k == nil {
		t.Fatalf("a new key: %v", err)
	}
	s, err := queue.Open(queueFile, queue.Options{Logger: quiet, PersonalKey: k, PersonalKeyFile: keyFile, UsesAttr: agent.BuiltinUsesAttr})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b, err := s.BillByCode(held.Code)
	if err != nil {
		t.Fatal(err)
	}
	if b.Sealed["nhsa.certno"] == "" {
		t.Fatalf("with another key the certno reads %q", b.Attrs["nhsa.certno"])
	}
	if err := s.Retry(ctx, b.ID, "nhsa"); err != nil {
		t.Fatal(err)
	}
	if ls, err := s.Lease(ctx, "nhsa", 1, time.Minute); err != nil || len(ls) != 0 {
		t.Fatalf("leased a sale whose certno cannot be decrypted: %v %v", ls, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	in, err := agent.OpenInspector(cfg, agent.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	st, err := in.Status()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.PersonalKey, keyFile) || !strings.Contains(strings.Join(st.Problems, "\n"), "cannot be decrypted") {
		t.Fatalf("status: personal_key %q, problems %v", st.PersonalKey, st.Problems)
	}
}
