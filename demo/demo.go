// Package demo runs the scripted store day of `pda-agent demo`: the real
// agent, on the embedded demo config, with scans replayed from a script and
// bills delivered to the strict webhook sandbox on loopback, through a
// network outage. It ends by checking the sandbox's ledger against the
// local one: every bill there exactly once.
package demo

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/tracecode"
	"github.com/pda-agent/pda-agent/upload"
	msfxsb "github.com/pda-agent/pda-agent/upload/msfx/sandbox"
	nhsasb "github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
	"github.com/pda-agent/pda-agent/upload/webhook/sandbox"
)

// The store day and the store's catalogue (products and the supplier).
var (
	//go:embed storeday.txt
	storeDay string
	//go:embed products.csv
	productsCSV []byte
	//go:embed partners.csv
	partnersCSV []byte
)

// The demo's webhook credentials: fake, and the same in demo.yaml.
const (
	keyID  = "demo"
	secret = "demo-secret-not-for-production"
)

// Options configure a demo run.
type Options struct {
	Out io.Writer
	// DataDir keeps the queue there; default a temporary directory removed
	// at the end.
	DataDir string
	// Log receives the agent's own log; nil discards it.
	Log io.Writer
	// Script replaces the embedded store day.
	Script string
	// Drain bounds the wait for the backlog at the end.
	Drain time.Duration
}

// Summary is what the day produced, for callers and tests.
type Summary struct {
	Scans    map[string]uint64
	Finished int
	Open     int
	Retries  int
	Dests    map[string]*DestSummary
}

// DestSummary compares one back end's ledger with the local queue.
type DestSummary struct {
	Delivered  int
	Pending    int
	Dead       int
	Remote     int // bills in the sandbox's ledger
	Mismatches []string
}

// backends are the demo's sandboxes, with what it needs to read their
// ledgers.
type backends struct {
	hook *sandbox.Running
	msfx *msfxsb.Running
	nhsa *nhsasb.Running
}

func (b backends) setDown(down bool) error {
	if err := b.msfx.SetDown(down); err != nil {
		return err
	}
	if err := b.nhsa.SetDown(down); err != nil {
		return err
	}
	return b.hook.SetDown(down)
}

// remote is one bill as a back end recorded it.
type remote struct {
	codes   []string
	applied int
}

func (b backends) ledger(dest string) map[string]remote {
	out := map[string]remote{}
	switch dest {
	case "webhook":
		for _, r := range b.hook.Bills() {
			out[r.BillCode] = remote{codes: r.Codes, applied: r.Applied}
		}
	case "msfx":
		for _, r := range b.msfx.Bills(msfxsb.DefaultStoreRefEntID) {
			out[r.BillCode] = remote{codes: r.Codes, applied: r.Applied}
		}
	case "nhsa":
		// Rows are keyed <bill code without '-'><2-digit row>; a bill is
		// there exactly once if each of its rows was applied once.
		for _, r := range b.nhsa.Rows() {
			if r.Infno == "3507" || len(r.Bchno) < 3 {
				continue
			}
			key := r.Bchno[:len(r.Bchno)-2]
			rem := out[key]
			rem.codes = append(rem.codes, r.Codes...)
			if rem.applied == 0 || r.Applied != 1 {
				rem.applied = r.Applied
			}
			out[key] = rem
		}
	}
	return out
}

