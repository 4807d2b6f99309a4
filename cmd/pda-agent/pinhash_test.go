package main

import (
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/pinhash"
)

func TestPINHashCommand(t *testing.T) {
	out, errOut, code := runBinary(t, cleanEnv(), "2468\n", "pin-hash")
	h := strings.TrimSpace(out)
	if code != 0 || strings.Contains(out+errOut, "2468") {
		t.Fatalf("exit %d: %q %q", code, out, errOut)
	}
	if ok, err := pinhash.Verify(h, "2468"); err != nil || !ok {
		t.Fatalf("hash %q does not verify: %v", h, err)
	}
	if _, _, code := runBinary(t, cleanEnv(), "12\n", "pin-hash"); code == 0 {
		t.Fatal("a 2-character PIN was hashed")
	}
}
