package msfx

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

func testJob(code string, typ int, partner string, codes ...string) upload.Job {
	j := upload.Job{Bill: testBill(code, typ, partner), Attempt: 1}
	j.Bill.Items = len(codes)
	for i, c := range codes {
		kind := "msfx20"
		if !isMSFX(c) {
			kind = "gs1"
		}
		j.Items = append(j.Items, queue.Item{Seq: i + 1, Code: c, Key: c, Kind: kind, ScannedAt: finished})
	}
	return j
}

// next is the job of the attempt after out.
func next(j upload.Job, out upload.Outcome) upload.Job {
	j.Attempt++
	j.Progress = out.Progress
	j.Unknown = out.Class == upload.Retry && out.MaybeApplied
	return j
}

func deliver(t *testing.T, c *Client, j upload.Job) upload.Outcome {
	t.Helper()
	out := c.Deliver(context.Background(), j)
	if out.Progress == "" {
		t.Fatalf("outcome without progress: %+v", out)
	}
	if _, ok, err := parseProgress(out.Progress); !ok || err != nil {
		t.Fatalf("outcome progress unreadable: %v", err)
	}
	if strings.Contains(out.Message, testSecret) {
		t.Fatalf("secret in message: %s", out.Message)
	}
	return out
}

func wantClass(t *testing.T, out upload.Outcome, class upload.Class, words ...string) {
	t.Helper()
	if out.Class != class {
		t.Fatalf("class %v, want %v: %s", out.Class, class, out.Message)
	}
	for _, w := range words {
		if !strings.Contains(out.Message, w) {
			t.Errorf("message %q lacks %q", out.Message, w)
		}
	}
}

func progressOf(t *testing.T, out upload.Outcome) *progress {
	t.Helper()
	p, _, err := parseProgress(out.Progress)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func methods(calls []gwCall) []string {
	var out []string
	for _, c := range calls {
		m := strings.TrimPrefix(c.Method, "alibaba.alihealth.drugtrace.top.lsyd.")
		if code := c.Params["bill_code"]; code != "" {
			m += " " + code
		}
		out = append(out, m)
	}
	return out
}

// statusRow is a query.billstatus answer with one row.
func statusRow(code string, result int, info string) string {
	return queryOK(wire.MethodQueryBillStatus, statusPage(map[string]any{
		"bill_code": code, "bill_type": 102, "result_type": result, "process_info": info, "process_date": "2026-11-27 10:30:00",
	}))
}

func TestDeliverFullCycle(t *testing.T) {
	var polls atomic.Int32
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		switch m {
		case wire.MethodUploadInOutBill:
			return 200, uploadOK(m, "200118368918456", `{"3":"`+codeC+`"}`)
		case wire.MethodQueryBillStatus:
			if polls.Add(1) == 1 {
				return 200, statusRow(p["bill_code"], 1, "")
			}
			return 200, statusRow(p["bill_code"], 3, "处理成功")
		case wire.MethodListBillProcessPartSuccess:
			return 200, queryNotFound(m)
		}
		return 200, topErrBody(22, "Invalid method", "", "")
	})
	c := newTestClient(t, g.URL(), nil)
	j := testJob("RK001", 102, supplierEnt, codeA, codeB, codeC)

	out := deliver(t, c, j)
	wantClass(t, out, upload.Wait, "RK001", "uploaded", "drugtrace.top.lsyd.uploadinoutbill")
	if out.RetryAfter != DefaultPollInterval {
		t.Errorf("RetryAfter %v, want %v", out.RetryAfter, DefaultPollInterval)
	}
	if got := methods(g.Calls()); !slices.Equal(got, []string{"uploadinoutbill RK001"}) {
		t.Fatalf("calls %v", got)
	}
	up := g.Calls()[0].Params
	if up["from_user_id"] != supplierEnt || up["to_user_id"] != ownEnt || up["trace_codes"] != codeA+","+codeB+","+codeC || up["client_type"] != "2" {
		t.Errorf("upload params %v", up)
	}
	if p := progressOf(t, out).Parts[0]; p.State != stateSent || p.QueueID != "200118368918456" {
		t.Errorf("progress after upload: %+v", p)
	}

	out = deliver(t, c, next(j, out))
	wantClass(t, out, upload.Wait, "上传成功")
	sp := g.CallsTo(wire.MethodQueryBillStatus)[0].Params
	if sp["bill_code"] != "RK001" || sp["ref_ent_id"] != ownRef || sp["begin_date"] != "2026-11-26" || sp["end_date"] != "2026-11-28" || sp["bill_type"] != "A" {
		t.Errorf("billstatus params %v", sp)
	}

	out = deliver(t, c, next(j, out))
	wantClass(t, out, upload.Done, "处理成功", "1 code not taken")
	if out.Ref != "RK001:200118368918456" {
		t.Errorf("Ref %q", out.Ref)
	}
	if want := map[string]string{codeC: "code_check_error_info 3: duplicate code"}; !maps.Equal(out.CodeErrors, want) {
		t.Errorf("CodeErrors %v, want %v", out.CodeErrors, want)
	}
	if n := len(g.CallsTo(wire.MethodUploadInOutBill)); n != 1 {
		t.Errorf("%d uploads, want 1", n)
	}
}

