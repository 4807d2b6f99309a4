package nhsa

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/pda-agent/pda-agent/upload"
)

// The business result inside a successful (infcode 0) answer. Public
// clients read a second verdict there, so infcode 0 alone never means
// delivered:
//   - output.result.{retRslt, msgRslt}: "1" success, "0" failure with the
//     reason in msgRslt. A public Java HIS reads it after 3505/3506
//     (package com.openhis.yb.dto, Medical3505Result.java: fields retRslt,
//     msgRslt; its caller treats "1" as success); nhsa.md §3.5 (3505A).
//   - per-row results: invinfoErrDetail[] of 3502A with fixmedins_bchno,
//     retRslt ("成功返回值为1，失败返回值为0"), msgRslt (错误原因) — a public
//     C# client (NeiMengGuYiBaoApp, Models/Output/YiBao Output_3502A); the
//     same shape is read for any *ErrDetail list (e.g. of 3503A/3505A).
//
// The reader is tolerant, since provinces differ: retRslt as string or
// number, at output or output.result; any list of objects carrying
// fixmedins_bchno (or fixmedinsBchno) is read as per-row results, a row
// counting as refused when its retRslt is not 1 or, without retRslt, it
// carries a reason (msgRslt); rows merely echoed are not refused. An
// absent output (the
// tables give 3503-3506 none) is success.

// bizResult is the business result of one answer.
type bizResult struct {
	// failed: an overall retRslt other than 1, with msg (msgRslt).
	failed bool
	msg    string
	// rows are the rows reported not taken: fixmedins_bchno → msgRslt.
	rows map[string]string
	// order keeps the rows as reported.
	order []string
}

// business reads output; it never fails (an unreadable output says
// nothing, and infcode 0 then stands).
func (c *Client) business(output json.RawMessage) bizResult {
	var r bizResult
	var top map[string]any
	dec := json.NewDecoder(bytes.NewReader(output))
	dec.UseNumber() // retRslt may be a number
	if len(output) == 0 || dec.Decode(&top) != nil || top == nil {
		return r
	}
	levels := []map[string]any{top}
	if res, ok := top["result"].(map[string]any); ok {
		levels = append(levels, res)
	}
	for _, m := range levels {
		if v, ok := m["retRslt"]; ok && !r.failed {
			if s := scalarText(v); s != "1" {
				r.failed, r.msg = true, scalarText(m["msgRslt"])
			}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			list, ok := m[k].([]any)
			if !ok {
				continue
			}
			for _, el := range list {
				row, ok := el.(map[string]any)
				if !ok {
					continue
				}
				bchno := strings.TrimSpace(scalarText(row["fixmedins_bchno"]))
				if bchno == "" {
					bchno = strings.TrimSpace(scalarText(row["fixmedinsBchno"]))
				}
				if bchno == "" {
					continue
				}
				// A refusal says so: retRslt other than 1, or, without
				// retRslt, a reason. A row merely echoed is not refused.
				v, hasRet := row["retRslt"]
				if hasRet && scalarText(v) == "1" {
					continue
				}
				if !hasRet && strings.TrimSpace(scalarText(row["msgRslt"])) == "" {
					continue
				}
				if r.rows == nil {
					r.rows = map[string]string{}
				}
				if _, seen := r.rows[bchno]; !seen {
					r.order = append(r.order, bchno)
				}
				r.rows[bchno] = scalarText(row["msgRslt"])
			}
		}
	}
	return r
}

// judgeBusiness turns the business result of an infcode-0 answer into the
// part's fate: nil when the part is in (refused rows recorded in t), or the
// attempt's outcome.
func (c *Client) judgeBusiness(head string, t *tally, pt *part, biz bizResult, ref string, infcode *int) *upload.Outcome {
	answered := func(class upload.Class, what string) *upload.Outcome {
		// The platform answered this msgid: not in doubt, and the next
		// attempt draws a new one.
		return &upload.Outcome{Class: class, Progress: t.progress(stateAnswered, pt, infcode).encode(),
			Message: fmt.Sprintf("%s%s (msgid %s, inf_refmsgid %s)%s", head, what, pt.msgid, orNone(clip(ref)), t.tail())}
	}
	if len(biz.rows) == 0 {
		if !biz.failed {
			return nil
		}
		kind, hint, ok := c.verdict(biz.msg)
		if !ok {
			kind = VerdictPermanent
		}
		words := "retRslt 0: " + orNone(clip(biz.msg)) + hintText(hint)
		switch kind {
		case VerdictAlready:
			t.notes = append(t.notes, "the platform says the rows are already there: "+words)
			return nil
		case VerdictPermanent:
			return answered(upload.Permanent, "refused by the business result: "+words)
		}
		return answered(upload.Retry, "not taken now (business result): "+words)
	}
	refused := 0
	var words, later []string
	again := map[int]bool{} // rows (of the bill) not taken now
	errs := map[string]string{}
	for _, bchno := range biz.order {
		msg := biz.rows[bchno]
		kind, hint, ok := c.verdict(msg)
		if !ok {
			kind = VerdictPermanent
		}
		w := fmt.Sprintf("row %s: %s%s", bchno, orNone(clip(msg)), hintText(hint))
		switch kind {
		case VerdictAlready:
			t.notes = append(t.notes, w+" (already there)")
			continue
		case VerdictTransient, VerdictMsgid:
			i := slices.Index(pt.bchnos, bchno)
			if i < 0 {
				// A row this part does not know: the part is not settled.
				return answered(upload.Retry, "a row was not taken now: "+w)
			}
			again[pt.from+i] = true
			later = append(later, w)
			continue
		}
		refused++
		words = append(words, w)
		i := slices.Index(pt.bchnos, bchno)
		reason := fmt.Sprintf("医保 refused row %s (msgid %s): %s", bchno, pt.msgid, orNone(clip(msg)))
		if i >= 0 && i < len(pt.codes) && len(pt.codes[i]) > 0 {
			for _, code := range pt.codes[i] {
				errs[code] = reason
			}
		} else {
			errs[bchno] = reason // the row's own key when its codes are not known
		}
	}
	if refused > 0 && refused >= pt.rows {
		return answered(upload.Permanent, "every row refused: "+strings.Join(words, "; "))
	}
	if t.refused == nil && len(errs) > 0 {
		t.refused = map[string]string{}
	}
	for k, v := range errs {
		t.refused[k] = v
	}
	if len(words) > 0 {
		t.notes = append(t.notes, "refused rows: "+strings.Join(words, "; "))
	}
	if len(again) > 0 {
		// The other rows were taken (or refused for good): they are in and
		// never sent again; only the rows not taken now go again, under a
		// new msgid, so a duplicate-row answer can never cover them.
		for r := pt.from; r < pt.from+pt.rows; r++ {
			if !again[r] {
				t.done = append(t.done, span{r, r})
			}
		}
		t.refs = append(t.refs, ref)
		return answered(upload.Retry, fmt.Sprintf("%s not taken now, to be sent again: %s", plural(len(again), "row"), strings.Join(later, "; ")))
	}
	return nil
}

func hintText(h string) string {
	if h == "" {
		return ""
	}
	return " (" + h + ")"
}
