package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"unicode/utf8"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/queue"
)

// maxBody bounds a request body (docs/api.md: 413 beyond it).
const maxBody = 4 << 20

// errorBody is every error answer: {"error", "message"}, with the refused
// codes of a 422 and, for a scan that could not be recorded, the scan's
// own fields.
type errorBody struct {
	Error    string          `json:"error"`
	Message  string          `json:"message"`
	Refusals []queue.Refusal `json:"refusals,omitempty"`
	Status   string          `json:"status,omitempty"`
	Reason   string          `json:"reason,omitempty"`
	// Dest and Keys name, for a refused change of attrs, the destination
	// that may hold the bill and the attrs it uses.
	Dest string   `json:"dest,omitempty"`
	Keys []string `json:"keys,omitempty"`
	// Lines are, for codes_missing, the sale lines not yet complete.
	Lines []queue.LineShort `json:"lines,omitempty"`
	// Packs are, for check_failed, the packs 码上放心 reports as bad.
	Packs []agent.CheckVerdict `json:"packs,omitempty"`
}

// apiError is an answer decided by the API itself (bad query, unknown
// route) rather than by the agent.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &apiError{http.StatusNotFound, "not_found", fmt.Sprintf(format, args...)}
}

// classify maps an error of the agent or the queue to its status and
// machine reason (docs/api.md, Errors).
func classify(err error) (int, errorBody) {
	var ae *apiError
	var refused *queue.RefusedError
	var locked *queue.AttrsError
	var missing *queue.MissingError
	var sup *agent.SupervisorError
	var checkFailed *agent.CheckFailedError
	switch {
	case errors.As(err, &checkFailed):
		return http.StatusConflict, errorBody{Error: "check_failed", Message: err.Error(), Packs: checkFailed.Packs}
	case errors.As(err, &ae):
		return ae.status, errorBody{Error: ae.code, Message: ae.msg}
	case errors.As(err, &locked):
		return http.StatusConflict, errorBody{Error: locked.Reason, Message: err.Error(), Dest: locked.Dest, Keys: locked.Keys}
	case errors.As(err, &missing):
		return http.StatusConflict, errorBody{Error: "codes_missing", Message: err.Error(), Lines: missing.Lines}
	case errors.As(err, &sup):
		status := http.StatusForbidden
		if sup.Reason == "too_many_attempts" {
			status = http.StatusTooManyRequests
		}
		return status, errorBody{Error: sup.Reason, Message: err.Error()}
	case errors.Is(err, queue.ErrNotHeld):
		return http.StatusConflict, errorBody{Error: "not_held", Message: err.Error()}
	case errors.Is(err, queue.ErrSentHeld):
		return http.StatusConflict, errorBody{Error: "partly_sent", Message: err.Error()}
	case errors.As(err, &refused):
		return http.StatusUnprocessableEntity, errorBody{Error: "refused", Message: err.Error(), Refusals: refused.Refusals}
	case errors.Is(err, agent.ErrBadRequest):
		return http.StatusBadRequest, errorBody{Error: "bad_request", Message: err.Error()}
	case errors.Is(err, queue.ErrSessionBusy):
		return http.StatusConflict, errorBody{Error: "session_busy", Message: err.Error()}
	case errors.Is(err, queue.ErrEmptyBill):
		return http.StatusConflict, errorBody{Error: "empty_bill", Message: err.Error()}
	case errors.Is(err, queue.ErrNoSession), errors.Is(err, queue.ErrNotFound):
		return http.StatusNotFound, errorBody{Error: "not_found", Message: err.Error()}
	case errors.Is(err, queue.ErrQueueFull):
		return http.StatusInsufficientStorage, errorBody{Error: "queue_full", Message: err.Error()}
	case queue.IsDiskFull(err):
		// A write outside the queue's own checks (a file beside it, a
		// commit bbolt failed before the queue saw it): the same answer.
		return http.StatusInsufficientStorage, errorBody{Error: "queue_full", Message: "disk full: " + err.Error()}
	case errors.Is(err, agent.ErrOffline):
		return http.StatusServiceUnavailable, errorBody{Error: "offline", Message: err.Error()}
	}
	return http.StatusInternalServerError, errorBody{Error: "internal", Message: err.Error()}
}

// fail answers err; unexpected errors are logged.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, body := classify(err)
	if status >= 500 && status != http.StatusServiceUnavailable && status != http.StatusInsufficientStorage {
		s.log.Error("local API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data, _ = json.Marshal(errorBody{Error: "internal", Message: "encoding the answer: " + err.Error()})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

// decode reads a request body of exactly one JSON value into v, refusing
// unknown fields and bodies over maxBody. An empty body is an error unless
// optional.
func decode(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	if r.ContentLength > maxBody {
		return &apiError{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is over %d bytes", maxBody)}
	}
	body := http.MaxBytesReader(w, r.Body, maxBody)
	data, err := io.ReadAll(body)
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return &apiError{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is over %d bytes", maxBody)}
		}
		return badRequest("reading the body: %v", err)
	}
	if len(data) == 0 {
		if optional {
			return nil
		}
		return badRequest("a JSON body is required")
	}
	// encoding/json would turn invalid UTF-8 into U+FFFD silently.
	if !utf8.Valid(data) {
		return badRequest("invalid JSON body: not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("invalid JSON body: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("invalid JSON body: one JSON value expected, more follows")
	}
	return nil
}
