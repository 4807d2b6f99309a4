package hid

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A fixture is a recorded report sequence and what it must decode to:
//
//	# comment
//	mode keyboard|pos       (default keyboard)
//	layout us|de|fr         (default us)
//	reportid true|false     (default false)
//	tabends true|false      (default false)
//	r 00 00 25 00 00 00 00 00   one report in hex (spaces optional)
//	idle                    the idle timeout passes
//	want code "Go-quoted data" [AIM id]
//	want error <substring>
//	want note <substring>
//
// The settings come before the first report; the wants list every event
// in order.
type fixture struct {
	mode              Mode
	layout            string
	reportID, tabEnds bool
	steps             [][]byte // nil = idle
	want              []string
}

func loadFixture(t *testing.T, path string) fixture {
	t.Helper()
	fx, err := parseFixture(path)
	if err != nil {
		t.Fatal(err)
	}
	return fx
}

func parseFixture(path string) (fixture, error) {
	f, err := os.Open(path)
	if err != nil {
		return fixture{}, err
	}
	defer f.Close()
	fx := fixture{mode: ModeKeyboard, layout: "us"}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, _ := strings.Cut(line, " ")
		val = strings.TrimSpace(val)
		bad := func(err error) error { return fmt.Errorf("%s:%d: %w", path, n, err) }
		switch key {
		case "mode":
			fx.mode = Mode(val)
		case "layout":
			fx.layout = val
		case "reportid", "tabends":
			b, err := strconv.ParseBool(val)
			if err != nil {
				return fx, bad(err)
			}
			if key == "reportid" {
				fx.reportID = b
			} else {
				fx.tabEnds = b
			}
		case "r":
			b, err := hex.DecodeString(strings.ReplaceAll(val, " ", ""))
			if err != nil {
				return fx, bad(err)
			}
			if b == nil {
				b = []byte{}
			}
			fx.steps = append(fx.steps, b)
		case "idle":
			fx.steps = append(fx.steps, nil)
		case "want":
			kind, arg, _ := strings.Cut(val, " ")
			switch kind {
			case "code":
				q, rest, err := cutQuoted(arg)
				if err != nil {
					return fx, bad(err)
				}
				fx.want = append(fx.want, fmt.Sprintf("code %q %s", q, strings.TrimSpace(rest)))
			case "error", "note":
				fx.want = append(fx.want, kind+" "+arg)
			default:
				return fx, bad(fmt.Errorf("want %q", kind))
			}
		default:
			return fx, bad(fmt.Errorf("unknown line %q", key))
		}
	}
	return fx, sc.Err()
}

// cutQuoted splits a leading Go-quoted string from s.
func cutQuoted(s string) (string, string, error) {
	q, err := strconv.QuotedPrefix(s)
	if err != nil {
		return "", "", err
	}
	u, err := strconv.Unquote(q)
	return u, s[len(q):], err
}

func (fx fixture) decoder(t *testing.T) decoder {
	t.Helper()
	if fx.mode == ModePOS {
		return newPOS(fx.reportID)
	}
	lay, ok := layouts[fx.layout]
	if !ok {
		t.Fatalf("layout %q", fx.layout)
	}
	return newKeyboard(lay, fx.reportID, fx.tabEnds)
}

// describe renders events like the want lines, errors and notes in full.
func describe(events []event) []string {
	var out []string
	for _, e := range events {
		switch {
		case e.err != nil:
			out = append(out, "error "+e.err.Error())
		case e.note != "":
			out = append(out, "note "+e.note)
		default:
			out = append(out, fmt.Sprintf("code %q %s", e.code, e.symbology))
		}
	}
	return out
}

func TestFixtures(t *testing.T) {
	paths, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			fx := loadFixture(t, path)
			dec := fx.decoder(t)
			var events []event
			for _, step := range fx.steps {
				if step == nil {
					events = append(events, dec.flush()...)
				} else {
					events = append(events, dec.feed(step)...)
				}
			}
			got := describe(events)
			for i := range max(len(got), len(fx.want)) {
				var g, w string
				if i < len(got) {
					g = got[i]
				}
				if i < len(fx.want) {
					w = fx.want[i]
				}
				if !matches(g, w) {
					t.Errorf("event %d:\n got  %s\n want %s", i, g, w)
				}
			}
			if dec.pending() {
				t.Errorf("a code is still in progress at the end of the fixture")
			}
		})
	}
}

// matches compares an event with a want line: codes exactly, errors and
// notes by substring.
func matches(got, want string) bool {
	if strings.HasPrefix(want, "code ") || got == "" || want == "" {
		return strings.TrimSpace(got) == strings.TrimSpace(want)
	}
	kind, text, _ := strings.Cut(want, " ")
	return strings.HasPrefix(got, kind+" ") && strings.Contains(got, text)
}
