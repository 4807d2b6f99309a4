package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/pda-agent/pda-agent/durable"
	"github.com/pda-agent/pda-agent/fleet/bundle"
)

// PollOnce polls once and applies what it gets. The error is non-nil only
// when the poll itself failed (network, timeout, an HTTP error status): the
// caller should back off, and Run does. A refused or failed bundle is a poll
// HQ answered: Result.Status says what happened and Result.Err why.
func (c *Client) PollOnce(ctx context.Context) (Result, error) {
	c.pollMu.Lock()
	defer c.pollMu.Unlock()
	st := c.snapshot()
	c.update(func(s *persisted) { s.LastPoll = c.cfg.Now() })
	f, err := c.fetch(ctx, c.ifNoneMatch(st))
	if err != nil {
		if ctx.Err() == nil {
			c.noteFailure(err)
		}
		return Result{Err: err}, err
	}
	c.noteSuccess()
	res, reported := c.handle(ctx, f)
	if res.Status == "" {
		// Interrupted by ctx, or the bundle's catalogue could not be had:
		// a failed poll, tried again after the backoff.
		if ctx.Err() == nil {
			c.noteFailure(res.Err)
		}
		return res, res.Err
	}
	// HQ is reachable again: resend what it missed, unless this poll
	// already said something newer. Never on a failed poll: no chatter
	// while the network is down.
	if p := c.snapshot().Pending; p != nil && !reported {
		c.deliver(ctx, *p, reportAttempts)
		reported = true
	}
	if !reported && c.cfg.Static {
		c.reReport(ctx)
	}
	return res, nil
}

// reReport sends a static device's latest word again when ReportInterval
// has passed since its last report: HQ sees no polls of a static device,
// and a device whose state does not change would otherwise look SILENT
// between rollouts. One try per poll, signed like every report; a failure
// is not kept as pending (the next poll tries again anyway).
func (c *Client) reReport(ctx context.Context) {
	if c.reportURL == "" {
		return
	}
	now := c.cfg.Now()
	c.mu.Lock()
	due := c.lastReport.IsZero() || now.Sub(c.lastReport) >= c.cfg.ReportInterval
	c.mu.Unlock()
	if !due {
		return
	}
	r, ok := latestReport(c.snapshot())
	if !ok {
		return // nothing applied or refused yet: nothing to say
	}
	r.Error = truncate(r.Error, maxReportError)
	err := c.postReport(ctx, r)
	c.mu.Lock()
	first := err != nil && !c.reReportFailing
	c.reReportFailing = err != nil
	if err == nil {
		c.lastReport = now
	}
	c.mu.Unlock()
	switch {
	case err == nil:
		c.log.Debug("fleet: state re-reported", "state", r.State, "version", r.Version)
	case first:
		c.log.Warn("fleet: periodic report not delivered; HQ may show this device SILENT until one is", "err", err)
	default:
		c.log.Debug("fleet: periodic report not delivered", "err", err)
	}
}

// latestReport is what the device last told HQ, rebuilt from its state:
// FAILED for a bundle refused or reverted after the last good one (a
// staged rollout counts it; re-reporting the old bundle as APPLIED would
// bury it), else APPLIED for the bundle in force. false when no bundle was
// ever applied or refused.
func latestReport(st persisted) (report, bool) {
	switch {
	case !st.LastFailedAt.IsZero() && st.LastFailedAt.After(st.AppliedAt):
		return report{State: reportFailed, Version: st.LastFailedVersion, Hash: st.LastFailedHash, Error: st.LastFailedError + stillOn(st)}, true
	case st.AppliedHash != "":
		return report{State: reportApplied, Version: st.AppliedVersion, Hash: st.AppliedHash}, true
	}
	return report{}, false
}

// ifNoneMatch is the validator for the GET: in HQ mode the applied bundle's
// hash (HQ's ETag) and the last refused one's, so a bundle that failed is
// not downloaded again on every poll; in static mode whatever ETag the
// server last sent, since a plain web server's ETag is its own, not the
// bundle hash.
func (c *Client) ifNoneMatch(st persisted) string {
	if c.cfg.Static {
		return st.ETag
	}
	var tags []string
	for _, h := range []string{st.AppliedHash, st.LastFailedHash} {
		if h != "" {
			tags = append(tags, `"`+h+`"`)
		}
	}
	return strings.Join(tags, ", ")
}

func (c *Client) noteFailure(err error) {
	var first bool
	c.update(func(s *persisted) {
		first = s.LastError == ""
		s.LastError = err.Error()
	})
	if first { // save the transition, not every retry
		c.saveOrLog()
	}
}

func (c *Client) noteSuccess() {
	var recovered bool
	now := c.cfg.Now()
	c.update(func(s *persisted) {
		recovered = s.LastError != ""
		s.LastError, s.LastSuccess = "", now
	})
	if recovered {
		c.saveOrLog()
	}
}

func (c *Client) saveOrLog() {
	if err := c.save(); err != nil {
		c.log.Error("fleet: cannot save the state", "err", err)
	}
}

