package configs

import (
	"fmt"
	"github.com/pda-agent/pda-agent/pinhash"
	"maps"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pda-agent/pda-agent/billtype"
)

var (
	deviceIDRE  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,16}$`)
	infnoRE     = regexp.MustCompile(`^[0-9]{4}[A-Z]?$`)
	nameRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	alnumRE     = regexp.MustCompile(`^[A-Za-z0-9]*$`)
	digitsRE    = regexp.MustCompile(`^[0-9]{1,32}$`)
	entIDRE     = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)
	fixmedinsRE = regexp.MustCompile(`^[A-Z0-9]{12}$`)
	admdvsRE    = regexp.MustCompile(`^[0-9]{6}$`)
)

// Validate checks every key and returns one problem per bad key. It never
// touches the network and reads the disk only to resolve device symlinks,
// so `pda-agent validate` is safe as a systemd ExecStartPre.
func (c *Config) Validate() []FieldError {
	var p problems

	if !deviceIDRE.MatchString(c.Device.ID) {
		p.add("device.id", "must be 1-16 of A-Z a-z 0-9 _ - (it starts every bill_code, so keep it unique per device in the store); got %q", c.Device.ID)
	}
	if c.DataDir == "" {
		p.add("data_dir", "must not be empty")
	}
	if !oneOf(c.Log.Level, "debug", "info", "warn", "error") {
		p.add("log.level", "must be debug, info, warn or error; got %q", c.Log.Level)
	}
	if !oneOf(c.Log.Format, "text", "json") {
		p.add("log.format", "must be text or json; got %q", c.Log.Format)
	}
	c.validateLog(&p)

	q := c.Queue
	if q.MaxSize != 0 && q.MaxSize < 1<<20 {
		p.add("queue.max_size", "must be 0 (no cap) or at least 1MiB; got %s", q.MaxSize)
	}
	if q.Headroom < 64<<10 {
		p.add("queue.headroom", "must be at least 64KiB; got %s", q.Headroom)
	} else if q.MaxSize != 0 && q.Headroom > q.MaxSize/2 {
		p.add("queue.headroom", "must be at most half of queue.max_size (%s); got %s", q.MaxSize, q.Headroom)
	}
	if q.MaxBatch < 1 || q.MaxBatch > 100000 {
		p.add("queue.max_batch", "must be between 1 and 100000; got %d", q.MaxBatch)
	}
	if q.CompactFreeRatio < 0 || q.CompactFreeRatio > 1 {
		p.add("queue.compact_free_ratio", "must be between 0 (never) and 1; got %g", q.CompactFreeRatio)
	}
	if q.RetainBills < time.Hour {
		p.add("queue.retain_bills", "must be at least 1h; got %s", q.RetainBills)
	}
	if q.RetainLedger < q.RetainBills {
		p.add("queue.retain_ledger", "must be at least queue.retain_bills (%s): the ledger refuses re-sales; got %s", q.RetainBills, q.RetainLedger)
	}
	if q.PersonalRetention < 0 || q.PersonalRetention > q.RetainBills {
		p.add("queue.personal_retention", "must be between 0 (erase when delivered) and queue.retain_bills (%s); got %s", q.RetainBills, q.PersonalRetention)
	}
	if q.PruneInterval < time.Minute {
		p.add("queue.prune_interval", "must be at least 1m; got %s", q.PruneInterval)
	}

	c.validateCodes(&p)
	c.validateSessions(&p)
	c.validateChecks(&p)
	c.validateReconcile(&p)
	c.validateScanners(&p)
	c.validateListeners(&p)
	c.validateDevicePaths(&p)

	u := c.Upload
	if u.Lease < 5*time.Second {
		p.add("upload.lease", "must be at least 5s (longer than one request); got %s", u.Lease)
	}
	if u.InitialBackoff <= 0 {
		p.add("upload.initial_backoff", "must be positive; got %s", u.InitialBackoff)
	}
	if u.MaxBackoff < u.InitialBackoff {
		p.add("upload.max_backoff", "must be at least upload.initial_backoff (%s); got %s", u.InitialBackoff, u.MaxBackoff)
	}
	if u.Multiplier < 1 {
		p.add("upload.multiplier", "must be at least 1; got %g", u.Multiplier)
	}
	if u.Jitter < 0 || u.Jitter > 1 {
		p.add("upload.jitter", "must be between 0 and 1; got %g", u.Jitter)
	}

	if c.Msfx.Enabled {
		m := c.Msfx
		validatePolicy(&p, "msfx", m.Policy)
		for i, t := range m.BillTypes {
			if billtype.Known(t) && !billtype.Msfx(t) {
				p.add(fmt.Sprintf("msfx.bill_types[%d]", i), "%d %s is the agent's own bill (医保 only); 码上放心 has no such bill type", t, billtype.Name(t))
			}
		}
		if u, err := url.Parse(m.Gateway); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add("msfx.gateway", "must be an http:// or https:// URL with a host; got %q", m.Gateway)
		}
		if m.AppKey == "" {
			p.add("msfx.app_key", "must not be empty when msfx.enabled")
		}
		if m.AppSecret.Value() == "" {
			p.add("msfx.app_secret", "must not be empty when msfx.enabled (set it with PDA_MSFX_APP_SECRET rather than in the file)")
		}
		if !oneOf(m.SignMethod, "md5", "hmac", "hmac-sha256") {
			p.add("msfx.sign_method", "must be md5, hmac or hmac-sha256; got %q", m.SignMethod)
		}
		if !digitsRE.MatchString(m.RefEntID) {
			p.add("msfx.ref_ent_id", "must be the store's own ref_ent_id (digits, e.g. 320000000000127971); got %q", m.RefEntID)
		}
		if !entIDRE.MatchString(m.EntID) {
			p.add("msfx.ent_id", "must be the store's own 32-hex ent_id; got %q", m.EntID)
		}
		if m.MaxCodesRetail < 1 || m.MaxCodesRetail > 10000 {
			p.add("msfx.max_codes_retail", "must be between 1 and 10000; got %d", m.MaxCodesRetail)
		}
		if m.MaxCodesInOut < 1 || m.MaxCodesInOut > 10000 {
			p.add("msfx.max_codes_inout", "must be between 1 and 10000; got %d", m.MaxCodesInOut)
		}
		if m.Timeout <= 0 {
			p.add("msfx.timeout", "must be positive; got %s", m.Timeout)
		}
		if m.PollInterval < time.Second {
			p.add("msfx.poll_interval", "must be at least 1s; got %s", m.PollInterval)
		}
		m.Compliance.validate(&p)
	}
	if c.NHSA.Enabled {
		c.validateNHSA(&p)
	}
	c.NHSA.validateTables(&p)
	if c.Fleet.Enabled {
		f := c.Fleet
		if u, err := url.Parse(f.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add("fleet.url", "must be pda-hq's (or the bundle server's) http(s) URL; got %q", f.URL)
		}
		if f.HQKey == "" {
			p.add("fleet.hq_key", "must be HQ's public key (pda-hq keys gen prints it)")
		}
		if f.ReportURL != "" && !f.Static {
			p.add("fleet.report_url", "is for static mode only (pda-hq takes reports itself)")
		}
		if f.ReportInterval < 0 || f.ReportInterval > time.Hour {
			p.add("fleet.report_interval", "must be from 0 (every interval) to 1h: HQ marks a device SILENT after 3 × its poll interval; got %s", f.ReportInterval)
		}
		if f.Interval < 5*time.Second || f.Jitter < 0 || f.Jitter > 1 || f.MaxBackoff < f.Interval || f.Timeout <= 0 || f.HealthTimeout <= 0 {
			p.add("fleet.interval", "interval ≥ 5s, jitter 0..1, max_backoff ≥ interval, timeout and health_timeout positive")
		}
	}
	if c.API.Enabled {
		host, port, err := net.SplitHostPort(c.API.Listen)
		ip := net.ParseIP(host)
		switch {
		case err != nil:
			p.add("api.listen", "must be host:port, e.g. 127.0.0.1:8700; got %q", c.API.Listen)
		case !validPort(port):
			p.add("api.listen", "port must be a number from 0 to 65535; got %q", c.API.Listen)
		case !c.API.AllowRemote && host != "localhost" && (ip == nil || !ip.IsLoopback()):
			p.add("api.listen", "%q is not a loopback address: set api.allow_remote to listen beyond this device", c.API.Listen)
		}
		c.validateLAN(&p)
		if c.API.MetricsPublic && c.API.AllowRemote {
			// Sales volumes and queue state are the chain's business, not
			// the store network's.
			p.add("api.metrics_public", "cannot be true with api.allow_remote: metrics would be readable by anyone on the network; scrape with the bearer token instead")
		}
	}
	if c.API.LAN.Enabled && !c.API.Enabled {
		p.add("api.lan.enabled", "needs api.enabled: the LAN listener serves the local API's page and API to handhelds")
	}
	if c.Webhook.Enabled {
		w := c.Webhook
		validatePolicy(&p, "webhook", w.Policy)
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add("webhook.url", "must be an http:// or https:// URL with a host; got %q", w.URL)
		}
		if w.KeyID == "" {
			p.add("webhook.key_id", "must not be empty when webhook.enabled")
		}
		if len(w.Secret.Value()) < 16 {
			p.add("webhook.secret", "must be at least 16 characters when webhook.enabled (set it with PDA_WEBHOOK_SECRET rather than in the file)")
		}
		if w.Timeout <= 0 {
			p.add("webhook.timeout", "must be positive; got %s", w.Timeout)
		}
	}
	return p.list
}

// validateLog checks the log file keys. Rotation counts whole MiB and
// whole days (the rotator's units), so other values are refused rather
// than rounded behind the operator's back.
func (c *Config) validateLog(p *problems) {
	l := c.Log
	if l.File != "" && !absPath(l.File) {
		p.add("log.file", "must be an absolute path (the service's working directory is not yours); got %q", l.File)
	}
	if l.MaxSize < 1<<20 || l.MaxSize%(1<<20) != 0 {
		p.add("log.max_size", "must be a whole number of MiB, at least 1MiB; got %s", l.MaxSize)
	}
	if l.MaxBackups < 0 || l.MaxBackups > 1000 {
		p.add("log.max_backups", "must be between 0 (no limit by count) and 1000; got %d", l.MaxBackups)
	}
	if l.MaxAge < 0 || l.MaxAge%(24*time.Hour) != 0 {
		p.add("log.max_age", "must be 0s or whole days written in hours (168h = 7 days); got %s", l.MaxAge)
	}
	if l.File != "" && l.MaxBackups == 0 && l.MaxAge == 0 {
		p.add("log.max_backups", "and log.max_age cannot both be 0 with log.file set: rotated logs would fill the disk")
	}
}

// absPath accepts the absolute paths of both systems: a config may be
// checked on another OS than its device's (HQ on Linux renders the
// configs of Windows counter PCs).
func absPath(p string) bool {
	drive := len(p) >= 3 && p[0]|0x20 >= 'a' && p[0]|0x20 <= 'z' && p[1] == ':' && (p[2] == '\\' || p[2] == '/')
	return drive || strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\\`)
}

