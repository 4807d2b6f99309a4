package msfx_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/upload/msfx"
	"github.com/pda-agent/pda-agent/upload/msfx/sandbox"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// TestComplianceAgainstSandbox reads every compliance method from the
// strict sandbox in each layout and list shape.
func TestComplianceAgainstSandbox(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	for _, layout := range []sandbox.Layout{sandbox.LayoutDeclared, sandbox.LayoutResult, sandbox.LayoutTopLevel} {
		for _, simplify := range []bool{true, false} {
			t.Run(fmt.Sprintf("%v/simplify=%v", layout, simplify), func(t *testing.T) {
				gw, err := sandbox.Start("127.0.0.1:0", sandbox.Options{Apps: sandbox.DefaultApps(), Logger: quiet,
					Now: func() time.Time { return now }, World: sandbox.DefaultWorldAt(now), Layout: layout})
				if err != nil {
					t.Fatal(err)
				}
				defer gw.Close()
				files, err := gw.ServeFiles("127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer files.Close()
				gw.SetKeyVarieties([]sandbox.KeyVariety{{Key: sandbox.ProductIbuprofen, Name: "布洛芬缓释胶囊"}, {Key: sandbox.ProductLicorice, Name: "复方甘草片"}})
				gw.SetServiceEnd(sandbox.DefaultStoreRefEntID, "2027-01-05 23:59:59")
				gw.SetWESLicense(sandbox.DefaultStoreRefEntID, "LIC-1")
				if err := gw.ChangeUpstreamBill(sandbox.DefaultSupplierRefEntID, sandbox.DefaultUpBill1,
					[]string{sandbox.DefaultBoxCode}, now.Add(-time.Hour)); err != nil {
					t.Fatal(err)
				}
				c, err := msfx.New(msfx.Config{Gateway: gw.URL(), AppKey: sandbox.DefaultStoreAppKey, AppSecret: sandbox.DefaultStoreSecret,
					RefEntID: sandbox.DefaultStoreRefEntID, EntID: sandbox.DefaultStoreEntID, Rate: -1, Simplify: simplify,
					Timeout: 5 * time.Second, Now: func() time.Time { return now }})
				if err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				up, err := c.QueryUpOutBillCount(ctx, now.AddDate(0, 0, -30), now, 0)
				if err != nil {
					t.Fatal(err)
				}
				// The default world: two 201 bills from the supplier and
				// one 203 from the warehouse are addressed to the store.
				if up[201] != 2 || up[203] != 1 || len(up) != 2 {
					t.Errorf("upoutbillcount = %v, want 201:2 203:1", up)
				}
				own, err := c.QueryBillCount(ctx, now.AddDate(0, 0, -30), now, 0)
				if err != nil || len(own) != 0 {
					t.Errorf("billcount = %v, %v; want none", own, err)
				}
				url, err := c.KeyFlagDrugURL(ctx)
				if err != nil {
					t.Fatal(err)
				}
				list, err := c.FetchKeyVarietyList(ctx, url, "药品标识码")
				if err != nil {
					t.Fatal(err)
				}
				if len(list.Products) != 2 || list.Products[sandbox.ProductIbuprofen] != "布洛芬缓释胶囊" || list.Version == "" {
					t.Errorf("key list %+v", list)
				}
				end, err := c.ServiceEndDate(ctx, 1, 11)
				if err != nil || end != "2027-01-05 23:59:59" {
					t.Errorf("end date %q, %v", end, err)
				}
				if _, err := c.ServiceEndDate(ctx, 1, 12); err == nil {
					t.Error("a service the store has not answered an end date")
				}
				logs, err := c.UpOutBillLog(ctx, "LIC-1", now.AddDate(0, 0, -1), now)
				if err != nil {
					t.Fatal(err)
				}
				if len(logs) != 1 || logs[0].BillCode != sandbox.DefaultUpBill1 || logs[0].BillType != 201 || logs[0].OperDate == "" {
					t.Errorf("change log %+v", logs)
				}
				if _, err := c.UpOutBillLog(ctx, "LIC-WRONG", now.AddDate(0, 0, -1), now); err == nil {
					t.Error("a wrong license was accepted")
				}
			})
		}
	}
}

// TestComplianceSandboxIsStrict: a missing required parameter is the TOP
// error isv.missing-parameter, for each compliance method.
func TestComplianceSandboxIsStrict(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	gw, err := sandbox.Start("127.0.0.1:0", sandbox.Options{Apps: sandbox.DefaultApps(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	c, err := msfx.New(msfx.Config{Gateway: gw.URL(), AppKey: sandbox.DefaultStoreAppKey, AppSecret: sandbox.DefaultStoreSecret,
		RefEntID: sandbox.DefaultStoreRefEntID, EntID: sandbox.DefaultStoreEntID, Rate: -1, Simplify: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for method, params := range map[string]map[string]string{
		wire.MethodQueryBillCount:      {"begin_date": "2026-12-01", "end_date": "2026-12-07"},
		wire.MethodQueryUpOutBillCount: {"ref_ent_id": sandbox.DefaultStoreRefEntID, "begin_date": "2026-12-01"},
		wire.MethodKeyFlagDrugURL:      {},
		wire.MethodServiceEndDate:      {"ref_ent_id": sandbox.DefaultStoreRefEntID, "business": "1"},
		wire.MethodLicenseTokenGet:     {"ref_ent_id": sandbox.DefaultStoreRefEntID},
		wire.MethodQueryUpOutBillLog: {"ref_ent_id": sandbox.DefaultStoreRefEntID, "license_token": "x",
			"begin_oper_date": "2026-12-01", "end_oper_date": "2026-12-07", "page": "1"},
	} {
		_, err := c.Call(context.Background(), method, params)
		var e *msfx.Error
		if !errors.As(err, &e) || e.Code != 40 || e.SubCode != "isv.missing-parameter" {
			t.Errorf("%s without a required parameter: %v", method, err)
		}
	}
}

func TestParseKeyVarietyListTolerant(t *testing.T) {
	for name, in := range map[string]string{
		"tab, no header":   "8393331\t布洛芬缓释胶囊\n8829842\t复方甘草片\n",
		"bom, trace codes": "\xef\xbb\xbf名称;追溯码\n布洛芬缓释胶囊;83933310000000010018\n复方甘草片;88298420000000010017\n",
	} {
		l, err := msfx.ParseKeyVarietyList([]byte(in), "")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(l.Products) != 2 || l.Products["8393331"] != "布洛芬缓释胶囊" || l.Products["8829842"] != "复方甘草片" {
			t.Errorf("%s: %v", name, l.Products)
		}
	}
	if _, err := msfx.ParseKeyVarietyList([]byte("PK\x03\x04..."), ""); err == nil {
		t.Error("an xlsx file was read as text")
	}
	if _, err := msfx.ParseKeyVarietyList([]byte("名称\n布洛芬\n"), ""); err == nil {
		t.Error("a file without product keys was accepted")
	}
}
