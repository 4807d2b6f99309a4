package webhook_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/webhook"
	"github.com/pda-agent/pda-agent/upload/webhook/sandbox"
)

const (
	testKey    = "store-0001"
	testSecret = "hq-webhook-secret-do-not-leak-42"
)

// finished is when test bills were finished: 10:01:02 in Shanghai.
var (
	finished = time.Date(2026, 11, 27, 2, 1, 2, 0, time.UTC)
	clock    = finished.Add(5 * time.Minute)
	now      = func() time.Time { return clock }
)

func startSandbox(t *testing.T) *sandbox.Running {
	t.Helper()
	r, err := sandbox.Start("127.0.0.1:0", sandbox.Options{KeyID: testKey, Secret: testSecret, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	return r
}

func newClient(t *testing.T, url string, change func(*webhook.Options)) *webhook.Client {
	t.Helper()
	o := webhook.Options{Name: "hq", URL: url, KeyID: testKey, Secret: testSecret, Timeout: 5 * time.Second, Now: now}
	if change != nil {
		change(&o)
	}
	c, err := webhook.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func job(code string, typ int, codes ...string) upload.Job {
	j := upload.Job{
		Bill: queue.Bill{
			ID: 7, Code: code, Type: typ, State: queue.BillFinished,
			Session: "sess-1", Partner: "P-100", Operator: "op-7", Device: "pda-01",
			Items: len(codes), CreatedAt: finished.Add(-time.Minute), FinishedAt: finished,
		},
		Attempt: 1,
	}
	for i, c := range codes {
		j.Items = append(j.Items, queue.Item{Seq: i + 1, Code: c, Key: c, Kind: "msfx20", Product: "阿莫西林胶囊"})
	}
	return j
}

// deliver runs one attempt and checks what every outcome must satisfy.
func deliver(t *testing.T, c *webhook.Client, ctx context.Context, j upload.Job) upload.Outcome {
	t.Helper()
	out := c.Deliver(ctx, j)
	if strings.Contains(out.Message, testSecret) {
		t.Fatalf("outcome message leaks the secret: %q", out.Message)
	}
	return out
}

func want(t *testing.T, out upload.Outcome, class upload.Class, fragments ...string) {
	t.Helper()
	if out.Class != class {
		t.Fatalf("class = %v (%q), want %v", out.Class, out.Message, class)
	}
	for _, f := range fragments {
		if !strings.Contains(out.Message, f) {
			t.Errorf("message %q lacks %q", out.Message, f)
		}
	}
}

func TestNewValidates(t *testing.T) {
	ok := webhook.Options{URL: "https://erp.example.com/hook", KeyID: "k", Secret: "s"}
	c, err := webhook.New(ok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name() != webhook.DefaultName {
		t.Errorf("Name() = %q, want %q", c.Name(), webhook.DefaultName)
	}
	for name, change := range map[string]func(*webhook.Options){
		"empty URL":        func(o *webhook.Options) { o.URL = "" },
		"relative URL":     func(o *webhook.Options) { o.URL = "/v1" },
		"ftp URL":          func(o *webhook.Options) { o.URL = "ftp://erp.example.com" },
		"no host":          func(o *webhook.Options) { o.URL = "http:///v1" },
		"port only":        func(o *webhook.Options) { o.URL = "http://:8080" },
		"unparseable URL":  func(o *webhook.Options) { o.URL = "http://erp example.com/%zz" },
		"user info":        func(o *webhook.Options) { o.URL = "https://u:p@erp.example.com" },
		"query":            func(o *webhook.Options) { o.URL = "https://erp.example.com/?a=1" },
		"empty secret":     func(o *webhook.Options) { o.Secret = "" },
		"empty key id":     func(o *webhook.Options) { o.KeyID = "" },
		"negative timeout": func(o *webhook.Options) { o.Timeout = -time.Second },
	} {
		o := ok
		o.Secret = testSecret
		change(&o)
		if _, err := webhook.New(o); err == nil {
			t.Errorf("%s: New accepted %+v", name, o)
		} else if strings.Contains(err.Error(), testSecret) {
			t.Errorf("%s: error leaks the secret: %v", name, err)
		}
	}
}

// TestWireFormat checks the request byte by byte against the protocol.
func TestWireFormat(t *testing.T) {
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		body, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"accepted","ref":"R-1","extra":true}`)
	}))
	defer srv.Close()

	c := newClient(t, srv.URL+"/erp/", nil)
	out := deliver(t, c, context.Background(), job("B-1", 321, "C1", "C2"))
	want(t, out, upload.Done)
	if out.Ref != "R-1" {
		t.Errorf("Ref = %q", out.Ref)
	}
	if got.Method != http.MethodPost || got.URL.Path != "/erp/v1/bills" {
		t.Errorf("request %s %s", got.Method, got.URL.Path)
	}
	ts := got.Header.Get("X-PDA-Timestamp")
	mac := hmac.New(sha256.New, []byte(testSecret))
	mac.Write([]byte(ts + "\n"))
	mac.Write(body)
	for h, v := range map[string]string{
		"Content-Type":    "application/json",
		"X-PDA-Timestamp": strconv.FormatInt(clock.Unix(), 10),
		"X-PDA-Key":       testKey,
		"X-PDA-Signature": hex.EncodeToString(mac.Sum(nil)),
		"Idempotency-Key": "B-1",
	} {
		if g := got.Header.Get(h); g != v {
			t.Errorf("%s = %q, want %q", h, g, v)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	wantBody := map[string]any{
		"bill_code": "B-1", "bill_type": 321.0, "bill_time": "2026-11-27 10:01:02",
		"device": "pda-01", "session": "sess-1", "partner": "P-100", "operator": "op-7",
		"codes": []any{
			map[string]any{"code": "C1", "kind": "msfx20", "product": "阿莫西林胶囊"},
			map[string]any{"code": "C2", "kind": "msfx20", "product": "阿莫西林胶囊"},
		},
	}
	if g, w := fmt.Sprint(m), fmt.Sprint(wantBody); g != w {
		t.Errorf("body\n got %s\nwant %s", g, w)
	}
}

func TestDeliverAgainstSandbox(t *testing.T) {
	sb := startSandbox(t)
	c := newClient(t, sb.URL(), nil)
	ctx := context.Background()

	// Accepted, then the same bill again is a duplicate, still Done.
	out := deliver(t, c, ctx, job("S-1", 321, "A", "B"))
	want(t, out, upload.Done)
	bills := sb.Bills()
	if len(bills) != 1 || out.Ref != bills[0].Ref || out.Ref == "" {
		t.Fatalf("Ref %q, ledger %+v", out.Ref, bills)
	}
	again := deliver(t, c, ctx, job("S-1", 321, "A", "B"))
	want(t, again, upload.Done, "duplicate")
	if again.Ref != out.Ref {
		t.Errorf("duplicate Ref %q, want %q", again.Ref, out.Ref)
	}

	// Same bill_code, other content.
	want(t, deliver(t, c, ctx, job("S-1", 321, "A", "C")), upload.Permanent,
		"webhook: POST "+sb.URL()+"/v1/bills: 409 Conflict: conflict")
	// Business rejection with the codes named.
	want(t, deliver(t, c, ctx, job("S-2", 321, "B", "D")), upload.Permanent,
		"422 Unprocessable Entity", "already_sold", "codes: B")
	// A return, then the resale works.
	want(t, deliver(t, c, ctx, job("R-1", 116, "B")), upload.Done)
	want(t, deliver(t, c, ctx, job("S-2", 321, "B", "D")), upload.Done)
	// Malformed for the platform.
	want(t, deliver(t, c, ctx, job("X-1", 999, "E")), upload.Permanent, "400 Bad Request", "invalid_bill_type")
	want(t, deliver(t, c, ctx, job("X-2", 321)), upload.Permanent, "400 Bad Request", "no_codes")

	bills = sb.Bills()
	if len(bills) != 3 {
		t.Fatalf("ledger has %d bills, want 3", len(bills))
	}
	for _, b := range bills {
		if b.Applied != 1 {
			t.Errorf("%s applied %d times", b.BillCode, b.Applied)
		}
	}
}

func TestDeliverAuthFailures(t *testing.T) {
	sb := startSandbox(t)
	ctx := context.Background()
	for name, tc := range map[string]struct {
		change func(*webhook.Options)
		reason string
	}{
		"wrong secret": {func(o *webhook.Options) { o.Secret = "another-secret" }, "bad_signature"},
		"unknown key":  {func(o *webhook.Options) { o.KeyID = "store-9999" }, "unknown_key"},
		"clock behind": {func(o *webhook.Options) { o.Now = func() time.Time { return clock.Add(-10 * time.Minute) } }, "stale_timestamp"},
	} {
		t.Run(name, func(t *testing.T) {
			c := newClient(t, sb.URL(), tc.change)
			want(t, deliver(t, c, ctx, job("B-1", 321, "C1")), upload.Permanent, "401 Unauthorized", tc.reason)
		})
	}
	if n := len(sb.Bills()); n != 0 {
		t.Errorf("%d bills applied without valid authentication", n)
	}
}

func TestDeliverTransientFailures(t *testing.T) {
	sb := startSandbox(t)
	c := newClient(t, sb.URL(), nil)
	ctx := context.Background()
	j := job("B-1", 321, "C1")

	sb.InjectFaults(sandbox.FaultThrottle)
	out := deliver(t, c, ctx, j)
	want(t, out, upload.Retry, "429 Too Many Requests")
	if out.RetryAfter != time.Second || out.MaybeApplied {
		t.Errorf("RetryAfter = %v, want 1s; MaybeApplied %v, want false", out.RetryAfter, out.MaybeApplied)
	}

	// A 5xx may have been applied behind a proxy: ask first next time.
	sb.InjectFaults(sandbox.FaultHTTP500)
	out = deliver(t, c, ctx, j)
	want(t, out, upload.Retry, "webhook: POST "+sb.URL()+"/v1/bills: 500 Internal Server Error: ")
	if !out.MaybeApplied {
		t.Error("500: MaybeApplied false")
	}

	// Nothing was sent when the connection was refused. (A request written
	// to a kept-alive connection the server then dropped is, rightly,
	// "maybe applied": this client opens a fresh connection each time.)
	if err := sb.SetDown(true); err != nil {
		t.Fatal(err)
	}
	fresh := newClient(t, sb.URL(), func(o *webhook.Options) {
		o.HTTPClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	})
	out = deliver(t, fresh, ctx, j)
	want(t, out, upload.Retry, "connection refused")
	if out.MaybeApplied {
		t.Error("connection refused: MaybeApplied true")
	}
	if err := sb.SetDown(false); err != nil {
		t.Fatal(err)
	}
	want(t, deliver(t, c, ctx, j), upload.Done)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	want(t, deliver(t, c, cancelled, job("B-2", 321, "C2")), upload.Retry, "cancelled")

	if bills := sb.Bills(); len(bills) != 1 || bills[0].Applied != 1 {
		t.Errorf("ledger = %+v", bills)
	}
}

// TestQueryBeforeResend: the answer to a send is lost after the sandbox
// applied the bill; the next attempt, marked Unknown, must find it instead
// of sending again.
func TestQueryBeforeResend(t *testing.T) {
	sb := startSandbox(t)
	c := newClient(t, sb.URL(), func(o *webhook.Options) { o.Timeout = 300 * time.Millisecond })
	ctx := context.Background()
	j := job("B-1", 321, "C1", "C2")

	sb.InjectFaults(sandbox.FaultApplyThenTimeout)
	lost := deliver(t, c, ctx, j)
	want(t, lost, upload.Retry, "timed out after 300ms")
	if !lost.MaybeApplied {
		t.Error("timeout after sending: MaybeApplied false")
	}
	bills := sb.Bills()
	if len(bills) != 1 {
		t.Fatalf("ledger has %d bills, want the lost one", len(bills))
	}

	j.Attempt, j.Unknown = 2, true
	out := deliver(t, c, ctx, j)
	want(t, out, upload.Done, "query before resend")
	if out.Ref != bills[0].Ref {
		t.Errorf("Ref = %q, want %q", out.Ref, bills[0].Ref)
	}
	bills = sb.Bills()
	if len(bills) != 1 || bills[0].Applied != 1 || bills[0].Duplicates != 0 {
		t.Fatalf("ledger = %+v, want one bill applied once and not resent", bills)
	}
	st := sb.Stats()
	if st.Queries != 1 || st.Accepted != 1 || st.Duplicates != 0 {
		t.Errorf("stats = %+v", st)
	}

	// Unknown, but the sandbox never got it: query, then send.
	j2 := job("B-2", 321, "C3")
	j2.Unknown = true
	want(t, deliver(t, c, ctx, j2), upload.Done, "accepted")
	if st := sb.Stats(); st.Queries != 2 || st.Accepted != 2 {
		t.Errorf("stats = %+v", st)
	}

	// The query itself fails: no send.
	j3 := job("B-3", 321, "C4")
	j3.Unknown = true
	sb.InjectFaults(sandbox.FaultHTTP500)
	want(t, deliver(t, c, ctx, j3), upload.Retry, "GET "+sb.URL()+"/v1/bills/B-3 (query before resend): 500")
	sb.InjectFaults(sandbox.FaultThrottle)
	out = deliver(t, c, ctx, j3)
	want(t, out, upload.Retry, "429")
	if out.RetryAfter != time.Second {
		t.Errorf("RetryAfter = %v, want 1s", out.RetryAfter)
	}
	if n := len(sb.Bills()); n != 2 {
		t.Errorf("ledger has %d bills, want 2", n)
	}
}

// TestOddAnswers covers receivers that do not follow the protocol.
func TestOddAnswers(t *testing.T) {
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		class    upload.Class
		fragment []string
		after    time.Duration
	}{
		{
			name: "non-JSON 200",
			handler: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, "OK")
			},
			class: upload.Retry, fragment: []string{"200 OK: non-JSON body", "OK"},
		},
		{
			name: "empty 200",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusOK)
			},
			class: upload.Retry, fragment: []string{"200 OK: empty body"},
		},
		{
			name: "502 HTML",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusBadGateway)
				fmt.Fprint(w, "<html>\n<body>nginx: bad gateway</body>\n</html>")
			},
			class: upload.Retry, fragment: []string{"502 Bad Gateway: non-JSON body", "nginx: bad gateway"},
		},
		{
			name: "200 unknown status",
			handler: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, `{"status":"queued","ref":"R"}`)
			},
			class: upload.Retry, fragment: []string{`unexpected status "queued"`},
		},
		{
			name: "truncated body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				conn, buf, err := http.NewResponseController(w).Hijack()
				if err != nil {
					panic(err)
				}
				defer conn.Close()
				writeRaw(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"status\":\"acc")
			},
			class: upload.Retry, fragment: []string{"reading answer", "unexpected EOF"},
		},
		{
			name: "oversized body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, `{"status":"accepted","ref":"%s"}`, strings.Repeat("x", 1<<20))
			},
			class: upload.Retry, fragment: []string{"larger than 1048576 bytes"},
		},
		{
			name: "403",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusForbidden)
				fmt.Fprint(w, `{"error":"store_disabled","message":"store 0001 is suspended"}`)
			},
			class: upload.Permanent, fragment: []string{"403 Forbidden: store_disabled: store 0001 is suspended"},
		},
		{
			name: "413",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusRequestEntityTooLarge)
			},
			class: upload.Permanent, fragment: []string{"413 Request Entity Too Large"},
		},
		{
			name: "404 on POST",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.NotFound(w, r)
			},
			class: upload.Retry, fragment: []string{"404 Not Found: unexpected answer"},
		},
		{
			name: "redirect not followed",
			handler: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v1/bills" {
					panic("redirect followed to " + r.URL.Path)
				}
				http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
			},
			class: upload.Retry, fragment: []string{"307 Temporary Redirect: unexpected answer"},
		},
		{
			name: "503 with Retry-After",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprint(w, `{"error":"maintenance","message":"back at 11:00"}`)
			},
			class: upload.Retry, fragment: []string{"503 Service Unavailable: maintenance: back at 11:00"}, after: 7 * time.Second,
		},
		{
			name: "429 with an HTTP date",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", clock.Add(90*time.Second).Format(http.TimeFormat))
				w.WriteHeader(http.StatusTooManyRequests)
			},
			class: upload.Retry, fragment: []string{"429 Too Many Requests"}, after: 90 * time.Second,
		},
		{
			name: "429 asking for a week",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "604800")
				w.WriteHeader(http.StatusTooManyRequests)
			},
			class: upload.Retry, after: time.Hour,
		},
		{
			name: "429 with garbage Retry-After",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "soon")
				w.WriteHeader(http.StatusTooManyRequests)
			},
			class: upload.Retry,
		},
		{
			name: "422 with many codes",
			handler: func(w http.ResponseWriter, r *http.Request) {
				codes := make([]string, 25)
				for i := range codes {
					codes[i] = fmt.Sprintf("C%02d", i)
				}
				w.WriteHeader(http.StatusUnprocessableEntity)
				_ = json.NewEncoder(w).Encode(map[string]any{"error": "already_sold", "message": "sold\r\nbefore", "codes": codes})
			},
			class: upload.Permanent, fragment: []string{"already_sold: sold  before [codes: C00, C01", "C09 and 15 more]"},
		},
		{
			name: "receiver echoes the secret",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"error":"bad","message":"expected secret %s"}`, testSecret)
			},
			class: upload.Permanent, fragment: []string{"expected secret [redacted]"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			c := newClient(t, srv.URL, nil)
			out := deliver(t, c, context.Background(), job("B-1", 321, "C1"))
			want(t, out, tc.class, tc.fragment...)
			if out.RetryAfter != tc.after {
				t.Errorf("RetryAfter = %v, want %v", out.RetryAfter, tc.after)
			}
			if len(out.Message) > 2000 {
				t.Errorf("message is %d bytes long", len(out.Message))
			}
		})
	}
}

