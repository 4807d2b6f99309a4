package api

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/pda-agent/pda-agent/agent"
)

// A stock-take through the API: the session view lists what is not found
// yet, the finish answer and GET …/shortfall the 盘亏, and booking makes
// the 214 bill once.
func TestStockTakeShortfallAPI(t *testing.T) {
	e := start(t, envOpts{})
	e.ok("POST", "/v1/sessions", map[string]string{"session": "in", "kind": "receive"}, nil)
	e.scan("in", codeA, "accepted")
	e.scan("in", codeC, "accepted")
	e.scan("in", codeB, "accepted")
	e.ok("POST", "/v1/sessions/in/finish", nil, nil)

	e.ok("POST", "/v1/sessions", map[string]string{"session": "shelf", "kind": "stocktake"}, nil)
	e.scan("shelf", codeA, "accepted")
	var view agent.SessionView
	e.ok("GET", "/v1/sessions/shelf", nil, &view)
	if view.Shortfall == nil || view.Shortfall.Total != 1 || view.Shortfall.Packs[0].Code != codeC {
		t.Fatalf("session view shortfall %+v", view.Shortfall)
	}
	var fin struct {
		Code      string           `json:"bill_code"`
		Shortfall *agent.Shortfall `json:"shortfall"`
	}
	e.ok("POST", "/v1/sessions/shelf/finish", nil, &fin)
	// codeB is another product: outside the count's scope.
	if fin.Shortfall == nil || len(fin.Shortfall.Packs) != 1 || fin.Shortfall.Packs[0].Code != codeC || fin.Shortfall.Scope != "products" {
		t.Fatalf("finish answer %+v", fin)
	}
	var sf agent.Shortfall
	e.ok("GET", "/v1/stocktakes/"+fin.Code+"/shortfall", nil, &sf)
	if len(sf.Packs) != 1 || sf.Packs[0].Code != codeC {
		t.Fatalf("GET shortfall %+v", sf)
	}

	path := "/v1/stocktakes/" + fin.Code + "/shortfall/book"
	e.fails("POST", path, map[string]string{}, http.StatusBadRequest, "bad_request")
	e.fails("POST", path, map[string]any{"reason": "x", "extra": 1}, http.StatusBadRequest, "bad_request")
	var loss struct {
		Code  string            `json:"bill_code"`
		Type  int               `json:"bill_type"`
		Items int               `json:"items"`
		Attrs map[string]string `json:"attrs"`
	}
	st, data := e.call("POST", path, map[string]string{"reason": "盘点未找到"})
	if st != http.StatusCreated {
		t.Fatalf("book: %d %s", st, data)
	}
	if err := json.Unmarshal(data, &loss); err != nil || loss.Type != 214 || loss.Items != 1 || loss.Attrs["stock.reason"] != "盘点未找到" || loss.Attrs["stock.stocktake"] != fin.Code {
		t.Fatalf("盘亏 bill %s %v", data, err)
	}
	e.fails("POST", path, map[string]string{"reason": "again"}, http.StatusConflict, "nothing_to_book")
	e.ok("GET", "/v1/stocktakes/"+fin.Code+"/shortfall", nil, &sf)
	if len(sf.Packs) != 0 || len(sf.Booked) != 1 || sf.Booked[0] != loss.Code {
		t.Fatalf("after booking %+v", sf)
	}
	e.fails("GET", "/v1/stocktakes/"+loss.Code+"/shortfall", nil, http.StatusBadRequest, "bad_request")
	e.fails("GET", "/v1/stocktakes/T1-000000-99999/shortfall", nil, http.StatusNotFound, "not_found")
}
