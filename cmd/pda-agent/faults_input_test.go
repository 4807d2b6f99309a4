package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pda-agent/pda-agent/queue"
	msfxsb "github.com/pda-agent/pda-agent/upload/msfx/sandbox"
)

// badInput is the suite's bad_input class: malformed input on every entry
// point — scanner bytes (stdin and TCP), local API bodies, config files and
// back-end answers — must be refused with a reason, change nothing it was
// refused for, and never crash the agent.
func badInput(t *testing.T) faultRow {
	var row faultRow
	for _, part := range []struct {
		name string
		run  func(t *testing.T) faultRow
	}{
		{"scanner", badScannerInput},
		{"api", badAPIInput},
		{"config", badConfigs},
		{"answers", hostileAnswers},
	} {
		t.Run(part.name, func(t *testing.T) {
			r := part.run(t)
			row.cycles += r.cycles
			row.faults += r.faults
			row.tally.add(r.tally)
		})
	}
	return row
}

const inputConfig = `device: {id: IN1}
data_dir: %[1]s
log: {level: warn}
sessions: {default_type: 102, default_partner: ` + msfxsb.DefaultSupplierEntID + `}
api: {listen: "127.0.0.1:%[2]s"}
scanners:
  - {name: gun, type: stdin, echo: true}
  - {name: pos, type: tcp, session: pos, tcp: {listen: "127.0.0.1:%[3]s", reply: true}}
`

// badScanLines are what broken or confused scanners send: each must be
// refused with a reason, one answer per line.
func badScanLines(rng *rand.Rand, random int) []string {
	lines := []string{
		"garbage", "hello world", "\x00\x01\x02\x03", "\x1b[31mred\x1b[0m", "\x7f\x7f\x7f", "\xff\xfe\xfd\xfc",
		"8101235000000015747",   // 19 digits
		"810123500000001574744", // 21 digits
		"8101235 000000157474",  // a space inside
		"8101235\x00000000157474",
		"6901234567892", // a product barcode (EAN-13)
		"８１０１２３５００００００００１５７４７４",                             // full-width digits from a Chinese IME
		"]d2010690123456789217281200" + "10LOT1<GS>21",      // an empty serial after the separator
		"]d20106901234567892\x1c21SER9",                     // FS instead of GS
		"]d2\x1d\x1d\x1d",                                   // separators only
		"0106901234567893" + "21SER9",                       // bad GTIN check digit
		"]d2" + "010690123456789217281200" + "10LOT121SER9", // every GS lost: ambiguous
		"(01)06901234567892(21)",
		"]d2" + strings.Repeat("\x1d", 300),
		strings.Repeat("8", 4096), // as long as a line may be, still no code
		strings.Repeat("8", 5000), // longer than a line may be
		strings.Repeat("é", 3000), // long multi-byte
		"PDA:", "PDA:NOPE", "PDA:OPEN:999", "PDA:SPLIT:x", "PDA:SPLIT:0", "PDA:SET:Bad Key=1", "PDA:SET:novalue",
		"PDA:RECEIVE:not-an-ent-id",
	}
	for i := 0; i < random; i++ {
		b := make([]byte, 1+rng.IntN(300))
		for j := range b {
			b[j] = byte(rng.IntN(256))
			if b[j] == '\n' {
				b[j] = 0
			}
		}
		lines = append(lines, string(b))
	}
	// Blank and '#' lines are not scans (TCP answers them REJECTED
	// empty/comment): leave them out so both entry points count the same lines.
	var out []string
	for _, l := range lines {
		if trimmed := strings.TrimSpace(strings.TrimRight(l, "\r")); trimmed == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, l)
	}
	return out
}

