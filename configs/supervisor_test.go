package configs

import (
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/pinhash"
)

func TestSupervisorPINHash(t *testing.T) {
	h, err := pinhash.Hash("2468", 1000)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadBytes("test", []byte("device: {id: T1}\nsessions: {supervisor_pin_hash: '"+h+"'}\n"), nil)
	if err != nil || cfg.Sessions.SupervisorPINHash != h {
		t.Fatalf("a valid hash: %v", err)
	}
	if _, err := LoadBytes("test", []byte("device: {id: T1}\nsessions: {supervisor_pin_hash: '2468'}\n"), nil); err == nil ||
		!strings.Contains(err.Error(), "sessions.supervisor_pin_hash") {
		t.Fatalf("a PIN in place of its hash: %v", err)
	}
}
