package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/fleet/hq"
	"github.com/pda-agent/pda-agent/fleet/hq/pgstore/pgtest"
	"github.com/pda-agent/pda-agent/fleet/hq/protocol"
)

// roundRobin is a minimal load balancer: each request goes to the next
// backend, and to the other one when the first cannot be reached (a
// killed replica), as a load balancer with health checks would.
type roundRobin struct {
	backends []string
	next     atomic.Uint64
	client   http.Client

	mu     sync.Mutex
	issuer map[string]string // poll token → the replica that first handed it out
	// cross counts token polls answered 304 by a replica other than the
	// one that issued the token.
	cross atomic.Int64
}

// watchTokens notes who issued each poll token and which token polls
// another replica answered 304.
func (lb *roundRobin) watchTokens(backend string, r *http.Request, resp *http.Response) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.issuer == nil {
		lb.issuer = map[string]string{}
	}
	if tok := r.Header.Get(protocol.HeaderPollToken); tok != "" && resp.StatusCode == http.StatusNotModified {
		if from, ok := lb.issuer[tok]; ok && from != backend {
			lb.cross.Add(1)
		}
	}
	if tok := resp.Header.Get(protocol.HeaderPollToken); tok != "" {
		if _, ok := lb.issuer[tok]; !ok {
			lb.issuer[tok] = backend
		}
	}
}

func (lb *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	first := lb.next.Add(1)
	for i := range uint64(len(lb.backends)) {
		b := lb.backends[(first+i)%uint64(len(lb.backends))]
		req, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+b+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			break
		}
		req.Header = r.Header.Clone()
		resp, err := lb.client.Do(req)
		if err != nil {
			continue
		}
		lb.watchTokens(b, r, resp)
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		resp.Body.Close()
		return
	}
	http.Error(w, "no replica reachable", http.StatusBadGateway)
}

// hqReplica is one `pda-hq serve` process; each start logs to its own file.
type hqReplica struct {
	bin, dsn, addr, logs string
	pollKey              string // --poll-key-file, shared by the replicas
	n                    int
	cmd                  *exec.Cmd
	done                 chan struct{}
}

