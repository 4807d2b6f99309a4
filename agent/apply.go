package agent

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/pda-agent/pda-agent/catalogue"
	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/msfx"
)

// Apply puts a new config in force without stopping the agent: the config
// is swapped whole; only the parts whose settings changed restart. A
// scanner restarts if its own section changed; the destinations and their
// workers restart if any upload setting or the catalogue changed (attempts
// in flight finish and record their outcome first, so nothing is lost);
// session and code rules apply to the next scan. Settings that cannot
// change under a running agent (the queue, the local API, the data
// directory, the device id) are kept and reported by Pending until the next
// start. Apply returns the scanners it restarted, for a health check.
func (a *Agent) Apply(newCfg *configs.Config) ([]string, error) {
	rules, err := Rules(newCfg.Codes)
	if err != nil {
		return nil, err
	}
	if problems := Check(newCfg); len(problems) > 0 {
		return nil, &configs.Error{Source: "new config", Fields: problems}
	}
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	old := a.config()

	var restartNeeded []string
	for _, k := range []struct {
		name   string
		o, n   any
		reason string
	}{
		{"queue", old.Queue, newCfg.Queue, ""},
		{"api", old.API, newCfg.API, ""},
		{"data_dir", old.DataDir, newCfg.DataDir, ""},
		{"device.id", old.Device.ID, newCfg.Device.ID, ""},
		{"log", old.Log, newCfg.Log, ""},
		{"feedback", old.Feedback, newCfg.Feedback, ""},
	} {
		if !reflect.DeepEqual(k.o, k.n) {
			restartNeeded = append(restartNeeded, k.name)
		}
	}

	// Destinations: build the new set before stopping the old one, so a
	// config that cannot be built changes nothing.
	cat := a.Catalogue()
	destsChanged := !reflect.DeepEqual(old.Msfx, newCfg.Msfx) || !reflect.DeepEqual(old.NHSA, newCfg.NHSA) ||
		!reflect.DeepEqual(old.Webhook, newCfg.Webhook) || !reflect.DeepEqual(old.Upload, newCfg.Upload) ||
		old.Catalogue != newCfg.Catalogue
	if old.Catalogue != newCfg.Catalogue {
		if cat, err = catalogue.Load(newCfg.Catalogue.Products, newCfg.Catalogue.Partners); err != nil {
			return nil, fmt.Errorf("agent: new catalogue: %w", err)
		}
	}
	var ds *destSet
	if destsChanged {
		if ds, err = a.newDestSet(newCfg, cat); err != nil {
			return nil, err
		}
	}

	// Scanners: build the changed and added ones first, too.
	oldByName := map[string]configs.Scanner{}
	for _, sc := range old.Scanners {
		oldByName[sc.Name] = sc
	}
	newSrcs := map[string]*runningSource{}
	var restarted []string
	for _, sc := range newCfg.Scanners {
		if prev, ok := oldByName[sc.Name]; ok && reflect.DeepEqual(prev, sc) {
			continue
		}
		rs, err := a.newSource(sc)
		if err != nil {
			return nil, fmt.Errorf("agent: scanner %s: %w", sc.Name, err)
		}
		newSrcs[sc.Name] = rs
		restarted = append(restarted, sc.Name)
	}

	// Everything is built: swap.
	a.cat.Store(cat)
	a.live.Store(&live{cfg: newCfg, rules: rules})
	if destsChanged {
		prev := a.dset.Load()
		if a.runCtx != nil {
			prev.cancel()
			<-prev.done
			a.startDests(ds)
		}
		a.dset.Store(ds)
		a.log.Info("destinations restarted with the new config", "destinations", names(ds.workers))
	}
	stillThere := map[string]bool{}
	for _, sc := range newCfg.Scanners {
		stillThere[sc.Name] = true
	}
	for name, rs := range a.srcs {
		if _, changed := newSrcs[name]; changed || !stillThere[name] {
			if rs.cancel != nil {
				rs.cancel()
				<-rs.done
			}
			delete(a.srcs, name)
		}
	}
	for name, rs := range newSrcs {
		a.srcs[name] = rs
		if a.runCtx != nil {
			a.startSource(rs)
		}
	}
	a.pending = restartNeeded
	if len(restartNeeded) > 0 {
		a.log.Warn("config applied; some settings take effect at the next start", "settings", strings.Join(restartNeeded, ", "))
	}
	sort.Strings(restarted)
	return restarted, nil
}

// Pending lists changed settings that wait for the next start.
func (a *Agent) Pending() []string {
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	return append([]string(nil), a.pending...)
}

func names[T any](m map[string]T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ProbeMsfx asks 码上放心 one read-only question with the credentials in
// force (the status of a bill that cannot exist), to catch a config whose
// AppKey, secret or enterprise the platform refuses before it strands
// bills as dead letters. Only a refusal is unhealthy: no answer (the store
// is offline, the platform is busy) says nothing about the config.
func (a *Agent) ProbeMsfx(ctx context.Context, timeout time.Duration) error {
	c := a.msfxClient()
	if c == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	now := a.now()
	_, err := c.QueryBillStatus(ctx, "PROBE-"+a.config().Device.ID, now.Add(-time.Hour), now)
	var me *msfx.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &me) && me.Class == upload.Permanent:
		return fmt.Errorf("%w: 码上放心 refuses the new settings: %v", ErrUnhealthy, err)
	default:
		a.log.Warn("码上放心 probe got no clear answer; keeping the new config", "err", err)
		return nil
	}
}

// ErrUnhealthy: a config was applied but the agent did not come up healthy
// with it.
var ErrUnhealthy = errors.New("unhealthy after applying the config")

// CheckHealth waits up to timeout for the named scanners (those Apply
// restarted) to report themselves connected. Scanners without a health
// report (stdin, replay) count as healthy.
func (a *Agent) CheckHealth(ctx context.Context, scanners []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var bad []string
		a.applyMu.Lock()
		for _, name := range scanners {
			rs, ok := a.srcs[name]
			if !ok {
				continue
			}
			if r, ok := rs.b.src.(device.Reporter); ok {
				if h := r.Health(); !h.Connected {
					msg := name
					if h.LastError != "" {
						msg += ": " + h.LastError
					}
					bad = append(bad, msg)
				}
			}
		}
		a.applyMu.Unlock()
		if len(bad) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: scanner(s) not connected after %v: %s", ErrUnhealthy, timeout, strings.Join(bad, "; "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
