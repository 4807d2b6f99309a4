package api

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/queue"
)

// validName checks a session name or a scan source label (the agent's
// rule: 1-64 characters without / or \ or control characters).
func validName(what, s string) error {
	if s == "" || len(s) > 64 || strings.ContainsAny(s, `/\`) || strings.ContainsFunc(s, unicode.IsControl) {
		return badRequest("%s must be 1-64 characters without /, \\ or control characters; got %q", what, s)
	}
	return nil
}

// pathSession is the {session} of the path, checked.
func pathSession(r *http.Request) (string, error) {
	s := r.PathValue("session")
	return s, validName("session", s)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	st, err := s.agent.Status()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	problems := st.Problems
	if problems == nil {
		problems = []string{}
	}
	// device lets the CLI tell its own agent from another one holding the
	// port (the id is on every bill; it is no secret).
	writeJSON(w, http.StatusOK, map[string]any{"status": st.Health, "problems": problems, "device": st.Device})
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.agent.Status()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if s.lan != nil {
		// The listener this server holds, not the config's wish.
		listen := s.lan.listen
		if a := s.LANAddr(); a != nil {
			listen = a.String()
		}
		st.LAN = &agent.LANStatus{Listen: listen, Fingerprint: s.lan.fingerprint}
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) diagnose(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	code := q.Get("code")
	if strings.TrimSpace(code) == "" {
		s.fail(w, r, badRequest("the code parameter is required: /v1/diagnose?code=<a trace code>[&offline=true]"))
		return
	}
	offline := false
	if v := q.Get("offline"); v != "" {
		var err error
		if offline, err = strconv.ParseBool(v); err != nil {
			s.fail(w, r, badRequest("offline must be true or false; got %q", v))
			return
		}
	}
	d, err := s.agent.Diagnose(r.Context(), code, !offline)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// scanRequest is a scan a POS injects (or the page's scan box sends).
type scanRequest struct {
	Session string `json:"session"`
	Code    string `json:"code"`
	Source  string `json:"source,omitempty"`
}

// scanAnswer is what became of a scan.
type scanAnswer struct {
	Status  device.Status `json:"status"`
	Reason  string        `json:"reason"`
	Message string        `json:"message"`
}

func (s *Server) scan(w http.ResponseWriter, r *http.Request) {
	var req scanRequest
	if err := decode(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := validName("session", req.Session); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Code == "" {
		s.fail(w, r, badRequest("code is empty"))
		return
	}
	if req.Source != "" {
		if err := validName("source", req.Source); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if d, ok := deviceOf(r); ok {
		req.Source = d.Source() // a handheld's scans name it, whatever it sends
	}
	fb := s.agent.Scan(r.Context(), req.Session, req.Code, req.Source)
	ans := scanAnswer{Status: fb.Status, Reason: fb.Reason, Message: fb.Message}
	// A scan the queue had no room for is the table's 507; the body still
	// reads as a scan answer (status "error") for clients that look there.
	if fb.Status == device.StatusError && fb.Reason == "queue_full" {
		writeJSON(w, http.StatusInsufficientStorage, errorBody{Error: "queue_full", Message: fb.Message,
			Status: string(fb.Status), Reason: fb.Reason})
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

func (s *Server) openSession(w http.ResponseWriter, r *http.Request) {
	var req agent.OpenRequest
	if err := decode(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	b, created, err := s.agent.Open(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Bill    queue.Bill `json:"bill"`
		Created bool       `json:"created"`
	}{queue.MaskPersonal(b), created})
}

// view answers a session view with its lists as [] rather than null and
// the bill's personal data masked (queue.MaskPersonal).
func view(v agent.SessionView) agent.SessionView {
	if v.Items == nil {
		v.Items = []queue.Item{}
	}
	if v.Bill != nil {
		b := queue.MaskPersonal(*v.Bill)
		v.Bill = &b
	}
	return v
}

func (s *Server) session(w http.ResponseWriter, r *http.Request) {
	name, err := pathSession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := s.agent.Session(name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if v.Bill == nil {
		// An idle session is answered empty; a name nothing ever used
		// (a typo in a POS config) is not a session at all.
		known, err := s.agent.SessionKnown(name)
		if err == nil && !known {
			err = notFound("no session %q: no bill is open in it, no scanner feeds it and no bill on file was made in it", name)
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, view(v))
}

// openBill is the session's open bill, or a 404.
func (s *Server) openBill(name string) (*queue.Bill, error) {
	v, err := s.agent.Session(name)
	if err != nil {
		return nil, err
	}
	if v.Bill == nil {
		return nil, notFound("no bill is open in session %q", name)
	}
	return v.Bill, nil
}

func (s *Server) setAttrs(w http.ResponseWriter, r *http.Request) {
	name, err := pathSession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req struct {
		Attrs map[string]string `json:"attrs"`
	}
	if err := decode(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	if len(req.Attrs) == 0 {
		s.fail(w, r, badRequest("attrs is empty"))
		return
	}
	b, err := s.agent.SetAttrs(r.Context(), name, req.Attrs)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, queue.MaskPersonal(b))
}

func (s *Server) finish(w http.ResponseWriter, r *http.Request) {
	name, err := pathSession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req struct {
		Attrs map[string]string `json:"attrs"`
	}
	if err := decode(w, r, &req, true); err != nil {
		s.fail(w, r, err)
		return
	}
	// The agent sets the attributes, then finishes: two writes. Refusing
	// the finishes that would fail (no bill, no codes) before the first
	// keeps a failed request from leaving attributes behind; a race with a
	// scanner can still do so, harmlessly, on a bill that stays open.
	b, err := s.openBill(name)
	if err == nil {
		// A sale with lines missing packs: codes_missing before anything else.
		err = queue.CheckComplete(*b)
	}
	if err == nil && b.Items == 0 {
		err = &apiError{http.StatusConflict, "empty_bill", "bill " + b.Code + " has no codes; cancel it instead"}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	done, err := s.agent.Finish(r.Context(), name, req.Attrs)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.finished(r, done))
}

// finishedBill is the answer to a finish: the bill, and per destination
// whether it will be sent or held and what it lacks.
type finishedBill struct {
	queue.Bill
	Outlook []agent.DestOutlook `json:"outlook"`
	// A stock-take's 盘盈 packs and 盘亏 list (stocktake.go).
	StockGains []queue.Item     `json:"stock_gains,omitempty"`
	Shortfall  *agent.Shortfall `json:"shortfall,omitempty"`
}

// finished adds the outlook to a finished bill. The bill is finished
// whatever the check says: a failed check is logged, and the answer has no
// outlook rather than a failure.
func (s *Server) finished(r *http.Request, b queue.Bill) finishedBill {
	out, err := s.agent.Outlook(r.Context(), b)
	if err != nil {
		s.log.Error("checking a finished bill", "bill", b.Code, "err", err)
		out = []agent.DestOutlook{}
	}
	gains, sf := s.stockTakeResult(b)
	return finishedBill{Bill: queue.MaskPersonal(b), Outlook: out, StockGains: gains, Shortfall: sf}
}

// patchAttrs changes a bill's attrs by its code, also after it was
// finished (PATCH /v1/bills/{bill_code}/attrs: a JSON object, null deletes).
func (s *Server) patchAttrs(w http.ResponseWriter, r *http.Request) {
	var req map[string]*string
	if err := decode(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	if len(req) == 0 {
		s.fail(w, r, badRequest("the body must be a JSON object of attrs, e.g. {\"nhsa.prsc_dr_name\": \"王医生\"} (null deletes one)"))
		return
	}
	v, err := s.agent.ChangeAttrs(r.Context(), r.PathValue("bill_code"), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// retryDelivery has a dead letter or a held delivery tried again now.
func (s *Server) retryDelivery(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	if err := decode(w, r, &req, true); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.agent.RetryDelivery(r.Context(), r.PathValue("bill_code"), r.PathValue("dest")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// dropDelivery records that a dead letter or a held delivery will not be
// delivered.
func (s *Server) dropDelivery(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Reason  string `json:"reason"`
		Confirm bool   `json:"confirm"`
	}
	if err := decode(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	if !req.Confirm || strings.TrimSpace(req.Reason) == "" {
		s.fail(w, r, badRequest(`dropping a delivery needs a reason and "confirm": true: the bill will never reach the platform`))
		return
	}
	if err := s.agent.DropDelivery(r.Context(), r.PathValue("bill_code"), r.PathValue("dest"), req.Reason); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	name, err := pathSession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req struct {
		Reason string `json:"reason"`
	}
	if err := decode(w, r, &req, true); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Reason == "" {
		req.Reason = "cancelled through the local API"
	}
	b, err := s.agent.Cancel(r.Context(), name, req.Reason)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func (s *Server) confirmAll(w http.ResponseWriter, r *http.Request) {
	name, err := pathSession(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req struct{}
	if err := decode(w, r, &req, true); err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.openBill(name); err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.agent.ConfirmAll(r.Context(), name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res.SessionView = view(res.SessionView)
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) upstream(w http.ResponseWriter, r *http.Request) {
	code := strings.TrimSpace(r.URL.Query().Get("code"))
	if code == "" {
		s.fail(w, r, badRequest("the code parameter is required: /v1/upstream?code=<a scanned box or case>"))
		return
	}
	refs, err := s.agent.Upstream(r.Context(), code)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, refs)
}

func (s *Server) startReceiving(w http.ResponseWriter, r *http.Request) {
	var req agent.ReceiveRequest
	if err := decode(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := s.agent.StartReceiving(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, view(v))
}

func (s *Server) reject(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Reason string `json:"reason"`
	}
	if err := decode(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	st, err := s.agent.RejectUpstream(r.Context(), r.PathValue("bill_code"), req.Reason, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) unreject(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Reason string `json:"reason"`
	}
	if err := decode(w, r, &req, true); err != nil {
		s.fail(w, r, err)
		return
	}
	st, err := s.agent.RejectUpstream(r.Context(), r.PathValue("bill_code"), req.Reason, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) submitBill(w http.ResponseWriter, r *http.Request) {
	var req agent.SubmitRequest
	if err := decode(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := s.agent.SubmitBill(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, s.finished(r, b))
}

func (s *Server) bills(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := agent.BillFilter{State: q.Get("state"), Limit: 100}
	states := []string{string(queue.BillOpen), string(queue.BillFinished), string(queue.BillCancelled)}
	if f.State != "" && !slices.Contains(states, f.State) {
		s.fail(w, r, badRequest("state must be one of %s; got %q", strings.Join(states, ", "), f.State))
		return
	}
	if v := q.Get("type"); v != "" {
		t, err := strconv.Atoi(v)
		if err != nil || t <= 0 {
			s.fail(w, r, badRequest("type must be a bill type such as 321; got %q", v))
			return
		}
		f.Type = t
	}
	if v := q.Get("before"); v != "" {
		id, err := strconv.ParseUint(v, 10, 64)
		if err != nil || id == 0 {
			s.fail(w, r, badRequest("before must be a bill id (the last id of the previous page); got %q", v))
			return
		}
		f.Before = id
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			s.fail(w, r, badRequest("limit must be 1 to 1000; got %q", v))
			return
		}
		f.Limit = n
	}
	bills, err := s.agent.Bills(f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if bills == nil {
		bills = []queue.Bill{}
	}
	if !withPersonalData(r) {
		for i := range bills {
			bills[i] = queue.MaskPersonal(bills[i])
		}
	}
	writeJSON(w, http.StatusOK, bills)
}

func (s *Server) bill(w http.ResponseWriter, r *http.Request) {
	v, err := s.agent.Bill(r.PathValue("bill_code"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if v.Items == nil {
		v.Items = []queue.Item{}
	}
	if v.Deliveries == nil {
		v.Deliveries = []queue.Delivery{}
	}
	if !withPersonalData(r) {
		v = v.Masked()
	}
	writeJSON(w, http.StatusOK, v)
}

// withPersonalData: the bill views mask personal data unless the request
// asks for it (?personal_data=1: exports, `queue show --with-personal-data`).
func withPersonalData(r *http.Request) bool { return r.URL.Query().Get("personal_data") == "1" }

func (s *Server) deadLetters(w http.ResponseWriter, r *http.Request) {
	dl, err := s.agent.DeadLetters()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, dl)
}

// deadLetter checks that the path names a dead letter: the queue refuses
// retrying a delivery that is not dead with an error of its own, which is
// this API's 404.
func (s *Server) deadLetter(r *http.Request) (bill, dest string, err error) {
	bill, dest = r.PathValue("bill_code"), r.PathValue("dest")
	dl, err := s.agent.DeadLetters()
	if err != nil {
		return "", "", err
	}
	for _, d := range dl {
		if d.BillCode == bill && d.Dest == dest {
			return bill, dest, nil
		}
	}
	return "", "", notFound("no dead letter of bill %s to %s", bill, dest)
}

func (s *Server) retryDead(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	if err := decode(w, r, &req, true); err != nil {
		s.fail(w, r, err)
		return
	}
	bill, dest, err := s.deadLetter(r)
	if err == nil {
		err = s.agent.RetryDead(r.Context(), bill, dest)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) dropDead(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Reason  string `json:"reason"`
		Confirm bool   `json:"confirm"`
	}
	if err := decode(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	if !req.Confirm || strings.TrimSpace(req.Reason) == "" {
		s.fail(w, r, badRequest(`dropping a dead letter needs a reason and "confirm": true: the bill will never reach the platform`))
		return
	}
	bill, dest, err := s.deadLetter(r)
	if err == nil {
		err = s.agent.DropDead(r.Context(), bill, dest, req.Reason)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// partnerView is a catalogue partner as the API shows it.
type partnerView struct {
	EntID     string `json:"ent_id"`
	Name      string `json:"name"`
	LicenseNo string `json:"license_no,omitempty"`
}

func (s *Server) partners(w http.ResponseWriter, r *http.Request) {
	out := []partnerView{}
	for _, p := range s.agent.Catalogue().PartnerList() {
		out = append(out, partnerView{EntID: p.EntID, Name: p.Name, LicenseNo: p.LicenseNo})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) compliance(w http.ResponseWriter, r *http.Request) {
	c, err := s.agent.Compliance(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}
