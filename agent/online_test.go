package agent

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/msfx/sandbox"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

func TestJudge(t *testing.T) {
	at := time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC) // 2026-12-08 in China
	info := func(status, expire string) cachedAnswer {
		return cachedAnswer{found: true, at: at, info: wire.CodeInfo{Code: "81012350000000157474",
			Status:  &wire.CodeStatus{CodeStatus: wire.Str(status)},
			Drug:    &wire.DrugBaseInfo{PhysicName: "阿莫西林胶囊", DrugEntBaseInfoID: "8101235"},
			Produce: &wire.CodeProduce{ProduceInfoList: wire.List[wire.ProduceInfo]{{BatchNo: "B1", ExpireDate: wire.Str(expire)}}}}}
	}
	j := checkJob{code: "81012350000000157474", session: "s", bill: "B", mode: configs.CheckRefuse}
	var a Agent
	other := OnlineHooks{OtherProduct: func(_ string, _ queue.Item, drugID string) bool { return drugID != "8101235" }}
	wrong := OnlineHooks{OtherProduct: func(string, queue.Item, string) bool { return true }}
	for _, tc := range []struct {
		name  string
		ans   cachedAnswer
		hooks OnlineHooks
		want  []string
	}{
		{"active", info("A", "2028-01-31"), other, nil},
		{"verified", info("I", "20281231"), OnlineHooks{}, nil},
		{"sold", info("O", "2028-01-31"), other, []string{ProblemSold}},
		{"cancelled", info("C", "2028-01-31"), other, []string{ProblemCancelled}},
		{"not exist", info("E", ""), other, []string{ProblemNotFound}},
		{"absent", cachedAnswer{at: at}, OnlineHooks{}, []string{ProblemNotFound}},
		// Expiry is a China date: 2026-12-07 is past at 20:00 UTC that day.
		{"expired", info("A", "2026-12-07"), other, []string{ProblemExpired}},
		{"expires today", info("A", "2026-12-08 00:00:00"), other, nil},
		{"other product", info("O", "2028-01-31"), wrong, []string{ProblemSold, ProblemOtherProduct}},
	} {
		v := a.judge(j, tc.ans, tc.hooks)
		if !slices.Equal(v.Problems, tc.want) || (len(tc.want) > 0) != (v.State == CheckBad) || v.Message == "" {
			t.Errorf("%s: %+v, want problems %v", tc.name, v, tc.want)
		}
	}
}

func TestCheckMode(t *testing.T) {
	c := configs.OnlineChecks{Sale: "warn", Return: "refuse", Receive: "off", Ship: ""}
	for typ, want := range map[int]string{321: "warn", 116: "refuse", 102: "", 202: ""} {
		if got := checkMode(c, typ); got != want {
			t.Errorf("type %d: %q, want %q", typ, got, want)
		}
	}
}

func TestCheckCacheBounded(t *testing.T) {
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	a := &Agent{online: newOnlineChecker(), now: func() time.Time { return now }}
	a.live.Store(&live{cfg: &configs.Config{Checks: configs.Checks{CacheTTL: time.Minute, CacheSize: 3}}})
	c := a.online
	c.cache["stale"] = cachedAnswer{at: now.Add(-2 * time.Minute)}
	for i, code := range []string{"c1", "c2", "c3", "c4"} {
		c.cache[code] = cachedAnswer{at: now.Add(time.Duration(i) * time.Second)}
	}
	a.trimCache()
	_, stale := c.cache["stale"]
	_, oldest := c.cache["c1"]
	if len(c.cache) != 3 || stale || oldest {
		t.Fatalf("cache after trim: %v", c.cache)
	}
	for _, k := range []string{"c2", "c3", "c4"} {
		if _, ok := c.cache[k]; !ok {
			t.Fatalf("%s dropped: %v", k, c.cache)
		}
	}
}

