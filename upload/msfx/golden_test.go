package msfx

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// Golden answers (testdata/<method>/): written by hand from the public SDK
// types (github.com/golgys0621/topsdk ability2939), with every field they
// declare, in both list shapes (simplify-true: plain arrays, no method
// wrapper; simplify-false: the classic TOP shape, lists wrapped in the
// element's XML name from bububa/opentaobao's metadata, inside
// "<method>_response") and both layouts (result: payload inside "result";
// top: at the top level of the response). Each is served by the fake
// gateway and read through the client's own methods, and every field the
// agent uses is checked.

// goldenVariants are the file names every method directory holds.
var goldenVariants = []string{"simplify-true.result.json", "simplify-true.top.json", "simplify-false.result.json", "simplify-false.top.json"}

// golden reads one golden answer.
func golden(t *testing.T, method, variant string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", method, variant))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// goldenCase checks one method's answers.
type goldenCase struct {
	method string
	// also are other methods the call makes, answered from their golden
	// files of the same variant.
	also  []string
	check func(t *testing.T, c *Client, g *fakeGateway)
}

const (
	gSupplierRef = "310000000000000001"
	gCase        = "83012350000000000017"
)

func TestGoldenAnswers(t *testing.T) {
	cases := []goldenCase{
		{method: wire.MethodUploadInOutBill, check: func(t *testing.T, c *Client, g *fakeGateway) {
			r, dup, e := c.upload(context.Background(), wire.MethodUploadInOutBill, map[string]string{
				"bill_code": "RK20261127001", "bill_time": "2026-11-27 10:01:02", "bill_type": "102", "physic_type": "3",
				"ref_user_id": ownRef, "from_user_id": supplierEnt, "to_user_id": ownEnt, "trace_codes": codeA, "client_type": "2",
			})
			if e != nil || dup {
				t.Fatalf("upload: %v, dup %v", e, dup)
			}
			checkErrs, err := parseCheckErrors(string(r.OperationInfo.CodeCheckErrorInfo))
			if r.Model != "200118368918456" || err != nil || len(checkErrs) != 1 || checkErrs["81012350000000157475"] == "" {
				t.Errorf("model %q, check errors %v (%v)", r.Model, checkErrs, err)
			}
		}},
		{method: wire.MethodUploadRetail, check: func(t *testing.T, c *Client, g *fakeGateway) {
			r, dup, e := c.upload(context.Background(), wire.MethodUploadRetail, map[string]string{
				"bill_code": "LS20261127001", "bill_time": "2026-11-27 10:01:02", "bill_type": "321", "ref_user_id": ownRef, "trace_codes": codeA,
			})
			if e != nil || dup {
				t.Fatalf("upload: %v, dup %v", e, dup)
			}
			if r.Model != "200118368918457" || (r.OperationInfo != nil && r.OperationInfo.CodeCheckErrorInfo != "") {
				t.Errorf("answer %+v", r)
			}
		}},
		{method: wire.MethodQueryUpBillCode, check: func(t *testing.T, c *Client, g *fakeGateway) {
			rows, err := c.QueryUpBillCode(context.Background(), codeA)
			if err != nil || len(rows) != 1 {
				t.Fatalf("rows %+v, %v", rows, err)
			}
			r := rows[0]
			got := []any{r.BillCode, r.BillType, r.BillTime, r.FromRefUserID, r.FromUserID, r.FromUserName, r.ToRefUserID}
			want := []any{wire.Str("XS20261126001"), wire.Int64(201), wire.Str("2026-11-26 16:00:00"), wire.Str(gSupplierRef),
				wire.Str(supplierEnt), wire.Str("上海某医药有限公司"), wire.Str(ownRef)}
			if !slices.Equal(got, want) {
				t.Errorf("row\n got %v\nwant %v", got, want)
			}
		}},
		{method: wire.MethodListUpOut, check: func(t *testing.T, c *Client, g *fakeGateway) {
			page, err := c.ListUpOut(context.Background(), finished.AddDate(0, 0, -30), finished, ListUpOutOptions{Status: 1, PageSize: 100})
			if err != nil || len(page.ResultList) != 1 || page.TotalNum != 11 {
				t.Fatalf("page %+v, %v", page, err)
			}
			r := page.ResultList[0]
			got := []any{r.BillCode, r.BillType, r.BillTime, r.BillOutID, r.CodeCount, r.Status, r.FromUserName, r.FromUserID,
				r.FromRefUserID, r.ProduceBatchNo, r.ExpireDate, r.PhysicName}
			want := []any{wire.Str("XS20261126001"), wire.Int64(201), wire.Str("2026-11-26 16:00:00"), wire.Int64(900118368918456),
				wire.Int64(20), wire.Int64(1), wire.Str("上海某医药有限公司"), wire.Str(supplierEnt), wire.Str(gSupplierRef),
				wire.Str("B260201"), wire.Str("2028-01-31"), wire.Str("阿莫西林胶囊")}
			if !slices.Equal(got, want) {
				t.Errorf("row\n got %v\nwant %v", got, want)
			}
		}},
		{method: wire.MethodListUpOutDetail, also: []string{wire.MethodQueryRelation}, check: func(t *testing.T, c *Client, g *fakeGateway) {
			d, found, err := c.ListUpOutDetail(context.Background(), "XS20261126001", gSupplierRef, "")
			if err != nil || !found || len(d.Lines) != 2 {
				t.Fatalf("detail %+v, %v, %v", d, found, err)
			}
			if d.BillCode != "XS20261126001" || d.BillType != 201 || d.EntSendID != gSupplierRef || d.EntSendName != "上海某医药有限公司" ||
				d.EntRecvID != ownRef || d.StoreOutDate != "2026-11-26 16:00:00" || d.UpdateDate != "2026-11-26 16:05:12" {
				t.Errorf("header %+v", d.UpOutDetail)
			}
			l0, l1 := d.Lines[0], d.Lines[1]
			got := []any{l0.Drug.PhysicName, l0.Drug.ProduceBatchNo, l0.Drug.ProduceDate, l0.Drug.ValidEndDate, l0.Drug.PackageSpec, l0.Drug.LeastPkgAmount,
				l1.Drug.PhysicName, l1.Drug.ProduceBatchNo, l1.Drug.ValidEndDate}
			want := []any{wire.Str("阿莫西林胶囊"), wire.Str("B260201"), wire.Str("2026-02-01"), wire.Str("2028-01-31"), wire.Str("0.25g*24粒/盒"), wire.Int64(11),
				wire.Str("布洛芬片"), wire.Str("IB0315"), wire.Str("2029-03-14")}
			if !slices.Equal(got, want) {
				t.Errorf("lines\n got %v\nwant %v", got, want)
			}
			wantPacks := [][]Pack{
				{{Code: "81012350000000157474"}, {Code: "81012350000000157475", Case: gCase}, {Code: "81012350000000157476", Case: gCase}},
				{{Code: "81234560000000000011"}},
			}
			for i, l := range d.Lines {
				if !slices.Equal(l.Packs, wantPacks[i]) {
					t.Errorf("line %d packs %v, want %v", i, l.Packs, wantPacks[i])
				}
			}
			if len(d.Unexpanded) != 0 {
				t.Errorf("unexpanded %v", d.Unexpanded)
			}
			if calls := g.CallsTo(wire.MethodQueryRelation); len(calls) != 1 || calls[0].Params["code"] != gCase {
				t.Errorf("relation calls %+v, want one for the case", calls)
			}
		}},
		{method: wire.MethodQueryBillStatus, check: func(t *testing.T, c *Client, g *fakeGateway) {
			rows, err := c.QueryBillStatus(context.Background(), "LS004", finished.Add(-24*time.Hour), finished.Add(24*time.Hour))
			if err != nil || len(rows) != 2 {
				t.Fatalf("rows %+v, %v", rows, err)
			}
			r := rows[0]
			got := []any{r.BillCode, r.ResultType, r.ProcessInfo, r.ProcessDate, r.SubProcessFlag, rows[1].BillCode, rows[1].ResultType}
			want := []any{wire.Str("LS004_1"), wire.Int64(3), wire.Str("部分处理成功"), wire.Str("2026-11-27 10:30:00"), wire.Str("52"),
				wire.Str("LS004_2"), wire.Int64(0)}
			if !slices.Equal(got, want) {
				t.Errorf("rows\n got %v\nwant %v", got, want)
			}
		}},
		{method: wire.MethodQueryUpBillDetail, check: func(t *testing.T, c *Client, g *fakeGateway) {
			d, found, err := c.QueryUpBillDetail(context.Background(), "RK20261127001")
			if err != nil || !found || d.BillCode != "RK20261127001" || d.BillType != 102 || len(d.Lines) != 1 {
				t.Fatalf("detail %+v, %v, %v", d, found, err)
			}
			if l := d.Lines[0]; l.ProductBatchNo != "B260201" || l.MinPkgCount != 2 || len(l.Codes) != 2 || l.Codes[1].Code != "81012350000000157476" {
				t.Errorf("line %+v", l)
			}
		}},
		{method: MethodSearchBill, check: func(t *testing.T, c *Client, g *fakeGateway) {
			day := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
			rows, err := c.SearchBills(context.Background(), day, day)
			if err != nil || len(rows) != 2 {
				t.Fatalf("rows %+v, %v", rows, err)
			}
			got := []any{rows[0].BillCode, rows[0].BillType, rows[0].BillTime, rows[0].SubProcessFlag, rows[1].BillCode, rows[1].BillType, rows[1].FromUserID}
			want := []any{wire.Str("LS20261127001"), wire.Str("321"), wire.Str("2026-11-27 10:01:02"), wire.Str("51"),
				wire.Str("RK20261127001"), wire.Str("102"), wire.Str("a1b2c3d4e5f60718293a4b5c6d7e8f90")}
			if !slices.Equal(got, want) {
				t.Errorf("rows\n got %v\nwant %v", got, want)
			}
			calls := g.CallsTo(MethodSearchBill)
			if p := calls[len(calls)-1].Params; p["begin_date"] != "2026-11-27" || p["end_date"] != "2026-11-27" || p["bill_type"] != "A" || p["cur_page"] != "1" {
				t.Errorf("params %v", p)
			}
		}},
		{method: wire.MethodQueryCodeDetail, check: func(t *testing.T, c *Client, g *fakeGateway) {
			infos, err := c.QueryCodeDetail(context.Background(), []string{"81012350000000157474", "81234560000000000011"})
			if err != nil || len(infos) != 2 {
				t.Fatalf("infos %+v, %v", infos, err)
			}
			type row struct {
				code, status, level, name, lot, made, expiry string
			}
			var got []row
			for _, in := range infos {
				lot, _ := in.Lot()
				r := row{code: string(in.Code), level: string(in.PackageLevel), lot: string(lot.BatchNo), made: string(lot.ProduceDateStr), expiry: string(lot.ExpireDate)}
				if in.Status != nil {
					r.status = string(in.Status.CodeStatus)
				}
				if in.Drug != nil {
					r.name = string(in.Drug.PhysicName)
				}
				got = append(got, r)
			}
			want := []row{
				{"81012350000000157474", "I", "1", "阿莫西林胶囊", "B260201", "2026-02-01", "2028-01-31"},
				{"81234560000000000011", "A", "1", "布洛芬片", "IB0315", "2026-03-15", "2029-03-14"},
			}
			if !slices.Equal(got, want) {
				t.Errorf("infos\n got %+v\nwant %+v", got, want)
			}
		}},
		{method: wire.MethodQueryRelation, check: func(t *testing.T, c *Client, g *fakeGateway) {
			rels, err := c.QueryRelation(context.Background(), gCase)
			if err != nil || len(rels) != 1 {
				t.Fatalf("relations %+v, %v", rels, err)
			}
			r := rels[0]
			if v, ok := r.IsSmallestPack(); v || !ok {
				t.Errorf("is_smallest %q read as %v, %v", r.IsSmallest, v, ok)
			}
			if got := smallestCodes(gCase, r.CodeRelationList); !slices.Equal(got, []string{"81012350000000157475", "81012350000000157476"}) {
				t.Errorf("smallest packs %v", got)
			}
			if len(r.CodeRelationList) != 3 || r.CodeRelationList[1].ParentCode != gCase || r.PkgInfo == nil || len(r.PkgInfo.CodeList) != 3 ||
				len(r.ProduceInfoList) != 1 || r.ProduceInfoList[0].BatchNo != "B260201" {
				t.Errorf("relation %+v", r)
			}
		}},
		{method: wire.MethodListBillProcessPartSuccess, check: func(t *testing.T, c *Client, g *fakeGateway) {
			rows, err := c.ListBillProcessPartSuccess(context.Background(), "LS004_1")
			if err != nil || len(rows) != 2 {
				t.Fatalf("rows %+v, %v", rows, err)
			}
			if got, want := partFailureReason(rows[0]), "码未激活: 该码未激活，请联系上游"; rows[0].Code != "88298420000560224025" || got != want {
				t.Errorf("row 0 %q: %q, want %q", rows[0].Code, got, want)
			}
			if rows[1].Code != "89012345678901234567" || partFailureReason(rows[1]) != "码已核销" {
				t.Errorf("row 1 %+v", rows[1])
			}
			if n := len(g.Calls()); n != 1 {
				t.Errorf("%d calls for pages=1", n)
			}
		}},
		{method: wire.MethodGetEntInfoList, check: func(t *testing.T, c *Client, g *fakeGateway) {
			ents, err := c.GetEntInfoList(context.Background(), wire.EntQuery{OrgCode: "91310000MA1FL0000X"})
			if err != nil || len(ents) != 1 {
				t.Fatalf("ents %+v, %v", ents, err)
			}
			e := ents[0]
			if e.EntID != ownEnt || e.RefEntID != ownRef || e.UniqueCode != "91310000MA1FL0000X" || e.AuditStatus != 1 || e.SettleStatus != 1 || e.EntName != "某某大药房（长宁店）" {
				t.Errorf("ent %+v", e)
			}
			if p := g.Calls()[0].Params; p["ref_ent_id"] != ownRef {
				t.Errorf("ref_ent_id %q sent", p["ref_ent_id"])
			}
		}},
	}
	cases = append(cases, complianceGoldenCases()...) // golden_compliance_test.go
	dirs, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var covered []string
	for _, d := range dirs {
		covered = append(covered, d.Name())
	}
	for _, gc := range cases {
		if !slices.Contains(covered, gc.method) {
			t.Errorf("no golden answers for %s", gc.method)
		}
		for _, v := range goldenVariants {
			t.Run(shortMethod(gc.method)+"/"+v, func(t *testing.T) {
				simplify := strings.HasPrefix(v, "simplify-true")
				answers := map[string]string{gc.method: golden(t, gc.method, v)}
				for _, m := range gc.also {
					answers[m] = golden(t, m, v)
				}
				g := newGateway(t, func(m string, p map[string]string) (int, string) {
					if (p["simplify"] == "true") != simplify {
						t.Errorf("%s: simplify=%q", shortMethod(m), p["simplify"])
					}
					if a, ok := answers[m]; ok {
						return 200, a
					}
					t.Errorf("unexpected call %s", m)
					return 200, queryNotFound(m)
				})
				c := newTestClient(t, g.URL(), func(cf *Config) { cf.Simplify = simplify })
				gc.check(t, c, g)
			})
		}
	}
	if len(cases) != len(covered) {
		t.Errorf("%d methods tested, %d golden directories", len(cases), len(covered))
	}
}

// TestGoldenFilesAreDistinct guards against a variant copied over another:
// the four shapes of a method must differ.
func TestGoldenFilesAreDistinct(t *testing.T) {
	dirs, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		seen := map[string]string{}
		for _, v := range goldenVariants {
			body := strings.Join(strings.Fields(golden(t, d.Name(), v)), "")
			if other, ok := seen[body]; ok {
				t.Errorf("%s: %s is the same answer as %s", d.Name(), v, other)
			}
			seen[body] = v
		}
	}
}
