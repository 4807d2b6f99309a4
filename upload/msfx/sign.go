package msfx

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// chinaZone is the zone of every TOP timestamp and bill_time (UTC+8, no
// daylight saving). A fixed zone needs no tzdata on the device and does not
// depend on the host's TZ, which is the classic "code 31 on a UTC device"
// pitfall of the public SDKs.
func chinaZone() *time.Location { return time.FixedZone("UTC+8", 8*60*60) }

// stringToSign joins params as key1value1key2value2… in ASCII key order,
// without sign and without empty values (the SDKs disagree on empty values;
// they are never sent, so every variant agrees).
func stringToSign(params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k, v := range params {
		if k == wire.ParamSign || k == "" || v == "" {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys) // byte order = ASCII order
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteString(params[k])
	}
	return b.String()
}

// sign computes the TOP signature of params with secret: uppercase hex of
// MD5(secret+s+secret), HMAC-MD5(secret, s) or HMAC-SHA256(secret, s) where
// s is stringToSign(params).
func sign(signMethod, secret string, params map[string]string) (string, error) {
	s := stringToSign(params)
	var h hash.Hash
	switch signMethod {
	case wire.SignMD5:
		h = md5.New()
		h.Write([]byte(secret))
		h.Write([]byte(s))
		h.Write([]byte(secret))
	case wire.SignHMAC:
		h = hmac.New(md5.New, []byte(secret))
		h.Write([]byte(s))
	case wire.SignHMACSHA256:
		h = hmac.New(sha256.New, []byte(secret))
		h.Write([]byte(s))
	default:
		return "", fmt.Errorf("unsupported sign_method %q (want %s, %s or %s)", signMethod, wire.SignMD5, wire.SignHMAC, wire.SignHMACSHA256)
	}
	return strings.ToUpper(hex.EncodeToString(h.Sum(nil))), nil
}

// isSystemParam tells whether k is a TOP system parameter, which business
// parameters must not override.
func isSystemParam(k string) bool {
	switch k {
	case wire.ParamMethod, wire.ParamAppKey, wire.ParamSession, wire.ParamTimestamp, wire.ParamVersion,
		wire.ParamSignMethod, wire.ParamSign, wire.ParamFormat, wire.ParamSimplify, wire.ParamPartnerID:
		return true
	}
	return false
}

// form builds the signed request body for method: system parameters, the
// non-empty business parameters and sign. now is formatted in UTC+8.
func (c *Client) form(method string, biz map[string]string, now time.Time) (url.Values, error) {
	p := map[string]string{
		wire.ParamMethod:     method,
		wire.ParamAppKey:     c.appKey,
		wire.ParamTimestamp:  now.In(c.zone).Format(wire.TimestampLayout),
		wire.ParamVersion:    wire.Version,
		wire.ParamSignMethod: c.signMethod,
		wire.ParamFormat:     "json",
		wire.ParamSession:    c.session,
		wire.ParamPartnerID:  c.partnerID,
	}
	if c.simplify {
		p[wire.ParamSimplify] = "true"
	}
	for k, v := range biz {
		if isSystemParam(k) {
			return nil, fmt.Errorf("business parameter %q clashes with a TOP system parameter", k)
		}
		p[k] = v
	}
	for k, v := range p {
		if v == "" {
			delete(p, k)
		}
	}
	s, err := sign(c.signMethod, c.secret, p)
	if err != nil {
		return nil, err
	}
	form := make(url.Values, len(p)+1)
	for k, v := range p {
		form.Set(k, v)
	}
	form.Set(wire.ParamSign, s)
	return form, nil
}
