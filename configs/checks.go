package configs

import "time"

// Checks are questions the agent asks the platform about packs while a
// bill is being scanned.
type Checks struct {
	// Online asks 码上放心 (lsyd.query.codedetail) about each accepted pack,
	// per bill kind: off, warn (the verdict is shown) or refuse (a bill
	// with a bad pack cannot be finished). Without msfx.enabled nothing is
	// checked (the agent logs it at start).
	Online OnlineChecks `mapstructure:"online"`
	// Window gathers the codes scanned within it into one query.
	Window time.Duration `mapstructure:"window"`
	// Rate is the checks' own call budget (calls per second, on top of the
	// AppKey's msfx.rate that uploads share): checks never take more than
	// this, so uploads of finished bills keep the rest.
	Rate float64 `mapstructure:"rate"`
	// CacheTTL and CacheSize bound the per-code answers kept.
	CacheTTL  time.Duration `mapstructure:"cache_ttl"`
	CacheSize int           `mapstructure:"cache_size"`
}

// OnlineChecks is the check mode per bill kind.
type OnlineChecks struct {
	Sale    string `mapstructure:"sale"`    // 3xx retail sales
	Return  string `mapstructure:"return"`  // 116 customer returns
	Receive string `mapstructure:"receive"` // 1xx inbound bills
	Ship    string `mapstructure:"ship"`    // 2xx outbound bills
}

// Check modes.
const (
	CheckOff    = "off"
	CheckWarn   = "warn"
	CheckRefuse = "refuse"
)

// Any tells whether some bill kind is checked.
func (o OnlineChecks) Any() bool {
	for _, m := range []string{o.Sale, o.Return, o.Receive, o.Ship} {
		if m == CheckWarn || m == CheckRefuse {
			return true
		}
	}
	return false
}

func (c *Config) validateChecks(p *problems) {
	ch := c.Checks
	for key, m := range map[string]string{"sale": ch.Online.Sale, "return": ch.Online.Return,
		"receive": ch.Online.Receive, "ship": ch.Online.Ship} {
		if !oneOf(m, CheckOff, CheckWarn, CheckRefuse) {
			p.add("checks.online."+key, "must be off, warn or refuse; got %q", m)
		}
	}
	if ch.Window < 0 || ch.Window > 5*time.Second {
		p.add("checks.window", "must be between 0 and 5s (the verdict should follow the scan within seconds); got %s", ch.Window)
	}
	if ch.Rate <= 0 || ch.Rate > 10 {
		p.add("checks.rate", "must be above 0 and at most 10 calls per second; got %g", ch.Rate)
	}
	if ch.Online.Any() && c.Msfx.Enabled && c.Msfx.Rate > 0 && ch.Rate >= c.Msfx.Rate {
		p.add("checks.rate", "must be below msfx.rate (%g calls per second for the AppKey), so uploads of finished bills keep calls; got %g", c.Msfx.Rate, ch.Rate)
	}
	if ch.CacheTTL < time.Second {
		p.add("checks.cache_ttl", "must be at least 1s; got %s", ch.CacheTTL)
	}
	if ch.CacheSize < 1 || ch.CacheSize > 1000000 {
		p.add("checks.cache_size", "must be between 1 and 1000000 codes; got %d", ch.CacheSize)
	}
}
