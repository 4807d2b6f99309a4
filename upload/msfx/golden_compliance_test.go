package msfx

import (
	"context"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// complianceGoldenCases read the compliance methods' golden answers
// (testdata/<method>/, written from the SDK types wire/compliance.go
// cites) through the client.
func complianceGoldenCases() []goldenCase {
	day := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	counts := func(method string, want BillCounts, call func(*Client) (BillCounts, error)) goldenCase {
		return goldenCase{method: method, check: func(t *testing.T, c *Client, g *fakeGateway) {
			got, err := call(c)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Errorf("counts %v, want %v", got, want)
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("counts %v, want %v", got, want)
				}
			}
			p := g.Calls()[0].Params
			if p["ref_ent_id"] != ownRef || p["begin_date"] != "2026-11-07" || p["end_date"] != "2026-12-07" {
				t.Errorf("params %v", p)
			}
		}}
	}
	logCheck := func(t *testing.T, c *Client, g *fakeGateway) {
		logs, err := c.UpOutBillLog(context.Background(), "LIC", day.AddDate(0, 0, -1), day)
		if err != nil {
			t.Fatal(err)
		}
		if len(logs) != 1 || logs[0].BillCode != "XS20261126001" || logs[0].BillType != 201 || logs[0].FromRefEntID != gSupplierRef ||
			logs[0].OperDate != "2026-12-06 15:20:00" {
			t.Errorf("log %+v", logs)
		}
		calls := g.CallsTo(wire.MethodQueryUpOutBillLog)
		if len(calls) != 1 || calls[0].Params["license_token"] != "lt-0f1e2d3c4b5a69788796a5b4c3d2e1f0" {
			t.Errorf("log calls %+v", calls)
		}
		if tok := g.CallsTo(wire.MethodLicenseTokenGet); len(tok) != 1 || tok[0].Params["license"] != "LIC" {
			t.Errorf("token calls %+v", tok)
		}
	}
	return []goldenCase{
		counts(wire.MethodQueryBillCount, BillCounts{102: 12, 321: 240}, func(c *Client) (BillCounts, error) {
			return c.QueryBillCount(context.Background(), day.AddDate(0, 0, -30), day, 0)
		}),
		counts(wire.MethodQueryUpOutBillCount, BillCounts{201: 9, 203: 2}, func(c *Client) (BillCounts, error) {
			return c.QueryUpOutBillCount(context.Background(), day.AddDate(0, 0, -30), day, 0)
		}),
		{method: wire.MethodKeyFlagDrugURL, check: func(t *testing.T, c *Client, g *fakeGateway) {
			u, err := c.KeyFlagDrugURL(context.Background())
			if err != nil || u != "https://files.example.invalid/keyflag/20261201.csv" {
				t.Errorf("url %q, %v", u, err)
			}
		}},
		{method: wire.MethodServiceEndDate, check: func(t *testing.T, c *Client, g *fakeGateway) {
			end, err := c.ServiceEndDate(context.Background(), 1, 11)
			if err != nil || end != "2027-03-31 23:59:59" {
				t.Errorf("end date %q, %v", end, err)
			}
			if p := g.Calls()[0].Params; p["business"] != "1" || p["service"] != "11" {
				t.Errorf("params %v", p)
			}
		}},
		{method: wire.MethodLicenseTokenGet, also: []string{wire.MethodQueryUpOutBillLog}, check: logCheck},
		{method: wire.MethodQueryUpOutBillLog, also: []string{wire.MethodLicenseTokenGet}, check: logCheck},
	}
}