func TestDeliverUnknownFoundIsNotResent(t *testing.T) {
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		switch m {
		case wire.MethodQueryUpBillDetail:
			return 200, queryOK(m, map[string]any{"model": map[string]any{"bill_code": p["bill_code"], "bill_type": 321, "codes": []string{codeA}}})
		case wire.MethodQueryBillStatus:
			return 200, statusRow(p["bill_code"], 0, "")
		}
		t.Errorf("unexpected call %s", m)
		return 200, topErrBody(22, "Invalid method", "", "")
	})
	c := newTestClient(t, g.URL(), nil)
	j := testJob("LS001", 321, "", codeA)
	j.Unknown = true
	out := deliver(t, c, j)
	wantClass(t, out, upload.Wait, "处理中")
	if got := methods(g.Calls()); !slices.Equal(got, []string{"query.upbilldetail LS001", "query.billstatus LS001"}) {
		t.Fatalf("calls %v", got)
	}
	if p := progressOf(t, out).Parts[0]; p.State != stateSent || p.How != howFound {
		t.Errorf("progress %+v", p)
	}
}

func TestDeliverUnknownNotFoundIsSent(t *testing.T) {
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		switch m {
		case wire.MethodQueryUpBillDetail:
			return 200, queryNotFound(m)
		case wire.MethodUploadRetail:
			return 200, uploadOK(m, "Q9", "")
		}
		t.Errorf("unexpected call %s", m)
		return 200, ""
	})
	c := newTestClient(t, g.URL(), nil)
	j := testJob("LS002", 321, "", codeA)
	j.Unknown = true
	out := deliver(t, c, j)
	wantClass(t, out, upload.Wait)
	if got := methods(g.Calls()); !slices.Equal(got, []string{"query.upbilldetail LS002", "uploadretail LS002"}) {
		t.Fatalf("calls %v", got)
	}
}

