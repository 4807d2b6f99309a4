package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/queue"
)

// reconcileView is GET /v1/reconcile: the last runs (?limit, default 10)
// and the open findings.
func (s *Server) reconcileView(w http.ResponseWriter, r *http.Request) {
	limit := 10
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			s.fail(w, r, badRequest("limit %q: want 1-1000", v))
			return
		}
		limit = n
	}
	v, err := s.agent.Reconciliation(limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// reconcileNow is POST /v1/reconcile: run now (202), optionally for the
// days since … until … (YYYY-MM-DD, China time, inclusive).
func (s *Server) reconcileNow(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Since string `json:"since"`
		Until string `json:"until"`
	}
	if err := decode(w, r, &req, true); err != nil {
		s.fail(w, r, err)
		return
	}
	cst := time.FixedZone("CST", 8*3600)
	var rr agent.ReconcileRequest
	for _, f := range []struct {
		name, v string
		to      *time.Time
	}{{"since", req.Since, &rr.From}, {"until", req.Until, &rr.To}} {
		if f.v == "" {
			continue
		}
		t, err := time.ParseInLocation(time.DateOnly, f.v, cst)
		if err != nil {
			s.fail(w, r, badRequest("%s %q: want YYYY-MM-DD", f.name, f.v))
			return
		}
		*f.to = t
	}
	if rr.To.IsZero() && !rr.From.IsZero() {
		rr.To = time.Now()
	}
	if err := s.agent.RequestReconcile(rr); err != nil {
		if errors.Is(err, agent.ErrReconcileRunning) {
			err = &apiError{http.StatusConflict, "running", err.Error()}
		}
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "started"})
}

// resendFinding is POST /v1/reconcile/findings/{id}/resend: the bill of a
// finding is queued again for its back end.
func (s *Server) resendFinding(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	if err := decode(w, r, &req, true); err != nil {
		s.fail(w, r, err)
		return
	}
	code, err := s.agent.ResendFinding(r.Context(), r.PathValue("id"))
	if err != nil {
		switch {
		case errors.Is(err, queue.ErrNotDone):
			err = &apiError{http.StatusConflict, "not_done", err.Error()}
		case errors.Is(err, agent.ErrPersonalErased):
			err = &apiError{http.StatusConflict, "personal_erased", err.Error()}
		}
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "queued", "bill": code})
}
