package msfx

import (
	"maps"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // America/New_York on hosts without a zoneinfo database

	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

const (
	codeA       = "81012350000000157474"
	codeB       = "83933310000006711939"
	codeC       = "88298420000560224025"
	codeSpecial = "89012345678901234567"
)

func testBill(code string, typ int, partner string) queue.Bill {
	return queue.Bill{ID: 7, Code: code, Type: typ, State: queue.BillFinished, Partner: partner,
		CreatedAt: finished.Add(-time.Hour), FinishedAt: finished}
}

func TestParamsPerBillType(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1/", nil)
	common := func(typ string, extra map[string]string) map[string]string {
		m := map[string]string{
			"bill_code": "B1", "bill_time": "2026-11-27 10:01:02", "bill_type": typ, "physic_type": "3",
			"ref_user_id": ownRef, "trace_codes": codeA + "," + codeB,
		}
		maps.Copy(m, extra)
		return m
	}
	inout := func(typ, from, to string) map[string]string {
		return common(typ, map[string]string{"client_type": "2", "from_user_id": from, "to_user_id": to})
	}
	tests := []struct {
		name    string
		typ     int
		partner string
		codes   []string
		method  string
		want    map[string]string
	}{
		{"102 采购入库: from supplier to us", 102, supplierEnt, nil, wire.MethodUploadInOutBill, inout("102", supplierEnt, ownEnt)},
		{"104 调拨入库", 104, supplierEnt, nil, wire.MethodUploadInOutBill, inout("104", supplierEnt, ownEnt)},
		{"202 退货出库: from us to supplier", 202, supplierEnt, nil, wire.MethodUploadInOutBill, inout("202", ownEnt, supplierEnt)},
		{"201 销售出库 sets dis_ent_id", 201, customerEnt, nil, wire.MethodUploadInOutBill,
			func() map[string]string { m := inout("201", ownEnt, customerEnt); m["dis_ent_id"] = ownEnt; return m }()},
		{"203 调拨出库: general outbound rule", 203, customerEnt, nil, wire.MethodUploadInOutBill, inout("203", ownEnt, customerEnt)},
		{"321 retail: no client_type, no parties", 321, "", nil, wire.MethodUploadRetail, common("321", nil)},
		{"321 ignores a partner", 321, supplierEnt, nil, wire.MethodUploadRetail, common("321", nil)},
		{"116 consumer return", 116, "", nil, wire.MethodUploadRetail, common("116", nil)},
		{"322 vaccination", 322, "", nil, wire.MethodUploadRetail, common("322", nil)},
		{"special (89) and ordinary packs mixed: 普药", 102, supplierEnt, []string{codeA, codeSpecial}, wire.MethodUploadInOutBill,
			func() map[string]string {
				m := inout("102", supplierEnt, ownEnt)
				m["physic_type"], m["trace_codes"] = "3", codeA+","+codeSpecial
				return m
			}()},
		{"special (89) packs only: 特药", 102, supplierEnt, []string{codeSpecial}, wire.MethodUploadInOutBill,
			func() map[string]string {
				m := inout("102", supplierEnt, ownEnt)
				m["physic_type"], m["trace_codes"] = "2", codeSpecial
				return m
			}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, base, err := c.billParams(testBill("B1", tt.typ, tt.partner))
			if err != nil {
				t.Fatal(err)
			}
			if method != tt.method {
				t.Errorf("method = %s, want %s", method, tt.method)
			}
			codes := tt.codes
			if codes == nil {
				codes = []string{codeA, codeB}
			}
			got := partParams(base, part{code: "B1", codes: codes})
			for k, v := range got {
				if v == "" {
					delete(got, k) // never sent
				}
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("params:\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestParamsRefused(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1/", func(cf *Config) { cf.SelfPartnerTypes = []int{214} })
	tests := []struct {
		name    string
		typ     int
		partner string
		want    string
	}{
		{"inbound without supplier", 102, "", "bill has no supplier ent_id"},
		{"outbound without receiver", 202, "", "bill has no receiver ent_id"},
		{"partner not an ent_id", 102, "P-100", "not a supplier ent_id"},
		{"ref_ent_id as partner", 202, ownRef, "not a receiver ent_id"},
		{"323 is yljg", 323, "", "323"},
		{"unknown type", 999, supplierEnt, "unknown bill type 999"},
	}
	for _, tt := range tests {
		_, _, err := c.billParams(testBill("B1", tt.typ, tt.partner))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tt.name, err, tt.want)
		}
	}
	// 214 盘亏出库 is configured as a self bill: an empty partner is us.
	_, p, err := c.billParams(testBill("B1", 214, ""))
	if err != nil || p["from_user_id"] != ownEnt || p["to_user_id"] != ownEnt {
		t.Errorf("214 self bill: %v, %v", p, err)
	}
}

func TestParamsOptional(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1/", func(cf *Config) {
		cf.OperICCode, cf.OperICName, cf.IgnorePartSuccess = testAppKey, "张三", true
	})
	_, p, err := c.billParams(testBill("B1", 321, ""))
	if err != nil {
		t.Fatal(err)
	}
	if p["oper_ic_code"] != testAppKey || p["oper_ic_name"] != "张三" || p["ignore_part_success_flag"] != "1" {
		t.Errorf("optional params: %v", p)
	}
	// Unset optional params are never sent.
	c = newTestClient(t, "http://127.0.0.1:1/", nil)
	_, p, _ = c.billParams(testBill("B1", 321, ""))
	f, err := c.form(wire.MethodUploadRetail, partParams(p, part{code: "B1", codes: []string{codeA}}), finished)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"oper_ic_code", "oper_ic_name", "ignore_part_success_flag", "session", "simplify", "partner_id", "from_user_id", "client_type"} {
		if f.Has(k) {
			t.Errorf("%s sent: %q", k, f.Get(k))
		}
	}
	for k, vs := range f {
		if len(vs) != 1 || vs[0] == "" {
			t.Errorf("%s sent empty", k)
		}
	}
}

// TestTimestampChinaTime checks that timestamp and bill_time are China time
// whatever the host zone and whatever zone the clock's times carry.
func TestTimestampChinaTime(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	saved := time.Local
	t.Cleanup(func() { time.Local = saved })
	for _, host := range []*time.Location{time.UTC, ny} {
		// No goroutine of this package runs here; time.Local is restored
		// before any other test starts.
		time.Local = host
		for _, clockZone := range []*time.Location{time.Local, time.UTC, ny} {
			now := finished.In(clockZone)
			c := newTestClient(t, "http://127.0.0.1:1/", func(cf *Config) { cf.Now = func() time.Time { return now } })
			b := testBill("B1", 321, "")
			b.FinishedAt = finished.In(clockZone)
			_, p, err := c.billParams(b)
			if err != nil {
				t.Fatal(err)
			}
			f, err := c.form(wire.MethodUploadRetail, partParams(p, part{code: "B1", codes: []string{codeA}}), c.now())
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Get("timestamp"); got != "2026-11-27 10:01:02" {
				t.Errorf("host %s, clock %s: timestamp %q", host, clockZone, got)
			}
			if got := f.Get("bill_time"); got != "2026-11-27 10:01:02" {
				t.Errorf("host %s, clock %s: bill_time %q", host, clockZone, got)
			}
		}
	}
	time.Local = saved
}
