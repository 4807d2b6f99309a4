package agent

import (
	"fmt"

	"github.com/pda-agent/pda-agent/catalogue"
	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/reconcile"
	"github.com/pda-agent/pda-agent/upload/msfx"
	"github.com/pda-agent/pda-agent/upload/nhsa"
)

// NHSAClient builds the 医保 client of cfg as the agent does (catalogue,
// keys, the queue's msgid sequence and earlier bills), for commands that
// work on a stopped agent's queue, such as `pda-agent reconcile`.
func NHSAClient(cfg *configs.Config, store *queue.Store) (*nhsa.Client, error) {
	if !cfg.NHSA.Enabled {
		return nil, fmt.Errorf("nhsa.enabled is false: 医保 is not configured")
	}
	cat, err := catalogue.Load(cfg.Catalogue.Products, cfg.Catalogue.Partners)
	if err != nil {
		return nil, fmt.Errorf("catalogue: %w", err)
	}
	c, err := nhsaConfig(cfg.NHSA, store, cat)
	if err != nil {
		return nil, err
	}
	return nhsa.New(c)
}

// MSFXClient builds the 码上放心 client of cfg as the agent does, for
// commands that work on a stopped agent's queue (`pda-agent reconcile`).
func MSFXClient(cfg *configs.Config) (*msfx.Client, error) {
	if !cfg.Msfx.Enabled {
		return nil, fmt.Errorf("msfx.enabled is false: 码上放心 is not configured")
	}
	return msfx.New(msfxConfig(cfg.Msfx))
}

// ReconcileBackends are the back ends `pda-agent reconcile` compares on a
// stopped agent's queue: 医保 when nhsa.query.trace, .purchase or .sale
// is set, 码上放心 when enabled.
func ReconcileBackends(cfg *configs.Config, store *queue.Store) ([]reconcile.Backend, error) {
	var out []reconcile.Backend
	if q := cfg.NHSA.Query; cfg.NHSA.Enabled && (q.Trace != "" || q.Purchase != "" || q.Sale != "") {
		c, err := NHSAClient(cfg, store)
		if err != nil {
			return nil, err
		}
		out = append(out, reconcile.NHSA{Client: c})
	}
	if cfg.Msfx.Enabled {
		c, err := MSFXClient(cfg)
		if err != nil {
			return nil, err
		}
		out = append(out, reconcile.MSFX{Platform: c, Known: func(code string) bool {
			_, err := store.BillByCode(code)
			return err == nil
		}})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("nothing to reconcile: enable 医保 with nhsa.query.trace (or .purchase/.sale), or 码上放心")
	}
	return out, nil
}
