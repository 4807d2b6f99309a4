package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pda-agent/pda-agent/fleet/hq"
	"github.com/pda-agent/pda-agent/fleet/hq/pgstore"
	"github.com/pda-agent/pda-agent/gm"
)

func dbFlag(cmd *cobra.Command, db *string) {
	cmd.Flags().StringVar(db, "db", "hq.db", "HQ database: a bbolt file, or postgres://… for PostgreSQL (run migrate first)")
}

// cliLogger is for the short commands: they print their own results, so
// only warnings and errors are logged.
func cliLogger(cmd *cobra.Command) *slog.Logger {
	return slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// isPostgres tells a PostgreSQL URL from a bbolt file name.
func isPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// openStore opens --db: PostgreSQL for a postgres:// URL, else the bbolt
// file (created if create). Close the Store when done.
func openStore(ctx context.Context, db string, create bool, log *slog.Logger) (*hq.Store, error) {
	if db == "" {
		return nil, usageError("--db is required")
	}
	if isPostgres(db) {
		b, err := pgstore.Open(ctx, db, log)
		if err != nil {
			return nil, err
		}
		return hq.New(b, hq.Options{Logger: log}), nil
	}
	return hq.Open(db, hq.Options{Create: create, Logger: log})
}

// redactDB is --db for the log: no password.
func redactDB(db string) string {
	if !isPostgres(db) {
		return db
	}
	u, err := url.Parse(db)
	if err != nil {
		return "postgres://(unparsable)"
	}
	return u.Redacted()
}

func newEnrollCmd() *cobra.Command {
	var db string
	var d hq.Device
	var key string
	cmd := &cobra.Command{
		Use:   "enroll --device ID --store S [--region R] [--group G] --key KEY",
		Short: "Enroll a device (or update its store, region, group or key)",
		Long: `enroll records a device and its SM2 public key (printed by ` + "`pda-agent fleet init`" + ` on the
device): Base64 of 04‖X‖Y, PEM text, or a file holding either. The key
authenticates the device's requests and receives its encrypted secrets. A
new key drops the device's bundles: publish again. The database is created
if missing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if d.ID == "" || d.Store == "" || key == "" {
				return usageError("enroll needs --device, --store and --key")
			}
			text, err := keyText(key)
			if err != nil {
				return err
			}
			d.PublicKey = text
			st, err := openStore(cmd.Context(), db, true, cliLogger(cmd))
			if err != nil {
				return err
			}
			defer st.Close()
			rs, err := st.Enroll(d)
			if err != nil {
				return err
			}
			r := rs[0]
			what := "updated"
			switch {
			case r.New:
				what = "enrolled"
			case r.KeyChanged:
				what = "re-keyed (its bundles were dropped: publish again)"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "device %s %s: store %s, key %s\n", r.Device.ID, what, r.Device.Store, r.Device.Fingerprint)
			return nil
		},
	}
	dbFlag(cmd, &db)
	f := cmd.Flags()
	f.StringVar(&d.ID, "device", "", "device id (its device.id, 1-16 of A-Z a-z 0-9 _ -)")
	f.StringVar(&d.Store, "store", "", "store id (names stores/<store>.yaml)")
	f.StringVar(&d.Region, "region", "", "region id (names regions/<region>.yaml)")
	f.StringVar(&d.Group, "group", "", "group id (names groups/<group>.yaml)")
	f.StringVar(&key, "key", "", "device public key: Base64, PEM, or a file holding one")
	return cmd
}

// keyText returns the key itself, or the content of the file it names.
func keyText(v string) (string, error) {
	if strings.Contains(v, "-----BEGIN") {
		return v, nil
	}
	data, err := os.ReadFile(v)
	switch {
	case err == nil:
		return string(data), nil
	case errors.Is(err, fs.ErrNotExist):
		return v, nil // not a file: Base64
	default:
		return "", fmt.Errorf("--key: %w", err)
	}
}

func newPublishCmd(stderr io.Writer) *cobra.Command {
	var db, keyFile, tree string
	var o hq.PublishOptions
	cmd := &cobra.Command{
		Use:   "publish --key hq.key --tree DIR [--percent N | --stores a,b]",
		Short: "Render, validate, sign and stage the config tree for every device",
		Long: `publish renders the tree (chain.yaml, regions/, stores/, groups/, devices/,
catalogue/) for every enrolled device, validates each config as
` + "`pda-agent validate`" + ` would, and only if every one passes signs one bundle per
device with a new version. With --percent or --stores those stores are wave
1 and the others wave 2, released once wave 1 has reported (or the wave
timeout passed) with a failed ratio not above --threshold; otherwise the
rollout halts and wave 2 keeps its previous bundle. Exit status 78 when a
rendered config is invalid (every bad key of every device is listed).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyFile == "" || tree == "" {
				return usageError("publish needs --key and --tree")
			}
			if cmd.Flags().Changed("percent") && cmd.Flags().Changed("stores") {
				return usageError("give --percent or --stores, not both")
			}
			key, err := readHQKey(keyFile, stderr)
			if err != nil {
				return err
			}
			o.Key = key
			st, err := openStore(cmd.Context(), db, false, cliLogger(cmd))
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := st.Publish(cmd.Context(), tree, o)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "published version %d to %d device(s) as rollout %d\n", res.Version, res.Devices, res.Rollout)
			for i, wave := range res.Waves {
				state := "released now"
				if i > 0 {
					state = "staged until wave " + fmt.Sprint(i) + " ends"
				}
				fmt.Fprintf(w, "  wave %d: %d device(s) in %d store(s), %s\n", i+1, wave.Devices, len(wave.Stores), state)
			}
			for _, warn := range res.Warnings {
				fmt.Fprintf(stderr, "warning: %s\n", warn)
			}
			return nil
		},
	}
	dbFlag(cmd, &db)
	f := cmd.Flags()
	f.StringVar(&keyFile, "key", "", "HQ signing key file (from keys gen)")
	f.StringVar(&tree, "tree", "", "config tree directory")
	f.Float64Var(&o.Percent, "percent", 0, "wave 1 = this percentage of the stores (stable choice)")
	f.StringSliceVar(&o.Stores, "stores", nil, "wave 1 = these stores (comma-separated)")
	f.Float64Var(&o.Threshold, "threshold", hq.DefaultThreshold, "halt when a wave's FAILED/(APPLIED+FAILED) exceeds this")
	f.DurationVar(&o.WaveTimeout, "wave-timeout", hq.DefaultWaveTimeout, "end a wave after this long even if devices did not report")
	f.BoolVar(&o.ReplaceHQKey, "replace-hq-key", false, "accept a new signing key (after every agent got the new fleet.hq_key)")
	f.DurationVar(&o.Validity, "valid-for", hq.DefaultValidity, "bundles expire (not_after) this long after the publish; publish again before")
	f.StringVar(&o.BundleFormat, "bundle-format", "v2", "v2 (catalogue as its own signed object, expiry) or v1 (catalogue inline, no expiry: agents older than v2)")
	return cmd
}

