package nhsa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/nhsa/fsi"
)

// manyRows makes a sale of n rows (one pack per lot).
func manyRows(n int) []queue.Item {
	items := make([]queue.Item, n)
	for i := range items {
		items[i] = item(i+1, code(prodA, 100+i), prodA, fmt.Sprintf("LOT%03d", i+1), 0)
	}
	return items
}

// checkpoints records what a destination wrote ahead, and when.
type checkpoints struct {
	mu   sync.Mutex
	list []string
	fail error
	// seen returns how many requests the gateway had when the
	// checkpoint was written.
	seen  func() int
	order []int
}

func (cp *checkpoints) write(p string) error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.fail != nil {
		return cp.fail
	}
	cp.list = append(cp.list, p)
	if cp.seen != nil {
		cp.order = append(cp.order, cp.seen())
	}
	return nil
}

func (cp *checkpoints) last() string {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if len(cp.list) == 0 {
		return ""
	}
	return cp.list[len(cp.list)-1]
}

// The request is on record (state sending, its msgid and bytes) before it
// reaches the gateway; after a crash (no outcome recorded) the next
// attempt, given the checkpoint and Unknown, resends the very same msgid.
func TestCheckpointBeforeSendAndResendAfterCrash(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	f := &fixture{}
	c := mustNew(t, baseConfig(f, g.srv.URL, testCatalogue(t)))
	cp := &checkpoints{seen: func() int { return len(g.requests()) }}
	b := bill("PDA1-260127-00050", billtype.RetailSale, saleAttrs())
	_ = c.Deliver(context.Background(), upload.Job{Bill: b, Items: saleItems(), Attempt: 1, Checkpoint: cp.write})
	if len(cp.order) != 1 || cp.order[0] != 0 {
		t.Fatalf("checkpoints written after %v requests, want one before the first", cp.order)
	}
	var p progress
	if err := json.Unmarshal([]byte(cp.last()), &p); err != nil || p.State != stateSending || p.Msgid == "" || p.V != progressVersion || p.From != 1 || len(p.Bchnos) != 3 {
		t.Fatalf("checkpoint %s: %v", cp.last(), err)
	}
	first := g.requests()[0]
	if first.FSI.Msgid != p.Msgid {
		t.Fatalf("checkpointed msgid %s, sent %s", p.Msgid, first.FSI.Msgid)
	}
	// The agent died before recording the answer: the queue hands the
	// checkpoint over with Unknown set.
	again := c.Deliver(context.Background(), upload.Job{Bill: b, Items: saleItems(), Attempt: 2, Unknown: true, Progress: cp.last(), Checkpoint: cp.write})
	if again.Class != upload.Done || !strings.Contains(again.Message, "resent msgid "+p.Msgid+" unchanged") {
		t.Fatalf("after the crash: %v %s", again.Class, again.Message)
	}
	reqs := g.requests()
	if len(reqs) != 2 || !bytes.Equal(reqs[1].Plain, first.Plain) || f.seq.Load() != 1 {
		t.Fatalf("%d requests, %d msgids drawn; the resend must be byte for byte the first", len(reqs), f.seq.Load())
	}
}

// A checkpoint that cannot be written stops the request from leaving.
func TestCheckpointFailureSendsNothing(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	c := mustNew(t, baseConfig(&fixture{}, g.srv.URL, testCatalogue(t)))
	cp := &checkpoints{fail: errors.New("lease lost")}
	out := c.Deliver(context.Background(), upload.Job{Bill: bill("PDA1-260127-00051", billtype.RetailSale, saleAttrs()), Items: saleItems(), Attempt: 1, Checkpoint: cp.write})
	if out.Class != upload.Retry || out.MaybeApplied || !strings.Contains(out.Message, "not sent: recording the attempt before sending: lease lost") || len(g.requests()) != 0 {
		t.Fatalf("%v maybe=%v %s (%d requests)", out.Class, out.MaybeApplied, out.Message, len(g.requests()))
	}
}

