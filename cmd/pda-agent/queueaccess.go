package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/queue"
)

// The queue commands work on the running agent through its local API, or
// on the queue file when the agent is stopped: bbolt locks the file, so
// only one of them can be right at a time.

// billQuery narrows `queue list`.
type billQuery struct {
	State string
	Type  int
	Dest  string // bills delivered (or to be) to this destination
	Dead  bool   // only bills with a dead letter (to Dest, if set)
	Since time.Time
	Limit int
}

// matches applies the filters that need only the bill; dead letters are
// the caller's.
func (q billQuery) matches(b queue.Bill) bool {
	return (q.State == "" || string(b.State) == q.State) && (q.Type == 0 || b.Type == q.Type) &&
		(q.Dest == "" || slices.Contains(b.Destinations, q.Dest)) && (q.Since.IsZero() || !b.CreatedAt.Before(q.Since))
}

// queueAccess is what the queue commands need of the queue.
type queueAccess interface {
	// Via names what was used, for the operator.
	Via() string
	// Bills lists bills, newest first, with their deliveries (no items).
	Bills(ctx context.Context, q billQuery) ([]queue.BillRecord, error)
	Bill(ctx context.Context, code string) (queue.BillRecord, error)
	DeadLetters(ctx context.Context) ([]queue.DeadLetter, error)
	// Retry and Drop act on a dead letter or a held delivery.
	Retry(ctx context.Context, code, dest string) error
	Drop(ctx context.Context, code, dest, reason string) error
	// SetAttrs changes a bill's attrs (nil deletes), also after it was
	// finished while nothing of it was sent where they matter.
	SetAttrs(ctx context.Context, code string, changes map[string]*string) (agent.AttrsView, error)
	// Export calls fn for every bill, oldest first, with items and
	// deliveries; total is the number of bills to expect.
	Export(ctx context.Context, fn func(r queue.BillRecord, total int) error) error
	Close() error
}

// Access modes of --via.
const (
	viaAuto = "auto"
	viaAPI  = "api"
	viaFile = "file"
)

// openAccess picks the running agent's API when it answers, else the
// queue file (auto); or the one the operator named.
func openAccess(ctx context.Context, c *configs.Config, via string) (queueAccess, error) {
	switch via {
	case viaAPI:
		if !c.API.Enabled {
			return nil, &exitError{code: exitConfig, err: errors.New("api.enabled is false: the agent has no local API to work through")}
		}
		return dialAPI(ctx, c)
	case viaFile:
		return openFile(c)
	case viaAuto:
	default:
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("--via must be auto, api or file; got %q", via)}
	}
	if !c.API.Enabled {
		a, err := openFile(c)
		if errors.Is(err, queue.ErrLocked) {
			return nil, fmt.Errorf("%w; api.enabled is false, so the running agent cannot be asked: stop it first", err)
		}
		return a, err
	}
	a, apiErr := dialAPI(ctx, c)
	if apiErr == nil {
		return a, nil
	}
	var down *agentDownError
	if !errors.As(apiErr, &down) {
		return nil, apiErr // it answered, but cannot be used (token, version)
	}
	f, err := openFile(c)
	if errors.Is(err, queue.ErrLocked) {
		return nil, fmt.Errorf("the queue file %s is locked by a running agent, but its local API did not answer: %v", c.QueuePath(), apiErr)
	}
	return f, err
}

// ---- the running agent's local API ----------------------------------------

// apiPageMax is the most bills GET /v1/bills lists at once.
const apiPageMax = 1000

// agentDownError: nothing answers at api.listen, so the agent is not
// running (or its API is not up).
type agentDownError struct {
	addr string
	err  error
}

func (e *agentDownError) Error() string {
	return fmt.Sprintf("no agent API at %s: %v", e.addr, e.err)
}

func (e *agentDownError) Unwrap() error { return e.err }

type apiAccess struct {
	base   string
	token  string
	client *http.Client
	// personal asks the bill views for personal data unmasked
	// (?personal_data=1); the API masks it otherwise.
	personal bool
}

