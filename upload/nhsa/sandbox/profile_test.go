package sandbox_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

// The business verdicts as the tests read them: output.result (3505A,
// nhsa.md §3.5) and output.invinfoErrDetail[] (public C# Output_3502A).
type resultOut struct {
	Result *struct {
		RetRslt string `json:"retRslt"`
		MsgRslt string `json:"msgRslt"`
	} `json:"result"`
	Rows []struct {
		MedListCodg         string `json:"med_list_codg"`
		FixmedinsHilistID   string `json:"fixmedins_hilist_id"`
		FixmedinsHilistName string `json:"fixmedins_hilist_name"`
		FixmedinsBchno      string `json:"fixmedins_bchno"`
		RetRslt             string `json:"retRslt"`
		MsgRslt             string `json:"msgRslt"`
	} `json:"invinfoErrDetail"`
}

func outputOf(t testing.TB, r *result) resultOut {
	t.Helper()
	if r.resp == nil || r.resp.Infcode != InfcodeOK {
		t.Fatalf("want infcode 0 with an output, got %s", r)
	}
	var o resultOut
	dec := json.NewDecoder(bytes.NewReader(r.resp.Output))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		t.Fatalf("output %s: %v", r.resp.Output, err)
	}
	return o
}

// wantRetRslt fails unless output.result says rslt with msgRslt holding text.
func wantRetRslt(t testing.TB, r *result, rslt, text string) {
	t.Helper()
	o := outputOf(t, r)
	if o.Result == nil || o.Result.RetRslt != rslt || !strings.Contains(o.Result.MsgRslt, text) || o.Rows != nil {
		t.Fatalf("want retRslt %s %q, got %s", rslt, text, r.resp.Output)
	}
}

func profileServer(t testing.TB, edit func(o *sandbox.Options)) (*sandbox.Server, *tclient) {
	t.Helper()
	o := testOptions(sandbox.SchemeNone, sandbox.EnvelopePlain)
	edit(&o)
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	s := sandbox.New(o)
	return s, newClient(s, sandbox.SchemeNone, sandbox.EnvelopePlain)
}

func TestInputStyle(t *testing.T) {
	one := func() any { return sel(sale("IS-1", code(1))) }
	two := func() any { return sel(sale("IS-2", code(2)), sale("IS-3", code(3))) }
	listOfOne := func() any { return map[string]any{NodeSale: []Sale{sale("IS-4", code(4))}} }
	for _, tc := range []struct {
		style            string
		one, two, listed bool
	}{
		{"", true, true, true},
		{sandbox.InputAny, true, true, true},
		{sandbox.InputList, false, true, true},
		{sandbox.InputObject, true, false, false},
	} {
		t.Run(tc.style, func(t *testing.T) {
			s, c := profileServer(t, func(o *sandbox.Options) { o.InputStyle = tc.style })
			for _, in := range []struct {
				input func() any
				ok    bool
			}{{one, tc.one}, {two, tc.two}, {listOfOne, tc.listed}} {
				r := c.send(t, c.request(InfSale, in.input()))
				if in.ok {
					wantOK(t, r)
				} else {
					wantRefused(t, r, "节点selinfo应为")
				}
			}
			// 3507's data node is one object whatever the style.
			first := "IS-1"
			if !tc.one {
				first = "IS-2"
			}
			wantOK(t, c.send(t, c.request(InfDelete, del(first, DeleteSale))))
			refused := 0
			for _, ok := range []bool{tc.one, tc.two, tc.listed} {
				if !ok {
					refused++
				}
			}
			if got := s.Stats().Rejected["input_style"]; got != refused {
				t.Errorf("input_style refusals %d, want %d", got, refused)
			}
		})
	}
	bad := testOptions(sandbox.SchemeNone, sandbox.EnvelopePlain)
	bad.InputStyle = "rows"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "input style") {
		t.Errorf("unknown style: %v", err)
	}
}

func TestMaxInputOption(t *testing.T) {
	s, c := profileServer(t, func(o *sandbox.Options) { o.MaxInput = 3000 })
	var rows []Sale
	for i := range 6 {
		rows = append(rows, sale("MI-"+string(rune('a'+i)), code(i)))
	}
	in := mustJSON(t, sel(rows...))
	if len(in) <= 3000 {
		t.Fatalf("test input only %d characters", len(in))
	}
	r := c.send(t, c.request(InfSale, sel(rows...)))
	wantRefused(t, r, "入参input长度", "超过最大长度[3000]")
	if s.Stats().Rejected["input_too_long"] != 1 || len(s.Rows()) != 0 {
		t.Errorf("stats %+v", s.Stats())
	}
	wantOK(t, c.send(t, c.request(InfSale, sel(rows[:2]...))))
	bad := testOptions(sandbox.SchemeNone, sandbox.EnvelopePlain)
	bad.MaxInput = -1
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "MaxInput") {
		t.Error("negative MaxInput accepted")
	}
}