// An HTTP 5xx is an unknown outcome whatever its body, JSON included: the
// next attempt resends the same msgid.
func TestHTTP5xxAnyBodyKeepsMsgid(t *testing.T) {
	for _, body := range []string{`{"code":500,"message":"Internal Server Error"}`, `{"code":"500","msg":"服务异常"}`, "internal error", "<html>502</html>"} {
		t.Run(body, func(t *testing.T) {
			g := newGW(t, AuthNone, EnvelopePlain)
			f := &fixture{}
			c := mustNew(t, baseConfig(f, g.srv.URL, testCatalogue(t)))
			g.setScript(func(n int, _ fsi.Request) reply {
				if n == 1 {
					return reply{Status: 500, Raw: body}
				}
				return reply{Resp: &fsi.Response{Infcode: 0, InfRefmsgid: "R2"}}
			})
			b := bill("PDA1-260127-00052", billtype.RetailSale, saleAttrs())
			first := deliver(t, c, b, saleItems())
			if first.Class != upload.Retry || !first.MaybeApplied || !strings.Contains(first.Progress, `"state":"sending"`) {
				t.Fatalf("first: %v maybe=%v %s", first.Class, first.MaybeApplied, first.Message)
			}
			second := c.Deliver(context.Background(), upload.Job{Bill: b, Items: saleItems(), Attempt: 2, Unknown: true, Progress: first.Progress})
			reqs := g.requests()
			if second.Class != upload.Done || len(reqs) != 2 || reqs[0].FSI.Msgid != reqs[1].FSI.Msgid || f.seq.Load() != 1 {
				t.Fatalf("second: %v %s", second.Class, second.Message)
			}
		})
	}
}

// Only a refusal of the msgid itself draws a new one; when that msgid may
// have been applied before, the doubt stands until an answer settles it.
func TestMsgidRefusalDrawsNewMsgid(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	f := &fixture{}
	g.setScript(func(n int, _ fsi.Request) reply {
		switch n {
		case 1:
			return reply{Hang: true}
		case 2:
			return reply{Resp: &fsi.Response{Infcode: -1, ErrMsg: "报文ID[X]的时间超出允许范围(±10m0s)"}}
		}
		return reply{Resp: &fsi.Response{Infcode: 0}}
	})
	cfg := baseConfig(f, g.srv.URL, testCatalogue(t))
	cfg.Timeout = 150 * time.Millisecond
	c := mustNew(t, cfg)
	b := bill("PDA1-260127-00053", billtype.RetailSale, saleAttrs())
	first := deliver(t, c, b, saleItems())
	second := c.Deliver(context.Background(), upload.Job{Bill: b, Items: saleItems(), Attempt: 2, Unknown: true, Progress: first.Progress})
	// The refusal of the msgid says nothing of the first send's fate: the
	// doubt stands (MaybeApplied), and the rows go under a new msgid with
	// the same fixmedins_bchno, whose duplicate guard decides.
	if second.Class != upload.Retry || !second.MaybeApplied || !strings.Contains(second.Progress, `"state":"doubt"`) {
		t.Fatalf("second: %v maybe=%v %s %s", second.Class, second.MaybeApplied, second.Message, second.Progress)
	}
	third := c.Deliver(context.Background(), upload.Job{Bill: b, Items: saleItems(), Attempt: 3, Unknown: true, Progress: second.Progress})
	reqs := g.requests()
	if third.Class != upload.Done || len(reqs) != 3 || reqs[1].FSI.Msgid != reqs[0].FSI.Msgid || reqs[2].FSI.Msgid == reqs[1].FSI.Msgid {
		t.Fatalf("third: %v %s", third.Class, third.Message)
	}
	if !strings.Contains(third.Message, "may have been applied and cannot be sent again") {
		t.Errorf("third does not say why a new msgid: %s", third.Message)
	}
	if b0, b2 := sentSales(t, reqs[0]), sentSales(t, reqs[2]); len(b0) != len(b2) || b0[0].FixmedinsBchno != b2[0].FixmedinsBchno {
		t.Errorf("the rows changed their keys under the new msgid: %+v vs %+v", b0, b2)
	}
}

