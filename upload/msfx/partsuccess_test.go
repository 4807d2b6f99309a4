package msfx

import (
	"testing"

	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// TestPartFailuresAskedOnlyWhenStatusSaysSo: query.billstatus
// sub_process_flag 51 (全部成功) spares the listbillprocesspartsuccess call;
// 52 (部分成功) and an answer without the flag ask for the failed codes.
func TestPartFailuresAskedOnlyWhenStatusSaysSo(t *testing.T) {
	for _, tt := range []struct {
		name string
		sub  any // sub_process_flag as answered; nil leaves it out
		ask  bool
	}{
		{"51 all processed", "51", false},
		{"51 as a number", 51, false},
		{"52 partly processed", "52", true},
		{"no flag", nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := newGateway(t, func(m string, p map[string]string) (int, string) {
				switch m {
				case wire.MethodUploadRetail:
					return 200, uploadOK(m, "Q1", "")
				case wire.MethodQueryBillStatus:
					row := map[string]any{"bill_code": p["bill_code"], "bill_type": "321", "result_type": "3", "process_date": "2026-11-27 10:30:00"}
					if tt.sub != nil {
						row["sub_process_flag"] = tt.sub
					}
					return 200, queryOK(m, statusPage(row))
				case wire.MethodListBillProcessPartSuccess:
					return 200, wrapped(m, map[string]any{"msg_code": "SUCCESS", "response_success": true, "model": map[string]any{
						"result": []map[string]any{{"code": codeB, "error_code": "E1", "error_code_desc": "码未激活"}}, "pages": 1, "total_num": 1}})
				}
				t.Errorf("unexpected call %s", m)
				return 200, ""
			})
			c := newTestClient(t, g.URL(), nil)
			j := testJob("LS051", 321, "", codeA, codeB)
			out := deliver(t, c, j)
			wantClass(t, out, upload.Wait)
			out = deliver(t, c, next(j, out))
			wantClass(t, out, upload.Done)
			asked := len(g.CallsTo(wire.MethodListBillProcessPartSuccess)) > 0
			if asked != tt.ask {
				t.Fatalf("listbillprocesspartsuccess asked: %v, want %v", asked, tt.ask)
			}
			if tt.ask && out.CodeErrors[codeB] != "码未激活" {
				t.Errorf("CodeErrors %v", out.CodeErrors)
			}
			if !tt.ask && out.CodeErrors != nil {
				t.Errorf("CodeErrors %v without asking", out.CodeErrors)
			}
		})
	}
}
