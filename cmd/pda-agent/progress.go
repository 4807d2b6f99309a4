package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/pda-agent/pda-agent/agent"
)

// progress shows how far a long operation (export, bulk retry, compaction)
// is: a bar redrawn in place on a terminal, otherwise a plain line now and
// then ("exported 12000/50000 bills"), so logs and pipes stay readable.
type progress struct {
	w     io.Writer
	verb  string // "exported"
	unit  string // "bills"; "" for bytes, shown as sizes
	total int64
	tty   bool
	width int
	every time.Duration // between plain lines (or redraws on a terminal)
	now   func() time.Time
	start time.Time
	last  time.Time
	shown bool
	done  int64
	drawn int64 // done at the last report
}

// newProgress reports to w, drawing a bar when w is a terminal.
func newProgress(w io.Writer, verb, unit string, total int64) *progress {
	p := &progress{w: w, verb: verb, unit: unit, total: total, every: 2 * time.Second, now: time.Now}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty, p.every, p.width = true, 100*time.Millisecond, 80
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 20 {
			p.width = cols
		}
	}
	p.start = p.now()
	return p
}

// SetTotal changes the expected total (known only after the first step).
func (p *progress) SetTotal(total int64) { p.total = total }

// Set records that done units are finished and reports if it is time to.
func (p *progress) Set(done int64) {
	p.done = done
	if t := p.now(); !p.shown || t.Sub(p.last) >= p.every {
		p.last, p.shown = t, true
		p.draw()
	}
}

// Finish reports the final count and ends the bar's line.
func (p *progress) Finish() {
	if p.tty {
		p.draw()
		fmt.Fprintln(p.w)
		return
	}
	if !p.shown || p.drawn != p.done {
		p.draw()
	}
}

func (p *progress) draw() {
	p.drawn = p.done
	count := p.count()
	if !p.tty {
		fmt.Fprintf(p.w, "%s %s\n", p.verb, count)
		return
	}
	elapsed := p.now().Sub(p.start).Round(time.Second)
	tail := fmt.Sprintf(" %s %s", count, elapsed)
	if p.total > 0 {
		tail = fmt.Sprintf(" %3d%%%s", p.done*100/max(p.total, 1), tail)
	}
	// One column short of the width: filling the last one wraps the line
	// on some terminals, and \r would then redraw on a new line.
	barWidth := p.width - len([]rune(p.verb)) - len([]rune(tail)) - 4
	if barWidth < 10 {
		fmt.Fprintf(p.w, "\r%s%s", p.verb, tail)
		return
	}
	filled := 0
	if p.total > 0 {
		filled = int(min(p.done, p.total) * int64(barWidth) / p.total)
	}
	fmt.Fprintf(p.w, "\r%s [%s%s]%s", p.verb, strings.Repeat("=", filled), strings.Repeat(" ", barWidth-filled), tail)
}

// count is "12000/50000 bills", or sizes for bytes.
func (p *progress) count() string {
	if p.unit == "" {
		return fmt.Sprintf("%s/%s", agent.Bytes(p.done), agent.Bytes(p.total))
	}
	return fmt.Sprintf("%d/%d %s", p.done, p.total, p.unit)
}
