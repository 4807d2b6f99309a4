package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// Online checks (验码, checks.online): every accepted pack of a bill kind
// with checks on is asked about at 码上放心 (lsyd.query.codedetail) after
// the scan has been recorded and answered, so the scan never waits for the
// platform. Codes scanned within checks.window go in one query (up to
// wire.MaxCodesPerCodeDetail).
//
// Budget: checks spend at most checks.rate calls per second of their own
// (default 1), and every call also passes the msfx client's limiter per
// AppKey that uploads use. Uploads thus keep the rest of the AppKey's ~3/s
// whatever the counter scans; a fixed small budget is simpler to reason
// about than borrowing spare tokens from the shared limiter, which the
// client does not expose.
//
// Offline or refused for rate (any failure of the query), the packs stay
// queued and are asked again with a backoff; a bad verdict that arrives
// after its bill was finished raises an alarm naming the bill (status
// alarms and problems, the alarm count in metrics, an "alarm" event).
// Pending checks are kept in the queue file too (queue.PendingCheck) until
// answered: after a restart those of finished bills are asked again
// (resumeChecks), and the packs of open bills are all checked again, their
// verdicts living in memory (recheckOpenBills). A pack taken off its bill
// (RemoveItem) takes its check with it (dropCheck).

// Check states and problems.
const (
	CheckPending = "pending"
	CheckOK      = "ok"
	CheckBad     = "bad"

	ProblemSold         = "sold"          // code_status O, 已核销
	ProblemCancelled    = "cancelled"     // code_status C, 已注销
	ProblemNotFound     = "not_found"     // code_status E, or not in the answer
	ProblemExpired      = "expired"       // produce_info_list expire_date before today
	ProblemOtherProduct = "other_product" // not the product the sale's line expects
)

// CheckVerdict is what 码上放心 says about one scanned pack.
type CheckVerdict struct {
	Code    string `json:"code"`
	Session string `json:"session,omitempty"`
	Bill    string `json:"bill,omitempty"`
	// Mode is the bill kind's checks.online mode: warn or refuse.
	Mode  string `json:"mode"`
	State string `json:"state"` // pending, ok, bad
	// Problems are what is wrong (sold, cancelled, not_found, expired,
	// other_product); empty unless bad.
	Problems []string `json:"problems,omitempty"`
	// CodeStatus is the platform's code_status (A, I, O, C, E).
	CodeStatus string `json:"code_status,omitempty"`
	// Drug and Expiry are the platform's physic_name and expire_date;
	// ApprovalNo its approval_licence_no (批准文号).
	Drug       string `json:"drug,omitempty"`
	Expiry     string `json:"expiry,omitempty"`
	ApprovalNo string `json:"approval_no,omitempty"`
	// Product is whether the pack is its sale line's product (same,
	// other, unknown; absent for a pack on no line or not answered), and
	// ProductBy the field that decided (approval_no, drug_id, name_spec,
	// name); see online_product.go.
	Product   string `json:"product,omitempty"`
	ProductBy string `json:"product_by,omitempty"`
	// Message is for the clerk, in Chinese.
	Message   string    `json:"message"`
	CheckedAt time.Time `json:"checked_at,omitzero"`
}

// CheckFailedError refuses to finish a bill (checks.online refuse) while
// it holds packs 码上放心 reports as bad.
type CheckFailedError struct {
	Bill  string
	Packs []CheckVerdict
}

func (e *CheckFailedError) Error() string {
	codes := make([]string, len(e.Packs))
	for i, p := range e.Packs {
		codes[i] = p.Code + " (" + strings.Join(p.Problems, ",") + ")"
	}
	return fmt.Sprintf("bill %s holds packs 码上放心 reports as bad: %s; remove them from the bill or record an exception", e.Bill, strings.Join(codes, ", "))
}

// OnlineHooks let other parts of the agent (sale lines, exceptions) take
// part in the checks without this file depending on them. Nil hooks are
// skipped.
type OnlineHooks struct {
	// OtherProduct tells whether a scanned pack (on bill billID) is the
	// product its sale line expects, given the drug the platform records
	// for its code; asked only when the platform names one. Result other
	// flags the pack (other_product); unknown and "" do not.
	OtherProduct func(billID uint64, item queue.Item, drug wire.DrugBaseInfo) ProductMatch
	// Excused tells whether an exception recorded on the session's bill
	// covers the pack, so a bad verdict no longer blocks the finish.
	Excused func(session string, code string) bool
}

