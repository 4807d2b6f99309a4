package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/pda-agent/pda-agent/agent"
)

// events streams the agent's events as server-sent events until the
// client goes away or the server shuts down. Each event is
//
//	id: <seq>
//	event: <kind>
//	data: <the agent.Event as JSON>
//
// and a comment line every keepAlive keeps proxies and idle timers awake.
// A client that reconnects with Last-Event-ID (EventSource does) first gets
// the events it missed, from the agent's last 1024; when they are no longer
// all kept (or the id is not of this run of the agent) it gets one event
// "reset" instead and must reload what it shows.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// The stream outlives the server's read and write timeouts; each write
	// gets its own deadline instead.
	if err := rc.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.fail(w, r, err)
		return
	}
	var ch <-chan agent.Event
	var stop func()
	var missed []agent.Event
	reset := false
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		after, err := strconv.ParseUint(id, 10, 64)
		var ok bool
		var last uint64
		ch, stop, missed, ok, last = s.agent.SubscribeFrom(after)
		if err != nil || !ok {
			missed, reset = []agent.Event{{Seq: last, At: s.now(), Kind: "reset",
				Message: "events after id " + id + " are no longer kept: reload the session view"}}, true
		}
	} else {
		ch, stop = s.agent.Subscribe()
	}
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
	var buf bytes.Buffer
	write := func(e agent.Event) bool {
		data, err := json.Marshal(e)
		if err != nil {
			s.log.Error("event stream: encoding an event", "err", err)
			return true
		}
		buf.Reset()
		buf.WriteString("id: " + strconv.FormatUint(e.Seq, 10) + "\n")
		buf.WriteString("event: " + e.Kind + "\n")
		buf.WriteString("data: ")
		buf.Write(data)
		buf.WriteString("\n\n")
		return send(buf.Bytes())
	}
	for _, e := range missed {
		if !write(e) {
			return
		}
	}
	if reset {
		s.log.Info("event stream: Last-Event-ID too old, client told to reload", "last_event_id", r.Header.Get("Last-Event-ID"))
	}
	tick := time.NewTicker(s.limits.keepAlive)
	defer tick.Stop()
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
			if !write(e) {
				return
			}
		}
	}
}
