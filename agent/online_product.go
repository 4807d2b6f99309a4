package agent

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/pda-agent/pda-agent/catalogue"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// Is the pack the product its sale line expects (验码, other_product)?
//
// A pack goes to a line by its own product key (the code's 7-digit
// 药品标识码, or its GTIN), so the line cannot tell a box whose printed code
// belongs to another drug. 码上放心's code detail names the drug the
// platform records for the code (drug_ent_base_d_t_o), by ids of its own,
// so the comparison goes through the catalogue entries of the line's
// product keys, on the strongest field both sides have:
//
//  1. 批准文号: the catalogue's aprvno against approval_licence_no. Both
//     name the registered drug (maker, form, strength), not the pack size:
//     two packings of one drug compare equal.
//  2. drug_ent_base_info_id: the catalogue does not carry it, so the agent
//     learns it per product key from an answer that matched by 批准文号 or
//     by name and strength for the pack's own key, and keeps it for this
//     run (in memory, bounded). A later pack of that key whose answer has
//     no approval number is compared by the id.
//  3. Name and strength: names equal once normalized (one containing the
//     other, as catalogue names often add the spec), strength (prepn_spec)
//     found in the catalogue's spec or name. Names are weak (brand against
//     generic names), so a pack is called another product here only when
//     both its name and its strength disagree; the same name without a
//     strength to compare is "same" by name only, which teaches no id.
//
// Whatever cannot be compared is "unknown" and never flagged. A line of a
// 医保目录编码 holds several product keys: the pack is the line's product
// if it matches any of them, another only if it differs from every one.

// Product match results (CheckVerdict.Product).
const (
	MatchSame    = "same"
	MatchOther   = "other"
	MatchUnknown = "unknown"
)

// Fields a product match was decided on (CheckVerdict.ProductBy).
const (
	ByApprovalNo = "approval_no"
	ByDrugID     = "drug_id"
	ByNameSpec   = "name_spec"
	// ByName: the names agree and the platform gave no strength; never
	// "other", and too weak to learn a drug id from.
	ByName = "name"
)

// ProductMatch is whether a pack is the product of its sale line.
type ProductMatch struct {
	// Result is same, other or unknown; "" when the pack is on no line.
	Result string
	// By is the field that decided (approval_no, drug_id, name_spec).
	By string
	// Key is the catalogue product that matched (same) or was compared;
	// Want its name, for the clerk.
	Key, Want string
}

// maxLearnedDrugIDs bounds the product key → drug_ent_base_info_id map.
const maxLearnedDrugIDs = 10000

// matchProduct compares the platform's drug with one catalogue product;
// learned is the drug_ent_base_info_id learnt for its key ("" if none).
func matchProduct(p catalogue.Product, learned string, got wire.DrugBaseInfo) ProductMatch {
	m := ProductMatch{Result: MatchUnknown, Key: p.Key, Want: p.Name}
	decide := func(same bool, by string) ProductMatch {
		m.Result, m.By = MatchOther, by
		if same {
			m.Result = MatchSame
		}
		return m
	}
	if want, have := normApproval(p.Aprvno), normApproval(string(got.ApprovalLicenceNo)); want != "" && have != "" {
		return decide(want == have, ByApprovalNo)
	}
	if id := strings.TrimSpace(string(got.DrugEntBaseInfoID)); learned != "" && id != "" {
		return decide(id == learned, ByDrugID)
	}
	wantName, haveName := normText(p.Name), normText(string(got.PhysicName))
	if wantName == "" || haveName == "" {
		return m
	}
	nameSame := strings.Contains(wantName, haveName) || strings.Contains(haveName, wantName)
	strength := normText(string(got.PrepnSpec))
	specKnown := strength != "" && p.Spec != ""
	specSame := strength != "" && (hasStrength(normText(p.Spec), strength) || hasStrength(normText(p.Name), strength))
	switch {
	case nameSame && specSame:
		return decide(true, ByNameSpec)
	case nameSame && !specKnown:
		return decide(true, ByName)
	case !nameSame && specKnown && !specSame:
		return decide(false, ByNameSpec)
	}
	return m
}