// SetOnlineHooks installs the hooks (call before Run). Without hooks of
// their own the agent's stay: exceptions naming the pack (AddException
// with a code), and the sale line's product through the catalogue
// (productMatch).
func (a *Agent) SetOnlineHooks(h OnlineHooks) {
	if h.Excused == nil {
		h.Excused = a.excusedByException
	}
	if h.OtherProduct == nil {
		h.OtherProduct = a.productMatch
	}
	a.online.mu.Lock()
	a.online.hooks = h
	a.online.mu.Unlock()
}

// checkJob is one pack waiting for its verdict.
type checkJob struct {
	id      uint64 // unique in this run: the answered jobs leave by id
	code    string
	item    queue.Item
	session string
	billID  uint64
	bill    string
	mode    string
}

// cachedAnswer is the platform's row for a code and when it came.
type cachedAnswer struct {
	info  wire.CodeInfo
	found bool
	at    time.Time
}

// maxCheckAlarms bounds the alarms kept (the newest stay).
const maxCheckAlarms = 100

// onlineChecker holds the pending checks, the verdicts per open bill and
// the per-code answers.
type onlineChecker struct {
	mu       sync.Mutex
	pending  []checkJob
	verdicts map[uint64]map[string]*CheckVerdict // bill id → code → verdict
	cache    map[string]cachedAnswer
	alarms   []queue.Alarm
	hooks    OnlineHooks
	// learned maps a product key to the drug_ent_base_info_id the platform
	// gave a pack of it that matched by 批准文号 or name and strength
	// (productMatch).
	learned map[string]string
	offline bool
	nextID  uint64
	// changed is closed and replaced whenever verdicts change (finish
	// waits on it for the bill's pending checks).
	changed chan struct{}
	wake    chan struct{}
}

func newOnlineChecker() *onlineChecker {
	return &onlineChecker{verdicts: map[uint64]map[string]*CheckVerdict{}, cache: map[string]cachedAnswer{},
		learned: map[string]string{}, changed: make(chan struct{}), wake: make(chan struct{}, 1)}
}

// checkMode is the checks.online mode for a bill type.
func checkMode(c configs.OnlineChecks, t int) string {
	var m string
	switch {
	case t == billtype.CustomerReturn:
		m = c.Return
	case t >= 300:
		m = c.Sale
	case t >= 200:
		m = c.Ship
	default:
		m = c.Receive
	}
	if m == configs.CheckWarn || m == configs.CheckRefuse {
		return m
	}
	return ""
}