func (c *Config) validateNHSA(p *problems) {
	n := c.NHSA
	validatePolicy(p, "nhsa", n.Policy)
	for i, t := range n.BillTypes {
		if t != 102 && t != 202 && t != 321 && t != 116 && t != billtype.StockTake && !billtype.StockChange(t) {
			p.add(fmt.Sprintf("nhsa.bill_types[%d]", i), "the 医保 进销存 interfaces take 102 (3503), 202 (3504), 321 (3505), 116 (3506), 901 盘存 (3501) and the stock changes 111, 112, 113, 104, 203, 205, 214, 215, 216, 217 (3502); got %d", t)
		}
	}
	if !oneOf(n.Env, "test", "prod") {
		p.add("nhsa.env", "must be test or prod; got %q", n.Env)
		return
	}
	key := "nhsa." + n.Env
	pr := n.Active()
	if u, err := url.Parse(pr.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add(key+".url", "must be the gateway's http(s) callService URL for the %s environment; got %q", n.Env, pr.URL)
	}
	if pr.RecerSysCode == "" || len(pr.RecerSysCode) > 10 {
		p.add(key+".recer_sys_code", "must be the 接收方系统代码 the province assigned (1-10 characters, e.g. MBS_LOCAL); got %q", pr.RecerSysCode)
	}
	switch n.Envelope {
	case "plain":
	case "sm2sm4":
		if len(pr.AppID) < 16 {
			p.add(key+".app_id", "must be the channel id (appId, at least 16 characters) from the 反馈单")
		}
		if pr.AppSecret.Value() == "" {
			p.add(key+".app_secret", "must be the 数字密钥 from the 反馈单 (set it with PDA_NHSA_%s_APP_SECRET)", strings.ToUpper(n.Env))
		}
		if (pr.ChannelKey.Value() == "") == (pr.ChannelKeyFile == "") {
			p.add(key+".channel_key", "give exactly one of channel_key and channel_key_file (the channel's SM2 private key; `pda-agent keys gen` makes one)")
		}
		if pr.PlatformKey == "" {
			p.add(key+".platform_key", "must be the platform's SM2 public key (平台公钥) from the 反馈单")
		}
	default:
		p.add("nhsa.envelope", "must be plain or sm2sm4; got %q", n.Envelope)
	}
	switch n.GatewayAuth {
	case "none":
	case "x-tif":
		if pr.PaasID == "" || pr.PaasToken.Value() == "" {
			p.add(key+".paas_id", "the x-tif gateway scheme needs paas_id and paas_token")
		}
	case "api":
		if pr.APIAccessKey == "" || pr.APISecretKey.Value() == "" || pr.APIName == "" || pr.APIVersion == "" {
			p.add(key+".api_access_key", "the api gateway scheme needs api_name, api_version, api_access_key and api_secret_key")
		}
	default:
		p.add("nhsa.gateway_auth", "must be none, x-tif or api; got %q", n.GatewayAuth)
	}
	if !fixmedinsRE.MatchString(n.FixmedinsCode) {
		p.add("nhsa.fixmedins_code", "must be the 12-character 定点医药机构编号 (e.g. P37020304446); got %q", n.FixmedinsCode)
	}
	if n.FixmedinsName == "" {
		p.add("nhsa.fixmedins_name", "must not be empty")
	}
	if !admdvsRE.MatchString(n.MdtrtareaAdmvs) {
		p.add("nhsa.mdtrtarea_admvs", "must be the 6-digit 医保区划; got %q", n.MdtrtareaAdmvs)
	}
	if n.InsuplcAdmdvs != "" && !admdvsRE.MatchString(n.InsuplcAdmdvs) {
		p.add("nhsa.insuplc_admdvs", "must be empty or a 6-digit 医保区划; got %q", n.InsuplcAdmdvs)
	}
	if n.Opter == "" || len(n.Opter) > 30 || n.OpterName == "" {
		p.add("nhsa.opter", "opter (经办人/终端编号, ≤ 30) and opter_name must be set")
	}
	if !oneOf(n.OpterType, "1", "2", "3") {
		p.add("nhsa.opter_type", "must be 1 (经办人), 2 (自助终端) or 3 (移动终端); got %q", n.OpterType)
	}
	if n.MsgIDSlot < 0 || n.MsgIDSlot > 9 {
		p.add("nhsa.msgid_slot", "must be 0-9 (one per device of the pharmacy); got %d", n.MsgIDSlot)
	}
	if !oneOf(n.Sales, "insured", "all") {
		p.add("nhsa.sales", "must be insured or all; got %q", n.Sales)
	}
	if n.Accepts(321) && (n.PharName == "" || n.PharPracCertNo == "") {
		p.add("nhsa.phar_name", "3505 sales need the store pharmacist's phar_name and phar_prac_cert_no")
	}
	if n.HoldRetry < time.Minute {
		p.add("nhsa.hold_retry", "must be at least 1m; got %s", n.HoldRetry)
	}
	if n.Timeout <= 0 {
		p.add("nhsa.timeout", "must be positive; got %s", n.Timeout)
	}
	if m := n.Active().MaxInputChars; m < 2000 {
		p.add(key+".max_input_chars", "must be at least 2000 (the channel allows 40000); got %d", m)
	}
	if n.InputShape != "list" && n.InputShape != "object" {
		p.add("nhsa.input_shape", "must be list or object; got %q", n.InputShape)
	}
	if len(n.Signtype) > 10 {
		p.add("nhsa.signtype", "must be at most 10 characters (e.g. SM2, SM3); got %q", n.Signtype)
	}
	for _, q := range []struct{ key, v string }{{"nhsa.query.purchase", n.Query.Purchase}, {"nhsa.query.sale", n.Query.Sale}, {"nhsa.query.trace", n.Query.Trace},
		{"nhsa.query.stock_take", n.Query.StockTake}, {"nhsa.query.stock_change", n.Query.StockChange}} {
		if q.v != "" && !infnoRE.MatchString(q.v) {
			p.add(q.key, "must be empty or an infno such as 3508, 3509, 3510, 3511 or 3513; got %q", q.v)
		}
	}
}