// TestDeliverConnectionLostMidBill: part 2 of 3 is written, then the
// connection dies. The next attempt looks part 2 up, and never touches
// part 1.
func TestDeliverConnectionLostMidBill(t *testing.T) {
	var hungUp atomic.Bool
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		switch m {
		case wire.MethodUploadRetail:
			if p["bill_code"] == "LS003_2" && !hungUp.Swap(true) {
				return hangUp, ""
			}
			return 200, uploadOK(m, "Q-"+p["bill_code"], "")
		case wire.MethodQueryUpBillDetail:
			return 200, queryNotFound(m)
		}
		t.Errorf("unexpected call %s", m)
		return 200, ""
	})
	c := newTestClient(t, g.URL(), func(cf *Config) { cf.MaxCodesRetail = 2 })
	j := testJob("LS003", 321, "", fakeCodes(5)...)

	out := deliver(t, c, j)
	wantClass(t, out, upload.Retry, "LS003_2 (2/3)", "uploading")
	if !out.MaybeApplied {
		t.Fatalf("not MaybeApplied after a lost connection: %s", out.Message)
	}
	p := progressOf(t, out)
	if p.Parts[0].State != stateSent || p.Parts[1].State != stateSending || p.Parts[2].State != statePending {
		t.Fatalf("progress %+v", p.Parts)
	}

	out = deliver(t, c, next(j, out))
	wantClass(t, out, upload.Wait)
	want := []string{"uploadretail LS003_1", "uploadretail LS003_2", // attempt 1
		"query.upbilldetail LS003_2", "uploadretail LS003_2", "query.upbilldetail LS003_3", "uploadretail LS003_3"}
	if got := methods(g.Calls()); !slices.Equal(got, want) {
		t.Fatalf("calls\n got %v\nwant %v", got, want)
	}
	for _, call := range g.CallsTo(wire.MethodUploadRetail) {
		if call.Params["bill_code"] == "LS003_3" && call.Params["trace_codes"] != fakeCodes(5)[4] {
			t.Errorf("part 3 codes %q", call.Params["trace_codes"])
		}
	}
}

// TestDeliverCrashBetweenParts: the agent died after recording part 1 as
// uploaded; the queue marks the next attempt Unknown. Part 1 is neither
// re-sent nor looked up; parts 2 and 3 are looked up, then sent.
func TestDeliverCrashBetweenParts(t *testing.T) {
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		switch m {
		case wire.MethodUploadInOutBill:
			return 200, uploadOK(m, "Q-"+p["bill_code"], "")
		case wire.MethodQueryUpBillDetail:
			if p["bill_code"] == "CK001_2" { // it did get there before the crash
				return 200, queryOK(m, map[string]any{"model": map[string]any{"bill_code": "CK001_2"}})
			}
			return 200, queryNotFound(m)
		}
		t.Errorf("unexpected call %s", m)
		return 200, ""
	})
	c := newTestClient(t, g.URL(), func(cf *Config) { cf.MaxCodesInOut = 2 })
	j := testJob("CK001", 202, supplierEnt, fakeCodes(5)...)
	prog := newProgress(wire.MethodUploadInOutBill, 2, false, splitParts("CK001", fakeCodes(5), 2))
	prog.Parts[0].State, prog.Parts[0].How, prog.Parts[0].QueueID, prog.Parts[0].SentAt = stateSent, howSent, "Q-CK001_1", finished
	j.Progress, j.Unknown, j.Attempt = prog.encode(), true, 2

	out := deliver(t, c, j)
	wantClass(t, out, upload.Wait)
	want := []string{"query.upbilldetail CK001_2", "query.upbilldetail CK001_3", "uploadinoutbill CK001_3"}
	if got := methods(g.Calls()); !slices.Equal(got, want) {
		t.Fatalf("calls\n got %v\nwant %v", got, want)
	}
	p := progressOf(t, out)
	for i, pp := range p.Parts {
		if pp.State != stateSent {
			t.Errorf("part %d state %s", i+1, pp.State)
		}
	}
	if p.Parts[0].QueueID != "Q-CK001_1" || p.Parts[1].How != howFound || p.Parts[2].QueueID != "Q-CK001_3" {
		t.Errorf("progress %+v", p.Parts)
	}
}

