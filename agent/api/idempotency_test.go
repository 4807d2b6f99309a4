package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/queue"
)

// keyed posts body with an Idempotency-Key and returns status, body and
// whether the answer says it is a replay.
func (e *testEnv) keyed(path, key string, body any) (int, []byte, bool) {
	e.t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		e.t.Fatal(err)
	}
	req, err := http.NewRequest("POST", e.base+path, bytes.NewReader(data))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	if key != "" {
		req.Header.Set(IdempotencyHeader, key)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out, resp.Header.Get("Idempotent-Replayed") == "true"
}

func TestIdempotencyKey(t *testing.T) {
	e := start(t, envOpts{})
	count := func() int {
		bills, err := e.agent.Bills(agent.BillFilter{})
		if err != nil {
			t.Fatal(err)
		}
		return len(bills)
	}
	sale := map[string]any{"kind": "sale", "lines": []map[string]any{{"code": codeA}}}

	// A POS retry after a timeout: the first answer again, one bill.
	st1, first, replayed := e.keyed("/v1/bills", "pos-0001", sale)
	if st1 != http.StatusCreated || replayed {
		t.Fatalf("first: %d %s replayed=%v", st1, first, replayed)
	}
	st2, again, replayed := e.keyed("/v1/bills", "pos-0001", sale)
	if st2 != http.StatusCreated || !replayed || !bytes.Equal(first, again) {
		t.Fatalf("retry: %d %s replayed=%v, want the first answer %s", st2, again, replayed, first)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d bills after a retried submit, want 1", n)
	}
	// Without the key the same bill is what it is: a resale.
	if st, body, _ := e.keyed("/v1/bills", "", sale); st != http.StatusUnprocessableEntity {
		t.Fatalf("unkeyed resubmit: %d %s", st, body)
	}
	// The same key with another body, or on another route, is a mistake.
	other := map[string]any{"kind": "sale", "lines": []map[string]any{{"code": codeB}}}
	if st, body, _ := e.keyed("/v1/bills", "pos-0001", other); st != http.StatusUnprocessableEntity || !bytes.Contains(body, []byte(`"idempotency_mismatch"`)) {
		t.Fatalf("same key, other body: %d %s", st, body)
	}
	if st, body, _ := e.keyed("/v1/sessions/s/finish", "pos-0001", sale); st != http.StatusUnprocessableEntity || !bytes.Contains(body, []byte(`"idempotency_mismatch"`)) {
		t.Fatalf("same key, other route: %d %s", st, body)
	}
	// A refused attempt is not kept: fixed, it runs under the same key.
	bad := map[string]any{"kind": "sale", "lines": []map[string]any{{"code": barcode}}}
	if st, body, _ := e.keyed("/v1/bills", "pos-0002", bad); st != http.StatusUnprocessableEntity {
		t.Fatalf("refused: %d %s", st, body)
	}
	if st, body, replayed := e.keyed("/v1/bills", "pos-0002", other); st != http.StatusCreated || replayed {
		t.Fatalf("fixed bill under the same key: %d %s replayed=%v", st, body, replayed)
	}

	// A session finish retried: the finished bill again, not 404.
	e.ok("POST", "/v1/sessions", map[string]any{"session": "till", "kind": "sale"}, nil)
	e.scan("till", codeC, "accepted")
	st1, first, _ = e.keyed("/v1/sessions/till/finish", "fin-1", map[string]any{})
	if st1 != http.StatusOK {
		t.Fatalf("finish: %d %s", st1, first)
	}
	st2, again, replayed = e.keyed("/v1/sessions/till/finish", "fin-1", map[string]any{})
	if st2 != http.StatusOK || !replayed || !bytes.Equal(first, again) {
		t.Fatalf("finish retry: %d %s replayed=%v", st2, again, replayed)
	}
	if st, _, _ := e.keyed("/v1/sessions/till/finish", "", map[string]any{}); st != http.StatusNotFound {
		t.Fatalf("unkeyed finish of a finished session: %d, want 404", st)
	}
	if st, _, _ := e.keyed("/v1/bills", string(bytes.Repeat([]byte("k"), 256)), sale); st != http.StatusBadRequest {
		t.Fatalf("a 256-character key: %d", st)
	}
}

// Personal data is not kept in clear in the queue file: the kept answer
// has it masked; an answer without any is kept byte for byte.
func TestMaskKept(t *testing.T) {
	body := []byte(`{"bill_code":"T1-1","attrs":{"nhsa.psn_name":"张三丰先生","nhsa.mdtrt_sn":"MD42"},"outlook":[]}` + "\n")
	kept := maskKept(body)
	var v struct {
		Code  string            `json:"bill_code"`
		Attrs map[string]string `json:"attrs"`
	}
	if err := json.Unmarshal(kept, &v); err != nil {
		t.Fatal(err)
	}
	if v.Code != "T1-1" || v.Attrs["nhsa.psn_name"] != queue.MaskValue("张三丰先生") || v.Attrs["nhsa.mdtrt_sn"] != "MD42" || bytes.Contains(kept, []byte("三丰")) {
		t.Fatalf("kept %s", kept)
	}
	plain := []byte(`{"bill_code":"T1-2","attrs":{"nhsa.mdtrt_sn":"MD42"}}` + "\n")
	if got := maskKept(plain); !bytes.Equal(got, plain) {
		t.Fatalf("an answer without personal data changed: %s", got)
	}
}