func writeRaw(w *bufio.ReadWriter, s string) {
	_, _ = w.WriteString(s)
	_ = w.Flush()
}

func TestSlowServerTimesOut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, func(o *webhook.Options) { o.Timeout = 100 * time.Millisecond })
	start := time.Now()
	want(t, deliver(t, c, context.Background(), job("B-1", 321, "C1")), upload.Retry,
		"webhook: POST "+srv.URL+"/v1/bills: timed out after 100ms")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Deliver took %v with a 100ms timeout", d)
	}
}

func TestQueryOddAnswers(t *testing.T) {
	for name, tc := range map[string]struct {
		get   http.HandlerFunc
		class upload.Class
		posts int32
		frag  string
	}{
		"other bill": {func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"bill_code":"B-9","ref":"R-9"}`)
		}, upload.Retry, 0, `answer is for bill_code "B-9"`},
		"non-JSON 200": {func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "found")
		}, upload.Retry, 0, "non-JSON body"},
		"GET not implemented": {func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusMethodNotAllowed)
		}, upload.Retry, 0, "405 Method Not Allowed"},
		"plain 404 sends": {func(w http.ResponseWriter, r *http.Request) {
			http.NotFound(w, r)
		}, upload.Done, 1, "accepted"},
		"found": {func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"bill_code":"B-1","ref":"R-1"}`)
		}, upload.Done, 0, "query before resend"},
	} {
		t.Run(name, func(t *testing.T) {
			var posts atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.Method == http.MethodGet && r.URL.Path == "/v1/bills/B-1":
					if r.Header.Get("X-PDA-Signature") == "" || r.Header.Get("Idempotency-Key") != "" {
						t.Errorf("query headers: %v", r.Header)
					}
					tc.get(w, r)
				case r.Method == http.MethodPost:
					posts.Add(1)
					fmt.Fprint(w, `{"status":"accepted","ref":"R-1"}`)
				default:
					t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
				}
			}))
			defer srv.Close()
			j := job("B-1", 321, "C1")
			j.Unknown = true
			want(t, deliver(t, newClient(t, srv.URL, nil), context.Background(), j), tc.class, tc.frag)
			if n := posts.Load(); n != tc.posts {
				t.Errorf("%d sends, want %d", n, tc.posts)
			}
		})
	}
}