func TestDeliverPartialSuccess(t *testing.T) {
	check := `{"6":"` + codeA + `(下级);` + codeB + `(上级)","1":"` + codeC + `"}`
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		switch m {
		case wire.MethodUploadRetail:
			return 200, uploadOK(m, "Q1", check)
		case wire.MethodQueryBillStatus:
			return 200, statusRow(p["bill_code"], 3, "部分处理成功")
		case wire.MethodListBillProcessPartSuccess:
			if p["page"] != "1" {
				t.Errorf("page %s requested after a short page", p["page"])
			}
			return 200, partSuccessOK(m,
				map[string]any{"code": codeC, "error_code": "E1", "error_code_desc": "码未激活", "process_status_reason_desc": "该码未激活，请联系上游", "last_process_date_desc": "2026-11-27 10:31:00"},
				map[string]any{"code": codeSpecial, "error_code": "E3", "error_code_desc": "码已核销", "process_status_reason_desc": ""},
			)
		}
		t.Errorf("unexpected call %s", m)
		return 200, ""
	})
	c := newTestClient(t, g.URL(), nil)
	j := testJob("LS004", 321, "", codeA, codeB, codeC, codeSpecial)
	out := deliver(t, c, j)
	wantClass(t, out, upload.Wait)
	if g.Calls()[0].Params["physic_type"] != "3" {
		t.Errorf("physic_type %q for a bill mixing ordinary and 89 codes, want 3", g.Calls()[0].Params["physic_type"])
	}
	out = deliver(t, c, next(j, out))
	wantClass(t, out, upload.Done, "4 codes not taken")
	want := map[string]string{
		codeA:       "code_check_error_info 6: parent and child codes on one bill: 下级 (child) of " + codeB + " on the same bill",
		codeB:       "code_check_error_info 6: parent and child codes on one bill: 上级 (parent) of " + codeA + " on the same bill",
		codeC:       "code_check_error_info 1: code not activated (未激活); 码未激活: 该码未激活，请联系上游",
		codeSpecial: "码已核销",
	}
	if !maps.Equal(out.CodeErrors, want) {
		t.Errorf("CodeErrors\n got %v\nwant %v", out.CodeErrors, want)
	}
}

func TestDeliverProcessingFailed(t *testing.T) {
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		switch m {
		case wire.MethodUploadInOutBill:
			return 200, uploadOK(m, "Q1", "")
		case wire.MethodQueryBillStatus:
			return 200, statusRow(p["bill_code"], 4, "单据处理失败：发货企业与收货企业不能相同")
		}
		t.Errorf("unexpected call %s", m)
		return 200, ""
	})
	c := newTestClient(t, g.URL(), nil)
	j := testJob("RK004", 104, supplierEnt, codeA)
	out := deliver(t, c, j)
	wantClass(t, out, upload.Wait)
	out = deliver(t, c, next(j, out))
	wantClass(t, out, upload.Permanent, "RK004", "处理失败", "发货企业与收货企业不能相同", "uploadinoutbill")
}

func TestDeliverDuplicateCountsAsUploaded(t *testing.T) {
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		switch m {
		case wire.MethodUploadRetail:
			return 200, ansDuplicate
		case wire.MethodQueryBillStatus:
			return 200, statusRow(p["bill_code"], 3, "")
		case wire.MethodListBillProcessPartSuccess:
			return 200, partSuccessOK(m)
		}
		t.Errorf("unexpected call %s", m)
		return 200, ""
	})
	c := newTestClient(t, g.URL(), nil)
	out := deliver(t, c, testJob("LS005", 321, "", codeA))
	wantClass(t, out, upload.Done, "already on the platform", "LS005")
	if out.CodeErrors != nil {
		t.Errorf("CodeErrors %v", out.CodeErrors)
	}
}

func TestDeliverRefusedSecondPart(t *testing.T) {
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		if p["bill_code"] == "LS006_2" {
			return 200, ansSold
		}
		return 200, uploadOK(m, "Q1", "")
	})
	c := newTestClient(t, g.URL(), func(cf *Config) { cf.MaxCodesRetail = 1 })
	out := deliver(t, c, testJob("LS006", 321, "", codeA, codeB, codeC))
	wantClass(t, out, upload.Permanent, "LS006_2 (2/3)", "存在已出售的码", "already on the platform: LS006_1")
	if n := len(g.Calls()); n != 2 {
		t.Errorf("%d calls, want 2 (part 3 not sent after a refusal)", n)
	}
}

