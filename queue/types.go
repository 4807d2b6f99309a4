package queue

import "time"

// BillState is where a bill is in its life.
type BillState string

const (
	// BillOpen: a session is still collecting codes into the bill.
	BillOpen BillState = "open"
	// BillFinished: the bill is closed; its deliveries carry it to the back ends.
	BillFinished BillState = "finished"
	// BillCancelled: the session was abandoned; its codes were released.
	BillCancelled BillState = "cancelled"
)

// Bill is the unit the platforms know (单据). Its Code (bill_code) is generated
// once, when the bill is created, and never changes: the back ends use it as the
// idempotency key.
type Bill struct {
	ID       uint64    `json:"id"`
	Code     string    `json:"bill_code"`
	Type     int       `json:"bill_type"`
	State    BillState `json:"state"`
	Session  string    `json:"session"`
	Partner  string    `json:"partner,omitempty"`
	Operator string    `json:"operator,omitempty"`
	Device   string    `json:"device,omitempty"`
	// Items is the number of codes on the bill.
	Items int `json:"items"`
	// LastSeq is the highest item seq given so far, once a pack was
	// removed (RemoveItem): seqs are then not 1..Items any more.
	LastSeq    int       `json:"last_seq,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Destinations are the back ends the bill is delivered to, fixed at finish.
	Destinations []string `json:"destinations,omitempty"`
	// Attrs carries what a back end needs beyond the codes, as the POS or
	// operator gave it (e.g. the 医保 settlement of a sale: "nhsa.setl_id").
	Attrs map[string]string `json:"attrs,omitempty"`
	// Sealed holds personal attrs (IsPersonal) encrypted: in the file
	// always (personal.go); in a bill read back only those this device's
	// key cannot decrypt, whose deliveries are held.
	Sealed map[string]string `json:"sealed_attrs,omitempty"`
	// PersonalErased is when the personal attrs were erased, every
	// destination having the bill.
	PersonalErased time.Time `json:"personal_erased_at,omitzero"`
	// Reconciled is, by destination, when a reconciliation last found the
	// bill on the platform exactly as sent (MarkReconciled); with
	// Options.PersonalRetention it lets the personal attrs go early.
	Reconciled map[string]time.Time `json:"reconciled,omitempty"`
	// Lines are what a sale should contain, as the POS gave them (lines.go);
	// Exceptions the packs of them sold without a code.
	Lines      []SaleLine  `json:"lines,omitempty"`
	Exceptions []Exception `json:"exceptions,omitempty"`
	// Excused are packs on the bill that 码上放心 reported as bad (验码)
	// and that are sold anyway, each with why (Exception.Code names the
	// pack; it counts no packs on its line).
	Excused []Exception `json:"excused,omitempty"`
	History []Event     `json:"history,omitempty"`
}

// Event is one line of a bill's history.
type Event struct {
	At     time.Time `json:"at"`
	What   string    `json:"what"`
	Detail string    `json:"detail,omitempty"`
}

// Item is one code on a bill, in scan order.
type Item struct {
	Seq int `json:"seq"`
	// Code is the normalized trace code as it is sent to the back ends.
	Code string `json:"code"`
	// Key identifies the physical pack in the ledger (equal to Code for
	// 码上放心 codes; GTIN+serial for GS1).
	Key       string    `json:"key"`
	Kind      string    `json:"kind"`
	Product   string    `json:"product,omitempty"`
	Source    string    `json:"source,omitempty"`
	ScannedAt time.Time `json:"scanned_at"`
	// Lot, Expiry and Produced (YYYY-MM-DD) come from the code itself (GS1)
	// or from what the ledger learnt when the pack was received.
	Lot      string `json:"lot,omitempty"`
	Expiry   string `json:"expiry,omitempty"`
	Produced string `json:"produced,omitempty"`
	// Units is the number of units sold from a split pack (拆零); 0 for a
	// whole pack. Opened marks the sale that opened the pack: 码上放心
	// hears of a split pack once, 医保 of every split sale.
	Units  int  `json:"units,omitempty"`
	Opened bool `json:"opened,omitempty"`
	// Ref is the bill of this pack's previous ledger event: the sale a
	// customer return undoes, the purchase a supplier return sends back.
	Ref string `json:"ref,omitempty"`
	// Line is the sale line the pack went to (sales opened with lines);
	// Counted what it counts for there when that is not one pack (a whole
	// pack on a 拆零 line counts its units).
	Line    string `json:"line,omitempty"`
	Counted int    `json:"counted,omitempty"`
}

// DeliveryState is where one bill stands with one destination.
type DeliveryState string

const (
	DeliveryPending DeliveryState = "pending"
	DeliveryLeased  DeliveryState = "leased"
	DeliveryDone    DeliveryState = "done"
	DeliveryDead    DeliveryState = "dead"
	// DeliveryDropped: an operator decided a dead letter will not be
	// delivered (kept for the record, never retried).
	DeliveryDropped DeliveryState = "dropped"
)

// Delivery is one bill × one destination, with its own retry schedule.
type Delivery struct {
	BillID   uint64        `json:"bill_id"`
	BillCode string        `json:"bill_code"`
	Dest     string        `json:"dest"`
	State    DeliveryState `json:"state"`
	Attempts int           `json:"attempts"`
	// Failures counts consecutive failed attempts (the backoff's input); a
	// waiting retry or success resets it.
	Failures int `json:"failures,omitempty"`
	// FailingSince is when the current streak of failed attempts began
	// (zero when the last attempt did not fail): "failing since …".
	FailingSince time.Time `json:"failing_since,omitzero"`
	// NextAt is when the delivery is next due: its retry time, or the end
	// of its lease while leased. Done and dead deliveries are never due.
	NextAt time.Time `json:"next_at,omitzero"`
	// LeaseUntil is when a lease expires and the delivery becomes due again.
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	// Lease identifies the current lease, so a late answer to an expired
	// lease cannot undo a newer attempt's result.
	Lease uint64 `json:"lease,omitempty"`
	// Unknown is set when an attempt started but its outcome was never
	// recorded (crash, timeout after sending): the uploader must query the
	// back end before sending again.
	Unknown bool `json:"unknown,omitempty"`
	// Progress is the destination's own state carried between attempts
	// (e.g. which parts of a split bill are uploaded); opaque here.
	Progress string `json:"progress,omitempty"`
	// Note says what the delivery waits for when it is not failing (e.g.
	// "polling processing status").
	Note string `json:"note,omitempty"`
	// Held: the note is a wait on this device (an earlier bill of the same
	// packs must reach the back end first), not the back end's processing.
	Held bool `json:"held,omitempty"`
	// Missing: the last attempt was held back on this device because the
	// bill lacks these data (bill attrs, catalogue, config). The delivery
	// is held, not failing: it waits for a repair (Store.ChangeAttrs) and
	// is looked at again now and then.
	Missing []Missing `json:"missing,omitempty"`
	// Unsent: no attempt so far may have reached the back end (each was
	// held back on this device). Set when the delivery is made, cleared
	// for good by the first attempt that may have sent anything; a
	// delivery written before this field existed lacks it and so counts
	// as sent, which is the safe side.
	Unsent    bool      `json:"unsent,omitempty"`
	LastError string    `json:"last_error,omitempty"`
	LastAt    time.Time `json:"last_at,omitzero"`
	DoneAt    time.Time `json:"done_at,omitzero"`
	// Result is the back end's reference for the delivered bill (request id,
	// platform bill id) or, for a dead letter, the platform's message.
	Result    string    `json:"result,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// CodeIssue records that a back end did not take one code of a delivered
// bill (partial success), with its reason: the answer to "why was this code
// not uploaded?".
type CodeIssue struct {
	Code     string    `json:"code"`
	BillID   uint64    `json:"bill_id"`
	BillCode string    `json:"bill_code"`
	Dest     string    `json:"dest"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
}
