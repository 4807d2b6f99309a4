//go:build !windows

package main

import (
	"strings"
	"testing"
)

func TestServiceIsWindowsOnly(t *testing.T) {
	_, errOut, code := runCLI(t, "", "service", "install", "--config", "x.yaml")
	if code != exitUsage || !strings.Contains(errOut, "Windows") || !strings.Contains(errOut, "systemd") {
		t.Fatalf("service on %s: exit %d %s", "linux", code, errOut)
	}
}