func TestDeliverSkipNonMSFX(t *testing.T) {
	gs1 := "0106901234567892" + "21ABC123\x1d" + "10LOT1"
	var sent []string
	var mu sync.Mutex
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		switch m {
		case wire.MethodUploadRetail:
			mu.Lock()
			sent = append(sent, p["trace_codes"])
			mu.Unlock()
			return 200, uploadOK(m, "Q1", "")
		case wire.MethodQueryBillStatus:
			return 200, statusRow(p["bill_code"], 3, "")
		}
		return 200, queryNotFound(m)
	})
	// Default: GS1 codes are sent as they are, GS byte included.
	c := newTestClient(t, g.URL(), nil)
	deliver(t, c, testJob("LS007", 321, "", codeA, gs1))
	// SkipNonMSFX: left out and reported.
	c = newTestClient(t, g.URL(), func(cf *Config) { cf.SkipNonMSFX = true })
	j := testJob("LS008", 321, "", codeA, gs1)
	out := deliver(t, c, j)
	out = deliver(t, c, next(j, out))
	wantClass(t, out, upload.Done)
	if want := []string{codeA + "," + gs1, codeA}; !slices.Equal(sent, want) {
		t.Errorf("trace_codes %q, want %q", sent, want)
	}
	if out.CodeErrors[gs1] != skipReason || len(out.CodeErrors) != 1 {
		t.Errorf("CodeErrors %v", out.CodeErrors)
	}
	// Nothing left: done without a call, every code reported.
	before := len(g.Calls())
	out = deliver(t, c, testJob("LS009", 321, "", gs1))
	wantClass(t, out, upload.Done, "nothing sent")
	if len(g.Calls()) != before || out.CodeErrors[gs1] == "" {
		t.Errorf("calls %d→%d, CodeErrors %v", before, len(g.Calls()), out.CodeErrors)
	}
}

func TestDeliverRefusedBeforeSending(t *testing.T) {
	g := newGateway(t, func(string, map[string]string) (int, string) {
		t.Errorf("a refused bill reached the gateway")
		return 200, ""
	})
	c := newTestClient(t, g.URL(), nil)
	for _, tt := range []struct {
		job  upload.Job
		want string
	}{
		{testJob("RK010", 102, "", codeA), "bill has no supplier ent_id"},
		{testJob("RK011", 102, supplierEnt), "no codes"},
		{testJob("", 102, supplierEnt, codeA), "no bill_code"},
		{testJob("RK012", 323, "", codeA), "yljg"},
		{func() upload.Job { j := testJob("RK013", 321, "", codeA); j.Bill.FinishedAt = time.Time{}; return j }(), "no finish time"},
		{testJob("RK014", 321, "", "8101,2350000000157474"), "comma"},
	} {
		out := c.Deliver(context.Background(), tt.job)
		wantClass(t, out, upload.Permanent, tt.want)
	}
}

func TestDeliverTimeoutAfterSending(t *testing.T) {
	g := newGateway(t, func(string, map[string]string) (int, string) {
		time.Sleep(400 * time.Millisecond)
		return 200, ansSuccessWrapped
	})
	c := newTestClient(t, g.URL(), func(cf *Config) { cf.Timeout = 100 * time.Millisecond })
	out := deliver(t, c, testJob("LS010", 321, "", codeA))
	wantClass(t, out, upload.Retry, "timed out after 100ms", "uploadretail")
	if !out.MaybeApplied {
		t.Errorf("timeout after sending is not MaybeApplied")
	}
}