// The business result inside an infcode-0 answer decides: retRslt 0 is a
// refusal (or a retry when busy), refused rows are per-code failures with
// the platform's words, never a silent "delivered".
func TestBusinessVerdicts(t *testing.T) {
	bchno := func(n int) string { return fmt.Sprintf("PDA126012700060%02d", n) }
	cases := []struct {
		name   string
		output string
		class  upload.Class
		maybe  bool
		want   string
		errs   map[string]string // code → part of the reason
	}{
		{"retRslt 1 in result", `{"result":{"retRslt":"1","msgRslt":"成功"}}`, upload.Done, false, "3 rows on the platform", nil},
		{"retRslt 1 as number", `{"retRslt":1}`, upload.Done, false, "on the platform", nil},
		{"no output", ``, upload.Done, false, "on the platform", nil},
		{"retRslt 0", `{"result":{"retRslt":"0","msgRslt":"医保目录编码不存在"}}`, upload.Permanent, false, "retRslt 0: 医保目录编码不存在", nil},
		{"retRslt 0 at output", `{"retRslt":0,"msgRslt":"参数校验失败"}`, upload.Permanent, false, "参数校验失败", nil},
		{"retRslt 0 busy", `{"result":{"retRslt":"0","msgRslt":"系统繁忙,请稍后再试"}}`, upload.Retry, false, "系统繁忙", nil},
		{"retRslt 0 already", `{"result":{"retRslt":"0","msgRslt":"fixmedins_bchno重复"}}`, upload.Done, false, "already there", nil},
		{"one row refused", `{"result":{"retRslt":"0","msgRslt":"部分失败"},"invinfoErrDetail":[{"fixmedins_bchno":"` + bchno(3) + `","retRslt":"0","msgRslt":"追溯码格式错误"}]}`,
			upload.Done, false, "1 code refused", map[string]string{code(prodB, 11): "追溯码格式错误"}},
		{"row list in result", `{"result":{"selinfoErrDetail":[{"fixmedins_bchno":"` + bchno(1) + `","retRslt":0,"msgRslt":"批号不符"},{"fixmedins_bchno":"` + bchno(2) + `","retRslt":"1"}]}}`,
			upload.Done, false, "2 codes refused", map[string]string{code(prodA, 11): "批号不符", code(prodA, 13): "批号不符"}},
		{"every row refused", `{"invinfoErrDetail":[{"fixmedins_bchno":"` + bchno(1) + `","retRslt":"0","msgRslt":"a"},{"fixmedins_bchno":"` + bchno(2) + `","retRslt":"0","msgRslt":"b"},{"fixmedins_bchno":"` + bchno(3) + `","retRslt":"0","msgRslt":"c"}]}`,
			upload.Permanent, false, "every row refused", nil},
		{"rows echoed without a verdict", `{"selinfo":[{"fixmedins_bchno":"` + bchno(1) + `"},{"fixmedins_bchno":"` + bchno(2) + `"},{"fixmedins_bchno":"` + bchno(3) + `"}]}`,
			upload.Done, false, "3 rows on the platform", nil},
		{"camelCase row refused by its reason", `{"result":{"errDetail":[{"fixmedinsBchno":"` + bchno(3) + `","msgRslt":"追溯码已销售"}]}}`,
			upload.Done, false, "1 code refused", map[string]string{code(prodB, 11): "追溯码已销售"}},
		{"a row busy", `{"invinfoErrDetail":[{"fixmedins_bchno":"` + bchno(2) + `","retRslt":"0","msgRslt":"系统繁忙"}]}`, upload.Retry, false, "not taken now", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGW(t, AuthNone, EnvelopePlain)
			c := mustNew(t, baseConfig(&fixture{}, g.srv.URL, testCatalogue(t)))
			raw := `{"infcode":0,"inf_refmsgid":"R1"}`
			if tc.output != "" {
				raw = `{"infcode":0,"inf_refmsgid":"R1","output":` + tc.output + `}`
			}
			g.setScript(func(int, fsi.Request) reply { return reply{Raw: raw} })
			out := deliver(t, c, bill("PDA1-260127-00060", billtype.RetailSale, saleAttrs()), saleItems())
			if out.Class != tc.class || out.MaybeApplied != tc.maybe || !strings.Contains(out.Message, tc.want) {
				t.Fatalf("%v maybe=%v, want %v with %q: %s", out.Class, out.MaybeApplied, tc.class, tc.want, out.Message)
			}
			if len(out.CodeErrors) != len(tc.errs) {
				t.Fatalf("code errors %v, want %v", out.CodeErrors, tc.errs)
			}
			for code, want := range tc.errs {
				if !strings.Contains(out.CodeErrors[code], want) || !strings.Contains(out.CodeErrors[code], "医保 refused row") {
					t.Errorf("code %s: %q, want %q", code, out.CodeErrors[code], want)
				}
			}
			if tc.class == upload.Retry && !strings.Contains(out.Progress, `"state":"answered"`) {
				t.Errorf("an answered retry must draw a new msgid next time: %s", out.Progress)
			}
		})
	}
}

