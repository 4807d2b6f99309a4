package api

import (
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/queue"
)

// The answers of a sale's session (open, attrs, view, finish) mask the
// patient's data the POS sent: it is not echoed in clear over the network.
func TestSessionAnswersMaskPersonalData(t *testing.T) {
	const certno, name, phone = "110101199003074514", "欧阳回显", "13912345678"
	e := start(t, envOpts{msfx: true}) // a destination: the data is kept until it has the sale
	check := func(what string, status int, body []byte) {
		t.Helper()
		s := string(body)
		if status != 200 || strings.Contains(s, certno) || strings.Contains(s, name) || strings.Contains(s, phone) {
			t.Fatalf("%s: HTTP %d, personal data in clear:\n%s", what, status, s)
		}
		if !strings.Contains(s, queue.MaskValue(certno)) {
			t.Fatalf("%s: the masked certno is not in the answer:\n%s", what, s)
		}
	}
	st, body := e.call("POST", "/v1/sessions", map[string]any{"session": "till", "kind": "sale",
		"attrs": map[string]string{"nhsa.certno": certno, "nhsa.psn_name": name}})
	check("open", st, body)
	st, body = e.call("POST", "/v1/sessions/till/attrs", map[string]any{"attrs": map[string]string{"phone": phone}})
	check("attrs", st, body)
	e.scan("till", codeA, "accepted")
	st, body = e.call("GET", "/v1/sessions/till", nil)
	check("view", st, body)
	st, body = e.call("POST", "/v1/sessions/till/finish", nil)
	check("finish", st, body)
}
