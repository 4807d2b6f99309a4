package main

import (
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/agent"
)

func TestMsfxComplianceLine(t *testing.T) {
	m := &agent.MsfxFigures{
		VerificationRate: &agent.VerificationRate{Rate: 5.0 / 9, UpstreamBills: 5, UpstreamReceived: 2, OwnBills: 4, OwnDelivered: 3,
			Since: "2026-11-07", Until: "2026-12-07"},
		Service:         &agent.ServicePeriod{EndDate: "2026-12-27 23:59:59", DaysLeft: 20, Alarm: true},
		KeyVarietyList:  &agent.KeyVarietyInfo{Version: "12cd83a96bd8", Products: 2},
		ChangedUpstream: []agent.ChangedUpstream{{BillCode: "M1"}},
	}
	got := msfxComplianceLine(m)
	for _, want := range []string{"验证率 55.6% (upstream 2/5, own 3/4", "service ends 2026-12-27 23:59:59 (20 days)",
		"key-variety list 12cd83a96bd8 (2)", "1 upstream bill(s) changed"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
}
