// Package configs holds the agent's typed configuration, its loader and its
// validation, and the YAML files embedded in the binary (the defaults, the
// demo's and the documented example), plus the service files shipped beside
// it.
//
// A Config is loaded once, validated, and then treated as an immutable
// value: components receive the parts they need, and a new config is a new
// value swapped in whole. Nothing reads viper after Load returns (viper is
// not safe for concurrent use).
package configs

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"
)

// Config is the whole agent configuration. Every key is documented in
// example.yaml.
type Config struct {
	Device   Device    `mapstructure:"device"`
	DataDir  string    `mapstructure:"data_dir"`
	Log      Log       `mapstructure:"log"`
	Queue    Queue     `mapstructure:"queue"`
	Codes    Codes     `mapstructure:"codes"`
	Sessions Sessions  `mapstructure:"sessions"`
	Scanners []Scanner `mapstructure:"scanners"`
	Upload   Upload    `mapstructure:"upload"`
	Webhook  Webhook   `mapstructure:"webhook"`
}

// Device identifies this PDA or counter PC.
type Device struct {
	// ID starts every bill_code, so it must be unique among the devices of
	// one enterprise (store).
	ID       string `mapstructure:"id"`
	Store    string `mapstructure:"store"`
	Operator string `mapstructure:"operator"`
}

// Log configures the structured log on stderr.
type Log struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// SlogLevel maps Level to slog.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Queue configures the durable store.
type Queue struct {
	Path             string        `mapstructure:"path"`
	MaxSize          ByteSize      `mapstructure:"max_size"`
	Headroom         ByteSize      `mapstructure:"headroom"`
	MaxBatch         int           `mapstructure:"max_batch"`
	CheckOnOpen      bool          `mapstructure:"check_on_open"`
	CompactFreeRatio float64       `mapstructure:"compact_free_ratio"`
	RetainBills      time.Duration `mapstructure:"retain_bills"`
	RetainLedger     time.Duration `mapstructure:"retain_ledger"`
	PruneInterval    time.Duration `mapstructure:"prune_interval"`
}

// Codes configures trace-code parsing.
type Codes struct {
	AllowedKinds  []string    `mapstructure:"allowed_kinds"`
	GSSubstitutes []string    `mapstructure:"gs_substitutes"`
	GSReliable    bool        `mapstructure:"gs_reliable"`
	MaxLength     int         `mapstructure:"max_length"`
	OtherRules    []OtherRule `mapstructure:"other_rules"`
}

// OtherRule accepts a chain's own code format.
type OtherRule struct {
	Name      string `mapstructure:"name"`
	Pattern   string `mapstructure:"pattern"`
	MinLength int    `mapstructure:"min_length"`
	MaxLength int    `mapstructure:"max_length"`
}

// Sessions configures how scans are grouped into bills.
type Sessions struct {
	// CommandPrefix marks command barcodes (PDA:SALE, PDA:FINISH …).
	CommandPrefix string `mapstructure:"command_prefix"`
	// DefaultType is the bill type opened when a code arrives in a session
	// with no open bill; 0 refuses such codes.
	DefaultType int `mapstructure:"default_type"`
	// DefaultPartner is the partner of auto-opened bills.
	DefaultPartner string `mapstructure:"default_partner"`
	// IdleFinish finishes an open bill after this long without scans; 0
	// never does.
	IdleFinish time.Duration `mapstructure:"idle_finish"`
}

// Scanner is one scan source.
type Scanner struct {
	Name string `mapstructure:"name"`
	// Type is the source kind: stdin or replay (file).
	Type string `mapstructure:"type"`
	// Session is the session this scanner feeds; default its name.
	Session string `mapstructure:"session"`
	// Path is the replay file.
	Path string `mapstructure:"path"`
	// Echo prints one result line per scan on stdout (stdin only).
	Echo bool `mapstructure:"echo"`
}

// SessionName is the session the scanner feeds.
func (s Scanner) SessionName() string {
	if s.Session != "" {
		return s.Session
	}
	return s.Name
}

// Upload configures the delivery workers shared by all destinations.
type Upload struct {
	Lease          time.Duration `mapstructure:"lease"`
	InitialBackoff time.Duration `mapstructure:"initial_backoff"`
	MaxBackoff     time.Duration `mapstructure:"max_backoff"`
	Multiplier     float64       `mapstructure:"multiplier"`
	Jitter         float64       `mapstructure:"jitter"`
}

// Policy is the per-destination delivery policy.
type Policy struct {
	Enabled bool `mapstructure:"enabled"`
	// BillTypes limits the destination to these bill types; empty = all.
	BillTypes   []int   `mapstructure:"bill_types"`
	Concurrency int     `mapstructure:"concurrency"`
	Rate        float64 `mapstructure:"rate"` // requests per second; 0 = unlimited
	Burst       int     `mapstructure:"burst"`
}

// Accepts tells whether the destination takes bills of type t.
func (p Policy) Accepts(t int) bool {
	if len(p.BillTypes) == 0 {
		return true
	}
	for _, bt := range p.BillTypes {
		if bt == t {
			return true
		}
	}
	return false
}

// Webhook forwards finished bills to the chain's own HTTP endpoint.
type Webhook struct {
	Policy  `mapstructure:",squash"`
	URL     string        `mapstructure:"url"`
	KeyID   string        `mapstructure:"key_id"`
	Secret  Secret        `mapstructure:"secret"`
	Timeout time.Duration `mapstructure:"timeout"`
}

// QueuePath is the queue file path.
func (c *Config) QueuePath() string {
	if c.Queue.Path != "" {
		return c.Queue.Path
	}
	return filepath.Join(c.DataDir, "queue.db")
}

// Destinations lists the enabled destinations that take bills of type t.
func (c *Config) Destinations(billType int) []string {
	var out []string
	if c.Webhook.Enabled && c.Webhook.Accepts(billType) {
		out = append(out, "webhook")
	}
	return out
}

// Secret is a credential. It never prints: fmt, JSON and slog all show a
// mask, so a config can be logged or dumped without leaking it.
type Secret string

const mask = "********"

// Value returns the secret itself, for the one place that needs it.
func (s Secret) Value() string { return string(s) }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return mask
}

// GoString masks %#v too.
func (s Secret) GoString() string { return s.String() }

// MarshalText masks the secret in JSON, YAML and text encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue masks the secret in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Format masks every fmt verb.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }
