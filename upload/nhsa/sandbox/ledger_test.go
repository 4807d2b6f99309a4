package sandbox_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

// wantLedger checks the ledger's rows by bchno, Applied 1 each, and the
// bchnos that are deleted.
func wantLedger(t *testing.T, s *sandbox.Server, bchnos []string, deleted ...string) {
	t.Helper()
	rows := s.Rows()
	var got, gotDeleted []string
	for _, r := range rows {
		got = append(got, r.Infno+":"+r.Bchno)
		if r.Applied != 1 {
			t.Errorf("row %+v applied %d times", r, r.Applied)
		}
		if r.Deleted {
			gotDeleted = append(gotDeleted, r.Bchno)
		}
	}
	if !slices.Equal(got, bchnos) || !slices.Equal(gotDeleted, deleted) {
		t.Fatalf("ledger %v deleted %v, want %v deleted %v", got, gotDeleted, bchnos, deleted)
	}
}

func TestMsgidIdempotency(t *testing.T) {
	for _, mode := range []string{sandbox.EnvelopePlain, sandbox.EnvelopeSM2SM4} {
		t.Run(mode, func(t *testing.T) {
			s := newServer(t, sandbox.SchemeTif, mode)
			c := newClient(s, sandbox.SchemeTif, mode)
			req := c.request(InfSale, sel(sale("M-1", code(1), code(2))))
			first := c.send(t, req)
			wantOK(t, first)
			// The same msgid again, inf_time rebuilt by the retry: the very
			// same answer, nothing applied again.
			req.InfTime = clock.Add(-30 * time.Second).In(cst).Format(TimeLayout)
			again := c.send(t, req)
			wantOK(t, again)
			if !bytes.Equal(first.plain, again.plain) {
				t.Errorf("replayed answer differs:\n%s\n%s", first.plain, again.plain)
			}
			// A refusal is stored too.
			bad := c.request(InfSale, sel(sale("M-2", code(1))))
			r1, r2 := c.send(t, bad), c.send(t, bad)
			wantRefused(t, r1, ErrTextSoldCode)
			if !bytes.Equal(r1.plain, r2.plain) {
				t.Error("replayed refusal differs")
			}
			// The msgid with other content is refused, not answered from the
			// store.
			req.Input = mustJSON(t, sel(sale("M-3", code(3))))
			wantRefused(t, c.send(t, req), "已用于其他内容")
			wantLedger(t, s, []string{"3505:M-1"})
			st := s.Stats()
			if st.DuplicateMsgids != 2 || st.Rejected["msgid_reuse"] != 1 || st.Rejected["sold_code"] != 1 || st.AcceptedRows != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestBchnoDuplicateAndConflict(t *testing.T) {
	s := newServer(t, sandbox.SchemeNone, sandbox.EnvelopePlain)
	c := newClient(s, sandbox.SchemeNone, sandbox.EnvelopePlain)
	row := sale("B-1", code(1))
	wantOK(t, c.send(t, c.request(InfSale, sel(row))))
	// Identical row, new msgid: already there.
	r := c.send(t, c.request(InfSale, sel(row)))
	wantRefused(t, r, ErrTextDuplicateNo, "B-1")
	// Same bchno, other content: a conflict, not worded as a duplicate.
	other := row
	other.Memo = "changed"
	r = c.send(t, c.request(InfSale, sel(other)))
	wantRefused(t, r, "冲突", "B-1")
	if strings.Contains(r.resp.ErrMsg, ErrTextDuplicateNo) {
		t.Errorf("conflict reads as a duplicate: %s", r.resp.ErrMsg)
	}
	// The same bchno under another interface is a conflict too.
	ret := saleReturn("B-1", "SEL-B-1", code(1))
	wantRefused(t, c.send(t, c.request(InfSaleReturn, sel(ret))), "冲突")
	// A batch: all there → duplicate; some there → neither duplicate nor
	// applied.
	wantOK(t, c.send(t, c.request(InfSale, sel(sale("B-2", code(2)), sale("B-3", code(3))))))
	wantRefused(t, c.send(t, c.request(InfSale, sel(sale("B-2", code(2)), sale("B-3", code(3))))), ErrTextDuplicateNo)
	r = c.send(t, c.request(InfSale, sel(sale("B-3", code(3)), sale("B-4", code(4)))))
	wantRefused(t, r, "部分记录已上传", "B-3")
	if strings.Contains(r.resp.ErrMsg, ErrTextDuplicateNo) {
		t.Errorf("partial duplicate reads as a duplicate: %s", r.resp.ErrMsg)
	}
	wantLedger(t, s, []string{"3505:B-1", "3505:B-2", "3505:B-3"})
	st := s.Stats()
	if st.Rejected["duplicate_bchno"] != 2 || st.Rejected["bchno_conflict"] != 2 || st.Rejected["partial_duplicate"] != 1 {
		t.Errorf("stats %+v", st.Rejected)
	}
	// Another institution has its own bchnos.
	o := testOptions(sandbox.SchemeNone, sandbox.EnvelopePlain)
	o.Institutions = append(o.Institutions, sandbox.Institution{FixmedinsCode: "P99000000002", FixmedinsName: "第二药房", Admdvs: "990200"})
	s = sandbox.New(o)
	c = newClient(s, sandbox.SchemeNone, sandbox.EnvelopePlain)
	wantOK(t, c.send(t, c.request(InfSale, sel(sale("B-1", code(1))))))
	c2 := newClient(s, sandbox.SchemeNone, sandbox.EnvelopePlain)
	c2.code, c2.name, c2.admdvs = "P99000000002", "第二药房", "990200"
	wantOK(t, c2.send(t, c2.request(InfSale, sel(sale("B-1", code(2))))))
	// …but trace codes are national: one code, one sale.
	wantRefused(t, c2.send(t, c2.request(InfSale, sel(sale("B-9", code(1))))), ErrTextSoldCode, code(1))
}

func TestSoldCodeReturnResale(t *testing.T) {
	s := newServer(t, sandbox.SchemeNone, sandbox.EnvelopePlain)
	c := newClient(s, sandbox.SchemeNone, sandbox.EnvelopePlain)
	wantOK(t, c.send(t, c.request(InfSale, sel(sale("S-1", code(1), code(2))))))
	r := c.send(t, c.request(InfSale, sel(sale("S-2", code(3), code(2)))))
	wantRefused(t, r, ErrTextSoldCode, code(2))
	if strings.Contains(r.resp.ErrMsg, code(3)) {
		t.Errorf("err_msg names an unsold code: %s", r.resp.ErrMsg)
	}
	// Return code(1) of S-1 (by its medins_prod_sel_no), then sell it again.
	wantOK(t, c.send(t, c.request(InfSaleReturn, sel(saleReturn("R-1", "SEL-S-1", code(1))))))
	wantOK(t, c.send(t, c.request(InfSale, sel(sale("S-3", code(1))))))
	// code(2) is still sold.
	wantRefused(t, c.send(t, c.request(InfSale, sel(sale("S-4", code(2))))), ErrTextSoldCode)
	// A return may name the sale by its bchno too.
	wantOK(t, c.send(t, c.request(InfSaleReturn, sel(saleReturn("R-2", "S-3", code(1))))))

	for _, tc := range []struct {
		name   string
		row    Sale
		reason string
		text   string
	}{
		{"unknown sale", saleReturn("R-9", "SEL-NONE", code(2)), "unknown_reference", "原销售记录不存在"},
		{"code not in the sale", saleReturn("R-9", "SEL-S-1", code(9)), "return_mismatch", "不在原销售记录中"},
		{"code returned twice", saleReturn("R-9", "SEL-S-1", code(1)), "return_mismatch", "已退货"},
		{"other drug", func() Sale { r := saleReturn("R-9", "SEL-S-1", code(2)); r.MedListCodg = "X"; return r }(), "return_mismatch", "med_list_codg"},
		{"split return of a whole sale", func() Sale {
			r := saleReturn("R-9", "SEL-S-1", code(2))
			r.TrdnFlag = "1"
			return r
		}(), "return_mismatch", "trdn_flag"},
		{"more than sold", func() Sale {
			r := saleReturn("R-9", "SEL-S-1")
			r.SelRetnCnt = 2
			return r
		}(), "return_mismatch", "超过"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Stats().Rejected[tc.reason]
			wantRefused(t, c.send(t, c.request(InfSaleReturn, sel(tc.row))), tc.text)
			if s.Stats().Rejected[tc.reason] != before+1 {
				t.Errorf("not counted under %s", tc.reason)
			}
		})
	}
	// A return without codes takes count back but leaves the codes sold.
	wantOK(t, c.send(t, c.request(InfSaleReturn, sel(func() Sale {
		r := saleReturn("R-3", "SEL-S-1")
		r.SelRetnCnt = 1
		return r
	}()))))
	wantRefused(t, c.send(t, c.request(InfSale, sel(sale("S-5", code(2))))), ErrTextSoldCode)
	wantLedger(t, s, []string{"3505:S-1", "3506:R-1", "3505:S-3", "3506:R-2", "3506:R-3"})
	rows := s.Rows()
	if rows[1].RefNo != "SEL-S-1" || !slices.Equal(rows[1].Codes, []string{code(1)}) || rows[1].Count != 1 || rows[1].TrdnFlag != "0" ||
		rows[0].Msgid == "" || rows[0].FixmedinsCode != sandbox.TestFixmedinsCode || rows[0].InfRefmsgid == "" {
		t.Errorf("rows %+v", rows[:2])
	}
}

func TestSplitSales(t *testing.T) {
	s := newServer(t, sandbox.SchemeNone, sandbox.EnvelopePlain)
	c := newClient(s, sandbox.SchemeNone, sandbox.EnvelopePlain)
	// Three partial sales of one opened box.
	wantOK(t, c.send(t, c.request(InfSale, sel(splitSale("T-1", 6, code(1))))))
	wantOK(t, c.send(t, c.request(InfSale, sel(splitSale("T-2", 6, code(1))))))
	wantOK(t, c.send(t, c.request(InfSale, sel(splitSale("T-3", 0.5, code(1))))))
	// A split code cannot then be sold whole.
	wantRefused(t, c.send(t, c.request(InfSale, sel(sale("T-4", code(1))))), ErrTextSoldCode, "拆零", code(1))
	// A code sold whole cannot be split-sold.
	wantOK(t, c.send(t, c.request(InfSale, sel(sale("T-5", code(2))))))
	wantRefused(t, c.send(t, c.request(InfSale, sel(splitSale("T-6", 1, code(2))))), ErrTextSoldCode, code(2))
	// Split returns go against split sales; once every split sale of the
	// box is returned, the box may be sold whole.
	for i, b := range []string{"T-1", "T-2", "T-3"} {
		r := saleReturn("TR-"+b, b, code(1))
		r.TrdnFlag, r.SelRetnCnt = "1", []float64{6, 6, 0.5}[i]
		wantOK(t, c.send(t, c.request(InfSaleReturn, sel(r))))
	}
	wantOK(t, c.send(t, c.request(InfSale, sel(sale("T-7", code(1))))))
	rows := s.Rows()
	if rows[2].Count != 0.5 || rows[2].TrdnFlag != "1" {
		t.Errorf("split row %+v", rows[2])
	}
}

func TestDelete(t *testing.T) {
	s := newServer(t, sandbox.SchemeNone, sandbox.EnvelopePlain)
	c := newClient(s, sandbox.SchemeNone, sandbox.EnvelopePlain)
	send := func(infno string, input any) *result { return c.send(t, c.request(infno, input)) }
	wantOK(t, send(InfSale, sel(sale("D-1", code(1)))))
	wantRefused(t, send(InfDelete, del("D-1", DeletePurchase)), "inv_data_type[3]与记录类型不符")
	wantOK(t, send(InfDelete, del("D-1", DeleteSale)))
	// Its code is sellable again, and its bchno free.
	wantOK(t, send(InfSale, sel(sale("D-2", code(1)))))
	wantRefused(t, send(InfDelete, del("D-1", DeleteSale)), "记录已删除")
	wantRefused(t, send(InfDelete, del("D-404", DeleteSale)), "记录不存在")
	wantOK(t, send(InfSale, sel(sale("D-1", code(2)))))

	// A sale with a return in force: the return goes first.
	wantOK(t, send(InfSaleReturn, sel(saleReturn("DR-1", "SEL-D-2", code(1)))))
	wantRefused(t, send(InfDelete, del("D-2", DeleteSale)), "请先删除退货记录")
	// Deleting the return sells code(1) again under D-2 …
	wantOK(t, send(InfDelete, del("DR-1", DeleteSale)))
	wantRefused(t, send(InfSale, sel(sale("D-3", code(1)))), ErrTextSoldCode)
	// … and a return whose code was resold meanwhile cannot be deleted.
	wantOK(t, send(InfSaleReturn, sel(saleReturn("DR-2", "SEL-D-2", code(1)))))
	wantOK(t, send(InfSale, sel(sale("D-4", code(1)))))
	wantRefused(t, send(InfDelete, del("DR-2", DeleteSale)), "已再次销售")
	wantOK(t, send(InfDelete, del("D-4", DeleteSale)))
	wantOK(t, send(InfDelete, del("DR-2", DeleteSale)))
	wantOK(t, send(InfDelete, del("D-2", DeleteSale)))

	wantLedger(t, s, []string{
		"3505:D-1", "3507:D-1", "3505:D-2", "3505:D-1", "3506:DR-1", "3507:DR-1", "3506:DR-2", "3505:D-4",
		"3507:D-4", "3507:DR-2", "3507:D-2"},
		"D-1", "D-2", "DR-1", "DR-2", "D-4")
	st := s.Stats()
	if st.Rejected["delete_type"] != 1 || st.Rejected["already_deleted"] != 1 || st.Rejected["unknown_bchno"] != 1 ||
		st.Rejected["delete_blocked"] != 2 || st.AcceptedRows != 11 {
		t.Errorf("stats %+v", st)
	}
}

func TestPurchases(t *testing.T) {
	s := newServer(t, sandbox.SchemeNone, sandbox.EnvelopePlain)
	c := newClient(s, sandbox.SchemeNone, sandbox.EnvelopePlain)
	send := func(infno string, input any) *result { return c.send(t, c.request(infno, input)) }
	p := purchase("P-1")
	p.MedinsProdPurcNo = "PURC-1"
	wantOK(t, send(InfPurchase, purc(p)))
	wantOK(t, send(InfPurchase, purc(purchase("P-2"), purchase("P-3"))))
	// Returns by the purchase's own number or its bchno, at most what was
	// bought.
	wantOK(t, send(InfPurchaseReturn, purc(purchaseReturn("PR-1", "PURC-1", 4))))
	wantOK(t, send(InfPurchaseReturn, purc(purchaseReturn("PR-2", "P-1", 6))))
	wantRefused(t, send(InfPurchaseReturn, purc(purchaseReturn("PR-3", "P-1", 0.0001))), "超过")
	wantRefused(t, send(InfPurchaseReturn, purc(purchaseReturn("PR-3", "P-404", 1))), "原采购记录不存在")
	// Two rows of one call count together.
	wantRefused(t, send(InfPurchaseReturn, purc(purchaseReturn("PR-3", "P-2", 6), purchaseReturn("PR-4", "P-2", 5))), "超过")
	wantRefused(t, send(InfDelete, del("P-1", DeleteSale)), "inv_data_type[4]")
	wantRefused(t, send(InfDelete, del("P-1", DeletePurchase)), "请先删除退货记录")
	wantOK(t, send(InfDelete, del("PR-2", DeletePurchase)))
	wantOK(t, send(InfPurchaseReturn, purc(purchaseReturn("PR-3", "P-1", 6))))
	wantLedger(t, s, []string{"3503:P-1", "3503:P-2", "3503:P-3", "3504:PR-1", "3504:PR-2", "3507:PR-2", "3504:PR-3"}, "PR-2")
	if r := s.Rows()[0]; r.RefNo != "PURC-1" || r.Count != 10 || r.TrdnFlag != "" {
		t.Errorf("purchase row %+v", r)
	}
}

// TestBusyIsNotStored: FaultBusy refuses without applying or storing; a
// retry with the same msgid is then handled afresh.
func TestBusyIsNotStored(t *testing.T) {
	s := newServer(t, sandbox.SchemeNone, sandbox.EnvelopeSM2SM4)
	c := newClient(s, sandbox.SchemeNone, sandbox.EnvelopeSM2SM4)
	s.InjectFaults(sandbox.FaultBusy)
	req := c.request(InfSale, sel(sale("BZ-1", code(1))))
	wantRefused(t, c.send(t, req), ErrTextBusy)
	if len(s.Rows()) != 0 {
		t.Fatal("busy applied the row")
	}
	wantOK(t, c.send(t, req))
	st := s.Stats()
	if st.Faults[sandbox.FaultBusy] != 1 || st.Rejected["busy"] != 1 || st.DuplicateMsgids != 0 || st.AcceptedRows != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestStoredAnswerIsJSON guards the bytes replayed: they are what was
// sent, a complete Response.
func TestStoredAnswerIsJSON(t *testing.T) {
	s := newServer(t, sandbox.SchemeNone, sandbox.EnvelopePlain)
	c := newClient(s, sandbox.SchemeNone, sandbox.EnvelopePlain)
	req := c.request(InfSale, sel(sale("J-1", code(1))))
	a, b := c.send(t, req), c.send(t, req)
	var ra, rb Response
	if json.Unmarshal(a.plain, &ra) != nil || json.Unmarshal(b.plain, &rb) != nil || !reflect.DeepEqual(ra, rb) || ra.InfRefmsgid == "" {
		t.Errorf("%s vs %s", a.plain, b.plain)
	}
}
