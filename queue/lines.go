package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// A sale opened with its lines (无码不结算) knows what it should contain:
// each scanned pack goes to the line of its product, a pack of no line or
// one more than a line needs is refused, and the sale finishes only when
// every line is collected or its short packs are explained by exceptions.

// Scan refusals of a sale with lines.
const (
	ReasonNotOnSale    = "not_on_sale"
	ReasonLineComplete = "line_complete"
)

// ErrCodesMissing: a sale's lines are not all collected nor excepted.
var ErrCodesMissing = errors.New("codes missing")

// SaleLine is one line of a sale as the POS gave it. Collected and
// Excepted count packs, or units for a 拆零 line (Units > 0).
type SaleLine struct {
	Line string `json:"line"`
	// Product is what the POS named: a 7-digit 药品标识码, a GTIN-14 or a
	// 医保目录编码.
	Product string `json:"product"`
	// Keys are the product keys (tracecode: 7-digit prefix or GTIN) whose
	// packs the line takes, resolved when the sale is opened.
	Keys []string `json:"keys"`
	Name string   `json:"name,omitempty"`
	// Packs is the number of whole packs; Units the number of units sold
	// from packs (拆零). Exactly one is set.
	Packs int `json:"packs,omitempty"`
	Units int `json:"units,omitempty"`
	// KeyVariety: exceptions on this line need a supervisor.
	KeyVariety bool `json:"key_variety,omitempty"`
	Collected  int  `json:"collected"`
	Excepted   int  `json:"excepted,omitempty"`
}

// Needed is what the line must collect: packs, or units for 拆零.
func (l SaleLine) Needed() int {
	if l.Units > 0 {
		return l.Units
	}
	return l.Packs
}

// Short is what the line still lacks after codes and exceptions.
func (l SaleLine) Short() int {
	return max(0, l.Needed()-l.Collected-l.Excepted)
}

// Exception records packs (units on a 拆零 line) sold without a code, and
// why. The reason codes are the agent's (docs/api.md).
type Exception struct {
	Line   string `json:"line"`
	Packs  int    `json:"packs"`
	Reason string `json:"reason"`
	Note   string `json:"note,omitempty"`
	// Code names the pack of an excused bad verdict (Bill.Excused).
	Code string `json:"code,omitempty"`
	// Supervisor: a supervisor approved it (key varieties).
	Supervisor bool      `json:"supervisor,omitempty"`
	At         time.Time `json:"at"`
}

// LineShort is a line that is not complete.
type LineShort struct {
	Line      string `json:"line"`
	Needed    int    `json:"needed"`
	Collected int    `json:"collected"`
	Excepted  int    `json:"excepted,omitempty"`
}

// MissingError is ErrCodesMissing with the short lines.
type MissingError struct {
	Bill  string
	Lines []LineShort
}

func (e *MissingError) Error() string {
	parts := make([]string, len(e.Lines))
	for i, l := range e.Lines {
		parts[i] = fmt.Sprintf("line %s %d/%d", l.Line, l.Collected+l.Excepted, l.Needed)
	}
	return fmt.Sprintf("%s: bill %s: %s (scan the missing packs or record an exception)", ErrCodesMissing, e.Bill, strings.Join(parts, ", "))
}

func (e *MissingError) Unwrap() error { return ErrCodesMissing }

// Shortfall lists the bill's lines that are neither collected nor excepted
// in full; nil for a bill without lines. It is the one check that decides
// whether a sale with lines may finish.
func Shortfall(b Bill) []LineShort {
	var out []LineShort
	for _, l := range b.Lines {
		if l.Short() > 0 {
			out = append(out, LineShort{Line: l.Line, Needed: l.Needed(), Collected: l.Collected, Excepted: l.Excepted})
		}
	}
	return out
}

// CheckComplete is Shortfall as an error: a *MissingError, or nil.
func CheckComplete(b Bill) error {
	if short := Shortfall(b); len(short) > 0 {
		return &MissingError{Bill: b.Code, Lines: short}
	}
	return nil
}

