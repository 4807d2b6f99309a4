package api

import (
	"errors"
	"net/http"

	"github.com/pda-agent/pda-agent/agent"
)

// addException records packs of a sale line sold without a code, or why a
// pack 码上放心 reported as bad is sold anyway (POST
// /v1/sessions/{session}/exceptions), and answers the session view.
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
		s.failItem(w, r, err)
		return
	}
	v, err := s.agent.Session(name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, view(v))
}

// removeItem takes one scanned pack off the session's open bill (DELETE
// /v1/sessions/{session}/items/{code}) and answers the session view.
func (s *Server) removeItem(w http.ResponseWriter, r *http.Request) {
	name, err := pathSession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	code := r.PathValue("code")
	if code == "" {
		s.fail(w, r, badRequest("the code to remove is empty"))
		return
	}
	if _, _, err := s.agent.RemoveItem(r.Context(), name, code); err != nil {
		s.failItem(w, r, err)
		return
	}
	v, err := s.agent.Session(name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, view(v))
}

// failItem answers the errors of naming one pack of a session: 404
// not_in_session, 409 no_open_bill; the rest as usual.
func (s *Server) failItem(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, agent.ErrNotInSession):
		writeJSON(w, http.StatusNotFound, errorBody{Error: "not_in_session", Message: err.Error()})
	case errors.Is(err, agent.ErrNoOpenBill):
		writeJSON(w, http.StatusConflict, errorBody{Error: "no_open_bill", Message: err.Error()})
	default:
		s.fail(w, r, err)
	}
}
