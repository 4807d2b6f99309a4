package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/tracecode"
	"github.com/pda-agent/pda-agent/upload/msfx"
)

// Inspector reads a stopped agent's queue file, for `pda-agent status` and
// `pda-agent diagnose` when no agent answers. It holds the queue file's
// lock while open, so an agent cannot start meanwhile: close it promptly.
type Inspector struct {
	cfg     *configs.Config
	info    ConfigInfo
	version string
	now     func() time.Time
	store   *queue.Store
	rules   tracecode.Rules

	msfxOnce sync.Once
	msfx     *msfx.Client
	msfxErr  error
}

// InspectOptions configure an Inspector.
type InspectOptions struct {
	// Origin says where cfg came from (as agent Options.Origin).
	Origin ConfigInfo
	// Version is reported in the status (the installed binary's).
	Version string
	Logger  *slog.Logger
	Now     func() time.Time
}

// OpenInspector opens cfg's queue file. It fails with queue.ErrLocked when
// an agent holds the file.
func OpenInspector(cfg *configs.Config, o InspectOptions) (*Inspector, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	rules, err := Rules(cfg.Codes)
	if err != nil {
		return nil, err
	}
	// A missing file is an error, not a new queue: inspecting must not
	// create the agent's file (with the operator's owner).
	if _, err := os.Stat(cfg.QueuePath()); err != nil {
		return nil, fmt.Errorf("agent: inspect: queue file: %w (has the agent run with this config?)", err)
	}
	// The options that decide what is on disk; no compaction or check:
	// inspecting must be quick and change nothing an agent would not. A
	// running agent holds the lock: no point waiting long for it.
	pkey, err := PersonalKey(cfg, false, nil)
	if err != nil {
		return nil, err
	}
	store, err := queue.Open(cfg.QueuePath(), queue.Options{MaxSize: int64(cfg.Queue.MaxSize), Headroom: int64(cfg.Queue.Headroom),
		BillPrefix: cfg.Device.ID, LockTimeout: time.Second, Logger: o.Logger, Now: o.Now,
		PersonalKey: pkey, PersonalKeyFile: cfg.QueuePersonalKeyFile(), UsesAttr: BuiltinUsesAttr})
	if err != nil {
		return nil, fmt.Errorf("agent: inspect %s: %w", cfg.QueuePath(), err)
	}
	if o.Origin.Source == "" {
		o.Origin.Source = ConfigLocal
	}
	return &Inspector{cfg: cfg, info: o.Origin, version: o.Version, now: o.Now, store: store, rules: rules}, nil
}

// Close releases the queue file.
func (in *Inspector) Close() error { return in.store.Close() }

// Status is the queue file's view of the agent: destinations, disk and
// alarms; no scanners (none runs). Health is Stopped.
func (in *Inspector) Status() (Status, error) {
	var dests []string
	if in.cfg.NHSA.Enabled {
		dests = append(dests, "nhsa")
	}
	if in.cfg.Msfx.Enabled {
		dests = append(dests, "msfx")
	}
	if in.cfg.Webhook.Enabled {
		dests = append(dests, "webhook")
	}
	now := in.now()
	s, err := queueStatus(in.store, in.cfg, dests, now)
	if err != nil {
		return Status{}, err
	}
	s.Source, s.Version = FromQueueFile, in.version
	if err := inspectMsfx(in.store, &s); err != nil {
		return Status{}, err
	}
	info := in.info
	info.Hash = s.Config.Hash
	s.Config = info
	s.assess(now)
	s.Health = Stopped
	s.Problems = append([]string{"agent not running; from the queue file"}, s.Problems...)
	return s, nil
}

// Diagnose is Agent.Diagnose on the queue file; online, it asks 码上放心
// with the config's credentials.
func (in *Inspector) Diagnose(ctx context.Context, code string, online bool) (Diagnosis, error) {
	src := diagSource{store: in.store, rules: in.rules, now: in.now(), source: FromQueueFile}
	if in.cfg.Msfx.Enabled {
		src.msfx = in.msfxClient
	}
	d, err := diagnose(ctx, src, code, online)
	if err != nil {
		return d, err
	}
	d.UpstreamChanged, err = inspectChanged(in.store, d.Bills)
	return d, err
}

// msfxClient is built on first use: offline diagnoses never need it.
func (in *Inspector) msfxClient() (*msfx.Client, error) {
	in.msfxOnce.Do(func() { in.msfx, in.msfxErr = msfx.New(msfxConfig(in.cfg.Msfx)) })
	return in.msfx, in.msfxErr
}
