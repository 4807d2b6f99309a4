package msfx

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// TestDeliverWaitsForEarlierBill: a customer return must not reach the
// platform before the receiving of its pack, held up by faults — the
// platform would then refuse the receiving for good (码重复流向拦截). The
// bill waits, sends nothing and keeps what it knows; a bill only polling
// its status is not held.
func TestDeliverWaitsForEarlierBill(t *testing.T) {
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		switch m {
		case wire.MethodQueryUpBillDetail:
			return 200, queryNotFound(m)
		case wire.MethodUploadRetail:
			return 200, uploadOK(m, "Q1", "")
		case wire.MethodQueryBillStatus:
			return 200, statusRow(p["bill_code"], 3, "处理成功")
		case wire.MethodListBillProcessPartSuccess:
			return 200, queryNotFound(m)
		}
		return 200, topErrBody(22, "Invalid method", "", "")
	})
	earlier, lookErr := "RK001", error(nil)
	var asked []string
	c := newTestClient(t, g.URL(), func(c *Config) {
		c.Earlier = func(_ context.Context, b queue.Bill, items []queue.Item) (upload.Blocker, error) {
			asked = append(asked, b.Code)
			return upload.Blocker{Code: earlier}, lookErr
		}
	})
	j := testJob("TH001", 116, "", codeA)
	j.Unknown = true // an earlier attempt may have sent it
	out := deliver(t, c, j)
	wantClass(t, out, upload.Wait, "RK001", "first")
	if out.RetryAfter != upload.OrderWait || !out.Local || len(g.Calls()) != 0 {
		t.Fatalf("RetryAfter %v, local %v, calls %v", out.RetryAfter, out.Local, methods(g.Calls()))
	}
	// Waiting forgets nothing: the part is still to be looked up first.
	if p := progressOf(t, out).Parts[0]; p.State != stateSending {
		t.Fatalf("progress while waiting: %+v", p)
	}
	j = next(j, out)
	lookErr, earlier = errors.New("disk error"), ""
	out = deliver(t, c, j)
	wantClass(t, out, upload.Retry, "disk error")
	if len(g.Calls()) != 0 {
		t.Fatalf("sent while the order was unknown: %v", methods(g.Calls()))
	}
	// The receiving is there: look up, send, then poll without asking.
	lookErr = nil
	out = deliver(t, c, next(j, out))
	wantClass(t, out, upload.Wait)
	if got := methods(g.Calls()); !slices.Equal(got, []string{"query.upbilldetail TH001", "uploadretail TH001"}) {
		t.Fatalf("calls %v", got)
	}
	n := len(asked)
	earlier = "RK002"
	out = deliver(t, c, next(j, out))
	wantClass(t, out, upload.Done)
	if len(asked) != n {
		t.Fatal("a bill only polling its status was held back")
	}
}