func TestAllowDuplicateBchno(t *testing.T) {
	t.Run("enforced", func(t *testing.T) {
		s, c := profileServer(t, func(o *sandbox.Options) {})
		wantOK(t, c.send(t, c.request(InfPurchase, purc(purchase("DB-1")))))
		wantRefused(t, c.send(t, c.request(InfPurchase, purc(purchase("DB-1")))), ErrTextDuplicateNo)
		if rows := s.Rows(); len(rows) != 1 || rows[0].Applied != 1 {
			t.Errorf("ledger %+v", rows)
		}
	})
	t.Run("not enforced", func(t *testing.T) {
		s, c := profileServer(t, func(o *sandbox.Options) { o.AllowDuplicateBchno = true })
		wantOK(t, c.send(t, c.request(InfPurchase, purc(purchase("DB-1")))))
		// The same purchase under a new msgid is recorded twice.
		wantOK(t, c.send(t, c.request(InfPurchase, purc(purchase("DB-1")))))
		if rows := s.Rows(); len(rows) != 1 || rows[0].Applied != 2 {
			t.Errorf("ledger %+v", rows)
		}
		// A sale sent again is caught by one code, one sale instead: the
		// platform holds the sale, the resend is refused.
		wantOK(t, c.send(t, c.request(InfSale, sel(sale("DB-2", code(1))))))
		wantRefused(t, c.send(t, c.request(InfSale, sel(sale("DB-2", code(1))))), ErrTextSoldCode)
		if st := s.Stats(); st.Rejected["sold_code"] != 1 || st.Rejected["duplicate_bchno"] != 0 || st.AcceptedRows != 3 {
			t.Errorf("stats %+v", st)
		}
	})
}

func TestRequiredFieldProfiles(t *testing.T) {
	noRtal := sale("RP-1", code(1))
	noRtal.RtalDocno = ""
	noInvoice := purchaseReturn("RP-3", "RP-2", 1)
	noInvoice.PurcInvoNo = ""
	ret := saleReturn("RP-5", "SEL-RP-4", code(4))
	ret.PsnCertType = ""
	for _, tc := range []struct {
		name      string
		edit      func(o *sandbox.Options)
		signtype  string
		rtal, inv bool // a 3505 without rtal_docno, a 3504 without purc_invo_no accepted
		psn, sign bool // a 3506 without psn_cert_type, a request without signtype accepted
	}{
		{"published tables", func(o *sandbox.Options) {}, "", false, false, true, true},
		{"relaxed for an older client", func(o *sandbox.Options) {
			o.Relax = []string{"3505.rtal_docno", "3504.purc_invo_no"}
		}, "", true, true, true, true},
		{"province requiring psn_cert_type and signtype", func(o *sandbox.Options) {
			o.Require = []string{"3506.psn_cert_type", "request.signtype"}
		}, "SM2", false, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := profileServer(t, tc.edit)
			send := func(infno string, input any, signtype string) *result {
				req := c.request(infno, input)
				req.Signtype = signtype
				return c.send(t, req)
			}
			check := func(r *result, ok bool, field string) {
				t.Helper()
				if ok {
					wantOK(t, r)
				} else {
					wantRefused(t, r, "必填字段缺失", field)
				}
			}
			check(send(InfSale, sel(noRtal), tc.signtype), tc.rtal, "rtal_docno")
			wantOK(t, send(InfPurchase, purc(purchase("RP-2")), tc.signtype))
			check(send(InfPurchaseReturn, purc(noInvoice), tc.signtype), tc.inv, "purc_invo_no")
			wantOK(t, send(InfSale, sel(sale("RP-4", code(4))), tc.signtype))
			check(send(InfSaleReturn, sel(ret), tc.signtype), tc.psn, "psn_cert_type")
			check(send(InfSale, sel(sale("RP-6", code(6))), ""), tc.sign, "signtype")
		})
	}
	bad := testOptions(sandbox.SchemeNone, sandbox.EnvelopePlain)
	bad.Require = []string{"3505.rtal_doc_no"}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "rtal_doc_no") {
		t.Error("a misspelt field accepted in Require")
	}
}