// badScannerInput sends garbage through the stdin and the TCP scanners:
// every line is REJECTED with a message (never accepted, never an internal
// error), the scanners keep working, every refused code in the journal has
// its reason, and nothing of it is on a bill.
func badScannerInput(t *testing.T) faultRow {
	dir := t.TempDir()
	apiPort, tcpPort := freePort(t), freePort(t)
	config := writeFile(t, dir, "config.yaml", fmt.Sprintf(inputConfig, dir, apiPort, tcpPort))
	var stderr lockedBuffer
	p := startAgent(t, config, &stderr)
	waitAPI(t, dir, apiPort, &stderr)
	rng := rand.New(rand.NewPCG(3, 5))
	lines := badScanLines(rng, pick(200, 2000))
	var tl tally
	check := func(via, line, ack string) {
		t.Helper()
		tl.records++
		tl.rejections++
		status, msg, _ := strings.Cut(ack, " ")
		if status != "REJECTED" {
			t.Errorf("%s: %q answered %q, want REJECTED", via, clipQ(line), ack)
			return
		}
		if strings.TrimSpace(msg) != "" {
			tl.explained++
		}
	}
	for _, l := range lines {
		check("stdin", l, sendLine(t, p, l))
	}

	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+tcpPort, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rd := bufio.NewReader(conn)
	tcpLine := func(line string) string {
		t.Helper()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(conn, line+"\n"); err != nil {
			t.Fatalf("tcp write: %v", err)
		}
		ack, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("tcp answer to %q: %v", clipQ(line), err)
		}
		return strings.TrimRight(ack, "\n")
	}
	for _, l := range lines {
		check("tcp", l, tcpLine(l))
	}
	// A client that leaves mid-line, and one that sends CRLF, do no harm.
	if c2, err := net.Dial("tcp", "127.0.0.1:"+tcpPort); err == nil {
		io.WriteString(c2, "81012350000000")
		c2.Close()
	}

	// Both scanners still take good codes.
	acks := map[ackKey]string{}
	for i, via := range []func(string) string{func(l string) string { return sendLine(t, p, l) }, tcpLine} {
		code := fmt.Sprintf("8101235%09d%04d", 900000+i, i)
		if ack := via(code + "\r"); !strings.HasPrefix(ack, "ACCEPTED") {
			t.Fatalf("a good code after the garbage: %s", ack)
		}
		acks[ackKey{typ: 102, code: code}] = "ACCEPTED"
		if ack := via("PDA:FINISH"); !strings.HasPrefix(ack, "COMMAND") {
			t.Fatalf("finish: %s", ack)
		}
	}
	stopAgent(t, p, &stderr)
	s := openQueue(t, dir)
	defer s.Close()
	// compareLedgers checks the journal's reasons; every code on a bill
	// must be one of the good ones.
	tl.add(compareLedgers(t, s, acks, backends{}))
	if err := s.ForEachBill(func(b queue.Bill) bool {
		items, _ := s.Items(b.ID)
		for _, it := range items {
			if _, ok := acks[ackKey{typ: b.Type, code: it.Code}]; !ok {
				t.Errorf("bill %s holds %q, which was not a good code", b.Code, it.Code)
			}
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bad lines through stdin and TCP each, all refused with a reason", len(lines))
	return faultRow{cycles: 1, faults: 2 * len(lines), tally: tl}
}

func clipQ(s string) string {
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return fmt.Sprintf("%q", s)
}

func openQueue(t *testing.T, dir string) *queue.Store {
	t.Helper()
	s, err := queue.Open(filepath.Join(dir, "queue.db"), queue.Options{CheckOnOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// queueDigest hashes every key and value of a stopped agent's queue file,
// by bucket and key, so a refused request that wrote anything shows.
func queueDigest(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "queue.db"), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string][32]byte{}
	if err := db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				out[string(name)+"/"+string(k)] = sha256.Sum256(v)
				return nil
			})
		})
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// apiCase is one refused request.
type apiCase struct {
	method, path string
	body         []byte
	chunked      bool
	ctype        string
}