// checkOnline queues an accepted pack for its check; it never waits for
// the platform. A fresh cached answer gives the verdict at once.
func (a *Agent) checkOnline(session string, b queue.Bill, it queue.Item) {
	cfg := a.config()
	mode := checkMode(cfg.Checks.Online, b.Type)
	if mode == "" || a.msfxClient() == nil || it.Code == "" {
		return
	}
	j := checkJob{code: it.Code, item: it, session: session, billID: b.ID, bill: b.Code, mode: mode}
	c := a.online
	c.mu.Lock()
	ans, ok := c.cache[it.Code]
	c.mu.Unlock()
	if ok && a.now().Sub(ans.at) < cfg.Checks.CacheTTL {
		a.applyVerdict(a.queueCheck(j, false), ans)
		return
	}
	// Kept in the file first: a check lost to a restart would let a bad
	// pack of a finished bill pass without its alarm.
	if err := a.store.AddPendingChecks(context.Background(), queue.PendingCheck{BillID: b.ID, BillCode: b.Code, Session: session,
		Code: it.Code, Mode: mode, Item: it}); err != nil {
		a.log.Error("online check: recording the pending check; it is checked in this run only", "bill", b.Code, "err", err)
	}
	a.queueCheck(j, true)
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// queueCheck gives j its id and a pending verdict, and puts it on the
// pending list (pend) to be asked.
func (a *Agent) queueCheck(j checkJob, pend bool) checkJob {
	c := a.online
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	j.id = c.nextID
	if c.verdicts[j.billID] == nil {
		c.verdicts[j.billID] = map[string]*CheckVerdict{}
	}
	c.verdicts[j.billID][j.code] = &CheckVerdict{Code: j.code, Session: j.session, Bill: j.bill, Mode: j.mode, State: CheckPending, Message: "验码中"}
	if pend {
		c.pending = append(c.pending, j)
	}
	return j
}

// dropCheck forgets the check of a pack taken off its bill: its verdict,
// its pending job, its record in the file. An answer already on its way
// finds no verdict to fill and is ignored (applyVerdict).
func (a *Agent) dropCheck(billID uint64, code string) {
	c := a.online
	c.mu.Lock()
	delete(c.verdicts[billID], code)
	c.pending = slices.DeleteFunc(c.pending, func(j checkJob) bool { return j.billID == billID && j.code == code })
	c.mu.Unlock()
	if err := a.store.DonePendingChecks(context.Background(), queue.CheckRef{BillID: billID, Code: code}); err != nil {
		a.log.Error("online check: forgetting the check of a removed pack", "code", code, "err", err)
	}
}

// resumeChecks queues the checks the file kept from an earlier run for
// bills no longer open (the packs of open bills are checked again by
// recheckOpenBills): a bad verdict on a finished bill still alarms. Those
// of cancelled or pruned bills are dropped: nothing was sold.
func (a *Agent) resumeChecks() {
	pend, err := a.store.PendingChecks()
	if err != nil {
		a.log.Error("online checks: reading the pending checks", "err", err)
		return
	}
	if len(pend) == 0 {
		return
	}
	if a.msfxClient() == nil {
		a.log.Warn("online checks wait in the queue file, and 码上放心 is not enabled: they are made once it is", "pending", len(pend))
		return
	}
	var drop []queue.CheckRef
	bills := map[string]int{}
	for _, p := range pend {
		b, err := a.store.Bill(p.BillID)
		switch {
		case errors.Is(err, queue.ErrNotFound), err == nil && b.State == queue.BillCancelled:
			drop = append(drop, queue.CheckRef{BillID: p.BillID, Code: p.Code})
			continue
		case err != nil:
			a.log.Error("online checks: reading the bill of a pending check", "bill", p.BillCode, "err", err)
			continue
		case b.State == queue.BillOpen:
			continue // recheckOpenBills
		}
		a.queueCheck(checkJob{code: p.Code, item: p.Item, session: p.Session, billID: p.BillID, bill: p.BillCode, mode: p.Mode}, true)
		bills[p.BillCode]++
	}
	for b, n := range bills {
		a.log.Info("online checks resumed from before the restart", "bill", b, "packs", n)
	}
	if err := a.store.DonePendingChecks(context.Background(), drop...); err != nil {
		a.log.Error("online checks: dropping the checks of cancelled bills", "err", err)
	}
	select {
	case a.online.wake <- struct{}{}:
	default:
	}
}

// runOnline asks the platform about pending packs until ctx ends.
func (a *Agent) runOnline(ctx context.Context) {
	c := a.online
	backoff := time.Duration(0)
	var last time.Time
	defer a.logUnchecked()
	if a.config().Checks.Online.Any() && a.msfxClient() == nil {
		a.log.Warn("checks.online is set but 码上放心 is not enabled: no pack is checked")
	}
	for {
		var retry <-chan time.Time
		if backoff > 0 {
			retry = time.After(backoff)
		}
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-retry:
		}
		a.forgetChecks()
		cfg := a.config().Checks
		if backoff == 0 && !sleepCtx(ctx, cfg.Window) {
			return
		}
		for {
			c.mu.Lock()
			n := min(len(c.pending), wire.MaxCodesPerCodeDetail)
			batch := append([]checkJob(nil), c.pending[:n]...)
			c.mu.Unlock()
			if n == 0 {
				backoff = 0
				break
			}
			// The checks' own budget: checks.rate calls per second.
			// Wall time, whatever clock the agent was given.
			if wait := time.Duration(float64(time.Second)/cfg.Rate) - time.Since(last); wait > 0 && !sleepCtx(ctx, wait) {
				return
			}
			last = time.Now()
			if err := a.askBatch(ctx, batch); err != nil {
				if ctx.Err() != nil {
					return
				}
				backoff = min(max(2*backoff, time.Second), 30*time.Second)
				a.setOffline(true, err)
				break
			}
			a.setOffline(false, nil)
			backoff = 0
		}
	}
}

