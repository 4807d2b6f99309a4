package nhsa

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pda-agent/pda-agent/catalogue"
	"github.com/pda-agent/pda-agent/gm"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/nhsa/fsi"
)

// Defaults of Config's zero values.
const (
	// DefaultName is the destination name.
	DefaultName = "nhsa"
	// DefaultTimeout bounds one HTTP request.
	DefaultTimeout = 30 * time.Second
	// DefaultHoldRetry is how long a held-back bill waits before it is
	// looked at again.
	DefaultHoldRetry = 10 * time.Minute
	// DefaultMaxInputChars is the channel's limit on input (nhsa.md §2.1).
	DefaultMaxInputChars = 40000
	// minInputChars keeps a misconfigured limit from splitting every row
	// into a refusal.
	minInputChars = 2000
)

// Input shapes (Config.InputShape).
const (
	InputList   = "list"   // {"selinfo": [row, row, …]}
	InputObject = "object" // {"selinfo": row}, one row per call
)

// Environments (Config.Env).
const (
	EnvTest = "test" // 测试环境
	EnvProd = "prod" // 正式环境
)

// Gateway header schemes (Config.GatewayAuth), nhsa.md §2.4.
const (
	AuthNone = "none"  // no gateway headers
	AuthXTif = "x-tif" // x-tif-paasid / timestamp / nonce / signature
	AuthAPI  = "api"   // _api_name / version / timestamp / access_key / signature
)

// Message envelopes (Config.Envelope).
const (
	EnvelopePlain  = "plain"  // the body is the FSI request JSON
	EnvelopeSM2SM4 = "sm2sm4" // the body is an fsi.Envelope (SM4 data, SM2 signature), nhsa.md §4
)

// minSecretLen is the shortest secret accepted. Secrets are redacted from
// every message by substring; a very short one would mangle messages and
// is not a real gateway secret anyway.
const minSecretLen = 8

// Profile is one environment of the provincial gateway (测试环境 or 正式环境)
// as its 反馈单 (credentials sheet) gives it. Only the fields of the
// configured header scheme and envelope are needed.
type Profile struct {
	// URL is the full callService URL of the provincial gateway, e.g.
	// https://host/fsi/api/rsfComIfsService/callService.
	URL string
	// AppID and AppSecret are the channel id and 数字密钥 of the SM2/SM4
	// envelope. The secret derives the SM4 key and ends the sign string; it
	// is never sent, logged or put in a message.
	AppID     string
	AppSecret string
	// ChannelKey signs requests (渠道私钥); PlatformKey (平台公钥) verifies
	// answers. Never format a private key: gmsm prints D in clear.
	ChannelKey  *gm.PrivateKey
	PlatformKey *gm.PublicKey
	// UID is the SM2 user id of ZA (gm.DefaultUID if empty; nhsa.md §4.4).
	UID string
	// PaasID and PaasToken are the x-tif credentials; the token only
	// enters the signature.
	PaasID, PaasToken string
	// APIName, APIVersion, APIAccessKey and APISecretKey are the _api_
	// credentials; the secret key only enters the HMAC.
	APIName, APIVersion, APIAccessKey, APISecretKey string
	// RecerSysCode is recer_sys_code, the receiving system's code the
	// province assigns (e.g. YBXT, MBS_LOCAL).
	RecerSysCode string
}

