package agent

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/tracecode"
)

// Kinds of scans that are not packs. The counter gun that reads the boxes
// also reads the patient's 医保电子凭证 QR and the customer's 付款码; the
// POS wants them, the agent must not keep them.
const (
	KindPatientCredential = "patient_credential"
	KindPaymentCode       = "payment_code"
)

// The default codes.payment patterns follow the wallets' published rules
// for the code the customer shows: 微信 "18位纯数字，以10、11、12、13、14、15开头"
// (micropay auth_code; binarywang/WxJava
// weixin-java-pay/src/main/java/com/github/binarywang/wxpay/bean/request/WxPayMicropayRequest.java),
// 支付宝 "25~30开头的长度为16~24位的数字" (alipay.trade.pay auth_code;
// alipay/alipay-sdk-java-all src/main/java/com/alipay/api/domain/AlipayTradePayModel.java).
//
// The 医保电子凭证 QR is opaque (decoded online by the POS) and no public
// specification of its content was found. The default codes.credentials,
// '^[0-9]{28}$', follows the one public claim seen, unconfirmed: "电子凭证
// 扫码 … 输出：28位二维码字符串" (a design note in the public code index,
// file id 11599165882; see /work/shared/reference/field-2026.md §10). A
// scan that is a valid trace code under the rules in force is a pack,
// never a credential, whatever the pattern (a 28-digit GS1 string such as
// 01<GTIN>21<serial> exists), so the default cannot take a pack away.

// nonDrugRules are the compiled codes.credentials and codes.payment of one
// config.
type nonDrugRules struct {
	cfg   *configs.Config
	rules []nonDrugRule
	// codes are the trace-code rules in force: a scan they accept is a
	// pack, never a credential.
	codes tracecode.Rules
}

type nonDrugRule struct {
	kind string
	re   *regexp.Regexp
}

// compileNonDrug compiles the patterns; the config loader has checked them.
func compileNonDrug(cfg *configs.Config) (*nonDrugRules, error) {
	codes, err := Rules(cfg.Codes)
	if err != nil {
		return nil, fmt.Errorf("agent: codes: %w", err)
	}
	out := &nonDrugRules{cfg: cfg, codes: codes}
	for _, l := range []struct {
		kind, key string
		pats      []string
	}{{KindPatientCredential, "codes.credentials", cfg.Codes.Credentials}, {KindPaymentCode, "codes.payment", cfg.Codes.Payment}} {
		for i, p := range l.pats {
			re, err := regexp.Compile(p)
			if err != nil {
				return nil, fmt.Errorf("agent: %s[%d]: %w", l.key, i, err)
			}
			out.rules = append(out.rules, nonDrugRule{kind: l.kind, re: re})
		}
	}
	return out, nil
}

// nonDrugSet is the rules of the config in force, compiled again when the
// config changes (Apply swaps the config whole).
func (a *Agent) nonDrugSet() *nonDrugRules {
	cfg := a.config()
	if r := a.nonDrug.Load(); r != nil && r.cfg == cfg {
		return r
	}
	r, err := compileNonDrug(cfg)
	if err != nil {
		// Validated at load; a bad pattern recognises nothing rather than
		// stopping the scan. The error names the key, never a scan.
		a.log.Error("non-drug code patterns", "err", err)
		r = &nonDrugRules{cfg: cfg}
	}
	a.nonDrug.Store(r)
	return r
}

// nonDrugKind tells whether a scan is a patient credential or a payment
// code, and the code as the POS needs it (the data without framing
// whitespace or an AIM symbology identifier). The whole scan must match a
// pattern.
func (a *Agent) nonDrugKind(s device.Scan) (kind, value string) {
	return a.nonDrugSet().match(s)
}

func (n *nonDrugRules) match(s device.Scan) (kind, value string) {
	rules := n.rules
	if len(rules) == 0 {
		return "", ""
	}
	data := strings.TrimSpace(string(s.Raw))
	candidates := []string{data}
	// A scanner set to send AIM identifiers puts "]Q1", "]C0" … in front.
	if len(data) > 3 && data[0] == ']' {
		candidates = append(candidates, data[3:])
	}
	for _, c := range candidates {
		for _, r := range rules {
			if r.re.MatchString(c) && (r.kind != KindPatientCredential || !n.isTraceCode(data, c)) {
				return r.kind, c
			}
		}
	}
	return "", ""
}

// handOver passes a non-drug code to the POS: an event of its own kind on
// the event stream and the scan's answer. Nothing of it reaches the queue,
// the scan journal or the logs: the feedback sinks (log, bell, metrics,
// callers' sinks) see the scan without its data, and the messages never
// quote it.
func (a *Agent) handOver(session string, s device.Scan, kind, value string) device.Feedback {
	msg := "医保电子凭证 read: passed to the POS, not recorded"
	if kind == KindPaymentCode {
		msg = "付款码 read: passed to the POS, not recorded"
	}
	fb := device.Feedback{Status: device.Status(kind), Message: msg}
	a.sinkFeedback(session, withoutData(s), fb)
	a.publish(Event{Kind: kind, Session: session, Source: s.Source, Code: value, Status: kind, Message: msg})
	return fb
}

// withoutData is a scan with what was read taken out.
func withoutData(s device.Scan) device.Scan {
	s.Raw, s.Symbology = nil, ""
	return s
}

// isTraceCode tells whether a scan parses as a trace code under the rules
// in force (with or without its symbology identifier).
func (n *nonDrugRules) isTraceCode(data, c string) bool {
	if _, err := tracecode.Parse(data, n.codes); err == nil {
		return true
	}
	_, err := tracecode.Parse(c, n.codes)
	return err == nil
}