// A bill whose input would pass the size limit goes in parts, each within
// it, each with its own msgid; a retry resends only the part in doubt and
// never one known to be in.
func TestSplitIntoParts(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	f := &fixture{}
	cfg := baseConfig(f, g.srv.URL, testCatalogue(t))
	cfg.Timeout = 150 * time.Millisecond
	c := mustNew(t, cfg)
	items := manyRows(120)
	g.setScript(func(n int, _ fsi.Request) reply {
		if n == 2 {
			return reply{Hang: true}
		}
		return reply{Resp: &fsi.Response{Infcode: 0, InfRefmsgid: fmt.Sprintf("REF%d", n)}}
	})
	b := bill("PDA1-260127-00070", billtype.RetailSale, saleAttrs())
	cp := &checkpoints{}
	first := c.Deliver(context.Background(), upload.Job{Bill: b, Items: items, Attempt: 1, Checkpoint: cp.write})
	if first.Class != upload.Retry || !first.MaybeApplied || !strings.Contains(first.Message, "part rows") {
		t.Fatalf("first: %v %s", first.Class, first.Message)
	}
	second := c.Deliver(context.Background(), upload.Job{Bill: b, Items: items, Attempt: 2, Unknown: true, Progress: first.Progress, Checkpoint: cp.write})
	if second.Class != upload.Done {
		t.Fatalf("second: %v %s", second.Class, second.Message)
	}
	reqs := g.requests()
	total := 0
	var got []string
	msgids := map[string]int{}
	for i, r := range reqs {
		if n := utf8.RuneCount(r.FSI.Input); n > DefaultMaxInputChars {
			t.Errorf("request %d: input of %d characters", i+1, n)
		}
		total += utf8.RuneCount(r.FSI.Input)
		msgids[r.FSI.Msgid]++
		if i == 2 { // the resend of part 2
			if !bytes.Equal(r.Plain, reqs[1].Plain) {
				t.Fatal("part 2 was not resent as it was")
			}
			continue
		}
		for _, s := range sentSales(t, r) {
			got = append(got, s.FixmedinsBchno)
		}
	}
	if total <= DefaultMaxInputChars || len(reqs) < 4 {
		t.Fatalf("%d requests of %d characters in all: the test must need several parts", len(reqs), total)
	}
	var want []string
	for i := 1; i <= 120; i++ {
		want = append(want, rowBchno(bchnoPrefix(b.Code), i))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("rows sent %v\nwant each once in order %v", got, want)
	}
	if msgids[reqs[1].FSI.Msgid] != 2 || len(msgids) != len(reqs)-1 {
		t.Fatalf("msgids %v", msgids)
	}
	if len(strings.Split(second.Ref, ",")) != len(reqs)-1 {
		t.Errorf("ref %q", second.Ref)
	}
	// A third attempt with the final progress sends nothing again.
	third := c.Deliver(context.Background(), upload.Job{Bill: b, Items: items, Attempt: 3, Progress: second.Progress})
	if third.Class != upload.Done || len(g.requests()) != len(reqs) {
		t.Fatalf("third: %v %s, %d requests", third.Class, third.Message, len(g.requests()))
	}
}

// A version-1 progress (one message per bill) is still read.
func TestProgressVersion1(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	c := mustNew(t, baseConfig(&fixture{}, g.srv.URL, testCatalogue(t)))
	req := `{"infno":"3505","msgid":"P37020304446202601271015307999","input":{"selinfo":[]}}`
	v1 := `{"v":1,"infno":"3505","state":"sending","msgid":"P37020304446202601271015307999","sends":1,"rows":3,"request":` + req + `}`
	out := c.Deliver(context.Background(), upload.Job{Bill: bill("PDA1-260127-00071", billtype.RetailSale, saleAttrs()), Items: saleItems(), Attempt: 2, Unknown: true, Progress: v1})
	reqs := g.requests()
	if out.Class != upload.Done || len(reqs) != 1 || string(reqs[0].Plain) != req {
		t.Fatalf("%v %s", out.Class, out.Message)
	}
}