// readHQKey reads the signing key, warning when others may read it.
func readHQKey(path string, stderr io.Writer) (*gm.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(stderr, "warning: %s is readable by others (mode %v); chmod 600 it\n", path, fi.Mode().Perm())
	}
	k, err := gm.ParsePrivateKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("--key %s: %w", path, err)
	}
	return k, nil
}

func newServeCmd(stderr io.Writer) *cobra.Command {
	var db, listen, certFile, keyFile, level, pollKeyFile string
	var o hq.ServeOptions
	cmd := &cobra.Command{
		Use:   "serve --listen ADDR",
		Short: "Serve bundles to the agents and collect their reports",
		Long: `serve answers GET /v1/devices/{id}/bundle and POST /v1/devices/{id}/report
for enrolled devices (SM2-signed requests), advances rollouts as reports
arrive, and runs until SIGINT or SIGTERM. Other pda-hq commands keep working
while it runs: it holds the database only for its short commits. A bbolt
database is created if missing (devices are enrolled while it serves).
With --db postgres://… (after ` + "`pda-hq migrate`" + `) several serve processes
may share the database behind any load balancer.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (certFile == "") != (keyFile == "") {
				return usageError("give both --tls-cert and --tls-key, or neither")
			}
			var lv slog.Level
			if err := lv.UnmarshalText([]byte(level)); err != nil {
				return usageError("--log-level: %v", err)
			}
			log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))
			o.Logger = log
			if pollKeyFile != "" {
				k, err := os.ReadFile(pollKeyFile)
				if err != nil {
					return fmt.Errorf("--poll-key-file: %w", err)
				}
				o.PollKey = k
			}
			if isPostgres(db) && !cmd.Flags().Changed("batch-wait") {
				// A few ms of linger turns a burst of reports into a
				// few transactions shared by every replica.
				o.BatchWait = 10 * time.Millisecond
			}
			// The README sets HQ up as keys gen, then serve, then enroll:
			// serve creates an empty bbolt database, as enroll would.
			_, statErr := os.Stat(db)
			st, err := openStore(cmd.Context(), db, true, log)
			if err != nil {
				return err
			}
			defer st.Close()
			if !isPostgres(db) && errors.Is(statErr, fs.ErrNotExist) {
				log.Info("created an empty HQ database: enroll devices with pda-hq enroll", "db", db)
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listen: %w", err)
			}
			if certFile != "" {
				cert, err := tls.LoadX509KeyPair(certFile, keyFile)
				if err != nil {
					ln.Close()
					return fmt.Errorf("tls: %w", err)
				}
				ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
			}
			log.Info("pda-hq serving", "listen", ln.Addr().String(), "db", redactDB(db), "tls", certFile != "")
			err = st.Serve(cmd.Context(), ln, o)
			log.Info("pda-hq stopped")
			return err
		},
	}
	dbFlag(cmd, &db)
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:8790", "address to listen on")
	f.IntVar(&o.MaxInFlight, "max-inflight", 512, "requests handled at once; beyond, 503 with Retry-After")
	f.DurationVar(&o.RetryAfter, "retry-after", 30*time.Second, "pause asked for in a 503 (plus up to as much again at random)")
	f.DurationVar(&o.Tick, "tick", time.Second, "period of last-seen flushes, reloads and wave-timeout checks")
	f.DurationVar(&o.BatchWait, "batch-wait", 0, "hold a report batch open this long (default 0 for a bbolt file, 10ms for PostgreSQL)")
	f.IntVar(&o.BatchMax, "batch-max", 500, "commit a report batch early once it holds this many reports")
	f.StringVar(&certFile, "tls-cert", "", "TLS certificate (PEM); default plain HTTP (e.g. behind a proxy)")
	f.StringVar(&keyFile, "tls-key", "", "TLS private key (PEM)")
	f.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&pollKeyFile, "poll-key-file", "", "file of at least 32 random bytes keying the poll tokens; the same file for every replica (default: random per process)")
	return cmd
}

func newStatusCmd() *cobra.Command {
	var db string
	var asJSON bool
	var o hq.StatusOptions
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show devices (bundle, last report, silence) and recent rollouts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(cmd.Context(), db, false, cliLogger(cmd))
			if err != nil {
				return err
			}
			defer st.Close()
			s, err := st.Status(o)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(s)
			}
			printStatus(w, s, o)
			return nil
		},
	}
	dbFlag(cmd, &db)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().DurationVar(&o.SilentAfter, "silent-after", 0, "silent threshold (default: the stored setting, 3 × poll interval)")
	return cmd
}

func printStatus(w io.Writer, s *hq.Status, o hq.StatusOptions) {
	silence := s.Settings.Silence()
	if o.SilentAfter > 0 {
		silence = o.SilentAfter
	}
	fmt.Fprintf(w, "%d device(s), %d silent (no contact for %s); last version %d; HQ key %s\n\n",
		len(s.Devices), s.Silent, silence, s.Version, orDash(s.Settings.HQKey))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tSTORE\tREGION\tGROUP\tWAVE\tSTAGED\tSERVED\tSTATE\tLAST SEEN\t")
	var reasons []string
	for _, d := range s.Devices {
		// STATE is about the bundle served now; a report about another
		// version (a refused bundle, an older one) is listed below.
		state := "-"
		if r := d.Report; r != nil && d.Current {
			state = fmt.Sprintf("%s v%d", r.State, r.Version)
			if r.Error != "" {
				reasons = append(reasons, fmt.Sprintf("%s %s v%d: %s", d.ID, r.State, r.Version, r.Error))
			}
		} else if r != nil {
			reasons = append(reasons, fmt.Sprintf("%s last reported %s v%d, not the served v%d%s", d.ID, r.State, r.Version, d.Served.Version, prefixed(": ", r.Error)))
		}
		wave := "-"
		if d.Wave > 0 {
			wave = fmt.Sprintf("#%d/%d", d.Rollout, d.Wave)
		}
		seen := "never"
		if !d.LastSeen.IsZero() {
			seen = s.At.Sub(d.LastSeen).Round(time.Second).String() + " ago"
		}
		if d.Silent {
			seen += " SILENT"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", d.ID, d.Store, orDash(d.Region), orDash(d.Group), wave, ref(d.Staged), ref(d.Served), state, seen)
	}
	tw.Flush()
	if len(reasons) > 0 {
		fmt.Fprintln(w, "\nreports:")
		for _, r := range reasons {
			fmt.Fprint(w, wrap(r, 100, "  ", "      "))
		}
	}
	if len(s.Rollouts) == 0 {
		return
	}
	fmt.Fprintln(w, "\nrollouts (newest first):")
	for _, r := range s.Rollouts {
		c := r.Live
		fmt.Fprintf(w, "  #%d version %d %s, wave %d/%d: %d target(s), %d applied, %d failed (%.0f%%, threshold %.0f%%), %d applying, %d pending\n",
			r.ID, r.Version, strings.ToUpper(string(r.State)), r.Current+1, len(r.Waves), c.Targets, c.Applied, c.Failed,
			100*c.FailedRatio, 100*r.Threshold, c.Applying, c.Pending)
		if r.Reason != "" {
			fmt.Fprintf(w, "      %s\n", r.Reason)
		}
	}
}

func ref(r *hq.BundleRef) string {
	if r == nil {
		return "-"
	}
	return fmt.Sprintf("v%d %.8s", r.Version, r.Hash)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

// wrap folds text into lines of at most width runes (a longer word stays
// whole), the first indented by first, the others by rest: a FAILED reason
// is shown in full, not cut.
func wrap(text string, width int, first, rest string) string {
	var b strings.Builder
	line, indent := "", first
	flush := func() {
		b.WriteString(indent + line + "\n")
		line, indent = "", rest
	}
	for _, word := range strings.Fields(text) {
		if line != "" && len([]rune(indent+line+" "+word)) > width {
			flush()
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	if line != "" {
		flush()
	}
	return b.String()
}

func newExportCmd() *cobra.Command {
	var db, dir, chain string
	cmd := &cobra.Command{
		Use:   "export --dir D | --chain FILE",
		Short: "Write D/devices/<id>.bundle for a static web server, object store or CDN, or the whole chain to FILE",
		Long: `export --dir writes the bundle each device is served now to D/devices/<id>.bundle
(unchanged files are left alone, changed ones replaced atomically). Agents
then fetch <url>/devices/<id>.bundle with If-None-Match against the web
server's ETag, and <url>/catalogues/<sha256>.catalogue once per catalogue
version (immutable: let the server cache it for a year). Anyone who can fetch a URL can read that device's config
(not its secrets, which stay encrypted to the device): keep the bucket
private or the URLs unguessable. Agents can only report if a report URL
points at ` + "`pda-hq serve`" + `.

export --chain writes everything HQ holds (devices and keys, bundles,
reports, rollouts, settings) as one JSON file for ` + "`pda-hq import`" + `, e.g. to
move a chain from its bbolt file to PostgreSQL. Stop ` + "`pda-hq serve`" + ` first so
no report arrives after the export.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (dir == "") == (chain == "") {
				return usageError("export needs --dir or --chain (one of them)")
			}
			st, err := openStore(cmd.Context(), db, false, cliLogger(cmd))
			if err != nil {
				return err
			}
			defer st.Close()
			if chain != "" {
				return exportChain(cmd, st, chain)
			}
			res, err := st.Export(dir)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "exported to %s: %d written, %d unchanged, %d removed, %d device(s) with no bundle, %d new catalogue object(s)\n",
				dir, res.Written, res.Unchanged, res.Removed, len(res.NoBundle), res.Catalogues)
			return nil
		},
	}
	dbFlag(cmd, &db)
	cmd.Flags().StringVar(&dir, "dir", "", "directory to write the served bundles to")
	cmd.Flags().StringVar(&chain, "chain", "", "file to write the whole chain to (for import)")
	return cmd
}