// matchLine compares the platform's drug with the products of a line: the
// same if any is, another if every one is another, else unknown.
func matchLine(wants []catalogue.Product, learned map[string]string, got wire.DrugBaseInfo) ProductMatch {
	var first ProductMatch
	others := 0
	for _, p := range wants {
		m := matchProduct(p, learned[p.Key], got)
		switch m.Result {
		case MatchSame:
			return m
		case MatchOther:
			if others == 0 {
				first = m
			}
			others++
		}
	}
	if others > 0 && others == len(wants) {
		return first
	}
	return ProductMatch{Result: MatchUnknown}
}

// productMatch is the online checks' OtherProduct hook: the pack's sale
// line (on the bill) through the catalogue against the platform's drug. It
// learns the drug id of the pack's own product key from a match by 批准文号
// or by name and strength.
func (a *Agent) productMatch(billID uint64, it queue.Item, got wire.DrugBaseInfo) ProductMatch {
	if it.Line == "" {
		return ProductMatch{}
	}
	b, err := a.store.Bill(billID)
	if err != nil {
		a.log.Error("online check: reading the bill to compare the product", "code", it.Code, "err", err)
		return ProductMatch{Result: MatchUnknown}
	}
	i := slices.IndexFunc(b.Lines, func(l queue.SaleLine) bool { return l.Line == it.Line })
	if i < 0 {
		return ProductMatch{}
	}
	cat := a.Catalogue()
	var wants []catalogue.Product
	for _, k := range b.Lines[i].Keys {
		if p, ok := cat.Product(k); ok {
			wants = append(wants, p)
		}
	}
	c := a.online
	c.mu.Lock()
	learned := make(map[string]string, len(wants))
	for _, p := range wants {
		if id, ok := c.learned[p.Key]; ok {
			learned[p.Key] = id
		}
	}
	c.mu.Unlock()
	m := matchLine(wants, learned, got)
	if m.Want == "" {
		m.Want = b.Lines[i].Name
	}
	id := strings.TrimSpace(string(got.DrugEntBaseInfoID))
	if m.Result == MatchSame && (m.By == ByApprovalNo || m.By == ByNameSpec) && m.Key == it.Product && id != "" {
		c.mu.Lock()
		if _, known := c.learned[m.Key]; known || len(c.learned) < maxLearnedDrugIDs {
			c.learned[m.Key] = id
		}
		c.mu.Unlock()
	}
	return m
}

// otherProductWords tells the clerk what the platform says the pack is.
func otherProductWords(m ProductMatch, got wire.DrugBaseInfo) string {
	what := strings.TrimSpace(string(got.PhysicName))
	if m.By == ByApprovalNo {
		what = strings.TrimSpace(what + " " + string(got.ApprovalLicenceNo))
	}
	if what == "" {
		what = "其他品种"
	}
	s := fmt.Sprintf("不是本单所售品种（码上放心记为：%s", what)
	if m.Want != "" {
		s += "；本单：" + m.Want
	}
	return s + "）"
}

// hasStrength tells whether s holds the strength w as a whole number:
// "5mg" is in "5mg*10片" but not in "2.5mg*10片".
func hasStrength(s, w string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		j += i
		if j == 0 || !(unicode.IsDigit(rune(s[j-1])) || s[j-1] == '.') {
			return true
		}
		i = j + 1
	}
}

// normApproval keeps the letters and digits of a 批准文号 ("国药准字
// H20003263" → "H20003263"), full-width folded, upper case: catalogues
// write it with or without the prefix and spaces.
func normApproval(s string) string {
	var b strings.Builder
	for _, r := range foldWidth(s) {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return b.String()
}

// normText folds width and case and drops spaces and punctuation, so
// "阿莫西林胶囊 (0.25g×24粒)" and "阿莫西林胶囊0.25g*24粒" compare.
func normText(s string) string {
	var b strings.Builder
	for _, r := range foldWidth(s) {
		switch {
		case r == '×':
			b.WriteRune('*')
		case unicode.IsSpace(r), unicode.IsPunct(r) && r != '.' && r != '*' && r != '%':
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// foldWidth turns full-width ASCII (！ to ～) and the ideographic space
// into their half-width forms.
func foldWidth(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 0xFF01 && r <= 0xFF5E:
			return r - 0xFEE0
		case r == 0x3000:
			return ' '
		}
		return r
	}, s)
}
