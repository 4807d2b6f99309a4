package main

import (
	"fmt"
	"strings"

	"github.com/pda-agent/pda-agent/agent"
)

// msfxComplianceLine is the status line of the 码上放心 compliance figures:
// 验证率, service end, key-variety list, changed upstream bills.
func msfxComplianceLine(m *agent.MsfxFigures) string {
	var parts []string
	if r := m.VerificationRate; r != nil {
		parts = append(parts, fmt.Sprintf("验证率 %.1f%% (upstream %d/%d, own %d/%d, %s to %s)",
			r.Rate*100, r.UpstreamReceived, r.UpstreamBills, r.OwnDelivered, r.OwnBills, r.Since, r.Until))
	}
	if s := m.Service; s != nil {
		parts = append(parts, fmt.Sprintf("service ends %s (%d days)", s.EndDate, s.DaysLeft))
	}
	if k := m.KeyVarietyList; k != nil {
		parts = append(parts, fmt.Sprintf("key-variety list %s (%d)", k.Version, k.Products))
	}
	if n := len(m.ChangedUpstream); n > 0 {
		parts = append(parts, fmt.Sprintf("%d upstream bill(s) changed after receipt", n))
	}
	if n := len(m.ComplianceErrors); n > 0 {
		parts = append(parts, fmt.Sprintf("%d question(s) failed", n))
	}
	if len(parts) == 0 {
		return "asked " + m.RefreshedAt.Format("2006-01-02 15:04") + ", nothing answered"
	}
	return strings.Join(parts, "; ")
}
