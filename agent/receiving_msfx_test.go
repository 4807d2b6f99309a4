package agent

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// goldenGateway answers 码上放心 methods with the client's golden answers
// (upload/msfx/testdata, written from the public SDK types) or with the
// bodies given in override, by method.
func goldenGateway(t *testing.T, variant string, override map[string]string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Errorf("form: %v", err)
		}
		m := r.PostForm.Get("method")
		body, ok := override[m]
		if !ok {
			b, err := os.ReadFile(filepath.Join("..", "upload", "msfx", "testdata", m, variant))
			if err != nil {
				t.Errorf("no answer for %s: %v", m, err)
				http.Error(w, "no answer", http.StatusNotFound)
				return
			}
			body = string(b)
		}
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/router/rest"
}

func msfxTestAgent(t *testing.T, gateway string) *Agent {
	return newTestAgent(t, "PDA_MSFX_ENABLED=true", "PDA_MSFX_GATEWAY="+gateway, "PDA_MSFX_APP_KEY=24680135",
		"PDA_MSFX_APP_SECRET=test-secret-not-real", "PDA_MSFX_REF_ENT_ID=320000000000127971",
		"PDA_MSFX_ENT_ID=5069452c34b94a778abaa26c2b40b305", "PDA_MSFX_RATE=0")
}

var goldenUpstream = []UpstreamRef{{BillCode: "XS20261126001", BillType: 201, FromRef: "310000000000000001", FromEntID: "0a1b2c3d4e5f60718293a4b5c6d7e8f9"}}

// TestReceivingExpectsThePlatformsPacks: a receiving against a supplier's
// bill expects its smallest packs (the case on the bill expanded through
// query.relation) with the lots and dates the bill gives, in every shape
// the platform answers in.
func TestReceivingExpectsThePlatformsPacks(t *testing.T) {
	for _, variant := range []string{"simplify-true.result.json", "simplify-true.top.json", "simplify-false.result.json", "simplify-false.top.json"} {
		t.Run(variant, func(t *testing.T) {
			a := msfxTestAgent(t, goldenGateway(t, variant, nil))
			v, err := a.StartReceiving(context.Background(), ReceiveRequest{Session: "dock", Upstream: goldenUpstream})
			if err != nil {
				t.Fatal(err)
			}
			if v.Expected == nil || v.Expected.Expected != 4 || len(v.Expected.Missing) != 4 {
				t.Fatalf("expected view %+v", v.Expected)
			}
			want := map[string]queue.Expected{
				"81012350000000157474": {Lot: "B260201", Produced: "2026-02-01", Expiry: "2028-01-31"},
				"81012350000000157475": {Lot: "B260201", Produced: "2026-02-01", Expiry: "2028-01-31", Parent: "83012350000000000017"},
				"81012350000000157476": {Lot: "B260201", Produced: "2026-02-01", Expiry: "2028-01-31", Parent: "83012350000000000017"},
				"81234560000000000011": {Lot: "IB0315", Produced: "2026-03-15", Expiry: "2029-03-14"},
			}
			for _, e := range v.Expected.Missing {
				w, ok := want[e.Code]
				if !ok || e.Lot != w.Lot || e.Produced != w.Produced || e.Expiry != w.Expiry || e.Parent != w.Parent || e.Upstream != "XS20261126001" {
					t.Errorf("expected pack %+v, want %+v", e, w)
				}
			}
			// A scanned pack carries the supplier's lot and dates on the bill
			// (what the 医保 purchase 3503 sends).
			scan(t, a, "dock", "81234560000000000011", device.StatusAccepted)
			v, err = a.Session("dock")
			if err != nil || len(v.Items) != 1 {
				t.Fatalf("items %+v, %v", v.Items, err)
			}
			if it := v.Items[0]; it.Lot != "IB0315" || it.Produced != "2026-03-15" || it.Expiry != "2029-03-14" {
				t.Errorf("scanned item %+v", it)
			}
		})
	}
}

// TestReceivingTakesLotsFromCodeDetail: when the bill's line gives no lot
// or dates, query.codedetail's produce_info_list does.
func TestReceivingTakesLotsFromCodeDetail(t *testing.T) {
	detail := `{"result":{"msg_code":"SUCCESS","success":true,"model":{"bill_code":"XS20261126001","bill_type":"201",
		"drug_infos_dto_list":[{"physic_name":"阿莫西林胶囊","code_info_list_dto_list":[{"code":"81012350000000157474","code_level":"1"}]},
		{"physic_name":"布洛芬片","code_info_list_dto_list":[{"code":"81234560000000000011","code_level":"1"}]}]}}}`
	a := msfxTestAgent(t, goldenGateway(t, "simplify-false.result.json", map[string]string{wire.MethodListUpOutDetail: detail}))
	v, err := a.StartReceiving(context.Background(), ReceiveRequest{Session: "dock", Upstream: goldenUpstream})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range v.Expected.Missing {
		got = append(got, e.Code+" "+e.Lot+" "+e.Produced+" "+e.Expiry)
	}
	want := "81012350000000157474 B260201 2026-02-01 2028-01-31,81234560000000000011 IB0315 2026-03-15 2029-03-14"
	if strings.Join(got, ",") != want {
		t.Errorf("got %v\nwant %s", got, want)
	}
}

