package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/pda-agent/pda-agent/queue"
)

// IdempotencyHeader makes a retried POST /v1/bills or session finish
// answer what the first attempt answered (docs/api.md, Idempotency).
const IdempotencyHeader = "Idempotency-Key"

// idempotent wraps a handler: with an Idempotency-Key, the first 2xx answer
// is kept in the queue file and a request with the same key and body gets
// it again (with Idempotent-Replayed: true) without running the handler; the
// same key with another body or route is 422 idempotency_mismatch. Failed
// answers are not kept: they wrote nothing, so running again is safe and
// lets the client fix the request and retry under the same key. Keyed
// requests run one at a time, so two concurrent retries cannot both run.
func (s *Server) idempotent(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get(IdempotencyHeader)
		if key == "" {
			h(w, r)
			return
		}
		if len(key) > 255 || !printableASCII(key) {
			s.fail(w, r, badRequest("%s must be 1-255 printable ASCII characters", IdempotencyHeader))
			return
		}
		if r.ContentLength > maxBody {
			h(w, r) // decode answers 413
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			s.fail(w, r, &apiError{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is over %d bytes", maxBody)})
			return
		}
		sum := sha256.Sum256(body)
		digest := hex.EncodeToString(sum[:])
		scope := r.Method + " " + r.URL.Path

		s.idemMu.Lock()
		defer s.idemMu.Unlock()
		rec, ok, err := s.agent.Idempotent(key)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if ok {
			if rec.Scope != scope || rec.Digest != digest {
				s.fail(w, r, &apiError{http.StatusUnprocessableEntity, "idempotency_mismatch",
					fmt.Sprintf("%s %q was first used for %s with another body; use a new key for a new request", IdempotencyHeader, key, rec.Scope)})
				return
			}
			h := w.Header()
			h.Set("Content-Type", "application/json; charset=utf-8")
			h.Set("Cache-Control", "no-store")
			h.Set("Idempotent-Replayed", "true")
			w.WriteHeader(rec.Status)
			_, _ = w.Write(rec.Body)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rw := &recorder{ResponseWriter: w, status: http.StatusOK}
		h(rw, r)
		if rw.status < 200 || rw.status > 299 {
			return
		}
		err = s.agent.RememberIdempotent(r.Context(), key, queue.IdemRecord{Scope: scope, Digest: digest, Status: rw.status, Body: maskKept(rw.body.Bytes())})
		if err != nil {
			// The answer is already out; a retry would run again (and be
			// refused by the ledger rather than make a second bill).
			s.log.Error("idempotency key not kept", "key", key, "err", err)
		}
	}
}

// maskKept masks the personal attrs of a kept answer (a bill, or a bill
// with its outlook): the queue keeps personal data only encrypted, so a
// replay shows them masked, as GET /v1/bills does.
func maskKept(body []byte) []byte {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil || top["attrs"] == nil {
		return body
	}
	var attrs map[string]string
	if json.Unmarshal(top["attrs"], &attrs) != nil {
		return body
	}
	masked := false
	for k, v := range attrs {
		if queue.IsPersonal(k) {
			attrs[k], masked = queue.MaskValue(v), true
		}
	}
	if !masked {
		return body // kept byte for byte
	}
	raw, err := json.Marshal(attrs)
	if err != nil {
		return body
	}
	top["attrs"] = raw
	out, err := json.Marshal(top)
	if err != nil {
		return body
	}
	return append(out, '\n')
}

// recorder passes an answer through and keeps a copy.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (rw *recorder) WriteHeader(status int) {
	rw.status = status
	rw.ResponseWriter.WriteHeader(status)
}

func (rw *recorder) Write(p []byte) (int, error) {
	rw.body.Write(p)
	return rw.ResponseWriter.Write(p)
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
