package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/clockskew"
)

// Health values of a Status.
const (
	Healthy  = "healthy"
	Degraded = "degraded"
	// Stopped: no agent is running; the status was read from the queue
	// file.
	Stopped = "stopped"
)

// Status sources.
const (
	FromAgent     = "agent"
	FromQueueFile = "queue file"
)

// Status is the agent at a glance, for `pda-agent status`, the local API
// and the clerk page.
type Status struct {
	Version   string    `json:"version"`
	Device    string    `json:"device"`
	Store     string    `json:"store,omitempty"`
	StartedAt time.Time `json:"started_at,omitzero"`
	// Source says where the figures come from: the running agent, or the
	// queue file when no agent runs.
	Source string `json:"source"`
	// Health is healthy, degraded or stopped, with the reasons.
	Health   string   `json:"health"`
	Problems []string `json:"problems,omitempty"`
	// Config identifies the config in force.
	Config ConfigInfo `json:"config"`
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
	// DiskFree is the space left on the queue's filesystem; absent when
	// the platform cannot tell.
	DiskFree *int64 `json:"disk_free,omitempty"`
	// Headroom is queue.headroom: scans stop when less is left.
	Headroom int64         `json:"headroom,omitempty"`
	Alarms   []queue.Alarm `json:"alarms,omitempty"`
	// Clock is the device clock's offset from the back ends' clocks, once
	// measured from their answers (a running agent only).
	Clock *clockskew.State `json:"clock,omitempty"`
	// PendingRestart lists changed settings that wait for the next start.
	PendingRestart []string `json:"pending_restart,omitempty"`
	// PersonalKey says why deliveries are held for personal data the
	// device's key cannot decrypt (the key file lost or replaced).
	PersonalKey string `json:"personal_key,omitempty"`
	// Fleet says why HQ's latest bundle is not in force (refused, or
	// applied and reverted), until a good one applies.
	Fleet string `json:"fleet,omitempty"`
	// Msfx is the 码上放心 compliance figures (compliance_msfx.go), once asked.
	Msfx *MsfxFigures `json:"msfx_compliance,omitempty"`
	// LAN is the listener for paired handhelds (api.lan); absent when it
	// is off. The running agent's API fills it in (it holds the listener).
	LAN *LANStatus `json:"lan,omitempty"`
	// Reconcile is each back end's latest reconciliation (reconcile.go).
	Reconcile map[string]ReconcileLast `json:"reconcile,omitempty"`
}

// LANStatus is the LAN listener as a handheld meets it: its address and
// the certificate's fingerprint, which the clerk compares with what the
// PDA's browser shows before trusting it.
type LANStatus struct {
	Listen string `json:"listen"`
	// Fingerprint is the SHA-256 of the certificate (DER) in upper-case
	// hex pairs joined by colons, as browsers show it.
	Fingerprint string `json:"fingerprint_sha256"`
}

// CertFingerprint is the SHA-256 fingerprint of a DER certificate, as
// LANStatus.Fingerprint gives it.
func CertFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// LANFromFile is the LAN listener a stopped agent would open with cfg: the
// fingerprint of its kept certificate file. nil when api.lan is off, or
// when no certificate was made yet (the first start makes it).
func LANFromFile(cfg *configs.Config) (*LANStatus, error) {
	if !cfg.API.Enabled || !cfg.API.LAN.Enabled {
		return nil, nil
	}
	data, err := os.ReadFile(cfg.LANCertFile())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent: LAN certificate: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("agent: LAN certificate %s: no PEM CERTIFICATE block", cfg.LANCertFile())
	}
	return &LANStatus{Listen: cfg.API.LAN.Listen, Fingerprint: CertFingerprint(block.Bytes)}, nil
}

// ConfigInfo identifies the config in force: where it came from and a
// hash of it, so support can tell two devices' configs apart at a glance.
type ConfigInfo struct {
	// Source is "fleet" (an HQ bundle) or "local" (the device's file).
	Source string `json:"source"`
	// Version, BundleHash and AppliedAt identify the HQ bundle.
	Version    uint64    `json:"version,omitempty"`
	BundleHash string    `json:"bundle_hash,omitempty"`
	AppliedAt  time.Time `json:"applied_at,omitzero"`
	// Hash is the SHA-256 of the effective config with its secrets masked
	// (a changed secret alone does not change it; the hash reveals none).
	Hash string `json:"hash"`
}

// Config sources.
const (
	ConfigLocal = "local"
	ConfigFleet = "fleet"
)