// handle acts on an answer of the bundle URL; reported says whether it sent
// (or tried to send) a report.
func (c *Client) handle(ctx context.Context, f fetched) (Result, bool) {
	st := c.snapshot()
	unchanged := Result{Status: StatusUnchanged, Version: st.AppliedVersion, Hash: st.AppliedHash}
	switch f.status {
	case http.StatusNotModified:
		return unchanged, false
	case http.StatusNotFound:
		c.log.Debug("fleet: no bundle staged for this device")
		return Result{Status: StatusNone, Version: st.AppliedVersion, Hash: st.AppliedHash}, false
	}
	d := digest(f.body)
	c.mu.Lock()
	same := d == c.appliedDigest || d == st.FailedDigest
	c.mu.Unlock()
	if same {
		// Already applied or already refused: these exact bytes get nothing
		// more, not even a report (HQ has it, or has it pending).
		c.rememberETag(f.etag)
		return unchanged, false
	}
	o, err := bundle.Open(f.body, c.cfg.HQKey, c.cfg.Device, c.devicePub, st.AppliedVersion)
	if err != nil {
		ver, hash := peek(f.body)
		if errors.Is(err, bundle.ErrRollback) && hash != "" && hash == st.AppliedHash {
			// The applied bundle itself (re-signed, or a static server
			// whose ETag we had not kept): nothing to do.
			c.rememberETag(f.etag)
			return unchanged, false
		}
		return c.refuse(ctx, st, d, f.etag, ver, hash, fmt.Errorf("refused: %w", err)), true
	}
	if err := o.CheckExpiry(c.cfg.Now()); err != nil {
		return c.refuse(ctx, st, d, f.etag, o.Body.Version, o.Hash, fmt.Errorf("refused: %w", err)), true
	}
	if err := c.resolveCatalogue(ctx, o); err != nil {
		err = fmt.Errorf("bundle version %d not applied yet: %w", o.Body.Version, err)
		c.log.Warn("fleet: the bundle's catalogue cannot be had; the config and catalogue in force stay", "err", err)
		return Result{Err: err}, false
	}
	if d == st.ApplyingDigest && st.ApplyingTries >= maxApplyTries {
		err := fmt.Errorf("applying it was interrupted %d times (the agent crashed or lost power inside the applier); not tried again", st.ApplyingTries)
		return c.failed(ctx, st, o, d, f.etag, err), true
	}
	secrets, err := o.Secrets(c.cfg.DeviceKey)
	if err != nil {
		return c.refuse(ctx, st, d, f.etag, o.Body.Version, o.Hash, fmt.Errorf("refused: %w", err)), true
	}
	return c.applyBundle(ctx, st, o, secrets, d, f.etag), true
}

// rememberETag keeps the server's ETag of bytes already dealt with, so a
// static server can answer 304 next time.
func (c *Client) rememberETag(etag string) {
	var changed bool
	c.update(func(s *persisted) {
		changed = etag != "" && s.ETag != etag
		if changed {
			s.ETag = etag
		}
	})
	if changed {
		c.saveOrLog()
	}
}

// refuse handles a bundle that must never reach the applier: it is logged
// loudly, reported FAILED and remembered so the same bytes are not processed
// again at every poll.
func (c *Client) refuse(ctx context.Context, st persisted, d, etag string, ver uint64, hash string, err error) Result {
	c.log.Error("fleet bundle REFUSED; the current config stays in force",
		"version", ver, "hash", hash, "applied_version", st.AppliedVersion, "err", err)
	c.rememberFailure(d, etag, ver, hash, err)
	c.deliver(ctx, report{State: reportFailed, Version: ver, Hash: hash, Error: err.Error() + stillOn(st)}, reportAttempts)
	return Result{Status: StatusRefused, Version: ver, Hash: hash, Err: err}
}

// failed handles a verified bundle that could not be applied.
func (c *Client) failed(ctx context.Context, st persisted, o *bundle.Opened, d, etag string, err error) Result {
	c.log.Error("fleet bundle FAILED to apply; the previous config is in force",
		"version", o.Body.Version, "hash", o.Hash, "applied_version", st.AppliedVersion, "err", err)
	c.rememberFailure(d, etag, o.Body.Version, o.Hash, err)
	c.deliver(ctx, report{State: reportFailed, Version: o.Body.Version, Hash: o.Hash, Error: err.Error() + stillOn(st)}, reportAttempts)
	return Result{Status: StatusFailed, Version: o.Body.Version, Hash: o.Hash, Err: err}
}

func (c *Client) rememberFailure(d, etag string, ver uint64, hash string, err error) {
	now := c.cfg.Now()
	c.update(func(s *persisted) {
		s.LastFailedHash, s.LastFailedError, s.FailedDigest = hash, err.Error(), d
		s.LastFailedVersion, s.LastFailedAt = ver, now
		s.ApplyingDigest, s.ApplyingTries = "", 0
		if etag != "" {
			s.ETag = etag
		}
	})
	c.saveOrLog()
}