func validLines(lines []SaleLine) error {
	seen := map[string]bool{}
	for _, l := range lines {
		switch {
		case l.Line == "" || seen[l.Line]:
			return fmt.Errorf("queue: sale line %q: empty or repeated line name", l.Line)
		case len(l.Keys) == 0:
			return fmt.Errorf("queue: sale line %s: no product key", l.Line)
		case (l.Packs > 0) == (l.Units > 0), l.Packs < 0, l.Units < 0:
			return fmt.Errorf("queue: sale line %s: give packs or units, one of them", l.Line)
		case l.Collected != 0 || l.Excepted != 0:
			return fmt.Errorf("queue: sale line %s: opened with counts", l.Line)
		}
		seen[l.Line] = true
	}
	return nil
}

// sameLines tells whether an open bill has the lines a spec asks for.
func sameLines(cur []SaleLine, want []SaleLine) bool {
	if len(want) == 0 {
		return true
	}
	return slices.EqualFunc(cur, want, func(a, b SaleLine) bool {
		return a.Line == b.Line && a.Product == b.Product && a.Packs == b.Packs && a.Units == b.Units
	})
}

// matchLine picks the line a scanned pack goes to: the first line of its
// product with room for it. amount is what the pack counts for there. A
// whole pack counts on a packs line as 1 and on a 拆零 line as its units
// (when the catalogue knows them); a split sale counts on a 拆零 line only.
func matchLine(lines []SaleLine, product string, units, packUnits int) (idx, amount int, reason, msg string) {
	ofProduct, fits := false, false
	for i, l := range lines {
		if !slices.Contains(l.Keys, product) {
			continue
		}
		ofProduct = true
		n := 0
		switch {
		case l.Units > 0 && units > 0:
			n = units
		case l.Units > 0:
			n = packUnits
		case units == 0:
			n = 1
		}
		if n == 0 {
			continue
		}
		fits = true
		if l.Collected+n <= l.Needed() {
			return i, n, "", ""
		}
	}
	switch {
	case !ofProduct:
		return -1, 0, ReasonNotOnSale, fmt.Sprintf("product %s is on no line of this sale: put the pack aside", product)
	case !fits && units > 0:
		return -1, 0, ReasonNotOnSale, fmt.Sprintf("product %s is sold in whole packs on this sale, not split (拆零)", product)
	case !fits:
		return -1, 0, ReasonNotOnSale, fmt.Sprintf("product %s is sold by the unit (拆零) on this sale: scan SPLIT:<units> first (the catalogue has no units per pack)", product)
	}
	return -1, 0, ReasonLineComplete, fmt.Sprintf("the line(s) of product %s have all their packs: this one is one too many", product)
}

// AddException records packs of a line sold without a code on the
// session's open sale. It refuses more than the line still lacks.
func (s *Store) AddException(ctx context.Context, session string, e Exception) (Bill, error) {
	if e.Packs < 1 {
		return Bill{}, errors.New("queue: an exception covers at least one pack")
	}
	r, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		b, err := w.openBill(session)
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(b.Lines, func(l SaleLine) bool { return l.Line == e.Line })
		if i < 0 {
			return nil, fmt.Errorf("%w: bill %s has no line %q", ErrNoLine, b.Code, e.Line)
		}
		if short := b.Lines[i].Short(); e.Packs > short {
			return nil, fmt.Errorf("%w: line %s of bill %s lacks %d, not %d", ErrTooManyExcepted, e.Line, b.Code, short, e.Packs)
		}
		if e.At.IsZero() {
			e.At = w.now
		}
		b.Lines[i].Excepted += e.Packs
		b.Exceptions = append(b.Exceptions, e)
		detail := fmt.Sprintf("line %s: %d without code (%s)", e.Line, e.Packs, e.Reason)
		if e.Supervisor {
			detail += ", supervisor approved"
		}
		b.History = append(b.History, Event{At: w.now, What: "exception", Detail: detail})
		return b, w.putBill(b)
	})
	if err != nil {
		return Bill{}, err
	}
	b := r.(Bill)
	s.openBill(&b)
	return b, nil
}

// Exception errors.
var (
	ErrNoLine          = errors.New("no such line")
	ErrTooManyExcepted = errors.New("more than the line lacks")
)