// Config configures one pharmacy's 医保 进销存 destination.
type Config struct {
	// Name is the destination's name in config and in the queue
	// (DefaultName if empty).
	Name string
	// Env is "test" or "prod"; it is shown in every message so that an
	// operator never mistakes test uploads for real ones.
	Env string
	// Profile holds the gateway URL and credentials of Env.
	Profile Profile
	// GatewayAuth is "none" (default), "x-tif" or "api".
	GatewayAuth string
	// Envelope is "plain" (default) or "sm2sm4".
	Envelope string
	// FixmedinsCode (12 characters, P… for pharmacies) and FixmedinsName
	// identify the pharmacy; MdtrtareaAdmvs is its 医保区划 (6 digits);
	// InsuplcAdmdvs is the default 参保地 (6 digits; MdtrtareaAdmvs if
	// empty), overridden per bill by the attr nhsa.insuplc_admdvs.
	FixmedinsCode, FixmedinsName, MdtrtareaAdmvs, InsuplcAdmdvs string
	// Opter and OpterName are the terminal/operator of the envelope
	// (opter, opter_name); OpterType defaults to fsi.OpterMobile and
	// Infver to fsi.DefaultInfVer.
	Opter, OpterName string
	OpterType        string
	Infver           string
	// MsgIDSlot (0-9) is the first digit of msgid's 4-digit sequence, so
	// that several devices of one pharmacy never make the same msgid.
	MsgIDSlot int
	// Sequence is a persistent counter (the agent backs it with the
	// queue); msgid = FixmedinsCode + yyyyMMddHHmmss (UTC+8) + slot +
	// seq%1000 as 3 digits.
	Sequence func(ctx context.Context) (uint64, error)
	// Catalogue gives product and supplier data.
	Catalogue *catalogue.Catalogue
	// Items returns the items of an earlier bill by its code, for the row
	// references of 3504 and 3506; false when it was pruned.
	Items func(ctx context.Context, billCode string) ([]queue.Item, bool, error)
	// LegacyStem tells whether an earlier bill's rows went to 医保 under the
	// first release's stem (the bill code without '-'), so a return refers
	// to the row keys the platform holds: true when the bill's delivery
	// here carries no write-ahead progress of this version (it was sent by
	// an agent before the injective stem). Nil, or a pruned bill: the
	// current stem.
	LegacyStem func(ctx context.Context, billCode string) (bool, error)
	// RefState says where an earlier bill stands with this destination, so
	// a return (3504/3506) never reaches the platform before the purchase or
	// sale it undoes. Nil: no ordering.
	RefState func(ctx context.Context, billCode string) (RefState, error)
	// Earlier, if set, names an earlier bill moving one of the bill's packs
	// that has not reached 医保 yet; the bill waits for it. 医保 refuses a
	// code sold while a sale of it is in force (sold_code), so a re-sale
	// must not land before the return that freed the pack.
	Earlier upload.Earlier
	// PharName, PharPracCertNo, PharCertType and PharCertno are the
	// store's pharmacist (3505 requires phar_name and phar_prac_cert_no).
	PharName, PharPracCertNo, PharCertType, PharCertno string
	// StockChangeTypes maps a stock change bill type (111 盘盈, 214 盘亏,
	// 205 销毁, 215 损坏, 203/104 调拨 …; billtype.StockChange) to the
	// inv_chg_type code of 3502. The code set is not public (nhsa.md §3.4;
	// docs/nhsa-verdicts.md): a type without a code is held back, naming
	// this setting.
	StockChangeTypes map[int]string
	// PurchaseTraceCodes also sends drugtracinfo on 3503/3504 (not in any
	// 3503 spec seen, so off by default).
	PurchaseTraceCodes bool
	// HoldRetry is how long a held-back bill waits before it is looked at
	// again (DefaultHoldRetry if zero).
	HoldRetry time.Duration
	// Timeout bounds each HTTP request (DefaultTimeout if zero).
	Timeout time.Duration
	// MaxInputChars bounds the characters of one message's input
	// (DefaultMaxInputChars if zero; the channel allows 40,000, nhsa.md
	// §2.1): a bill with more rows is sent as several messages (parts),
	// each with its own msgid.
	MaxInputChars int
	// InputShape is how the rows sit in input: "list" (default, every
	// row of a part in one array) or "object" (one row per call, as the
	// older public clients send it, nhsa.md §3.1).
	InputShape string
	// Signtype, when set, is sent as the envelope's signtype (required by
	// some provinces' tables, nhsa.md §2.1 #9).
	Signtype string
	// ReturnPsnCertType makes psn_cert_type required on 3506 rows, as
	// some provinces' tables have it; off by default.
	ReturnPsnCertType bool
	// OptionalFields are row fields, as "<infno>.<field>" (e.g.
	// "3505.rx_circ_flag"), that this province does not require although
	// the field tables of nhsa.md mark them so. Public field tables differ
	// on hi_feesetl_type, psn_cert_type and rx_circ_flag of 3505
	// (docs/protocol-fields.md); they stay required unless named here.
	OptionalFields []string
	// Query, when set for the bill's kind, settles an unknown outcome by
	// asking the platform before resending (off by default; the query
	// interfaces' fields are unconfirmed, see Query).
	Query Query
	// Verdicts are rules that come before the built-in ones
	// (DefaultVerdicts) when an answer's text is judged; see Verdict.
	Verdicts []Verdict
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// HTTPClient carries the requests (a private transport if nil). It is
	// copied so that redirects are never followed.
	HTTPClient *http.Client
}

