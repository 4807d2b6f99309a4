package sandbox_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/upload/msfx/sandbox"
)

const mSearchBill = "alibaba.alihealth.drug.lsyd.searchbill"

// tSearchRow is the part of domain/AlibabaAlihealthDrugLsydSearchbillBillChkInOutDo.go
// the tests read.
type tSearchRow struct {
	BillCode       string `json:"bill_code"`
	BillType       string `json:"bill_type"`
	BillTime       string `json:"bill_time"`
	RefUserID      string `json:"ref_user_id"`
	SubProcessFlag string `json:"sub_process_flag"`
}

func searchBill(kind string, simplify bool, layout string) *tcall {
	c := newCall(mSearchBill, map[string]string{"ref_ent_id": storeRef, "begin_date": "2026-11-27", "end_date": "2026-11-27",
		"bill_type": kind, "cur_page": "1", "page_size": "20"})
	if simplify {
		c.p["simplify"] = "true"
	}
	c.layout = layout
	return c
}

func searchCodes(t *testing.T, a *answer) []string {
	t.Helper()
	var page struct {
		ResultList json.RawMessage `json:"result_list"`
		TotalNum   int             `json:"total_num"`
	}
	if a.q == nil || !a.q.OK() || json.Unmarshal(a.q.fields["model"], &page) != nil {
		t.Fatalf("searchbill = %s", a)
	}
	// The classic shape wraps the list in its item name.
	var rows []tSearchRow
	var wrapped struct {
		Items []tSearchRow `json:"bill_chk_in_out_do"`
	}
	if json.Unmarshal(page.ResultList, &rows) != nil {
		if err := json.Unmarshal(page.ResultList, &wrapped); err != nil {
			t.Fatalf("result_list %s: %v", page.ResultList, err)
		}
		rows = wrapped.Items
	}
	if page.TotalNum != len(rows) {
		t.Fatalf("total_num %d, %d rows", page.TotalNum, len(rows))
	}
	var out []string
	for _, r := range rows {
		if r.RefUserID != storeRef || r.BillTime == "" {
			t.Errorf("row %+v", r)
		}
		out = append(out, r.BillCode)
	}
	return out
}

func detailCodes(t *testing.T, s *sandbox.Server, bill string, simplify bool, layout string) ([]string, bool) {
	t.Helper()
	c := query(mUpBillDet, map[string]string{"bill_code": bill})
	if simplify {
		c.p["simplify"] = "true"
	}
	c.layout = layout
	a := c.serve(t, s)
	if a.q != nil && a.q.MsgCode == msgNoPatInfo {
		return nil, false
	}
	var d tBillDetail
	if a.q == nil || !a.q.OK() || json.Unmarshal(a.q.fields["model"], &d) != nil {
		t.Fatalf("upbilldetail %s = %s", bill, a)
	}
	return d.codes(), true
}

// TestReconcileHooksInEveryLayout: searchbill lists the store's own bills
// and upbilldetail answers from the ledger, in every layout and list shape;
// a lost bill is gone (and its codes free), a changed code shows, a
// foreign bill is listed.
func TestReconcileHooksInEveryLayout(t *testing.T) {
	for _, l := range []struct {
		opt  sandbox.Layout
		name string
	}{{sandbox.LayoutDeclared, ""}, {sandbox.LayoutResult, "result"}, {sandbox.LayoutTopLevel, "top"}} {
		for _, simplify := range []bool{true, false} {
			t.Run(l.opt.String()+map[bool]string{true: "/simplify", false: "/classic"}[simplify], func(t *testing.T) {
				s := newServer(t, sandbox.Options{Layout: l.opt})
				up := func(c *tcall) *tcall { c.layout = l.name; return c }
				wantAccepted(t, up(inOut("RK-1", 102, box(710), box(711))).serve(t, s))
				wantAccepted(t, up(retail("LS-1", 321, box(710))).serve(t, s))
				wantAccepted(t, up(retail("LS-2", 321, box(711))).serve(t, s))
				if got := searchCodes(t, searchBill("A", simplify, l.name).serve(t, s)); !slices.Equal(got, []string{"RK-1", "LS-1", "LS-2"}) {
					t.Errorf("A: %v", got)
				}
				if got := searchCodes(t, searchBill("AO", simplify, l.name).serve(t, s)); !slices.Equal(got, []string{"LS-1", "LS-2"}) {
					t.Errorf("AO: %v", got)
				}
				if got := searchCodes(t, searchBill("AI", simplify, l.name).serve(t, s)); !slices.Equal(got, []string{"RK-1"}) {
					t.Errorf("AI: %v", got)
				}
				other := searchBill("A", simplify, l.name)
				other.p["begin_date"], other.p["end_date"] = "2026-11-28", "2026-11-29"
				if got := searchCodes(t, other.serve(t, s)); len(got) != 0 {
					t.Errorf("other days: %v", got)
				}

				if !s.LoseBill(storeRef, "LS-1") || s.LoseBill(storeRef, "LS-1") {
					t.Fatal("LoseBill")
				}
				if _, found := detailCodes(t, s, "LS-1", simplify, l.name); found {
					t.Error("a lost bill is still found")
				}
				if !s.ChangeCode(storeRef, "LS-2", box(711), box(712)) || s.ChangeCode(storeRef, "LS-2", box(711), box(713)) ||
					s.ChangeCode(storeRef, "LS-2", box(712), "81999990000000000001") {
					t.Fatal("ChangeCode")
				}
				if got, found := detailCodes(t, s, "LS-2", simplify, l.name); !found || !slices.Equal(got, []string{box(712)}) {
					t.Errorf("changed bill codes %v found %v", got, found)
				}
				at := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
				if err := s.AddForeignBill(storeRef, "TILL2-9", 321, at, box(720)); err != nil {
					t.Fatal(err)
				}
				if err := s.AddForeignBill(storeRef, "TILL2-9", 321, at, box(721)); err == nil {
					t.Error("a foreign bill over an existing bill_code was taken")
				}
				if got := searchCodes(t, searchBill("AO", simplify, l.name).serve(t, s)); !slices.Equal(got, []string{"LS-2", "TILL2-9"}) {
					t.Errorf("AO after the hooks: %v", got)
				}
				// The lost bill's code is free: resending the bill as it was is accepted.
				wantAccepted(t, up(retail("LS-1", 321, box(710))).serve(t, s))
				if got, found := detailCodes(t, s, "LS-1", simplify, l.name); !found || !slices.Equal(got, []string{box(710)}) {
					t.Errorf("resent bill codes %v found %v", got, found)
				}
			})
		}
	}
}

// TestSearchBillIsStrict: every required parameter of the SDK request
// type, bill_type among A/AI/AO, and numeric paging.
func TestSearchBillIsStrict(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	for _, k := range []string{"ref_ent_id", "begin_date", "end_date", "bill_type", "cur_page", "page_size"} {
		c := searchBill("A", true, "")
		delete(c.p, k)
		if a := c.serve(t, s); a.err == nil || !strings.Contains(a.err.SubMsg, k) {
			t.Errorf("without %s: %s", k, a)
		}
	}
	for k, v := range map[string]string{"bill_type": "AX", "cur_page": "0", "page_size": "x", "begin_date": "27/11/2026", "page": "1"} {
		c := searchBill("A", true, "")
		c.p[k] = v
		if a := c.serve(t, s); a.err == nil {
			t.Errorf("%s=%s: %s", k, v, a)
		}
	}
}
