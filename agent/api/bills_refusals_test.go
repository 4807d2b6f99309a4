package api

import (
	"net/http"
	"testing"

	"github.com/pda-agent/pda-agent/queue"
)

// The refusals name the request's own lines, also when lines refused
// before the ledger shift the others.
func TestSubmitRefusalsAllAtOnce(t *testing.T) {
	e := start(t, envOpts{})
	e.ok("POST", "/v1/bills", map[string]any{"kind": "sale", "lines": []map[string]any{{"code": codeA}}}, nil)
	eb := e.fails("POST", "/v1/bills", map[string]any{"kind": "sale", "lines": []map[string]any{
		{"code": barcode}, {"code": codeA}, {"code": codeB}, {"code": "8101235"}, {"code": codeB}}}, http.StatusUnprocessableEntity, "refused")
	want := []queue.Refusal{{Line: 1, Code: barcode}, {Line: 2, Code: codeA, Reason: "already_sold"}, {Line: 4, Code: "8101235"}, {Line: 5, Code: codeB, Reason: "duplicate"}}
	if len(eb.Refusals) != len(want) {
		t.Fatalf("refusals %+v, want lines 1, 2, 4, 5", eb.Refusals)
	}
	for i, w := range want {
		g := eb.Refusals[i]
		if g.Line != w.Line || g.Code != w.Code || (w.Reason != "" && g.Reason != w.Reason) || g.Reason == "" {
			t.Errorf("refusal %d: %+v, want %+v", i, g, w)
		}
	}
}