// Client is the 医保 进销存 client of one pharmacy and environment, and an
// upload.Destination. It is safe for concurrent use.
type Client struct {
	cfg       Config // validated, defaults applied
	prof      Profile
	uid       []byte
	dataKey   []byte // SM4 data key of the envelope (sm2sm4 only)
	secrets   []string
	zone      *time.Location
	http      *http.Client
	rand      io.Reader // nonces and SM2 signatures (tests make it deterministic)
	platformF string    // platform key fingerprint, for messages
	defaults  []Verdict // DefaultVerdicts
}

var _ upload.Destination = (*Client)(nil)

// New checks c and returns a Client. Errors name the field and never
// contain a secret's value.
func New(c Config) (*Client, error) {
	if c.Name == "" {
		c.Name = DefaultName
	}
	fail := func(format string, args ...any) (*Client, error) {
		return nil, fmt.Errorf("nhsa destination %q: "+format, append([]any{c.Name}, args...)...)
	}
	if c.Env != EnvTest && c.Env != EnvProd {
		return fail("env %q: want %q (测试环境) or %q (正式环境)", c.Env, EnvTest, EnvProd)
	}
	if err := CheckOptionalFields(c.OptionalFields); err != nil {
		return fail("%v", err)
	}
	if err := CheckStockChangeTypes(c.StockChangeTypes); err != nil {
		return fail("%v", err)
	}
	p := c.Profile
	if err := checkURL(p.URL); err != nil {
		return fail("profile url: %v", err)
	}
	if err := checkID("recer_sys_code", p.RecerSysCode, 10); err != nil {
		return fail("%v", err)
	}
	if c.GatewayAuth == "" {
		c.GatewayAuth = AuthNone
	}
	secrets := []string{}
	switch c.GatewayAuth {
	case AuthNone:
	case AuthXTif:
		if err := checkID("paas_id", p.PaasID, 100); err != nil {
			return fail("%v", err)
		}
		if err := checkSecret("paas_token", p.PaasToken); err != nil {
			return fail("%v", err)
		}
	case AuthAPI:
		for _, f := range []struct{ name, v string }{{"api_name", p.APIName}, {"api_version", p.APIVersion}, {"api_access_key", p.APIAccessKey}} {
			if err := checkID(f.name, f.v, 200); err != nil {
				return fail("%v", err)
			}
		}
		if err := checkSecret("api_secret_key", p.APISecretKey); err != nil {
			return fail("%v", err)
		}
	default:
		return fail("gateway_auth %q: want %q, %q or %q", c.GatewayAuth, AuthNone, AuthXTif, AuthAPI)
	}
	if p.UID == "" {
		p.UID = gm.DefaultUID
	}
	if c.Envelope == "" {
		c.Envelope = EnvelopePlain
	}
	var dataKey []byte
	platformF := ""
	switch c.Envelope {
	case EnvelopePlain:
	case EnvelopeSM2SM4:
		if err := checkID("app_id", p.AppID, 64); err != nil {
			return fail("%v", err)
		}
		if err := checkSecret("app_secret", p.AppSecret); err != nil {
			return fail("%v", err)
		}
		var err error
		if dataKey, err = gm.DeriveDataKey(p.AppID, p.AppSecret); err != nil {
			return fail("deriving the SM4 data key from app_id and app_secret: %v", err)
		}
		if err := checkKeys(p); err != nil {
			return fail("%v", err)
		}
		platformF = gm.Fingerprint(p.PlatformKey)
		secrets = append(secrets, string(dataKey))
	default:
		return fail("envelope %q: want %q or %q", c.Envelope, EnvelopePlain, EnvelopeSM2SM4)
	}
	c.Profile = p
	// Every secret of the profile is scrubbed from messages, including
	// those of a scheme not in use: they are secrets all the same.
	for _, sec := range []string{p.PaasToken, p.APISecretKey, p.AppSecret} {
		if len(sec) >= minSecretLen {
			secrets = append(secrets, sec)
		}
	}

	if len(c.FixmedinsCode) != fsi.FixmedinsCodeLen || !isAlnum(c.FixmedinsCode) {
		return fail("fixmedins_code %q: want the 12-character 定点医药机构编号 (e.g. P37020304446)", c.FixmedinsCode)
	}
	if err := checkText("fixmedins_name", c.FixmedinsName, 200); err != nil {
		return fail("%v", err)
	}
	if !isDigits(c.MdtrtareaAdmvs, 6) {
		return fail("mdtrtarea_admvs %q: want the 6-digit 医保区划 of the pharmacy", c.MdtrtareaAdmvs)
	}
	if c.InsuplcAdmdvs == "" {
		c.InsuplcAdmdvs = c.MdtrtareaAdmvs
	}
	if !isDigits(c.InsuplcAdmdvs, 6) {
		return fail("insuplc_admdvs %q: want a 6-digit 医保区划", c.InsuplcAdmdvs)
	}
	if err := checkID("opter", c.Opter, 30); err != nil {
		return fail("%v", err)
	}
	if err := checkText("opter_name", c.OpterName, 50); err != nil {
		return fail("%v", err)
	}
	switch c.OpterType {
	case "":
		c.OpterType = fsi.OpterMobile
	case fsi.OpterClerk, fsi.OpterKiosk, fsi.OpterMobile:
	default:
		return fail("opter_type %q: want 1 (经办人), 2 (自助终端) or 3 (移动终端)", c.OpterType)
	}
	if c.Infver == "" {
		c.Infver = fsi.DefaultInfVer
	}
	if err := checkID("infver", c.Infver, 6); err != nil {
		return fail("%v", err)
	}
	if c.MsgIDSlot < 0 || c.MsgIDSlot > 9 {
		return fail("msgid_slot %d: want 0-9, one per device of the pharmacy", c.MsgIDSlot)
	}
	switch {
	case c.Sequence == nil:
		return fail("no msgid sequence (Sequence)")
	case c.Catalogue == nil:
		return fail("no catalogue")
	case c.Items == nil:
		return fail("no item lookup of earlier bills (Items), needed by 3504 and 3506")
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"phar_name", c.PharName, 50}, {"phar_prac_cert_no", c.PharPracCertNo, 50}, {"phar_cert_type", c.PharCertType, 6}, {"phar_certno", c.PharCertno, 50}} {
		if f.v != "" {
			if err := checkText(f.name, f.v, f.max); err != nil {
				return fail("%v", err)
			}
		}
	}
	var err error
	if c.HoldRetry, err = positive("hold_retry", c.HoldRetry, DefaultHoldRetry, time.Second); err != nil {
		return fail("%v", err)
	}
	if c.Timeout, err = positive("timeout", c.Timeout, DefaultTimeout, time.Millisecond); err != nil {
		return fail("%v", err)
	}
	if c.MaxInputChars == 0 {
		c.MaxInputChars = DefaultMaxInputChars
	}
	if c.MaxInputChars < minInputChars {
		return fail("max_input_chars %d: want at least %d", c.MaxInputChars, minInputChars)
	}
	switch c.InputShape {
	case "":
		c.InputShape = InputList
	case InputList, InputObject:
	default:
		return fail("input_shape %q: want %q or %q", c.InputShape, InputList, InputObject)
	}
	if c.Signtype != "" {
		if err := checkID("signtype", c.Signtype, 10); err != nil {
			return fail("%v", err)
		}
	}
	if err := CheckVerdicts(c.Verdicts); err != nil {
		return fail("%v", err)
	}
	if err := c.Query.check(); err != nil {
		return fail("%v", err)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	var hc http.Client
	if c.HTTPClient != nil {
		hc = *c.HTTPClient
	} else {
		hc.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	// A signed POST must not be replayed elsewhere or turned into a GET.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	return &Client{
		cfg: c, prof: p, uid: []byte(p.UID), dataKey: dataKey, secrets: secrets,
		zone: chinaZone(), http: &hc, rand: rand.Reader, platformF: platformF, defaults: DefaultVerdicts(),
	}, nil
}