// maxRecheckBills bounds the open bills looked at on start.
const maxRecheckBills = 1000

// recheckOpenBills queues the packs of the open bills of checked kinds:
// verdicts live in memory, so after a restart an open bill is checked
// again before it can be finished (a finished bill's pending checks are
// resumed from the file: resumeChecks).
func (a *Agent) recheckOpenBills() {
	cfg := a.config()
	if !cfg.Checks.Online.Any() || a.msfxClient() == nil {
		return
	}
	open, err := a.store.RecentBills(0, maxRecheckBills, func(b queue.Bill) bool {
		return b.State == queue.BillOpen && checkMode(cfg.Checks.Online, b.Type) != ""
	})
	if err != nil {
		a.log.Error("online checks: listing open bills", "err", err)
		return
	}
	for _, b := range open {
		items, err := a.store.Items(b.ID)
		if err != nil {
			a.log.Error("online checks: reading an open bill", "bill", b.Code, "err", err)
			continue
		}
		for _, it := range items {
			a.checkOnline(b.Session, b, it)
		}
	}
}

// askBatch queries the distinct codes of batch and applies the verdicts;
// the jobs leave the pending list only on an answer.
func (a *Agent) askBatch(ctx context.Context, batch []checkJob) error {
	client := a.msfxClient()
	if client == nil {
		return errors.New("码上放心 is not enabled")
	}
	seen := map[string]bool{}
	var codes []string
	for _, j := range batch {
		if !seen[j.code] {
			seen[j.code] = true
			codes = append(codes, j.code)
		}
	}
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	infos, err := client.QueryCodeDetail(qctx, codes)
	if err != nil {
		return fmt.Errorf("online check of %d codes: %w", len(codes), err)
	}
	now := a.now()
	byCode := map[string]cachedAnswer{}
	for _, in := range infos {
		byCode[string(in.Code)] = cachedAnswer{info: in, found: true, at: now}
	}
	c := a.online
	c.mu.Lock()
	for _, code := range codes {
		ans, ok := byCode[code]
		if !ok {
			ans = cachedAnswer{at: now}
		}
		c.cache[code] = ans
		byCode[code] = ans
	}
	a.trimCache()
	asked := map[uint64]bool{}
	refs := make([]queue.CheckRef, 0, len(batch))
	for _, j := range batch {
		asked[j.id] = true
		refs = append(refs, queue.CheckRef{BillID: j.billID, Code: j.code})
	}
	c.pending = slices.DeleteFunc(c.pending, func(j checkJob) bool { return asked[j.id] })
	c.mu.Unlock()
	if err := a.store.DonePendingChecks(ctx, refs...); err != nil {
		// Asked again after a restart: a repeated answer, not a lost one.
		a.log.Error("online checks: forgetting answered checks", "err", err)
	}
	for _, j := range batch {
		a.applyVerdict(j, byCode[j.code])
	}
	return nil
}

// trimCache drops expired answers, then the oldest, beyond
// checks.cache_size. Called with the lock held.
func (a *Agent) trimCache() {
	c, cfg := a.online, a.config().Checks
	if len(c.cache) <= cfg.CacheSize {
		return
	}
	now := a.now()
	type aged struct {
		code string
		at   time.Time
	}
	var all []aged
	for k, v := range c.cache {
		if now.Sub(v.at) >= cfg.CacheTTL {
			delete(c.cache, k)
			continue
		}
		all = append(all, aged{k, v.at})
	}
	if over := len(c.cache) - cfg.CacheSize; over > 0 {
		sort.Slice(all, func(i, j int) bool { return all[i].at.Before(all[j].at) })
		for _, x := range all[:over] {
			delete(c.cache, x.code)
		}
	}
}

// refuseHint ends a bad verdict's message under refuse.
const refuseHint = "。请将此盒移出本单或登记例外后再结算"

