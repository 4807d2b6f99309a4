// Package configs holds the agent's typed configuration, its loader and its
// validation, and the YAML files embedded in the binary (the defaults, the
// demo's and the documented example), plus the service files shipped beside
// it.
//
// A Config is loaded once, validated, and then treated as an immutable
// value: components receive the parts they need, and a new config is a new
// value swapped in whole. Nothing reads viper after Load returns (viper is
// not safe for concurrent use).
package configs

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pda-agent/pda-agent/billtype"
)

// Config is the whole agent configuration. Every key is documented in
// example.yaml.
type Config struct {
	Device    Device    `mapstructure:"device"`
	DataDir   string    `mapstructure:"data_dir"`
	Log       Log       `mapstructure:"log"`
	Queue     Queue     `mapstructure:"queue"`
	Codes     Codes     `mapstructure:"codes"`
	Sessions  Sessions  `mapstructure:"sessions"`
	Scanners  []Scanner `mapstructure:"scanners"`
	Feedback  Feedback  `mapstructure:"feedback"`
	Upload    Upload    `mapstructure:"upload"`
	Msfx      Msfx      `mapstructure:"msfx"`
	NHSA      NHSA      `mapstructure:"nhsa"`
	Webhook   Webhook   `mapstructure:"webhook"`
	Catalogue Catalogue `mapstructure:"catalogue"`
	API       API       `mapstructure:"api"`
	Fleet     Fleet     `mapstructure:"fleet"`
	Checks    Checks    `mapstructure:"checks"`
	Reconcile Reconcile `mapstructure:"reconcile"`
}

// Fleet is the chain HQ channel: signed config bundles pulled from pda-hq
// (or any web server holding the exported bundles).
type Fleet struct {
	Enabled bool   `mapstructure:"enabled"`
	URL     string `mapstructure:"url"`
	// Static: bundles are plain files at <url>/devices/<id>.bundle; reports
	// go to ReportURL if set.
	Static    bool   `mapstructure:"static"`
	ReportURL string `mapstructure:"report_url"`
	// ReportInterval: a static device with a report_url sends its state
	// again at a poll once this long has passed since its last report, so
	// that HQ (which never sees its polls) does not mark it SILENT between
	// rollouts; 0 = every interval.
	ReportInterval time.Duration `mapstructure:"report_interval"`
	// HQKey is HQ's SM2 public key (Base64 or PEM): only bundles it signed
	// are applied.
	HQKey string `mapstructure:"hq_key"`
	// DeviceKeyFile is this device's SM2 key (`pda-agent fleet init`);
	// default <data_dir>/device.key.
	DeviceKeyFile string        `mapstructure:"device_key_file"`
	Interval      time.Duration `mapstructure:"interval"`
	Jitter        float64       `mapstructure:"jitter"`
	MaxBackoff    time.Duration `mapstructure:"max_backoff"`
	Timeout       time.Duration `mapstructure:"timeout"`
	// HealthTimeout bounds how long restarted scanners may take to come
	// back after a new config before it is reverted.
	HealthTimeout time.Duration `mapstructure:"health_timeout"`
	// Probe asks 码上放心 one read-only question with new credentials
	// before keeping them (a refusal reverts the config; no answer does not).
	Probe bool `mapstructure:"probe"`
}

// FleetDeviceKey is the device key file path.
func (c *Config) FleetDeviceKey() string {
	if c.Fleet.DeviceKeyFile != "" {
		return c.Fleet.DeviceKeyFile
	}
	return filepath.Join(c.DataDir, "device.key")
}

// FleetDir is where the agent keeps applied bundles.
func (c *Config) FleetDir() string { return filepath.Join(c.DataDir, "fleet") }

