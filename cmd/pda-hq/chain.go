package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/pda-agent/pda-agent/durable"
	"github.com/pda-agent/pda-agent/fleet/hq"
	"github.com/pda-agent/pda-agent/fleet/hq/pgstore"
)

// exportChain writes the whole chain as JSON (0600: it holds every
// device's config, the secrets in it encrypted to each device).
func exportChain(cmd *cobra.Command, st *hq.Store, path string) error {
	c, err := st.Dump(cmd.Context())
	if err != nil {
		return err
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if err := durable.WriteFile(path, raw, 0o600); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "exported the chain to %s: %d device(s), %d bundle(s), %d catalogue object(s), %d rollout(s), last version %d\n",
		path, len(c.Devices), len(c.Bundles), len(c.Catalogues), len(c.Rollouts), c.Version)
	return nil
}

func newImportCmd() *cobra.Command {
	var db, chain string
	cmd := &cobra.Command{
		Use:   "import --chain FILE --db DEST",
		Short: "Load a chain written by export --chain into an empty database",
		Long: `import loads a file from ` + "`pda-hq export --chain`" + ` into an empty database
(a PostgreSQL one after ` + "`pda-hq migrate`" + `, or a new bbolt file), in one
transaction: versions, rollouts in progress, reports and keys carry over, so
the agents notice nothing but the new address. A database that already
holds devices or versions is refused.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if chain == "" {
				return usageError("import needs --chain")
			}
			raw, err := os.ReadFile(chain)
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			var c hq.Chain
			if err := json.Unmarshal(raw, &c); err != nil {
				return fmt.Errorf("import %s: %w", chain, err)
			}
			st, err := openStore(cmd.Context(), db, true, cliLogger(cmd))
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.Load(cmd.Context(), &c); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported %d device(s), %d bundle(s), %d catalogue object(s), %d rollout(s) into %s\n",
				len(c.Devices), len(c.Bundles), len(c.Catalogues), len(c.Rollouts), redactDB(db))
			return nil
		},
	}
	dbFlag(cmd, &db)
	cmd.Flags().StringVar(&chain, "chain", "", "file written by export --chain")
	return cmd
}

func newMigrateCmd() *cobra.Command {
	var db string
	cmd := &cobra.Command{
		Use:   "migrate --db postgres://…",
		Short: "Create or upgrade HQ's PostgreSQL schema",
		Long: `migrate applies the schema versions the PostgreSQL database lacks (they are
built into pda-hq), in one transaction under an advisory lock, so replicas
started together may all run it. serve refuses a database whose schema is
not this build's. A bbolt file needs no migrate.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !isPostgres(db) {
				return usageError("migrate is for a PostgreSQL --db (postgres://…); a bbolt file is set up by enroll")
			}
			pool, err := pgstore.Connect(cmd.Context(), db)
			if err != nil {
				return err
			}
			defer pool.Close()
			applied, err := pgstore.Migrate(cmd.Context(), pool)
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "schema is current")
				return nil
			}
			for _, m := range applied {
				fmt.Fprintf(cmd.OutOrStdout(), "applied %s\n", m)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&db, "db", "", "PostgreSQL URL (postgres://user@host/db)")
	return cmd
}