// judge turns the platform's answer into a verdict for a job.
func (a *Agent) judge(j checkJob, ans cachedAnswer, hooks OnlineHooks) CheckVerdict {
	v := CheckVerdict{Code: j.code, Session: j.session, Bill: j.bill, Mode: j.mode, State: CheckOK, CheckedAt: ans.at}
	var words []string
	if !ans.found {
		v.Problems, words = append(v.Problems, ProblemNotFound), append(words, "码上放心查无此码")
	} else {
		in := ans.info
		if in.Status != nil {
			v.CodeStatus = strings.TrimSpace(string(in.Status.CodeStatus))
		}
		if in.Drug != nil {
			v.Drug, v.ApprovalNo = string(in.Drug.PhysicName), strings.TrimSpace(string(in.Drug.ApprovalLicenceNo))
		}
		switch v.CodeStatus {
		case wire.CodeSold:
			v.Problems, words = append(v.Problems, ProblemSold), append(words, "已核销（已售出），疑似回流药")
		case wire.CodeCancelled:
			v.Problems, words = append(v.Problems, ProblemCancelled), append(words, "码已注销")
		case wire.CodeNotExist:
			v.Problems, words = append(v.Problems, ProblemNotFound), append(words, "码上放心查无此码")
		}
		if p, ok := in.Lot(); ok {
			v.Expiry = dateOnly(string(p.ExpireDate))
			if today := ans.at.In(chinaTime).Format(time.DateOnly); v.Expiry != "" && v.Expiry < today {
				v.Problems, words = append(v.Problems, ProblemExpired), append(words, "已过有效期（"+v.Expiry+"）")
			}
		}
	}
	// A code the platform does not know names no drug to compare.
	if ans.found && ans.info.Drug != nil && v.CodeStatus != wire.CodeNotExist && hooks.OtherProduct != nil {
		m := hooks.OtherProduct(j.billID, j.item, *ans.info.Drug)
		v.Product, v.ProductBy = m.Result, m.By
		if m.Result == MatchOther {
			v.Problems, words = append(v.Problems, ProblemOtherProduct), append(words, otherProductWords(m, *ans.info.Drug))
		}
	}
	if len(v.Problems) > 0 {
		v.State, v.Message = CheckBad, "验码异常："+strings.Join(words, "；")
		if j.mode == configs.CheckRefuse {
			v.Message += refuseHint
		}
	} else {
		v.Message = "验码通过"
	}
	return v
}

// applyVerdict records a verdict, tells watchers, and raises an alarm if
// the pack is bad and its bill was already finished.
func (a *Agent) applyVerdict(j checkJob, ans cachedAnswer) {
	c := a.online
	c.mu.Lock()
	hooks := c.hooks
	c.mu.Unlock()
	v := a.judge(j, ans, hooks)
	c.mu.Lock()
	old := c.verdicts[j.billID][j.code]
	if old == nil {
		// The pack left its bill (dropCheck) while it was being asked.
		c.mu.Unlock()
		return
	}
	if old.State == CheckPending {
		cp := v
		c.verdicts[j.billID][j.code] = &cp
	}
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	a.publish(Event{Kind: "check", Session: j.session, Bill: j.bill, Code: j.code, Status: v.State,
		Reason: strings.Join(v.Problems, ","), Message: v.Message})
	if v.State != CheckBad {
		return
	}
	// A cancelled bill sold nothing: only a finished one alarms.
	if b, err := a.store.Bill(j.billID); err == nil && b.State == queue.BillFinished {
		msg := fmt.Sprintf("bill %s (%s) was finished with pack %s that 码上放心 reports as %s: %s",
			b.Code, billtype.Name(b.Type), j.code, strings.Join(v.Problems, ","), strings.TrimSuffix(v.Message, refuseHint))
		al := queue.Alarm{At: a.now(), Kind: "check", Message: msg}
		c.mu.Lock()
		c.alarms = append(c.alarms, al)
		if len(c.alarms) > maxCheckAlarms {
			c.alarms = c.alarms[len(c.alarms)-maxCheckAlarms:]
		}
		c.mu.Unlock()
		a.log.Error("ALARM", "kind", "check", "bill", b.Code, "code", j.code, "message", msg)
		a.publish(Event{Kind: "alarm", Status: "check", Bill: b.Code, Code: j.code, Message: msg})
	}
}

// setOffline records whether the platform answers the checks, logging the
// changes.
func (a *Agent) setOffline(off bool, err error) {
	c := a.online
	c.mu.Lock()
	was, n := c.offline, len(c.pending)
	c.offline = off
	c.mu.Unlock()
	switch {
	case off && !was:
		a.log.Warn("online checks wait: 码上放心 does not answer; packs are checked when it does", "pending", n, "err", err)
	case !off && was:
		a.log.Info("online checks resumed")
	}
}

