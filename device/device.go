// Package device reads scans from scan sources (serial, HID, camera, TCP,
// stdin, replay files) behind one small interface. A source knows how to get
// bytes out of its hardware and frame them into scans; it knows nothing of
// codes, bills or queues. What to do with a scan is the Handler's business,
// and the source renders the Handler's Feedback to the operator as its
// hardware allows (a line on a terminal, a beep).
package device

import (
	"context"
	"time"
)

// Scan is one read from one source.
type Scan struct {
	// Source is the name of the source in config.
	Source string
	// Raw is what the scanner sent, with framing (prefix/suffix) removed.
	Raw []byte
	// Symbology is the AIM identifier when the transport reports it apart
	// from the data (HID-POS, camera decoders); "" when it is in Raw or
	// unknown.
	Symbology string
	// GSReliable is set by transports that deliver GS1 separators
	// faithfully (camera decoders, HID-POS): a GS1 code without GS is then
	// read as it is rather than refused as possibly mangled.
	GSReliable bool
	At         time.Time
}

// Status is the verdict the operator hears.
type Status string

const (
	StatusAccepted  Status = "accepted"
	StatusDuplicate Status = "duplicate"
	StatusRejected  Status = "rejected"
	// StatusCommand: a command barcode (open, finish, cancel) was run.
	StatusCommand Status = "command"
	// StatusError: the scan could not be recorded (queue full, shutting
	// down); the operator must scan again later.
	StatusError Status = "error"
)

// Feedback tells the operator what became of a scan.
type Feedback struct {
	Status  Status
	Reason  string // machine-readable reason for rejections and errors
	Message string // human-readable, for the operator
}

// Handler decides what a scan means and returns only when the result is
// durable. It is called from the source's goroutine.
type Handler func(ctx context.Context, s Scan) Feedback

// Source is a scan source.
type Source interface {
	// Name is the source's name in config.
	Name() string
	// Run reads scans and hands each to h until ctx ends or the source is
	// exhausted (end of a replay file: nil error).
	Run(ctx context.Context, h Handler) error
}