// withPersonal asks acc for personal data unmasked, when it is the API.
func withPersonal(acc queueAccess, on bool) {
	if a, ok := acc.(*apiAccess); ok {
		a.personal = on
	}
}

// apiBase is the URL the local API answers at: an unspecified listen
// address (0.0.0.0) is reached on loopback.
func apiBase(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("api.listen %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// dialAPI checks that the agent answers (GET /healthz needs no token) and
// reads the token. The probe is short: a stopped agent means the file.
func dialAPI(ctx context.Context, c *configs.Config) (*apiAccess, error) {
	base, err := apiBase(c.API.Listen)
	if err != nil {
		return nil, err
	}
	a := &apiAccess{base: base, client: &http.Client{Timeout: 60 * time.Second}}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(pctx, http.MethodGet, base+"/healthz", nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, &agentDownError{addr: base, err: err}
	}
	var health struct {
		Status string `json:"status"`
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&health)
	resp.Body.Close()
	if err != nil || health.Status == "" {
		return nil, &agentDownError{addr: base, err: fmt.Errorf("%s answers, but not as pda-agent (HTTP %d)", base, resp.StatusCode)}
	}
	tok, err := readAPIToken(c.APITokenFile())
	if err != nil {
		return nil, err
	}
	a.token = tok
	return a, nil
}

// readAPIToken reads the bearer token the agent wrote; it never creates
// one (that is the agent's job, with the right owner and mode).
func readAPIToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrPermission) {
		return "", fmt.Errorf("the agent is running, but its API token %s cannot be read: run this as the agent's user (sudo -u pda-agent …) or root", path)
	}
	if err != nil {
		return "", fmt.Errorf("the agent is running, but its API token cannot be read: %w", err)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", fmt.Errorf("the API token file %s is empty", path)
	}
	return tok, nil
}

func (a *apiAccess) Via() string { return "the running agent's local API at " + a.base }

func (a *apiAccess) Close() error { return nil }