// CheckAlarms are the alarms raised by late bad verdicts.
func (a *Agent) CheckAlarms() []queue.Alarm {
	c := a.online
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]queue.Alarm(nil), c.alarms...)
}

// sessionChecks are the verdicts of a bill's packs still on it, in item
// order.
func (a *Agent) sessionChecks(billID uint64, items []queue.Item) []CheckVerdict {
	c := a.online
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.verdicts[billID]
	if len(m) == 0 {
		return nil
	}
	var out []CheckVerdict
	for _, it := range items {
		if v := m[it.Code]; v != nil {
			out = append(out, *v)
		}
	}
	return out
}

// finishWait bounds how long a refuse-mode finish waits for the bill's
// pending checks while the platform answers.
const finishWait = 3 * time.Second

// FinishBlockers are the packs that keep the session's bill from being
// finished: bad verdicts under checks.online refuse, for packs still on
// the bill and not excused by an exception. While the platform answers,
// it first waits up to finishWait for the bill's pending checks; offline,
// pending packs do not block (they are checked later, and alarm).
func (a *Agent) FinishBlockers(ctx context.Context, session string) ([]CheckVerdict, error) {
	b, ok, err := a.store.OpenBill(session)
	if err != nil || !ok || checkMode(a.config().Checks.Online, b.Type) != configs.CheckRefuse {
		return nil, err
	}
	items, err := a.store.Items(b.ID)
	if err != nil {
		return nil, err
	}
	c := a.online
	deadline := time.NewTimer(finishWait)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		pending, changed, offline := false, c.changed, c.offline
		for _, it := range items {
			if v := c.verdicts[b.ID][it.Code]; v != nil && v.State == CheckPending {
				pending = true
			}
		}
		c.mu.Unlock()
		if !pending || offline {
			break
		}
		select {
		case <-changed:
			continue
		case <-deadline.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		break
	}
	c.mu.Lock()
	excused := c.hooks.Excused
	c.mu.Unlock()
	var out []CheckVerdict
	for _, v := range a.sessionChecks(b.ID, items) {
		if v.State == CheckBad && v.Mode == configs.CheckRefuse && (excused == nil || !excused(session, v.Code)) {
			out = append(out, v)
		}
	}
	return out, nil
}

// checkOnlineFinish refuses to finish the session's bill while
// FinishBlockers names packs (a part of checkFinish, lines.go).
func (a *Agent) checkOnlineFinish(ctx context.Context, session string) error {
	packs, err := a.FinishBlockers(ctx, session)
	if err != nil || len(packs) == 0 {
		return err
	}
	return &CheckFailedError{Bill: packs[0].Bill, Packs: packs}
}

// checkFinishFeedback answers a FINISH command barcode that checkFinish
// refused (codes_missing through commandError, check_failed here).
func checkFinishFeedback(err error) device.Feedback {
	var cf *CheckFailedError
	if errors.As(err, &cf) {
		return device.Feedback{Status: device.StatusRejected, Reason: "check_failed", Message: cf.Error()}
	}
	return commandError(err)
}

// forgetChecks drops the verdicts of bills no longer open whose checks are
// all done (their late alarms are raised from the job, not from here).
func (a *Agent) forgetChecks() {
	c := a.online
	c.mu.Lock()
	ids := make([]uint64, 0, len(c.verdicts))
	for id := range c.verdicts {
		ids = append(ids, id)
	}
	waiting := map[uint64]bool{}
	for _, j := range c.pending {
		waiting[j.billID] = true
	}
	c.mu.Unlock()
	for _, id := range ids {
		if waiting[id] {
			continue
		}
		if b, err := a.store.Bill(id); err == nil && b.State == queue.BillOpen {
			continue
		}
		c.mu.Lock()
		delete(c.verdicts, id)
		c.mu.Unlock()
	}
}

// logUnchecked says, when the agent stops, which bills had packs not yet
// checked (they are asked after the restart).
func (a *Agent) logUnchecked() {
	c := a.online
	c.mu.Lock()
	bills := map[string]int{}
	for _, j := range c.pending {
		bills[j.bill]++
	}
	c.mu.Unlock()
	for b, n := range bills {
		a.log.Warn("online check not done before stopping; it is made after the restart", "bill", b, "packs", n)
	}
}

// sleepCtx sleeps d unless ctx ends first (then false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