// validateTables checks nhsa.defaults and nhsa.verdicts even while 医保
// is off: a chain sets them once for the fleet (HQ bundles), and a bad
// table must be refused at publish, not found when a store turns 医保 on.
func (n NHSA) validateTables(p *problems) {
	for _, k := range slices.Sorted(maps.Keys(n.StockChangeTypes)) {
		key, v := "nhsa.stock_change_types."+k, n.StockChangeTypes[k]
		t, err := strconv.Atoi(k)
		switch {
		case err != nil || !billtype.StockChange(t):
			p.add(key, "not a stock change bill type (111, 112, 113, 104, 203, 205, 214, 215, 216, 217)")
		case v == "" || len([]rune(v)) > 6 || strings.TrimSpace(v) != v:
			p.add(key, "inv_chg_type must be 1-6 characters without spaces (the province's code); got %q", v)
		}
	}
	for _, f := range slices.Sorted(maps.Keys(n.Defaults)) {
		v, key := n.Defaults[f], "nhsa.defaults."+f
		max, ok := NHSADefaultField(f)
		switch {
		case strings.HasPrefix(f, "phar_"):
			p.add(key, "the pharmacist is set as nhsa.%s, not under defaults", f)
		case !ok:
			p.add(key, "not a store-wide 医保 field: defaults take %s (per-sale data comes with each bill)", strings.Join(slices.Sorted(maps.Keys(nhsaDefaultFields())), ", "))
		case strings.TrimSpace(v) == "":
			p.add(key, "must not be empty (leave the key out instead)")
		case utf8.RuneCountInString(v) > max:
			p.add(key, "at most %d characters; got %d", max, utf8.RuneCountInString(v))
		case (f == "rx_circ_flag" || f == "prod_geay_flag") && !oneOf(v, "0", "1"):
			p.add(key, "must be 0 or 1; got %q", v)
		}
	}
	for i, v := range n.Verdicts {
		k := fmt.Sprintf("nhsa.verdicts[%d]", i)
		switch v.Kind {
		case "transient", "permanent", "already", "msgid":
		default:
			p.add(k+".kind", "must be transient, permanent, already or msgid; got %q", v.Kind)
		}
		if len(v.All) == 0 {
			p.add(k+".all", "must list at least one text to match")
		}
		for _, s := range append(append([]string(nil), v.All...), v.Not...) {
			if strings.TrimSpace(s) == "" {
				p.add(k, "an empty text would match every answer")
				break
			}
		}
	}
}

