// Package client is the agent side of the fleet channel: it pulls this
// device's signed configuration bundle from chain HQ (pda-hq, or any web
// server holding exported bundles), verifies it, hands it to the agent to
// apply, keeps the last applied bundle on disk as the known-good config and
// reports APPLYING / APPLIED / FAILED back to HQ.
//
// The device always initiates: it polls with If-None-Match, with jitter,
// exponential backoff on failures and Retry-After honoured, so thousands of
// PDAs never hit HQ in step and a PDA with no network simply keeps running
// the config it last applied (Current gives it at start-up).
//
// One process owns a state directory; a Client serialises its own polls.
package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/tjfoc/gmsm/sm2"

	"github.com/pda-agent/pda-agent/fleet/bundle"
	"github.com/pda-agent/pda-agent/gm"
)

// Defaults of Config.
const (
	DefaultInterval   = 60 * time.Second
	DefaultJitter     = 0.2
	DefaultMaxBackoff = 10 * time.Minute
	DefaultTimeout    = 30 * time.Second
)

// maxRetryAfter only guards against absurd values (a broken proxy, an
// overflowing date); anything below it is honoured exactly.
const maxRetryAfter = 24 * time.Hour

// Config configures a Client.
type Config struct {
	// URL is pda-hq's base URL, or in static mode the base URL of the web
	// server or CDN holding the exported bundles.
	URL string
	// Static: fetch <URL>/devices/<Device>.bundle as a plain file and use
	// the server's own ETag for change detection.
	Static bool
	// ReportURL is for static mode only: the base URL of a pda-hq that
	// collects reports (POST <ReportURL>/v1/devices/<Device>/report); ""
	// sends no reports.
	ReportURL string
	// Device is this device's id, as HQ knows it.
	Device string
	// DeviceKey signs requests and decrypts the bundle's secrets. Never log it.
	DeviceKey *sm2.PrivateKey
	// HQKey is the only key whose bundles are applied.
	HQKey *sm2.PublicKey
	// StateDir holds current.bundle and state.json (e.g. <data_dir>/fleet);
	// it is created with mode 0700.
	StateDir string
	// Interval between polls (default 60s), randomised by ±Jitter (a
	// fraction in 0..1; 0 means the default 0.2) so that devices drift
	// apart. Zero durations below mean their defaults too.
	Interval time.Duration
	Jitter   float64
	// MaxBackoff caps the exponential backoff after failed polls (default 10m).
	MaxBackoff time.Duration
	// Timeout bounds each HTTP request, body included (default 30s).
	Timeout time.Duration
	// ReportInterval: in static mode with a ReportURL, the device's latest
	// word (APPLIED, or FAILED for a bundle refused after the last good
	// one) is sent again after a poll once this long has passed since the
	// last report, so that HQ, which sees no polls of a static device,
	// counts it as in contact between rollouts (HQ marks a device SILENT
	// after 3 × its poll_interval). Default (0): Interval. Reports go with
	// polls, so a value below Interval means every poll.
	ReportInterval time.Duration
	// HTTPClient is used for every request (default: a new http.Client).
	HTTPClient *http.Client
	// Now is the clock for request signatures, Retry-After dates and state
	// times (default time.Now).
	Now func() time.Time
	// Logger receives what happens (default slog.Default()).
	Logger *slog.Logger
}

// Applier applies a verified bundle: it validates the config it carries
// offline, swaps it in and checks the agent is healthy with it. When it
// returns an error it has already reverted to the previous config itself,
// and the error says why (it is sent to HQ: no secrets in it).
type Applier func(ctx context.Context, b *bundle.Opened, secrets map[string]string) error

// Result statuses of PollOnce.
const (
	// StatusUnchanged: nothing new (304, or bytes already applied or
	// already refused/failed).
	StatusUnchanged = "unchanged"
	// StatusNone: nothing is staged for this device (404); the current
	// config stays.
	StatusNone = "none"
	// StatusApplied: a new bundle is in force and saved as known-good.
	StatusApplied = "applied"
	// StatusFailed: the bundle was valid but could not be applied; the
	// previous config stays.
	StatusFailed = "failed"
	// StatusRefused: the bundle failed verification or its secrets could not
	// be decrypted; it never reached the applier.
	StatusRefused = "refused"
)