// Run plays the store day and prints it. It returns an error if anything
// was not delivered exactly once.
func Run(ctx context.Context, o Options) (Summary, error) {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Script == "" {
		o.Script = storeDay
	}
	if o.Drain == 0 {
		o.Drain = 30 * time.Second
	}
	p := &printer{w: o.Out}
	dir := o.DataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "pda-demo-")
		if err != nil {
			return Summary{}, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}

	quiet := slog.New(slog.DiscardHandler)
	hook, err := sandbox.Start("127.0.0.1:0", sandbox.Options{KeyID: keyID, Secret: secret, Logger: quiet})
	if err != nil {
		return Summary{}, err
	}
	defer hook.Close()
	gw, err := msfxsb.Start("127.0.0.1:0", msfxsb.Options{Apps: msfxsb.DefaultApps(), Logger: quiet})
	if err != nil {
		return Summary{}, err
	}
	defer gw.Close()
	nh, err := nhsasb.Start("127.0.0.1:0", nhsaOptions(quiet))
	if err != nil {
		return Summary{}, err
	}
	defer nh.Close()
	be := backends{hook: hook, msfx: gw, nhsa: nh}

	products, partners := filepath.Join(dir, "products.csv"), filepath.Join(dir, "partners.csv")
	if err := os.WriteFile(products, productsCSV, 0o600); err != nil {
		return Summary{}, err
	}
	if err := os.WriteFile(partners, partnersCSV, 0o600); err != nil {
		return Summary{}, err
	}
	cfg, err := configs.LoadBytes("demo.yaml", configs.Demo(), []string{
		"PDA_DATA_DIR=" + dir, "PDA_WEBHOOK_URL=" + hook.URL(), "PDA_MSFX_GATEWAY=" + gw.URL(),
		"PDA_CATALOGUE_PRODUCTS=" + products, "PDA_CATALOGUE_PARTNERS=" + partners, "PDA_NHSA_TEST_URL=" + nh.URL(),
	})
	if err != nil {
		return Summary{}, err
	}
	logw := o.Log
	if logw == nil {
		logw = io.Discard
	}
	var retries int
	var retriesMu sync.Mutex
	processing := map[string]bool{}
	a, err := agent.New(cfg, agent.Options{
		Logger: slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: cfg.Log.SlogLevel()})),
		OnResult: func(r upload.Result) {
			switch r.Outcome.Class {
			case upload.Done:
				p.printf("    ↑ %-7s %s delivered: %s\n", r.Dest, r.Bill.Code, doneNote(r.Outcome))
			case upload.Wait:
				// A local wait never left the device: the bill is held
				// behind an earlier one with its packs, not uploaded.
				key, line := r.Dest+r.Bill.Code, fmt.Sprintf("    … %-7s %s uploaded; the platform is processing it\n", r.Dest, r.Bill.Code)
				if r.Outcome.Local {
					key, line = "held"+key, fmt.Sprintf("    ⏸ %-7s %s held on this device: %s\n", r.Dest, r.Bill.Code, shorten(r.Outcome.Message))
				}
				retriesMu.Lock()
				first := !processing[key]
				processing[key] = true
				retriesMu.Unlock()
				if first {
					p.printf("%s", line)
				}
			case upload.Retry:
				if len(r.Outcome.Missing) > 0 {
					// Held for data it lacks: nothing was sent, nothing failed.
					p.printf("    ⏸ %-7s %s held on this device until repaired: %s\n", r.Dest, r.Bill.Code, shorten(r.Outcome.Message))
					return
				}
				retriesMu.Lock()
				retries++
				retriesMu.Unlock()
				p.printf("    ↻ %-7s %s attempt %d failed, will retry: %s\n", r.Dest, r.Bill.Code, r.Attempt, shorten(r.Outcome.Message))
			case upload.Permanent:
				p.printf("    ☠ %-7s %s refused for good: %s\n", r.Dest, r.Bill.Code, r.Outcome.Message)
			}
		},
	})
	if err != nil {
		return Summary{}, err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	defer func() {
		stop()
		<-done
		a.Close()
	}()

	p.printf("pda-agent demo — a store day at %s, device %s\n", cfg.Device.Store, cfg.Device.ID)
	p.printf("queue %s\n", cfg.QueuePath())
	p.printf("back ends (strict sandboxes on loopback): 码上放心 TOP gateway %s, 医保 FSI gateway %s (%s, %s), chain ERP webhook %s\n",
		gw.URL(), nh.URL(), cfg.NHSA.GatewayAuth, cfg.NHSA.Envelope, hook.URL())

	if err := play(ctx, a, be, p, o.Script); err != nil {
		return Summary{}, err
	}

	p.printf("\n## End of day: waiting for the backlog to drain\n")
	deadline := time.Now().Add(o.Drain)
	for {
		st, err := a.Store().Stats()
		if err != nil {
			return Summary{}, err
		}
		busy := 0
		for _, d := range st.Dests {
			busy += d.Pending + d.Leased
		}
		if busy == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return Summary{}, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	retriesMu.Lock()
	n := retries
	retriesMu.Unlock()
	sum, err := summarize(a.Store(), be, n)
	if err != nil {
		return sum, err
	}
	// The summary is the last word: what the workers do from here on (a
	// delivery finishing while the agent stops) is not printed after it.
	p.last(func(printf func(string, ...any)) { printSummary(printf, sum) })
	if sum.Open > 0 {
		return sum, errors.New("demo: a bill was left open")
	}
	for name, d := range sum.Dests {
		if len(d.Mismatches) > 0 || d.Pending > 0 || d.Dead > 0 {
			return sum, fmt.Errorf("demo: not every bill reached %s exactly once", name)
		}
	}
	return sum, nil
}

// play feeds the script scene by scene through a replay source.
func play(ctx context.Context, a *agent.Agent, be backends, p *printer, script string) error {
	var block []string
	flush := func() error {
		if len(block) == 0 {
			return nil
		}
		src := &device.Lines{SourceName: "replay", Reader: strings.NewReader(strings.Join(block, "\n"))}
		block = block[:0]
		return src.Run(ctx, func(ctx context.Context, s device.Scan) device.Feedback {
			fb := a.HandleScan(ctx, "counter", s)
			raw := tracecode.Printable(string(s.Raw))
			p.printf("  %s %-52s %s\n", mark(fb.Status), raw, shorten(dropEcho(fb.Message, raw)))
			return fb
		})
	}
	sc := bufio.NewScanner(strings.NewReader(script))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			if err := flush(); err != nil {
				return err
			}
			// Let uploads of the previous scene show before the next.
			time.Sleep(300 * time.Millisecond)
			p.printf("\n%s\n", line)
		case strings.HasPrefix(line, "#! "):
			if err := flush(); err != nil {
				return err
			}
			if err := directive(strings.TrimPrefix(line, "#! "), be, p); err != nil {
				return err
			}
		case strings.HasPrefix(line, "#"), strings.TrimSpace(line) == "":
		default:
			block = append(block, line)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return flush()
}

func directive(d string, be backends, p *printer) error {
	switch d {
	case "outage on":
		p.printf("  ⚡ network down: the back ends cannot be reached\n")
		return be.setDown(true)
	case "outage off":
		// Give the outage time to show its retries before it ends.
		time.Sleep(1500 * time.Millisecond)
		p.printf("  ⚡ network restored\n")
		return be.setDown(false)
	}
	return fmt.Errorf("demo: unknown directive %q", d)
}

// summarize reads the local queue and the sandboxes' ledgers and compares
// them bill by bill, per destination.
func summarize(s *queue.Store, be backends, retries int) (Summary, error) {
	st, err := s.Stats()
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{Scans: st.Scans, Finished: st.Bills[queue.BillFinished], Open: st.Bills[queue.BillOpen],
		Retries: retries, Dests: map[string]*DestSummary{}}
	remotes := map[string]map[string]remote{}
	for _, dest := range []string{"msfx", "nhsa", "webhook"} {
		d := &DestSummary{}
		if ds := st.Dests[dest]; ds != nil {
			d.Pending, d.Dead = ds.Pending+ds.Leased, ds.Dead
		}
		remotes[dest] = be.ledger(dest)
		d.Remote = len(remotes[dest])
		sum.Dests[dest] = d
	}
	err = s.ForEachBill(func(b queue.Bill) bool {
		if b.State != queue.BillFinished {
			return true
		}
		items, ierr := s.Items(b.ID)
		if ierr != nil {
			err = ierr
			return false
		}
		var local []string
		for _, it := range items {
			local = append(local, it.Code)
		}
		for _, dest := range b.Destinations {
			d, rem := sum.Dests[dest], remotes[dest]
			if d == nil {
				continue
			}
			key := b.Code
			if dest == "nhsa" {
				key = strings.ReplaceAll(b.Code, "-", "")
			}
			r, ok := rem[key]
			delete(rem, key)
			if dest == "nhsa" && b.Type == 102 {
				// 3503 rows carry counts, not trace codes (purchase_trace_codes off).
				r.codes = local
			}
			switch {
			case !ok:
				d.Mismatches = append(d.Mismatches, b.Code+": missing at the back end")
			case r.applied != 1:
				d.Mismatches = append(d.Mismatches, fmt.Sprintf("%s: applied %d times", b.Code, r.applied))
			case strings.Join(local, ",") != strings.Join(r.codes, ","):
				d.Mismatches = append(d.Mismatches, b.Code+": codes differ")
			default:
				d.Delivered++
			}
		}
		return true
	})
	for dest, rem := range remotes {
		for code := range rem {
			sum.Dests[dest].Mismatches = append(sum.Dests[dest].Mismatches, code+": at the back end but not in the local queue")
		}
		sort.Strings(sum.Dests[dest].Mismatches)
	}
	return sum, err
}

func printSummary(printf func(format string, args ...any), s Summary) {
	printf("\nSummary\n")
	var rejected []string
	var nrej uint64
	for k, v := range s.Scans {
		if reason, ok := strings.CutPrefix(k, "rejected:"); ok {
			rejected = append(rejected, fmt.Sprintf("%s %d", reason, v))
			nrej += v
		}
	}
	sort.Strings(rejected)
	printf("  scans      %d accepted, %d duplicate (counted once), %d rejected: %s\n",
		s.Scans["accepted"], s.Scans["duplicate"], nrej, strings.Join(rejected, ", "))
	printf("  bills      %d finished and queued durably, %d still open; %d failed attempts retried (outage)\n", s.Finished, s.Open, s.Retries)
	for _, name := range []string{"msfx", "nhsa", "webhook"} {
		d := s.Dests[name]
		printf("  %-9s  %d delivered, %d pending, %d dead letters", name, d.Delivered, d.Pending, d.Dead)
		if len(d.Mismatches) == 0 {
			printf("; sandbox ledger: %d bills, each exactly once, codes identical: OK\n", d.Remote)
			continue
		}
		printf("\n")
		for _, m := range d.Mismatches {
			printf("  MISMATCH   %s %s\n", name, m)
		}
	}
}

func mark(s device.Status) string {
	switch s {
	case device.StatusAccepted:
		return "✓"
	case device.StatusDuplicate:
		return "="
	case device.StatusCommand:
		return "▸"
	}
	return "✗"
}

// rowsAccepted finds "3505 … 2 rows accepted" in a 医保 answer.
var rowsAccepted = regexp.MustCompile(`(35\d\d) bill .*?: (\d+ rows? accepted)`)

// doneNote is the short form of a delivered bill's answer.
func doneNote(o upload.Outcome) string {
	for _, final := range []string{"处理成功", "处理失败"} {
		if strings.Contains(o.Message, final) {
			return final
		}
	}
	if m := rowsAccepted.FindStringSubmatch(o.Message); m != nil {
		return m[1] + ": " + m[2]
	}
	return shorten(o.Message)
}

// dropEcho removes the code from the front of a message printed beside it.
func dropEcho(msg, raw string) string {
	if first, rest, ok := strings.Cut(msg, " "); ok && len(first) >= 8 && strings.Contains(raw, first) {
		return rest
	}
	return msg
}

func shorten(s string) string {
	if r := []rune(s); len(r) > 110 {
		return string(r[:107]) + "…"
	}
	return s
}

// printer serialises output from the script and the upload workers.
type printer struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool // after last: everything else is dropped
}

func (p *printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	fmt.Fprintf(p.w, format, args...)
}

// last runs fn with a printf of its own; what fn prints is the last the
// printer lets through.
func (p *printer) last(fn func(printf func(format string, args ...any))) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	fn(func(format string, args ...any) { fmt.Fprintf(p.w, format, args...) })
}

// nhsaOptions is the 医保 sandbox of the demo: the test environment of a
// province using x-tif headers and the SM2/SM4 envelope.
func nhsaOptions(log *slog.Logger) nhsasb.Options {
	o := nhsasb.TestOptions(nhsasb.SchemeTif, nhsasb.EnvelopeSM2SM4)
	o.Logger = log
	return o
}