func TestAnswerRetRslt(t *testing.T) {
	s, c := profileServer(t, func(o *sandbox.Options) { o.Answer = sandbox.AnswerRetRslt })
	wantRetRslt(t, c.send(t, c.request(InfSale, sel(sale("RR-1", code(1))))), "1", "成功")
	// A business refusal is infcode 0 with retRslt 0, nothing applied.
	r := c.send(t, c.request(InfSale, sel(sale("RR-2", code(2)), sale("RR-3", code(1)))))
	wantRetRslt(t, r, "0", ErrTextSoldCode)
	// So is a row that fails its checks.
	bad := sale("RR-4", code(4))
	bad.MdtrtSn = ""
	wantRetRslt(t, c.send(t, c.request(InfSale, sel(bad))), "0", "mdtrt_sn")
	// And a rule across the rows of the call.
	wantRetRslt(t, c.send(t, c.request(InfSale, sel(sale("RR-7", code(7)), sale("RR-7", code(8))))), "0", "出现多次")
	// The FSI header and the input as a whole stay infcode -1.
	req := c.request(InfSale, sel(sale("RR-5", code(5))))
	req.OpterType = "9"
	wantRefused(t, c.send(t, req), "经办人类别")
	wantRefused(t, c.send(t, c.request(InfSale, map[string]any{"sel": 1})), "缺少节点selinfo")
	if rows := s.Rows(); len(rows) != 1 || rows[0].Bchno != "RR-1" {
		t.Errorf("ledger %+v", rows)
	}
	// The stored answer is replayed byte for byte.
	again := c.request(InfSale, sel(sale("RR-6", code(6))))
	first := c.send(t, again)
	wantRetRslt(t, first, "1", "成功")
	if second := c.send(t, again); !bytes.Equal(first.body, second.body) || s.Stats().DuplicateMsgids != 1 {
		t.Errorf("replay %s vs %s", second.body, first.body)
	}
}

func TestAnswerPerRow(t *testing.T) {
	s, c := profileServer(t, func(o *sandbox.Options) { o.Answer = sandbox.AnswerPerRow })
	wantOK(t, c.send(t, c.request(InfSale, sel(sale("PR-0", code(9))))))
	s.RefuseRows("医保目录编码与机构目录对照不符", "PR-3")
	bad := sale("PR-4", code(4))
	bad.ManuDate = "2026/03/01"
	req := c.request(InfSale, sel(sale("PR-1", code(1)), sale("PR-2", code(9)), sale("PR-3", code(3)), bad,
		sale("PR-5", code(5))))
	r := c.send(t, req)
	o := outputOf(t, r)
	want := []struct{ bchno, rslt, text string }{
		{"PR-1", "1", "成功"},
		{"PR-2", "0", ErrTextSoldCode},
		{"PR-3", "0", "医保目录编码与机构目录对照不符"},
		{"PR-4", "0", "manu_date"},
		{"PR-5", "1", "成功"},
	}
	if o.Result != nil || len(o.Rows) != len(want) {
		t.Fatalf("output %s", r.resp.Output)
	}
	for i, w := range want {
		g := o.Rows[i]
		if g.FixmedinsBchno != w.bchno || g.RetRslt != w.rslt || !strings.Contains(g.MsgRslt, w.text) ||
			g.MedListCodg == "" {
			t.Errorf("row %d: %+v, want %+v", i, g, w)
		}
	}
	wantLedger(t, s, []string{"3505:PR-0", "3505:PR-1", "3505:PR-5"})
	st := s.Stats()
	if st.Rejected["sold_code"] != 1 || st.Rejected["row_refused"] != 1 || st.Rejected["invalid_date"] != 1 {
		t.Errorf("rejected %v", st.Rejected)
	}
	// The same msgid again changes nothing and gets the same answer.
	if again := c.send(t, req); !bytes.Equal(again.body, r.body) {
		t.Errorf("replay differs: %s", again.body)
	}
	// A new message for the rows still out: the refused row stays refused
	// until cleared, the others go in (PR-1 is already there).
	s.RefuseRows("", "PR-3")
	bad.ManuDate = "2026-03-01"
	o = outputOf(t, c.send(t, c.request(InfSale, sel(sale("PR-1", code(1)), sale("PR-3", code(3)), bad))))
	if len(o.Rows) != 3 || o.Rows[0].RetRslt != "0" || !strings.Contains(o.Rows[0].MsgRslt, ErrTextDuplicateNo) ||
		o.Rows[1].RetRslt != "1" || o.Rows[2].RetRslt != "1" {
		t.Errorf("second call %+v", o.Rows)
	}
	wantLedger(t, s, []string{"3505:PR-0", "3505:PR-1", "3505:PR-5", "3505:PR-3", "3505:PR-4"})
}

