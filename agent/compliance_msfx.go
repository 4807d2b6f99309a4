package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/msfx"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// The 码上放心 compliance self-check: the 验证率 a store is judged by, the
// official key-variety list, the service end date and the upstream bills
// changed after receipt (issue 16). The platform is asked on the schedule
// of msfx.compliance.refresh (RefreshMsfxCompliance); the last refresh is
// kept in the queue file (queue.ComplianceRecord), loaded at start, so
// Compliance, Status and diagnose — a stopped agent's too — show it and
// receiving keeps the official key varieties until the next refresh.
//
// 验证率: the 码上放心 retail-store guide defines it as the share of the
// upstream bills the store received and of its own bills it uploaded
// (issue 16; /work/shared/reference/field-2026.md §7, "Seed 000": inbound
// / outbound scanned, on the key varieties, read under 追溯合规中心 →
// 重点品种数据概况). The exact formula is not public: here it counts
// bills, pooled or averaged (msfx.compliance.rate_formula), over all
// bills, not only key varieties — unconfirmed.

// MsfxFigures is the 码上放心 compliance part of the compliance view.
type MsfxFigures struct {
	VerificationRate *VerificationRate `json:"verification_rate,omitempty"`
	Service          *ServicePeriod    `json:"service,omitempty"`
	KeyVarietyList   *KeyVarietyInfo   `json:"key_variety_list,omitempty"`
	ChangedUpstream  []ChangedUpstream `json:"changed_upstream,omitempty"`
	// ComplianceErrors are the platform questions that failed at the last
	// refresh, by method.
	ComplianceErrors map[string]string `json:"compliance_errors,omitempty"`
	RefreshedAt      time.Time         `json:"refreshed_at,omitzero"`
}

// VerificationRate is the 验证率 over a window of days.
type VerificationRate struct {
	Since   string `json:"since"`
	Until   string `json:"until"`
	Formula string `json:"formula"`
	// Rate is 0–1 (1 when there is no bill at all).
	Rate float64 `json:"rate"`
	// Upstream bills addressed to the store (listupout), received here or
	// confirmed on the platform; rejected bills are left out.
	UpstreamBills    int `json:"upstream_bills"`
	UpstreamReceived int `json:"upstream_received"`
	// Own bills finished for 码上放心 and delivered there.
	OwnBills     int `json:"own_bills"`
	OwnDelivered int `json:"own_delivered"`
	// Platform counts (query.upoutbillcount / query.billcount) for the
	// same days, when the AppKey may ask; PlatformRate uses them as the
	// denominators of the upstream share and the numerator of the own.
	PlatformUpstream *int     `json:"platform_upstream,omitempty"`
	PlatformOwn      *int     `json:"platform_own,omitempty"`
	PlatformRate     *float64 `json:"platform_rate,omitempty"`
	// PullingDown are the bills that lower the rate.
	PullingDown []RateBill `json:"pulling_down"`
	Unconfirmed string     `json:"unconfirmed"`
}

// RateBill is one bill that lowers the 验证率.
type RateBill struct {
	// Kind is upstream_not_received or own_not_delivered.
	Kind     string `json:"kind"`
	BillCode string `json:"bill_code"`
	BillType int    `json:"bill_type"`
	BillTime string `json:"bill_time,omitempty"`
	// Detail is the supplier, or where the delivery stands.
	Detail string `json:"detail,omitempty"`
}

// ServicePeriod is the store's 码上放心 service end date.
type ServicePeriod struct {
	EndDate  string `json:"end_date"`
	DaysLeft int    `json:"days_left"`
	Alarm    bool   `json:"alarm"`
}

// KeyVarietyInfo describes the official key-variety list in force.
type KeyVarietyInfo struct {
	Version   string    `json:"version"`
	Products  int       `json:"products"`
	FetchedAt time.Time `json:"fetched_at"`
}

// ChangedUpstream is a supplier bill changed on the platform after the
// store received it.
type ChangedUpstream struct {
	BillCode   string   `json:"bill_code"`
	BillType   int      `json:"bill_type"`
	From       string   `json:"from"`
	ChangedAt  string   `json:"changed_at"`
	ReceivedIn string   `json:"received_in"`
	What       string   `json:"what"`
	Added      []string `json:"added,omitempty"`
	Removed    []string `json:"removed,omitempty"`
}

