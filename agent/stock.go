package agent

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/nhsa"
)

// Stock-taking and stock changes (issue 16). A stock-take (盘存, bill type
// 901) is a session in which every pack on the shelf is scanned; it goes
// to 医保 as 3501 and never to 码上放心, which has no such bill. A stock
// change (盘盈 111, 盘亏 214, 销毁 205, 损坏 215, 调拨 203/104, 报废 112/216,
// 其他 113/217) is an ordinary 码上放心 bill type that also goes to 医保 as
// 3502 when nhsa.bill_types lists it; the bills that take stock away
// without a partner carry their reason (attr stock.reason). The ledger
// follows from the bill type: a pack on an outbound change cannot be sold
// afterwards, and a counted pack the ledger did not know is 盘盈.

// AttrStockReason is why stock changed; 医保 gets it as the 3502 memo.
const AttrStockReason = nhsa.AttrStockReason

// needsReason tells whether a bill of type t must say why: the changes
// that take stock away, or add it, without a partner to name.
func needsReason(t int) bool {
	switch t {
	case billtype.StockGain, billtype.StockLoss, billtype.Destroyed, billtype.Damaged,
		billtype.ScrapIn, billtype.ScrapOut, billtype.OtherIn, billtype.OtherOut:
		return true
	}
	return false
}

// checkStockAttrs refuses a change bill without its reason.
func checkStockAttrs(t int, attrs map[string]string) error {
	if err := checkScope(t, attrs); err != nil {
		return err
	}
	if needsReason(t) && strings.TrimSpace(attrs[AttrStockReason]) == "" {
		return fmt.Errorf("%w: a %s bill needs its reason: attribute %s (e.g. 过期, 破损)", ErrBadRequest, billtype.Name(t), AttrStockReason)
	}
	return nil
}

// StockGains are the packs of a stock-take bill that the ledger did not
// know before the count (盘盈): found on the shelf, never received here.
func (a *Agent) StockGains(b queue.Bill) ([]queue.Item, error) {
	if b.Type != billtype.StockTake {
		return nil, nil
	}
	items, err := a.store.Items(b.ID)
	if err != nil {
		return nil, fmt.Errorf("stock-take %s: %w", b.Code, err)
	}
	var out []queue.Item
	for _, it := range items {
		e, ok, err := a.store.Ledger(it.Key)
		if err != nil {
			return nil, fmt.Errorf("stock-take %s: ledger of %s: %w", b.Code, it.Code, err)
		}
		if ok && queue.StockGain(e, b.ID) {
			out = append(out, it)
		}
	}
	return out, nil
}

// gainWords says on the scanner and in events how many packs a finished
// stock-take found that the ledger did not know; "" if none.
func (a *Agent) gainWords(b queue.Bill) string {
	gains, err := a.StockGains(b)
	if err != nil {
		a.log.Warn("stock gains", "bill", b.Code, "err", err)
		return ""
	}
	if len(gains) == 0 {
		return ""
	}
	codes := make([]string, 0, 3)
	for i, it := range gains {
		if i == 3 {
			codes = append(codes, fmt.Sprintf("and %d more", len(gains)-3))
			break
		}
		codes = append(codes, it.Code)
	}
	return fmt.Sprintf("; %s: %d pack(s) the ledger did not know (%s)", queue.NoteStockGain, len(gains), strings.Join(codes, ", "))
}

// stockCommand runs the scanner's stock commands:
//
//	STOCKTAKE[:ALL]           opens a stock-take (盘存); ALL: of the whole
//	                          store (stock.scope all, stocktake.go)
//	CHANGE:<type>[:<reason>]  opens a stock change of that bill type, with
//	                          its reason where one is needed (e.g.
//	                          CHANGE:205:过期销毁)
func (a *Agent) stockCommand(ctx context.Context, session, verb, arg string) device.Feedback {
	if verb == "STOCKTAKE" {
		return a.openStockTake(ctx, session, arg)
	}
	typ, reason, _ := strings.Cut(arg, ":")
	t, err := strconv.Atoi(typ)
	if err != nil || !billtype.StockChange(t) {
		return device.Feedback{Status: device.StatusRejected, Reason: "bad_command",
			Message: fmt.Sprintf("CHANGE needs a stock change bill type and its reason, e.g. CHANGE:205:过期销毁; got %q", arg)}
	}
	attrs := map[string]string{}
	if r := strings.TrimSpace(reason); r != "" {
		if len(r) > 200 {
			return device.Feedback{Status: device.StatusRejected, Reason: "bad_command", Message: "the reason is longer than 200 bytes"}
		}
		attrs[AttrStockReason] = r
	}
	if err := checkStockAttrs(t, attrs); err != nil {
		return device.Feedback{Status: device.StatusRejected, Reason: "bad_command", Message: fmt.Sprintf("CHANGE:%d:<reason>: %v", t, err)}
	}
	b, created, err := a.store.OpenSession(ctx, queue.SessionSpec{Session: session, Type: t,
		Operator: a.config().Device.Operator, Device: a.config().Device.ID, Attrs: attrs})
	if err != nil {
		return commandError(err)
	}
	verbWord := "opened"
	if !created {
		verbWord = "continuing"
	}
	msg := fmt.Sprintf("%s %s %s", verbWord, b.Code, billtype.Name(t))
	if r := b.Attrs[AttrStockReason]; r != "" {
		msg += " (" + r + ")"
	}
	return device.Feedback{Status: device.StatusCommand, Message: msg}
}
