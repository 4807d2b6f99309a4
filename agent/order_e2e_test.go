package agent

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/webhook/sandbox"
)

// TestResaleWaitsForItsReturn: a customer returns a box and it is sold
// again at once, while the return's upload fails and backs off. The
// re-sale must not reach the chain's ERP first — the ERP would refuse it
// for good as already sold — so both end delivered, no dead letter, each
// once at the receiver.
func TestResaleWaitsForItsReturn(t *testing.T) {
	const key, secret = "order-test", "order-test-secret-FAKE-0001"
	sb, err := sandbox.Start("127.0.0.1:0", sandbox.Options{KeyID: key, Secret: secret, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	cfg, err := configs.LoadBytes("test", nil, []string{"PDA_DEVICE_ID=OR1", "PDA_DATA_DIR=" + t.TempDir(),
		"PDA_FEEDBACK_LOG=false", "PDA_WEBHOOK_ENABLED=true", "PDA_WEBHOOK_URL=" + sb.URL(),
		"PDA_WEBHOOK_KEY_ID=" + key, "PDA_WEBHOOK_SECRET=" + secret, "PDA_WEBHOOK_CONCURRENCY=4",
		// The failed return waits a second: the re-sale is due at once.
		"PDA_UPLOAD_INITIAL_BACKOFF=1s", "PDA_UPLOAD_MAX_BACKOFF=2s", "PDA_UPLOAD_JITTER=0"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done; a.Close() }()

	const code = "81012350000000157474"
	bill := func(cmd string) string {
		t.Helper()
		scan(t, a, "till", cmd, device.StatusCommand)
		scan(t, a, "till", code, device.StatusAccepted)
		return finish(t, a, "till")
	}
	sale := bill("PDA:SALE")
	waitWebhook(t, a, sale)
	sb.InjectFaults(sandbox.FaultHTTP500) // the return's first upload fails
	ret := bill("PDA:RETURN")
	resale := bill("PDA:SALE")
	waitWebhook(t, a, ret)
	waitWebhook(t, a, resale)

	got := map[string]int{}
	for _, r := range sb.Bills() {
		got[r.BillCode]++
	}
	if len(got) != 3 || got[sale] != 1 || got[ret] != 1 || got[resale] != 1 {
		t.Fatalf("the receiver holds %v, want %s, %s and %s once each", got, sale, ret, resale)
	}
	if st := sb.Stats(); st.Faults[sandbox.FaultHTTP500] != 1 {
		t.Fatalf("the fault was not taken: %+v", st.Faults)
	}
}

// waitWebhook waits until the bill reached the webhook; a dead letter
// fails the test at once.
func waitWebhook(t *testing.T, a *Agent, bill string) {
	t.Helper()
	deadline := time.Now().Add(waitForever)
	for {
		v, err := a.Bill(bill)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range v.Deliveries {
			switch {
			case d.Dest != "webhook":
			case d.State == queue.DeliveryDone:
				return
			case d.State == queue.DeliveryDead:
				t.Fatalf("bill %s became a dead letter: %s", bill, d.LastError)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("bill %s: deliveries %+v", bill, v.Deliveries)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
