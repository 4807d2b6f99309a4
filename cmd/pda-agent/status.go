package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/fleet/client"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/clockskew"
)

func newStatusCmd() *cobra.Command {
	var path string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status --config FILE [--json]",
		Short: "Show the agent's health, back ends, disk and alarms (exit 0 healthy, 1 otherwise)",
		Long: `status asks the running agent (its local API, with the token from
api.token_file) for its state and prints it for a person: health, version,
config, 医保 environment, scanners, each back end's pending, failing and dead
deliveries with the oldest pending age, last success and last error, the
disk, alarms and problems. With --json it prints the same as GET /v1/status.

When no agent runs (the API refuses the connection, or is disabled) it opens
the queue file instead and says so: scanners are then unknown. It cannot
read the file while an agent holds it.

Exit status: 0 when healthy; 1 when degraded, when the agent is not running
(read from the queue file) or when neither the agent nor its file can be
read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(path, true)
			if err != nil {
				return err
			}
			var st agent.Status
			err = fromAgentOrFile(cmd.Context(), c, path,
				func(ctx context.Context, acc *apiAccess) error {
					return acc.call(ctx, http.MethodGet, "/v1/status", nil, &st)
				},
				func(_ context.Context, in *agent.Inspector) error {
					var err error
					if st, err = in.Status(); err != nil {
						return err
					}
					// What the running agent reads from its fleet client,
					// read from the client's state file: a refused or
					// reverted bundle is a problem of the stopped agent too.
					if c.Fleet.Enabled {
						if fs, ferr := client.ReadState(c.FleetDir()); ferr == nil {
							st.NoteFleet(fleetState(fs))
						}
					}
					// The certificate a start would serve; its fingerprint is
					// what paired handhelds were shown.
					if lan, lerr := agent.LANFromFile(c); lerr != nil {
						st.Problems = append(st.Problems, lerr.Error())
					} else {
						st.LAN = lan
					}
					return nil
				})
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if err := writeIndented(out, st); err != nil {
					return err
				}
			} else {
				printStatus(out, st, time.Now())
				if c.Fleet.Enabled {
					fs, err := client.ReadState(c.FleetDir())
					printFleet(out, fs, err, time.Now())
				}
			}
			if st.Health != agent.Healthy {
				return &exitError{code: exitFailure, err: errors.New("")} // the output said why
			}
			return nil
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON (as GET /v1/status)")
	return cmd
}

// fleetState is the part of the fleet client's state the agent's status
// needs.
func fleetState(st client.State) agent.FleetState {
	return agent.FleetState{AppliedVersion: st.AppliedVersion, AppliedAt: st.AppliedAt,
		FailedVersion: st.LastFailedVersion, FailedError: st.LastFailedError, FailedAt: st.LastFailedAt}
}

// fromAgentOrFile asks the running agent through viaAPI (the local API,
// as the queue commands reach it: dialAPI); when no agent answers, or it
// has no API, it opens the queue file and runs viaFile. An agent that
// holds the file without answering is an error naming both.
func fromAgentOrFile(ctx context.Context, c *configs.Config, path string,
	viaAPI func(context.Context, *apiAccess) error, viaFile func(context.Context, *agent.Inspector) error) error {
	if ctx == nil {
		ctx = context.Background()
	}
	// The agent listens where its effective config says (HQ's bundle may
	// set api.*), and a stopped one would start on that config too.
	cfg, origin := inspectConfig(c, path)
	apiErr := errors.New("api.enabled is false: the running agent cannot be asked")
	if cfg.API.Enabled {
		acc, err := dialAPI(ctx, cfg)
		var down *agentDownError
		switch {
		case err == nil:
			return viaAPI(ctx, acc)
		case !errors.As(err, &down):
			return err // it answers, but cannot be used (token)
		}
		apiErr = err
	}
	in, err := agent.OpenInspector(cfg, agent.InspectOptions{Origin: origin, Version: version})
	if errors.Is(err, queue.ErrLocked) {
		if !cfg.API.Enabled {
			return fmt.Errorf("the agent is running (it holds %s) but cannot be asked: %v", cfg.QueuePath(), apiErr)
		}
		return fmt.Errorf("the agent is running (it holds %s) but its local API did not start or does not answer (its log says why): %v", cfg.QueuePath(), apiErr)
	}
	if err != nil {
		return err
	}
	defer in.Close()
	return viaFile(ctx, in)
}

// inspectConfig is the config a stopped agent would start with: the
// applied HQ bundle's when there is one (as startConfig builds it), else
// the local file. It writes nothing where the agent keeps its files: the
// bundle's catalogue goes to a temporary directory (a root-owned copy in
// the fleet directory would lock the agent out), and the config then names
// the agent's own copies.
func inspectConfig(local *configs.Config, path string) (*configs.Config, agent.ConfigInfo) {
	localInfo := agent.ConfigInfo{Source: agent.ConfigLocal}
	if !local.Fleet.Enabled {
		return local, localInfo
	}
	keys, err := loadFleetKeys(local)
	if err != nil {
		return local, localInfo
	}
	b, secrets, err := client.Current(local.FleetDir(), keys.hq, local.Device.ID, keys.device)
	if err != nil || b == nil {
		return local, localInfo
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return local, localInfo
	}
	tmp, err := os.MkdirTemp("", "pda-agent-inspect-")
	if err != nil {
		return local, localInfo
	}
	defer os.RemoveAll(tmp)
	cfg, err := agent.ConfigFromBundle(b, secrets, agent.LocalConfig{Name: path, Data: data, Env: os.Environ()}, tmp)
	if err != nil {
		return local, localInfo
	}
	for _, p := range []*string{&cfg.Catalogue.Products, &cfg.Catalogue.Partners} {
		if strings.HasPrefix(*p, tmp) {
			*p = filepath.Join(local.FleetDir(), filepath.Base(*p))
		}
	}
	return cfg, agent.ConfigInfo{Source: agent.ConfigFleet, Version: b.Body.Version, BundleHash: b.Hash}
}

func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// printStatus writes the status as a support person reads it over the
// phone: the verdict first, then one line per part.
func printStatus(w io.Writer, s agent.Status, now time.Time) {
	head := fmt.Sprintf("pda-agent %s", s.Device)
	if s.Store != "" {
		head += " (store " + s.Store + ")"
	}
	head += "  " + strings.ToUpper(s.Health)
	if s.Health == agent.Stopped && len(s.Problems) > 1 {
		// Beyond "not running": what would make it degraded once started
		// (dead letters, a refused HQ bundle…), listed under problems.
		head += ", DEGRADED"
	}
	if s.Version != "" {
		head += "  version " + s.Version
	}
	if !s.StartedAt.IsZero() {
		head += fmt.Sprintf(", up since %s (%s)", agent.Clock(s.StartedAt, now), now.Sub(s.StartedAt).Round(time.Second))
	}
	fmt.Fprintln(w, head)
	if s.Source == agent.FromQueueFile {
		fmt.Fprintf(w, "agent not running; from the queue file %s\n", s.QueueFile)
	}
	var rows [][]string
	line := func(k, v string) { rows = append(rows, []string{k, v}) }
	line("config", configLine(s.Config))
	if s.NHSAEnv != "" {
		line("医保 env", s.NHSAEnv)
	}
	if len(s.Scanners) == 0 && s.Source == agent.FromQueueFile {
		line("scanners", "unknown (agent not running)")
	}
	for i, h := range s.Scanners {
		k := ""
		if i == 0 {
			k = "scanners"
		}
		state := "connected"
		if !h.Connected {
			state = "NOT CONNECTED"
			if h.LastError != "" {
				state += ": " + h.LastError
			}
		}
		v := fmt.Sprintf("%s (%s) %s, %d scan(s)", h.Name, h.Kind, state, h.Scans)
		if !h.LastScan.IsZero() {
			v += ", last " + agent.Clock(h.LastScan, now)
		}
		line(k, v)
	}
	line("disk", diskLine(s))
	if l := s.LAN; l != nil {
		line("LAN", fmt.Sprintf("%s (TLS), certificate SHA-256 %s", l.Listen, l.Fingerprint))
	}
	if c := s.Clock; c != nil {
		v := "agrees with the back ends"
		if c.Wrong {
			v = clockskew.Describe(time.Duration(c.OffsetSeconds)*time.Second) + "; requests carry the corrected time"
		}
		line("clock", v)
	}
	if m := s.Msfx; m != nil {
		line("码上放心", msfxComplianceLine(m)) // status_msfx.go
	}
	if v := agent.ReconcileStatusLine(s.Reconcile, now); v != "" {
		line("reconcile", v)
	}
	line("bills", countsLine(s.Bills, []string{"open", "finished", "cancelled"}))
	line("scans", scansLine(s.Scans))
	if len(s.PendingRestart) > 0 {
		line("restart", "changed settings wait for the next start: "+strings.Join(s.PendingRestart, ", "))
	}
	printTable(w, rows)

	if len(s.Destinations) == 0 {
		fmt.Fprintln(w, "destinations: none enabled (finished bills stay on this device)")
	} else {
		rows = [][]string{{"DESTINATION", "PENDING", "FAILING", "HELD", "DEAD", "OLDEST", "LAST SUCCESS", "LAST ERROR"}}
		for _, name := range sortedNames(s.Destinations) {
			d := s.Destinations[name]
			label := agent.DestLabel(name)
			if label != name {
				label += " (" + name + ")"
			}
			if d.Disabled {
				label += " [not enabled]"
			}
			oldest, success, lastErr := "-", "-", "-"
			if d.OldestPendingAge != "" {
				oldest = d.OldestPendingAge
			}
			if !d.LastSuccess.IsZero() {
				success = agent.Clock(d.LastSuccess, now)
			}
			if d.LastError != "" {
				lastErr = agent.Clock(d.LastErrorAt, now) + " " + oneLine(d.LastError, 100)
			}
			rows = append(rows, []string{label, fmt.Sprint(d.Pending), fmt.Sprint(d.Failing), fmt.Sprint(d.Held), fmt.Sprint(d.Dead), oldest, success, lastErr})
		}
		printTable(w, rows)
	}
	if len(s.Alarms) == 0 {
		fmt.Fprintln(w, "alarms: none")
	} else {
		fmt.Fprintln(w, "alarms:")
		for _, al := range s.Alarms {
			fmt.Fprintf(w, "  %s %s: %s\n", agent.Clock(al.At, now), al.Kind, al.Message)
		}
	}
	if len(s.Problems) > 0 {
		fmt.Fprintln(w, "problems:")
		for _, p := range s.Problems {
			fmt.Fprintln(w, "  - "+p)
		}
	}
}

// printFleet adds what the fleet client last saw (its state file): a
// refused bundle (an expired one from a stale mirror, say), an applied
// bundle past its not_after, the catalogue in force.
func printFleet(w io.Writer, st client.State, err error, now time.Time) {
	if err != nil {
		fmt.Fprintf(w, "fleet: %v\n", err)
		return
	}
	if st.AppliedCatalogue != "" {
		fmt.Fprintf(w, "fleet: catalogue v%d (%.12s)\n", st.AppliedCatalogueVersion, st.AppliedCatalogue)
	}
	if na := st.AppliedNotAfter; !na.IsZero() && now.After(na) {
		fmt.Fprintf(w, "fleet: the applied bundle v%d EXPIRED at %s; it stays in force, but HQ must publish again\n",
			st.AppliedVersion, agent.StoreTime(na))
	}
	if st.LastFailedError != "" {
		at := ""
		if !st.LastFailedAt.IsZero() {
			at = " (" + agent.StoreTime(st.LastFailedAt) + ")"
		}
		fmt.Fprintf(w, "fleet: last bundle refused or failed%s: %s\n", at, st.LastFailedError)
	}
	if st.LastError != "" {
		fmt.Fprintf(w, "fleet: last poll failed: %s\n", st.LastError)
	}
}

func configLine(c agent.ConfigInfo) string {
	hash := c.Hash
	if len(hash) > 12 {
		hash = hash[:12]
	}
	if c.Source == agent.ConfigFleet {
		v := fmt.Sprintf("HQ bundle v%d", c.Version)
		if len(c.BundleHash) >= 12 {
			v += " (" + c.BundleHash[:12] + ")"
		}
		if !c.AppliedAt.IsZero() {
			v += ", applied " + agent.StoreTime(c.AppliedAt)
		}
		return v + ", hash " + hash
	}
	return "local file, hash " + hash
}

func diskLine(s agent.Status) string {
	v := "queue " + agent.Bytes(s.QueueSize)
	if s.QueueMax > 0 {
		v += fmt.Sprintf(" of %s (%d%%)", agent.Bytes(s.QueueMax), s.QueueSize*100/s.QueueMax)
	}
	if s.DiskFree != nil {
		v += ", " + agent.Bytes(*s.DiskFree) + " free on the disk"
	}
	return v
}

func countsLine(m map[string]int, order []string) string {
	var parts []string
	for _, k := range order {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}

// scansLine sums the scan counters: accepted, duplicate, and rejected with
// their reasons.
func scansLine(m map[string]uint64) string {
	var rejected uint64
	var reasons []string
	for k, n := range m {
		if reason, ok := strings.CutPrefix(k, "rejected:"); ok {
			rejected += n
			reasons = append(reasons, fmt.Sprintf("%s %d", reason, n))
		}
	}
	sort.Strings(reasons)
	v := fmt.Sprintf("%d accepted, %d duplicate, %d rejected", m["accepted"], m["duplicate"], rejected)
	if len(reasons) > 0 {
		v += " (" + strings.Join(reasons, ", ") + ")"
	}
	return v
}

// printTable writes rows in columns two spaces apart. Widths count
// Chinese characters as two columns, as terminals show them
// (text/tabwriter counts runes, which misaligns 码上放心).
func printTable(w io.Writer, rows [][]string) {
	var widths []int
	for _, r := range rows {
		for i, c := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], displayWidth(c))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-displayWidth(c)+2))
			}
		}
		fmt.Fprintln(w, b.String())
	}
}

// displayWidth is how many terminal columns s takes: East Asian wide and
// fullwidth characters (CJK, fullwidth forms, 【】) take two.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case r >= 0x1100 && r <= 0x115F, r >= 0x2E80 && r <= 0xA4CF, r >= 0xAC00 && r <= 0xD7A3,
			r >= 0xF900 && r <= 0xFAFF, r >= 0xFE30 && r <= 0xFE4F, r >= 0xFF00 && r <= 0xFF60, r >= 0xFFE0 && r <= 0xFFE6:
			n += 2
		default:
			n++
		}
	}
	return n
}

func sortedNames[T any](m map[string]T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// oneLine flattens and shortens a message for a table cell.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