// apiError is an error answer of the local API.
type apiError struct {
	Status  int
	Reason  string `json:"error"`
	Message string `json:"message"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("agent API: %s (%s, HTTP %d)", e.Message, e.Reason, e.Status)
}

// call sends one request; a 2xx answer is decoded into out (if not nil).
func (a *apiAccess) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("agent API: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("agent API: %s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(data, e) != nil || e.Message == "" {
			e.Reason, e.Message = "unexpected", strings.TrimSpace(string(data))
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("agent API: %s %s: %w", method, path, err)
	}
	return nil
}

func (a *apiAccess) Bill(ctx context.Context, code string) (queue.BillRecord, error) {
	var r queue.BillRecord
	path := "/v1/bills/" + url.PathEscape(code)
	if a.personal {
		path += "?personal_data=1"
	}
	err := a.call(ctx, http.MethodGet, path, nil, &r)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return r, fmt.Errorf("%w: no bill %s", queue.ErrNotFound, code)
	}
	return r, err
}

// list is GET /v1/bills: bills without deliveries, newest first.
func (a *apiAccess) list(ctx context.Context, state string, typ, limit int, before uint64) ([]queue.Bill, error) {
	v := url.Values{"limit": {strconv.Itoa(limit)}}
	if before > 0 {
		v.Set("before", strconv.FormatUint(before, 10))
	}
	if state != "" {
		v.Set("state", state)
	}
	if typ != 0 {
		v.Set("type", strconv.Itoa(typ))
	}
	if a.personal {
		v.Set("personal_data", "1")
	}
	var bills []queue.Bill
	err := a.call(ctx, http.MethodGet, "/v1/bills?"+v.Encode(), nil, &bills)
	return bills, err
}

func (a *apiAccess) Bills(ctx context.Context, q billQuery) ([]queue.BillRecord, error) {
	if q.Limit > apiPageMax {
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("the agent's API lists at most %d bills: use --limit %d or less, or stop the agent to read the queue file", apiPageMax, apiPageMax)}
	}
	var codes []string
	if q.Dead {
		dl, err := a.DeadLetters(ctx)
		if err != nil {
			return nil, err
		}
		codes = deadBillCodes(dl, q.Dest)
	} else {
		// The API filters state and type; the rest is filtered here, from
		// as many bills as it lists.
		limit := q.Limit
		if q.Dest != "" || !q.Since.IsZero() {
			limit = apiPageMax
		}
		bills, err := a.list(ctx, q.State, q.Type, limit, 0)
		if err != nil {
			return nil, err
		}
		for _, b := range bills {
			if q.matches(b) {
				codes = append(codes, b.Code)
			}
		}
	}
	var out []queue.BillRecord
	for _, code := range codes {
		if len(out) == q.Limit {
			break
		}
		r, err := a.Bill(ctx, code)
		if err != nil {
			return nil, err
		}
		if q.matches(r.Bill) {
			r.Items = nil
			out = append(out, r)
		}
	}
	return out, nil
}

// deadBillCodes lists the bills of the dead letters (to dest, if set),
// newest bill first.
func deadBillCodes(dl []queue.DeadLetter, dest string) []string {
	sort.SliceStable(dl, func(i, j int) bool { return dl[i].BillID > dl[j].BillID })
	var codes []string
	seen := map[string]bool{}
	for _, d := range dl {
		if (dest == "" || d.Dest == dest) && !seen[d.BillCode] {
			seen[d.BillCode] = true
			codes = append(codes, d.BillCode)
		}
	}
	return codes
}

func (a *apiAccess) DeadLetters(ctx context.Context) ([]queue.DeadLetter, error) {
	var dl []queue.DeadLetter
	err := a.call(ctx, http.MethodGet, "/v1/deadletters", nil, &dl)
	return dl, err
}

func (a *apiAccess) Retry(ctx context.Context, code, dest string) error {
	return a.call(ctx, http.MethodPost, "/v1/bills/"+url.PathEscape(code)+"/deliveries/"+url.PathEscape(dest)+"/retry", struct{}{}, nil)
}

func (a *apiAccess) Drop(ctx context.Context, code, dest, reason string) error {
	body := map[string]any{"reason": reason, "confirm": true}
	return a.call(ctx, http.MethodPost, "/v1/bills/"+url.PathEscape(code)+"/deliveries/"+url.PathEscape(dest)+"/drop", body, nil)
}

func (a *apiAccess) SetAttrs(ctx context.Context, code string, changes map[string]*string) (agent.AttrsView, error) {
	var v agent.AttrsView
	err := a.call(ctx, http.MethodPatch, "/v1/bills/"+url.PathEscape(code)+"/attrs", changes, &v)
	return v, err
}

// Export pages through every bill the agent holds (GET /v1/bills with
// before=), then reads each, oldest first.
func (a *apiAccess) Export(ctx context.Context, fn func(r queue.BillRecord, total int) error) error {
	var bills []queue.Bill
	var before uint64
	for {
		page, err := a.list(ctx, "", 0, apiPageMax, before)
		if err != nil {
			return err
		}
		bills = append(bills, page...)
		if len(page) < apiPageMax {
			break
		}
		before = page[len(page)-1].ID
	}
	slices.Reverse(bills) // oldest first, as from the file
	for _, b := range bills {
		r, err := a.Bill(ctx, b.Code)
		if errors.Is(err, queue.ErrNotFound) {
			continue // pruned since the listing
		}
		if err != nil {
			return err
		}
		if err := fn(r, len(bills)); err != nil {
			return err
		}
	}
	return nil
}

// ---- the queue file (agent stopped) ---------------------------------------

type fileAccess struct {
	s *queue.Store
	// keyFile is the personal-data key's file, for the operator.
	keyFile string
}

// openFile opens the queue file. A file that is not there is an error, not
// a new queue: an operator command must not create the agent's file (with
// the operator's owner) under a wrong config.
func openFile(c *configs.Config) (*fileAccess, error) {
	path := c.QueuePath()
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("queue file: %w (has the agent run with this config?)", err)
	}
	o := queueOptions(c)
	// With the agent's key the file's personal data reads as the agent
	// reads it; without one (never created here) it shows as sealed.
	k, err := agent.PersonalKey(c, false, nil)
	if err != nil {
		return nil, err
	}
	o.PersonalKey, o.PersonalKeyFile, o.UsesAttr = k, c.QueuePersonalKeyFile(), agent.BuiltinUsesAttr
	// Without the key nothing personal is written: it would be in plain text.
	o.RefusePlainPersonal = k == nil
	s, err := queue.Open(path, o)
	if err != nil {
		return nil, err
	}
	return &fileAccess{s: s, keyFile: c.QueuePersonalKeyFile()}, nil
}

// queueOptions are the agent's own options for its file, minus what only
// a running agent does (compaction at start).
func queueOptions(c *configs.Config) queue.Options {
	return queue.Options{MaxSize: int64(c.Queue.MaxSize), Headroom: int64(c.Queue.Headroom), BillPrefix: c.Device.ID,
		LockTimeout: time.Second, Logger: slog.New(slog.DiscardHandler)}
}

func (f *fileAccess) Via() string { return "the queue file " + f.s.Path() + " (agent stopped)" }

func (f *fileAccess) Close() error { return f.s.Close() }

func (f *fileAccess) Bill(_ context.Context, code string) (queue.BillRecord, error) {
	b, err := f.s.BillByCode(code)
	if err != nil {
		return queue.BillRecord{}, err
	}
	r := queue.BillRecord{Bill: b}
	if r.Items, err = f.s.Items(b.ID); err != nil {
		return r, err
	}
	r.Deliveries, err = f.s.Deliveries(b.ID)
	return r, err
}

func (f *fileAccess) Bills(_ context.Context, q billQuery) ([]queue.BillRecord, error) {
	var dead map[uint64]bool
	if q.Dead {
		dl, err := f.s.DeadLetters()
		if err != nil {
			return nil, err
		}
		dead = map[uint64]bool{}
		for _, d := range dl {
			if q.Dest == "" || d.Dest == q.Dest {
				dead[d.BillID] = true
			}
		}
	}
	bills, err := f.s.RecentBills(0, q.Limit, func(b queue.Bill) bool {
		return q.matches(b) && (dead == nil || dead[b.ID])
	})
	if err != nil {
		return nil, err
	}
	out := make([]queue.BillRecord, 0, len(bills))
	for _, b := range bills {
		ds, err := f.s.Deliveries(b.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, queue.BillRecord{Bill: b, Deliveries: ds})
	}
	return out, nil
}

func (f *fileAccess) DeadLetters(context.Context) ([]queue.DeadLetter, error) {
	return f.s.DeadLetters()
}

func (f *fileAccess) Retry(ctx context.Context, code, dest string) error {
	b, err := f.s.BillByCode(code)
	if err != nil {
		return err
	}
	return f.s.Retry(ctx, b.ID, dest)
}

func (f *fileAccess) Drop(ctx context.Context, code, dest, reason string) error {
	b, err := f.s.BillByCode(code)
	if err != nil {
		return err
	}
	return f.s.Drop(ctx, b.ID, dest, reason)
}

// SetAttrs changes the attrs in the file; with no agent running, the
// destinations are judged by name (agent.BuiltinUsesAttr), and what they
// will do is checked when the agent starts (no outlook).
func (f *fileAccess) SetAttrs(ctx context.Context, code string, changes map[string]*string) (agent.AttrsView, error) {
	b, requeued, err := f.s.ChangeAttrs(ctx, code, changes, agent.BuiltinUsesAttr)
	if errors.Is(err, queue.ErrPersonalKeyNeeded) {
		return agent.AttrsView{}, &exitError{code: exitConfig, err: fmt.Errorf("refused: personal data is only written encrypted, and the personal-data key %s is not readable here; "+
			"start the agent and run this again (it then goes through the agent), or run it as the agent's user: %w", f.keyFile, err)}
	}
	return agent.AttrsView{Bill: b, Requeued: requeued}, err
}

func (f *fileAccess) Export(_ context.Context, fn func(r queue.BillRecord, total int) error) error {
	return f.s.WalkBillRecords(fn)
}