func newSettingsCmd() *cobra.Command {
	var db string
	var poll, silent time.Duration
	cmd := &cobra.Command{
		Use:   "settings [--poll-interval D] [--silent-after D]",
		Short: "Show or set the expected poll interval and the silent threshold",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(cmd.Context(), db, false, cliLogger(cmd))
			if err != nil {
				return err
			}
			defer st.Close()
			s, err := st.Settings()
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("poll-interval") || cmd.Flags().Changed("silent-after") {
				if !cmd.Flags().Changed("poll-interval") {
					poll = s.PollInterval
				}
				if !cmd.Flags().Changed("silent-after") {
					silent = s.SilentAfter
				}
				if poll <= 0 || silent < 0 {
					return usageError("--poll-interval must be positive and --silent-after not negative")
				}
				if s, err = st.SetSettings(poll, silent); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "poll interval: %s\nsilent after: %s\nHQ key: %s\n", s.PollInterval, s.Silence(), orDash(s.HQKey))
			return nil
		},
	}
	dbFlag(cmd, &db)
	cmd.Flags().DurationVar(&poll, "poll-interval", 0, "how often agents poll (fleet.poll_interval)")
	cmd.Flags().DurationVar(&silent, "silent-after", 0, "silent after this long without contact (0 = 3 × poll interval)")
	return cmd
}