// Name is the destination's name in config and in the queue.
func (c *Client) Name() string { return c.cfg.Name }

// checkKeys makes sure the channel key can sign and the platform key can
// verify, so that a bad key fails at start-up and not on the first bill.
func checkKeys(p Profile) error {
	if p.ChannelKey == nil {
		return errors.New("no channel private key (渠道私钥)")
	}
	if p.PlatformKey == nil {
		return errors.New("no platform public key (平台公钥)")
	}
	if len(p.UID) > 8191 {
		return errors.New("uid is longer than 8191 bytes")
	}
	msg := []byte("pda-agent key check")
	sig, err := gm.Sign(p.ChannelKey, msg, []byte(p.UID), nil)
	if err != nil {
		return fmt.Errorf("channel private key unusable: %w", err)
	}
	if err := gm.Verify(&p.ChannelKey.PublicKey, msg, []byte(p.UID), sig); err != nil {
		return fmt.Errorf("channel private key unusable: %w", err)
	}
	// A well-formed key answers "does not verify" to a dummy signature;
	// anything else means the key itself is bad.
	dummy := make([]byte, gm.SignatureSize)
	dummy[31], dummy[63] = 1, 1
	if err := gm.Verify(p.PlatformKey, msg, []byte(p.UID), dummy); !errors.Is(err, gm.ErrVerify) {
		return fmt.Errorf("platform public key unusable: %v", err)
	}
	if p.PlatformKey.X.Cmp(p.ChannelKey.X) == 0 && p.PlatformKey.Y.Cmp(p.ChannelKey.Y) == 0 {
		return errors.New("platform public key is the channel key's own public half: answers must be verified with the platform's key (平台公钥)")
	}
	return nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: scheme must be http or https", s)
	case u.Hostname() == "":
		return fmt.Errorf("%q: no host", s)
	case u.User != nil:
		return errors.New("must not carry user info")
	case u.Fragment != "":
		return fmt.Errorf("%q: must not have a fragment", s)
	}
	return nil
}

