package agent

import (
	"fmt"

	"github.com/pda-agent/pda-agent/catalogue"
	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/queue"
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