// TestBanHoldsAllCalls: after a code-7 ban every call of the client, from
// any goroutine, waits until the ban is over; a long ban fails fast.
func TestBanHoldsAllCalls(t *testing.T) {
	var banned atomic.Bool
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		switch {
		case m == wire.MethodUploadRetail && !banned.Swap(true):
			return 200, strings.Replace(ansBan, "2 more seconds", "0 more seconds", 1)
		case m == wire.MethodUploadRetail:
			return 200, uploadOK(m, "Q1", "")
		}
		return 200, queryOK(m, map[string]any{"model_list": []any{}})
	})
	c := newTestClient(t, g.URL(), nil)
	out := deliver(t, c, testJob("LS011", 321, "", codeA))
	wantClass(t, out, upload.Retry, "TOP error 7", "This ban will last for 0 more seconds")
	if out.RetryAfter != time.Second || out.MaybeApplied {
		t.Errorf("RetryAfter %v MaybeApplied %v", out.RetryAfter, out.MaybeApplied)
	}
	banAt := g.Calls()[0].At

	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if _, err := c.QueryUpBillCode(context.Background(), codeA); err != nil {
				t.Errorf("query after ban: %v", err)
			}
		})
	}
	wg.Go(func() { deliver(t, c, testJob("LS012", 321, "", codeB)) })
	wg.Wait()
	calls := g.Calls()
	if len(calls) != 5 {
		t.Fatalf("%d calls, want 5", len(calls))
	}
	for _, call := range calls[1:] {
		if d := call.At.Sub(banAt); d < 950*time.Millisecond {
			t.Errorf("%s reached the gateway %v after the ban, before it ended", call.Method, d)
		}
	}

	// A ban longer than maxHold: calls fail at once, without a request.
	c2 := newTestClient(t, g.URL(), nil)
	c2.ban(100 * time.Second)
	start := time.Now()
	_, err := c2.QueryUpBillCode(context.Background(), codeA)
	var e *Error
	if !errors.As(err, &e) || e.Class != upload.Retry || e.RetryAfter < 99*time.Second || time.Since(start) > time.Second {
		t.Errorf("long ban: %v after %v", err, time.Since(start))
	}
	if len(g.Calls()) != 5 {
		t.Errorf("a call went out during a long ban")
	}
}

func TestRateLimiterSharedByAllCalls(t *testing.T) {
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		return 200, queryOK(m, map[string]any{"model_list": []any{}})
	})
	c := newTestClient(t, g.URL(), func(cf *Config) { cf.Rate, cf.Burst = 20, 1 })
	start := time.Now()
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if _, err := c.QueryRelation(context.Background(), codeA); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// 5 calls at 20/s with burst 1: at least 4 gaps of 50 ms.
	if d := time.Since(start); d < 190*time.Millisecond {
		t.Errorf("5 calls took %v, want ≥ 200ms at 20/s", d)
	}
}

func TestSecretNeverInMessages(t *testing.T) {
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		switch m {
		case wire.MethodUploadRetail:
			return 200, uploadFail(m, "FAIL", "签名密钥 "+testSecret+" 无效")
		case wire.MethodQueryRelation:
			return 200, topErrBody(50, "Remote service error", "isv.invalid-parameter", "secret="+testSecret)
		}
		return 200, "<html>" + testSecret + "</html>"
	})
	c := newTestClient(t, g.URL(), nil)
	out := c.Deliver(context.Background(), testJob("LS013", 321, "", codeA))
	if strings.Contains(out.Message, testSecret) || !strings.Contains(out.Message, "[redacted]") {
		t.Errorf("message %q", out.Message)
	}
	_, err := c.QueryRelation(context.Background(), codeA)
	if err == nil || strings.Contains(err.Error(), testSecret) {
		t.Errorf("query error %v", err)
	}
	_, err = c.QueryUpBillCode(context.Background(), codeA)
	if err == nil || strings.Contains(err.Error(), testSecret) {
		t.Errorf("query error %v", err)
	}
	// Configuration errors never print it either.
	for _, cf := range []Config{
		{Gateway: "ftp://x", AppKey: "k", AppSecret: testSecret},
		{Gateway: g.URL(), AppKey: "k", AppSecret: " " + testSecret},
		{Gateway: g.URL(), AppKey: "k", AppSecret: testSecret, RefEntID: "abc"},
		{Gateway: g.URL(), AppKey: "k", AppSecret: testSecret, RefEntID: ownRef, EntID: ownRef},
	} {
		if _, err := New(cf); err == nil || strings.Contains(err.Error(), testSecret) {
			t.Errorf("New: %v", err)
		}
	}
	// Nor does the progress.
	if strings.Contains(out.Progress, testSecret) {
		t.Errorf("secret in progress")
	}
}

