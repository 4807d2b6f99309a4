package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/gm"
	nhsasb "github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

// binary is the pda-agent built once for the tests that run it as a real
// process.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pda-agent-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "pda-agent")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build pda-agent: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runBinary runs pda-agent with args and returns stdout, stderr and the
// exit status. A run that does not end within a minute is killed (a
// command expected to refuse its input must not hang the suite).
func runBinary(t *testing.T, env []string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

// cleanEnv is the test's environment without PDA_ variables.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PDA_") {
			out = append(out, kv)
		}
	}
	return out
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", "device: {id: P1}\ndata_dir: "+dir+"\n")
	out, _, code := runBinary(t, nil, "", "validate", "--config", good)
	if code != 0 || !strings.Contains(out, "is valid") {
		t.Fatalf("valid config: exit %d, %q", code, out)
	}
	bad := writeFile(t, dir, "bad.yaml", "device: {id: \"no spaces\"}\nqueue: {max_size: huge, typo: 1}\nlog: {level: chatty}\n")
	_, errOut, code := runBinary(t, nil, "", "validate", "--config", bad)
	if code != 78 {
		t.Fatalf("invalid config: exit %d, want 78; %s", code, errOut)
	}
	for _, key := range []string{"device.id", "queue.max_size", "queue.typo", "log.level"} {
		if !strings.Contains(errOut, key+":") {
			t.Errorf("report does not name %s:\n%s", key, errOut)
		}
	}
	// Environment overrides are validated too, and the example is valid.
	_, errOut, code = runBinary(t, []string{"PDA_QUEUE_MAX_BATCH=0"}, "", "validate", "--config", good)
	if code != 78 || !strings.Contains(errOut, "queue.max_batch") {
		t.Fatalf("bad env: exit %d %s", code, errOut)
	}
	example, _ := filepath.Abs("../../configs/example.yaml")
	if _, errOut, code := runBinary(t, nil, "", "validate", "--config", example); code != 0 {
		t.Fatalf("example.yaml: exit %d %s", code, errOut)
	}
	// No config at all is a usage error.
	if _, _, code := runBinary(t, nil, "", "validate"); code != 64 {
		t.Fatalf("no config: exit %d, want 64", code)
	}
}

func TestCodeCheckJSON(t *testing.T) {
	gs1 := "]d2010690123456789217281200" + "10LOT1\x1d21SER9"
	out, _, code := runBinary(t, nil, "", "code", "check", "--json", "81012350000000157474", gs1, "6901234567892")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (one invalid code)", code)
	}
	var reps []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		for _, k := range []string{"input", "kind", "valid", "normalized", "error"} {
			if _, ok := m[k]; !ok {
				t.Errorf("line %q lacks %s", line, k)
			}
		}
		reps = append(reps, m)
	}
	if len(reps) != 3 {
		t.Fatalf("%d lines", len(reps))
	}
	if reps[0]["kind"] != "msfx20" || reps[0]["valid"] != true {
		t.Errorf("msfx: %v", reps[0])
	}
	g := reps[1]
	ais, _ := g["ais"].(map[string]any)
	if g["kind"] != "gs1" || g["gtin"] != "06901234567892" || g["expiry"] != "2028-12-31" || g["lot"] != "LOT1" ||
		g["serial"] != "SER9" || ais["10"] != "LOT1" || ais["17"] != "281200" {
		t.Errorf("gs1: %v", g)
	}
	if reps[2]["valid"] != false || !strings.Contains(reps[2]["error"].(string), "product barcode") {
		t.Errorf("EAN: %v", reps[2])
	}
	// Text mode, codes from stdin, GS written as a substitute.
	out, _, code = runBinary(t, nil, "81012350000000157474\n]d2010690123456789217281200"+"10LOT1<GS>21SER9\n", "code", "check")
	if code != 0 || strings.Count(out, "valid") != 2 || !strings.Contains(out, "msfx20") {
		t.Fatalf("text mode: exit %d %q", code, out)
	}
}

func TestVersion(t *testing.T) {
	out, _, code := runBinary(t, nil, "", "version")
	if code != 0 || !strings.HasPrefix(out, "pda-agent ") {
		t.Fatalf("version: %d %q", code, out)
	}
}

func TestKeysCommands(t *testing.T) {
	dir := t.TempDir()
	platform, _ := nhsasb.TestKeys()
	platformPub := gm.PublicKeyBase64(&platform.PublicKey)
	key := filepath.Join(dir, "ch.key")
	out, _, code := runBinary(t, nil, "", "keys", "gen", "--out", key)
	if code != 0 || !strings.Contains(out, "fingerprint: ") {
		t.Fatalf("gen: %d %s", code, out)
	}
	// import: the secret comes on stdin, never on the command line.
	out, errOut, code := runBinary(t, nil, "0123456789ABCDEF0123456789ABCDEF\n", "keys", "import", "--env", "prod",
		"--dir", dir, "--app-id", "43AF047BBA47FC8A1AE8EFB2AAAAAAAA", "--platform-key", platformPub)
	if code != 0 || !strings.Contains(out, "platform_key: "+platformPub) {
		t.Fatalf("import: %d %s %s", code, out, errOut)
	}
	envFile := filepath.Join(dir, "nhsa-prod.env")
	if fi, err := os.Stat(envFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("env file: %v %v", fi, err)
	}
	if strings.Contains(out, "0123456789ABCDEF0123456789ABCDEF") {
		t.Fatal("import printed the 数字密钥")
	}
	// A channel public key that does not belong to the private key is refused.
	other, _ := gm.GenerateKey(nil)
	mine, _ := gm.ParsePrivateKeyPEM(mustRead(t, key))
	_, errOut, code = runBinary(t, nil, "0123456789ABCDEF0123456789ABCDEF\n", "keys", "import", "--env", "test", "--dir", dir,
		"--app-id", "43AF047BBA47FC8A1AE8EFB2AAAAAAAA", "--platform-key", platformPub,
		"--channel-key", gm.PrivateKeyBase64(mine), "--channel-public-key", gm.PublicKeyBase64(&other.PublicKey))
	if code == 0 || !strings.Contains(errOut, "does not belong") {
		t.Fatalf("mismatched pair: %d %s", code, errOut)
	}
	// show prints public halves and fingerprints only.
	config := writeFile(t, dir, "c.yaml", "device: {id: K1}\ndata_dir: "+dir+"\nnhsa:\n  env: prod\n  prod:\n    channel_key_file: "+key+"\n    platform_key: "+platformPub+"\n")
	out, errOut, code = runBinary(t, nil, "", "keys", "show", "--config", config)
	if code != 0 || !strings.Contains(out, "[prod] (active)") || !strings.Contains(out, gm.PublicKeyBase64(&mine.PublicKey)) ||
		!strings.Contains(out, gm.Fingerprint(&platform.PublicKey)) || strings.Contains(out, gm.PrivateKeyBase64(mine)) {
		t.Fatalf("show: %d %s %s", code, out, errOut)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