// An open bill's verdicts live in memory: after a restart the agent checks
// its packs again, so a refused pack still blocks the finish.
func TestOnlineCheckOpenBillRecheckedAfterRestart(t *testing.T) {
	gw, err := sandbox.Start("127.0.0.1:0", sandbox.Options{World: sandbox.DefaultWorld(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	const bad = "81012350000000157474"
	if err := gw.World().CancelCodes(bad); err != nil {
		t.Fatal(err)
	}
	env := []string{"PDA_DEVICE_ID=AG1", "PDA_DATA_DIR=" + t.TempDir(), "PDA_CHECKS_ONLINE_SALE=refuse",
		"PDA_MSFX_ENABLED=true", "PDA_MSFX_GATEWAY=" + gw.URL(), "PDA_MSFX_APP_KEY=" + sandbox.DefaultStoreAppKey,
		"PDA_MSFX_APP_SECRET=" + sandbox.DefaultStoreSecret, "PDA_MSFX_REF_ENT_ID=" + sandbox.DefaultStoreRefEntID,
		"PDA_MSFX_ENT_ID=" + sandbox.DefaultStoreEntID, "PDA_MSFX_RATE=0"}
	cfg, err := configs.LoadBytes("test", nil, env)
	if err != nil {
		t.Fatal(err)
	}
	open := func() *Agent {
		a, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	// First run: the pack is scanned and the agent stops before its check.
	a := open()
	scan(t, a, "till", "PDA:SALE", device.StatusCommand)
	scan(t, a, "till", bad, device.StatusAccepted)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	a = open()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
		a.Close()
	}()
	_, err = a.Finish(ctx, "till", nil)
	var cf *CheckFailedError
	if !errors.As(err, &cf) || len(cf.Packs) != 1 || cf.Packs[0].Code != bad || cf.Packs[0].Problems[0] != ProblemCancelled {
		t.Fatalf("finish after restart: %v", err)
	}
}

// Pending checks live in the queue file: a pack of a sale finished while
// 码上放心 was down is checked after a restart, and its bad verdict raises
// the alarm naming the bill.
func TestPendingChecksResumedAfterRestart(t *testing.T) {
	gw, err := sandbox.Start("127.0.0.1:0", sandbox.Options{World: sandbox.DefaultWorld(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	const bad, good = "81012350000000157474", "81012350000000266663"
	if err := gw.World().CancelCodes(bad); err != nil {
		t.Fatal(err)
	}
	if err := gw.SetDown(true); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env := []string{"PDA_DEVICE_ID=AG1", "PDA_DATA_DIR=" + dir, "PDA_CHECKS_ONLINE_SALE=refuse", "PDA_CHECKS_WINDOW=0s",
		"PDA_MSFX_ENABLED=true", "PDA_MSFX_GATEWAY=" + gw.URL(), "PDA_MSFX_APP_KEY=" + sandbox.DefaultStoreAppKey,
		"PDA_MSFX_APP_SECRET=" + sandbox.DefaultStoreSecret, "PDA_MSFX_REF_ENT_ID=" + sandbox.DefaultStoreRefEntID,
		"PDA_MSFX_ENT_ID=" + sandbox.DefaultStoreEntID, "PDA_MSFX_RATE=0", "PDA_UPLOAD_INITIAL_BACKOFF=100ms"}
	cfg, err := configs.LoadBytes("test", nil, env)
	if err != nil {
		t.Fatal(err)
	}
	run := func() (*Agent, func()) {
		a, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = a.Run(ctx)
		}()
		return a, func() {
			cancel()
			<-done
			if err := a.Close(); err != nil {
				t.Error(err)
			}
		}
	}

	// Offline: the sale finishes with both packs unchecked.
	a, stop := run()
	scan(t, a, "till", "PDA:SALE", device.StatusCommand)
	scan(t, a, "till", bad, device.StatusAccepted)
	scan(t, a, "till", good, device.StatusAccepted)
	b, err := a.Finish(context.Background(), "till", nil)
	if err != nil {
		t.Fatalf("offline finish: %v", err)
	}
	stop()

	// The file holds them.
	s, err := queue.Open(cfg.QueuePath(), queue.Options{BillPrefix: "AG1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	pend, err := s.PendingChecks()
	s.Close()
	if err != nil || len(pend) != 2 || pend[0].BillCode != b.Code || pend[0].Mode != configs.CheckRefuse {
		t.Fatalf("pending checks in the file: %v %+v", err, pend)
	}

	// Online again, a new run: the bad pack alarms, naming the bill.
	if err := gw.SetDown(false); err != nil {
		t.Fatal(err)
	}
	a, stop = run()
	defer stop()
	deadline := time.Now().Add(10 * time.Second)
	for len(a.CheckAlarms()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no alarm after the restart")
		}
		time.Sleep(20 * time.Millisecond)
	}
	al := a.CheckAlarms()
	if len(al) != 1 || !strings.Contains(al[0].Message, b.Code) || !strings.Contains(al[0].Message, bad) || strings.Contains(al[0].Message, good) {
		t.Fatalf("alarms: %+v", al)
	}
	// Answered, the checks leave the file.
	for {
		pend, err := a.store.PendingChecks()
		if err != nil {
			t.Fatal(err)
		}
		if len(pend) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("checks still pending: %+v", pend)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
