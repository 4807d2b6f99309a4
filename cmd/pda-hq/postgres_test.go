package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/catalogue"
	"github.com/pda-agent/pda-agent/fleet/bundle"
	"github.com/pda-agent/pda-agent/fleet/hq"
	"github.com/pda-agent/pda-agent/fleet/hq/pgstore/pgtest"
	"github.com/pda-agent/pda-agent/fleet/hq/protocol"
	"github.com/pda-agent/pda-agent/gm"
)

// TestMain lets the tests start this binary as `pda-hq` (real processes
// they can SIGKILL) without building it: PDA_HQ_AS_MAIN=1 runs main.
func TestMain(m *testing.M) {
	if os.Getenv("PDA_HQ_AS_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// replica is one `pda-hq serve` process.
type replica struct {
	t       *testing.T
	addr    string
	dsn     string
	pollKey string // --poll-key-file, the same for every replica
	logs    string // directory of its log files, one per start
	n       int
	cmd     *exec.Cmd
	done    chan struct{}
}

func (r *replica) start() {
	r.t.Helper()
	r.n++
	logf, err := os.Create(filepath.Join(r.logs, fmt.Sprintf("%s-%d.log", strings.ReplaceAll(r.addr, ":", "_"), r.n)))
	if err != nil {
		r.t.Fatal(err)
	}
	r.cmd = exec.Command(os.Args[0], "serve", "--db", r.dsn, "--listen", r.addr, "--tick", "20ms", "--retry-after", "1s", "--poll-key-file", r.pollKey)
	r.cmd.Env = append(os.Environ(), "PDA_HQ_AS_MAIN=1")
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.done = make(chan struct{})
	cmd, done := r.cmd, r.done
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", r.addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("replica %s did not come up", r.addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *replica) kill() {
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
}

func (r *replica) stop() {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(15 * time.Second):
		r.kill()
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// simDevice is a simulated agent: it speaks the real protocol (signed
// requests, bundle verification) to whichever replica it is given.
type simDevice struct {
	id    string
	key   *gm.PrivateKey
	hq    *gm.PrivateKey
	etag  string
	token string // the last poll token a replica handed out
}

func (d *simDevice) send(method, base, path string, body []byte, etag string) (int, http.Header, []byte) {
	req, err := http.NewRequest(method, "http://"+base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil
	}
	if err := protocol.Sign(req, d.id, d.key, body, time.Now()); err != nil {
		return 0, nil, nil
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if d.token != "" && method == http.MethodGet {
		req.Header.Set(protocol.HeaderPollToken, d.token)
	}
	c := http.Client{Timeout: 15 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil // a killed replica
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	_, _ = out.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header, out.Bytes()
}

// has polls base and tells whether the device is served version.
func (d *simDevice) has(t *testing.T, base string, version uint64) bool {
	code, h, body := d.send(http.MethodGet, base, protocol.BundlePath(d.id), nil, d.etag)
	if code != http.StatusOK {
		return false
	}
	o, err := bundle.Open(body, &d.hq.PublicKey, d.id, &d.key.PublicKey, 0)
	if err != nil {
		t.Errorf("device %s refuses its bundle: %v", d.id, err)
		return false
	}
	d.etag, d.token = h.Get("ETag"), h.Get(protocol.HeaderPollToken)
	return o.Body.Version == version
}

// report sends until a replica answers 204, trying them in turn.
func (d *simDevice) report(t *testing.T, bases []string, state string, version uint64) {
	body, _ := json.Marshal(protocol.Report{State: state, Version: version, Hash: strings.Trim(d.etag, `"`)})
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		if code, _, _ := d.send(http.MethodPost, bases[i%len(bases)], protocol.ReportPath(d.id), body, ""); code == http.StatusNoContent {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("device %s: no replica acknowledged its report", d.id)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPostgresCLI: migrate, move a chain from bbolt to PostgreSQL with
// export --chain and import, then run the rollout on two real `pda-hq
// serve` processes over it with 20 simulated devices reporting to either,
// SIGKILLing each replica mid-rollout and restarting it: every
// acknowledged report is kept and each wave is released once.
func TestPostgresCLI(t *testing.T) {
	c := pgtest.Start(t)
	ctx := context.Background()
	dir := t.TempDir()
	dsn := c.NewDB(t)
	bolt := filepath.Join(dir, "hq.db")
	keyFile := filepath.Join(dir, "hq.key")

	if _, errOut, code := pdaHQ(t, ctx, "status", "--db", dsn); code != 1 || !strings.Contains(errOut, "migrate") {
		t.Fatalf("status before migrate: %d %s", code, errOut)
	}
	if _, _, code := pdaHQ(t, ctx, "migrate", "--db", bolt); code != exitUsage {
		t.Errorf("migrate on a bbolt file: %d", code)
	}
	if out, errOut, code := pdaHQ(t, ctx, "migrate", "--db", dsn); code != 0 || !strings.Contains(out, "applied 0001_init.sql") || !strings.Contains(out, "applied 0002_catalogues.sql") {
		t.Fatalf("migrate: %d %s %s", code, out, errOut)
	}
	if out, _, code := pdaHQ(t, ctx, "migrate", "--db", dsn); code != 0 || !strings.Contains(out, "schema is current") {
		t.Fatalf("migrate again: %d %s", code, out)
	}

	// A chain on bbolt: 20 devices in 10 stores, one rollout in progress.
	if _, errOut, code := pdaHQ(t, ctx, "keys", "gen", "--out", keyFile); code != 0 {
		t.Fatalf("keys gen: %s", errOut)
	}
	hqKey, err := gm.ParsePrivateKey(readFile(t, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	devices := map[string]*simDevice{}
	var ids []string
	for i := range 20 {
		d := &simDevice{id: fmt.Sprintf("D%02d", i), key: mustKey(t), hq: hqKey}
		devices[d.id] = d
		ids = append(ids, d.id)
		if _, errOut, code := pdaHQ(t, ctx, "enroll", "--db", bolt, "--device", d.id, "--store", fmt.Sprintf("S%02d", i/2),
			"--key", gm.PublicKeyBase64(&d.key.PublicKey)); code != 0 {
			t.Fatalf("enroll %s: %s", d.id, errOut)
		}
	}
	tree := filepath.Join(dir, "tree")
	write(t, filepath.Join(tree, "chain.yaml"), "log: {level: info}\n")
	write(t, filepath.Join(tree, "catalogue", "products.csv"), "code,name\n8101235,chain\n")
	if _, errOut, code := pdaHQ(t, ctx, "publish", "--db", bolt, "--key", keyFile, "--tree", tree, "--percent", "30", "--threshold", "0.2", "--wave-timeout", "1h"); code != 0 {
		t.Fatalf("publish: %s", errOut)
	}
	chain := filepath.Join(dir, "chain.json")
	if out, errOut, code := pdaHQ(t, ctx, "export", "--db", bolt, "--chain", chain); code != 0 || !strings.Contains(out, "20 device(s)") {
		t.Fatalf("export --chain: %d %s %s", code, out, errOut)
	}
	if out, errOut, code := pdaHQ(t, ctx, "import", "--db", dsn, "--chain", chain); code != 0 || !strings.Contains(out, "imported 20 device(s), 20 bundle(s), 1 catalogue object(s)") {
		t.Fatalf("import: %d %s %s", code, out, errOut)
	}
	if _, errOut, code := pdaHQ(t, ctx, "import", "--db", dsn, "--chain", chain); code != 1 || !strings.Contains(errOut, "empty") {
		t.Fatalf("import twice: %d %s", code, errOut)
	}
	status := func(db string) hq.Status {
		t.Helper()
		out, errOut, code := pdaHQ(t, ctx, "status", "--db", db, "--json")
		var st hq.Status
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
			t.Fatalf("status --db %s: %d %s", db, code, errOut)
		}
		st.At = time.Time{}
		return st
	}
	if a, b := status(bolt), status(dsn); !jsonEqual(a, b) {
		t.Fatalf("status differs after the move:\nbbolt %+v\npostgres %+v", a, b)
	}
	inWave1 := map[string]bool{}
	for _, s := range status(dsn).Rollouts[0].Waves[0].Stores {
		inWave1[s] = true
	}
	var w1, w2 []string
	for i, id := range ids {
		if inWave1[fmt.Sprintf("S%02d", i/2)] {
			w1 = append(w1, id)
		} else {
			w2 = append(w2, id)
		}
	}

	// Two replicas on the database.
	logs := t.TempDir()
	pollKey := filepath.Join(dir, "poll.key")
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pollKey, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	a := &replica{t: t, addr: freeAddr(t), dsn: dsn, logs: logs, pollKey: pollKey}
	b := &replica{t: t, addr: freeAddr(t), dsn: dsn, logs: logs, pollKey: pollKey}
	a.start()
	b.start()
	t.Cleanup(func() { a.stop(); b.stop() })
	bases := []string{a.addr, b.addr}

	// applyAll: each device polls either replica until it is served
	// version 1, then reports APPLIED to the other one first.
	var acked atomic.Int64
	ackedAtLeast := func(n int64) {
		for acked.Load() < n {
			time.Sleep(time.Millisecond)
		}
	}
	applyAll := func(ids []string) {
		var wg sync.WaitGroup
		for i, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := devices[id]
				deadline := time.Now().Add(30 * time.Second)
				for n := i; !d.has(t, bases[n%2], 1); n++ {
					if time.Now().After(deadline) {
						t.Errorf("device %s never got version 1", id)
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
				d.report(t, []string{bases[(i+1)%2], bases[i%2]}, protocol.StateApplied, 1)
				acked.Add(1)
			}()
		}
		wg.Wait()
	}

	// Wave 1: half its devices report, replica A is killed while the
	// other half report, and comes back.
	applyAll(w1[:len(w1)/2])
	killed := make(chan struct{})
	go func() {
		ackedAtLeast(int64(len(w1)/2 + 1))
		a.kill()
		close(killed)
	}()
	applyAll(w1[len(w1)/2:])
	<-killed
	a.start()
	// Wave 2: replica B is killed after a few of its reports.
	restarted := make(chan struct{})
	go func() {
		ackedAtLeast(int64(len(w1) + 3))
		b.kill()
		b.start()
		close(restarted)
	}()
	applyAll(w2)
	<-restarted

	deadline := time.Now().Add(15 * time.Second)
	for status(dsn).Rollouts[0].State != hq.RolloutCompleted {
		if time.Now().After(deadline) {
			t.Fatalf("rollout did not complete: %+v", status(dsn).Rollouts[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
	st := status(dsn)
	for _, d := range st.Devices {
		if d.Report == nil || d.Report.State != protocol.StateApplied || d.Report.Version != 1 {
			t.Errorf("device %s: acknowledged APPLIED report lost: %+v", d.ID, d.Report)
		}
	}
	r := st.Rollouts[0]
	if r.Waves[0].Counts.Applied != len(w1) || r.Waves[1].Counts.Applied != len(w2) {
		t.Errorf("wave counts %+v %+v", r.Waves[0].Counts, r.Waves[1].Counts)
	}
	released := 0
	files, _ := filepath.Glob(filepath.Join(logs, "*.log"))
	var all strings.Builder
	for _, f := range files {
		text := readFile(t, f)
		all.WriteString(text)
		released += strings.Count(text, "rollout 1: wave 1 ended")
	}
	if released != 1 || len(files) < 4 {
		t.Fatalf("wave 2 released %d times over %d replica runs; logs:\n%s", released, len(files), all.String())
	}
	checkReplicaPolls(t, devices["D00"], a.addr, b.addr)
}

// checkReplicaPolls: the catalogue object moved with the chain is served
// by a replica, and a poll token replica A handed out answers 304 on
// replica B (which shares the poll key) without an SM2 check: the request's
// signature is spoiled, so only the token path can answer 304.
func checkReplicaPolls(t *testing.T, d *simDevice, a, b string) {
	t.Helper()
	d.etag, d.token = "", ""
	code, h, body := d.send(http.MethodGet, a, protocol.BundlePath(d.id), nil, "")
	if code != http.StatusOK {
		t.Fatalf("replica A: %d", code)
	}
	o, err := bundle.Open(body, &d.hq.PublicKey, d.id, &d.key.PublicKey, 0)
	if err != nil || o.Body.Catalogue == nil {
		t.Fatalf("bundle from replica A: %v, catalogue %+v", err, o)
	}
	d.etag, d.token = h.Get("ETag"), h.Get(protocol.HeaderPollToken)
	if code, _, cat := d.send(http.MethodGet, b, "/v1/catalogues/"+o.Body.Catalogue.SHA256, nil, ""); code != http.StatusOK || catalogue.ID(cat) != o.Body.Catalogue.SHA256 {
		t.Fatalf("replica B serves the imported catalogue object: %d", code)
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+b+protocol.BundlePath(d.id), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := protocol.Sign(req, d.id, d.key, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	req.Header.Set(protocol.HeaderSignature, strings.Repeat("A", 86)+"==")
	req.Header.Set("If-None-Match", d.etag)
	req.Header.Set(protocol.HeaderPollToken, d.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("replica B on replica A's token: %d, want 304", resp.StatusCode)
	}
	req.Header.Del(protocol.HeaderPollToken)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the same spoiled poll without the token: %d, want 401", resp.StatusCode)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