func (c *Config) validateCodes(p *problems) {
	cd := c.Codes
	if len(cd.AllowedKinds) == 0 {
		p.add("codes.allowed_kinds", "must list at least one of msfx20, gs1, other")
	}
	for i, k := range cd.AllowedKinds {
		if !oneOf(k, "msfx20", "gs1", "other") {
			p.add(fmt.Sprintf("codes.allowed_kinds[%d]", i), "must be msfx20, gs1 or other; got %q", k)
		}
	}
	for i, s := range cd.GSSubstitutes {
		if s == "" || alnumRE.MatchString(s) {
			p.add(fmt.Sprintf("codes.gs_substitutes[%d]", i), "must be a non-empty string with a non-alphanumeric character (letters and digits occur in codes); got %q", s)
		}
	}
	if cd.MaxLength < 0 || cd.MaxLength > 1000 {
		p.add("codes.max_length", "must be between 0 (default 200) and 1000; got %d", cd.MaxLength)
	}
	seen := map[string]bool{}
	for i, r := range cd.OtherRules {
		key := fmt.Sprintf("codes.other_rules[%d]", i)
		if r.Name == "" {
			p.add(key+".name", "must not be empty")
		} else if seen[r.Name] {
			p.add(key+".name", "duplicate rule name %q", r.Name)
		}
		seen[r.Name] = true
		if r.Pattern == "" && r.MinLength == 0 && r.MaxLength == 0 {
			p.add(key, "needs a pattern or length bounds, or it would accept anything")
		}
		if _, err := regexp.Compile(r.Pattern); err != nil {
			p.add(key+".pattern", "invalid regular expression: %v", err)
		}
		if r.MinLength < 0 || r.MaxLength < 0 || (r.MaxLength > 0 && r.MinLength > r.MaxLength) {
			p.add(key, "min_length %d and max_length %d must be ≥ 0 with min ≤ max", r.MinLength, r.MaxLength)
		}
	}
	for _, l := range []struct {
		name string
		pats []string
	}{{"codes.credentials", cd.Credentials}, {"codes.payment", cd.Payment}} {
		for i, pat := range l.pats {
			key := fmt.Sprintf("%s[%d]", l.name, i)
			if re, err := regexp.Compile(pat); err != nil {
				p.add(key, "invalid regular expression: %v", err)
			} else if re.MatchString("") {
				p.add(key, "must not match an empty scan, or it would take every code for a non-drug code")
			}
		}
	}
}

