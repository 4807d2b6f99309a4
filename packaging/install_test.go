package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// installScript runs inside a private mount namespace in which /etc, /usr
// and /var are overlays on throw-away directories: install.sh creates its
// user, files and unit there for real, and the machine is untouched when
// the namespace ends. systemctl and udevadm are stubs that log their
// arguments (no systemd runs as PID 1 here). It installs, checks, then
// upgrades over an edited config, and prints what the test asserts.
const installScript = `set -eu
T=$1 STAGE=$2
for d in etc usr var; do
	mkdir -p "$T/up/$d" "$T/work/$d"
	mount -t overlay overlay -o "lowerdir=/$d,upperdir=$T/up/$d,workdir=$T/work/$d" "/$d"
done
export PATH="$T/stub:$PATH"
mkdir -p /etc/udev/rules.d # a device with udev, as PDAs have
echo "== fresh"
sh "$STAGE/install.sh"
echo "== files"
stat -c 'FILE %n %a %U %G' /usr/bin/pda-agent /etc/pda-agent /etc/pda-agent/config.yaml \
	/etc/pda-agent/pda-agent.env /etc/systemd/system/pda-agent.service /etc/udev/rules.d/99-pda-scanners.rules
getent passwd pda-agent | awk -F: '{print "USER", $1, $6, $7}'
id -nG pda-agent | sed 's/^/GROUPS /'
for g in dialout plugdev; do getent group "$g" >/dev/null && echo "GROUP $g"; done
/usr/bin/pda-agent version | sed 's/^/VERSION /'
# The example is a valid start; the service user reads it, others not.
set +e
runuser -u pda-agent -- /usr/bin/pda-agent validate --config /etc/pda-agent/config.yaml >/dev/null 2>&1
echo "EXAMPLE_VALIDATE $?"
runuser -u nobody -- cat /etc/pda-agent/config.yaml >/dev/null 2>&1
echo "NOBODY_READS $?"
set -e
printf 'device: {id: PDA-T1}\n' >/etc/pda-agent/config.yaml
echo "== upgrade"
sh "$STAGE/install.sh"
cat /etc/pda-agent/config.yaml | sed 's/^/CONFIG /'
set +e
runuser -u pda-agent -- /usr/bin/pda-agent validate --config /etc/pda-agent/config.yaml >/dev/null 2>&1
echo "VALIDATE $?"
`

// TestInstallScript runs the shipped install.sh as a store's technician
// would, from an unpacked archive, as root: it needs unshare, overlay
// mounts and useradd, and skips itself where they are missing (not root,
// no mount rights).
func TestInstallScript(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("install.sh runs as root (CI runs as root): not run")
	}
	for _, tool := range []string{"unshare", "useradd", "runuser", "getent"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed: install.sh not run", tool)
		}
	}
	tmp := t.TempDir()
	// The archive's layout (scripts/dist.sh).
	stage := filepath.Join(tmp, "stage")
	for src, dst := range map[string]string{
		"install.sh":                       "install.sh",
		unitFile:                           "systemd/pda-agent.service",
		"../configs/99-pda-scanners.rules": "udev/99-pda-scanners.rules",
		"../configs/example.yaml":          "config.example.yaml",
	} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(stage, dst)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(stage, dst), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("go", "build", "-ldflags", "-X main.version=v0.0.0-install-test", "-o", filepath.Join(stage, "pda-agent"), "../cmd/pda-agent").CombinedOutput(); err != nil {
		t.Fatalf("build pda-agent: %v\n%s", err, out)
	}
	stub := filepath.Join(tmp, "stub")
	calls := filepath.Join(tmp, "calls")
	if err := os.MkdirAll(stub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"systemctl", "udevadm"} {
		script := "#!/bin/sh\necho \"" + name + " $*\" >>" + calls + "\n"
		if err := os.WriteFile(filepath.Join(stub, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The probe: can this machine give us a private overlay of /etc?
	if out, err := exec.Command("unshare", "--mount", "--fork", "sh", "-c",
		"mkdir -p "+tmp+"/p/u "+tmp+"/p/w && mount -t overlay overlay -o lowerdir=/etc,upperdir="+tmp+"/p/u,workdir="+tmp+"/p/w /etc").CombinedOutput(); err != nil {
		t.Skipf("no private overlay mounts here (%v: %s): install.sh not run", err, out)
	}

	cmd := exec.Command("unshare", "--mount", "--fork", "sh", "-c", installScript, "install-test", tmp, stage)
	out, err := cmd.CombinedOutput()
	text := string(out)
	if err != nil {
		t.Fatalf("install run failed: %v\n%s", err, text)
	}
	for _, want := range []string{
		"FILE /usr/bin/pda-agent 755 root root",
		"FILE /etc/pda-agent 750 root pda-agent",
		"FILE /etc/pda-agent/config.yaml 640 root pda-agent",
		"FILE /etc/pda-agent/pda-agent.env 600 root root",
		"FILE /etc/systemd/system/pda-agent.service 644 root root",
		"FILE /etc/udev/rules.d/99-pda-scanners.rules 644 root root",
		"USER pda-agent /var/lib/pda-agent /usr/sbin/nologin",
		"GROUP dialout", "GROUP plugdev",
		"VERSION pda-agent v0.0.0-install-test",
		"EXAMPLE_VALIDATE 0",
		"NOBODY_READS 1",              // secrets may sit in the config: not world-readable
		"CONFIG device: {id: PDA-T1}", // the upgrade kept the edited config
		"VALIDATE 0",                  // and the service user can read it
	} {
		if !strings.Contains(text, want) {
			t.Errorf("install run lacks %q:\n%s", want, text)
		}
	}
	log, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	// Fresh: reload only (the config must be edited first); upgrade:
	// enable and restart, which runs the unit's validate.
	for _, want := range []string{"systemctl daemon-reload", "udevadm control --reload-rules", "systemctl enable pda-agent", "systemctl restart pda-agent"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("install.sh did not call %q; calls:\n%s", want, log)
		}
	}
	if strings.Count(string(log), "systemctl restart") != 1 {
		t.Errorf("restarts: want one (the upgrade), calls:\n%s", log)
	}
	if _, err := os.Stat("/etc/pda-agent"); err == nil {
		t.Errorf("the install leaked out of its namespace: /etc/pda-agent exists on the machine")
	}
}
