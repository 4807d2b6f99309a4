package upload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"
)

// ErrTimeout is the cause of a request cut by Exchange's per-call timeout.
var ErrTimeout = errors.New("request timed out")

// Exchange makes one HTTP call under a per-call timeout: build makes the
// request with the context it is given, and the answer is read up to
// limit+1 bytes, so a caller can tell an answer larger than limit. wrote
// is true once the request was on the wire — from then on the back end
// may have applied it, whatever happens to the answer.
func Exchange(ctx context.Context, hc *http.Client, timeout time.Duration, limit int64,
	build func(context.Context) (*http.Request, error)) (status int, data []byte, wrote bool, err error) {
	rctx, cancel := context.WithTimeoutCause(ctx, timeout, ErrTimeout)
	defer cancel()
	var sent atomic.Bool
	rctx = httptrace.WithClientTrace(rctx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { sent.Store(true) },
	})
	req, err := build(rctx)
	if err != nil {
		return 0, nil, false, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, sent.Load(), err
	}
	defer resp.Body.Close()
	data, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return resp.StatusCode, nil, true, fmt.Errorf("reading the answer (HTTP %s): %w", StatusText(resp.StatusCode), err)
	}
	return resp.StatusCode, data, true, nil
}