func TestRefuseRowsWholeCall(t *testing.T) {
	s, c := profileServer(t, func(o *sandbox.Options) {})
	s.RefuseRows("该商品未在本机构目录中备案", "RW-2")
	r := c.send(t, c.request(InfSale, sel(sale("RW-1", code(1)), sale("RW-2", code(2)))))
	wantRefused(t, r, "RW-2", "该商品未在本机构目录中备案")
	if len(s.Rows()) != 0 {
		t.Fatal("a refused call applied rows")
	}
	s.RefuseRows("", "RW-2")
	wantOK(t, c.send(t, c.request(InfSale, sel(sale("RW-1", code(1)), sale("RW-2", code(2))))))
}

func TestInjectAnswers(t *testing.T) {
	s, c := profileServer(t, func(o *sandbox.Options) {})
	s.InjectAnswers(sandbox.AnswerPerRow, sandbox.AnswerRetRslt)
	o := outputOf(t, c.send(t, c.request(InfSale, sel(sale("IA-1", code(1))))))
	if len(o.Rows) != 1 || o.Rows[0].RetRslt != "1" {
		t.Errorf("first answer %+v", o)
	}
	wantRetRslt(t, c.send(t, c.request(InfSale, sel(sale("IA-2", code(2))))), "1", "成功")
	r := c.send(t, c.request(InfSale, sel(sale("IA-3", code(3)))))
	wantOK(t, r)
	if r.resp.Output != nil {
		t.Errorf("the default shape has output %s", r.resp.Output)
	}
	for a, name := range map[sandbox.Answer]string{sandbox.AnswerInfcode: "infcode", sandbox.AnswerRetRslt: "retRslt",
		sandbox.AnswerPerRow: "per_row", 7: "answer(7)"} {
		if a.String() != name {
			t.Errorf("%d.String() = %q", a, a.String())
		}
	}
	bad := testOptions(sandbox.SchemeNone, sandbox.EnvelopePlain)
	bad.Answer = 7
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "answer shape") {
		t.Error("unknown answer shape accepted")
	}
}

// TestFaultApplyThen500: the row is in, the client sees a JSON 500; the
// same msgid then gets the stored answer and counts as a duplicate.
func TestFaultApplyThen500(t *testing.T) {
	for _, env := range []string{sandbox.EnvelopePlain, sandbox.EnvelopeSM2SM4} {
		t.Run(env, func(t *testing.T) {
			r, c := start(t, testOptions(sandbox.SchemeTif, env))
			r.InjectFaults(sandbox.FaultApplyThen500)
			req := c.request(InfSale, sel(sale("A5-1", code(1))))
			// Read raw, as a client would, before any parsing.
			body := mustJSON(t, req)
			if env == sandbox.EnvelopeSM2SM4 {
				var err error
				if body, err = c.seal(body); err != nil {
					t.Fatal(err)
				}
			}
			hreq, _ := http.NewRequest(http.MethodPost, r.URL(), bytes.NewReader(body))
			hreq.Header = c.headers()
			resp, err := c.hc.Do(hreq)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusInternalServerError || string(got) != `{"code":500,"message":"Internal Server Error"}` ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("HTTP %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), got)
			}
			if rows := r.Rows(); len(rows) != 1 || rows[0].Msgid != req.Msgid || rows[0].Applied != 1 {
				t.Fatalf("ledger %+v", rows)
			}
			wantOK(t, c.send(t, req))
			wantRefused(t, c.send(t, c.request(InfSale, sel(sale("A5-1", code(1))))), ErrTextDuplicateNo)
			st := r.Stats()
			if st.DuplicateMsgids != 1 || st.Faults[sandbox.FaultApplyThen500] != 1 || st.AcceptedRows != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestFaultBusyResult(t *testing.T) {
	r, c := start(t, testOptions(sandbox.SchemeNone, sandbox.EnvelopeSM2SM4))
	r.InjectFaults(sandbox.FaultBusyResult)
	req := c.request(InfSale, sel(sale("BR-1", code(1))))
	wantRetRslt(t, c.send(t, req), "0", ErrTextBusy)
	if len(r.Rows()) != 0 {
		t.Fatal("busy applied the row")
	}
	// Not stored: the same msgid is handled afresh.
	wantOK(t, c.send(t, req))
	st := r.Stats()
	if st.DuplicateMsgids != 0 || st.Rejected["busy"] != 1 || st.Faults[sandbox.FaultBusyResult] != 1 {
		t.Errorf("stats %+v", st)
	}
}
