package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/pda-agent/pda-agent/gm"
)

// Envelope refusal codes (the "code" of an unencrypted {code, message}
// answer); 0 is success.
const (
	CodeEnvInvalid   = 1001 // not a well-formed envelope
	CodeEnvApp       = 1002 // appId not known
	CodeEnvEncType   = 1003 // encType not SM4
	CodeEnvSignType  = 1004 // signType not SM2
	CodeEnvVersion   = 1005 // version not the one accepted
	CodeEnvTimestamp = 1006 // timestamp not 13-digit milliseconds
	CodeEnvDecrypt   = 1007 // encData does not decrypt with the channel's data key
	CodeEnvSignature = 1008 // signData does not verify with the channel's public key
	CodeEnvStale     = 1009 // timestamp outside the window
)

// opened is a request envelope that passed every check.
type opened struct {
	ch      *channel
	version string
	plain   []byte // the decrypted FSI request
}

func envFail(reason string, code int, msg string) *failure {
	return &failure{reason: reason, status: http.StatusOK, code: code, msg: msg}
}

// openEnvelope checks a request envelope and decrypts it. The signature
// is verified before the window, for the same reason as at the gateway.
func (s *Server) openEnvelope(body []byte) (*opened, *failure) {
	if !utf8.Valid(body) {
		return nil, envFail(reasonEnvInvalid, CodeEnvInvalid, "报文格式错误: 不是有效的UTF-8")
	}
	fields, err := gm.DecodeJSONObject(body)
	if err != nil {
		return nil, envFail(reasonEnvInvalid, CodeEnvInvalid, "报文格式错误: 不是JSON对象")
	}
	// The request envelope's own fields, all required strings.
	vals := make(map[string]string, 7)
	for _, name := range []string{"appId", "encType", "signType", "timestamp", "version", "encData", "signData"} {
		v, ok := fields[name].(string)
		switch {
		case fields[name] == nil:
			return nil, envFail(reasonEnvInvalid, CodeEnvInvalid, "报文格式错误: 缺少字段"+name)
		case !ok:
			return nil, envFail(reasonEnvInvalid, CodeEnvInvalid, "报文格式错误: 字段"+name+"应为字符串")
		case v == "":
			return nil, envFail(reasonEnvInvalid, CodeEnvInvalid, "报文格式错误: 字段"+name+"为空")
		}
		vals[name] = v
	}
	// data is only for signing; sent along it would leak the plaintext.
	if _, ok := fields["data"]; ok {
		return nil, envFail(reasonEnvInvalid, CodeEnvInvalid, "报文格式错误: 不得发送明文data")
	}
	var unknown []string
	for k := range fields {
		switch k {
		case "appId", "encType", "signType", "timestamp", "version", "encData", "signData", "extra":
		default:
			unknown = append(unknown, "envelope."+k)
		}
	}
	s.noteUnknown(unknown)

	ch := s.channels[vals["appId"]]
	if ch == nil {
		return nil, envFail(reasonEnvApp, CodeEnvApp, "appId不存在: "+vals["appId"])
	}
	if vals["encType"] != encTypeSM4 {
		return nil, envFail(reasonEnvEncType, CodeEnvEncType, "不支持的encType: "+vals["encType"])
	}
	if vals["signType"] != signTypeSM2 {
		return nil, envFail(reasonEnvSignType, CodeEnvSignType, "不支持的signType: "+vals["signType"])
	}
	if vals["version"] != s.envVersion {
		return nil, envFail(reasonEnvVersion, CodeEnvVersion, "不支持的version: "+vals["version"])
	}
	ms, ok := parseDigits(vals["timestamp"], 13, 13)
	if !ok {
		return nil, envFail(reasonEnvTimestamp, CodeEnvTimestamp, "timestamp应为13位毫秒时间戳")
	}
	plain, err := gm.DecData(ch.key, vals["encData"])
	if err != nil {
		return nil, envFail(reasonEnvDecrypt, CodeEnvDecrypt, "encData解密失败")
	}
	if !utf8.Valid(plain) {
		return nil, envFail(reasonEnvDecrypt, CodeEnvDecrypt, "encData解密结果不是有效的UTF-8")
	}
	data, err := gm.DecodeJSONObject(plain)
	if err != nil {
		return nil, envFail(reasonEnvInvalid, CodeEnvInvalid, "encData解密结果不是JSON对象")
	}
	// Every field received is signed except signData, encData and extra
	// (gm.SignString skips those), plus data, the decrypted object.
	fields["data"] = data
	text, err := gm.SignString(fields, ch.AppSecret)
	if err != nil {
		return nil, envFail(reasonEnvInvalid, CodeEnvInvalid, "报文格式错误: 无法生成签名串")
	}
	if err := gm.VerifyBase64(ch.ChannelPub, []byte(text), ch.uid, vals["signData"]); err != nil {
		return nil, envFail(reasonEnvSignature, CodeEnvSignature, "验签失败")
	}
	if !s.within(time.UnixMilli(ms), s.now()) {
		return nil, envFail(reasonEnvStale, CodeEnvStale, "timestamp超时")
	}
	return &opened{ch: ch, version: vals["version"], plain: plain}, nil
}

// seal wraps an FSI answer: code 0, encData of the answer and signData by
// the platform key over every answer field but signData and encData, plus
// data = the answer object (gm.SignString drops the empties).
func (s *Server) seal(o *opened, answer []byte) ([]byte, error) {
	enc, err := gm.EncData(o.ch.key, answer)
	if err != nil {
		return nil, err
	}
	env := envelopeAnswer{AppID: o.ch.AppID, EncType: encTypeSM4, SignType: signTypeSM2,
		Timestamp: strconv.FormatInt(s.now().UnixMilli(), 10), Version: o.version, EncData: enc,
		Code: 0, Message: "成功"}
	// The sign text is rebuilt from the JSON that goes out, as the client
	// will rebuild it, rather than from the struct.
	raw, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	fields, err := gm.DecodeJSONObject(raw)
	if err != nil {
		return nil, err
	}
	data, err := gm.DecodeJSONObject(answer)
	if err != nil {
		return nil, fmt.Errorf("answer is not a JSON object: %w", err)
	}
	fields["data"] = data
	text, err := gm.SignString(fields, o.ch.AppSecret)
	if err != nil {
		return nil, err
	}
	if env.SignData, err = gm.SignBase64(s.platformKey, []byte(text), o.ch.uid, nil); err != nil {
		return nil, err
	}
	return json.Marshal(env)
}

// noteUnknown counts and logs fields outside the contract; they are
// accepted because provinces add their own.
func (s *Server) noteUnknown(names []string) {
	if len(names) == 0 {
		return
	}
	s.mu.Lock()
	for _, n := range names {
		s.stats.UnknownFields[n]++
	}
	s.mu.Unlock()
	s.log.Info("sandbox: unknown fields accepted", "fields", names)
}
