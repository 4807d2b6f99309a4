package sandbox

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Gateway messages, as the provincial gateways word them (nhsa.md §2.4).
const (
	msgMissingHeader = "缺少服务网关的请求头"
	msgUnknownUser   = "非法用户"
	msgBadSignature  = "签名不一致"
	msgStale         = "签名时间戳超时"
	msgBadTimestamp  = "签名时间戳格式错误"
	msgReplay        = "请求重放: nonce已使用"
)

func gatewayFail(reason, msg string) *failure {
	return &failure{reason: reason, status: http.StatusUnauthorized, code: http.StatusUnauthorized, msg: msg}
}

// checkGateway enforces the configured header scheme. Checks run
// presence, identity, timestamp format, signature, window, replay: the
// signature comes before the window so that a caller without the secret
// learns nothing about the gateway clock.
func (s *Server) checkGateway(r *http.Request) *failure {
	switch s.scheme {
	case SchemeTif:
		return s.checkTif(r)
	case SchemeAPI:
		return s.checkAPI(r)
	}
	return nil
}

// missing lists the headers of names that are absent or empty.
func missing(h http.Header, names ...string) []string {
	var out []string
	for _, n := range names {
		if h.Get(n) == "" {
			out = append(out, n)
		}
	}
	return out
}

func (s *Server) checkTif(r *http.Request) *failure {
	h := r.Header
	if m := missing(h, hdrTifPaasID, hdrTifTimestamp, hdrTifNonce, hdrTifSignature); len(m) > 0 {
		return gatewayFail(reasonMissingHeader, msgMissingHeader+": "+strings.Join(m, ","))
	}
	paasID, ts, nonce, sig := h.Get(hdrTifPaasID), h.Get(hdrTifTimestamp), h.Get(hdrTifNonce), h.Get(hdrTifSignature)
	if !hmac.Equal([]byte(paasID), []byte(s.paasID)) {
		return gatewayFail(reasonUnknownUser, msgUnknownUser)
	}
	secs, ok := parseDigits(ts, 1, 12)
	if !ok {
		return gatewayFail(reasonBadTimestamp, msgBadTimestamp+": x-tif-timestamp应为秒级Unix时间")
	}
	sum := sha256.Sum256([]byte(ts + s.paasToken + nonce + ts))
	// The lowercase hex text itself is compared: the scheme fixes it.
	if !hmac.Equal([]byte(sig), []byte(hex.EncodeToString(sum[:]))) {
		return gatewayFail(reasonBadSignature, msgBadSignature)
	}
	now := s.now()
	if !s.within(time.Unix(secs, 0), now) {
		return gatewayFail(reasonStaleTimestamp, msgStale)
	}
	s.mu.Lock()
	fresh := s.nonces.add(paasID+"\x00"+nonce, now, s.window)
	s.mu.Unlock()
	if !fresh {
		return gatewayFail(reasonReplay, msgReplay)
	}
	return nil
}

func (s *Server) checkAPI(r *http.Request) *failure {
	h := r.Header
	if m := missing(h, hdrAPIName, hdrAPIVersion, hdrAPITimestamp, hdrAPIAccessKey, hdrAPISignature); len(m) > 0 {
		return gatewayFail(reasonMissingHeader, msgMissingHeader+": "+strings.Join(m, ","))
	}
	name, version, ts, key, sig := h.Get(hdrAPIName), h.Get(hdrAPIVersion), h.Get(hdrAPITimestamp),
		h.Get(hdrAPIAccessKey), h.Get(hdrAPISignature)
	if !hmac.Equal([]byte(key), []byte(s.apiKey)) {
		return gatewayFail(reasonUnknownUser, msgUnknownUser)
	}
	if (s.apiName != "" && name != s.apiName) || (s.apiVersion != "" && version != s.apiVersion) {
		return gatewayFail(reasonUnknownService, msgUnknownUser+": 未授权的服务"+name+"/"+version)
	}
	ms, ok := parseDigits(ts, 13, 13)
	if !ok {
		return gatewayFail(reasonBadTimestamp, msgBadTimestamp+": _api_timestamp应为13位毫秒时间戳")
	}
	m := hmac.New(sha1.New, s.apiSecret)
	m.Write([]byte("_api_access_key=" + key + "&_api_name=" + name + "&_api_timestamp=" + ts + "&_api_version=" + version))
	if !hmac.Equal([]byte(sig), []byte(base64.StdEncoding.EncodeToString(m.Sum(nil)))) {
		return gatewayFail(reasonBadSignature, msgBadSignature)
	}
	if !s.within(time.UnixMilli(ms), s.now()) {
		return gatewayFail(reasonStaleTimestamp, msgStale)
	}
	return nil
}

// within reports whether t is inside ±window of now.
func (s *Server) within(t, now time.Time) bool {
	d := now.Sub(t)
	return d <= s.window && d >= -s.window
}

// checkContentType accepts JSON and the text/plain the _api_ gateway
// clients send, in UTF-8 only.
func checkContentType(v string) *failure {
	bad := func(m string) *failure {
		return &failure{reason: reasonContentType, status: http.StatusUnsupportedMediaType,
			code: http.StatusUnsupportedMediaType, msg: m}
	}
	if v == "" {
		return bad("缺少Content-Type (application/json 或 text/plain; charset=utf-8)")
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil || (mt != "application/json" && mt != "text/plain") {
		return bad(fmt.Sprintf("不支持的Content-Type %q", v))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return bad(fmt.Sprintf("不支持的字符集 %q, 只支持utf-8", cs))
	}
	return nil
}

// parseDigits parses plain decimal digits (no sign or space), between
// minLen and maxLen of them.
func parseDigits(s string, minLen, maxLen int) (int64, bool) {
	if len(s) < minLen || len(s) > maxLen || !isDigits(s, len(s)) {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// isDigits reports whether s is exactly n ASCII digits.
func isDigits(s string, n int) bool {
	if len(s) != n || n == 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// nonceStore remembers x-tif nonces for replay detection. Entries older
// than two windows are pruned, since a request that old fails the window
// check anyway; pruning runs when the map has doubled, so memory stays
// proportional to the traffic of one window.
type nonceStore struct {
	seen      map[string]time.Time
	pruneSize int
}

// add records key at now and reports whether it was new. The caller
// holds the server lock.
func (n *nonceStore) add(key string, now time.Time, window time.Duration) bool {
	if t, ok := n.seen[key]; ok && now.Sub(t) <= 2*window {
		return false
	}
	n.seen[key] = now
	if len(n.seen) > max(n.pruneSize, 1024) {
		for k, t := range n.seen {
			if now.Sub(t) > 2*window {
				delete(n.seen, k)
			}
		}
		n.pruneSize = 2 * len(n.seen)
	}
	return true
}
