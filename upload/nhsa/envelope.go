package nhsa

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/pda-agent/pda-agent/gm"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/nhsa/fsi"
)

// seal wraps plain, the FSI request JSON, into the channel envelope
// (nhsa.md §4.1-4.3): encData is the SM4 ciphertext of plain, signData the
// SM2 signature over the sign string of the envelope fields with data = the
// request object itself. data is passed as the very bytes encrypted, so the
// platform rebuilds the same sign string from what it decrypts.
func (c *Client) seal(plain []byte, now time.Time) ([]byte, error) {
	enc, err := gm.EncData(c.dataKey, plain)
	if err != nil {
		return nil, fmt.Errorf("encrypting the request: %w", err)
	}
	env := fsi.Envelope{
		AppID: c.prof.AppID, EncType: fsi.EncTypeSM4, SignType: fsi.SignTypeSM2,
		Timestamp: strconv.FormatInt(now.UnixMilli(), 10), Version: fsi.EnvelopeVersion, EncData: enc,
	}
	s, err := gm.SignString(map[string]any{
		"appId": env.AppID, "encType": env.EncType, "signType": env.SignType,
		"timestamp": env.Timestamp, "version": env.Version, "data": json.RawMessage(plain),
	}, c.prof.AppSecret)
	if err != nil {
		return nil, fmt.Errorf("building the string to sign: %w", err)
	}
	if env.SignData, err = gm.SignBase64(c.prof.ChannelKey, []byte(s), c.uid, c.rand); err != nil {
		return nil, fmt.Errorf("signing the request: %w", err)
	}
	return marshalJSON(env)
}

// openEnvelope reads an answer in the channel envelope (nhsa.md §4.5):
// code 0, decrypt encData, rebuild the sign string from every answer field
// but signData/encData plus data = the decrypted object, and verify signData
// with the platform key. Nothing in the answer is trusted before that. ok
// is false when body is not an envelope at all; otherwise plain is the
// verified FSI answer JSON, or e says why there is none.
func (c *Client) openEnvelope(infno string, body []byte) (plain []byte, ok bool, e *Error) {
	m, err := gm.DecodeJSONObject(body)
	if err != nil {
		return nil, false, nil
	}
	_, hasCode := m["code"]
	_, hasEnc := m["encData"]
	_, hasSign := m["signData"]
	if !hasCode && !hasEnc && !hasSign {
		return nil, false, nil
	}
	if code := scalarText(m["code"]); code != "0" {
		msg := scalarText(m["message"])
		if msg == "" {
			msg = scalarText(m["msg"])
		}
		return nil, true, envelopeRefusal(infno, code, msg)
	}
	encData, _ := m["encData"].(string)
	signData, _ := m["signData"].(string)
	switch {
	case encData == "":
		return nil, true, c.unverified(infno, "the answer has code 0 but no encData")
	case signData == "":
		return nil, true, c.unverified(infno, "the answer is not signed (no signData)")
	}
	if app, _ := m["appId"].(string); app != "" && app != c.prof.AppID {
		return nil, true, c.unverified(infno, fmt.Sprintf("the answer is for appId %q, not this channel's %q", clip(app), c.prof.AppID))
	}
	plain, err = gm.DecData(c.dataKey, encData)
	if err != nil {
		return nil, true, c.unverified(infno, fmt.Sprintf("cannot decrypt the answer's encData (%v)", err))
	}
	data, err := gm.DecodeJSONObject(plain)
	if err != nil {
		return nil, true, c.unverified(infno, fmt.Sprintf("the answer's decrypted data is not a JSON object (%v)", err))
	}
	fields := make(map[string]any, len(m)+1)
	for k, v := range m {
		if k != "signData" && k != "encData" {
			fields[k] = v
		}
	}
	fields["data"] = data
	s, err := gm.SignString(fields, c.prof.AppSecret)
	if err != nil {
		return nil, true, c.unverified(infno, fmt.Sprintf("cannot rebuild the answer's string to sign (%v)", err))
	}
	if err := gm.VerifyBase64(c.prof.PlatformKey, []byte(s), c.uid, signData); err != nil {
		return nil, true, c.unverified(infno, fmt.Sprintf("the answer's SM2 signature does not verify (%v)", err))
	}
	return plain, true, nil
}

// unverified is an answer that cannot be trusted: it is ignored, and as the
// request was delivered its fate is unknown.
func (c *Client) unverified(infno, what string) *Error {
	return &Error{
		Infno: infno, Class: upload.Retry, MaybeApplied: true,
		Msg: "UNVERIFIED ANSWER IGNORED: " + what,
		Hint: fmt.Sprintf("either a man in the middle altered the answer, or the profile's platform public key (平台公钥, fingerprint %s), app_secret or uid "+
			"do not belong to this environment; whatever the answer said, the request's fate is unknown", c.platformF),
	}
}

// envelopeRefusal classifies a channel answer with a non-zero code: the
// platform refused the envelope before looking at the FSI request.
func envelopeRefusal(infno, code, msg string) *Error {
	e := &Error{Infno: infno, Class: upload.Retry, Msg: fmt.Sprintf("channel answer code %s: %s", orNone(clip(code)), orNone(clip(msg))), answered: true}
	if hint, class, ok := authRefusal(msg); ok {
		e.Class, e.Hint = class, hint
		return e
	}
	if n, err := strconv.Atoi(code); err == nil && n >= 500 && n <= 599 {
		// The channel's own "internal error": the platform may have
		// applied the request before it failed.
		e.answered, e.MaybeApplied = false, true
		e.Hint = "the channel reports an internal fault; the request may have been applied"
		return e
	}
	e.Hint = "the channel refused the envelope; nothing says the bill is wrong"
	return e
}

// scalarText renders a decoded JSON scalar as text ("" for null, objects
// and arrays).
func scalarText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