func (c *Config) validateSessions(p *problems) {
	s := c.Sessions
	if s.CommandPrefix == "" || s.CommandPrefix[0] >= '0' && s.CommandPrefix[0] <= '9' || s.CommandPrefix[0] == ']' || s.CommandPrefix[0] == '(' {
		p.add("sessions.command_prefix", "must be non-empty and start with a character no trace code starts with (not a digit, ] or (); got %q", s.CommandPrefix)
	}
	if s.DefaultType != 0 && !billtype.Known(s.DefaultType) {
		p.add("sessions.default_type", "must be 0 (refuse codes outside a bill) or a bill type such as 321 (retail) or 102 (purchase); got %d", s.DefaultType)
	}
	if s.SupervisorPINHash != "" {
		if err := pinhash.Valid(s.SupervisorPINHash); err != nil {
			p.add("sessions.supervisor_pin_hash", "%v", err)
		}
	}
	if s.IdleFinish < 0 {
		p.add("sessions.idle_finish", "must not be negative; got %s", s.IdleFinish)
	}
	if s.DefaultPartner != "" && !entIDRE.MatchString(s.DefaultPartner) {
		p.add("sessions.default_partner", "must be empty or the partner's ent_id (32 hex digits); got %q", s.DefaultPartner)
	}
}

