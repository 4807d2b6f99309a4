package api

import (
	"net/http"
	"testing"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/configs"
)

// A session nothing ever used is 404 on every session route; an idle
// session the agent knows is an empty view.
func TestUnknownSessionIs404(t *testing.T) {
	e := start(t, envOpts{env: []string{"PDA_SESSIONS_DEFAULT_TYPE=0"}})
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/sessions/nosuch", nil},
		{"POST", "/v1/sessions/nosuch/attrs", map[string]any{"attrs": map[string]string{"note": "x"}}},
		{"POST", "/v1/sessions/nosuch/finish", nil},
		{"POST", "/v1/sessions/nosuch/cancel", nil},
		{"POST", "/v1/sessions/nosuch/confirm-all", nil},
		{"POST", "/v1/sessions/nosuch/exceptions", map[string]any{"line": "1", "packs": 1, "reason": "other", "note": "x"}},
	} {
		e.fails(c.method, c.path, c.body, http.StatusNotFound, "not_found")
	}
	// The page's default session is known before its first bill.
	var v struct {
		Session string `json:"session"`
		Items   []any  `json:"items"`
	}
	e.ok("GET", "/v1/sessions/counter", nil, &v)
	if v.Session != "counter" || v.Items == nil {
		t.Fatalf("idle counter: %+v", v)
	}
	// A session used once stays known when idle, also after its bill was
	// cancelled.
	e.ok("POST", "/v1/sessions", map[string]any{"session": "till2", "kind": "sale"}, nil)
	e.ok("GET", "/v1/sessions/till2", nil, nil)
	e.ok("POST", "/v1/sessions/till2/cancel", nil, nil)
	e.ok("GET", "/v1/sessions/till2", nil, &v)
	if v.Session != "till2" || len(v.Items) != 0 {
		t.Fatalf("idle till2: %+v", v)
	}
	// After a restart only the bill on file tells.
	e.stop()
	cfg, err := configs.LoadBytes("test", nil, []string{"PDA_DEVICE_ID=T1", "PDA_DATA_DIR=" + e.dataDir})
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(cfg, agent.Options{Logger: quiet, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for name, want := range map[string]bool{"till2": true, "till3": false, "counter": true} {
		if known, err := a.SessionKnown(name); err != nil || known != want {
			t.Errorf("after restart: %s known=%v err=%v, want %v", name, known, err, want)
		}
	}
}
