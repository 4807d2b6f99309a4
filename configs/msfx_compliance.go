package configs

import "time"

// validate checks msfx.compliance (only when 码上放心 is enabled).
func (m MsfxCompliance) validate(p *problems) {
	if m.Refresh != 0 && m.Refresh < time.Minute {
		p.add("msfx.compliance.refresh", "must be 0 (off) or at least 1m; got %s", m.Refresh)
	}
	if m.RateDays < 1 || m.RateDays > 366 {
		p.add("msfx.compliance.rate_days", "must be between 1 and 366; got %d", m.RateDays)
	}
	if m.RateFormula != "pooled" && m.RateFormula != "mean" {
		p.add("msfx.compliance.rate_formula", "must be pooled or mean; got %q", m.RateFormula)
	}
	if m.ServiceBusiness < 1 || m.ServiceService < 1 {
		p.add("msfx.compliance.service_business", "service_business and service_service must be positive (1 and 11 per the SDK)")
	}
	if m.AlarmDays < 0 || m.AlarmDays > 366 {
		p.add("msfx.compliance.alarm_days", "must be between 0 and 366; got %d", m.AlarmDays)
	}
}