func TestRefusedLocally(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	c := newClient(t, srv.URL, func(o *webhook.Options) { o.BillTypes = []int{321, 116} })
	if !c.Accepts(116) || c.Accepts(103) {
		t.Error("Accepts disagrees with BillTypes")
	}
	ctx := context.Background()
	want(t, deliver(t, c, ctx, job("B-1", 103, "C1")), upload.Permanent, "type 103 is not forwarded", `"hq"`)
	noCode := job("", 321, "C1")
	want(t, deliver(t, c, ctx, noCode), upload.Permanent, "no bill_code")
	unfinished := job("B-2", 321, "C1")
	unfinished.Bill.FinishedAt = time.Time{}
	want(t, deliver(t, c, ctx, unfinished), upload.Permanent, "no finish time")
	if n := hits.Load(); n != 0 {
		t.Errorf("%d requests for bills refused locally", n)
	}
}

// TestDeliverWaitsForEarlierBill: a re-sale that reached the receiver
// before the return that freed its pack would be refused for good
// (already_sold). While the return is undelivered the sale waits, sends
// nothing and says for which bill; once the return is there it goes. A
// bill whose earlier attempt may have been applied is looked up first and
// keeps that doubt while it waits.
func TestDeliverWaitsForEarlierBill(t *testing.T) {
	sb := startSandbox(t)
	waitFor := "R-1"
	c := newClient(t, sb.URL(), func(o *webhook.Options) {
		o.Earlier = func(_ context.Context, b queue.Bill, _ []queue.Item) (upload.Blocker, error) {
			if b.Code == "S-2" {
				return upload.Blocker{Code: waitFor}, nil
			}
			return upload.Blocker{}, nil
		}
	})
	ctx := context.Background()
	want(t, deliver(t, c, ctx, job("S-1", 321, "B")), upload.Done)
	resale := job("S-2", 321, "B")
	resale.Unknown = true
	out := deliver(t, c, ctx, resale)
	want(t, out, upload.Wait, "S-2", "waiting for the earlier bill R-1")
	if !out.Local || !out.MaybeApplied || out.RetryAfter != upload.OrderWait || len(sb.Bills()) != 1 {
		t.Fatalf("waiting: %+v; receiver holds %d bills", out, len(sb.Bills()))
	}
	want(t, deliver(t, c, ctx, job("R-1", 116, "B")), upload.Done)
	waitFor = ""
	want(t, deliver(t, c, ctx, resale), upload.Done)
	if got := len(sb.Bills()); got != 3 {
		t.Fatalf("receiver holds %d bills, want 3", got)
	}
}
