package device

import (
	"sync"
	"time"
)

// Health is what a source reports about itself for the status page.
type Health struct {
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	Connected bool      `json:"connected"`
	Detail    string    `json:"detail,omitempty"` // e.g. "/dev/ttyACM0 9600 8N1"
	Since     time.Time `json:"since,omitzero"`   // of the current connected state
	Scans     uint64    `json:"scans"`
	LastScan  time.Time `json:"last_scan,omitzero"`
	// Suppressed counts double reads dropped by the debounce window.
	Suppressed  uint64    `json:"suppressed,omitempty"`
	Errors      uint64    `json:"errors"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// Reporter is a source that reports its health.
type Reporter interface {
	Health() Health
}

// HealthTracker keeps a source's Health; sources embed one. It is safe for
// concurrent use.
type HealthTracker struct {
	mu sync.Mutex
	h  Health
}

// NewHealthTracker starts a tracker for the named source of a kind.
func NewHealthTracker(name, kind string) *HealthTracker {
	return &HealthTracker{h: Health{Name: name, Kind: kind}}
}

// Health returns a snapshot.
func (t *HealthTracker) Health() Health {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.h
}

// SetConnected records a connection change; detail describes the link.
func (t *HealthTracker) SetConnected(connected bool, detail string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.h.Connected != connected || t.h.Since.IsZero() {
		t.h.Since = at
	}
	t.h.Connected = connected
	if detail != "" {
		t.h.Detail = detail
	}
}

// ScanSeen counts a scan read at at.
func (t *HealthTracker) ScanSeen(at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.h.Scans++
	t.h.LastScan = at
}

// Suppressed counts a double read dropped.
func (t *HealthTracker) Suppressed() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.h.Suppressed++
}

// Error records an error.
func (t *HealthTracker) Error(err error, at time.Time) {
	if err == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.h.Errors++
	t.h.LastError = err.Error()
	t.h.LastErrorAt = at
}