// API is the local HTTP API (POS/ERP, the clerk page).
type API struct {
	Enabled bool `mapstructure:"enabled"`
	// Listen is host:port; loopback unless AllowRemote.
	Listen      string `mapstructure:"listen"`
	AllowRemote bool   `mapstructure:"allow_remote"`
	// TokenFile holds the bearer token (created with mode 0600 at first
	// start); default <data_dir>/api.token.
	TokenFile string `mapstructure:"token_file"`
	// MetricsPublic serves GET /metrics without the token (for a
	// Prometheus that cannot send it); by default it needs the token.
	MetricsPublic bool `mapstructure:"metrics_public"`
	// LAN is the opt-in listener for paired handhelds on the store's
	// Wi-Fi (TLS only; docs/handheld.md).
	LAN LAN `mapstructure:"lan"`
}

// LAN is api.lan: the page and API over TLS for paired handhelds.
type LAN struct {
	Enabled bool `mapstructure:"enabled"`
	// Listen is host:port; 0.0.0.0 answers on every interface.
	Listen string `mapstructure:"listen"`
	// CertFile and KeyFile hold the self-signed certificate the agent
	// makes at first start; default <data_dir>/lan-cert.pem, lan-key.pem.
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`
}

// LANCertFile is the LAN listener's certificate path.
func (c *Config) LANCertFile() string {
	if c.API.LAN.CertFile != "" {
		return c.API.LAN.CertFile
	}
	return filepath.Join(c.DataDir, "lan-cert.pem")
}

// LANKeyFile is the LAN listener's private key path.
func (c *Config) LANKeyFile() string {
	if c.API.LAN.KeyFile != "" {
		return c.API.LAN.KeyFile
	}
	return filepath.Join(c.DataDir, "lan-key.pem")
}

// PairedDevicesFile lists the handhelds paired with the LAN listener
// (tokens hashed, mode 0600).
func (c *Config) PairedDevicesFile() string {
	return filepath.Join(c.DataDir, "paired-devices.json")
}

// APITokenFile is the token file path.
func (c *Config) APITokenFile() string {
	if c.API.TokenFile != "" {
		return c.API.TokenFile
	}
	return filepath.Join(c.DataDir, "api.token")
}

// Catalogue points at the product and partner reference files.
type Catalogue struct {
	Products string `mapstructure:"products"`
	Partners string `mapstructure:"partners"`
}

// Device identifies this PDA or counter PC.
type Device struct {
	// ID starts every bill_code, so it must be unique among the devices of
	// one enterprise (store).
	ID       string `mapstructure:"id"`
	Store    string `mapstructure:"store"`
	Operator string `mapstructure:"operator"`
}

// Log configures the structured log: on stderr (journald, a terminal)
// unless File names a file the agent writes and rotates itself.
type Log struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
	// File is the log file (absolute path); empty = stderr.
	File string `mapstructure:"file"`
	// MaxSize rotates File before it would grow past this (whole MiB).
	MaxSize ByteSize `mapstructure:"max_size"`
	// MaxBackups is how many rotated files are kept (0 = no count limit).
	MaxBackups int `mapstructure:"max_backups"`
	// MaxAge deletes rotated files older than this (whole days; 0 = no
	// age limit). MaxBackups and MaxAge cannot both be unlimited.
	MaxAge time.Duration `mapstructure:"max_age"`
	// Compress gzips rotated files.
	Compress bool `mapstructure:"compress"`
}

// SlogLevel maps Level to slog.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Queue configures the durable store.
type Queue struct {
	Path             string        `mapstructure:"path"`
	MaxSize          ByteSize      `mapstructure:"max_size"`
	Headroom         ByteSize      `mapstructure:"headroom"`
	MaxBatch         int           `mapstructure:"max_batch"`
	CheckOnOpen      bool          `mapstructure:"check_on_open"`
	CompactFreeRatio float64       `mapstructure:"compact_free_ratio"`
	RetainBills      time.Duration `mapstructure:"retain_bills"`
	RetainLedger     time.Duration `mapstructure:"retain_ledger"`
	PruneInterval    time.Duration `mapstructure:"prune_interval"`
	// PersonalKeyFile holds the key that encrypts personal data in the
	// queue (SM4, 32 hex digits; created with mode 0600 at first start);
	// default <data_dir>/personal.key. Keep it outside the queue file's
	// backups; an HQ bundle may point it at a key it provisions.
	PersonalKeyFile string `mapstructure:"personal_key_file"`
	// PersonalRetention keeps, while reconciliation is enabled, the sealed
	// personal fields of a delivered 医保 bill until its reconciliation
	// found it present and reconcile.lookback passed, or this long after
	// delivery at most, so that a sale the platform lost can be resent; 0
	// erases them once every destination has the bill.
	PersonalRetention time.Duration `mapstructure:"personal_retention"`
}

// QueuePersonalKeyFile is the personal-data key file path.
func (c *Config) QueuePersonalKeyFile() string {
	if c.Queue.PersonalKeyFile != "" {
		return c.Queue.PersonalKeyFile
	}
	return filepath.Join(c.DataDir, "personal.key")
}

// Codes configures trace-code parsing.
type Codes struct {
	AllowedKinds  []string    `mapstructure:"allowed_kinds"`
	GSSubstitutes []string    `mapstructure:"gs_substitutes"`
	GSReliable    bool        `mapstructure:"gs_reliable"`
	MaxLength     int         `mapstructure:"max_length"`
	OtherRules    []OtherRule `mapstructure:"other_rules"`
	// Credentials and Payment are patterns (Go regexp, matched against the
	// whole scan) of codes the counter gun reads that are not packs: the
	// patient's 医保电子凭证 QR and 微信/支付宝 付款码. They are tried before
	// trace-code parsing and handed to the POS as events, never stored or
	// logged (docs/api.md, "Codes that are not drugs").
	Credentials []string `mapstructure:"credentials"`
	Payment     []string `mapstructure:"payment"`
}

// OtherRule accepts a chain's own code format.
type OtherRule struct {
	Name      string `mapstructure:"name"`
	Pattern   string `mapstructure:"pattern"`
	MinLength int    `mapstructure:"min_length"`
	MaxLength int    `mapstructure:"max_length"`
}

// Sessions configures how scans are grouped into bills.
type Sessions struct {
	// CommandPrefix marks command barcodes (PDA:SALE, PDA:FINISH …).
	CommandPrefix string `mapstructure:"command_prefix"`
	// DefaultType is the bill type opened when a code arrives in a session
	// with no open bill; 0 refuses such codes.
	DefaultType int `mapstructure:"default_type"`
	// DefaultPartner is the partner of auto-opened bills.
	DefaultPartner string `mapstructure:"default_partner"`
	// IdleFinish finishes an open bill after this long without scans; 0
	// never does.
	IdleFinish time.Duration `mapstructure:"idle_finish"`
	// SupervisorPINHash approves exceptions on key varieties (pinhash
	// format; make it with `pda-agent pin-hash`); "" allows none.
	SupervisorPINHash string `mapstructure:"supervisor_pin_hash"`
}

// Scanner is one scan source. Only the section of its type is read.
type Scanner struct {
	Name string `mapstructure:"name"`
	// Type is the source kind: serial, hid, camera, tcp, stdin or replay.
	Type string `mapstructure:"type"`
	// Session is the session this scanner feeds; default its name.
	Session string `mapstructure:"session"`
	// DedupeWindow drops the same code read twice by this scanner within
	// the window (a common double-read fault); 0 = off.
	DedupeWindow time.Duration `mapstructure:"dedupe_window"`
	// Path is the replay file.
	Path string `mapstructure:"path"`
	// Echo prints one result line per scan on stdout (stdin only).
	Echo   bool          `mapstructure:"echo"`
	Serial SerialScanner `mapstructure:"serial"`
	HID    HIDScanner    `mapstructure:"hid"`
	Camera CameraScanner `mapstructure:"camera"`
	TCP    TCPScanner    `mapstructure:"tcp"`
}

// SerialScanner is a scanner on a serial port or USB CDC-ACM. Zero values
// take the source's defaults.
type SerialScanner struct {
	Port         string        `mapstructure:"port"`
	USBVID       string        `mapstructure:"usb_vid"`
	USBPID       string        `mapstructure:"usb_pid"`
	USBSerial    string        `mapstructure:"usb_serial"`
	Baud         int           `mapstructure:"baud"`
	DataBits     int           `mapstructure:"data_bits"`
	Parity       string        `mapstructure:"parity"`
	StopBits     string        `mapstructure:"stop_bits"`
	Prefix       string        `mapstructure:"prefix"`
	Suffix       string        `mapstructure:"suffix"`
	IdleTimeout  time.Duration `mapstructure:"idle_timeout"`
	ReconnectMin time.Duration `mapstructure:"reconnect_min"`
	ReconnectMax time.Duration `mapstructure:"reconnect_max"`
}

// HIDScanner is a USB scanner read directly in keyboard or HID-POS mode.
type HIDScanner struct {
	VID string `mapstructure:"vid"`
	PID string `mapstructure:"pid"`
	// Interface is the USB interface number; unset = the first match.
	Interface    *int          `mapstructure:"interface"`
	Serial       string        `mapstructure:"serial"`
	Mode         string        `mapstructure:"mode"`
	Layout       string        `mapstructure:"layout"`
	ReportID     bool          `mapstructure:"report_id"`
	TabEnds      bool          `mapstructure:"tab_ends"`
	IdleTimeout  time.Duration `mapstructure:"idle_timeout"`
	PollInterval time.Duration `mapstructure:"poll_interval"`
}

// CameraScanner is a V4L2 camera decoding 2-D and 1-D codes.
type CameraScanner struct {
	Device       string        `mapstructure:"device"`
	Width        int           `mapstructure:"width"`
	Height       int           `mapstructure:"height"`
	Format       string        `mapstructure:"format"`
	Symbologies  []string      `mapstructure:"symbologies"`
	ROI          float64       `mapstructure:"roi"`
	Tiles        int           `mapstructure:"tiles"`
	RepeatWindow time.Duration `mapstructure:"repeat_window"`
}

// TCPScanner is a line-oriented TCP listener (POS systems, tests).
type TCPScanner struct {
	Listen      string        `mapstructure:"listen"`
	MaxConns    int           `mapstructure:"max_conns"`
	Reply       bool          `mapstructure:"reply"`
	AllowRemote bool          `mapstructure:"allow_remote"`
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
}

// SessionName is the session the scanner feeds.
func (s Scanner) SessionName() string {
	if s.Session != "" {
		return s.Session
	}
	return s.Name
}

// Feedback configures what the operator hears and sees about each scan
// beyond what the scanner itself shows.
type Feedback struct {
	// Log writes every scan result to the log (rejections at warn level).
	Log bool `mapstructure:"log"`
	// Bell rings the terminal bell on stderr: once for a duplicate, twice
	// for a rejection, three times for a scan that was not recorded.
	Bell bool `mapstructure:"bell"`
}

// Upload configures the delivery workers shared by all destinations.
type Upload struct {
	Lease          time.Duration `mapstructure:"lease"`
	InitialBackoff time.Duration `mapstructure:"initial_backoff"`
	MaxBackoff     time.Duration `mapstructure:"max_backoff"`
	Multiplier     float64       `mapstructure:"multiplier"`
	Jitter         float64       `mapstructure:"jitter"`
}

// Policy is the per-destination delivery policy.
type Policy struct {
	Enabled bool `mapstructure:"enabled"`
	// BillTypes limits the destination to these bill types; empty = all.
	BillTypes   []int   `mapstructure:"bill_types"`
	Concurrency int     `mapstructure:"concurrency"`
	Rate        float64 `mapstructure:"rate"` // requests per second; 0 = unlimited
	Burst       int     `mapstructure:"burst"`
}

// Accepts tells whether the destination takes bills of type t.
func (p Policy) Accepts(t int) bool {
	if len(p.BillTypes) == 0 {
		return true
	}
	for _, bt := range p.BillTypes {
		if bt == t {
			return true
		}
	}
	return false
}

// Msfx is the 码上放心 (Alibaba Health drug-trace) TOP gateway.
type Msfx struct {
	Policy     `mapstructure:",squash"`
	Gateway    string `mapstructure:"gateway"`
	AppKey     string `mapstructure:"app_key"`
	AppSecret  Secret `mapstructure:"app_secret"`
	SignMethod string `mapstructure:"sign_method"`
	// Session is sent only when the console marks the API 需要授权.
	Session  Secret `mapstructure:"session"`
	Simplify bool   `mapstructure:"simplify"`
	// RefEntID is the store's own 货主 id (ref_user_id); EntID its 32-hex
	// ent_id (from_user_id/to_user_id). Never HQ's.
	RefEntID          string        `mapstructure:"ref_ent_id"`
	EntID             string        `mapstructure:"ent_id"`
	MaxCodesRetail    int           `mapstructure:"max_codes_retail"`
	MaxCodesInOut     int           `mapstructure:"max_codes_inout"`
	IgnorePartSuccess bool          `mapstructure:"ignore_part_success"`
	SkipNonMSFX       bool          `mapstructure:"skip_non_msfx"`
	Timeout           time.Duration `mapstructure:"timeout"`
	PollInterval      time.Duration `mapstructure:"poll_interval"`
	OperICCode        string        `mapstructure:"oper_ic_code"`
	OperICName        string        `mapstructure:"oper_ic_name"`
	// Compliance is the 码上放心 compliance self-check (agent/compliance_msfx.go).
	Compliance MsfxCompliance `mapstructure:"compliance"`
}

// MsfxCompliance schedules the 码上放心 compliance queries: 验证率, the
// official key-variety list, the service end date and changed upstream
// bills. Off (Refresh 0) or with 码上放心 disabled, nothing is asked.
type MsfxCompliance struct {
	// Refresh is how often the platform is asked (0 = never).
	Refresh time.Duration `mapstructure:"refresh"`
	// RateDays is the 验证率 window in days, ending today.
	RateDays int `mapstructure:"rate_days"`
	// RateFormula is pooled (received + uploaded over all bills) or mean
	// (the average of the two shares). The guide's exact formula is not
	// public: unconfirmed.
	RateFormula string `mapstructure:"rate_formula"`
	// KeyListColumn is the header of the product-key column of the
	// key-variety file (format not public; the reader is tolerant).
	KeyListColumn string `mapstructure:"key_list_column"`
	// ServiceBusiness and ServiceService are service.getenddate's business
	// (1 = 药) and service (11 = 基础版), per the SDK's comments.
	ServiceBusiness int `mapstructure:"service_business"`
	ServiceService  int `mapstructure:"service_service"`
	// AlarmDays raises an alarm this many days before the service ends.
	AlarmDays int `mapstructure:"alarm_days"`
	// WESLicense is the WES license the change log (queryupoutbilllog)
	// needs; empty = the change log is not asked.
	WESLicense Secret `mapstructure:"wes_license"`
}

// NHSA is the medical-insurance (医保) institution interface: 进销存
// 3503/3504/3505/3506 with trace codes.
type NHSA struct {
	Policy `mapstructure:",squash"`
	// Env picks the active profile: test (测试环境) or prod (正式环境).
	Env  string      `mapstructure:"env"`
	Test NHSAProfile `mapstructure:"test"`
	Prod NHSAProfile `mapstructure:"prod"`
	// GatewayAuth is the province's gateway header scheme: none, x-tif or api.
	GatewayAuth string `mapstructure:"gateway_auth"`
	// Envelope is plain or sm2sm4 (the SM2/SM4 channel envelope).
	Envelope       string `mapstructure:"envelope"`
	FixmedinsCode  string `mapstructure:"fixmedins_code"`
	FixmedinsName  string `mapstructure:"fixmedins_name"`
	MdtrtareaAdmvs string `mapstructure:"mdtrtarea_admvs"`
	InsuplcAdmdvs  string `mapstructure:"insuplc_admdvs"`
	Opter          string `mapstructure:"opter"`
	OpterName      string `mapstructure:"opter_name"`
	OpterType      string `mapstructure:"opter_type"`
	Infver         string `mapstructure:"infver"`
	// MsgIDSlot (0-9) keeps the msgids of several devices of one pharmacy
	// apart.
	MsgIDSlot int `mapstructure:"msgid_slot"`
	// Sales is insured (only sales carrying 医保 settlement data, i.e.
	// attribute nhsa.mdtrt_sn) or all.
	Sales              string        `mapstructure:"sales"`
	PurchaseTraceCodes bool          `mapstructure:"purchase_trace_codes"`
	PharName           string        `mapstructure:"phar_name"`
	PharPracCertNo     string        `mapstructure:"phar_prac_cert_no"`
	PharCertType       string        `mapstructure:"phar_cert_type"`
	PharCertno         string        `mapstructure:"phar_certno"`
	HoldRetry          time.Duration `mapstructure:"hold_retry"`
	Timeout            time.Duration `mapstructure:"timeout"`
	// Per province (upload/nhsa doc): the input node as a list of rows or
	// one object per call, the envelope's signtype, psn_cert_type
	// required on 3506.
	InputShape        string `mapstructure:"input_shape"`
	Signtype          string `mapstructure:"signtype"`
	ReturnPsnCertType bool   `mapstructure:"return_psn_cert_type"`
	// OptionalFields are row fields ("<infno>.<field>") the province does
	// not require although nhsa.md's tables mark them so (upload/nhsa).
	OptionalFields []string `mapstructure:"optional_fields"`
	// Verdicts judge platform texts before the built-in table
	// (docs/nhsa-verdicts.md).
	Verdicts []NHSAVerdict `mapstructure:"verdicts"`
	// Query settles unknown outcomes by asking (off; unconfirmed fields).
	Query NHSAQuery `mapstructure:"query"`
	// StockChangeTypes maps a stock change bill type ("205" 销毁出库, "214"
	// 盘亏出库 …) to the province's 3502 inv_chg_type code. No public code
	// set exists (docs/nhsa-verdicts.md): a change bill whose type has no
	// code is held back, naming this key. UNCONFIRMED per province.
	StockChangeTypes map[string]string `mapstructure:"stock_change_types"`
	// Defaults are store-wide values of the bill attrs nhsa.<field> that
	// are the same for most bills (NHSADefaultField lists which); a bill's
	// own attr overrides them.
	Defaults map[string]string `mapstructure:"defaults"`
}

// NHSAQuery names the province's query interfaces (e.g. purchase 3510,
// sale 3511 or 3513; empty = never ask) and the input's node and row-key
// field (upload/nhsa Query).
type NHSAQuery struct {
	Purchase string `mapstructure:"purchase"`
	Sale     string `mapstructure:"sale"`
	// Trace is the sale trace query reconciliation asks (e.g. 3513; empty:
	// `pda-agent reconcile` cannot check 医保). Unconfirmed, single source.
	Trace string `mapstructure:"trace"`
	// StockTake and StockChange are the queries reconciliation asks about
	// the rows of 901 stock-takes (3501; e.g. 3508) and stock-change bills
	// (3502; e.g. 3509), by row only (empty: not compared). Unconfirmed,
	// single source (docs/protocol-fields.md).
	StockTake   string `mapstructure:"stock_take"`
	StockChange string `mapstructure:"stock_change"`
	Node        string `mapstructure:"node"`
	Field       string `mapstructure:"field"`
}

// NHSAVerdict is one rule of nhsa.verdicts: a text containing every
// string of All and none of Not is transient, permanent, already (the rows
// are there) or msgid (the msgid was refused).
type NHSAVerdict struct {
	All  []string `mapstructure:"all"`
	Not  []string `mapstructure:"not"`
	Kind string   `mapstructure:"kind"`
	Hint string   `mapstructure:"hint"`
}

// NHSADefaultField tells whether nhsa.defaults may hold field, and its
// length in the field tables of the 定点医药机构接口规范 (3503/3505 rows;
// ../shared/reference/nhsa.md §3.2-3.3; names and lengths as the public
// client fengzaiqishi11/hsa-his declares them in
// hsa-com/src/main/java/cn/hsa/module/insure/stock/entity/InsureGoodSell.java
// and InsureGoodBuy.java; mdtrt_setl_type from nhsa.md only). These are the row fields a bill
// takes from its attrs that one store mostly sends alike; the per-sale
// ones (mdtrt_sn, setl_id, psn_*, rxno, rtal_docno …) cannot be defaults.
func NHSADefaultField(field string) (maxLen int, ok bool) {
	maxLen, ok = nhsaDefaultFields()[field]
	return maxLen, ok
}

// nhsaDefaultFields are the fields nhsa.defaults takes, with their lengths.
func nhsaDefaultFields() map[string]int {
	return map[string]int{"hi_feesetl_type": 6, "mdtrt_setl_type": 6, "psn_cert_type": 6, "prsc_dr_cert_type": 6,
		"rx_circ_flag": 3, "prod_geay_flag": 3, "prsc_dr_name": 50, "prsc_dr_certno": 50}
}

// NHSAProfile is one environment's credentials, from its 反馈单.
type NHSAProfile struct {
	URL       string `mapstructure:"url"`
	AppID     string `mapstructure:"app_id"`
	AppSecret Secret `mapstructure:"app_secret"`
	// ChannelKey is the channel's SM2 private key (Base64 or PEM), or
	// ChannelKeyFile a file holding it (mode 0600, as `keys gen` writes).
	ChannelKey     Secret `mapstructure:"channel_key"`
	ChannelKeyFile string `mapstructure:"channel_key_file"`
	// PlatformKey is the platform's SM2 public key (平台公钥), Base64 04‖X‖Y or PEM.
	PlatformKey  string `mapstructure:"platform_key"`
	UID          string `mapstructure:"uid"`
	PaasID       string `mapstructure:"paas_id"`
	PaasToken    Secret `mapstructure:"paas_token"`
	APIName      string `mapstructure:"api_name"`
	APIVersion   string `mapstructure:"api_version"`
	APIAccessKey string `mapstructure:"api_access_key"`
	APISecretKey Secret `mapstructure:"api_secret_key"`
	RecerSysCode string `mapstructure:"recer_sys_code"`
	// MaxInputChars bounds one message's input (the channel allows
	// 40,000): bigger bills go in several messages.
	MaxInputChars int `mapstructure:"max_input_chars"`
}

// Active is the profile nhsa.env selects.
func (n NHSA) Active() NHSAProfile {
	if n.Env == "prod" {
		return n.Prod
	}
	return n.Test
}

// Webhook forwards finished bills to the chain's own HTTP endpoint.
type Webhook struct {
	Policy  `mapstructure:",squash"`
	URL     string        `mapstructure:"url"`
	KeyID   string        `mapstructure:"key_id"`
	Secret  Secret        `mapstructure:"secret"`
	Timeout time.Duration `mapstructure:"timeout"`
}

// QueuePath is the queue file path.
func (c *Config) QueuePath() string {
	if c.Queue.Path != "" {
		return c.Queue.Path
	}
	return filepath.Join(c.DataDir, "queue.db")
}

// Destinations lists the enabled destinations that take bills of type t.
func (c *Config) Destinations(billType int) []string {
	var out []string
	if c.Msfx.Enabled && c.Msfx.Accepts(billType) && billtype.Msfx(billType) {
		out = append(out, "msfx")
	}
	if c.NHSA.Enabled && c.NHSA.Accepts(billType) {
		out = append(out, "nhsa")
	}
	if c.Webhook.Enabled && c.Webhook.Accepts(billType) {
		out = append(out, "webhook")
	}
	return out
}

// Secret is a credential. It never prints: fmt, JSON and slog all show a
// mask, so a config can be logged or dumped without leaking it.
type Secret string

const mask = "********"

// Value returns the secret itself, for the one place that needs it.
func (s Secret) Value() string { return string(s) }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return mask
}

// GoString masks %#v too.
func (s Secret) GoString() string { return s.String() }

// MarshalText masks the secret in JSON, YAML and text encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue masks the secret in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Format masks every fmt verb.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// StockChangeCodes is nhsa.stock_change_types keyed by bill type; a key
// that is not a number is left out (Validate names it).
func (n NHSA) StockChangeCodes() map[int]string {
	out := make(map[int]string, len(n.StockChangeTypes))
	for k, v := range n.StockChangeTypes {
		if t, err := strconv.Atoi(k); err == nil {
			out[t] = v
		}
	}
	return out
}
