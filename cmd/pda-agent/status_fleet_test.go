package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/fleet/client"
)

func TestPrintFleetExpiredAndRefused(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	// state.json as the fleet client writes it.
	state := `{"applied_version": 3, "applied_hash": "h3", "applied_not_after": "2026-12-01T00:00:00Z",
 "applied_catalogue": "` + strings.Repeat("c", 64) + `", "applied_catalogue_version": 2,
 "last_failed_hash": "h4", "last_failed_error": "refused: bundle has expired (its not_after is past): not_after 2026-11-30T00:00:00Z",
 "last_failed_at": "2026-12-07T11:00:00Z", "pending_report": null}`
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := client.ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	printFleet(&out, st, nil, now)
	for _, want := range []string{"catalogue v2 (cccccccccccc)", "applied bundle v3 EXPIRED", "stays in force", "has expired"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
	// Before not_after, nothing is said about expiry.
	out.Reset()
	printFleet(&out, st, nil, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	if strings.Contains(out.String(), "EXPIRED") {
		t.Errorf("expired before not_after:\n%s", out.String())
	}
	out.Reset()
	printFleet(&out, client.State{}, errors.New("fleet: read state: permission denied"), now)
	if !strings.Contains(out.String(), "permission denied") {
		t.Errorf("unreadable state not said: %q", out.String())
	}
	if st, err := client.ReadState(t.TempDir()); err != nil || st.AppliedVersion != 0 {
		t.Errorf("no state file: %+v %v", st, err)
	}
}
