package configs

import (
	"errors"
	"strings"
	"testing"
)

// loadProblems loads data with env and returns key → message.
func loadProblems(t *testing.T, data string, env ...string) map[string]string {
	t.Helper()
	_, err := LoadBytes("pda.yaml", []byte(data), env)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want a config error, got %v", err)
	}
	out := map[string]string{}
	for _, f := range ce.Fields {
		out[f.Key] = f.Msg
	}
	return out
}

// A type error names the key, the variable or line, the value and the
// type wanted, in config terms: never strconv's words.
func TestTypeErrorsNameKeyValueAndType(t *testing.T) {
	got := loadProblems(t, "device: {id: A}\n", "PDA_MSFX_ENABLED=yes", "PDA_QUEUE_MAX_BATCH=lots", "PDA_UPLOAD_LEASE=30")
	for key, want := range map[string]string{
		"msfx.enabled":    "PDA_MSFX_ENABLED=yes: wants true or false",
		"queue.max_batch": "PDA_QUEUE_MAX_BATCH=lots: wants a whole number",
		"upload.lease":    "PDA_UPLOAD_LEASE=30: wants a duration like 30s or 5m",
	} {
		if got[key] != want {
			t.Errorf("%s: %q, want %q", key, got[key], want)
		}
	}
	file := "device: {id: A}\nsessions:\n  default_type: counter\nqueue:\n  max_size: huge\n"
	got = loadProblems(t, file)
	for key, want := range map[string]string{
		"sessions.default_type": `line 3: got "counter": wants a whole number`,
		"queue.max_size":        `line 5: got "huge": wants a size like 64MiB`,
	} {
		if got[key] != want {
			t.Errorf("%s: %q, want %q", key, got[key], want)
		}
	}
	for k, m := range got {
		if strings.Contains(m, "strconv") || strings.Contains(m, "invalid syntax") {
			t.Errorf("%s: Go's words leak: %s", k, m)
		}
	}
	// A secret's value is never echoed, even when it is of the wrong type.
	got = loadProblems(t, "device: {id: A}\nwebhook: {secret: [hunter2]}\n")
	if m := got["webhook.secret"]; m == "" || strings.Contains(m, "hunter2") {
		t.Errorf("webhook.secret: %q", m)
	}
	// A validation problem set by the environment names the variable.
	got = loadProblems(t, "device: {id: A}\nqueue: {headroom: 8MiB}\n", "PDA_QUEUE_HEADROOM=1KiB")
	if !strings.HasPrefix(got["queue.headroom"], "$PDA_QUEUE_HEADROOM: ") {
		t.Errorf("queue.headroom: %q, want it to name $PDA_QUEUE_HEADROOM", got["queue.headroom"])
	}
}

func TestDidYouMean(t *testing.T) {
	file := "device: {id: A}\nscanners:\n  - name: gun\n    type: serial\n    serial: {port: /dev/ttyACM0, sufix: CR}\n  - name: kb\n    type: stdin\n    ecko: true\nmsfx:\n  appsecret: x\n"
	got := loadProblems(t, file, "PDA_MSFX_APPSECRET=x", "PDA_QUEUE_MAXSIZE=1GiB", "PDA_TOTALLY_ELSE=1")
	for key, want := range map[string]string{
		"scanners[0].serial.sufix": "did you mean suffix?",
		"scanners[1].ecko":         "line 8: unknown key; did you mean echo?",
		"msfx.appsecret":           "did you mean app_secret?",
		"$PDA_MSFX_APPSECRET":      "did you mean $PDA_MSFX_APP_SECRET?",
		"$PDA_QUEUE_MAXSIZE":       "did you mean $PDA_QUEUE_MAX_SIZE?",
	} {
		if !strings.Contains(got[key], want) {
			t.Errorf("%s: %q, want it to contain %q", key, got[key], want)
		}
	}
	if m := got["$PDA_TOTALLY_ELSE"]; m == "" || strings.Contains(m, "did you mean") {
		t.Errorf("$PDA_TOTALLY_ELSE: %q: nothing is close, nothing to suggest", m)
	}
	// A key one level too high finds the nested one.
	got = loadProblems(t, "device: {id: A}\nscanners:\n  - {name: gun, type: serial, sufix: CR}\n")
	if m := got["scanners[0].sufix"]; !strings.Contains(m, "serial.suffix") {
		t.Errorf("scanners[0].sufix: %q", m)
	}
}

// The YAML error names the line to fix, not the line where the broken
// block began.
func TestYAMLErrorLine(t *testing.T) {
	file := `device:
  id: C1
data_dir: /var/lib/pda-agent
log:
  level: info
scanners:
  - name: gun
    type: stdin
  - name: wedge
    type: hid
    hid:
      vid: 05E0
   session: counter
`
	got := loadProblems(t, file)
	if m := got["(file)"]; !strings.HasPrefix(m, "not valid YAML: line 13: ") {
		t.Errorf("indent error on line 13 reported as %q", m)
	}
	// Flow lists over several lines are not mistaken for the error.
	file = "device: {id: C1}\ncodes:\n  allowed_kinds: [msfx20,\n    gs1]\nlog:\n  level: info\n level2: x\n"
	got = loadProblems(t, file)
	if m := got["(file)"]; !strings.HasPrefix(m, "not valid YAML: line 7: ") {
		t.Errorf("error after a multi-line flow list: %q", m)
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"sufix", "suffix", 1}, {"kitten", "sitting", 3}, {"abc", "", 3}, {"flaw", "lawn", 2}} {
		if got := editDistance(c.a, c.b); got != c.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
}