func (c *Config) validateScanners(p *problems) {
	names := map[string]bool{}
	stdin := 0
	for i, sc := range c.Scanners {
		key := fmt.Sprintf("scanners[%d]", i)
		if !nameRE.MatchString(sc.Name) {
			p.add(key+".name", "must be 1-32 of a-z 0-9 _ - starting with a letter or digit; got %q", sc.Name)
		} else if names[sc.Name] {
			p.add(key+".name", "duplicate scanner name %q", sc.Name)
		}
		names[sc.Name] = true
		if sc.Session != "" && !nameRE.MatchString(sc.Session) {
			p.add(key+".session", "must be 1-32 of a-z 0-9 _ -; got %q", sc.Session)
		}
		switch sc.Type {
		case "stdin":
			stdin++
			if stdin > 1 {
				p.add(key+".type", "only one stdin scanner is possible")
			}
		case "replay":
			if sc.Path == "" {
				p.add(key+".path", "a replay scanner needs the path of its file")
			}
		case "serial":
			if sc.Serial.Port == "" && sc.Serial.USBVID == "" {
				p.add(key+".serial", "needs port (e.g. /dev/ttyACM0) or usb_vid and usb_pid")
			}
		case "hid":
			if sc.HID.VID == "" || sc.HID.PID == "" {
				p.add(key+".hid", "needs vid and pid (see lsusb)")
			}
		case "camera":
			if sc.Camera.Device == "" {
				p.add(key+".camera.device", "needs the V4L2 device, e.g. /dev/video0")
			}
		case "tcp":
			if sc.TCP.Listen == "" {
				p.add(key+".tcp.listen", "needs host:port, e.g. 127.0.0.1:9100")
			} else if _, port, err := net.SplitHostPort(sc.TCP.Listen); err != nil {
				p.add(key+".tcp.listen", "must be host:port, e.g. 127.0.0.1:9100; got %q", sc.TCP.Listen)
			} else if !validPort(port) {
				p.add(key+".tcp.listen", "port must be a number from 0 to 65535; got %q", sc.TCP.Listen)
			}
		default:
			p.add(key+".type", "must be serial, hid, camera, tcp, stdin or replay; got %q", sc.Type)
		}
		if sc.DedupeWindow < 0 || sc.DedupeWindow > time.Minute {
			p.add(key+".dedupe_window", "must be between 0 (off) and 1m; got %s", sc.DedupeWindow)
		}
		if sc.Echo && sc.Type != "stdin" {
			p.add(key+".echo", "only a stdin scanner echoes results")
		}
	}
}

