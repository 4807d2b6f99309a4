package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/configs"
)

// configFlag adds --config (default $PDA_CONFIG) to cmd.
func configFlag(cmd *cobra.Command, path *string) {
	cmd.Flags().StringVarP(path, "config", "c", os.Getenv("PDA_CONFIG"), "config file (default $PDA_CONFIG)")
}

// loadConfig loads and validates the config; a bad config exits 78.
func loadConfig(path string, required bool) (*configs.Config, error) {
	if path == "" && required {
		return nil, &exitError{code: exitUsage, err: errors.New("no config: give --config FILE or set PDA_CONFIG (configs/example.yaml documents every key)")}
	}
	c, err := configs.Load(path, os.Environ())
	if err != nil {
		return nil, &exitError{code: exitConfig, err: err}
	}
	// Scanner sections, keys and the catalogue are checked by their
	// owners, still offline.
	if problems := agent.Check(c); len(problems) > 0 {
		source := path
		if source == "" {
			source = "defaults"
		}
		return nil, &exitError{code: exitConfig, err: &configs.Error{Source: source, Fields: problems}}
	}
	return c, nil
}

// newLogger is the agent's logger: log.level, log.format, and log.file
// (rotated; see logging.go) or w.
func newLogger(c *configs.Config, w io.Writer) *slog.Logger {
	out, fileErr := logOutput(c.Log, w)
	opts := &slog.HandlerOptions{Level: c.Log.SlogLevel(), ReplaceAttr: storeTimeAttr}
	var log *slog.Logger
	if c.Log.Format == "json" {
		log = slog.New(slog.NewJSONHandler(out, opts))
	} else {
		log = slog.New(slog.NewTextHandler(out, opts))
	}
	if fileErr != nil {
		log.Error("log.file cannot be written; logging here instead", "file", c.Log.File, "err", fileErr)
	}
	return log
}

// storeTimeAttr writes the log's timestamps in the zone every time the
// agent shows is in (agent.StoreZone, UTC+8), with the offset, whatever
// the machine's zone: a log line and `status` agree at a glance.
func storeTimeAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
		a.Value = slog.TimeValue(a.Value.Time().In(agent.StoreZone()))
	}
	return a
}

func newValidateCmd() *cobra.Command {
	var (
		path   string
		needs  bool
		types  []int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "validate --config FILE [--needs [--type N]... [--json]]",
		Short: "Check a config offline (exit 0 valid, 78 invalid)",
		Long: `validate checks a config file and the PDA_ environment overrides without
touching the network or the queue, so it is safe as a systemd ExecStartPre.
It exits 0 if the config is valid and 78 (EX_CONFIG) if not, naming every
bad key with the reason.

--needs then prints, for each enabled destination and bill type (default:
the types the API's session kinds open, or --type), the data a bill needs
before it can be sent, where each comes from (a POS attr, a catalogue
column, a config key, the pack) and which of them this config already
gives (e.g. nhsa.defaults, nhsa.phar_*). It is asked of the destinations'
own checks (the ones a finish answer uses), offline.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(path, true)
			if err != nil {
				return err
			}
			if needs {
				if len(types) == 0 {
					types = agent.NeedTypes()
				}
				ctx := cmd.Context()
				if ctx == nil {
					ctx = context.Background()
				}
				all, err := agent.Needs(ctx, c, types)
				if err != nil {
					return &exitError{code: exitUsage, err: err}
				}
				return printNeeds(cmd.OutOrStdout(), all, asJSON)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "config %s is valid: device %s, queue %s, %d scanner(s), destinations for 321: %v\n",
				path, c.Device.ID, c.QueuePath(), len(c.Scanners), c.Destinations(321))
			if c.NHSA.Enabled {
				fmt.Fprintf(cmd.OutOrStdout(), "医保 (nhsa): env %s active (%s)\n", c.NHSA.Env, c.NHSA.Active().URL)
			}
			return nil
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().BoolVar(&needs, "needs", false, "print what each destination needs per bill type, and what the config gives")
	cmd.Flags().IntSliceVar(&types, "type", nil, fmt.Sprintf("with --needs: bill type(s), e.g. --type 321 (default %v)", agent.NeedTypes()))
	cmd.Flags().BoolVar(&asJSON, "json", false, "with --needs: JSON")
	return cmd
}
