package upload

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Helpers that turn what a back end sent into text for an Outcome's
// Message: one line, valid UTF-8, bounded, whatever arrived.

// Snippet renders a raw answer for a message, at most max runes.
func Snippet(data []byte, max int) string {
	if len(bytes.TrimSpace(data)) == 0 {
		return "empty body"
	}
	if len(data) > 4*max {
		data = data[:4*max]
	}
	return Clip(strings.ToValidUTF8(string(data), "�"), max)
}

// Clip makes platform text safe for a one-line message: control
// characters become spaces, runs of spaces collapse and the length is
// bounded to max runes.
func Clip(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "…"
	}
	return s
}

// StatusText is "502 Bad Gateway", or the bare code when it has no name.
func StatusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return strconv.Itoa(code)
}
