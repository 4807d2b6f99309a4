package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/queue"
)

// The CLI talks to the agent of its own config. When another agent holds
// api.listen (this one's API could not bind), it says so instead of
// printing the other agent's answers or its 401.
func TestCLIRefusesAnotherAgentsAPI(t *testing.T) {
	other := startInProcessAgent(t, t.TempDir()) // device T1

	// Another device's config on the same port, its agent running (it
	// holds its queue file) without an API.
	dir := t.TempDir()
	cfg := writeFile(t, t.TempDir(), "config.yaml", fmt.Sprintf("device: {id: T2}\ndata_dir: %s\napi: {listen: %q}\nfeedback: {log: false}\n", dir, other.addr))
	c, err := configs.Load(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	held, err := queue.Open(c.QueuePath(), queueOptions(c))
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"status"}, {"queue", "list"}, {"diagnose", "81012350000000157474"}} {
		out, errOut, code := runCLI(t, "", append(args, "--config", cfg)...)
		if code == 0 {
			t.Fatalf("%s: exit 0 against another agent:\n%s", args, out)
		}
		for _, want := range []string{"device T1, not T2", "did not start"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%s: the error does not say %q:\n%s", args, want, errOut)
			}
		}
		if strings.Contains(out+errOut, "401") {
			t.Errorf("%s: prints the other agent's 401:\n%s%s", args, out, errOut)
		}
	}
	held.Close()

	// With the agent stopped, its file is read, as always.
	out, errOut, _ := runCLI(t, "", "status", "--config", cfg)
	if !strings.Contains(out, "T2") {
		t.Errorf("status of the stopped T2 through its file:\n%s%s", out, errOut)
	}

	// The same device id in another data_dir (a test instance of the
	// same store): the token is refused, and the CLI says what that means.
	dir3 := t.TempDir()
	cfg3 := writeFile(t, t.TempDir(), "config.yaml", fmt.Sprintf("device: {id: T1}\ndata_dir: %s\napi: {listen: %q}\nfeedback: {log: false}\n", dir3, other.addr))
	c3, err := configs.Load(cfg3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(c3.APITokenFile()), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c3.APITokenFile(), []byte("not-the-other-agents-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCLI(t, "", "status", "--config", cfg3)
	if code == 0 || !strings.Contains(errOut, "refused the token") || !strings.Contains(errOut, "not the agent of this config") {
		t.Errorf("status with another agent's port and a refused token: exit %d\n%s", code, errOut)
	}
}