func badAPICases() []apiCase {
	j := func(method, path, body string) apiCase {
		return apiCase{method: method, path: path, body: []byte(body)}
	}
	long := strings.Repeat("s", 65)
	huge := []byte(`{"kind":"sale","lines":[` + strings.Repeat(`{"code":"81012350000000157474"},`, 200000) + `{"code":"x"}]}`)
	return []apiCase{
		// Malformed JSON.
		j("POST", "/v1/sessions", `{"session":`),
		j("POST", "/v1/sessions", `{`),
		j("POST", "/v1/sessions", `null`),
		j("POST", "/v1/sessions", `"sale"`),
		j("POST", "/v1/sessions", `{"session":"s2","kind":"sale"} {"session":"s3"}`),
		j("POST", "/v1/sessions", "{\"session\":\"s2\xff\",\"kind\":\"sale\"}"),
		j("POST", "/v1/scans", "\x00\x01\x02"),
		j("POST", "/v1/scans", `[]`),
		j("POST", "/v1/bills", `{"kind":"receive","lines":[{"code":"81012350000099990001"},]}`),
		// Unknown fields.
		j("POST", "/v1/sessions", `{"session":"s2","kind":"sale","colour":"red"}`),
		j("POST", "/v1/scans", `{"session":"s","code":"81012350000099990002","extra":1}`),
		j("POST", "/v1/bills", `{"kind":"receive","partner":"`+msfxsb.DefaultSupplierEntID+`","lines":[{"code":"81012350000099990003","qty":2}]}`),
		j("POST", "/v1/sessions/s/finish", `{"attrs":{},"force":true}`),
		// Wrong types.
		j("POST", "/v1/sessions", `{"session":1,"kind":"sale"}`),
		j("POST", "/v1/sessions", `{"session":"s2","kind":["sale"]}`),
		j("POST", "/v1/sessions", `{"session":"s2","type":"321"}`),
		j("POST", "/v1/sessions", `{"session":"s2","kind":"sale","attrs":{"nhsa.mdtrt_sn":1}}`),
		j("POST", "/v1/scans", `{"session":"s","code":81012350000099990004}`),
		j("POST", "/v1/bills", `{"kind":"receive","lines":{"code":"81012350000099990005"}}`),
		j("POST", "/v1/bills", `{"kind":"receive","lines":[{"code":"81012350000099990006","units":"two"}]}`),
		j("POST", "/v1/sessions/s/attrs", `{"attrs":["a"]}`),
		j("POST", "/v1/deadletters/IN1-000000-00001/msfx/drop", `{"reason":"x","confirm":"yes"}`),
		// Bad values and session names.
		j("POST", "/v1/sessions", `{"session":"a/b","kind":"sale"}`),
		j("POST", "/v1/sessions", `{"session":"","kind":"sale"}`),
		j("POST", "/v1/sessions", `{"session":"`+long+`","kind":"sale"}`),
		j("POST", "/v1/sessions", `{"session":"s\u0007","kind":"sale"}`),
		j("POST", "/v1/sessions", `{"session":"s2","kind":"party"}`),
		j("POST", "/v1/sessions", `{"session":"s2","kind":"receive","partner":"not-an-ent"}`),
		j("POST", "/v1/scans", `{"session":"..\\x","code":"81012350000099990007"}`),
		j("POST", "/v1/scans", `{"session":"s","code":""}`),
		j("POST", "/v1/scans", `{"session":"s","code":"81012350000099990008","source":"a\nb"}`),
		j("POST", "/v1/bills", `{"kind":"receive","partner":"`+msfxsb.DefaultSupplierEntID+`","lines":[{"code":"81012350000099990009"},{"code":"6901234567892"}]}`),
		j("POST", "/v1/bills", `{"kind":"sale","lines":[]}`),
		j("POST", "/v1/sessions/%2e%2e/finish", ``),
		j("POST", "/v1/sessions/a%5Cb/cancel", ``),
		j("POST", "/v1/sessions/"+strings.Repeat("x", 100)+"/attrs", `{"attrs":{"a.b":"1"}}`),
		j("POST", "/v1/sessions/s/attrs", `{"attrs":{"Bad Key":"1"}}`),
		j("POST", "/v1/sessions/nobody/finish", ``),
		j("GET", "/v1/bills?limit=-1", ``),
		j("GET", "/v1/bills?state=lost", ``),
		j("DELETE", "/v1/scans", ``),
		// Huge bodies, with and without a length.
		{method: "POST", path: "/v1/bills", body: huge},
		{method: "POST", path: "/v1/bills", body: huge, chunked: true},
		{method: "POST", path: "/v1/scans", body: bytes.Repeat([]byte(" "), 5<<20)},
		// Not JSON at all.
		{method: "POST", path: "/v1/sessions", body: []byte("session=s2&kind=sale"), ctype: "application/x-www-form-urlencoded"},
	}
}

