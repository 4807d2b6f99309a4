package msfx

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pda-agent/pda-agent/queue"
)

// progressVersion is the version of the Progress JSON (see doc.go).
const progressVersion = 1

// Part states in Progress.
const (
	// statePending: not sent, or refused; send it (after a lookup if the
	// attempt is unsure).
	statePending = "pending"
	// stateSending: a request was written but its answer never arrived:
	// look the part up before sending it again.
	stateSending = "sending"
	// stateSent: the platform has the part (queued); poll its status.
	stateSent = "sent"
	// stateFinal: processing ended, Result is 3 (处理成功) or 4 (处理失败).
	stateFinal = "final"
)

// How a part became uploaded.
const (
	howSent      = "sent"      // SUCCESS answer to our upload
	howDuplicate = "duplicate" // "该单据号已存在": an earlier upload succeeded
	howFound     = "found"     // query.upbilldetail found it before a resend
)

// progress is the state carried between attempts in upload.Job.Progress.
// It pins the split (Limit, SkipNonMSFX) so that a configuration change
// cannot re-cut a bill whose first parts are already on the platform.
type progress struct {
	V           int            `json:"v"`
	Method      string         `json:"method"`
	Limit       int            `json:"limit"`
	SkipNonMSFX bool           `json:"skip_non_msfx,omitempty"`
	Parts       []partProgress `json:"parts"`
}

// partProgress is one part's state.
type partProgress struct {
	// Code is the part's bill_code (<bill_code>_<n>, or the bill's own).
	Code string `json:"code"`
	// N and Sum identify the part's codes (count, and the first 16 hex
	// digits of SHA-256 over the comma-joined codes).
	N   int    `json:"n"`
	Sum string `json:"sum"`
	// State is pending, sending, sent or final.
	State string `json:"state"`
	// How is sent, duplicate or found once uploaded.
	How string `json:"how,omitempty"`
	// QueueID is the upload answer's model (the platform's queue id).
	QueueID string `json:"queue_id,omitempty"`
	// SentAt is when the part was known to be uploaded (dates the status
	// query).
	SentAt time.Time `json:"sent_at,omitzero"`
	// CheckErrors is operation_info_map.code_check_error_info as received.
	CheckErrors string `json:"check_errors,omitempty"`
	// Result is query.billstatus result_type: last seen while sent, final
	// (3 or 4) once final.
	Result int `json:"result,omitempty"`
	// ProcessInfo is the platform's process_info for a final part.
	ProcessInfo string `json:"process_info,omitempty"`
	// Sub is query.billstatus sub_process_flag of a final part (51 全部成功,
	// 52 部分成功), when the platform gave it.
	Sub string `json:"sub,omitempty"`
	// Polls counts status queries that found the part not final.
	Polls int `json:"polls,omitempty"`
}

// part is one upload call's worth of a bill.
type part struct {
	code  string
	codes []string
}

// splitParts cuts codes into parts of at most limit codes, in order. A
// single part keeps billCode; several are <billCode>_1, _2, … . The cut
// depends only on its inputs, so a retry regenerates the same bill codes.
func splitParts(billCode string, codes []string, limit int) []part {
	if len(codes) == 0 || limit <= 0 {
		return nil
	}
	n := (len(codes) + limit - 1) / limit
	if n == 1 {
		return []part{{code: billCode, codes: codes}}
	}
	parts := make([]part, 0, n)
	for i := range n {
		lo, hi := i*limit, min((i+1)*limit, len(codes))
		parts = append(parts, part{code: billCode + "_" + strconv.Itoa(i+1), codes: codes[lo:hi]})
	}
	return parts
}

// digest identifies a part's codes in Progress without storing them.
func digest(codes []string) string {
	h := sha256.Sum256([]byte(strings.Join(codes, ",")))
	return hex.EncodeToString(h[:8])
}

// isMSFX tells whether code is a 码上放心 code: 20 digits starting with 8.
func isMSFX(code string) bool {
	if len(code) != 20 || code[0] != '8' {
		return false
	}
	for i := range len(code) {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// selectCodes returns the codes to upload in item order and, with
// skipNonMSFX, the codes left out. A code that cannot be put in the
// comma-separated trace_codes is an error.
func selectCodes(items []queue.Item, skipNonMSFX bool) (send, skipped []string, err error) {
	for _, it := range items {
		switch {
		case it.Code == "":
			return nil, nil, fmt.Errorf("item %d has an empty code", it.Seq)
		case skipNonMSFX && !isMSFX(it.Code):
			skipped = append(skipped, it.Code)
		case strings.Contains(it.Code, ","):
			return nil, nil, fmt.Errorf("code %q (item %d) contains a comma and cannot be sent in the comma-separated trace_codes", clip(it.Code), it.Seq)
		default:
			send = append(send, it.Code)
		}
	}
	return send, skipped, nil
}

// newProgress describes parts, none sent yet.
func newProgress(method string, limit int, skip bool, parts []part) *progress {
	p := &progress{V: progressVersion, Method: method, Limit: limit, SkipNonMSFX: skip}
	for _, pt := range parts {
		p.Parts = append(p.Parts, partProgress{Code: pt.code, N: len(pt.codes), Sum: digest(pt.codes), State: statePending})
	}
	return p
}

// parseProgress reads a Job's Progress. ok is false for an empty string;
// an unreadable or foreign one is an error.
func parseProgress(s string) (p *progress, ok bool, err error) {
	if s == "" {
		return nil, false, nil
	}
	p = new(progress)
	if err := json.Unmarshal([]byte(s), p); err != nil {
		return nil, false, fmt.Errorf("unreadable progress: %w", err)
	}
	if p.V != progressVersion {
		return nil, false, fmt.Errorf("progress version %d, want %d", p.V, progressVersion)
	}
	for _, pp := range p.Parts {
		switch pp.State {
		case statePending, stateSending, stateSent, stateFinal:
		default:
			return nil, false, fmt.Errorf("progress: part %q has unknown state %q", pp.Code, pp.State)
		}
	}
	return p, true, nil
}

// started tells whether any part may have reached the platform.
func (p *progress) started() bool {
	for _, pp := range p.Parts {
		if pp.State != statePending {
			return true
		}
	}
	return false
}

// unsure tells whether any part awaits a lookup before it may be sent.
func (p *progress) unsure() bool {
	for _, pp := range p.Parts {
		if pp.State == stateSending {
			return true
		}
	}
	return false
}

// matches checks that p describes parts (same codes, same cut).
func (p *progress) matches(method string, parts []part) error {
	if p.Method != method {
		return fmt.Errorf("progress is for %s, the bill now maps to %s", shortMethod(p.Method), shortMethod(method))
	}
	if len(p.Parts) != len(parts) {
		return fmt.Errorf("progress has %d parts, the bill's codes now make %d", len(p.Parts), len(parts))
	}
	for i, pt := range parts {
		pp := p.Parts[i]
		if pp.Code != pt.code || pp.N != len(pt.codes) || pp.Sum != digest(pt.codes) {
			return fmt.Errorf("part %d was %s with %d codes, now %s with %d different codes", i+1, pp.Code, pp.N, pt.code, len(pt.codes))
		}
	}
	return nil
}

// encode renders p for Outcome.Progress.
func (p *progress) encode() string {
	if p == nil {
		return ""
	}
	// Only strings, ints, bools and times: marshalling cannot fail.
	b, _ := json.Marshal(p)
	return string(b)
}
