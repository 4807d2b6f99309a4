package nhsa

import (
	"fmt"
	"strings"

	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/nhsa/fsi"
)

// Verdict kinds (Verdict.Kind).
const (
	// VerdictTransient: busy or timed out; the same rows are sent again
	// later.
	VerdictTransient = "transient"
	// VerdictPermanent: refused for a reason retrying cannot fix; the
	// delivery becomes a dead letter with the platform's words.
	VerdictPermanent = "permanent"
	// VerdictAlready: the rows are already on the platform (an earlier
	// attempt got through): delivered.
	VerdictAlready = "already"
	// VerdictMsgid: the platform refused the request's msgid or its time,
	// not its rows; the next attempt sends the rows under a new msgid.
	VerdictMsgid = "msgid"
)

// Verdict is one rule of the table that judges a platform text (err_msg of
// a non-zero infcode, msgRslt of a refused message or row). Real texts
// vary by province and are not public, so the table is data: built-in
// defaults (DefaultVerdicts), with the config's rules (nhsa.verdicts)
// tried first. Documented in docs/nhsa-verdicts.md.
type Verdict struct {
	// All are substrings that must all appear in the text (ASCII letters
	// compared without case). At least one.
	All []string `json:"all"`
	// Not are substrings that must not appear.
	Not []string `json:"not,omitempty"`
	// Kind is VerdictTransient, VerdictPermanent, VerdictAlready or
	// VerdictMsgid.
	Kind string `json:"kind"`
	// Hint is shown to the operator after the platform's words.
	Hint string `json:"hint,omitempty"`
}

// Hints of the built-in verdicts.
const (
	hintAlready = "these fixmedins_bchno rows are already on the platform (an earlier attempt got through)"
	hintSold    = "a trace code on this bill was already sold in another sale (one code, one sale): check for a double scan or a swapped pack"
	hintMsgid   = "the platform refused the msgid or its time (reused, or outside its time window); the next attempt uses a new msgid — if this repeats, check the device clock"
	hintBusy    = "the platform is busy or timed out; retrying later"
)

// DefaultVerdicts is the built-in table, tried after the config's rules
// and after the gateways' authentication refusals. Each call returns a
// fresh slice.
func DefaultVerdicts() []Verdict {
	v := []Verdict{
		{All: []string{fsi.ErrTextDuplicateNo}, Kind: VerdictAlready, Hint: hintAlready},
		{All: []string{fsi.ErrTextSoldCode}, Kind: VerdictPermanent, Hint: hintSold},
	}
	// A refusal of the request's identity or age (repeated msgid not
	// answered idempotently, msgid or inf_time outside the window).
	for _, id := range []string{"msgid", "报文id"} {
		for _, w := range []string{"重复", "已用", "超出", "超时", "过期"} {
			v = append(v, Verdict{All: []string{id, w}, Not: []string{"bchno"}, Kind: VerdictMsgid, Hint: hintMsgid})
		}
	}
	v = append(v,
		Verdict{All: []string{"交易时间", "超出"}, Not: []string{"bchno"}, Kind: VerdictMsgid, Hint: hintMsgid},
		Verdict{All: []string{"交易时间", "超时"}, Not: []string{"bchno"}, Kind: VerdictMsgid, Hint: hintMsgid},
	)
	for _, w := range []string{fsi.ErrTextBusy, "繁忙", "请稍后", "超时", "timeout", "timed out", "time out"} {
		v = append(v, Verdict{All: []string{w}, Kind: VerdictTransient, Hint: hintBusy})
	}
	return v
}

// CheckVerdicts validates configured rules.
func CheckVerdicts(vs []Verdict) error {
	for i, v := range vs {
		switch v.Kind {
		case VerdictTransient, VerdictPermanent, VerdictAlready, VerdictMsgid:
		default:
			return fmt.Errorf("verdicts[%d]: kind %q: want %q, %q, %q or %q", i, v.Kind, VerdictTransient, VerdictPermanent, VerdictAlready, VerdictMsgid)
		}
		if len(v.All) == 0 {
			return fmt.Errorf("verdicts[%d]: no text to match (all)", i)
		}
		for _, s := range append(append([]string(nil), v.All...), v.Not...) {
			if strings.TrimSpace(s) == "" {
				return fmt.Errorf("verdicts[%d]: an empty text would match every answer", i)
			}
		}
	}
	return nil
}

// matches tells whether the rule fits text.
func (v Verdict) matches(text string) bool {
	lower := strings.ToLower(text)
	for _, s := range v.All {
		if !strings.Contains(lower, strings.ToLower(s)) {
			return false
		}
	}
	for _, s := range v.Not {
		if strings.Contains(lower, strings.ToLower(s)) {
			return false
		}
	}
	return true
}

// verdict judges a platform text: the config's rules, then the gateways'
// authentication refusals, then the built-in table. ok is false when no
// rule knows the text.
func (c *Client) verdict(text string) (kind, hint string, ok bool) {
	for _, v := range c.cfg.Verdicts {
		if v.matches(text) {
			return v.Kind, v.Hint, true
		}
	}
	if h, class, auth := authRefusal(text); auth {
		if class == upload.Retry {
			return VerdictTransient, h, true
		}
		return VerdictPermanent, h, true
	}
	for _, v := range c.defaults {
		if v.matches(text) {
			return v.Kind, v.Hint, true
		}
	}
	return "", "", false
}

// classOf maps a verdict kind to the queue's class.
func classOf(kind string) upload.Class {
	switch kind {
	case VerdictAlready:
		return upload.Done
	case VerdictPermanent:
		return upload.Permanent
	}
	return upload.Retry
}
