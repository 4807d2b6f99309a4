package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"time"

	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/durable"
	"github.com/pda-agent/pda-agent/fleet/bundle"
)

// LocalConfig is the device's own config file: its layer and name.
type LocalConfig struct {
	Name string
	Data []byte
	Env  []string
}

// ConfigFromBundle builds the config in force from an HQ bundle: the
// embedded defaults, then HQ's rendered config, then the device's own file
// (its keys win: device id, data directory, the fleet section), then the
// bundle's secrets and catalogue, then the PDA_ environment. The bundle's
// catalogue is written to dir under the bundle's version, so an older
// config still finds its own catalogue after a revert.
func ConfigFromBundle(b *bundle.Opened, secrets map[string]string, local LocalConfig, dir string) (*configs.Config, error) {
	values := map[string]string{}
	for k, v := range secrets {
		values[k] = v
	}
	for name, content := range map[string]string{"products": b.Body.Products, "partners": b.Body.Partners} {
		if content == "" {
			continue
		}
		path := filepath.Join(dir, fmt.Sprintf("catalogue-v%d-%s.csv", b.Body.Version, name))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("agent: bundle catalogue: %w", err)
		}
		if err := durable.WriteFile(path, []byte(content), 0o600); err != nil {
			return nil, fmt.Errorf("agent: bundle catalogue: %w", err)
		}
		values["catalogue."+name] = path
	}
	return configs.LoadLayers(fmt.Sprintf("bundle v%d + %s", b.Body.Version, local.Name),
		[]configs.Layer{{Name: "bundle", Data: []byte(b.Body.Config)}, {Name: local.Name, Data: local.Data}}, values, local.Env)
}

// FleetApplier applies HQ bundles to a running agent: the new config is
// built and checked offline, applied, and checked for health; if the agent
// is not healthy with it, the previous config is put back and the error
// says why (the fleet client then reports FAILED).
func (a *Agent) FleetApplier(local LocalConfig, dir string, health time.Duration) func(context.Context, *bundle.Opened, map[string]string) error {
	return func(ctx context.Context, b *bundle.Opened, secrets map[string]string) error {
		cfg, err := ConfigFromBundle(b, secrets, local, dir)
		if err != nil {
			return err
		}
		old := a.config()
		restarted, err := a.Apply(cfg)
		if err != nil {
			return fmt.Errorf("not applied: %w", err)
		}
		err = a.CheckHealth(ctx, restarted, health)
		if err == nil && cfg.Fleet.Probe && cfg.Msfx.Enabled && !reflect.DeepEqual(old.Msfx, cfg.Msfx) {
			err = a.ProbeMsfx(ctx, health)
		}
		if err != nil {
			if _, rerr := a.Apply(old); rerr != nil {
				a.log.Error("ALARM: reverting to the previous config failed", "err", rerr)
				return fmt.Errorf("%w; reverting failed too: %v", err, rerr)
			}
			a.log.Warn("new config reverted: the agent was not healthy with it", "version", b.Body.Version, "err", err)
			return fmt.Errorf("reverted to the previous config: %w", err)
		}
		a.setOrigin(ConfigInfo{Source: ConfigFleet, Version: b.Body.Version, BundleHash: b.Hash, AppliedAt: a.now()})
		a.log.Info("fleet config applied", "version", b.Body.Version, "hash", b.Hash, "restarted_scanners", restarted)
		a.publish(Event{Kind: "alarm", Status: "config", Message: fmt.Sprintf("HQ config v%d applied", b.Body.Version)})
		return nil
	}
}
