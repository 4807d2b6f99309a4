package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/fleet/client"
	"github.com/pda-agent/pda-agent/fleet/hq"
)

// fleetDevices is how many real agent processes the rollout test runs.
const fleetDevices = 20

const fleetLocalConfig = `device: {id: %[1]s}
data_dir: %[2]s
log: {level: info}
api: {enabled: false}
fleet:
  enabled: true
  url: http://%[3]s
  hq_key: %[4]s
  interval: 5s
  jitter: 0.2
  max_backoff: 10s
  timeout: 5s
  health_timeout: 3s
`

// The chain's config versions: a first config, a change every device takes
// (a POS listener; the agents restart only that scanner), a change that
// passes HQ's offline validation but leaves the agent unhealthy (a serial
// scanner on a port no device has), and the fix.
const (
	chainV1 = "log: {level: info}\nsessions: {idle_finish: 10m}\n"
	chainV2 = chainV1 + "scanners:\n  - {name: pos, type: tcp, session: till, tcp: {listen: \"127.0.0.1:0\"}}\n"
	chainV3 = chainV2 + "  - {name: gun, type: serial, session: counter, serial: {port: /dev/ttyPDA-NOPE, reconnect_min: 100ms}}\n"
	chainV4 = chainV2 + "feedback: {log: true}\n"
)