func (r *hqReplica) start(t *testing.T) {
	t.Helper()
	r.n++
	f, err := os.Create(filepath.Join(r.logs, fmt.Sprintf("%s-%d.log", strings.ReplaceAll(r.addr, ":", "_"), r.n)))
	if err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(r.bin, "serve", "--db", r.dsn, "--listen", r.addr, "--tick", "200ms", "--retry-after", "1s", "--poll-key-file", r.pollKey)
	r.cmd.Stdout, r.cmd.Stderr = f, f
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.done = make(chan struct{})
	cmd, done := r.cmd, r.done
	go func() { cmd.Wait(); f.Close(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", r.addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pda-hq replica %s did not come up", r.addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *hqReplica) kill() {
	r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
}

// TestFleetRolloutReplicas is TestFleetRollout on PostgreSQL: two `pda-hq
// serve` replicas on one throw-away database behind a round-robin load
// balancer, 20 real agents whose polls and reports land on either
// replica. A staged rollout goes wave by wave while one replica is
// SIGKILLed and restarted; a config that makes the agents unhealthy is
// reverted by the first wave and halts the rollout while the other replica
// is killed. Each wave is released once and the halt happens once; no
// device's acknowledged report is lost.
func TestFleetRolloutReplicas(t *testing.T) {
	cluster := pgtest.Start(t)
	dsn := cluster.NewDB(t)
	dir := t.TempDir()
	hqBin := filepath.Join(filepath.Dir(binary), "pda-hq")
	if out, err := exec.Command("go", "build", "-o", hqBin, "../pda-hq").CombinedOutput(); err != nil {
		t.Fatalf("build pda-hq: %v\n%s", err, out)
	}
	pdaHQ := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(hqBin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("pda-hq %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	pdaHQ("migrate", "--db", dsn)
	hqKey, tree := filepath.Join(dir, "hq.key"), filepath.Join(dir, "tree")
	out := pdaHQ("keys", "gen", "--out", hqKey)
	pub := regexp.MustCompile(`(?m)^([A-Za-z0-9+/=]{80,})$`).FindStringSubmatch(out)
	if pub == nil {
		t.Fatalf("no public key in:\n%s", out)
	}

	logs := t.TempDir()
	pollKey := filepath.Join(dir, "poll.key")
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pollKey, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	var replicas []*hqReplica
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		replicas = append(replicas, &hqReplica{bin: hqBin, dsn: dsn, addr: l.Addr().String(), logs: logs, pollKey: pollKey})
		l.Close()
	}
	rr := &roundRobin{backends: []string{replicas[0].addr, replicas[1].addr}}
	lb := httptest.NewServer(rr)
	defer lb.Close()
	lbAddr := strings.TrimPrefix(lb.URL, "http://")

	type device struct {
		id, store, dir, config string
		proc                   *exec.Cmd
		stderr                 *lockedBuffer
		done                   chan struct{}
	}
	devices := make([]*device, fleetDevices)
	enrolKey := regexp.MustCompile(`--key (\S+)`)
	for i := range devices {
		d := &device{id: fmt.Sprintf("PDA%02d", i+1), store: fmt.Sprintf("S%02d", i/2+1), dir: filepath.Join(dir, fmt.Sprintf("dev%02d", i+1))}
		d.config = writeFile(t, dir, d.id+".yaml", fmt.Sprintf(fleetLocalConfig, d.id, d.dir, lbAddr, pub[1]))
		stdout, stderr, code := runBinary(t, nil, "", "fleet", "init", "--config", d.config)
		m := enrolKey.FindStringSubmatch(stdout)
		if code != 0 || m == nil {
			t.Fatalf("fleet init %s: %d\n%s%s", d.id, code, stdout, stderr)
		}
		pdaHQ("enroll", "--db", dsn, "--device", d.id, "--store", d.store, "--key", m[1])
		devices[i] = d
	}
	for _, r := range replicas {
		r.start(t)
	}
	defer func() {
		for _, r := range replicas {
			r.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-r.done:
			case <-time.After(15 * time.Second):
				r.kill()
			}
		}
	}()
	for _, d := range devices {
		d.stderr = &lockedBuffer{}
		d.proc = exec.Command(binary, "run", "--config", d.config)
		d.proc.Env, d.proc.Stderr = cleanEnv(), d.stderr
		if err := d.proc.Start(); err != nil {
			t.Fatal(err)
		}
		d.done = make(chan struct{})
		go func() { d.proc.Wait(); close(d.done) }()
	}
	defer func() {
		for _, d := range devices {
			d.proc.Process.Signal(syscall.SIGTERM)
		}
		for _, d := range devices {
			select {
			case <-d.done:
			case <-time.After(15 * time.Second):
				t.Errorf("%s did not stop on SIGTERM", d.id)
				d.proc.Process.Kill()
			}
		}
	}()

	allLogs := func() string {
		files, _ := filepath.Glob(filepath.Join(logs, "*.log"))
		var b strings.Builder
		for _, f := range files {
			raw, _ := os.ReadFile(f)
			b.Write(raw)
		}
		return b.String()
	}
	status := func() hq.Status {
		t.Helper()
		var st hq.Status
		if err := json.Unmarshal([]byte(pdaHQ("status", "--db", dsn, "--json")), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	waitFor := func(what string, ok func(hq.Status) bool) hq.Status {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			st := status()
			if ok(st) {
				return st
			}
			if time.Now().After(deadline) {
				for _, d := range devices {
					t.Logf("%s:\n%s", d.id, d.stderr.String())
				}
				t.Fatalf("%s: not reached in 90 s; HQ status %+v\nHQ logs:\n%s", what, st, allLogs())
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	allReport := func(state string, version uint64) func(hq.Status) bool {
		return func(st hq.Status) bool {
			for _, d := range st.Devices {
				if d.Report == nil || d.Report.State != state || d.Report.Version != version {
					return false
				}
			}
			return len(st.Devices) == fleetDevices
		}
	}
	publish := func(chain string, args ...string) (uint64, uint64) {
		t.Helper()
		if err := os.MkdirAll(tree, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, tree, "chain.yaml", chain)
		out := pdaHQ(append([]string{"publish", "--db", dsn, "--key", hqKey, "--tree", tree}, args...)...)
		var v, r uint64
		if _, err := fmt.Sscanf(out, "published version %d to 20 device(s) as rollout %d", &v, &r); err != nil {
			t.Fatalf("publish output: %v\n%s", err, out)
		}
		return v, r
	}
	started := time.Now()

	v1, _ := publish(chainV1)
	waitFor("v1 applied everywhere", allReport("APPLIED", v1))

	// A staged change; replica 0 is killed once the first devices
	// reported it, and comes back.
	v2, r2 := publish(chainV2, "--percent", "50")
	waitFor("first v2 reports", func(st hq.Status) bool {
		for _, d := range st.Devices {
			if d.Report != nil && d.Report.Version == v2 {
				return true
			}
		}
		return false
	})
	replicas[0].kill()
	time.Sleep(time.Second)
	replicas[0].start(t)
	st := waitFor("v2 applied everywhere", allReport("APPLIED", v2))
	if r := st.Rollouts[0]; r.ID != r2 || r.State != hq.RolloutCompleted || r.Waves[0].Counts.Applied != fleetDevices/2 || r.Waves[1].Counts.Applied != fleetDevices/2 {
		t.Fatalf("v2 rollout %+v", r)
	}
	if n := strings.Count(allLogs(), fmt.Sprintf("rollout %d: wave 1 ended", r2)); n != 1 {
		t.Fatalf("wave 2 of rollout %d released %d times; logs:\n%s", r2, n, allLogs())
	}

	// A config the agents cannot run with; replica 1 is killed while the
	// first wave reports FAILED.
	v3, r3 := publish(chainV3, "--percent", "30", "--threshold", "0.2")
	waitFor("first v3 reports", func(st hq.Status) bool {
		for _, d := range st.Devices {
			if d.Report != nil && d.Report.Version == v3 {
				return true
			}
		}
		return false
	})
	replicas[1].kill()
	time.Sleep(time.Second)
	replicas[1].start(t)
	st = waitFor("v3 halted", func(st hq.Status) bool { return st.Rollouts[0].ID == r3 && st.Rollouts[0].State == hq.RolloutHalted })
	r := st.Rollouts[0]
	if r.Waves[0].Counts == nil || r.Waves[0].Counts.Failed != 6 || !strings.Contains(r.Reason, "threshold") {
		t.Fatalf("v3 rollout %+v (wave 1 %+v)", r, r.Waves[0].Counts)
	}
	if n := strings.Count(allLogs(), fmt.Sprintf("rollout %d halted", r3)); n != 1 {
		t.Fatalf("rollout %d halted %d times; logs:\n%s", r3, n, allLogs())
	}
	wave1 := map[string]bool{}
	for _, s := range r.Waves[0].Stores {
		wave1[s] = true
	}
	for _, ds := range st.Devices {
		switch {
		case wave1[ds.Store] && (ds.Report.State != "FAILED" || ds.Report.Version != v3):
			t.Errorf("%s (wave 1) reported %+v", ds.ID, ds.Report)
		case !wave1[ds.Store] && (ds.Served == nil || ds.Served.Version != v2):
			t.Errorf("%s (wave 2) served %+v after the halt", ds.ID, ds.Served)
		}
	}
	// The replicas share the poll key: an agent's token polls stay on the
	// fast path whichever replica the balancer picks.
	if n := rr.cross.Load(); n == 0 {
		t.Errorf("no token poll was answered 304 by a replica other than the one that issued the token")
	} else {
		t.Logf("%d token polls answered 304 by the other replica", n)
	}
	t.Logf("20 agents, 2 replicas on PostgreSQL, each killed once: v%d…v%d in %s", v1, v3, time.Since(started).Round(time.Millisecond))
}
