package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/queue"
)

// Original names the sale a customer return (116) undoes, when this device
// has no sale of the packs (退货必须有本店销售记录，或注明原销售单): the
// sale's bill code, or the POS's receipt number (the sale's attr
// nhsa.rtal_docno) and the day of the sale.
type Original struct {
	BillCode  string `json:"bill_code,omitempty"`
	ReceiptNo string `json:"receipt_no,omitempty"`
	// Date is YYYY-MM-DD, the store's day of the sale.
	Date string `json:"date,omitempty"`
}

// billCodeRE is what an agent's bill code is made of (queue.newBill: the
// device prefix, the day and a counter).
var billCodeRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// originalAttrs checks the original sale a request names and turns it
// into the bill attrs the queue reads (queue.AttrOriginal*), merged into
// a copy of attrs. A receipt of a sale on this device is resolved to that
// sale's bill code, so the return names its rows; a bill code on this
// device must be a finished sale.
func (a *Agent) originalAttrs(o *Original, typ int, attrs map[string]string) (map[string]string, error) {
	if o == nil {
		return attrs, nil
	}
	if typ != billtype.CustomerReturn {
		return nil, fmt.Errorf("%w: only a customer return (kind return, type 116) names an original sale", ErrBadRequest)
	}
	code, receipt, day := strings.TrimSpace(o.BillCode), strings.TrimSpace(o.ReceiptNo), strings.TrimSpace(o.Date)
	if code == "" && receipt == "" {
		return nil, fmt.Errorf("%w: original needs bill_code, or receipt_no and date", ErrBadRequest)
	}
	if code != "" && !billCodeRE.MatchString(code) {
		return nil, fmt.Errorf("%w: original bill_code %q is not a bill code (1-64 of A-Z a-z 0-9 _ -)", ErrBadRequest, code)
	}
	if receipt != "" {
		// rtal_docno 零售单据号 is char 40 in the 3505 table (upload/nhsa/fsi
		// Sale.RtalDocno; ../shared/reference/nhsa.md §3.3 rows 26–27).
		if utf8.RuneCountInString(receipt) > 40 || strings.ContainsFunc(receipt, func(r rune) bool { return r < ' ' }) {
			return nil, fmt.Errorf("%w: original receipt_no must be 1-40 printable characters (rtal_docno 零售单据号)", ErrBadRequest)
		}
		if _, err := time.Parse(time.DateOnly, day); err != nil {
			return nil, fmt.Errorf("%w: original receipt_no needs the date of the sale as YYYY-MM-DD; got %q", ErrBadRequest, o.Date)
		}
	} else if day != "" {
		return nil, fmt.Errorf("%w: original date goes with receipt_no", ErrBadRequest)
	}
	out := map[string]string{}
	maps.Copy(out, attrs)
	if receipt != "" {
		out[queue.AttrOriginalReceipt], out[queue.AttrOriginalDate] = receipt, day
		if code == "" {
			sales, err := a.store.SalesByReceipt(receipt, day)
			if err != nil {
				return nil, err
			}
			switch len(sales) {
			case 0: // a sale of another till or system: carried as named
			case 1:
				code = sales[0].Code
			default:
				return nil, fmt.Errorf("%w: receipt %s of %s is on %d sales here (%s, %s…): name the bill_code", ErrBadRequest, receipt, day, len(sales), sales[0].Code, sales[1].Code)
			}
		}
	}
	if code != "" {
		b, err := a.store.BillByCode(code)
		switch {
		case err == nil:
			if dir, _ := billtype.DirectionOf(b.Type); dir != billtype.Retail || b.State != queue.BillFinished {
				return nil, fmt.Errorf("%w: bill %s on this device is a %s (%s), not a finished sale", ErrBadRequest, code, billtype.Name(b.Type), b.State)
			}
			if receipt != "" && b.Attrs["nhsa.rtal_docno"] != "" && b.Attrs["nhsa.rtal_docno"] != receipt {
				return nil, fmt.Errorf("%w: sale %s has receipt %s, not %s", ErrBadRequest, code, b.Attrs["nhsa.rtal_docno"], receipt)
			}
		case !errors.Is(err, queue.ErrNotFound):
			return nil, err
		}
		out[queue.AttrOriginalBill] = code
	}
	return out, nil
}

// openReturn opens a customer return naming its original sale by bill
// code (the command PDA:RETURN:<bill_code>).
func (a *Agent) openReturn(ctx context.Context, session, billCode string) device.Feedback {
	attrs, err := a.originalAttrs(&Original{BillCode: billCode}, billtype.CustomerReturn, nil)
	if err != nil {
		return device.Feedback{Status: device.StatusRejected, Reason: "bad_command", Message: err.Error()}
	}
	b, created, err := a.store.OpenSession(ctx, queue.SessionSpec{Session: session, Type: billtype.CustomerReturn,
		Operator: a.config().Device.Operator, Device: a.config().Device.ID, Attrs: attrs})
	if err != nil {
		return commandError(err)
	}
	verb := "opened"
	if created {
		a.publish(Event{Kind: "bill", Session: session, Bill: b.Code, Status: "opened", Message: billtype.Name(b.Type)})
	} else {
		verb = "continuing"
	}
	return device.Feedback{Status: device.StatusCommand, Message: fmt.Sprintf("%s %s %s of sale %s", verb, b.Code, billtype.Name(b.Type), attrs[queue.AttrOriginalBill])}
}
