package device

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// MaxLine bounds one line of a line-oriented source; longer input is
// rejected rather than split into wrong codes.
const MaxLine = 4096

// Lines is a line-oriented source: one scan per line (LF or CRLF), from
// standard input or a replay file. Blank lines and lines starting with '#'
// are skipped. With Echo set, each scan's feedback is written there as one
// line, so a terminal user or a driving program sees every result.
type Lines struct {
	SourceName string
	Reader     io.Reader
	// Echo, if set, receives "ACCEPTED|DUPLICATE|REJECTED|COMMAND|ERROR <message>".
	Echo io.Writer
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Name is the source's name.
func (l *Lines) Name() string { return l.SourceName }

// Run reads lines until EOF (returns nil) or ctx ends. A reader blocked on
// a terminal cannot be interrupted; Run returns at ctx end regardless and
// the reading goroutine ends with the process.
func (l *Lines) Run(ctx context.Context, h Handler) error {
	now := l.Now
	if now == nil {
		now = time.Now
	}
	type line struct {
		text    string
		tooLong bool
		err     error
	}
	lines := make(chan line)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(lines)
		br := bufio.NewReaderSize(l.Reader, MaxLine)
		for {
			text, tooLong, err := readLine(br)
			if err != nil && text == "" {
				if !errors.Is(err, io.EOF) {
					select {
					case lines <- line{err: err}:
					case <-stop:
					}
				}
				return
			}
			select {
			case lines <- line{text: text, tooLong: tooLong}:
			case <-stop:
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ln, ok := <-lines:
			if !ok {
				return nil
			}
			if ln.err != nil {
				return fmt.Errorf("%s: read: %w", l.SourceName, ln.err)
			}
			text := strings.TrimRight(ln.text, "\r")
			if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
				continue
			}
			var fb Feedback
			if ln.tooLong {
				fb = Feedback{Status: StatusRejected, Reason: "too_long", Message: fmt.Sprintf("line longer than %d bytes: not a code (several scans run together?)", MaxLine)}
			} else {
				fb = h(ctx, Scan{Source: l.SourceName, Raw: []byte(text), At: now()})
			}
			if l.Echo != nil {
				if _, err := fmt.Fprintf(l.Echo, "%s %s\n", strings.ToUpper(string(fb.Status)), oneLine(fb.Message)); err != nil {
					return fmt.Errorf("%s: echo: %w", l.SourceName, err)
				}
			}
		}
	}
}

// readLine reads one line; a line over MaxLine is consumed whole and
// reported as too long.
func readLine(br *bufio.Reader) (string, bool, error) {
	var b strings.Builder
	tooLong := false
	for {
		chunk, isPrefix, err := br.ReadLine()
		if err != nil {
			if b.Len() > 0 || tooLong {
				return b.String(), tooLong, nil
			}
			return "", false, err
		}
		if b.Len()+len(chunk) > MaxLine {
			tooLong = true
		} else {
			b.Write(chunk)
		}
		if !isPrefix {
			if tooLong {
				return "x", true, nil
			}
			return b.String(), false, nil
		}
	}
}

func oneLine(s string) string { return strings.NewReplacer("\n", " ", "\r", " ").Replace(s) }
