package hid

import (
	"bytes"
	"errors"
	"fmt"
)

// HID-POS scanned data report, as Access-IS and Honeywell lay it out
// (offsets after the report-id byte, which is 2 when present):
//
//	0      data length n (≤ 56)
//	1–3    AIM symbology id, e.g. "]d2"; anything else means none
//	4–59   data, n bytes used
//	60     vendor symbology id (not used: the AIM id says it portably)
//	62     bit 0: more data follows in the next report
const (
	posReportID  = 0x02
	posLength    = 0
	posAIM       = 1
	posData      = 4
	posMaxData   = 56
	posFlags     = 62
	posFlagMore  = 0x01
	posMinReport = posData // length and AIM id
)

// pos decodes HID-POS scanned data reports. A long code spans several
// reports, each flagged "more" but the last; they are joined.
type pos struct {
	reportID bool

	active bool // inside a multi-report code
	code   []byte
	aim    string
	err    error // first problem of the code in progress; it is dropped
}

func newPOS(reportID bool) *pos { return &pos{reportID: reportID} }

func (d *pos) pending() bool { return d.active }

func (d *pos) flush() []event {
	if !d.active {
		return nil
	}
	d.fail(errors.New("the scanner announced more data that never came"))
	return d.end()
}

func (d *pos) feed(report []byte) []event {
	r := report
	if d.reportID {
		if len(r) == 0 {
			return []event{{err: errors.New("empty hid-pos report")}}
		}
		if r[0] != posReportID {
			// Not a scanned data report; a code in progress goes on.
			return []event{{err: fmt.Errorf("hid-pos report id %d is not a scanned data report (id %d); is report_id right?", r[0], posReportID)}}
		}
		r = r[1:]
	}
	more := len(r) > posFlags && r[posFlags]&posFlagMore != 0
	d.part(r)
	if more {
		d.active = true
		return nil
	}
	return d.end()
}

// part takes the data of one report.
func (d *pos) part(r []byte) {
	if len(r) < posMinReport {
		d.fail(fmt.Errorf("hid-pos report of %d bytes: too short for length and AIM id", len(r)))
		return
	}
	n := int(r[posLength])
	if n > posMaxData {
		d.fail(fmt.Errorf("hid-pos data length %d beyond the %d-byte data field", n, posMaxData))
		return
	}
	if posData+n > len(r) {
		d.fail(fmt.Errorf("hid-pos data length %d beyond the end of a %d-byte report", n, len(r)))
		return
	}
	if !d.active && isAIM(r[posAIM:posData]) {
		d.aim = string(r[posAIM:posData])
	}
	if d.err != nil {
		return
	}
	if len(d.code)+n > maxCode {
		d.fail(fmt.Errorf("code longer than %d bytes", maxCode))
		return
	}
	d.code = append(d.code, r[posData:posData+n]...)
}

// isAIM reports whether b is an AIM symbology identifier: "]", a
// symbology letter, a modifier letter or digit.
func isAIM(b []byte) bool {
	return len(b) == 3 && b[0] == ']' && isLetter(b[1]) && (isLetter(b[2]) || b[2] >= '0' && b[2] <= '9')
}

func isLetter(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }

func (d *pos) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// end finishes a code. A CR/LF suffix set up on the scanner is dropped;
// any other control character but GS spoils the code.
func (d *pos) end() []event {
	code, aim, err := d.code, d.aim, d.err
	d.active, d.code, d.aim, d.err = false, nil, "", nil
	if err == nil {
		code = bytes.TrimRight(code, "\r\n")
		if i := controlFree(code); i >= 0 {
			err = fmt.Errorf("control byte 0x%02x at offset %d of the data (only GS may appear)", code[i], i)
		}
	}
	switch {
	case err != nil:
		return []event{{err: fmt.Errorf("code dropped: %w", err)}}
	case len(code) > 0:
		return []event{{code: code, symbology: aim}}
	}
	return nil
}
