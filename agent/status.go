package agent

import (
	"time"

	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/queue"
)

// Status is the agent at a glance, for `pda-agent status`, the local API
// and the clerk page.
type Status struct {
	Version   string    `json:"version"`
	Device    string    `json:"device"`
	Store     string    `json:"store,omitempty"`
	StartedAt time.Time `json:"started_at"`
	// Health is healthy or degraded, with the reasons.
	Health   string   `json:"health"`
	Problems []string `json:"problems,omitempty"`
	// NHSAEnv is the active 医保 profile (test or prod) when enabled.
	NHSAEnv      string                `json:"nhsa_env,omitempty"`
	Scanners     []device.Health       `json:"scanners"`
	Destinations map[string]DestStatus `json:"destinations"`
	Bills        map[string]int        `json:"bills"`
	Scans        map[string]uint64     `json:"scans"`
	OpenBills    []string              `json:"open_bills,omitempty"`
	QueueFile    string                `json:"queue_file"`
	QueueSize    int64                 `json:"queue_size"`
	QueueMax     int64                 `json:"queue_max,omitempty"`
	Alarms       []queue.Alarm         `json:"alarms,omitempty"`
	// PendingRestart lists changed settings that wait for the next start.
	PendingRestart []string `json:"pending_restart,omitempty"`
}

// DestStatus is one back end's state.
type DestStatus struct {
	Pending int `json:"pending"`
	Failing int `json:"failing"`
	Dead    int `json:"dead"`
	// OldestPending is when the oldest undelivered bill was finished; its
	// age is what regulators audit (timeliness).
	OldestPending    time.Time `json:"oldest_pending,omitzero"`
	OldestPendingAge string    `json:"oldest_pending_age,omitempty"`
	LastSuccess      time.Time `json:"last_success,omitzero"`
	LastError        string    `json:"last_error,omitempty"`
	LastErrorAt      time.Time `json:"last_error_at,omitzero"`
}

// destState is what the agent saw of one back end since it started.
type destState struct {
	lastSuccess, lastErrorAt time.Time
	lastError                string
}

// Status reads the agent's state now.
func (a *Agent) Status() (Status, error) {
	st, err := a.store.Stats()
	if err != nil {
		return Status{}, err
	}
	now := a.now()
	s := Status{Version: a.opts.Version, Device: a.config().Device.ID, Store: a.config().Device.Store, StartedAt: a.started,
		Scanners: a.Scanners(), Destinations: map[string]DestStatus{}, Bills: map[string]int{}, Scans: st.Scans,
		OpenBills: st.OpenBills, QueueFile: a.store.Path(), QueueSize: st.FileSize, QueueMax: st.MaxSize, Alarms: a.store.Alarms()}
	s.PendingRestart = a.Pending()
	if a.config().NHSA.Enabled {
		s.NHSAEnv = a.config().NHSA.Env
	}
	for state, n := range st.Bills {
		s.Bills[string(state)] = n
	}
	for name := range a.workers() {
		d := DestStatus{}
		if ds := st.Dests[name]; ds != nil {
			d = DestStatus{Pending: ds.Pending + ds.Leased, Failing: ds.Failing, Dead: ds.Dead, OldestPending: ds.OldestPending, LastError: ds.LastError}
			if !ds.OldestPending.IsZero() {
				d.OldestPendingAge = now.Sub(ds.OldestPending).Round(time.Second).String()
			}
		}
		a.mu.Lock()
		if seen, ok := a.dests[name]; ok {
			d.LastSuccess, d.LastErrorAt = seen.lastSuccess, seen.lastErrorAt
			if seen.lastError != "" {
				d.LastError = seen.lastError
			}
		}
		a.mu.Unlock()
		s.Destinations[name] = d
		if d.Dead > 0 {
			s.Problems = append(s.Problems, name+": dead letters need an operator")
		}
		if d.Failing > 0 {
			s.Problems = append(s.Problems, name+": deliveries failing: "+d.LastError)
		}
	}
	for _, h := range s.Scanners {
		if !h.Connected {
			s.Problems = append(s.Problems, "scanner "+h.Name+" not connected: "+h.LastError)
		}
	}
	for _, al := range s.Alarms {
		s.Problems = append(s.Problems, "alarm "+al.Kind+": "+al.Message)
	}
	s.Health = "healthy"
	if len(s.Problems) > 0 {
		s.Health = "degraded"
	}
	return s, nil
}