// Result is the outcome of one poll.
type Result struct {
	// Status is one of the Status constants; "" when the poll itself failed.
	Status string
	// Version and Hash identify the bundle concerned: the new one for
	// applied/failed/refused (as claimed by the bundle when refused), the
	// applied one otherwise.
	Version uint64
	Hash    string
	// Err says why a bundle was refused or failed, or why the poll failed.
	Err error
}

// State is what the client knows, persisted in state.json.
type State struct {
	// AppliedVersion and AppliedHash identify the last applied (known-good)
	// bundle, the one in current.bundle; zero when none.
	AppliedVersion uint64    `json:"applied_version"`
	AppliedHash    string    `json:"applied_hash,omitempty"`
	AppliedAt      time.Time `json:"applied_at,omitzero"`
	// LastFailedHash and LastFailedError describe the last bundle refused or
	// failed; the same bytes are not processed again.
	LastFailedHash  string `json:"last_failed_hash,omitempty"`
	LastFailedError string `json:"last_failed_error,omitempty"`
	// LastFailedVersion is the version the failed bundle claimed, and
	// LastFailedAt when it failed: a failure after AppliedAt means the
	// device runs an older config than HQ meant (the agent's status says
	// DEGRADED until a good bundle applies).
	LastFailedVersion uint64    `json:"last_failed_version,omitempty"`
	LastFailedAt      time.Time `json:"last_failed_at,omitzero"`
	// LastPoll is the last poll attempt, LastSuccess the last one HQ
	// answered, LastError why the last poll failed ("" when it did not).
	// They are saved only along with other changes, to spare the flash.
	LastPoll    time.Time `json:"last_poll,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	// ETag is the server's ETag of the last bundle processed (in static
	// mode it is sent back in If-None-Match).
	ETag string `json:"etag,omitempty"`
	// AppliedNotAfter is when the applied bundle expires (zero: never). An
	// expired applied bundle stays in force; only new ones are refused.
	AppliedNotAfter time.Time `json:"applied_not_after,omitzero"`
	// AppliedCatalogue names the applied bundle's catalogue object
	// (SHA-256, version), empty when it carries the catalogue inline.
	AppliedCatalogue        string `json:"applied_catalogue,omitempty"`
	AppliedCatalogueVersion uint64 `json:"applied_catalogue_version,omitempty"`
}

// ErrAuth marks a poll or report HQ refused because of the device's
// authentication (401/403): the device is not enrolled, or with another key,
// or its clock is far off.
var ErrAuth = errors.New("HQ refused this device's authentication")

// Client polls HQ and applies bundles. Create it with New.
type Client struct {
	cfg       Config
	apply     Applier
	log       *slog.Logger
	http      *http.Client
	devicePub *sm2.PublicKey
	base      string // Config.URL without the trailing slash
	bundleURL string
	reportURL string // "" = no reports

	// Test hooks: how Run waits, and the jitter source in [0,1).
	sleep       func(ctx context.Context, d time.Duration) error
	rand        func() float64
	reportPause time.Duration // first pause between report tries

	pollMu sync.Mutex // one poll (and so one apply, one writer of the files) at a time

	mu            sync.Mutex // guards st, appliedDigest, lastReport, reReportFailing and pollToken
	st            persisted
	appliedDigest string // SHA-256 of current.bundle's bytes, to skip re-verifying them
	// lastReport is when a report last reached HQ (in memory: after a
	// restart the first poll reports again, which tells HQ it is back).
	lastReport time.Time
	// reReportFailing keeps a report server that stays down to one warning.
	reReportFailing bool
	// pollToken is HQ's last poll token: sent back with each poll so that
	// HQ can answer 304 without checking an SM2 signature. In memory only:
	// after a restart the first (signed) poll gets a new one.
	pollToken string
}

// deviceIDRE is the configs package's device id rule (it also keeps the id
// safe in a URL path without escaping).
var deviceIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// New checks c, prepares StateDir (removing what an interrupted write left)
// and loads the state, reconciled with current.bundle, which is the truth
// about what is applied.
func New(c Config, apply Applier) (*Client, error) {
	if apply == nil {
		return nil, errors.New("fleet client: no applier")
	}
	if !deviceIDRE.MatchString(c.Device) {
		return nil, fmt.Errorf("fleet client: device id %q: want 1-64 of A-Z a-z 0-9 _ -", c.Device)
	}
	if c.DeviceKey == nil || c.HQKey == nil {
		return nil, errors.New("fleet client: the device key and HQ's public key are both required")
	}
	if gm.Fingerprint(c.HQKey) == "" {
		return nil, errors.New("fleet client: HQ's public key is not a valid SM2 key")
	}
	if c.StateDir == "" {
		return nil, errors.New("fleet client: no state directory")
	}
	base, err := baseURL("url", c.URL)
	if err != nil {
		return nil, err
	}
	if c.ReportURL != "" && !c.Static {
		return nil, errors.New("fleet client: report_url is for static mode only (pda-hq takes reports itself)")
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Jitter == 0 {
		c.Jitter = DefaultJitter
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.ReportInterval == 0 {
		c.ReportInterval = c.Interval
	}
	switch {
	case c.Interval < 0, c.MaxBackoff < 0, c.Timeout < 0, c.ReportInterval < 0:
		return nil, errors.New("fleet client: interval, max_backoff, timeout and report_interval must be positive")
	case c.Jitter < 0 || c.Jitter > 1:
		return nil, fmt.Errorf("fleet client: jitter %g: want 0..1", c.Jitter)
	case c.MaxBackoff < c.Interval:
		return nil, fmt.Errorf("fleet client: max_backoff %s is below the interval %s", c.MaxBackoff, c.Interval)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	cl := &Client{
		cfg: c, apply: apply, log: c.Logger.With("component", "fleet"), http: hc,
		devicePub: &c.DeviceKey.PublicKey, base: base, sleep: sleepCtx, rand: rand.Float64, reportPause: defaultPause,
	}
	if c.Static {
		cl.bundleURL = base + "/devices/" + c.Device + ".bundle"
		if c.ReportURL != "" {
			rb, err := baseURL("report_url", c.ReportURL)
			if err != nil {
				return nil, err
			}
			cl.reportURL = rb + "/v1/devices/" + c.Device + "/report"
		}
	} else {
		cl.bundleURL = base + "/v1/devices/" + c.Device + "/bundle"
		cl.reportURL = base + "/v1/devices/" + c.Device + "/report"
	}
	if err := cl.load(); err != nil {
		return nil, err
	}
	return cl, nil
}

func baseURL(name, s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("fleet client: %s %q: want an http(s) base URL without query", name, s)
	}
	return strings.TrimRight(s, "/"), nil
}

// State returns a copy of the current state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.State
}

// Run polls until ctx ends, then returns nil. The first poll is immediate;
// then it waits Interval ±Jitter after a poll HQ answered (whatever became
// of the bundle), or after a failed poll an exponential backoff from
// Interval up to MaxBackoff, or exactly what Retry-After asked.
func (c *Client) Run(ctx context.Context) error {
	failures := 0
	for {
		_, err := c.PollOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var wait time.Duration
		if err == nil {
			failures = 0
			wait = c.jitter(c.cfg.Interval)
		} else {
			failures++
			wait = c.backoff(failures)
			if ra, ok := retryAfterOf(err); ok {
				wait = ra
			}
			level := slog.LevelWarn
			if errors.Is(err, ErrAuth) {
				level = slog.LevelError
			}
			c.log.Log(ctx, level, "fleet poll failed; the current config stays in force",
				"err", err, "failures", failures, "retry_in", wait.Round(time.Millisecond))
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil
		}
	}
}

// backoff is the wait after the n-th consecutive failure: Interval doubled
// each time, capped at MaxBackoff, jittered (reflected under the cap so
// devices stuck at the cap still spread out).
func (c *Client) backoff(n int) time.Duration {
	d := c.cfg.Interval
	for i := 1; i < n && d < c.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.cfg.MaxBackoff)
	j := c.jitter(d)
	if j > c.cfg.MaxBackoff {
		j = 2*c.cfg.MaxBackoff - j
	}
	return j
}

// jitter spreads d uniformly over d·(1±Jitter).
func (c *Client) jitter(d time.Duration) time.Duration {
	f := 1 + c.cfg.Jitter*(2*c.rand()-1)
	return time.Duration(float64(d) * f)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