// checkID checks a required identifier: non-empty, no spaces or control
// characters, at most max bytes.
func checkID(name, v string, max int) error {
	switch {
	case v == "":
		return fmt.Errorf("%s is empty", name)
	case strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return fmt.Errorf("%s %q contains spaces or control characters", name, v)
	case len(v) > max:
		return fmt.Errorf("%s %q is longer than %d characters", name, v, max)
	}
	return nil
}

// checkText checks a required name: non-empty, trimmed, no control
// characters, at most max characters.
func checkText(name, v string, max int) error {
	switch {
	case strings.TrimSpace(v) == "":
		return fmt.Errorf("%s is empty", name)
	case strings.TrimSpace(v) != v:
		return fmt.Errorf("%s %q has leading or trailing spaces", name, v)
	case strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return fmt.Errorf("%s %q contains control characters", name, v)
	case utf8.RuneCountInString(v) > max:
		return fmt.Errorf("%s %q is longer than %d characters", name, v, max)
	}
	return nil
}

// checkSecret checks a secret without ever putting its value in the error.
func checkSecret(name, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%s is empty", name)
	case strings.TrimSpace(v) != v:
		return fmt.Errorf("%s has leading or trailing spaces (a copy-paste slip?)", name)
	case strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return fmt.Errorf("%s contains control characters", name)
	case len(v) < minSecretLen:
		return fmt.Errorf("%s is shorter than %d characters: not a gateway-issued secret", name, minSecretLen)
	}
	return nil
}

func positive(name string, v, def, least time.Duration) (time.Duration, error) {
	switch {
	case v == 0:
		return def, nil
	case v < least:
		return 0, fmt.Errorf("%s %v is below %v", name, v, least)
	}
	return v, nil
}

func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isAlnum(s string) bool {
	for i := range len(s) {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		default:
			return false
		}
	}
	return true
}

// redact removes every configured secret from text that could have echoed
// one.
func (c *Client) redact(s string) string {
	for _, sec := range c.secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// RefState is where an earlier bill (the sale a return undoes) stands with
// this destination.
type RefState int

const (
	// RefUnknown: no such bill here (pruned long after delivery, or made
	// elsewhere): the return goes ahead.
	RefUnknown RefState = iota
	// RefNotSent: the bill never went to 医保 (not a 医保 sale): its codes
	// have nothing to undo there.
	RefNotSent
	// RefPending: the bill is still on its way: the return waits.
	RefPending
	// RefDone: the bill is on the platform.
	RefDone
	// RefFailed: the platform refused the bill for good: the return is held
	// until an operator resolves it.
	RefFailed
)