// stillOn tells HQ what is in force after a failure, in the error text: the
// protocol's report has no other field for it, and re-reporting the old
// bundle as APPLIED would bury the FAILED that a staged rollout counts.
func stillOn(st persisted) string {
	if st.AppliedHash == "" {
		return "; the device stays on its local configuration (no bundle applied yet)"
	}
	return fmt.Sprintf("; the device stays on version %d (%s)", st.AppliedVersion, st.AppliedHash)
}

// applyBundle stages, reports, applies and commits a verified bundle.
func (c *Client) applyBundle(ctx context.Context, st persisted, o *bundle.Opened, secrets map[string]string, d, etag string) Result {
	dir := c.cfg.StateDir
	v, h := o.Body.Version, o.Hash
	// Stage the bytes first: a full disk fails here, before the config
	// changes, rather than after, when the new config could not be kept.
	tries := 1
	if st.ApplyingDigest == d {
		tries = st.ApplyingTries + 1
	}
	err := durable.WriteFile(filepath.Join(dir, nextFile), o.Raw, 0o600)
	if err == nil {
		c.update(func(s *persisted) { s.ApplyingDigest, s.ApplyingTries = d, tries })
		err = c.save()
	}
	if err != nil {
		// A local fault, not the bundle's: not remembered, tried again at
		// the next poll.
		_ = os.Remove(filepath.Join(dir, nextFile))
		err = fmt.Errorf("cannot store the bundle before applying it: %w", err)
		c.log.Error("fleet bundle not applied", "version", v, "hash", h, "err", err)
		c.deliver(ctx, report{State: reportFailed, Version: v, Hash: h, Error: err.Error() + stillOn(st)}, reportAttempts)
		return Result{Status: StatusFailed, Version: v, Hash: h, Err: err}
	}

	c.log.Info("fleet: applying bundle", "version", v, "hash", h, "store", o.Body.Store, "attempt", tries)
	// One try only: APPLIED or FAILED follows within moments and supersedes it.
	c.deliver(ctx, report{State: reportApplying, Version: v, Hash: h}, 1)

	if err := c.apply(ctx, o, secrets); err != nil {
		_ = os.Remove(filepath.Join(dir, nextFile))
		if ctx.Err() != nil {
			// Shutting down is not the bundle's fault: try it again next time.
			c.update(func(s *persisted) { s.ApplyingDigest, s.ApplyingTries = "", 0 })
			c.saveOrLog()
			return Result{Err: fmt.Errorf("applying version %d interrupted: %w", v, err)}
		}
		return c.failed(ctx, st, o, d, etag, err)
	}

	// Known-good now: make it current.
	rep := report{State: reportApplied, Version: v, Hash: h}
	if err := durable.Rename(filepath.Join(dir, nextFile), filepath.Join(dir, currentFile)); err != nil {
		c.log.Error("fleet: the bundle is in force but could not be saved as known-good", "version", v, "err", err)
		rep.Error = fmt.Sprintf("in force, but not saved as the known-good config (%v); a restart returns to the previous one", err)
	}
	now := c.cfg.Now()
	var prevCatalogue, newCatalogue string
	var newCatalogueVersion uint64
	if ref := o.Body.Catalogue; ref != nil {
		newCatalogue, newCatalogueVersion = ref.SHA256, ref.Version
	}
	c.update(func(s *persisted) {
		prevCatalogue = s.AppliedCatalogue
		s.AppliedVersion, s.AppliedHash, s.AppliedAt = v, h, now
		s.AppliedNotAfter, s.AppliedCatalogue, s.AppliedCatalogueVersion = o.Body.NotAfter, newCatalogue, newCatalogueVersion
		s.ApplyingDigest, s.ApplyingTries = "", 0
		if etag != "" {
			s.ETag = etag
		}
	})
	c.mu.Lock()
	c.appliedDigest = d
	c.mu.Unlock()
	c.saveOrLog()
	if err := pruneCatalogues(dir, newCatalogue, prevCatalogue); err != nil {
		c.log.Warn("fleet: old catalogues not removed", "err", err)
	}
	c.log.Info("fleet: bundle applied", "version", v, "hash", h)
	c.deliver(ctx, rep, reportAttempts)
	return Result{Status: StatusApplied, Version: v, Hash: h}
}

// peek reads a bundle's claimed version and body hash without trusting
// them, to say in a refusal which bundle it was; zero when unreadable.
func peek(data []byte) (uint64, string) {
	var b bundle.Bundle
	if json.Unmarshal(data, &b) != nil {
		return 0, ""
	}
	raw, err := base64.StdEncoding.DecodeString(b.Body)
	if err != nil {
		return 0, ""
	}
	var body struct {
		Version uint64 `json:"version"`
	}
	_ = json.NewDecoder(bytes.NewReader(raw)).Decode(&body)
	return body.Version, bundle.Hash(raw)
}