func TestNewValidation(t *testing.T) {
	good := Config{Gateway: "https://gw.api.taobao.com/router/rest", AppKey: testAppKey, AppSecret: testSecret, RefEntID: ownRef, EntID: ownEnt}
	if c, err := New(good); err != nil || c.Name() != DefaultName || c.signMethod != "md5" || c.maxRetail != 3500 || c.maxInOut != 3500 ||
		c.poll != DefaultPollInterval || c.timeout != DefaultTimeout || c.limiter == nil || c.limiter.Limit() != 3 || c.limiter.Burst() != 1 {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	bad := map[string]func(*Config){
		"gateway":         func(c *Config) { c.Gateway = "gw.api.taobao.com/router/rest" },
		"gateway query":   func(c *Config) { c.Gateway += "?app_key=1" },
		"gateway user":    func(c *Config) { c.Gateway = "https://u:p@gw.api.taobao.com/" },
		"app key":         func(c *Config) { c.AppKey = "" },
		"app key space":   func(c *Config) { c.AppKey = "12 34" },
		"secret":          func(c *Config) { c.AppSecret = "" },
		"sign method":     func(c *Config) { c.SignMethod = "sha1" },
		"ref_ent_id":      func(c *Config) { c.RefEntID = ownEnt },
		"ent_id":          func(c *Config) { c.EntID = ownRef },
		"ent_id short":    func(c *Config) { c.EntID = ownEnt[:31] },
		"retail limit":    func(c *Config) { c.MaxCodesRetail = 3501 },
		"inout limit":     func(c *Config) { c.MaxCodesInOut = 10001 },
		"negative limit":  func(c *Config) { c.MaxCodesInOut = -1 },
		"burst":           func(c *Config) { c.Burst = -1 },
		"timeout":         func(c *Config) { c.Timeout = -time.Second },
		"poll":            func(c *Config) { c.PollInterval = time.Millisecond },
		"self partner":    func(c *Config) { c.SelfPartnerTypes = []int{321} },
		"session control": func(c *Config) { c.Session = "a\nb" },
	}
	for name, change := range bad {
		cf := good
		change(&cf)
		if _, err := New(cf); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	cf := good
	cf.Rate, cf.MaxCodesInOut, cf.SignMethod = -1, 10000, "hmac-sha256"
	if c, err := New(cf); err != nil || c.limiter != nil || c.maxInOut != 10000 {
		t.Errorf("rate off / 10000: %v", err)
	}
}

// TestProgressFormat pins the documented field names of Progress v1.
func TestProgressFormat(t *testing.T) {
	p := newProgress(wire.MethodUploadRetail, 3500, true, splitParts("B", []string{codeA}, 3500))
	p.Parts[0] = partProgress{Code: "B", N: 1, Sum: "x", State: stateFinal, How: howSent, QueueID: "Q", SentAt: finished,
		CheckErrors: "{}", Result: 3, ProcessInfo: "ok", Polls: 2}
	var m map[string]any
	if err := json.Unmarshal([]byte(p.encode()), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"v", "method", "limit", "skip_non_msfx", "parts"} {
		if _, ok := m[k]; !ok {
			t.Errorf("progress lacks %q", k)
		}
	}
	part := m["parts"].([]any)[0].(map[string]any)
	for _, k := range []string{"code", "n", "sum", "state", "how", "queue_id", "sent_at", "check_errors", "result", "process_info", "polls"} {
		if _, ok := part[k]; !ok {
			t.Errorf("part lacks %q", k)
		}
	}
	if _, _, err := parseProgress(`{"v":2}`); err == nil {
		t.Errorf("foreign version accepted")
	}
}

// TestUnreadableProgressLooksUpFirst: a progress that cannot be read never
// causes a blind resend.
func TestUnreadableProgressLooksUpFirst(t *testing.T) {
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		if m == wire.MethodQueryUpBillDetail {
			return 200, queryNotFound(m)
		}
		return 200, uploadOK(m, "Q1", "")
	})
	c := newTestClient(t, g.URL(), nil)
	j := testJob("LS014", 321, "", codeA)
	j.Progress = "{garbage"
	deliver(t, c, j)
	if got := methods(g.Calls()); !slices.Equal(got, []string{"query.upbilldetail LS014", "uploadretail LS014"}) {
		t.Errorf("calls %v", got)
	}
}

var _ http.Handler = (*fakeGateway)(nil)