// Per province: one row per call ("object"), signtype, psn_cert_type
// required on returns.
func TestProvinceShapes(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	cfg := baseConfig(&fixture{}, g.srv.URL, testCatalogue(t))
	cfg.InputShape, cfg.Signtype = InputObject, "SM3"
	c := mustNew(t, cfg)
	out := deliver(t, c, bill("PDA1-260127-00072", billtype.RetailSale, saleAttrs()), saleItems())
	reqs := g.requests()
	if out.Class != upload.Done || len(reqs) != 3 {
		t.Fatalf("%v %s (%d requests)", out.Class, out.Message, len(reqs))
	}
	for i, r := range reqs {
		var in struct {
			Selinfo fsi.Sale `json:"selinfo"`
		}
		strictDecode(t, r.FSI.Input, &in)
		if r.FSI.Signtype != "SM3" || in.Selinfo.FixmedinsBchno != rowBchno("PDA126012700072", i+1) {
			t.Errorf("request %d: signtype %q row %s", i+1, r.FSI.Signtype, in.Selinfo.FixmedinsBchno)
		}
	}
	cfg.InputShape, cfg.ReturnPsnCertType = InputList, true
	c = mustNew(t, cfg)
	ret := item(1, code(prodA, 11), prodA, "L1", 0)
	ret.Ref = "PDA1-260120-00007"
	attrs := map[string]string{"nhsa.mdtrt_sn": "MDTRT1"}
	held := deliver(t, c, bill("PDA1-260127-00073", billtype.CustomerReturn, attrs), []queue.Item{ret})
	if held.Class != upload.Retry || !strings.Contains(held.Message, "psn_cert_type") {
		t.Fatalf("3506 without psn_cert_type: %v %s", held.Class, held.Message)
	}
	for _, bad := range []Config{{InputShape: "array"}, {MaxInputChars: 100}, {Verdicts: []Verdict{{All: []string{"x"}, Kind: "maybe"}}}, {Verdicts: []Verdict{{Kind: VerdictTransient}}}} {
		c := baseConfig(&fixture{}, g.srv.URL, testCatalogue(t))
		c.InputShape, c.MaxInputChars, c.Verdicts = bad.InputShape, bad.MaxInputChars, bad.Verdicts
		if _, err := New(c); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}

// The config's verdicts come before the built-in table.
func TestConfiguredVerdicts(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	cfg := baseConfig(&fixture{}, g.srv.URL, testCatalogue(t))
	cfg.Verdicts = []Verdict{
		{All: []string{"核心服务", "不可用"}, Kind: VerdictTransient, Hint: "省平台维护中"},
		{All: []string{"已存在"}, Not: []string{"追溯码"}, Kind: VerdictAlready},
	}
	c := mustNew(t, cfg)
	for text, class := range map[string]upload.Class{
		"核心服务暂不可用": upload.Retry, "该批次流水号已存在": upload.Done, "追溯码已存在于其他销售": upload.Permanent, "核心服务异常": upload.Permanent,
	} {
		g.setScript(func(int, fsi.Request) reply { return reply{Resp: &fsi.Response{Infcode: -1, ErrMsg: text}} })
		if out := deliver(t, c, bill("PDA1-260127-00074", billtype.RetailSale, saleAttrs()), saleItems()); out.Class != class {
			t.Errorf("%q: %v, want %v: %s", text, out.Class, class, out.Message)
		}
	}
}

// With a query interface configured, an unknown outcome is settled by
// asking before resending: rows the platform has are not sent again, rows
// it does not know are resent under the same msgid.
func TestQuerySettlesUnknownOutcome(t *testing.T) {
	for _, known := range []bool{true, false} {
		t.Run(fmt.Sprint("known=", known), func(t *testing.T) {
			g := newGW(t, AuthNone, EnvelopePlain)
			cfg := baseConfig(&fixture{}, g.srv.URL, testCatalogue(t))
			cfg.Timeout = 150 * time.Millisecond
			cfg.Query = Query{Sale: "3511"}
			c := mustNew(t, cfg)
			var mu sync.Mutex
			var asked []string
			g.setScript(func(n int, r fsi.Request) reply {
				switch {
				case n == 1:
					return reply{Hang: true} // applied, answer lost
				case r.Infno == "3511":
					var in struct {
						Data struct {
							Bchno string `json:"fixmedins_bchno"`
						} `json:"data"`
					}
					if err := json.Unmarshal(r.Input, &in); err != nil {
						t.Errorf("3511 input %s: %v", r.Input, err)
					}
					mu.Lock()
					asked = append(asked, in.Data.Bchno)
					mu.Unlock()
					out := `{"infcode":0,"output":{"data":[]}}`
					if known {
						out = `{"infcode":0,"output":{"data":[{"fixmedinsBchno":"` + in.Data.Bchno + `","selRetnCnt":1}]}}`
					}
					return reply{Raw: out}
				}
				return reply{Resp: &fsi.Response{Infcode: 0, InfRefmsgid: "R9"}}
			})
			b := bill("PDA1-260127-00075", billtype.RetailSale, saleAttrs())
			cp := &checkpoints{}
			first := c.Deliver(context.Background(), upload.Job{Bill: b, Items: saleItems(), Attempt: 1, Checkpoint: cp.write})
			second := c.Deliver(context.Background(), upload.Job{Bill: b, Items: saleItems(), Attempt: 2, Unknown: true, Progress: first.Progress, Checkpoint: cp.write})
			reqs := g.requests()
			mu.Lock()
			defer mu.Unlock()
			if second.Class != upload.Done || !slices.Equal(asked, []string{"PDA12601270007501", "PDA12601270007502", "PDA12601270007503"}[:map[bool]int{true: 3, false: 1}[known]]) {
				t.Fatalf("%v %s; asked %v", second.Class, second.Message, asked)
			}
			var resent []gwRequest
			for _, r := range reqs[1:] {
				if r.FSI.Infno == fsi.InfSale {
					resent = append(resent, r)
				}
			}
			if known != (len(resent) == 0) || (!known && resent[0].FSI.Msgid != reqs[0].FSI.Msgid) {
				t.Fatalf("known=%v: %d resends: %s", known, len(resent), second.Message)
			}
		})
	}
}

// A row not taken now (busy) goes again alone, under a new msgid; the rows
// taken with it are in and never resent, so a duplicate-row answer to a
// resend can never cover the busy row.
func TestBusyRowResentAlone(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	c := mustNew(t, baseConfig(&fixture{}, g.srv.URL, testCatalogue(t)))
	const bill2 = "PDA126012700061" + "02"
	g.setScript(func(n int, _ fsi.Request) reply {
		if n == 1 {
			return reply{Raw: `{"infcode":0,"inf_refmsgid":"R1","output":{"invinfoErrDetail":[{"fixmedins_bchno":"` + bill2 + `","retRslt":"0","msgRslt":"系统繁忙"}]}}`}
		}
		return reply{Raw: `{"infcode":0,"inf_refmsgid":"R2"}`}
	})
	b := bill("PDA1-260127-00061", billtype.RetailSale, saleAttrs())
	first := deliver(t, c, b, saleItems())
	if first.Class != upload.Retry || first.MaybeApplied || !strings.Contains(first.Message, "1 row not taken now") {
		t.Fatalf("first: %v %s", first.Class, first.Message)
	}
	second := c.Deliver(context.Background(), upload.Job{Bill: b, Items: saleItems(), Attempt: 2, Progress: first.Progress})
	reqs := g.requests()
	if second.Class != upload.Done || len(reqs) != 2 || reqs[1].FSI.Msgid == reqs[0].FSI.Msgid {
		t.Fatalf("second: %v %s", second.Class, second.Message)
	}
	if rows := sentSales(t, reqs[1]); len(rows) != 1 || rows[0].FixmedinsBchno != bill2 {
		t.Fatalf("resent rows %+v, want only %s", rows, bill2)
	}
	if !strings.Contains(second.Message, "3 rows on the platform") {
		t.Errorf("second: %s", second.Message)
	}
}
