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
	"github.com/pda-agent/pda-agent/upload/webhook/sandbox"
)

//go:embed storeday.txt
var storeDay string

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
	Scans       map[string]uint64
	Finished    int
	Open        int
	Delivered   int
	Pending     int
	Dead        int
	Retries     int
	SandboxApps int // bills the sandbox accepted
	Mismatches  []string
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

	sb, err := sandbox.Start("127.0.0.1:0", sandbox.Options{KeyID: keyID, Secret: secret, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return Summary{}, err
	}
	defer sb.Close()

	cfg, err := configs.LoadBytes("demo.yaml", configs.Demo(), []string{
		"PDA_DATA_DIR=" + dir, "PDA_WEBHOOK_URL=" + sb.URL(), "PDA_WEBHOOK_KEY_ID=" + keyID, "PDA_WEBHOOK_SECRET=" + secret,
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
	a, err := agent.New(cfg, agent.Options{
		Logger: slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: cfg.Log.SlogLevel()})),
		OnResult: func(r upload.Result) {
			switch r.Outcome.Class {
			case upload.Done:
				p.printf("    ↑ %s %s delivered (ref %s)\n", r.Dest, r.Bill.Code, r.Outcome.Ref)
			case upload.Retry:
				retriesMu.Lock()
				retries++
				retriesMu.Unlock()
				p.printf("    ↻ %s %s attempt %d failed, will retry: %s\n", r.Dest, r.Bill.Code, r.Attempt, shorten(r.Outcome.Message))
			case upload.Permanent:
				p.printf("    ☠ %s %s refused for good: %s\n", r.Dest, r.Bill.Code, r.Outcome.Message)
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
	p.printf("queue %s; back end: strict webhook sandbox at %s\n", cfg.QueuePath(), sb.URL())

	if err := play(ctx, a, sb, p, o.Script); err != nil {
		return Summary{}, err
	}

	p.printf("\n## End of day: waiting for the backlog to drain\n")
	deadline := time.Now().Add(o.Drain)
	for {
		st, err := a.Store().Stats()
		if err != nil {
			return Summary{}, err
		}
		if d := st.Dests["webhook"]; d == nil || d.Pending+d.Leased == 0 || time.Now().After(deadline) {
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
	sum, err := summarize(a.Store(), sb, n)
	if err != nil {
		return sum, err
	}
	printSummary(p, sum)
	if len(sum.Mismatches) > 0 || sum.Pending > 0 || sum.Open > 0 {
		return sum, errors.New("demo: not every bill reached the back end exactly once")
	}
	return sum, nil
}

// play feeds the script scene by scene through a replay source.
func play(ctx context.Context, a *agent.Agent, sb *sandbox.Running, p *printer, script string) error {
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
			if err := directive(strings.TrimPrefix(line, "#! "), sb, p); err != nil {
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

func directive(d string, sb *sandbox.Running, p *printer) error {
	switch d {
	case "outage on":
		p.printf("  ⚡ network down: the back end cannot be reached\n")
		return sb.SetDown(true)
	case "outage off":
		// Give the outage time to show its retries before it ends.
		time.Sleep(1500 * time.Millisecond)
		p.printf("  ⚡ network restored\n")
		return sb.SetDown(false)
	}
	return fmt.Errorf("demo: unknown directive %q", d)
}

// summarize reads the local queue and the sandbox ledger and compares them
// bill by bill.
func summarize(s *queue.Store, sb *sandbox.Running, retries int) (Summary, error) {
	st, err := s.Stats()
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{Scans: st.Scans, Finished: st.Bills[queue.BillFinished], Open: st.Bills[queue.BillOpen], Retries: retries}
	if d := st.Dests["webhook"]; d != nil {
		sum.Pending, sum.Dead = d.Pending+d.Leased, d.Dead
	}
	remote := map[string]sandbox.Received{}
	for _, r := range sb.Bills() {
		remote[r.BillCode] = r
		sum.SandboxApps++
	}
	err = s.ForEachBill(func(b queue.Bill) bool {
		if b.State != queue.BillFinished || len(b.Destinations) == 0 {
			return true
		}
		r, ok := remote[b.Code]
		delete(remote, b.Code)
		if !ok {
			sum.Mismatches = append(sum.Mismatches, b.Code+": missing at the back end")
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
		switch {
		case r.Applied != 1:
			sum.Mismatches = append(sum.Mismatches, fmt.Sprintf("%s: applied %d times", b.Code, r.Applied))
		case strings.Join(local, ",") != strings.Join(r.Codes, ","):
			sum.Mismatches = append(sum.Mismatches, b.Code+": codes differ")
		default:
			sum.Delivered++
		}
		return true
	})
	for code := range remote {
		sum.Mismatches = append(sum.Mismatches, code+": at the back end but not in the local queue")
	}
	sort.Strings(sum.Mismatches)
	return sum, err
}

func printSummary(p *printer, s Summary) {
	p.printf("\nSummary\n")
	var rejected []string
	var nrej uint64
	for k, v := range s.Scans {
		if reason, ok := strings.CutPrefix(k, "rejected:"); ok {
			rejected = append(rejected, fmt.Sprintf("%s %d", reason, v))
			nrej += v
		}
	}
	sort.Strings(rejected)
	p.printf("  scans      %d accepted, %d duplicate (counted once), %d rejected: %s\n",
		s.Scans["accepted"], s.Scans["duplicate"], nrej, strings.Join(rejected, ", "))
	p.printf("  bills      %d finished and queued durably, %d still open\n", s.Finished, s.Open)
	p.printf("  uploads    %d delivered, %d pending, %d dead letters; %d failed attempts retried (outage)\n",
		s.Delivered, s.Pending, s.Dead, s.Retries)
	if len(s.Mismatches) == 0 {
		p.printf("  back end   %d bills in the sandbox ledger, each exactly once, codes identical: OK\n", s.SandboxApps)
		return
	}
	for _, m := range s.Mismatches {
		p.printf("  MISMATCH   %s\n", m)
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
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}