// msfxComp is the last refresh's result.
type msfxComp struct {
	mu       sync.Mutex
	figs     MsfxFigures
	keys     map[string]bool // the official key varieties, by product key
	lastTry  time.Time
	inFlight bool
}

// isKeyVariety tells whether the official list names the product.
func (c *msfxComp) isKeyVariety(product string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.keys[product]
}

func (c *msfxComp) snapshot() MsfxFigures {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.figs
	f.ChangedUpstream = slices.Clone(f.ChangedUpstream)
	return f
}

// runMsfxCompliance refreshes the figures on the configured schedule
// until ctx ends.
func (a *Agent) runMsfxCompliance(ctx context.Context) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		cc := a.config().Msfx
		a.comp.mu.Lock()
		due := cc.Enabled && cc.Compliance.Refresh > 0 && a.msfxClient() != nil &&
			(a.comp.lastTry.IsZero() || a.now().Sub(a.comp.lastTry) >= cc.Compliance.Refresh)
		a.comp.mu.Unlock()
		// Uploads of finished bills and counter checks come first: they
		// share the AppKey's calls (and its bans), so a due refresh waits,
		// checked every minute, until nothing of theirs is due.
		if due && !a.reconcileYield() {
			if err := a.RefreshMsfxCompliance(ctx); err != nil {
				a.log.Warn("码上放心 compliance refresh", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// RefreshMsfxCompliance asks 码上放心 now. A question that fails is noted in
// compliance_errors and the others still answer; the error returned is
// only for the device's own data.
func (a *Agent) RefreshMsfxCompliance(ctx context.Context) error {
	c := a.msfxClient()
	if c == nil {
		return fmt.Errorf("agent: 码上放心 is not enabled")
	}
	a.comp.mu.Lock()
	if a.comp.inFlight {
		a.comp.mu.Unlock()
		return nil
	}
	a.comp.inFlight, a.comp.lastTry = true, a.now()
	prev := a.comp.figs
	a.comp.mu.Unlock()
	defer func() {
		a.comp.mu.Lock()
		a.comp.inFlight = false
		a.comp.mu.Unlock()
	}()

	cc := a.config().Msfx.Compliance
	now := a.now()
	figs := MsfxFigures{ComplianceErrors: map[string]string{}, RefreshedAt: now,
		KeyVarietyList: prev.KeyVarietyList, Service: prev.Service}
	fail := func(method string, err error) { figs.ComplianceErrors[method] = err.Error() }

	var keys map[string]bool
	if url, err := c.KeyFlagDrugURL(ctx); err != nil {
		fail(wire.MethodKeyFlagDrugURL, err)
	} else if list, err := c.FetchKeyVarietyList(ctx, url, cc.KeyListColumn); err != nil {
		fail(wire.MethodKeyFlagDrugURL, err)
	} else {
		keys = map[string]bool{}
		for k := range list.Products {
			keys[k] = true
		}
		figs.KeyVarietyList = &KeyVarietyInfo{Version: list.Version, Products: len(keys), FetchedAt: now}
	}
	if end, err := c.ServiceEndDate(ctx, cc.ServiceBusiness, cc.ServiceService); err != nil {
		fail(wire.MethodServiceEndDate, err)
	} else {
		figs.Service = servicePeriod(end, now, cc.AlarmDays)
	}
	rate, err := a.verificationRate(ctx, c, now, cc.RateDays, cc.RateFormula, fail)
	if err != nil {
		return err
	}
	figs.VerificationRate = rate
	if lic := cc.WESLicense.Value(); lic != "" {
		changed, err := a.changedUpstream(ctx, c, lic, now.AddDate(0, 0, -cc.RateDays), now)
		if err != nil {
			fail(wire.MethodQueryUpOutBillLog, err)
			changed = prev.ChangedUpstream
		}
		figs.ChangedUpstream = changed
	}
	if len(figs.ComplianceErrors) == 0 {
		figs.ComplianceErrors = nil
	}
	a.comp.mu.Lock()
	a.comp.figs = figs
	if keys != nil {
		a.comp.keys = keys
	}
	rec, err := msfxRecord(figs, a.comp.keys)
	a.comp.mu.Unlock()
	if err == nil {
		err = a.store.SaveCompliance(ctx, rec)
	}
	if err != nil {
		// The figures stand in memory; only a restart loses them.
		return fmt.Errorf("agent: keeping the 码上放心 compliance figures: %w", err)
	}
	return nil
}

// msfxDest names the compliance record of 码上放心 in the queue.
const msfxDest = "msfx"

// msfxRecord is the queue's record of a refresh: the figures and the key
// varieties in force.
func msfxRecord(figs MsfxFigures, keys map[string]bool) (queue.ComplianceRecord, error) {
	raw, err := json.Marshal(figs)
	if err != nil {
		return queue.ComplianceRecord{}, err
	}
	rec := queue.ComplianceRecord{Dest: msfxDest, At: figs.RefreshedAt, Figs: raw,
		KeyVarieties: slices.Sorted(maps.Keys(keys))}
	if figs.KeyVarietyList != nil {
		rec.KeyVersion = figs.KeyVarietyList.Version
	}
	return rec, nil
}

// storedMsfx reads the last refresh kept in the queue; ok is false when
// there was none.
func storedMsfx(store *queue.Store) (figs MsfxFigures, keys map[string]bool, ok bool, err error) {
	rec, ok, err := store.Compliance(msfxDest)
	if err != nil || !ok {
		return MsfxFigures{}, nil, false, err
	}
	if err := json.Unmarshal(rec.Figs, &figs); err != nil {
		return MsfxFigures{}, nil, false, fmt.Errorf("agent: the kept 码上放心 compliance figures: %w", err)
	}
	keys = map[string]bool{}
	for _, k := range rec.KeyVarieties {
		keys[k] = true
	}
	return figs, keys, true, nil
}

// loadMsfxCompliance takes the last refresh kept in the queue (at start).
// The next refresh is not hurried by it: its schedule starts afresh.
func (a *Agent) loadMsfxCompliance() error {
	figs, keys, ok, err := storedMsfx(a.store)
	if err != nil || !ok {
		return err
	}
	a.comp.mu.Lock()
	a.comp.figs, a.comp.keys = figs, keys
	a.comp.mu.Unlock()
	return nil
}

// servicePeriod reads an end date ("yyyy-MM-dd[ HH:mm:ss]", China time).
func servicePeriod(end string, now time.Time, alarmDays int) *ServicePeriod {
	p := &ServicePeriod{EndDate: end}
	day := dateOnly(end)
	if t, err := time.ParseInLocation(time.DateOnly, day, chinaTime); err == nil {
		today, _ := time.ParseInLocation(time.DateOnly, now.In(chinaTime).Format(time.DateOnly), chinaTime)
		p.DaysLeft = int(t.Sub(today).Hours() / 24)
		p.Alarm = p.DaysLeft <= alarmDays
	} else {
		p.Alarm = true // an end date this device cannot read is worth a look
	}
	return p
}

// verificationRate computes the 验证率 of the days [now-days, now].
func (a *Agent) verificationRate(ctx context.Context, c *msfx.Client, now time.Time, days int, formula string,
	fail func(string, error)) (*VerificationRate, error) {
	from := now.AddDate(0, 0, -days)
	r := &VerificationRate{Since: from.In(chinaTime).Format(time.DateOnly), Until: now.In(chinaTime).Format(time.DateOnly),
		Formula: formula, PullingDown: []RateBill{},
		Unconfirmed: "the guide's formula is not public: bills counted, " + formula + ", all varieties"}
	received := map[string]string{} // upstream bill → receiving bill
	var own []queue.Bill
	err := a.store.ForEachBill(func(b queue.Bill) bool {
		if b.State != queue.BillFinished {
			return true
		}
		// A receipt counts whenever it was made: a supplier bill of the
		// window may be received after it.
		if b.Attrs["upstream"] != "" {
			for _, u := range strings.Split(b.Attrs["upstream"], ",") {
				received[u] = b.Code
			}
		}
		if !b.FinishedAt.Before(from) && !b.FinishedAt.After(now) && slices.Contains(b.Destinations, "msfx") {
			own = append(own, b)
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("agent: 验证率: %w", err)
	}
	for _, b := range own {
		ds, err := a.store.Deliveries(b.ID)
		if err != nil {
			return nil, fmt.Errorf("agent: 验证率: %w", err)
		}
		r.OwnBills++
		state := "no delivery"
		for _, d := range ds {
			if d.Dest == "msfx" {
				state = string(d.State)
			}
		}
		if state == string(queue.DeliveryDone) {
			r.OwnDelivered++
			continue
		}
		r.PullingDown = append(r.PullingDown, RateBill{Kind: "own_not_delivered", BillCode: b.Code, BillType: b.Type,
			BillTime: b.FinishedAt.In(chinaTime).Format(time.DateTime), Detail: "码上放心 " + state})
	}
	states, err := a.store.UpstreamStates()
	if err != nil {
		return nil, fmt.Errorf("agent: 验证率: %w", err)
	}
	upstream := map[string]*RateBill{}
	confirmed := map[string]bool{}
	var order []string
	opts := msfx.ListUpOutOptions{PageSize: 100}
	listed := true
	for opts.Page = 1; opts.Page <= maxUpstreamPages; opts.Page++ {
		page, err := c.ListUpOut(ctx, from, now, opts)
		if err != nil {
			fail(wire.MethodListUpOut, err)
			listed = false
			break
		}
		for _, row := range page.ResultList {
			code := string(row.BillCode)
			if row.Status == 2 {
				confirmed[code] = true
			}
			if upstream[code] == nil {
				upstream[code] = &RateBill{Kind: "upstream_not_received", BillCode: code, BillType: int(row.BillType),
					BillTime: firstOf(string(row.BillTime), string(row.BillTimeFormat)),
					Detail:   firstOf(string(row.FromUserName), firstOf(string(row.FromEntName), string(row.FromUserID)))}
				order = append(order, code)
			}
		}
		if len(page.ResultList) < opts.PageSize || page.TotalNum <= wire.Int64(opts.Page*opts.PageSize) {
			break
		}
	}
	if listed {
		for _, code := range order {
			if states[code].Rejected {
				continue
			}
			r.UpstreamBills++
			if received[code] != "" || confirmed[code] {
				r.UpstreamReceived++
				continue
			}
			r.PullingDown = append(r.PullingDown, *upstream[code])
		}
	}
	r.Rate = rateOf(formula, r.UpstreamReceived, r.UpstreamBills, r.OwnDelivered, r.OwnBills)
	if up, err := c.QueryUpOutBillCount(ctx, from, now, 0); err != nil {
		fail(wire.MethodQueryUpOutBillCount, err)
	} else {
		n := up.Total()
		r.PlatformUpstream = &n
	}
	if ob, err := c.QueryBillCount(ctx, from, now, 0); err != nil {
		fail(wire.MethodQueryBillCount, err)
	} else {
		n := ob.Total()
		r.PlatformOwn = &n
	}
	if r.PlatformUpstream != nil && r.PlatformOwn != nil {
		got := min(*r.PlatformOwn, r.OwnBills)
		pr := rateOf(formula, min(r.UpstreamReceived, *r.PlatformUpstream), *r.PlatformUpstream, got, r.OwnBills)
		r.PlatformRate = &pr
	}
	return r, nil
}

// rateOf is the 验证率 from its two shares: pooled (all bills together) or
// mean (the average of the shares present). No bill at all is 1.
func rateOf(formula string, inGot, inAll, outGot, outAll int) float64 {
	if formula == "mean" {
		var sum float64
		n := 0
		if inAll > 0 {
			sum += float64(inGot) / float64(inAll)
			n++
		}
		if outAll > 0 {
			sum += float64(outGot) / float64(outAll)
			n++
		}
		if n == 0 {
			return 1
		}
		return sum / float64(n)
	}
	if inAll+outAll == 0 {
		return 1
	}
	return float64(inGot+outGot) / float64(inAll+outAll)
}

// changedUpstream reads the change log and keeps the bills the store had
// received, with the codes added and removed since (the current
// listupout.detail against the receiving's expected packs; the log itself
// declares no change type).
func (a *Agent) changedUpstream(ctx context.Context, c *msfx.Client, license string, from, to time.Time) ([]ChangedUpstream, error) {
	logs, err := c.UpOutBillLog(ctx, license, from, to)
	if err != nil {
		return nil, err
	}
	receivedIn := map[string]queue.Bill{}
	err = a.store.ForEachBill(func(b queue.Bill) bool {
		if b.State == queue.BillFinished && b.Attrs["upstream"] != "" {
			for _, u := range strings.Split(b.Attrs["upstream"], ",") {
				receivedIn[u] = b
			}
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("agent: changed upstream: %w", err)
	}
	ownRef := a.config().Msfx.RefEntID
	out := []ChangedUpstream{}
	seen := map[string]bool{}
	for _, l := range logs {
		code := string(l.BillCode)
		b, ok := receivedIn[code]
		if !ok || seen[code] {
			continue
		}
		seen[code] = true
		ch := ChangedUpstream{BillCode: code, BillType: int(l.BillType), From: string(l.FromRefEntID),
			ChangedAt: string(l.OperDate), ReceivedIn: b.Code}
		exp, err := a.store.ExpectedOf(b.ID)
		if err != nil {
			return nil, fmt.Errorf("agent: changed upstream: %w", err)
		}
		det, found, err := c.ListUpOutDetail(ctx, code, string(l.FromRefEntID), ownRef)
		switch {
		case err != nil:
			ch.What = "供货方已修改单据（明细暂不可查：" + err.Error() + "）"
		case !found:
			ch.What = "供货方已删除单据"
		default:
			now := map[string]bool{}
			for _, line := range det.Lines {
				for _, p := range line.Packs {
					now[p.Code] = true
				}
			}
			had := map[string]bool{}
			for _, e := range exp {
				if e.Upstream == code {
					had[e.Code] = true
					if !now[e.Code] {
						ch.Removed = append(ch.Removed, e.Code)
					}
				}
			}
			for p := range now {
				if !had[p] {
					ch.Added = append(ch.Added, p)
				}
			}
			slices.Sort(ch.Added)
			ch.What = fmt.Sprintf("供货方已修改单据：增加 %d 个码，删除 %d 个码", len(ch.Added), len(ch.Removed))
		}
		out = append(out, ch)
	}
	return out, nil
}

// msfxAlarms are the standing alarms of the compliance figures (not kept
// as alarms in the queue: they stand while the condition does).
func (a *Agent) msfxAlarms() []queue.Alarm { return msfxAlarmsOf(a.comp.snapshot()) }

func msfxAlarmsOf(f MsfxFigures) []queue.Alarm {
	var out []queue.Alarm
	if s := f.Service; s != nil && s.Alarm {
		out = append(out, queue.Alarm{At: f.RefreshedAt, Kind: "msfx_service",
			Message: fmt.Sprintf("码上放心服务将于 %s 到期（剩 %d 天），请及时续费", s.EndDate, s.DaysLeft)})
	}
	if n := len(f.ChangedUpstream); n > 0 {
		out = append(out, queue.Alarm{At: f.RefreshedAt, Kind: "msfx_upstream_changed",
			Message: fmt.Sprintf("%d 张已收货的上游单据被供货方修改", n)})
	}
	return out
}

// msfxStatus is the figures for Status (nil before the first refresh).
func (a *Agent) msfxStatus() *MsfxFigures { return msfxStatusOf(a.comp.snapshot()) }

func msfxStatusOf(f MsfxFigures) *MsfxFigures {
	if f.RefreshedAt.IsZero() {
		return nil
	}
	if r := f.VerificationRate; r != nil {
		// status stays short: the bills are on the compliance view.
		short := *r
		short.PullingDown = nil
		f.VerificationRate = &short
	}
	return &f
}

// changedFor lists the changed upstream bills among a code's bills (for
// diagnose).
func (a *Agent) changedFor(bills []DiagBill) []ChangedUpstream {
	return changedIn(a.comp.snapshot().ChangedUpstream, bills)
}

func changedIn(changed []ChangedUpstream, bills []DiagBill) []ChangedUpstream {
	var out []ChangedUpstream
	for _, ch := range changed {
		for _, b := range bills {
			if b.Bill.Code == ch.ReceivedIn {
				out = append(out, ch)
				break
			}
		}
	}
	return out
}

// inspectMsfx adds the kept 码上放心 figures to a stopped agent's status.
func inspectMsfx(store *queue.Store, s *Status) error {
	figs, _, ok, err := storedMsfx(store)
	if err != nil || !ok {
		return err
	}
	s.Msfx, s.Alarms = msfxStatusOf(figs), append(s.Alarms, msfxAlarmsOf(figs)...)
	return nil
}

// inspectChanged is changedFor on a stopped agent's queue file.
func inspectChanged(store *queue.Store, bills []DiagBill) ([]ChangedUpstream, error) {
	figs, _, ok, err := storedMsfx(store)
	if err != nil || !ok {
		return nil, err
	}
	return changedIn(figs.ChangedUpstream, bills), nil
}
