package nhsa

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/pda-agent/pda-agent/upload/nhsa/fsi"
)

// chinaZone is the zone of msgid, inf_time and every *_time field (UTC+8,
// no daylight saving). A fixed zone needs no tzdata on the device and does
// not depend on the host's TZ.
func chinaZone() *time.Location { return time.FixedZone("UTC+8", 8*60*60) }

// newMsgID draws the next value of the persistent sequence and makes the
// msgid of a call at now: fixmedins_code(12) + yyyyMMddHHmmss (UTC+8) +
// slot(1) + seq%1000 (3). Devices of one pharmacy differ by slot; one
// device never repeats a msgid unless it makes more than 1000 calls in one
// second.
func (c *Client) newMsgID(ctx context.Context, now time.Time) (string, error) {
	seq, err := c.cfg.Sequence(ctx)
	if err != nil {
		return "", fmt.Errorf("drawing the msgid sequence: %w", err)
	}
	return formatMsgID(c.cfg.FixmedinsCode, now.In(c.zone), c.cfg.MsgIDSlot, seq), nil
}

func formatMsgID(code string, t time.Time, slot int, seq uint64) string {
	return fmt.Sprintf("%s%s%d%03d", code, t.Format(fsi.MsgIDTimeLayout), slot, seq%1000)
}

// setAuthHeaders adds the gateway headers of the configured scheme
// (nhsa.md §2.4). Header names are set verbatim (lowercase, underscores),
// as the gateways document them.
func (c *Client) setAuthHeaders(h http.Header, now time.Time) error {
	p := &c.prof
	switch c.cfg.GatewayAuth {
	case AuthXTif:
		ts := strconv.FormatInt(now.Unix(), 10)
		nonce, err := c.nonce(now)
		if err != nil {
			return err
		}
		h[fsi.HdrTifPaasID] = []string{p.PaasID}
		h[fsi.HdrTifTimestamp] = []string{ts}
		h[fsi.HdrTifNonce] = []string{nonce}
		h[fsi.HdrTifSignature] = []string{tifSignature(ts, p.PaasToken, nonce)}
	case AuthAPI:
		ts := strconv.FormatInt(now.UnixMilli(), 10)
		h[fsi.HdrAPIName] = []string{p.APIName}
		h[fsi.HdrAPIVersion] = []string{p.APIVersion}
		h[fsi.HdrAPITimestamp] = []string{ts}
		h[fsi.HdrAPIAccessKey] = []string{p.APIAccessKey}
		h[fsi.HdrAPISignature] = []string{apiSignature(p.APISecretKey, p.APIAccessKey, p.APIName, ts, p.APIVersion)}
	}
	return nil
}

// tifSignature is lowercase hex SHA-256(timestamp + paasToken + nonce +
// timestamp).
func tifSignature(ts, token, nonce string) string {
	sum := sha256.Sum256([]byte(ts + token + nonce + ts))
	return hex.EncodeToString(sum[:])
}

// apiSignature is Base64(HmacSHA1(secretKey, the four _api_ parameters as
// k=v joined by & in key order)). The keys below are already in ASCII
// order: access_key < name < timestamp < version.
func apiSignature(secret, accessKey, name, ts, version string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(fsi.HdrAPIAccessKey + "=" + accessKey + "&" + fsi.HdrAPIName + "=" + name + "&" +
		fsi.HdrAPITimestamp + "=" + ts + "&" + fsi.HdrAPIVersion + "=" + version))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// nonce is hex(ms) + "-" + 24 random hex digits: unique per request even
// when two requests share a millisecond.
func (c *Client) nonce(now time.Time) (string, error) {
	var b [12]byte
	if _, err := io.ReadFull(c.rand, b[:]); err != nil {
		return "", fmt.Errorf("drawing the x-tif nonce: %w", err)
	}
	return strconv.FormatInt(now.UnixMilli(), 16) + "-" + hex.EncodeToString(b[:]), nil
}