func TestDateOnly(t *testing.T) {
	for in, want := range map[string]string{"2028-01-31": "2028-01-31", "2028-01-31 00:00:00": "2028-01-31", "20280131": "2028-01-31",
		"2028/01/31": "2028-01-31", "": "", "31.01.2028": "", "2028-13-01": ""} {
		if got := dateOnly(in); got != want {
			t.Errorf("dateOnly(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestComplianceListsUnreceivedUpstream: listupout pages (bill_out_id a
// JSON number, rows plain or wrapped) reach the compliance view.
func TestComplianceListsUnreceivedUpstream(t *testing.T) {
	for _, variant := range []string{"simplify-true.result.json", "simplify-true.top.json", "simplify-false.result.json", "simplify-false.top.json"} {
		t.Run(variant, func(t *testing.T) {
			a := msfxTestAgent(t, goldenGateway(t, variant, nil))
			c, err := a.Compliance(context.Background())
			if err != nil || c.UpstreamError != "" {
				t.Fatalf("%v: %s", err, c.UpstreamError)
			}
			if len(c.UnreceivedUpstream) != 1 {
				t.Fatalf("unreceived %+v", c.UnreceivedUpstream)
			}
			if r := c.UnreceivedUpstream[0]; r.BillCode != "XS20261126001" || r.BillType != 201 || r.Packs != 20 || r.From != "上海某医药有限公司" {
				t.Errorf("row %+v", r)
			}
		})
	}
}

// TestReceivingTheSameBillTwice: a supplier bill received in two goes (two
// sessions, the first finished) — the second counts the first's packs as
// received (not missing, not confirmed again), and neither receiving
// shows the other's key-variety packs as gaps in the compliance view.
func TestReceivingTheSameBillTwice(t *testing.T) {
	products := filepath.Join(t.TempDir(), "products.csv")
	if err := os.WriteFile(products, []byte("key,name,key_variety\n8101235,阿莫西林胶囊,true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := goldenGateway(t, "simplify-true.result.json", nil)
	a := newTestAgent(t, "PDA_MSFX_ENABLED=true", "PDA_MSFX_GATEWAY="+gw, "PDA_MSFX_APP_KEY=24680135",
		"PDA_MSFX_APP_SECRET=test-secret-not-real", "PDA_MSFX_REF_ENT_ID=320000000000127971",
		"PDA_MSFX_ENT_ID=5069452c34b94a778abaa26c2b40b305", "PDA_MSFX_RATE=0", "PDA_CATALOGUE_PRODUCTS="+products)
	ctx := context.Background()
	if _, err := a.StartReceiving(ctx, ReceiveRequest{Session: "dock1", Upstream: goldenUpstream}); err != nil {
		t.Fatal(err)
	}
	scan(t, a, "dock1", "81012350000000157474", device.StatusAccepted)
	scan(t, a, "dock1", "81234560000000000011", device.StatusAccepted)
	finish(t, a, "dock1")

	v, err := a.StartReceiving(ctx, ReceiveRequest{Session: "dock2", Upstream: goldenUpstream})
	if err != nil {
		t.Fatal(err)
	}
	x := v.Expected
	if x == nil || x.Expected != 4 || x.Earlier != 2 || x.Scanned != 0 || len(x.Missing) != 2 || x.Complete {
		t.Fatalf("second receiving: %+v", x)
	}
	for _, e := range x.Missing {
		if e.Code != "81012350000000157475" && e.Code != "81012350000000157476" {
			t.Fatalf("missing %s, which the first receiving took", e.Code)
		}
	}
	scan(t, a, "dock2", "81012350000000157475", device.StatusAccepted)
	scan(t, a, "dock2", "81012350000000157476", device.StatusAccepted)
	if v, err = a.Session("dock2"); err != nil || !v.Expected.Complete || v.Expected.Scanned != 2 {
		t.Fatalf("second receiving with the rest scanned: %+v %v", v.Expected, err)
	}
	finish(t, a, "dock2")

	c, err := a.Compliance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.KeyVarietyGaps) != 0 {
		t.Fatalf("key_variety_gaps %+v: every key-variety pack was received, in one go or the other", c.KeyVarietyGaps)
	}
}
