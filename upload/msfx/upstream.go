package msfx

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// UpstreamDetail is a supplier's outbound bill as lsyd.listupout.detail
// gives it, with its packs at the smallest level: what a receiving against
// it must scan.
type UpstreamDetail struct {
	wire.UpOutDetail
	// Lines are the bill's drug lines, in its order, each with its packs.
	Lines []UpstreamLine
	// Unexpanded lists the bigger packages (cases) on the bill whose boxes
	// the platform did not give (query.relation knows only codes that went
	// through an inbound bill); each is expected as one pack.
	Unexpanded []string
}

// UpstreamLine is one drug line and its packs.
type UpstreamLine struct {
	Drug  wire.DrugLine
	Packs []Pack
}

// Pack is one smallest-level pack the supplier sent.
type Pack struct {
	Code string
	// Case is the code listed on the bill that this pack came in, when the
	// bill listed a bigger package and query.relation expanded it; empty
	// when the bill lists the pack itself.
	Case string
}

// ListUpOutDetail returns an upstream bill with its packs
// (lsyd.listupout.detail): codes of code_level 1 as they are, bigger
// packages expanded to their smallest packs through lsyd.query.relation
// (code_relation_list rows of code_pack_level 1), one call per case.
// toRef defaults to this store's ref_ent_id. found is false when the
// platform does not know the bill.
func (c *Client) ListUpOutDetail(ctx context.Context, billCode, fromRef, toRef string) (*UpstreamDetail, bool, error) {
	if toRef == "" {
		toRef = c.refEntID
	}
	var r wire.UpOutDetailResult
	found, e := c.query(ctx, wire.MethodListUpOutDetail, map[string]string{
		wire.PRefEntID: c.refEntID, wire.PBillCode: billCode, wire.PFromRefUserID: fromRef, wire.PToRefUserID: toRef,
	}, &r)
	if e != nil || !found {
		return nil, false, asErr(e)
	}
	d, ok := r.Model.First()
	if !ok {
		return nil, false, nil
	}
	out := &UpstreamDetail{UpOutDetail: d}
	seen := map[string]bool{}
	for _, line := range d.Drugs {
		ul := UpstreamLine{Drug: line}
		for _, ci := range line.Codes {
			code := strings.TrimSpace(string(ci.Code))
			if code == "" || seen[code] {
				continue
			}
			seen[code] = true
			// An unknown level is taken as listed: asking about every
			// code of a big bill would spend the AppKey's budget.
			if ci.Smallest() || strings.TrimSpace(string(ci.CodeLevel)) == "" {
				ul.Packs = append(ul.Packs, Pack{Code: code})
				continue
			}
			boxes, err := c.smallestIn(ctx, code)
			if err != nil {
				return nil, false, err
			}
			if len(boxes) == 0 {
				out.Unexpanded = append(out.Unexpanded, code)
				ul.Packs = append(ul.Packs, Pack{Code: code})
				continue
			}
			for _, b := range boxes {
				if !seen[b] {
					seen[b] = true
					ul.Packs = append(ul.Packs, Pack{Code: b, Case: code})
				}
			}
		}
		out.Lines = append(out.Lines, ul)
	}
	return out, true, nil
}

// smallestIn returns the smallest packs inside code (query.relation).
// None when the platform does not know the code, refuses to say, or says
// it is itself a smallest pack; a transient failure is an error.
func (c *Client) smallestIn(ctx context.Context, code string) ([]string, error) {
	rels, err := c.QueryRelation(ctx, code)
	if err != nil {
		if e, ok := errors.AsType[*Error](err); ok && e.Class == upload.Permanent {
			return nil, nil
		}
		return nil, err
	}
	var rows []wire.RelationCode
	for _, r := range rels {
		if v, ok := r.IsSmallestPack(); ok && v && len(r.CodeRelationList) <= 1 {
			return nil, nil
		}
		rows = append(rows, r.CodeRelationList...)
	}
	return smallestCodes(code, rows), nil
}

// smallestCodes picks the smallest packs among relation rows other than
// the case itself: code_pack_level 1 (counted up from the smallest); when
// no row gives it, the deepest code_level (counted down from the biggest).
func smallestCodes(caseCode string, rows []wire.RelationCode) []string {
	var out []string
	add := func(c string) {
		if c != "" && c != caseCode && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	packLevels := false
	for _, r := range rows {
		if strings.TrimSpace(string(r.CodePackLevel)) != "" {
			packLevels = true
		}
	}
	if packLevels {
		for _, r := range rows {
			if r.Smallest() {
				add(strings.TrimSpace(string(r.Code)))
			}
		}
		return out
	}
	deepest := 0
	for _, r := range rows {
		if n, err := strconv.Atoi(strings.TrimSpace(string(r.CodeLevel))); err == nil && n > deepest && string(r.Code) != caseCode {
			deepest = n
		}
	}
	for _, r := range rows {
		if n, err := strconv.Atoi(strings.TrimSpace(string(r.CodeLevel))); err == nil && n == deepest {
			add(strings.TrimSpace(string(r.Code)))
		}
	}
	return out
}
