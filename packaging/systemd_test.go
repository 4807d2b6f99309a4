// Package packaging holds the files that install pda-agent (the systemd
// unit, the Linux install script) and the tests that check them.
package packaging

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const unitFile = "systemd/pda-agent.service"

// buildAgent builds pda-agent into dir/usr/bin, where the unit names it.
func buildAgent(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "usr", "bin", "pda-agent")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/pda-agent").CombinedOutput(); err != nil {
		t.Fatalf("build pda-agent: %v\n%s", err, out)
	}
	return bin
}

// verify runs systemd-analyze verify on unit text; any output counts as a
// failure, since verify only warns (exit 0) about unknown keys and values.
func verify(t *testing.T, analyze, dir, name, text string) (string, bool) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(analyze, "verify", "--man=no", path)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err == nil && len(bytes.TrimSpace(out)) == 0
}

// TestUnitVerifies runs systemd-analyze verify on the shipped unit, with
// the binary path pointing at a freshly built pda-agent (verify checks that
// ExecStart exists), and proves the check bites: each broken copy fails.
func TestUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (make systemd-tools installs it as root on Debian): unit not verified")
	}
	data, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := buildAgent(t, dir)
	unit := strings.ReplaceAll(string(data), "/usr/bin/pda-agent", bin)
	if out, ok := verify(t, analyze, dir, "pda-agent.service", unit); !ok {
		t.Fatalf("systemd-analyze verify %s:\n%s", unitFile, out)
	}
	for name, broken := range map[string]string{
		"typo-key.service":     strings.Replace(unit, "ProtectSystem=strict", "ProtectSystm=strict", 1),
		"bad-type.service":     strings.Replace(unit, "Type=simple", "Type=simpel", 1),
		"bad-signal.service":   strings.Replace(unit, "KillSignal=SIGTERM", "KillSignal=SIGTREM", 1),
		"no-binary.service":    strings.Replace(unit, "ExecStart="+bin, "ExecStart="+bin+"-missing", 1),
		"relative.service":     strings.Replace(unit, "ExecStart="+bin, "ExecStart=pda-agent", 1),
		"bad-timeout.service":  strings.Replace(unit, "TimeoutStopSec=30s", "TimeoutStopSec=thirty", 1),
		"bad-section.service":  strings.Replace(unit, "[Service]", "[Servce]", 1),
		"bad-syscalls.service": strings.Replace(unit, "SystemCallFilter=@system-service", "SystemCallFilter=@no-such-group", 1),
	} {
		if broken == unit {
			t.Fatalf("%s: the unit no longer has what this case breaks", name)
		}
		if out, ok := verify(t, analyze, dir, name, broken); ok {
			t.Errorf("%s passed verify; the check would not catch it", name)
		} else {
			t.Logf("%s refused: %s", name, strings.TrimSpace(out))
		}
	}
}

// TestUnitSettings pins what the unit must say: who runs the agent, the
// offline validate before start, restarts, the stop, the sandbox.
func TestUnitSettings(t *testing.T) {
	f, err := os.Open(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			got[k] = append(got[k], v)
		}
	}
	for k, want := range map[string]string{
		"Type":                "simple",
		"User":                "pda-agent",
		"ExecStartPre":        "/usr/bin/pda-agent validate --config /etc/pda-agent/config.yaml",
		"ExecStart":           "/usr/bin/pda-agent run --config /etc/pda-agent/config.yaml",
		"Restart":             "always",
		"KillSignal":          "SIGTERM",
		"ProtectSystem":       "strict",
		"ReadWritePaths":      "/var/lib/pda-agent",
		"StateDirectory":      "pda-agent",
		"SupplementaryGroups": "dialout plugdev",
		"NoNewPrivileges":     "yes",
		"PrivateTmp":          "yes",
	} {
		if v := got[k]; len(v) != 1 || v[0] != want {
			t.Errorf("%s=%v, want %s", k, v, want)
		}
	}
	for _, k := range []string{"RestartSec", "TimeoutStopSec"} {
		if len(got[k]) != 1 {
			t.Errorf("%s missing", k)
		}
	}
}

// TestValidateOpensNoSocket: the unit runs validate before every start, so
// a back end or HQ being away must not matter to it. Traced with strace: a
// config with every destination, the fleet and a TCP scanner makes no
// socket at all.
func TestValidateOpensNoSocket(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace not installed: validate's network silence not traced")
	}
	dir := t.TempDir()
	bin := buildAgent(t, dir)
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(`device: {id: V1}
data_dir: `+filepath.Join(dir, "data")+`
scanners:
  - {name: pos, type: tcp, tcp: {listen: "127.0.0.1:9100"}}
  - {name: gun, type: serial, serial: {port: /dev/ttyACM0}}
msfx: {enabled: true, app_key: "1", app_secret: s, ref_ent_id: "1", ent_id: 3c9f2a5e8b7d4f61a0e2c4b6d8f01357}
webhook: {enabled: true, url: "http://192.0.2.1/erp", key_id: k, secret: "0123456789abcdef0123"}
fleet: {enabled: false, url: "https://hq.example.invalid", hq_key: x}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	trace := filepath.Join(dir, "trace")
	out, err := exec.Command(strace, "-f", "-qq", "-o", trace, "-e", "trace=socket,connect,bind", bin, "validate", "--config", cfg).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "ptrace") || strings.Contains(string(out), "Operation not permitted") {
			t.Skipf("strace cannot trace here: %s", out)
		}
		t.Fatalf("validate: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "is valid") {
		t.Fatalf("validate said %s", out)
	}
	calls, _ := os.ReadFile(trace)
	if bytes.Contains(calls, []byte("socket(")) || bytes.Contains(calls, []byte("connect(")) {
		t.Fatalf("validate used the network:\n%s", calls)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Fatalf("validate touched the data directory: %v", err)
	}
}

// TestInstallScriptParses: the install script is POSIX sh.
func TestInstallScriptParses(t *testing.T) {
	for _, f := range []string{"install.sh", "../scripts/dist.sh", "../scripts/dist-check.sh", "../scripts/install-systemd-analyze.sh", "../scripts/install-cross-cc.sh"} {
		if out, err := exec.Command("sh", "-n", f).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", f, err, out)
		}
	}
}