// badAPIInput sends malformed requests to a running agent's API: each must
// be a 4xx with a machine-readable error and message, and the queue file
// must be byte for byte what it was before them.
func badAPIInput(t *testing.T) faultRow {
	dir := t.TempDir()
	apiPort, tcpPort := freePort(t), freePort(t)
	config := writeFile(t, dir, "config.yaml", fmt.Sprintf(inputConfig, dir, apiPort, tcpPort))
	var stderr lockedBuffer
	// Some state to damage: an open sale with a code, a finished receiving.
	p := startAgent(t, config, &stderr)
	c := waitAPI(t, dir, apiPort, &stderr)
	c.ok("POST", "/v1/sessions", map[string]any{"session": "s", "kind": "sale"}, nil)
	c.scan("s", "81012350000000157474", "accepted")
	c.ok("POST", "/v1/bills", map[string]any{"kind": "receive", "partner": msfxsb.DefaultSupplierEntID,
		"lines": []map[string]string{{"code": "81012350000000168888"}}}, nil)
	stopAgent(t, p, &stderr)
	before := queueDigest(t, dir)

	p = startAgent(t, config, &stderr)
	c = waitAPI(t, dir, apiPort, &stderr)
	var tl tally
	cases := badAPICases()
	for _, bc := range cases {
		tl.records++
		tl.rejections++
		var rd io.Reader = bytes.NewReader(bc.body)
		if bc.chunked {
			rd = io.MultiReader(rd) // no length: sent chunked
		}
		req, err := http.NewRequest(bc.method, c.base+bc.path, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		if bc.ctype != "" {
			req.Header.Set("Content-Type", bc.ctype)
		} else if len(bc.body) > 0 {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("%s %s: %v", bc.method, bc.path, err)
			continue
		}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		var eb struct{ Error, Message string }
		what := fmt.Sprintf("%s %s %s", bc.method, clipQ(bc.path), clipQ(string(bc.body)))
		switch {
		case resp.StatusCode < 400 || resp.StatusCode >= 500:
			t.Errorf("%s: %d %s, want a 4xx", what, resp.StatusCode, data)
		case !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || json.Unmarshal(data, &eb) != nil:
			t.Errorf("%s: %d answer is not a JSON error: %q", what, resp.StatusCode, data)
		case eb.Error == "" || eb.Message == "":
			t.Errorf("%s: %d error without a reason: %s", what, resp.StatusCode, data)
		default:
			tl.explained++
		}
	}
	if st := agentStatus(c); st.Health == "" {
		t.Error("status unreadable after the bad requests")
	}
	stopAgent(t, p, &stderr)
	after := queueDigest(t, dir)
	changed := 0
	for k, v := range after {
		if before[k] != v {
			changed++
			if changed <= 5 {
				t.Errorf("refused requests changed the queue: %q", k)
			}
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			changed++
			t.Errorf("refused requests removed %q from the queue", k)
		}
	}
	tl.records += len(before)
	tl.lost += changed
	t.Logf("%d bad requests, each a 4xx with a reason; the queue (%d records) unchanged", len(cases), len(before))
	return faultRow{cycles: 2, faults: len(cases), tally: tl}
}

// badConfigs feeds broken config files and environment overrides to
// `validate` and `run`: both must exit 78 naming the key (or the YAML
// line), run with the same words as validate, and run must touch nothing.
func badConfigs(t *testing.T) faultRow {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	base := "device: {id: CF1}\ndata_dir: " + data + "\n"
	cases := []struct {
		name, yaml string
		env        []string
		want       string
	}{
		{"unclosed flow", "device: {id: CF1\ndata_dir: " + data + "\n", nil, "line"},
		{"tab indent", base + "queue:\n\tmax_size: 1GiB\n", nil, "line"},
		{"not a mapping", "- just\n- a list\n", nil, "config"},
		{"duplicate key", base + "log: {level: info}\nlog: {level: warn}\n", nil, "line"},
		{"binary", "\x00\x01\x02\xff\xfe", nil, "config"},
		{"unknown top key", base + "quue: {max_size: 1GiB}\n", nil, "quue"},
		{"unknown nested key", base + "queue: {max_sise: 1GiB}\n", nil, "queue.max_sise"},
		{"unknown scanner key", base + "scanners:\n  - {name: g, type: stdin, ech: true}\n", nil, "ech"},
		{"bad size", base + "queue: {max_size: huge}\n", nil, "queue.max_size"},
		{"wrong type", base + "queue: {max_batch: many}\n", nil, "queue.max_batch"},
		{"list for a number", base + "sessions: {default_type: [1]}\n", nil, "sessions.default_type"},
		{"negative duration", base + "upload: {lease: -5s}\n", nil, "upload.lease"},
		{"bad level", base + "log: {level: chatty}\n", nil, "log.level"},
		{"bad device id", "device: {id: \"no spaces\"}\ndata_dir: " + data + "\n", nil, "device.id"},
		{"bad sign method", base + msfxYAML("http://127.0.0.1:1/router/rest") + "  sign_method: sha1\n", nil, "msfx.sign_method"},
		{"bad nhsa env", base + "nhsa: {enabled: true, env: staging}\n", nil, "nhsa.env"},
		{"bad api listen", base + "api: {listen: nonsense}\n", nil, "api.listen"},
		{"remote tcp scanner", base + "scanners:\n  - {name: p, type: tcp, tcp: {listen: \"0.0.0.0:9100\"}}\n", nil, "allow_remote"},
		{"bad regex", base + "codes:\n  other_rules: [{name: x, pattern: \"([\", min_length: 1, max_length: 9}]\n", nil, "codes.other_rules"},
		{"bad default partner", base + "sessions: {default_type: 102, default_partner: ACME-Pharma}\n", nil, "sessions.default_partner"},
		{"bad env size", base, []string{"PDA_QUEUE_HEADROOM=lots"}, "queue.headroom"},
		{"bad env number", base, []string{"PDA_SESSIONS_DEFAULT_TYPE=sale"}, "sessions.default_type"},
		{"unknown env key", base, []string{"PDA_QUEUE_TYPO=1"}, "PDA_QUEUE_TYPO"},
	}
	var tl tally
	for i, tc := range cases {
		path := writeFile(t, dir, fmt.Sprintf("bad%02d.yaml", i), tc.yaml)
		_, vErr, vCode := runBinary(t, tc.env, "", "validate", "--config", path)
		_, rErr, rCode := runBinary(t, tc.env, "", "run", "--config", path)
		tl.records += 2
		tl.rejections += 2
		switch {
		case vCode != 78 || rCode != 78:
			t.Errorf("%s: validate exit %d, run exit %d, want 78\n%s%s", tc.name, vCode, rCode, vErr, rErr)
		case !strings.Contains(vErr, tc.want):
			t.Errorf("%s: validate does not name %q:\n%s", tc.name, tc.want, vErr)
		case rErr != vErr:
			t.Errorf("%s: run says\n%s\nvalidate says\n%s", tc.name, rErr, vErr)
		default:
			tl.explained += 2
		}
	}
	if entries, err := os.ReadDir(data); err == nil && len(entries) > 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		t.Errorf("a refused run wrote %v", names)
	}
	t.Logf("%d bad configs: validate and run both exit 78 naming the key", len(cases))
	return faultRow{faults: len(cases), tally: tl}
}
