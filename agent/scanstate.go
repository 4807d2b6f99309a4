package agent

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/pda-agent/pda-agent/device"
)

// scanState is what command barcodes set for the next scans of a session:
// split units for the next code only, a lot for every code until changed.
// It lives in memory: after a restart the operator scans the command again.
type scanState struct {
	units                 int
	lot, produced, expiry string
	// remove: the next code is taken off the bill (REMOVE, remove.go).
	remove bool
}

var attrKeyRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$`)

// takeScanState returns the session's state for one code, consuming the
// one-shot split.
func (a *Agent) takeScanState(session string) scanState {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.state[session]
	if st.units != 0 {
		next := st
		next.units = 0
		a.state[session] = next
	}
	return st
}

func (a *Agent) setSplit(session string, units int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.state[session]
	s.units = units
	a.state[session] = s
}

func (a *Agent) clearScanState(session string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.state, session)
}

// setLot handles LOT:<lot>[:<manu>[:<expiry>]].
func (a *Agent) setLot(session, arg string) device.Feedback {
	parts := strings.Split(arg, ":")
	lot := strings.TrimSpace(parts[0])
	var dates [2]string
	for i := 1; i < len(parts) && i <= 2; i++ {
		d := strings.TrimSpace(parts[i])
		if d == "" {
			continue
		}
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			return device.Feedback{Status: device.StatusRejected, Reason: "bad_command", Message: fmt.Sprintf("LOT dates are YYYY-MM-DD, e.g. LOT:B2311:2025-06-01:2027-05-31; got %q", d)}
		}
		dates[i-1] = d
	}
	if len(parts) > 3 || len(lot) > 30 {
		return device.Feedback{Status: device.StatusRejected, Reason: "bad_command", Message: fmt.Sprintf("LOT takes a lot (≤ 30) and up to two dates; got %q", arg)}
	}
	a.mu.Lock()
	s := a.state[session]
	s.lot, s.produced, s.expiry = lot, dates[0], dates[1]
	a.state[session] = s
	a.mu.Unlock()
	if lot == "" {
		return device.Feedback{Status: device.StatusCommand, Message: "lot cleared"}
	}
	return device.Feedback{Status: device.StatusCommand, Message: fmt.Sprintf("following codes are lot %s", lot)}
}