// TestFleetRollout runs `pda-hq serve` with 20 real agent processes on
// loopback: a publish reaches all of them, a staged rollout goes wave by
// wave, a config that makes the agents unhealthy is reverted on the devices
// of the first wave and halts the rollout by the FAILED threshold before
// the others get it, and a fixed config then reaches everyone again.
func TestFleetRollout(t *testing.T) {
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
	db, hqKey, tree := filepath.Join(dir, "hq.db"), filepath.Join(dir, "hq.key"), filepath.Join(dir, "tree")
	out := pdaHQ("keys", "gen", "--out", hqKey)
	pub := regexp.MustCompile(`(?m)^([A-Za-z0-9+/=]{80,})$`).FindStringSubmatch(out)
	if pub == nil {
		t.Fatalf("no public key in:\n%s", out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hqAddr := l.Addr().String()
	l.Close()

	// Enrol the devices: two per store, each with the key `fleet init` made.
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
		d.config = writeFile(t, dir, d.id+".yaml", fmt.Sprintf(fleetLocalConfig, d.id, d.dir, hqAddr, pub[1]))
		stdout, stderr, code := runBinary(t, nil, "", "fleet", "init", "--config", d.config)
		m := enrolKey.FindStringSubmatch(stdout)
		if code != 0 || m == nil {
			t.Fatalf("fleet init %s: %d\n%s%s", d.id, code, stdout, stderr)
		}
		pdaHQ("enroll", "--db", db, "--device", d.id, "--store", d.store, "--key", m[1])
		devices[i] = d
	}

	serve := exec.Command(hqBin, "serve", "--db", db, "--listen", hqAddr, "--tick", "200ms")
	var hqLog lockedBuffer
	serve.Stdout, serve.Stderr = &hqLog, &hqLog
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		serve.Process.Signal(syscall.SIGTERM)
		serve.Wait()
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

	status := func() hq.Status {
		t.Helper()
		var st hq.Status
		if err := json.Unmarshal([]byte(pdaHQ("status", "--db", db, "--json")), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	// waitFor polls HQ's status until ok says the fleet is there.
	waitFor := func(what string, ok func(hq.Status) bool) hq.Status {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			st := status()
			if ok(st) {
				return st
			}
			if time.Now().After(deadline) {
				for _, d := range devices {
					t.Logf("%s:\n%s", d.id, d.stderr.String())
				}
				t.Fatalf("%s: not reached in 60 s; HQ status %+v\nHQ log:\n%s", what, st, hqLog.String())
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
	publish := func(chain string, args ...string) uint64 {
		t.Helper()
		if err := os.MkdirAll(tree, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, tree, "chain.yaml", chain)
		out := pdaHQ(append([]string{"publish", "--db", db, "--key", hqKey, "--tree", tree}, args...)...)
		var v uint64
		if _, err := fmt.Sscanf(out, "published version %d", &v); err != nil {
			t.Fatalf("publish output: %v\n%s", err, out)
		}
		return v
	}
	lastRollout := func(st hq.Status) hq.RolloutStatus {
		for _, r := range st.Rollouts {
			if r.Version == st.Version {
				return r
			}
		}
		t.Fatalf("no rollout for version %d in %+v", st.Version, st.Rollouts)
		return hq.RolloutStatus{}
	}
	started := time.Now()

	// 1. The first config reaches every device.
	v1 := publish(chainV1)
	waitFor("v1 applied everywhere", allReport("APPLIED", v1))
	t.Logf("v1 on %d devices after %s", fleetDevices, time.Since(started).Round(time.Millisecond))

	// 2. A staged change: half the stores first, then the rest.
	v2 := publish(chainV2, "--percent", "50")
	st := waitFor("v2 applied everywhere", allReport("APPLIED", v2))
	if r := lastRollout(st); r.State != hq.RolloutCompleted || len(r.Waves) != 2 || r.Waves[0].Devices != fleetDevices/2 {
		t.Fatalf("v2 rollout %+v", r)
	}

	// 3. A config the agents cannot run with: the first wave takes it, is
	// unhealthy, reverts and reports FAILED; the rollout halts there.
	v3 := publish(chainV3, "--percent", "30", "--threshold", "0.2")
	st = waitFor("v3 halted", func(st hq.Status) bool { return lastRollout(st).State == hq.RolloutHalted })
	r := lastRollout(st)
	wave1 := map[string]bool{}
	for _, s := range r.Waves[0].Stores {
		wave1[s] = true
	}
	if len(wave1) != 3 || r.Waves[0].Counts == nil || r.Waves[0].Counts.Failed != 6 || !strings.Contains(r.Reason, "threshold") {
		t.Fatalf("v3 rollout %+v (wave 1 %+v)", r, r.Waves[0].Counts)
	}
	// HQ keeps what a halted rollout's last reports were; wait until the
	// second wave's devices have polled again so "never got v3" is tested.
	time.Sleep(7 * time.Second)
	st = status()
	for _, ds := range st.Devices {
		d := devices[slices.IndexFunc(devices, func(d *device) bool { return d.id == ds.ID })]
		state := readFleetState(t, d.dir)
		if wave1[ds.Store] {
			if ds.Report.State != "FAILED" || ds.Report.Version != v3 || !strings.Contains(ds.Report.Error, "gun") {
				t.Errorf("%s (wave 1) reported %+v", ds.ID, ds.Report)
			}
			if !strings.Contains(d.stderr.String(), "new config reverted") {
				t.Errorf("%s did not log the revert:\n%s", ds.ID, d.stderr.String())
			}
		} else {
			if ds.Served == nil || ds.Served.Version != v2 || ds.Report.State != "APPLIED" || ds.Report.Version != v2 {
				t.Errorf("%s (wave 2) served %+v, reported %+v", ds.ID, ds.Served, ds.Report)
			}
			if strings.Contains(d.stderr.String(), "ttyPDA-NOPE") {
				t.Errorf("%s (wave 2) saw the bad config:\n%s", ds.ID, d.stderr.String())
			}
		}
		// Either way the device runs its last good config, v2.
		if state.AppliedVersion != v2 {
			t.Errorf("%s runs version %d, want %d", ds.ID, state.AppliedVersion, v2)
		}
	}

	// 4. The fix reaches everyone, the devices that failed included.
	v4 := publish(chainV4)
	waitFor("v4 applied everywhere", allReport("APPLIED", v4))
	for _, d := range devices {
		select {
		case <-d.done:
			t.Errorf("%s exited:\n%s", d.id, d.stderr.String())
		default:
		}
		if s := readFleetState(t, d.dir); s.AppliedVersion != v4 {
			t.Errorf("%s state: applied %d, want %d", d.id, s.AppliedVersion, v4)
		}
	}
	t.Logf("%d agents: 4 publishes (v%d…v%d), one halted at %d failed in wave 1, %s in all",
		fleetDevices, v1, v4, r.Waves[0].Counts.Failed, time.Since(started).Round(time.Millisecond))
}

// readFleetState reads a device's fleet client state file.
func readFleetState(t *testing.T, dataDir string) client.State {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dataDir, "fleet", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s client.State
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&s); err != nil {
		t.Fatalf("%s: %v", dataDir, err)
	}
	return s
}
