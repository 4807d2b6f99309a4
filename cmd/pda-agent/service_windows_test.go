//go:build windows

package main

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"golang.org/x/sys/windows/svc"
)

// TestServiceStopCancelsTheAgent drives the handler as the SCM would: the
// agent runs until Stop, which cancels its context; a clean stop is not a
// failure, an agent that ends by itself is.
func TestServiceStopCancelsTheAgent(t *testing.T) {
	for _, cmd := range []svc.Cmd{svc.Stop, svc.Shutdown} {
		cancelled := make(chan struct{})
		h := &agentService{log: io.Discard, run: func(ctx context.Context) error {
			<-ctx.Done()
			close(cancelled)
			return nil
		}}
		req := make(chan svc.ChangeRequest, 2)
		status := make(chan svc.Status, 10)
		type result struct {
			specific bool
			code     uint32
		}
		done := make(chan result, 1)
		go func() {
			s, c := h.Execute(nil, req, status)
			done <- result{s, c}
		}()
		if st := <-status; st.State != svc.StartPending {
			t.Fatalf("first status %v", st.State)
		}
		if st := <-status; st.State != svc.Running || st.Accepts&svc.AcceptStop == 0 || st.Accepts&svc.AcceptShutdown == 0 {
			t.Fatalf("running status %+v", st)
		}
		req <- svc.ChangeRequest{Cmd: svc.Interrogate, CurrentStatus: svc.Status{State: svc.Running}}
		if st := <-status; st.State != svc.Running {
			t.Fatalf("interrogate answered %v", st.State)
		}
		req <- svc.ChangeRequest{Cmd: cmd}
		select {
		case <-cancelled:
		case <-time.After(5 * time.Second):
			t.Fatalf("%v did not cancel the agent", cmd)
		}
		if r := <-done; r.specific || r.code != 0 {
			t.Fatalf("clean stop returned %+v", r)
		}
		if st := <-status; st.State != svc.StopPending {
			t.Fatalf("stop status %v", st.State)
		}
	}

	h := &agentService{log: io.Discard, run: func(context.Context) error { return errors.New("queue: locked") }}
	status := make(chan svc.Status, 10)
	if specific, code := h.Execute(nil, make(chan svc.ChangeRequest), status); !specific || code != exitFailure {
		t.Fatalf("an agent that failed: %v %d", specific, code)
	}
}
