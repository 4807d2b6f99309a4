package api

import (
	"net/http"

	"github.com/pda-agent/pda-agent/agent"
)

// addException records packs of a sale line sold without a code
// (POST /v1/sessions/{session}/exceptions) and answers the session view.
func (s *Server) addException(w http.ResponseWriter, r *http.Request) {
	name, err := pathSession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req agent.ExceptionRequest
	if err := decode(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.agent.AddException(r.Context(), name, req); err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := s.agent.Session(name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, view(v))
}