// validateLAN checks api.lan (served only with the API on): a host:port
// to listen on, and the certificate and key as a pair, since a key without
// its certificate (or the reverse) cannot serve TLS and the agent would
// otherwise make a new pair over one of them.
func (c *Config) validateLAN(p *problems) {
	l := c.API.LAN
	if !l.Enabled {
		return
	}
	if _, port, err := net.SplitHostPort(l.Listen); err != nil {
		p.add("api.lan.listen", "must be host:port, e.g. 0.0.0.0:8743 (every interface) or this device's Wi-Fi address; got %q", l.Listen)
	} else if !validPort(port) {
		p.add("api.lan.listen", "port must be a number from 0 to 65535; got %q", l.Listen)
	}
	if (l.CertFile == "") != (l.KeyFile == "") {
		set, unset := "api.lan.cert_file", "api.lan.key_file"
		if l.CertFile == "" {
			set, unset = unset, set
		}
		p.add(unset, "must be set together with %s (a certificate and its key), or leave both empty for the agent's own pair in data_dir", set)
	}
}

// validPort is a TCP port number; 0 lets the system pick one.
func validPort(port string) bool {
	_, err := strconv.ParseUint(port, 10, 16)
	return err == nil
}

// listener is a TCP listen address from the config and its key.
type listener struct {
	key  string
	host string // "" for every address
	port string
}

// validateListeners refuses two listeners on one port of one address. The
// metrics are served on api.listen, so the API and TCP scanners are all
// the listeners there are. A wildcard host (empty, 0.0.0.0, ::) takes the
// port on every address (Go listens dual-stack), so it clashes with any
// host on the same port; localhost is 127.0.0.1 and ::1.
func (c *Config) validateListeners(p *problems) {
	var ls []listener
	add := func(key, addr string) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil || !validPort(port) || port == "0" {
			return // reported where the key is checked; port 0 never clashes
		}
		n, _ := strconv.Atoi(port)
		ls = append(ls, listener{key: key, host: normalHost(host), port: strconv.Itoa(n)})
	}
	if c.API.Enabled {
		add("api.listen", c.API.Listen)
	}
	for i, sc := range c.Scanners {
		if sc.Type == "tcp" {
			add(fmt.Sprintf("scanners[%d].tcp.listen", i), sc.TCP.Listen)
		}
	}
	if c.API.Enabled && c.API.LAN.Enabled {
		// Last, so that its clashes are reported under its own key.
		add("api.lan.listen", c.API.LAN.Listen)
	}
	for i, l := range ls {
		for _, prev := range ls[:i] {
			if l.port == prev.port && hostsOverlap(l.host, prev.host) {
				p.add(l.key, "clashes with %s: both listen on port %s of %s; give each its own port", prev.key, l.port, describeHosts(l.host, prev.host))
				break
			}
		}
	}
}