// ConfigHash is the hash of a config as Status reports it: SHA-256 of its
// JSON form, in which secrets print masked.
func ConfigHash(cfg *configs.Config) string {
	data, err := json.Marshal(cfg)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// DestStatus is one back end's state.
type DestStatus struct {
	Pending int `json:"pending"`
	Failing int `json:"failing"`
	// Held are pending deliveries held back on this device because their
	// bills lack data (not failing: waiting for a repair).
	Held int `json:"held"`
	Dead int `json:"dead"`
	// Disabled: the destination is not in the config in force, but
	// deliveries to it are still in the queue.
	Disabled bool `json:"disabled,omitempty"`
	// OldestPending is when the oldest undelivered bill was finished; its
	// age is what regulators audit (timeliness).
	OldestPending    time.Time `json:"oldest_pending,omitzero"`
	OldestPendingAge string    `json:"oldest_pending_age,omitempty"`
	LastSuccess      time.Time `json:"last_success,omitzero"`
	LastError        string    `json:"last_error,omitempty"`
	LastErrorAt      time.Time `json:"last_error_at,omitzero"`
	// FailingSince is when the longest-failing delivery began to fail.
	FailingSince time.Time `json:"failing_since,omitzero"`
}

// destState is what the agent saw of one back end since it started.
type destState struct {
	lastSuccess, lastErrorAt time.Time
	lastError                string
}

// Status reads the agent's state now.
func (a *Agent) Status() (Status, error) {
	cfg, now := a.config(), a.now()
	s, err := queueStatus(a.store, cfg, names(a.workers()), now)
	if err != nil {
		return Status{}, err
	}
	s.Source, s.Version, s.StartedAt = FromAgent, a.opts.Version, a.started
	s.Config = a.configInfo()
	s.Scanners = a.Scanners()
	s.PendingRestart = a.Pending()
	a.mu.Lock()
	for name, d := range s.Destinations {
		seen, ok := a.dests[name]
		if !ok {
			continue
		}
		if seen.lastSuccess.After(d.LastSuccess) {
			d.LastSuccess = seen.lastSuccess
		}
		if seen.lastError != "" && !seen.lastErrorAt.Before(d.LastErrorAt) {
			d.LastError, d.LastErrorAt = seen.lastError, seen.lastErrorAt
		}
		s.Destinations[name] = d
	}
	a.mu.Unlock()
	s.Msfx, s.Alarms = a.msfxStatus(), append(s.Alarms, a.msfxAlarms()...)
	if cs := a.clock.State(); cs.Measured {
		s.Clock = &cs
		if cs.Wrong {
			// Not kept in the queue: it stands while the clock is off.
			s.Alarms = append(s.Alarms, queue.Alarm{At: cs.At, Kind: "clock", Message: cs.Message})
		}
	}
	s.Alarms = append(s.Alarms, a.CheckAlarms()...)
	if f := a.fleetState.Load(); f != nil {
		s.Fleet = (*f)().problem()
	}
	s.assess(now)
	return s, nil
}

// configInfo is the config in force's origin and hash.
func (a *Agent) configInfo() ConfigInfo {
	ci := ConfigInfo{Source: ConfigLocal}
	if o := a.origin.Load(); o != nil {
		ci = *o
	}
	ci.Hash = ConfigHash(a.config())
	return ci
}

// setOrigin records where the config in force came from.
func (a *Agent) setOrigin(ci ConfigInfo) {
	if ci.Source == "" {
		ci.Source = ConfigLocal
	}
	ci.Hash = "" // computed from the config in force when asked
	a.origin.Store(&ci)
}

// queueStatus is what the queue file alone tells, for the destinations
// in force (dests) and any other that still has deliveries waiting.
func queueStatus(store *queue.Store, cfg *configs.Config, dests []string, now time.Time) (Status, error) {
	st, err := store.Stats()
	if err != nil {
		return Status{}, fmt.Errorf("agent: status: %w", err)
	}
	hist, err := store.DestHistories()
	if err != nil {
		return Status{}, fmt.Errorf("agent: status: %w", err)
	}
	s := Status{Device: cfg.Device.ID, Store: cfg.Device.Store, Config: ConfigInfo{Source: ConfigLocal, Hash: ConfigHash(cfg)},
		Scanners: []device.Health{}, Destinations: map[string]DestStatus{}, Bills: map[string]int{}, Scans: st.Scans,
		OpenBills: st.OpenBills, QueueFile: store.Path(), QueueSize: st.FileSize, QueueMax: st.MaxSize,
		Headroom: int64(cfg.Queue.Headroom), Alarms: store.Alarms()}
	if cfg.NHSA.Enabled {
		s.NHSAEnv = cfg.NHSA.Env
	}
	if free, err := store.DiskFree(); err == nil {
		s.DiskFree = &free
	}
	if s.Reconcile, err = reconcileLasts(store); err != nil {
		return Status{}, fmt.Errorf("agent: status: %w", err)
	}
	if st.KeyHeld > 0 {
		s.PersonalKey = fmt.Sprintf("%d deliveries held: personal data of their bills cannot be decrypted — the personal-data key file %s is missing or not the key the queue was written with; restore that file, then pda-agent queue retry BILL DEST (or wait: held deliveries are looked at again every few minutes)",
			st.KeyHeld, cfg.QueuePersonalKeyFile())
	}
	for state, n := range st.Bills {
		s.Bills[string(state)] = n
	}
	enabled := map[string]bool{}
	for _, name := range dests {
		enabled[name] = true
	}
	for name, ds := range st.Dests {
		if !enabled[name] && ds.Pending+ds.Leased+ds.Dead > 0 {
			dests = append(dests, name)
		}
	}
	for _, name := range dests {
		d := DestStatus{Disabled: !enabled[name]}
		if ds := st.Dests[name]; ds != nil {
			d.Pending, d.Failing, d.Dead, d.OldestPending = ds.Pending+ds.Leased, ds.Failing, ds.Dead, ds.OldestPending
			d.Held = ds.Held
			d.FailingSince = ds.FailingSince
			if !ds.OldestPending.IsZero() {
				d.OldestPendingAge = now.Sub(ds.OldestPending).Round(time.Second).String()
			}
		}
		h := hist[name]
		d.LastSuccess, d.LastError, d.LastErrorAt = h.LastDone, h.LastError, h.LastErrorAt
		s.Destinations[name] = d
	}
	return s, nil
}

// assess sets Problems and Health from the figures, read at now.
func (s *Status) assess(now time.Time) {
	s.Problems = nil
	for _, name := range names(s.Destinations) {
		d := s.Destinations[name]
		if d.Disabled {
			s.Problems = append(s.Problems, fmt.Sprintf("%s: %d deliveries wait but the destination is not enabled", name, d.Pending+d.Dead))
		}
		if d.Dead > 0 {
			s.Problems = append(s.Problems, name+": dead letters need an operator")
		}
		if d.Held > 0 {
			s.Problems = append(s.Problems, fmt.Sprintf("%s: %d deliveries held: their bills lack data (pda-agent queue list shows HELD; repair with pda-agent queue set BILL key=value, or PATCH /v1/bills/{code}/attrs)", name, d.Held))
		}
		if d.Failing > 0 {
			since := ""
			if !d.FailingSince.IsZero() {
				since = " since " + Clock(d.FailingSince, now)
			}
			s.Problems = append(s.Problems, fmt.Sprintf("%s: %d deliveries failing%s: %s", name, d.Failing, since, d.LastError))
		}
	}
	for _, h := range s.Scanners {
		if !h.Connected {
			s.Problems = append(s.Problems, "scanner "+h.Name+" not connected: "+h.LastError)
		}
	}
	if s.QueueMax > 0 && s.QueueSize*10 >= s.QueueMax*9 {
		s.Problems = append(s.Problems, fmt.Sprintf("queue file at %d%% of queue.max_size (%s of %s)",
			s.QueueSize*100/s.QueueMax, Bytes(s.QueueSize), Bytes(s.QueueMax)))
	}
	if s.DiskFree != nil && s.Headroom > 0 && *s.DiskFree < 4*s.Headroom {
		s.Problems = append(s.Problems, fmt.Sprintf("disk nearly full: %s free; scans stop below %s (queue.headroom)",
			Bytes(*s.DiskFree), Bytes(s.Headroom)))
	}
	for _, al := range s.Alarms {
		s.Problems = append(s.Problems, "alarm "+al.Kind+": "+al.Message)
	}
	if s.PersonalKey != "" {
		s.Problems = append(s.Problems, s.PersonalKey)
	}
	if s.Fleet != "" {
		s.Problems = append(s.Problems, s.Fleet)
	}
	s.Health = Healthy
	if len(s.Problems) > 0 {
		s.Health = Degraded
	}
}

// Bytes renders a size for people: 512 B, 1.5 MiB, 2.0 GiB.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
