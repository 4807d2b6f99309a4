package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// events streams the agent's events as server-sent events until the
// client goes away or the server shuts down. Each event is
//
//	id: <seq>
//	event: <kind>
//	data: <the agent.Event as JSON>
//
// and a comment line every keepAlive keeps proxies and idle timers awake.
// Events are not replayed on reconnection (the agent keeps no history); a
// client reloads the session view instead.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// The stream outlives the server's read and write timeouts; each write
	// gets its own deadline instead.
	if err := rc.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.fail(w, r, err)
		return
	}
	ch, stop := s.agent.Subscribe()
	defer stop()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	send := func(p []byte) bool {
		if err := rc.SetWriteDeadline(time.Now().Add(s.limits.streamWrite)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return false
		}
		if _, err := w.Write(p); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// The retry hint paces EventSource reconnections; the comment gets the
	// headers out at once so the client knows it is connected.
	if !send([]byte("retry: 3000\n: connected\n\n")) {
		return
	}
	tick := time.NewTicker(s.limits.keepAlive)
	defer tick.Stop()
	var buf bytes.Buffer
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		case <-tick.C:
			if !send([]byte(": keep-alive\n\n")) {
				return
			}
		case e, ok := <-ch:
			if !ok {
				return
			}
			data, err := json.Marshal(e)
			if err != nil {
				s.log.Error("event stream: encoding an event", "err", err)
				continue
			}
			buf.Reset()
			buf.WriteString("id: " + strconv.FormatUint(e.Seq, 10) + "\n")
			buf.WriteString("event: " + e.Kind + "\n")
			buf.WriteString("data: ")
			buf.Write(data)
			buf.WriteString("\n\n")
			if !send(buf.Bytes()) {
				return
			}
		}
	}
}