// normalHost puts a listen host in one spelling: "" for any address,
// "localhost", an IP's canonical text, or a lower-case name.
func normalHost(h string) string {
	if ip := net.ParseIP(h); ip != nil {
		if ip.IsUnspecified() {
			return ""
		}
		return ip.String()
	}
	return strings.ToLower(h)
}

func hostsOverlap(a, b string) bool {
	switch {
	case a == "" || b == "" || a == b:
		return true
	case a == "localhost":
		return b == "127.0.0.1" || b == "::1"
	case b == "localhost":
		return a == "127.0.0.1" || a == "::1"
	}
	return false
}

func describeHosts(a, b string) string {
	if a == "" || b == "" {
		return "every address"
	}
	if a != "localhost" {
		return a
	}
	return b
}

// validateDevicePaths refuses two scanners on one device: the same serial
// port or camera through any symlink (udev's /dev/serial/by-id links
// included), or serial scanners selecting the same USB device. Two
// sources on one port would split its codes between them.
func (c *Config) validateDevicePaths(p *problems) {
	seen := map[string]string{} // device → key of the first scanner on it
	check := func(key, dev, what string) {
		if prev, ok := seen[dev]; ok {
			p.add(key, "%s is also %s: two scanners on one device would split its codes between them", what, prev)
			return
		}
		seen[dev] = key
	}
	for i, sc := range c.Scanners {
		key := fmt.Sprintf("scanners[%d]", i)
		switch {
		case sc.Type == "serial" && sc.Serial.Port != "":
			check(key+".serial.port", "path:"+resolveDevice(sc.Serial.Port), fmt.Sprintf("%q", sc.Serial.Port))
		case sc.Type == "serial" && sc.Serial.USBVID != "":
			id := strings.ToLower(sc.Serial.USBVID + ":" + sc.Serial.USBPID + ":" + sc.Serial.USBSerial)
			check(key+".serial.usb_vid", "usb:"+id, "USB device "+strings.TrimSuffix(id, ":"))
		case sc.Type == "camera" && sc.Camera.Device != "":
			check(key+".camera.device", "path:"+resolveDevice(sc.Camera.Device), fmt.Sprintf("%q", sc.Camera.Device))
		}
	}
}

// resolveDevice follows symlinks; a device not plugged in now is compared
// by its cleaned path.
func resolveDevice(path string) string {
	if r, err := filepath.EvalSymlinks(path); err == nil {
		return r
	}
	return filepath.Clean(path)
}

func validatePolicy(p *problems, prefix string, pol Policy) {
	for i, t := range pol.BillTypes {
		if !billtype.Known(t) {
			p.add(fmt.Sprintf("%s.bill_types[%d]", prefix, i), "unknown bill type %d", t)
		}
	}
	if pol.Concurrency < 1 || pol.Concurrency > 64 {
		p.add(prefix+".concurrency", "must be between 1 and 64; got %d", pol.Concurrency)
	}
	if pol.Rate < 0 {
		p.add(prefix+".rate", "must be ≥ 0 requests/s (0 = unlimited); got %g", pol.Rate)
	}
	if pol.Burst < 1 {
		p.add(prefix+".burst", "must be at least 1; got %d", pol.Burst)
	}
}

type problems struct{ list []FieldError }

func (p *problems) add(key, format string, args ...any) {
	p.list = append(p.list, FieldError{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func oneOf(s string, options ...string) bool {
	for _, o := range options {
		if s == o {
			return true
		}
	}
	return false
}
